//! The graph: a petgraph `StableDiGraph` whose nodes are operations and whose edges carry one
//! value from an output slot to an input slot.
//!
//! Graph inputs, constants and outer-scope values are nodes too ([`Op::Input`],
//! [`Op::Const`], [`Op::Outer`]); graph outputs are an ordered list of value references.
//! Stable indices survive rewrites; every node also carries a creation sequence number, and
//! iteration is topological with ties broken by creation order, so the same input always
//! gives the same order (and byte-identical output files).

use std::collections::{BinaryHeap, HashMap};
use std::sync::Arc;

use petgraph::stable_graph::{EdgeIndex, NodeIndex, StableDiGraph};
use petgraph::visit::EdgeRef;
use petgraph::Direction;
use thin_vec::ThinVec;

use crate::{AttrError, Attrs, Layout, Op, Tensor, TypeInfo};

/// Index of a node in its graph; stable across removals of other nodes.
pub type NodeId = NodeIndex<u32>;

/// One output of one node: the IR's notion of a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ValueRef {
    pub node: NodeId,
    pub slot: usize,
}

impl ValueRef {
    pub fn new(node: NodeId, slot: usize) -> ValueRef {
        ValueRef { node, slot }
    }
}

/// An edge: the value produced at `src_slot` of the source node feeds `dst_slot` of the
/// target. Slots at or past the target's `num_inputs` are captures (values a sub-graph of the
/// target reads from this graph).
/// The slots are 4 bytes each, not a `usize`: a graph holds one edge per input, and a
/// petgraph edge slot with `usize` slots took 40 bytes where it now takes 28.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Edge {
    src_slot: u32,
    dst_slot: u32,
}

impl Edge {
    /// An edge from output `src_slot` to input `dst_slot`. Panics past `u32::MAX` (no
    /// readable file has a node with that many inputs or outputs).
    pub fn new(src_slot: usize, dst_slot: usize) -> Edge {
        let slot = |s: usize| u32::try_from(s).expect("a slot index fits in 32 bits");
        Edge {
            src_slot: slot(src_slot),
            dst_slot: slot(dst_slot),
        }
    }

    /// The source node's output slot.
    pub fn src_slot(&self) -> usize {
        self.src_slot as usize
    }

    /// The target node's input slot (a capture at or past its `num_inputs`).
    pub fn dst_slot(&self) -> usize {
        self.dst_slot as usize
    }
}

/// String key/value pairs attached to models, graphs, nodes and values (ONNX `metadata_props`).
/// A `ThinVec` (one pointer, 8 B where a `Vec` takes 24): almost every node and value has none,
/// and a node-heavy graph holds hundreds of thousands of them.
pub type Metadata = ThinVec<(String, String)>;

/// Format-specific data the IR does not interpret but keeps for a lossless round trip,
/// keyed by the owning format (`onnx.training_info`, ...), holding that format's encoding.
pub type Extra = ThinVec<(String, bytes::Bytes)>;

/// A node's or value's documentation string (or a type's denotation), in 8 bytes when empty
/// (a `String` takes 24): almost none has one. Reads as a `&str`.
#[derive(Clone, Default, PartialEq, Eq, Hash)]
#[allow(clippy::box_collection)] // the box is the point: one pointer where a String takes three
pub struct Doc(Option<Box<String>>);

impl std::ops::Deref for Doc {
    type Target = str;
    fn deref(&self) -> &str {
        self.0.as_deref().map_or("", String::as_str)
    }
}

impl std::fmt::Debug for Doc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&**self, f)
    }
}

impl From<String> for Doc {
    fn from(s: String) -> Doc {
        Doc((!s.is_empty()).then(|| Box::new(s)))
    }
}

impl From<&str> for Doc {
    fn from(s: &str) -> Doc {
        Doc::from(s.to_string())
    }
}

