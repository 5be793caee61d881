//! LOCAL_RESPONSE_NORMALIZATION and the block rearrangements SPACE_TO_BATCH_ND /
//! BATCH_TO_SPACE_ND of 4-D NHWC tensors.
//!
//! LOCAL_RESPONSE_NORMALIZATION (radius, bias, alpha, beta; over the channels, `x / (bias +
//! alpha * sum(x²))^beta` across channels c - radius ..= c + radius) → `LRN` with
//! `layout = NHWC`, `size = 2 radius + 1` and `alpha` multiplied by `size` (ONNX divides it).
//!
//! SPACE_TO_BATCH_ND (block [bh, bw], paddings [[t, b], [l, r]]) → `Pad`, `Reshape` to
//! [N, H/bh, bh, W/bw, bw, C], `Transpose` [2, 4, 0, 1, 3, 5], `Reshape` to
//! [bh·bw·N, H/bh, W/bw, C]; BATCH_TO_SPACE_ND (block, crops) is the reverse with a `Slice`
//! for the crops. Both need the input's shape and the block and paddings as constants.

use modelc_ir::{Attr, OnnxOp, ValueRef};

use super::{Ctx, OpIn};
use crate::fb::BuiltinOperator as B;
use crate::TfliteError;

pub(crate) fn space_batch(cx: &mut Ctx, op: &OpIn) -> Result<bool, TfliteError> {
    match op.code {
        B::LOCAL_RESPONSE_NORMALIZATION => lrn(cx, op),
        B::SPACE_TO_BATCH_ND | B::BATCH_TO_SPACE_ND => rearrange(cx, op),
        _ => Ok(false),
    }
}

fn lrn(cx: &mut Ctx, op: &OpIn) -> Result<bool, TfliteError> {
    let Some(o) = op
        .raw
        .builtin_options_as_local_response_normalization_options()
    else {
        return Err(TfliteError::invalid(op.label(), "has no options"));
    };
    if o.radius() < 0 {
        return Err(TfliteError::invalid(
            op.label(),
            format!("radius {} is negative", o.radius()),
        ));
    }
    let size = 2 * o.radius() as i64 + 1;
    let x = cx.req(op, 0)?;
    let y = cx.op_nhwc(
        OnnxOp::LRN,
        &[Some(x)],
        vec![
            ("size", Attr::Int(size)),
            ("alpha", Attr::Float(o.alpha() * size as f32)),
            ("beta", Attr::Float(o.beta())),
            ("bias", Attr::Float(o.bias())),
        ],
    );
    cx.define(cx.out_tensor(op, 0)?, y)?;
    Ok(true)
}

fn rearrange(cx: &mut Ctx, op: &OpIn) -> Result<bool, TfliteError> {
    let xt = cx.in_tensor(op, 0)?;
    let info = cx.info(xt);
    let shape = info.shape.clone();
    let (Some(block), Some(pads)) = (cx.const_ints(op, 1)?, cx.const_ints(op, 2)?) else {
        return Ok(false);
    };
    if !info.has_shape || shape.len() != 4 || shape.iter().any(|&d| d <= 0) {
        return Ok(false);
    }
    let ([bh, bw], [p0, p1, p2, p3]) = (block.as_slice(), pads.as_slice()) else {
        return Err(TfliteError::invalid(
            op.label(),
            "block shape and paddings must be for the two spatial axes",
        ));
    };
    let (bh, bw) = (*bh, *bw);
    if bh <= 0 || bw <= 0 || [*p0, *p1, *p2, *p3].iter().any(|&p| p < 0) {
        return Err(TfliteError::invalid(
            op.label(),
            format!("block {block:?} and paddings {pads:?} must be positive"),
        ));
    }
    let [n, h, w, c] = [shape[0], shape[1], shape[2], shape[3]];
    let x = cx.req(op, 0)?;
    let reshape = |cx: &mut Ctx, v: ValueRef, dims: &[i64]| {
        let s = cx.const_1d(dims);
        cx.op(OnnxOp::Reshape, &[Some(v), Some(s)], vec![])
    };
    let transpose = |cx: &mut Ctx, v: ValueRef, perm: &[i64]| {
        cx.op(
            OnnxOp::Transpose,
            &[Some(v)],
            vec![("perm", Attr::Ints(perm.to_vec()))],
        )
    };
    let y = if op.code == B::SPACE_TO_BATCH_ND {
        let (hp, wp) = (h + p0 + p1, w + p2 + p3);
        if hp % bh != 0 || wp % bw != 0 {
            return Err(TfliteError::invalid(
                op.label(),
                format!("padded size {hp}x{wp} is not a multiple of the block {bh}x{bw}"),
            ));
        }
        let pad_values = cx.const_1d(&[0, *p0, *p2, 0, 0, *p1, *p3, 0]);
        let padded = cx.op(OnnxOp::Pad, &[Some(x), Some(pad_values)], vec![]);
        let r = reshape(cx, padded, &[n, hp / bh, bh, wp / bw, bw, c]);
        let t = transpose(cx, r, &[2, 4, 0, 1, 3, 5]);
        reshape(cx, t, &[bh * bw * n, hp / bh, wp / bw, c])
    } else {
        if n % (bh * bw) != 0 {
            return Err(TfliteError::invalid(
                op.label(),
                format!("batch {n} is not a multiple of the block {bh}x{bw}"),
            ));
        }
        let nb = n / (bh * bw);
        let r = reshape(cx, x, &[bh, bw, nb, h, w, c]);
        let t = transpose(cx, r, &[2, 3, 0, 4, 1, 5]);
        let full = reshape(cx, t, &[nb, h * bh, w * bw, c]);
        if [*p0, *p1, *p2, *p3] == [0, 0, 0, 0] {
            full
        } else {
            let starts = cx.const_1d(&[*p0, *p2]);
            let ends = cx.const_1d(&[h * bh - p1, w * bw - p3]);
            let axes = cx.const_1d(&[1, 2]);
            cx.op(
                OnnxOp::Slice,
                &[Some(full), Some(starts), Some(ends), Some(axes)],
                vec![],
            )
        }
    };
    cx.define(cx.out_tensor(op, 0)?, y)?;
    Ok(true)
}
