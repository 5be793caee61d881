use std::collections::HashMap;

use bytes::Bytes;

use super::*;
use crate::{
    Attr, AttrEntry, AttrKind, Attrs, DType, Dim, Function, Graph, Layout, Model, Node, NodeId,
    OnnxOp, Op, OpsetImport, Shape, SparseTensor, Tensor, TensorData, TensorType, TypeInfo, Value,
    ValueRef, ValueType,
};

// ---------------------------------------------------------------------------------------------
// Helpers

fn f32s(dims: &[u64], v: &[f32]) -> Tensor {
    Tensor::from_f32(dims.to_vec(), v).unwrap()
}

fn i64s(dims: &[u64], v: &[i64]) -> Tensor {
    Tensor::from_i64(dims.to_vec(), v).unwrap()
}

fn raw(dtype: DType, dims: &[u64], bytes: &[u8]) -> Tensor {
    Tensor::from_raw(dtype, dims.to_vec(), Bytes::copy_from_slice(bytes)).unwrap()
}

fn tt(dtype: DType, dims: &[u64]) -> TypeInfo {
    ValueType::tensor(dtype, dims).into()
}

fn onnx(op: OnnxOp) -> Op {
    Op::Onnx(op)
}

fn custom(domain: &str, name: &str) -> Op {
    Op::custom(domain, name)
}

fn v(node: NodeId) -> ValueRef {
    ValueRef::new(node, 0)
}

/// Adds a node reading `inputs` (None = absent slot) with outputs named `outs` ("" = absent).
fn add(g: &mut Graph, op: Op, inputs: &[Option<ValueRef>], outs: &[&str]) -> NodeId {
    let outputs = outs.iter().map(|n| Value::named(*n)).collect();
    let id = g.add_node(Node::new(op, inputs.len(), outputs));
    for (slot, i) in inputs.iter().enumerate() {
        if let Some(src) = i {
            g.connect(*src, id, slot);
        }
    }
    id
}

fn attrs(list: Vec<(&str, Attr)>) -> Attrs {
    list.into_iter().map(|(k, a)| (k.to_string(), a)).collect()
}

/// Prints, parses and prints again, with hashed and with inline constants; returns the text.
#[track_caller]
fn round_trip_graph(g: &Graph) -> String {
    let consts = graph_constants(g);
    let mut first = String::new();
    for opts in [
        PrintOptions::default(),
        PrintOptions {
            inline_limit: usize::MAX,
        },
    ] {
        let text = print_graph(g, &opts);
        let back = parse_graph(&text, Some(&consts)).unwrap_or_else(|e| panic!("{e}\n{text}"));
        let again = print_graph(&back, &opts);
        assert!(
            back == *g,
            "the graph differs after a round trip:\n{text}\nreprinted:\n{again}"
        );
        assert_eq!(again, text, "printing is not stable");
        if first.is_empty() {
            first = text;
        }
    }
    first
}

#[track_caller]
fn round_trip_model(m: &Model) -> String {
    let consts = constants(m);
    let mut first = String::new();
    for opts in [
        PrintOptions::default(),
        PrintOptions {
            inline_limit: usize::MAX,
        },
    ] {
        let text = print_model(m, &opts);
        let back = parse_model(&text, Some(&consts)).unwrap_or_else(|e| panic!("{e}\n{text}"));
        let again = print_model(&back, &opts);
        assert!(
            back == *m,
            "the model differs after a round trip:\n{text}\nreprinted:\n{again}"
        );
        assert_eq!(again, text, "printing is not stable");
        if opts.inline_limit == usize::MAX {
            assert!(
                parse_model(&text, None).unwrap() == *m,
                "inline text needs no constants"
            );
        } else {
            first = text;
        }
    }
    first
}

#[track_caller]
fn parse_err(text: &str) -> String {
    match parse_graph(text, None) {
        Ok(_) => panic!("parsed:\n{text}"),
        Err(e) => e.to_string(),
    }
}

// ---------------------------------------------------------------------------------------------
// Example graphs

/// The example of the design: a small CNN head with most node-level features.
fn example_graph() -> Graph {
    let mut g = Graph::new("main");
    let x = g.add_input(Value::typed(
        "x",
        ValueType::Tensor(TensorType {
            dtype: Some(DType::F32),
            shape: Some(Shape(vec![
                Dim::Sym("N".into()),
                Dim::Known(3),
                Dim::Known(224),
                Dim::Known(224),
            ])),
        })
        .into(),
    ));
    let mask = g.add_input(Value::typed(
        "onnx::mask_1",
        ValueType::Tensor(TensorType {
            dtype: Some(DType::Bool),
            shape: Some(Shape(vec![Dim::Unknown, Dim::Known(7)])),
        })
        .into(),
    ));
    let w = g.add_const(
        "w",
        Tensor::from_f32(vec![64, 3, 7, 7], &vec![0.25; 64 * 3 * 7 * 7]).unwrap(),
    );
    let b = g.add_const("b", f32s(&[3], &[0.5, -1.0, 2.0]));
    let conv = add(
        &mut g,
        onnx(OnnxOp::Conv),
        &[Some(v(x)), Some(v(w)), None],
        &["c"],
    );
    g.node_mut(conv).attrs = attrs(vec![
        ("strides", Attr::Ints(vec![2, 2])),
        ("pads", Attr::Ints(vec![3, 3, 3, 3])),
    ]);
    let relu = add(&mut g, onnx(OnnxOp::Relu), &[Some(v(conv))], &["y"]);
    {
        let n = g.node_mut(relu);
        n.name = "relu_1".into();
        n.doc = "doc string of the node".into();
        n.outputs[0].ty = Some(
            ValueType::Tensor(TensorType {
                dtype: Some(DType::F32),
                shape: Some(Shape(vec![
                    Dim::Sym("N".into()),
                    Dim::Known(64),
                    Dim::Known(112),
                    Dim::Known(112),
                ])),
            })
            .into(),
        );
    }
    let thing = add(
        &mut g,
        custom("com.example", "Thing"),
        &[Some(v(conv)), Some(v(b))],
        &["aux", ""],
    );
    let _ = add(&mut g, onnx(OnnxOp::Identity), &[Some(v(mask))], &["m"]);
    g.push_output(v(relu));
    g.push_output(v(thing));
    g
}

