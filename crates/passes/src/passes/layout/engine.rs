//! The propagation engine of the layout passes.
//!
//! Every value has a *state*: the permutation by which the tensor the rewritten graph
//! computes differs from the value of the original graph (absent = identity). Nodes are
//! visited once in topological order; a layout-sensitive node switches layout and asks for
//! its data in the target layout, a layout-agnostic node adapts its attributes and constants
//! to the permutation its inputs arrive in and passes it on ([`super::rules`]), and any other
//! node gets its inputs back in the original layout. Asking for a value in a state it is not
//! in inserts one Transpose (shared by all readers), or, for a constant, a transposed copy —
//! so transposes appear only where a region of one layout meets the other.

use std::collections::HashMap;

use modelc_ir::{
    Attr, Builder, Dim, Graph, Layout, Names, NodeId, OnnxOp, Op, Shape, Tensor, TensorType, Value,
    ValueRef, ValueType,
};

use super::facts::{self, Dims};
use super::perm;
use super::rules;

/// Which way a layout pass converts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    ToNhwc,
    ToNchw,
}

impl Direction {
    pub fn source(self) -> Layout {
        match self {
            Direction::ToNhwc => Layout::Nchw,
            Direction::ToNchw => Layout::Nhwc,
        }
    }

    pub fn target(self) -> Layout {
        match self {
            Direction::ToNhwc => Layout::Nhwc,
            Direction::ToNchw => Layout::Nchw,
        }
    }

    /// The state a rank-`r` data tensor of a converted node is in.
    pub fn data_perm(self, r: usize) -> Vec<usize> {
        match self {
            Direction::ToNhwc => perm::to_channels_last(r),
            Direction::ToNchw => perm::to_channels_first(r),
        }
    }

    fn reverse(self) -> Direction {
        match self {
            Direction::ToNhwc => Direction::ToNchw,
            Direction::ToNchw => Direction::ToNhwc,
        }
    }

    fn suffix(self) -> &'static str {
        match self {
            Direction::ToNhwc => "nhwc",
            Direction::ToNchw => "nchw",
        }
    }
}

/// The constant behind `v` (a `Const` node, a `Constant` op, or either through `Identity`
/// nodes, as torch exports shared weights) with its values as i64 when it is an integer
/// tensor of at most 64 elements (axes, pads, shapes).
pub fn const_of(g: &Graph, v: ValueRef) -> Option<(Tensor, Vec<i64>)> {
    let t = const_tensor(g, v, 0)?;
    let ints = small_ints(&t).unwrap_or_default();
    Some((t, ints))
}

fn const_tensor(g: &Graph, v: ValueRef, depth: usize) -> Option<Tensor> {
    let node = g.node(v.node);
    match &node.op {
        Op::Const(t) => Some((**t).clone()),
        Op::Onnx(OnnxOp::Constant) => match node.attrs.get("value") {
            Some(Attr::Tensor(t)) => Some(t.clone()),
            _ => None,
        },
        Op::Onnx(OnnxOp::Identity) if depth < 16 => const_tensor(g, g.input(v.node, 0)?, depth + 1),
        _ => None,
    }
}

fn small_ints(t: &Tensor) -> Option<Vec<i64>> {
    let raw = t.raw()?;
    if t.element_count()? > 64 {
        return None;
    }
    match t.dtype {
        modelc_ir::DType::I64 => Some(
            raw.chunks_exact(8)
                .map(|c| i64::from_le_bytes(c.try_into().expect("8 bytes")))
                .collect(),
        ),
        modelc_ir::DType::I32 => Some(
            raw.chunks_exact(4)
                .map(|c| i32::from_le_bytes(c.try_into().expect("4 bytes")) as i64)
                .collect(),
        ),
        _ => None,
    }
}

pub struct Engine<'g> {
    pub g: &'g mut Graph,
    pub dir: Direction,
    /// Version of the default ONNX domain (`i64::MAX`: newest).
    pub opset: i64,
    state: HashMap<ValueRef, Vec<usize>>,
    dims: HashMap<ValueRef, Dims>,
    /// Values already materialized in a state: (value, state) → the value holding it.
    views: HashMap<(ValueRef, Vec<usize>), ValueRef>,
    /// Nodes whose readers were moved away; removed at the end if nothing reads them.
    maybe_dead: Vec<NodeId>,
    names: Names,
    pub changed: bool,
    /// Names of the graph inputs and outputs the run left in the target layout.
    pub switched_io: Vec<String>,
}

