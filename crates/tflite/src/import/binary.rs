//! Binary operators that are not one-to-one with an IR op (ADD … PRELU and SELECT_V2 are
//! rows of [`crate::table`]): NOT_EQUAL (→ `Not(Equal)`), SQUARED_DIFFERENCE (→ `Sub`,
//! `Mul`), FLOOR_DIV of floats (→ `Floor(Div)`), FLOOR_MOD (integers → `Mod` with fmod 0;
//! floats → C's fmod, moved into the divisor's sign as TensorFlow does) and SELECT
//! (→ `Where`). Broadcasting is numpy's in both.

use modelc_ir::{Attr, OnnxOp};

use super::{Ctx, OpIn};
use crate::fb::BuiltinOperator as B;
use crate::TfliteError;

pub(crate) fn elementwise(cx: &mut Ctx, op: &OpIn) -> Result<bool, TfliteError> {
    let a = cx.req(op, 0)?;
    let b = cx.req(op, 1)?;
    let y = match op.code {
        B::SELECT => {
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
            // Python-style modulo (sign of the divisor) is Mod with fmod = 0; ONNX allows
            // that for integers only, so floats take fmod (the dividend's sign) and add the
            // divisor where the remainder is non-zero and its sign differs from the divisor's.
            if cx.info(at).dtype.is_float() {
                let m = cx.op(
                    OnnxOp::Mod,
                    &[Some(a), Some(b)],
                    vec![("fmod", Attr::Int(1))],
                );
                let zero = cx.const_f32(&[0.0], &[]);
                let m_neg = cx.op(OnnxOp::Less, &[Some(m), Some(zero)], vec![]);
                let b_neg = cx.op(OnnxOp::Less, &[Some(b), Some(zero)], vec![]);
                let signs_differ = cx.op(OnnxOp::Xor, &[Some(m_neg), Some(b_neg)], vec![]);
                let m_zero = cx.op(OnnxOp::Equal, &[Some(m), Some(zero)], vec![]);
                let nonzero = cx.op(OnnxOp::Not, &[Some(m_zero)], vec![]);
                let fix = cx.op(OnnxOp::And, &[Some(signs_differ), Some(nonzero)], vec![]);
                let moved = cx.op(OnnxOp::Add, &[Some(m), Some(b)], vec![]);
                cx.op(OnnxOp::Where, &[Some(fix), Some(moved), Some(m)], vec![])
            } else {
                cx.op(
                    OnnxOp::Mod,
                    &[Some(a), Some(b)],
                    vec![("fmod", Attr::Int(0))],
                )
            }
        }
        B::NOT_EQUAL => {
            let e = cx.op(OnnxOp::Equal, &[Some(a), Some(b)], vec![]);
            cx.op(OnnxOp::Not, &[Some(e)], vec![])
        }
        _ => return Ok(false),
    };
    cx.define(cx.out_tensor(op, 0)?, y)?;
    Ok(true)
}
