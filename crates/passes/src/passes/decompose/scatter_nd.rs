//! `decompose-scatter-nd`: `ScatterND(data, indices, updates)` → the form of TFLite's
//! SCATTER_ND, which writes its updates into zeros: `ScatterND(ConstantOfShape(shape),
//! indices, updates, reduction="add")` (the TFLite writer's SCATTER_ND), then
//! - reduction `none`: `Where(mask, scattered, data)`, the mask the same scatter of ones
//!   (`Greater` than zero), so the elements no index names keep `data` exactly; constant
//!   indices that repeat keep only their last update (SCATTER_ND would add them);
//! - reduction `add`: `Add(data, scattered)` (repeated indices add in both).
//!
//! Other reductions (`mul`, `max`, `min`) are kept.

use modelc_ir::{Attr, Builder, NodeId, OnnxOp, Tensor, ValueRef};

use super::{base_name, Decompose};
use crate::pattern::const_tensor;
use crate::util::const_ints;

pub const PASS: Decompose = Decompose {
    name: "decompose-scatter-nd",
    description: "ScatterND → scatter into zeros (SCATTER_ND) + Where / Add with the data",
    ops: &[OnnxOp::ScatterND],
    opsets: 11..=i64::MAX,
    rewrite: |g, id, _, _| scatter_nd(g, id),
};

/// The most elements a rewrite materializes (the ones of the mask).
const MAX_ELEMENTS: u64 = 1 << 22;

fn scatter_nd(g: &mut Builder<'_>, id: NodeId) -> bool {
    let (Some(data), Some(idx), Some(upd)) = (g.input(id, 0), g.input(id, 1), g.input(id, 2))
    else {
        return false;
    };
    let reduction = g
        .node(id)
        .attrs
        .string("reduction", "none")
        .unwrap_or_default();
    if !matches!(reduction.as_str(), "none" | "add") {
        return false;
    }
    let (Some(dshape), Some(ushape), Some(dtype)) = (
        g.shape_of(data).and_then(|s| s.as_known()),
        g.shape_of(upd).and_then(|s| s.as_known()),
        g.dtype_of(upd),
    ) else {
        return false;
    };
    let count: u64 = ushape.iter().product();
    if count > MAX_ELEMENTS || g.dtype_of(data) != Some(dtype) {
        return false;
    }
    let name = base_name(g, id);
    let mut ushape = ushape;
    let (mut idx, mut upd) = (idx, upd);
    if let Some((dims, values)) = const_tensor(g, idx)
        .map(|t| t.dims.clone())
        .zip(const_ints(g, idx))
    {
        let Some(&depth) = dims.last() else {
            return false;
        };
        let depth = depth as usize;
        // Negative constant indices counted from the end (SCATTER_ND takes only [0, n)).
        let fixed: Vec<i64> = values
            .iter()
            .enumerate()
            .map(|(k, &v)| {
                let n = dshape.get(k % depth.max(1)).copied().unwrap_or(0) as i64;
                if v < 0 {
                    v + n
                } else {
                    v
                }
            })
            .collect();
        // reduction `none` with an index repeated: the last update is the one kept (as
        // onnxruntime and torch's index_put write them in order); SCATTER_ND would add them.
        let rows: Vec<&[i64]> = fixed.chunks(depth.max(1)).collect();
        let last: std::collections::HashMap<&[i64], usize> =
            rows.iter().enumerate().map(|(r, &row)| (row, r)).collect();
        let kept: Vec<usize> = (0..rows.len()).filter(|&r| last[rows[r]] == r).collect();
        if reduction == "none" && depth > 0 && kept.len() < rows.len() {
            let Some(u) = dedup_updates(g, &name, upd, &ushape, dims.len() - 1, &kept) else {
                return false;
            };
            let kept_idx: Vec<i64> = kept.iter().flat_map(|&r| rows[r].to_vec()).collect();
            let Ok(t) = Tensor::from_i64(vec![kept.len() as u64, depth as u64], &kept_idx) else {
                return false;
            };
            idx = g.constant(&format!("{name}_indices"), t);
            ushape = std::iter::once(kept.len() as u64)
                .chain(ushape[dims.len() - 1..].iter().copied())
                .collect();
            upd = u;
        } else if values.iter().any(|&v| v < 0) {
            let Ok(t) = Tensor::from_i64(dims, &fixed) else {
                return false;
            };
            idx = g.constant(&format!("{name}_indices"), t);
        }
    }
    let zero = modelc_ir::build::scalar_tensor(dtype, 0.0);
    let shape: Vec<i64> = dshape.iter().map(|&d| d as i64).collect();
    let scatter = |g: &mut Builder<'_>, what: ValueRef, suffix: &str| {
        let s = g.const_i64s(&format!("{name}_{suffix}_shape"), &shape);
        let zeros = g
            .op(OnnxOp::ConstantOfShape, &[s])
            .out(format!("{name}_{suffix}_zeros"))
            .attr("value", Attr::Tensor(with_dims(&zero, vec![1])))
            .value();
        g.op(OnnxOp::ScatterND, &[zeros, idx, what])
            .out(format!("{name}_{suffix}"))
            .string("reduction", "add")
            .value()
    };
    let scattered = scatter(g, upd, "scattered");
    let y = if reduction == "add" {
        g.op(OnnxOp::Add, &[data, scattered])
            .out(name.as_str())
            .value()
    } else {
        let one = modelc_ir::build::scalar_tensor(dtype, 1.0);
        let Some(ones) = repeat(&one, ushape) else {
            return false;
        };
        let ones = g.constant(&format!("{name}_ones"), ones);
        let hits = scatter(g, ones, "hits");
        let z = g.constant(&format!("{name}_zero"), zero.clone());
        let mask = g
            .op(OnnxOp::Greater, &[hits, z])
            .out(format!("{name}_mask"))
            .value();
        g.op(OnnxOp::Where, &[mask, scattered, data])
            .out(name.as_str())
            .value()
    };
    g.replace_node(id, y);
    true
}

