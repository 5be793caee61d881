//! Convolution, transposed convolution, pooling and dense layers.
//! - `Conv` (NHWC; group 1 → CONV_2D; group = channels with a [M, kH, kW, 1] filter →
//!   DEPTHWISE_CONV_2D, filter transposed to [1, kH, kW, M] and per-channel scales to axis 3);
//! - `ConvTranspose` (NHWC, float) → TRANSPOSE_CONV (+ STRIDED_SLICE for pads SAME cannot give;
//!   of an input size unknown until run time: its output_shape computed from SHAPE, VALID,
//!   then the pads cropped);
//! - `MaxPool` / `AveragePool` (NHWC) → MAX_POOL_2D / AVERAGE_POOL_2D, `ceil_mode` too
//!   (average pooling's divisor rules: see `average_pool`);
//!   `GlobalAveragePool` / `GlobalMaxPool` → MEAN / REDUCE_MAX over the spatial axes, kept;
//! - `Gemm` (constant B, no transA, alpha = beta = 1) and `MatMul` with a constant 2-D right
//!   side → FULLY_CONNECTED (weights [O, I]); other `MatMul`s → BATCH_MATMUL.
//!
//! 1-D forms of these arrive here as 2-D with a unit height (`legalize::lift_1d`).
//!
//! Padding: `auto_pad` SAME_UPPER and explicit pads equal to TensorFlow's SAME split give
//! SAME, zero pads VALID; any other explicit pads become a PAD (PADV2 with the lowest value
//! for max pooling) in front of a VALID op.

use bytes::Bytes;
use modelc_ir::{DType, Layout, NodeId, OnnxOp, Tensor, ValueRef};

use crate::export::lower::{attr_f, attr_i, attr_ints, attr_s, Lower};
use crate::fb::{self, BuiltinOperator as B, BuiltinOptions, Padding};
use crate::import::Quant;
use crate::TfliteError;

fn unsupported(m: impl Into<String>) -> TfliteError {
    TfliteError::Unsupported(m.into())
}

/// TFLite padding for a 2-D window op, or the explicit pads [t, l, b, r] to apply first.
fn padding(
    lowering: &Lower,
    id: NodeId,
    in_hw: [i64; 2],
    kernel: [i64; 2],
    strides: [i64; 2],
    dilations: [i64; 2],
) -> Result<(Padding, Option<[i64; 4]>), TfliteError> {
    // Bounded so the window arithmetic cannot overflow or divide by zero on a hostile file.
    let sane = |v: i64| (1..1 << 31).contains(&v);
    if !kernel
        .iter()
        .chain(&strides)
        .chain(&dilations)
        .all(|&v| sane(v))
        || in_hw.iter().any(|&v| v >= 1 << 31)
    {
        return Err(unsupported(
            "window sizes, strides or dilations out of range",
        ));
    }
    let eff_k = [0, 1].map(|a| (kernel[a] - 1) * dilations[a] + 1);
    let auto = attr_s(lowering.g, id, "auto_pad", "NOTSET");
    let pads = match auto.as_str() {
        "SAME_UPPER" => return Ok((Padding::SAME, None)),
        "VALID" => return Ok((Padding::VALID, None)),
        "NOTSET" => attr_ints(lowering.g, id, "pads").unwrap_or(vec![0; 4]),
        // SAME's total padding with the odd one at the start: explicit pads (SAME when
        // the total is even).
        "SAME_LOWER" => same_pads(in_hw, eff_k, strides, false)
            .ok_or_else(|| unsupported("auto_pad SAME_LOWER of an unknown size"))?
            .to_vec(),
        other => return Err(unsupported(format!("auto_pad {other}"))),
    };
    if pads.len() != 4 || !pads.iter().all(|&p| (0..1 << 31).contains(&p)) {
        return Err(unsupported("pads must be 4 entries in [0, 2^31)"));
    }
    if pads.iter().all(|&p| p == 0) {
        return Ok((Padding::VALID, None));
    }
    if same_pads(in_hw, eff_k, strides, true).is_some_and(|same| pads == same) {
        return Ok((Padding::SAME, None));
    }
    Ok((Padding::VALID, Some([pads[0], pads[1], pads[2], pads[3]])))
}

/// The explicit [t, l, b, r] pads under which VALID max pooling yields ONNX's ceil_mode
/// output size: `ceil((H + pads - k) / s) + 1` windows, less one if the last would start
/// past the input and its leading pad, with the bottom/right padding grown to hold the last
/// window (the lowest float, so it never wins the max).
fn ceil_mode_pads(
    lowering: &Lower,
    id: NodeId,
    in_hw: [i64; 2],
    kernel: [i64; 2],
    strides: [i64; 2],
) -> Result<[i64; 4], TfliteError> {
    if attr_s(lowering.g, id, "auto_pad", "NOTSET") != "NOTSET" {
        return Err(unsupported("ceil_mode with auto_pad"));
    }
    let mut pads = attr_ints(lowering.g, id, "pads").unwrap_or(vec![0; 4]);
    if pads.len() != 4 {
        return Err(unsupported("pads must have 4 entries"));
    }
    for a in 0..2 {
        let (h, k, s) = (in_hw[a], kernel[a], strides[a]);
        if h < 0 || s < 1 {
            return Err(unsupported("ceil_mode pooling needs a known input size"));
        }
        let out = pool_out_size(h, k, s, pads[a], pads[a + 2], true)?;
        let needed = (out - 1) * s + k;
        pads[a + 2] += (needed - (h + pads[a] + pads[a + 2])).max(0);
    }
    Ok([pads[0], pads[1], pads[2], pads[3]])
}

/// ONNX's pooling output size along one axis of size `h` with pads `begin`, `end`:
/// `floor` or `ceil((h + pads - k) / s) + 1`; with ceil_mode, less one if the last window
/// would start past the input and its leading pad.
fn pool_out_size(
    h: i64,
    k: i64,
    s: i64,
    begin: i64,
    end: i64,
    ceil: bool,
) -> Result<i64, TfliteError> {
    let span = h + begin + end - k;
    if span < 0 {
        return Err(unsupported("pooling window larger than the padded input"));
    }
    if !ceil {
        return Ok(span / s + 1);
    }
    let out = (span + s - 1) / s + 1;
    Ok(if (out - 1) * s >= h + begin {
        out - 1
    } else {
        out
    })
}

