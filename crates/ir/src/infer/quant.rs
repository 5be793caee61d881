//! Quantization: QuantizeLinear (result type from the zero point, or `output_dtype` from
//! opset 21, else u8), DequantizeLinear (result type from the scale, or `output_dtype` from
//! opset 23, else f32), DynamicQuantizeLinear (u8 data, f32 scale, u8 zero point).

use crate::{DType, OnnxOp};

use super::ctx::{InferCtx, InferError, Outputs};
use super::InferFn;

pub fn rule(op: OnnxOp) -> Option<InferFn> {
    use OnnxOp::*;
    Some(match op {
        QuantizeLinear => quantize,
        DequantizeLinear => dequantize,
        DynamicQuantizeLinear => dynamic,
        _ => return None,
    })
}

fn quantize(cx: &InferCtx<'_>, out: &mut Outputs) -> Result<(), InferError> {
    let dtype = cx
        .attr_dtype("output_dtype")?
        .or_else(|| cx.dtype(2))
        .or_else(|| (!cx.has(2)).then_some(DType::U8));
    out.set(0, dtype, cx.shape(0).map(<[_]>::to_vec));
    Ok(())
}

fn dequantize(cx: &InferCtx<'_>, out: &mut Outputs) -> Result<(), InferError> {
    let dtype = cx
        .attr_dtype("output_dtype")?
        .or_else(|| cx.dtype(1))
        .or(Some(DType::F32));
    out.set(0, dtype, cx.shape(0).map(<[_]>::to_vec));
    Ok(())
}

fn dynamic(cx: &InferCtx<'_>, out: &mut Outputs) -> Result<(), InferError> {
    out.set(0, Some(DType::U8), cx.shape(0).map(<[_]>::to_vec));
    out.set(1, Some(DType::F32), Some(vec![]));
    out.set(2, Some(DType::U8), Some(vec![]));
    Ok(())
}
