//! Helpers shared by the reduce-family kernels: the float type the float-only kernels
//! compute in (f32 and f64; f16 and bf16 are computed in f32 and rounded back), lane
//! iteration (applying a function to every 1-D lane along an axis, or to every group of
//! reduced elements), axis handling and size limits.

use std::fmt::Debug;

use half::{bf16, f16};
use modelc_ir::DType;
use ndarray::{ArrayD, ArrayViewD, CowArray, IxDyn, LinalgScalar, ScalarOperand};
use num_traits::{Float, FromPrimitive};

use crate::ops::util::normalize_axis;
use crate::{bail, Array, KernelError};

/// Largest number of elements a kernel of this family will allocate for one buffer.
pub const MAX_ELEMS: usize = 1 << 31;

/// The element count of `shape`, checked against [`MAX_ELEMS`].
pub fn checked_count(shape: &[usize]) -> Result<usize, KernelError> {
    let mut n: usize = 1;
    for &d in shape {
        n = match n.checked_mul(d) {
            Some(v) if v <= MAX_ELEMS => v,
            _ => bail!("shape {shape:?} is too large"),
        };
    }
    Ok(n)
}

/// The float types the float-only kernels compute in.
pub trait Real:
    Float
    + LinalgScalar
    + ScalarOperand
    + FromPrimitive
    + Debug
    + Default
    + Send
    + Sync
    + std::iter::Sum
    + 'static
{
    /// The array as this type: borrowed when it already is, converted otherwise (any
    /// float or integer type).
    fn cow(a: &Array) -> Result<CowArray<'_, Self, IxDyn>, KernelError>;
    /// A result computed in this type, as an array of `dtype`.
    fn wrap(out: ArrayD<Self>, dtype: DType) -> Result<Array, KernelError>;
    /// A constant.
    fn c(v: f64) -> Self;
    fn as_f64(self) -> f64;
}

fn ints_as_f64(a: &Array) -> Result<ArrayD<f64>, KernelError> {
    let v = match a {
        Array::Bool(x) => return Ok(x.mapv(|b| if b { 1.0 } else { 0.0 })),
        other => other.to_f64_vec()?,
    };
    Ok(ArrayD::from_shape_vec(IxDyn(a.shape()), v)?)
}

impl Real for f32 {
    fn cow(a: &Array) -> Result<CowArray<'_, f32, IxDyn>, KernelError> {
        Ok(match a {
            Array::F32(x) => CowArray::from(x.view()),
            Array::F16(x) => CowArray::from(x.mapv(f32::from)),
            Array::BF16(x) => CowArray::from(x.mapv(f32::from)),
            Array::F64(x) => CowArray::from(x.mapv(|v| v as f32)),
            Array::Str(_) | Array::Packed { .. } => {
                bail!("expected a numeric tensor, got {}", a.dtype())
            }
            other => CowArray::from(ints_as_f64(other)?.mapv(|v| v as f32)),
        })
    }
    fn wrap(out: ArrayD<f32>, dtype: DType) -> Result<Array, KernelError> {
        Ok(match dtype {
            DType::F32 => Array::F32(out),
            DType::F16 => Array::F16(out.mapv(f16::from_f32)),
            DType::BF16 => Array::BF16(out.mapv(bf16::from_f32)),
            DType::F64 => Array::F64(out.mapv(|v| v as f64)),
            other => from_f64_array(out.mapv(|v| v as f64), other)?,
        })
    }
    fn c(v: f64) -> f32 {
        v as f32
    }
    fn as_f64(self) -> f64 {
        self as f64
    }
}

impl Real for f64 {
    fn cow(a: &Array) -> Result<CowArray<'_, f64, IxDyn>, KernelError> {
        Ok(match a {
            Array::F64(x) => CowArray::from(x.view()),
            Array::F32(x) => CowArray::from(x.mapv(|v| v as f64)),
            Array::F16(x) => CowArray::from(x.mapv(f64::from)),
            Array::BF16(x) => CowArray::from(x.mapv(f64::from)),
            Array::Str(_) | Array::Packed { .. } => {
                bail!("expected a numeric tensor, got {}", a.dtype())
            }
            other => CowArray::from(ints_as_f64(other)?),
        })
    }
    fn wrap(out: ArrayD<f64>, dtype: DType) -> Result<Array, KernelError> {
        Ok(match dtype {
            DType::F64 => Array::F64(out),
            DType::F32 => Array::F32(out.mapv(|v| v as f32)),
            DType::F16 => Array::F16(out.mapv(f16::from_f64)),
            DType::BF16 => Array::BF16(out.mapv(bf16::from_f64)),
            other => from_f64_array(out, other)?,
        })
    }
    fn c(v: f64) -> f64 {
        v
    }
    fn as_f64(self) -> f64 {
        self
    }
}

