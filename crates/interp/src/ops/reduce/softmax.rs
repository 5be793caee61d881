//! Softmax, LogSoftmax and Hardmax (opsets 1, 11, 13).
//!
//! Before opset 13 the input is coerced to 2-D at `axis` (default 1): rows are the
//! product of the dimensions before `axis`, and the op works over each row of the
//! product of the remaining dimensions. From opset 13 the op works along the single
//! dimension `axis` (default −1). Softmax is computed stably (`exp(x − max)`); Hardmax is
//! 1 at the first maximum of each row and 0 elsewhere. Float types (f16/bf16 in f32,
//! rounded after every step as the reference's numpy / ml_dtypes arithmetic does).

use ndarray::{ArrayD, ArrayViewD, IxDyn};

use super::common::{map_lanes, rnd, Prec};
use crate::ops::elem::{float_dispatch, Real};
use crate::ops::elementwise::fast::{exp_f32, on_widest};
use crate::ops::util::{normalize_axis, one};
use crate::{Array, Data, KernelError, OpCtx};

#[derive(Clone, Copy)]
enum Kind {
    Softmax,
    LogSoftmax,
    Hardmax,
}

fn lane<T: Real>(kind: Kind, p: Prec, xs: &mut [T]) {
    if let (Kind::Softmax, Prec::Exact, Some(v)) = (kind, p, T::as_f32s(xs)) {
        return on_widest(
            #[inline(always)]
            || softmax_f32(v),
        );
    }
    let m = xs.iter().copied().fold(T::neg_infinity(), T::max);
    match kind {
        Kind::LogSoftmax if p == Prec::Exact => {
            let s: T = xs.iter().map(|&v| (v - m).exp()).sum();
            let ls = s.ln();
            for v in xs.iter_mut() {
                *v = *v - m - ls;
            }
        }
        Kind::Softmax if p == Prec::Exact => {
            // Same arithmetic as below without the rounding steps, so it vectorizes.
            let mut s = T::zero();
            for v in xs.iter_mut() {
                *v = (*v - m).exp();
                s += *v;
            }
            for v in xs.iter_mut() {
                *v = *v / s;
            }
        }
        Kind::Softmax | Kind::LogSoftmax => {
            let mut s = T::zero();
            for v in xs.iter_mut() {
                *v = rnd(p, (rnd(p, *v - m)).exp());
                s += *v;
                if p == Prec::BHalf {
                    s = rnd(p, s);
                }
            }
            let s = rnd(p, s);
            for v in xs.iter_mut() {
                *v = rnd(p, *v / s);
                if matches!(kind, Kind::LogSoftmax) {
                    *v = rnd(p, v.ln());
                }
            }
        }
        Kind::Hardmax => {
            let first = xs.iter().position(|&v| v == m);
            for (i, v) in xs.iter_mut().enumerate() {
                *v = if Some(i) == first {
                    T::one()
                } else {
                    T::zero()
                };
            }
        }
    }
}

/// One f32 softmax lane, in place: `exp(x − max)` with the branch-free `exp_f32` (within
/// 2 ulp; exactly 0 below e^-87, where f32 underflows) and the sum in eight running
/// partial sums, so both loops vectorize. The order is fixed, so the result does not
/// depend on the threads.
#[inline(always)]
fn softmax_f32(xs: &mut [f32]) {
    let m = lane_max(xs);
    xs.iter_mut().for_each(|v| *v = exp_below(*v, m));
    normalize(xs);
}

/// [`softmax_f32`] of `src` written to `dst` (the same bits), so a lane is read once
/// from the input instead of copied first.
#[inline(always)]
fn softmax_f32_into(src: &[f32], dst: &mut [f32]) {
    let m = lane_max(src);
    dst.iter_mut()
        .zip(src)
        .for_each(|(d, &v)| *d = exp_below(v, m));
    normalize(dst);
}

