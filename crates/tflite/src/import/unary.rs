//! Unary operators that are not one-to-one with an IR op (the one-to-one ones, EXP … SIGN,
//! are rows of [`crate::table`]): RSQRT (→ `Sqrt` + `Reciprocal`), SQUARE (→ `Mul(x, x)`),
//! ZEROS_LIKE (→ `Mul(x, 0)` for floats) and CAST (CastOptions; the target type is the
//! output tensor's).

use modelc_ir::{Attr, OnnxOp};

use super::{Ctx, OpIn};
use crate::fb::BuiltinOperator as B;
use crate::TfliteError;

pub(crate) fn unary(cx: &mut Ctx, op: &OpIn) -> Result<bool, TfliteError> {
    let x = cx.req(op, 0)?;
    let y = match op.code {
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
        _ => return Ok(false),
    };
    cx.define(cx.out_tensor(op, 0)?, y)?;
    Ok(true)
}
