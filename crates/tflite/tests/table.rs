//! The builtin ↔ op table (`modelc_tflite::table`), both ways:
//! - every row round-trips: a one-node graph of the row's op → write → read back → the same
//!   op with the same attributes, written as the row's builtin;
//! - the writer refuses an op without a TFLite form by the node's name;
//! - every element-wise form the reader translates (the table's and the family code's:
//!   RSQRT, RELU6, SOFTMAX with beta ≠ 1, FLOOR_MOD, …), read from a one-operator file,
//!   is written back;
//! - every row marked exact computes in LiteRT what onnxruntime computes for the ONNX op:
//!   the rows' files and a manifest go to `tests/tflite_interop.py --table`, which builds
//!   the ONNX form of each and runs both runtimes.

use std::fmt::Write as _;
use std::path::Path;

use flatbuffers::{FlatBufferBuilder, UnionWIPOffset, WIPOffset};
use modelc_ir::{DType, Graph, Model, Node, OnnxOp, Op};
use modelc_tflite::fb::{self, BuiltinOperator as B, TensorType};
use modelc_tflite::table::{self, Options, Row};
use modelc_tflite::WriteOptions;

use crate::hand_built;

/// Element types of the inputs a row's op takes in these tests.
fn input_types(op: OnnxOp, n: usize) -> Vec<DType> {
    match op {
        OnnxOp::And | OnnxOp::Or | OnnxOp::Not => vec![DType::Bool; n],
        OnnxOp::Where => vec![DType::Bool, DType::F32, DType::F32],
        _ => vec![DType::F32; n],
    }
}

/// The attributes the one-node graph gives a row's op (in the text form): values other
/// than the defaults where the options carry them.
fn attrs_text(options: Options) -> &'static str {
    match options {
        Options::None
        | Options::Add
        | Options::Sub
        | Options::Mul
        | Options::Div
        | Options::UnitAlpha => "",
        Options::LeakyRelu => " {alpha=0.2}",
        Options::Gelu => " {approximate=\"tanh\"}",
        Options::Softmax | Options::LogSoftmax => " {axis=-1}",
        Options::L2Norm => " {axis=-1, p=2}",
    }
}

const SHAPE: [u64; 3] = [2, 3, 4];

fn one_node(row: &Row) -> Model {
    let types = input_types(row.op, row.inputs);
    let params: Vec<String> = types
        .iter()
        .enumerate()
        .map(|(i, t)| format!("%x{i}: {t}[2,3,4]"))
        .collect();
    let args: Vec<String> = (0..types.len()).map(|i| format!("%x{i}")).collect();
    let text = format!(
        "graph main({}) -> (%y) {{\n  %y = {}({}){}\n}}\n",
        params.join(", "),
        row.op.name(),
        args.join(", "),
        attrs_text(row.options)
    );
    let mut g = Graph::parse(&text).unwrap_or_else(|e| panic!("{text}: {e}"));
    let id = op_nodes(&g)[0];
    g.node_mut(id).name = format!("the_{}", row.op.name());
    Model::new(g, 21)
}

/// The graph's operator nodes (no inputs or constants).
fn op_nodes(g: &Graph) -> Vec<modelc_ir::NodeId> {
    g.node_ids()
        .filter(|&id| !matches!(g.node(id).op, Op::Input { .. } | Op::Const(_)))
        .collect()
}

fn op_node(g: &Graph) -> &Node {
    match op_nodes(g).as_slice() {
        [id] => g.node(*id),
        more => panic!("expected one op node, got {}", more.len()),
    }
}

/// The builtin codes of a written file's operators.
fn builtins(bytes: &[u8]) -> Vec<B> {
    let m = fb::root_as_model(bytes).expect("modelc writes valid flatbuffers");
    let codes: Vec<B> = m
        .operator_codes()
        .unwrap()
        .iter()
        .map(|c| c.builtin_code())
        .collect();
    m.subgraphs()
        .unwrap()
        .get(0)
        .operators()
        .unwrap()
        .iter()
        .map(|o| codes[o.opcode_index() as usize])
        .collect()
}

#[test]
fn rows_are_one_to_one_both_ways() {
    let rows: Vec<&Row> = table::rows().collect();
    for (i, a) in rows.iter().enumerate() {
        for b in &rows[i + 1..] {
            assert!(a.code != b.code, "{:?} has two rows", a.code);
            assert!(a.op != b.op, "{} has two rows", a.op.name());
        }
    }
}

#[test]
fn every_row_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    for row in table::rows() {
        let name = row.code.variant_name().unwrap();
        let src = one_node(row);
        let path = dir.path().join(format!("{name}.tflite"));
        modelc_tflite::write(&src, &path, &WriteOptions::default())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(
            builtins(&std::fs::read(&path).unwrap()),
            [row.code],
            "{name}"
        );
        let back = modelc_tflite::read(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
        let (want, got) = (op_node(&src.graph), op_node(&back.graph));
        assert_eq!(got.op, Op::Onnx(row.op), "{name}");
        assert_eq!(got.attrs, want.attrs, "{name}");
    }
}

