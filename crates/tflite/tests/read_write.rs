//! Reader and writer on hand-built and committed models: malformed files give one-line
//! errors, custom ops survive TFLite → TFLite, the written file has the TFLite conventions
//! (identifier, empty buffer 0, aligned buffers, signature, description), and the
//! offset-buffer form for big models reads back the same weights.

use std::path::Path;

use flatbuffers::FlatBufferBuilder;
use modelc_ir::{Op, TensorData};
use modelc_tflite::fb;

use crate::hand_built;

/// A tiny model: y = MyOp(x + c) with `c` constant f32[4] in buffer `const_buffer`.
fn tiny(version: u32, const_buffer: u32) -> Vec<u8> {
    let mut b = FlatBufferBuilder::new();
    let data: Vec<u8> = [1.0f32, 2.0, 3.0, 4.0]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    let data = b.create_vector(&data);
    let empty = fb::Buffer::create(&mut b, &fb::BufferArgs::default());
    let full = fb::Buffer::create(
        &mut b,
        &fb::BufferArgs {
            data: Some(data),
            ..Default::default()
        },
    );
    let mut tensors = Vec::new();
    for (name, buffer) in [("x", 0), ("c", const_buffer), ("s", 0), ("y", 0)] {
        let shape = b.create_vector(&[1i32, 4]);
        let name = b.create_string(name);
        tensors.push(fb::Tensor::create(
            &mut b,
            &fb::TensorArgs {
                shape: Some(shape),
                type_: fb::TensorType::FLOAT32,
                buffer,
                name: Some(name),
                ..Default::default()
            },
        ));
    }
    let add_opts = fb::AddOptions::create(&mut b, &fb::AddOptionsArgs::default());
    let (i0, o0) = (b.create_vector(&[0i32, 1]), b.create_vector(&[2i32]));
    let add = fb::Operator::create(
        &mut b,
        &fb::OperatorArgs {
            opcode_index: 0,
            inputs: Some(i0),
            outputs: Some(o0),
            builtin_options_type: fb::BuiltinOptions::AddOptions,
            builtin_options: Some(add_opts.as_union_value()),
            ..Default::default()
        },
    );
    let (i1, o1) = (b.create_vector(&[2i32]), b.create_vector(&[3i32]));
    let custom_opts = b.create_vector(&[7u8, 8, 9]);
    let custom = fb::Operator::create(
        &mut b,
        &fb::OperatorArgs {
            opcode_index: 1,
            inputs: Some(i1),
            outputs: Some(o1),
            custom_options: Some(custom_opts),
            ..Default::default()
        },
    );
    let add_code = fb::OperatorCode::create(
        &mut b,
        &fb::OperatorCodeArgs {
            builtin_code: fb::BuiltinOperator::ADD,
            version: 1,
            ..Default::default()
        },
    );
    let my_op = b.create_string("MyOp");
    let custom_code = fb::OperatorCode::create(
        &mut b,
        &fb::OperatorCodeArgs {
            builtin_code: fb::BuiltinOperator::CUSTOM,
            deprecated_builtin_code: 32,
            custom_code: Some(my_op),
            version: 1,
        },
    );
    hand_built::finish(
        b,
        hand_built::Parts {
            tensors: &tensors,
            operators: &[add, custom],
            inputs: &[0],
            outputs: &[3],
            codes: &[add_code, custom_code],
            buffers: &[empty, full],
            version,
            description: Some("hand-built"),
        },
    )
}

fn err(bytes: Vec<u8>) -> String {
    let e = modelc_tflite::decode(bytes.into()).unwrap_err().to_string();
    assert!(!e.contains('\n'), "{e}");
    e
}

