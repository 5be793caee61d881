//! The walk: every node of a graph in topological order, its rule applied to what is known
//! of its inputs, the results refined into the values' types. Sub-graphs (If, Loop, Scan)
//! are inferred with the types of the values they capture.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use petgraph::visit::{EdgeRef, IntoEdgeReferences, NodeIndexable};
use petgraph::Direction;

use crate::{
    node_label, Attr, Attrs, DType, Graph, NodeId, OnnxOp, Op, OpsetImport, Tensor, TypeInfo,
    ValueRef, ValueType,
};

use super::ctx::{InferCtx, InputInfo, Outputs};
use super::dims::{refine, SymInt};
use super::{control, rule};

/// The opset assumed for a domain the model does not import (the newest rules apply).
pub const NEWEST_OPSET: i64 = 1000;

/// Sub-graphs nest at most this deep (the readers bound nesting too).
const MAX_DEPTH: usize = 64;

/// What one inference run did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct InferReport {
    /// Values whose type this run set or made more precise.
    pub refined: usize,
    /// Node outputs (in all graphs) that have a tensor type with a known rank after the run.
    pub shaped: usize,
    /// Node outputs (in all graphs), absent optional outputs excluded.
    pub values: usize,
    /// Disagreements between declared and inferred types and inconsistencies found, one line
    /// each naming the node; declared types are kept.
    pub problems: Vec<String>,
    /// The problems where a node cannot compute on its inputs' types (a Squeeze of a dim
    /// that is not 1, updates of the wrong shape): an ONNX runtime refuses such a node.
    /// Each is also one of `problems`.
    pub errors: Vec<String>,
}

/// What a sub-graph sees of an enclosing value it reads.
#[derive(Debug, Clone, Default)]
pub(super) struct OuterInfo {
    pub ty: Option<ValueType>,
    pub sym: Option<Vec<SymInt>>,
}

pub(super) type OuterMap = HashMap<String, OuterInfo>;

/// Infers the type of every node output of `g` and of its sub-graphs, refining the declared
/// types (never making them less precise). `opsets` are the model's imports (empty: newest).
pub fn infer_graph(g: &mut Graph, opsets: &[OpsetImport]) -> InferReport {
    let mut report = InferReport::default();
    infer_in(g, opsets, &OuterMap::new(), 0, &mut report);
    report
}

/// What inference finds wrong in `g` and its sub-graphs as it stands, without changing it:
/// for a writer that must not write a graph a runtime would refuse.
pub fn check_graph(g: &Graph, opsets: &[OpsetImport]) -> InferReport {
    let mut report = InferReport::default();
    Walk::run(g, opsets, &OuterMap::new(), 0, &mut report, Keep::Live);
    report
}

/// The values of `g` that are not constants but whose integer contents inference knows
/// (a `Shape` of a fully known shape, a `Gather` of its known dims, ...), as constants.
pub fn known_int_values(g: &Graph, opsets: &[OpsetImport]) -> Vec<(ValueRef, Tensor)> {
    let mut report = InferReport::default();
    let walk = Walk::run(
        g,
        opsets,
        &OuterMap::new(),
        0,
        &mut report,
        Keep::AllNoSubgraphs,
    );
    let mut out = Vec::new();
    let mut ids: Vec<&ValueRef> = walk.syms.keys().collect();
    ids.sort();
    for &v in ids {
        let node = g.node(v.node);
        if node.op.is_structural() {
            continue;
        }
        let sym = &walk.syms[&v];
        let Some(vals) = sym.iter().map(SymInt::int).collect::<Option<Vec<i64>>>() else {
            continue;
        };
        let Some(ValueType::Tensor(t)) = walk.ty_of(v) else {
            continue;
        };
        let Some(dims) = t.shape.as_ref().and_then(|s| s.as_known()) else {
            continue;
        };
        if dims.len() > 1 || dims.iter().product::<u64>() != vals.len() as u64 {
            continue;
        }
        let tensor = match t.dtype {
            Some(DType::I64) => Tensor::from_i64(dims, &vals).ok(),
            Some(DType::I32) => {
                let bytes: Vec<u8> = vals
                    .iter()
                    .flat_map(|&x| (x as i32).to_le_bytes())
                    .collect();
                Tensor::from_raw(DType::I32, dims, bytes.into()).ok()
            }
            _ => None,
        };
        if let Some(t) = tensor {
            out.push((v, t));
        }
    }
    out
}

