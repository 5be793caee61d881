//! The one way to add nodes to a graph: a [`Builder`] over a graph hands out fresh value
//! names, builds nodes with typed attributes, optional inputs and several outputs, adds
//! constants, and ends a rewrite by letting a new value take over an old one.
//!
//! Naming is one scheme everywhere: a value is named `base` when that is free, else `base_1`,
//! `base_2`, ...; the node gets its (single) output's name, or the base for a node with
//! several outputs, whose outputs are `base.0`, `base.1`, ... made fresh the same way. Node
//! names are a namespace of their own, made fresh in the same scheme (onnxruntime refuses two
//! nodes of one name: two Splits of one base are `Split` and `Split_1`). Names
//! come from a hash set built from the graph once, on first need, so adding `n` nodes costs
//! O(n), not O(n × graph size). Importers that add nodes over many calls keep their
//! [`Names`] beside the graph and build with [`Builder::with_names`].
//!
//! ```
//! use modelc_ir::{build::Builder, DType, Graph, OnnxOp, Value, ValueType, ValueRef};
//! let mut g = Graph::new("main");
//! let x = ValueRef::new(g.add_input(Value::typed("x", ValueType::tensor(DType::F32, &[4]).into())), 0);
//! let mut b = Builder::new(&mut g);
//! let k = b.const_f32("k", 2.0);
//! let y = b.op(OnnxOp::Mul, &[x, k]).out("x").value();
//! let z = b.op(OnnxOp::Softmax, &[y]).int("axis", -1).value();
//! assert_eq!(g.value(y).unwrap().name, "x_1");
//! assert_eq!(g.value(z).unwrap().name, "Softmax");
//! ```

use std::collections::{HashMap, HashSet};

use crate::{
    Attr, Attrs, DType, Graph, Layout, Node, NodeId, OnnxOp, Op, Tensor, TypeInfo, Value, ValueRef,
    ValueType,
};

impl From<OnnxOp> for Op {
    fn from(op: OnnxOp) -> Op {
        Op::Onnx(op)
    }
}

impl<'a> FromIterator<(&'a str, Attr)> for Attrs {
    fn from_iter<I: IntoIterator<Item = (&'a str, Attr)>>(iter: I) -> Attrs {
        let mut attrs = Attrs::default();
        for (name, value) in iter {
            attrs.set(name, value);
        }
        attrs
    }
}

/// The value names and node names in use in one graph (not its sub-graphs: those are scopes
/// of their own that may read outer names, never define them), learned from the graph on
/// first need. They are two namespaces (ONNX's), each unique: onnxruntime refuses a model
/// with two nodes of the same name.
#[derive(Debug, Clone, Default)]
pub struct Names {
    used: HashSet<String>,
    /// Per base, the next suffix to try: repeated bases cost O(1) each.
    next: HashMap<String, u64>,
    nodes: HashSet<String>,
    next_node: HashMap<String, u64>,
    scanned: bool,
}

impl Names {
    /// The names of `g`'s values, read now.
    pub fn of(g: &Graph) -> Names {
        let mut names = Names::default();
        names.learn(g);
        names
    }

    fn learn(&mut self, g: &Graph) {
        if self.scanned {
            return;
        }
        self.scanned = true;
        for id in g.node_ids() {
            let node = g.node(id);
            if !node.name.is_empty() {
                self.nodes.insert(node.name.clone());
            }
            for v in &node.outputs {
                if !v.is_absent() {
                    self.used.insert(v.name.clone());
                }
            }
        }
    }

    /// `base` when unused, else `base_1`, `base_2`, ...; the name is then used. An empty base
    /// stands for `v`.
    pub fn fresh(&mut self, base: &str) -> String {
        let base = if base.is_empty() { "v" } else { base };
        fresh_in(&mut self.used, &mut self.next, base)
    }

