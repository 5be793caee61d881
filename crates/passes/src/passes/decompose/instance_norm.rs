//! `decompose-instance-norm`: float32 `InstanceNormalization` → mean and variance over the
//! spatial axes (as `decompose-layer-norm` computes them), then `Mul` by the scale and `Add`
//! of the bias, both as `[C, 1, …]` to broadcast along the channels (TensorFlow's converter
//! emits MEAN, SQUARED_DIFFERENCE, RSQRT, MUL, ADD for the same).

use modelc_ir::{Builder, DType, NodeId, OnnxOp, ValueRef};

use super::{base_name, normalize, Decompose};
use crate::pattern::{const_tensor, rank_of};

pub const PASS: Decompose = Decompose {
    name: "decompose-instance-norm",
    description: "float32 InstanceNormalization → ReduceMean, Sub, Mul, Add, Sqrt, Div",
    ops: &[OnnxOp::InstanceNormalization],
    opsets: 0..=i64::MAX,
    rewrite: |g, id, _, opset| instance_norm(g, id, opset),
};

fn instance_norm(g: &mut Builder<'_>, id: NodeId, opset: i64) -> bool {
    let Ok(eps) = g.node(id).attrs.float("epsilon", 1e-5) else {
        return false;
    };
    let (Some(x), Some(scale), Some(bias)) = (g.input(id, 0), g.input(id, 1), g.input(id, 2))
    else {
        return false;
    };
    let Some(rank) = rank_of(g, x).filter(|&r| r >= 3) else {
        return false;
    };
    if g.dtype_of(x) != Some(DType::F32) {
        return false;
    }
    // Constant scale and bias must be [C] (checked before anything is added).
    if [scale, bias]
        .iter()
        .any(|&v| const_tensor(g, v).is_some_and(|t| t.dims.len() != 1 || t.raw().is_none()))
    {
        return false;
    }
    let name = base_name(g, id);
    let (Some(s), Some(b)) = (
        per_channel(g, scale, rank, &format!("{name}_scale")),
        per_channel(g, bias, rank, &format!("{name}_bias")),
    ) else {
        return false;
    };
    let axes: Vec<i64> = (2..rank as i64).collect();
    let n = normalize(g, x, &axes, eps, opset, &name);
    let y = g
        .op(OnnxOp::Mul, &[n, s])
        .out(format!("{name}_scaled"))
        .value();
    let y = g.op(OnnxOp::Add, &[y, b]).out(name.as_str()).value();
    g.replace_node(id, y);
    true
}

/// A `[C]` value as `[C, 1, …]` (rank - 1 axes) so it broadcasts along the channels: a
/// reshaped constant, or a `Reshape`.
fn per_channel(g: &mut Builder<'_>, v: ValueRef, rank: usize, base: &str) -> Option<ValueRef> {
    let mut dims = vec![1u64; rank - 1];
    if let Some(t) = const_tensor(g, v) {
        let [c] = t.dims[..] else { return None };
        dims[0] = c;
        let t = modelc_ir::Tensor::from_raw(t.dtype, dims, t.raw()?.clone()).ok()?;
        return Some(g.constant(base, t));
    }
    let mut shape = vec![1i64; rank - 1];
    shape[0] = -1;
    let s = g.const_i64s(&format!("{base}_shape"), &shape);
    Some(g.op(OnnxOp::Reshape, &[v, s]).out(base).value())
}