/// An `If` whose branches read values of the enclosing graph.
fn if_graph() -> Graph {
    let mut g = Graph::new("main");
    let cond = g.add_input(Value::typed("cond", tt(DType::Bool, &[])));
    let x = g.add_input(Value::typed("x", tt(DType::F32, &[3])));
    let w = g.add_const("w", f32s(&[3], &[1.0, 2.0, 3.0]));

    let mut then_g = Graph::new("then");
    let ox = then_g.add_node(Node::new(
        Op::Outer,
        0,
        vec![Value::typed("x", tt(DType::F32, &[3]))],
    ));
    let ow = then_g.add_node(Node::new(Op::Outer, 0, vec![Value::named("w")]));
    let sum = add(
        &mut then_g,
        onnx(OnnxOp::Add),
        &[Some(v(ox)), Some(v(ow))],
        &["s"],
    );
    then_g.push_output(v(sum));

    let mut else_g = Graph::new("else");
    let ox = else_g.add_node(Node::new(Op::Outer, 0, vec![Value::named("x")]));
    let r = add(&mut else_g, onnx(OnnxOp::Relu), &[Some(v(ox))], &["r"]);
    else_g.push_output(v(r));

    let node = Node::new(onnx(OnnxOp::If), 1, vec![Value::named("z")]).with_attrs(attrs(vec![
        ("then_branch", Attr::Graph(Box::new(then_g))),
        ("else_branch", Attr::Graph(Box::new(else_g))),
    ]));
    let iff = g.add_node(node);
    g.connect(v(cond), iff, 0);
    g.connect(v(x), iff, 1);
    g.connect(v(w), iff, 2);
    g.push_output(v(iff));
    g
}

fn every_attr_graph() -> Graph {
    let mut body = Graph::new("body");
    let i = body.add_input(Value::typed("i", tt(DType::I64, &[])));
    let o = add(&mut body, onnx(OnnxOp::Identity), &[Some(v(i))], &["o"]);
    body.push_output(v(o));
    let sparse = SparseTensor {
        values: f32s(&[2], &[1.5, -2.0]),
        indices: i64s(&[2], &[1, 7]),
        dims: vec![3, 3],
    };
    let types = vec![
        tt(DType::F32, &[2]),
        TypeInfo {
            ty: ValueType::Sequence(Some(Box::new(ValueType::tensor(DType::I64, &[])))),
            denotation: "LIST".into(),
        },
    ];
    let list = attrs(vec![
        ("f", Attr::Float(1.5)),
        ("f_nan", Attr::Float(f32::from_bits(0x7fc0_0001))),
        ("f_neg_zero", Attr::Float(-0.0)),
        ("f_inf", Attr::Float(f32::NEG_INFINITY)),
        ("f_tiny", Attr::Float(1e-40)),
        ("f_big", Attr::Float(3.0e38)),
        ("i", Attr::Int(-9_223_372_036_854_775_808)),
        (
            "s",
            Attr::String(Bytes::from_static(b"caf\xc3\xa9 \"q\" \\ \n\t\x00\xff")),
        ),
        ("t", Attr::Tensor(f32s(&[2, 2], &[1.0, 2.0, 3.0, 4.0]))),
        ("g", Attr::Graph(Box::new(body.clone()))),
        ("sp", Attr::SparseTensor(sparse.clone())),
        ("ty", Attr::Type(types[1].clone())),
        (
            "fs",
            Attr::Floats(vec![1.0, f32::NAN, -0.0, f32::INFINITY, 0.1]),
        ),
        ("fs_int_looking", Attr::Floats(vec![1.0, 2.0])),
        (
            "fs_nan_only",
            Attr::Floats(vec![f32::NAN, f32::from_bits(0xffc0_0000)]),
        ),
        ("fs_inf_only", Attr::Floats(vec![f32::INFINITY])),
        ("is", Attr::Ints(vec![1, -2, i64::MAX])),
        (
            "ss",
            Attr::Strings(vec![Bytes::from_static(b"a"), Bytes::from_static(b"\x80")]),
        ),
        (
            "ts",
            Attr::Tensors(vec![i64s(&[1], &[5]), f32s(&[], &[2.5])]),
        ),
        ("gs", Attr::Graphs(vec![body.clone(), Graph::new("")])),
        ("sps", Attr::SparseTensors(vec![sparse])),
        ("tys", Attr::Types(types)),
        ("e_fs", Attr::Floats(vec![])),
        ("e_is", Attr::Ints(vec![])),
        ("e_ss", Attr::Strings(vec![])),
        ("e_ts", Attr::Tensors(vec![])),
        ("e_gs", Attr::Graphs(vec![])),
        ("e_sps", Attr::SparseTensors(vec![])),
        ("e_tys", Attr::Types(vec![])),
        (
            "r",
            Attr::Ref {
                name: "alpha".into(),
                kind: AttrKind::Float,
            },
        ),
        (
            "r2",
            Attr::Ref {
                name: "odd name".into(),
                kind: AttrKind::Graphs,
            },
        ),
    ]);
    let mut list = list;
    list.0[0].doc = "the factor".into();
    list.0.push(AttrEntry {
        name: "needs quotes!".into(),
        value: Attr::Int(1),
        doc: String::new(),
    });
    let mut g = Graph::new("attrs");
    let x = g.add_input(Value::named("x"));
    let n = g.add_node(
        Node::new(
            custom("com.example", "Everything"),
            1,
            vec![Value::named("y")],
        )
        .with_attrs(list),
    );
    g.connect(v(x), n, 0);
    g.push_output(v(n));
    g
}

// ---------------------------------------------------------------------------------------------
// Round trips

#[test]
fn example_round_trips() {
    let text = round_trip_graph(&example_graph());
    assert!(text.contains("%w = const f32[64,3,7,7] #"), "{text}");
    assert!(
        text.contains("%b = const f32[3] [0.5, -1.0, 2.0]"),
        "{text}"
    );
    assert!(
        text.contains("Conv(%x, %w, _) {strides=[2,2], pads=[3,3,3,3]} layout=NCHW"),
        "{text}"
    );
}

