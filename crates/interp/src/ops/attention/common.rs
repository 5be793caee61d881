//! Helpers shared by the attention kernels: the
//! precision an intermediate result is rounded to ([`Prec`]), conversions between
//! [`Array`] and `ArrayD<F>`, head splitting and 2-D matrix products.

use half::{bf16, f16};
use modelc_ir::DType;
use ndarray::{Array2, Array4, ArrayD, ArrayView2, Axis, IxDyn};

use crate::ops::elem::checked_count;
pub use crate::ops::elem::Real;
use crate::{bail, Array, KernelError};

/// A floating-point storage precision that intermediate results are rounded to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prec {
    F16,
    BF16,
    F32,
    F64,
}

impl Prec {
    pub fn of_dtype(d: DType) -> Result<Prec, KernelError> {
        Ok(match d {
            DType::F16 => Prec::F16,
            DType::BF16 => Prec::BF16,
            DType::F32 => Prec::F32,
            DType::F64 => Prec::F64,
            other => bail!("element type {other} is not supported (expected a float type)"),
        })
    }

    /// The precision named by an ONNX `TensorProto.DataType` code (softmax_precision).
    pub fn of_code(code: i64) -> Result<Prec, KernelError> {
        Ok(match code {
            1 => Prec::F32,
            10 => Prec::F16,
            11 => Prec::F64,
            16 => Prec::BF16,
            other => bail!("unsupported precision data type {other}"),
        })
    }

    pub fn dtype(self) -> DType {
        match self {
            Prec::F16 => DType::F16,
            Prec::BF16 => DType::BF16,
            Prec::F32 => DType::F32,
            Prec::F64 => DType::F64,
        }
    }

    /// `v` rounded to this precision, as an `F`.
    pub fn cast<F: Real>(self, v: f64) -> F {
        F::c(match self {
            Prec::F16 => f16::from_f64(v).to_f64(),
            Prec::BF16 => bf16::from_f64(v).to_f64(),
            Prec::F32 => v as f32 as f64,
            Prec::F64 => v,
        })
    }

    /// `x` rounded to this precision.
    #[inline]
    pub fn r<F: Real>(self, x: F) -> F {
        match self {
            Prec::F64 => x,
            Prec::F32 if std::mem::size_of::<F>() == 4 => x,
            _ => self.cast(x.as_f64()),
        }
    }
}

/// A float array's values as `ArrayD<F>` (standard layout).
pub fn to_real<F: Real>(a: &Array) -> Result<ArrayD<F>, KernelError> {
    let shape = IxDyn(a.shape());
    let v: Vec<F> = match a {
        Array::F32(x) => x.iter().map(|&v| F::c(v as f64)).collect(),
        Array::F64(x) => x.iter().map(|&v| F::c(v)).collect(),
        Array::F16(x) => x.iter().map(|v| F::c(v.to_f64())).collect(),
        Array::BF16(x) => x.iter().map(|v| F::c(v.to_f64())).collect(),
        other => bail!(
            "element type {} is not supported (expected a float type)",
            other.dtype()
        ),
    };
    Ok(ArrayD::from_shape_vec(shape, v)?)
}

/// `a` converted (rounded) to the float type `dtype`.
pub fn from_real<F: Real>(a: &ArrayD<F>, dtype: DType) -> Result<Array, KernelError> {
    Ok(match dtype {
        DType::F32 => Array::F32(a.mapv(|v| v.as_f64() as f32)),
        DType::F64 => Array::F64(a.mapv(|v| v.as_f64())),
        DType::F16 => Array::F16(a.mapv(|v| f16::from_f64(v.as_f64()))),
        DType::BF16 => Array::BF16(a.mapv(|v| bf16::from_f64(v.as_f64()))),
        other => bail!("element type {other} is not supported (expected a float type)"),
    })
}

/// `(B, S, H*D)` → `(B, H, S, D)` (standard layout).
pub fn split_heads<F: Real>(
    x: &ArrayD<F>,
    heads: i64,
    what: &str,
) -> Result<Array4<F>, KernelError> {
    let s = x.shape();
    if s.len() != 3 {
        bail!("{what} must be rank 3, got shape {s:?}");
    }
    if heads <= 0 {
        bail!("{what}: the number of heads must be positive, got {heads}");
    }
    let h = heads as usize;
    if !s[2].is_multiple_of(h) {
        bail!("{what}: hidden size {} is not divisible by {h} heads", s[2]);
    }
    let d = s[2] / h;
    let x4 = x
        .view()
        .into_shape_with_order((s[0], s[1], h, d))?
        .permuted_axes([0, 2, 1, 3]);
    Ok(x4.as_standard_layout().into_owned())
}

/// `(B, H, S, D)` → `(B, S, H*D)`.
pub fn merge_heads<F: Real>(x: &Array4<F>) -> Result<ArrayD<F>, KernelError> {
    let (b, h, s, d) = x.dim();
    let t = x.view().permuted_axes([0, 2, 1, 3]);
    let t = t.as_standard_layout().into_owned();
    Ok(t.into_shape_with_order(IxDyn(&[b, s, h * d]))?)
}

/// A rank-4 view of `x` or an error naming it.
pub fn rank4<F: Real>(x: ArrayD<F>, what: &str) -> Result<Array4<F>, KernelError> {
    let shape = x.shape().to_vec();
    x.into_dimensionality::<ndarray::Ix4>()
        .map_err(|_| KernelError::new(format!("{what} must be rank 4, got shape {shape:?}")))
}

/// `a · b`, each element of the result rounded to `prec`.
pub fn matmul<F: Real>(a: ArrayView2<F>, b: ArrayView2<F>, prec: Prec) -> Array2<F> {
    let mut c = Array2::<F>::zeros((a.nrows(), b.ncols()));
    F::gemm(a, b, c.view_mut());
    if !matches!(prec, Prec::F64) {
        c.mapv_inplace(|v| prec.r(v));
    }
    c
}

/// NaN-propagating maximum of a row (numpy `max`); `-inf` for an empty row.
pub fn row_max<F: Real>(row: impl Iterator<Item = F>) -> F {
    let mut m = F::neg_infinity();
    for v in row {
        if v.is_nan() {
            return v;
        }
        if v > m {
            m = v;
        }
    }
    m
}

/// Concatenates two rank-4 arrays along axis 2.
pub fn concat_seq<F: Real>(a: &Array4<F>, b: &Array4<F>) -> Result<Array4<F>, KernelError> {
    Ok(ndarray::concatenate(Axis(2), &[a.view(), b.view()])?)
}

/// Errors when an intermediate of shape `dims` would exceed [`MAX_ELEMS`](crate::ops::elem::MAX_ELEMS) elements.
pub fn check_size(dims: &[usize], what: &str) -> Result<(), KernelError> {
    checked_count(dims)
        .map_err(|_| KernelError::new(format!("{what} of shape {dims:?} is too large")))?;
    Ok(())
}