/// Emits PAD (or PADV2 with `value`) of an NHWC tensor by [t, l, b, r]; returns the result.
fn pad_input(
    lowering: &mut Lower,
    input: usize,
    pads: [i64; 4],
    value: Option<f32>,
) -> Result<usize, TfliteError> {
    let it = &lowering.model.tensors[input];
    let mut shape = it.shape.to_vec();
    if shape.len() != 4 {
        return Err(unsupported("padding needs a 4-D input"));
    }
    let (dtype, quant, name) = (
        it.dtype,
        it.quant.as_deref().cloned(),
        format!("{}/pad", it.name),
    );
    // A size unknown until run time stays unknown.
    for (a, extra) in [(1, pads[0] + pads[2]), (2, pads[1] + pads[3])] {
        if shape[a] >= 0 {
            shape[a] += extra;
        }
    }
    let p: Vec<i32> = [0, 0, pads[0], pads[2], pads[1], pads[3], 0, 0]
        .iter()
        .map(|&v| v as i32)
        .collect();
    let pt = lowering.model.const_i32("paddings", &p, vec![4, 2])?;
    let out = lowering
        .model
        .add_tensor(name, dtype, shape, None, quant.clone())?;
    match value {
        Some(v) => {
            let vt = match (&quant, dtype) {
                (Some(q), DType::I8) => {
                    let lowest = Bytes::from(vec![i8::MIN as u8]);
                    lowering.model.add_tensor(
                        "pad_value".into(),
                        DType::I8,
                        vec![],
                        Some(&lowest),
                        Some(q.clone()),
                    )?
                }
                (None, DType::F32) => lowering.model.const_f32("pad_value", &[v], vec![])?,
                _ => return Err(unsupported(format!("max-pool padding of {dtype}"))),
            };
            let o = fb::PadV2Options::create(&mut lowering.model.fbb, &fb::PadV2OptionsArgs {})
                .as_union_value();
            lowering.model.emit(
                B::PADV2,
                1,
                &[Some(input), Some(pt), Some(vt)],
                &[out],
                Some((BuiltinOptions::PadV2Options, o)),
            );
        }
        None => {
            let o = fb::PadOptions::create(&mut lowering.model.fbb, &fb::PadOptionsArgs {})
                .as_union_value();
            lowering.model.emit(
                B::PAD,
                1,
                &[Some(input), Some(pt)],
                &[out],
                Some((BuiltinOptions::PadOptions, o)),
            );
        }
    }
    Ok(out)
}

fn two(v: Option<Vec<i64>>, default: i64) -> Result<[i64; 2], TfliteError> {
    match v.as_deref() {
        None => Ok([default, default]),
        Some([a, b]) => Ok([*a, *b]),
        Some(_) => Err(unsupported("only 2-D windows are supported")),
    }
}

fn need_nhwc(lowering: &Lower, id: NodeId) -> Result<(), TfliteError> {
    if lowering.g.node(id).layout == Some(Layout::Nhwc) {
        Ok(())
    } else {
        Err(unsupported(
            "layout is NCHW; the layout pass did not convert it",
        ))
    }
}

/// CONV_2D's op version for a grouped convolution.
const GROUPED_CONV_VERSION: i32 = 6;

pub(crate) fn conv(lowering: &mut Lower, id: NodeId) -> Result<(), TfliteError> {
    need_nhwc(lowering, id)?;
    let ins = lowering.g.inputs_of(id);
    let wv = ins
        .get(1)
        .copied()
        .flatten()
        .ok_or_else(|| unsupported("no weights"))?;
    let wshape = lowering
        .model
        .shape_of(wv)
        .or_else(|| const_dims(lowering, wv))
        .ok_or_else(|| unsupported("weight shape unknown"))?;
    let xshape = lowering
        .in_shape(id, 0)
        .ok_or_else(|| unsupported("input shape unknown"))?;
    if wshape.len() != 4 || xshape.len() != 4 {
        return Err(unsupported("only 2-D convolutions are supported"));
    }
    let group = attr_i(lowering.g, id, "group", 1);
    let strides = two(attr_ints(lowering.g, id, "strides"), 1)?;
    let dil = two(attr_ints(lowering.g, id, "dilations"), 1)?;
    let (pad, explicit) = padding(
        lowering,
        id,
        [xshape[1], xshape[2]],
        [wshape[1], wshape[2]],
        strides,
        dil,
    )?;
    let depthwise = group > 1 && group == xshape[3] && wshape[3] == 1;
    // A grouped convolution is a CONV_2D whose filter has C / group input channels (the
    // OHWI weight as it is); the kernel takes the group count from the two channel sizes.
    let grouped = group > 1 && !depthwise;
    if grouped && wshape[3] * group != xshape[3] {
        return Err(unsupported(format!(
            "grouped convolution (group {group}) with a {}-channel filter on {} channels",
            wshape[3], xshape[3]
        )));
    }
    let mut input = lowering.req(id, 0)?;
    if let Some(p) = explicit {
        input = pad_input(lowering, input, p, None)?;
    }
    let w = if depthwise {
        depthwise_filter(lowering, wv)?
    } else {
        lowering.req(id, 1)?
    };
    // LiteRT's kernels (its integer DEPTHWISE_CONV_2D at least) require a bias: zeros, of
    // int32 with scale input scale x weight scale for a quantized op.
    let bias = match lowering.bias(id, 2, input)? {
        Some(b) => Some(b),
        None if !lowering.quantized => Some(lowering.model.const_f32(
            "bias",
            &vec![0.0; wshape[0] as usize],
            vec![wshape[0]],
        )?),
        None => Some(zero_int32_bias(lowering, input, w, wshape[0])?),
    };
    let out = lowering.output(0)?;
    let act = lowering.act;
    if depthwise {
        let o = fb::DepthwiseConv2DOptions::create(
            &mut lowering.model.fbb,
            &fb::DepthwiseConv2DOptionsArgs {
                padding: pad,
                stride_w: strides[1] as i32,
                stride_h: strides[0] as i32,
                depth_multiplier: (wshape[0] / xshape[3]) as i32,
                fused_activation_function: act,
                dilation_w_factor: dil[1] as i32,
                dilation_h_factor: dil[0] as i32,
            },
        )
        .as_union_value();
        let v = if lowering.quantized { 3 } else { 2 };
        lowering.model.emit(
            B::DEPTHWISE_CONV_2D,
            v,
            &[Some(input), Some(w), bias],
            &[out],
            Some((BuiltinOptions::DepthwiseConv2DOptions, o)),
        );
    } else {
        let o = fb::Conv2DOptions::create(
            &mut lowering.model.fbb,
            &fb::Conv2DOptionsArgs {
                padding: pad,
                stride_w: strides[1] as i32,
                stride_h: strides[0] as i32,
                fused_activation_function: act,
                dilation_w_factor: dil[1] as i32,
                dilation_h_factor: dil[0] as i32,
                ..Default::default()
            },
        )
        .as_union_value();
        // Version 6 marks grouped convolutions (LiteRT's op versioning).
        let v = match (grouped, lowering.quantized) {
            (true, _) => GROUPED_CONV_VERSION,
            (false, true) => 3,
            (false, false) => 1,
        };
        lowering.model.emit(
            B::CONV_2D,
            v,
            &[Some(input), Some(w), bias],
            &[out],
            Some((BuiltinOptions::Conv2DOptions, o)),
        );
    }
    Ok(())
}

