//! The TFLite writer never writes a file LiteRT rejects: forms it would have written invalid
//! are either written another way or refused, naming the node. (LiteRT runs the same cases
//! in the aten suite's CI subset: `sum#0`, `permute#2`, `mse_loss#0`, `mm#1`, `mm#2`,
//! `nn.functional.linear#1`.)

use std::path::Path;

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
    // With no elements in the result it is a RESHAPE of the empty operand (see
    // `ops_of_empty_tensors_are_reshapes_litert_runs`); an empty inner dimension, whose
    // result has elements (zeros), is refused.
    let text = r#"graph main(%a: f32[5,0], %b: f32[0,10]) -> (%y) {
  %y = MatMul(%a, %b)
}"#;
    let err = write(&model(text)).unwrap_err();
    assert!(err.contains("no elements"), "{err}");
}

/// LiteRT's outputs (shape, float values) of the file at `path` on float `inputs` (shape,
/// values), each input resized to its shape before allocation; `None` when the pinned Python
/// environment is missing (the test skips, see modelc_testkit).
fn litert(path: &Path, inputs: &[(Vec<usize>, Vec<f32>)]) -> Option<Vec<(Vec<usize>, Vec<f32>)>> {
    const RUN: &str = r#"
import json, sys
import numpy as np
from ai_edge_litert.interpreter import Interpreter
path, inputs = sys.argv[1], json.loads(sys.argv[2])
it = Interpreter(model_path=path, num_threads=1)
for d, (shape, _) in zip(it.get_input_details(), inputs):
    it.resize_tensor_input(d["index"], shape)
it.allocate_tensors()
for d, (shape, vals) in zip(it.get_input_details(), inputs):
    it.set_tensor(d["index"], np.array(vals, dtype=np.float32).reshape(shape))
it.invoke()
outs = [it.get_tensor(o["index"]) for o in it.get_output_details()]
print(json.dumps([[list(o.shape), o.astype(np.float64).ravel().tolist()] for o in outs]))
"#;
    let python = modelc_testkit::python()?;
    let arg: Vec<String> = inputs
        .iter()
        .map(|(s, v)| format!("[{s:?}, {v:?}]"))
        .collect();
    let out = std::process::Command::new(python)
        .arg("-c")
        .arg(RUN)
        .arg(path)
        .arg(format!("[{}]", arg.join(", ")))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "LiteRT failed on {}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Vec<(Vec<usize>, Vec<f64>)> = serde_json::from_slice(&out.stdout).unwrap();
    Some(
        v.into_iter()
            .map(|(s, x)| (s, x.into_iter().map(|f| f as f32).collect()))
            .collect(),
    )
}

/// The file modelc writes for `text`, in `dir`.
fn written(dir: &Path, text: &str) -> std::path::PathBuf {
    let path = dir.join("m.tflite");
    modelc_tflite::write(&model(text), &path, &Default::default())
        .unwrap_or_else(|e| panic!("{e}"));
    path
}

#[test]
fn ops_of_empty_tensors_are_reshapes_litert_runs() {
    // unfold of an empty batch, as torch.export's Core ATen gives it: GATHER_ND of empty
    // params fails in LiteRT ("NumElements(params) > 0 was not true"); with no elements to
    // compute, each op is a RESHAPE of its empty operand.
    let text = r#"graph main(%x: f32[0,1,5,5], %a: f32[0,5]) -> (%y, %m) {
  %t = Transpose(%x) {perm=[2,3,0,1]}
  %i = const i64[2,2] [0, 0, 1, 1]
  %g = GatherND(%t, %i)
  %y = Transpose(%g) {perm=[1,2,0]}
  %b = const f32[5,3] [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15]
  %m = MatMul(%a, %b)
}"#;
    assert_eq!(write(&model(text)).unwrap(), ["RESHAPE"; 4]);
    let dir = tempfile::tempdir().unwrap();
    let path = written(dir.path(), text);
    let Some(outs) = litert(&path, &[(vec![0, 1, 5, 5], vec![]), (vec![0, 5], vec![])]) else {
        return;
    };
    assert_eq!(outs[0], (vec![0, 1, 2], vec![]));
    assert_eq!(outs[1], (vec![0, 3], vec![]));
}

#[test]
fn a_scatter_with_a_repeated_index_keeps_the_last_update_in_litert() {
    // max_unpool's Core ATen form (index_put into zeros) with two windows naming one
    // element: onnxruntime and torch keep the last update, SCATTER_ND adds them.
    let text = r#"graph main(%u: f32[4]) -> (%y) {
  %d = const f32[6] [10, 20, 30, 40, 50, 60]
  %i = const i64[4,1] [1, 1, 3, -5]
  %y = ScatterND(%d, %i, %u)
}"#;
    let dir = tempfile::tempdir().unwrap();
    let path = written(dir.path(), text);
    let Some(outs) = litert(&path, &[(vec![4], vec![1.0, 2.0, 3.0, 4.0])]) else {
        return;
    };
    // Index 1 is named three times (-5 is 1): the last update, 4, is kept.
    assert_eq!(outs[0], (vec![6], vec![10.0, 4.0, 30.0, 3.0, 50.0, 60.0]));
}