#[test]
fn every_attr_kind_round_trips() {
    let text = round_trip_graph(&every_attr_graph());
    for needle in [
        "f=1.5 doc=\"the factor\"",
        "f_nan=nan(0x7fc00001)",
        "f_neg_zero=-0.0",
        "f_inf=-inf",
        "fs_int_looking=[1.0, 2.0]",
        "fs_nan_only=[nan, nan(0xffc00000)]",
        "fs_inf_only=[inf]",
        "e_is=ints[]",
        "e_gs=graphs[]",
        "r=@alpha:float",
        "r2=@\"odd name\":graphs",
        "\"needs quotes!\"=1",
        r#"s="café \"q\" \\ \n\t\x00\xff""#,
    ] {
        assert!(text.contains(needle), "{needle} not in\n{text}");
    }
}

#[test]
fn every_dtype_round_trips_inline() {
    let mut g = Graph::new("dtypes");
    let f16s: Vec<u8> = [
        0x3c00u16, 0x8000, 0x7c00, 0xfc00, 0x7e00, 0x7e01, 0x0001, 0x3555,
    ]
    .iter()
    .flat_map(|b| b.to_le_bytes())
    .collect();
    let bf16s: Vec<u8> = [0x3f80u16, 0x8000, 0x7f80, 0x7fc0, 0xffc1, 0x0001]
        .iter()
        .flat_map(|b| b.to_le_bytes())
        .collect();
    let f64s: Vec<u8> = [0.1f64, -0.0, f64::MAX, f64::MIN_POSITIVE, 5e-324]
        .iter()
        .flat_map(|b| b.to_le_bytes())
        .chain(0x7ff8_0000_0000_0001u64.to_le_bytes())
        .collect();
    let f32s_: Vec<u8> = [0.1f32, -0.0, f32::MAX, 1e-45, f32::NAN, 16777216.0, 1e16]
        .iter()
        .flat_map(|b| b.to_le_bytes())
        .chain(0xffc0_0000u32.to_le_bytes())
        .collect();
    let tensors = vec![
        raw(DType::F32, &[8], &f32s_),
        raw(DType::F64, &[2, 3], &f64s),
        raw(DType::F16, &[8], &f16s),
        raw(DType::BF16, &[6], &bf16s),
        raw(DType::U8, &[3], &[0, 128, 255]),
        raw(DType::I8, &[3], &[0, 0x80, 0xff]),
        raw(DType::U16, &[2], &[0xff, 0xff, 0, 1]),
        raw(DType::I16, &[2], &[0x00, 0x80, 0xff, 0xff]),
        i64s(&[3], &[i64::MIN, -1, i64::MAX]),
        raw(DType::I32, &[1], &(-5i32).to_le_bytes()),
        raw(DType::U32, &[1], &u32::MAX.to_le_bytes()),
        raw(DType::U64, &[1], &u64::MAX.to_le_bytes()),
        raw(DType::Bool, &[3], &[1, 0, 1]),
        raw(DType::Bool, &[1], &[2]), // not 0/1: raw bytes keep it
        raw(DType::U4, &[3], &[0x21, 0x0f]),
        raw(DType::I4, &[4], &[0x8f, 0x71]),
        raw(DType::U4, &[1], &[0xf3]), // padding bits set
        raw(DType::U2, &[5], &[0b1110_0100, 0b11]),
        raw(DType::I2, &[3], &[0b10_01_11]),
        raw(DType::C64, &[1], &[1, 2, 3, 4, 5, 6, 7, 8]),
        raw(DType::C128, &[1], &[9; 16]),
        raw(DType::F8E4M3FN, &[2], &[0x38, 0x40]),
        raw(DType::F8E4M3FNUZ, &[1], &[0x80]),
        raw(DType::F8E5M2, &[1], &[0x7f]),
        raw(DType::F8E5M2FNUZ, &[1], &[0x01]),
        raw(DType::F8E8M0, &[1], &[0xff]),
        raw(DType::F4E2M1, &[3], &[0x21, 0x07]),
        raw(DType::F32, &[0, 4], &[]),
        raw(DType::I64, &[], &7i64.to_le_bytes()),
        Tensor {
            dtype: DType::Str,
            dims: vec![3],
            data: TensorData::Strings(vec![
                Bytes::from_static(b"plain"),
                Bytes::from_static(b""),
                Bytes::from_static(b"\xfe\x00\"\\"),
            ]),
        },
    ];
    let covered: std::collections::HashSet<DType> = tensors.iter().map(|t| t.dtype).collect();
    assert_eq!(
        covered.len(),
        DType::all().count(),
        "every dtype is covered"
    );
    let mut outs = Vec::new();
    for (k, t) in tensors.into_iter().enumerate() {
        outs.push(v(g.add_const(format!("t{k}"), t)));
    }
    g.set_outputs(outs);
    let text = round_trip_graph(&g);
    for needle in [
        "%t0 = const f32[8] [0.1, -0.0, 3.4028235e38, 1e-45, nan, 16777216.0, 1e16, nan(0xffc00000)]",
        "%t2 = const f16[8] [1.0, -0.0, inf, -inf, nan, nan(0x7e01), 5.9604645e-8, 0.33325195]",
        "%t3 = const bf16[6] [1.0, -0.0, inf, nan, nan(0xffc1), 9.1835e-41]",
        "%t5 = const i8[3] [0, -128, -1]",
        "%t12 = const bool[3] [true, false, true]",
        "%t13 = const bool[1] x\"02\"",
        "%t14 = const u4[3] [1, 2, 15]",
        "%t15 = const i4[4] [-1, -8, 1, 7]",
        "%t16 = const u4[1] x\"f3\"",
        "%t17 = const u2[5] [0, 1, 2, 3, 3]",
        "%t18 = const i2[3] [-1, 1, -2]",
        "%t21 = const f8e4m3fn[2] x\"3840\"",
        "%t27 = const f32[0,4] []",
        "%t28 = const i64[] [7]",
        r#"%t29 = const str[3] ["plain", "", "\xfe\x00\"\\"]"#,
    ] {
        assert!(text.contains(needle), "{needle} not in\n{text}");
    }
}

