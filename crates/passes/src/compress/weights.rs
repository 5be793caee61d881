//! Weight-only quantization of single layers, for the budget search: a Conv / ConvTranspose /
//! Gemm / MatMul float weight stored as int8 (symmetric, per output channel, as
//! `quantize --mode int8-weight`) or int4 (MatMul: blocks along K as `int4-weight`; the others
//! per output channel) behind a DequantizeLinear; compute stays float.

use bytes::Bytes;
use modelc_ir::{Attr, Builder, DType, Graph, Names, NodeId, OnnxOp, Op, Tensor, ValueRef};

use crate::quant::edit::{const_input, value_name};
use crate::quant::int4::quantize_blocks;
use crate::quant::params::{f32_elements, f32_tensor, pack4, round_half_even};
use crate::quant::static_int8::{dequantized_weights, weight_axis};

/// Elements per int4 scale along a MatMul weight's K (as `quantize --mode int4-weight`).
pub const INT4_BLOCK: usize = 32;

/// Elements per scale of [`Precision::Int8Block`] along the input channels.
pub const INT8_BLOCK: usize = 32;

/// Weights with fewer elements stay float: the DequantizeLinear node and its scale tensors
/// would cost about what the narrower values save.
pub const MIN_ELEMENTS: u64 = 256;

/// How a layer's weight is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Precision {
    F32,
    Int8,
    /// Int8 with one scale per [`INT8_BLOCK`] elements along the input channels (a Conv's
    /// axis 1, a 2-D MatMul weight's K): an eighth more bytes than per-channel int8, and
    /// the error of a channel's outliers kept within its block (opset 21).
    Int8Block,
    Int4,
}

impl std::fmt::Display for Precision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Precision::F32 => "float32",
            Precision::Int8 => "int8",
            Precision::Int8Block => "int8 (blocks of 32)",
            Precision::Int4 => "int4",
        })
    }
}

/// Whether layer `id`'s weight (input 1) is a float32 constant of a kind this module stores,
/// of at least [`MIN_ELEMENTS`].
pub fn quantizable(g: &Graph, id: NodeId) -> bool {
    let op = g.node(id).op.onnx();
    matches!(
        op,
        Some(OnnxOp::Conv | OnnxOp::ConvTranspose | OnnxOp::Gemm | OnnxOp::MatMul)
    ) && const_input(g, id, 1).is_some_and(|(_, t)| {
        t.dtype == DType::F32 && t.element_count().unwrap_or(0) >= MIN_ELEMENTS
    }) && op.is_some_and(|op| weight_axis(g, id, op, 1).is_some())
}

/// Stores the weight of each of `layers` at `precision`; the layers it did not apply to
/// (weight not a float32 constant, or not quantizable).
pub fn quantize_layers(g: &mut Graph, layers: &[NodeId], precision: Precision) -> Vec<NodeId> {
    let (ok, mut skipped): (Vec<NodeId>, Vec<NodeId>) =
        layers.iter().partition(|&&id| quantizable(g, id));
    let floats: Vec<NodeId> = ok
        .iter()
        .filter_map(|&id| const_input(g, id, 1).map(|(c, _)| c))
        .collect();
    let mut names = Names::of(g);
    match precision {
        Precision::F32 => {}
        Precision::Int8 => {
            let weights: Vec<(NodeId, usize, Option<usize>)> = ok
                .iter()
                .map(|&id| {
                    let op = g.node(id).op.onnx().expect("quantizable");
                    (id, 1, weight_axis(g, id, op, 1))
                })
                .collect();
            dequantized_weights(g, &mut names, &weights);
        }
        Precision::Int8Block => {
            for &id in &ok {
                if !int8_blocks(g, &mut names, id) {
                    skipped.push(id);
                }
            }
        }
        Precision::Int4 => {
            for &id in &ok {
                int4(g, &mut names, id);
            }
        }
    }
    // The float weights go when nothing else reads them.
    for c in floats {
        let v = ValueRef::new(c, 0);
        if g.try_node(c).is_some_and(|n| matches!(n.op, Op::Const(_)))
            && g.users(v).is_empty()
            && !g.outputs().contains(&v)
        {
            g.remove_node(c);
        }
    }
    skipped
}

/// Int4 weight of layer `id`: blocks along K for a 2-D MatMul weight, one scale per output
/// channel otherwise.
fn int4(g: &mut Graph, names: &mut Names, id: NodeId) {
    let Some(op) = g.node(id).op.onnx() else {
        return;
    };
    let Some((cid, t)) = const_input(g, id, 1) else {
        return;
    };
    let (data, scale, axis, block) = if op == OnnxOp::MatMul && t.dims.len() == 2 {
        let Some((d, s)) = quantize_blocks(t, 0, INT4_BLOCK) else {
            return;
        };
        (d, s, 0, Some(INT4_BLOCK))
    } else {
        let Some(axis) = weight_axis(g, id, op, 1) else {
            return;
        };
        let Some((d, s)) = per_channel_int4(t, axis) else {
            return;
        };
        (d, s, axis, None)
    };
    dequantized_weight(g, names, id, cid, "int4", data, scale, axis, block);
}

