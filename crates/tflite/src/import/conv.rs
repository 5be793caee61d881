//! CONV_2D (Conv2DOptions: padding, stride_w/h, dilation_w/h_factor, fused activation),
//! DEPTHWISE_CONV_2D (DepthwiseConv2DOptions; depth_multiplier follows from the shapes) and
//! TRANSPOSE_CONV (TransposeConvOptions; inputs output_shape, weights, input, bias) →
//! `Conv` / `ConvTranspose` with `layout = NHWC`; an output_shape computed at run time is a
//! `Slice` / `Pad` of the whole transposed convolution to it.
//!
//! Weights stay OHWI as the layout convention has it; the depthwise filter [1, kH, kW, M] is
//! transposed to [M, kH, kW, 1] (per-channel scales move from axis 3 to axis 0 with it).
//! SAME padding is ONNX's `auto_pad = SAME_UPPER` (TensorFlow puts the odd pixel at the end);
//! with dilation, explicit `pads` computed from the static input and kernel sizes
//! (onnxruntime refuses dilation with SAME_UPPER at run time).

use bytes::Bytes;
use modelc_ir::{Attr, DType, OnnxOp, Tensor, ValueRef};

use super::{Ctx, OpIn, Quant};
use crate::fb::Padding;
use crate::TfliteError;

pub(crate) fn auto_pad(p: Padding) -> Attr {
    Attr::String(Bytes::from_static(if p == Padding::SAME {
        b"SAME_UPPER"
    } else {
        b"VALID"
    }))
}

/// `auto_pad`, or for SAME with dilation the explicit `pads` TensorFlow's SAME amounts to
/// (the odd pixel at the end), when the input's and the kernel's H and W are known.
fn padding(
    cx: &Ctx,
    xt: usize,
    wt: usize,
    p: Padding,
    strides: [i64; 2],
    dilations: [i64; 2],
) -> (&'static str, Attr) {
    let (x, w) = (&cx.info(xt).shape, &cx.info(wt).shape);
    if p != Padding::SAME || dilations == [1, 1] || x.len() != 4 || w.len() != 4 {
        return ("auto_pad", auto_pad(p));
    }
    let mut pads = [0i64; 4];
    for i in 0..2 {
        let (size, k, s, d) = (x[1 + i], w[1 + i], strides[i], dilations[i]);
        if size <= 0 || k <= 0 || s <= 0 || d <= 0 {
            return ("auto_pad", auto_pad(p));
        }
        let out = (size + s - 1) / s;
        let total = ((out - 1) * s + (k - 1) * d + 1 - size).max(0);
        pads[i] = total / 2;
        pads[2 + i] = total - total / 2;
    }
    ("pads", Attr::Ints(pads.to_vec()))
}

fn missing(op: &OpIn) -> TfliteError {
    TfliteError::invalid(op.label(), "has no options")
}

pub(crate) fn conv_2d(cx: &mut Ctx, op: &OpIn) -> Result<bool, TfliteError> {
    let o = op
        .raw
        .builtin_options_as_conv_2_doptions()
        .ok_or_else(|| missing(op))?;
    let x = cx.req(op, 0)?;
    let w = cx.req(op, 1)?;
    let b = cx.input(op, 2)?;
    let (xt, wt) = (cx.in_tensor(op, 0)?, cx.in_tensor(op, 1)?);
    let strides = [o.stride_h() as i64, o.stride_w() as i64];
    let dilations = [o.dilation_h_factor() as i64, o.dilation_w_factor() as i64];
    let mut attrs = vec![
        padding(cx, xt, wt, o.padding(), strides, dilations),
        ("strides", Attr::Ints(strides.to_vec())),
        ("dilations", Attr::Ints(dilations.to_vec())),
    ];
    // Grouped convolution: the filter's input depth divides the data's channels.
    let (cin, wcin) = (
        cx.info(xt).shape.last().copied(),
        cx.info(wt).shape.last().copied(),
    );
    if let (Some(c), Some(wc)) = (cin, wcin) {
        if c > 0 && wc > 0 && c != wc && c % wc == 0 {
            attrs.push(("group", Attr::Int(c / wc)));
        }
    }
    let y = cx.op_nhwc(OnnxOp::Conv, &[Some(x), Some(w), b], attrs);
    let y = cx.activation(y, o.fused_activation_function(), op)?;
    cx.define(cx.out_tensor(op, 0)?, y)?;
    Ok(true)
}

