//! `cse`: common-subexpression elimination and duplicate-constant sharing. Two nodes with
//! the same op, attributes, layout and inputs compute the same values, so the later one's
//! readers read the earlier one's results and it goes; two constants with the same element
//! type, shape and bytes become one. Done in topological order, so whole duplicated chains
//! collapse in one run (a node's inputs are already merged when it is looked at), and in
//! every sub-graph.
//!
//! Not merged: random ops (each draw differs), custom ops (their side effects are unknown),
//! nodes with sub-graphs, graph inputs and outer values; nor a node whose result is a graph
//! output (the output would change its name) or is read by a sub-graph (captures are by
//! name).
//!
//! Constants are bucketed by element type, shape and a hash of a sample of their bytes (at
//! most 256: hashing every byte of a 300 MB model would cost more than the rest of the
//! optimization together), then compared byte for byte.

use std::collections::HashMap;

use modelc_ir::{DType, Graph, NodeId, OnnxOp, Op, Randomness, Tensor, TensorData, ValueRef};

use crate::pattern::for_each_graph;
use crate::util::captured;
use crate::{Changed, Pass, PassContext, PassError};

pub struct Cse;

impl Pass for Cse {
    fn name(&self) -> &'static str {
        "cse"
    }

    fn description(&self) -> &'static str {
        "merge nodes computing the same thing from the same inputs, and identical constants"
    }

    fn run(&self, g: &mut Graph, _cx: &mut PassContext) -> Result<Changed, PassError> {
        Ok(Changed::from_bool(for_each_graph(g, &mut merge)))
    }
}

/// What two computing nodes must share before their attributes are compared.
#[derive(PartialEq, Eq, Hash)]
struct NodeKey {
    op: OnnxOp,
    inputs: Vec<Option<ValueRef>>,
    outputs: Vec<bool>,
}

#[derive(PartialEq, Eq, Hash)]
struct ConstKey {
    dtype: DType,
    dims: Vec<u64>,
    sample: u64,
}

fn merge(g: &mut Graph) -> bool {
    let mut changed = false;
    let mut nodes: HashMap<NodeKey, Vec<NodeId>> = HashMap::new();
    let mut consts: HashMap<ConstKey, Vec<NodeId>> = HashMap::new();
    for id in g.topo_order().unwrap_or_default() {
        if !kind_mergeable(g, id) {
            continue;
        }
        let bucket = match &g.node(id).op {
            Op::Const(t) => consts.entry(const_key(t)).or_default(),
            Op::Onnx(op) => {
                let node = g.node(id);
                let key = NodeKey {
                    op: *op,
                    inputs: g.inputs_of(id),
                    outputs: node.outputs.iter().map(|v| !v.is_absent()).collect(),
                };
                nodes.entry(key).or_default()
            }
            _ => continue,
        };
        let Some(pos) = bucket.iter().position(|&c| same_computation(g, c, id)) else {
            bucket.push(id);
            continue;
        };
        let earlier = bucket[pos];
        // Keep the earlier node unless only the later one may not go (a graph output or a
        // captured value): then the later one stays and takes the earlier one's readers.
        // Both read the same inputs, so either can serve the other's readers.
        let (gone, kept) = if removable(g, id) {
            (id, earlier)
        } else if removable(g, earlier) {
            bucket[pos] = id;
            (earlier, id)
        } else {
            continue;
        };
        for slot in 0..g.node(gone).outputs.len() {
            g.replace_uses(ValueRef::new(gone, slot), ValueRef::new(kept, slot));
        }
        g.remove_node(gone);
        changed = true;
    }
    changed
}

/// Whether nodes `a` and `b`, already known to share op and inputs (or to be constants of
/// the same type, shape and sample), compute the same values.
fn same_computation(g: &Graph, a: NodeId, b: NodeId) -> bool {
    let (na, nb) = (g.node(a), g.node(b));
    match (&na.op, &nb.op) {
        (Op::Const(x), Op::Const(y)) => x == y,
        (Op::Onnx(_), Op::Onnx(_)) => na.attrs == nb.attrs && na.layout == nb.layout,
        _ => false,
    }
}

/// Whether node `id` is of a kind that can be merged with an equal node.
fn kind_mergeable(g: &Graph, id: NodeId) -> bool {
    let node = g.node(id);
    match &node.op {
        Op::Const(_) => true,
        Op::Onnx(op) => !random(*op) && node.subgraphs().next().is_none(),
        _ => false,
    }
}

/// Whether node `id` may be removed in favour of an equal earlier one: none of its results
/// is a graph output or read by a sub-graph (the earlier node may be either).
fn removable(g: &Graph, id: NodeId) -> bool {
    (0..g.node(id).outputs.len()).all(|slot| {
        let v = ValueRef::new(id, slot);
        !g.outputs().contains(&v) && !captured(g, v)
    })
}

/// Random ops, including Dropout (random in training mode, which may be a runtime input):
/// two draws are two different values.
fn random(op: OnnxOp) -> bool {
    op.traits().randomness != Randomness::Deterministic
}

/// Element type, shape and an FNV-1a hash of up to 256 bytes spread over the data.
fn const_key(t: &Tensor) -> ConstKey {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut feed = |b: u8| {
        h ^= b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    };
    match &t.data {
        TensorData::Raw(b) => {
            let step = (b.len() / 256).max(1);
            for &byte in b.iter().step_by(step).take(256) {
                feed(byte);
            }
            // The last bytes too: biases and tables often differ only at the end.
            for &byte in b.iter().rev().take(32) {
                feed(byte);
            }
        }
        TensorData::Strings(items) => {
            for s in items.iter().take(16) {
                for &byte in s.iter().take(16) {
                    feed(byte);
                }
            }
        }
    }
    ConstKey {
        dtype: t.dtype,
        dims: t.dims.clone(),
        sample: h,
    }
}