#[test]
fn every_value_type_round_trips() {
    let tensor = |dtype: Option<DType>, shape: Option<Vec<Dim>>| {
        ValueType::Tensor(TensorType {
            dtype,
            shape: shape.map(Shape),
        })
    };
    let types = vec![
        tensor(
            Some(DType::F32),
            Some(vec![Dim::Sym("batch".into()), Dim::Unknown, Dim::Known(3)]),
        ),
        tensor(Some(DType::F32), None),
        tensor(None, Some(vec![Dim::Known(2), Dim::Known(3)])),
        tensor(None, None),
        tensor(Some(DType::I64), Some(vec![])),
        tensor(
            Some(DType::U8),
            Some(vec![
                Dim::Sym("seq len".into()),
                Dim::Sym("3".into()),
                Dim::Sym("".into()),
            ]),
        ),
        ValueType::SparseTensor(TensorType {
            dtype: Some(DType::F32),
            shape: Some(Shape::known(&[10, 10])),
        }),
        ValueType::Sequence(Some(Box::new(ValueType::tensor(DType::F32, &[2])))),
        ValueType::Sequence(None),
        ValueType::Map {
            key: DType::I64,
            value: Some(Box::new(ValueType::Sequence(Some(Box::new(
                ValueType::Map {
                    key: DType::Str,
                    value: None,
                },
            ))))),
        },
        ValueType::Optional(Some(Box::new(ValueType::Optional(None)))),
        ValueType::Opaque {
            domain: "com.example".into(),
            name: "a \"thing\"".into(),
        },
        ValueType::Unspecified,
    ];
    let mut g = Graph::new("types");
    for (k, ty) in types.into_iter().enumerate() {
        let denotation = if k == 0 {
            "IMAGE".to_string()
        } else {
            String::new()
        };
        g.add_input(Value::typed(
            format!("v{k}"),
            TypeInfo {
                ty,
                denotation: denotation.into(),
            },
        ));
    }
    let untyped = g.add_input(Value::named("untyped"));
    g.push_output(v(untyped));
    let text = round_trip_graph(&g);
    for needle in [
        "%v0: f32[batch,?,3] denotation=\"IMAGE\"",
        "%v1: f32[*]",
        "%v2: ?[2,3]",
        "%v3: ?[*]",
        "%v4: i64[]",
        "%v5: u8[\"seq len\",\"3\",\"\"]",
        "%v6: sparse<f32[10,10]>",
        "%v8: seq<_>",
        "%v9: map<i64, seq<map<str, _>>>",
        "%v10: opt<opt<_>>",
        "%v11: opaque<\"com.example\", \"a \\\"thing\\\"\">",
        "%v12: unspecified",
        "%untyped)",
    ] {
        assert!(text.contains(needle), "{needle} not in\n{text}");
    }
}

#[test]
fn sub_graphs_with_outer_values_and_captures_round_trip() {
    let g = if_graph();
    let text = round_trip_graph(&g);
    assert!(
        text.contains("graph then() outer(%x: f32[3], %w) -> (%s) {"),
        "{text}"
    );
    assert!(text.contains("} captures(%x, %w)"), "{text}");

    // Captures with a gap in their slots, and a second level of nesting.
    let mut g = if_graph();
    let iff = g
        .topo_order()
        .unwrap()
        .into_iter()
        .find(|&id| g.node(id).op == onnx(OnnxOp::If))
        .unwrap();
    let w = g.find_value("w").unwrap();
    g.disconnect(iff, 2);
    g.connect(w, iff, 5);
    let inner = if_graph();
    g.node_mut(iff)
        .attrs
        .set("nested", Attr::Graphs(vec![inner]));
    let text = round_trip_graph(&g);
    assert!(text.contains("captures(1: %x, 5: %w)"), "{text}");
}

#[test]
fn absent_inputs_and_outputs_round_trip() {
    let mut g = Graph::new("absent");
    let x = g.add_input(Value::named("x"));
    let n = add(
        &mut g,
        custom("com.example", "Multi"),
        &[None, Some(v(x)), None],
        &["", "b", ""],
    );
    let sink = add(
        &mut g,
        custom("com.example", "Sink"),
        &[Some(ValueRef::new(n, 1))],
        &[],
    );
    let _ = add(&mut g, custom("com.example", "Source"), &[], &["c"]);
    g.node_mut(n).outputs[2].ty = Some(std::sync::Arc::new(tt(DType::F32, &[1])));
    g.node_mut(sink).name = "sink".into();
    g.push_output(ValueRef::new(n, 1));
    let text = round_trip_graph(&g);
    assert!(
        text.contains("_, %b, _: f32[1] = com.example.Multi(_, %x, _)"),
        "{text}"
    );
    assert!(
        text.contains("() = com.example.Sink(%b) name=\"sink\""),
        "{text}"
    );
    assert!(text.contains("%c = com.example.Source()"), "{text}");
}

#[test]
fn quoted_and_shadowed_names_round_trip() {
    let mut g = Graph::new("my graph");
    let a = g.add_input(Value::named("onnx::Conv_1"));
    let b = g.add_input(Value::named("x"));
    let e = g.add_input(Value::named(""));
    let r1 = add(&mut g, onnx(OnnxOp::Relu), &[Some(v(a))], &["x"]); // shadows input x
    let r2 = add(
        &mut g,
        onnx(OnnxOp::Add),
        &[Some(v(b)), Some(v(r1))],
        &["x"],
    ); // reads both
    let r3 = add(
        &mut g,
        onnx(OnnxOp::Add),
        &[Some(v(e)), Some(v(r1))],
        &["ünïcode\u{7}"],
    );
    let r4 = add(&mut g, onnx(OnnxOp::Relu), &[Some(v(r2))], &["123"]);
    g.set_outputs(vec![v(b), v(r1), v(r2), v(r3), v(r4)]);
    let text = round_trip_graph(&g);
    assert!(
        text.contains("graph \"my graph\"(%\"onnx::Conv_1\", %x, _)"),
        "{text}"
    );
    assert!(text.contains("%x = Add(%x#0, %x)"), "{text}");
    assert!(text.contains("= Add(%\"\", %x#1)"), "{text}");
    assert!(
        text.contains("-> (%x#0, %x#1, %x, %\"ünïcode\\x07\", %\"123\")"),
        "{text}"
    );
}