#[test]
fn variadic_rows_chain_their_builtin() {
    let dir = tempfile::tempdir().unwrap();
    for row in table::rows().filter(|r| r.variadic) {
        let name = row.code.variant_name().unwrap();
        let text = format!(
            "graph main(%a: f32[2,3,4], %b: f32[4], %c: f32[3,1], %d: f32[]) -> (%y) {{\n  %y = {}(%a, %b, %c, %d)\n}}\n",
            row.op.name()
        );
        let path = dir.path().join(format!("{name}.tflite"));
        let m = Model::new(Graph::parse(&text).unwrap(), 21);
        modelc_tflite::write(&m, &path, &WriteOptions::default()).unwrap();
        assert_eq!(
            builtins(&std::fs::read(&path).unwrap()),
            [row.code; 3],
            "{name}"
        );
    }
}

#[test]
fn writer_refuses_an_op_without_a_form_by_name() {
    let text = "graph main(%x: f32[3,3]) -> (%y) {\n  %y = Det(%x)\n}\n";
    let mut g = Graph::parse(text).unwrap();
    let id = op_nodes(&g)[0];
    g.node_mut(id).name = "the_determinant".into();
    let dir = tempfile::tempdir().unwrap();
    let e = modelc_tflite::write(
        &Model::new(g, 21),
        &dir.path().join("det.tflite"),
        &WriteOptions::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("Det \"the_determinant\""), "{e}");
}

/// A file with one operator `code` on graph inputs of `ins` types, output of type `out`,
/// all of shape [2, 3, 4].
fn one_operator(
    code: B,
    ins: &[TensorType],
    out: TensorType,
    options: impl FnOnce(
        &mut FlatBufferBuilder<'static>,
    ) -> Option<(fb::BuiltinOptions, WIPOffset<UnionWIPOffset>)>,
) -> Vec<u8> {
    let mut b = FlatBufferBuilder::new();
    let empty = fb::Buffer::create(&mut b, &fb::BufferArgs::default());
    let mut tensors = Vec::new();
    for (i, t) in ins.iter().chain([&out]).enumerate() {
        let shape = b.create_vector(&SHAPE.map(|d| d as i32));
        let name = b.create_string(&format!("t{i}"));
        tensors.push(fb::Tensor::create(
            &mut b,
            &fb::TensorArgs {
                shape: Some(shape),
                type_: *t,
                buffer: 0,
                name: Some(name),
                ..Default::default()
            },
        ));
    }
    let input_ids: Vec<i32> = (0..ins.len() as i32).collect();
    let output_id = ins.len() as i32;
    let (opts_type, opts) = match options(&mut b) {
        Some((t, o)) => (t, Some(o)),
        None => (fb::BuiltinOptions::NONE, None),
    };
    let (i0, o0) = (b.create_vector(&input_ids), b.create_vector(&[output_id]));
    let op = fb::Operator::create(
        &mut b,
        &fb::OperatorArgs {
            opcode_index: 0,
            inputs: Some(i0),
            outputs: Some(o0),
            builtin_options_type: opts_type,
            builtin_options: opts,
            ..Default::default()
        },
    );
    let opcode = fb::OperatorCode::create(
        &mut b,
        &fb::OperatorCodeArgs {
            builtin_code: code,
            deprecated_builtin_code: code.0.min(127) as i8,
            version: 1,
            ..Default::default()
        },
    );
    hand_built::finish(
        b,
        hand_built::Parts {
            tensors: &tensors,
            operators: &[op],
            inputs: &input_ids,
            outputs: &[output_id],
            codes: &[opcode],
            buffers: &[empty],
            version: 3,
            description: None,
        },
    )
}

fn tensor_type(d: DType) -> TensorType {
    match d {
        DType::Bool => TensorType::BOOL,
        DType::I32 => TensorType::INT32,
        _ => TensorType::FLOAT32,
    }
}

