//! LSTM export and import: an ONNX `LSTM` becomes UNIDIRECTIONAL_SEQUENCE_LSTM with TFLite's
//! 24 inputs (gates split and reordered, biases added, variable state tensors) and reads back
//! as the same ONNX weights; reverse and bidirectional LSTMs, torch's batch_first form (batch
//! major, no TRANSPOSE) and float16 weights; what TFLite cannot express is refused with the
//! reason; malformed or unsupported TFLite LSTMs give one-line errors naming the op and the
//! problem, and a byte-flip sweep of a written LSTM file never panics. (Numbers against
//! LiteRT and onnxruntime: tests/tflite_interop.py.)

use bytes::Bytes;
use flatbuffers::FlatBufferBuilder;
use modelc_ir::{
    Attr, Attrs, DType, Dim, Graph, Model, Node, OnnxOp, Op, Shape, Tensor, TensorType, Value,
    ValueRef, ValueType,
};
use modelc_tflite::fb;

use crate::hand_built;

const SEQ: u64 = 3;
const BATCH: u64 = 2;
const IN: u64 = 4;
const H: u64 = 5;

/// Deterministic values: element k of tensor `seed` is distinct from every other's.
fn values(n: u64, seed: u64) -> Vec<f32> {
    (0..n).map(|k| (seed * 1000 + k) as f32 / 1000.0).collect()
}

fn floats(t: &Tensor) -> Vec<f32> {
    t.raw()
        .unwrap()
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect()
}

struct Spec {
    direction: &'static str,
    peepholes: bool,
    /// initial_h contents (all of it), when given.
    initial_h: Option<f32>,
    read_y_c: bool,
}

const DEFAULT: Spec = Spec {
    direction: "forward",
    peepholes: true,
    initial_h: Some(0.0),
    read_y_c: false,
};

/// x: f32[SEQ, BATCH, IN] → LSTM → (Y, Y_h[, Y_c]).
fn lstm_model(s: &Spec) -> (Model, [Vec<f32>; 4]) {
    let nd = if s.direction == "bidirectional" { 2 } else { 1 };
    let mut g = Graph::new("main");
    let ty = ValueType::Tensor(TensorType {
        dtype: Some(DType::F32),
        shape: Some(Shape(vec![
            Dim::Known(SEQ),
            Dim::Known(BATCH),
            Dim::Known(IN),
        ])),
    });
    let x = g.add_input(Value::typed("x", ty.into()));
    let w = values(nd * 4 * H * IN, 1);
    let r = values(nd * 4 * H * H, 2);
    let b = values(nd * 8 * H, 3);
    let p = values(nd * 3 * H, 4);
    let c = |g: &mut Graph, name: &str, dims: Vec<u64>, v: &[f32]| {
        ValueRef::new(g.add_const(name, Tensor::from_f32(dims, v).unwrap()), 0)
    };
    let mut ins = vec![
        (0, ValueRef::new(x, 0)),
        (1, c(&mut g, "W", vec![nd, 4 * H, IN], &w)),
        (2, c(&mut g, "R", vec![nd, 4 * H, H], &r)),
        (3, c(&mut g, "B", vec![nd, 8 * H], &b)),
    ];
    if let Some(v) = s.initial_h {
        let n = (nd * BATCH * H) as usize;
        ins.push((5, c(&mut g, "h0", vec![nd, BATCH, H], &vec![v; n])));
    }
    if s.peepholes {
        ins.push((7, c(&mut g, "P", vec![nd, 3 * H], &p)));
    }
    let attrs: Attrs = [
        ("hidden_size".to_string(), Attr::Int(H as i64)),
        (
            "direction".to_string(),
            Attr::String(Bytes::from_static(s.direction.as_bytes())),
        ),
    ]
    .into_iter()
    .collect();
    let node = Node::new(
        Op::Onnx(OnnxOp::LSTM),
        8,
        vec![Value::named("y"), Value::named("y_h"), Value::named("y_c")],
    )
    .with_name("lstm")
    .with_attrs(attrs);
    let id = g.add_node(node);
    g.connect_inputs(id, ins);
    let mut outs = vec![ValueRef::new(id, 0), ValueRef::new(id, 1)];
    if s.read_y_c {
        outs.push(ValueRef::new(id, 2));
    }
    g.set_outputs(outs);
    (Model::new(g, 17), [w, r, b, p])
}