/// An f64 array converted to `dtype` (numpy `astype`: integers truncate toward zero and
/// saturate; NaN becomes 0).
pub fn from_f64_array(a: ArrayD<f64>, dtype: DType) -> Result<Array, KernelError> {
    Ok(match dtype {
        DType::F64 => Array::F64(a),
        DType::F32 => Array::F32(a.mapv(|v| v as f32)),
        DType::F16 => Array::F16(a.mapv(f16::from_f64)),
        DType::BF16 => Array::BF16(a.mapv(bf16::from_f64)),
        DType::I8 => Array::I8(a.mapv(|v| v as i8)),
        DType::I16 => Array::I16(a.mapv(|v| v as i16)),
        DType::I32 => Array::I32(a.mapv(|v| v as i32)),
        DType::I64 => Array::I64(a.mapv(|v| v as i64)),
        DType::U8 => Array::U8(a.mapv(|v| v as u8)),
        DType::U16 => Array::U16(a.mapv(|v| v as u16)),
        DType::U32 => Array::U32(a.mapv(|v| v as u32)),
        DType::U64 => Array::U64(a.mapv(|v| v as u64)),
        DType::Bool => Array::Bool(a.mapv(|v| v != 0.0)),
        other => bail!("unsupported element type {other}"),
    })
}

/// How intermediate results are rounded: not at all (f32, f64), or — to reproduce the
/// ONNX reference, which computes f16 with numpy and bf16 with ml_dtypes step by step —
/// to f16 after every step (sums accumulated in f32, as numpy's pairwise sum does) or to
/// bf16 after every step including each addition of the sum.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Prec {
    Exact,
    Half,
    BHalf,
}

pub fn rnd<T: Real>(p: Prec, v: T) -> T {
    match p {
        Prec::Exact => v,
        Prec::Half => T::c(half::f16::from_f64(v.as_f64()).to_f64()),
        Prec::BHalf => T::c(half::bf16::from_f64(v.as_f64()).to_f64()),
    }
}

impl Prec {
    /// The rounding that reproduces the reference for inputs of type `dtype`.
    pub fn of(dtype: DType) -> Prec {
        match dtype {
            DType::F16 => Prec::Half,
            DType::BF16 => Prec::BHalf,
            _ => Prec::Exact,
        }
    }
}

/// Calls the generic function `$f::<T>(args..)` with `T` the compute type for `$dtype`
/// (f32 for f32/f16/bf16, f64 for f64); an error for other types.
macro_rules! float_dispatch {
    ($dtype:expr, $f:ident ( $($arg:expr),* $(,)? )) => {
        match $dtype {
            modelc_ir::DType::F32 | modelc_ir::DType::F16 | modelc_ir::DType::BF16 => {
                $f::<f32>($($arg),*)
            }
            modelc_ir::DType::F64 => $f::<f64>($($arg),*),
            other => Err($crate::KernelError::new(format!(
                "element type {other} is not supported by this op (float types only)"
            ))),
        }
    };
}
pub(crate) use float_dispatch;

/// The permutation that moves `axis` last, and its inverse.
fn axis_last_perm(rank: usize, axis: usize) -> (Vec<usize>, Vec<usize>) {
    let mut perm: Vec<usize> = (0..rank).filter(|&i| i != axis).collect();
    perm.push(axis);
    let mut inv = vec![0; rank];
    for (i, &p) in perm.iter().enumerate() {
        inv[p] = i;
    }
    (perm, inv)
}

/// Applies `f` to every 1-D lane of `a` along `axis` (each lane a contiguous mutable
/// slice, in the order of the other axes); returns the result in standard layout.
pub fn map_lanes<T: Clone>(
    a: ArrayViewD<'_, T>,
    axis: usize,
    mut f: impl FnMut(&mut [T]),
) -> Result<ArrayD<T>, KernelError> {
    let rank = a.ndim();
    if axis >= rank {
        bail!("axis {axis} is out of range for rank {rank}");
    }
    let n = a.shape()[axis];
    let (perm, inv) = axis_last_perm(rank, axis);
    let mut b = a.permuted_axes(perm).as_standard_layout().into_owned();
    if n > 0 {
        let s = b
            .as_slice_mut()
            .ok_or_else(|| KernelError::new("internal: array not contiguous"))?;
        for lane in s.chunks_exact_mut(n) {
            f(lane);
        }
    }
    if axis + 1 == rank {
        return Ok(b);
    }
    Ok(b.permuted_axes(inv).as_standard_layout().into_owned())
}