/// The updates of the index rows `kept` (of the `lead` leading dimensions of `ushape`,
/// flattened): `Gather(Reshape(upd, [rows, tail…]), kept)`.
fn dedup_updates(
    g: &mut Builder<'_>,
    name: &str,
    upd: ValueRef,
    ushape: &[u64],
    lead: usize,
    kept: &[usize],
) -> Option<ValueRef> {
    let rows: u64 = ushape.get(..lead)?.iter().product();
    let flat: Vec<i64> = std::iter::once(rows as i64)
        .chain(ushape[lead..].iter().map(|&d| d as i64))
        .collect();
    let s = g.const_i64s(&format!("{name}_updates_shape"), &flat);
    let flat = g
        .op(OnnxOp::Reshape, &[upd, s])
        .out(format!("{name}_updates_rows"))
        .value();
    let k: Vec<i64> = kept.iter().map(|&r| r as i64).collect();
    let k = g.const_i64s(&format!("{name}_kept"), &k);
    Some(
        g.op(OnnxOp::Gather, &[flat, k])
            .out(format!("{name}_updates_kept"))
            .int("axis", 0)
            .value(),
    )
}

/// A scalar tensor's value as a tensor of `dims`.
fn with_dims(t: &Tensor, dims: Vec<u64>) -> Tensor {
    Tensor::from_raw(t.dtype, dims, t.raw().cloned().unwrap_or_default())
        .unwrap_or_else(|_| t.clone())
}

/// A scalar tensor's value repeated to `dims`.
fn repeat(t: &Tensor, dims: Vec<u64>) -> Option<Tensor> {
    let raw = t.raw()?;
    let n: u64 = dims.iter().product();
    let bytes: Vec<u8> = (0..n).flat_map(|_| raw.iter().copied()).collect();
    Tensor::from_raw(t.dtype, dims, bytes.into()).ok()
}