/// A value produced by a node output.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Value {
    /// The value's name in the source model; empty for an optional output that is not produced.
    pub name: String,
    /// Declared or inferred type, when known. Behind a pointer (a graph of 200,000 untyped
    /// values would otherwise carry 48 empty bytes in each of them), and an `Arc` so that
    /// values of one type share it: shape inference gives every value of a 200,000-node
    /// elementwise chain the same type, which as a box each was 96 bytes (the `TypeInfo` and
    /// its dimensions) per value. Change one in place with `Arc::make_mut`.
    pub ty: Option<Arc<TypeInfo>>,
    pub doc: Doc,
    pub meta: Metadata,
    /// Provenance: the name of the source model's value this one computes, when that is not
    /// its own name (a value a pass renamed, or a quantized copy standing for a float value);
    /// `None`: its own name. Readers set it from the map a writer recorded in the file
    /// ([`crate::provenance`]); `verify --layers` matches values by it.
    pub origin: Option<Box<str>>,
}

impl Value {
    pub fn named(name: impl Into<String>) -> Value {
        Value {
            name: name.into(),
            ..Value::default()
        }
    }

    pub fn typed(name: impl Into<String>, ty: TypeInfo) -> Value {
        Value {
            name: name.into(),
            ty: Some(Arc::new(ty)),
            ..Value::default()
        }
    }

    /// The name of the source value this one computes: its [`Value::origin`], else its name.
    pub fn source(&self) -> &str {
        self.origin.as_deref().unwrap_or(&self.name)
    }

    /// An absent optional output.
    pub fn is_absent(&self) -> bool {
        self.name.is_empty()
    }
}

/// An operation with its attributes and outputs.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub op: Op,
    pub name: String,
    pub attrs: Attrs,
    /// Data layout of a layout-sensitive op; `None` for the others.
    pub layout: Option<Layout>,
    /// Number of explicit input slots; a slot with no incoming edge is an omitted optional input.
    pub num_inputs: usize,
    pub outputs: Vec<Value>,
    pub doc: Doc,
    pub meta: Metadata,
    pub extra: Extra,
    seq: u64,
}

impl Node {
    /// A node with `op`, `num_inputs` input slots and the given outputs.
    pub fn new(op: Op, num_inputs: usize, outputs: Vec<Value>) -> Node {
        let layout = match &op {
            Op::Onnx(o) if o.is_layout_sensitive() => Some(Layout::Nchw),
            _ => None,
        };
        Node {
            op,
            name: String::new(),
            attrs: Attrs::default(),
            layout,
            num_inputs,
            outputs,
            doc: Doc::default(),
            meta: Metadata::new(),
            extra: Extra::new(),
            seq: 0,
        }
    }

    pub fn with_name(mut self, name: impl Into<String>) -> Node {
        self.name = name.into();
        self
    }

    pub fn with_attrs(mut self, attrs: Attrs) -> Node {
        self.attrs = attrs;
        self
    }

    /// Attribute `name` as a float; when absent, the ONNX schema's default for this node's
    /// op (the one every opset version agrees on; an error when versions differ or there is
    /// none). Kernels, which know the opset, read through `OpCtx` instead.
    pub fn float(&self, name: &str) -> Result<f32, AttrError> {
        self.attrs.float_or_default(&self.op, None, name)
    }

    /// Attribute `name` as an int, with the schema default (see [`Node::float`]).
    pub fn int(&self, name: &str) -> Result<i64, AttrError> {
        self.attrs.int_or_default(&self.op, None, name)
    }

    /// Attribute `name` as floats, with the schema default (see [`Node::float`]).
    pub fn floats(&self, name: &str) -> Result<Vec<f32>, AttrError> {
        self.attrs.floats_or_default(&self.op, None, name)
    }

    /// Attribute `name` as ints, with the schema default (see [`Node::float`]).
    pub fn ints(&self, name: &str) -> Result<Vec<i64>, AttrError> {
        self.attrs.ints_or_default(&self.op, None, name)
    }

    /// Attribute `name` as UTF-8 text, with the schema default (see [`Node::float`]).
    pub fn string(&self, name: &str) -> Result<String, AttrError> {
        self.attrs.string_or_default(&self.op, None, name)
    }

