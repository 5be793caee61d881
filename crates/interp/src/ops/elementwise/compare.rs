//! Comparisons with multidirectional broadcasting, producing bool tensors: Equal (every
//! numeric type, bool, and strings from opset 19), Less, LessOrEqual, Greater,
//! GreaterOrEqual (numeric types; NaN compares false). And Where (opset 9+): `X` where
//! `condition` is true, else `Y`, all three broadcast; `X`/`Y` of any type.

use super::common::{legacy_rhs, pair_match, zip2, zip3};
use crate::ops::util::one;
use crate::{bail, Array, Data, KernelError, OpCtx};

pub fn equal(ctx: &OpCtx<'_>) -> Result<Vec<Data>, KernelError> {
    let a = ctx.input(0)?;
    let b = &*legacy_rhs(ctx, a, ctx.input(1)?)?;
    one(Array::Bool(pair_match!(
        plain [F32, F64, F16, BF16, I8, I16, I32, I64, U8, U16, U32, U64, Bool, Str]
        a, b, |p, q| zip2(p, q, |x, y| x == y)?
    )))
}

macro_rules! ordering {
    ($name:ident, $op:tt) => {
        pub fn $name(ctx: &OpCtx<'_>) -> Result<Vec<Data>, KernelError> {
            let a = ctx.input(0)?;
    let b = &*legacy_rhs(ctx, a, ctx.input(1)?)?;
            one(Array::Bool(pair_match!(
                plain [F32, F64, F16, BF16, I8, I16, I32, I64, U8, U16, U32, U64]
                a, b, |p, q| zip2(p, q, |x, y| x $op y)?
            )))
        }
    };
}

ordering!(less, <);
ordering!(less_or_equal, <=);
ordering!(greater, >);
ordering!(greater_or_equal, >=);

fn select<T: Clone>(
    c: &ndarray::ArrayD<bool>,
    x: &ndarray::ArrayD<T>,
    y: &ndarray::ArrayD<T>,
) -> Result<ndarray::ArrayD<T>, KernelError> {
    zip3(c, x, y, |&c, x, y| if c { x.clone() } else { y.clone() })
}

pub fn where_(ctx: &OpCtx<'_>) -> Result<Vec<Data>, KernelError> {
    let Array::Bool(c) = ctx.input(0)? else {
        bail!("condition must be bool, got {}", ctx.input(0)?.dtype());
    };
    let (x, y) = (ctx.input(1)?, ctx.input(2)?);
    one(pair_match!(
        same [F32, F64, F16, BF16, I8, I16, I32, I64, U8, U16, U32, U64, Bool, Str]
        x, y, |p, q| select(c, p, q)?
    ))
}
