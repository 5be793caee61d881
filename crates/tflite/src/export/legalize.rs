//! Rewrites, on the exporter's private copy of the graph, of ops TFLite has no builtin for
//! into ops it has — the forms TensorFlow's converter emits for them:
//! - `BatchNormalization` not folded into a convolution (DenseNet's pre-activation BN) →
//!   `Mul` + `Add` with per-channel constants (MUL, ADD);
//! - `HardSigmoid` (MobileNetV3's squeeze-excitation gate) → `Mul` + `Add` + `Clip(0, 1)`
//!   (MUL, ADD, RELU_0_TO_1);
//! - `LayerNormalization` (opset 17+) → mean and variance over the normalized axes with
//!   `ReduceMean`, then `Sub`, `Div` by `Sqrt(var + epsilon)`, `Mul` by the scale and `Add`
//!   of the bias (MEAN, SUB, MUL, ADD, SQRT, DIV);
//! - `Softmax` / `LogSoftmax` before opset 13, which normalize over every axis from `axis`
//!   (default 1) on: the axis made explicit, and when it is not the last, the input
//!   flattened there (`Reshape`, softmax over the last axis, `Reshape` back);
//! - `DepthToSpace` in CRD mode (torch's `pixel_shuffle`) → DCR mode (DEPTH_TO_SPACE) on
//!   channels reordered: by permuting the producing convolution's filters and bias when it
//!   has constant float ones read by nothing else (a super-resolution head), else by a
//!   `Gather` along the channels (GATHER);
//! - grouped `ConvTranspose` (TRANSPOSE_CONV has no groups; FCN-style learned upsampling
//!   is one per channel) with constant float weights → per group a `Slice` of the input
//!   channels and a `ConvTranspose` with that group's weights and bias, then `Concat`;
//! - `Einsum` of one or two operands → `ReduceSum`, `Transpose`, `Reshape`, `MatMul` (see
//!   `einsum.rs`);
//! - `Gemm` that FULLY_CONNECTED cannot take (transA, alpha ≠ 1, a B that is not constant,
//!   a C that is not one bias per column or has beta ≠ 1) → `Transpose`s, `MatMul`, `Mul`
//!   by alpha, `Add` of beta · C; `MatMul` with a 1-D operand (numpy's vector rule) → the
//!   vector made a 1-row / 1-column matrix (`Unsqueeze`), `MatMul`, `Squeeze`;
//! - `Pad` in edge mode (torch's replicate; MIRROR_PAD has no such mode) of known shape →
//!   per padded axis the first / last slice `Expand`ed to the pad's width and `Concat`ed
//!   around the input (STRIDED_SLICE, BROADCAST_TO, CONCATENATION);
//! - `Pad` with negative pads (torch's cropping `F.pad`) → a `Slice` of the cropped sides,
//!   then the `Pad` of the positive ones, if any;
//! - `Mod` with fmod 1 (C's fmod: the dividend's sign) → the floor modulo (`Mod` fmod 0,
//!   FLOOR_MOD) less the divisor where it is non-zero and its sign differs from the
//!   dividend's (EQUAL, LESS, LOGICAL_NOT/AND, SUB, SELECT_V2): exact, as both are;
//! - `Softplus` → `Relu(x) + Log(1 + Exp(-Abs(x)))` (no overflow for large x), `Mish` →
//!   `x · Tanh(softplus(x))`, `Elu` with alpha ≠ 1 → `Relu(x) + alpha · (Exp(Min(x, 0)) − 1)`
//!   (float32; RELU, ABS, NEG, EXP, LOG, TANH, MINIMUM, ADD, SUB, MUL);
//! - the erf form of GELU that opsets before 20 export → `Gelu` (GELU): the `fuse-gelu`
//!   pattern, run whatever opset the model imports, since this graph is only lowered.
//!
//! After the layout pass, [`flatten_nhwc`] lets a dense layer read an NHWC feature map
//! directly (its weight permuted) instead of through a TRANSPOSE back to NCHW, and
//! [`lift_1d`] turns 1-D convolution and pooling into their 2-D forms.
//!
//! Each rewrite keeps the op when its inputs are not what it needs (non-constant BN
//! statistics, unknown rank), so lowering reports it as unsupported with its name.

mod einsum;

use modelc_ir::{
    Attr, Attrs, Builder, DType, Graph, Layout, NodeId, OnnxOp, OpsetImport, ValueRef,
};
use modelc_passes::passes::fuse_conv_bn::bn_affine;
use modelc_passes::passes::fuse_gelu::FuseGelu;
use modelc_passes::pattern::{
    const_tensor, extra_outputs_unused, float_const, float_tensor, only_user, rank_of,
    remove_with_dead_consts, set_const_if_unshared,
};
use modelc_passes::util::const_ints;
use modelc_passes::{Pass, PassContext};

/// Applies every rewrite to the top-level graph (TFLite export has no sub-graphs).
pub(crate) fn decompose(g: &mut Graph, opset: i64) {
    let mut b = Builder::new(g);
    let g = &mut b;
    let ids: Vec<NodeId> = g.node_ids().collect();
    for id in ids {
        let Some(op) = g.try_node(id).and_then(|n| n.op.onnx()) else {
            continue;
        };
        match op {
            OnnxOp::BatchNormalization => batch_norm(g, id),
            OnnxOp::HardSigmoid if opset >= 11 => hard_sigmoid(g, id),
            OnnxOp::LayerNormalization => layer_norm(g, id, opset),
            OnnxOp::Softmax | OnnxOp::LogSoftmax if opset < 13 => legacy_softmax(g, id, op),
            OnnxOp::DepthToSpace => depth_to_space_crd(g, id),
            OnnxOp::ConvTranspose if opset >= 10 => grouped_conv_transpose(g, id),
            OnnxOp::Softplus | OnnxOp::Mish => softplus(g, id, op),
            OnnxOp::Elu => elu(g, id),
            OnnxOp::Einsum => einsum::einsum(g, id, opset),
            OnnxOp::Gemm => general_gemm(g, id),
            OnnxOp::Pad if opset >= 11 => {
                if let Some(id) = crop_negative_pads(g, id) {
                    edge_pad(g, id);
                }
            }
            OnnxOp::Mod => c_fmod(g, id),
            OnnxOp::MatMul => vector_matmul(g, id, opset),
            _ => {}
        }
    }
    let mut cx = PassContext {
        opsets: vec![OpsetImport {
            domain: String::new(),
            version: opset.max(20),
        }],
        notes: Vec::new(),
    };
    // Cannot fail: the pass only matches patterns.
    let _ = FuseGelu.run(g, &mut cx);
}

