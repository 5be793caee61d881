//! int16 SOFTMAX as TFLite computes it. Its int16 kernel (`reference_ops::SoftmaxInt16`,
//! which LiteRT runs) is fixed-point arithmetic on two 513-entry tables, not the function:
//! per row, `exp` of the rescaled difference to the row's maximum read from a table over
//! [-10, 0], the sum of those, and `1 / (1 + x)` of the normalized sum read from a second
//! table, then a rounding shift. On rows whose values are close together the float form
//! (`Softmax` between QDQ) is several steps away from LiteRT's integers, so the import writes
//! the kernel's integer steps as int64 ONNX arithmetic instead. Every value stays
//! non-negative where it is divided, so ONNX's integer `Div` (truncating) is the kernel's
//! arithmetic shift; each table is expanded to all 65536 int16 inputs and read by `Gather`.

use modelc_ir::{Attr, DType, OnnxOp, Tensor, ValueRef};

use super::lut16::{int16_io, lookup, populate_with, Int16Io};
use super::{Ctx, OpIn};
use crate::fb::BuiltinOperator as B;
use crate::TfliteError;

/// `true` when `op` was translated: SOFTMAX from int16 to int16, zero points 0 (which TFLite
/// requires). Other forms go to the float translation.
pub(crate) fn softmax16(cx: &mut Ctx, op: &OpIn) -> Result<bool, TfliteError> {
    if op.code != B::SOFTMAX {
        return Ok(false);
    }
    let Some(Int16Io { qx, sx, sy, yt }) = int16_io(cx, op)? else {
        return Ok(false);
    };
    let beta = op
        .raw
        .builtin_options_as_softmax_options()
        .map_or(1.0, |o| o.beta());
    // SoftmaxPrepare: the difference to the row's maximum is rescaled so that [-65535, 0]
    // is [-10, 0] (`input_multiplier`, `input_left_shift`).
    let (multiplier, shift) =
        quantize_multiplier(f64::from(sx) * f64::from(beta) / (10.0 / 65535.0));
    if multiplier == 0 {
        return Ok(false);
    }
    let (left_shift, right_shift) = (shift.max(0), (-shift).max(0));
    if left_shift > 16 || right_shift > 31 {
        // Out of the int32 arithmetic the kernel assumes; not a form converters write.
        return Ok(false);
    }
    let tables = Tables::new();

    let x = cx.req(op, 0)?;
    let q = cx.quantize_to_i64(x, &qx, DType::I16);
    let last = cx.const_1d(&[-1]);
    let max = cx.op(OnnxOp::ReduceMax, &[Some(q), Some(last)], vec![]);
    // d = max - q >= 0 is the kernel's `-input_diff`.
    let d = cx.op(OnnxOp::Sub, &[Some(max), Some(q)], vec![]);
    // MultiplyByQuantizedMultiplier(-d): SaturatingRoundingDoublingHighMul's nudge for a
    // non-positive product is 1 - 2^30, so on the negated values it is a floor division of
    // (d·2^left·m + 2^30 - 1) by 2^31, and RoundingDivideByPOT a floor division of
    // (y + 2^(right-1)) by 2^right.
    let scaled = mul_const(cx, d, (1i64 << left_shift) * i64::from(multiplier));
    let scaled = add_const(cx, scaled, (1 << 30) - 1);
    let mut y = div_const(cx, scaled, 1 << 31);
    if right_shift > 0 {
        let y_round = add_const(cx, y, 1 << (right_shift - 1));
        y = div_const(cx, y_round, 1 << right_shift);
    }
    // exp: the table's input is 32767 - y saturated at -32768, so y beyond 65535 reads the
    // table's first entry; `exp_by_y[y]` holds LUTLookup(32767 - y).
    let y = min_const(cx, y, 65535);
    let exp_table = table(cx, "exp_lut", &tables.exp_by_y);
    let exp = cx.op(
        OnnxOp::Gather,
        &[Some(exp_table), Some(y)],
        vec![("axis", Attr::Int(0))],
    );
    let sum = cx.op(OnnxOp::ReduceSum, &[Some(exp), Some(last)], vec![]);
    // headroom_plus_one = CountLeadingZeros(sum) = 32 - (number of k in 0..32 with
    // sum >= 2^k); the sum is at least the maximum's exp (> 0) and below 2^31.
    let powers = table(cx, "pow2", &tables.powers_of_two);
    let sum_k = cx.op(OnnxOp::Unsqueeze, &[Some(sum), Some(last)], vec![]);
    let at_least = cx.op(OnnxOp::GreaterOrEqual, &[Some(sum_k), Some(powers)], vec![]);
    let bits = cx.op(
        OnnxOp::Cast,
        &[Some(at_least)],
        vec![("to", Attr::Int(DType::I64.onnx_code() as i64))],
    );
    let bit_length = cx.op(
        OnnxOp::ReduceSum,
        &[Some(bits), Some(last)],
        vec![("keepdims", Attr::Int(0))],
    );
    // shifted_sum = (sum << (headroom_plus_one - 1)) + 2^13 >> 14, with
    // headroom_plus_one - 1 = 31 - bit_length.
    let shift_up = sub_from_const(cx, 31, bit_length);
    let scale_up = cx.op(
        OnnxOp::Gather,
        &[Some(powers), Some(shift_up)],
        vec![("axis", Attr::Int(0))],
    );
    let sum_up = cx.op(OnnxOp::Mul, &[Some(sum), Some(scale_up)], vec![]);
    let sum_up = add_const(cx, sum_up, 1 << 13);
    let shifted = div_const(cx, sum_up, 1 << 14);
    // 1/(1+x): the table's input is shifted_sum - (2^15 + 2^16) saturated at 32767, so
    // `reciprocal_by_sum[s - 65536]` holds LUTLookup(s - 98304) for s in [65536, 131071].
    let shifted = min_const(cx, shifted, 131_071);
    let index = add_const(cx, shifted, -65536);
    let reciprocal_table = table(cx, "one_over_one_plus_x_lut", &tables.reciprocal_by_sum);
    let reciprocal = cx.op(
        OnnxOp::Gather,
        &[Some(reciprocal_table), Some(index)],
        vec![("axis", Attr::Int(0))],
    );
    // result = (exp · reciprocal + 2^(right - 1)) >> right, right = 31 - headroom_plus_one
    // = bit_length - 1 (at least 14: the sum is at least the maximum's exp, 32767),
    // clamped to [0, 32767].
    let right = add_const(cx, bit_length, -1);
    let divisor = cx.op(
        OnnxOp::Gather,
        &[Some(powers), Some(right)],
        vec![("axis", Attr::Int(0))],
    );
    let right_less_one = add_const(cx, right, -1);
    let round = cx.op(
        OnnxOp::Gather,
        &[Some(powers), Some(right_less_one)],
        vec![("axis", Attr::Int(0))],
    );
    let product = cx.op(OnnxOp::Mul, &[Some(exp), Some(reciprocal)], vec![]);
    let product = cx.op(OnnxOp::Add, &[Some(product), Some(round)], vec![]);
    let result = cx.op(OnnxOp::Div, &[Some(product), Some(divisor)], vec![]);
    let result = min_const(cx, result, 32767);
    // The output's dequantized value; the output tensor's QDQ gives back the integers.
    let result = cx.op(
        OnnxOp::Cast,
        &[Some(result)],
        vec![("to", Attr::Int(DType::F32.onnx_code() as i64))],
    );
    let scale = cx.const_f32(&[sy], &[]);
    let out = cx.op(OnnxOp::Mul, &[Some(result), Some(scale)], vec![]);
    cx.define(yt, out)?;
    Ok(true)
}

