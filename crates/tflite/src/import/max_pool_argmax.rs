//! MediaPipe's public custom ops `MaxPoolingWithArgmax2D` and `MaxUnpooling2D` (its
//! segmentation models; kernels in mediapipe/util/tflite/operations/max_pool_argmax.cc and
//! max_unpooling.cc) → standard ops, so onnxruntime runs the import and the TFLite writer
//! writes builtins back.
//!
//! Both take TFLite's `TfLitePoolParams` struct as raw little-endian int32 custom options:
//! padding (1 = SAME, 2 = VALID), stride_width, stride_height, filter_width, filter_height,
//! fused activation (the computed padding after it is ignored).
//!
//! The argmax is MediaPipe's, not TensorFlow's: a float32 tensor shaped like the pooled
//! values holding, per output element and channel, the position of the first maximum in its
//! own filter window, `ky * filter_width + kx + 0.1` (row-major from the unclipped window's
//! origin; positions outside the input never win). ONNX MaxPool's `Indices` (flat over the
//! whole NCHW tensor) would need a layout change and integer arithmetic to become that, and
//! have no TFLite builtin; the window form below is exact and writes back as builtins:
//! - values: `MaxPool` (NHWC, SAME_UPPER / VALID as MAX_POOL_2D imports);
//! - indices: the input padded with NaN (never equal to anything), one strided `Slice` per
//!   window position (the element at that position of every window), `Equal` to the values,
//!   and a `Where` chain from the last position to the first (the first match wins;
//!   MediaPipe's 0.1 where nothing matched).
//!
//! `MaxUnpooling2D(values, indices)` writes each value at its window position of an output
//! `filter` times larger; when the windows tile the output (stride = filter, square) every
//! output element belongs to one window position, so it is `DepthToSpace` (DCR, NHWC) of the
//! values masked per position (`Where(Floor(indices) == k, values, 0)`) concatenated in
//! position order. Other geometries, fused activations, windows of more than 1024
//! positions and sizes unknown at import stay custom nodes (the writers then refuse them by
//! name).

use modelc_ir::{Attr, OnnxOp, ValueRef};

use super::{Ctx, OpIn};
use crate::TfliteError;

pub(crate) const ARGMAX: &str = "MaxPoolingWithArgmax2D";
pub(crate) const UNPOOL: &str = "MaxUnpooling2D";

/// The custom options' pooling parameters.
struct PoolParams {
    same: bool,
    stride: [i64; 2],
    filter: [i64; 2],
    activation: i32,
}

fn params(op: &OpIn) -> Result<PoolParams, TfliteError> {
    const EXPECTED: &str = "at least 24 (TfLitePoolParams)";
    let int = |i: usize| op.custom_i32(i, EXPECTED);
    let same = op.custom_padding(0, EXPECTED)? == crate::fb::Padding::SAME;
    let p = PoolParams {
        same,
        stride: [int(2)? as i64, int(1)? as i64],
        filter: [int(4)? as i64, int(3)? as i64],
        activation: int(5)?,
    };
    if p.stride
        .iter()
        .chain(&p.filter)
        .any(|&v| !(1..=1 << 16).contains(&v))
    {
        return Err(TfliteError::invalid(
            op.label(),
            format!(
                "strides {:?} and filter {:?} (each 1 to 65536)",
                p.stride, p.filter
            ),
        ));
    }
    Ok(p)
}

/// The static height and width of input `i`, if known.
fn spatial(cx: &Ctx, op: &OpIn, i: usize) -> Result<Option<[i64; 2]>, TfliteError> {
    let s = &cx.info(cx.in_tensor(op, i)?).shape;
    Ok((s.len() == 4 && s[1] >= 1 && s[2] >= 1).then(|| [s[1], s[2]]))
}

