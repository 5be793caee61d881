//! `decompose-vector-matmul`: `MatMul` with a 1-D operand (numpy's vector rule) → the vector
//! made a 1-row / 1-column matrix (`Unsqueeze`, or a reshaped constant), `MatMul`, `Squeeze`.

use modelc_ir::{Builder, NodeId, OnnxOp, ValueRef};

use super::{base_name, Decompose};
use crate::pattern::{const_tensor, rank_of};

pub const PASS: Decompose = Decompose {
    name: "decompose-vector-matmul",
    description: "MatMul with a 1-D operand → Unsqueeze, 2-D MatMul, Squeeze",
    ops: &[OnnxOp::MatMul],
    opsets: 0..=i64::MAX,
    rewrite: |g, id, _, opset| vector_matmul(g, id, opset),
};

/// `MatMul` with a 1-D operand (see the module docs).
fn vector_matmul(g: &mut Builder<'_>, id: NodeId, opset: i64) -> bool {
    let (Some(a), Some(b)) = (g.input(id, 0), g.input(id, 1)) else {
        return false;
    };
    let (ra, rb) = (rank_of(g, a), rank_of(g, b));
    if ra != Some(1) && rb != Some(1) || ra.is_none() || rb.is_none() {
        return false;
    }
    let name = base_name(g, id);
    let axes_of = |g: &mut Builder<'_>, op: OnnxOp, v: ValueRef, axis: i64, what: &str| {
        g.op(op, &[v])
            .out(format!("{name}_{what}"))
            .axes(&[axis], opset >= 13)
            .value()
    };
    // [K] · [.., K, N]: a row [1, K]; [.., M, K] · [K]: a column [K, 1]. A constant vector
    // becomes a constant matrix (same bytes), so a FULLY_CONNECTED can take it as weights.
    let matrix = |g: &mut Builder<'_>, v: ValueRef, axis: i64, what: &str| match const_tensor(g, v)
    {
        Some(t) if t.dims.len() == 1 => {
            let mut m = t.clone();
            m.dims = if axis == 0 {
                vec![1, t.dims[0]]
            } else {
                vec![t.dims[0], 1]
            };
            g.constant(&format!("{name}_{what}"), m)
        }
        _ => axes_of(g, OnnxOp::Unsqueeze, v, axis, what),
    };
    let a2 = if ra == Some(1) {
        matrix(g, a, 0, "row")
    } else {
        a
    };
    let b2 = if rb == Some(1) {
        matrix(g, b, 1, "column")
    } else {
        b
    };
    let mut y = g
        .op(OnnxOp::MatMul, &[a2, b2])
        .out(format!("{name}_matrix"))
        .value();
    if rb == Some(1) {
        y = axes_of(g, OnnxOp::Squeeze, y, -1, "squeeze_column");
    }
    if ra == Some(1) {
        // The row's axis is second to last now, or last when B was a column too.
        let axis = if rb == Some(1) { -1 } else { -2 };
        y = axes_of(g, OnnxOp::Squeeze, y, axis, "squeeze_row");
    }
    g.replace_node(id, y);
    true
}
