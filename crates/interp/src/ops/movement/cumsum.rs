//! CumSum (11) and CumProd (26): running sums / products along an axis given as a scalar
//! input; attributes `exclusive` (start from 0 / 1 and leave the element out) and
//! `reverse`. Integers wrap on overflow; f16/bf16 round after each step like the reference.

use ndarray::{ArrayD, IxDyn};

use crate::ops::util::{normalize_axis, one};
use crate::{bail, Array, Data, KernelError, OpCtx};

use super::common::{flat, mv_dispatch_num, typed, Num};

fn cumulate_t<T: Num>(
    x: &Array,
    axis: usize,
    exclusive: bool,
    reverse: bool,
    prod: bool,
) -> Result<Array, KernelError> {
    let a = typed::<T>(x)?;
    let s = a.shape().to_vec();
    let data = flat(a);
    let d = s[axis];
    let outer: usize = s[..axis].iter().product();
    let inner: usize = s[axis + 1..].iter().product();
    let mut out = vec![T::zero(); data.len()];
    for o in 0..outer {
        for i in 0..inner {
            let mut acc = if prod { T::from_f64(1.0) } else { T::zero() };
            for step in 0..d {
                let j = if reverse { d - 1 - step } else { step };
                let p = o * d * inner + j * inner + i;
                if exclusive {
                    out[p] = acc;
                    acc = if prod {
                        acc.mul(data[p])
                    } else {
                        acc.add(data[p])
                    };
                } else {
                    acc = if prod {
                        acc.mul(data[p])
                    } else {
                        acc.add(data[p])
                    };
                    out[p] = acc;
                }
            }
        }
    }
    Ok(T::wrap(ArrayD::from_shape_vec(IxDyn(&s), out)?))
}

fn cumulate(ctx: &OpCtx<'_>, prod: bool) -> Result<Vec<Data>, KernelError> {
    let x = ctx.input(0)?;
    let axis = match ctx.input(1)?.to_i64_vec()?.as_slice() {
        [a] => *a,
        _ => bail!("axis must be a scalar"),
    };
    let axis = normalize_axis(axis, x.shape().len())?;
    let exclusive = ctx.attrs().int("exclusive", 0)? != 0;
    let reverse = ctx.attrs().int("reverse", 0)? != 0;
    one(mv_dispatch_num!(x, T => cumulate_t::<T>(x, axis, exclusive, reverse, prod)?))
}

pub fn cumsum(ctx: &OpCtx<'_>) -> Result<Vec<Data>, KernelError> {
    cumulate(ctx, false)
}

pub fn cumprod(ctx: &OpCtx<'_>) -> Result<Vec<Data>, KernelError> {
    cumulate(ctx, true)
}