/// The types one node's outputs would get from the current types of its inputs (constants
/// read as values; shape values are not tracked across nodes here), without changing the
/// graph: for a pass that has just built a node. `None` for ops without a rule, nodes with
/// sub-graphs, or an inconsistency (the message).
pub fn infer_node(
    g: &Graph,
    id: NodeId,
    opsets: &[OpsetImport],
) -> Result<Option<Vec<Option<ValueType>>>, super::InferError> {
    let node = g.node(id);
    let Some(f) = node.op.onnx().and_then(rule) else {
        return Ok(None);
    };
    if node.subgraphs().next().is_some() {
        return Ok(None);
    }
    let w = Walk {
        g,
        opsets,
        types: HashMap::new(),
        syms: HashMap::new(),
        sub_updates: Vec::new(),
        depth: 0,
    };
    let mut out = Outputs::new(node.outputs.len());
    f(&w.ctx(id), &mut out)?;
    Ok(Some(out.types))
}

/// Infers `g` in place with what its enclosing graph's values look like; returns the types
/// of its outputs.
pub(super) fn infer_in(
    g: &mut Graph,
    opsets: &[OpsetImport],
    outer: &OuterMap,
    depth: usize,
    report: &mut InferReport,
) -> Vec<Option<ValueType>> {
    let walk = Walk::run(g, opsets, outer, depth, report, Keep::All);
    let outputs = g
        .outputs()
        .iter()
        .map(|&v| walk.ty_of(v).cloned())
        .collect();
    let Walk {
        types, sub_updates, ..
    } = walk;
    // Values of equal type share one `TypeInfo`: every value of an elementwise chain has its
    // input's type, and a box each held 96 bytes per value (200,000 values: 19 MB).
    let mut shared: HashSet<Arc<TypeInfo>> = HashSet::new();
    for (v, ty) in types {
        if let Some(value) = g.value_mut(v) {
            let denotation = value.ty.as_ref().map(|t| t.denotation.clone());
            let new = TypeInfo {
                ty: Arc::unwrap_or_clone(ty),
                denotation: denotation.unwrap_or_default(),
            };
            value.ty = Some(intern(&mut shared, value.ty.take(), new));
        }
    }
    for (id, attrs) in sub_updates {
        g.node_mut(id).attrs = attrs;
    }
    for id in g.node_ids() {
        for v in &g.node(id).outputs {
            if v.is_absent() {
                continue;
            }
            report.values += 1;
            if matches!(v.ty.as_deref(), Some(TypeInfo { ty: ValueType::Tensor(t), .. }) if t.shape.is_some())
            {
                report.shaped += 1;
            }
        }
    }
    outputs
}

/// The shared `TypeInfo` equal to `new` from `shared` (the value's current one, `was`, when
/// it is equal and none is shared yet), else `new` made shared.
fn intern(
    shared: &mut HashSet<Arc<TypeInfo>>,
    was: Option<Arc<TypeInfo>>,
    new: TypeInfo,
) -> Arc<TypeInfo> {
    if let Some(s) = shared.get(&new) {
        return s.clone();
    }
    let t = match was {
        Some(w) if *w == new => w,
        _ => Arc::new(new),
    };
    shared.insert(t.clone());
    t
}

/// How many edges out of each node have not yet been read by an inferred node
/// ([`Keep::Live`]); a node whose count reaches zero and that produces no graph output has
/// its inferred types dropped.
struct LiveReaders {
    unread: Vec<u32>,
    outputs: HashSet<NodeId>,
}

impl LiveReaders {
    fn new(g: &Graph) -> LiveReaders {
        let mut unread = vec![0u32; g.dag().node_bound()];
        for e in g.dag().edge_references() {
            unread[e.source().index()] += 1;
        }
        LiveReaders {
            unread,
            outputs: g.outputs().iter().map(|v| v.node).collect(),
        }
    }

    /// Node `id` has been inferred: its inputs and captures have one reader fewer.
    fn read_by(&mut self, w: &mut Walk<'_>, id: NodeId) {
        for e in w.g.dag().edges_directed(id, Direction::Incoming) {
            let src = e.source();
            let left = &mut self.unread[src.index()];
            *left = left.saturating_sub(1);
            if *left == 0 && !self.outputs.contains(&src) {
                w.forget(src);
            }
        }
    }
}

