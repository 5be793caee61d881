//! `convert-opset`: each family of version adapters rewrites the forms that changed, the
//! interpreter gives the same outputs before (at the source opset) and after (at the
//! target), and a downgrade refuses, by node, everything the older opset cannot express.

use modelc_ir::{Graph, Model};
use modelc_passes::check;
use modelc_passes::opset::{convert_model, ConvertOpset, OpsetError};
use modelc_passes::testing::{input, Check};

fn to(target: i64, from: i64) -> Check {
    Check::new(ConvertOpset { target }).opset(from)
}

/// Shapes and axes: attributes before 13 (18 for ReduceMean), inputs after.
const AXES_12: &str = r#"graph main(%x: f32[2,1,3,4]) -> (%a, %b, %c, %d.0, %d.1, %e) {
  %a = Squeeze(%x) {axes=[1]}
  %u = Unsqueeze(%a) {axes=[0]}
  %b = ReduceSum(%u) {keepdims=0, axes=[3]}
  %c = ReduceMean(%x) {axes=[2]}
  %d.0, %d.1 = Split(%x) {axis=3, split=[1,3]}
  %e = ReduceMax(%x)
}"#;

#[test]
fn axes_and_split_attributes_become_inputs_at_13_and_18() {
    let out = check!(to(18, 12), AXES_12);
    assert_eq!(out.opset_after, Some(18));
    out.assert_same_outputs(&[("x", input(&[2, 1, 3, 4], 1, 2.0))], 0.0);
}

#[test]
fn up_then_down_gives_the_attribute_forms_back() {
    let g = Graph::parse(AXES_12).unwrap();
    let mut m = Model::new(g.clone(), 12);
    convert_model(&mut m, 18).unwrap();
    convert_model(&mut m, 12).unwrap();
    assert_eq!(m.opset(""), Some(12));
    let printed = modelc_ir::text::print_graph(&m.graph, &Default::default());
    let original = modelc_ir::text::print_graph(&g, &Default::default());
    assert_eq!(printed, original);
}

#[test]
fn clip_pad_dropout_topk_slice_upsample_take_inputs_from_10_and_11() {
    let text = r#"graph main(%x: f32[1,2,3,4]) -> (%c, %p, %d, %t.0, %t.1, %s, %r) {
  %c = Clip(%x) {min=-0.5, max=0.5}
  %p = Pad(%x) {pads=[0,0,1,0,0,0,0,2], mode="constant", value=1.5}
  %d = Dropout(%x) {ratio=0.25}
  %t.0, %t.1 = TopK(%x) {k=2, axis=-1}
  %s = Slice(%x) {starts=[1], ends=[3], axes=[3]}
  %r = Upsample(%x) {scales=[1.0,1.0,2.0,2.0], mode="nearest"}
}"#;
    let out = check!(to(13, 8), text);
    assert_eq!(out.count("Upsample"), 0);
    out.assert_same_outputs(&[("x", input(&[1, 2, 3, 4], 2, 2.0))], 0.0);
}

#[test]
fn softmax_keeps_its_two_dimensional_meaning_across_13() {
    let text = r#"graph main(%x: f32[2,3,4]) -> (%a, %b, %c) {
  %a = Softmax(%x) {axis=1}
  %b = LogSoftmax(%x) {axis=2}
  %c = Hardmax(%x)
}"#;
    let up = check!(to(13, 12), text);
    up.assert_same_outputs(&[("x", input(&[2, 3, 4], 3, 3.0))], 1e-6);
    let per_axis = r#"graph main(%x: f32[2,3,4]) -> (%a, %b) {
  %a = Softmax(%x) {axis=1}
  %b = LogSoftmax(%x)
}"#;
    let down = check!(to(12, 13), per_axis);
    down.assert_same_outputs(&[("x", input(&[2, 3, 4], 4, 3.0))], 1e-6);
}