/// The lane's maximum, in sixteen running maxima (`f32::max` skips NaN whatever the
/// order, so it is the value a single running maximum finds).
#[inline(always)]
fn lane_max(xs: &[f32]) -> f32 {
    let mut top = [f32::NEG_INFINITY; 16];
    let mut chunks = xs.chunks_exact(16);
    for c in &mut chunks {
        for (t, &v) in top.iter_mut().zip(c) {
            *t = t.max(v);
        }
    }
    chunks
        .remainder()
        .iter()
        .chain(&top)
        .copied()
        .fold(f32::NEG_INFINITY, f32::max)
}

/// `e^(v − m)`, 0 below e^-87.
#[inline(always)]
fn exp_below(v: f32, m: f32) -> f32 {
    let d = v - m;
    if d < -87.0 {
        0.0
    } else {
        exp_f32(d)
    }
}

/// Divides the lane by its sum (eight running partial sums, then the remainder).
#[inline(always)]
fn normalize(xs: &mut [f32]) {
    let mut acc = [0f32; 8];
    let mut chunks = xs.chunks_exact(8);
    for c in &mut chunks {
        for (a, &v) in acc.iter_mut().zip(c) {
            *a += v;
        }
    }
    let mut s = acc.iter().sum::<f32>();
    for &v in chunks.remainder() {
        s += v;
    }
    for v in xs.iter_mut() {
        *v /= s;
    }
}

/// Softmax of f32 `x` over lanes of `n` contiguous values (its trailing dimensions),
/// read from the input and written to a fresh array in one pass per lane, with the
/// widest vectors the CPU has; lanes split over the rayon pool.
fn softmax_lanes_f32(x: &ndarray::ArrayViewD<'_, f32>, n: usize) -> Option<ArrayD<f32>> {
    use rayon::prelude::*;
    let src = x.as_slice()?;
    if n == 0 {
        return None;
    }
    let mut out = vec![0f32; src.len()];
    out.par_chunks_mut(n * super::common::LANE_ELEMS.div_ceil(n))
        .zip(src.par_chunks(n * super::common::LANE_ELEMS.div_ceil(n)))
        .for_each(|(d, s)| {
            on_widest(
                #[inline(always)]
                || {
                    for (d, s) in d.chunks_exact_mut(n).zip(s.chunks_exact(n)) {
                        softmax_f32_into(s, d);
                    }
                },
            )
        });
    ArrayD::from_shape_vec(x.raw_dim(), out).ok()
}

fn compute<T: Real>(
    x: ArrayViewD<'_, T>,
    axis: i64,
    coerce_2d: bool,
    kind: Kind,
    p: Prec,
) -> Result<ArrayD<T>, KernelError> {
    let shape = x.shape().to_vec();
    let rank = shape.len();
    if rank == 0 {
        let mut v = [x.iter().copied().next().unwrap_or_else(T::zero)];
        lane(kind, p, &mut v);
        return Ok(ArrayD::from_elem(IxDyn(&[]), v[0]));
    }
    if coerce_2d {
        // Opset < 13: axis may equal rank (then every element is its own row).
        let r = rank as i64;
        if axis < -r || axis > r {
            crate::bail!("axis {axis} is out of range for rank {rank}");
        }
        let a = if axis < 0 { axis + r } else { axis } as usize;
        let outer: usize = shape[..a].iter().product();
        let inner: usize = shape[a..].iter().product();
        let flat = x.as_standard_layout();
        let flat = flat.into_shape_with_order(IxDyn(&[outer, inner]))?;
        let out = map_lanes(flat.view(), 1, |l| lane(kind, p, l))?;
        Ok(out.into_shape_with_order(IxDyn(&shape))?)
    } else {
        let a = normalize_axis(axis, rank)?;
        map_lanes(x, a, |l| lane(kind, p, l))
    }
}

