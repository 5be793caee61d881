//! `decompose-flatten`: `Flatten` → `Reshape` to `[d0 × … × d(axis−1), −1]`, for targets
//! whose runtime has Reshape but no Flatten (Core ML's ML Program through onnxruntime's
//! CoreML EP). Applies when the dimensions before `axis` are known.

use modelc_ir::{Builder, NodeId, OnnxOp};

use super::{base_name, Decompose};

pub const PASS: Decompose = Decompose {
    name: "decompose-flatten",
    description: "Flatten → Reshape to [product of the dims before axis, -1] (known leading dims)",
    ops: &[OnnxOp::Flatten],
    opsets: 0..=i64::MAX,
    rewrite: |g, id, _, _| flatten(g, id),
};

fn flatten(g: &mut Builder<'_>, id: NodeId) -> bool {
    let Some(x) = g.input(id, 0) else {
        return false;
    };
    let Some(shape) = g.shape_of(x) else {
        return false;
    };
    let rank = shape.rank() as i64;
    let Ok(axis) = g.node(id).int("axis") else {
        return false;
    };
    let axis = if axis < 0 { axis + rank } else { axis };
    if !(0..=rank).contains(&axis) {
        return false;
    }
    let lead: Option<Vec<u64>> = shape.0[..axis as usize].iter().map(|d| d.known()).collect();
    let Some(lead) = lead else {
        return false;
    };
    let outer = lead.iter().product::<u64>() as i64;
    let name = base_name(g, id);
    let target = g.const_i64s(&format!("{name}_shape"), &[outer, -1]);
    let y = g
        .op(OnnxOp::Reshape, &[x, target])
        .out(format!("{name}_reshape"))
        .value();
    g.replace_node(id, y);
    true
}
