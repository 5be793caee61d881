//! A graph's execution plan, made once when an interpreter is created and reused by every
//! run: the schedule (the graph's deterministic topological order), how many times each
//! value is read (a run drops a value after its last read), where each graph input goes,
//! and which activations are applied in place to the fresh result of the node before
//! them instead of allocating and writing a tensor of their own.
//!
//! Fused forms (each only when the intermediate value has no other reader and is no graph
//! output): `P → Relu`, `P → Clip` with constant bounds (initializers or ONNX `Constant`
//! nodes, as torchvision exports them: read from the values the interpreter prepared), and
//! SiLU, `P → Sigmoid → Mul(P, ·)`.
//! They compute exactly what the separate kernels compute (same expressions, same f32
//! functions), so a fused run is bit-identical to an unfused one; runs with an observer
//! (calibration, debugging) see every value and so do not fuse.

use std::collections::HashMap;

use modelc_ir::{Graph, NodeId, OnnxOp, Op, OpsetImport, ValueRef};
use ndarray::ArrayD;

use crate::ops::elementwise::fast::{apply_serial, par_apply, silu_f32};
use crate::{Array, Data, InterpError};

/// An activation applied in place to its producer's f32 result.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Act {
    Relu,
    Clip { lo: Option<f32>, hi: Option<f32> },
    Silu,
}

impl Act {
    /// The op the activation stands for, as a profile names it.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Act::Relu => "Relu",
            Act::Clip { .. } => "Clip",
            Act::Silu => "SiLU",
        }
    }

    /// Applies the activation to every element, as its own kernel would.
    pub(crate) fn apply(self, a: &mut ArrayD<f32>) {
        match self {
            Act::Relu => apply(a, relu),
            Act::Clip { lo, hi } => apply(a, move |v| clip(v, lo, hi)),
            Act::Silu => apply(a, silu_f32),
        }
    }

    /// Applies the activation to a slice on the calling thread (a kernel's epilogue, run
    /// on a block of its output that is still in cache).
    pub(crate) fn apply_slice(self, v: &mut [f32]) {
        match self {
            Act::Relu => apply_serial(v, &relu),
            Act::Clip { lo, hi } => apply_serial(v, &move |x| clip(x, lo, hi)),
            Act::Silu => apply_serial(v, &silu_f32),
        }
    }
}

/// The Relu kernel's expression: NaN becomes 0.
#[inline(always)]
fn relu(v: f32) -> f32 {
    if v > 0.0 {
        v
    } else {
        0.0
    }
}

/// The Clip kernel's expression: lower bound first, then the upper one.
#[inline(always)]
fn clip(v: f32, lo: Option<f32>, hi: Option<f32>) -> f32 {
    let v = match lo {
        Some(l) if v < l => l,
        _ => v,
    };
    match hi {
        Some(h) if v > h => h,
        _ => v,
    }
}

fn apply(a: &mut ArrayD<f32>, f: impl Fn(f32) -> f32 + Sync) {
    match a.as_slice_memory_order_mut() {
        Some(v) => par_apply(v, f),
        None => a.mapv_inplace(f),
    }
}

/// A producer whose first output goes, after `act`, straight to `into`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Fused {
    pub act: Act,
    pub into: ValueRef,
}

pub(crate) struct Plan {
    pub order: Vec<NodeId>,
    /// Reads of each value by nodes and sub-graph captures; graph outputs count as reads.
    pub uses: HashMap<ValueRef, usize>,
    pub input_pos: HashMap<NodeId, usize>,
    /// Producers whose first output an activation is applied to in place.
    pub fused: HashMap<NodeId, Fused>,
    /// Activation nodes computed by their producer (node → producer).
    pub absorbed: HashMap<NodeId, NodeId>,
}

/// The opset version `op` is read at.
pub(crate) fn opset_of(op: OnnxOp, opsets: &[OpsetImport]) -> i64 {
    let domain = op.domain();
    opsets
        .iter()
        .find(|o| o.domain == domain || (domain == "ai.onnx" && o.domain.is_empty()))
        .map_or(i64::MAX, |o| o.version)
}

