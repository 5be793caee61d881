//! `decompose-layer-norm`: float32 `LayerNormalization` → mean and variance over the
//! normalized axes with `ReduceMean` (axes an input from opset 18), then `Sub`, `Div` by
//! `Sqrt(var + epsilon)`, `Mul` by the scale and `Add` of the bias.

use modelc_ir::{Builder, DType, NodeId, OnnxOp};

use super::{base_name, normalize, Decompose};
use crate::pattern::{extra_outputs_unused, rank_of};

pub const PASS: Decompose = Decompose {
    name: "decompose-layer-norm",
    description: "float32 LayerNormalization → ReduceMean, Sub, Mul, Add, Sqrt, Div",
    ops: &[OnnxOp::LayerNormalization],
    opsets: 0..=i64::MAX,
    rewrite: |g, id, _, opset| layer_norm(g, id, opset),
};

fn layer_norm(g: &mut Builder<'_>, id: NodeId, opset: i64) -> bool {
    let node = g.node(id);
    let (Ok(axis), Ok(eps)) = (
        node.attrs.int("axis", -1),
        node.attrs.float("epsilon", 1e-5),
    ) else {
        return false;
    };
    if !extra_outputs_unused(g, id) {
        return false;
    }
    let (Some(x), Some(scale)) = (g.input(id, 0), g.input(id, 1)) else {
        return false;
    };
    let bias = g.input(id, 2);
    let Some(rank) = rank_of(g, x) else {
        return false;
    };
    if g.dtype_of(x) != Some(DType::F32) {
        return false;
    }
    let first = if axis < 0 { axis + rank as i64 } else { axis };
    if first < 0 || first >= rank as i64 {
        return false;
    }
    let axes: Vec<i64> = (first..rank as i64).collect();
    let name = base_name(g, id);
    let n = normalize(g, x, &axes, eps, opset, &name);
    let mut y = g
        .op(OnnxOp::Mul, &[n, scale])
        .out(format!("{name}_scaled"))
        .value();
    if let Some(b) = bias {
        y = g.op(OnnxOp::Add, &[y, b]).out(name.as_str()).value();
    }
    g.replace_node(id, y);
    true
}
