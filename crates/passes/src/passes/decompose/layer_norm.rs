//! `decompose-layer-norm`: float32 `LayerNormalization` → mean and variance over the
//! normalized axes with `ReduceMean` (axes an input from opset 18), then `Sub`, `Div` by
//! `Sqrt(var + epsilon)`, `Mul` by the scale and `Add` of the bias.

use modelc_ir::{Builder, DType, NodeId, OnnxOp, ValueRef};

use super::{base_name, Decompose};
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
    let axes_const = (opset >= 18).then(|| g.const_i64s(&format!("{name}_axes"), &axes));
    let mean_of = |g: &mut Builder<'_>, v: ValueRef, suffix: &str| {
        let mean = g
            .op(OnnxOp::ReduceMean, &[v])
            .out(format!("{name}_{suffix}"))
            .int("keepdims", 1);
        match axes_const {
            Some(a) => mean.input(a),
            None => mean.ints("axes", axes.clone()),
        }
        .value()
    };
    let mean = mean_of(g, x, "mean");
    let d = g
        .op(OnnxOp::Sub, &[x, mean])
        .out(format!("{name}_centered"))
        .value();
    let sq = g
        .op(OnnxOp::Mul, &[d, d])
        .out(format!("{name}_square"))
        .value();
    let var = mean_of(g, sq, "variance");
    let e = g.const_f32(&format!("{name}_epsilon"), eps);
    let ve = g
        .op(OnnxOp::Add, &[var, e])
        .out(format!("{name}_add_epsilon"))
        .value();
    let sd = g.op(OnnxOp::Sqrt, &[ve]).out(format!("{name}_std")).value();
    let n = g
        .op(OnnxOp::Div, &[d, sd])
        .out(format!("{name}_normalized"))
        .value();
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
