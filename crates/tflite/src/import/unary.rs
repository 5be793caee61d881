//! Unary element-wise operators without options: EXP, LOG, SQRT, RSQRT (→ `Sqrt` +
//! `Reciprocal`), ABS, NEG, FLOOR, CEIL, ROUND (banker's rounding in both), SIN, COS,
//! SQUARE (→ `Mul(x, x)`), LOGICAL_NOT, SIGN, ZEROS_LIKE (→ `Mul(x, 0)` for floats), CAST
//! (CastOptions; the target type is the output tensor's) and L2_NORMALIZATION (→
//! `LpNormalization` over the last axis).

use modelc_ir::{Attr, OnnxOp};

use super::{Ctx, OpIn};
use crate::fb::BuiltinOperator as B;
use crate::TfliteError;

pub(crate) fn unary(cx: &mut Ctx, op: &OpIn) -> Result<bool, TfliteError> {
    let x = cx.req(op, 0)?;
    let simple = |code| {
        Some(match code {
            B::EXP => OnnxOp::Exp,
            B::LOG => OnnxOp::Log,
            B::SQRT => OnnxOp::Sqrt,
            B::ABS => OnnxOp::Abs,
            B::NEG => OnnxOp::Neg,
            B::FLOOR => OnnxOp::Floor,
            B::CEIL => OnnxOp::Ceil,
            B::ROUND => OnnxOp::Round,
            B::SIN => OnnxOp::Sin,
            B::COS => OnnxOp::Cos,
            B::LOGICAL_NOT => OnnxOp::Not,
            B::SIGN => OnnxOp::Sign,
            _ => return None,
        })
    };
    let y = if let Some(kind) = simple(op.code) {
        cx.op(kind, &[Some(x)], vec![])
    } else {
        match op.code {
            B::RSQRT => {
                let s = cx.op(OnnxOp::Sqrt, &[Some(x)], vec![]);
                cx.op(OnnxOp::Reciprocal, &[Some(s)], vec![])
            }
            B::SQUARE => cx.op(OnnxOp::Mul, &[Some(x), Some(x)], vec![]),
            B::ZEROS_LIKE => {
                let xt = cx.in_tensor(op, 0)?;
                if !cx.info(xt).dtype.is_float() {
                    return Ok(false);
                }
                let z = cx.const_f32(&[0.0], &[]);
                cx.op(OnnxOp::Mul, &[Some(x), Some(z)], vec![])
            }
            B::CAST => {
                let yt = cx.out_tensor(op, 0)?;
                let to = cx.info(yt).dtype.onnx_code() as i64;
                cx.op(OnnxOp::Cast, &[Some(x)], vec![("to", Attr::Int(to))])
            }
            B::L2_NORMALIZATION => cx.op(
                OnnxOp::LpNormalization,
                &[Some(x)],
                vec![("axis", Attr::Int(-1)), ("p", Attr::Int(2))],
            ),
            _ => return Ok(false),
        }
    };
    cx.define(cx.out_tensor(op, 0)?, y)?;
    Ok(true)
}
