//! `decompose-hard-sigmoid`: float32 `HardSigmoid` (MobileNetV3's squeeze-excitation gate),
//! `clip(αx + β, 0, 1)`, into ops every TFLite delegate runs. From opset 11 (Clip's bounds
//! are inputs).
//!
//! - Float: `relu6(6αx + 6β) · 1/6`, that is `Add` (after a `Mul` by 6α unless 6α = 1),
//!   `Clip(0, 6)` and `Mul`, which the writer emits as ADD with a fused RELU6 and MUL: the
//!   form TensorFlow's converter gives `tf.nn.relu6(x + 3) / 6`. Not `Clip(0, 1)`, which
//!   becomes RELU_0_TO_1, an op TFLite's GPU delegate does not have
//!   (tensorflow/lite/tools/versioning/gpu_compatibility.cc) and Ethos-U runs in int8 only.
//! - Quantized (the input read through a DequantizeLinear, the output only by a
//!   QuantizeLinear with per-tensor scale s and zero point z, α > 0): two integer ops and
//!   no float interior. `Add(x, β/α)` with a fused Relu, quantized with scale s/α and zero
//!   point z — its integers are those of `αx + β` at scale s, clamped below at 0 — then
//!   `Mul` by α with a fused `Clip(-1, 1)`, quantized with s and z: the same integers
//!   relabelled to scale s and clamped above at 1. The constants β/α and α are exact in
//!   8 bits (±127 or ±255 at scale |c|/127 or /255). Otherwise the quantized model would
//!   run a float Mul/Add/Clip between a DEQUANTIZE and a QUANTIZE, which Ethos-U and TFLite
//!   Micro int8 targets put on the CPU or refuse.

use modelc_ir::{Builder, DType, NodeId, OnnxOp, ValueRef};

use super::{base_name, Decompose};
use crate::pattern::{const_tensor, only_user, producer, scalar_const};
use crate::quant::params::zero_point_tensor;

pub const PASS: Decompose = Decompose {
    name: "decompose-hard-sigmoid",
    description: "float32 HardSigmoid → Add + Clip(0, 6) + Mul by 1/6 (ADD with fused RELU6, \
                  MUL); between DequantizeLinear and QuantizeLinear: Add(x, β/α) + Relu and \
                  Mul by α + Clip(-1, 1), each quantized (opset 11+)",
    ops: &[OnnxOp::HardSigmoid],
    opsets: 11..=i64::MAX,
    rewrite: |g, id, _, _| hard_sigmoid(g, id),
};

fn hard_sigmoid(g: &mut Builder<'_>, id: NodeId) -> bool {
    let node = g.node(id);
    let (Ok(alpha), Ok(beta)) = (
        node.attrs.float("alpha", 0.2),
        node.attrs.float("beta", 0.5),
    ) else {
        return false;
    };
    let Some(x) = g.input(id, 0) else {
        return false;
    };
    // A DequantizeLinear's output has its scale's type (types may not be inferred yet).
    let dq_f32 = producer(g, x, OnnxOp::DequantizeLinear)
        .and_then(|dq| g.input(dq, 1))
        .is_some_and(|s| g.dtype_of(s) == Some(DType::F32));
    let f32_in = g.dtype_of(x) == Some(DType::F32) || dq_f32;
    if !f32_in || !alpha.is_finite() || !beta.is_finite() {
        return false;
    }
    let name = base_name(g, id);
    let y = match quantized_output(g, id, x, alpha) {
        Some(q) => quantized(g, x, alpha, beta, q, &name),
        None => float(g, x, alpha, beta, &name),
    };
    g.replace_node(id, y);
    true
}

/// `relu6(6αx + 6β) / 6`.
fn float(g: &mut Builder<'_>, x: ValueRef, alpha: f32, beta: f32, name: &str) -> ValueRef {
    let scaled = if alpha * 6.0 == 1.0 {
        x
    } else {
        let a = g.const_f32(&format!("{name}_alpha6"), alpha * 6.0);
        g.op(OnnxOp::Mul, &[x, a])
            .out(format!("{name}_mul"))
            .value()
    };
    let b = g.const_f32(&format!("{name}_beta6"), beta * 6.0);
    let (lo, hi) = (
        g.const_f32(&format!("{name}_lo"), 0.0),
        g.const_f32(&format!("{name}_hi"), 6.0),
    );
    let sixth = g.const_f32(&format!("{name}_sixth"), 1.0 / 6.0);
    let add = g
        .op(OnnxOp::Add, &[scaled, b])
        .out(format!("{name}_add"))
        .value();
    let relu6 = g
        .op(OnnxOp::Clip, &[add, lo, hi])
        .out(format!("{name}_relu6"))
        .value();
    g.op(OnnxOp::Mul, &[relu6, sixth]).out(name).value()
}

