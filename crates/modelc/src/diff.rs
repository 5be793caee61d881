//! `modelc diff`: a structural diff of two models' main graphs — input and output changes,
//! and operation nodes added, removed and changed (op, attributes, layout, which value feeds
//! each input, weights by content hash and by numeric distance).
//!
//! Nodes are matched by the names of the values they compute first (names survive most
//! passes and conversions), then by structure: an unmatched node of B matches an unmatched
//! node of A with the same op whose inputs are the matched counterparts (or equal constants),
//! repeated until nothing more matches, so a renamed chain still lines up. Constants are not
//! nodes of the diff (nor are ONNX `Constant` nodes holding a tensor); they are compared as
//! the inputs of the nodes that read them.

use std::collections::{BTreeSet, HashMap};
use std::fmt::Write as _;

use modelc_ir::{node_label, DType, Graph, NodeId, Op, Tensor, TensorData, ValueRef};
use serde::Serialize;

/// What differs between two graphs.
#[derive(Debug, Serialize)]
pub struct Diff {
    pub inputs: Vec<IoChange>,
    pub outputs: Vec<IoChange>,
    /// Operation nodes in A / in B (constants, inputs not counted).
    pub nodes_a: usize,
    pub nodes_b: usize,
    /// Matched nodes with no change.
    pub unchanged: usize,
    /// Of the matched nodes, how many were matched by structure (their value names differ).
    pub matched_by_structure: usize,
    /// Matched nodes that differ, in B's order.
    pub changed: Vec<NodeChange>,
    /// Nodes only in B, in B's order.
    pub added: Vec<NodeInfo>,
    /// Nodes only in A, in A's order.
    pub removed: Vec<NodeInfo>,
}

/// A graph input or output added, removed, or of another type.
#[derive(Debug, Serialize)]
pub struct IoChange {
    pub name: String,
    /// The type in A (`None`: only in B).
    pub a: Option<String>,
    /// The type in B (`None`: only in A).
    pub b: Option<String>,
}

/// A node as the diff names it.
#[derive(Debug, Serialize, Clone)]
pub struct NodeInfo {
    /// `Conv "conv1"` or `Conv -> c1`.
    pub label: String,
    pub op: String,
    /// The names of the values it computes.
    pub outputs: Vec<String>,
}

/// A matched pair of nodes and how they differ.
#[derive(Debug, Serialize)]
pub struct NodeChange {
    pub a: NodeInfo,
    pub b: NodeInfo,
    pub changes: Vec<Change>,
}

/// One difference of a matched pair.
#[derive(Debug, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Change {
    Op {
        a: String,
        b: String,
    },
    /// An attribute (`None`: not set on that side).
    Attr {
        name: String,
        a: Option<String>,
        b: Option<String>,
    },
    Layout {
        a: String,
        b: String,
    },
    /// Input `slot` is fed by another value (names as in each graph; empty for none), and
    /// whether that side's value is a constant (a folded value keeps its name).
    Input {
        slot: usize,
        a: String,
        b: String,
        a_const: bool,
        b_const: bool,
    },
    /// Input `slot` is a constant on both sides, with other contents.
    Weight {
        slot: usize,
        a: WeightInfo,
        b: WeightInfo,
        /// Largest |b - a| over the elements, when both have the same shape and numbers.
        max_abs_diff: Option<f64>,
        /// `max_abs_diff` over the largest |a|.
        max_rel_diff: Option<f64>,
    },
    /// The value computed at output `slot` has another name.
    Renamed {
        slot: usize,
        a: String,
        b: String,
    },
}

/// A constant as the diff shows it: type and the first 16 hex digits of its content hash.
#[derive(Debug, Serialize)]
pub struct WeightInfo {
    pub name: String,
    #[serde(rename = "type")]
    pub ty: String,
    pub hash: String,
}

