//! int16 LOG and RSQRT as TFLite computes them. Their int16 kernels (the reference kernel
//! `reference_integer_ops::LookupTable`, which LiteRT runs) do not evaluate the function:
//! they read a 513-entry table sampled over the input's range (`LUTPopulate<int16_t>`, each
//! anchor biased by half the midpoint interpolation error) and interpolate linearly between
//! anchors 128 inputs apart (`LUTLookup`). Where the function curves (log near 0, rsqrt)
//! that differs from the exact function by several quantization steps, so the float form
//! (`Log` / `Sqrt` + `Reciprocal` between QDQ) does not give LiteRT's integers. The import
//! writes the table expanded to all 65536 inputs instead: `QuantizeLinear` (the input's
//! integers) → `Cast` int64 → `Add 32768` → `Gather` from a float table holding each
//! output's dequantized value, then the output tensor's QDQ (which gives back the integers).

use modelc_ir::{Attr, DType, OnnxOp, Tensor};
use num_traits::Float;

use super::{Ctx, OpIn, Quant};
use crate::fb::BuiltinOperator as B;
use crate::TfliteError;

/// Anchors of TFLite's int16 lookup table (512 segments + the closing anchor).
pub(super) const ANCHORS: usize = 513;

/// `true` when `op` was translated: LOG or RSQRT on a per-tensor quantized int16 tensor
/// (TFLite requires zero points of 0 there). Other forms go to the float translation.
pub(crate) fn lut16(cx: &mut Ctx, op: &OpIn) -> Result<bool, TfliteError> {
    if !matches!(op.code, B::LOG | B::RSQRT) {
        return Ok(false);
    }
    let Some(Int16Io { qx, sx, sy, yt }) = int16_io(cx, op)? else {
        return Ok(false);
    };
    let anchors = match op.code {
        B::LOG => {
            // LiteRT's LogLUTPrepare: inputs <= 0 give the output's lowest value.
            let low = -32768.0 * sy;
            populate(sx, sy, |v| if v <= 0.0 { low } else { v.ln() })
        }
        _ => {
            // RSQRT: inputs <= 0 give the output's highest value.
            let high = 32767.0 * sy;
            populate(sx, sy, |v| if v <= 0.0 { high } else { 1.0 / v.sqrt() })
        }
    };
    // table[q + 32768]: the dequantized output LiteRT gives for input integer q.
    let table: Vec<f32> = (-32768i32..=32767)
        .map(|q| f32::from(lookup(q, &anchors)) * sy)
        .collect();
    let table = Tensor::from_f32(vec![table.len() as u64], &table).expect("65536 values");
    let table = cx.constant("lut", table);

    let x = cx.req(op, 0)?;
    let q = cx.quantize_to_i64(x, &qx, DType::I16);
    let offset = cx.const_i64(&[32768], &[]);
    let index = cx.op(OnnxOp::Add, &[Some(q), Some(offset)], vec![]);
    let y = cx.op(
        OnnxOp::Gather,
        &[Some(table), Some(index)],
        vec![("axis", Attr::Int(0))],
    );
    cx.define(yt, y)?;
    Ok(true)
}

/// The int16 form TFLite's table kernels take: input 0 and output 0 int16, quantized per
/// tensor with zero points 0 (which TFLite requires there).
pub(super) struct Int16Io {
    pub qx: Quant,
    pub sx: f32,
    pub sy: f32,
    /// The output tensor.
    pub yt: usize,
}

/// `op`'s [`Int16Io`], or `None` when its input or output is not in that form (the float
/// translation takes it then).
pub(super) fn int16_io(cx: &Ctx, op: &OpIn) -> Result<Option<Int16Io>, TfliteError> {
    let (xt, yt) = (cx.in_tensor(op, 0)?, cx.out_tensor(op, 0)?);
    let (xi, yi) = (cx.info(xt), cx.info(yt));
    let (Some(qx), Some(qy)) = (&xi.quant, &yi.quant) else {
        return Ok(None);
    };
    if xi.dtype != DType::I16 || yi.dtype != DType::I16 {
        return Ok(None);
    }
    let ([sx], [sy]) = (qx.scale.as_slice(), qy.scale.as_slice()) else {
        return Ok(None);
    };
    if qx.zero_point.iter().chain(&qy.zero_point).any(|&z| z != 0) {
        return Ok(None);
    }
    Ok(Some(Int16Io {
        qx: qx.clone(),
        sx: *sx,
        sy: *sy,
        yt,
    }))
}