fn write(m: &Model) -> Result<Vec<u8>, String> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lstm.tflite");
    modelc_tflite::write(m, &path, &Default::default()).map_err(|e| e.to_string())?;
    Ok(std::fs::read(&path).unwrap())
}

/// The float contents of tensor `t` of subgraph 0.
fn tensor_data(m: &fb::Model, t: i32) -> Vec<f32> {
    let sg = m.subgraphs().unwrap().get(0);
    let tensor = sg.tensors().unwrap().get(t as usize);
    let buf = m.buffers().unwrap().get(tensor.buffer() as usize);
    buf.data()
        .map(|d| {
            d.bytes()
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
                .collect()
        })
        .unwrap_or_default()
}

fn rows(v: &[f32], from: u64, n: u64, cols: u64) -> Vec<f32> {
    v[(from * cols) as usize..((from + n) * cols) as usize].to_vec()
}

#[test]
fn exports_tflite_lstm_layout() {
    let (model, [w, r, b, p]) = lstm_model(&DEFAULT);
    let bytes = write(&model).unwrap();
    let m = fb::root_as_model(&bytes).unwrap();
    let sg = m.subgraphs().unwrap().get(0);
    let ops = sg.operators().unwrap();
    let codes = m.operator_codes().unwrap();
    let names: Vec<_> = ops
        .iter()
        .map(|o| {
            codes
                .get(o.opcode_index() as usize)
                .builtin_code()
                .variant_name()
                .unwrap()
        })
        .collect();
    // Y (a RESHAPE adds the direction axis) and Y_h (the last step).
    assert_eq!(
        names,
        ["UNIDIRECTIONAL_SEQUENCE_LSTM", "RESHAPE", "STRIDED_SLICE"]
    );
    let op = ops.get(0);
    let ins: Vec<i32> = op.inputs().unwrap().iter().collect();
    assert_eq!(ins.len(), 24);
    for absent in [16, 17, 20, 21, 22, 23] {
        assert_eq!(ins[absent], -1, "input {absent}");
    }
    let o = op
        .builtin_options_as_unidirectional_sequence_lstmoptions()
        .unwrap();
    assert_eq!(
        o.fused_activation_function(),
        fb::ActivationFunctionType::TANH
    );
    assert!(o.time_major());
    assert_eq!((o.cell_clip(), o.proj_clip()), (0.0, 0.0));
    assert!(!o.asymmetric_quantize_inputs());
    // State: variable tensors without data, [batch, hidden].
    let tensors = sg.tensors().unwrap();
    for s in [18, 19] {
        let t = tensors.get(ins[s] as usize);
        assert!(t.is_variable(), "input {s} is not variable");
        assert!(tensor_data(&m, ins[s]).is_empty());
        assert_eq!(
            t.shape().unwrap().iter().collect::<Vec<_>>(),
            [BATCH as i32, H as i32]
        );
    }
    // ONNX gates i, o, f, c → TFLite i, f, c, o; the two ONNX biases added.
    for (k, onnx_gate) in [0u64, 2, 3, 1].into_iter().enumerate() {
        assert_eq!(
            tensor_data(&m, ins[1 + k]),
            rows(&w, onnx_gate * H, H, IN),
            "input_to weights {k}"
        );
        assert_eq!(
            tensor_data(&m, ins[5 + k]),
            rows(&r, onnx_gate * H, H, H),
            "recurrent_to weights {k}"
        );
        let bias: Vec<f32> = (0..H as usize)
            .map(|j| b[(onnx_gate * H) as usize + j] + b[((4 + onnx_gate) * H) as usize + j])
            .collect();
        assert_eq!(tensor_data(&m, ins[12 + k]), bias, "bias {k}");
    }
    // Peepholes: ONNX i, o, f → TFLite cell_to_input, cell_to_forget, cell_to_output.
    for (k, onnx_gate) in [0u64, 2, 1].into_iter().enumerate() {
        assert_eq!(
            tensor_data(&m, ins[9 + k]),
            rows(&p, onnx_gate, 1, H),
            "peephole {k}"
        );
    }
}

