//! TFLite forms that shipped models use (MediaPipe's detectors and segmenters): sparse
//! constants read through DENSIFY, variable tensors read before any write, and the custom op
//! Convolution2DTransposeBias. The numeric check against LiteRT on the real files is
//! `cargo xtask corpus`; these hand-built files pin the decoding and its refusals.

use flatbuffers::{FlatBufferBuilder, UnionWIPOffset, WIPOffset};
use modelc_ir::{Model, OnnxOp, Op, ValueRef};
use modelc_tflite::fb;

use crate::hand_built;

enum Dim {
    Dense(i32),
    /// array_segments, array_indices.
    Csr(Vec<i32>, Vec<i32>),
}

struct Sparse {
    order: Vec<i32>,
    block_map: Vec<i32>,
    dims: Vec<Dim>,
}

#[derive(Default)]
struct T {
    name: &'static str,
    shape: Vec<i32>,
    data: Option<Vec<u8>>,
    sparse: Option<Sparse>,
    variable: bool,
}

struct OpSpec {
    code: fb::BuiltinOperator,
    custom: Option<&'static str>,
    inputs: Vec<i32>,
    outputs: Vec<i32>,
    custom_options: Vec<u8>,
}

fn f32s(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn int_vector(b: &mut FlatBufferBuilder, v: &[i32]) -> WIPOffset<UnionWIPOffset> {
    let values = b.create_vector(v);
    fb::Int32Vector::create(
        b,
        &fb::Int32VectorArgs {
            values: Some(values),
        },
    )
    .as_union_value()
}

fn build(tensors: &[T], ops: &[OpSpec], inputs: &[i32], outputs: &[i32]) -> Vec<u8> {
    let mut b = FlatBufferBuilder::new();
    let mut buffers = vec![fb::Buffer::create(&mut b, &fb::BufferArgs::default())];
    let mut ts = Vec::new();
    for t in tensors {
        let buffer = match &t.data {
            Some(d) => {
                let data = b.create_vector(d);
                buffers.push(fb::Buffer::create(
                    &mut b,
                    &fb::BufferArgs {
                        data: Some(data),
                        ..Default::default()
                    },
                ));
                buffers.len() as u32 - 1
            }
            None => 0,
        };
        let sparsity = t.sparse.as_ref().map(|s| {
            let mut dims = Vec::new();
            for d in &s.dims {
                let args = match d {
                    Dim::Dense(n) => fb::DimensionMetadataArgs {
                        format: fb::DimensionType::DENSE,
                        dense_size: *n,
                        ..Default::default()
                    },
                    Dim::Csr(seg, idx) => fb::DimensionMetadataArgs {
                        format: fb::DimensionType::SPARSE_CSR,
                        array_segments_type: fb::SparseIndexVector::Int32Vector,
                        array_segments: Some(int_vector(&mut b, seg)),
                        array_indices_type: fb::SparseIndexVector::Int32Vector,
                        array_indices: Some(int_vector(&mut b, idx)),
                        ..Default::default()
                    },
                };
                dims.push(fb::DimensionMetadata::create(&mut b, &args));
            }
            let (order, block_map) = (b.create_vector(&s.order), b.create_vector(&s.block_map));
            let dim_metadata = b.create_vector(&dims);
            fb::SparsityParameters::create(
                &mut b,
                &fb::SparsityParametersArgs {
                    traversal_order: Some(order),
                    block_map: Some(block_map),
                    dim_metadata: Some(dim_metadata),
                },
            )
        });
        let shape = b.create_vector(&t.shape);
        let name = b.create_string(t.name);
        ts.push(fb::Tensor::create(
            &mut b,
            &fb::TensorArgs {
                shape: Some(shape),
                type_: fb::TensorType::FLOAT32,
                buffer,
                name: Some(name),
                is_variable: t.variable,
                sparsity,
                ..Default::default()
            },
        ));
    }
    let mut codes = Vec::new();
    let mut operators = Vec::new();
    for (i, op) in ops.iter().enumerate() {
        let custom = op.custom.map(|c| b.create_string(c));
        codes.push(fb::OperatorCode::create(
            &mut b,
            &fb::OperatorCodeArgs {
                builtin_code: op.code,
                deprecated_builtin_code: op.code.0.min(127) as i8,
                custom_code: custom,
                version: 1,
            },
        ));
        let (ins, outs) = (b.create_vector(&op.inputs), b.create_vector(&op.outputs));
        let custom_options = op
            .custom
            .is_some()
            .then(|| b.create_vector(&op.custom_options));
        operators.push(fb::Operator::create(
            &mut b,
            &fb::OperatorArgs {
                opcode_index: i as u32,
                inputs: Some(ins),
                outputs: Some(outs),
                custom_options,
                ..Default::default()
            },
        ));
    }
    hand_built::finish(
        b,
        hand_built::Parts {
            tensors: &ts,
            operators: &operators,
            inputs,
            outputs,
            codes: &codes,
            buffers: &buffers,
            version: 3,
            description: None,
        },
    )
}

fn decode(bytes: Vec<u8>) -> Result<Model, String> {
    modelc_tflite::decode(bytes.into()).map_err(|e| {
        let e = e.to_string();
        assert!(!e.contains('\n'), "{e}");
        e
    })
}

/// The contents of the constant graph output `i`.
fn output_const(m: &Model, i: usize) -> Vec<f32> {
    let ValueRef { node, .. } = m.graph.outputs()[i];
    let Op::Const(t) = &m.graph.node(node).op else {
        panic!("output {i} is {:?}, not a constant", m.graph.node(node).op);
    };
    t.raw()
        .unwrap()
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect()
}

/// DENSIFY(sparse constant) as the model's output.
fn densify_model(shape: Vec<i32>, sparse: Sparse, values: &[f32]) -> Vec<u8> {
    build(
        &[
            T {
                name: "w_sparse",
                shape: shape.clone(),
                data: Some(f32s(values)),
                sparse: Some(sparse),
                ..Default::default()
            },
            T {
                name: "w",
                shape,
                ..Default::default()
            },
        ],
        &[OpSpec {
            code: fb::BuiltinOperator::DENSIFY,
            custom: None,
            inputs: vec![0],
            outputs: vec![1],
            custom_options: vec![],
        }],
        &[],
        &[1],
    )
}

#[test]
fn csr_sparse_constants_become_dense() {
    // Rows dense, columns CSR: [[1 0 0 2] [0 0 3 0] [0 0 0 0] [4 5 0 0]].
    let m = decode(densify_model(
        vec![4, 4],
        Sparse {
            order: vec![0, 1],
            block_map: vec![],
            dims: vec![
                Dim::Dense(4),
                Dim::Csr(vec![0, 2, 3, 3, 5], vec![0, 3, 2, 0, 1]),
            ],
        },
        &[1.0, 2.0, 3.0, 4.0, 5.0],
    ))
    .unwrap();
    #[rustfmt::skip]
    let want = [1.0, 0.0, 0.0, 2.0, 0.0, 0.0, 3.0, 0.0, 0.0, 0.0, 0.0, 0.0, 4.0, 5.0, 0.0, 0.0];
    assert_eq!(output_const(&m, 0), want);
}

#[test]
fn block_sparse_constants_become_dense() {
    // Columns in blocks of 2 (block_map [1]): rows dense, column blocks CSR, the block dense.
    // [[1 2 0 0] [0 0 3 4] [0 0 0 0] [5 6 7 8]].
    let m = decode(densify_model(
        vec![4, 4],
        Sparse {
            order: vec![0, 1, 2],
            block_map: vec![1],
            dims: vec![
                Dim::Dense(4),
                Dim::Csr(vec![0, 1, 2, 2, 4], vec![0, 1, 0, 1]),
                Dim::Dense(2),
            ],
        },
        &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0],
    ))
    .unwrap();
    #[rustfmt::skip]
    let want = [1.0, 2.0, 0.0, 0.0, 0.0, 0.0, 3.0, 4.0, 0.0, 0.0, 0.0, 0.0, 5.0, 6.0, 7.0, 8.0];
    assert_eq!(output_const(&m, 0), want);
}