    /// The sub-graphs held in this node's attributes, in attribute order.
    pub fn subgraphs(&self) -> impl Iterator<Item = &Graph> {
        self.attrs.iter().flat_map(|e| e.value.graphs())
    }

    pub fn subgraphs_mut(&mut self) -> impl Iterator<Item = &mut Graph> {
        self.attrs.0.iter_mut().flat_map(|e| e.value.graphs_mut())
    }

    /// The creation sequence number (breaks ties in the deterministic order).
    pub fn seq(&self) -> u64 {
        self.seq
    }
}

/// A graph of operations.
#[derive(Debug, Clone, Default)]
pub struct Graph {
    pub name: String,
    pub doc: String,
    pub meta: Metadata,
    pub extra: Extra,
    dag: StableDiGraph<Node, Edge>,
    inputs: Vec<NodeId>,
    outputs: Vec<ValueRef>,
    next_seq: u64,
}

/// A cycle was found while ordering the graph.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("graph `{graph}` has a cycle through node `{node}`")]
pub struct CycleError {
    pub graph: String,
    pub node: String,
}

impl Graph {
    pub fn new(name: impl Into<String>) -> Graph {
        Graph {
            name: name.into(),
            ..Graph::default()
        }
    }

    /// Makes room for `nodes` more nodes and `edges` more edges (a reader that knows how many
    /// it will add avoids growing past them by doubling).
    pub fn reserve(&mut self, nodes: usize, edges: usize) {
        self.dag.reserve_exact_nodes(nodes);
        self.dag.reserve_exact_edges(edges);
    }

    /// Adds a node; it gets the next creation sequence number.
    pub fn add_node(&mut self, mut node: Node) -> NodeId {
        node.seq = self.next_seq;
        self.next_seq += 1;
        self.dag.add_node(node)
    }

    /// Adds a graph input (appended to the input list) and returns its node.
    pub fn add_input(&mut self, value: Value) -> NodeId {
        let id = self.add_node(Node::new(Op::Input { default: None }, 0, vec![value]));
        self.inputs.push(id);
        id
    }

    /// Adds a constant node producing `tensor` under `name`.
    pub fn add_const(&mut self, name: impl Into<String>, tensor: Tensor) -> NodeId {
        let ty = TypeInfo::from(crate::ValueType::tensor(tensor.dtype, &tensor.dims));
        self.add_node(Node::new(
            Op::Const(Box::new(tensor)),
            0,
            vec![Value::typed(name, ty)],
        ))
    }

    /// Connects `src` to input slot `dst_slot` of `dst`, replacing what fed that slot.
    pub fn connect(&mut self, src: ValueRef, dst: NodeId, dst_slot: usize) {
        if let Some(e) = self.input_edge(dst, dst_slot) {
            self.dag.remove_edge(e);
        }
        self.dag
            .add_edge(src.node, dst, Edge::new(src.slot, dst_slot));
    }

    /// Connects several input slots of `dst` at once, each replacing what fed that slot (the
    /// last wins when a slot is given twice). Linear in the node's edges, where [`connect`]
    /// once per slot is quadratic: readers wiring up a node with very many inputs use this.
    ///
    /// [`connect`]: Graph::connect
    pub fn connect_inputs(
        &mut self,
        dst: NodeId,
        inputs: impl IntoIterator<Item = (usize, ValueRef)>,
    ) {
        let mut by_slot: HashMap<usize, ValueRef> = HashMap::new();
        let mut order = Vec::new();
        for (slot, src) in inputs {
            if by_slot.insert(slot, src).is_none() {
                order.push(slot);
            }
        }
        let replaced: Vec<EdgeIndex<u32>> = self
            .dag
            .edges_directed(dst, Direction::Incoming)
            .filter(|e| by_slot.contains_key(&e.weight().dst_slot()))
            .map(|e| e.id())
            .collect();
        for e in replaced {
            self.dag.remove_edge(e);
        }
        for dst_slot in order {
            let src = by_slot[&dst_slot];
            self.dag
                .add_edge(src.node, dst, Edge::new(src.slot, dst_slot));
        }
    }