#[test]
fn custom_ops_that_look_like_onnx_ops_round_trip() {
    let mut g = Graph::new("ops");
    let x = g.add_input(Value::named("x"));
    let ops = [
        custom("", "Foo"),
        custom("", "Relu"),
        custom("", "const"),
        custom("", "a b"),
        custom("com.example", ""),
        custom("ai.onnx", "Relu"),
        custom("ai.onnx", "NotAnOp"),
        custom("ai.onnx.ml", "Scaler"),
        custom("my domain", "Op.With.Dots"),
        custom("custom", "Foo"),
        custom("com.example", "input"),
        onnx(OnnxOp::MlScaler),
        onnx(OnnxOp::Relu),
    ];
    let mut last = v(x);
    for (k, op) in ops.into_iter().enumerate() {
        last = v(add(&mut g, op, &[Some(last)], &[&format!("y{k}")]));
    }
    g.push_output(last);
    let text = round_trip_graph(&g);
    for needle in [
        "= custom Foo(",
        "= custom Relu(",
        "= custom const(",
        "= custom \"a b\"(",
        "= com.example.\"\"(",
        "= custom ai.onnx.Relu(",
        "= ai.onnx.NotAnOp(",
        "= custom ai.onnx.ml.Scaler(",
        "= \"my domain\".\"Op.With.Dots\"(",
        "= custom.Foo(",
        "= com.example.input(",
        "%y11 = ai.onnx.ml.Scaler(",
        "%y12 = Relu(",
    ] {
        assert!(text.contains(needle), "{needle} not in\n{text}");
    }
}

#[test]
fn node_value_and_graph_fields_round_trip() {
    let mut g = Graph::new("fields");
    g.doc = "graph doc".into();
    g.meta = vec![("k".into(), "v".into()), ("k".into(), "again".into())].into();
    g.extra = vec![(
        "onnx.value_info".into(),
        Bytes::from_static(b"\x0a\x00\xff"),
    )]
    .into();
    let x = g.add_input(Value {
        name: "x".into(),
        ty: Some(std::sync::Arc::new(tt(DType::F32, &[1, 3, 8, 8]))),
        doc: "the image".into(),
        meta: vec![("unit".into(), "px".into())].into(),
        origin: None,
    });
    let with_default = g.add_input(Value::typed("scale", tt(DType::F32, &[1])));
    g.node_mut(with_default).op = Op::Input {
        default: Some(Box::new(f32s(&[1], &[2.0]))),
    };
    let odd_input = g.add_input(Value::named("odd"));
    {
        let n = g.node_mut(odd_input);
        n.name = "input node".into();
        n.doc = "node-level doc".into();
        n.extra = vec![("x".into(), Bytes::new())].into();
    }
    let w = g.add_const("w", f32s(&[2, 3, 1, 1], &[0.0; 6]));
    let untyped_const = g.add_const("u", i64s(&[1], &[1]));
    g.node_mut(untyped_const).outputs[0].ty = None;
    let retyped_const = g.add_const("r", i64s(&[1], &[1]));
    g.node_mut(retyped_const).outputs[0].ty = Some(std::sync::Arc::new(tt(DType::I64, &[])));
    let conv = add(
        &mut g,
        onnx(OnnxOp::Conv),
        &[Some(v(x)), Some(v(w))],
        &["c"],
    );
    {
        let n = g.node_mut(conv);
        n.layout = Some(Layout::Nhwc);
        n.name = "conv/1".into();
        n.doc = "multi\nline".into();
        n.meta = vec![("a".into(), "b".into())].into();
        n.extra = vec![("tflite.options".into(), Bytes::from_static(&[1, 2, 3]))].into();
        n.outputs[0].doc = "value doc".into();
        n.outputs[0].meta = vec![("q".into(), "r".into())].into();
    }
    let pool = add(&mut g, onnx(OnnxOp::MaxPool), &[Some(v(conv))], &["p"]);
    assert_eq!(g.node(pool).layout, Some(Layout::Nchw));
    let orphan = g.add_node(Node::new(
        Op::Input {
            default: Some(Box::new(f32s(&[1], &[1.0]))),
        },
        0,
        vec![Value::named("orphan")],
    ));
    let sparse = g.add_node(Node::new(
        Op::SparseConst(Box::new(SparseTensor {
            values: f32s(&[1], &[3.0]),
            indices: i64s(&[1, 2], &[0, 1]),
            dims: vec![2, 2],
        })),
        0,
        vec![Value::named("sp")],
    ));
    g.set_outputs(vec![
        v(pool),
        v(orphan),
        v(sparse),
        v(untyped_const),
        v(retyped_const),
        v(with_default),
    ]);
    let text = round_trip_graph(&g);
    for needle in [
        "%x: f32[1,3,8,8] doc=\"the image\" meta={\"unit\": \"px\"}",
        "%scale: f32[1] = f32[1] [2.0]",
        "%odd node(name=\"input node\" doc=\"node-level doc\" extra={\"x\": x\"\"})",
        "doc=\"graph doc\" meta={\"k\": \"v\", \"k\": \"again\"} extra={\"onnx.value_info\": x\"0a00ff\"} {",
        "%u: _ = const i64[1] [1]",
        "%r: i64[] = const i64[1] [1]",
        "%c doc=\"value doc\" meta={\"q\": \"r\"} = Conv(%x, %w) layout=NHWC name=\"conv/1\" doc=\"multi\\nline\" \
         meta={\"a\": \"b\"} extra={\"tflite.options\": x\"010203\"}",
        "%p = MaxPool(%c) layout=NCHW\n",
        "%orphan = input f32[1] [1.0]",
        "%sp = const sparse[2,2] values=f32[1] [3.0] indices=i64[1,2] [0, 1]",
    ] {
        assert!(text.contains(needle), "{needle} not in\n{text}");
    }
}