/// Compares the main graphs of `a` and `b` (see the module doc).
pub fn diff(a: &Graph, b: &Graph) -> Diff {
    let order_a = a.topo_order().unwrap_or_else(|_| a.node_ids().collect());
    let order_b = b.topo_order().unwrap_or_else(|_| b.node_ids().collect());
    let compute = |g: &Graph, id: NodeId| {
        !g.node(id).op.is_structural() && constant(g, ValueRef::new(id, 0)).is_none()
    };
    let nodes_a: Vec<NodeId> = order_a
        .iter()
        .copied()
        .filter(|&id| compute(a, id))
        .collect();
    let nodes_b: Vec<NodeId> = order_b
        .iter()
        .copied()
        .filter(|&id| compute(b, id))
        .collect();

    // Values of A known to be B's: graph inputs by name, else by position.
    let mut values: HashMap<ValueRef, ValueRef> = HashMap::new();
    let input_name = |g: &Graph, id: NodeId| g.node(id).outputs[0].name.clone();
    for (i, &ia) in a.inputs().iter().enumerate() {
        let name = input_name(a, ia);
        let ib = b
            .inputs()
            .iter()
            .copied()
            .find(|&ib| input_name(b, ib) == name)
            .or_else(|| b.inputs().get(i).copied());
        if let Some(ib) = ib {
            values.insert(ValueRef::new(ia, 0), ValueRef::new(ib, 0));
        }
    }

    // Pairs, first by the names of the values computed.
    let mut pairs: HashMap<NodeId, NodeId> = HashMap::new(); // b -> a
    let mut taken_a: BTreeSet<NodeId> = BTreeSet::new();
    let mut by_name: HashMap<&str, NodeId> = HashMap::new();
    for &ia in &nodes_a {
        if let Some(v) = a.node(ia).outputs.iter().find(|v| !v.is_absent()) {
            by_name.entry(v.name.as_str()).or_insert(ia);
        }
    }
    for &ib in &nodes_b {
        let Some(v) = b.node(ib).outputs.iter().find(|v| !v.is_absent()) else {
            continue;
        };
        if let Some(&ia) = by_name.get(v.name.as_str()) {
            if taken_a.insert(ia) {
                pairs.insert(ib, ia);
            }
        }
    }
    let pair_values = |values: &mut HashMap<ValueRef, ValueRef>, ia: NodeId, ib: NodeId| {
        for slot in 0..a.node(ia).outputs.len().min(b.node(ib).outputs.len()) {
            values.insert(ValueRef::new(ia, slot), ValueRef::new(ib, slot));
        }
    };
    for (&ib, &ia) in &pairs {
        pair_values(&mut values, ia, ib);
    }
    // Then by structure, until nothing more matches.
    let mut by_structure = 0;
    loop {
        let mut keyed: HashMap<(String, Vec<InputKey>), NodeId> = HashMap::new();
        for &ia in nodes_a.iter().rev() {
            if taken_a.contains(&ia) {
                continue;
            }
            if let Some(key) = structure_key(a, ia, |v| values.get(&v).copied()) {
                keyed.insert(key, ia);
            }
        }
        let mut found = false;
        for &ib in &nodes_b {
            if pairs.contains_key(&ib) {
                continue;
            }
            let Some(key) = structure_key(b, ib, Some) else {
                continue;
            };
            if let Some(ia) = keyed.remove(&key) {
                taken_a.insert(ia);
                pairs.insert(ib, ia);
                pair_values(&mut values, ia, ib);
                by_structure += 1;
                found = true;
            }
        }
        if !found {
            break;
        }
    }

    let mut d = Diff {
        inputs: io_changes(a, b, true),
        outputs: io_changes(a, b, false),
        nodes_a: nodes_a.len(),
        nodes_b: nodes_b.len(),
        unchanged: 0,
        matched_by_structure: by_structure,
        changed: Vec::new(),
        added: Vec::new(),
        removed: Vec::new(),
    };
    for &ib in &nodes_b {
        match pairs.get(&ib) {
            None => d.added.push(info(b, ib)),
            Some(&ia) => {
                let changes = compare(a, ia, b, ib, &values);
                if changes.is_empty() {
                    d.unchanged += 1;
                } else {
                    d.changed.push(NodeChange {
                        a: info(a, ia),
                        b: info(b, ib),
                        changes,
                    });
                }
            }
        }
    }
    d.removed = nodes_a
        .iter()
        .filter(|ia| !taken_a.contains(ia))
        .map(|&ia| info(a, ia))
        .collect();
    d
}

