//! Helpers shared by the misc kernels: string-list and tensor attributes, float
//! conversions (compute in f64, round back to the input's float type), broadcasting
//! offsets.

use crate::ops::elem::from_f64_array;
use modelc_ir::{Attr, Attrs, DType};
use ndarray::{ArrayD, IxDyn};

use crate::{bail, Array, KernelError};

/// A `strings` attribute as UTF-8 text; `None` when absent.
pub fn strings(attrs: &Attrs, name: &str) -> Result<Option<Vec<String>>, KernelError> {
    match attrs.get(name) {
        None => Ok(None),
        Some(Attr::Strings(v)) => Ok(Some(
            v.iter()
                .map(|b| String::from_utf8_lossy(b).into_owned())
                .collect(),
        )),
        Some(other) => bail!(
            "attribute `{name}` is {}, expected strings",
            other.kind().name()
        ),
    }
}

/// A tensor attribute converted to an array; `None` when absent.
pub fn tensor_attr(attrs: &Attrs, name: &str) -> Result<Option<Array>, KernelError> {
    match attrs.get(name) {
        None => Ok(None),
        Some(Attr::Tensor(t)) => Ok(Some(Array::from_tensor(t)?)),
        Some(other) => bail!(
            "attribute `{name}` is {}, expected a tensor",
            other.kind().name()
        ),
    }
}

/// The values of a floating-point array as f64; an error for other types.
pub fn float_values(a: &Array) -> Result<Vec<f64>, KernelError> {
    match a {
        Array::F32(_) | Array::F64(_) | Array::F16(_) | Array::BF16(_) => a.to_f64_vec(),
        other => bail!("expected a floating-point tensor, got {}", other.dtype()),
    }
}

/// Builds an array of float type `dtype` from f64 values (rounding to the type).
pub fn float_array(dtype: DType, shape: &[usize], v: Vec<f64>) -> Result<Array, KernelError> {
    if !matches!(dtype, DType::F32 | DType::F64 | DType::F16 | DType::BF16) {
        bail!("expected a floating-point type, got {dtype}");
    }
    from_f64_array(ArrayD::from_shape_vec(IxDyn(shape), v)?, dtype)
}

/// For every element of `out_shape` (row-major), the flat offset of the element of an
/// array of shape `in_shape` that broadcasts to it. `out_shape` must be a broadcast of
/// `in_shape`.
pub fn broadcast_offsets(out_shape: &[usize], in_shape: &[usize]) -> Vec<usize> {
    let total: usize = out_shape.iter().product();
    let rank = out_shape.len();
    let in_strides = crate::ops::elem::strides_of(in_shape);
    // Stride of each output axis in the input (0 for broadcast axes).
    let mut st = vec![0usize; rank];
    for (k, &d) in in_shape.iter().enumerate() {
        let axis = rank - in_shape.len() + k;
        if d != 1 {
            st[axis] = in_strides[k];
        }
    }
    let mut out = Vec::with_capacity(total);
    let mut idx = vec![0usize; rank];
    let mut off = 0usize;
    for _ in 0..total {
        out.push(off);
        for a in (0..rank).rev() {
            idx[a] += 1;
            off += st[a];
            if idx[a] < out_shape[a] {
                break;
            }
            off -= st[a] * idx[a];
            idx[a] = 0;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broadcast_offsets_repeat_broadcast_axes() {
        assert_eq!(broadcast_offsets(&[2, 3], &[3]), vec![0, 1, 2, 0, 1, 2]);
        assert_eq!(broadcast_offsets(&[2, 3], &[2, 1]), vec![0, 0, 0, 1, 1, 1]);
        assert_eq!(broadcast_offsets(&[], &[]), vec![0]);
        assert_eq!(broadcast_offsets(&[0, 3], &[3]), Vec::<usize>::new());
    }
}