pub(crate) fn depthwise_conv_2d(cx: &mut Ctx, op: &OpIn) -> Result<bool, TfliteError> {
    let o = op
        .raw
        .builtin_options_as_depthwise_conv_2_doptions()
        .ok_or_else(|| missing(op))?;
    let x = cx.req(op, 0)?;
    let (xt, wt) = (cx.in_tensor(op, 0)?, cx.in_tensor(op, 1)?);
    let cin = cx.info(xt).shape.last().copied().unwrap_or(-1);
    if cin <= 0 {
        return Err(TfliteError::invalid(
            op.label(),
            "the input's channel count must be known",
        ));
    }
    let strides = [o.stride_h() as i64, o.stride_w() as i64];
    let dilations = [o.dilation_h_factor() as i64, o.dilation_w_factor() as i64];
    let pad = padding(cx, xt, wt, o.padding(), strides, dilations);
    let w = depthwise_filter(cx, op, wt)?;
    let b = cx.input(op, 2)?;
    let attrs = vec![
        pad,
        ("strides", Attr::Ints(strides.to_vec())),
        ("dilations", Attr::Ints(dilations.to_vec())),
        ("group", Attr::Int(cin)),
    ];
    let y = cx.op_nhwc(OnnxOp::Conv, &[Some(x), Some(w), b], attrs);
    let y = cx.activation(y, o.fused_activation_function(), op)?;
    cx.define(cx.out_tensor(op, 0)?, y)?;
    Ok(true)
}

/// The depthwise filter [1, kH, kW, M] as [M, kH, kW, 1]: a constant is transposed at import
/// (with its per-channel quantization), anything else gets a Transpose node.
fn depthwise_filter(cx: &mut Ctx, op: &OpIn, wt: usize) -> Result<ValueRef, TfliteError> {
    let info = cx.info(wt);
    let (Some(data), [1, kh, kw, m]) = (info.data.clone(), info.shape.as_slice()) else {
        let w = cx.req(op, 1)?;
        return Ok(cx.op(
            OnnxOp::Transpose,
            &[Some(w)],
            vec![("perm", Attr::Ints(vec![3, 1, 2, 0]))],
        ));
    };
    let (kh, kw, m) = (*kh as usize, *kw as usize, *m as usize);
    let dtype = info.dtype;
    let quant = info.quant.clone();
    let esize = match dtype.storage_bytes(1) {
        Some(n) if dtype != DType::I4 => n as usize,
        _ => {
            return Err(TfliteError::invalid(
                op.label(),
                format!("{dtype} depthwise filters are not supported"),
            ))
        }
    };
    // [kh*kw, m] → [m, kh*kw], element by element.
    let mut out = vec![0u8; data.len()];
    let hw = kh * kw;
    for p in 0..hw {
        for c in 0..m {
            let src = (p * m + c) * esize;
            let dst = (c * hw + p) * esize;
            out[dst..dst + esize].copy_from_slice(&data[src..src + esize]);
        }
    }
    let t = Tensor::from_raw(
        dtype,
        vec![m as u64, kh as u64, kw as u64, 1],
        Bytes::from(out),
    )
    .map_err(|e| TfliteError::invalid(op.label(), e.to_string()))?;
    let raw = cx.constant("filter", t);
    Ok(match quant {
        Some(q) => {
            let q = Quant {
                axis: if q.scale.len() > 1 { 0 } else { q.axis },
                ..q
            };
            cx.dequantize(raw, &q, dtype)
        }
        None => raw,
    })
}

