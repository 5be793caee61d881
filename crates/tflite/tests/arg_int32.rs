//! ArgMax / ArgMin read by a lone `Cast(to=INT32)` (what `int64-to-int32` makes for targets
//! without int64 kernels: TFLite Micro's ARG_MAX writes int32 only) are written as one
//! ARG_MAX / ARG_MIN with an int32 output type; alone they keep int64.

use modelc_tflite::fb;

/// Each operator's builtin name and the element type of its output 0.
fn ops(text: &str) -> Vec<(String, fb::TensorType)> {
    crate::written_ops(text)
        .into_iter()
        .map(|op| (op.name, op.outputs[0]))
        .collect()
}

#[test]
fn an_argmax_cast_to_int32_is_one_arg_max_with_int32_output() {
    let got = ops(r#"graph main(%x: f32[2,5]) -> (%i, %j) {
  %a = ArgMax(%x) {axis=1, keepdims=0}
  %i = Cast(%a) {to=6}
  %b = ArgMin(%x) {axis=1}
  %j = Cast(%b) {to=6}
}"#);
    let names: Vec<&str> = got.iter().map(|(n, _)| n.as_str()).collect();
    // keepdims: ARG_MIN then the RESHAPE restoring the axis, both int32.
    assert_eq!(names, ["ARG_MAX", "ARG_MIN", "RESHAPE"], "{got:?}");
    assert!(
        got.iter().all(|(_, t)| *t == fb::TensorType::INT32),
        "{got:?}"
    );
}

#[test]
fn an_argmax_alone_keeps_int64() {
    let got = ops(r#"graph main(%x: f32[2,5]) -> (%a) {
  %a = ArgMax(%x) {axis=1, keepdims=0}
}"#);
    assert_eq!(got, [("ARG_MAX".to_string(), fb::TensorType::INT64)]);
}
