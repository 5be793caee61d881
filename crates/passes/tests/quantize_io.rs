//! `quantize-io`: a QDQ model's float input read by one QuantizeLinear becomes an input of
//! its integer type, and an output made by DequantizeLinear becomes the integer value under
//! the output's name; an input with another reader, or a float output not made by
//! DequantizeLinear, stays float.

use modelc_passes::check;

const QDQ: &str = r#"graph main(%x: f32[1,4], %u: f32[1,4]) -> (%y, %v) {
  %s = const f32[] [0.05]
  %z = const i8[] [0]
  %xq = QuantizeLinear(%x, %s, %z)
  %xd = DequantizeLinear(%xq, %s, %z)
  %r = Relu(%xd)
  %rq = QuantizeLinear(%r, %s, %z)
  %y = DequantizeLinear(%rq, %s, %z)
  %uq = QuantizeLinear(%u, %s, %z)
  %ud = DequantizeLinear(%uq, %s, %z)
  %w = Add(%u, %ud)
  %v = Relu(%w)
}"#;

#[test]
fn integer_inputs_and_outputs() {
    check!("quantize-io,dce", QDQ, @r"
    graph main(%x: i8[1,4], %u: f32[1,4]) -> (%y, %v) {
      %s = const f32[] [0.05]
      %z = const i8[] [0]
      %xd = DequantizeLinear(%x, %s, %z)
      %r = Relu(%xd)
      %y = QuantizeLinear(%r, %s, %z)
      %uq = QuantizeLinear(%u, %s, %z)
      %ud = DequantizeLinear(%uq, %s, %z)
      %w = Add(%u, %ud)
      %v = Relu(%w)
    }
    ");
}
