//! Element-wise unary ops: `aten::<op>.out(self, *, out)`; LeakyRelu →
//! `aten::leaky_relu.out(self, negative_slope, *, out)`.

use modelc_ir::OnnxOp;

use crate::lower::{Lower, Refusal};

pub(super) fn lower(cx: &mut Lower, op: OnnxOp) -> Result<(), Refusal> {
    use OnnxOp::*;
    let name = match op {
        Relu => "aten::relu",
        Sigmoid => "aten::sigmoid",
        Tanh => "aten::tanh",
        Exp => "aten::exp",
        Log => "aten::log",
        Sqrt => "aten::sqrt",
        Neg => "aten::neg",
        Abs => "aten::abs",
        Erf => "aten::erf",
        Reciprocal => "aten::reciprocal",
        Floor => "aten::floor",
        Ceil => "aten::ceil",
        Sin => "aten::sin",
        Cos => "aten::cos",
        Not => "aten::logical_not",
        Atan => "aten::atan",
        Tan => "aten::tan",
        Asin => "aten::asin",
        Acos => "aten::acos",
        Sign => "aten::sign",
        Round => "aten::round",
        _ => return Err(format!("{} is not a unary op", op.name())),
    };
    let x = cx.input(0)?;
    let out = cx.output(0)?;
    cx.p.call(name, "out", &[x], &[out]);
    Ok(())
}

pub(super) fn leaky_relu(cx: &mut Lower) -> Result<(), Refusal> {
    let alpha = super::attr_float(cx, "alpha")?;
    let x = cx.input(0)?;
    let out = cx.output(0)?;
    let slope = cx.p.double(f64::from(alpha));
    cx.p.call("aten::leaky_relu", "out", &[x, slope], &[out]);
    Ok(())
}
