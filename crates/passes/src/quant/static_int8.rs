//! Static int8: QDQ around ops, placed the way ONNX Runtime's `quantize_static` (QDQ
//! format) places them, so onnxruntime's QDQ fusions turn the result into its integer
//! kernels (QLinearConv, QLinearMatMul, QLinearAdd, ...):
//!
//! - every float input and output of a quantized op gets one QuantizeLinear →
//!   DequantizeLinear pair right after its producer, shared by all readers, with a
//!   per-tensor scale and zero point from calibration;
//! - Conv / ConvTranspose / Gemm / MatMul weights become int8 constants (symmetric, per
//!   output channel: axis 0, 1 for ConvTranspose and Gemm without transB) read through a
//!   DequantizeLinear; their biases int32 constants with scale = input scale × weight scale
//!   (the `quantize-bias` pass, for the ops `int32_bias` names; by default all but the Conv
//!   biases onnxruntime quantizes itself when it loads the model);
//! - data-movement ops (Reshape, Transpose, MaxPool, ...) give their output the parameters of
//!   their input, so the pair on each side agrees and the runtime drops both;
//! - a Relu (or Clip from 0) right after a quantized op is removed and the op's output is
//!   quantized with the activation's range, which clamps exactly like the activation did;
//! - graph outputs stay float (a last requantization only adds error; the runtime's fused
//!   kernels accept a float output for Gemm / MatMul).

use std::collections::{BTreeMap, HashMap, HashSet};

use modelc_ir::{Builder, DType, Graph, Names, NodeId, OnnxOp, Op, ValueRef};

use super::calibrate::{Range, Stats};
use super::edit::{const_input, label, redirect, value_name};
use super::params::{activation_params, f32_tensor, quantize_weight, zero_point_tensor, QParams};
use super::report::Layer;
use crate::passes::quantize_bias::{quantize_biases, BiasScope};

/// Options of the static rewrite.
#[derive(Debug, Clone)]
pub struct StaticOptions {
    /// Activation type: u8 (asymmetric) or i8.
    pub activation: DType,
    pub symmetric_activations: bool,
    /// Per-channel weights (else per tensor).
    pub per_channel: bool,
    /// Quantize graph outputs too.
    pub quantize_outputs: bool,
    /// Which Conv / ConvTranspose / Gemm biases become int32 behind a DequantizeLinear
    /// (`quantize-bias`); the others stay float. `None`: all stay float.
    pub int32_bias: Option<BiasScope>,
    /// Sigmoid / Softmax / Tanh outputs quantized with the fixed ranges TFLite's integer
    /// kernels produce (see [`fixed_range`]) instead of the calibrated ones.
    pub fixed_ranges: bool,
    /// Ops quantized besides the `quantizable` set: ops a target's integer kernels run
    /// (`target.quantize_ops`: ReduceMean, Sub, Pow on Ethos-U).
    pub extra_ops: Vec<OnnxOp>,
}

impl Default for StaticOptions {
    fn default() -> Self {
        StaticOptions {
            activation: DType::U8,
            symmetric_activations: false,
            per_channel: true,
            quantize_outputs: false,
            int32_bias: Some(BiasScope::ExceptConv),
            fixed_ranges: false,
            extra_ops: Vec::new(),
        }
    }
}

/// Ops quantized with QDQ on their inputs and outputs (ONNX Runtime's QDQ and QLinear
/// registries): the `quantizable` trait.
pub fn quantizable(op: OnnxOp) -> bool {
    op.traits().quantizable
}

/// The output range LiteRT's integer kernel of `op` has fixed: [0, 255/256] for Sigmoid and
/// Softmax, [-1, 127/128] for Tanh, which in 8 bits are scale 1/256 and 1/128 with zero
/// point -128 and 0 (int8).
pub fn fixed_range(op: OnnxOp) -> Option<Range> {
    match op {
        OnnxOp::Sigmoid | OnnxOp::Softmax => Some(Range {
            min: 0.0,
            max: 255.0 / 256.0,
        }),
        OnnxOp::Tanh => Some(Range {
            min: -1.0,
            max: 127.0 / 128.0,
        }),
        _ => None,
    }
}

/// Ops with a weight input (slot 1) and optional bias (slot 2).
pub fn weighted(op: OnnxOp) -> bool {
    op.traits().weighted
}