/// `LUTPopulate<int16_t>` (zero points 0) in float32, as TFLite builds LOG's and RSQRT's
/// tables.
fn populate(in_scale: f32, out_scale: f32, f: impl Fn(f32) -> f32) -> [i16; ANCHORS] {
    populate_with(in_scale, 0, out_scale, 0, f)
}

/// `LUTPopulateInt16<FloatT>`, step for step in `T` as TFLite computes it: 512 samples of
/// `f` over the input range (`scale * (q - zero_point)` for q over int16), each biased by
/// half the error linear interpolation makes at its segment's midpoint, and the value at
/// the range's end. TFLite builds most tables in float32 and SOFTMAX's in float64 ("for
/// backward compatibility"), and the two round differently, so the float type is a
/// parameter.
pub(super) fn populate_with<T: Float>(
    in_scale: T,
    in_zero_point: i32,
    out_scale: T,
    out_zero_point: i32,
    f: impl Fn(T) -> T,
) -> [i16; ANCHORS] {
    let of = |v: i32| T::from(v).expect("an i32 is a float");
    let (lo, hi) = (i32::from(i16::MIN), i32::from(i16::MAX));
    let input_min = in_scale * of(lo - in_zero_point);
    let input_max = in_scale * of(hi - in_zero_point);
    let output_min = out_scale * of(lo - out_zero_point);
    let output_max = out_scale * of(hi - out_zero_point);
    let steps = of(ANCHORS as i32 - 1);
    let step = (input_max - input_min) / steps;
    let half_step = step / of(2);
    let inv = of(hi - lo + 1) / (output_max - output_min);
    let clamp = |v: T| {
        v.max(of(lo))
            .min(of(hi))
            .to_i16()
            .expect("clamped to int16")
    };
    let mut lut = [0i16; ANCHORS];
    for (i, slot) in lut.iter_mut().enumerate().take(ANCHORS - 1) {
        let at = input_min + of(i as i32) * step;
        let val = f(at);
        let mid = f(at + half_step);
        let next = f(input_min + of(i as i32 + 1) * step);
        let sample = (val * inv).round();
        let interpolated = ((next * inv + (val * inv).round()) / of(2)).round();
        let bias = ((interpolated - (mid * inv).round()) / of(2)).round();
        *slot = clamp(sample - bias);
    }
    lut[ANCHORS - 1] = clamp((f(input_max) * inv).round());
    lut
}

/// `LUTLookup(int16_t)`: the anchor below `q` plus the slope to the next one times `q`'s
/// offset in its segment, rounded (an arithmetic shift, as TFLite's).
pub(super) fn lookup(q: i32, lut: &[i16; ANCHORS]) -> i16 {
    let index = (256 + (q >> 7)) as usize;
    let offset = q & 0x7f;
    let base = i32::from(lut[index]);
    let slope = i32::from(lut[index + 1]) - base;
    (base + ((slope * offset + 64) >> 7)) as i16
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_hits_the_anchors_and_interpolates_between_them() {
        let mut lut = [0i16; ANCHORS];
        for (i, v) in lut.iter_mut().enumerate() {
            *v = (i as i32 * 100 - 25600).clamp(-32768, 32767) as i16;
        }
        // q = -32768 is anchor 0; q = 0 is anchor 256; half way is half the slope.
        assert_eq!(lookup(-32768, &lut), -25600);
        assert_eq!(lookup(0, &lut), 0);
        assert_eq!(lookup(64, &lut), 50);
        assert_eq!(lookup(-64, &lut), -50);
    }

    #[test]
    fn log_table_differs_from_the_exact_log_near_zero_as_tflite_does() {
        // Input 0..8 in steps of 2^-12, output in steps of 2^-11 (like a converter's).
        let (sx, sy) = (8.0 / 32768.0, 16.0 / 32768.0);
        let low = -32768.0 * sy;
        let lut = populate(sx, sy, |v| if v <= 0.0 { low } else { v.ln() });
        // Far from 0 the table is the function within a step ...
        let q = 20000;
        let exact = ((q as f32 * sx).ln() / sy).round() as i32;
        assert!((i32::from(lookup(q, &lut)) - exact).abs() <= 1);
        // ... near 0 the linear segment is far from log: many steps off.
        let q = 3;
        let exact = ((q as f32 * sx).ln() / sy).round() as i32;
        assert!((i32::from(lookup(q, &lut)) - exact).abs() > 100);
    }
}
