//! RESIZE_BILINEAR and RESIZE_NEAREST_NEIGHBOR (Resize*Options: align_corners,
//! half_pixel_centers; size input [new_h, new_w]) → `Resize` with `layout = NHWC`,
//! `axes = [1, 2]` and the `sizes` input, with the coordinate mapping TensorFlow uses:
//! align_corners → `align_corners`; half_pixel_centers → `half_pixel` (nearest:
//! `round_prefer_ceil`, i.e. floor((x + 0.5) * scale)); neither → `asymmetric` (nearest: floor).
//!
//! When the batch and channel sizes and the new size are constants, `sizes` is given for all
//! four axes instead, without `axes`: onnxruntime (1.32) miscompiles a Resize with `axes`
//! once its transpose optimizer moves the layout Transposes through it ("number of elements
//! of input 'sizes' (0) does not match the number of axes"), so such a file would not load.

use bytes::Bytes;
use modelc_ir::{Attr, OnnxOp};

use super::{Ctx, OpIn};
use crate::fb::BuiltinOperator as B;
use crate::TfliteError;

pub(crate) fn resize(cx: &mut Ctx, op: &OpIn) -> Result<bool, TfliteError> {
    let (align, half) = if op.code == B::RESIZE_BILINEAR {
        op.raw
            .builtin_options_as_resize_bilinear_options()
            .map_or((false, false), |o| {
                (o.align_corners(), o.half_pixel_centers())
            })
    } else {
        op.raw
            .builtin_options_as_resize_nearest_neighbor_options()
            .map_or((false, false), |o| {
                (o.align_corners(), o.half_pixel_centers())
            })
    };
    let x = cx.req(op, 0)?;
    let xt = cx.in_tensor(op, 0)?;
    let full = match (cx.const_ints(op, 1)?, cx.info(xt)) {
        (Some(hw), info) if hw.len() == 2 && info.has_shape && info.shape.len() == 4 => {
            let (n, c) = (info.shape[0], info.shape[3]);
            (n > 0 && c > 0).then(|| vec![n, hw[0], hw[1], c])
        }
        _ => None,
    };
    let (sizes, mut attrs) = match full {
        Some(all) => (cx.const_1d(&all), vec![]),
        None => (cx.input_i64(op, 1)?, vec![("axes", Attr::Ints(vec![1, 2]))]),
    };
    let s = |v: &'static str| Attr::String(Bytes::from_static(v.as_bytes()));
    if op.code == B::RESIZE_BILINEAR {
        let coord = match (align, half) {
            (true, _) => "align_corners",
            (false, true) => "half_pixel",
            _ => "asymmetric",
        };
        attrs.push(("mode", s("linear")));
        attrs.push(("coordinate_transformation_mode", s(coord)));
    } else {
        attrs.push(("mode", s("nearest")));
        let (coord, nearest) = match (align, half) {
            (true, _) => ("align_corners", "round_prefer_ceil"),
            (false, true) => ("half_pixel", "round_prefer_ceil"),
            _ => ("asymmetric", "floor"),
        };
        attrs.push(("coordinate_transformation_mode", s(coord)));
        attrs.push(("nearest_mode", s(nearest)));
    }
    let y = cx.op_nhwc(OnnxOp::Resize, &[Some(x), None, None, Some(sizes)], attrs);
    cx.define(cx.out_tensor(op, 0)?, y)?;
    Ok(true)
}