pub(crate) fn transpose_conv(cx: &mut Ctx, op: &OpIn) -> Result<bool, TfliteError> {
    let o = op
        .raw
        .builtin_options_as_transpose_conv_options()
        .ok_or_else(|| missing(op))?;
    let Some(out_shape) = cx.const_ints(op, 0)? else {
        return run_time_transpose_conv(cx, op, &o);
    };
    if out_shape.len() != 4 {
        return Ok(false);
    }
    let w = cx.req(op, 1)?;
    let x = cx.req(op, 2)?;
    let b = cx.input(op, 3)?;
    let strides = [o.stride_h() as i64, o.stride_w() as i64];
    // The output size fixes the padding; with explicit output_shape ONNX derives the pads
    // the SAME_UPPER way (the odd pixel at the end), as TensorFlow does.
    let mut attrs = vec![
        ("strides", Attr::Ints(strides.to_vec())),
        ("output_shape", Attr::Ints(out_shape[1..3].to_vec())),
    ];
    if o.padding() == Padding::SAME {
        attrs.push(("auto_pad", auto_pad(Padding::SAME)));
    }
    let y = cx.op_nhwc(OnnxOp::ConvTranspose, &[Some(x), Some(w), b], attrs);
    let y = cx.activation(y, o.fused_activation_function(), op)?;
    cx.define(cx.out_tensor(op, 0)?, y)?;
    Ok(true)
}