/// `DepthToSpace` mode CRD → DCR after reordering the channels (see the module docs).
fn depth_to_space_crd(g: &mut Builder<'_>, id: NodeId) {
    let node = g.node(id);
    if node.attrs.string("mode", "DCR").ok().as_deref() != Some("CRD") {
        return;
    }
    let (Ok(r), Some(x)) = (node.attrs.int("blocksize", 0), g.input(id, 0)) else {
        return;
    };
    let channels = g
        .shape_of(x)
        .and_then(|s| s.0.get(1).and_then(|d| d.known()))
        .filter(|_| rank_of(g, x) == Some(4));
    let Some(channels) = channels else { return };
    let rr = match u64::try_from(r) {
        Ok(r) if (1..=1 << 16).contains(&r) && channels.is_multiple_of(r * r) => r * r,
        _ => return,
    };
    // The channel order is materialized: a hostile declared size must stay small.
    if channels > 1 << 20 {
        return;
    }
    let c = channels / rr;
    // DCR channel (b·C + ch) reads CRD channel (ch·r² + b), b = i·r + j.
    let order: Vec<u64> = (0..channels).map(|k| (k % c) * rr + k / c).collect();
    let name = node.name.clone();
    if !permute_conv_outputs(g, x, &order) {
        let idx: Vec<i64> = order.iter().map(|&o| o as i64).collect();
        let idx = g.const_i64s(&format!("{name}_crd_order"), &idx);
        let gathered = g
            .op(OnnxOp::Gather, &[x, idx])
            .out(format!("{name}_dcr"))
            .int("axis", 1)
            .value();
        g.connect(gathered, id, 0);
    }
    g.node_mut(id).attrs.set("mode", Attr::String("DCR".into()));
}

/// Reorders the output channels of the `Conv` producing `x` (output `k` becomes the old
/// output `order[k]`) when it is `x`'s only reader's producer with constant float weight and
/// bias read by nothing else. False (nothing changed) otherwise.
fn permute_conv_outputs(g: &mut Graph, x: ValueRef, order: &[u64]) -> bool {
    let conv = x.node;
    if g.node(conv).op.onnx() != Some(OnnxOp::Conv)
        || only_user(g, x).is_none()
        || g.outputs().contains(&x)
        || g.node(conv).attrs.int("group", 1).ok() != Some(1)
    {
        return false;
    }
    let (Some(w), b) = (g.input(conv, 1), g.input(conv, 2)) else {
        return false;
    };
    let permuted = |g: &Graph, v: ValueRef| -> Option<modelc_ir::Tensor> {
        let t = const_tensor(g, v)?;
        if only_user(g, v).is_none() || !matches!(t.dtype, DType::F32 | DType::F16) {
            return None;
        }
        if t.dims.first() != Some(&(order.len() as u64)) {
            return None;
        }
        let raw = t.raw()?;
        let row = raw.len() / order.len();
        let mut out = Vec::with_capacity(raw.len());
        for &o in order {
            out.extend_from_slice(&raw[o as usize * row..(o as usize + 1) * row]);
        }
        modelc_ir::Tensor::from_raw(t.dtype, t.dims.clone(), out.into()).ok()
    };
    let Some(new_w) = permuted(g, w) else {
        return false;
    };
    let new_b = match b {
        Some(b) => match permuted(g, b) {
            Some(t) => Some((b, t)),
            None => return false,
        },
        None => None,
    };
    set_const_if_unshared(g, w, new_w);
    if let Some((b, t)) = new_b {
        set_const_if_unshared(g, b, t);
    }
    true
}

/// `Softmax` / `LogSoftmax` (opset 13+) over an axis other than the last, which SOFTMAX
/// cannot do (after the layout pass, which moves a channel softmax last itself): TRANSPOSE
/// the axis last, softmax, TRANSPOSE back. Not for dequantized inputs (the int8 softmax
/// must read its quantized input directly). Returns whether anything changed.
pub(crate) fn softmax_last_axis(g: &mut Graph, opset: i64) -> bool {
    let mut b = Builder::new(g);
    let g = &mut b;
    if opset < 13 {
        return false; // `legacy_softmax` made these 2-D.
    }
    let mut changed = false;
    let ids: Vec<NodeId> = g.node_ids().collect();
    for id in ids {
        let Some(op @ (OnnxOp::Softmax | OnnxOp::LogSoftmax)) =
            g.try_node(id).and_then(|n| n.op.onnx())
        else {
            continue;
        };
        let Some(x) = g.input(id, 0) else { continue };
        let Some(rank) = rank_of(g, x) else { continue };
        let Ok(axis) = g.node(id).attrs.int("axis", -1) else {
            continue;
        };
        let r = rank as i64;
        let axis = if axis < 0 { axis + r } else { axis };
        let from_dq = g.node(x.node).op.onnx() == Some(OnnxOp::DequantizeLinear);
        if !(0..r - 1).contains(&axis) || from_dq {
            continue;
        }
        let mut perm: Vec<i64> = (0..r).filter(|&a| a != axis).collect();
        perm.push(axis);
        let mut back = vec![0i64; rank];
        for (i, &p) in perm.iter().enumerate() {
            back[p as usize] = i as i64;
        }
        let name = g.node(id).name.clone();
        let t = g
            .op(OnnxOp::Transpose, &[x])
            .out(format!("{name}_to_last"))
            .ints("perm", perm)
            .value();
        let sm = g
            .op(op, &[t])
            .out(format!("{name}_last"))
            .int("axis", -1)
            .value();
        let y = g
            .op(OnnxOp::Transpose, &[sm])
            .out(name.as_str())
            .ints("perm", back)
            .value();
        g.replace_node(id, y);
        changed = true;
    }
    changed
}

/// A constant, or a DequantizeLinear of one (a quantized weight or int32 bias).
fn const_or_dq(g: &Graph, v: ValueRef) -> Option<&modelc_ir::Tensor> {
    match g.node(v.node).op.onnx() {
        Some(OnnxOp::DequantizeLinear) => const_tensor(g, g.input(v.node, 0)?),
        _ => const_tensor(g, v),
    }
}

/// `Mod` fmod 1 → floor modulo and a sign fix (see the module docs).
fn c_fmod(g: &mut Builder<'_>, id: NodeId) {
    if g.node(id).attrs.int("fmod", 0).ok() != Some(1) {
        return;
    }
    let (Some(a), Some(b)) = (g.input(id, 0), g.input(id, 1)) else {
        return;
    };
    let Some(dtype) = g
        .dtype_of(a)
        .filter(|d| matches!(d, DType::F32 | DType::I32 | DType::I64))
    else {
        return;
    };
    let name = g.node(id).name.clone();
    // All-zero bytes are 0 in each of these dtypes.
    let width = (dtype.bits() / 8) as usize;
    let zero = modelc_ir::Tensor::from_raw(dtype, vec![], vec![0u8; width].into()).expect("scalar");
    let zero = g.constant(&format!("{name}_zero"), zero);
    let r = g
        .op(OnnxOp::Mod, &[a, b])
        .out(format!("{name}_floor_mod"))
        .int("fmod", 0)
        .value();
    let is_zero = g
        .op(OnnxOp::Equal, &[r, zero])
        .out(format!("{name}_is_zero"))
        .value();
    let nonzero = g
        .op(OnnxOp::Not, &[is_zero])
        .out(format!("{name}_nonzero"))
        .value();
    let r_neg = g
        .op(OnnxOp::Less, &[r, zero])
        .out(format!("{name}_r_negative"))
        .value();
    let a_neg = g
        .op(OnnxOp::Less, &[a, zero])
        .out(format!("{name}_a_negative"))
        .value();
    let same = g
        .op(OnnxOp::Equal, &[r_neg, a_neg])
        .out(format!("{name}_same_sign"))
        .value();
    let differ = g
        .op(OnnxOp::Not, &[same])
        .out(format!("{name}_sign_differs"))
        .value();
    let fix = g
        .op(OnnxOp::And, &[nonzero, differ])
        .out(format!("{name}_fix"))
        .value();
    let shifted = g
        .op(OnnxOp::Sub, &[r, b])
        .out(format!("{name}_shifted"))
        .value();
    let y = g
        .op(OnnxOp::Where, &[fix, shifted, r])
        .out(format!("{name}_fmod"))
        .value();
    g.replace_node(id, y);
}

