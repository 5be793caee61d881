//! `decompose-hard-swish`: `HardSwish(x)` (opset 14, MobileNetV3) → `x · HardSigmoid(x)`
//! with α = 1/6, β = 0.5, which is its definition; HardSigmoid exists from opset 6.

use modelc_ir::{Builder, NodeId, OnnxOp};

use super::{base_name, Decompose};

pub const PASS: Decompose = Decompose {
    name: "decompose-hard-swish",
    description: "HardSwish → Mul(x, HardSigmoid(x) {alpha=1/6, beta=0.5})",
    ops: &[OnnxOp::HardSwish],
    opsets: 0..=i64::MAX,
    rewrite: |g, id, _, _| hard_swish(g, id),
};

fn hard_swish(g: &mut Builder<'_>, id: NodeId) -> bool {
    let Some(x) = g.input(id, 0) else {
        return false;
    };
    let name = base_name(g, id);
    let gate = g
        .op(OnnxOp::HardSigmoid, &[x])
        .float("alpha", 1.0 / 6.0)
        .float("beta", 0.5)
        .out(format!("{name}_gate"))
        .value();
    let y = g
        .op(OnnxOp::Mul, &[x, gate])
        .out(format!("{name}_mul"))
        .value();
    g.replace_node(id, y);
    true
}
