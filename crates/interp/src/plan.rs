//! A graph's execution plan, made once when an interpreter is created and reused by every
//! run: the schedule (the graph's deterministic topological order), how many times each
//! value is read (a run drops a value after its last read), where each graph input goes,
//! and which activations are applied in place to the fresh result of the node before
//! them instead of allocating and writing a tensor of their own.
//!
//! Fused forms (each only when the intermediate value has no other reader and is no graph
//! output): `P → Relu`, `P → Clip` with constant bounds (initializers or ONNX `Constant`
//! nodes, as torchvision exports them: read from the values the interpreter prepared), and
//! SiLU, `P → Sigmoid → Mul(P, ·)`; and `Conv → BatchNormalization` (inference form,
//! constant f32 parameters, NCHW) optionally followed by one of those activations, the
//! normalization applied per output channel as an affine map ([`Affine`]) computed once
//! here with the BatchNormalization kernel's own f32 expressions.
//! They compute exactly what the separate kernels compute (same expressions, same f32
//! functions), so a fused run is bit-identical to an unfused one; runs with an observer
//! (calibration, debugging) see every value and so do not fuse.

use std::collections::HashMap;

use modelc_ir::{Graph, NodeId, OnnxOp, Op, OpsetImport, ValueRef};
use ndarray::ArrayD;

