//! RESIZE_BILINEAR and RESIZE_NEAREST_NEIGHBOR (Resize*Options: align_corners,
//! half_pixel_centers; size input [new_h, new_w]) → `Resize` with `layout = NHWC`,
//! `axes = [1, 2]` and the `sizes` input, with the coordinate mapping TensorFlow uses:
//! align_corners → `align_corners`; half_pixel_centers → `half_pixel` (nearest:
//! `round_prefer_ceil`, i.e. floor((x + 0.5) * scale)); neither → `asymmetric` (nearest: floor).

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
    let sizes = cx.input_i64(op, 1)?;
    let s = |v: &'static str| Attr::String(Bytes::from_static(v.as_bytes()));
    let mut attrs = vec![("axes", Attr::Ints(vec![1, 2]))];
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
