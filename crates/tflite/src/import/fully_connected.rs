//! FULLY_CONNECTED (FullyConnectedOptions: fused activation, keep_num_dims; weights
//! [O, I], optional bias [O]) → `Gemm` with `transB = 1` (inputs of rank > 2 are flattened
//! to [-1, I] first, as TFLite does, and reshaped back with keep_num_dims; with more than
//! one leading size unknown until run time, `MatMul` by the transposed weights instead), and
//! BATCH_MATMUL (BatchMatMulOptions: adj_x, adj_y) → `MatMul` with Transposes for adj.

use modelc_ir::{Attr, OnnxOp, ValueRef};

use super::{Ctx, OpIn};
use crate::fb::FullyConnectedOptionsWeightsFormat;
use crate::TfliteError;

pub(crate) fn fully_connected(cx: &mut Ctx, op: &OpIn) -> Result<bool, TfliteError> {
    let o = op.raw.builtin_options_as_fully_connected_options();
    if o.is_some_and(|o| o.weights_format() != FullyConnectedOptionsWeightsFormat::DEFAULT) {
        return Ok(false);
    }
    let (xt, wt, yt) = (
        cx.in_tensor(op, 0)?,
        cx.in_tensor(op, 1)?,
        cx.out_tensor(op, 0)?,
    );
    let w_shape = cx.info(wt).shape.clone();
    let [_, inner] = w_shape[..] else {
        return Err(TfliteError::invalid(op.label(), "weights must be 2-D"));
    };
    let x = cx.req(op, 0)?;
    let w = cx.req(op, 1)?;
    let b = cx.input(op, 2)?;
    let keep = o.is_some_and(|o| o.keep_num_dims());
    let unknown = cx.info(yt).shape.iter().filter(|&&d| d < 0).count();
    if keep && cx.rank(xt) != Some(2) && unknown > 1 {
        // Leading sizes known only at run time (a sequence model written with unknown batch
        // and length): `MatMul` by the transposed weights applies to the last axis whatever
        // the others are, where a flatten and reshape back would need them.
        let wt = cx.op(
            OnnxOp::Transpose,
            &[Some(w)],
            vec![("perm", Attr::Ints(vec![1, 0]))],
        );
        let mut y = cx.op(OnnxOp::MatMul, &[Some(x), Some(wt)], vec![]);
        if b.is_some() {
            y = cx.op(OnnxOp::Add, &[Some(y), b], vec![]);
        }
        let act = o.map(|o| o.fused_activation_function()).unwrap_or_default();
        let y = cx.activation(y, act, op)?;
        cx.define(yt, y)?;
        return Ok(true);
    }
    let x = if cx.rank(xt) == Some(2) {
        x
    } else {
        let shape = cx.const_1d(&[-1, inner]);
        cx.op(OnnxOp::Reshape, &[Some(x), Some(shape)], vec![])
    };
    let mut y = cx.op(
        OnnxOp::Gemm,
        &[Some(x), Some(w), b],
        vec![("transB", Attr::Int(1))],
    );
    if keep && cx.rank(xt) != Some(2) {
        let mut shape = cx.info(yt).shape.clone();
        if shape.iter().filter(|&&d| d < 0).count() > 1 || shape.is_empty() {
            return Err(TfliteError::invalid(
                op.label(),
                "keep_num_dims needs an output shape with at most one unknown dimension",
            ));
        }
        if let Some(d) = shape.iter_mut().find(|d| **d < 0) {
            *d = -1;
        }
        let s = cx.const_1d(&shape);
        y = cx.op(OnnxOp::Reshape, &[Some(y), Some(s)], vec![]);
    }
    let act = o.map(|o| o.fused_activation_function()).unwrap_or_default();
    let y = cx.activation(y, act, op)?;
    cx.define(yt, y)?;
    Ok(true)
}

fn swap_last_two(cx: &mut Ctx, v: ValueRef, rank: usize) -> ValueRef {
    let mut perm: Vec<i64> = (0..rank as i64).collect();
    perm.swap(rank - 1, rank - 2);
    cx.op(
        OnnxOp::Transpose,
        &[Some(v)],
        vec![("perm", Attr::Ints(perm))],
    )
}

pub(crate) fn batch_matmul(cx: &mut Ctx, op: &OpIn) -> Result<bool, TfliteError> {
    let (adj_x, adj_y) = op
        .raw
        .builtin_options_as_batch_mat_mul_options()
        .map_or((false, false), |o| (o.adj_x(), o.adj_y()));
    let (at, bt) = (cx.in_tensor(op, 0)?, cx.in_tensor(op, 1)?);
    let mut a = cx.req(op, 0)?;
    let mut b = cx.req(op, 1)?;
    for (adj, t, v) in [(adj_x, at, &mut a), (adj_y, bt, &mut b)] {
        if adj {
            match cx.rank(t) {
                Some(r) if r >= 2 => *v = swap_last_two(cx, *v, r),
                _ => return Ok(false),
            }
        }
    }
    let y = cx.op(OnnxOp::MatMul, &[Some(a), Some(b)], vec![]);
    cx.define(cx.out_tensor(op, 0)?, y)?;
    Ok(true)
}
