//! `decompose-elu`: float32 `Elu` with alpha ≠ 1 (TFLite's ELU has no alpha) →
//! `Relu(x) + alpha · (Exp(Min(x, 0)) − 1)`.

use modelc_ir::{Builder, NodeId, OnnxOp};

use super::{base_name, f32_input, Decompose};

pub const PASS: Decompose = Decompose {
    name: "decompose-elu",
    description: "float32 Elu with alpha ≠ 1 → Relu + alpha · (Exp(Min(x, 0)) − 1)",
    ops: &[OnnxOp::Elu],
    opsets: 0..=i64::MAX,
    rewrite: |g, id, _, _| elu(g, id),
};

/// `Elu` with alpha ≠ 1 (ELU has no alpha; see the module docs).
fn elu(g: &mut Builder<'_>, id: NodeId) -> bool {
    let Ok(alpha) = g.node(id).attrs.float("alpha", 1.0) else {
        return false;
    };
    let Some(x) = f32_input(g, id).filter(|_| alpha != 1.0) else {
        return false;
    };
    let name = base_name(g, id);
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
    true
}