/// What feeds one input slot, in B's terms: a value, a constant (any: a changed weight
/// still matches), or nothing.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum InputKey {
    Value(ValueRef),
    Const,
    Absent,
}

/// A node's op and inputs in B's terms, `None` while an input has no counterpart yet.
fn structure_key(
    g: &Graph,
    id: NodeId,
    to_b: impl Fn(ValueRef) -> Option<ValueRef>,
) -> Option<(String, Vec<InputKey>)> {
    let ins = g
        .inputs_of(id)
        .into_iter()
        .map(|v| match v.map(|v| through_identity(g, v)) {
            None => Some(InputKey::Absent),
            Some(v) => match constant(g, v) {
                Some(_) => Some(InputKey::Const),
                None => to_b(v).map(InputKey::Value),
            },
        })
        .collect::<Option<Vec<_>>>()?;
    Some((g.node(id).op.display_name(), ins))
}

/// The value an Identity chain passes on (exporters put Identity nodes on shared weights,
/// which cleanup passes remove: that is no change to what a node reads).
fn through_identity(g: &Graph, mut v: ValueRef) -> ValueRef {
    for _ in 0..64 {
        match g.node(v.node).op {
            Op::Onnx(modelc_ir::OnnxOp::Identity) => match g.input(v.node, 0) {
                Some(x) => v = x,
                None => break,
            },
            _ => break,
        }
    }
    v
}

/// The tensor a value holds when it is a constant: an initializer or an ONNX `Constant`
/// node's `value` (a folding pass turns one into the other, which is no change).
fn constant(g: &Graph, v: ValueRef) -> Option<&Tensor> {
    let node = g.node(v.node);
    match &node.op {
        Op::Const(t) => Some(t),
        Op::Onnx(modelc_ir::OnnxOp::Constant) => match node.attrs.get("value") {
            Some(modelc_ir::Attr::Tensor(t)) => Some(t),
            _ => None,
        },
        _ => None,
    }
}

fn info(g: &Graph, id: NodeId) -> NodeInfo {
    let node = g.node(id);
    NodeInfo {
        label: node_label(node),
        op: node.op.display_name(),
        outputs: node
            .outputs
            .iter()
            .filter(|v| !v.is_absent())
            .map(|v| v.name.clone())
            .collect(),
    }
}

fn value_name(g: &Graph, v: Option<ValueRef>) -> String {
    v.and_then(|v| g.value(v))
        .map_or_else(String::new, |x| x.name.clone())
}

fn compare(
    a: &Graph,
    ia: NodeId,
    b: &Graph,
    ib: NodeId,
    values: &HashMap<ValueRef, ValueRef>,
) -> Vec<Change> {
    let (na, nb) = (a.node(ia), b.node(ib));
    let mut out = Vec::new();
    if na.op != nb.op {
        out.push(Change::Op {
            a: na.op.display_name(),
            b: nb.op.display_name(),
        });
    }
    let names: BTreeSet<&str> = na
        .attrs
        .iter()
        .chain(nb.attrs.iter())
        .map(|e| e.name.as_str())
        .collect();
    for name in names {
        let (x, y) = (na.attrs.get(name), nb.attrs.get(name));
        if x != y {
            let show = |v: Option<&modelc_ir::Attr>| {
                v.map(|v| {
                    if v.graphs().is_empty() {
                        modelc_ir::text::attr_to_string(v)
                    } else {
                        "(a sub-graph)".to_string()
                    }
                })
            };
            out.push(Change::Attr {
                name: name.to_string(),
                a: show(x),
                b: show(y),
            });
        }
    }
    if na.layout != nb.layout {
        let show = |l: Option<modelc_ir::Layout>| l.map_or_else(|| "-".into(), |l| l.to_string());
        out.push(Change::Layout {
            a: show(na.layout),
            b: show(nb.layout),
        });
    }
    let (ins_a, ins_b) = (a.inputs_of(ia), b.inputs_of(ib));
    for slot in 0..ins_a.len().max(ins_b.len()) {
        let (x, y) = (
            ins_a
                .get(slot)
                .copied()
                .flatten()
                .map(|v| through_identity(a, v)),
            ins_b
                .get(slot)
                .copied()
                .flatten()
                .map(|v| through_identity(b, v)),
        );
        match (
            x.and_then(|v| constant(a, v)),
            y.and_then(|v| constant(b, v)),
        ) {
            (Some(ta), Some(tb)) => {
                if ta.dtype != tb.dtype
                    || ta.dims != tb.dims
                    || ta.content_hash() != tb.content_hash()
                {
                    let (max_abs_diff, max_rel_diff) = distance(ta, tb).unzip();
                    out.push(Change::Weight {
                        slot,
                        a: weight(a, x, ta),
                        b: weight(b, y, tb),
                        max_abs_diff,
                        max_rel_diff,
                    });
                }
            }
            _ => {
                let same = match (x, y) {
                    (None, None) => true,
                    (Some(x), Some(y)) => values.get(&x) == Some(&y),
                    _ => false,
                };
                if !same {
                    out.push(Change::Input {
                        slot,
                        a: value_name(a, x),
                        b: value_name(b, y),
                        a_const: x.and_then(|v| constant(a, v)).is_some(),
                        b_const: y.and_then(|v| constant(b, v)).is_some(),
                    });
                }
            }
        }
    }
    for (slot, (x, y)) in na.outputs.iter().zip(&nb.outputs).enumerate() {
        if x.name != y.name {
            out.push(Change::Renamed {
                slot,
                a: x.name.clone(),
                b: y.name.clone(),
            });
        }
    }
    out
}

