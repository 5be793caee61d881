//! `decompose-layer-norm-rsqrt`: float32 `LayerNormalization` → `ReduceMean`, `Sub`,
//! `Mul(d, d)`, `ReduceMean`, `Add(ε)`, `Pow(·, −½)`, `Mul`, `Mul` by the scale, `Add` of the
//! bias: each an op integer NPUs run in int8 (TFLite MEAN, SUB, MUL, ADD and RSQRT, which
//! the TFLite writer makes of `Pow(x, −0.5)`). Ethos-U has no DIV and no SQRT (ethos-u-vela
//! 5.2.0, `tflite_supported_operators.py`: RSQRT "IFM must be int8", MEAN, ADD/SUB/MUL), so
//! `decompose-layer-norm`'s `Div(d, Sqrt(var + ε))` stays on the CPU in float.
//!
//! Run by `quantize --target` before calibration (`target.before_quantize`), so the
//! calibrator measures every intermediate (the mean, the centred values, their squares, the
//! variance, its reciprocal square root) and each gets its own int8 parameters; after
//! quantization a LayerNormalization has only its output's range, and a data-free choice
//! for the variance (which spans the square of the input's range) leaves it a few steps.

use modelc_ir::{Builder, DType, NodeId, OnnxOp, ValueRef};

use crate::passes::decompose::{base_name, Decompose};
use crate::pattern::{extra_outputs_unused, rank_of};

pub const PASS: Decompose = Decompose {
    name: "decompose-layer-norm-rsqrt",
    description: "float32 LayerNormalization → ReduceMean, Sub, Mul, ReduceMean, Add ε, \
                  Pow(−½) (TFLite RSQRT), Mul, Mul, Add: integer-NPU ops; run by quantize \
                  --target before calibration (ethos-u*, tflm)",
    ops: &[OnnxOp::LayerNormalization],
    // ReduceMean's axes are an input from opset 18; the attribute form before.
    opsets: 13..=i64::MAX,
    rewrite: |g, id, _, opset| layer_norm(g, id, opset),
};

fn layer_norm(g: &mut Builder<'_>, id: NodeId, opset: i64) -> bool {
    let node = g.node(id);
    let (Ok(axis), Ok(eps)) = (
        node.attrs.int("axis", -1),
        node.attrs.float("epsilon", 1e-5),
    ) else {
        return false;
    };
    if !extra_outputs_unused(g, id) {
        return false;
    }
    let (Some(x), Some(scale)) = (g.input(id, 0), g.input(id, 1)) else {
        return false;
    };
    let bias = g.input(id, 2);
    let Some(rank) = rank_of(g, x) else {
        return false;
    };
    if g.dtype_of(x) != Some(DType::F32) {
        return false;
    }
    let first = if axis < 0 { axis + rank as i64 } else { axis };
    if first < 0 || first >= rank as i64 {
        return false;
    }
    let axes: Vec<i64> = (first..rank as i64).collect();
    let name = base_name(g, id);
    let axes_const = (opset >= 18).then(|| g.const_i64s(&format!("{name}_axes"), &axes));
    let mean_of = |g: &mut Builder<'_>, v: ValueRef, suffix: &str| {
        let mean = g
            .op(OnnxOp::ReduceMean, &[v])
            .out(format!("{name}_{suffix}"))
            .int("keepdims", 1);
        match axes_const {
            Some(a) => mean.input(a),
            None => mean.ints("axes", axes.clone()),
        }
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
    let half = g.const_f32(&format!("{name}_minus_half"), -0.5);
    let r = g
        .op(OnnxOp::Pow, &[ve, half])
        .out(format!("{name}_rsqrt"))
        .value();
    let n = g
        .op(OnnxOp::Mul, &[d, r])
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
    true
}