/// Ops that only move, select or average elements: output quantized like the input.
pub fn direct(op: OnnxOp) -> bool {
    op.traits().quant_transparent
}

#[derive(Debug, Clone, Copy)]
enum Act {
    Own(Range),
    Same(ValueRef),
}

/// Rewrites `g` to static QDQ form. `float_nodes` are nodes to keep in float (with the
/// reason). Returns the per-layer decisions.
pub fn quantize_static(
    g: &mut Graph,
    stats: &Stats,
    opts: &StaticOptions,
    float_nodes: &HashMap<NodeId, String>,
) -> Result<Vec<Layer>, String> {
    let order = g.topo_order().map_err(|e| e.to_string())?;
    let outputs: HashSet<ValueRef> = g.outputs().iter().copied().collect();
    let is_float = |g: &Graph, v: ValueRef| match &g.node(v.node).op {
        Op::Const(t) => t.dtype == DType::F32,
        _ => stats.dtypes.get(&v) == Some(&DType::F32),
    };
    let mut act: BTreeMap<ValueRef, Act> = BTreeMap::new();
    // (node, slot, axis) of weights to quantize.
    let mut weights: Vec<(NodeId, usize, Option<usize>)> = Vec::new();
    let mut layers = Vec::new();
    let mut removed = HashSet::new();
    // Values whose quantization clamps like the activation folded into it: their QDQ pair
    // computes that activation's result (provenance: its source value).
    let mut clamped: HashMap<ValueRef, String> = HashMap::new();

    let own = |act: &mut BTreeMap<ValueRef, Act>, g: &Graph, v: ValueRef| -> bool {
        if act.contains_key(&v) {
            return true;
        }
        if (outputs.contains(&v) && !opts.quantize_outputs) || !is_float(g, v) {
            return false;
        }
        match stats.ranges.get(&v) {
            Some(r) => {
                act.insert(v, Act::Own(*r));
                true
            }
            None => false,
        }
    };

    for id in order {
        if removed.contains(&id) {
            continue;
        }
        let Some(op) = g.node(id).op.onnx() else {
            continue;
        };
        if !quantizable(op) && !opts.extra_ops.contains(&op) {
            continue;
        }
        let name = label(g, id);
        if let Some(reason) = float_nodes.get(&id) {
            layers.push(Layer::float(op, &name, reason));
            continue;
        }
        let inputs = g.inputs_of(id);
        let out0 = ValueRef::new(id, 0);
        match op {
            OnnxOp::Relu | OnnxOp::Clip if removable(g, id, op, &act, &outputs, opts) => {
                let x = inputs[0].expect("checked");
                if let Some(r) = stats.ranges.get(&out0) {
                    act.insert(x, Act::Own(*r));
                }
                if let Some(v) = g.value(out0) {
                    clamped.insert(x, v.source().to_string());
                }
                g.replace_uses(out0, x);
                g.remove_node(id);
                removed.insert(id);
                layers.push(Layer::quantized(
                    op,
                    &name,
                    "folded into the quantization of its input",
                ));
            }
            _ if direct(op) => {
                let Some(x) = inputs[0] else { continue };
                if !act.contains_key(&x) {
                    layers.push(Layer::float(op, &name, "input not quantized"));
                    continue;
                }
                for slot in 0..g.node(id).outputs.len() {
                    let o = ValueRef::new(id, slot);
                    let skip = g.node(id).outputs[slot].is_absent()
                        || !is_float(g, o)
                        || (outputs.contains(&o) && !opts.quantize_outputs);
                    if !skip {
                        act.insert(o, Act::Same(x));
                    }
                }
                layers.push(Layer::quantized(op, &name, "same parameters as its input"));
            }
            _ => {
                let mut any = false;
                for (slot, v) in inputs.iter().enumerate() {
                    let Some(v) = *v else { continue };
                    if !is_float(g, v) {
                        continue;
                    }
                    let is_const = matches!(g.node(v.node).op, Op::Const(_));
                    // Biases stay float here (see `int32_bias`); Clip's bounds are
                    // parameters, not data (int8 bounds would move the clamp).
                    if (weighted(op) && slot == 2) || (op == OnnxOp::Clip && slot > 0) {
                        continue;
                    }
                    if is_const {
                        let axis = if weighted(op) && opts.per_channel {
                            weight_axis(g, id, op, slot)
                        } else {
                            None
                        };
                        weights.push((id, slot, axis));
                        any = true;
                    } else {
                        any |= own(&mut act, g, v);
                    }
                }
                for slot in 0..g.node(id).outputs.len() {
                    if !g.node(id).outputs[slot].is_absent() {
                        own(&mut act, g, ValueRef::new(id, slot));
                    }
                }
                if let (true, Some(r)) = (opts.fixed_ranges, fixed_range(op)) {
                    if act.contains_key(&out0) {
                        act.insert(out0, Act::Own(r));
                    }
                }
                if any {
                    layers.push(Layer::quantized(op, &name, ""));
                } else {
                    layers.push(Layer::float(op, &name, "no float input to quantize"));
                }
            }
        }
    }

    let mut names = Names::of(g);
    // Parameters, resolving shared ones.
    let mut params: HashMap<ValueRef, QParams> = HashMap::new();
    for &v in act.keys() {
        // Follow `Same` links to the value that owns the range (chains are acyclic: each
        // link points to an earlier op's input).
        let mut at = v;
        let mut hops = 0;
        let range = loop {
            match act.get(&at) {
                Some(Act::Own(r)) => break Some(*r),
                Some(Act::Same(u)) if hops <= act.len() => {
                    at = *u;
                    hops += 1;
                }
                _ => break None,
            }
        };
        if let Some(r) = range {
            params.insert(
                v,
                activation_params(r, opts.activation, opts.symmetric_activations),
            );
        }
    }
    // QDQ pairs, in value order (deterministic).
    let mut pairs: Vec<(ValueRef, QParams)> = params.iter().map(|(v, p)| (*v, *p)).collect();
    pairs.sort_by_key(|(v, _)| (g.node(v.node).seq(), v.slot));
    // Scale and zero point constants are shared by every pair with the same parameters
    // (data-movement ops reuse their input's) and get short names: names are repeated at
    // every use and are a visible part of the file size.
    let mut shared: HashMap<(u32, i32), (ValueRef, ValueRef)> = HashMap::new();
    for (v, p) in pairs {
        let users = g.users(v);
        let base = value_name(g, v);
        let n = shared.len();
        let (scale, zp) = match shared.get(&(p.scale.to_bits(), p.zero_point)) {
            Some(c) => *c,
            None => {
                let scale = Builder::with_names(g, &mut names)
                    .constant(&format!("q{n}_s"), f32_tensor(vec![], &[p.scale]));
                let zp = Builder::with_names(g, &mut names).constant(
                    &format!("q{n}_z"),
                    zero_point_tensor(p.dtype, vec![], &[p.zero_point]),
                );
                shared.insert((p.scale.to_bits(), p.zero_point), (scale, zp));
                (scale, zp)
            }
        };
        let q = Builder::with_names(g, &mut names)
            .op(OnnxOp::QuantizeLinear, &[v, scale, zp])
            .out(format!("{base}_Q"))
            .stands_for(v)
            .add();
        let dq = Builder::with_names(g, &mut names)
            .op_opt(
                OnnxOp::DequantizeLinear,
                &[Some(ValueRef::new(q, 0)), Some(scale), Some(zp)],
            )
            .out(format!("{base}_DQ"))
            .stands_for(v)
            .add();
        // The pair is named by its values (`x_Q.0`, `x_DQ.0`); node names are optional.
        g.node_mut(q).name.clear();
        g.node_mut(dq).name.clear();
        if let Some(src) = clamped.get(&v) {
            g.node_mut(q).outputs[0].origin = Some(src.as_str().into());
            g.node_mut(dq).outputs[0].origin = Some(src.as_str().into());
        }
        redirect(g, &users, ValueRef::new(dq, 0));
        if opts.quantize_outputs && outputs.contains(&v) {
            let outs: Vec<ValueRef> = g
                .outputs()
                .iter()
                .map(|&o| if o == v { ValueRef::new(dq, 0) } else { o })
                .collect();
            g.set_outputs(outs);
            // The graph output keeps its name.
            let old = std::mem::take(&mut g.value_mut(v).expect("live").name);
            Builder::with_names(g, &mut names).rename(v, &format!("{old}_float"));
            g.value_mut(ValueRef::new(dq, 0)).expect("live").name = old;
        }
    }

    dequantized_weights(g, &mut names, &weights);
    if let Some(scope) = opts.int32_bias {
        quantize_biases(g, scope);
    }
    Ok(layers)
}

