//! int16 SOFTMAX: the import writes LiteRT's fixed-point kernel as int64 arithmetic (so that
//! onnxruntime gives LiteRT's integers; numbers against LiteRT: tests/tflite_op_suite.py's
//! int16x8 softmax rows), and the TFLite writer finds that form and writes SOFTMAX again.

use std::path::Path;

use modelc_ir::{OnnxOp, Op};
use modelc_tflite::fb::TensorType;

fn ops_of(model: &modelc_ir::Model) -> Vec<OnnxOp> {
    let g = &model.graph;
    g.node_ids()
        .filter_map(|id| match &g.node(id).op {
            Op::Onnx(op) => Some(*op),
            _ => None,
        })
        .collect()
}

#[test]
fn int16_softmax_imports_as_integer_arithmetic_and_writes_back_as_softmax() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/tflite/ops");
    for name in ["softmax.int16x8", "pattern_mlp_softmax.int16x8"] {
        let model = modelc_tflite::read(&root.join(format!("{name}.tflite"))).unwrap();
        let ops = ops_of(&model);
        assert!(!ops.contains(&OnnxOp::Softmax), "{name}: {ops:?}");
        assert!(ops.contains(&OnnxOp::ReduceMax), "{name}: {ops:?}");

        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("back.tflite");
        modelc_tflite::write(&model, &out, &Default::default()).unwrap();
        let written = crate::file_ops(&out);
        let softmax: Vec<_> = written.iter().filter(|op| op.name == "SOFTMAX").collect();
        assert_eq!(softmax.len(), 1, "{name}");
        assert_eq!(softmax[0].inputs, [TensorType::INT16], "{name}");
        assert_eq!(softmax[0].outputs, [TensorType::INT16], "{name}");
        // Nothing of the integer form is left: the file has the source's operators.
        let names = |ops: &[crate::WrittenOp]| ops.iter().map(|op| op.name.clone()).collect();
        let source: Vec<String> = names(&crate::file_ops(&root.join(format!("{name}.tflite"))));
        assert_eq!(names(&written), source, "{name}");
    }
}