    /// A node name not yet used, from `base` in the same scheme; an empty base stays empty
    /// (an unnamed node).
    pub fn fresh_node(&mut self, base: &str) -> String {
        if base.is_empty() {
            return String::new();
        }
        fresh_in(&mut self.nodes, &mut self.next_node, base)
    }

    /// Marks `name` used; false when it already was.
    pub fn reserve(&mut self, name: &str) -> bool {
        self.used.insert(name.to_string())
    }
}

/// `base` when `used` lacks it, else `base_1`, `base_2`, ... (from the base's counter); the
/// name is then used.
fn fresh_in(used: &mut HashSet<String>, next: &mut HashMap<String, u64>, base: &str) -> String {
    if used.insert(base.to_string()) {
        return base.to_string();
    }
    let next = next.entry(base.to_string()).or_insert(1);
    loop {
        let name = format!("{base}_{next}");
        *next += 1;
        if used.insert(name.clone()) {
            return name;
        }
    }
}

/// Where a builder keeps its names: its own, or the caller's (kept across builders).
#[derive(Debug)]
enum NamesSlot<'g> {
    Own(Names),
    Borrowed(&'g mut Names),
}

/// Adds nodes, constants and names to one graph (see the module docs).
///
/// It dereferences to the graph, so a rewrite reads and edits the graph through it too.
#[derive(Debug)]
pub struct Builder<'g> {
    g: &'g mut Graph,
    names: NamesSlot<'g>,
}

impl std::ops::Deref for Builder<'_> {
    type Target = Graph;
    fn deref(&self) -> &Graph {
        self.g
    }
}

impl std::ops::DerefMut for Builder<'_> {
    fn deref_mut(&mut self) -> &mut Graph {
        self.g
    }
}

impl<'g> Builder<'g> {
    /// A builder with names of its own (read from `g` when first needed).
    pub fn new(g: &'g mut Graph) -> Builder<'g> {
        Builder {
            g,
            names: NamesSlot::Own(Names::default()),
        }
    }

    /// A builder using `names`, which the caller keeps for later builders over the same
    /// graph: they must then hold every name given to the graph's values since.
    pub fn with_names(g: &'g mut Graph, names: &'g mut Names) -> Builder<'g> {
        Builder {
            g,
            names: NamesSlot::Borrowed(names),
        }
    }

    fn names(&mut self) -> &mut Names {
        let names = match &mut self.names {
            NamesSlot::Own(n) => n,
            NamesSlot::Borrowed(n) => n,
        };
        names.learn(self.g);
        names
    }

    /// A value name not used in the graph, from `base` (`base`, `base_1`, `base_2`, ...).
    pub fn fresh(&mut self, base: &str) -> String {
        self.names().fresh(base)
    }

    /// Marks `name` used (a name given to a value outside the builder); false when it was.
    pub fn reserve(&mut self, name: &str) -> bool {
        self.names().reserve(name)
    }

    /// Whether a value is named `name`.
    pub fn is_used(&mut self, name: &str) -> bool {
        self.names().used.contains(name)
    }

    /// Renames value `v` to a fresh name from `base`.
    pub fn rename(&mut self, v: ValueRef, base: &str) {
        let name = self.fresh(base);
        if let Some(val) = self.g.value_mut(v) {
            // The renamed value still computes the source value it did.
            if val.origin.is_none() {
                val.origin = Some(std::mem::take(&mut val.name).into_boxed_str());
            }
            val.name = name;
        }
    }

    /// Starts a node of `op` reading `inputs` in its first slots (more with
    /// [`NodeBuilder::input`] / [`NodeBuilder::optional`]).
    pub fn op(&mut self, op: impl Into<Op>, inputs: &[ValueRef]) -> NodeBuilder<'_, 'g> {
        let mut n = NodeBuilder::new(self, op.into());
        n.inputs = inputs.iter().copied().map(Some).collect();
        n
    }