/// Negative pads → a crop first (see the module docs). Returns the Pad node left to do the
/// rest (`id` itself), or `None` when the crop was all of it.
fn crop_negative_pads(g: &mut Builder<'_>, id: NodeId) -> Option<NodeId> {
    let (Some(x), Some(pv)) = (g.input(id, 0), g.input(id, 1)) else {
        return Some(id);
    };
    if g.input(id, 3).is_some() {
        return Some(id);
    }
    let (Some(dims), Some(pads)) = (g.shape_of(x).and_then(|s| s.as_known()), const_ints(g, pv))
    else {
        return Some(id);
    };
    let rank = dims.len();
    if pads.len() != 2 * rank || pads.iter().all(|&p| p >= 0) {
        return Some(id);
    }
    let (mut axes, mut starts, mut ends) = (Vec::new(), Vec::new(), Vec::new());
    for (axis, &d) in dims.iter().enumerate() {
        let (b, e) = (pads[axis].min(0), pads[axis + rank].min(0));
        if b == 0 && e == 0 {
            continue;
        }
        // Cropping more than the axis holds is refused (ONNX leaves that undefined).
        if b.saturating_neg().saturating_add(e.saturating_neg()) > d as i64 {
            return Some(id);
        }
        axes.push(axis as i64);
        starts.push(-b);
        ends.push(d as i64 + e);
    }
    let name = g.node(id).name.clone();
    let (st, en, ax) = (
        g.const_i64s(&format!("{name}_crop_starts"), &starts),
        g.const_i64s(&format!("{name}_crop_ends"), &ends),
        g.const_i64s(&format!("{name}_crop_axes"), &axes),
    );
    let cropped = g
        .op(OnnxOp::Slice, &[x, st, en, ax])
        .out(format!("{name}_crop"))
        .value();
    if pads.iter().all(|&p| p <= 0) {
        g.replace_node(id, cropped);
        return None;
    }
    // The positive pads stay with the Pad, now reading the cropped input.
    let rest: Vec<i64> = pads.iter().map(|&p| p.max(0)).collect();
    let rest = g.const_i64s(&format!("{name}_pads"), &rest);
    g.connect(cropped, id, 0);
    g.connect(rest, id, 1);
    // The crop's type, so the edge-mode rewrite can read its shape.
    let mut cropped_dims = dims.clone();
    for ((&a, &s), &e) in axes.iter().zip(&starts).zip(&ends) {
        cropped_dims[a as usize] = (e - s) as u64;
    }
    if let Some(dtype) = g.dtype_of(x) {
        let ty = modelc_ir::TypeInfo::from(modelc_ir::ValueType::tensor(dtype, &cropped_dims));
        if let Some(v) = g.value_mut(cropped) {
            v.ty = Some(ty);
        }
    }
    Some(id)
}

/// `Pad` mode edge → slices, expands and concats (see the module docs).
fn edge_pad(g: &mut Builder<'_>, id: NodeId) {
    if g.node(id).attrs.string("mode", "constant").ok().as_deref() != Some("edge") {
        return;
    }
    let (Some(x), Some(pv)) = (g.input(id, 0), g.input(id, 1)) else {
        return;
    };
    // An `axes` input (opset 18) is not handled: all axes' pads are expected.
    if g.input(id, 3).is_some() {
        return;
    }
    let (Some(mut dims), Some(pads)) =
        (g.shape_of(x).and_then(|s| s.as_known()), const_ints(g, pv))
    else {
        return;
    };
    let rank = dims.len();
    // Bounded: each padded axis is one BROADCAST_TO of the pad's width.
    if pads.len() != 2 * rank || pads.iter().any(|&p| !(0..1 << 20).contains(&p)) {
        return;
    }
    if dims.iter().any(|&d| d == 0 || d >= 1 << 31) {
        return;
    }
    let name = g.node(id).name.clone();
    let mut v = x;
    for axis in 0..rank {
        let (begin, end) = (pads[axis], pads[axis + rank]);
        if begin == 0 && end == 0 {
            continue;
        }
        let ax = g.const_i64s(&format!("{name}_axis{axis}"), &[axis as i64]);
        let mut parts = Vec::new();
        for (width, start, stop, side) in [
            (begin, 0, 1, "begin"),
            (0, 0, 0, "input"),
            (end, -1, i64::MAX, "end"),
        ] {
            if side == "input" {
                parts.push(v);
                continue;
            }
            if width == 0 {
                continue;
            }
            let (st, sp) = (
                g.const_i64s(&format!("{name}_{side}{axis}_start"), &[start]),
                g.const_i64s(&format!("{name}_{side}{axis}_stop"), &[stop]),
            );
            let edge = g
                .op(OnnxOp::Slice, &[v, st, sp, ax])
                .out(format!("{name}_{side}{axis}"))
                .value();
            let mut shape: Vec<i64> = dims.iter().map(|&d| d as i64).collect();
            shape[axis] = width;
            let shape = g.const_i64s(&format!("{name}_{side}{axis}_shape"), &shape);
            parts.push(
                g.op(OnnxOp::Expand, &[edge, shape])
                    .out(format!("{name}_{side}{axis}_repeated"))
                    .value(),
            );
        }
        v = g
            .op(OnnxOp::Concat, &parts)
            .out(format!("{name}_axis{axis}_padded"))
            .int("axis", axis as i64)
            .value();
        dims[axis] += (begin + end) as u64;
    }
    if v != x {
        g.replace_node(id, v);
    }
}

