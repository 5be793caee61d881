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
//!
//! int16 RESIZE_BILINEAR of known sizes is written as TFLite computes it instead (see
//! [`bilinear_int16`]): its kernel (`ResizeBilinearInteger`) interpolates the integers with
//! weights in 1/1024ths, which for int16's range is many steps from the exact resize.

use bytes::Bytes;
use modelc_ir::{Attr, DType, OnnxOp, Tensor};

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
    if op.code == B::RESIZE_BILINEAR && bilinear_int16(cx, op, align, half)? {
        return Ok(true);
    }
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

/// int16 RESIZE_BILINEAR as TFLite's integer kernel (`ResizeBilinearInteger`, which LiteRT
/// runs for int8 and int16): source coordinates in 1/1024ths (`scale_10`, rounded; half-pixel
/// centers shift by half a scale step less half a pixel), the two neighbours `lo = max(c /
/// 1024, 0)` and `hi = min(ceil(c / 1024), size - 1)` with weight `c - 1024 lo` on `hi`,
/// the four products summed in int64 and divided by 2^20 rounding half away from zero. The
/// coordinates are constants once the sizes are known, so the ONNX form is Gathers of the
/// input's integers along H and W, multiplications by the constant weights and the division
/// (integer `Div` truncates, as C's). int8 keeps the float `Resize`: its error is under a step.
/// `false` (the float form) when a size is unknown or the tensors are not per-tensor int16.
fn bilinear_int16(cx: &mut Ctx, op: &OpIn, align: bool, half: bool) -> Result<bool, TfliteError> {
    let (xt, yt) = (cx.in_tensor(op, 0)?, cx.out_tensor(op, 0)?);
    let (xi, yi) = (cx.info(xt), cx.info(yt));
    let (Some(qx), Some(qy)) = (xi.quant.clone(), yi.quant.clone()) else {
        return Ok(false);
    };
    if xi.dtype != DType::I16
        || yi.dtype != DType::I16
        || qx.scale.len() != 1
        || qy.scale.len() != 1
    {
        return Ok(false);
    }
    let shape = xi.shape.clone();
    if !xi.has_shape || shape.len() != 4 || shape[1] <= 0 || shape[2] <= 0 {
        return Ok(false);
    }
    let Some(hw) = cx.const_ints(op, 1)? else {
        return Ok(false);
    };
    let &[oh, ow] = hw.as_slice() else {
        return Ok(false);
    };
    if oh <= 0 || ow <= 0 {
        return Ok(false);
    }
    let rows = coordinates(oh, shape[1], align, half);
    let cols = coordinates(ow, shape[2], align, half);

    let x = cx.req(op, 0)?;
    let q = cx.quantize_to_i64(x, &qx, DType::I16);
    // Along H (axis 1), then along W (axis 2): lo * (1024 - w) + hi * w each time.
    let along_h = interpolate(cx, q, &rows, 1, &[1, oh as u64, 1, 1]);
    let sum = interpolate(cx, along_h, &cols, 2, &[1, 1, ow as u64, 1]);
    // (sum ± 2^19) / 2^20, truncating: half away from zero.
    let zero = cx.const_i64(&[0], &[]);
    let positive = cx.op(OnnxOp::Greater, &[Some(sum), Some(zero)], vec![]);
    let (up, down) = (
        cx.const_i64(&[1 << 19], &[]),
        cx.const_i64(&[-(1 << 19)], &[]),
    );
    let round = cx.op(
        OnnxOp::Where,
        &[Some(positive), Some(up), Some(down)],
        vec![],
    );
    let rounded = cx.op(OnnxOp::Add, &[Some(sum), Some(round)], vec![]);
    let scale = cx.const_i64(&[1 << 20], &[]);
    let raw = cx.op(OnnxOp::Div, &[Some(rounded), Some(scale)], vec![]);
    let raw = cx.op(
        OnnxOp::Cast,
        &[Some(raw)],
        vec![("to", Attr::Int(DType::I16.onnx_code() as i64))],
    );
    let y = cx.dequantize(raw, &qy, DType::I16);
    cx.define(yt, y)?;
    Ok(true)
}

/// One axis's source neighbours and weight (in 1/1024ths, on the upper one) per output index.
struct Coordinates {
    lo: Vec<i64>,
    hi: Vec<i64>,
    weight: Vec<i64>,
}

/// `ComputeInterpolationValuesInteger` for every output index of an axis.
fn coordinates(out: i64, input: i64, align: bool, half: bool) -> Coordinates {
    let mut scale = ((1 << 10) * input + out / 2) / out;
    if align && out > 1 {
        scale = ((1 << 10) * (input - 1) + (out - 1) / 2) / (out - 1);
    }
    let mut c = Coordinates {
        lo: vec![],
        hi: vec![],
        weight: vec![],
    };
    for v in 0..out {
        let scaled = if half {
            v * scale + scale / 2 - (1 << 9)
        } else {
            v * scale
        };
        // Rust's `/` truncates toward zero, as C's.
        let lo = (scaled / (1 << 10)).max(0);
        let hi = ((scaled + (1 << 10) - 1) / (1 << 10)).min(input - 1);
        c.lo.push(lo);
        c.hi.push(hi);
        c.weight.push(scaled - (1 << 10) * lo);
    }
    c
}

/// `Gather(v, lo) * (1024 - w) + Gather(v, hi) * w` along `axis`, the weights shaped `dims`.
fn interpolate(
    cx: &mut Ctx,
    v: modelc_ir::ValueRef,
    c: &Coordinates,
    axis: i64,
    dims: &[u64],
) -> modelc_ir::ValueRef {
    let lo = cx.const_1d(&c.lo);
    let hi = cx.const_1d(&c.hi);
    let w_hi: Vec<i64> = c.weight.clone();
    let w_lo: Vec<i64> = c.weight.iter().map(|w| (1 << 10) - w).collect();
    let w_lo = cx.constant("w", Tensor::from_i64(dims.to_vec(), &w_lo).expect("dims"));
    let w_hi = cx.constant("w", Tensor::from_i64(dims.to_vec(), &w_hi).expect("dims"));
    let attrs = || vec![("axis", Attr::Int(axis))];
    let a = cx.op(OnnxOp::Gather, &[Some(v), Some(lo)], attrs());
    let b = cx.op(OnnxOp::Gather, &[Some(v), Some(hi)], attrs());
    let a = cx.op(OnnxOp::Mul, &[Some(a), Some(w_lo)], vec![]);
    let b = cx.op(OnnxOp::Mul, &[Some(b), Some(w_hi)], vec![]);
    cx.op(OnnxOp::Add, &[Some(a), Some(b)], vec![])
}

#[cfg(test)]
mod tests {
    use super::coordinates;

    #[test]
    fn coordinates_are_tflites_integer_ones() {
        // 8 -> 16, asymmetric: scale 512, every other output between two inputs.
        let c = coordinates(16, 8, false, false);
        assert_eq!((c.lo[3], c.hi[3], c.weight[3]), (1, 2, 512));
        assert_eq!((c.lo[15], c.hi[15], c.weight[15]), (7, 7, 512));
        // Half-pixel: output 0 maps to -0.25, clamped below with a negative weight on hi.
        let c = coordinates(16, 8, false, true);
        assert_eq!((c.lo[0], c.hi[0], c.weight[0]), (0, 0, -256));
        // 8 -> 12 rounds the scale to 1/1024ths: 683, not 682.67.
        let c = coordinates(12, 8, false, false);
        assert_eq!((c.lo[1], c.hi[1], c.weight[1]), (0, 1, 683));
    }
}
