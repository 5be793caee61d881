//! The writer's type and shape checks: a graph whose element types break an ONNX type
//! constraint, or whose shapes a node cannot compute on (the ones onnxruntime rejects a file
//! for), is refused, naming the node and the reason; well-typed QDQ graphs are written.

use modelc_ir::{Graph, Model};

fn encode(text: &str, opset: i64) -> Result<Vec<u8>, String> {
    let g = Graph::parse(text).expect("test graph parses");
    modelc_onnx::encode(&Model::new(g, opset)).map_err(|e| e.to_string())
}

fn qdq(zero_point: &str) -> String {
    format!(
        r#"graph main(%x: f32[2,3]) -> (%y) {{
  %s = const f32[] [0.05]
  %z = const {zero_point}[] [0]
  %q = QuantizeLinear(%x, %s, %z)
  %y = DequantizeLinear(%q, %s, %z)
}}"#
    )
}

#[test]
fn well_typed_qdq_is_written() {
    encode(&qdq("i8"), 19).expect("int8 QDQ");
    encode(&qdq("u8"), 13).expect("uint8 QDQ");
    encode(&qdq("i16"), 21).expect("int16 QDQ at 21");
}

#[test]
fn quantize_linear_to_int32_is_refused() {
    let e = encode(&qdq("i32"), 21).unwrap_err();
    assert!(e.contains("QuantizeLinear"), "{e}");
    assert!(e.contains("the zero point is i32"), "{e}");
}

#[test]
fn int16_qdq_needs_opset_21() {
    let e = encode(&qdq("i16"), 19).unwrap_err();
    assert!(e.contains("the zero point is i16"), "{e}");
}

#[test]
fn dequantize_zero_point_of_another_type_is_refused() {
    let text = r#"graph main(%x: f32[2,3]) -> (%y) {
  %w = const i8[2] [1, 2]
  %s = const f32[] [0.05]
  %z = const u8[] [128]
  %d = DequantizeLinear(%w, %s, %z)
  %y = Add(%x, %d)
}"#;
    let e = encode(text, 19).unwrap_err();
    assert!(e.contains("DequantizeLinear"), "{e}");
    assert!(
        e.contains("the input is i8 but the zero point is u8"),
        "{e}"
    );
}

#[test]
fn mixed_input_types_and_float_indices_are_refused() {
    let add = r#"graph main(%x: f32[2,3]) -> (%y) {
  %c = const i64[] [1]
  %y = Add(%x, %c)
}"#;
    let e = encode(add, 19).unwrap_err();
    assert!(
        e.contains("Add") && e.contains("input 0 is f32 but input 1 is i64"),
        "{e}"
    );
    let gather = r#"graph main(%x: f32[4,3]) -> (%y) {
  %i = const f32[2] [0.0, 1.0]
  %y = Gather(%x, %i)
}"#;
    let e = encode(gather, 19).unwrap_err();
    assert!(e.contains("Gather") && e.contains("input 1 is f32"), "{e}");
}

#[test]
fn ops_other_readers_kept_untranslated_are_refused_all_at_once() {
    // What the TFLite and TorchScript readers keep as placeholders: no ONNX runtime runs
    // them, so the file would load nowhere.
    let text = r#"graph main(%x: f32[2,3]) -> (%y, %z) {
  %y = tflite.Landmarks2TransformMatrix(%x)
  %z = aten.fancy_op(%x)
}"#;
    let e = encode(text, 19).unwrap_err();
    assert!(e.contains("a TFLite custom op with no ONNX form"), "{e}");
    assert!(e.contains("an aten op without a translation"), "{e}");
}

#[test]
fn custom_ops_of_an_onnx_domain_are_written_as_they_came() {
    let text = r#"graph main(%x: f32[2,3]) -> (%y) {
  %y = com.example.FancyOp(%x)
}"#;
    encode(text, 19).expect("a custom op read from ONNX goes back into ONNX");
}

// Shapes: what shape inference finds a node cannot compute on its inputs is refused too
// (`.pt2` imports once wrote such files: aten's squeeze.dims of a dim of size 5, index_put
// of a 0-d value as ScatterND updates of shape [] where [1] is needed).

#[test]
fn squeeze_of_a_dim_that_is_not_1_is_refused() {
    let text = |axes: &str| {
        format!(
            r#"graph main(%x: f32[5,1,5,1]) -> (%y) {{
  %a = const i64[{n}] [{axes}]
  %y = Squeeze(%x, %a)
}}"#,
            n = axes.split(',').count()
        )
    };
    encode(&text("1, 3"), 19).expect("dims of size 1");
    let e = encode(&text("0, 1, 2, 3"), 19).unwrap_err();
    assert!(
        e.contains("Squeeze") && e.contains("axis 0 of size 5"),
        "{e}"
    );
}

#[test]
fn scatter_nd_updates_of_the_wrong_shape_are_refused() {
    let text = |updates: &str| {
        format!(
            r#"graph main(%x: f32[1,4], %u: f32{updates}) -> (%y) {{
  %i = const i64[2,1] [0, 0]
  %y = ScatterND(%x, %i, %u)
}}"#
        )
    };
    encode(&text("[2,4]"), 19).expect("updates [2] + [4]");
    let e = encode(&text("[]"), 19).unwrap_err();
    assert!(
        e.contains("ScatterND")
            && e.contains("the updates are [] but")
            && e.contains("needs [2,4]"),
        "{e}"
    );
    let e = encode(&text("[2,3]"), 19).unwrap_err();
    assert!(e.contains("needs [2,4]"), "{e}");
}

#[test]
fn scatter_elements_indices_and_updates_of_two_shapes_are_refused() {
    let text = r#"graph main(%x: f32[3,4], %u: f32[2,2]) -> (%y) {
  %i = const i64[1,2] [0, 1]
  %y = ScatterElements(%x, %i, %u)
}"#;
    let e = encode(text, 19).unwrap_err();
    assert!(
        e.contains("ScatterElements") && e.contains("the indices [1,2] and the updates [2,2]"),
        "{e}"
    );
}
