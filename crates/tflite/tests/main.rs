//! modelc-tflite's integration tests, one module per file, in one test binary (a binary per
//! file linked the whole dependency tree again each time, ~70 MB apiece, and filled a CI disk).

mod arg_int32;
mod codegen_fresh;
mod control;
mod dynamic;
mod export_1d;
mod export_validity;
mod hand_built;
mod int4_weights;
mod lstm;
mod mutations;
mod read_write;
mod rsqrt;
mod shipped;
mod softmax16;
mod sparse_export;
mod table;

/// One operator of a file modelc wrote: its builtin name and its inputs' and outputs' element
/// types (an omitted optional input is skipped).
pub(crate) struct WrittenOp {
    pub name: String,
    pub inputs: Vec<modelc_tflite::fb::TensorType>,
    pub outputs: Vec<modelc_tflite::fb::TensorType>,
}

/// The IR text graph written as TFLite by modelc, its operators read back in order.
pub(crate) fn written_ops(text: &str) -> Vec<WrittenOp> {
    let g = modelc_ir::Graph::parse(text).unwrap_or_else(|e| panic!("{e}"));
    let model = modelc_ir::Model::new(g, 17);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.tflite");
    modelc_tflite::write(&model, &path, &Default::default()).unwrap_or_else(|e| panic!("{e}"));
    file_ops(&path)
}

/// The operators of a TFLite file, in order.
pub(crate) fn file_ops(path: &std::path::Path) -> Vec<WrittenOp> {
    let bytes = std::fs::read(path).unwrap();
    let m = modelc_tflite::fb::root_as_model(&bytes).unwrap();
    let codes = m.operator_codes().unwrap();
    let sg = m.subgraphs().unwrap().get(0);
    let tensors = sg.tensors().unwrap();
    let types = |ids: flatbuffers::Vector<'_, i32>| {
        ids.iter()
            .filter(|&t| t >= 0)
            .map(|t| tensors.get(t as usize).type_())
            .collect()
    };
    sg.operators()
        .unwrap()
        .iter()
        .map(|op| WrittenOp {
            name: codes
                .get(op.opcode_index() as usize)
                .builtin_code()
                .variant_name()
                .unwrap()
                .to_string(),
            inputs: types(op.inputs().unwrap()),
            outputs: types(op.outputs().unwrap()),
        })
        .collect()
}