/// `Gemm` → `MatMul` and elementwise ops when FULLY_CONNECTED cannot express it.
fn general_gemm(g: &mut Builder<'_>, id: NodeId) {
    let node = g.node(id);
    let (Ok(ta), Ok(tb), Ok(alpha), Ok(beta)) = (
        node.attrs.int("transA", 0),
        node.attrs.int("transB", 0),
        node.attrs.float("alpha", 1.0),
        node.attrs.float("beta", 1.0),
    ) else {
        return;
    };
    let (Some(a), Some(b)) = (g.input(id, 0), g.input(id, 1)) else {
        return;
    };
    let c = g.input(id, 2);
    let b_const = const_or_dq(g, b).is_some_and(|t| t.dims.len() == 2);
    let columns = const_or_dq(g, b).and_then(|t| t.dims.get(if tb != 0 { 0 } else { 1 }).copied());
    let c_is_bias = c.is_none_or(|c| {
        beta == 1.0
            && const_or_dq(g, c).is_some_and(|t| Some(t.dims.iter().product::<u64>()) == columns)
    });
    if ta == 0 && alpha == 1.0 && b_const && c_is_bias {
        return; // FULLY_CONNECTED.
    }
    if g.dtype_of(a) != Some(DType::F32) {
        return;
    }
    let name = node.name.clone();
    let transposed = |g: &mut Builder<'_>, v: ValueRef, t: i64, what: &str| {
        if t == 0 {
            return v;
        }
        let mut attrs = Attrs::default();
        attrs.set("perm", Attr::Ints(vec![1, 0]));
        g.op(OnnxOp::Transpose, &[v])
            .out(format!("{name}_{what}_t"))
            .attrs(attrs)
            .value()
    };
    let a2 = transposed(g, a, ta, "a");
    let b2 = transposed(g, b, tb, "b");
    let mut y = g
        .op(OnnxOp::MatMul, &[a2, b2])
        .out(format!("{name}_matmul"))
        .value();
    if alpha != 1.0 {
        let s = g.const_f32(&format!("{name}_alpha"), alpha);
        y = g
            .op(OnnxOp::Mul, &[y, s])
            .out(format!("{name}_scaled"))
            .value();
    }
    if let Some(c) = c {
        let c = if beta != 1.0 {
            let s = g.const_f32(&format!("{name}_beta"), beta);
            g.op(OnnxOp::Mul, &[c, s])
                .out(format!("{name}_c_scaled"))
                .value()
        } else {
            c
        };
        y = g
            .op(OnnxOp::Add, &[y, c])
            .out(format!("{name}_sum"))
            .value();
    }
    g.replace_node(id, y);
}

/// `MatMul` with a 1-D operand (see the module docs).
fn vector_matmul(g: &mut Builder<'_>, id: NodeId, opset: i64) {
    let (Some(a), Some(b)) = (g.input(id, 0), g.input(id, 1)) else {
        return;
    };
    let (ra, rb) = (rank_of(g, a), rank_of(g, b));
    if ra != Some(1) && rb != Some(1) || ra.is_none() || rb.is_none() {
        return;
    }
    let name = g.node(id).name.clone();
    let axes_of = |g: &mut Builder<'_>, op: OnnxOp, v: ValueRef, axis: i64, what: &str| {
        let mut attrs = Attrs::default();
        let mut inputs = vec![v];
        if opset >= 13 {
            inputs.push(g.const_i64s(&format!("{name}_{what}_axes"), &[axis]));
        } else {
            attrs.set("axes", Attr::Ints(vec![axis]));
        }
        g.op(op, &inputs)
            .out(format!("{name}_{what}"))
            .attrs(attrs)
            .value()
    };
    // [K] · [.., K, N]: a row [1, K]; [.., M, K] · [K]: a column [K, 1]. A constant vector
    // becomes a constant matrix (same bytes), so a FULLY_CONNECTED can take it as weights.
    let matrix = |g: &mut Builder<'_>, v: ValueRef, axis: i64, what: &str| match const_tensor(g, v)
    {
        Some(t) if t.dims.len() == 1 => {
            let mut m = t.clone();
            m.dims = if axis == 0 {
                vec![1, t.dims[0]]
            } else {
                vec![t.dims[0], 1]
            };
            g.constant(&format!("{name}_{what}"), m)
        }
        _ => axes_of(g, OnnxOp::Unsqueeze, v, axis, what),
    };
    let a2 = if ra == Some(1) {
        matrix(g, a, 0, "row")
    } else {
        a
    };
    let b2 = if rb == Some(1) {
        matrix(g, b, 1, "column")
    } else {
        b
    };
    let mut y = g
        .op(OnnxOp::MatMul, &[a2, b2])
        .out(format!("{name}_matrix"))
        .value();
    if rb == Some(1) {
        y = axes_of(g, OnnxOp::Squeeze, y, -1, "squeeze_column");
    }
    if ra == Some(1) {
        // The row's axis is second to last now, or last when B was a column too.
        let axis = if rb == Some(1) { -1 } else { -2 };
        y = axes_of(g, OnnxOp::Squeeze, y, axis, "squeeze_row");
    }
    g.replace_node(id, y);
}

/// The float32 input of a unary op, when that is what it reads.
fn f32_input(g: &Graph, id: NodeId) -> Option<ValueRef> {
    g.input(id, 0)
        .filter(|&x| g.dtype_of(x) == Some(DType::F32))
}

/// `Softplus` / `Mish` (see the module docs).
fn softplus(g: &mut Builder<'_>, id: NodeId, op: OnnxOp) {
    let Some(x) = f32_input(g, id) else { return };
    let name = g.node(id).name.clone();
    let one = g.const_f32(&format!("{name}_one"), 1.0);
    let pos = g.op(OnnxOp::Relu, &[x]).out(format!("{name}_pos")).value();
    let abs = g.op(OnnxOp::Abs, &[x]).out(format!("{name}_abs")).value();
    let neg = g.op(OnnxOp::Neg, &[abs]).out(format!("{name}_neg")).value();
    let exp = g.op(OnnxOp::Exp, &[neg]).out(format!("{name}_exp")).value();
    let sum = g
        .op(OnnxOp::Add, &[exp, one])
        .out(format!("{name}_one_plus"))
        .value();
    let log = g.op(OnnxOp::Log, &[sum]).out(format!("{name}_log")).value();
    let sp = g
        .op(OnnxOp::Add, &[pos, log])
        .out(format!("{name}_softplus"))
        .value();
    let y = if op == OnnxOp::Mish {
        let t = g
            .op(OnnxOp::Tanh, &[sp])
            .out(format!("{name}_tanh"))
            .value();
        g.op(OnnxOp::Mul, &[x, t])
            .out(format!("{name}_mish"))
            .value()
    } else {
        sp
    };
    g.replace_node(id, y);
}

/// `Elu` with alpha ≠ 1 (ELU has no alpha; see the module docs).
fn elu(g: &mut Builder<'_>, id: NodeId) {
    let Ok(alpha) = g.node(id).attrs.float("alpha", 1.0) else {
        return;
    };
    let Some(x) = f32_input(g, id).filter(|_| alpha != 1.0) else {
        return;
    };
    let name = g.node(id).name.clone();
    let (zero, one) = (
        g.const_f32(&format!("{name}_zero"), 0.0),
        g.const_f32(&format!("{name}_one"), 1.0),
    );
    let a = g.const_f32(&format!("{name}_alpha"), alpha);
    let pos = g.op(OnnxOp::Relu, &[x]).out(format!("{name}_pos")).value();
    let low = g
        .op(OnnxOp::Min, &[x, zero])
        .out(format!("{name}_low"))
        .value();
    let exp = g.op(OnnxOp::Exp, &[low]).out(format!("{name}_exp")).value();
    let em1 = g
        .op(OnnxOp::Sub, &[exp, one])
        .out(format!("{name}_expm1"))
        .value();
    let neg = g
        .op(OnnxOp::Mul, &[em1, a])
        .out(format!("{name}_scaled"))
        .value();
    let y = g
        .op(OnnxOp::Add, &[pos, neg])
        .out(format!("{name}_elu"))
        .value();
    g.replace_node(id, y);
}

