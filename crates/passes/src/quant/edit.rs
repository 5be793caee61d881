//! Small graph edits the quantization modes share: fresh names, constants, QDQ pairs.

use std::collections::HashSet;

use modelc_ir::{Attr, Attrs, Graph, Node, NodeId, OnnxOp, Op, Tensor, Value, ValueRef};

/// Hands out value and node names not yet used in the graph.
pub struct Names {
    used: HashSet<String>,
}

impl Names {
    pub fn of(g: &Graph) -> Names {
        let mut used = HashSet::new();
        for id in g.node_ids() {
            let n = g.node(id);
            used.insert(n.name.clone());
            for v in &n.outputs {
                used.insert(v.name.clone());
            }
        }
        Names { used }
    }

    /// `base`, or `base_2`, `base_3`, ... if taken.
    pub fn fresh(&mut self, base: &str) -> String {
        let mut name = base.to_string();
        let mut i = 2;
        while self.used.contains(&name) {
            name = format!("{base}_{i}");
            i += 1;
        }
        self.used.insert(name.clone());
        name
    }
}

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

/// Adds a constant under a fresh name.
pub fn add_const(g: &mut Graph, names: &mut Names, base: &str, t: Tensor) -> ValueRef {
    let name = names.fresh(base);
    ValueRef::new(g.add_const(name, t), 0)
}

/// Adds a node of `op` with the given inputs, one output named after `base`.
pub fn add_op(
    g: &mut Graph,
    names: &mut Names,
    op: OnnxOp,
    base: &str,
    inputs: &[Option<ValueRef>],
    attrs: Vec<(&str, Attr)>,
    outputs: usize,
) -> NodeId {
    // Short derived names keep the file small (names are repeated at every use): a single
    // output takes the base name itself (node names are a separate namespace in ONNX).
    let outs: Vec<Value> = (0..outputs)
        .map(|i| {
            Value::named(names.fresh(&if outputs == 1 {
                base.to_string()
            } else {
                format!("{base}.{i}")
            }))
        })
        .collect();
    let node_name = match outs.as_slice() {
        [one] => one.name.clone(),
        _ => base.to_string(),
    };
    let node = Node::new(Op::Onnx(op), inputs.len(), outs)
        .with_name(node_name)
        .with_attrs(
            attrs
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect::<Attrs>(),
        );
    let id = g.add_node(node);
    g.connect_inputs(
        id,
        inputs
            .iter()
            .enumerate()
            .filter_map(|(i, v)| v.map(|v| (i, v))),
    );
    id
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