#[test]
fn imports_back_to_the_same_onnx_weights() {
    let (model, [w, r, b, p]) = lstm_model(&DEFAULT);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lstm.tflite");
    modelc_tflite::write(&model, &path, &Default::default()).unwrap();
    let back = modelc_tflite::read(&path).unwrap();
    let g = &back.graph;
    let lstm: Vec<_> = g
        .node_ids()
        .filter(|&id| g.node(id).op.onnx() == Some(OnnxOp::LSTM))
        .collect();
    assert_eq!(lstm.len(), 1);
    let id = lstm[0];
    let input = |i: usize| match g.input(id, i) {
        Some(v) => match &g.node(v.node).op {
            Op::Const(t) => Some(floats(t)),
            other => panic!("input {i} is {other:?}"),
        },
        None => None,
    };
    assert_eq!(input(1).unwrap(), w);
    assert_eq!(input(2).unwrap(), r);
    // TFLite has one bias per gate: W's half is the sum, R's half zero.
    let sum: Vec<f32> = (0..(4 * H) as usize)
        .map(|j| b[j] + b[(4 * H) as usize + j])
        .collect();
    let mut want = sum;
    want.resize((8 * H) as usize, 0.0);
    assert_eq!(input(3).unwrap(), want);
    assert_eq!(input(7).unwrap(), p);
    // The variable state tensors are the zero initial state.
    assert!(g.input(id, 5).is_none() && g.input(id, 6).is_none());
    assert_eq!(g.node(id).attrs.int("hidden_size", 0).unwrap(), H as i64);
}

#[test]
fn what_tflite_cannot_express_is_refused_with_the_reason() {
    // Y_c read and W not a constant: neither the fused kernel nor the unrolled cell.
    let (mut m, _) = lstm_model(&Spec {
        read_y_c: true,
        ..DEFAULT
    });
    let g = &mut m.graph;
    let lstm = g
        .node_ids()
        .find(|&id| g.node(id).op.onnx() == Some(OnnxOp::LSTM))
        .unwrap();
    let ty = ValueType::tensor(DType::F32, &[1, 4 * H, IN]);
    let w = g.add_input(Value::typed("w_in", ty.into()));
    g.connect(ValueRef::new(w, 0), lstm, 1);
    let e = write(&m).unwrap_err();
    assert!(!e.contains('\n'), "{e}");
    assert!(e.contains("LSTM \"lstm\"") && e.contains("Y_c"), "{e}");
    assert!(e.contains("could not unroll"), "{e}");
}

#[test]
fn a_state_input_or_a_read_cell_state_unrolls_the_cell() {
    for spec in [
        Spec {
            read_y_c: true,
            ..DEFAULT
        },
        Spec {
            initial_h: Some(1.0),
            ..DEFAULT
        },
    ] {
        let (m, _) = lstm_model(&spec);
        let bytes = write(&m).unwrap();
        let ops = crate::control::op_names(&fb::root_as_model(&bytes).unwrap(), 0);
        assert!(
            !ops.iter().any(|o| o == "UNIDIRECTIONAL_SEQUENCE_LSTM"),
            "{ops:?}"
        );
        // Per step: one recurrent product, three sigmoids, two tanh.
        let count = |name: &str| ops.iter().filter(|o| *o == name).count();
        assert_eq!(count("LOGISTIC"), 3 * SEQ as usize, "{ops:?}");
        assert_eq!(count("TANH"), 2 * SEQ as usize, "{ops:?}");
    }
}