/// Grouped `ConvTranspose` → one per group (see the module docs).
fn grouped_conv_transpose(g: &mut Builder<'_>, id: NodeId) {
    let node = g.node(id);
    let Ok(groups) = node.attrs.int("group", 1) else {
        return;
    };
    if !(2..=4096).contains(&groups) || !matches!(node.layout, None | Some(Layout::Nchw)) {
        return;
    }
    let groups = groups as u64;
    let (Some(x), Some(wv)) = (g.input(id, 0), g.input(id, 1)) else {
        return;
    };
    let bias = g.input(id, 2);
    let Some(w) = const_tensor(g, wv).filter(|t| matches!(t.dtype, DType::F32 | DType::F16)) else {
        return;
    };
    // W is [C_in, C_out / groups, k...]: group i's filters are rows [i·C_in/g, (i+1)·C_in/g).
    let Some(&c_in) = w.dims.first() else { return };
    if w.dims.len() < 3 || c_in % groups != 0 {
        return;
    }
    let Some(w_raw) = w.raw() else { return };
    let per_group = c_in / groups;
    let w_bytes = w_raw.len() / groups as usize;
    let mut w_dims = w.dims.clone();
    w_dims[0] = per_group;
    let (w_dtype, c_out_g) = (w.dtype, w.dims[1]);
    let b = match bias {
        Some(b) => match const_tensor(g, b) {
            Some(t)
                if Some(t.dims.as_slice())
                    == c_out_g
                        .checked_mul(groups)
                        .as_ref()
                        .map(std::slice::from_ref)
                    && t.raw().is_some() =>
            {
                Some(t.clone())
            }
            _ => return,
        },
        None => None,
    };
    let w_raw = w_raw.clone();
    let node = g.node(id);
    let name = node.name.clone();
    let mut attrs = node.attrs.clone();
    attrs.remove("group");
    let axis = g.const_i64s(&format!("{name}_channels"), &[1]);
    let mut parts = Vec::with_capacity(groups as usize);
    for i in 0..groups {
        let lo = (i * per_group) as i64;
        let starts = g.const_i64s(&format!("{name}_g{i}_start"), &[lo]);
        let ends = g.const_i64s(&format!("{name}_g{i}_end"), &[lo + per_group as i64]);
        let xi = g
            .op(OnnxOp::Slice, &[x, starts, ends, axis])
            .out(format!("{name}_g{i}_in"))
            .value();
        let at = i as usize * w_bytes;
        let wi =
            modelc_ir::Tensor::from_raw(w_dtype, w_dims.clone(), w_raw.slice(at..at + w_bytes))
                .expect("a whole group's rows");
        let mut inputs = vec![xi, g.constant(&format!("{name}_g{i}_weight"), wi)];
        if let Some(b) = &b {
            let raw = b.raw().expect("checked");
            let n = raw.len() / groups as usize;
            let bi = modelc_ir::Tensor::from_raw(
                b.dtype,
                vec![c_out_g],
                raw.slice(i as usize * n..(i as usize + 1) * n),
            )
            .expect("a whole group's biases");
            inputs.push(g.constant(&format!("{name}_g{i}_bias"), bi));
        }
        parts.push(
            g.op(OnnxOp::ConvTranspose, &inputs)
                .out(format!("{name}_g{i}"))
                .attrs(attrs.clone())
                .value(),
        );
    }
    let y = g
        .op(OnnxOp::Concat, &parts)
        .out(name.as_str())
        .int("axis", 1)
        .value();
    g.replace_node(id, y);
}

fn batch_norm(g: &mut Builder<'_>, id: NodeId) {
    let node = g.node(id);
    if !matches!(node.layout, None | Some(Layout::Nchw)) {
        return;
    }
    let (Some(x), Some(affine)) = (g.input(id, 0), bn_affine(g, id)) else {
        return;
    };
    let Some(rank) = rank_of(g, x).filter(|&r| r >= 2) else {
        return;
    };
    let name = node.name.clone();
    // Per-channel constants broadcast over [N, C, spatial...].
    let mut dims = vec![affine.s.len() as u64];
    dims.resize(rank - 1, 1);
    let s = g.constant(
        &format!("{name}_scale"),
        float_tensor(affine.dtype, dims.clone(), &affine.s),
    );
    let t = g.constant(
        &format!("{name}_shift"),
        float_tensor(affine.dtype, dims, &affine.t),
    );
    let mul = g
        .op(OnnxOp::Mul, &[x, s])
        .out(format!("{name}_mul"))
        .value();
    let add = g.op(OnnxOp::Add, &[mul, t]).out(name.as_str()).value();
    g.replace_node(id, add);
}

fn hard_sigmoid(g: &mut Builder<'_>, id: NodeId) {
    let node = g.node(id);
    let (Ok(alpha), Ok(beta)) = (
        node.attrs.float("alpha", 0.2),
        node.attrs.float("beta", 0.5),
    ) else {
        return;
    };
    let Some(x) = g.input(id, 0) else {
        return;
    };
    if g.dtype_of(x) != Some(DType::F32) {
        return;
    }
    let name = node.name.clone();
    let a = g.const_f32(&format!("{name}_alpha"), alpha);
    let b = g.const_f32(&format!("{name}_beta"), beta);
    let (lo, hi) = (
        g.const_f32(&format!("{name}_lo"), 0.0),
        g.const_f32(&format!("{name}_hi"), 1.0),
    );
    let mul = g
        .op(OnnxOp::Mul, &[x, a])
        .out(format!("{name}_mul"))
        .value();
    let add = g
        .op(OnnxOp::Add, &[mul, b])
        .out(format!("{name}_add"))
        .value();
    let clip = g
        .op(OnnxOp::Clip, &[add, lo, hi])
        .out(name.as_str())
        .value();
    g.replace_node(id, clip);
}

fn legacy_softmax(g: &mut Builder<'_>, id: NodeId, op: OnnxOp) {
    let Some(x) = g.input(id, 0) else { return };
    let dims: Option<Vec<u64>> = g
        .value(x)
        .and_then(|v| v.ty.as_ref())
        .and_then(|t| t.ty.as_tensor())
        .and_then(|t| t.shape.as_ref())
        .and_then(|s| s.0.iter().map(|d| d.known()).collect());
    let rank = dims.as_ref().map(|d| d.len()).or_else(|| rank_of(g, x));
    let Some(rank) = rank.map(|r| r as i64) else {
        return;
    };
    let Ok(axis) = g.node(id).attrs.int("axis", 1) else {
        return;
    };
    let axis = if axis < 0 { axis + rank } else { axis };
    if !(0..rank).contains(&axis) {
        return;
    }
    // Explicit from here on: the lowering's default is opset 13's (the last axis).
    g.node_mut(id).attrs.set("axis", Attr::Int(axis));
    let Some(dims) = dims else { return };
    if axis == rank - 1 || !extra_outputs_unused(g, id) {
        return;
    }
    let name = g.node(id).name.clone();
    let outer: u64 = dims[..axis as usize].iter().product();
    let inner: u64 = dims[axis as usize..].iter().product();
    let flat_shape = g.const_i64s(&format!("{name}_2d"), &[outer as i64, inner as i64]);
    let back_shape = g.const_i64s(
        &format!("{name}_shape"),
        &dims.iter().map(|&d| d as i64).collect::<Vec<_>>(),
    );
    let flat = g
        .op(OnnxOp::Reshape, &[x, flat_shape])
        .out(format!("{name}_flat"))
        .value();
    let mut attrs = Attrs::default();
    attrs.set("axis", Attr::Int(1));
    let soft = g
        .op(op, &[flat])
        .out(format!("{name}_2d"))
        .attrs(attrs)
        .value();
    let out = g
        .op(OnnxOp::Reshape, &[soft, back_shape])
        .out(format!("{name}_nd"))
        .value();
    g.replace_node(id, out);
}

