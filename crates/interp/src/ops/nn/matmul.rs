//! MatMul (opsets 1, 9, 13) and Gemm (opsets 1, 6, 7, 9, 11, 13).
//!
//! MatMul: numpy `matmul` — 1-D operands are promoted (a leading / trailing 1 that is
//! removed from the result), the batch dimensions broadcast. Float types go through
//! the `gemm` crate ([`mat_mul`]); f16/bf16 compute in f32; integer types
//! use a wrapping triple loop.
//!
//! Gemm: `Y = alpha * A' * B' + beta * C` with attributes `alpha` (1.0), `beta` (1.0),
//! `transA` (0), `transB` (0); `C` is optional (since opset 11) and broadcasts
//! unidirectionally to (M, N).

use ndarray::{Array2, ArrayD, ArrayView2, ArrayViewD, ArrayViewMut2, Axis, Ix2, IxDyn};
use num_traits::{WrappingAdd, WrappingMul, Zero};

use super::packed_gemm::{self, PackedX};
use crate::ops::elem::{checked_count, float_dispatch, mat_mul, Real};
use crate::ops::util::{broadcast_shapes, one};
use crate::{bail, Array, Data, KernelError, OpCtx};
use rayon::prelude::*;

/// Integer element types with wrapping arithmetic.
pub trait IntElem: Copy + Zero + WrappingAdd + WrappingMul + Send + Sync + 'static {}
impl<T: Copy + Zero + WrappingAdd + WrappingMul + Send + Sync + 'static> IntElem for T {}

/// `c = a * b` for integers, wrapping on overflow.
fn int_gemm<T: IntElem>(a: ArrayView2<T>, b: ArrayView2<T>, mut c: ArrayViewMut2<T>) {
    let (m, k) = a.dim();
    let n = b.dim().1;
    for i in 0..m {
        for j in 0..n {
            let mut acc = T::zero();
            for p in 0..k {
                acc = acc.wrapping_add(&a[[i, p]].wrapping_mul(&b[[p, j]]));
            }
            c[[i, j]] = acc;
        }
    }
}

fn float_gemm<T: Real>(a: ArrayView2<T>, b: ArrayView2<T>, c: ArrayViewMut2<T>) {
    T::gemm(a, b, c);
}

