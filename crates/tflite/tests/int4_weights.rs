//! Int4 weights (one scale per output channel) behind DequantizeLinear: written as an INT4
//! tensor (two values per byte) read by DEQUANTIZE — what LiteRT 2.3 runs into
//! FULLY_CONNECTED and CONV_2D (checked in LiteRT by tests/compress_table.py's .tflite
//! forms) — or refused by node where the writer would have to transpose packed nibbles.

use modelc_ir::{Graph, Model};
use modelc_tflite::fb;

fn net(weight: &str, op: &str) -> String {
    let vals: Vec<String> = (0..32).map(|i| ((i % 15) as i64 - 7).to_string()).collect();
    format!(
        r#"graph main(%x: f32[1,8]) -> (%y) {{
  %wq = const i4[{weight}] [{}]
  %ws = const f32[4] [0.01, 0.02, 0.03, 0.04]
  %wd = DequantizeLinear(%wq, %ws) {{axis={}}}
  %y = {op}
}}"#,
        vals.join(", "),
        if weight == "4,8" { 0 } else { 1 }
    )
}

#[test]
fn a_gemm_int4_weight_is_written_packed_behind_dequantize() {
    let g = Graph::parse(&net("4,8", "Gemm(%x, %wd) {transB=1}")).unwrap_or_else(|e| panic!("{e}"));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("w4.tflite");
    modelc_tflite::write(&Model::new(g, 21), &path, &Default::default())
        .unwrap_or_else(|e| panic!("{e}"));
    let bytes = std::fs::read(&path).unwrap();
    let m = fb::root_as_model(&bytes).unwrap();
    let codes = m.operator_codes().unwrap();
    let sg = m.subgraphs().unwrap().get(0);
    let tensors = sg.tensors().unwrap();
    let buffers = m.buffers().unwrap();
    let mut seen = false;
    for op in sg.operators().unwrap() {
        let code = codes.get(op.opcode_index() as usize).builtin_code();
        if code == fb::BuiltinOperator::DEQUANTIZE {
            let w = tensors.get(op.inputs().unwrap().get(0) as usize);
            assert_eq!(w.type_(), fb::TensorType::INT4);
            assert_eq!(w.shape().unwrap().iter().collect::<Vec<_>>(), [4, 8]);
            let q = w.quantization().unwrap();
            assert_eq!(q.scale().unwrap().len(), 4);
            assert_eq!(q.quantized_dimension(), 0);
            // 32 values, two per byte.
            let data = buffers.get(w.buffer() as usize).data().unwrap();
            assert_eq!(data.len(), 16);
            // -7 then -6: low nibble first.
            assert_eq!(data.get(0), 0xA9);
            seen = true;
        }
    }
    assert!(seen);
}

#[test]
fn a_matmul_int4_weight_to_transpose_is_refused_by_node() {
    let g = Graph::parse(&net("8,4", "MatMul(%x, %wd)")).unwrap_or_else(|e| panic!("{e}"));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("w4.tflite");
    let e = modelc_tflite::write(&Model::new(g, 21), &path, &Default::default())
        .expect_err("packed int4 [I, O] is not transposed")
        .to_string();
    assert!(e.contains("MatMul") && e.contains("4-bit weights"), "{e}");
    assert!(!path.exists());
}
