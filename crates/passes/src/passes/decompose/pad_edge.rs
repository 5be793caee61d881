//! `decompose-pad-edge`: `Pad` in edge mode (torch's replicate) of known shape → per padded
//! axis the first / last slice `Expand`ed to the pad's width and `Concat`ed around the
//! input. From opset 11 (pads an input).

use modelc_ir::{Builder, NodeId, OnnxOp};

use super::{base_name, pad_operands, Decompose, PadOperands};

pub const PASS: Decompose = Decompose {
    name: "decompose-pad-edge",
    description: "edge-mode Pad → Slice, Expand and Concat per padded axis (opset 11+)",
    ops: &[OnnxOp::Pad],
    opsets: 11..=i64::MAX,
    rewrite: |g, id, _, _| edge_pad(g, id),
};

/// `Pad` mode edge → slices, expands and concats (see the module docs).
fn edge_pad(g: &mut Builder<'_>, id: NodeId) -> bool {
    if g.node(id).attrs.string("mode", "constant").ok().as_deref() != Some("edge") {
        return false;
    }
    let Some(PadOperands { x, mut dims, pads }) = pad_operands(g, id) else {
        return false;
    };
    let rank = dims.len();
    // Bounded: each padded axis is one BROADCAST_TO of the pad's width.
    if pads.iter().any(|&p| !(0..1 << 20).contains(&p)) {
        return false;
    }
    if dims.iter().any(|&d| d == 0 || d >= 1 << 31) {
        return false;
    }
    let name = base_name(g, id);
    let mut v = x;
    for axis in 0..rank {
        let (begin, end) = (pads[axis], pads[axis + rank]);
        if begin == 0 && end == 0 {
            continue;
        }
        let ax = g.const_i64s(&format!("{name}_axis{axis}"), &[axis as i64]);
        let mut parts = Vec::new();
        for (width, start, stop, side) in [
            (begin, 0, 1, "begin"),
            (0, 0, 0, "input"),
            (end, -1, i64::MAX, "end"),
        ] {
            if side == "input" {
                parts.push(v);
                continue;
            }
            if width == 0 {
                continue;
            }
            let (st, sp) = (
                g.const_i64s(&format!("{name}_{side}{axis}_start"), &[start]),
                g.const_i64s(&format!("{name}_{side}{axis}_stop"), &[stop]),
            );
            let edge = g
                .op(OnnxOp::Slice, &[v, st, sp, ax])
                .out(format!("{name}_{side}{axis}"))
                .value();
            let mut shape: Vec<i64> = dims.iter().map(|&d| d as i64).collect();
            shape[axis] = width;
            let shape = g.const_i64s(&format!("{name}_{side}{axis}_shape"), &shape);
            parts.push(
                g.op(OnnxOp::Expand, &[edge, shape])
                    .out(format!("{name}_{side}{axis}_repeated"))
                    .value(),
            );
        }
        v = g
            .op(OnnxOp::Concat, &parts)
            .out(format!("{name}_axis{axis}_padded"))
            .int("axis", axis as i64)
            .value();
        dims[axis] += (begin + end) as u64;
    }
    if v != x {
        g.replace_node(id, v);
    }
    v != x
}