/// A zero int32 bias of `channels` for a quantized op on `input` with filter `w`.
fn zero_int32_bias(
    lowering: &mut Lower,
    input: usize,
    w: usize,
    channels: i64,
) -> Result<usize, TfliteError> {
    let (Some(qi), Some(qw)) = (
        lowering.model.tensors[input].quant.as_deref().cloned(),
        lowering.model.tensors[w].quant.as_deref().cloned(),
    ) else {
        return Err(unsupported("quantized op without input or filter scales"));
    };
    let sx = qi.scale.first().copied().unwrap_or(1.0);
    let scale: Vec<f32> = qw.scale.iter().map(|s| s * sx).collect();
    let n = scale.len();
    let quant = Quant {
        scale,
        zero_point: vec![0; n],
        axis: 0,
    };
    let zeros = Bytes::from(vec![0u8; 4 * channels as usize]);
    let name = format!("{}/zero_bias", lowering.model.tensors[w].name);
    lowering
        .model
        .add_tensor(name, DType::I32, vec![channels], Some(&zeros), Some(quant))
}

fn const_dims(lowering: &Lower, v: ValueRef) -> Option<Vec<i64>> {
    let c = match lowering.dq_source(v) {
        Some(dq) => lowering.model.const_of(lowering.g.input(dq, 0)?)?,
        None => lowering
            .model
            .const_of(v)
            .or_else(|| lowering.f16_source(v))?,
    };
    Some(c.dims.iter().map(|&d| d as i64).collect())
}

/// [M, kH, kW, 1] → TFLite's [1, kH, kW, M] for a constant (or dequantized constant) filter.
fn depthwise_filter(lowering: &mut Lower, wv: ValueRef) -> Result<usize, TfliteError> {
    // A filter that is Transpose([1, kH, kW, M], perm [3, 1, 2, 0]) (how the importer brings a
    // non-constant TFLite filter to OHWI) is the TFLite filter itself.
    let src = lowering.model.resolve(wv);
    if lowering.g.node(src.node).op.onnx() == Some(OnnxOp::Transpose)
        && attr_ints(lowering.g, src.node, "perm").as_deref() == Some(&[3, 1, 2, 0])
    {
        if let Some(inner) = lowering.g.input(src.node, 0) {
            return lowering.input_value(inner);
        }
    }
    let (c, quant) = match lowering.dq_source(wv) {
        Some(dq) => {
            let q = lowering
                .qdq_params(dq)
                .ok_or_else(|| unsupported("filter quantization"))?;
            let src = lowering
                .g
                .input(dq, 0)
                .ok_or_else(|| unsupported("filter"))?;
            let c = lowering
                .model
                .const_of(src)
                .ok_or_else(|| unsupported("depthwise filter must be constant"))?;
            (c, Some(q))
        }
        _ => (
            lowering
                .model
                .const_of(wv)
                .or_else(|| lowering.f16_source(wv))
                .ok_or_else(|| unsupported("depthwise filter must be constant"))?,
            None,
        ),
    };
    let [m, kh, kw, 1] = c.dims[..] else {
        return Err(unsupported("depthwise filter must be [M, kH, kW, 1]"));
    };
    let raw = c.raw().ok_or_else(|| unsupported("string filter"))?;
    let es = c.dtype.storage_bytes(1).unwrap_or(1) as usize;
    let (m, hw) = (m as usize, (kh * kw) as usize);
    let mut out = vec![0u8; raw.len()];
    for ch in 0..m {
        for p in 0..hw {
            let src = (ch * hw + p) * es;
            let dst = (p * m + ch) * es;
            out[dst..dst + es].copy_from_slice(&raw[src..src + es]);
        }
    }
    let t = Tensor::from_raw(c.dtype, vec![1, kh, kw, m as u64], Bytes::from(out))
        .map_err(|e| unsupported(e.to_string()))?;
    let name = format!("{}/hwcm", lowering.model.value_name(wv));
    if lowering.quantized {
        let quant = quant.map(|q| Quant {
            axis: if q.scale.len() > 1 { 3 } else { 0 },
            ..q
        });
        return lowering.model.const_tensor(name, &t, quant);
    }
    if c.dtype == DType::F16 {
        let h = lowering.model.const_tensor(name.clone(), &t, None)?;
        let shape = vec![1, kh as i64, kw as i64, m as i64];
        let out =
            lowering
                .model
                .add_tensor(format!("{name}/f32"), DType::F32, shape, None, None)?;
        lowering
            .model
            .emit(B::DEQUANTIZE, 3, &[Some(h)], &[out], None);
        return Ok(out);
    }
    match quant {
        // Float op reading a quantized filter: dequantize it in the file.
        Some(q) => {
            let wq = lowering.model.const_tensor(
                name.clone(),
                &t,
                Some(Quant {
                    axis: if q.scale.len() > 1 { 3 } else { 0 },
                    ..q
                }),
            )?;
            let shape = vec![1, kh as i64, kw as i64, m as i64];
            let out =
                lowering
                    .model
                    .add_tensor(format!("{name}/dq"), DType::F32, shape, None, None)?;
            lowering
                .model
                .emit(B::DEQUANTIZE, 2, &[Some(wq)], &[out], None);
            Ok(out)
        }
        None => lowering.model.const_tensor(name, &t, None),
    }
}

