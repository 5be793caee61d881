//! Concat (`axis`, required; every type) and Split (`axis`; `split` attribute before opset
//! 13, input from 13; `num_outputs` from 18, where the last part may be smaller).

use ndarray::{ArrayD, IxDyn};

use crate::ops::util::{normalize_axis, one};
use crate::{bail, Array, Data, KernelError, OpCtx};

use super::common::{flat, gather_tables, mv_dispatch, typed, Elem};
use crate::ops::elem::{checked_count, strides_of};

pub fn concat(ctx: &OpCtx<'_>) -> Result<Vec<Data>, KernelError> {
    let inputs: Vec<&Array> = (0..ctx.num_inputs())
        .map(|i| ctx.input(i))
        .collect::<Result<_, _>>()?;
    let Some(first) = inputs.first() else {
        bail!("Concat needs at least one input");
    };
    let axis = ctx.attrs().int("axis", i64::MIN)?;
    if axis == i64::MIN {
        bail!("Concat needs an `axis` attribute");
    }
    one(concat_arrays(&inputs, axis, first)?)
}

/// Concatenates `inputs` (same type and rank) along `axis` (may be negative).
pub fn concat_arrays(inputs: &[&Array], axis: i64, first: &Array) -> Result<Array, KernelError> {
    let rank = first.shape().len();
    let axis = normalize_axis(axis, rank)?;
    let mut out_shape = first.shape().to_vec();
    out_shape[axis] = 0;
    for a in inputs {
        let s = a.shape();
        if a.dtype() != first.dtype() {
            bail!(
                "Concat inputs have different types {} and {}",
                first.dtype(),
                a.dtype()
            );
        }
        if s.len() != rank
            || s.iter()
                .zip(first.shape())
                .enumerate()
                .any(|(i, (x, y))| i != axis && x != y)
        {
            bail!(
                "Concat inputs have incompatible shapes {:?} and {s:?}",
                first.shape()
            );
        }
        out_shape[axis] += s[axis];
    }
    checked_count(&out_shape)?;
    mv_dispatch!(first, T => concat_t::<T>(inputs, axis, &out_shape))
}

fn concat_t<T: Elem>(
    inputs: &[&Array],
    axis: usize,
    out_shape: &[usize],
) -> Result<Array, KernelError> {
    let outer: usize = out_shape[..axis].iter().product();
    let inner: usize = out_shape[axis + 1..].iter().product();
    let srcs: Vec<_> = inputs
        .iter()
        .map(|a| Ok((flat(typed::<T>(a)?), a.shape()[axis] * inner)))
        .collect::<Result<_, KernelError>>()?;
    let mut out = Vec::with_capacity(out_shape.iter().product());
    for o in 0..outer {
        for (s, chunk) in &srcs {
            out.extend_from_slice(&s[o * chunk..(o + 1) * chunk]);
        }
    }
    Ok(T::wrap(ArrayD::from_shape_vec(IxDyn(out_shape), out)?))
}

/// Slices `x` along `axis` into consecutive parts of the given lengths.
pub fn split_parts(x: &Array, axis: usize, parts: &[usize]) -> Result<Vec<Array>, KernelError> {
    let s = x.shape();
    let st = strides_of(s);
    let mut start = 0;
    let mut outs = Vec::with_capacity(parts.len());
    for &len in parts {
        let tables: Vec<Vec<usize>> = (0..s.len())
            .map(|k| {
                if k == axis {
                    (start..start + len).map(|i| i * st[k]).collect()
                } else {
                    (0..s[k]).map(|i| i * st[k]).collect()
                }
            })
            .collect();
        outs.push(gather_tables(x, &tables, None)?);
        start += len;
    }
    Ok(outs)
}

pub fn split(ctx: &OpCtx<'_>) -> Result<Vec<Data>, KernelError> {
    let x = ctx.input(0)?;
    let axis = normalize_axis(ctx.attrs().int("axis", 0)?, x.shape().len())?;
    let dim = x.shape()[axis];
    let split = if ctx.opset < 13 {
        ctx.attrs()
            .get("split")
            .map(|_| ctx.attrs().ints("split", vec![]))
            .transpose()?
    } else {
        ctx.opt_input(1)?.map(|a| a.to_i64_vec()).transpose()?
    };
    let parts: Vec<usize> = match split {
        Some(s) => {
            let p = super::common::dims_usize(&s)?;
            if p.iter().try_fold(0usize, |a, &b| a.checked_add(b)) != Some(dim) {
                bail!("split {s:?} does not sum to the axis size {dim}");
            }
            p
        }
        None => {
            let n = if ctx.opset >= 18 && ctx.attrs().contains("num_outputs") {
                ctx.attrs().int("num_outputs", 0)?
            } else {
                ctx.node.outputs.len() as i64
            };
            if n <= 0 || n as usize != ctx.node.outputs.len() {
                bail!(
                    "Split into {n} parts does not match its {} outputs",
                    ctx.node.outputs.len()
                );
            }
            let n = n as usize;
            if ctx.opset >= 18 && ctx.attrs().contains("num_outputs") {
                let chunk = dim.div_ceil(n);
                (0..n)
                    .map(|i| chunk.min(dim.saturating_sub(i * chunk)))
                    .collect()
            } else {
                if !dim.is_multiple_of(n) {
                    bail!("axis size {dim} does not split into {n} equal parts");
                }
                vec![dim / n; n]
            }
        }
    };
    Ok(split_parts(x, axis, &parts)?
        .into_iter()
        .map(Data::Tensor)
        .collect())
}