    /// Removes whatever feeds `dst_slot` of `dst`.
    pub fn disconnect(&mut self, dst: NodeId, dst_slot: usize) {
        if let Some(e) = self.input_edge(dst, dst_slot) {
            self.dag.remove_edge(e);
        }
    }

    fn input_edge(&self, dst: NodeId, dst_slot: usize) -> Option<EdgeIndex<u32>> {
        self.dag
            .edges_directed(dst, Direction::Incoming)
            .find(|e| e.weight().dst_slot() == dst_slot)
            .map(|e| e.id())
    }

    /// The value feeding slot `slot` of `node`, if any.
    pub fn input(&self, node: NodeId, slot: usize) -> Option<ValueRef> {
        self.dag
            .edges_directed(node, Direction::Incoming)
            .find(|e| e.weight().dst_slot() == slot)
            .map(|e| ValueRef::new(e.source(), e.weight().src_slot()))
    }

    /// The values feeding the explicit input slots of `node` (`None` = omitted optional input).
    pub fn inputs_of(&self, node: NodeId) -> Vec<Option<ValueRef>> {
        let n = self.dag[node].num_inputs;
        let mut out = vec![None; n];
        for e in self.dag.edges_directed(node, Direction::Incoming) {
            if let Some(s) = out.get_mut(e.weight().dst_slot()) {
                *s = Some(ValueRef::new(e.source(), e.weight().src_slot()));
            }
        }
        out
    }

    /// The values `node` captures for its sub-graphs, in capture-slot order.
    pub fn captures_of(&self, node: NodeId) -> Vec<ValueRef> {
        let n = self.dag[node].num_inputs;
        let mut caps: Vec<(usize, ValueRef)> = self
            .dag
            .edges_directed(node, Direction::Incoming)
            .filter(|e| e.weight().dst_slot() >= n)
            .map(|e| {
                (
                    e.weight().dst_slot(),
                    ValueRef::new(e.source(), e.weight().src_slot()),
                )
            })
            .collect();
        caps.sort();
        caps.into_iter().map(|c| c.1).collect()
    }

    /// Every (node, slot) that reads `value`, in deterministic order.
    pub fn users(&self, value: ValueRef) -> Vec<(NodeId, usize)> {
        let mut users: Vec<(u64, NodeId, usize)> = self
            .dag
            .edges_directed(value.node, Direction::Outgoing)
            .filter(|e| e.weight().src_slot() == value.slot)
            .map(|e| (self.dag[e.target()].seq, e.target(), e.weight().dst_slot()))
            .collect();
        users.sort();
        users.into_iter().map(|u| (u.1, u.2)).collect()
    }

    /// Makes every reader of `old` (including graph outputs) read `new` instead.
    pub fn replace_uses(&mut self, old: ValueRef, new: ValueRef) {
        for (user, slot) in self.users(old) {
            self.connect(new, user, slot);
        }
        for o in &mut self.outputs {
            if *o == old {
                *o = new;
            }
        }
    }

    pub fn node(&self, id: NodeId) -> &Node {
        &self.dag[id]
    }

    pub fn node_mut(&mut self, id: NodeId) -> &mut Node {
        &mut self.dag[id]
    }

    pub fn try_node(&self, id: NodeId) -> Option<&Node> {
        self.dag.node_weight(id)
    }

    /// The value a reference names.
    pub fn value(&self, v: ValueRef) -> Option<&Value> {
        self.dag.node_weight(v.node)?.outputs.get(v.slot)
    }

    pub fn value_mut(&mut self, v: ValueRef) -> Option<&mut Value> {
        self.dag.node_weight_mut(v.node)?.outputs.get_mut(v.slot)
    }

    /// Removes a node, its edges, and its place in the input and output lists.
    pub fn remove_node(&mut self, id: NodeId) -> Option<Node> {
        self.inputs.retain(|&i| i != id);
        self.outputs.retain(|o| o.node != id);
        self.dag.remove_node(id)
    }

    pub fn node_count(&self) -> usize {
        self.dag.node_count()
    }