/// `ConvTranspose` (NHWC, weights `[M, kH, kW, C]` from the layout pass, group 1, no
/// dilation) → TRANSPOSE_CONV (version 3: with bias). TFLite places input row `i`, tap `k`
/// at output row `i·s + k - pad_top`, with `pad_top` 0 (VALID) or half of
/// `(in - 1)·s + k - out` (SAME), and drops what falls outside `out`; ONNX at
/// `i·s + k - pads_begin`. So leading pads of 0 are VALID with ONNX's output size, leading
/// pads equal to SAME's half are SAME, and any other pads are a VALID op over the whole
/// `(in - 1)·s + k` followed by a STRIDED_SLICE of ONNX's window.
pub(crate) fn conv_transpose(lowering: &mut Lower, id: NodeId) -> Result<(), TfliteError> {
    need_nhwc(lowering, id)?;
    if attr_i(lowering.g, id, "group", 1) != 1 {
        return Err(unsupported("grouped ConvTranspose"));
    }
    if two(attr_ints(lowering.g, id, "dilations"), 1)? != [1, 1] {
        return Err(unsupported("dilated ConvTranspose"));
    }
    if attr_s(lowering.g, id, "auto_pad", "NOTSET") != "NOTSET" {
        return Err(unsupported("ConvTranspose with auto_pad"));
    }
    let wv = lowering
        .g
        .input(id, 1)
        .ok_or_else(|| unsupported("no weights"))?;
    let wshape = lowering
        .model
        .shape_of(wv)
        .or_else(|| const_dims(lowering, wv))
        .ok_or_else(|| unsupported("weight shape unknown"))?;
    let xs = lowering
        .in_shape(id, 0)
        .ok_or_else(|| unsupported("input shape unknown"))?;
    let os = lowering
        .out_shape(0)
        .ok_or_else(|| unsupported("output shape unknown"))?;
    if wshape.len() != 4 || xs.len() != 4 || os.len() != 4 {
        return Err(unsupported("only 2-D ConvTranspose"));
    }
    let s = two(attr_ints(lowering.g, id, "strides"), 1)?;
    if xs.iter().chain(&os).any(|&d| d < 0) {
        return conv_transpose_dynamic(lowering, id, &wshape, s);
    }
    let pads = attr_ints(lowering.g, id, "pads").unwrap_or(vec![0; 4]);
    let [pt, pl, _, _] = pads[..] else {
        return Err(unsupported("pads must have 4 entries"));
    };
    // Bounded so the size arithmetic below cannot overflow on a hostile file.
    let sane = |v: i64| (0..1 << 31).contains(&v);
    if !(pads
        .iter()
        .chain(&s)
        .chain(&wshape)
        .chain(&xs)
        .chain(&os)
        .all(|&v| sane(v)))
        || s.contains(&0)
    {
        return Err(unsupported("ConvTranspose sizes out of range"));
    }
    let k = [wshape[1], wshape[2]];
    let full = [(xs[1] - 1) * s[0] + k[0], (xs[2] - 1) * s[1] + k[1]];
    let out_hw = [os[1], os[2]];
    let begin = match attr_ints(lowering.g, id, "output_shape").filter(|v| !v.is_empty()) {
        // The pads an output_shape implies (onnxruntime's rule: the odd one at the start,
        // as auto_pad is NOTSET here); the result is a crop of the full one.
        Some(want) => {
            if attr_ints(lowering.g, id, "output_padding")
                .is_some_and(|p| p.iter().any(|&v| v != 0))
            {
                return Err(unsupported(
                    "ConvTranspose with output_shape and output_padding",
                ));
            }
            if want.len() != 2 || want[..] != out_hw {
                return Err(unsupported(format!(
                    "ConvTranspose output_shape {want:?} for an output of {out_hw:?}"
                )));
            }
            let total = [0, 1].map(|a| full[a] - out_hw[a]);
            if total.iter().any(|&t| t < 0) {
                return Err(unsupported(
                    "ConvTranspose output_shape past the full result",
                ));
            }
            total.map(|t| t - t / 2)
        }
        None => [pt, pl],
    };
    // LiteRT sizes SAME's padding as for a convolution from the output back to
    // ceil(out / s) positions, which is the input only when that division gives it.
    let same = (0..2).all(|a| {
        let total = full[a] - out_hw[a];
        let back = (out_hw[a] + s[a] - 1) / s[a];
        total >= 0 && total / 2 == begin[a] && back == xs[1 + a]
    });
    let (padding, conv_hw, crop) = if begin == [0, 0] {
        (Padding::VALID, out_hw, false)
    } else if same {
        (Padding::SAME, out_hw, false)
    } else if (0..2).all(|a| begin[a] >= 0 && begin[a] + out_hw[a] <= full[a]) {
        (Padding::VALID, full, true)
    } else {
        return Err(unsupported(
            "ConvTranspose whose output_padding reaches past the full result",
        ));
    };
    if crop && lowering.act != fb::ActivationFunctionType::NONE {
        return Err(unsupported(
            "ConvTranspose with cropping and a fused activation",
        ));
    }
    let input = lowering.req(id, 0)?;
    let w = lowering.req(id, 1)?;
    let bias = lowering.bias(id, 2, input)?;
    let out = lowering.output(0)?;
    let conv_out = if crop {
        // The full result, typed (and quantized) as the cropped one.
        let o = &lowering.model.tensors[out];
        let (name, shape, dtype, quant) = (
            format!("{}/uncropped", o.name),
            vec![os[0], conv_hw[0], conv_hw[1], os[3]],
            o.dtype,
            o.quant.as_deref().cloned(),
        );
        lowering.model.add_tensor(name, dtype, shape, None, quant)?
    } else {
        out
    };
    let shape = lowering.model.const_i32(
        "output_shape",
        &[
            os[0] as i32,
            conv_hw[0] as i32,
            conv_hw[1] as i32,
            os[3] as i32,
        ],
        vec![4],
    )?;
    let act = if crop {
        fb::ActivationFunctionType::NONE
    } else {
        lowering.act
    };
    emit_transpose_conv(lowering, [shape, w, input], bias, conv_out, padding, s, act);
    if crop {
        let [bt, bl] = begin;
        let b = [0, bt as i32, bl as i32, 0];
        let e = [
            os[0] as i32,
            (bt + os[1]) as i32,
            (bl + os[2]) as i32,
            os[3] as i32,
        ];
        super::shape::strided_slice(
            lowering,
            1,
            conv_out,
            out,
            &[b.to_vec(), e.to_vec(), vec![1; 4]],
            (0, 0),
        )?;
    }
    Ok(())
}

/// TRANSPOSE_CONV (version 3: with bias) of `input` by filter `w` to `output_shape`.
fn emit_transpose_conv(
    lowering: &mut Lower,
    [output_shape, w, input]: [usize; 3],
    bias: Option<usize>,
    out: usize,
    padding: Padding,
    s: [i64; 2],
    act: fb::ActivationFunctionType,
) {
    let o = fb::TransposeConvOptions::create(
        &mut lowering.model.fbb,
        &fb::TransposeConvOptionsArgs {
            padding,
            stride_w: s[1] as i32,
            stride_h: s[0] as i32,
            fused_activation_function: act,
            ..Default::default()
        },
    )
    .as_union_value();
    lowering.model.emit(
        B::TRANSPOSE_CONV,
        3,
        &[Some(output_shape), Some(w), Some(input), bias],
        &[out],
        Some((BuiltinOptions::TransposeConvOptions, o)),
    );
}

