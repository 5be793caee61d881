//! Variadic elementwise ops over 1..N inputs with multidirectional broadcasting:
//! Max, Min (every numeric type from opset 12, NaN propagates), Sum (numeric types) and
//! Mean (float types).

use super::common::{float_map, num_same, zip2, Num};
use crate::ops::util::one;
use crate::{bail, Array, Data, KernelError, OpCtx};

fn fold(
    ctx: &OpCtx<'_>,
    f: impl Fn(&Array, &Array) -> Result<Array, KernelError>,
) -> Result<Array, KernelError> {
    if ctx.num_inputs() == 0 {
        bail!("at least one input is required");
    }
    let mut acc = ctx.input(0)?.clone();
    for i in 1..ctx.num_inputs() {
        acc = f(&acc, ctx.input(i)?)?;
    }
    Ok(acc)
}

fn check_numeric(a: &Array) -> Result<(), KernelError> {
    match a {
        Array::Bool(_) | Array::Str(_) | Array::Packed { .. } => {
            bail!("unsupported input type {}", a.dtype())
        }
        _ => Ok(()),
    }
}

pub fn max(ctx: &OpCtx<'_>) -> Result<Vec<Data>, KernelError> {
    check_numeric(ctx.input(0)?)?;
    one(fold(ctx, |a, b| {
        Ok(num_same!(a, b, |p, q| zip2(p, q, |x, y| x.max_(*y))?))
    })?)
}

pub fn min(ctx: &OpCtx<'_>) -> Result<Vec<Data>, KernelError> {
    check_numeric(ctx.input(0)?)?;
    one(fold(ctx, |a, b| {
        Ok(num_same!(a, b, |p, q| zip2(p, q, |x, y| x.min_(*y))?))
    })?)
}

pub fn sum(ctx: &OpCtx<'_>) -> Result<Vec<Data>, KernelError> {
    check_numeric(ctx.input(0)?)?;
    one(fold(ctx, |a, b| {
        Ok(num_same!(a, b, |p, q| zip2(p, q, |x, y| x.add_(*y))?))
    })?)
}

pub fn mean(ctx: &OpCtx<'_>) -> Result<Vec<Data>, KernelError> {
    let n = ctx.num_inputs();
    let s = fold(ctx, |a, b| {
        Ok(num_same!(a, b, |p, q| zip2(p, q, |x, y| x.add_(*y))?))
    })?;
    one(float_map!(&s, F, |x| x / n as F))
}
