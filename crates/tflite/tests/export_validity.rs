//! The TFLite writer never writes a file LiteRT rejects: forms it would have written invalid
//! are either written another way or refused, naming the node. (LiteRT runs the same cases
//! in the aten suite's CI subset: `sum#0`, `permute#2`, `mse_loss#0`, `mm#1`, `mm#2`,
//! `nn.functional.linear#1`.)

use modelc_ir::{Graph, Model};
use modelc_tflite::fb;

fn model(text: &str) -> Model {
    let g = Graph::parse(text).unwrap_or_else(|e| panic!("{e}"));
    Model::new(g, 18)
}

/// The written file's operators (builtin names), or the writer's error.
fn write(model: &Model) -> Result<Vec<String>, String> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.tflite");
    modelc_tflite::write(model, &path, &Default::default()).map_err(|e| e.to_string())?;
    let bytes = std::fs::read(&path).unwrap();
    let m = fb::root_as_model(&bytes).unwrap();
    let codes = m.operator_codes().unwrap();
    let sg = m.subgraphs().unwrap().get(0);
    Ok(sg
        .operators()
        .unwrap()
        .iter()
        .map(|op| {
            let code = codes.get(op.opcode_index() as usize).builtin_code();
            code.variant_name().unwrap().to_string()
        })
        .collect())
}

#[test]
fn reductions_transposes_and_broadcasts_of_a_0d_value_are_that_value() {
    // Each would need an empty axes / perm / shape constant, which TFLite cannot hold.
    let text = r#"graph main(%x: f32[]) -> (%y) {
  %s = ReduceSum(%x) {keepdims=0}
  %m = ReduceMean(%s) {keepdims=0}
  %t = Transpose(%m) {perm=ints[]}
  %shape = const i64[0] []
  %e = Expand(%t, %shape)
  %y = Mul(%e, %e)
}"#;
    assert_eq!(write(&model(text)).unwrap(), ["MUL"]);
}

#[test]
fn an_empty_constant_is_refused_by_node() {
    let text = r#"graph main(%x: f32[2,3]) -> (%y) {
  %e = const f32[0,3] []
  %y = Concat(%x, %e) {axis=0}
}"#;
    let err = write(&model(text)).unwrap_err();
    assert!(
        err.contains("Concat") && err.contains("empty constant"),
        "{err}"
    );
}

#[test]
fn a_matrix_product_of_an_operand_without_elements_is_refused_by_node() {
    let text = r#"graph main(%a: f32[0,5], %b: f32[5,10]) -> (%y) {
  %y = MatMul(%a, %b)
}"#;
    let err = write(&model(text)).unwrap_err();
    assert!(err.contains("MatMul") && err.contains("[0, 5]"), "{err}");
    let text = r#"graph main(%a: f32[5,0], %b: f32[0,10]) -> (%y) {
  %y = MatMul(%a, %b)
}"#;
    let err = write(&model(text)).unwrap_err();
    assert!(err.contains("no elements"), "{err}");
}
