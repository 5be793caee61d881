//! Helpers shared by the nn kernels: the float element trait the kernels are generic over
//! (f32 and f64; f16 and bf16 are computed in f32 and rounded back), and the spatial
//! geometry of convolutions and pools (output sizes, pads, `auto_pad`).

use std::fmt::Debug;

use half::{bf16, f16};
use modelc_ir::DType;
use ndarray::{ArrayD, ArrayView2, ArrayViewMut2, CowArray, IxDyn, LinalgScalar};
use num_traits::{Float, FromPrimitive};

use crate::{bail, Array, KernelError, OpCtx};

/// Largest number of elements an nn kernel will allocate for one output or buffer.
pub const MAX_ELEMS: usize = 1 << 31;

/// Checks that a shape's element count is reasonable; returns it.
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

/// The float types the nn kernels compute in.
pub trait Elem:
    Float
    + LinalgScalar
    + FromPrimitive
    + Debug
    + Default
    + Send
    + Sync
    + std::iter::Sum
    + std::ops::AddAssign
    + std::ops::MulAssign
    + 'static
{
    /// The array as this type: borrowed when it already is, converted otherwise.
    fn cow(a: &Array) -> Result<CowArray<'_, Self, IxDyn>, KernelError>;
    /// A result computed in this type, as an array of `dtype` (the input's type).
    fn wrap(out: ArrayD<Self>, dtype: DType) -> Result<Array, KernelError>;
    fn f(v: f64) -> Self;
    /// `c = a · b` (c overwritten) with the fastest GEMM available for the type.
    fn gemm(a: ArrayView2<Self>, b: ArrayView2<Self>, mut c: ArrayViewMut2<Self>) {
        ndarray::linalg::general_mat_mul(Self::one(), &a, &b, Self::zero(), &mut c);
    }
}

impl Elem for f32 {
    fn cow(a: &Array) -> Result<CowArray<'_, f32, IxDyn>, KernelError> {
        Ok(match a {
            Array::F32(x) => CowArray::from(x.view()),
            Array::F16(x) => CowArray::from(x.mapv(f32::from)),
            Array::BF16(x) => CowArray::from(x.mapv(f32::from)),
            Array::F64(x) => CowArray::from(x.mapv(|v| v as f32)),
            other => bail!("expected a float tensor, got {}", other.dtype()),
        })
    }
    fn wrap(out: ArrayD<f32>, dtype: DType) -> Result<Array, KernelError> {
        Ok(match dtype {
            DType::F32 => Array::F32(out),
            DType::F16 => Array::F16(out.mapv(f16::from_f32)),
            DType::BF16 => Array::BF16(out.mapv(bf16::from_f32)),
            DType::F64 => Array::F64(out.mapv(|v| v as f64)),
            other => bail!("unsupported element type {other}"),
        })
    }
    fn f(v: f64) -> f32 {
        v as f32
    }
    fn gemm(a: ArrayView2<f32>, b: ArrayView2<f32>, c: ArrayViewMut2<f32>) {
        super::sgemm::sgemm(a, b, c);
    }
}

impl Elem for f64 {
    fn cow(a: &Array) -> Result<CowArray<'_, f64, IxDyn>, KernelError> {
        Ok(match a {
            Array::F64(x) => CowArray::from(x.view()),
            Array::F32(x) => CowArray::from(x.mapv(|v| v as f64)),
            Array::F16(x) => CowArray::from(x.mapv(f64::from)),
            Array::BF16(x) => CowArray::from(x.mapv(f64::from)),
            other => bail!("expected a float tensor, got {}", other.dtype()),
        })
    }
    fn wrap(out: ArrayD<f64>, dtype: DType) -> Result<Array, KernelError> {
        Ok(match dtype {
            DType::F64 => Array::F64(out),
            DType::F32 => Array::F32(out.mapv(|v| v as f32)),
            DType::F16 => Array::F16(out.mapv(f16::from_f64)),
            DType::BF16 => Array::BF16(out.mapv(bf16::from_f64)),
            other => bail!("unsupported element type {other}"),
        })
    }
    fn f(v: f64) -> f64 {
        v
    }
}

/// Which precision a float input computes in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prec {
    F32,
    F64,
}

pub fn prec(a: &Array) -> Result<Prec, KernelError> {
    Ok(match a.dtype() {
        DType::F32 | DType::F16 | DType::BF16 => Prec::F32,
        DType::F64 => Prec::F64,
        other => bail!("expected a float tensor, got {other}"),
    })
}

/// Calls `$f::<f32>` or `$f::<f64>` with `$args` depending on the precision of `$x`.
macro_rules! float_dispatch {
    ($x:expr, $f:ident ( $($args:expr),* )) => {
        match $crate::ops::nn::common::prec($x)? {
            $crate::ops::nn::common::Prec::F32 => $f::<f32>($($args),*),
            $crate::ops::nn::common::Prec::F64 => $f::<f64>($($args),*),
        }
    };
}
pub(crate) use float_dispatch;