#[test]
fn bidirectional_and_reverse_export() {
    for (direction, lstms, reverses) in [("reverse", 1, 2), ("bidirectional", 2, 2)] {
        let (m, _) = lstm_model(&Spec {
            direction,
            peepholes: false,
            initial_h: None,
            read_y_c: false,
        });
        let bytes = write(&m).unwrap();
        let m = fb::root_as_model(&bytes).unwrap();
        let codes = m.operator_codes().unwrap();
        let ops = m.subgraphs().unwrap().get(0).operators().unwrap();
        let count = |c: fb::BuiltinOperator| {
            ops.iter()
                .filter(|o| codes.get(o.opcode_index() as usize).builtin_code() == c)
                .count()
        };
        assert_eq!(
            count(fb::BuiltinOperator::UNIDIRECTIONAL_SEQUENCE_LSTM),
            lstms,
            "{direction}"
        );
        assert_eq!(
            count(fb::BuiltinOperator::REVERSE_V2),
            reverses,
            "{direction}"
        );
        for o in ops.iter() {
            if let Some(ins) = o.inputs() {
                if ins.len() == 24 {
                    // No peepholes: cell_to_* absent.
                    assert_eq!(ins.iter().skip(9).take(3).collect::<Vec<_>>(), [-1; 3]);
                }
            }
        }
    }
}

// ------------------------------------------------------------ hand-built TFLite LSTMs

/// What to break in [`tflite_lstm`].
#[derive(Default, Clone, Copy)]
struct Defect {
    inputs: Option<usize>,
    projection: bool,
    layer_norm: bool,
    wrong_shape: bool,
    no_input_gate: bool,
    no_options: bool,
    activation: Option<fb::ActivationFunctionType>,
    cell_clip: f32,
    int8_weights: bool,
    /// The output state is a graph input (not a variable tensor).
    state_input: bool,
}

/// One UNIDIRECTIONAL_SEQUENCE_LSTM, time major, x [3, 1, 2], 2 cells, with `d` broken.
fn tflite_lstm(d: Defect) -> Vec<u8> {
    let (seq, batch, n_in, h) = (3i32, 1i32, 2i32, 2i32);
    let mut b = FlatBufferBuilder::new();
    let mut buffers = vec![fb::Buffer::create(&mut b, &fb::BufferArgs::default())];
    let mut tensors = Vec::new();
    let mut tensor = |b: &mut FlatBufferBuilder<'static>,
                      buffers: &mut Vec<_>,
                      name: &str,
                      shape: &[i32],
                      data: bool,
                      variable: bool,
                      int8: bool| {
        let n: i32 = shape.iter().product();
        let buffer = if data {
            let bytes: Vec<u8> = if int8 {
                vec![1u8; n as usize]
            } else {
                (0..n)
                    .flat_map(|k| (k as f32 * 0.1).to_le_bytes())
                    .collect()
            };
            let v = b.create_vector(&bytes);
            buffers.push(fb::Buffer::create(
                b,
                &fb::BufferArgs {
                    data: Some(v),
                    ..Default::default()
                },
            ));
            (buffers.len() - 1) as u32
        } else {
            0
        };
        let shape = b.create_vector(shape);
        let name = b.create_string(name);
        tensors.push(fb::Tensor::create(
            b,
            &fb::TensorArgs {
                shape: Some(shape),
                type_: if int8 {
                    fb::TensorType::INT8
                } else {
                    fb::TensorType::FLOAT32
                },
                buffer,
                name: Some(name),
                is_variable: variable,
                ..Default::default()
            },
        ));
        (tensors.len() - 1) as i32
    };
    let x = tensor(
        &mut b,
        &mut buffers,
        "x",
        &[seq, batch, n_in],
        false,
        false,
        false,
    );
    let mut ins = vec![x];
    for g in ["input", "forget", "cell", "output"] {
        let shape = if d.wrong_shape && g == "cell" {
            vec![h, n_in + 1]
        } else {
            vec![h, n_in]
        };
        let t = tensor(
            &mut b,
            &mut buffers,
            &format!("input_to_{g}"),
            &shape,
            true,
            false,
            d.int8_weights,
        );
        ins.push(if d.no_input_gate && g == "input" {
            -1
        } else {
            t
        });
    }
    for g in ["input", "forget", "cell", "output"] {
        ins.push(tensor(
            &mut b,
            &mut buffers,
            &format!("recurrent_to_{g}"),
            &[h, h],
            true,
            false,
            false,
        ));
    }
    ins.extend([-1, -1, -1]);
    for g in ["input", "forget", "cell", "output"] {
        ins.push(tensor(
            &mut b,
            &mut buffers,
            &format!("{g}_bias"),
            &[h],
            true,
            false,
            false,
        ));
    }
    if d.projection {
        ins.push(tensor(
            &mut b,
            &mut buffers,
            "proj",
            &[h, h],
            true,
            false,
            false,
        ));
    } else {
        ins.push(-1);
    }
    ins.push(-1);
    let h_state = tensor(
        &mut b,
        &mut buffers,
        "h_state",
        &[batch, h],
        false,
        !d.state_input,
        false,
    );
    ins.push(h_state);
    ins.push(tensor(
        &mut b,
        &mut buffers,
        "c_state",
        &[batch, h],
        false,
        true,
        false,
    ));
    if d.layer_norm {
        ins.push(tensor(&mut b, &mut buffers, "ln", &[h], true, false, false));
        ins.extend([-1, -1, -1]);
    } else {
        ins.extend([-1, -1, -1, -1]);
    }
    if let Some(n) = d.inputs {
        ins.truncate(n);
    }
    let y = tensor(
        &mut b,
        &mut buffers,
        "y",
        &[seq, batch, h],
        false,
        false,
        false,
    );
    let opts = fb::UnidirectionalSequenceLSTMOptions::create(
        &mut b,
        &fb::UnidirectionalSequenceLSTMOptionsArgs {
            fused_activation_function: d.activation.unwrap_or(fb::ActivationFunctionType::TANH),
            cell_clip: d.cell_clip,
            time_major: true,
            ..Default::default()
        },
    );
    let (iv, ov) = (b.create_vector(&ins), b.create_vector(&[y]));
    let op = fb::Operator::create(
        &mut b,
        &fb::OperatorArgs {
            opcode_index: 0,
            inputs: Some(iv),
            outputs: Some(ov),
            builtin_options_type: if d.no_options {
                fb::BuiltinOptions::NONE
            } else {
                fb::BuiltinOptions::UnidirectionalSequenceLSTMOptions
            },
            builtin_options: (!d.no_options).then(|| opts.as_union_value()),
            ..Default::default()
        },
    );
    let graph_inputs = if d.state_input {
        vec![x, h_state]
    } else {
        vec![x]
    };
    let code = fb::OperatorCode::create(
        &mut b,
        &fb::OperatorCodeArgs {
            deprecated_builtin_code: 44,
            builtin_code: fb::BuiltinOperator::UNIDIRECTIONAL_SEQUENCE_LSTM,
            version: 1,
            custom_code: None,
        },
    );
    hand_built::finish(
        b,
        hand_built::Parts {
            tensors: &tensors,
            operators: &[op],
            inputs: &graph_inputs,
            outputs: &[y],
            codes: &[code],
            buffers: &buffers,
            version: 3,
            description: None,
        },
    )
}