#[test]
fn malformed_sparse_constants_are_named() {
    let csr = |seg: Vec<i32>, idx: Vec<i32>| Sparse {
        order: vec![0, 1],
        block_map: vec![],
        dims: vec![Dim::Dense(4), Dim::Csr(seg, idx)],
    };
    let err =
        |sparse, values: &[f32]| decode(densify_model(vec![4, 4], sparse, values)).unwrap_err();
    assert_eq!(
        err(csr(vec![0, 1, 1, 1, 1], vec![9]), &[1.0]),
        "tensor 0 `w_sparse`: sparse tensor: index 9 in a level of size 4"
    );
    assert_eq!(
        err(csr(vec![0, 2, 2, 2, 2], vec![0, 1]), &[1.0]),
        "tensor 0 `w_sparse`: sparse tensor: the buffer holds 1 values, the indices address more"
    );
    assert_eq!(
        err(csr(vec![0, 1], vec![0]), &[1.0]),
        "tensor 0 `w_sparse`: sparse tensor: array_segments has 2 entries, position 1 needs more"
    );
    let wrong_order = Sparse {
        order: vec![1, 1],
        block_map: vec![],
        dims: vec![Dim::Dense(4), Dim::Dense(4)],
    };
    assert_eq!(
        err(wrong_order, &[0.0; 16]),
        "tensor 0 `w_sparse`: sparse tensor: traversal order [1, 1] is not the 2 dimensions then the blocks"
    );
    // A small buffer must not stand for a huge dense tensor.
    let huge = Sparse {
        order: vec![0, 1],
        block_map: vec![],
        dims: vec![
            Dim::Dense(1 << 14),
            Dim::Csr(vec![0; (1 << 14) + 1], vec![]),
        ],
    };
    let e = decode(densify_model(vec![1 << 14, 1 << 16], huge, &[])).unwrap_err();
    assert!(e.contains("exceeds the limit"), "{e}");
}