use rayon::prelude::*;

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
            Act::Clip { lo, hi } => apply(a, clipper(lo, hi)),
            Act::Silu => apply(a, silu_f32),
        }
    }

    /// Applies the activation to a slice on the calling thread (a kernel's epilogue, run
    /// on a block of its output that is still in cache).
    pub(crate) fn apply_slice(self, v: &mut [f32]) {
        match self {
            Act::Relu => apply_serial(v, &relu),
            Act::Clip { lo, hi } => apply_serial(v, &clipper(lo, hi)),
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

/// [`clip`] with its bounds, as a closure `on_widest`'s AVX-512 / AVX2 builds inline
/// (they inline only `#[inline(always)]` code: else one call per element, in SSE).
fn clipper(lo: Option<f32>, hi: Option<f32>) -> impl Fn(f32) -> f32 + Sync {
    #[inline(always)]
    move |v| clip(v, lo, hi)
}

fn apply(a: &mut ArrayD<f32>, f: impl Fn(f32) -> f32 + Sync) {
    match a.as_slice_memory_order_mut() {
        Some(v) => par_apply(v, f),
        None => a.mapv_inplace(f),
    }
}

/// A fused BatchNormalization: `y = x * a[ch] + b[ch]` per channel (axis 1), with the
/// kernel's `a = scale / sqrt(var + epsilon)` and `b = B − mean * a` in f32.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Affine {
    pub a: Vec<f32>,
    pub b: Vec<f32>,
}

impl Affine {
    /// Applies the map to one channel's values, as the BatchNormalization kernel would.
    pub(crate) fn apply_channel(&self, ch: usize, v: &mut [f32]) {
        let (a, b) = (self.a[ch], self.b[ch]);
        v.iter_mut().for_each(|x| *x = *x * a + b);
    }

    /// Applies the map to an NCHW array (channel axis 1); `false` when the channel count
    /// differs from the parameters' (then nothing is changed).
    pub(crate) fn apply(&self, x: &mut ArrayD<f32>) -> bool {
        let c = self.a.len();
        if x.ndim() < 2 || x.shape()[1] != c {
            return false;
        }
        let stride: usize = x.shape()[2..].iter().product();
        let empty = x.is_empty();
        let Some(v) = x.as_slice_memory_order_mut().filter(|_| stride > 0) else {
            return empty;
        };
        v.par_chunks_mut(stride)
            .enumerate()
            .for_each(|(i, plane)| self.apply_channel(i % c, plane));
        true
    }
}

/// A fused `MatMul → Add(b)`: `b` a constant f32 vector, one value per column of the
/// product (its last axis), added as the Add kernel adds it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ColBias(pub Vec<f32>);

impl ColBias {
    /// Adds the bias along the last axis of a standard-layout array; `false` when the
    /// last dimension differs from the bias's length (then nothing is changed).
    pub(crate) fn apply(&self, x: &mut ArrayD<f32>) -> bool {
        let n = self.0.len();
        if x.shape().last() != Some(&n) {
            return false;
        }
        let Some(v) = x.as_slice_mut() else {
            return false;
        };
        // Tasks of whole rows, about 16K values each.
        v.par_chunks_mut(n * (1usize << 14).div_ceil(n))
            .for_each(|rows| {
                for row in rows.chunks_exact_mut(n) {
                    row.iter_mut().zip(&self.0).for_each(|(y, b)| *y += b);
                }
            });
        true
    }

    /// `x + bias` broadcast numpy's way, for a product whose last dimension is not the
    /// bias's length (a product of one column, say), as the Add kernel computes it.
    pub(crate) fn broadcast_add(&self, x: &ArrayD<f32>) -> Result<ArrayD<f32>, crate::KernelError> {
        let b = ndarray::ArrayView1::from(&self.0[..]);
        let shape = crate::ops::util::broadcast_shapes(x.shape(), b.shape())?;
        let too = |what: &str| crate::KernelError::new(format!("Add: cannot broadcast {what}"));
        let mut out = x
            .broadcast(ndarray::IxDyn(&shape))
            .ok_or_else(|| too("the product"))?
            .to_owned();
        out += &b
            .broadcast(ndarray::IxDyn(&shape))
            .ok_or_else(|| too("the bias"))?;
        Ok(out)
    }
}

/// A producer whose first output goes, after `col_bias` or `affine`, and then `act`,
/// straight to `into`.
#[derive(Debug, Clone)]
pub(crate) struct Fused {
    pub col_bias: Option<std::sync::Arc<ColBias>>,
    pub affine: Option<std::sync::Arc<Affine>>,
    pub act: Option<Act>,
    pub into: ValueRef,
}

impl Fused {
    /// The fused ops' names as a profile shows them after the producer's.
    pub(crate) fn names(&self) -> String {
        let mut s = String::new();
        if self.col_bias.is_some() {
            s.push_str("+Add");
        }
        if self.affine.is_some() {
            s.push_str("+BatchNormalization");
        }
        if let Some(a) = self.act {
            s.push('+');
            s.push_str(a.name());
        }
        s
    }
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
            // MatMul → Add(bias): the bias, then an activation after it.
            let mut v = v;
            let mut bias = None;
            if onnx_op(graph, id) == Some(OnnxOp::MatMul) {
                if let (Some(1), &[(n, _)]) = (self.uses.get(&v), graph.users(v).as_slice()) {
                    if let Some(b) = col_bias(graph, v, n, opsets, consts) {
                        bias = Some((n, std::sync::Arc::new(b)));
                        v = ValueRef::new(n, 0);
                    }
                }
            }
            // Conv → BatchNormalization: the normalization, then an activation after it.
            let mut bn = None;
            if onnx_op(graph, id) == Some(OnnxOp::Conv) {
                if let (Some(1), &[(n, 0)]) = (self.uses.get(&v), graph.users(v).as_slice()) {
                    if let Some(affine) = batch_norm(graph, id, n, opsets, consts) {
                        bn = Some((n, std::sync::Arc::new(affine)));
                        v = ValueRef::new(n, 0);
                    }
                }
            }
            let users = graph.users(v);
            let found = match (self.uses.get(&v), users.as_slice()) {
                _ if graph.outputs().contains(&v) => None,
                (Some(1), &[(a, 0)]) => {
                    single_act(graph, a, opsets, consts).map(|act| (act, a, None))
                }
                (Some(2), &[(x, _), (y, _)]) => silu(graph, v, x, y)
                    .or_else(|| silu(graph, v, y, x))
                    .map(|(s, m)| (Act::Silu, m, Some(s))),
                _ => None,
            };
            let affine = bn.as_ref().map(|(_, a)| a.clone());
            if let Some((n, _)) = bn {
                self.absorbed.insert(n, id);
            }
            let col_bias = bias.as_ref().map(|(_, b)| b.clone());
            if let Some((n, _)) = bias {
                self.absorbed.insert(n, id);
            }
            if let Some((act, last, sigmoid)) = found {
                self.fused.insert(
                    id,
                    Fused {
                        col_bias,
                        affine,
                        act: Some(act),
                        into: ValueRef::new(last, 0),
                    },
                );
                self.absorbed.insert(last, id);
                if let Some(s) = sigmoid {
                    self.absorbed.insert(s, id);
                }
            } else if affine.is_some() || col_bias.is_some() {
                self.fused.insert(
                    id,
                    Fused {
                        col_bias,
                        affine,
                        act: None,
                        into: v,
                    },
                );
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

/// The bias of Add node `add` reading MatMul result `v`, when its other operand is a
/// constant f32 vector of at least two values (one per column; a single value would
/// broadcast over the whole product) and the Add broadcasts numpy's way (opset 7 on).
fn col_bias(
    graph: &Graph,
    v: ValueRef,
    add: NodeId,
    opsets: &[OpsetImport],
    consts: &HashMap<ValueRef, Data>,
) -> Option<ColBias> {
    let node = graph.node(add);
    if onnx_op(graph, add)? != OnnxOp::Add
        || opset_of(OnnxOp::Add, opsets) < 7
        || node.outputs.len() != 1
        || !graph.captures_of(add).is_empty()
    {
        return None;
    }
    let other = match graph.inputs_of(add).as_slice() {
        [Some(a), Some(b)] if *a == v && *b != v => *b,
        [Some(a), Some(b)] if *b == v && *a != v => *a,
        _ => return None,
    };
    match consts.get(&other)? {
        Data::Tensor(Array::F32(b)) if b.ndim() == 1 && b.len() >= 2 => {
            Some(ColBias(b.iter().copied().collect()))
        }
        _ => None,
    }
}

/// The affine map of BatchNormalization node `n` reading Conv `conv`'s result, when both
/// are NCHW, `n` is in inference form with one output and f32 constant parameters (from
/// opset 9: one per channel).
fn batch_norm(
    graph: &Graph,
    conv: NodeId,
    n: NodeId,
    opsets: &[OpsetImport],
    consts: &HashMap<ValueRef, Data>,
) -> Option<Affine> {
    let node = graph.node(n);
    let nhwc = |id: NodeId| graph.node(id).layout == Some(modelc_ir::Layout::Nhwc);
    let opset = opset_of(OnnxOp::BatchNormalization, opsets);
    if onnx_op(graph, n)? != OnnxOp::BatchNormalization
        || nhwc(conv)
        || nhwc(n)
        || opset < 9
        || node.outputs.iter().skip(1).any(|v| !v.is_absent())
        || !graph.captures_of(n).is_empty()
    {
        return None;
    }
    let attrs = &node.attrs;
    if opset >= 14 && attrs.int("training_mode", 0).ok()? != 0 {
        return None;
    }
    let eps = attrs
        .float_or_default(&node.op, Some(opset), "epsilon")
        .ok()?;
    let ins = graph.inputs_of(n);
    let param = |slot: usize| -> Option<&ArrayD<f32>> {
        match consts.get(&(*ins.get(slot)?)?)? {
            Data::Tensor(Array::F32(p)) if p.ndim() == 1 => Some(p),
            _ => None,
        }
    };
    let (scale, bias, mean, var) = (param(1)?, param(2)?, param(3)?, param(4)?);
    let c = scale.len();
    if [bias, mean, var].iter().any(|p| p.len() != c) {
        return None;
    }
    // The kernel's expressions (batchnorm.rs), in the same order.
    let a: Vec<f32> = scale
        .iter()
        .zip(var)
        .map(|(&s, &v)| s / (v + eps).sqrt())
        .collect();
    let b = bias
        .iter()
        .zip(mean)
        .zip(&a)
        .map(|((&bb, &m), &aa)| bb - m * aa)
        .collect();
    Some(Affine { a, b })
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

    /// The bits of every f32 output (fused and unfused runs must agree to the bit).
    fn bits(outs: &[(String, Data)]) -> Vec<Vec<u32>> {
        outs.iter()
            .map(|(_, d)| match d {
                Data::Tensor(Array::F32(a)) => a.iter().map(|v| v.to_bits()).collect(),
                other => panic!("{other:?}"),
            })
            .collect()
    }

    fn opsets() -> [OpsetImport; 1] {
        [OpsetImport {
            domain: String::new(),
            version: 17,
        }]
    }

    /// The plan's fusions as (producer, what `key` reads of the fusion, value written),
    /// sorted by producer.
    fn fusions<K>(
        interp: &Interpreter<'_>,
        g: &Graph,
        key: impl Fn(&Fused) -> K,
    ) -> Vec<(String, K, String)> {
        let name = |id: NodeId| g.node(id).outputs[0].name.clone();
        let mut fused: Vec<_> = interp
            .plan
            .fused
            .iter()
            .map(|(&p, f)| (name(p), key(f), name(f.into.node)))
            .collect();
        fused.sort_by(|a, b| a.0.cmp(&b.0));
        fused
    }

    /// The outputs' bits of a run with the fusions, checked against a run without them
    /// (an observer sees every value, so nothing fuses).
    fn fused_and_unfused(interp: &Interpreter<'_>, ins: Vec<(String, Data)>) -> Vec<Vec<u32>> {
        let fused = bits(&interp.run(ins.clone()).unwrap());
        let unfused = bits(&interp.run_observed(ins, &mut |_, _| {}).unwrap());
        assert_eq!(fused, unfused);
        fused
    }

    #[test]
    fn fuses_single_use_activations_and_computes_what_the_nodes_compute() {
        let g = parse_graph(SRC, None).unwrap();
        let interp = Interpreter::for_graph(&g, &opsets()).unwrap();
        let fused = fusions(&interp, &g, |f| f.act);
        // Relu after Add fuses; the Clip after it reads the fused result (a fused node is
        // never a producer); SiLU with Mul's operands either way round; %q is a graph
        // output, so its Relu stays a node; a Clip whose bounds are `Constant` nodes fuses.
        assert_eq!(
            fused,
            vec![
                ("a".into(), Some(Act::Relu), "r".into()),
                (
                    "m".into(),
                    Some(Act::Clip {
                        lo: Some(-0.5),
                        hi: Some(6.0)
                    }),
                    "e".into()
                ),
                ("n".into(), Some(Act::Silu), "y".into()),
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
        let fused = fused_and_unfused(&interp, ins);
        let c: Vec<f32> = fused[0].iter().map(|&b| f32::from_bits(b)).collect();
        assert_eq!(c[..5], [0.0, 0.0, 0.0, 0.2, 0.25]);
    }

    fn list(len: usize, seed: usize, lo: f32) -> String {
        let v: Vec<String> = (0..len)
            .map(|i| {
                format!(
                    "{:?}",
                    lo + ((i * 37 + seed * 11) % 101) as f32 / 67.0 - 0.7
                )
            })
            .collect();
        format!("[{}]", v.join(", "))
    }

    #[test]
    fn fuses_batch_norm_into_conv_bit_identically() {
        // A Winograd-sized 3×3 Conv → BN → Relu, a 1×1 Conv → BN read by a graph output,
        // a depthwise Conv → BN → Relu, and a BN whose Conv result has a second reader
        // (not fused).
        let (c, hw) = (32, 6);
        let bn = |t: &str, seed: usize| {
            format!(
                "  %s{t} = const f32[{c}] {}\n  %b{t} = const f32[{c}] {}\n  %m{t} = const f32[{c}] {}\n  %v{t} = const f32[{c}] {}\n",
                list(c, seed, 1.0),
                list(c, seed + 1, 0.0),
                list(c, seed + 2, 0.0),
                list(c, seed + 3, 1.0),
            )
        };
        let src = format!(
            "graph main(%x: f32[1,{c},{hw},{hw}]) -> (%r1, %n2, %r3, %n4, %c4) {{
  %w1 = const f32[{c},{c},3,3] {w1}
  %w2 = const f32[{c},{c},1,1] {w2}
  %w3 = const f32[{c},1,3,3] {w3}
  %cb = const f32[{c}] {cb}
{bn1}{bn2}{bn3}{bn4}  %c1 = Conv(%x, %w1, %cb) {{pads=[1,1,1,1]}}
  %n1 = BatchNormalization(%c1, %s1, %b1, %m1, %v1) {{epsilon=0.001}}
  %r1 = Relu(%n1)
  %c2 = Conv(%x, %w2)
  %n2 = BatchNormalization(%c2, %s2, %b2, %m2, %v2)
  %c3 = Conv(%x, %w3, %cb) {{group={c}, pads=[1,1,1,1]}}
  %n3 = BatchNormalization(%c3, %s3, %b3, %m3, %v3)
  %r3 = Relu(%n3)
  %c4 = Conv(%x, %w2)
  %n4 = BatchNormalization(%c4, %s4, %b4, %m4, %v4)
}}",
            w1 = list(c * c * 9, 1, 0.0),
            w2 = list(c * c, 2, 0.0),
            w3 = list(c * 9, 3, 0.0),
            cb = list(c, 4, 0.0),
            bn1 = bn("1", 10),
            bn2 = bn("2", 20),
            bn3 = bn("3", 30),
            bn4 = bn("4", 40),
        );
        let g = parse_graph(&src, None).unwrap();
        let interp = Interpreter::for_graph(&g, &opsets()).unwrap();
        assert_eq!(
            fusions(&interp, &g, |f| (f.affine.is_some(), f.act)),
            vec![
                ("c1".into(), (true, Some(Act::Relu)), "r1".into()),
                ("c2".into(), (true, None), "n2".into()),
                ("c3".into(), (true, Some(Act::Relu)), "r3".into()),
            ]
        );
        let x: Vec<f32> = (0..c * hw * hw)
            .map(|i| ((i * 7919) % 1009) as f32 / 500.0 - 1.0)
            .collect();
        let ins = vec![(
            "x".to_string(),
            Data::Tensor(Array::F32(
                ArrayD::from_shape_vec(IxDyn(&[1, c, hw, hw]), x).unwrap(),
            )),
        )];
        let fb = fused_and_unfused(&interp, ins);
        // The Relu outputs are not all zero (the test would not see a skipped BN otherwise).
        assert!(fb[0].iter().any(|&v| f32::from_bits(v) > 0.0));
        assert!(fb[1].iter().any(|&v| f32::from_bits(v) < 0.0));
    }

    #[test]
    fn fuses_a_matmul_bias_bit_identically() {
        // A projection with its bias (bias first in the Add), one followed by a Relu, a
        // product of one column whose 4-value bias broadcasts it (fused, then applied by
        // the interpreter), a scalar bias (not fused), and a bias Add read twice.
        let (m, k, n) = (20, 24, 40);
        let src = format!(
            "graph main(%x: f32[2,{m},{k}]) -> (%a1, %r2, %a3, %a4, %a5, %m5) {{
  %w = const f32[{k},{n}] {w}
  %w1 = const f32[{k},1] {w1}
  %b = const f32[{n}] {b}
  %b4 = const f32[4] {b4}
  %s = const f32[1] [0.5]
  %m1 = MatMul(%x, %w)
  %a1 = Add(%b, %m1)
  %m2 = MatMul(%x, %w)
  %a2 = Add(%m2, %b)
  %r2 = Relu(%a2)
  %m3 = MatMul(%x, %w1)
  %a3 = Add(%m3, %b4)
  %m4 = MatMul(%x, %w)
  %a4 = Add(%m4, %s)
  %m5 = MatMul(%x, %w)
  %a5 = Add(%m5, %b)
}}",
            w = list(k * n, 5, 0.0),
            w1 = list(k, 6, 0.0),
            b = list(n, 7, 0.0),
            b4 = list(4, 8, 0.0),
        );
        let g = parse_graph(&src, None).unwrap();
        let interp = Interpreter::for_graph(&g, &opsets()).unwrap();
        let bias_len = |f: &Fused| f.col_bias.as_ref().map_or(0, |b| b.0.len());
        assert_eq!(
            fusions(&interp, &g, |f| (bias_len(f), f.act)),
            vec![
                ("m1".into(), (n, None), "a1".into()),
                ("m2".into(), (n, Some(Act::Relu)), "r2".into()),
                ("m3".into(), (4, None), "a3".into()),
            ]
        );
        let x: Vec<f32> = (0..2 * m * k)
            .map(|i| ((i * 7919) % 1009) as f32 / 500.0 - 1.0)
            .collect();
        let ins = vec![(
            "x".to_string(),
            Data::Tensor(Array::F32(
                ArrayD::from_shape_vec(IxDyn(&[2, m, k]), x).unwrap(),
            )),
        )];
        let fb = fused_and_unfused(&interp, ins);
        assert_eq!(fb[2].len(), 2 * m * 4, "the one-column product broadcasts");
        assert!(fb[1].iter().any(|&v| f32::from_bits(v) > 0.0));
        assert!(fb[1].iter().any(|&v| f32::from_bits(v) == 0.0));
        // The fused bias is the Add's: the same bits as the product plus the bias.
        let prod = &fb[5];
        let b: Vec<f32> = list(n, 7, 0.0)
            .trim_matches(|c| c == '[' || c == ']')
            .split(", ")
            .map(|v| v.parse().unwrap())
            .collect();
        for (row, (got, p)) in fb[0].chunks(n).zip(prod.chunks(n)).enumerate() {
            for c in 0..n {
                let want = b[c] + f32::from_bits(p[c]);
                assert_eq!(got[c], want.to_bits(), "row {row} column {c}");
            }
        }
    }
}