/// Puts each listed weight `(node, input slot, per-channel axis)` behind a DequantizeLinear
/// of its int8 form (symmetric, per channel along the axis, or per tensor), shared per
/// (constant, axis).
pub(crate) fn dequantized_weights(
    g: &mut Graph,
    names: &mut Names,
    weights: &[(NodeId, usize, Option<usize>)],
) {
    let mut done: HashMap<(NodeId, Option<usize>), ValueRef> = HashMap::new();
    let mut zeros: HashMap<Vec<u64>, ValueRef> = HashMap::new();
    for &(id, slot, axis) in weights {
        let Some((cid, t)) = const_input(g, id, slot) else {
            continue;
        };
        let key = (cid, axis);
        if let std::collections::hash_map::Entry::Vacant(entry) = done.entry(key) {
            let Some(qw) = quantize_weight(t, axis) else {
                continue;
            };
            let base = value_name(g, ValueRef::new(cid, 0));
            let n = qw.scales.len() as u64;
            let dims = if axis.is_some() { vec![n] } else { vec![] };
            let data = Builder::with_names(g, names).constant(&format!("{base}_i8"), qw.data);
            let scale = Builder::with_names(g, names)
                .constant(&format!("{base}_s"), f32_tensor(dims.clone(), &qw.scales));
            // The zero points are all 0 but given explicitly: onnxruntime's integer Conv
            // takes a slower path when the weight's zero point is left out (ResNet-50: 4%).
            // All-zero, so one constant per channel count serves every weight.
            let zp = match zeros.get(&dims) {
                Some(z) => *z,
                None => {
                    let z = Builder::with_names(g, names).constant(
                        &format!("zero{n}_i8"),
                        zero_point_tensor(DType::I8, dims.clone(), &vec![0; n as usize]),
                    );
                    zeros.insert(dims, z);
                    z
                }
            };
            let mut b = Builder::with_names(g, names);
            let mut dq = b
                .op_opt(
                    OnnxOp::DequantizeLinear,
                    &[Some(data), Some(scale), Some(zp)],
                )
                .out(format!("{base}_DQ"));
            if let Some(a) = axis {
                dq = dq.int("axis", a as i64);
            }
            let dq = dq.add();
            g.node_mut(dq).name.clear();
            entry.insert(ValueRef::new(dq, 0));
        }
        g.connect(done[&key], id, slot);
    }
}