fn layer_norm(g: &mut Builder<'_>, id: NodeId, opset: i64) {
    let node = g.node(id);
    let (Ok(axis), Ok(eps)) = (
        node.attrs.int("axis", -1),
        node.attrs.float("epsilon", 1e-5),
    ) else {
        return;
    };
    if !extra_outputs_unused(g, id) {
        return;
    }
    let (Some(x), Some(scale)) = (g.input(id, 0), g.input(id, 1)) else {
        return;
    };
    let bias = g.input(id, 2);
    let Some(rank) = rank_of(g, x) else {
        return;
    };
    if g.dtype_of(x) != Some(DType::F32) {
        return;
    }
    let first = if axis < 0 { axis + rank as i64 } else { axis };
    if first < 0 || first >= rank as i64 {
        return;
    }
    let axes: Vec<i64> = (first..rank as i64).collect();
    let name = node.name.clone();
    let axes_const = (opset >= 18).then(|| g.const_i64s(&format!("{name}_axes"), &axes));
    let mean_of = |g: &mut Builder<'_>, v: ValueRef, suffix: &str| {
        let mut attrs = Attrs::default();
        attrs.set("keepdims", Attr::Int(1));
        let mut inputs = vec![v];
        match axes_const {
            Some(a) => inputs.push(a),
            None => attrs.set("axes", Attr::Ints(axes.clone())),
        }
        g.op(OnnxOp::ReduceMean, &inputs)
            .out(format!("{name}_{suffix}"))
            .attrs(attrs)
            .value()
    };
    let mean = mean_of(g, x, "mean");
    let d = g
        .op(OnnxOp::Sub, &[x, mean])
        .out(format!("{name}_centered"))
        .value();
    let sq = g
        .op(OnnxOp::Mul, &[d, d])
        .out(format!("{name}_square"))
        .value();
    let var = mean_of(g, sq, "variance");
    let e = g.const_f32(&format!("{name}_epsilon"), eps);
    let ve = g
        .op(OnnxOp::Add, &[var, e])
        .out(format!("{name}_add_epsilon"))
        .value();
    let sd = g.op(OnnxOp::Sqrt, &[ve]).out(format!("{name}_std")).value();
    let n = g
        .op(OnnxOp::Div, &[d, sd])
        .out(format!("{name}_normalized"))
        .value();
    let mut y = g
        .op(OnnxOp::Mul, &[n, scale])
        .out(format!("{name}_scaled"))
        .value();
    if let Some(b) = bias {
        y = g.op(OnnxOp::Add, &[y, b]).out(name.as_str()).value();
    }
    g.replace_node(id, y);
}

/// `Transpose(perm [0, 3, 1, 2]) → Flatten / Reshape to [N, C·H·W] → Gemm / MatMul` with a
/// constant f32 weight read by nothing else: the weight's C·H·W axis is permuted to H·W·C
/// order and the flatten reads the NHWC tensor itself, so the TRANSPOSE the layout pass left
/// at the border of the NHWC region disappears (a classifier over a flattened feature map).
pub(crate) fn flatten_nhwc(g: &mut Graph) {
    let ids: Vec<NodeId> = g.node_ids().collect();
    for id in ids {
        if g.try_node(id).and_then(|n| n.op.onnx()) != Some(OnnxOp::Transpose) {
            continue;
        }
        let _ = flatten_one(g, id);
    }
}

fn flatten_one(g: &mut Graph, t: NodeId) -> Option<()> {
    let perm = g.node(t).attrs.ints("perm", vec![]).ok()?;
    if perm != [0, 3, 1, 2] {
        return None;
    }
    let x = g.input(t, 0)?;
    let dims = g.shape_of(x)?.0.clone();
    let known = |d: &modelc_ir::Dim| match d {
        modelc_ir::Dim::Known(n) => Some(*n as usize),
        _ => None,
    };
    let [_, h, w, c] = &dims[..] else {
        return None;
    };
    let (h, w, c) = (known(h)?, known(w)?, known(c)?);
    let chw = c * h * w;
    let (flat, _) = only_user(g, ValueRef::new(t, 0))?;
    match g.node(flat).op.onnx()? {
        OnnxOp::Flatten if g.node(flat).attrs.int("axis", 1).ok()? == 1 => {}
        OnnxOp::Reshape => {
            let shape = const_ints(g, g.input(flat, 1)?)?;
            let ok = shape.len() == 2
                && (-1..=1).contains(&shape[0])
                && (shape[1] == -1 || shape[1] == chw as i64)
                && !(shape[0] == -1 && shape[1] == -1);
            if !ok {
                return None;
            }
        }
        _ => return None,
    }
    let (dense, slot) = only_user(g, ValueRef::new(flat, 0))?;
    if slot != 0 {
        return None;
    }
    let op = g.node(dense).op.onnx()?;
    let wv = g.input(dense, 1)?;
    let weight = const_tensor(g, wv)?;
    if weight.dtype != DType::F32 {
        return None;
    }
    // Which axis of the weight runs over C·H·W.
    let axis = match op {
        OnnxOp::Gemm if g.node(dense).attrs.int("transA", 0).ok()? == 0 => {
            if g.node(dense).attrs.int("transB", 0).ok()? != 0 {
                1
            } else {
                0
            }
        }
        OnnxOp::MatMul => 0,
        _ => return None,
    };
    if weight.dims.len() != 2 || weight.dims[axis] as usize != chw {
        return None;
    }
    let src = weight.raw()?;
    let k = weight.dims[1 - axis] as usize;
    // The NHWC-flat position of each NCHW-flat position (c, y, x).
    let mut to = vec![0usize; chw];
    for ch in 0..c {
        for y in 0..h {
            for xx in 0..w {
                to[(ch * h + y) * w + xx] = (y * w + xx) * c + ch;
            }
        }
    }
    // Elements are moved as 4-byte groups (bit patterns kept, NaN payloads included).
    let mut out = vec![0u8; src.len()];
    if axis == 1 {
        // Each source row is read once: a memory-mapped weight need not stay resident beside
        // its permuted copy, so what has been read is released every few MiB.
        let row = chw * 4;
        let mut released = 0;
        for (r, (row_in, row_out)) in src
            .chunks_exact(row)
            .zip(out.chunks_exact_mut(row))
            .enumerate()
        {
            for (from, &dst) in to.iter().enumerate() {
                row_out[dst * 4..dst * 4 + 4].copy_from_slice(&row_in[from * 4..from * 4 + 4]);
            }
            let done = (r + 1) * row;
            if done - released >= 8 << 20 {
                modelc_ir::release_resident(&src[released..done]);
                released = done;
            }
        }
    } else {
        for (from, &dst) in to.iter().enumerate() {
            out[dst * k * 4..(dst + 1) * k * 4]
                .copy_from_slice(&src[from * k * 4..(from + 1) * k * 4]);
        }
    }
    modelc_ir::release_resident(src);
    let permuted = modelc_ir::Tensor::from_raw(DType::F32, weight.dims.clone(), out.into()).ok()?;
    if !set_const_if_unshared(g, wv, permuted) {
        return None;
    }
    g.connect(x, flat, 0);
    remove_with_dead_consts(g, &[t]);
    Some(())
}