    /// Starts a node whose input slots may be omitted (`None`).
    pub fn op_opt(
        &mut self,
        op: impl Into<Op>,
        inputs: &[Option<ValueRef>],
    ) -> NodeBuilder<'_, 'g> {
        let mut n = NodeBuilder::new(self, op.into());
        n.inputs = inputs.to_vec();
        n
    }

    /// A constant named after `base` (made fresh).
    pub fn constant(&mut self, base: &str, t: Tensor) -> ValueRef {
        let name = self.fresh(base);
        ValueRef::new(self.g.add_const(name, t), 0)
    }

    /// A float32 scalar constant.
    pub fn const_f32(&mut self, base: &str, v: f32) -> ValueRef {
        self.const_f32s(base, &[], &[v])
    }

    /// A float32 constant of shape `dims`.
    pub fn const_f32s(&mut self, base: &str, dims: &[u64], values: &[f32]) -> ValueRef {
        let t = Tensor::from_f32(dims.to_vec(), values).expect("values fill the shape");
        self.constant(base, t)
    }

    /// An int64 scalar constant.
    pub fn const_i64(&mut self, base: &str, v: i64) -> ValueRef {
        self.const_i64s_shaped(base, &[], &[v])
    }

    /// A 1-D int64 constant (axes, shapes, pads).
    pub fn const_i64s(&mut self, base: &str, values: &[i64]) -> ValueRef {
        self.const_i64s_shaped(base, &[values.len() as u64], values)
    }

    /// An int64 constant of shape `dims`.
    pub fn const_i64s_shaped(&mut self, base: &str, dims: &[u64], values: &[i64]) -> ValueRef {
        let t = Tensor::from_i64(dims.to_vec(), values).expect("values fill the shape");
        self.constant(base, t)
    }

    /// A scalar constant of `dtype` holding `v` (rounded or truncated to the type).
    pub fn scalar(&mut self, base: &str, dtype: DType, v: f64) -> ValueRef {
        self.constant(base, scalar_tensor(dtype, v))
    }

    /// Ends a rewrite: `new` takes over the name, type, doc and readers of `old`, including
    /// its place among the graph outputs. `old` is left unread.
    pub fn take_over(&mut self, old: ValueRef, new: ValueRef) {
        take_over(self.g, old, new);
    }

    /// Replaces node `old` by `new`: `new` takes over `old`'s first result, then `old` and the
    /// constants only it read are removed.
    pub fn replace_node(&mut self, old: NodeId, new: ValueRef) {
        take_over(self.g, ValueRef::new(old, 0), new);
        remove_with_dead_consts(self.g, &[old]);
    }
}

/// A scalar tensor of `dtype` holding `v`: floats rounded, integers truncated, bool `v ≠ 0`.
pub fn scalar_tensor(dtype: DType, v: f64) -> Tensor {
    let bytes: Vec<u8> = match dtype {
        DType::F64 => v.to_le_bytes().to_vec(),
        DType::I64 => (v as i64).to_le_bytes().to_vec(),
        DType::I32 => (v as i32).to_le_bytes().to_vec(),
        DType::I16 => (v as i16).to_le_bytes().to_vec(),
        DType::I8 => vec![v as i8 as u8],
        DType::U8 => vec![v as u8],
        DType::Bool => vec![(v != 0.0) as u8],
        DType::F16 => half::f16::from_f64(v).to_le_bytes().to_vec(),
        DType::BF16 => half::bf16::from_f64(v).to_le_bytes().to_vec(),
        _ => (v as f32).to_le_bytes().to_vec(),
    };
    let dtype = match dtype {
        DType::F64
        | DType::I64
        | DType::I32
        | DType::I16
        | DType::I8
        | DType::U8
        | DType::Bool
        | DType::F16
        | DType::BF16 => dtype,
        _ => DType::F32,
    };
    Tensor::from_raw(dtype, vec![], bytes.into()).expect("one element")
}

