//! Clip: `min(max(x, min), max)` elementwise, so `min > max` gives `max`; NaN stays NaN.
//! Before opset 11 the bounds are float attributes `min`/`max` (defaults: unbounded);
//! from opset 11 they are optional scalar inputs 1 and 2 of X's type (integers from
//! opset 12).

use ndarray::ArrayD;

use super::common::{one_match, Num};
use crate::ops::util::one;
use crate::{bail, Array, Data, KernelError, OpCtx};

/// Typed access to the array inside an [`Array`].
trait Typed: Num {
    fn typed(a: &Array) -> Option<&ArrayD<Self>>;
}

macro_rules! typed {
    ($($t:ty => $V:ident),*) => {$(
        impl Typed for $t {
            fn typed(a: &Array) -> Option<&ArrayD<Self>> {
                match a {
                    Array::$V(v) => Some(v),
                    _ => None,
                }
            }
        }
    )*};
}

typed!(f32 => F32, f64 => F64, half::f16 => F16, half::bf16 => BF16, i8 => I8, i16 => I16,
    i32 => I32, i64 => I64, u8 => U8, u16 => U16, u32 => U32, u64 => U64);

fn bound<T: Typed>(b: Option<&Array>, which: &str) -> Result<Option<T>, KernelError> {
    let Some(b) = b else { return Ok(None) };
    let Some(t) = T::typed(b) else {
        bail!("`{which}` has type {}, unlike the input", b.dtype());
    };
    if t.len() != 1 {
        bail!("`{which}` must be a scalar, got shape {:?}", t.shape());
    }
    Ok(t.iter().next().copied())
}

fn clip_arr<T: Typed>(
    x: &ArrayD<T>,
    opset: i64,
    ctx: &OpCtx<'_>,
) -> Result<ArrayD<T>, KernelError> {
    let (lo, hi) = if opset < 11 {
        // Not the schema default (f32::MIN/MAX, from opset 6): Clip-1 has none, and an
        // absent bound means none; the two differ only on infinite inputs.
        let lo = ctx.attrs().float("min", f32::NEG_INFINITY)?;
        let hi = ctx.attrs().float("max", f32::INFINITY)?;
        (
            Some(T::from_f64_(f64::from(lo))),
            Some(T::from_f64_(f64::from(hi))),
        )
    } else {
        (
            bound::<T>(ctx.opt_input(1)?, "min")?,
            bound::<T>(ctx.opt_input(2)?, "max")?,
        )
    };
    Ok(x.mapv(|v| {
        let v = match lo {
            Some(l) if v < l => l,
            _ => v,
        };
        match hi {
            Some(h) if v > h => h,
            _ => v,
        }
    }))
}

pub fn clip(ctx: &OpCtx<'_>) -> Result<Vec<Data>, KernelError> {
    one(one_match!(
        same [F32, F64, F16, BF16, I8, I16, I32, I64, U8, U16, U32, U64]
        ctx.input(0)?, |p| clip_arr(p, ctx.opset, ctx)?
    ))
}