impl Plan {
    /// Plans `graph` without fusions (see [`Plan::fuse`]).
    pub(crate) fn new(graph: &Graph) -> Result<Plan, InterpError> {
        let order = graph
            .topo_order()
            .map_err(|e| InterpError::Graph(e.to_string()))?;
        let mut uses: HashMap<ValueRef, usize> = HashMap::new();
        for &id in &order {
            for v in graph
                .inputs_of(id)
                .into_iter()
                .flatten()
                .chain(graph.captures_of(id))
            {
                *uses.entry(v).or_default() += 1;
            }
        }
        for &v in graph.outputs() {
            *uses.entry(v).or_default() += 1;
        }
        let input_pos = graph
            .inputs()
            .iter()
            .enumerate()
            .map(|(i, &id)| (id, i))
            .collect();
        Ok(Plan {
            order,
            uses,
            input_pos,
            fused: HashMap::new(),
            absorbed: HashMap::new(),
        })
    }

    /// Forgets the fusions whose producer `skip` names (its result is computed ahead of
    /// the runs, so its activation must be too, as a node of its own).
    pub(crate) fn unfuse(&mut self, skip: impl Fn(NodeId) -> bool) {
        self.fused.retain(|&p, _| !skip(p));
        self.absorbed.retain(|_, p| !skip(*p));
    }

    /// Finds the activations to fuse; `consts` are the values known before any run (a
    /// Clip's bounds must be among them).
    pub(crate) fn fuse(
        &mut self,
        graph: &Graph,
        opsets: &[OpsetImport],
        consts: &HashMap<ValueRef, Data>,
    ) {
        for i in 0..self.order.len() {
            let id = self.order[i];
            if !matches!(graph.node(id).op, Op::Onnx(_)) || self.absorbed.contains_key(&id) {
                continue;
            }
            let v = ValueRef::new(id, 0);
            if graph.outputs().contains(&v) {
                continue;
            }
            let users = graph.users(v);
            let found = match (self.uses.get(&v), users.as_slice()) {
                (Some(1), &[(a, 0)]) => {
                    single_act(graph, a, opsets, consts).map(|act| (act, a, None))
                }
                (Some(2), &[(x, _), (y, _)]) => silu(graph, v, x, y)
                    .or_else(|| silu(graph, v, y, x))
                    .map(|(s, m)| (Act::Silu, m, Some(s))),
                _ => None,
            };
            if let Some((act, last, sigmoid)) = found {
                self.fused.insert(
                    id,
                    Fused {
                        act,
                        into: ValueRef::new(last, 0),
                    },
                );
                self.absorbed.insert(last, id);
                if let Some(s) = sigmoid {
                    self.absorbed.insert(s, id);
                }
            }
        }
    }
}

fn onnx_op(graph: &Graph, id: NodeId) -> Option<OnnxOp> {
    match graph.node(id).op {
        Op::Onnx(op) => Some(op),
        _ => None,
    }
}

/// The activation node `a` applies, when it is Relu or a Clip with constant f32 bounds.
fn single_act(
    graph: &Graph,
    a: NodeId,
    opsets: &[OpsetImport],
    consts: &HashMap<ValueRef, Data>,
) -> Option<Act> {
    let node = graph.node(a);
    if node.outputs.len() != 1 || !graph.captures_of(a).is_empty() {
        return None;
    }
    match onnx_op(graph, a)? {
        OnnxOp::Relu => Some(Act::Relu),
        OnnxOp::Clip if opset_of(OnnxOp::Clip, opsets) < 11 => {
            let attr = |name: &str, default: f32| match node.attrs.get(name) {
                None => Some(default),
                Some(modelc_ir::Attr::Float(f)) => Some(*f),
                Some(_) => None,
            };
            Some(Act::Clip {
                lo: Some(attr("min", f32::NEG_INFINITY)?),
                hi: Some(attr("max", f32::INFINITY)?),
            })
        }
        OnnxOp::Clip => {
            let ins = graph.inputs_of(a);
            let bound = |slot: usize| -> Option<Option<f32>> {
                let Some(v) = ins.get(slot).copied().flatten() else {
                    return Some(None);
                };
                match consts.get(&v)? {
                    Data::Tensor(Array::F32(b)) if b.len() == 1 => {
                        b.iter().next().copied().map(Some)
                    }
                    _ => None,
                }
            };
            Some(Act::Clip {
                lo: bound(1)?,
                hi: bound(2)?,
            })
        }
        _ => None,
    }
}