/// `MaxPoolingWithArgmax2D` (see the module docs); `false` keeps it custom.
pub(crate) fn argmax(cx: &mut Ctx, op: &OpIn) -> Result<bool, TfliteError> {
    let p = params(op)?;
    // A few nodes per window position: a hostile filter size must not make millions.
    if p.activation != 0
        || op.inputs.len() != 1
        || op.outputs.len() != 2
        || p.filter[0] * p.filter[1] > 1024
    {
        return Ok(false);
    }
    let Some(size) = spatial(cx, op, 0)? else {
        return Ok(false);
    };
    // The kernel's output size and padding (TensorFlow's GetWindowedOutputSize and
    // ComputePadding; the odd pixel of SAME at the end).
    let out: Vec<i64> = (0..2)
        .map(|a| {
            let (n, f, s) = (size[a], p.filter[a], p.stride[a]);
            if p.same {
                (n + s - 1) / s
            } else {
                (n - f + s) / s
            }
        })
        .collect();
    if out.iter().any(|&o| o < 1) {
        return Ok(false);
    }
    let before: Vec<i64> = (0..2)
        .map(|a| (((out[a] - 1) * p.stride[a] + p.filter[a] - size[a]) / 2).max(0))
        .collect();
    let after: Vec<i64> = (0..2)
        .map(|a| ((out[a] - 1) * p.stride[a] + p.filter[a] - size[a] - before[a]).max(0))
        .collect();
    let x = cx.req(op, 0)?;
    let attrs = vec![
        (
            "auto_pad",
            super::conv::auto_pad(if p.same {
                crate::fb::Padding::SAME
            } else {
                crate::fb::Padding::VALID
            }),
        ),
        ("kernel_shape", Attr::Ints(p.filter.to_vec())),
        ("strides", Attr::Ints(p.stride.to_vec())),
    ];
    let values = cx.op_nhwc(OnnxOp::MaxPool, &[Some(x)], attrs);
    cx.define(cx.out_tensor(op, 0)?, values)?;
    // The input with NaN where windows reach past it.
    let padded = if before.iter().chain(&after).any(|&v| v > 0) {
        let pads = cx.const_1d(&[0, before[0], before[1], 0, 0, after[0], after[1], 0]);
        let nan = cx.const_f32(&[f32::NAN], &[]);
        cx.op(OnnxOp::Pad, &[Some(x), Some(pads), Some(nan)], vec![])
    } else {
        x
    };
    let axes = cx.const_1d(&[1, 2]);
    let steps = cx.const_1d(&p.stride);
    let positions = p.filter[0] * p.filter[1];
    let mut index: ValueRef = cx.const_f32(&[0.1], &[]);
    for k in (0..positions).rev() {
        let (ky, kx) = (k / p.filter[1], k % p.filter[1]);
        let starts = cx.const_1d(&[ky, kx]);
        let ends = cx.const_1d(&[
            ky + (out[0] - 1) * p.stride[0] + 1,
            kx + (out[1] - 1) * p.stride[1] + 1,
        ]);
        let at = cx.op(
            OnnxOp::Slice,
            &[
                Some(padded),
                Some(starts),
                Some(ends),
                Some(axes),
                Some(steps),
            ],
            vec![],
        );
        let hit = cx.op(OnnxOp::Equal, &[Some(at), Some(values)], vec![]);
        let kv = cx.const_f32(&[k as f32 + 0.1], &[]);
        index = cx.op(OnnxOp::Where, &[Some(hit), Some(kv), Some(index)], vec![]);
    }
    cx.define(cx.out_tensor(op, 1)?, index)?;
    Ok(true)
}

/// `MaxUnpooling2D` (see the module docs); `false` keeps it custom.
pub(crate) fn unpool(cx: &mut Ctx, op: &OpIn) -> Result<bool, TfliteError> {
    let p = params(op)?;
    let f = p.filter[0];
    if p.activation != 0
        || op.inputs.len() != 2
        || op.outputs.len() != 1
        || p.filter != [f, f]
        || p.stride != [f, f]
        || f > 64
    {
        return Ok(false);
    }
    let v = cx.req(op, 0)?;
    let idx = cx.req(op, 1)?;
    // The kernel truncates the float index to int; indices are non-negative.
    let idx = cx.op(OnnxOp::Floor, &[Some(idx)], vec![]);
    let zero = cx.const_f32(&[0.0], &[]);
    let mut parts = Vec::new();
    for k in 0..f * f {
        let kv = cx.const_f32(&[k as f32], &[]);
        let hit = cx.op(OnnxOp::Equal, &[Some(idx), Some(kv)], vec![]);
        parts.push(Some(cx.op(
            OnnxOp::Where,
            &[Some(hit), Some(v), Some(zero)],
            vec![],
        )));
    }
    let stacked = cx.op(OnnxOp::Concat, &parts, vec![("axis", Attr::Int(3))]);
    let y = cx.op_nhwc(
        OnnxOp::DepthToSpace,
        &[Some(stacked)],
        vec![
            ("blocksize", Attr::Int(f)),
            ("mode", Attr::String(bytes::Bytes::from_static(b"DCR"))),
        ],
    );
    cx.define(cx.out_tensor(op, 0)?, y)?;
    Ok(true)
}