/// Reduces every group of elements that differ only along the axes flagged in `mask`
/// with `f` (which receives them contiguously, in row-major order of the reduced axes;
/// an empty slice when a reduced axis has length 0). The result has the shape of the
/// kept axes.
pub fn reduce_groups<T: Clone, U>(
    a: ArrayViewD<'_, T>,
    mask: &[bool],
    mut f: impl FnMut(&[T]) -> U,
) -> Result<ArrayD<U>, KernelError> {
    let rank = a.ndim();
    let shape = a.shape().to_vec();
    let kept: Vec<usize> = (0..rank).filter(|&i| !mask[i]).collect();
    let red: Vec<usize> = (0..rank).filter(|&i| mask[i]).collect();
    let out_shape: Vec<usize> = kept.iter().map(|&i| shape[i]).collect();
    let lane: usize = red.iter().map(|&i| shape[i]).product();
    let n_out = checked_count(&out_shape)?;
    let out: Vec<U> = if lane == 0 {
        (0..n_out).map(|_| f(&[])).collect()
    } else {
        let perm: Vec<usize> = kept.iter().chain(red.iter()).copied().collect();
        let b = a.permuted_axes(perm);
        let b = b.as_standard_layout();
        let s = b
            .as_slice()
            .ok_or_else(|| KernelError::new("internal: array not contiguous"))?;
        s.chunks_exact(lane).map(f).collect()
    };
    Ok(ArrayD::from_shape_vec(IxDyn(&out_shape), out)?)
}

/// Normalizes a list of (possibly negative) axes against `rank` into a mask; repeated
/// axes are an error.
pub fn axes_mask(axes: &[i64], rank: usize) -> Result<Vec<bool>, KernelError> {
    let mut mask = vec![false; rank];
    for &ax in axes {
        let a = normalize_axis(ax, rank)?;
        if mask[a] {
            bail!("axis {ax} is repeated in {axes:?}");
        }
        mask[a] = true;
    }
    Ok(mask)
}

/// `shape` with the masked axes set to 1 (keepdims) or removed.
pub fn reduced_shape(shape: &[usize], mask: &[bool], keepdims: bool) -> Vec<usize> {
    shape
        .iter()
        .zip(mask)
        .filter_map(|(&d, &m)| match (m, keepdims) {
            (false, _) => Some(d),
            (true, true) => Some(1),
            (true, false) => None,
        })
        .collect()
}

/// The channel axis of a layout-sensitive op's input of rank `rank`: 1 for NCHW (ONNX's
/// default), the last axis for NHWC.
pub fn channel_axis(ctx: &crate::OpCtx<'_>, rank: usize) -> Result<usize, KernelError> {
    if rank < 2 {
        bail!("expected an input of rank at least 2, got rank {rank}");
    }
    Ok(match ctx.node.layout {
        Some(modelc_ir::Layout::Nhwc) => rank - 1,
        _ => 1,
    })
}

/// A 1-D parameter input converted to the compute type, checked to have `n` elements.
pub fn param<T: Real>(a: &Array, n: usize, what: &str) -> Result<Vec<T>, KernelError> {
    let v = T::cow(a)?;
    if v.len() != n {
        bail!("{what} has {} elements, expected {n}", v.len());
    }
    Ok(v.iter().copied().collect())
}

/// `a` with its channel axis `cax` moved to position 1, in standard layout (a copy only
/// when `cax != 1`).
pub fn channels_first<T: Clone>(a: ArrayViewD<'_, T>, cax: usize) -> ArrayD<T> {
    if cax == 1 {
        return a.as_standard_layout().into_owned();
    }
    let rank = a.ndim();
    let mut perm: Vec<usize> = vec![0, cax];
    perm.extend((1..rank).filter(|&i| i != cax));
    a.permuted_axes(perm).as_standard_layout().into_owned()
}

/// The inverse of [`channels_first`]: moves axis 1 back to `cax`.
pub fn channels_back<T: Clone>(a: ArrayD<T>, cax: usize) -> ArrayD<T> {
    if cax == 1 {
        return a;
    }
    let rank = a.ndim();
    let mut perm: Vec<usize> = vec![0, cax];
    perm.extend((1..rank).filter(|&i| i != cax));
    let mut inv = vec![0; rank];
    for (i, &p) in perm.iter().enumerate() {
        inv[p] = i;
    }
    a.permuted_axes(inv).as_standard_layout().into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::ArrayD;

    #[test]
    fn lanes_and_groups() {
        let a = ArrayD::from_shape_vec(IxDyn(&[2, 3]), vec![1, 2, 3, 4, 5, 6]).unwrap();
        let r = map_lanes(a.view(), 0, |l| l.reverse()).unwrap();
        assert_eq!(
            r.iter().copied().collect::<Vec<_>>(),
            vec![4, 5, 6, 1, 2, 3]
        );
        let s = reduce_groups(a.view(), &[false, true], |l| l.iter().sum::<i32>()).unwrap();
        assert_eq!(s.iter().copied().collect::<Vec<_>>(), vec![6, 15]);
        let s = reduce_groups(a.view(), &[true, false], |l| l.iter().sum::<i32>()).unwrap();
        assert_eq!(s.iter().copied().collect::<Vec<_>>(), vec![5, 7, 9]);
        assert!(axes_mask(&[0, -2], 2).is_err());
        assert!(axes_mask(&[2], 2).is_err());
    }
}