#[test]
fn resize_and_batch_norm_forms_move_down_and_up() {
    let text = r#"graph main(%x: f32[1,2,3,3]) -> (%r, %y) {
  %sizes = const i64[4] [1, 2, 6, 9]
  %r = Resize(%x, _, _, %sizes) {mode="nearest", coordinate_transformation_mode="asymmetric", nearest_mode="floor"}
  %s = const f32[2] [1.0, 2.0]
  %b = const f32[2] [0.5, -0.5]
  %m = const f32[2] [0.1, 0.2]
  %v = const f32[2] [1.0, 4.0]
  %y = BatchNormalization(%x, %s, %b, %m, %v) {epsilon=0.001}
}"#;
    let down = check!(to(10, 19), text);
    assert_eq!(down.count("Upsample"), 0);
    down.assert_same_outputs(&[("x", input(&[1, 2, 3, 3], 5, 2.0))], 1e-6);
}

#[test]
fn a_downgrade_refuses_every_node_the_older_opset_cannot_express() {
    let text = r#"graph main(%x: f32[1,2,3,4], %k: i64[1]) -> (%a, %b, %c, %d, %e) {
  %a = Squeeze(%x, %k)
  %b = Gelu(%x)
  %sc = const f32[4] [1.0, 1.0, 2.0, 2.0]
  %c = Resize(%x, _, %sc) {antialias=1, mode="linear"}
  %shape = const i64[2] [2, 12]
  %d = Reshape(%x, %shape) {allowzero=1}
  %e = Relu(%x)
}"#;
    let g = Graph::parse(text).unwrap();
    let mut m = Model::new(g.clone(), 20);
    let err = convert_model(&mut m, 12).unwrap_err();
    insta::assert_snapshot!(err.to_string());
    let OpsetError::Refused { refusals, .. } = err else {
        panic!("not a refusal")
    };
    assert_eq!(refusals.len(), 4);
    // Nothing changed.
    assert_eq!(m.opset(""), Some(20));
    assert!(m.graph.same_as(&g));
}

#[test]
fn opsets_outside_the_adapters_range_are_refused() {
    let g = Graph::parse("graph(%x: f32[2]) -> (%y) { %y = Relu(%x) }").unwrap();
    let mut m = Model::new(g, 17);
    assert_eq!(convert_model(&mut m, 5), Err(OpsetError::OutOfRange(5)));
}

#[test]
fn ops_newer_than_the_target_decompose_where_a_decomposition_exists() {
    let text = r#"graph main(%x: f32[2,3,4], %gamma: f32[4], %beta: f32[4], %like: f64[1]) -> (%y, %z, %h, %s, %c) {
  %y = LayerNormalization(%x, %gamma, %beta) {axis=-1, epsilon=0.00001}
  %c = CastLike(%x, %like)
  %z = Mish(%x)
  %h = HardSwish(%x)
  %s = Shape(%x) {start=1}
}"#;
    let out = check!(to(13, 18), text);
    assert_eq!(
        out.count("LayerNormalization")
            + out.count("Mish")
            + out.count("HardSwish")
            + out.count("CastLike"),
        0
    );
    out.assert_same_outputs(&[("x", input(&[2, 3, 4], 6, 2.0))], 1e-5);
}

#[test]
fn a_downgrade_refuses_input_types_the_older_version_does_not_take() {
    let g = Graph::parse("graph(%x: i8[2], %y: i8[2]) -> (%z) { %z = Add(%x, %y) }").unwrap();
    let mut m = Model::new(g, 14);
    let err = convert_model(&mut m, 13).unwrap_err().to_string();
    assert!(
        err.contains(
            "(Add): input 0 is i8, which Add does not take in opset 13 (from opset 14 on)"
        ),
        "{err}"
    );
    let g = Graph::parse("graph(%x: f32[2], %y: f32[2]) -> (%z) { %z = Add(%x, %y) }").unwrap();
    let mut m = Model::new(g, 14);
    assert_eq!(convert_model(&mut m, 13), Ok(14));
}
