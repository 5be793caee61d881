//! QDQ quantization: QuantizeLinear and DequantizeLinear (opsets 10-21), per tensor or per
//! axis (`axis`), as plain float arithmetic on integer tensors, so any TorchScript runtime
//! runs them: quantize = `clamp(round(x / scale) + zero_point)` cast to the zero point's
//! type (torch rounds half to even, as ONNX does), dequantize = `(x - zero_point) * scale`.
//! Not taken: `block_size` (blocked quantization) and integer types torch lacks.

use modelc_ir::{Attr, DType, NodeId, OnnxOp};

use super::emit::{int_list, scalar_type, Emitter, Info};

pub(crate) fn emit(e: &mut Emitter<'_>, id: NodeId, op: OnnxOp) -> Option<Result<(), String>> {
    Some(match op {
        OnnxOp::QuantizeLinear => quantize(e, id),
        OnnxOp::DequantizeLinear => dequantize(e, id),
        _ => return None,
    })
}

fn err(x: modelc_ir::AttrTypeError) -> String {
    x.to_string()
}

/// Scale or zero point at `slot`, reshaped to broadcast along `axis` when it is 1-D.
fn along_axis(e: &mut Emitter<'_>, id: NodeId, slot: usize) -> Result<String, String> {
    let t = e.tensor(id, slot)?;
    let attrs = &e.g.node(id).attrs;
    if attrs.int("block_size", 0).map_err(err)? != 0 {
        return Err("blocked quantization (block_size)".into());
    }
    if e.input_info(id, slot).rank != Some(1) {
        return Ok(t);
    }
    let rank = e.input_rank(id, 0)?;
    let axis = attrs.int("axis", 1).map_err(err)?;
    let axis = if axis < 0 { axis + rank as i64 } else { axis };
    if !(0..rank as i64).contains(&axis) {
        return Err(format!("axis {axis} out of range"));
    }
    let shape: Vec<i64> = (0..rank as i64)
        .map(|i| if i == axis { -1 } else { 1 })
        .collect();
    Ok(format!("torch.reshape({t}, {})", int_list(&shape)))
}

fn quantize(e: &mut Emitter<'_>, id: NodeId) -> Result<(), String> {
    let zp_type = e.input_info(id, 2).dtype;
    let out_type = match e.g.node(id).attrs.get("output_dtype") {
        Some(Attr::Int(code)) if *code != 0 => DType::from_onnx_code(*code as i32),
        _ => None,
    };
    let dt = out_type.or(zp_type).unwrap_or(DType::U8);
    let (lo, hi) = match dt {
        DType::U8 => (0, 255),
        DType::I8 => (-128, 127),
        DType::I16 => (-32768, 32767),
        DType::I32 => (i32::MIN as i64, i32::MAX as i64),
        other => return Err(format!("quantizing to {other}")),
    };
    let code = scalar_type(dt).ok_or_else(|| format!("torch has no {dt}"))?;
    let x = e.tensor(id, 0)?;
    let s = along_axis(e, id, 1)?;
    let mut expr = format!("torch.round(torch.div({x}, {s}))");
    if e.input(id, 2).is_some() {
        let zp = along_axis(e, id, 2)?;
        expr = format!("torch.add({expr}, {zp})");
    }
    let expr = format!("torch.to(torch.clamp({expr}, {lo}, {hi}), {code})");
    let rank = e.input_info(id, 0).rank;
    e.assign(
        id,
        expr,
        Info {
            rank,
            dtype: Some(dt),
        },
    );
    Ok(())
}

fn dequantize(e: &mut Emitter<'_>, id: NodeId) -> Result<(), String> {
    let out = e.input_info(id, 1).dtype.unwrap_or(DType::F32);
    let code = scalar_type(out).ok_or_else(|| format!("torch has no {out}"))?;
    let x = e.tensor(id, 0)?;
    let s = along_axis(e, id, 1)?;
    let mut expr = format!("torch.to({x}, {code})");
    if e.input(id, 2).is_some() {
        let zp = along_axis(e, id, 2)?;
        expr = format!("torch.sub({expr}, torch.to({zp}, {code}))");
    }
    let expr = format!("torch.mul({expr}, {s})");
    let rank = e.input_info(id, 0).rank;
    e.assign(
        id,
        expr,
        Info {
            rank,
            dtype: Some(out),
        },
    );
    Ok(())
}