#[test]
fn every_elementwise_form_the_reader_translates_is_written_back() {
    use TensorType as T;
    type Opts = fn(
        &mut FlatBufferBuilder<'static>,
    ) -> Option<(fb::BuiltinOptions, WIPOffset<UnionWIPOffset>)>;
    let none: Opts = |_| None;
    let softmax_beta_2: Opts = |b| {
        let o = fb::SoftmaxOptions::create(b, &fb::SoftmaxOptionsArgs { beta: 2.0 });
        Some((fb::BuiltinOptions::SoftmaxOptions, o.as_union_value()))
    };
    let add_relu6: Opts = |b| {
        let args = fb::AddOptionsArgs {
            fused_activation_function: fb::ActivationFunctionType::RELU6,
            pot_scale_int16: true,
        };
        let o = fb::AddOptions::create(b, &args);
        Some((fb::BuiltinOptions::AddOptions, o.as_union_value()))
    };
    // The table's forms, then the family code's (the reader's non-table element-wise
    // builtins) and the table's with options that make them another form.
    let mut cases: Vec<(String, B, Vec<T>, T, Opts)> = table::rows()
        .map(|r| {
            let ins: Vec<T> = input_types(r.op, r.inputs)
                .into_iter()
                .map(tensor_type)
                .collect();
            let out = tensor_type(output_type(r));
            (
                r.code.variant_name().unwrap().to_string(),
                r.code,
                ins,
                out,
                none,
            )
        })
        .collect();
    let f = T::FLOAT32;
    for (code, ins, out, opts) in [
        (B::RSQRT, vec![f], f, none),
        (B::SQUARE, vec![f], f, none),
        (B::ZEROS_LIKE, vec![f], f, none),
        (B::CAST, vec![f], T::INT32, none),
        (B::RELU6, vec![f], f, none),
        (B::RELU_N1_TO_1, vec![f], f, none),
        (B::RELU_0_TO_1, vec![f], f, none),
        (B::SOFTMAX, vec![f], f, softmax_beta_2),
        (B::ADD, vec![f, f], f, add_relu6),
        (B::NOT_EQUAL, vec![f, f], T::BOOL, none),
        (B::FLOOR_DIV, vec![f, f], f, none),
        (B::FLOOR_MOD, vec![T::INT32, T::INT32], T::INT32, none),
        (B::SQUARED_DIFFERENCE, vec![f, f], f, none),
        (B::SELECT, vec![T::BOOL, f, f], f, none),
    ] {
        let name = format!("{} (family code)", code.variant_name().unwrap());
        cases.push((name, code, ins, out, opts));
    }
    let dir = tempfile::tempdir().unwrap();
    for (name, code, ins, out, opts) in cases {
        let bytes = one_operator(code, &ins, out, opts);
        let m = modelc_tflite::decode(bytes.into()).unwrap_or_else(|e| panic!("{name}: {e}"));
        let custom = m
            .graph
            .node_ids()
            .any(|id| matches!(m.graph.node(id).op, Op::Custom(_)));
        assert!(!custom, "{name}: the reader did not translate it");
        let path = dir.path().join("back.tflite");
        if let Err(e) = modelc_tflite::write(&m, &path, &WriteOptions::default()) {
            panic!("{name}: read, but not written back: {e}");
        }
    }
}

/// The element type of the one-node graph's output, by shape inference.
fn output_type(row: &Row) -> DType {
    let mut m = one_node(row);
    modelc_ir::infer::infer_graph(&mut m.graph, &m.opset_imports);
    let y = m.graph.outputs()[0];
    m.graph.dtype_of(y).expect("inferred")
}

/// JSON of one exact row for tests/tflite_interop.py --table.
fn manifest_entry(row: &Row, path: &Path, back: &Model) -> String {
    let out = output_type(row);
    let node = op_node(&back.graph);
    let mut attrs = Vec::new();
    for e in node.attrs.iter() {
        let k = &e.name;
        let v = match &e.value {
            modelc_ir::Attr::Float(f) => format!("{f:?}"),
            modelc_ir::Attr::Int(i) => i.to_string(),
            modelc_ir::Attr::String(s) => format!("\"{}\"", String::from_utf8_lossy(s)),
            other => panic!("attribute {k} = {other:?} in a table test"),
        };
        attrs.push(format!("\"{k}\": {v}"));
    }
    let numpy = |d: DType| match d {
        DType::Bool => "bool",
        DType::I32 => "int32",
        DType::F32 => "float32",
        other => panic!("{other} in a table test"),
    };
    let inputs: Vec<String> = input_types(row.op, row.inputs)
        .into_iter()
        .map(|d| format!("\"{}\"", numpy(d)))
        .collect();
    let mut s = String::new();
    write!(
        s,
        "{{\"name\": \"{}\", \"op\": \"{}\", \"attrs\": {{{}}}, \"inputs\": [{}], \"output\": \"{}\", \"shape\": [2, 3, 4], \"file\": \"{}\"}}",
        row.code.variant_name().unwrap(),
        row.op.name(),
        attrs.join(", "),
        inputs.join(", "),
        numpy(out),
        path.display()
    )
    .unwrap();
    s
}

#[test]
fn exact_rows_match_onnxruntime_in_litert() {
    let dir = tempfile::tempdir().unwrap();
    let mut entries = Vec::new();
    for row in table::rows().filter(|r| r.exact) {
        let name = row.code.variant_name().unwrap();
        let path = dir.path().join(format!("{name}.tflite"));
        modelc_tflite::write(&one_node(row), &path, &WriteOptions::default())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let back = modelc_tflite::read(&path).unwrap();
        entries.push(manifest_entry(row, &path, &back));
    }
    let n = entries.len();
    let summary = format!("tflite table: {n} of {n} rows exact");
    let Some(out) =
        modelc_testkit::check_table_cases("tflite_interop.py", dir.path(), &entries, &summary)
    else {
        return;
    };
    println!("{out}");
}
