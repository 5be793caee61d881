//! Binary element-wise operators. ADD/SUB/MUL/DIV (Add/Sub/Mul/DivOptions: fused
//! activation) → `Add`/`Sub`/`Mul`/`Div` + activation; MAXIMUM, MINIMUM, POW, the
//! comparisons, LOGICAL_AND/OR, FLOOR_DIV, FLOOR_MOD, SQUARED_DIFFERENCE, PRELU, SELECT and
//! SELECT_V2 (no options) → their ONNX counterparts. Broadcasting is numpy's in both.

use modelc_ir::{Attr, OnnxOp};

use super::{Ctx, OpIn};
use crate::fb::{ActivationFunctionType, BuiltinOperator as B};
use crate::TfliteError;

pub(crate) fn arith(cx: &mut Ctx, op: &OpIn) -> Result<bool, TfliteError> {
    let a = cx.req(op, 0)?;
    let b = cx.req(op, 1)?;
    let (kind, act) = match op.code {
        B::ADD => (
            OnnxOp::Add,
            op.raw
                .builtin_options_as_add_options()
                .map(|o| o.fused_activation_function()),
        ),
        B::SUB => (
            OnnxOp::Sub,
            op.raw
                .builtin_options_as_sub_options()
                .map(|o| o.fused_activation_function()),
        ),
        B::MUL => (
            OnnxOp::Mul,
            op.raw
                .builtin_options_as_mul_options()
                .map(|o| o.fused_activation_function()),
        ),
        _ => (
            OnnxOp::Div,
            op.raw
                .builtin_options_as_div_options()
                .map(|o| o.fused_activation_function()),
        ),
    };
    let y = cx.op(kind, &[Some(a), Some(b)], vec![]);
    let y = cx.activation(y, act.unwrap_or(ActivationFunctionType::NONE), op)?;
    cx.define(cx.out_tensor(op, 0)?, y)?;
    Ok(true)
}

pub(crate) fn elementwise(cx: &mut Ctx, op: &OpIn) -> Result<bool, TfliteError> {
    let a = cx.req(op, 0)?;
    let b = cx.req(op, 1)?;
    let y = match op.code {
        B::SELECT | B::SELECT_V2 => {
            let c = cx.req(op, 2)?;
            cx.op(OnnxOp::Where, &[Some(a), Some(b), Some(c)], vec![])
        }
        B::SQUARED_DIFFERENCE => {
            let d = cx.op(OnnxOp::Sub, &[Some(a), Some(b)], vec![]);
            cx.op(OnnxOp::Mul, &[Some(d), Some(d)], vec![])
        }
        B::FLOOR_DIV => {
            let at = cx.in_tensor(op, 0)?;
            if cx.info(at).dtype.is_float() {
                let d = cx.op(OnnxOp::Div, &[Some(a), Some(b)], vec![]);
                cx.op(OnnxOp::Floor, &[Some(d)], vec![])
            } else {
                // Integer floor division has no single ONNX op (Div truncates).
                return Ok(false);
            }
        }
        B::FLOOR_MOD => {
            let at = cx.in_tensor(op, 0)?;
            let fmod = cx.info(at).dtype.is_float() as i64;
            // Python-style modulo (sign of the divisor) is Mod with fmod = 0; floats need fmod.
            if fmod == 1 {
                return Ok(false);
            }
            cx.op(
                OnnxOp::Mod,
                &[Some(a), Some(b)],
                vec![("fmod", Attr::Int(0))],
            )
        }
        code => {
            let kind = match code {
                B::MAXIMUM => OnnxOp::Max,
                B::MINIMUM => OnnxOp::Min,
                B::POW => OnnxOp::Pow,
                B::LESS => OnnxOp::Less,
                B::LESS_EQUAL => OnnxOp::LessOrEqual,
                B::GREATER => OnnxOp::Greater,
                B::GREATER_EQUAL => OnnxOp::GreaterOrEqual,
                B::EQUAL => OnnxOp::Equal,
                B::LOGICAL_AND => OnnxOp::And,
                B::LOGICAL_OR => OnnxOp::Or,
                B::PRELU => OnnxOp::PRelu,
                B::NOT_EQUAL => {
                    let e = cx.op(OnnxOp::Equal, &[Some(a), Some(b)], vec![]);
                    let y = cx.op(OnnxOp::Not, &[Some(e)], vec![]);
                    cx.define(cx.out_tensor(op, 0)?, y)?;
                    return Ok(true);
                }
                _ => return Ok(false),
            };
            cx.op(kind, &[Some(a), Some(b)], vec![])
        }
    };
    cx.define(cx.out_tensor(op, 0)?, y)?;
    Ok(true)
}