/// 1-D convolution and pooling, which TFLite has no builtin for, lifted to 2-D the way
/// TensorFlow's `conv1d` is: on the channels-last graph (after the layout pass), `[N, L, C]`
/// gets a unit height (`Unsqueeze` at axis 1, an EXPAND_DIMS/RESHAPE), the op runs as its
/// 2-D form with a `[1, k]` window (the weight `[M, k, C/g]` reshaped to `[M, 1, k, C/g]`,
/// the same bytes), and the height is squeezed off again. The squeeze then moves past unary
/// activations and per-tensor (de)quantization, so the activation still fuses into the
/// convolution and a quantized convolution still sees its Q/DQ pair, and an unsqueeze
/// meeting such a squeeze cancels: a chain of 1-D convolutions stays 4-D throughout.
pub(crate) fn lift_1d(g: &mut Graph, opset: i64) {
    let mut b = Builder::new(g);
    let g = &mut b;
    let ids: Vec<NodeId> = g.node_ids().collect();
    let mut squeezes = Vec::new();
    let mut unsqueezes = Vec::new();
    for id in ids {
        let Some(op) = g.try_node(id).and_then(|n| n.op.onnx()) else {
            continue;
        };
        if matches!(
            op,
            OnnxOp::Conv
                | OnnxOp::ConvTranspose
                | OnnxOp::MaxPool
                | OnnxOp::AveragePool
                | OnnxOp::Resize
        ) {
            if let Some((u, s)) = lift_one(g, id, op, opset) {
                unsqueezes.extend(u);
                squeezes.push(s);
            }
        }
    }
    for s in squeezes {
        sink_squeeze(g, s);
    }
    for &u in &unsqueezes {
        hoist_unsqueeze(g, u);
    }
    for u in unsqueezes {
        cancel_unsqueeze(g, u);
    }
}

/// `Unsqueeze` / `Squeeze` of `x` at `axis`, its axes an input from opset 13 on.
fn unit_axis(g: &mut Builder<'_>, op: OnnxOp, name: &str, x: ValueRef, opset: i64) -> ValueRef {
    let mut attrs = Attrs::default();
    let mut inputs = vec![x];
    if opset >= 13 {
        inputs.push(g.const_i64s(&format!("{name}_axes"), &[1]));
    } else {
        attrs.set("axes", Attr::Ints(vec![1]));
    }
    g.op(op, &inputs).out(name).attrs(attrs).value()
}

/// A per-spatial-axis attribute of a 1-D op in its 2-D form: `[v]` → `[unit, v]`, `pads`
/// `[b, e]` → `[0, b, 0, e]`. Absent attributes stay absent (their defaults agree).
fn lift_attrs(attrs: &Attrs) -> Option<Attrs> {
    let mut out = attrs.clone();
    for (key, unit) in [
        ("kernel_shape", 1),
        ("strides", 1),
        ("dilations", 1),
        ("output_padding", 0),
        ("output_shape", 1),
    ] {
        if let Some(Attr::Ints(v)) = attrs.get(key) {
            if v.len() != 1 {
                return None;
            }
            out.set(key, Attr::Ints(vec![unit, v[0]]));
        }
    }
    if let Some(Attr::Ints(p)) = attrs.get("pads") {
        let [b, e] = p[..] else { return None };
        out.set("pads", Attr::Ints(vec![0, b, 0, e]));
    }
    Some(out)
}

/// The weight `w` (`[M, k, C/g]`) with a unit height: the constant itself reshaped when
/// nothing else reads it (also behind a DequantizeLinear), else an `Unsqueeze`.
fn lift_weight(g: &mut Builder<'_>, w: ValueRef, name: &str, opset: i64) -> ValueRef {
    let reshaped = |t: &modelc_ir::Tensor| -> Option<modelc_ir::Tensor> {
        let [m, k, c] = t.dims[..] else { return None };
        let mut t = t.clone();
        t.dims = vec![m, 1, k, c];
        Some(t)
    };
    let raw = match g.node(w.node).op.onnx() {
        Some(OnnxOp::DequantizeLinear) if only_user(g, w).is_some() => g.input(w.node, 0),
        _ => Some(w),
    };
    if let Some(raw) = raw {
        if let Some(t) = const_tensor(g, raw).and_then(reshaped) {
            if set_const_if_unshared(g, raw, t) {
                if raw != w {
                    // The DequantizeLinear's result changes shape with its input.
                    if let Some(v) = g.value_mut(w) {
                        v.ty = None;
                    }
                }
                return w;
            }
        }
    }
    unit_axis(g, OnnxOp::Unsqueeze, &format!("{name}_weight_2d"), w, opset)
}

/// Lifts one node; returns the unsqueezes it made of its input and the squeeze of its result.
fn lift_one(
    g: &mut Builder<'_>,
    id: NodeId,
    op: OnnxOp,
    opset: i64,
) -> Option<(Option<NodeId>, NodeId)> {
    let node = g.node(id);
    if node.layout != Some(Layout::Nhwc) || !extra_outputs_unused(g, id) {
        return None;
    }
    let x = g.input(id, 0)?;
    if rank_of(g, x)? != 3 {
        return None;
    }
    let attrs = lift_attrs(&node.attrs)?;
    let name = node.name.clone();
    if op == OnnxOp::Resize {
        return lift_resize(g, id, x, opset);
    }
    let x2 = unit_axis(g, OnnxOp::Unsqueeze, &format!("{name}_2d"), x, opset);
    let mut inputs = vec![x2];
    if matches!(op, OnnxOp::Conv | OnnxOp::ConvTranspose) {
        let w = g.input(id, 1)?;
        inputs.push(lift_weight(g, w, &name, opset));
        if let Some(b) = g.input(id, 2) {
            inputs.push(b);
        }
    }
    let y2 = g
        .op(op, &inputs)
        .out(format!("{name}_2d"))
        .attrs(attrs)
        .value();
    Some(finish_lift(g, id, x2, y2, opset))
}

/// Ends a lift: `y2` (the 2-D op, channels last) squeezed back to 1-D takes over node `id`'s
/// result. Returns the unsqueeze of the input and the squeeze made.
fn finish_lift(
    g: &mut Builder<'_>,
    id: NodeId,
    x2: ValueRef,
    y2: ValueRef,
    opset: i64,
) -> (Option<NodeId>, NodeId) {
    g.node_mut(y2.node).layout = Some(Layout::Nhwc);
    let name = g.node(id).name.clone();
    let y = unit_axis(g, OnnxOp::Squeeze, &name, y2, opset);
    g.replace_node(id, y);
    (Some(x2.node), y.node)
}