impl<'g> Engine<'g> {
    pub fn new(g: &'g mut Graph, dir: Direction, opset: i64) -> Engine<'g> {
        let names = Names::of(g);
        Engine {
            g,
            dir,
            opset,
            state: HashMap::new(),
            dims: HashMap::new(),
            views: HashMap::new(),
            maybe_dead: Vec::new(),
            names,
            changed: false,
            switched_io: Vec::new(),
        }
    }

    /// Runs the conversion over the graph.
    pub fn run(&mut self, keep_io_layout: bool) -> Result<(), String> {
        let order = self.g.topo_order().map_err(|e| e.to_string())?;
        for &id in &order {
            if self.g.node(id).op.is_structural() {
                let v = ValueRef::new(id, 0);
                if let Some(d) = facts::declared(self.g, v).or_else(|| {
                    const_of(self.g, v).map(|c| c.0.dims.iter().map(|&d| Some(d)).collect())
                }) {
                    self.dims.insert(v, d);
                }
            }
        }
        if !keep_io_layout {
            self.convert_inputs();
        }
        for id in order {
            if self.g.node(id).op.is_structural() {
                continue;
            }
            let dims = {
                // A value in a state has a known rank even when its sizes are not known.
                let get = |v: ValueRef| {
                    self.dims_of(v)
                        .or_else(|| self.state.get(&v).map(|p| vec![None; p.len()]))
                };
                facts::infer(self.g, id, &get)
            };
            for (slot, d) in dims.into_iter().enumerate() {
                if let Some(d) = d {
                    self.dims.insert(ValueRef::new(id, slot), d);
                }
            }
            let pinned = self.g.node(id).subgraphs().next().is_some()
                || (0..self.g.node(id).outputs.len()).any(|s| self.captured(ValueRef::new(id, s)));
            let handled = !pinned && rules::apply(self, id);
            if !handled {
                self.fallback(id);
            }
        }
        self.finish_outputs(keep_io_layout);
        self.remove_dead();
        Ok(())
    }

    /// Known dims of every value as the rewritten graph computes it (original dims
    /// permuted by the value's state).
    pub fn physical_dims(&self) -> HashMap<ValueRef, Dims> {
        self.dims
            .iter()
            .map(|(v, d)| match self.state.get(v) {
                Some(p) if p.len() == d.len() => (*v, perm::permute_list(d, p)),
                _ => (*v, d.clone()),
            })
            .collect()
    }

    /// The dims of `v` in original coordinates, when its rank is known.
    pub fn dims_of(&self, v: ValueRef) -> Option<Dims> {
        self.dims
            .get(&v)
            .cloned()
            .or_else(|| const_of(self.g, v).map(|(t, _)| t.dims.iter().map(|&d| Some(d)).collect()))
    }

    pub fn rank_of(&self, v: ValueRef) -> Option<usize> {
        self.state
            .get(&v)
            .map(Vec::len)
            .or_else(|| self.dims.get(&v).map(Vec::len))
    }

    /// The state of `v` (`None`: as in the original graph).
    pub fn state(&self, v: ValueRef) -> Option<&Vec<usize>> {
        self.state.get(&v)
    }

    /// Records that the rewritten graph computes `v` transposed by `p`, and updates its
    /// declared type to match.
    pub fn set_state(&mut self, v: ValueRef, p: Vec<usize>) {
        if perm::is_identity(&p) {
            self.state.remove(&v);
            return;
        }
        if let Some(val) = self.g.value_mut(v) {
            permute_type(val, &p);
        }
        self.state.insert(v, p);
        self.changed = true;
    }

    fn captured(&self, v: ValueRef) -> bool {
        self.g
            .users(v)
            .iter()
            .any(|&(u, slot)| slot >= self.g.node(u).num_inputs)
    }

    /// The graph's builder (names shared by the whole run).
    pub fn build(&mut self) -> Builder<'_> {
        Builder::with_names(self.g, &mut self.names)
    }

    /// A value holding `v` in state `want` (a permutation of `v`'s rank): `v` itself when it
    /// is already in that state, else a transposed constant or a (shared) Transpose node.
    pub fn request(&mut self, v: ValueRef, want: &[usize]) -> ValueRef {
        let cur = self
            .state
            .get(&v)
            .cloned()
            .unwrap_or_else(|| perm::identity(want.len()));
        if cur == want {
            return v;
        }
        if let Some(&done) = self.views.get(&(v, want.to_vec())) {
            return done;
        }
        let t = perm::compose(&perm::inverse(&cur), want);
        let name = self.g.value(v).map(|x| x.name.clone()).unwrap_or_default();
        let new = match const_of(self.g, v).and_then(|(c, _)| perm::transpose_tensor(&c, &t)) {
            Some(tc) if cur.len() == tc.dims.len() => self.add_const(&name, tc),
            _ => {
                let mut val = Value {
                    ty: self.g.value(v).and_then(|x| x.ty.clone()),
                    ..Value::default()
                };
                permute_type(&mut val, &t);
                // Named after the layout it holds: a copy back to the original layout
                // carries the source layout's name.
                let suffix = if perm::is_identity(want) {
                    self.dir.reverse().suffix()
                } else {
                    self.dir.suffix()
                };
                self.build()
                    .op(OnnxOp::Transpose, &[v])
                    .name("")
                    .out(format!("{name}_{suffix}"))
                    .stands_for(v)
                    .typed(0, val.ty.map(std::sync::Arc::unwrap_or_clone))
                    .ints("perm", t.iter().map(|&x| x as i64).collect::<Vec<_>>())
                    .value()
            }
        };
        self.views.insert((v, want.to_vec()), new);
        self.changed = true;
        new
    }