/// The per-channel axis of the weight at `slot` of `id`.
pub(crate) fn weight_axis(g: &Graph, id: NodeId, op: OnnxOp, slot: usize) -> Option<usize> {
    let (_, t) = const_input(g, id, slot)?;
    let rank = t.dims.len();
    let axis = match op {
        OnnxOp::Conv => 0,
        OnnxOp::ConvTranspose => 1,
        OnnxOp::Gemm if slot == 1 => {
            if g.node(id).attrs.int("transB", 0).unwrap_or(0) != 0 {
                0
            } else {
                1
            }
        }
        OnnxOp::MatMul if slot == 1 && rank == 2 => 1,
        _ => return None,
    };
    (axis < rank).then_some(axis)
}

/// Whether a Relu / Clip can be folded into the quantization of its input.
fn removable(
    g: &Graph,
    id: NodeId,
    op: OnnxOp,
    act: &BTreeMap<ValueRef, Act>,
    outputs: &HashSet<ValueRef>,
    opts: &StaticOptions,
) -> bool {
    if opts.symmetric_activations {
        return false;
    }
    let Some(x) = g.inputs_of(id)[0] else {
        return false;
    };
    if !matches!(act.get(&x), Some(Act::Own(_))) || outputs.contains(&x) || g.users(x).len() != 1 {
        return false;
    }
    if outputs.contains(&ValueRef::new(id, 0)) {
        return false;
    }
    if op == OnnxOp::Clip {
        // Clip from exactly 0 (opset 11+: the min input; before: the attribute).
        let min = match const_input(g, id, 1) {
            Some((_, t)) => super::params::f32_elements(t).and_then(|v| v.first().copied()),
            None if g.node(id).num_inputs > 1 && g.input(id, 1).is_some() => None,
            None => g.node(id).float("min").ok(),
        };
        return min == Some(0.0);
    }
    true
}
