//! QuantizeLinear / DequantizeLinear → ExecuTorch's quantized kernels
//! (`quantized_decomposed::quantize_per_tensor.out` / `dequantize_per_tensor.out`, and the
//! `_per_channel` forms for a 1-D scale), the kernels the pinned package's quantized library
//! registers (`executorch.kernels.quantized`). Scales and zero points must be constants
//! (int8 or uint8, float32 on the float side); the range is the whole integer type's, as
//! ONNX saturates. An int32 constant (a quantized bias) has no kernel: it is dequantized into
//! a float32 constant in the file, `(q - zero_point) * scale` in float32 as ONNX computes it.

use modelc_ir::{DType, OnnxOp, Tensor, ValueRef};

use super::{attr_int, axis};
use crate::lower::{Lower, Refusal};

pub(super) fn lower(cx: &mut Lower, op: OnnxOp) -> Result<(), Refusal> {
    let quantize = op == OnnxOp::QuantizeLinear;
    let q = if quantize {
        ValueRef::new(cx.node, 0)
    } else {
        cx.input_ref(0)?
    };
    let qt = cx.dtype(q)?;
    if !quantize && qt == DType::I32 {
        return int32_constant(cx);
    }
    let (qmin, qmax, code) = match qt {
        DType::I8 => (-128, 127, 1),
        DType::U8 => (0, 255, 0),
        other => return Err(format!("{other} quantization (int8 / uint8 only)")),
    };
    let float = if quantize {
        cx.dtype(cx.input_ref(0)?)?
    } else {
        cx.dtype(ValueRef::new(cx.node, 0))?
    };
    if float != DType::F32 {
        return Err(format!("{float} on the float side (float32 only)"));
    }
    if attr_int(cx, "block_size").unwrap_or(0) != 0 {
        return Err("blocked quantization".into());
    }
    let scale = cx
        .const_input(1)
        .and_then(modelc_passes::pattern::FloatConst::from_tensor)
        .ok_or("a scale that is not a float constant")?;
    let zp = if cx.has_input(2) {
        cx.const_input(2)
            .and_then(modelc_ir::infer::tensor_ints)
            .ok_or("a zero point that is not a constant")?
    } else {
        vec![0; scale.values.len()]
    };
    if zp.len() != scale.values.len() {
        return Err("scale and zero point of different sizes".into());
    }
    let x = cx.input(0)?;
    let out = cx.output(0)?;
    let (lo, hi, dt) = (cx.p.int(qmin), cx.p.int(qmax), cx.p.int(code));
    let per_tensor = scale.dims.is_empty() || scale.values.len() == 1;
    if per_tensor {
        let (s, z) = (cx.p.double(scale.values[0]), cx.p.int(zp[0]));
        if quantize {
            cx.p.call(
                "quantized_decomposed::quantize_per_tensor",
                "out",
                &[x, s, z, lo, hi, dt],
                &[out],
            );
        } else {
            let out_dtype = cx.p.null();
            cx.p.call(
                "quantized_decomposed::dequantize_per_tensor",
                "out",
                &[x, s, z, lo, hi, dt, out_dtype],
                &[out],
            );
        }
        return Ok(());
    }
    let rank = cx.dims(q)?.len();
    let ax = axis(attr_int(cx, "axis").unwrap_or(1), rank)?;
    let n = scale.values.len() as u64;
    // The kernels read double scales and int64 zero points.
    let scales: Vec<f64> = scale.values.clone();
    let st = Tensor::from_raw(
        DType::F64,
        vec![n],
        scales
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect::<Vec<u8>>()
            .into(),
    )
    .map_err(|e| e.to_string())?;
    let zt = Tensor::from_i64(vec![n], &zp).map_err(|e| e.to_string())?;
    let s = cx.constant(&st)?;
    let z = cx.constant(&zt)?;
    let a = cx.p.int(ax);
    if quantize {
        cx.p.call(
            "quantized_decomposed::quantize_per_channel",
            "out",
            &[x, s, z, a, lo, hi, dt],
            &[out],
        );
    } else {
        let out_dtype = cx.p.null();
        cx.p.call(
            "quantized_decomposed::dequantize_per_channel",
            "out",
            &[x, s, z, a, lo, hi, dt, out_dtype],
            &[out],
        );
    }
    Ok(())
}

/// DequantizeLinear of an int32 constant: the float32 result as a constant, copied to the
/// output (`aten::clone.out`).
fn int32_constant(cx: &mut Lower) -> Result<(), Refusal> {
    let q = cx
        .const_input(0)
        .and_then(modelc_ir::infer::tensor_ints)
        .ok_or("int32 quantized values that are not a constant (no int32 kernel)")?;
    let dims = cx.dims(cx.input_ref(0)?)?;
    let scale = cx
        .const_input(1)
        .and_then(modelc_passes::pattern::FloatConst::from_tensor)
        .ok_or("a scale that is not a float constant")?;
    let zp = match cx.has_input(2) {
        true => cx
            .const_input(2)
            .and_then(modelc_ir::infer::tensor_ints)
            .ok_or("a zero point that is not a constant")?,
        false => vec![0; scale.values.len()],
    };
    let n = scale.values.len();
    let per_channel = n > 1;
    let stride: usize = if per_channel {
        let ax = axis(attr_int(cx, "axis").unwrap_or(1), dims.len())? as usize;
        if dims.get(ax).copied() != Some(n as u64) {
            return Err("a scale that does not match the quantized axis".into());
        }
        dims[ax + 1..].iter().product::<u64>() as usize
    } else {
        1
    };
    if zp.len() != n || n == 0 {
        return Err("scale and zero point of different sizes".into());
    }
    let values: Vec<f32> = q
        .iter()
        .enumerate()
        .map(|(i, &v)| {
            let c = if per_channel { (i / stride) % n } else { 0 };
            (v - zp[c]) as f32 * scale.values[c] as f32
        })
        .collect();
    let t = Tensor::from_f32(dims, &values).map_err(|e| e.to_string())?;
    let c = cx.constant(&t)?;
    let out = cx.output(0)?;
    let memory_format = cx.p.null();
    cx.p.call("aten::clone", "out", &[c, memory_format], &[out]);
    Ok(())
}
