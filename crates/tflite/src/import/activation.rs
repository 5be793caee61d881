//! Activation operators: RELU, RELU6 and RELU_N1_TO_1 / RELU_0_TO_1 (→ `Relu` / `Clip`),
//! LOGISTIC (→ `Sigmoid`), TANH, LEAKY_RELU (LeakyReluOptions: alpha), HARD_SWISH, ELU,
//! GELU (GeluOptions: approximate → `approximate = "tanh"`), SOFTMAX (SoftmaxOptions: beta;
//! the input is scaled by beta first when it is not 1) and LOG_SOFTMAX, over the last axis.

use bytes::Bytes;
use modelc_ir::{Attr, OnnxOp};

use super::{Ctx, OpIn};
use crate::fb::BuiltinOperator as B;
use crate::TfliteError;

pub(crate) fn activation(cx: &mut Ctx, op: &OpIn) -> Result<bool, TfliteError> {
    let x = cx.req(op, 0)?;
    let y = match op.code {
        B::RELU => cx.op(OnnxOp::Relu, &[Some(x)], vec![]),
        B::RELU6 => cx.clip(x, 0.0, 6.0),
        B::RELU_N1_TO_1 => cx.clip(x, -1.0, 1.0),
        B::RELU_0_TO_1 => cx.clip(x, 0.0, 1.0),
        B::LOGISTIC => cx.op(OnnxOp::Sigmoid, &[Some(x)], vec![]),
        B::TANH => cx.op(OnnxOp::Tanh, &[Some(x)], vec![]),
        B::HARD_SWISH => cx.op(OnnxOp::HardSwish, &[Some(x)], vec![]),
        B::ELU => cx.op(OnnxOp::Elu, &[Some(x)], vec![]),
        B::LEAKY_RELU => {
            let alpha = op
                .raw
                .builtin_options_as_leaky_relu_options()
                .map_or(0.2, |o| o.alpha());
            cx.op(
                OnnxOp::LeakyRelu,
                &[Some(x)],
                vec![("alpha", Attr::Float(alpha))],
            )
        }
        B::GELU => {
            let approx = op
                .raw
                .builtin_options_as_gelu_options()
                .is_some_and(|o| o.approximate());
            let mode: &'static [u8] = if approx { b"tanh" } else { b"none" };
            cx.op(
                OnnxOp::Gelu,
                &[Some(x)],
                vec![("approximate", Attr::String(Bytes::from_static(mode)))],
            )
        }
        B::SOFTMAX => {
            let beta = op
                .raw
                .builtin_options_as_softmax_options()
                .map_or(1.0, |o| o.beta());
            let x = if beta != 1.0 {
                let b = cx.const_f32(&[beta], &[]);
                cx.op(OnnxOp::Mul, &[Some(x), Some(b)], vec![])
            } else {
                x
            };
            cx.op(OnnxOp::Softmax, &[Some(x)], vec![("axis", Attr::Int(-1))])
        }
        B::LOG_SOFTMAX => cx.op(
            OnnxOp::LogSoftmax,
            &[Some(x)],
            vec![("axis", Attr::Int(-1))],
        ),
        _ => return Ok(false),
    };
    cx.define(cx.out_tensor(op, 0)?, y)?;
    Ok(true)
}