    /// Adds a constant named after `base` in this pass's style.
    pub fn add_const(&mut self, base: &str, t: Tensor) -> ValueRef {
        let base = format!("{base}_{}", self.dir.suffix());
        self.build().constant(&base, t)
    }

    /// Feeds input `slot` of `id` from `v`, noting the old producer as possibly dead.
    pub fn rewire(&mut self, id: NodeId, slot: usize, v: ValueRef) {
        if let Some(old) = self.g.input(id, slot) {
            if old == v {
                return;
            }
            self.maybe_dead.push(old.node);
        }
        self.g.connect(v, id, slot);
        self.changed = true;
    }

    /// Gives node `id` all its inputs in the original layout; its outputs stay original.
    pub fn fallback(&mut self, id: NodeId) {
        let n = self.g.node(id).num_inputs;
        let mut slots: Vec<(usize, ValueRef)> = self
            .g
            .inputs_of(id)
            .into_iter()
            .enumerate()
            .filter_map(|(s, v)| v.map(|v| (s, v)))
            .collect();
        let caps = self.g.captures_of(id);
        slots.extend(caps.into_iter().enumerate().map(|(i, v)| (n + i, v)));
        for (slot, v) in slots {
            if let Some(p) = self.state.get(&v) {
                let r = p.len();
                let orig = self.request(v, &perm::identity(r));
                if slot >= n {
                    // A sub-graph reads the value by name: the original-layout copy takes it.
                    self.swap_names(v, orig);
                }
                self.rewire(id, slot, orig);
            }
        }
    }

    /// Exchanges the names of two values (the original-layout one keeps the source name).
    fn swap_names(&mut self, a: ValueRef, b: ValueRef) {
        let na = self.g.value(a).map(|v| v.name.clone()).unwrap_or_default();
        let nb = self.g.value(b).map(|v| v.name.clone()).unwrap_or_default();
        if let Some(v) = self.g.value_mut(a) {
            v.name = nb;
        }
        if let Some(v) = self.g.value_mut(b) {
            v.name = na;
        }
    }

    /// Switches image inputs (rank 3 to 5, read by a layout-sensitive op of the source
    /// layout through layout-agnostic ops) to the target layout.
    fn convert_inputs(&mut self) {
        let inputs: Vec<NodeId> = self.g.inputs().to_vec();
        for id in inputs {
            let v = ValueRef::new(id, 0);
            let Some(r) = facts::declared(self.g, v).map(|d| d.len()) else {
                continue;
            };
            if (3..=5).contains(&r) && !self.captured(v) && self.feeds_sensitive(v, 0) {
                let p = self.dir.data_perm(r);
                self.set_state(v, p);
                let name = self.g.node(id).outputs[0].name.clone();
                self.switched_io.push(name);
            }
        }
    }

    /// Whether `v` reaches the data input of a layout-sensitive op of the source layout, or a
    /// Transpose into the data permutation, through same-shape, broadcasting, Pad, Concat,
    /// Slice and rank-keeping Gather ops.
    pub fn feeds_sensitive(&self, v: ValueRef, depth: usize) -> bool {
        if depth > 8 {
            return false;
        }
        self.g.users(v).into_iter().any(|(u, slot)| {
            let node = self.g.node(u);
            let Some(op) = node.op.onnx() else {
                return false;
            };
            if op.is_layout_sensitive() {
                return slot == 0 && node.layout == Some(self.dir.source());
            }
            // A Transpose into the data permutation would take the value in that state
            // and become the identity.
            if op == OnnxOp::Transpose {
                let t = node.attrs.ints("perm", vec![]).unwrap_or_default();
                let r = t.len();
                let d = self.dir.data_perm(r);
                return (3..=5).contains(&r) && t.iter().zip(&d).all(|(&a, &b)| a == b as i64);
            }
            let passes = op.traits().same_shape
                || op.traits().broadcasting
                || op == OnnxOp::Pad
                || op == OnnxOp::Concat
                || (slot == 0 && op == OnnxOp::Slice)
                || (slot == 0 && op == OnnxOp::Gather && rules::gathers_along(self.g, u));
            passes && self.feeds_sensitive(ValueRef::new(u, 0), depth + 1)
        })
    }