/// Makes layer `id`'s weight input (slot 1, now constant `cid`) a DequantizeLinear of the
/// stored `data` (named after the weight with `suffix`) and `scale`, along `axis`, in
/// blocks of `block` elements when given.
#[allow(clippy::too_many_arguments)]
fn dequantized_weight(
    g: &mut Graph,
    names: &mut Names,
    id: NodeId,
    cid: NodeId,
    suffix: &str,
    data: Tensor,
    scale: Tensor,
    axis: usize,
    block: Option<usize>,
) {
    let base = value_name(g, ValueRef::new(cid, 0));
    let d = Builder::with_names(g, names).constant(&format!("{base}_{suffix}"), data);
    let s = Builder::with_names(g, names).constant(&format!("{base}_scale"), scale);
    let mut attrs: modelc_ir::Attrs = vec![("axis", Attr::Int(axis as i64))].into_iter().collect();
    if let Some(b) = block {
        attrs.set("block_size", Attr::Int(b as i64));
    }
    let n = Builder::with_names(g, names)
        .op(OnnxOp::DequantizeLinear, &[d, s])
        .out(format!("{base}_DequantizeLinear"))
        .attrs(attrs)
        .add();
    g.connect(ValueRef::new(n, 0), id, 1);
}

/// Int8 weight of layer `id` (a Conv, or a MatMul with a 2-D weight) with one scale per
/// [`INT8_BLOCK`] input channels of each output channel; false (nothing changed) for other
/// layers and for weights with no more input channels than one block.
fn int8_blocks(g: &mut Graph, names: &mut Names, id: NodeId) -> bool {
    let axis = match g.node(id).op.onnx() {
        Some(OnnxOp::Conv) => 1,
        Some(OnnxOp::MatMul) => 0,
        _ => return false,
    };
    let Some((cid, t)) = const_input(g, id, 1) else {
        return false;
    };
    if (axis == 0 && t.dims.len() != 2)
        || t.dims.get(axis).is_none_or(|&d| d as usize <= INT8_BLOCK)
    {
        return false;
    }
    let Some((data, scale)) = blocked_int8(t, axis, INT8_BLOCK) else {
        return false;
    };
    dequantized_weight(
        g,
        names,
        id,
        cid,
        "i8b",
        data,
        scale,
        axis,
        Some(INT8_BLOCK),
    );
    true
}

/// Symmetric int8 (±127) of `t` with one scale per `block` elements along `axis` (for each
/// index of the other axes): the data, and the scales (of `t`'s rank, `axis` of
/// ⌈len / block⌉), as a blocked DequantizeLinear reads them.
fn blocked_int8(t: &Tensor, axis: usize, block: usize) -> Option<(Tensor, Tensor)> {
    let v = f32_elements(t)?;
    let dims: Vec<usize> = t.dims.iter().map(|&d| d as usize).collect();
    let len = *dims.get(axis)?;
    let outer: usize = dims[..axis].iter().product();
    let inner: usize = dims[axis + 1..].iter().product();
    let blocks = len.div_ceil(block);
    let scale_of = |i: usize| {
        let (o, rest) = (i / (len * inner), i % (len * inner));
        let (a, r) = (rest / inner, rest % inner);
        (o * blocks + a / block) * inner + r
    };
    let mut absmax = vec![0f32; outer * blocks * inner];
    for (i, &x) in v.iter().enumerate() {
        let k = scale_of(i);
        absmax[k] = absmax[k].max(x.abs());
    }
    let scales: Vec<f32> = absmax
        .iter()
        .map(|&m| if m > 0.0 { m / 127.0 } else { 1.0 })
        .collect();
    let q: Vec<u8> = v
        .iter()
        .enumerate()
        .map(|(i, &x)| round_half_even(x / scales[scale_of(i)]).clamp(-127.0, 127.0) as i8 as u8)
        .collect();
    let data = Tensor::from_raw(DType::I8, t.dims.clone(), Bytes::from(q)).ok()?;
    let mut sdims = t.dims.clone();
    sdims[axis] = blocks as u64;
    Some((data, f32_tensor(sdims, &scales)))
}

