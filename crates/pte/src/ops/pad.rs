//! Pad (constant mode, constant non-negative pads) → `aten::constant_pad_nd.out`. ONNX lists
//! all begins then all ends, first axis first; aten pairs (begin, end) from the last axis.

use modelc_ir::ValueRef;

use super::axis;
use crate::lower::{Lower, Refusal};

pub(super) fn lower(cx: &mut Lower) -> Result<(), Refusal> {
    let mode =
        cx.g.node(cx.node)
            .string("mode")
            .unwrap_or_else(|_| "constant".into());
    if mode != "constant" {
        return Err(format!("Pad mode {mode} (constant only)"));
    }
    let rank = cx.dims(cx.input_ref(0)?)?.len();
    let pads = match super::attr_ints(cx, "pads") {
        Some(p) => p,
        None => cx
            .const_ints(1)
            .ok_or("pads that are not a constant (sizes are planned ahead)")?,
    };
    let axes: Vec<usize> = if cx.has_input(3) {
        cx.const_ints(3)
            .ok_or("axes that are not a constant")?
            .into_iter()
            .map(|a| axis(a, rank).map(|a| a as usize))
            .collect::<Result<_, _>>()?
    } else {
        (0..rank).collect()
    };
    if pads.len() != 2 * axes.len() {
        return Err(format!("{} pads for {} axes", pads.len(), axes.len()));
    }
    if pads.iter().any(|&p| p < 0) {
        return Err("negative pads (cropping)".into());
    }
    let mut begin = vec![0i64; rank];
    let mut end = vec![0i64; rank];
    for (i, &a) in axes.iter().enumerate() {
        begin[a] = pads[i];
        end[a] = pads[axes.len() + i];
    }
    let dtype = cx.dtype(ValueRef::new(cx.node, 0))?;
    let value = match cx.has_input(2).then(|| cx.const_input(2)) {
        None => 0.0,
        Some(Some(t)) => modelc_passes::pattern::FloatConst::from_tensor(t)
            .and_then(|f| f.scalar())
            .or_else(|| modelc_ir::infer::tensor_ints(t)?.first().map(|&i| i as f64))
            .ok_or("a pad value that is not a scalar")?,
        Some(None) => return Err("a pad value that is not a constant".into()),
    };
    let x = cx.input(0)?;
    let out = cx.output(0)?;
    let pad: Vec<i64> = (0..rank).rev().flat_map(|a| [begin[a], end[a]]).collect();
    let pad = cx.p.ints(pad);
    let value = if dtype.is_float() {
        cx.p.double(value)
    } else {
        cx.p.int(value as i64)
    };
    cx.p.call("aten::constant_pad_nd", "out", &[x, pad, value], &[out]);
    Ok(())
}