/// numpy matmul of `a` and `b` with `mm` as the 2-D kernel.
pub fn matmul_nd<T: Copy + Zero + Send + Sync>(
    a: ArrayViewD<T>,
    b: ArrayViewD<T>,
    mm: impl Fn(ArrayView2<T>, ArrayView2<T>, ArrayViewMut2<T>) + Sync,
) -> Result<ArrayD<T>, KernelError> {
    if a.ndim() == 0 || b.ndim() == 0 {
        bail!("MatMul operands must have rank >= 1");
    }
    let a_vec = a.ndim() == 1;
    let b_vec = b.ndim() == 1;
    let a = if a_vec { a.insert_axis(Axis(0)) } else { a };
    let b = if b_vec { b.insert_axis(Axis(1)) } else { b };
    let (ra, rb) = (a.ndim(), b.ndim());
    let (m, k) = (a.shape()[ra - 2], a.shape()[ra - 1]);
    let (k2, n) = (b.shape()[rb - 2], b.shape()[rb - 1]);
    if k != k2 {
        bail!(
            "MatMul inner dimensions differ: {:?} x {:?}",
            a.shape(),
            b.shape()
        );
    }
    let batch = broadcast_shapes(&a.shape()[..ra - 2], &b.shape()[..rb - 2])?;
    let mut out_shape = batch.clone();
    out_shape.push(m);
    out_shape.push(n);
    checked_count(&out_shape)?;
    let mut out = ArrayD::<T>::zeros(IxDyn(&out_shape));
    let nb: usize = batch.iter().product();
    if nb > 0 && m > 0 && n > 0 {
        let a3 = a
            .broadcast(IxDyn(&[&batch[..], &[m, k]].concat()))
            .ok_or_else(|| KernelError::new("MatMul: cannot broadcast A"))?;
        let b3 = b
            .broadcast(IxDyn(&[&batch[..], &[k, n]].concat()))
            .ok_or_else(|| KernelError::new("MatMul: cannot broadcast B"))?;
        // Fast path: B is one matrix shared by every batch and A is contiguous: one GEMM.
        if rb == 2 && a.is_standard_layout() {
            let a2 = a
                .to_shape((nb * m, k))
                .map_err(|e| KernelError::new(e.to_string()))?;
            let mut o2 = out
                .view_mut()
                .into_shape_with_order((nb * m, n))
                .map_err(|e| KernelError::new(e.to_string()))?;
            let b2 = b
                .into_dimensionality::<Ix2>()
                .map_err(|e| KernelError::new(e.to_string()))?;
            mm(a2.view(), b2, o2.view_mut());
        } else {
            let a3 = a3
                .to_shape((nb, m, k))
                .map_err(|e| KernelError::new(e.to_string()))?;
            let b3 = b3
                .to_shape((nb, k, n))
                .map_err(|e| KernelError::new(e.to_string()))?;
            let mut o3 = out
                .view_mut()
                .into_shape_with_order((nb, m, n))
                .map_err(|e| KernelError::new(e.to_string()))?;
            // The batch items (attention heads, say) are independent products: one rayon
            // task each, every item computed the same way on any number of threads.
            let items: Vec<_> = o3.axis_iter_mut(Axis(0)).enumerate().collect();
            items
                .into_par_iter()
                .for_each(|(i, oi)| mm(a3.index_axis(Axis(0), i), b3.index_axis(Axis(0), i), oi));
        }
    }
    if b_vec {
        let ax = out.ndim() - 1;
        out = out.remove_axis(Axis(ax));
    }
    if a_vec {
        let ax = out.ndim() - 1 - usize::from(!b_vec);
        out = out.remove_axis(Axis(ax));
    }
    Ok(out)
}

fn matmul_float<T: Real>(a: &Array, b: &Array) -> Result<Array, KernelError> {
    let av = T::cow(a)?;
    let bv = T::cow(b)?;
    let out = matmul_nd(av.view(), bv.view(), float_gemm::<T>)?;
    T::wrap(out, a.dtype())
}

/// `a · w` for an f32 `a` (rows of at least a panel, contiguous) and a constant 2-D `w`
/// (at least a vector of columns) packed once per interpreter ([`PackedX`]); `None` when
/// the product is not of that form (the caller then computes it as any other).
fn matmul_packed(
    ctx: &OpCtx<'_>,
    a: &ArrayD<f32>,
    w: &ArrayD<f32>,
) -> Result<Option<ArrayD<f32>>, KernelError> {
    let (Some(&k), [k2, n]) = (a.shape().last(), w.shape()) else {
        return Ok(None);
    };
    let rows = a.len().checked_div(k).unwrap_or(0);
    if !packed_gemm::available()
        || a.ndim() < 2
        || k == 0
        || k != *k2
        || rows < packed_gemm::MR
        || *n < 16
        || !a.is_standard_layout()
    {
        return Ok(None);
    }
    let Some(packed) =
        ctx.prepared(|| PackedX::new(w.view().into_dimensionality::<Ix2>().expect("a 2-D weight")))
    else {
        return Ok(None);
    };
    let mut shape = a.shape().to_vec();
    *shape.last_mut().expect("rank >= 2") = *n;
    let mut out = ctx.out_buffer::<f32>(rows * n);
    let lhs = a
        .view()
        .into_shape_with_order((rows, k))
        .map_err(|e| KernelError::new(e.to_string()))?;
    // The plan's fused bias and activation, applied to the tile in registers (a bias of
    // another length broadcasts: then the interpreter applies both).
    let col_bias = ctx.col_bias.filter(|b| b.len() == *n);
    let epi = packed_gemm::Epilogue {
        col_bias,
        act: ctx
            .epilogue
            .filter(|_| ctx.col_bias.is_none() || col_bias.is_some()),
        ..packed_gemm::Epilogue::default()
    };
    packed_gemm::product_packed(
        lhs,
        packed,
        &epi,
        ArrayViewMut2::from_shape((rows, *n), &mut out[..])?,
    );
    ctx.epilogue_done
        .set(epi.col_bias.is_some() || epi.act.is_some());
    Ok(Some(ArrayD::from_shape_vec(IxDyn(&shape), out)?))
}