fn example_model() -> Model {
    let mut body = Graph::new("");
    let a = body.add_input(Value::named("a"));
    let b = body.add_input(Value::named("b"));
    let s = add(
        &mut body,
        onnx(OnnxOp::Add),
        &[Some(v(a)), Some(v(b))],
        &["s"],
    );
    let c = add(&mut body, onnx(OnnxOp::LeakyRelu), &[Some(v(s))], &["c"]);
    body.node_mut(c).attrs = attrs(vec![(
        "alpha",
        Attr::Ref {
            name: "alpha".into(),
            kind: AttrKind::Float,
        },
    )]);
    body.push_output(v(c));
    let f = Function {
        name: "AddRelu".into(),
        domain: "com.example".into(),
        overload: String::new(),
        attributes: vec!["alpha".into()],
        attribute_defaults: vec![("beta".into(), Attr::Int(3))],
        opset_imports: vec![OpsetImport {
            domain: String::new(),
            version: 17,
        }],
        body,
        doc: "adds, then leaks".into(),
        meta: Default::default(),
    };
    let mut g = Graph::new("main");
    let x = g.add_input(Value::typed("x", tt(DType::F32, &[2])));
    let y = add(
        &mut g,
        custom("com.example", "AddRelu"),
        &[Some(v(x)), Some(v(x))],
        &["y"],
    );
    g.node_mut(y).attrs = attrs(vec![("alpha", Attr::Float(0.5))]);
    g.push_output(v(y));
    let mut m = Model::new(g, 17);
    m.opset_imports.push(OpsetImport {
        domain: "com.example".into(),
        version: 1,
    });
    m.producer_name = "pytorch".into();
    m.producer_version = "2.1.0".into();
    m.meta = vec![("author".into(), "me".into())].into();
    m.functions.push(f);
    m
}

#[test]
fn models_and_functions_round_trip() {
    let m = example_model();
    round_trip_model(&m);

    let mut m = example_model();
    m.ir_version = 0;
    m.opset_imports.clear();
    m.producer_name.clear();
    m.producer_version = "only a version".into();
    m.domain = "ai.example".into();
    m.model_version = -3;
    m.doc = "a \"model\"".into();
    m.extra = vec![("onnx.training_info".into(), Bytes::from_static(b"\x12\x34"))].into();
    let f = &mut m.functions[0];
    f.domain = String::new();
    f.name = "has space".into();
    f.overload = "v2".into();
    f.meta = vec![("m".into(), "n".into())].into();
    f.body.name = "body".into();
    f.body.doc = "body doc".into();
    f.attribute_defaults
        .push(("g".into(), Attr::Graph(Box::new(if_graph()))));
    let big = Tensor::from_f32(vec![100], &[1.0; 100]).unwrap();
    f.attribute_defaults.push(("t".into(), Attr::Tensor(big)));
    let second = Function {
        name: "Nothing".into(),
        domain: "com.example".into(),
        overload: String::new(),
        attributes: vec![],
        attribute_defaults: vec![],
        opset_imports: vec![],
        body: Graph::new(""),
        doc: String::new(),
        meta: vec![].into(),
    };
    m.functions.push(second);
    let text = round_trip_model(&m);
    assert!(
        text.contains("func \"has space\"<alpha, beta=3, g=graph main("),
        "{text}"
    );
    assert!(
        text.contains("func com.example.Nothing graph() -> () {\n}"),
        "{text}"
    );
}

#[test]
fn hashed_constants_need_the_constants_table() {
    let g = example_graph();
    let text = print_graph(&g, &PrintOptions::default());
    let w = g.node(g.find_value("w").unwrap().node);
    let Op::Const(t) = &w.op else { panic!() };
    let hash = format!("#{:016x}", t.content_hash());
    assert!(text.contains(&hash));
    let err = parse_graph(&text, None).unwrap_err();
    assert!(
        err.message.contains(&hash) && err.message.contains("constants"),
        "{err}"
    );
    let err = parse_graph(&text, Some(&HashMap::new())).unwrap_err();
    assert_eq!(err.message, format!("unknown constant {hash}"));
    // A table whose tensor has another shape under that hash is refused.
    let mut wrong = HashMap::new();
    wrong.insert(t.content_hash(), f32s(&[1], &[0.0]));
    let err = parse_graph(&text, Some(&wrong)).unwrap_err();
    assert!(
        err.message.contains("is f32[1], not f32[64,3,7,7]"),
        "{err}"
    );
    // The limit is an option.
    let all = print_graph(
        &g,
        &PrintOptions {
            inline_limit: usize::MAX,
        },
    );
    assert!(!all.contains('#'));
    let none = print_graph(&g, &PrintOptions { inline_limit: 0 });
    assert!(!none.contains("[0.5, -1.0, 2.0]"));
    assert!(parse_graph(&none, Some(&graph_constants(&g))).unwrap() == g);
}

#[test]
fn hand_written_text_parses() {
    let g = Graph::parse(
        r#"
        // comments and free layout are fine
        graph g(%x: f32[2], %y: f32[2]) -> (%z) {
          %k = const f32[2] [1, 2.5]
          %s = Add(%x,%y)   %z = Mul(%s, %k) {note="x"}
        }"#,
    )
    .unwrap();
    assert_eq!(g.node_count(), 5);
    let z = g.outputs()[0];
    assert_eq!(g.node(z.node).op, onnx(OnnxOp::Mul));
    let k = g.input(z.node, 1).unwrap();
    assert_eq!(
        g.node(k.node).op,
        Op::Const(Box::new(f32s(&[2], &[1.0, 2.5])))
    );
    assert_eq!(
        g.value(k).unwrap().ty.as_deref(),
        Some(&tt(DType::F32, &[2]))
    );
    // A layout-sensitive op without `layout=` gets ONNX's NCHW, as `Node::new` gives it.
    let g = Graph::parse("graph(%x) -> (%y) { %y = MaxPool(%x) }").unwrap();
    assert_eq!(g.node(g.outputs()[0].node).layout, Some(Layout::Nchw));
    // Display is the printer with default options.
    assert_eq!(g.to_string(), print_graph(&g, &PrintOptions::default()));
    assert_eq!(type_to_string(&tt(DType::F32, &[2, 3])), "f32[2,3]");
}

// ---------------------------------------------------------------------------------------------
// Snapshots

#[test]
fn snapshot_example_graph() {
    insta::assert_snapshot!(print_graph(&example_graph(), &PrintOptions::default()));
}

#[test]
fn snapshot_if_graph() {
    insta::assert_snapshot!(print_graph(&if_graph(), &PrintOptions::default()));
}