    /// Node ids in index order (not topological; see [`Graph::topo_order`]).
    pub fn node_ids(&self) -> impl Iterator<Item = NodeId> + '_ {
        self.dag.node_indices()
    }

    /// Graph inputs in order.
    pub fn inputs(&self) -> &[NodeId] {
        &self.inputs
    }

    /// Replaces the input order; every id must be an [`Op::Input`] node of this graph.
    pub fn set_inputs(&mut self, inputs: Vec<NodeId>) {
        self.inputs = inputs;
    }

    /// Graph outputs in order.
    pub fn outputs(&self) -> &[ValueRef] {
        &self.outputs
    }

    pub fn set_outputs(&mut self, outputs: Vec<ValueRef>) {
        self.outputs = outputs;
    }

    pub fn push_output(&mut self, v: ValueRef) {
        self.outputs.push(v);
    }

    /// The underlying petgraph, for algorithms.
    pub fn dag(&self) -> &StableDiGraph<Node, Edge> {
        &self.dag
    }

    /// Nodes in topological order. Graph inputs come first (in input order), then outer-scope
    /// values, then the rest with ties broken by creation order. The order depends only on the
    /// graph's content and creation history, never on index reuse.
    pub fn topo_order(&self) -> Result<Vec<NodeId>, CycleError> {
        let input_pos: HashMap<NodeId, u64> = self
            .inputs
            .iter()
            .enumerate()
            .map(|(i, &id)| (id, i as u64))
            .collect();
        let key = |id: NodeId| -> (u8, u64, NodeId) {
            match (&self.dag[id].op, input_pos.get(&id)) {
                (_, Some(&pos)) => (0, pos, id),
                (Op::Outer, None) => (1, self.dag[id].seq, id),
                _ => (2, self.dag[id].seq, id),
            }
        };
        let mut indegree: HashMap<NodeId, usize> = HashMap::with_capacity(self.dag.node_count());
        for id in self.dag.node_indices() {
            indegree.insert(id, self.dag.edges_directed(id, Direction::Incoming).count());
        }
        let mut ready: BinaryHeap<std::cmp::Reverse<(u8, u64, NodeId)>> = indegree
            .iter()
            .filter(|(_, &d)| d == 0)
            .map(|(&id, _)| std::cmp::Reverse(key(id)))
            .collect();
        let mut order = Vec::with_capacity(self.dag.node_count());
        while let Some(std::cmp::Reverse((_, _, id))) = ready.pop() {
            order.push(id);
            for e in self.dag.edges_directed(id, Direction::Outgoing) {
                let d = indegree
                    .get_mut(&e.target())
                    .expect("edge target is a node");
                *d -= 1;
                if *d == 0 {
                    ready.push(std::cmp::Reverse(key(e.target())));
                }
            }
        }
        if order.len() != self.dag.node_count() {
            let stuck = self
                .dag
                .node_indices()
                .filter(|id| indegree[id] > 0)
                .min_by_key(|id| self.dag[*id].seq)
                .expect("a node is left");
            return Err(CycleError {
                graph: self.name.clone(),
                node: node_label(&self.dag[stuck]),
            });
        }
        Ok(order)
    }

    /// Renumbers creation order to follow the topological order, so that a graph rebuilt by
    /// different rewrites but with the same content orders (and prints) the same way.
    pub fn renumber(&mut self) -> Result<(), CycleError> {
        let order = self.topo_order()?;
        for (i, id) in order.iter().enumerate() {
            self.dag[*id].seq = i as u64;
        }
        self.next_seq = order.len() as u64;
        for id in order {
            for g in self.dag[id].subgraphs_mut() {
                g.renumber()?;
            }
        }
        Ok(())
    }

    /// Finds the value with `name` among all node outputs (linear; for tests and tools).
    pub fn find_value(&self, name: &str) -> Option<ValueRef> {
        let mut found: Option<(u64, ValueRef)> = None;
        for id in self.dag.node_indices() {
            let node = &self.dag[id];
            for (slot, v) in node.outputs.iter().enumerate() {
                if v.name == name && found.is_none_or(|(s, _)| node.seq < s) {
                    found = Some((node.seq, ValueRef::new(id, slot)));
                }
            }
        }
        found.map(|f| f.1)
    }

    /// A structural comparison independent of node indices: same nodes in the same
    /// deterministic order with the same connections, inputs, outputs and metadata.
    pub fn same_as(&self, other: &Graph) -> bool {
        if self.name != other.name
            || self.doc != other.doc
            || self.meta != other.meta
            || self.extra != other.extra
            || self.dag.node_count() != other.dag.node_count()
        {
            return false;
        }
        let (Ok(a), Ok(b)) = (self.topo_order(), other.topo_order()) else {
            return false;
        };
        let pos_a: HashMap<NodeId, usize> = a.iter().enumerate().map(|(i, &id)| (id, i)).collect();
        let pos_b: HashMap<NodeId, usize> = b.iter().enumerate().map(|(i, &id)| (id, i)).collect();
        let edges = |g: &Graph, pos: &HashMap<NodeId, usize>, id: NodeId| {
            let mut e: Vec<(usize, usize, usize)> = g
                .dag
                .edges_directed(id, Direction::Incoming)
                .map(|e| {
                    (
                        e.weight().dst_slot(),
                        pos[&e.source()],
                        e.weight().src_slot(),
                    )
                })
                .collect();
            e.sort();
            e
        };
        for (&ia, &ib) in a.iter().zip(&b) {
            let (na, nb) = (&self.dag[ia], &other.dag[ib]);
            let same_node = na.op == nb.op
                && na.name == nb.name
                && na.attrs == nb.attrs
                && na.layout == nb.layout
                && na.num_inputs == nb.num_inputs
                && na.outputs == nb.outputs
                && na.doc == nb.doc
                && na.meta == nb.meta
                && na.extra == nb.extra;
            if !same_node || edges(self, &pos_a, ia) != edges(other, &pos_b, ib) {
                return false;
            }
        }
        let map_inputs = |g: &[NodeId], pos: &HashMap<NodeId, usize>| -> Vec<usize> {
            g.iter().map(|id| pos[id]).collect()
        };
        let map_outputs = |g: &[ValueRef], pos: &HashMap<NodeId, usize>| -> Vec<(usize, usize)> {
            g.iter().map(|v| (pos[&v.node], v.slot)).collect()
        };
        map_inputs(&self.inputs, &pos_a) == map_inputs(&other.inputs, &pos_b)
            && map_outputs(&self.outputs, &pos_a) == map_outputs(&other.outputs, &pos_b)
    }
}