/// Whether `values` is the expanded exp table the import writes (the TFLite writer finds
/// the import's integer form by it and writes SOFTMAX again, see
/// `export::legalize::int16_softmax`).
pub(crate) fn is_exp_table(values: &[i64]) -> bool {
    values.len() == 65536 && values == Tables::new().exp_by_y
}

/// The kernel's two tables, expanded to the inputs the graph indexes them with, and the
/// powers of two the shifts read.
struct Tables {
    exp_by_y: Vec<i64>,
    reciprocal_by_sum: Vec<i64>,
    powers_of_two: Vec<i64>,
}

impl Tables {
    fn new() -> Tables {
        // SoftmaxPrepare (int16): LUTPopulate<int16_t> in double over
        // range = 65535: exp on [-10, 0] (input zero point 32767), 1/(1+x) on [0, 1]
        // (input zero point -32768), both into [-1, 1] (output scale 2/range).
        let range = 65535.0f64;
        let exp_lut = populate_with(10.0 / range, 32767, 2.0 / range, 0, f64::exp);
        let reciprocal_lut =
            populate_with(1.0 / range, -32768, 2.0 / range, 0, |v| 1.0 / (1.0 + v));
        let exp_by_y: Vec<i64> = (0..=65535)
            .map(|y| i64::from(lookup(32767 - y, &exp_lut)))
            .collect();
        let reciprocal_by_sum: Vec<i64> = (0..=65535)
            .map(|i| i64::from(lookup(i - 32768, &reciprocal_lut)))
            .collect();
        Tables {
            exp_by_y,
            reciprocal_by_sum,
            powers_of_two: (0..32).map(|k| 1i64 << k).collect(),
        }
    }
}