/// The tensor a value always holds: a constant's, or a `Constant` op's `value`.
fn const_tensor(g: &Graph, v: ValueRef) -> Option<&Tensor> {
    let node = g.node(v.node);
    match &node.op {
        Op::Const(t) => Some(t),
        Op::Onnx(OnnxOp::Constant) => match node.attrs.get("value") {
            Some(Attr::Tensor(t)) => Some(t),
            _ => None,
        },
        _ => None,
    }
}

/// Which inferred types a walk keeps, and whether it enters sub-graphs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Keep {
    /// Every type, sub-graphs inferred: the caller writes them into the graph.
    All,
    /// Every type of the main graph, sub-graphs not entered.
    AllNoSubgraphs,
    /// Only what later nodes still read: a value's type is dropped once its last reader has
    /// been inferred (graph outputs stay). A check of a node-heavy graph then holds a few
    /// types at a time instead of one per value (200,000 for a 200,000-node chain).
    Live,
}

/// One pass over a graph, keeping inferred types beside it.
pub(super) struct Walk<'g> {
    pub g: &'g Graph,
    pub opsets: &'g [OpsetImport],
    /// Types inferred here that differ from the graph's. Shared: a value whose type is one
    /// of its node's inputs' holds that input's (every value of an elementwise chain has its
    /// input's type; a copy each, 40 bytes in the map plus a dimension list, made inference
    /// of a 200,000-node chain the peak of its conversion).
    pub types: HashMap<ValueRef, Arc<ValueType>>,
    pub syms: HashMap<ValueRef, Vec<SymInt>>,
    /// Nodes whose sub-graphs were inferred: their new attributes.
    pub sub_updates: Vec<(NodeId, Attrs)>,
    pub depth: usize,
}

