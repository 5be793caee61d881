//! `decompose-scalar-gather`: `Gather(x, k)` with a constant scalar index (a transformer's
//! split of the fused QKV projection into q, k and v) → `Slice(x, [k], [k+1], [axis])` +
//! `Reshape` to the output's shape. Run by `--target` for targets that refuse the written
//! form: TFLite's GPU delegate takes GATHER with 1-D indices only ("Only support 1D
//! indices", tensorflow/lite/tools/versioning/gpu_compatibility.cc) and a 3-D or 4-D SLICE.
//! Needs the input's and output's dimensions known; otherwise the Gather stays.

use modelc_ir::{Attr, Builder, Graph, NodeId, OnnxOp, Tensor, ValueRef};

use crate::passes::decompose::Decompose;
use crate::pattern::const_tensor;

pub const PASS: Decompose = Decompose {
    name: "decompose-scalar-gather",
    description: "Gather with a constant scalar index → Slice + Reshape (the TFLite GPU \
                  delegate's GATHER takes 1-D indices only); run by --target tflite-gpu",
    ops: &[OnnxOp::Gather],
    // Slice's starts/ends/axes are inputs from opset 10.
    opsets: 10..=i64::MAX,
    rewrite: |g, id, _, _| scalar_gather(g, id),
};

fn scalar_gather(g: &mut Builder<'_>, id: NodeId) -> bool {
    let (Some(x), Some(idx)) = (g.input(id, 0), g.input(id, 1)) else {
        return false;
    };
    let Some(k) = scalar_index(g, idx) else {
        return false;
    };
    let out = ValueRef::new(id, 0);
    let (Some(dims), Some(out_dims)) = (g.known_dims(x), g.known_dims(out)) else {
        return false;
    };
    let rank = dims.len() as i64;
    let axis = g.node(id).attrs.int("axis", 0).unwrap_or(i64::MAX);
    let axis = if axis < 0 { axis + rank } else { axis };
    let Some(&n) = usize::try_from(axis).ok().and_then(|a| dims.get(a)) else {
        return false;
    };
    let k = if k < 0 { k + n as i64 } else { k };
    if k < 0 || k >= n as i64 {
        return false;
    }
    let node = g.node(id);
    let name = match node.outputs.first() {
        Some(v) if node.name.is_empty() => v.name.clone(),
        _ => node.name.clone(),
    };
    let starts = g.const_i64s(&format!("{name}_start"), &[k]);
    let ends = g.const_i64s(&format!("{name}_end"), &[k + 1]);
    let axes = g.const_i64s(&format!("{name}_axis"), &[axis]);
    let shape: Vec<i64> = out_dims.iter().map(|&d| d as i64).collect();
    let shape = g.const_i64s(&format!("{name}_shape"), &shape);
    let slice = g
        .op(OnnxOp::Slice, &[x, starts, ends, axes])
        .out(format!("{name}_slice"))
        .value();
    let y = g.op(OnnxOp::Reshape, &[slice, shape]).out(name).value();
    g.replace_node(id, y);
    true
}

/// The rank-0 integer constant behind `v`: a `Const`, or a `Constant` node not folded yet
/// (convert's default level does not fold).
fn scalar_index(g: &Graph, v: ValueRef) -> Option<i64> {
    let node = g.node(v.node);
    let t: &Tensor = match (const_tensor(g, v), node.op.onnx()) {
        (Some(t), _) => t,
        (None, Some(OnnxOp::Constant)) => match node.attrs.get("value") {
            Some(Attr::Tensor(t)) => t,
            _ => return None,
        },
        _ => return None,
    };
    if !t.dims.is_empty() {
        return None;
    }
    match modelc_ir::infer::tensor_ints(t)?.as_slice() {
        [k] => Some(*k),
        _ => None,
    }
}
