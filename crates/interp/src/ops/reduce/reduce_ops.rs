//! ReduceSum, ReduceMean, ReduceMax, ReduceMin, ReduceProd, ReduceL1, ReduceL2,
//! ReduceLogSum, ReduceLogSumExp, ReduceSumSquare (all opsets).
//!
//! Attributes: `keepdims` (1), `axes` (an attribute before opset 13 for ReduceSum and
//! before opset 18 for the others; the optional second input from then on),
//! `noop_with_empty_axes` (0; with it, empty axes reduce over no axis, which — as in the
//! reference — still applies the per-element part of the op, e.g. squaring for
//! ReduceSumSquare). Without axes every axis is reduced. Reducing an empty set gives the
//! identity: 0 for sums, 1 for products, the lowest/highest value for Max/Min (−inf/+inf
//! for floats, false/true for bool), −inf for the logarithmic reductions.
//!
//! Types: every numeric type (integers use wrapping arithmetic, like numpy); bool for
//! ReduceMax/ReduceMin (opset 20). Floats accumulate in f64; f16/bf16 are rounded back.

use half::{bf16, f16};
use ndarray::ArrayD;

use super::common::{axes_mask, reduce_groups, reduced_shape};
use crate::ops::util::one;
use crate::{bail, Array, Data, KernelError, OpCtx};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Kind {
    Sum,
    Mean,
    Max,
    Min,
    Prod,
    L1,
    L2,
    LogSum,
    LogSumExp,
    SumSquare,
}

/// An element type the reductions work on.
trait RElem: Copy + 'static {
    fn sum(xs: &[Self]) -> Self;
    fn prod(xs: &[Self]) -> Self;
    fn sum_sq(xs: &[Self]) -> Self;
    fn l1(xs: &[Self]) -> Self;
    fn max(xs: &[Self]) -> Self;
    fn min(xs: &[Self]) -> Self;
    fn mean(xs: &[Self]) -> Self;
    fn f64_of(self) -> f64;
    fn of_f64(v: f64) -> Self;
    /// Whether the exact result of sums is computed in f64 (floats).
    const FLOAT: bool;
}

macro_rules! int_elem {
    ($($t:ty),*) => {$(
        impl RElem for $t {
            fn sum(xs: &[Self]) -> Self {
                xs.iter().fold(0, |a: $t, &b| a.wrapping_add(b))
            }
            fn prod(xs: &[Self]) -> Self {
                xs.iter().fold(1, |a: $t, &b| a.wrapping_mul(b))
            }
            fn sum_sq(xs: &[Self]) -> Self {
                xs.iter().fold(0, |a: $t, &b| a.wrapping_add(b.wrapping_mul(b)))
            }
            fn l1(xs: &[Self]) -> Self {
                #[allow(unused_comparisons)]
                xs.iter().fold(0, |a: $t, &b| {
                    a.wrapping_add(if b < 0 { (0 as $t).wrapping_sub(b) } else { b })
                })
            }
            fn max(xs: &[Self]) -> Self {
                xs.iter().copied().max().unwrap_or(<$t>::MIN)
            }
            fn min(xs: &[Self]) -> Self {
                xs.iter().copied().min().unwrap_or(<$t>::MAX)
            }
            fn mean(xs: &[Self]) -> Self {
                if xs.is_empty() {
                    return 0;
                }
                let s: i128 = xs.iter().map(|&v| v as i128).sum();
                (s / xs.len() as i128) as $t
            }
            fn f64_of(self) -> f64 {
                self as f64
            }
            fn of_f64(v: f64) -> Self {
                v as $t
            }
            const FLOAT: bool = false;
        }
    )*};
}
int_elem!(i8, i16, i32, i64, u8, u16, u32, u64);