#[test]
fn malformed_files_are_named() {
    assert_eq!(
        err(b"not a model".to_vec()),
        "not a TFLite flatbuffer: file identifier is \"a mo\", expected \"TFL3\""
    );
    assert_eq!(
        err(tiny(2, 1)),
        "unsupported TFLite schema version 2 (this reader knows version 3)"
    );
    assert_eq!(
        err(tiny(3, 9)),
        "tensor 1 `c`: buffer 9 is missing (the model has 2)"
    );
    // A vector length far past the end of the file.
    let mut huge = tiny(3, 1);
    let at = huge
        .windows(4)
        .position(|w| w == 16u32.to_le_bytes())
        .expect("the 16-byte data vector");
    huge[at..at + 4].copy_from_slice(&0x7fff_fff0u32.to_le_bytes());
    assert!(err(huge).starts_with("invalid TFLite flatbuffer"));
}

#[test]
fn custom_ops_survive_a_round_trip() {
    let model = modelc_tflite::decode(tiny(3, 1).into()).unwrap();
    assert_eq!(model.doc, "hand-built");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.tflite");
    modelc_tflite::write(&model, &path, &Default::default()).unwrap();
    let again = modelc_tflite::read(&path).unwrap();
    let g = &again.graph;
    let custom: Vec<_> = g
        .node_ids()
        .filter_map(|id| match &g.node(id).op {
            Op::Custom(c) => Some((c.domain.clone(), c.name.clone(), g.node(id).attrs.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(custom.len(), 1);
    assert_eq!(
        (custom[0].0.as_str(), custom[0].1.as_str()),
        ("tflite", "MyOp")
    );
    assert_eq!(
        custom[0].2.get("custom_options"),
        Some(&modelc_ir::Attr::String(bytes::Bytes::from_static(&[
            7, 8, 9
        ])))
    );
    assert_eq!(again.doc, "hand-built");
}

fn check_conventions(path: &Path) {
    let bytes = std::fs::read(path).unwrap();
    assert_eq!(&bytes[4..8], b"TFL3");
    let m = fb::root_as_model(&bytes).unwrap();
    assert_eq!(m.version(), 3);
    let buffers = m.buffers().unwrap();
    assert!(buffers.get(0).data().is_none_or(|d| d.is_empty()));
    for b in buffers.iter() {
        if let Some(d) = b.data() {
            if !d.is_empty() {
                let off = d.bytes().as_ptr() as usize - bytes.as_ptr() as usize;
                assert_eq!(off % 16, 0, "buffer data at {off} is not 16-byte aligned");
            }
        }
        if b.offset() > 1 {
            assert_eq!(b.offset() % 16, 0);
            assert!(b.offset() + b.size() <= bytes.len() as u64);
        }
    }
    let sig = m.signature_defs().unwrap().get(0);
    assert_eq!(sig.inputs().unwrap().len(), 1);
    assert_eq!(sig.outputs().unwrap().len(), 1);
}

fn weights(model: &modelc_ir::Model) -> Vec<bytes::Bytes> {
    let g = &model.graph;
    let mut w: Vec<_> = g
        .node_ids()
        .filter_map(|id| match &g.node(id).op {
            Op::Const(t) if t.dims.len() == 4 => match &t.data {
                TensorData::Raw(b) => Some(b.clone()),
                _ => None,
            },
            _ => None,
        })
        .collect();
    w.sort();
    w
}

#[test]
fn written_files_follow_the_conventions_inline_and_with_offset_buffers() {
    let src =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/tflite/small_cnn_int8.tflite");
    let model = modelc_tflite::read(&src).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let inline = dir.path().join("inline.tflite");
    modelc_tflite::write(&model, &inline, &Default::default()).unwrap();
    check_conventions(&inline);
    // Every tensor's data after the flatbuffer, as for models over 2 GB.
    let outside = dir.path().join("outside.tflite");
    modelc_tflite::write_with_inline_limit(&model, &outside, &Default::default(), 0).unwrap();
    check_conventions(&outside);
    let bytes = std::fs::read(&outside).unwrap();
    let m = fb::root_as_model(&bytes).unwrap();
    assert!(m.buffers().unwrap().iter().any(|b| b.offset() > 1));
    let a = modelc_tflite::read(&inline).unwrap();
    let b = modelc_tflite::read(&outside).unwrap();
    assert_eq!(weights(&a), weights(&b));
    assert_eq!(weights(&a), weights(&model));
    assert_eq!(a.graph.node_count(), b.graph.node_count());
}