    /// Graph outputs not in the original layout: image outputs in the data layout stay so
    /// (their declared types say so) unless `keep_io_layout`; the rest get a Transpose back,
    /// which takes over the output's name.
    fn finish_outputs(&mut self, keep_io_layout: bool) {
        let outputs: Vec<ValueRef> = self.g.outputs().to_vec();
        let mut new_outputs = outputs.clone();
        let mut done: HashMap<ValueRef, ValueRef> = HashMap::new();
        for (i, v) in outputs.into_iter().enumerate() {
            if let Some(&o) = done.get(&v) {
                new_outputs[i] = o;
                continue;
            }
            let Some(p) = self.state.get(&v).cloned() else {
                continue;
            };
            let r = p.len();
            if !keep_io_layout
                && (3..=5).contains(&r)
                && p == self.dir.data_perm(r)
                && self.holds_image(v)
            {
                if let Some(val) = self.g.value(v) {
                    if !self.switched_io.contains(&val.name) {
                        self.switched_io.push(val.name.clone());
                    }
                }
                continue;
            }
            let orig = self.request(v, &perm::identity(r));
            self.swap_names(v, orig);
            // The value inside holds the converted layout: name it so.
            let name = self
                .g
                .value(orig)
                .map(|x| x.name.clone())
                .unwrap_or_default();
            let inner = format!("{name}_{}", self.dir.suffix());
            self.build().rename(v, &inner);
            done.insert(v, orig);
            new_outputs[i] = orig;
        }
        self.g.set_outputs(new_outputs);
    }

    /// Whether `v` (in a state) is image data in the converted layout: following the inputs
    /// that hand it a state (through ops that keep the meaning of axes: elementwise ops,
    /// Pad, Concat, Reduce*, Squeeze/Unsqueeze, …) one reaches a node that switched layout
    /// or a switched graph input. A Reshape that regroups axes (`[N, H, W, C]` → `[N, H*W,
    /// C]`) can leave a state equal to the rank-3 data permutation by coincidence; its axes
    /// are no image's, so such an output goes back to its own layout.
    fn holds_image(&self, v: ValueRef) -> bool {
        let mut v = v;
        // Each step goes to an input, earlier in the (acyclic) graph: the walk ends.
        loop {
            let node = self.g.node(v.node);
            if node.op.is_structural() {
                return self.g.inputs().contains(&v.node);
            }
            match node.op.onnx() {
                Some(op) if op.is_layout_sensitive() => {
                    return node.layout == Some(self.dir.target())
                }
                Some(OnnxOp::Reshape | OnnxOp::Flatten) | None => return false,
                Some(_) => {}
            }
            match self
                .g
                .inputs_of(v.node)
                .into_iter()
                .flatten()
                .find(|u| self.state.contains_key(u))
            {
                Some(u) => v = u,
                None => return false,
            }
        }
    }

    /// Removes constants (and the Identity / Constant nodes torch puts before shared
    /// weights) whose readers this pass moved to transposed copies.
    fn remove_dead(&mut self) {
        let mut stack = std::mem::take(&mut self.maybe_dead);
        while let Some(id) = stack.pop() {
            let Some(node) = self.g.try_node(id) else {
                continue;
            };
            let removable = matches!(
                node.op,
                Op::Const(_) | Op::Onnx(OnnxOp::Identity) | Op::Onnx(OnnxOp::Constant)
            );
            let unread = (0..node.outputs.len()).all(|s| {
                let v = ValueRef::new(id, s);
                self.g.users(v).is_empty() && !self.g.outputs().contains(&v)
            });
            if removable && unread {
                stack.extend(self.g.inputs_of(id).into_iter().flatten().map(|v| v.node));
                self.g.remove_node(id);
            }
        }
    }
}

/// Permutes the declared shape of `val` by `p` (when its rank matches).
pub fn permute_type(val: &mut Value, p: &[usize]) {
    let Some(ti) = val.ty.as_mut() else { return };
    if let ValueType::Tensor(TensorType {
        shape: Some(Shape(dims)),
        ..
    }) = &mut std::sync::Arc::make_mut(ti).ty
    {
        if dims.len() == p.len() {
            let old: Vec<Dim> = dims.clone();
            *dims = perm::permute_list(&old, p);
        }
    }
}