fn import_err(d: Defect) -> String {
    let e = modelc_tflite::decode(tflite_lstm(d).into())
        .map(|_| ())
        .unwrap_err()
        .to_string();
    assert!(!e.contains('\n'), "{e}");
    assert!(e.starts_with("UNIDIRECTIONAL_SEQUENCE_LSTM #0: "), "{e}");
    e
}

#[test]
fn a_well_formed_tflite_lstm_imports() {
    let m = modelc_tflite::decode(tflite_lstm(Defect::default()).into()).unwrap();
    let ops: Vec<_> = m
        .graph
        .node_ids()
        .filter_map(|id| m.graph.node(id).op.onnx())
        .collect();
    assert_eq!(ops, [OnnxOp::LSTM, OnnxOp::Squeeze]);
    // No layer-norm inputs at all (20 inputs) is the older form of the op.
    modelc_tflite::decode(
        tflite_lstm(Defect {
            inputs: Some(20),
            ..Default::default()
        })
        .into(),
    )
    .unwrap();
}

#[test]
fn unsupported_or_malformed_tflite_lstms_are_named() {
    let cases: [(Defect, &str); 9] = [
        (
            Defect {
                inputs: Some(12),
                ..Default::default()
            },
            "has 12 inputs, expected 20 or 24",
        ),
        (
            Defect {
                projection: true,
                ..Default::default()
            },
            "projection is not supported",
        ),
        (
            Defect {
                layer_norm: true,
                ..Default::default()
            },
            "layer normalization is not supported",
        ),
        (
            Defect {
                wrong_shape: true,
                ..Default::default()
            },
            "input_to_cell_weights (input 3) has shape [2, 3], expected [2, 2]",
        ),
        (
            Defect {
                no_input_gate: true,
                ..Default::default()
            },
            "CIFG",
        ),
        (
            Defect {
                no_options: true,
                ..Default::default()
            },
            "has no UnidirectionalSequenceLSTMOptions",
        ),
        (
            Defect {
                activation: Some(fb::ActivationFunctionType::RELU6),
                ..Default::default()
            },
            "fused activation RELU6 is not supported",
        ),
        (
            Defect {
                // A positive cell_clip is unrolled (checked against LiteRT by
                // tests/tflite_op_suite.py); a negative one is no bound.
                cell_clip: -3.0,
                ..Default::default()
            },
            "cell_clip -3 is not a bound",
        ),
        (
            Defect {
                int8_weights: true,
                ..Default::default()
            },
            "quantized (hybrid) LSTMs are not supported",
        ),
    ];
    for (d, want) in cases {
        let e = import_err(d);
        assert!(e.contains(want), "{e:?} does not say {want:?}");
    }
}