/// `new` takes over the name, type, doc and readers of `old` (see [`Builder::take_over`]).
pub fn take_over(g: &mut Graph, old: ValueRef, new: ValueRef) {
    let Some(was) = g.value(old).cloned() else {
        return;
    };
    if let Some(v) = g.value_mut(new) {
        v.name = was.name;
        if was.ty.is_some() {
            v.ty = was.ty;
        }
        v.doc = was.doc;
        v.meta = was.meta;
        v.origin = was.origin;
    }
    g.replace_uses(old, new);
}

/// Removes `nodes`, then every constant they read that nothing reads any more.
pub fn remove_with_dead_consts(g: &mut Graph, nodes: &[NodeId]) {
    let mut consts = Vec::new();
    for &id in nodes {
        if g.try_node(id).is_none() {
            continue;
        }
        for v in g.inputs_of(id).into_iter().flatten() {
            if matches!(g.node(v.node).op, Op::Const(_)) && !consts.contains(&v.node) {
                consts.push(v.node);
            }
        }
        g.remove_node(id);
    }
    for c in consts {
        let v = ValueRef::new(c, 0);
        let unread = g.try_node(c).is_some() && g.users(v).is_empty() && !g.outputs().contains(&v);
        if unread {
            g.remove_node(c);
        }
    }
}

/// How the outputs of a node under construction are named.
#[derive(Debug)]
enum Outputs {
    /// `n` outputs named fresh from the base (default: the node name, else the op's): the
    /// base itself for one output, `base.0`, `base.1`, ... for several.
    Fresh { base: Option<String>, n: usize },
    /// One output per base, each made fresh; an empty base is an absent output.
    Named(Vec<String>),
    /// One output that takes over an existing value (named by [`take_over`]).
    TakeOver(ValueRef),
}

/// A node under construction; [`NodeBuilder::add`] or [`NodeBuilder::value`] adds it.
#[must_use = "a node is added by .add(), .value() or .values()"]
pub struct NodeBuilder<'b, 'g> {
    b: &'b mut Builder<'g>,
    op: Op,
    name: Option<String>,
    inputs: Vec<Option<ValueRef>>,
    attrs: Attrs,
    layout: Option<Option<Layout>>,
    outputs: Outputs,
    types: Vec<Option<TypeInfo>>,
    stands_for: Option<ValueRef>,
}

impl<'b, 'g> NodeBuilder<'b, 'g> {
    fn new(b: &'b mut Builder<'g>, op: Op) -> NodeBuilder<'b, 'g> {
        NodeBuilder {
            b,
            op,
            name: None,
            inputs: Vec::new(),
            attrs: Attrs::default(),
            layout: None,
            outputs: Outputs::Fresh { base: None, n: 1 },
            types: Vec::new(),
            stands_for: None,
        }
    }

    /// Appends an input slot fed by `v`.
    pub fn input(mut self, v: ValueRef) -> Self {
        self.inputs.push(Some(v));
        self
    }

    /// Appends an input slot, omitted when `v` is `None`.
    pub fn optional(mut self, v: Option<ValueRef>) -> Self {
        self.inputs.push(v);
        self
    }

    /// The node's name (default: its single output's name, or the base of several).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// The base its outputs are named from (made fresh).
    pub fn out(mut self, base: impl Into<String>) -> Self {
        let n = match self.outputs {
            Outputs::Fresh { n, .. } => n,
            _ => 1,
        };
        self.outputs = Outputs::Fresh {
            base: Some(base.into()),
            n,
        };
        self
    }

    /// `n` outputs, `base.0`, `base.1`, ... (one: `base`).
    pub fn outs(mut self, n: usize) -> Self {
        let base = match &mut self.outputs {
            Outputs::Fresh { base, .. } => base.take(),
            _ => None,
        };
        self.outputs = Outputs::Fresh { base, n };
        self
    }