fn weight(g: &Graph, v: Option<ValueRef>, t: &Tensor) -> WeightInfo {
    WeightInfo {
        name: value_name(g, v),
        ty: format!(
            "{}[{}]",
            t.dtype.name(),
            t.dims
                .iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join(",")
        ),
        hash: format!("{:016x}", t.content_hash()),
    }
}

/// The largest |b - a| and that over the largest |a|, for same-shaped numeric tensors.
fn distance(a: &Tensor, b: &Tensor) -> Option<(f64, f64)> {
    if a.dims != b.dims {
        return None;
    }
    let (x, y) = (numbers(a)?, numbers(b)?);
    let mut max_abs = 0f64;
    let mut scale = 0f64;
    for (p, q) in x.iter().zip(&y) {
        max_abs = max_abs.max((q - p).abs());
        scale = scale.max(p.abs());
    }
    Some((
        max_abs,
        if scale > 0.0 {
            max_abs / scale
        } else {
            max_abs
        },
    ))
}

/// A tensor's elements as f64, for the numeric types.
fn numbers(t: &Tensor) -> Option<Vec<f64>> {
    let TensorData::Raw(b) = &t.data else {
        return None;
    };
    macro_rules! read {
        ($ty:ty, $n:expr) => {
            b.chunks_exact($n)
                .map(|c| <$ty>::from_le_bytes(c.try_into().expect("sized chunk")) as f64)
                .collect()
        };
    }
    Some(match t.dtype {
        DType::F32 => read!(f32, 4),
        DType::F64 => read!(f64, 8),
        DType::F16 => b
            .chunks_exact(2)
            .map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f64())
            .collect(),
        DType::BF16 => b
            .chunks_exact(2)
            .map(|c| half::bf16::from_le_bytes([c[0], c[1]]).to_f64())
            .collect(),
        DType::I8 => read!(i8, 1),
        DType::U8 => read!(u8, 1),
        DType::I16 => read!(i16, 2),
        DType::U16 => read!(u16, 2),
        DType::I32 => read!(i32, 4),
        DType::U32 => read!(u32, 4),
        DType::I64 => read!(i64, 8),
        DType::U64 => read!(u64, 8),
        _ => return None,
    })
}