/// [`conv_transpose`] of an input whose size is known only at run time: TRANSPOSE_CONV
/// (VALID) to the full `(in - 1)·s + k` rows and columns, its output_shape computed in the
/// file from the input's SHAPE, then a STRIDED_SLICE dropping ONNX's pads (less
/// output_padding) from the ends.
fn conv_transpose_dynamic(
    lowering: &mut Lower,
    id: NodeId,
    wshape: &[i64],
    s: [i64; 2],
) -> Result<(), TfliteError> {
    use super::dynamic::{arith, concat, shape_of, slice};
    if attr_ints(lowering.g, id, "output_shape").is_some_and(|v| !v.is_empty()) {
        return Err(unsupported(
            "ConvTranspose with output_shape of an input of unknown size",
        ));
    }
    let pads = attr_ints(lowering.g, id, "pads").unwrap_or(vec![0; 4]);
    let extra = attr_ints(lowering.g, id, "output_padding").unwrap_or(vec![0; 2]);
    let (&[pt, pl, pb, pr], &[eh, ew]) = (&pads[..], &extra[..]) else {
        return Err(unsupported("pads must have 4 entries, output_padding 2"));
    };
    let sane = |v: i64| (0..1 << 24).contains(&v);
    if ![
        pt, pl, pb, pr, eh, ew, s[0], s[1], wshape[1], wshape[2], wshape[0],
    ]
    .iter()
    .all(|&v| sane(v))
        || s.contains(&0)
    {
        return Err(unsupported("ConvTranspose sizes out of range"));
    }
    // ONNX's output is the full result less pads, plus output_padding at the end: a crop of
    // it while output_padding does not reach past the end pads.
    let (cut_h, cut_w) = (pb - eh, pr - ew);
    if cut_h < 0 || cut_w < 0 {
        return Err(unsupported(
            "ConvTranspose whose output_padding reaches past the full result",
        ));
    }
    let crop = pt > 0 || pl > 0 || cut_h > 0 || cut_w > 0;
    if crop && lowering.act != fb::ActivationFunctionType::NONE {
        return Err(unsupported(
            "ConvTranspose with cropping and a fused activation",
        ));
    }
    let input = lowering.req(id, 0)?;
    let w = lowering.req(id, 1)?;
    let bias = lowering.bias(id, 2, input)?;
    let out = lowering.output(0)?;
    let k = [wshape[1], wshape[2]];
    // output_shape = [N, (H - 1)·s + k, (W - 1)·s + k, M] from SHAPE(input).
    let dims = shape_of(lowering, input)?;
    let n = slice(lowering, dims, 0, 1)?;
    let hw = slice(lowering, dims, 1, 3)?;
    let hw = arith(lowering, B::MUL, hw, &[s[0] as i32, s[1] as i32])?;
    let hw = arith(
        lowering,
        B::ADD,
        hw,
        &[(k[0] - s[0]) as i32, (k[1] - s[1]) as i32],
    )?;
    let m = lowering
        .model
        .const_i32("channels", &[wshape[0] as i32], vec![1])?;
    let shape = concat(lowering, &[n, hw, m])?;
    let conv_out = if crop {
        let o = &lowering.model.tensors[out];
        let (name, dtype, quant) = (
            format!("{}/uncropped", o.name),
            o.dtype,
            o.quant.as_deref().cloned(),
        );
        let full_shape = vec![o.shape[0], -1, -1, o.shape[3]];
        lowering
            .model
            .add_tensor(name, dtype, full_shape, None, quant)?
    } else {
        out
    };
    let act = lowering.act;
    emit_transpose_conv(
        lowering,
        [shape, w, input],
        bias,
        conv_out,
        Padding::VALID,
        s,
        act,
    );
    if crop {
        // Negative ends count from the end; a set end-mask bit keeps the whole axis.
        let b = [0, pt as i32, pl as i32, 0];
        let e = [0, -cut_h as i32, -cut_w as i32, 0];
        let end_mask =
            0b1001 | if cut_h == 0 { 0b10 } else { 0 } | if cut_w == 0 { 0b100 } else { 0 };
        super::shape::strided_slice(
            lowering,
            1,
            conv_out,
            out,
            &[b.to_vec(), e.to_vec(), vec![1; 4]],
            (0b1001, end_mask),
        )?;
    }
    Ok(())
}

