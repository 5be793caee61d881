//! `decompose-hard-sigmoid`: float32 `HardSigmoid` (MobileNetV3's squeeze-excitation gate) →
//! `Mul` + `Add` + `Clip(0, 1)`. From opset 11 (Clip's bounds are inputs).

use modelc_ir::{Builder, DType, NodeId, OnnxOp};

use super::{base_name, Decompose};

pub const PASS: Decompose = Decompose {
    name: "decompose-hard-sigmoid",
    description: "float32 HardSigmoid → Mul + Add + Clip(0, 1) (opset 11+)",
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
    if g.dtype_of(x) != Some(DType::F32) {
        return false;
    }
    let name = base_name(g, id);
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
    true
}