#[test]
fn a_variable_tensor_read_before_any_write_starts_as_zeros() {
    let model = |variable| {
        build(
            &[T {
                name: "state",
                shape: vec![1, 3],
                variable,
                ..Default::default()
            }],
            &[],
            &[],
            &[0],
        )
    };
    assert_eq!(output_const(&decode(model(true)).unwrap(), 0), [0.0; 3]);
    assert_eq!(
        decode(model(false)).unwrap_err(),
        "tensor 0 `state`: is read before any operator writes it (and is not a variable tensor)"
    );
}

/// MediaPipe's transposed convolution with bias on a 1x3x3x2 input, 2x2 filter to 4
/// channels, with the given padding (1 SAME, 2 VALID) and stride 2.
fn transpose_conv_bias(padding: i32, options_len: usize) -> Vec<u8> {
    let opts: Vec<u8> = [padding, 2, 2]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .take(options_len)
        .collect();
    build(
        &[
            T {
                name: "x",
                shape: vec![1, 3, 3, 2],
                ..Default::default()
            },
            T {
                name: "w",
                shape: vec![4, 2, 2, 2],
                data: Some(f32s(&[0.5; 32])),
                ..Default::default()
            },
            T {
                name: "b",
                shape: vec![4],
                data: Some(f32s(&[1.0, 2.0, 3.0, 4.0])),
                ..Default::default()
            },
            T {
                name: "y",
                shape: vec![1, 6, 6, 4],
                ..Default::default()
            },
        ],
        &[OpSpec {
            code: fb::BuiltinOperator::CUSTOM,
            custom: Some("Convolution2DTransposeBias"),
            inputs: vec![0, 1, 2],
            outputs: vec![3],
            custom_options: opts,
        }],
        &[0],
        &[3],
    )
}

#[test]
fn convolution_2d_transpose_bias_becomes_conv_transpose() {
    let m = decode(transpose_conv_bias(1, 12)).unwrap();
    let node = m.graph.node(m.graph.outputs()[0].node);
    assert_eq!(node.op, Op::Onnx(OnnxOp::ConvTranspose));
    assert_eq!(node.num_inputs, 3);
    assert_eq!(node.ints("strides").unwrap(), [2, 2]);
    // SAME: P = max(0, k - (in - 1) % s - 1) = 1 on each axis, 0 before and 1 after.
    assert_eq!(node.ints("pads").unwrap(), [0, 0, 1, 1]);
    assert!(!m.opset_imports.iter().any(|o| o.domain == "tflite"));
    let valid = decode(transpose_conv_bias(2, 12)).unwrap();
    let node = valid.graph.node(valid.graph.outputs()[0].node);
    assert_eq!(node.ints("pads").unwrap(), [0, 0, 0, 0]);

    assert_eq!(
        decode(transpose_conv_bias(1, 8)).unwrap_err(),
        "custom op `Convolution2DTransposeBias` #0: custom options are 8 bytes, expected 12 (padding, strides)"
    );
    assert_eq!(
        decode(transpose_conv_bias(7, 12)).unwrap_err(),
        "custom op `Convolution2DTransposeBias` #0: padding 7 (expected 1 = SAME or 2 = VALID)"
    );
}