#[test]
fn byte_flips_of_an_lstm_file_never_panic() {
    let (model, _) = lstm_model(&DEFAULT);
    let bytes = write(&model).unwrap();
    for pos in 0..bytes.len() {
        for pattern in [0xffu8, 0x80, 0x01] {
            let mut b = bytes.clone();
            b[pos] ^= pattern;
            let r = std::panic::catch_unwind(|| modelc_tflite::decode(b.into()).map(|_| ()));
            match r {
                Ok(Ok(())) => {}
                Ok(Err(e)) => assert!(!e.to_string().contains('\n')),
                Err(_) => panic!("byte {pos} ^ {pattern:#x}: the reader panicked"),
            }
        }
    }
}

/// x [BATCH, SEQ, IN] → Transpose → LSTM → Squeeze → Transpose (torch's batch_first form).
fn batch_first_model() -> Model {
    let mut g = Graph::new("main");
    let ty = ValueType::Tensor(TensorType {
        dtype: Some(DType::F32),
        shape: Some(Shape(vec![
            Dim::Known(BATCH),
            Dim::Known(SEQ),
            Dim::Known(IN),
        ])),
    });
    let x = ValueRef::new(g.add_input(Value::typed("x", ty.into())), 0);
    let swap = |g: &mut Graph, v: ValueRef, name: &str| {
        let attrs: Attrs = [("perm".to_string(), Attr::Ints(vec![1, 0, 2]))]
            .into_iter()
            .collect();
        let n =
            Node::new(Op::Onnx(OnnxOp::Transpose), 1, vec![Value::named(name)]).with_attrs(attrs);
        let id = g.add_node(n);
        g.connect_inputs(id, [(0, v)]);
        ValueRef::new(id, 0)
    };
    let xt = swap(&mut g, x, "xt");
    let c = |g: &mut Graph, name: &str, dims: Vec<u64>, seed: u64| {
        let n = dims.iter().product();
        let t = Tensor::from_f32(dims, &values(n, seed)).unwrap();
        ValueRef::new(g.add_const(name, t), 0)
    };
    let w = c(&mut g, "W", vec![1, 4 * H, IN], 1);
    let r = c(&mut g, "R", vec![1, 4 * H, H], 2);
    let attrs: Attrs = [("hidden_size".to_string(), Attr::Int(H as i64))]
        .into_iter()
        .collect();
    let lstm =
        g.add_node(Node::new(Op::Onnx(OnnxOp::LSTM), 3, vec![Value::named("y")]).with_attrs(attrs));
    g.connect_inputs(lstm, [(0, xt), (1, w), (2, r)]);
    let axes = ValueRef::new(
        g.add_const("axes", Tensor::from_i64(vec![1], &[1]).unwrap()),
        0,
    );
    let sq = g.add_node(Node::new(
        Op::Onnx(OnnxOp::Squeeze),
        2,
        vec![Value::named("ys")],
    ));
    g.connect_inputs(sq, [(0, ValueRef::new(lstm, 0)), (1, axes)]);
    let out = swap(&mut g, ValueRef::new(sq, 0), "out");
    g.set_outputs(vec![out]);
    Model::new(g, 17)
}

