//! `decompose-nan-inf`: float `IsNaN(x)` → `Not(Equal(x, x))` (NaN is the one value unequal
//! to itself: TensorFlow's `x != x`), `IsInf(x)` → `Equal(Abs(x), inf)`, or `Equal(x, ±inf)`
//! when only one sign is detected (neither: constant false, `Equal(x, NaN)`). TFLite has
//! EQUAL, ABS and LOGICAL_NOT, no IsNaN or IsInf builtin.

use modelc_ir::{Builder, NodeId, OnnxOp, ValueRef};

use super::{base_name, Decompose};

pub const PASS: Decompose = Decompose {
    name: "decompose-nan-inf",
    description: "float IsNaN → Not(Equal(x, x)); IsInf → Equal(Abs(x), inf) or Equal(x, ±inf)",
    ops: &[OnnxOp::IsNaN, OnnxOp::IsInf],
    opsets: 0..=i64::MAX,
    rewrite: |g, id, op, _| nan_inf(g, id, op),
};

fn nan_inf(g: &mut Builder<'_>, id: NodeId, op: OnnxOp) -> bool {
    // Float32 only: the constants below are float32 (other float types keep the op).
    let Some(x) = g
        .input(id, 0)
        .filter(|&x| g.dtype_of(x) == Some(modelc_ir::DType::F32))
    else {
        return false;
    };
    let name = base_name(g, id);
    let y = if op == OnnxOp::IsNaN {
        let eq = equal(g, x, x, &name);
        g.op(OnnxOp::Not, &[eq]).out(format!("{name}_not")).value()
    } else {
        let node = g.node(id);
        let pos = node.attrs.int("detect_positive", 1).unwrap_or(1) != 0;
        let neg = node.attrs.int("detect_negative", 1).unwrap_or(1) != 0;
        let (v, c) = match (pos, neg) {
            (true, true) => {
                let abs = g.op(OnnxOp::Abs, &[x]).out(format!("{name}_abs")).value();
                (abs, f32::INFINITY)
            }
            (true, false) => (x, f32::INFINITY),
            (false, true) => (x, f32::NEG_INFINITY),
            // Nothing is equal to NaN: every element false.
            (false, false) => (x, f32::NAN),
        };
        let c = g.const_f32(&format!("{name}_inf"), c);
        equal(g, v, c, &name)
    };
    g.replace_node(id, y);
    true
}

fn equal(g: &mut Builder<'_>, a: ValueRef, b: ValueRef, name: &str) -> ValueRef {
    g.op(OnnxOp::Equal, &[a, b])
        .out(format!("{name}_equal"))
        .value()
}