/// The `auto_pad` attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AutoPad {
    NotSet,
    SameUpper,
    SameLower,
    Valid,
}

pub fn auto_pad(ctx: &OpCtx<'_>) -> Result<AutoPad, KernelError> {
    Ok(match ctx.attrs().string("auto_pad", "NOTSET")?.as_str() {
        "NOTSET" | "" => AutoPad::NotSet,
        "SAME_UPPER" => AutoPad::SameUpper,
        "SAME_LOWER" => AutoPad::SameLower,
        "VALID" => AutoPad::Valid,
        other => bail!("unknown auto_pad `{other}`"),
    })
}

/// An `ints` attribute of `n` non-negative values (`default` each when absent).
pub fn spatial_ints(
    ctx: &OpCtx<'_>,
    name: &str,
    n: usize,
    default: usize,
    min: usize,
) -> Result<Vec<usize>, KernelError> {
    let v = ctx.attrs().ints(name, vec![])?;
    if v.is_empty() {
        return Ok(vec![default; n]);
    }
    if v.len() != n {
        bail!("attribute `{name}` has {} values, expected {n}", v.len());
    }
    v.iter()
        .map(|&x| {
            if x < min as i64 || x > (1 << 30) {
                bail!("attribute `{name}` value {x} is out of range")
            }
            Ok(x as usize)
        })
        .collect()
}

/// The spatial geometry of a convolution or pool.
#[derive(Debug, Clone)]
pub struct Geometry {
    pub kernel: Vec<usize>,
    pub strides: Vec<usize>,
    pub dilations: Vec<usize>,
    pub pads_begin: Vec<usize>,
    pub pads_end: Vec<usize>,
    pub out: Vec<usize>,
}

/// Computes output sizes and pads for input spatial sizes `input` (ONNX conv/pool rules).
pub fn geometry(
    ctx: &OpCtx<'_>,
    input: &[usize],
    kernel: Vec<usize>,
    ceil_mode: bool,
) -> Result<Geometry, KernelError> {
    let n = input.len();
    let strides = spatial_ints(ctx, "strides", n, 1, 1)?;
    let dilations = spatial_ints(ctx, "dilations", n, 1, 1)?;
    let pads = spatial_ints(ctx, "pads", 2 * n, 0, 0)?;
    let ap = auto_pad(ctx)?;
    let mut pads_begin = pads[..n].to_vec();
    let mut pads_end = pads[n..].to_vec();
    let mut out = vec![0; n];
    for i in 0..n {
        let ek = (kernel[i].max(1) - 1) * dilations[i] + 1;
        match ap {
            AutoPad::SameUpper | AutoPad::SameLower => {
                let o = input[i].div_ceil(strides[i]);
                let total = ((o.max(1) - 1) * strides[i] + ek).saturating_sub(input[i]);
                let small = total / 2;
                if ap == AutoPad::SameUpper {
                    pads_begin[i] = small;
                    pads_end[i] = total - small;
                } else {
                    pads_end[i] = small;
                    pads_begin[i] = total - small;
                }
                out[i] = o;
            }
            AutoPad::Valid | AutoPad::NotSet => {
                if ap == AutoPad::Valid {
                    pads_begin[i] = 0;
                    pads_end[i] = 0;
                }
                let padded = input[i] + pads_begin[i] + pads_end[i];
                if padded < ek {
                    bail!(
                        "kernel extent {ek} is larger than the padded input {padded} on spatial axis {i}"
                    );
                }
                let span = padded - ek;
                let mut o = if ceil_mode {
                    span.div_ceil(strides[i]) + 1
                } else {
                    span / strides[i] + 1
                };
                // The last window must start inside the input or the begin pad.
                if ceil_mode && (o - 1) * strides[i] >= input[i] + pads_begin[i] {
                    o -= 1;
                }
                out[i] = o;
            }
        }
    }
    Ok(Geometry {
        kernel,
        strides,
        dilations,
        pads_begin,
        pads_end,
        out,
    })
}

/// Row-major strides of a shape.
pub fn strides_of(shape: &[usize]) -> Vec<usize> {
    let mut s = vec![1; shape.len()];
    for i in (0..shape.len().saturating_sub(1)).rev() {
        s[i] = s[i + 1] * shape[i + 1];
    }
    s
}

/// Layout-sensitive kernels here compute channels-first; a channels-last node is an error.
pub fn check_nchw(ctx: &OpCtx<'_>) -> Result<(), KernelError> {
    if ctx.node.layout == Some(modelc_ir::Layout::Nhwc) {
        bail!("NHWC layout is not supported by this kernel (channels-first only)");
    }
    Ok(())
}