/// The output's quantization: (scale, zero point tensor) of the QuantizeLinear that alone
/// reads it, when the input comes from a DequantizeLinear, α > 0 and the parameters are
/// per-tensor 8-bit.
fn quantized_output(
    g: &Builder<'_>,
    id: NodeId,
    x: ValueRef,
    alpha: f32,
) -> Option<(f32, ValueRef)> {
    producer(g, x, OnnxOp::DequantizeLinear)?;
    if alpha <= 0.0 {
        return None;
    }
    let (q, _) = only_user(g, ValueRef::new(id, 0))?;
    if g.node(q).op.onnx() != Some(OnnxOp::QuantizeLinear) {
        return None;
    }
    let scale = scalar_const(g, g.input(q, 1)?)? as f32;
    let zp = g.input(q, 2)?;
    let zt = const_tensor(g, zp)?;
    let per_tensor = zt.dims.iter().product::<u64>() == 1;
    let ok = scale.is_finite() && scale > 0.0 && (scale / alpha).is_finite();
    (per_tensor && ok && matches!(zt.dtype, DType::I8 | DType::U8)).then_some((scale, zp))
}

fn quantized(
    g: &mut Builder<'_>,
    x: ValueRef,
    alpha: f32,
    beta: f32,
    (scale, zp): (f32, ValueRef),
    name: &str,
) -> ValueRef {
    let dtype = const_tensor(g, zp).map_or(DType::I8, |t| t.dtype);
    let offset = quantized_const(g, dtype, beta / alpha, &format!("{name}_offset"));
    let add = g
        .op(OnnxOp::Add, &[x, offset])
        .out(format!("{name}_add"))
        .value();
    let relu = g
        .op(OnnxOp::Relu, &[add])
        .out(format!("{name}_relu"))
        .value();
    let s = g.const_f32(&format!("{name}_add_scale"), scale / alpha);
    let q = g
        .op(OnnxOp::QuantizeLinear, &[relu, s, zp])
        .out(format!("{name}_add_q"))
        .value();
    let dq = g
        .op(OnnxOp::DequantizeLinear, &[q, s, zp])
        .out(format!("{name}_add_dq"))
        .value();
    let a = quantized_const(g, dtype, alpha, &format!("{name}_alpha"));
    let mul = g
        .op(OnnxOp::Mul, &[dq, a])
        .out(format!("{name}_mul"))
        .value();
    let (lo, hi) = (
        g.const_f32(&format!("{name}_lo"), -1.0),
        g.const_f32(&format!("{name}_hi"), 1.0),
    );
    g.op(OnnxOp::Clip, &[mul, lo, hi]).out(name).value()
}

/// `c` as an 8-bit constant of `dtype` read through a DequantizeLinear: the extreme integer
/// of its sign at scale |c| / that integer, so the value is exact.
fn quantized_const(g: &mut Builder<'_>, dtype: DType, c: f32, name: &str) -> ValueRef {
    let (q, zero, top) = match (dtype, c < 0.0) {
        (DType::U8, false) => (255, 0, 255.0),
        (DType::U8, true) => (0, 255, 255.0),
        (_, false) => (127, 0, 127.0),
        (_, true) => (-127, 0, 127.0),
    };
    let (q, s) = if c == 0.0 {
        (zero, 1.0)
    } else {
        (q, c.abs() / top)
    };
    let qt = zero_point_tensor(dtype, Vec::new(), &[q]);
    let zt = zero_point_tensor(dtype, Vec::new(), &[zero]);
    let qv = g.constant(&format!("{name}_q"), qt);
    let sv = g.const_f32(&format!("{name}_scale"), s);
    let zv = g.constant(&format!("{name}_zero_point"), zt);
    g.op(OnnxOp::DequantizeLinear, &[qv, sv, zv])
        .out(name)
        .value()
}