macro_rules! float_elem {
    ($t:ty, $to:expr, $from:expr) => {
        impl RElem for $t {
            fn sum(xs: &[Self]) -> Self {
                $from(xs.iter().map(|&v| $to(v)).sum::<f64>())
            }
            fn prod(xs: &[Self]) -> Self {
                $from(xs.iter().map(|&v| $to(v)).product::<f64>())
            }
            fn sum_sq(xs: &[Self]) -> Self {
                $from(xs.iter().map(|&v| $to(v) * $to(v)).sum::<f64>())
            }
            fn l1(xs: &[Self]) -> Self {
                $from(xs.iter().map(|&v| $to(v).abs()).sum::<f64>())
            }
            fn max(xs: &[Self]) -> Self {
                let mut m = f64::NEG_INFINITY;
                for &v in xs {
                    let v = $to(v);
                    if v.is_nan() {
                        return $from(f64::NAN);
                    }
                    if v > m {
                        m = v;
                    }
                }
                $from(m)
            }
            fn min(xs: &[Self]) -> Self {
                let mut m = f64::INFINITY;
                for &v in xs {
                    let v = $to(v);
                    if v.is_nan() {
                        return $from(f64::NAN);
                    }
                    if v < m {
                        m = v;
                    }
                }
                $from(m)
            }
            fn mean(xs: &[Self]) -> Self {
                $from(xs.iter().map(|&v| $to(v)).sum::<f64>() / xs.len() as f64)
            }
            fn f64_of(self) -> f64 {
                $to(self)
            }
            fn of_f64(v: f64) -> Self {
                $from(v)
            }
            const FLOAT: bool = true;
        }
    };
}
float_elem!(f32, |v: f32| v as f64, |v: f64| v as f32);
float_elem!(f64, |v: f64| v, |v: f64| v);
float_elem!(f16, |v: f16| v.to_f64(), f16::from_f64);
float_elem!(bf16, |v: bf16| v.to_f64(), bf16::from_f64);

fn reduce_one<T: RElem>(kind: Kind, xs: &[T]) -> T {
    match kind {
        Kind::Sum => T::sum(xs),
        Kind::Mean => T::mean(xs),
        Kind::Max => T::max(xs),
        Kind::Min => T::min(xs),
        Kind::Prod => T::prod(xs),
        Kind::L1 => T::l1(xs),
        Kind::SumSquare => T::sum_sq(xs),
        Kind::L2 => {
            if T::FLOAT {
                T::of_f64(
                    xs.iter()
                        .map(|v| v.f64_of() * v.f64_of())
                        .sum::<f64>()
                        .sqrt(),
                )
            } else {
                T::of_f64(T::sum_sq(xs).f64_of().sqrt())
            }
        }
        Kind::LogSum => {
            if T::FLOAT {
                T::of_f64(xs.iter().map(|v| v.f64_of()).sum::<f64>().ln())
            } else {
                T::of_f64(T::sum(xs).f64_of().ln())
            }
        }
        Kind::LogSumExp => {
            let m = xs
                .iter()
                .map(|v| v.f64_of())
                .fold(f64::NEG_INFINITY, f64::max);
            if !m.is_finite() {
                // Empty (−inf), all −inf (−inf), or an infinite maximum (+inf).
                let s: f64 = xs.iter().map(|v| v.f64_of().exp()).sum();
                return T::of_f64(s.ln());
            }
            let s: f64 = xs.iter().map(|v| (v.f64_of() - m).exp()).sum();
            T::of_f64(m + s.ln())
        }
    }
}

fn run<T: RElem>(
    a: &ArrayD<T>,
    kind: Kind,
    mask: &[bool],
    keepdims: bool,
) -> Result<ArrayD<T>, KernelError> {
    let out = reduce_groups(a.view(), mask, |xs| reduce_one(kind, xs))?;
    let shape = reduced_shape(a.shape(), mask, keepdims);
    Ok(out.into_shape_with_order(shape)?)
}

fn run_bool(
    a: &ArrayD<bool>,
    kind: Kind,
    mask: &[bool],
    keepdims: bool,
) -> Result<ArrayD<bool>, KernelError> {
    let out = match kind {
        Kind::Max => reduce_groups(a.view(), mask, |xs| xs.iter().any(|&b| b))?,
        Kind::Min => reduce_groups(a.view(), mask, |xs| xs.iter().all(|&b| b))?,
        _ => bail!("{kind:?} does not accept bool tensors"),
    };
    let shape = reduced_shape(a.shape(), mask, keepdims);
    Ok(out.into_shape_with_order(shape)?)
}

