//! QUANTIZE and DEQUANTIZE. In the IR a quantized tensor is already its float value
//! (its producer's output passes through QuantizeLinear + DequantizeLinear, see
//! `Ctx::define`), so both are identities on float values: QUANTIZE (float → int, or a
//! requantization int → int) gets its QDQ from the output tensor's parameters, DEQUANTIZE
//! of an int tensor reuses the input's DequantizeLinear. DEQUANTIZE of float16 (fp16
//! models keep their weights in half precision) is a `Cast` to float.
//!
//! [`opset_for`] picks the opset an imported graph is written at: the lowest its QDQ types
//! and ops allow, from 19 on.

use modelc_ir::{Attr, DType, Graph, OnnxOp, Op, ValueRef};

use super::{Ctx, OpIn, Quant};
use crate::TfliteError;

pub(crate) fn quantize_dequantize(cx: &mut Ctx, op: &OpIn) -> Result<bool, TfliteError> {
    let (xt, yt) = (cx.in_tensor(op, 0)?, cx.out_tensor(op, 0)?);
    let x = cx.req(op, 0)?;
    let (din, dout) = (cx.info(xt).dtype, cx.info(yt).dtype);
    let y = if din.is_float() && dout.is_float() {
        cx.op(
            OnnxOp::Cast,
            &[Some(x)],
            vec![("to", Attr::Int(dout.onnx_code() as i64))],
        )
    } else if (cx.info(xt).quant.is_some() || din.is_float())
        && (cx.info(yt).quant.is_some() || dout == DType::F32)
    {
        // A value-preserving Identity keeps the tensor's own name distinct from its input's.
        cx.op(OnnxOp::Identity, &[Some(x)], vec![])
    } else {
        return Err(TfliteError::invalid(
            op.label(),
            format!("{din} → {dout} without quantization parameters"),
        ));
    };
    cx.define(yt, y)?;
    Ok(true)
}

/// The opset an imported graph needs: 21 when a QuantizeLinear/DequantizeLinear carries a
/// 16- or 4-bit integer (legal from 21), 20 for `Gelu`, else 19 (Reduce*/Resize `axes`
/// inputs and attributes are 18). Not simply always 21: onnxruntime (1.32) at opset 21 turns
/// an int8 `DequantizeLinear → Transpose` into a QuantizeLinear it then rejects itself
/// ("output_dtype INT8 does not match y_zero_point type UINT8") while optimizing, so every
/// int8 convolution model imported at 21 failed to load; at 19 it loads and runs.
pub(crate) fn opset_for(g: &Graph) -> i64 {
    let mut opset = 19;
    for id in g.node_ids() {
        let node = g.node(id);
        let needs = match &node.op {
            Op::Onnx(OnnxOp::QuantizeLinear | OnnxOp::DequantizeLinear) => {
                let zero_point = g.input(id, 2).and_then(|v| g.dtype_of(v));
                let data = g.input(id, 0).and_then(|v| g.dtype_of(v));
                let wide = |d: Option<DType>| {
                    matches!(d, Some(DType::I16 | DType::U16 | DType::I4 | DType::U4))
                };
                if wide(zero_point) || wide(data) {
                    21
                } else {
                    19
                }
            }
            Op::Onnx(OnnxOp::Gelu) => 20,
            _ => 19,
        };
        opset = opset.max(needs);
    }
    opset
}

/// The integers of an int32 op output with quantization parameters (QuantizeLinear cannot
/// produce int32, and a file asking it to is invalid): `round(v / scale) + zero_point` in
/// float (Round is half to even, as QuantizeLinear's rounding), cast to int32. Per tensor
/// only; int64 has no DequantizeLinear to read it back.
pub(crate) fn quantize_wide(
    cx: &mut Ctx,
    v: ValueRef,
    q: &Quant,
    dtype: DType,
) -> Result<ValueRef, String> {
    if dtype != DType::I32 {
        return Err(format!("a quantized {dtype} op output has no ONNX form"));
    }
    let ([scale], zero_point) = (q.scale.as_slice(), q.zero_point.first().copied()) else {
        return Err("a per-channel quantized int32 op output has no ONNX form".into());
    };
    let scale = cx.const_f32(&[*scale], &[]);
    let zero_point = cx.const_f32(&[zero_point.unwrap_or(0) as f32], &[]);
    let scaled = cx.op(OnnxOp::Div, &[Some(v), Some(scale)], vec![]);
    let rounded = cx.op(OnnxOp::Round, &[Some(scaled)], vec![]);
    let shifted = cx.op(OnnxOp::Add, &[Some(rounded), Some(zero_point)], vec![]);
    Ok(cx.op(
        OnnxOp::Cast,
        &[Some(shifted)],
        vec![("to", Attr::Int(DType::I32.onnx_code() as i64))],
    ))
}