pub fn matmul(ctx: &OpCtx<'_>) -> Result<Vec<Data>, KernelError> {
    let a = ctx.input(0)?;
    let b = ctx.input(1)?;
    if let (Array::F32(x), Array::F32(w)) = (a, b) {
        if let Some(out) = matmul_packed(ctx, x, w)? {
            return one(Array::F32(out));
        }
    }
    if a.dtype() != b.dtype() {
        bail!(
            "MatMul operands differ in type: {} and {}",
            a.dtype(),
            b.dtype()
        );
    }
    macro_rules! int {
        ($x:expr, $y:expr, $v:ident) => {
            Array::$v(matmul_nd($x.view(), $y.view(), int_gemm)?)
        };
    }
    let out = match (a, b) {
        (Array::I8(x), Array::I8(y)) => int!(x, y, I8),
        (Array::I16(x), Array::I16(y)) => int!(x, y, I16),
        (Array::I32(x), Array::I32(y)) => int!(x, y, I32),
        (Array::I64(x), Array::I64(y)) => int!(x, y, I64),
        (Array::U8(x), Array::U8(y)) => int!(x, y, U8),
        (Array::U16(x), Array::U16(y)) => int!(x, y, U16),
        (Array::U32(x), Array::U32(y)) => int!(x, y, U32),
        (Array::U64(x), Array::U64(y)) => int!(x, y, U64),
        _ => float_dispatch!(a.dtype(), matmul_float(a, b))?,
    };
    one(out)
}

struct GemmAttrs {
    alpha: f32,
    beta: f32,
    trans_a: bool,
    trans_b: bool,
}

fn gemm_dims(
    a: &[usize],
    b: &[usize],
    at: &GemmAttrs,
) -> Result<(usize, usize, usize), KernelError> {
    if a.len() != 2 || b.len() != 2 {
        bail!("Gemm operands must be 2-D, got {a:?} and {b:?}");
    }
    let (m, k) = if at.trans_a {
        (a[1], a[0])
    } else {
        (a[0], a[1])
    };
    let (k2, n) = if at.trans_b {
        (b[1], b[0])
    } else {
        (b[0], b[1])
    };
    if k != k2 {
        bail!("Gemm inner dimensions differ: {a:?} x {b:?}");
    }
    checked_count(&[m, n])?;
    Ok((m, k, n))
}

/// C broadcast to (m, n), or an error.
fn bias<T: Clone>(c: ArrayViewD<'_, T>, m: usize, n: usize) -> Result<Array2<T>, KernelError> {
    if c.ndim() > 2 {
        bail!("Gemm C must have rank <= 2, got {:?}", c.shape());
    }
    Ok(c.broadcast(IxDyn(&[m, n]))
        .ok_or_else(|| {
            KernelError::new(format!(
                "Gemm C {:?} does not broadcast to [{m}, {n}]",
                c.shape()
            ))
        })?
        .into_dimensionality::<Ix2>()?
        .to_owned())
}