    /// One output per base, each made fresh; an empty base is an absent optional output.
    pub fn out_names<S: AsRef<str>>(mut self, bases: &[S]) -> Self {
        self.outputs = Outputs::Named(bases.iter().map(|s| s.as_ref().to_string()).collect());
        self
    }

    /// Provenance: the (first) output computes the same source value as `v` under another
    /// name (a quantized or dequantized copy of `v`, a copy in another layout), so
    /// `verify --layers` compares it with the source's `v`.
    pub fn stands_for(mut self, v: ValueRef) -> Self {
        self.stands_for = Some(v);
        self
    }

    /// The declared type of output `slot` (`None`: left to inference).
    pub fn typed(mut self, slot: usize, ty: impl Into<Option<TypeInfo>>) -> Self {
        if self.types.len() <= slot {
            self.types.resize(slot + 1, None);
        }
        self.types[slot] = ty.into();
        self
    }

    /// The data layout of a layout-sensitive op (default: NCHW for those, none for others).
    pub fn layout(mut self, layout: Option<Layout>) -> Self {
        self.layout = Some(layout);
        self
    }

    pub fn attr(mut self, name: &str, value: Attr) -> Self {
        self.attrs.set(name, value);
        self
    }

    /// All attributes at once, replacing those set so far.
    pub fn attrs(mut self, attrs: Attrs) -> Self {
        self.attrs = attrs;
        self
    }

    pub fn int(self, name: &str, v: i64) -> Self {
        self.attr(name, Attr::Int(v))
    }

    pub fn ints(self, name: &str, v: impl Into<Vec<i64>>) -> Self {
        self.attr(name, Attr::Ints(v.into()))
    }

    pub fn float(self, name: &str, v: f32) -> Self {
        self.attr(name, Attr::Float(v))
    }

    pub fn floats(self, name: &str, v: impl Into<Vec<f32>>) -> Self {
        self.attr(name, Attr::Floats(v.into()))
    }

    pub fn string(self, name: &str, v: &str) -> Self {
        self.attr(name, Attr::String(v.to_string().into()))
    }

    /// The `axes` of a Squeeze, Unsqueeze or reduction: when `as_input` (the op's opset takes
    /// them so), a 1-D int64 constant named `<output base>_axes` in the next input slot, else
    /// the `axes` attribute. Call after [`NodeBuilder::out`].
    pub fn axes(self, axes: &[i64], as_input: bool) -> Self {
        if !as_input {
            return self.ints("axes", axes.to_vec());
        }
        let base = match &self.outputs {
            Outputs::Fresh { base: Some(b), .. } => b.clone(),
            _ => self
                .name
                .clone()
                .filter(|n| !n.is_empty())
                .unwrap_or_else(|| self.op.display_name()),
        };
        let c = self.b.const_i64s(&format!("{base}_axes"), axes);
        self.input(c)
    }

