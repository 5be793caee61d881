//! ScatterElements (`axis`; `reduction` none/add/mul from opset 16, max/min from 18),
//! the deprecated Scatter (opsets 9–10, same as ScatterElements without reduction) and
//! ScatterND (`reduction` from 16/18). Copies of `data` with `updates` written (or
//! combined) at the addressed positions, in index order. Out-of-range indices are errors.
//! Also TensorScatter (24): writes `update` into a KV cache along `axis` (default -2) at
//! per-batch `write_indices` (default 0), `mode` linear or circular (wrapping).

use ndarray::{ArrayD, IxDyn};

use crate::ops::util::{normalize_axis, one};
use crate::{bail, Array, Data, KernelError, OpCtx};

use super::common::{flat, mv_dispatch, mv_dispatch_num, typed, Elem, Num};
use super::gather::{element_offsets, nd_offsets};

#[derive(Clone, Copy, PartialEq)]
enum Reduction {
    None,
    Add,
    Mul,
    Max,
    Min,
}

fn reduction(ctx: &OpCtx<'_>) -> Result<Reduction, KernelError> {
    Ok(match ctx.attrs().string("reduction", "none")?.as_str() {
        "none" => Reduction::None,
        "add" => Reduction::Add,
        "mul" => Reduction::Mul,
        "max" => Reduction::Max,
        "min" => Reduction::Min,
        r => bail!("unknown reduction {r:?}"),
    })
}

/// Writes `updates` chunk `i` (of `inner` elements) at data offset `offs[i]`.
fn scatter(
    data: &Array,
    updates: &Array,
    offs: &[usize],
    inner: usize,
    red: Reduction,
) -> Result<Array, KernelError> {
    if updates.dtype() != data.dtype() {
        bail!(
            "updates type {} differs from data type {}",
            updates.dtype(),
            data.dtype()
        );
    }
    if updates.len() != offs.len() * inner {
        bail!(
            "updates shape {:?} does not match the indices",
            updates.shape()
        );
    }
    if red == Reduction::None {
        mv_dispatch!(data, T => scatter_t::<T>(data, updates, offs, inner, replace::<T>))
    } else {
        mv_dispatch_num!(data, T => {
            let f = move |a: &T, b: &T| -> T {
                match red {
                    Reduction::Add => a.add(*b),
                    Reduction::Mul => a.mul(*b),
                    Reduction::Max => if b > a || b.is_nan() { *b } else { *a },
                    Reduction::Min => if b < a || b.is_nan() { *b } else { *a },
                    Reduction::None => *b,
                }
            };
            scatter_t::<T>(data, updates, offs, inner, f)
        })
    }
}

fn replace<T: Clone>(_: &T, u: &T) -> T {
    u.clone()
}

fn scatter_t<T: Elem>(
    data: &Array,
    updates: &Array,
    offs: &[usize],
    inner: usize,
    f: impl Fn(&T, &T) -> T,
) -> Result<Array, KernelError> {
    let d = typed::<T>(data)?;
    let mut out: Vec<T> = flat(d).into_owned();
    let u = flat(typed::<T>(updates)?);
    for (i, &o) in offs.iter().enumerate() {
        for j in 0..inner {
            let Some(slot) = out.get_mut(o + j) else {
                bail!("scatter offset out of range");
            };
            *slot = f(slot, &u[i * inner + j]);
        }
    }
    Ok(T::wrap(ArrayD::from_shape_vec(IxDyn(d.shape()), out)?))
}

pub fn scatter_elements(ctx: &OpCtx<'_>) -> Result<Vec<Data>, KernelError> {
    let data = ctx.input(0)?;
    let ind = ctx.input(1)?;
    let upd = ctx.input(2)?;
    if upd.shape() != ind.shape() {
        bail!(
            "updates shape {:?} differs from indices shape {:?}",
            upd.shape(),
            ind.shape()
        );
    }
    let axis = normalize_axis(ctx.attrs().int("axis", 0)?, data.shape().len())?;
    let offs = element_offsets(data.shape(), ind.shape(), &ind.to_i64_vec()?, axis)?;
    let red = if matches!(ctx.node.op, modelc_ir::Op::Onnx(modelc_ir::OnnxOp::Scatter)) {
        Reduction::None
    } else {
        reduction(ctx)?
    };
    one(scatter(data, upd, &offs, 1, red)?)
}

pub fn scatter_nd(ctx: &OpCtx<'_>) -> Result<Vec<Data>, KernelError> {
    let data = ctx.input(0)?;
    let ind = ctx.input(1)?;
    let upd = ctx.input(2)?;
    let (offs, inner, upd_shape) = nd_offsets(data.shape(), ind.shape(), &ind.to_i64_vec()?, 0)?;
    if upd.shape() != upd_shape.as_slice() {
        bail!("updates shape {:?} should be {upd_shape:?}", upd.shape());
    }
    one(scatter(data, upd, &offs, inner, reduction(ctx)?)?)
}

pub fn tensor_scatter(ctx: &OpCtx<'_>) -> Result<Vec<Data>, KernelError> {
    let cache = ctx.input(0)?;
    let upd = ctx.input(1)?;
    let cs = cache.shape();
    let us = upd.shape();
    let axis = normalize_axis(ctx.attrs().int("axis", -2)?, cs.len())?;
    if axis == 0 {
        bail!("TensorScatter axis cannot be the batch axis");
    }
    if us.len() != cs.len()
        || us
            .iter()
            .zip(cs)
            .enumerate()
            .any(|(i, (u, c))| if i == axis { u > c } else { u != c })
    {
        bail!("update shape {us:?} does not fit cache shape {cs:?}");
    }
    let circular = match ctx.attrs().string("mode", "linear")?.as_str() {
        "linear" => false,
        "circular" => true,
        m => bail!("unknown mode {m:?}"),
    };
    let batch = cs[0];
    let write = match ctx.opt_input(2)? {
        Some(w) => w.to_i64_vec()?,
        None => vec![0; batch],
    };
    if write.len() != batch {
        bail!(
            "write_indices has {} entries for a batch of {batch}",
            write.len()
        );
    }
    let max = cs[axis];
    let seq = us[axis];
    let inner: usize = cs[axis + 1..].iter().product();
    let prefix: usize = cs[..axis].iter().product();
    let per_batch = prefix / batch.max(1);
    let mut offs = Vec::with_capacity(prefix * seq);
    for p in 0..prefix {
        let b = p / per_batch.max(1);
        for s in 0..seq {
            let Some(i) = write[b].checked_add(s as i64) else {
                bail!("write index overflow");
            };
            let i = if circular {
                if max == 0 {
                    bail!("cannot write into an empty cache");
                }
                i.rem_euclid(max as i64)
            } else {
                i
            };
            if i < 0 || i as usize >= max {
                bail!("write index {i} is out of range for a cache of {max}");
            }
            offs.push((p * max + i as usize) * inner);
        }
    }
    one(scatter(cache, upd, &offs, inner, Reduction::None)?)
}