#[test]
fn batch_first_runs_batch_major_without_transposes() {
    let bytes = write(&batch_first_model()).unwrap();
    let m = fb::root_as_model(&bytes).unwrap();
    let sg = m.subgraphs().unwrap().get(0);
    let ops = sg.operators().unwrap();
    assert_eq!(ops.len(), 1);
    let op = ops.get(0);
    let code = m
        .operator_codes()
        .unwrap()
        .get(op.opcode_index() as usize)
        .builtin_code();
    assert_eq!(code, fb::BuiltinOperator::UNIDIRECTIONAL_SEQUENCE_LSTM);
    let o = op
        .builtin_options_as_unidirectional_sequence_lstmoptions()
        .unwrap();
    assert!(!o.time_major());
    // It reads the graph input and writes the graph output, both [batch, seq, ...].
    assert_eq!(op.inputs().unwrap().get(0), sg.inputs().unwrap().get(0));
    assert_eq!(op.outputs().unwrap().get(0), sg.outputs().unwrap().get(0));
    let out = sg
        .tensors()
        .unwrap()
        .get(sg.outputs().unwrap().get(0) as usize);
    assert_eq!(
        out.shape().unwrap().iter().collect::<Vec<_>>(),
        [BATCH as i32, SEQ as i32, H as i32]
    );
}

#[test]
fn a_state_that_is_a_graph_input_is_the_initial_state() {
    let m = modelc_tflite::decode(
        tflite_lstm(Defect {
            state_input: true,
            ..Default::default()
        })
        .into(),
    )
    .unwrap();
    let g = &m.graph;
    let lstm = g
        .node_ids()
        .find(|&id| g.node(id).op.onnx() == Some(OnnxOp::LSTM))
        .unwrap();
    // initial_h = Unsqueeze(h_state, [0]).
    let h0 = g.input(lstm, 5).unwrap();
    assert_eq!(g.node(h0.node).op.onnx(), Some(OnnxOp::Unsqueeze));
    let src = g.input(h0.node, 0).unwrap();
    assert!(matches!(g.node(src.node).op, Op::Input { .. }));
    // The cell state is a variable tensor: zeros, so no initial_c.
    assert!(g.input(lstm, 6).is_none());
}

#[test]
fn float16_weights_are_written_as_float32() {
    let (mut model, [w, ..]) = lstm_model(&DEFAULT);
    let g = &mut model.graph;
    let lstm = g
        .node_ids()
        .find(|&id| g.node(id).op.onnx() == Some(OnnxOp::LSTM))
        .unwrap();
    // W as fp16 models store it: a float16 constant and a Cast to float.
    let half: Vec<u8> = w
        .iter()
        .flat_map(|&v| half::f16::from_f32(v).to_le_bytes())
        .collect();
    let w16 = Tensor::from_raw(DType::F16, vec![1, 4 * H, IN], Bytes::from(half)).unwrap();
    let w16 = ValueRef::new(g.add_const("W16", w16), 0);
    let attrs: Attrs = [("to".to_string(), Attr::Int(DType::F32.onnx_code() as i64))]
        .into_iter()
        .collect();
    let cast = g.add_node(
        Node::new(Op::Onnx(OnnxOp::Cast), 1, vec![Value::named("w32")]).with_attrs(attrs),
    );
    g.connect_inputs(cast, [(0, w16)]);
    g.connect(ValueRef::new(cast, 0), lstm, 1);
    let bytes = write(&model).unwrap();
    let m = fb::root_as_model(&bytes).unwrap();
    let sg = m.subgraphs().unwrap().get(0);
    let ops = sg.operators().unwrap();
    // No DEQUANTIZE or CAST: the weights are float32 constants of the rounded values.
    assert_eq!(ops.len(), 3);
    let input_to_input = ops.get(0).inputs().unwrap().get(1);
    let rounded: Vec<f32> = w[..(H * IN) as usize]
        .iter()
        .map(|&v| half::f16::from_f32(v).to_f32())
        .collect();
    assert_eq!(tensor_data(&m, input_to_input), rounded);
}