    /// Adds the node; returns its id.
    pub fn add(self) -> NodeId {
        let NodeBuilder {
            b,
            op,
            name,
            inputs,
            attrs,
            layout,
            outputs,
            types,
            stands_for,
        } = self;
        let base = || {
            name.clone()
                .filter(|n| !n.is_empty())
                .unwrap_or_else(|| op.display_name())
        };
        let (values, node_name, take): (Vec<Value>, String, Option<ValueRef>) = match outputs {
            Outputs::Fresh { base: out, n: 1 } => {
                let v = b.fresh(&out.unwrap_or_else(base));
                let n = name.clone().unwrap_or_else(|| v.clone());
                (vec![Value::named(v)], n, None)
            }
            Outputs::Fresh { base: out, n } => {
                let base = out.unwrap_or_else(base);
                let values = (0..n)
                    .map(|i| Value::named(b.fresh(&format!("{base}.{i}"))))
                    .collect();
                (values, name.clone().unwrap_or(base), None)
            }
            Outputs::Named(bases) => {
                let values: Vec<Value> = bases
                    .iter()
                    .map(|s| {
                        if s.is_empty() {
                            Value::default()
                        } else {
                            Value::named(b.fresh(s))
                        }
                    })
                    .collect();
                let n = name.clone().unwrap_or_else(|| match values.as_slice() {
                    [one] => one.name.clone(),
                    _ => base(),
                });
                (values, n, None)
            }
            Outputs::TakeOver(old) => (
                vec![Value::default()],
                name.clone().unwrap_or_default(),
                Some(old),
            ),
        };
        let mut values = values;
        for (v, ty) in values.iter_mut().zip(types) {
            if let Some(t) = ty {
                v.ty = Some(std::sync::Arc::new(t));
            }
        }
        if let (Some(src), Some(first)) = (stands_for, values.first_mut()) {
            first.origin = b.g.value(src).map(|s| s.source().into());
        }
        let node_name = b.names().fresh_node(&node_name);
        let mut node = Node::new(op, inputs.len(), values)
            .with_name(node_name)
            .with_attrs(attrs);
        if let Some(layout) = layout {
            node.layout = layout;
        }
        let id = b.g.add_node(node);
        b.g.connect_inputs(
            id,
            inputs
                .iter()
                .enumerate()
                .filter_map(|(i, v)| v.map(|v| (i, v))),
        );
        if let Some(old) = take {
            take_over(b.g, old, ValueRef::new(id, 0));
        }
        id
    }

    /// Adds the node; returns its first output.
    pub fn value(self) -> ValueRef {
        ValueRef::new(self.add(), 0)
    }

    /// Adds the node; returns all its outputs.
    pub fn values(self) -> Vec<ValueRef> {
        let n = match &self.outputs {
            Outputs::TakeOver(_) => 1,
            Outputs::Fresh { n, .. } => *n,
            Outputs::Named(v) => v.len(),
        };
        let id = self.add();
        (0..n).map(|s| ValueRef::new(id, s)).collect()
    }

    /// Adds the node with one output that takes over `old` (its name, type, doc and readers,
    /// see [`take_over`]); returns that output. The caller removes what computed `old`.
    pub fn take_over(mut self, old: ValueRef) -> ValueRef {
        self.outputs = Outputs::TakeOver(old);
        self.value()
    }
}

