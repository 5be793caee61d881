//! `decompose-gemm`: a float32 `Gemm` that a fully-connected layer cannot take (transA,
//! alpha ≠ 1, a B that is not a constant matrix, a C that is not one bias per column or has
//! beta ≠ 1) → `Transpose`s, `MatMul`, `Mul` by alpha, `Add` of beta · C. A Gemm a
//! fully-connected layer can take stays.

use modelc_ir::{Builder, DType, Graph, NodeId, OnnxOp, ValueRef};

use super::{base_name, Decompose};
use crate::pattern::const_tensor;

pub const PASS: Decompose = Decompose {
    name: "decompose-gemm",
    description: "float32 Gemm a fully-connected layer cannot take → Transpose, MatMul, Mul, Add",
    ops: &[OnnxOp::Gemm],
    opsets: 0..=i64::MAX,
    rewrite: |g, id, _, _| general_gemm(g, id),
};

/// `Gemm` → `MatMul` and elementwise ops when FULLY_CONNECTED cannot express it.
fn general_gemm(g: &mut Builder<'_>, id: NodeId) -> bool {
    let node = g.node(id);
    let (Ok(ta), Ok(tb), Ok(alpha), Ok(beta)) = (
        node.attrs.int("transA", 0),
        node.attrs.int("transB", 0),
        node.attrs.float("alpha", 1.0),
        node.attrs.float("beta", 1.0),
    ) else {
        return false;
    };
    let (Some(a), Some(b)) = (g.input(id, 0), g.input(id, 1)) else {
        return false;
    };
    let c = g.input(id, 2);
    let b_const = const_or_dq(g, b).is_some_and(|t| t.dims.len() == 2);
    let columns = const_or_dq(g, b).and_then(|t| t.dims.get(if tb != 0 { 0 } else { 1 }).copied());
    let c_is_bias = c.is_none_or(|c| {
        beta == 1.0
            && const_or_dq(g, c).is_some_and(|t| Some(t.dims.iter().product::<u64>()) == columns)
    });
    if ta == 0 && alpha == 1.0 && b_const && c_is_bias {
        return false; // FULLY_CONNECTED.
    }
    if g.dtype_of(a) != Some(DType::F32) {
        return false;
    }
    let name = base_name(g, id);
    let transposed = |g: &mut Builder<'_>, v: ValueRef, t: i64, what: &str| {
        if t == 0 {
            return v;
        }
        g.op(OnnxOp::Transpose, &[v])
            .out(format!("{name}_{what}_t"))
            .ints("perm", [1, 0])
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
    true
}

/// A constant, a DequantizeLinear of one (a quantized weight or int32 bias), or a float16
/// one cast to float32.
fn const_or_dq(g: &Graph, v: ValueRef) -> Option<&modelc_ir::Tensor> {
    match g.node(v.node).op.onnx() {
        Some(OnnxOp::DequantizeLinear) => const_tensor(g, g.input(v.node, 0)?),
        // float16 weights widened to float32 (`fp16-weights`): the writer stores them as a
        // float16 buffer + DEQUANTIZE feeding FULLY_CONNECTED, TensorFlow's float16 form.
        Some(OnnxOp::Cast)
            if g.node(v.node).attrs.int("to", 0) == Ok(DType::F32.onnx_code() as i64) =>
        {
            const_tensor(g, g.input(v.node, 0)?).filter(|t| t.dtype == DType::F16)
        }
        _ => const_tensor(g, v),
    }
}
