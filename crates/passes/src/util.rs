//! Graph helpers the cleanup passes share (the fusion passes' matching helpers are in
//! [`crate::pattern`]): reading small integer constants, telling whether a value is read by
//! a sub-graph, and bypassing a node whose result equals one of its inputs.

use modelc_ir::{Graph, NodeId, Op, ValueRef};

use crate::pattern::const_tensor;

/// The elements of the small integer constant behind `v` (shapes, axes, pads, starts).
pub fn const_ints(g: &Graph, v: ValueRef) -> Option<Vec<i64>> {
    modelc_ir::infer::tensor_ints(const_tensor(g, v)?)
}

/// Whether `v` is read by a sub-graph through a capture. Sub-graphs refer to captured
/// values by name, so such a value can be neither replaced nor renamed.
pub fn captured(g: &Graph, v: ValueRef) -> bool {
    g.users(v)
        .iter()
        .any(|&(user, slot)| slot >= g.node(user).num_inputs)
}

/// Removes node `id` whose output 0 is known to equal `src` (same type, same elements),
/// making every reader of the output read `src`. A graph output keeps its name: the
/// producer of `src` takes the output's name over, which is only possible when `src` is
/// computed by an op, read by nothing else and is not itself a graph output; otherwise, or
/// when either value is captured by a sub-graph, the node stays and this returns false.
/// The node's other outputs must be unused (the caller checks).
pub fn bypass(g: &mut Graph, id: NodeId, src: ValueRef) -> bool {
    let out = ValueRef::new(id, 0);
    if captured(g, out) || captured(g, src) {
        return false;
    }
    if g.outputs().contains(&out) {
        let producer_is_op = matches!(g.node(src.node).op, Op::Onnx(_) | Op::Custom(_));
        let only_reader = g.users(src).len() == 1;
        if !producer_is_op || !only_reader || g.outputs().contains(&src) {
            return false;
        }
        let taken = g.value(out).cloned().expect("live value");
        let value = g.value_mut(src).expect("live value");
        value.name = taken.name;
        if taken.ty.is_some() {
            value.ty = taken.ty;
        }
        if !taken.doc.is_empty() {
            value.doc = taken.doc;
        }
    }
    g.replace_uses(out, src);
    g.remove_node(id);
    true
}