/// MediaPipe's MaxPoolingWithArgmax2D (2x2, stride 2, SAME) on a 1x4x4x2 input, with
/// `options_len` bytes of its TfLitePoolParams options. (Numbers against torch, in
/// onnxruntime and LiteRT: tests/tflite_mediapipe_pool.py.)
fn max_pool_argmax(options_len: usize) -> Vec<u8> {
    let opts: Vec<u8> = [1i32, 2, 2, 2, 2, 0, 0, 0, 0, 0]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .take(options_len)
        .collect();
    let t = |name, shape: Vec<i32>| T {
        name,
        shape,
        ..Default::default()
    };
    build(
        &[
            t("x", vec![1, 4, 4, 2]),
            t("values", vec![1, 2, 2, 2]),
            t("indices", vec![1, 2, 2, 2]),
        ],
        &[OpSpec {
            code: fb::BuiltinOperator::CUSTOM,
            custom: Some("MaxPoolingWithArgmax2D"),
            inputs: vec![0],
            outputs: vec![1, 2],
            custom_options: opts,
        }],
        &[0],
        &[1, 2],
    )
}

#[test]
fn max_pooling_with_argmax_becomes_standard_ops() {
    let m = decode(max_pool_argmax(40)).unwrap();
    let values = m.graph.node(m.graph.outputs()[0].node);
    assert_eq!(values.op, Op::Onnx(OnnxOp::MaxPool));
    let indices = m.graph.node(m.graph.outputs()[1].node);
    assert_eq!(indices.op, Op::Onnx(OnnxOp::Where));
    assert!(!m.opset_imports.iter().any(|o| o.domain == "tflite"));
    assert_eq!(
        decode(max_pool_argmax(20)).unwrap_err(),
        "custom op `MaxPoolingWithArgmax2D` #0: custom options are 20 bytes, expected at least 24 (TfLitePoolParams)"
    );
}

#[test]
fn a_variable_tensor_written_after_it_is_read_gives_later_readers_the_new_value() {
    let relu = |i: i32, o: i32| OpSpec {
        code: fb::BuiltinOperator::RELU,
        custom: None,
        inputs: vec![i],
        outputs: vec![o],
        custom_options: vec![],
    };
    let t = |name, variable| T {
        name,
        shape: vec![1, 3],
        variable,
        ..Default::default()
    };
    // before = relu(state); state = relu(x); after = relu(state).
    let m = decode(build(
        &[
            t("x", false),
            t("state", true),
            t("before", false),
            t("after", false),
        ],
        &[relu(1, 2), relu(0, 1), relu(1, 3)],
        &[0],
        &[2, 3],
    ))
    .unwrap();
    let g = &m.graph;
    let feeds = |out: usize| {
        let relu = g.outputs()[out].node;
        g.node(g.input(relu, 0).unwrap().node).op.clone()
    };
    assert!(matches!(feeds(0), Op::Const(_)), "{:?}", feeds(0));
    assert_eq!(feeds(1), Op::Onnx(OnnxOp::Relu));
}

#[test]
fn byte_flips_of_shipped_forms_never_panic() {
    let sparse = densify_model(
        vec![4, 4],
        Sparse {
            order: vec![0, 1, 2],
            block_map: vec![1],
            dims: vec![
                Dim::Dense(4),
                Dim::Csr(vec![0, 1, 2, 2, 4], vec![0, 1, 0, 1]),
                Dim::Dense(2),
            ],
        },
        &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0],
    );
    for (name, bytes) in [
        ("sparse", sparse),
        ("transpose_conv_bias", transpose_conv_bias(1, 12)),
        ("max_pool_argmax", max_pool_argmax(40)),
    ] {
        decode(bytes.clone()).unwrap();
        for at in 0..bytes.len() {
            for flip in [0x01u8, 0x80, 0xff] {
                let mut b = bytes.clone();
                b[at] ^= flip;
                let result = std::panic::catch_unwind(|| modelc_tflite::decode(b.into()));
                match result {
                    Ok(Ok(_)) => {}
                    Ok(Err(e)) => assert!(!e.to_string().contains('\n'), "{name} @{at}: {e}"),
                    Err(_) => panic!("{name}: flipping byte {at} by {flip:#x} panicked"),
                }
            }
        }
    }
}
