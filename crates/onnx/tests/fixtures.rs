//! Round trips and hostile inputs on the small committed fixtures in `testdata/`.

use std::path::{Path, PathBuf};

use modelc_ir::{Attr, Op};
use modelc_onnx::{decode, encode, read, write, ExternalData, OnnxError, WriteOptions};

fn testdata(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata")
        .join(rel)
}

/// read → encode → decode gives the same IR, and encoding that again gives the same bytes.
fn assert_round_trip(rel: &str) -> modelc_ir::Model {
    let path = testdata(rel);
    let first = read(&path).unwrap_or_else(|e| panic!("{rel}: {e}"));
    let bytes = encode(&first).unwrap();
    let second = decode(bytes.clone().into(), path.parent()).unwrap();
    assert!(
        first == second,
        "{rel}: IR differs after an ONNX round trip"
    );
    assert_eq!(
        encode(&second).unwrap(),
        bytes,
        "{rel}: encoding is not deterministic"
    );
    first
}

#[test]
fn tiny_cnn_keeps_metadata_docs_and_value_info() {
    let m = assert_round_trip("models/tiny_cnn.onnx");
    assert!(!m.meta.is_empty(), "metadata_props lost");
    assert!(
        m.graph
            .node_ids()
            .any(|id| !m.graph.node(id).doc.is_empty()),
        "doc strings lost"
    );
    let typed_intermediates = m
        .graph
        .node_ids()
        .filter(|&id| matches!(m.graph.node(id).op, Op::Onnx(_)))
        .flat_map(|id| m.graph.node(id).outputs.iter())
        .filter(|v| v.ty.is_some())
        .count();
    assert!(typed_intermediates > 0, "value_info lost");
}

#[test]
fn sub_graphs_read_outer_values_through_captures() {
    let m = assert_round_trip("models/if_loop.onnx");
    let owners: Vec<_> = m
        .graph
        .node_ids()
        .filter(|&id| m.graph.node(id).subgraphs().next().is_some())
        .collect();
    assert!(!owners.is_empty());
    let captured: usize = owners.iter().map(|&id| m.graph.captures_of(id).len()).sum();
    assert!(
        captured > 0,
        "the Loop body reads an outer value, so its node must capture it"
    );
    modelc_ir::validate::validate_model(&m).unwrap();
}

#[test]
fn functions_custom_ops_sparse_and_small_types_survive() {
    let m = assert_round_trip("models/local_function.onnx");
    assert!(!m.functions.is_empty(), "local functions lost");
    let m = assert_round_trip("models/custom_op.onnx");
    let custom = m
        .graph
        .node_ids()
        .map(|id| m.graph.node(id))
        .find(|n| matches!(&n.op, Op::Custom(c) if c.domain == "com.example"))
        .expect("custom op kept");
    assert!(custom
        .attrs
        .iter()
        .any(|e| matches!(e.value, Attr::Graph(_))));
    let m = assert_round_trip("models/sparse_init.onnx");
    assert!(m
        .graph
        .node_ids()
        .any(|id| matches!(m.graph.node(id).op, Op::SparseConst(_))));
    assert_round_trip("models/fp16_bf16.onnx");
}

#[test]
fn external_data_is_read_and_can_be_written() {
    let m = assert_round_trip("models/external_data/model.onnx");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.onnx");
    let opts = WriteOptions {
        external_data: ExternalData::Always,
        external_threshold: 16,
        ..WriteOptions::default()
    };
    write(&m, &out, &opts).unwrap();
    assert!(dir.path().join("out.onnx.data").exists());
    let back = read(&out).unwrap();
    assert!(back == m, "external data written and read back differs");
    // Inline again: the same model.
    let inline = dir.path().join("inline.onnx");
    write(&back, &inline, &WriteOptions::default()).unwrap();
    assert!(read(&inline).unwrap() == m);
}

