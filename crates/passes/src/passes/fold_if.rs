//! An `If` whose condition is a constant is replaced by the nodes of the branch it takes
//! (part of `fold`). Exporters write `If`s on sizes (silero-vad squeezes a last size of 1
//! before its LSTM); once the input shapes are given, shape inference folds the condition,
//! and the inlined branch converts where an `If` with outputs of unknown shape cannot (TFLite
//! needs the shapes of an IF's results).

use std::collections::HashMap;

use modelc_ir::{Attr, DType, Graph, Names, Node, NodeId, OnnxOp, Op, ValueRef};

/// Inlines every top-level `If` with a constant condition; whether any was.
pub fn inline_constant_ifs(g: &mut Graph) -> bool {
    let ids: Vec<NodeId> = g
        .node_ids()
        .filter(|&id| g.node(id).op == Op::Onnx(OnnxOp::If))
        .collect();
    let mut changed = false;
    for id in ids {
        changed |= inline(g, id);
    }
    changed
}

/// The value of a one-element bool constant.
fn constant_condition(g: &Graph, id: NodeId) -> Option<bool> {
    let c = g.input(id, 0)?;
    let Op::Const(t) = &g.node(c.node).op else {
        return None;
    };
    if t.dtype != DType::Bool || t.element_count() != Some(1) {
        return None;
    }
    Some(*t.raw()?.first()? != 0)
}

fn inline(g: &mut Graph, id: NodeId) -> bool {
    let Some(cond) = constant_condition(g, id) else {
        return false;
    };
    let key = if cond { "then_branch" } else { "else_branch" };
    let branch = match g.node(id).attrs.get(key) {
        Some(Attr::Graph(b)) => (**b).clone(),
        _ => return false,
    };
    if !branch.inputs().is_empty() || branch.outputs().len() != g.node(id).outputs.len() {
        return false;
    }
    let Ok(order) = branch.topo_order() else {
        return false;
    };
    // Outer values by name: the If's captures, then any value of this graph.
    let captured: HashMap<String, ValueRef> = g
        .captures_of(id)
        .into_iter()
        .filter_map(|v| Some((g.value(v)?.name.clone(), v)))
        .collect();
    let mut map: HashMap<ValueRef, ValueRef> = HashMap::new();
    for nid in &order {
        let node = branch.node(*nid);
        if node.op == Op::Outer {
            let Some(name) = node.outputs.first().map(|v| v.name.clone()) else {
                return false;
            };
            let Some(v) = captured.get(&name).copied().or_else(|| g.find_value(&name)) else {
                return false;
            };
            map.insert(ValueRef::new(*nid, 0), v);
        }
    }
    // The branch's values keep their names (its own sub-graphs may name them in outer
    // references), so a branch defining a name this graph has already is left as an If;
    // node names are only labels and are made unique (onnxruntime refuses repeated ones).
    let mut names = Names::of(g);
    let defines_a_used_name = order.iter().any(|&nid| {
        let node = branch.node(nid);
        node.op != Op::Outer
            && node
                .outputs
                .iter()
                .any(|v| !v.is_absent() && !names.reserve(&v.name))
    });
    if defines_a_used_name {
        return false;
    }
    let mut copied = Vec::new();
    for nid in order {
        let node = branch.node(nid);
        if node.op == Op::Outer {
            continue;
        }
        let mut copy = node.clone();
        copy.name = names.fresh_node(&node.name);
        let new = g.add_node(copy);
        copied.push(new);
        for slot in 0..node.outputs.len() {
            map.insert(ValueRef::new(nid, slot), ValueRef::new(new, slot));
        }
        // Inputs by slot, then the captures of its own sub-graphs (slots after them).
        let mut edges: Vec<(ValueRef, usize)> = branch
            .inputs_of(nid)
            .into_iter()
            .enumerate()
            .filter_map(|(slot, v)| Some((v?, slot)))
            .collect();
        let n = node.num_inputs;
        edges.extend(
            branch
                .captures_of(nid)
                .into_iter()
                .enumerate()
                .map(|(k, v)| (v, n + k)),
        );
        for (src, slot) in edges {
            let Some(&from) = map.get(&src) else {
                // Cannot happen in topological order; undo.
                for n in copied {
                    g.remove_node(n);
                }
                return false;
            };
            g.connect(from, new, slot);
        }
    }
    let results: Vec<ValueRef> = branch.outputs().iter().map(|v| map[v]).collect();
    let mut outputs = g.outputs().to_vec();
    for (slot, r) in results.into_iter().enumerate() {
        // The If's result keeps its name and type, through an Identity of the branch's
        // value: sub-graphs of other nodes name it in their outer references, and it may be
        // a graph output.
        let old = ValueRef::new(id, slot);
        let value = g.node(id).outputs[slot].clone();
        let label = match g.node(id).name.as_str() {
            "" => format!("{}_result", value.name),
            name => format!("{name}_result_{slot}"),
        };
        let ident = g.add_node(
            Node::new(Op::Onnx(OnnxOp::Identity), 1, vec![value])
                .with_name(names.fresh_node(&label)),
        );
        g.connect(r, ident, 0);
        let ident = ValueRef::new(ident, 0);
        g.replace_uses(old, ident);
        for o in outputs.iter_mut().filter(|o| **o == old) {
            *o = ident;
        }
    }
    g.set_outputs(outputs);
    g.remove_node(id);
    true
}