fn gemm_float<T: Real>(ctx: &OpCtx<'_>, at: &GemmAttrs) -> Result<Array, KernelError> {
    let a0 = ctx.input(0)?;
    let a = T::cow(a0)?;
    let b = T::cow(ctx.input(1)?)?;
    let (m, _k, n) = gemm_dims(a.shape(), b.shape(), at)?;
    let a2 = a.view().into_dimensionality::<Ix2>()?;
    let b2 = b.view().into_dimensionality::<Ix2>()?;
    let a2 = if at.trans_a { a2.reversed_axes() } else { a2 };
    let b2 = if at.trans_b { b2.reversed_axes() } else { b2 };
    let (mut y, beta) = match ctx.opt_input(2)? {
        Some(c) if at.beta != 0.0 => (bias(T::cow(c)?.view(), m, n)?, T::c(at.beta as f64)),
        _ => (Array2::<T>::zeros((m, n)), T::zero()),
    };
    mat_mul(T::c(at.alpha as f64), a2, b2, beta, y.view_mut());
    T::wrap(y.into_dyn(), a0.dtype())
}

fn gemm_int<T: IntElem + num_traits::NumCast>(
    a: &ArrayD<T>,
    b: &ArrayD<T>,
    c: Option<&ArrayD<T>>,
    at: &GemmAttrs,
) -> Result<ArrayD<T>, KernelError> {
    let (m, _k, n) = gemm_dims(a.shape(), b.shape(), at)?;
    let a2 = a.view().into_dimensionality::<Ix2>()?;
    let b2 = b.view().into_dimensionality::<Ix2>()?;
    let a2 = if at.trans_a { a2.reversed_axes() } else { a2 };
    let b2 = if at.trans_b { b2.reversed_axes() } else { b2 };
    let mut y = Array2::<T>::zeros((m, n));
    int_gemm(a2, b2, y.view_mut());
    let int_of = |v: f32, name: &str| -> Result<T, KernelError> {
        if v.fract() != 0.0 {
            bail!("Gemm on integers needs an integral {name}, got {v}");
        }
        num_traits::cast::<f32, T>(v)
            .ok_or_else(|| KernelError::new(format!("{name} {v} does not fit the element type")))
    };
    if at.alpha != 1.0 {
        let alpha = int_of(at.alpha, "alpha")?;
        y.mapv_inplace(|v| v.wrapping_mul(&alpha));
    }
    if let Some(c) = c {
        if at.beta != 0.0 {
            let beta = int_of(at.beta, "beta")?;
            let cb = bias(c.view(), m, n)?;
            y.zip_mut_with(&cb, |v, &cv| *v = v.wrapping_add(&cv.wrapping_mul(&beta)));
        }
    }
    Ok(y.into_dyn())
}

pub fn gemm(ctx: &OpCtx<'_>) -> Result<Vec<Data>, KernelError> {
    let at = GemmAttrs {
        alpha: ctx.float("alpha")?,
        beta: ctx.float("beta")?,
        trans_a: ctx.attrs().int("transA", 0)? != 0,
        trans_b: ctx.attrs().int("transB", 0)? != 0,
    };
    let a = ctx.input(0)?;
    let b = ctx.input(1)?;
    let c = ctx.opt_input(2)?;
    if a.dtype() != b.dtype() || c.is_some_and(|c| c.dtype() != a.dtype()) {
        bail!("Gemm operands differ in type");
    }
    macro_rules! int {
        ($x:expr, $y:expr, $v:ident) => {{
            let cc = match c {
                Some(Array::$v(z)) => Some(z),
                _ => None,
            };
            Array::$v(gemm_int($x, $y, cc, &at)?)
        }};
    }
    let out = match (a, b) {
        (Array::I32(x), Array::I32(y)) => int!(x, y, I32),
        (Array::I64(x), Array::I64(y)) => int!(x, y, I64),
        (Array::U32(x), Array::U32(y)) => int!(x, y, U32),
        (Array::U64(x), Array::U64(y)) => int!(x, y, U64),
        _ => float_dispatch!(a.dtype(), gemm_float(ctx, &at))?,
    };
    one(out)
}