/// TRANSPOSE_CONV whose output_shape is computed at run time (as modelc writes a
/// ConvTranspose of an input of unknown size). TFLite places input row `i`, tap `k` at
/// output row `i·s + k - pad`, `pad` 0 (VALID) or, SAME, half of
/// `max(0, (ceil(out / s) - 1)·s + k - out)` for the run-time `out`, and leaves rows no tap
/// reaches zero (plus the bias). So: the whole `(in - 1)·s + k` result of a `ConvTranspose`
/// without pads or bias, `Slice` rows `pad .. pad + out`, `Pad` with zeros what lies past
/// its end, then the bias.
fn run_time_transpose_conv(
    cx: &mut Ctx,
    op: &OpIn,
    o: &crate::fb::TransposeConvOptions<'_>,
) -> Result<bool, TfliteError> {
    let wt = cx.in_tensor(op, 1)?;
    let [_, kh, kw, _] = cx.info(wt).shape[..] else {
        return Ok(false);
    };
    let shape_t = cx.in_tensor(op, 0)?;
    if cx.info(shape_t).shape != [4] || kh <= 0 || kw <= 0 {
        return Ok(false);
    }
    let strides = [o.stride_h() as i64, o.stride_w() as i64];
    if strides.iter().any(|&s| s <= 0) {
        return Err(TfliteError::invalid(op.label(), "stride of 0 or less"));
    }
    let w = cx.req(op, 1)?;
    let x = cx.req(op, 2)?;
    let b = cx.input(op, 3)?;
    let full = cx.op_nhwc(
        OnnxOp::ConvTranspose,
        &[Some(x), Some(w), None],
        vec![("strides", Attr::Ints(strides.to_vec()))],
    );
    // The sizes in the shape tensor's own type (int32 as TFLite writes it: LiteRT has no
    // int64 DIV), then int64 for Slice and Pad.
    let dtype = cx.info(shape_t).dtype;
    if !matches!(dtype, DType::I32 | DType::I64) {
        return Ok(false);
    }
    let out_shape = cx.req(op, 0)?;
    let hw_axes = cx.const_1d(&[1, 2]);
    let (one, three, zero_axis) = (cx.const_1d(&[1]), cx.const_1d(&[3]), cx.const_1d(&[0]));
    let hw = cx.op(
        OnnxOp::Slice,
        &[Some(out_shape), Some(one), Some(three), Some(zero_axis)],
        vec![],
    );
    let begin = if o.padding() == Padding::SAME {
        // (ceil(out / s) - 1)·s + k - out, at least 0, halved (the odd pixel at the end).
        let s = ints(cx, dtype, &strides);
        let s_less_one = ints(cx, dtype, &strides.map(|v| v - 1));
        let k_less_s = ints(cx, dtype, &[kh - strides[0], kw - strides[1]]);
        let up = cx.op(OnnxOp::Add, &[Some(hw), Some(s_less_one)], vec![]);
        let positions = cx.op(OnnxOp::Div, &[Some(up), Some(s)], vec![]);
        let span = cx.op(OnnxOp::Mul, &[Some(positions), Some(s)], vec![]);
        let span = cx.op(OnnxOp::Add, &[Some(span), Some(k_less_s)], vec![]);
        let total = cx.op(OnnxOp::Sub, &[Some(span), Some(hw)], vec![]);
        let zero = ints(cx, dtype, &[0]);
        let total = cx.op(OnnxOp::Max, &[Some(total), Some(zero)], vec![]);
        let two = ints(cx, dtype, &[2]);
        cx.op(OnnxOp::Div, &[Some(total), Some(two)], vec![])
    } else {
        ints(cx, dtype, &[0, 0])
    };
    let [begin, hw] = [begin, hw].map(|v| {
        if dtype == DType::I64 {
            v
        } else {
            let to = Attr::Int(DType::I64.onnx_code() as i64);
            cx.op(OnnxOp::Cast, &[Some(v)], vec![("to", to)])
        }
    });
    let end = cx.op(OnnxOp::Add, &[Some(begin), Some(hw)], vec![]);
    let cropped = cx.op(
        OnnxOp::Slice,
        &[Some(full), Some(begin), Some(end), Some(hw_axes)],
        vec![],
    );
    // Rows past the whole result: zeros, as many as `end` reaches beyond it.
    let full_shape = cx.op(OnnxOp::Shape, &[Some(full)], vec![]);
    let (one, three, zero_axis) = (cx.const_1d(&[1]), cx.const_1d(&[3]), cx.const_1d(&[0]));
    let full_hw = cx.op(
        OnnxOp::Slice,
        &[Some(full_shape), Some(one), Some(three), Some(zero_axis)],
        vec![],
    );
    let past = cx.op(OnnxOp::Sub, &[Some(end), Some(full_hw)], vec![]);
    let zero = cx.const_i64(&[0], &[]);
    let past = cx.op(OnnxOp::Max, &[Some(past), Some(zero)], vec![]);
    let (lead, tail) = (cx.const_1d(&[0, 0, 0, 0, 0]), cx.const_1d(&[0]));
    let pads = cx.op(
        OnnxOp::Concat,
        &[Some(lead), Some(past), Some(tail)],
        vec![("axis", Attr::Int(0))],
    );
    let mut y = cx.op(OnnxOp::Pad, &[Some(cropped), Some(pads)], vec![]);
    if let Some(b) = b {
        y = cx.op(OnnxOp::Add, &[Some(y), Some(b)], vec![]);
    }
    let y = cx.activation(y, o.fused_activation_function(), op)?;
    cx.define(cx.out_tensor(op, 0)?, y)?;
    Ok(true)
}

/// A 1-D constant of the integer type `dtype` (int32 or int64).
fn ints(cx: &mut Ctx, dtype: DType, vals: &[i64]) -> ValueRef {
    let bytes: Vec<u8> = if dtype == DType::I32 {
        vals.iter()
            .flat_map(|&v| (v as i32).to_le_bytes())
            .collect()
    } else {
        vals.iter().flat_map(|&v| v.to_le_bytes()).collect()
    };
    let t = Tensor::from_raw(dtype, vec![vals.len() as u64], Bytes::from(bytes))
        .expect("one element per value");
    cx.constant("c", t)
}
