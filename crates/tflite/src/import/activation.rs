//! Activations that are not one-to-one with an IR op (RELU, LOGISTIC, TANH, HARD_SWISH,
//! ELU, LEAKY_RELU, GELU, LOG_SOFTMAX and SOFTMAX with beta 1 are rows of [`crate::table`]):
//! RELU6, RELU_N1_TO_1 and RELU_0_TO_1 (→ `Clip`), and SOFTMAX (SoftmaxOptions: beta) with
//! beta ≠ 1 (→ the input scaled by beta, then `Softmax` over the last axis).

use modelc_ir::{Attr, OnnxOp};

use super::{Ctx, OpIn};
use crate::fb::BuiltinOperator as B;
use crate::TfliteError;

pub(crate) fn activation(cx: &mut Ctx, op: &OpIn) -> Result<bool, TfliteError> {
    let x = cx.req(op, 0)?;
    let y = match op.code {
        B::RELU6 => cx.clip(x, 0.0, 6.0),
        B::RELU_N1_TO_1 => cx.clip(x, -1.0, 1.0),
        B::RELU_0_TO_1 => cx.clip(x, 0.0, 1.0),
        B::SOFTMAX => {
            let beta = op
                .raw
                .builtin_options_as_softmax_options()
                .map_or(1.0, |o| o.beta());
            let b = cx.const_f32(&[beta], &[]);
            let x = cx.op(OnnxOp::Mul, &[Some(x), Some(b)], vec![]);
            cx.op(OnnxOp::Softmax, &[Some(x)], vec![("axis", Attr::Int(-1))])
        }
        _ => return Ok(false),
    };
    cx.define(cx.out_tensor(op, 0)?, y)?;
    Ok(true)
}
