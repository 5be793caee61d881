//! `decompose-softplus`: float32 `Softplus` → `Relu(x) + Log(1 + Exp(-Abs(x)))` (no overflow
//! for large x), and `Mish` → `x · Tanh(softplus(x))`.

use modelc_ir::{Builder, NodeId, OnnxOp};

use super::{base_name, f32_input, Decompose};

pub const PASS: Decompose = Decompose {
    name: "decompose-softplus",
    description: "float32 Softplus / Mish → Relu, Abs, Neg, Exp, Add, Log (and Tanh, Mul)",
    ops: &[OnnxOp::Softplus, OnnxOp::Mish],
    opsets: 0..=i64::MAX,
    rewrite: |g, id, op, _| softplus(g, id, op),
};

/// `Softplus` / `Mish` (see the module docs).
fn softplus(g: &mut Builder<'_>, id: NodeId, op: OnnxOp) -> bool {
    let Some(x) = f32_input(g, id) else {
        return false;
    };
    let name = base_name(g, id);
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
    true
}