pub(crate) fn pool(lowering: &mut Lower, id: NodeId, op: OnnxOp) -> Result<(), TfliteError> {
    need_nhwc(lowering, id)?;
    let xshape = lowering
        .in_shape(id, 0)
        .ok_or_else(|| unsupported("input shape unknown"))?;
    if xshape.len() != 4 {
        return Err(unsupported("only 2-D pooling is supported"));
    }
    let k = two(attr_ints(lowering.g, id, "kernel_shape"), 1)?;
    let s = two(attr_ints(lowering.g, id, "strides"), 1)?;
    let d = two(attr_ints(lowering.g, id, "dilations"), 1)?;
    if d != [1, 1] {
        return Err(unsupported("dilated pooling"));
    }
    let is_max = op == OnnxOp::MaxPool;
    if !is_max {
        return average_pool(lowering, id, [xshape[1], xshape[2]], k, s);
    }
    let (pad, explicit) = if attr_i(lowering.g, id, "ceil_mode", 0) != 0 {
        (
            Padding::VALID,
            Some(ceil_mode_pads(lowering, id, [xshape[1], xshape[2]], k, s)?),
        )
    } else {
        padding(lowering, id, [xshape[1], xshape[2]], k, s, d)?
    };
    let mut input = lowering.req(id, 0)?;
    if let Some(p) = explicit {
        input = pad_input(lowering, input, p, Some(f32::MIN))?;
    }
    // An Indices output nothing reads (torch's adaptive max pooling always has one) is fine.
    if !modelc_passes::pattern::extra_outputs_unused(lowering.g, id) {
        return Err(unsupported("MaxPool indices output"));
    }
    let out = lowering.output(0)?;
    let act = lowering.act;
    emit_pool(lowering, B::MAX_POOL_2D, input, out, pad, k, s, act);
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn emit_pool(
    lowering: &mut Lower,
    code: B,
    input: usize,
    out: usize,
    pad: Padding,
    k: [i64; 2],
    s: [i64; 2],
    act: fb::ActivationFunctionType,
) {
    let o = fb::Pool2DOptions::create(
        &mut lowering.model.fbb,
        &fb::Pool2DOptionsArgs {
            padding: pad,
            stride_w: s[1] as i32,
            stride_h: s[0] as i32,
            filter_width: k[1] as i32,
            filter_height: k[0] as i32,
            fused_activation_function: act,
        },
    )
    .as_union_value();
    let v = if lowering.quantized { 2 } else { 1 };
    lowering.model.emit(
        code,
        v,
        &[Some(input)],
        &[out],
        Some((BuiltinOptions::Pool2DOptions, o)),
    );
}

/// ONNX AveragePool divides each window's sum by its element count within the input plus,
/// with `count_include_pad`, the explicit pads (never the extension `ceil_mode` adds).
/// TFLite's SAME pooling divides by the count within the input, which is exact only for
/// TensorFlow's pad split without `count_include_pad`. Every other form becomes PAD with
/// zeros + VALID pooling (which divides by the full kH·kW), followed where ONNX's divisor
/// differs by a MUL with kH·kW / divisor per output position (a [1, OH, OW, 1] constant).
fn average_pool(
    lowering: &mut Lower,
    id: NodeId,
    in_hw: [i64; 2],
    k: [i64; 2],
    s: [i64; 2],
) -> Result<(), TfliteError> {
    let include = attr_i(lowering.g, id, "count_include_pad", 0) != 0;
    let ceil = attr_i(lowering.g, id, "ceil_mode", 0) != 0;
    let act = lowering.act;
    let pads = onnx_pool_pads(lowering, id, in_hw, k, s)?;
    if !include && !ceil && same_pads(in_hw, k, s, true) == Some(pads) {
        let input = lowering.req(id, 0)?;
        let out = lowering.output(0)?;
        emit_pool(
            lowering,
            B::AVERAGE_POOL_2D,
            input,
            out,
            Padding::SAME,
            k,
            s,
            act,
        );
        return Ok(());
    }
    // Per axis: the output size, the zeros to add after the input so VALID pooling covers
    // the last window, and each output position's divisor.
    let mut tail = [0i64; 2];
    let mut divisors: [Vec<i64>; 2] = [Vec::new(), Vec::new()];
    // Pads counted (or none to count) and no ceil_mode: every window lies within the padded
    // input and divides by kH·kW whatever the size (one unknown until run time too), which
    // VALID pooling over the padded input does. (PP-OCRv4's recognizer pools 3×2 by 3×2
    // without pads over an unknown width.)
    let no_pads = pads.iter().all(|&p| p == 0);
    if (include || no_pads) && !ceil && in_hw.iter().any(|&h| h < 0) {
        let trailing = [pads[2], pads[3]];
        let mut input = lowering.req(id, 0)?;
        if pads.iter().any(|&p| p > 0) {
            input = pad_input(
                lowering,
                input,
                [pads[0], pads[1], trailing[0], trailing[1]],
                None,
            )?;
        }
        let out = lowering.output(0)?;
        emit_pool(
            lowering,
            B::AVERAGE_POOL_2D,
            input,
            out,
            Padding::VALID,
            k,
            s,
            act,
        );
        return Ok(());
    }
    for a in 0..2 {
        let (h, kk, ss, begin, end) = (in_hw[a], k[a], s[a], pads[a], pads[a + 2]);
        if h < 0 || ss < 1 || kk < 1 {
            return Err(unsupported("average pooling needs a known input size"));
        }
        let out = pool_out_size(h, kk, ss, begin, end, ceil)?;
        tail[a] = ((out - 1) * ss + kk - h - begin).max(0);
        for o in 0..out {
            let start = o * ss - begin;
            let end_padded = (start + kk).min(h + end);
            let count = if include {
                end_padded - start
            } else {
                end_padded.min(h) - start.max(0)
            };
            if count < 1 {
                return Err(unsupported("an average-pooling window covers no element"));
            }
            divisors[a].push(count);
        }
    }
    let mut input = lowering.req(id, 0)?;
    if pads[0] > 0 || pads[1] > 0 || tail[0] > 0 || tail[1] > 0 {
        input = pad_input(lowering, input, [pads[0], pads[1], tail[0], tail[1]], None)?;
    }
    let out = lowering.output(0)?;
    let uniform = divisors[0].iter().all(|&c| c == k[0]) && divisors[1].iter().all(|&c| c == k[1]);
    if uniform {
        emit_pool(
            lowering,
            B::AVERAGE_POOL_2D,
            input,
            out,
            Padding::VALID,
            k,
            s,
            act,
        );
        return Ok(());
    }
    if lowering.quantized {
        return Err(unsupported(
            "quantized average pooling whose divisor varies over the output \
             (padding not counted, or ceil_mode)",
        ));
    }
    let ot = &lowering.model.tensors[out];
    let (shape, name) = (ot.shape.to_vec(), format!("{}/window_mean", ot.name));
    let pooled = lowering
        .model
        .add_tensor(name, DType::F32, shape, None, None)?;
    emit_pool(
        lowering,
        B::AVERAGE_POOL_2D,
        input,
        pooled,
        Padding::VALID,
        k,
        s,
        fb::ActivationFunctionType::NONE,
    );
    let window = (k[0] * k[1]) as f32;
    let factors: Vec<f32> = divisors[0]
        .iter()
        .flat_map(|&ch| divisors[1].iter().map(move |&cw| window / (ch * cw) as f32))
        .collect();
    let (oh, ow) = (divisors[0].len() as i64, divisors[1].len() as i64);
    let f = lowering
        .model
        .const_f32("pool_divisor", &factors, vec![1, oh, ow, 1])?;
    let o = fb::MulOptions::create(
        &mut lowering.model.fbb,
        &fb::MulOptionsArgs {
            fused_activation_function: act,
        },
    )
    .as_union_value();
    lowering.model.emit(
        B::MUL,
        1,
        &[Some(pooled), Some(f)],
        &[out],
        Some((BuiltinOptions::MulOptions, o)),
    );
    Ok(())
}

/// The pads [top, left, bottom, right] of SAME padding (`ceil(h / s)` outputs), the odd
/// one after (SAME_UPPER, TensorFlow's split) or before.
fn same_pads(in_hw: [i64; 2], k: [i64; 2], s: [i64; 2], upper: bool) -> Option<[i64; 4]> {
    let mut p = [0; 4];
    for a in 0..2 {
        if s[a] < 1 {
            return None;
        }
        // With stride 1 SAME pads k - 1 whatever the size (one unknown until run time too).
        let total = if in_hw[a] < 0 {
            if s[a] != 1 {
                return None;
            }
            (k[a] - 1).max(0)
        } else {
            let out = (in_hw[a] + s[a] - 1) / s[a];
            ((out - 1) * s[a] + k[a] - in_hw[a]).max(0)
        };
        let small = total / 2;
        (p[a], p[a + 2]) = if upper {
            (small, total - small)
        } else {
            (total - small, small)
        };
    }
    Some(p)
}

/// A pooling node's pads [top, left, bottom, right], `auto_pad` resolved.
fn onnx_pool_pads(
    lowering: &Lower,
    id: NodeId,
    in_hw: [i64; 2],
    k: [i64; 2],
    s: [i64; 2],
) -> Result<[i64; 4], TfliteError> {
    let auto = attr_s(lowering.g, id, "auto_pad", "NOTSET");
    let pads = match auto.as_str() {
        "NOTSET" => attr_ints(lowering.g, id, "pads").unwrap_or(vec![0; 4]),
        "VALID" => vec![0; 4],
        "SAME_UPPER" | "SAME_LOWER" => same_pads(in_hw, k, s, auto == "SAME_UPPER")
            .ok_or_else(|| unsupported("auto_pad needs a known input size"))?
            .to_vec(),
        other => return Err(unsupported(format!("auto_pad {other}"))),
    };
    // Bounded so the window arithmetic below cannot overflow on a hostile file.
    let sane = |v: i64| (0..1 << 31).contains(&v);
    // (-1: a size unknown until run time.)
    if !(k.iter().chain(&s).all(|&v| sane(v)) && in_hw.iter().all(|&v| v == -1 || sane(v))) {
        return Err(unsupported("pooling sizes out of range"));
    }
    match pads[..] {
        [t, l, b, r] if pads.iter().all(|&p| sane(p)) => Ok([t, l, b, r]),
        _ => Err(unsupported("pads must be 4 entries in [0, 2^31)")),
    }
}

pub(crate) fn global_pool(lowering: &mut Lower, id: NodeId, op: OnnxOp) -> Result<(), TfliteError> {
    need_nhwc(lowering, id)?;
    let input = lowering.req(id, 0)?;
    // Channels last: every axis between the batch and the channels is spatial.
    let rank = lowering.model.tensors[input].shape.len() as i32;
    if rank < 3 {
        return Err(unsupported("global pooling needs a spatial axis"));
    }
    let spatial: Vec<i32> = (1..rank - 1).collect();
    let axes = lowering
        .model
        .const_i32("axes", &spatial, vec![spatial.len() as i64])?;
    let out = lowering.output(0)?;
    let o = fb::ReducerOptions::create(
        &mut lowering.model.fbb,
        &fb::ReducerOptionsArgs { keep_dims: true },
    )
    .as_union_value();
    let code = if op == OnnxOp::GlobalAveragePool {
        B::MEAN
    } else {
        B::REDUCE_MAX
    };
    let v = if lowering.quantized { 2 } else { 1 };
    lowering.model.emit(
        code,
        v,
        &[Some(input), Some(axes)],
        &[out],
        Some((BuiltinOptions::ReducerOptions, o)),
    );
    Ok(())
}

/// Transposes a 2-D f32 constant.
fn transpose_2d(c: &Tensor) -> Option<Tensor> {
    let [r, k] = c.dims[..] else { return None };
    let es = c.dtype.storage_bytes(1)? as usize;
    let raw = c.raw()?;
    let (r, k) = (r as usize, k as usize);
    let mut out = vec![0u8; raw.len()];
    for i in 0..r {
        for j in 0..k {
            let s = (i * k + j) * es;
            let d = (j * r + i) * es;
            out[d..d + es].copy_from_slice(&raw[s..s + es]);
        }
    }
    Tensor::from_raw(c.dtype, vec![k as u64, r as u64], Bytes::from(out)).ok()
}

/// FULLY_CONNECTED weights [O, I] from a right-hand side that is [I, O] (`transposed` = false)
/// or already [O, I].
fn fc_weights(lowering: &mut Lower, bv: ValueRef, transposed: bool) -> Result<usize, TfliteError> {
    if let Some(t) = crate::export::sparse::fc_weights(lowering, bv, transposed)? {
        return Ok(t);
    }
    if transposed {
        return lowering.input_value(bv);
    }
    // A weight several layers share (exporters merge equal initializers) is transposed once:
    // keyed by the constant, the scales it is dequantized with and the mode.
    let key = match lowering.dq_source(bv) {
        Some(dq) => (
            lowering.g.input(dq, 0),
            lowering.g.input(dq, 1),
            lowering.quantized,
        ),
        None => (Some(lowering.model.resolve(bv)), None, false),
    };
    if let Some(&t) = lowering.model.transposed_weights.get(&key) {
        return Ok(t);
    }
    let t = transposed_fc_weights(lowering, bv)?;
    lowering.model.transposed_weights.insert(key, t);
    Ok(t)
}

/// FULLY_CONNECTED weights [O, I] made from a constant (or dequantized constant) [I, O].
fn transposed_fc_weights(lowering: &mut Lower, bv: ValueRef) -> Result<usize, TfliteError> {
    if let Some(dq) = lowering.dq_source(bv) {
        let q = lowering
            .qdq_params(dq)
            .ok_or_else(|| unsupported("weight quantization"))?;
        // Per output channel of [I, O] (axis 1) is per row of the transposed [O, I].
        let q = match (q.scale.len(), q.axis) {
            (1, _) => q,
            (_, 1) => Quant { axis: 0, ..q },
            _ => return Err(unsupported("weights quantized per input channel")),
        };
        let src = lowering
            .g
            .input(dq, 0)
            .ok_or_else(|| unsupported("weights"))?;
        let c = lowering
            .model
            .const_of(src)
            .ok_or_else(|| unsupported("weights must be constant"))?;
        if matches!(c.dtype, DType::I4 | DType::U4) {
            // Two values per byte: a byte-wise transpose would mix them.
            return Err(unsupported(
                "4-bit weights [I, O] (FULLY_CONNECTED takes [O, I]; give them as Gemm transB=1)",
            ));
        }
        let t = transpose_2d(c).ok_or_else(|| unsupported("weights must be 2-D"))?;
        let name = format!("{}/t", lowering.model.value_name(bv));
        if lowering.quantized {
            return lowering.model.const_tensor(name, &t, Some(q));
        }
        let wq = lowering.model.const_tensor(name.clone(), &t, Some(q))?;
        let shape = t.dims.iter().map(|&d| d as i64).collect();
        let out = lowering
            .model
            .add_tensor(format!("{name}/dq"), DType::F32, shape, None, None)?;
        lowering
            .model
            .emit(B::DEQUANTIZE, 2, &[Some(wq)], &[out], None);
        return Ok(out);
    }
    let c = lowering
        .model
        .const_of(bv)
        .or_else(|| lowering.f16_source(bv))
        .ok_or_else(|| unsupported("weights must be constant"))?;
    let t = transpose_2d(c).ok_or_else(|| unsupported("weights must be 2-D"))?;
    let name = format!("{}/t", lowering.model.value_name(bv));
    if t.dtype == DType::F16 {
        // float16 weights (`convert --fp16`): stored in half precision, DEQUANTIZE on load.
        let h = lowering.model.const_tensor(name.clone(), &t, None)?;
        let shape = t.dims.iter().map(|&d| d as i64).collect();
        let out =
            lowering
                .model
                .add_tensor(format!("{name}/f32"), DType::F32, shape, None, None)?;
        lowering
            .model
            .emit(B::DEQUANTIZE, 3, &[Some(h)], &[out], None);
        return Ok(out);
    }
    lowering.model.const_tensor(name, &t, None)
}

fn is_const_2d(lowering: &Lower, v: ValueRef) -> bool {
    let c = match lowering.dq_source(v) {
        Some(dq) => lowering
            .g
            .input(dq, 0)
            .and_then(|s| lowering.model.const_of(s)),
        None => lowering
            .model
            .const_of(v)
            .or_else(|| lowering.f16_source(v)),
    };
    c.is_some_and(|c| c.dims.len() == 2)
}

fn emit_fc(
    lowering: &mut Lower,
    input: usize,
    w: usize,
    bias: Option<usize>,
    keep: bool,
) -> Result<(), TfliteError> {
    let out = lowering.output(0)?;
    let o = fb::FullyConnectedOptions::create(
        &mut lowering.model.fbb,
        &fb::FullyConnectedOptionsArgs {
            fused_activation_function: lowering.act,
            keep_num_dims: keep,
            ..Default::default()
        },
    )
    .as_union_value();
    let v = if lowering.quantized {
        4
    } else if keep {
        5
    } else {
        1
    };
    lowering.model.emit(
        B::FULLY_CONNECTED,
        v,
        &[Some(input), Some(w), bias],
        &[out],
        Some((BuiltinOptions::FullyConnectedOptions, o)),
    );
    Ok(())
}

/// Refuses a Gemm / MatMul with an operand of no elements (a `[0, 5]` batch, a `[5, 0]` by
/// `[0, 10]` product): LiteRT's default XNNPack delegate fails to prepare FULLY_CONNECTED
/// and BATCH_MATMUL on them, so the file would not load.
fn refuse_empty_operands(lowering: &Lower, id: NodeId) -> Result<(), TfliteError> {
    for v in lowering.g.inputs_of(id).into_iter().flatten() {
        if let Some(s) = lowering.model.shape_of(v).filter(|s| s.contains(&0)) {
            return Err(unsupported(format!(
                "an operand of shape {s:?} has no elements, which LiteRT's XNNPack delegate \
                 cannot prepare a matrix product on"
            )));
        }
    }
    Ok(())
}

pub(crate) fn gemm(lowering: &mut Lower, id: NodeId) -> Result<(), TfliteError> {
    refuse_empty_operands(lowering, id)?;
    if attr_i(lowering.g, id, "transA", 0) != 0 || attr_f(lowering.g, id, "alpha", 1.0) != 1.0 {
        return Err(unsupported("Gemm with transA or alpha"));
    }
    let ins = lowering.g.inputs_of(id);
    let bv = ins
        .get(1)
        .copied()
        .flatten()
        .ok_or_else(|| unsupported("no B"))?;
    if !is_const_2d(lowering, bv) {
        return Err(unsupported("Gemm with a non-constant B"));
    }
    let input = lowering.req(id, 0)?;
    let w = fc_weights(lowering, bv, attr_i(lowering.g, id, "transB", 0) != 0)?;
    let bias = match ins.get(2).copied().flatten() {
        None => None,
        Some(cv) => {
            if attr_f(lowering.g, id, "beta", 1.0) != 1.0 {
                return Err(unsupported("Gemm with beta"));
            }
            let n = lowering.model.tensors[w].shape[0];
            match lowering.model.const_of(cv) {
                // [1, N] or [N]: FULLY_CONNECTED wants [N].
                Some(c) if c.dtype == DType::F32 && c.dims.iter().product::<u64>() == n as u64 => {
                    let t = Tensor::from_raw(
                        DType::F32,
                        vec![n as u64],
                        c.raw().cloned().unwrap_or_default(),
                    )
                    .map_err(|e| unsupported(e.to_string()))?;
                    let name = lowering.model.value_name(cv);
                    Some(lowering.model.const_tensor(name, &t, None)?)
                }
                _ => lowering.bias(id, 2, input)?,
            }
        }
    };
    emit_fc(lowering, input, w, bias, false)
}

pub(crate) fn matmul(lowering: &mut Lower, id: NodeId) -> Result<(), TfliteError> {
    refuse_empty_operands(lowering, id)?;
    let ins = lowering.g.inputs_of(id);
    let bv = ins
        .get(1)
        .copied()
        .flatten()
        .ok_or_else(|| unsupported("no B"))?;
    if is_const_2d(lowering, bv) {
        let input = lowering.req(id, 0)?;
        let rank = lowering.model.tensors[input].shape.len();
        let w = fc_weights(lowering, bv, false)?;
        return emit_fc(lowering, input, w, None, rank != 2);
    }
    if lowering.act != crate::fb::ActivationFunctionType::NONE {
        return Err(unsupported("BATCH_MATMUL cannot fuse an activation"));
    }
    // numpy's 1-D operands (a vector on one side) have no BATCH_MATMUL form.
    for slot in 0..2 {
        let v = lowering
            .g
            .input(id, slot)
            .ok_or_else(|| unsupported("MatMul input missing"))?;
        if lowering.model.shape_of(v).is_some_and(|s| s.len() < 2)
            || const_dims(lowering, v).is_some_and(|d| d.len() < 2)
        {
            return Err(unsupported("MatMul with a 1-D operand"));
        }
    }
    let a = lowering.req(id, 0)?;
    let b = lowering.req(id, 1)?;
    let out = lowering.output(0)?;
    let o = fb::BatchMatMulOptions::create(
        &mut lowering.model.fbb,
        &fb::BatchMatMulOptionsArgs::default(),
    )
    .as_union_value();
    lowering.model.emit(
        B::BATCH_MATMUL,
        1,
        &[Some(a), Some(b)],
        &[out],
        Some((BuiltinOptions::BatchMatMulOptions, o)),
    );
    Ok(())
}