/// Symmetric int4 (±7) with one scale per index of `axis`.
fn per_channel_int4(t: &Tensor, axis: usize) -> Option<(Tensor, Tensor)> {
    let v = f32_elements(t)?;
    let dims: Vec<usize> = t.dims.iter().map(|&d| d as usize).collect();
    let channels = *dims.get(axis)?;
    let inner: usize = dims[axis + 1..].iter().product();
    let channel_of = |i: usize| (i / inner.max(1)) % channels.max(1);
    let mut absmax = vec![0f32; channels];
    for (i, &x) in v.iter().enumerate() {
        absmax[channel_of(i)] = absmax[channel_of(i)].max(x.abs());
    }
    let scales: Vec<f32> = absmax
        .iter()
        .map(|&m| crate::quant::int4::symmetric_int4_scale(m))
        .collect();
    let q: Vec<i32> = v
        .iter()
        .enumerate()
        .map(|(i, &x)| round_half_even(x / scales[channel_of(i)]).clamp(-8.0, 7.0) as i32)
        .collect();
    let data = Tensor::from_raw(DType::I4, t.dims.clone(), Bytes::from(pack4(&q))).ok()?;
    Some((data, f32_tensor(vec![channels as u64], &scales)))
}

/// Whether constant `id` is a float32 weight (rank ≥ 2, at least [`MIN_ELEMENTS`]) that no
/// layer owns: not the weight (input 1) of a Conv / ConvTranspose / Gemm / MatMul, which are
/// layers of their own, nor a quantization parameter. Such a weight is read by a sub-graph
/// (an If / Loop body captures it by name) or by ops such as LSTM, often behind Slice / Concat
/// (silero VAD's LSTM weights, gate-reordered inside an If, or at the top level once the If
/// is folded): per-layer options cannot reach it, so the constant itself is the layer.
pub fn constant_layer(g: &Graph, id: NodeId) -> bool {
    let Op::Const(t) = &g.node(id).op else {
        return false;
    };
    let users = g.users(ValueRef::new(id, 0));
    t.dtype == DType::F32
        && t.dims.len() >= 2
        && t.element_count().unwrap_or(0) >= MIN_ELEMENTS
        && !users.is_empty()
        && users.iter().all(|&(user, slot)| {
            let op = g.node(user).op.onnx();
            let weight = slot == 1
                && matches!(
                    op,
                    Some(OnnxOp::Conv | OnnxOp::ConvTranspose | OnnxOp::Gemm | OnnxOp::MatMul)
                );
            let qparam = matches!(op, Some(OnnxOp::DequantizeLinear | OnnxOp::QuantizeLinear));
            !weight && !qparam
        })
}

/// The per-channel axis of a constant layer: its first axis longer than 1 (an LSTM / GRU
/// weight's rows are its gates' output channels).
fn constant_axis(t: &Tensor) -> Option<usize> {
    if t.dims.len() < 2 {
        return None;
    }
    t.dims.iter().position(|&d| d > 1)
}

/// Stores constant `id` at `precision` (symmetric, one scale per index of its first axis
/// longer than 1) behind a DequantizeLinear that takes over its name and readers — sub-graphs
/// capture outer values by name — and removes it. False when it does not apply.
pub fn quantize_constant(g: &mut Graph, id: NodeId, precision: Precision) -> bool {
    let Op::Const(t) = &g.node(id).op else {
        return false;
    };
    if t.dtype != DType::F32 {
        return false;
    }
    let axis = constant_axis(t);
    let (data, scales) = match precision {
        Precision::F32 | Precision::Int8Block => return false,
        Precision::Int8 => {
            let Some(q) = crate::quant::params::quantize_weight(t, axis) else {
                return false;
            };
            (q.data, q.scales)
        }
        Precision::Int4 => {
            let Some((d, s)) = axis.and_then(|a| per_channel_int4(t, a)) else {
                return false;
            };
            (
                d,
                crate::quant::params::f32_elements(&s).unwrap_or_default(),
            )
        }
    };
    // Per tensor (no axis): one scale, a scalar.
    let scale = match axis {
        Some(_) => f32_tensor(vec![scales.len() as u64], &scales),
        None => f32_tensor(vec![], &scales[..1]),
    };
    let old = ValueRef::new(id, 0);
    let base = value_name(g, old);
    let mut names = Names::of(g);
    let suffix = if precision == Precision::Int4 {
        "int4"
    } else {
        "i8"
    };
    let d = Builder::with_names(g, &mut names).constant(&format!("{base}_{suffix}"), data);
    let s = Builder::with_names(g, &mut names).constant(&format!("{base}_scale"), scale);
    let mut b = Builder::with_names(g, &mut names);
    let mut dq = b
        .op(OnnxOp::DequantizeLinear, &[d, s])
        .out(format!("{base}_DQ"));
    if let Some(a) = axis {
        dq = dq.int("axis", a as i64);
    }
    let dq = dq.add();
    modelc_ir::build::take_over(g, old, ValueRef::new(dq, 0));
    g.remove_node(id);
    true
}