/// `(s, m)` when `s` is a Sigmoid of `v` read only by `m`, and `m` is `Mul(v, s)` or
/// `Mul(s, v)`.
fn silu(graph: &Graph, v: ValueRef, s: NodeId, m: NodeId) -> Option<(NodeId, NodeId)> {
    let sv = ValueRef::new(s, 0);
    let ok = onnx_op(graph, s)? == OnnxOp::Sigmoid
        && onnx_op(graph, m)? == OnnxOp::Mul
        && graph.node(s).outputs.len() == 1
        && graph.node(m).outputs.len() == 1
        && graph.inputs_of(s) == [Some(v)]
        && !graph.outputs().contains(&sv)
        && (graph.users(sv) == [(m, 0)] || graph.users(sv) == [(m, 1)]);
    let ins = graph.inputs_of(m);
    let ok = ok
        && (ins == [Some(v), Some(sv)] || ins == [Some(sv), Some(v)])
        && graph.captures_of(m).is_empty();
    ok.then_some((s, m))
}

#[cfg(test)]
mod tests {
    use modelc_ir::{text::parse_graph, OpsetImport};
    use ndarray::{ArrayD, IxDyn};

    use super::*;
    use crate::{Data, Interpreter};

    const SRC: &str = "graph main(%x: f32[6], %b: f32[6]) -> (%c, %y, %q, %k, %e) {
  %lo = const f32[] [0.0]
  %hi = const f32[] [0.25]
  %a = Add(%x, %b)
  %r = Relu(%a)
  %c = Clip(%r, %lo, %hi)
  %n = Neg(%x)
  %t = Sigmoid(%n)
  %y = Mul(%t, %n)
  %q = Sub(%x, %b)
  %k = Relu(%q)
  %l6 = Constant() {value=f32[] [-0.5]}
  %h6 = Constant() {value=f32[] [6.0]}
  %m = Mul(%x, %b)
  %e = Clip(%m, %l6, %h6)
}";

    #[test]
    fn fuses_single_use_activations_and_computes_what_the_nodes_compute() {
        let g = parse_graph(SRC, None).unwrap();
        let opsets = [OpsetImport {
            domain: String::new(),
            version: 17,
        }];
        let interp = Interpreter::for_graph(&g, &opsets).unwrap();
        let plan = &interp.plan;
        let name = |id: NodeId| g.node(id).outputs[0].name.clone();
        let mut fused: Vec<(String, Act, String)> = plan
            .fused
            .iter()
            .map(|(&p, f)| (name(p), f.act, name(f.into.node)))
            .collect();
        fused.sort_by(|a, b| a.0.cmp(&b.0));
        // Relu after Add fuses; the Clip after it reads the fused result (a fused node is
        // never a producer); SiLU with Mul's operands either way round; %q is a graph
        // output, so its Relu stays a node; a Clip whose bounds are `Constant` nodes fuses.
        assert_eq!(
            fused,
            vec![
                ("a".into(), Act::Relu, "r".into()),
                (
                    "m".into(),
                    Act::Clip {
                        lo: Some(-0.5),
                        hi: Some(6.0)
                    },
                    "e".into()
                ),
                ("n".into(), Act::Silu, "y".into()),
            ]
        );
        let x = [-3.0f32, -0.1, 0.0, 0.2, 7.0, f32::NAN];
        let b = [1.0f32, 0.05, -0.0, 0.0, -1.0, 0.0];
        let arr = |v: &[f32]| {
            Data::Tensor(Array::F32(
                ArrayD::from_shape_vec(IxDyn(&[6]), v.to_vec()).unwrap(),
            ))
        };
        let ins = vec![("x".to_string(), arr(&x)), ("b".to_string(), arr(&b))];
        let fused = interp.run(ins.clone()).unwrap();
        let unfused = interp.run_observed(ins, &mut |_, _| {}).unwrap();
        let bits = |outs: &[(String, Data)]| -> Vec<Vec<u32>> {
            outs.iter()
                .map(|(_, d)| match d {
                    Data::Tensor(Array::F32(a)) => a.iter().map(|v| v.to_bits()).collect(),
                    other => panic!("{other:?}"),
                })
                .collect()
        };
        assert_eq!(bits(&fused), bits(&unfused));
        let Data::Tensor(Array::F32(c)) = &fused[0].1 else {
            panic!()
        };
        assert_eq!(
            c.iter().copied().collect::<Vec<_>>()[..5],
            [0.0, 0.0, 0.0, 0.2, 0.25]
        );
    }
}