/// TFLite's `QuantizeMultiplier`: `m` as a Q31 multiplier in [2^30, 2^31) and a power-of-two
/// shift, `m ≈ multiplier · 2^(shift - 31)` (frexp, then the mantissa rounded half away from
/// zero; a mantissa rounding up to 2^31 halves and shifts once more).
fn quantize_multiplier(m: f64) -> (i32, i32) {
    if m <= 0.0 || !m.is_finite() {
        return (0, 0);
    }
    let (mut mantissa, mut shift) = (m, 0i32);
    while mantissa >= 1.0 {
        mantissa /= 2.0;
        shift += 1;
    }
    while mantissa < 0.5 {
        mantissa *= 2.0;
        shift -= 1;
    }
    let mut fixed = (mantissa * 2f64.powi(31)).round() as i64;
    if fixed == 1 << 31 {
        fixed /= 2;
        shift += 1;
    }
    if shift < -31 {
        return (0, 0);
    }
    (fixed as i32, shift)
}

/// A 1-D int64 constant.
fn table(cx: &mut Ctx, name: &str, values: &[i64]) -> ValueRef {
    let t = Tensor::from_i64(vec![values.len() as u64], values).expect("1-D");
    cx.constant(name, t)
}

fn int_op(cx: &mut Ctx, op: OnnxOp, a: ValueRef, b: i64) -> ValueRef {
    let b = cx.const_i64(&[b], &[]);
    cx.op(op, &[Some(a), Some(b)], vec![])
}

fn mul_const(cx: &mut Ctx, a: ValueRef, b: i64) -> ValueRef {
    int_op(cx, OnnxOp::Mul, a, b)
}

fn add_const(cx: &mut Ctx, a: ValueRef, b: i64) -> ValueRef {
    int_op(cx, OnnxOp::Add, a, b)
}

fn div_const(cx: &mut Ctx, a: ValueRef, b: i64) -> ValueRef {
    int_op(cx, OnnxOp::Div, a, b)
}

fn min_const(cx: &mut Ctx, a: ValueRef, b: i64) -> ValueRef {
    int_op(cx, OnnxOp::Min, a, b)
}

fn sub_from_const(cx: &mut Ctx, a: i64, b: ValueRef) -> ValueRef {
    let a = cx.const_i64(&[a], &[]);
    cx.op(OnnxOp::Sub, &[Some(a), Some(b)], vec![])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantize_multiplier_is_tflites() {
        // 0.75 = 0.75 · 2^0: mantissa 0.75 → 0.75 · 2^31.
        assert_eq!(quantize_multiplier(0.75), (1_610_612_736, 0));
        // 6.0 = 0.75 · 2^3.
        assert_eq!(quantize_multiplier(6.0), (1_610_612_736, 3));
        // A mantissa that rounds to 2^31 becomes 2^30 with one more shift.
        assert_eq!(quantize_multiplier(1.0 - 1e-12), (1 << 30, 1));
        assert_eq!(quantize_multiplier(0.0), (0, 0));
    }

    #[test]
    fn the_exp_table_is_one_at_zero_and_small_at_minus_ten() {
        let t = Tables::new();
        let exp = &t.exp_by_y;
        // y = 0 is exp(0) = 1 (32767 in Q0.15), less the anchor's interpolation bias.
        assert!((32750..=32767).contains(&exp[0]), "{}", exp[0]);
        // y = 65535 is exp(-10) · 32768 ≈ 1.5.
        assert!(exp[65535] <= 2, "{}", exp[65535]);
        // Monotone: a larger difference never gives a larger exp.
        assert!(exp.windows(2).all(|w| w[0] >= w[1]));
    }
}