/// An LSTM carrying state (initial_h, Y_c read) with W and R as integers behind
/// DequantizeLinear (`quantize --mode int8-weight` / `compress` on silero VAD): unrolled with
/// the integers kept — INT8 / INT4 tensors, one scale per gate row, that DEQUANTIZE feeds to
/// FULLY_CONNECTED — not dequantized to float32. (LiteRT vs onnxruntime:
/// tests/tflite_interop.py's lstm_state_int8_weights / lstm_state_int4_weights.)
#[test]
fn a_stateful_lstm_keeps_quantized_weights_in_its_unrolled_form() {
    for (dtype, ty, bound, bytes) in [
        ("i8", fb::TensorType::INT8, 127, 16),
        ("i4", fb::TensorType::INT4, 7, 8),
    ] {
        let ints: Vec<String> = (0..16)
            .map(|k| ((k * 7 + 3) % (2 * bound + 1) - bound).to_string())
            .collect();
        let ints = ints.join(", ");
        let text = format!(
            r#"graph main(%x: f32[3,1,2], %h0: f32[1,1,2]) -> (%y, %yc) {{
  %wq = const {dtype}[1,8,2] [{ints}]
  %ws = const f32[8] [0.01, 0.02, 0.03, 0.04, 0.05, 0.06, 0.07, 0.08]
  %w = DequantizeLinear(%wq, %ws) {{axis=1}}
  %rq = const {dtype}[1,8,2] [{ints}]
  %rs = const f32[8] [0.08, 0.07, 0.06, 0.05, 0.04, 0.03, 0.02, 0.01]
  %r = DequantizeLinear(%rq, %rs) {{axis=1}}
  %y, %yh, %yc = LSTM(%x, %w, %r, _, _, %h0) {{hidden_size=2}}
}}"#
        );
        let g = Graph::parse(&text).unwrap_or_else(|e| panic!("{e}"));
        let bytes_of = write(&Model::new(g, 21)).unwrap_or_else(|e| panic!("{dtype}: {e}"));
        let m = fb::root_as_model(&bytes_of).unwrap();
        let codes = m.operator_codes().unwrap();
        let sg = m.subgraphs().unwrap().get(0);
        let tensors = sg.tensors().unwrap();
        let buffers = m.buffers().unwrap();
        let ops: Vec<_> = sg
            .operators()
            .unwrap()
            .iter()
            .map(|op| (codes.get(op.opcode_index() as usize).builtin_code(), op))
            .collect();
        assert!(
            !ops.iter()
                .any(|(c, _)| *c == fb::BuiltinOperator::UNIDIRECTIONAL_SEQUENCE_LSTM),
            "{dtype}: unrolled"
        );
        // x · Wᵀ once, h · Rᵀ per step.
        let fc = ops
            .iter()
            .filter(|(c, _)| *c == fb::BuiltinOperator::FULLY_CONNECTED)
            .count();
        assert_eq!(fc, 1 + 3, "{dtype}");
        let weights: Vec<_> = ops
            .iter()
            .filter(|(c, _)| *c == fb::BuiltinOperator::DEQUANTIZE)
            .map(|(_, op)| tensors.get(op.inputs().unwrap().get(0) as usize))
            .collect();
        assert_eq!(weights.len(), 2, "{dtype}: W and R, each dequantized once");
        for w in weights {
            assert_eq!(w.type_(), ty, "{dtype}");
            assert_eq!(w.shape().unwrap().iter().collect::<Vec<_>>(), [8, 2]);
            let q = w.quantization().unwrap();
            assert_eq!(q.scale().unwrap().len(), 8, "one scale per gate row");
            assert_eq!(q.quantized_dimension(), 0);
            let data = buffers.get(w.buffer() as usize).data().unwrap();
            assert_eq!(data.len(), bytes, "{dtype}");
        }
        // No float32 copy of the weights: the only float constants are small.
        for t in tensors.iter() {
            let n = buffers
                .get(t.buffer() as usize)
                .data()
                .map_or(0, |d| d.len());
            assert!(
                t.type_() != fb::TensorType::FLOAT32 || n < 16 * 4,
                "{dtype}: float32 constant `{}` of {n} bytes",
                t.name().unwrap_or("")
            );
        }
    }
}