/// The reduction kernel for `kind`.
pub fn reduce(ctx: &OpCtx<'_>, kind: Kind) -> Result<Vec<Data>, KernelError> {
    let x = ctx.input(0)?;
    let attrs = ctx.attrs();
    let keepdims = attrs.int("keepdims", 1)? != 0;
    let noop = attrs.int("noop_with_empty_axes", 0)? != 0;
    let axes_as_input = match kind {
        Kind::Sum => ctx.opset >= 13,
        _ => ctx.opset >= 18,
    };
    let axes: Vec<i64> = if axes_as_input {
        match ctx.opt_input(1)? {
            Some(a) => a.to_i64_vec()?,
            None => Vec::new(),
        }
    } else {
        attrs.ints("axes", Vec::new())?
    };
    let rank = x.shape().len();
    let mask = if axes.is_empty() {
        vec![!noop; rank]
    } else {
        axes_mask(&axes, rank)?
    };
    let out = match x {
        Array::I8(a) => Array::I8(run(a, kind, &mask, keepdims)?),
        Array::I16(a) => Array::I16(run(a, kind, &mask, keepdims)?),
        Array::I32(a) => Array::I32(run(a, kind, &mask, keepdims)?),
        Array::I64(a) => Array::I64(run(a, kind, &mask, keepdims)?),
        Array::U8(a) => Array::U8(run(a, kind, &mask, keepdims)?),
        Array::U16(a) => Array::U16(run(a, kind, &mask, keepdims)?),
        Array::U32(a) => Array::U32(run(a, kind, &mask, keepdims)?),
        Array::U64(a) => Array::U64(run(a, kind, &mask, keepdims)?),
        Array::F32(a) => Array::F32(run(a, kind, &mask, keepdims)?),
        Array::F64(a) => Array::F64(run(a, kind, &mask, keepdims)?),
        Array::F16(a) => Array::F16(run(a, kind, &mask, keepdims)?),
        Array::BF16(a) => Array::BF16(run(a, kind, &mask, keepdims)?),
        Array::Bool(a) => Array::Bool(run_bool(a, kind, &mask, keepdims)?),
        other => bail!("{kind:?} does not accept {} tensors", other.dtype()),
    };
    one(out)
}

pub fn reduce_sum(ctx: &OpCtx<'_>) -> Result<Vec<Data>, KernelError> {
    reduce(ctx, Kind::Sum)
}
pub fn reduce_mean(ctx: &OpCtx<'_>) -> Result<Vec<Data>, KernelError> {
    reduce(ctx, Kind::Mean)
}
pub fn reduce_max(ctx: &OpCtx<'_>) -> Result<Vec<Data>, KernelError> {
    reduce(ctx, Kind::Max)
}
pub fn reduce_min(ctx: &OpCtx<'_>) -> Result<Vec<Data>, KernelError> {
    reduce(ctx, Kind::Min)
}
pub fn reduce_prod(ctx: &OpCtx<'_>) -> Result<Vec<Data>, KernelError> {
    reduce(ctx, Kind::Prod)
}
pub fn reduce_l1(ctx: &OpCtx<'_>) -> Result<Vec<Data>, KernelError> {
    reduce(ctx, Kind::L1)
}
pub fn reduce_l2(ctx: &OpCtx<'_>) -> Result<Vec<Data>, KernelError> {
    reduce(ctx, Kind::L2)
}
pub fn reduce_log_sum(ctx: &OpCtx<'_>) -> Result<Vec<Data>, KernelError> {
    reduce(ctx, Kind::LogSum)
}
pub fn reduce_log_sum_exp(ctx: &OpCtx<'_>) -> Result<Vec<Data>, KernelError> {
    reduce(ctx, Kind::LogSumExp)
}
pub fn reduce_sum_square(ctx: &OpCtx<'_>) -> Result<Vec<Data>, KernelError> {
    reduce(ctx, Kind::SumSquare)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::IxDyn;

    #[test]
    fn identities_and_wrapping() {
        let e: &[i32] = &[];
        assert_eq!(reduce_one(Kind::Max, e), i32::MIN);
        assert_eq!(reduce_one(Kind::Prod, e), 1);
        assert_eq!(reduce_one(Kind::Sum, &[i8::MAX, 1]), i8::MIN);
        assert_eq!(reduce_one(Kind::L1, &[i8::MIN]), i8::MIN);
        assert_eq!(reduce_one(Kind::Mean, &[-3i32, 0]), -1);
        let ef: &[f32] = &[];
        assert_eq!(reduce_one(Kind::LogSumExp, ef), f32::NEG_INFINITY);
        assert_eq!(
            reduce_one(Kind::LogSumExp, &[1000.0f32, 1000.0]),
            1000.0 + 2f32.ln()
        );
        assert!(reduce_one(Kind::Max, &[1.0f32, f32::NAN]).is_nan());
        let a = ArrayD::from_shape_vec(IxDyn(&[2, 0]), Vec::<f32>::new()).unwrap();
        let r = run(&a, Kind::Sum, &[false, true], true).unwrap();
        assert_eq!(r.shape(), &[2, 1]);
        assert_eq!(r.iter().copied().collect::<Vec<_>>(), vec![0.0, 0.0]);
    }
}