#[test]
fn snapshot_model() {
    insta::assert_snapshot!(print_model(&example_model(), &PrintOptions::default()));
}

#[test]
fn snapshot_every_attr_kind() {
    insta::assert_snapshot!(print_graph(&every_attr_graph(), &PrintOptions::default()));
}

// ---------------------------------------------------------------------------------------------
// Errors

#[test]
fn errors_say_where_and_what() {
    let cases = [
        (
            "graph g(%x) -> (%y) {\n  %y = Frobnicate(%x)\n}",
            "line 2, column 8: unknown op `Frobnicate` (a custom op needs a domain, `com.example.Frobnicate`, \
             or the `custom` prefix, `custom Frobnicate`)",
        ),
        (
            "graph g(%x) -> (%y) {\n  %y = Relu(%nope)\n}",
            "line 2, column 13: undefined value `%nope`",
        ),
        ("graph g(%x) -> (%nope) {\n}", "line 1, column 17: undefined value `%nope`"),
        (
            "graph g(%x: f33[2]) -> () {}",
            "line 1, column 13: unknown type `f33`",
        ),
        (
            "graph g(%x: f32[2) -> () {}",
            "line 1, column 18: expected `,` or `]` in a shape",
        ),
        (
            "graph g(%x) -> () {\n  %y = com.example.Foo(%x) {s=\"abc}\n}",
            "line 2, column 31: unterminated string",
        ),
        ("graph g(%x -> () {}", "line 1, column 12: expected `,` or `)` after a graph input"),
        ("graph g(%x) () {}", "line 1, column 13: expected `->` after the graph's inputs"),
        ("graph g() -> () {\n  %y = const f32[2] [1.0]\n}", "line 2, column 21: f32[2] needs 2 elements, found 1"),
        ("graph g() -> () {\n  %y = const u8[1] [256]\n}", "line 2, column 21: integer 256 is out of range [0, 255]"),
        ("graph g() -> () { %y = const f32[1] [nan(0x3f800000)] }", "line 1, column 38: `nan(0x3f800000)` is not a NaN bit pattern"),
        ("graph g() -> () { %y = com.x.Y() {a=[]} }", "line 1, column 37: an empty list needs its kind: `ints[]`, `floats[]`, `strings[]`, `tensors[]`, ..."),
        ("graph g(%x) -> () { %y = com.x.Y(%x) layuot=NCHW }", "line 1, column 38: unknown clause `layuot=`"),
        ("graph g(%x) -> () { %y = com.x.Y(%x) name=\"a\" name=\"b\" }", "line 1, column 47: `name` is given twice"),
        ("graph g(%x) -> () { %y = Relu(%x#3) }", "line 1, column 31: `%x#3`: `%x` has only 1 definition(s) here"),
        ("graph g(%x) -> () { %y = Relu(%x) } junk", "line 1, column 37: expected end of input after the graph"),
        ("graph g(%x) -> () {", "line 1, column 20: expected `}` to close the graph's body"),
        ("graph g() -> () { %s = const str[1] [\"\\q\"] }", "line 1, column 39: unknown escape (expected \\\" \\\\ \\n \\r \\t \\0 or \\xNN)"),
        ("graph g(%x: seq<f32[1]) -> () {}", "line 1, column 23: expected `>` to close `seq<...>`"),
    ];
    let mut wrong = Vec::new();
    for (text, expected) in cases {
        let got = parse_err(text);
        if got != expected {
            wrong.push(format!("{text}\n  got:      {got}\n  expected: {expected}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    // An unknown `domain.Name` is a custom op, not an error.
    let g = Graph::parse("graph g(%x) -> (%y) { %y = com.example.Frobnicate(%x) }").unwrap();
    assert_eq!(
        g.node(g.outputs()[0].node).op,
        custom("com.example", "Frobnicate")
    );
    // Model-level errors.
    let err = parse_model(
        "model {\n  ir_version: 10\n  colour: 3\n}\ngraph g() -> () {}",
        None,
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "line 3, column 3: unknown model field `colour`"
    );
    let err = parse_model("graph g() -> () {}", None).unwrap_err();
    assert_eq!(err.to_string(), "line 1, column 1: expected `model {`");
}

#[test]
fn nesting_is_bounded() {
    // Types: 63 levels of seq<> parse, far more do not (and do not overflow the stack).
    let ty = |depth: usize| format!("{}f32[1]{}", "seq<".repeat(depth), ">".repeat(depth));
    // The graph is one level, the `f32[1]` another.
    assert!(Graph::parse(&format!("graph g(%x: {}) -> () {{}}", ty(62))).is_ok());
    let err = parse_err(&format!("graph g(%x: {}) -> () {{}}", ty(63)));
    assert!(err.contains("nesting is too deep"), "{err}");
    let err = parse_err(&format!("graph g(%x: {}) -> () {{}}", ty(100_000)));
    assert!(err.contains("nesting is too deep"), "{err}");

    // Graphs inside attributes.
    let graphs = |depth: usize| {
        let mut s = String::from("graph g() -> () {}");
        for _ in 1..depth {
            s = format!("graph g() -> () {{ () = com.x.Y() {{body={s}}} }}");
        }
        s
    };
    let g = Graph::parse(&graphs(64)).unwrap();
    assert_eq!(
        print_graph(&g, &PrintOptions::default())
            .matches("graph")
            .count(),
        64
    );
    let err = parse_err(&graphs(65));
    assert!(err.contains("nesting is too deep"), "{err}");
    let err = parse_err(&"graph g() -> () { () = com.x.Y() {body=".repeat(10_000));
    assert!(err.contains("nesting is too deep"), "{err}");

    // The other ways graphs nest: in graph lists and in the node clauses of a header entry.
    let lists = |depth: usize| {
        let mut s = String::from("graph g() -> () {}");
        for _ in 1..depth {
            s = format!("graph g() -> () {{ () = com.x.Y() {{bodies=graphs[{s}]}} }}");
        }
        s
    };
    assert!(Graph::parse(&lists(64)).is_ok());
    assert!(parse_err(&lists(65)).contains("nesting is too deep"));
    let headers = |depth: usize| {
        let mut s = String::from("graph g() -> () {}");
        for _ in 1..depth {
            s = format!("graph g(%x node({{body={s}}})) -> () {{}}");
        }
        s
    };
    let g = Graph::parse(&headers(64)).unwrap();
    round_trip_graph(&g);
    assert!(parse_err(&headers(65)).contains("nesting is too deep"));
}

fn kitchen_sink_model() -> Model {
    let mut m = example_model();
    m.graph = every_attr_graph();
    let mut f = m.functions[0].clone();
    f.name = "Other".into();
    f.body = if_graph();
    m.functions.push(f);
    m.doc = "kitchen \"sink\"".into();
    m.extra = vec![("k".into(), Bytes::from_static(b"\x00\x01"))].into();
    m
}

#[test]
fn truncated_and_mangled_text_never_panics() {
    let m = kitchen_sink_model();
    round_trip_model(&m);
    let opts = PrintOptions { inline_limit: 4 };
    let text = print_model(&m, &opts);
    let consts = constants(&m);
    assert!(parse_model(&text, Some(&consts)).unwrap() == m);
    let mut boundaries: Vec<usize> = text.char_indices().map(|(k, _)| k).collect();
    boundaries.push(text.len());
    for &end in boundaries.iter().filter(|&&b| b < text.trim_end().len()) {
        let prefix = &text[..end];
        assert!(
            parse_model(prefix, Some(&consts)).is_err(),
            "prefix of {end} bytes parsed"
        );
        let _ = parse_graph(prefix, Some(&consts));
    }
    // Every character replaced by a few troublesome ones, and every character dropped.
    for (k, &at) in boundaries[..boundaries.len() - 1].iter().enumerate() {
        let next = boundaries[k + 1];
        for replacement in ["", "\"", "%", "{", "]", "\\", "9", "é", "graph ", "_"] {
            let mangled = format!("{}{}{}", &text[..at], replacement, &text[next..]);
            let _ = parse_model(&mangled, Some(&consts));
        }
    }
}

#[test]
fn constants_collects_every_reachable_tensor() {
    let m = kitchen_sink_model();
    let consts = constants(&m);
    let mut expected = Vec::new();
    walk_model(&m, &mut |t| expected.push(t.clone()));
    assert!(expected.len() >= 8);
    for t in expected {
        assert_eq!(consts.get(&t.content_hash()), Some(&t));
    }
    // Function attribute defaults and sparse parts are included.
    let mut m = example_model();
    let big = Tensor::from_f32(vec![100], &[3.0; 100]).unwrap();
    m.functions[0]
        .attribute_defaults
        .push(("t".into(), Attr::Tensor(big.clone())));
    assert_eq!(constants(&m).get(&big.content_hash()), Some(&big));
}

#[test]
fn cyclic_and_dangling_graphs_still_print() {
    let mut g = Graph::new("cycle");
    let a = add(&mut g, onnx(OnnxOp::Relu), &[None], &["a"]);
    let b = add(&mut g, onnx(OnnxOp::Relu), &[Some(v(a))], &["b"]);
    g.connect(v(b), a, 0);
    g.push_output(v(b));
    g.set_inputs(vec![NodeId::new(99)]);
    let text = print_graph(&g, &PrintOptions::default());
    assert!(text.contains("// error: the graph has a cycle"), "{text}");
    assert!(parse_graph(&text, None).is_err());
}

/// A hand-written text using most of the syntax; it parses and prints back byte for byte.
const EXAMPLE: &str = r#"model {
  ir_version: 10
  opset_import: {"": 17, "com.example": 1}
  producer: "pytorch" "2.1.0"
  doc: "a small model"
  meta: {"author": "me"}
}

func com.example.AddRelu<alpha, beta=3> opsets={"": 17} graph(%a, %b) -> (%c) {
  %s = Add(%a, %b)
  %c = LeakyRelu(%s) {alpha=@alpha:float}
}

graph main(%x: f32[N,3,224,224] denotation="IMAGE", %"onnx::mask": bool[?,7], %cond: bool[], %scale: f32[1] = f32[1] [2.0]) -> (%y, %aux, %z) doc="the main graph" {
  %w = const f32[64,3,7,7] #5ce29f0839718967
  %b: _ = const f32[3] [0.5, -0.0, nan(0x7fc00001)]
  %ids = const i64[2] [0, -9223372036854775808]
  %names = const str[2] ["a", "café\n"]
  %q = const i4[3] [-8, 7, 0]
  %h = const bf16[2] [1.0, -2.5]
  %f8 = const f8e4m3fn[2] x"3840"
  %sp = const sparse[4,4] values=f32[2] [1.5, 2.0] indices=i64[2,2] [0, 1, 3, 3]
  %c = Conv(%x, %w, _) {strides=[2,2], pads=[3,3,3,3]} layout=NCHW name="/conv1/Conv"
  %y: f32[N,64,112,112] doc="activations" = Relu(%c) name="relu_1" doc="a node" meta={"k": "v"} extra={"onnx.overload": x"7632"}
  %aux, _: seq<f32[*]> = com.example.Thing(%c, %b) {t=type map<i64, opt<_>>, v=f32[] [1.0] doc="the value", e=ints[]}
  %x = custom Relu(%x)
  %x2 = Add(%x#0, %x)
  %z = If(%cond) {then_branch=graph then() outer(%x, %w) -> (%s) {
    %s = Mul(%x, %w)
  }, else_branch=graph else() outer(%y) -> (%y) {
  }} captures(%x, %w, %y)
  () = com.example.Print(%"onnx::mask", %scale)
}
"#;

#[test]
fn hand_written_example_prints_back_identically() {
    let mut consts = HashMap::new();
    let w = Tensor::from_f32(vec![64, 3, 7, 7], &vec![0.25; 64 * 3 * 7 * 7]).unwrap();
    consts.insert(w.content_hash(), w);
    let m = parse_model(EXAMPLE, Some(&consts)).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(print_model(&m, &PrintOptions::default()), EXAMPLE);
    round_trip_model(&m);
    // The shadowed `%x` is read as written.
    let x2 = m.graph.find_value("x2").unwrap();
    let first_x = m.graph.input(x2.node, 0).unwrap();
    assert_eq!(first_x.node, m.graph.inputs()[0]);
}