fn io_changes(a: &Graph, b: &Graph, inputs: bool) -> Vec<IoChange> {
    let list = |g: &Graph| -> Vec<(String, String)> {
        let refs: Vec<ValueRef> = if inputs {
            g.inputs().iter().map(|&id| ValueRef::new(id, 0)).collect()
        } else {
            g.outputs().to_vec()
        };
        refs.iter()
            .filter_map(|&v| g.value(v))
            .map(|x| {
                (
                    x.name.clone(),
                    x.ty.as_deref()
                        .map_or_else(|| "?".into(), modelc_ir::text::type_to_string),
                )
            })
            .collect()
    };
    let (la, lb) = (list(a), list(b));
    let mut out = Vec::new();
    for (name, ta) in &la {
        match lb.iter().find(|(n, _)| n == name) {
            None => out.push(IoChange {
                name: name.clone(),
                a: Some(ta.clone()),
                b: None,
            }),
            Some((_, tb)) if tb != ta => out.push(IoChange {
                name: name.clone(),
                a: Some(ta.clone()),
                b: Some(tb.clone()),
            }),
            Some(_) => {}
        }
    }
    for (name, tb) in &lb {
        if !la.iter().any(|(n, _)| n == name) {
            out.push(IoChange {
                name: name.clone(),
                a: None,
                b: Some(tb.clone()),
            });
        }
    }
    out
}

impl Diff {
    /// Whether the graphs are the same (up to names of constants).
    pub fn is_empty(&self) -> bool {
        self.inputs.is_empty()
            && self.outputs.is_empty()
            && self.changed.is_empty()
            && self.added.is_empty()
            && self.removed.is_empty()
    }

    /// The text report: I/O changes, a count line, then `~` changed, `-` removed and `+`
    /// added nodes.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for (title, list) in [("input", &self.inputs), ("output", &self.outputs)] {
            for c in list {
                let _ = match (&c.a, &c.b) {
                    (Some(x), Some(y)) => writeln!(out, "~ {title} {}: {x} -> {y}", c.name),
                    (Some(x), None) => writeln!(out, "- {title} {}: {x}", c.name),
                    (None, Some(y)) => writeln!(out, "+ {title} {}: {y}", c.name),
                    (None, None) => Ok(()),
                };
            }
        }
        let _ = writeln!(
            out,
            "nodes: {} in A, {} in B: {} unchanged, {} changed, {} removed, {} added{}",
            self.nodes_a,
            self.nodes_b,
            self.unchanged,
            self.changed.len(),
            self.removed.len(),
            self.added.len(),
            if self.matched_by_structure > 0 {
                format!(" ({} matched by structure)", self.matched_by_structure)
            } else {
                String::new()
            }
        );
        for c in &self.changed {
            let _ = writeln!(out, "~ {}", c.b.label);
            for ch in &c.changes {
                let _ = writeln!(out, "    {}", ch.render());
            }
        }
        for n in &self.removed {
            let _ = writeln!(out, "- {}", n.label);
        }
        for n in &self.added {
            let _ = writeln!(out, "+ {}", n.label);
        }
        out
    }
}

impl Change {
    /// One line: what differs, `a -> b`.
    pub fn render(&self) -> String {
        let opt = |v: &Option<String>| v.clone().unwrap_or_else(|| "(unset)".into());
        match self {
            Change::Op { a, b } => format!("op: {a} -> {b}"),
            Change::Attr { name, a, b } => format!("{name}: {} -> {}", opt(a), opt(b)),
            Change::Layout { a, b } => format!("layout: {a} -> {b}"),
            Change::Input {
                slot,
                a,
                b,
                a_const,
                b_const,
            } => {
                let show = |name: &str, k: &bool| match (name, k) {
                    ("", _) => "(none)".to_string(),
                    (_, true) => format!("%{name} (const)"),
                    _ => format!("%{name}"),
                };
                format!("input {slot}: {} -> {}", show(a, a_const), show(b, b_const))
            }
            Change::Weight {
                slot,
                a,
                b,
                max_abs_diff,
                max_rel_diff,
            } => {
                let mut s = format!(
                    "input {slot} (const): {} #{} -> {} #{}",
                    a.ty,
                    &a.hash[..8],
                    b.ty,
                    &b.hash[..8]
                );
                if let (Some(d), Some(r)) = (max_abs_diff, max_rel_diff) {
                    let _ = write!(s, ", max |b - a| {d:.3e} ({r:.3e} of max |a|)");
                }
                s
            }
            Change::Renamed { slot, a, b } => format!("output {slot}: %{a} -> %{b}"),
        }
    }
}
