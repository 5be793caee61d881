//! `Convolution2DTransposeBias`, MediaPipe's public custom op (a transposed convolution with
//! a fused bias, in its segmentation models) → `ConvTranspose` with `layout = NHWC`, as the
//! builtin TRANSPOSE_CONV imports: the writers then emit their standard form (TFLite:
//! TRANSPOSE_CONV with its bias input).
//!
//! Inputs are (input NHWC, weights OHWI, bias [O]); the custom options are TFLite's
//! `TfLiteTransposeConvParams` struct as raw little-endian int32s: padding (1 = SAME,
//! 2 = VALID), stride_width, stride_height (later TFLite versions append fields, ignored).
//! The output size is the kernel's (`stride * (in - 1) + k - P`, P the SAME padding), so
//! the input's height and width must be static.

use modelc_ir::{Attr, OnnxOp};

use super::{Ctx, OpIn};
use crate::fb::Padding;
use crate::TfliteError;

pub(crate) const CODE: &str = "Convolution2DTransposeBias";

/// `false` (kept as a custom node) when the input's or the filter's size is not static.
pub(crate) fn import(cx: &mut Ctx, op: &OpIn) -> Result<bool, TfliteError> {
    const EXPECTED: &str = "12 (padding, strides)";
    let int = |i: usize| op.custom_i32(i, EXPECTED);
    let padding = op.custom_padding(0, EXPECTED)?;
    let (stride_w, stride_h) = (int(1)?, int(2)?);
    if stride_w < 1 || stride_h < 1 {
        return Err(TfliteError::invalid(
            op.label(),
            format!("strides {stride_h}x{stride_w}"),
        ));
    }
    if op.inputs.len() != 3 {
        return Err(TfliteError::invalid(
            op.label(),
            format!(
                "has {} inputs, expected input, weights, bias",
                op.inputs.len()
            ),
        ));
    }
    // The kernel's own output size: SAME pads the total P = max(0, k - (in - 1) % s - 1),
    // P / 2 before (ONNX's explicit pads), which needs the input's spatial size.
    let (xt, wt) = (cx.in_tensor(op, 0)?, cx.in_tensor(op, 1)?);
    let (xs, ws) = (&cx.info(xt).shape, &cx.info(wt).shape);
    if xs.len() != 4 || ws.len() != 4 || xs[1..3].iter().chain(&ws[1..3]).any(|&d| d < 1) {
        return Ok(false);
    }
    let total = |k: i64, n: i64, s: i64| {
        if padding == Padding::SAME {
            (k - (n - 1) % s - 1).max(0)
        } else {
            0
        }
    };
    let (ph, pw) = (
        total(ws[1], xs[1], stride_h as i64),
        total(ws[2], xs[2], stride_w as i64),
    );
    let x = cx.req(op, 0)?;
    let w = cx.req(op, 1)?;
    let b = cx.req(op, 2)?;
    let attrs = vec![
        (
            "strides",
            Attr::Ints(vec![stride_h as i64, stride_w as i64]),
        ),
        (
            "pads",
            Attr::Ints(vec![ph / 2, pw / 2, ph - ph / 2, pw - pw / 2]),
        ),
    ];
    let y = cx.op_nhwc(OnnxOp::ConvTranspose, &[Some(x), Some(w), Some(b)], attrs);
    cx.define(cx.out_tensor(op, 0)?, y)?;
    Ok(true)
}
