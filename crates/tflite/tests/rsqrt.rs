//! `Pow(x, −0.5)` is written as RSQRT (the integer LayerNorm of `--target ethos-u55-128`:
//! Ethos-U runs RSQRT in int8, not POW or SQRT + DIV), in float and on int8 tensors with the
//! exponent quantized behind a DequantizeLinear; any other exponent stays POW. (Numbers
//! against LiteRT: tests/targets_table.py's transformer row.)

use modelc_tflite::fb;

/// The builtin op of each operator of the written file, and each operator's input types.
fn ops(text: &str) -> Vec<(String, Vec<fb::TensorType>)> {
    crate::written_ops(text)
        .into_iter()
        .map(|op| (op.name, op.inputs))
        .collect()
}

#[test]
fn pow_minus_a_half_is_rsqrt_other_exponents_pow() {
    let got = ops(r#"graph main(%x: f32[2,4]) -> (%y, %z) {
  %h = const f32[] [-0.5]
  %t = const f32[] [2.0]
  %y = Pow(%x, %h)
  %z = Pow(%x, %t)
}"#);
    let names: Vec<&str> = got.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["RSQRT", "POW"]);
    assert_eq!(got[0].1, [fb::TensorType::FLOAT32], "one input: {got:?}");
}

#[test]
fn a_quantized_pow_minus_a_half_is_an_int8_rsqrt() {
    // The quantizer's form: the exponent an int8 constant (−127 at scale 0.5/127).
    let got = ops(r#"graph main(%x: f32[1,4]) -> (%y) {
  %s = const f32[] [0.05]
  %z = const i8[] [-128]
  %xq = QuantizeLinear(%x, %s, %z)
  %xd = DequantizeLinear(%xq, %s, %z)
  %hq = const i8[] [-127]
  %hs = const f32[] [0.003937008]
  %hz = const i8[] [0]
  %hd = DequantizeLinear(%hq, %hs, %hz)
  %p = Pow(%xd, %hd)
  %os = const f32[] [0.02]
  %pq = QuantizeLinear(%p, %os, %z)
  %y = DequantizeLinear(%pq, %os, %z)
}"#);
    let names: Vec<&str> = got.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["QUANTIZE", "RSQRT", "DEQUANTIZE"], "{got:?}");
    assert_eq!(got[1].1, [fb::TensorType::INT8], "{got:?}");
}