fn run<T: Real>(ctx: &OpCtx<'_>, kind: Kind) -> Result<Vec<Data>, KernelError> {
    let x = ctx.input(0)?;
    let coerce_2d = ctx.opset < 13;
    // The schema's default at the model's opset: 1 before opset 13, -1 from 13.
    let axis = ctx.int("axis")?;
    let xv = T::cow(x)?;
    let p = Prec::of(x.dtype());
    let out = compute::<T>(xv.view(), axis, coerce_2d, kind, p)?;
    one(T::wrap(out, x.dtype())?)
}

pub fn softmax(ctx: &OpCtx<'_>) -> Result<Vec<Data>, KernelError> {
    if let Array::F32(x) = ctx.input(0)? {
        // Lanes of contiguous values: the trailing dimensions from `axis` (before opset
        // 13), the last dimension (from 13, when `axis` names it).
        let rank = x.ndim() as i64;
        let axis = ctx.int("axis")?;
        let a = if axis < 0 { axis + rank } else { axis };
        let lane = match (ctx.opset < 13, rank) {
            (_, 0) => None,
            (true, _) if (0..rank).contains(&a) => Some(x.shape()[a as usize..].iter().product()),
            (false, _) if a == rank - 1 => x.shape().last().copied(),
            _ => None,
        };
        let view = x.view();
        if let Some(y) = lane.and_then(|n| softmax_lanes_f32(&view, n)) {
            return one(Array::F32(y));
        }
    }
    float_dispatch!(ctx.input(0)?.dtype(), run(ctx, Kind::Softmax))
}

pub fn log_softmax(ctx: &OpCtx<'_>) -> Result<Vec<Data>, KernelError> {
    float_dispatch!(ctx.input(0)?.dtype(), run(ctx, Kind::LogSoftmax))
}

pub fn hardmax(ctx: &OpCtx<'_>) -> Result<Vec<Data>, KernelError> {
    float_dispatch!(ctx.input(0)?.dtype(), run(ctx, Kind::Hardmax))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coerced_and_axis_semantics_differ() {
        let x = ArrayD::from_shape_vec(IxDyn(&[2, 2]), vec![0.0f64, 0.0, 0.0, 0.0]).unwrap();
        // Opset < 13, axis 0: the whole tensor is one row of 4.
        let a = compute(x.view(), 0, true, Kind::Softmax, Prec::Exact).unwrap();
        assert!(a.iter().all(|&v| (v - 0.25).abs() < 1e-12));
        // Opset 13, axis 0: columns of 2.
        let b = compute(x.view(), 0, false, Kind::Softmax, Prec::Exact).unwrap();
        assert!(b.iter().all(|&v| (v - 0.5).abs() < 1e-12));
        // Hardmax picks the first maximum only.
        let h = compute(x.view(), 1, false, Kind::Hardmax, Prec::Exact).unwrap();
        assert_eq!(
            h.iter().copied().collect::<Vec<_>>(),
            vec![1.0, 0.0, 1.0, 0.0]
        );
        assert!(compute(x.view(), 2, false, Kind::Softmax, Prec::Exact).is_err());
    }

    /// The one-pass f32 kernel gives the bits of the in-place lane kernel (after a copy),
    /// on lanes around the vector widths, with -inf, NaN and underflowing values.
    #[test]
    fn f32_lanes_read_in_place_match_the_copied_lanes() {
        for &n in &[1usize, 7, 16, 17, 128, 130] {
            let rows = 37;
            let mut v: Vec<f32> = (0..rows * n)
                .map(|i| ((i * 7919) % 1009) as f32 / 40.0 - 12.0)
                .collect();
            v[0] = f32::NEG_INFINITY;
            v[n * 3] = f32::NAN;
            v[(n * 5 + 1).min(rows * n - 1)] = -200.0;
            let x = ArrayD::from_shape_vec(IxDyn(&[rows, n]), v).unwrap();
            let fast = softmax_lanes_f32(&x.view(), n).unwrap();
            let lanes = compute(x.view(), -1, false, Kind::Softmax, Prec::Exact).unwrap();
            let bits = |a: &ArrayD<f32>| a.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&fast), bits(&lanes), "lanes of {n}");
        }
    }
}
