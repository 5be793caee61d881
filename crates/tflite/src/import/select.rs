//! Selection and scans along an axis: TOPK_V2 (input, k; the last axis, largest first) →
//! `TopK` with int64 `K` and its int64 indices cast to TFLite's int32, and CUMSUM (input,
//! axis; CumsumOptions exclusive / reverse) → `CumSum` with the same attributes; SCATTER_ND
//! (indices, updates, shape: the updates written into zeros, repeated indices summed) →
//! `ScatterND(ConstantOfShape(shape) of zeros, indices, updates, reduction = "add")`.

use bytes::Bytes;
use modelc_ir::{Attr, DType, OnnxOp, Op, Tensor, ValueRef};

use super::{Ctx, OpIn};
use crate::fb::BuiltinOperator as B;
use crate::TfliteError;

pub(crate) fn select(cx: &mut Ctx, op: &OpIn) -> Result<bool, TfliteError> {
    match op.code {
        B::TOPK_V2 => top_k(cx, op),
        B::CUMSUM => cumsum(cx, op),
        B::SCATTER_ND => scatter_nd(cx, op),
        _ => Ok(false),
    }
}

fn top_k(cx: &mut Ctx, op: &OpIn) -> Result<bool, TfliteError> {
    let Some(k) = cx.const_ints(op, 1)? else {
        return Ok(false);
    };
    let [k] = k.as_slice() else {
        return Err(TfliteError::invalid(op.label(), "k must be a single value"));
    };
    let x = cx.req(op, 0)?;
    let k = cx.const_1d(&[*k]);
    let id = cx.node(
        Op::Onnx(OnnxOp::TopK),
        &[Some(x), Some(k)],
        vec![
            ("axis", Attr::Int(-1)),
            ("largest", Attr::Int(1)),
            ("sorted", Attr::Int(1)),
        ],
        2,
    );
    let (values, indices) = (ValueRef::new(id, 0), ValueRef::new(id, 1));
    cx.define(cx.out_tensor(op, 0)?, values)?;
    let it = cx.out_tensor(op, 1)?;
    let dtype = cx.info(it).dtype;
    let indices = if dtype == DType::I64 {
        indices
    } else {
        cx.op(
            OnnxOp::Cast,
            &[Some(indices)],
            vec![("to", Attr::Int(dtype.onnx_code() as i64))],
        )
    };
    cx.define(it, indices)?;
    Ok(true)
}

fn cumsum(cx: &mut Ctx, op: &OpIn) -> Result<bool, TfliteError> {
    let (exclusive, reverse) = op
        .raw
        .builtin_options_as_cumsum_options()
        .map_or((false, false), |o| (o.exclusive(), o.reverse()));
    let x = cx.req(op, 0)?;
    let axis = cx.input_i64(op, 1)?;
    let y = cx.op(
        OnnxOp::CumSum,
        &[Some(x), Some(axis)],
        vec![
            ("exclusive", Attr::Int(exclusive as i64)),
            ("reverse", Attr::Int(reverse as i64)),
        ],
    );
    cx.define(cx.out_tensor(op, 0)?, y)?;
    Ok(true)
}

fn scatter_nd(cx: &mut Ctx, op: &OpIn) -> Result<bool, TfliteError> {
    let ut = cx.in_tensor(op, 1)?;
    let info = cx.info(ut);
    // Quantized updates are summed as integers by TFLite: no float form here.
    if info.quant.is_some() {
        return Ok(false);
    }
    let dtype = info.dtype;
    let esize = match dtype.storage_bytes(1) {
        Some(n) if n > 0 && dtype != DType::I4 && dtype != DType::U4 => n as usize,
        _ => return Ok(false),
    };
    let zero = Tensor::from_raw(dtype, vec![1], Bytes::from(vec![0u8; esize]))
        .map_err(|e| TfliteError::invalid(op.label(), e.to_string()))?;
    let shape = cx.input_i64(op, 2)?;
    let zeros = cx.op(
        OnnxOp::ConstantOfShape,
        &[Some(shape)],
        vec![("value", Attr::Tensor(zero))],
    );
    let indices = cx.input_i64(op, 0)?;
    let updates = cx.req(op, 1)?;
    let y = cx.op(
        OnnxOp::ScatterND,
        &[Some(zeros), Some(indices), Some(updates)],
        vec![("reduction", Attr::String(Bytes::from_static(b"add")))],
    );
    cx.define(cx.out_tensor(op, 0)?, y)?;
    Ok(true)
}
