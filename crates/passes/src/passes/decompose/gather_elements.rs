//! `decompose-gather-elements`: `GatherElements(data, indices, axis)` → `GatherND` on the full
//! coordinates of every index: along `axis` the index itself (negative ones counted from the
//! end with `Mod` by the axis size), along the other axes the element's own position. A
//! constant `indices` (relative-position tables, position ids) gives constant coordinates;
//! otherwise they are a constant grid plus the indices placed in the axis's column.

use modelc_ir::{Builder, NodeId, OnnxOp, Tensor};

use super::{base_name, Decompose};
use crate::pattern::rank_of;
use crate::util::const_ints;

pub const PASS: Decompose = Decompose {
    name: "decompose-gather-elements",
    description: "GatherElements → GatherND on computed coordinates",
    ops: &[OnnxOp::GatherElements],
    opsets: 11..=i64::MAX,
    rewrite: |g, id, _, opset| gather_elements(g, id, opset),
};

/// The most coordinates a rewrite materializes (a constant of indices' size × rank).
const MAX_ELEMENTS: u64 = 1 << 22;

fn gather_elements(g: &mut Builder<'_>, id: NodeId, opset: i64) -> bool {
    let (Some(data), Some(idx)) = (g.input(id, 0), g.input(id, 1)) else {
        return false;
    };
    let Some(rank) = rank_of(g, data) else {
        return false;
    };
    let Ok(axis) = g.node(id).attrs.int("axis", 0) else {
        return false;
    };
    let axis = if axis < 0 { axis + rank as i64 } else { axis };
    if !(0..rank as i64).contains(&axis) {
        return false;
    }
    let axis = axis as usize;
    let Some(ishape) = g.shape_of(idx).and_then(|s| s.as_known()) else {
        return false;
    };
    let count: u64 = ishape.iter().product();
    if ishape.len() != rank || count.saturating_mul(rank as u64) > MAX_ELEMENTS {
        return false;
    }
    let axis_size = g
        .shape_of(data)
        .and_then(|s| s.0.get(axis).and_then(|d| d.known()));
    let name = base_name(g, id);
    // The coordinates of every element of `indices`, row-major, `rank` per element.
    let mut coords = Vec::with_capacity((count as usize) * rank);
    let consts = const_ints(g, idx);
    for (flat, pos) in positions(&ishape).enumerate() {
        for (a, &p) in pos.iter().enumerate() {
            coords.push(match (&consts, a == axis) {
                (Some(c), true) => {
                    let i = c[flat];
                    match axis_size {
                        Some(n) if i < 0 => i + n as i64,
                        _ => i,
                    }
                }
                (None, true) => 0,
                _ => p as i64,
            });
        }
    }
    let mut cdims = ishape.clone();
    cdims.push(rank as u64);
    let Ok(grid) = Tensor::from_i64(cdims, &coords) else {
        return false;
    };
    let grid = g.constant(&format!("{name}_coordinates"), grid);
    let coords = if consts.is_some() {
        grid
    } else {
        // grid + unsqueeze(indices mod n, -1) · one-hot(axis)
        let mut i = idx;
        if g.dtype_of(i) != Some(modelc_ir::DType::I64) {
            i = g
                .op(OnnxOp::Cast, &[i])
                .out(format!("{name}_indices_i64"))
                .int("to", modelc_ir::DType::I64.onnx_code() as i64)
                .value();
        }
        if let Some(n) = axis_size {
            let n = g.const_i64(&format!("{name}_axis_size"), n as i64);
            i = g
                .op(OnnxOp::Mod, &[i, n])
                .out(format!("{name}_nonnegative"))
                .value();
        }
        let col = g
            .op(OnnxOp::Unsqueeze, &[i])
            .out(format!("{name}_column"))
            .axes(&[-1], opset >= 13)
            .value();
        let onehot: Vec<i64> = (0..rank).map(|a| i64::from(a == axis)).collect();
        let onehot = g.const_i64s(&format!("{name}_axis"), &onehot);
        let placed = g
            .op(OnnxOp::Mul, &[col, onehot])
            .out(format!("{name}_placed"))
            .value();
        g.op(OnnxOp::Add, &[grid, placed])
            .out(format!("{name}_indices_nd"))
            .value()
    };
    let y = g
        .op(OnnxOp::GatherND, &[data, coords])
        .out(name.as_str())
        .value();
    g.replace_node(id, y);
    true
}

/// Every position of a tensor of `dims`, row-major.
fn positions(dims: &[u64]) -> impl Iterator<Item = Vec<u64>> + '_ {
    let count: u64 = dims.iter().product();
    (0..count).map(move |mut flat| {
        let mut pos = vec![0; dims.len()];
        for (a, &d) in dims.iter().enumerate().rev() {
            pos[a] = flat % d.max(1);
            flat /= d.max(1);
        }
        pos
    })
}
