//! `decompose-legacy-softmax`: `Softmax` / `LogSoftmax` before opset 13, which normalize over
//! every axis from `axis` (default 1) on: the axis made explicit, and when it is not the
//! last, the input flattened there (`Reshape`, softmax over the last axis, `Reshape` back).

use modelc_ir::{Attr, Builder, NodeId, OnnxOp};

use super::{base_name, Decompose};
use crate::pattern::{extra_outputs_unused, rank_of};

pub const PASS: Decompose = Decompose {
    name: "decompose-legacy-softmax",
    description:
        "Softmax / LogSoftmax before opset 13 → explicit axis; 2-D softmax between Reshapes",
    ops: &[OnnxOp::Softmax, OnnxOp::LogSoftmax],
    opsets: 0..=12,
    rewrite: |g, id, op, _| legacy_softmax(g, id, op),
};

fn legacy_softmax(g: &mut Builder<'_>, id: NodeId, op: OnnxOp) -> bool {
    let Some(x) = g.input(id, 0) else {
        return false;
    };
    let dims: Option<Vec<u64>> = g
        .value(x)
        .and_then(|v| v.ty.as_ref())
        .and_then(|t| t.ty.as_tensor())
        .and_then(|t| t.shape.as_ref())
        .and_then(|s| s.0.iter().map(|d| d.known()).collect());
    let rank = dims.as_ref().map(|d| d.len()).or_else(|| rank_of(g, x));
    let Some(rank) = rank.map(|r| r as i64) else {
        return false;
    };
    let Ok(axis) = g.node(id).attrs.int("axis", 1) else {
        return false;
    };
    let axis = if axis < 0 { axis + rank } else { axis };
    if !(0..rank).contains(&axis) {
        return false;
    }
    // Explicit from here on: the lowering's default is opset 13's (the last axis).
    let explicit = g.node(id).attrs.get("axis") == Some(&Attr::Int(axis));
    g.node_mut(id).attrs.set("axis", Attr::Int(axis));
    let Some(dims) = dims else { return !explicit };
    if axis == rank - 1 || !extra_outputs_unused(g, id) {
        return !explicit;
    }
    let name = base_name(g, id);
    let outer: u64 = dims[..axis as usize].iter().product();
    let inner: u64 = dims[axis as usize..].iter().product();
    let flat_shape = g.const_i64s(&format!("{name}_2d"), &[outer as i64, inner as i64]);
    let back_shape = g.const_i64s(
        &format!("{name}_shape"),
        &dims.iter().map(|&d| d as i64).collect::<Vec<_>>(),
    );
    let flat = g
        .op(OnnxOp::Reshape, &[x, flat_shape])
        .out(format!("{name}_flat"))
        .value();
    let soft = g
        .op(op, &[flat])
        .out(format!("{name}_2d"))
        .int("axis", 1)
        .value();
    let out = g
        .op(OnnxOp::Reshape, &[soft, back_shape])
        .out(format!("{name}_nd"))
        .value();
    g.replace_node(id, out);
    true
}