/// The type of a tensor of `dtype` and known `dims`.
pub fn tensor_type(dtype: DType, dims: &[u64]) -> TypeInfo {
    TypeInfo::from(ValueType::tensor(dtype, dims))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph_with(names: &[&str]) -> Graph {
        let mut g = Graph::new("main");
        for n in names {
            g.add_input(Value::named(*n));
        }
        g
    }

    #[test]
    fn fresh_names_follow_one_scheme() {
        let mut g = graph_with(&["x", "x_1"]);
        let mut b = Builder::new(&mut g);
        assert_eq!(b.fresh("y"), "y");
        assert_eq!(b.fresh("y"), "y_1");
        assert_eq!(b.fresh("x"), "x_2");
        assert_eq!(b.fresh("x"), "x_3");
        assert_eq!(b.fresh(""), "v");
    }

    #[test]
    fn node_names_are_unique() {
        // Two multi-output nodes of one base, and a value named like an existing node: every
        // node name differs (onnxruntime refuses a model with two nodes of one name).
        let mut g = graph_with(&["x"]);
        let x = ValueRef::new(g.inputs()[0], 0);
        let mut b = Builder::new(&mut g);
        let first = b.op(OnnxOp::Split, &[x]).outs(2).add();
        let second = b.op(OnnxOp::Split, &[x]).outs(2).add();
        let relu = b.op(OnnxOp::Relu, &[x]).name("Split").add();
        let names = [first, second, relu].map(|id| g.node(id).name.clone());
        assert_eq!(names, ["Split", "Split_1", "Split_2"]);
        let outs: Vec<_> = g
            .node(second)
            .outputs
            .iter()
            .map(|v| v.name.clone())
            .collect();
        assert_eq!(outs, ["Split.0_1", "Split.1_1"]);
    }

    #[test]
    fn names_kept_by_the_caller_span_builders() {
        let mut g = graph_with(&["a"]);
        let mut names = Names::default();
        let v = Builder::with_names(&mut g, &mut names)
            .op(OnnxOp::Relu, &[])
            .out("a")
            .value();
        let w = Builder::with_names(&mut g, &mut names)
            .op(OnnxOp::Relu, &[v])
            .out("a")
            .value();
        assert_eq!(g.value(v).unwrap().name, "a_1");
        assert_eq!(g.value(w).unwrap().name, "a_2");
        assert_eq!(g.node(w.node).name, "a_2");
    }

    #[test]
    fn nodes_get_attributes_optional_inputs_and_several_outputs() {
        let mut g = graph_with(&["x"]);
        let x = ValueRef::new(g.inputs()[0], 0);
        let mut b = Builder::new(&mut g);
        let parts = b
            .op(OnnxOp::Split, &[x])
            .optional(None)
            .int("axis", 1)
            .name("split")
            .outs(2)
            .values();
        let n = g.node(parts[0].node);
        assert_eq!(n.name, "split");
        assert_eq!(n.num_inputs, 2);
        assert_eq!(n.attrs.int("axis", 0), Ok(1));
        let names: Vec<&str> = n.outputs.iter().map(|v| v.name.as_str()).collect();
        assert_eq!(names, ["split.0", "split.1"]);
        assert_eq!(g.inputs_of(parts[0].node), [Some(x), None]);
    }

    #[test]
    fn axes_are_an_input_or_an_attribute() {
        let mut g = graph_with(&["x"]);
        let x = ValueRef::new(g.inputs()[0], 0);
        let mut b = Builder::new(&mut g);
        let new = b
            .op(OnnxOp::Squeeze, &[x])
            .out("s")
            .axes(&[1], true)
            .value();
        let old = b
            .op(OnnxOp::Squeeze, &[x])
            .out("s")
            .axes(&[1], false)
            .value();
        let axes = g.input(new.node, 1).unwrap();
        assert_eq!(g.value(axes).unwrap().name, "s_axes");
        assert_eq!(g.node(old.node).num_inputs, 1);
        assert_eq!(g.node(old.node).attrs.ints("axes", vec![]), Ok(vec![1]));
    }

    #[test]
    fn take_over_moves_name_type_and_readers() {
        let mut g = graph_with(&["x"]);
        let x = ValueRef::new(g.inputs()[0], 0);
        let mut b = Builder::new(&mut g);
        let old = b
            .op(OnnxOp::Relu, &[x])
            .out("y")
            .typed(0, tensor_type(DType::F32, &[2]))
            .value();
        let reader = b.op(OnnxOp::Neg, &[old]).value();
        b.push_output(old);
        let new = b.op(OnnxOp::Abs, &[x]).name("abs").take_over(old);
        b.remove_node(old.node);
        assert_eq!(g.value(new).unwrap().name, "y");
        assert!(g.value(new).unwrap().ty.is_some());
        assert_eq!(g.input(reader.node, 0), Some(new));
        assert_eq!(g.outputs(), [new]);
    }

    #[test]
    fn replace_node_removes_dead_constants() {
        let mut g = graph_with(&["x"]);
        let x = ValueRef::new(g.inputs()[0], 0);
        let mut b = Builder::new(&mut g);
        let k = b.const_i64s("k", &[1, 2]);
        let old = b.op(OnnxOp::Reshape, &[x, k]).value();
        b.push_output(old);
        let new = b.op(OnnxOp::Identity, &[x]).value();
        b.replace_node(old.node, new);
        assert_eq!(g.node_count(), 2);
        assert_eq!(g.outputs(), [new]);
        assert_eq!(g.value(new).unwrap().name, "Reshape");
    }
}
