//! Element-wise binary ops with broadcasting: `aten::add.out` / `sub.out` (alpha 1),
//! `mul.out`, `div.out`, `pow.Tensor_Tensor_out`, `maximum.out`, `minimum.out`, the
//! comparisons' `*.Tensor_out` and the logical ops' `logical_*.out`.

use modelc_ir::OnnxOp;

use crate::lower::{Lower, Refusal};

pub(super) fn lower(cx: &mut Lower, op: OnnxOp) -> Result<(), Refusal> {
    use OnnxOp::*;
    let (name, overload, alpha) = match op {
        Add => ("aten::add", "out", true),
        Sub => ("aten::sub", "out", true),
        Mul => ("aten::mul", "out", false),
        Div => ("aten::div", "out", false),
        Pow => ("aten::pow", "Tensor_Tensor_out", false),
        Max => ("aten::maximum", "out", false),
        Min => ("aten::minimum", "out", false),
        Equal => ("aten::eq", "Tensor_out", false),
        Less => ("aten::lt", "Tensor_out", false),
        Greater => ("aten::gt", "Tensor_out", false),
        LessOrEqual => ("aten::le", "Tensor_out", false),
        GreaterOrEqual => ("aten::ge", "Tensor_out", false),
        And => ("aten::logical_and", "out", false),
        Or => ("aten::logical_or", "out", false),
        Xor => ("aten::logical_xor", "out", false),
        _ => return Err(format!("{} is not a binary op", op.name())),
    };
    let node = cx.g.node(cx.node);
    if matches!(op, Max | Min) && node.num_inputs != 2 {
        return Err(format!(
            "{} of {} inputs (only 2)",
            op.name(),
            node.num_inputs
        ));
    }
    if op == Div && cx.dtype(cx.input_ref(0)?)?.is_int() {
        // aten::div is true division; ONNX integer Div truncates.
        return Err("integer Div (ONNX truncates; aten::div.out divides exactly)".into());
    }
    let a = cx.input(0)?;
    let b = cx.input(1)?;
    let out = cx.output(0)?;
    let mut args = vec![a, b];
    if alpha {
        args.push(cx.p.int(1));
    }
    cx.p.call(name, overload, &args, &[out]);
    Ok(())
}