fn read_err(rel: &str) -> String {
    match read(&testdata(rel)) {
        Ok(_) => panic!("{rel} was accepted"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn hostile_files_are_clear_errors() {
    let truncated = read_err("bad/truncated.onnx");
    assert!(
        truncated.starts_with("not a valid ONNX protobuf"),
        "{truncated}"
    );
    let garbage = read_err("bad/garbage.onnx");
    assert!(
        garbage.starts_with("not a valid ONNX protobuf") || garbage.contains("never defined"),
        "{garbage}"
    );
    let escape = read_err("bad/escape_external/model.onnx");
    assert!(escape.contains("leaves the model's directory"), "{escape}");
    let huge = read_err("bad/huge_dims.onnx");
    assert!(
        huge.contains("needs") || huge.contains("data values"),
        "{huge}"
    );
}

#[test]
fn external_data_cannot_be_resolved_without_a_directory() {
    let bytes = std::fs::read(testdata("models/external_data/model.onnx")).unwrap();
    match decode(bytes.into(), None) {
        Err(OnnxError::ExternalData { message, .. }) => {
            assert!(message.contains("from memory"), "{message}")
        }
        other => panic!("expected an external-data error, got {other:?}"),
    }
}

#[test]
fn absolute_and_symlinked_external_paths_are_refused() {
    let m = read(&testdata("models/external_data/model.onnx")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let inner = dir.path().join("inner");
    std::fs::create_dir(&inner).unwrap();
    let model_path = inner.join("m.onnx");
    write(
        &m,
        &model_path,
        &WriteOptions {
            external_data: ExternalData::Always,
            external_threshold: 16,
            ..WriteOptions::default()
        },
    )
    .unwrap();
    // Replace the data file by a link to a file outside the model's directory.
    let outside = dir.path().join("outside.bin");
    std::fs::rename(inner.join("m.onnx.data"), &outside).unwrap();
    std::os::unix::fs::symlink(&outside, inner.join("m.onnx.data")).unwrap();
    let err = read(&model_path).unwrap_err().to_string();
    assert!(
        err.contains("leaves the model's directory (through a link)"),
        "{err}"
    );
}

/// A model whose weights exceed protobuf's 2 GB limit is written with external data
/// automatically and reads back the same (weights memory-mapped, not copied).
#[test]
fn models_over_two_gigabytes_go_external_automatically() {
    use modelc_ir::{DType, Graph, Model, Node, OnnxOp, Tensor, Value, ValueRef, ValueType};
    let n: u64 = (1 << 31) + (64 << 20); // 2.06 GiB of f32 zeros
    let mut g = Graph::new("big");
    let x = g.add_input(Value::typed(
        "x",
        ValueType::tensor(DType::F32, &[n / 4]).into(),
    ));
    let w = g.add_const(
        "w",
        Tensor::from_raw(DType::F32, vec![n / 4], vec![0u8; n as usize].into()).unwrap(),
    );
    let add = g.add_node(Node::new(
        modelc_ir::Op::Onnx(OnnxOp::Add),
        2,
        vec![Value::named("y")],
    ));
    g.connect(ValueRef::new(x, 0), add, 0);
    g.connect(ValueRef::new(w, 0), add, 1);
    g.push_output(ValueRef::new(add, 0));
    let m = Model::new(g, 17);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("big.onnx");
    write(&m, &out, &WriteOptions::default()).unwrap();
    let model_len = std::fs::metadata(&out).unwrap().len();
    let data_len = std::fs::metadata(dir.path().join("big.onnx.data"))
        .unwrap()
        .len();
    assert!(
        model_len < 4096,
        "the model file holds only the graph ({model_len} bytes)"
    );
    assert_eq!(data_len, n);
    assert!(read(&out).unwrap() == m);
    // Refusing to inline it is an error, not a corrupt file.
    let err = write(
        &m,
        &dir.path().join("inline.onnx"),
        &WriteOptions {
            external_data: ExternalData::Never,
            ..WriteOptions::default()
        },
    )
    .unwrap_err();
    assert!(err.to_string().contains("external data"), "{err}");
    assert!(!dir.path().join("inline.onnx").exists());
}