impl<'g> Walk<'g> {
    fn run(
        g: &'g Graph,
        opsets: &'g [OpsetImport],
        outer: &OuterMap,
        depth: usize,
        report: &mut InferReport,
        keep: Keep,
    ) -> Walk<'g> {
        let subgraphs = keep != Keep::AllNoSubgraphs;
        let mut w = Walk {
            g,
            opsets,
            types: HashMap::new(),
            syms: HashMap::new(),
            sub_updates: Vec::new(),
            depth,
        };
        let Ok(order) = g.topo_order() else {
            report
                .problems
                .push(format!("graph `{}` has a cycle; not inferred", g.name));
            return w;
        };
        let mut live = (keep == Keep::Live).then(|| LiveReaders::new(g));
        let mut previous = None;
        for id in order {
            if let (Some(live), Some(done)) = (live.as_mut(), previous.replace(id)) {
                live.read_by(&mut w, done);
            }
            let node = g.node(id);
            match &node.op {
                Op::Outer => {
                    if let Some(info) = node.outputs.first().and_then(|v| outer.get(&v.name)) {
                        let here = ValueRef::new(id, 0);
                        if let Some(ty) = &info.ty {
                            w.record(here, ty.clone(), report);
                        }
                        if let Some(s) = &info.sym {
                            w.syms.insert(here, s.clone());
                        }
                    }
                }
                Op::Input { default: Some(t) } => {
                    let ty = ValueType::tensor(t.dtype, &t.dims);
                    w.record(ValueRef::new(id, 0), ty, report);
                }
                Op::Onnx(op) => {
                    if node.subgraphs().next().is_some() {
                        if subgraphs && depth < MAX_DEPTH {
                            control::infer(&mut w, id, *op, outer, report);
                        }
                        continue;
                    }
                    let Some(f) = rule(*op) else { continue };
                    let cx = w.ctx(id);
                    let mut out = Outputs::new(node.outputs.len());
                    if let Err(e) = f(&cx, &mut out) {
                        let line = format!("{}: {e}", node_label(node));
                        report.problems.push(line.clone());
                        report.errors.push(line);
                        continue;
                    }
                    w.apply(id, out, report);
                }
                _ => {}
            }
        }
        w
    }

    /// Forgets what was inferred for the outputs of `id`.
    fn forget(&mut self, id: NodeId) {
        for slot in 0..self.g.node(id).outputs.len() {
            let v = ValueRef::new(id, slot);
            self.types.remove(&v);
            self.syms.remove(&v);
        }
    }

    /// The opset of `domain` ("" and "ai.onnx" are one).
    pub fn opset(&self, domain: &str) -> i64 {
        let norm = |d: &str| {
            if d == "ai.onnx" {
                String::new()
            } else {
                d.to_string()
            }
        };
        let want = norm(domain);
        self.opsets
            .iter()
            .find(|o| norm(&o.domain) == want)
            .map_or(NEWEST_OPSET, |o| o.version)
    }

    /// The current type of a value: inferred in this walk, else declared.
    pub fn ty_of(&self, v: ValueRef) -> Option<&ValueType> {
        self.types
            .get(&v)
            .map(|t| &**t)
            .or_else(|| self.g.value(v)?.ty.as_ref().map(|t| &t.ty))
    }

    /// The symbolic elements of a value (tracked, or read from a constant).
    pub fn sym_of(&self, v: ValueRef) -> Option<Vec<SymInt>> {
        if let Some(t) = const_tensor(self.g, v) {
            return super::dims::tensor_ints(t)
                .filter(|x| x.len() <= 64)
                .map(|x| x.into_iter().map(SymInt::Int).collect());
        }
        self.syms.get(&v).cloned()
    }

    /// The inference context of node `id`.
    pub fn ctx(&self, id: NodeId) -> InferCtx<'_> {
        let node = self.g.node(id);
        let op = node.op.onnx().expect("an ONNX node");
        let inputs = self
            .g
            .inputs_of(id)
            .into_iter()
            .map(|v| {
                v.map(|v| InputInfo {
                    ty: self.ty_of(v),
                    value: const_tensor(self.g, v),
                    sym: self.syms.get(&v).map(Vec::as_slice),
                })
            })
            .collect();
        InferCtx {
            op,
            attrs: &node.attrs,
            layout: node.layout,
            opset: self.opset(op.domain()),
            inputs,
            num_outputs: node.outputs.len(),
        }
    }

    /// Records a node's inferred outputs.
    pub fn apply(&mut self, id: NodeId, out: Outputs, report: &mut InferReport) {
        let absent: Vec<bool> = self
            .g
            .node(id)
            .outputs
            .iter()
            .map(|v| v.is_absent())
            .collect();
        for (slot, (ty, sym)) in out.types.into_iter().zip(out.syms).enumerate() {
            if absent.get(slot).copied().unwrap_or(true) {
                continue;
            }
            let v = ValueRef::new(id, slot);
            if let Some(ty) = ty {
                self.record(v, ty, report);
            }
            if let Some(s) = sym {
                self.syms.insert(v, s);
            }
        }
    }

    /// Refines value `v`'s type with `inferred`, reporting disagreements.
    pub fn record(&mut self, v: ValueRef, inferred: ValueType, report: &mut InferReport) {
        let (new, conflicts) = match self.ty_of(v) {
            Some(declared) => refine(declared, &inferred),
            None => (inferred, Vec::new()),
        };
        if !conflicts.is_empty() {
            let node = self.g.node(v.node);
            let name = &node.outputs[v.slot].name;
            for c in conflicts {
                report
                    .problems
                    .push(format!("{}: output `{name}`: {c}", node_label(node)));
            }
        }
        if self.ty_of(v) != Some(&new) {
            if self.g.value(v).and_then(|x| x.ty.as_ref()).map(|t| &t.ty) != Some(&new) {
                report.refined += 1;
            }
            let inputs = self.g.inputs_of(v.node);
            let same = inputs
                .into_iter()
                .flatten()
                .find_map(|i| self.types.get(&i).filter(|t| ***t == new));
            let new = match same {
                Some(t) => t.clone(),
                None => Arc::new(new),
            };
            self.types.insert(v, new);
        }
    }

    /// What a sub-graph of node `id` sees of the values the node captures.
    pub fn outer_for(&self, id: NodeId, enclosing: &OuterMap) -> OuterMap {
        let mut map = enclosing.clone();
        for v in self.g.captures_of(id) {
            if let Some(value) = self.g.value(v) {
                map.insert(
                    value.name.clone(),
                    OuterInfo {
                        ty: self.ty_of(v).cloned(),
                        sym: self.sym_of(v),
                    },
                );
            }
        }
        map
    }
}
