//! Small graph reads and edits the quantization modes share: labels, constant inputs,
//! rewiring (nodes and constants are added with [`modelc_ir::Builder`]).

use modelc_ir::{Graph, NodeId, Op, Tensor, ValueRef};

/// A label for messages and exclusion patterns: the node's name, else its first output's.
pub fn label(g: &Graph, id: NodeId) -> String {
    let n = g.node(id);
    if !n.name.is_empty() {
        n.name.clone()
    } else {
        n.outputs
            .first()
            .map(|v| v.name.clone())
            .unwrap_or_default()
    }
}

/// The base name of a value for derived names.
pub fn value_name(g: &Graph, v: ValueRef) -> String {
    g.value(v).map(|x| x.name.clone()).unwrap_or_default()
}

/// Makes the readers `users` of a value read `new` instead.
pub fn redirect(g: &mut Graph, users: &[(NodeId, usize)], new: ValueRef) {
    for &(n, slot) in users {
        g.connect(new, n, slot);
    }
}

/// The constant tensor feeding `slot` of `id`, if that input is a constant.
pub fn const_input(g: &Graph, id: NodeId, slot: usize) -> Option<(NodeId, &Tensor)> {
    let v = g.input(id, slot)?;
    match &g.node(v.node).op {
        Op::Const(t) => Some((v.node, t)),
        _ => None,
    }
}
