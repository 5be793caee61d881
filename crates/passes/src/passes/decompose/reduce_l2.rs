//! `decompose-reduce-l2`: `ReduceL2` → `Sqrt(ReduceSum(x · x))` over the same axes (TFLite has
//! no L2 reduction; TensorFlow's converter emits MUL, SUM, SQRT).

use modelc_ir::{Builder, NodeId, OnnxOp};

use super::{base_name, f32_input, Decompose};

pub const PASS: Decompose = Decompose {
    name: "decompose-reduce-l2",
    description: "float32 ReduceL2 → Sqrt(ReduceSum(Mul(x, x)))",
    ops: &[OnnxOp::ReduceL2],
    opsets: 0..=i64::MAX,
    rewrite: |g, id, _, opset| reduce_l2(g, id, opset),
};

fn reduce_l2(g: &mut Builder<'_>, id: NodeId, opset: i64) -> bool {
    let Some(x) = f32_input(g, id) else {
        return false;
    };
    let node = g.node(id);
    let attrs = node.attrs.clone();
    // ReduceL2 takes `axes` as an attribute until opset 18, ReduceSum until 13: carry them
    // over in the form ReduceSum takes.
    let axes = match (opset >= 18, g.input(id, 1)) {
        (true, Some(a)) => Some(Err(a)),
        (true, None) => None,
        (false, _) => match attrs.ints("axes", vec![]) {
            Ok(a) if !a.is_empty() => Some(Ok(a)),
            Ok(_) => None,
            Err(_) => return false,
        },
    };
    let name = base_name(g, id);
    let sq = g
        .op(OnnxOp::Mul, &[x, x])
        .out(format!("{name}_square"))
        .value();
    let mut sum = g.op(OnnxOp::ReduceSum, &[sq]).out(format!("{name}_sum"));
    for key in ["keepdims", "noop_with_empty_axes"] {
        if let Some(a) = attrs.get(key) {
            sum = sum.attr(key, a.clone());
        }
    }
    sum = match axes {
        Some(Ok(a)) => sum.axes(&a, opset >= 13),
        Some(Err(v)) => sum.input(v),
        None => sum,
    };
    let sum = sum.value();
    let y = g.op(OnnxOp::Sqrt, &[sum]).out(name.as_str()).value();
    g.replace_node(id, y);
    true
}
