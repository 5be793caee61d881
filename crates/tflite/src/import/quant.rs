//! QUANTIZE and DEQUANTIZE. In the IR a quantized tensor is already its float value
//! (its producer's output passes through QuantizeLinear + DequantizeLinear, see
//! `Ctx::define`), so both are identities on float values: QUANTIZE (float → int, or a
//! requantization int → int) gets its QDQ from the output tensor's parameters, DEQUANTIZE
//! of an int tensor reuses the input's DequantizeLinear. DEQUANTIZE of float16 (fp16
//! models keep their weights in half precision) is a `Cast` to float.

use modelc_ir::{Attr, DType, OnnxOp};

use super::{Ctx, OpIn};
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