/// A 1-D `Resize` ([N, L, C] after the layout pass; constant scales or sizes, no roi, no
/// `axes`) as a 2-D one over [N, 1, L, C]: the unit axis gets scale 1 / size 1.
fn lift_resize(
    g: &mut Builder<'_>,
    id: NodeId,
    x: ValueRef,
    opset: i64,
) -> Option<(Option<NodeId>, NodeId)> {
    let node = g.node(id);
    let (name, mut attrs) = (node.name.clone(), node.attrs.clone());
    let (roi, scales, sizes) = (g.input(id, 1), g.input(id, 2), g.input(id, 3));
    let empty = |v: Option<ValueRef>| {
        v.is_none_or(|v| const_tensor(g, v).is_some_and(|t| t.dims.iter().product::<u64>() == 0))
    };
    if !empty(roi) {
        return None;
    }
    let scales = scales.filter(|&v| !empty(Some(v)));
    // With `axes` (opset 18) the lists are per listed axis: only the axes move.
    if let Some(Attr::Ints(axes)) = node.attrs.get("axes") {
        let moved: Option<Vec<i64>> = axes
            .iter()
            .map(|&a| match if a < 0 { a + 3 } else { a } {
                0 => Some(0),
                a @ 1..=2 => Some(a + 1),
                _ => None,
            })
            .collect();
        attrs.set("axes", Attr::Ints(moved?));
        let x2 = unit_axis(g, OnnxOp::Unsqueeze, &format!("{name}_2d"), x, opset);
        let slots = [Some(x2), roi, scales, sizes];
        let used = if sizes.is_some() { 4 } else { 3 };
        let y2 = g
            .op_opt(OnnxOp::Resize, &slots[..used])
            .out(format!("{name}_2d"))
            .attrs(attrs)
            .value();
        return Some(finish_lift(g, id, x2, y2, opset));
    }
    let lifted = match (scales, sizes) {
        (Some(v), None) => {
            let f = float_const(g, v)?;
            let [n, l, c] = f.values[..] else { return None };
            (
                2,
                g.constant(
                    &format!("{name}_scales_2d"),
                    float_tensor(f.dtype, vec![4], &[n, 1.0, l, c]),
                ),
            )
        }
        (None, Some(v)) => {
            let [n, l, c] = const_ints(g, v)?[..] else {
                return None;
            };
            (3, g.const_i64s(&format!("{name}_sizes_2d"), &[n, 1, l, c]))
        }
        _ => return None,
    };
    let x2 = unit_axis(g, OnnxOp::Unsqueeze, &format!("{name}_2d"), x, opset);
    let mut slots: Vec<Option<ValueRef>> = vec![Some(x2), None, None, None];
    slots[lifted.0] = Some(lifted.1);
    slots.truncate(lifted.0 + 1);
    let y2 = g
        .op_opt(OnnxOp::Resize, &slots)
        .out(format!("{name}_2d"))
        .attrs(attrs)
        .value();
    Some(finish_lift(g, id, x2, y2, opset))
}

/// Whether `id` computes each element from the same element of its first input alone (unary
/// activations, and Clip / Q / DQ with one-element further inputs), so a reshape commutes
/// with it.
fn elementwise_unary(g: &Graph, id: NodeId) -> bool {
    let scalar_params = || {
        g.inputs_of(id)
            .iter()
            .skip(1)
            .flatten()
            .all(|&v| const_tensor(g, v).is_some_and(|t| t.dims.iter().product::<u64>() == 1))
    };
    let ok = match g.node(id).op.onnx() {
        Some(
            OnnxOp::Relu
            | OnnxOp::LeakyRelu
            | OnnxOp::Sigmoid
            | OnnxOp::Tanh
            | OnnxOp::HardSwish
            | OnnxOp::HardSigmoid,
        ) => true,
        Some(OnnxOp::Clip | OnnxOp::QuantizeLinear | OnnxOp::DequantizeLinear) => scalar_params(),
        _ => false,
    };
    ok && extra_outputs_unused(g, id)
}

/// Swaps `a` and `b`, where `b` is the only reader of `a`'s result (on its first input) and
/// both are unary on their first input: `x → a → b → readers` becomes `x → b → a → readers`.
/// The value the readers see keeps its name and type; `b`'s result is new (its type is
/// left to inference).
fn swap_unary(g: &mut Builder<'_>, a: NodeId, b: NodeId) {
    let (Some(x), a_out, b_out) = (g.input(a, 0), ValueRef::new(a, 0), ValueRef::new(b, 0)) else {
        return;
    };
    let readers = g.users(b_out);
    g.connect(x, b, 0);
    g.connect(b_out, a, 0);
    for (reader, slot) in readers {
        g.connect(a_out, reader, slot);
    }
    let outputs = g
        .outputs()
        .iter()
        .map(|&o| if o == b_out { a_out } else { o })
        .collect();
    g.set_outputs(outputs);
    let (name, ty) = match g.value(b_out) {
        Some(v) => (v.name.clone(), v.ty.clone()),
        None => return,
    };
    let fresh = g.fresh(&format!("{name}_2d"));
    if let Some(v) = g.value_mut(b_out) {
        v.name = fresh;
        v.ty = None;
    }
    if let Some(v) = g.value_mut(a_out) {
        v.name = name;
        v.ty = ty;
    }
}

/// Moves squeeze `s` after the elementwise ops that read it alone.
fn sink_squeeze(g: &mut Builder<'_>, s: NodeId) {
    loop {
        let out = ValueRef::new(s, 0);
        if g.outputs().contains(&out) {
            return;
        }
        match only_user(g, out) {
            Some((next, 0)) if elementwise_unary(g, next) => swap_unary(g, s, next),
            _ => return,
        }
    }
}

/// Moves unsqueeze `u` before the elementwise ops whose result only it reads.
fn hoist_unsqueeze(g: &mut Builder<'_>, u: NodeId) {
    while let Some(x) = g.input(u, 0) {
        let prev = x.node;
        let alone = only_user(g, x).is_some() && !g.outputs().contains(&x);
        if !alone || !elementwise_unary(g, prev) {
            return;
        }
        swap_unary(g, prev, u);
    }
}

/// Removes an unsqueeze (at axis 1) of a squeeze's result (at axis 1): its readers read the
/// squeeze's input instead.
fn cancel_unsqueeze(g: &mut Builder<'_>, u: NodeId) {
    let Some(x) = g.try_node(u).and_then(|_| g.input(u, 0)) else {
        return;
    };
    if g.node(x.node).op.onnx() != Some(OnnxOp::Squeeze) {
        return;
    }
    let (Some(inner), Some(ux), Some(sx)) = (g.input(x.node, 0), axes_of(g, u), axes_of(g, x.node))
    else {
        return;
    };
    if ux != [1] || sx != [1] {
        return;
    }
    g.replace_uses(ValueRef::new(u, 0), inner);
    remove_with_dead_consts(g, &[u]);
    let sq = ValueRef::new(x.node, 0);
    if g.users(sq).is_empty() && !g.outputs().contains(&sq) {
        remove_with_dead_consts(g, &[x.node]);
    }
}

/// The axes of an Unsqueeze / Squeeze (attribute or constant input).
fn axes_of(g: &Graph, id: NodeId) -> Option<Vec<i64>> {
    match g.input(id, 1) {
        Some(a) => const_ints(g, a),
        None => g.node(id).attrs.ints("axes", vec![]).ok(),
    }
}