impl PartialEq for Graph {
    fn eq(&self, other: &Graph) -> bool {
        self.same_as(other)
    }
}

/// `Conv "conv1"` or the first output's name: how messages refer to a node.
pub fn node_label(node: &Node) -> String {
    let what = node.op.display_name();
    if !node.name.is_empty() {
        format!("{what} \"{}\"", node.name)
    } else if let Some(v) = node.outputs.iter().find(|v| !v.is_absent()) {
        format!("{what} -> {}", v.name)
    } else {
        what
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{DType, OnnxOp, ValueType};

    fn relu_chain() -> (Graph, NodeId, NodeId) {
        let mut g = Graph::new("main");
        let x = g.add_input(Value::typed(
            "x",
            ValueType::tensor(DType::F32, &[4]).into(),
        ));
        let r1 = g.add_node(Node::new(
            Op::Onnx(OnnxOp::Relu),
            1,
            vec![Value::named("a")],
        ));
        let r2 = g.add_node(Node::new(
            Op::Onnx(OnnxOp::Relu),
            1,
            vec![Value::named("b")],
        ));
        g.connect(ValueRef::new(x, 0), r1, 0);
        g.connect(ValueRef::new(r1, 0), r2, 0);
        g.push_output(ValueRef::new(r2, 0));
        (g, r1, r2)
    }

    #[test]
    fn topo_order_is_deterministic_and_ignores_index_reuse() {
        let (mut g, r1, r2) = relu_chain();
        let order: Vec<String> = g
            .topo_order()
            .unwrap()
            .iter()
            .map(|&id| g.node(id).outputs[0].name.clone())
            .collect();
        assert_eq!(order, ["x", "a", "b"]);
        // Remove r1, then add a node that may reuse its index: it must still sort last.
        g.replace_uses(ValueRef::new(r1, 0), ValueRef::new(g.inputs()[0], 0));
        g.remove_node(r1);
        let r3 = g.add_node(Node::new(
            Op::Onnx(OnnxOp::Relu),
            1,
            vec![Value::named("c")],
        ));
        g.connect(ValueRef::new(r2, 0), r3, 0);
        let order: Vec<String> = g
            .topo_order()
            .unwrap()
            .iter()
            .map(|&id| g.node(id).outputs[0].name.clone())
            .collect();
        assert_eq!(order, ["x", "b", "c"]);
    }

    #[test]
    fn cycles_are_reported() {
        let (mut g, r1, r2) = relu_chain();
        g.connect(ValueRef::new(r2, 0), r1, 0);
        let err = g.topo_order().unwrap_err();
        assert_eq!(
            err.to_string(),
            "graph `main` has a cycle through node `Relu -> a`"
        );
    }

    #[test]
    fn connect_inputs_replaces_like_connect() {
        let (mut g, r1, r2) = relu_chain();
        let x = ValueRef::new(g.inputs()[0], 0);
        let sum = g.add_node(Node::new(Op::Onnx(OnnxOp::Sum), 3, vec![Value::named("s")]));
        g.connect(x, sum, 0);
        g.connect(x, sum, 2);
        // Slot 0 is replaced, slot 1 is new, slot 2 is kept; the last of two wins.
        g.connect_inputs(
            sum,
            [(0, ValueRef::new(r1, 0)), (1, x), (1, ValueRef::new(r2, 0))],
        );
        assert_eq!(
            g.inputs_of(sum),
            [
                Some(ValueRef::new(r1, 0)),
                Some(ValueRef::new(r2, 0)),
                Some(x)
            ]
        );
        assert_eq!(g.dag().edges_directed(sum, Direction::Incoming).count(), 3);
    }

    #[test]
    fn structural_equality_ignores_indices() {
        let (a, _, _) = relu_chain();
        let (mut b, r1, _) = relu_chain();
        assert!(a == b);
        b.node_mut(r1).name = "renamed".into();
        assert!(a != b);
    }
}

/// The sizes of the per-node and per-value records, pinned: a node-heavy file (200,000
/// Relu nodes in 7 MB) holds one `Node`, one `Value` and one edge per node, so every byte
/// added here costs 200 KB there, and `convert`/`inspect` of such files must stay under 20×
/// the file size (issue 18). Rare large contents (a constant's tensor, a custom op's names,
/// a type) are boxed so they do not widen every node; grow a record only with a reason.
#[cfg(all(test, target_pointer_width = "64"))]
mod sizes {
    use super::*;
    use std::mem::size_of;

    #[test]
    fn per_node_records_stay_compact() {
        // (record, its size, the most it may take). `Op` was 72 bytes while `Op::Const` held
        // its tensor inline (and `Custom` two strings): each node 56 bytes wider, 11 MB of the
        // 200,000-node chain. `TypeInfo` (one per typed value) was 72 while `Opaque` held two
        // `String`s and the denotation was a `String`. `Edge` held two `usize` slots (16
        // bytes, a 40-byte petgraph edge slot).
        let sizes = [
            ("Node", size_of::<Node>(), 136),
            ("Op", size_of::<Op>(), 16),
            ("Value", size_of::<Value>(), 64),
            ("Edge", size_of::<Edge>(), 8),
            ("TypeInfo", size_of::<TypeInfo>(), 48),
            ("Dim", size_of::<crate::Dim>(), 24),
            (
                "petgraph node slot",
                size_of::<petgraph::graph::Node<Option<Node>, u32>>(),
                144,
            ),
            (
                "petgraph edge slot",
                size_of::<petgraph::graph::Edge<Option<Edge>, u32>>(),
                28,
            ),
        ];
        for (what, size, most) in sizes {
            assert!(size <= most, "{what} is {size} bytes, more than {most}");
        }
    }
}
