//! Reductions: MEAN, SUM, REDUCE_MAX, REDUCE_MIN, REDUCE_PROD (ReducerOptions.keep_dims;
//! axes input) → `ReduceMean`/`ReduceSum`/`ReduceMax`/`ReduceMin`/`ReduceProd` with the axes
//! as an int64 input, and ARG_MAX / ARG_MIN (axis input; output type int32 or int64) →
//! `ArgMax` / `ArgMin` with `keepdims = 0` (+ `Cast` to int32).

use modelc_ir::{Attr, DType, OnnxOp};

use super::{Ctx, OpIn};
use crate::fb::BuiltinOperator as B;
use crate::TfliteError;

pub(crate) fn reduce(cx: &mut Ctx, op: &OpIn) -> Result<bool, TfliteError> {
    let yt = cx.out_tensor(op, 0)?;
    let x = cx.req(op, 0)?;
    let y = match op.code {
        B::ARG_MAX | B::ARG_MIN => {
            let Some(a) = cx.const_ints(op, 1)?.and_then(|v| v.first().copied()) else {
                return Ok(false);
            };
            let kind = if op.code == B::ARG_MAX {
                OnnxOp::ArgMax
            } else {
                OnnxOp::ArgMin
            };
            let y = cx.op(
                kind,
                &[Some(x)],
                vec![("axis", Attr::Int(a)), ("keepdims", Attr::Int(0))],
            );
            let to = cx.info(yt).dtype;
            if to == DType::I64 {
                y
            } else {
                cx.op(
                    OnnxOp::Cast,
                    &[Some(y)],
                    vec![("to", Attr::Int(to.onnx_code() as i64))],
                )
            }
        }
        code => {
            let kind = match code {
                B::MEAN => OnnxOp::ReduceMean,
                B::SUM => OnnxOp::ReduceSum,
                B::REDUCE_MAX => OnnxOp::ReduceMax,
                B::REDUCE_MIN => OnnxOp::ReduceMin,
                _ => OnnxOp::ReduceProd,
            };
            let keep = op
                .raw
                .builtin_options_as_reducer_options()
                .is_some_and(|o| o.keep_dims());
            let axes = match cx.const_ints(op, 1)? {
                Some(a) => cx.const_1d(&a),
                None => {
                    // A scalar axis becomes [axis].
                    let axes = cx.input_i64(op, 1)?;
                    let one = cx.const_1d(&[-1]);
                    cx.op(OnnxOp::Reshape, &[Some(axes), Some(one)], vec![])
                }
            };
            cx.op(
                kind,
                &[Some(x), Some(axes)],
                vec![("keepdims", Attr::Int(keep as i64))],
            )
        }
    };
    cx.define(yt, y)?;
    Ok(true)
}
