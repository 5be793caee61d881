//! Regressions found by the `onnx_reader` fuzz target (`fuzz/`): whatever the reader accepts
//! must survive an ONNX round trip and a text-form round trip; what cannot is refused with a
//! one-line error.

use modelc_ir::text::{constants, parse_model, print_model, PrintOptions};
use modelc_onnx::proto::{self, attribute_proto::AttributeType};
use modelc_onnx::{decode, encode};
use prost::Message;

pub(crate) fn node(op: &str, inputs: &[&str], outputs: &[&str]) -> proto::NodeProto {
    proto::NodeProto {
        op_type: Some(op.into()),
        input: inputs.iter().map(|s| s.to_string()).collect(),
        output: outputs.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    }
}

fn info(name: &str) -> proto::ValueInfoProto {
    proto::ValueInfoProto {
        name: Some(name.into()),
        ..Default::default()
    }
}

fn graph(
    name: &str,
    inputs: &[&str],
    nodes: Vec<proto::NodeProto>,
    outputs: &[&str],
) -> proto::GraphProto {
    proto::GraphProto {
        name: Some(name.into()),
        node: nodes,
        input: inputs.iter().map(|n| info(n)).collect(),
        output: outputs.iter().map(|n| info(n)).collect(),
        ..Default::default()
    }
}

fn graph_attr(name: &str, g: proto::GraphProto) -> proto::AttributeProto {
    proto::AttributeProto {
        name: Some(name.into()),
        r#type: Some(AttributeType::Graph as i32),
        g: Some(g),
        ..Default::default()
    }
}

fn model(g: proto::GraphProto) -> Vec<u8> {
    proto::ModelProto {
        ir_version: Some(10),
        opset_import: vec![proto::OperatorSetIdProto {
            domain: Some(String::new()),
            version: Some(21),
        }],
        graph: Some(g),
        ..Default::default()
    }
    .encode_to_vec()
}

/// What the fuzz target checks: the model reads, and if so it round-trips through ONNX and
/// through the text form.
fn read_and_round_trip(bytes: Vec<u8>) -> Result<(), String> {
    let m = decode(bytes.into(), None).map_err(|e| e.to_string())?;
    if let Ok(encoded) = encode(&m) {
        let again = decode(encoded.into(), None).expect("what modelc writes, it reads");
        assert!(again == m, "ONNX round trip changed the model");
    }
    let text = print_model(&m, &PrintOptions::default());
    let parsed = parse_model(&text, Some(&constants(&m)))
        .unwrap_or_else(|e| panic!("printed text does not parse: {e}\n{text}"));
    assert!(parsed == m, "text round trip changed the model:\n{text}");
    Ok(())
}

/// Found by the fuzzer as a byte flip in `sparse_init.onnx` (`MatMul(x, w)` became
/// `MatMql(y, w)`, `y` being the output of the Add that reads the MatMul): the reader built
/// a cyclic graph, which the text form cannot express and the writer refuses.
#[test]
fn cyclic_graphs_are_refused() {
    let g = graph(
        "g",
        &["x"],
        vec![
            node("MatMql", &["y", "x"], &["xw"]),
            node("Add", &["xw", "x"], &["y"]),
        ],
        &["y"],
    );
    let e = read_and_round_trip(model(g)).unwrap_err();
    assert!(e.contains("graph `g`") && e.contains("cycle"), "{e}");

    // A node reading its own output.
    let g = graph("g", &["x"], vec![node("Add", &["x", "y"], &["y"])], &["y"]);
    let e = read_and_round_trip(model(g)).unwrap_err();
    assert!(e.contains("cycle"), "{e}");

    // A cycle inside a sub-graph.
    let body = graph(
        "body",
        &[],
        vec![node("Neg", &["b"], &["a"]), node("Neg", &["a"], &["b"])],
        &["b"],
    );
    let mut if_node = node("If", &["c"], &["r"]);
    if_node.attribute = vec![
        graph_attr("then_branch", body.clone()),
        graph_attr("else_branch", body),
    ];
    let e = read_and_round_trip(model(graph("g", &["c"], vec![if_node], &["r"]))).unwrap_err();
    assert!(e.contains("graph `body`") && e.contains("cycle"), "{e}");

    // A node whose sub-graph reads the node's own output (a capture cycle).
    let body = graph("body", &[], vec![node("Neg", &["r"], &["b"])], &["b"]);
    let mut if_node = node("If", &["c"], &["r"]);
    if_node.attribute = vec![
        graph_attr("then_branch", body.clone()),
        graph_attr("else_branch", body),
    ];
    let e = read_and_round_trip(model(graph("g", &["c"], vec![if_node], &["r"]))).unwrap_err();
    assert!(e.contains("cycle"), "{e}");

    // Out of order but acyclic still reads.
    let g = graph(
        "g",
        &["x"],
        vec![node("Neg", &["a"], &["y"]), node("Neg", &["x"], &["a"])],
        &["y"],
    );
    read_and_round_trip(model(g)).unwrap();
}

/// A node with very many inputs (3 bytes each in the file) used to take time quadratic in
/// their number to read and to parse back (`Graph::connect` looks for the edge it replaces):
/// 20,000 inputs took over half a second in a release build, so a few megabytes hung the
/// reader. Now it is linear; the bound here is generous (the quadratic version takes about
/// a minute in a debug build).
#[test]
fn nodes_with_very_many_inputs_read_in_linear_time() {
    let n = 100_000;
    let inputs = vec!["x"; n];
    let g = graph("g", &["x"], vec![node("Sum", &inputs, &["y"])], &["y"]);
    let start = std::time::Instant::now();
    read_and_round_trip(model(g)).unwrap();
    let took = start.elapsed();
    assert!(
        took < std::time::Duration::from_secs(15),
        "reading, writing, printing and parsing {n} inputs took {took:?}"
    );
}

fn seq_type(depth: usize) -> proto::TypeProto {
    let mut t = proto::TypeProto {
        value: Some(proto::type_proto::Value::TensorType(
            proto::type_proto::Tensor {
                elem_type: Some(1),
                shape: None,
            },
        )),
        denotation: None,
    };
    for _ in 0..depth {
        t = proto::TypeProto {
            value: Some(proto::type_proto::Value::SequenceType(Box::new(
                proto::type_proto::Sequence {
                    elem_type: Some(Box::new(t)),
                },
            ))),
            denotation: None,
        };
    }
    t
}

/// `If` nodes nested `depth` deep through their then-branches, the innermost reading `c`
/// from the main graph.
fn nested_ifs(depth: usize) -> proto::GraphProto {
    let mut branch = graph("b0", &[], vec![node("Neg", &["c"], &["o0"])], &["o0"]);
    for k in 1..=depth {
        let out = format!("o{k}");
        let mut n = node("If", &["c"], &[&out]);
        let other = graph("e", &[], vec![node("Neg", &["c"], &["e"])], &["e"]);
        n.attribute = vec![
            graph_attr("then_branch", branch),
            graph_attr("else_branch", other),
        ];
        branch = graph(&format!("b{k}"), &[], vec![n], &[&out]);
    }
    branch.name = Some("g".into());
    branch.input = vec![info("c")];
    branch
}

/// The deepest types and sub-graphs the reader accepts still print and parse back (the text
/// form bounds nesting at 64 graphs and types; the protobuf decoder's recursion limit keeps
/// what the reader accepts below that), and deeper ones are a one-line error, not a crash.
#[test]
fn deepest_accepted_nesting_round_trips() {
    let mut deepest = 0;
    for depth in 1..200 {
        let mut vi = info("x");
        vi.r#type = Some(seq_type(depth));
        let mut g = graph("g", &[], vec![], &[]);
        g.input = vec![vi.clone()];
        g.output = vec![vi];
        match read_and_round_trip(model(g)) {
            Ok(()) => deepest = depth,
            Err(e) => {
                assert!(!e.contains('\n'), "{e}");
                break;
            }
        }
    }
    assert!(deepest >= 16, "only {deepest} nested sequence types read");

    let mut deepest = 0;
    for depth in 1..200 {
        match read_and_round_trip(model(nested_ifs(depth))) {
            Ok(()) => deepest = depth,
            Err(e) => {
                assert!(!e.contains('\n'), "{e}");
                break;
            }
        }
    }
    assert!(deepest >= 8, "only {deepest} nested sub-graphs read");
}

/// A source model with two nodes of one name reads (names are for diagnostics), but is not
/// written back: onnxruntime refuses such a graph, so the writer names the repeated names.
#[test]
fn repeated_node_names_are_refused_on_write() {
    let mut a = node("Relu", &["x"], &["a"]);
    a.name = Some("act".into());
    let mut b = node("Neg", &["a"], &["y"]);
    b.name = Some("act".into());
    let m = decode(model(graph("g", &["x"], vec![a, b], &["y"])).into(), None)
        .expect("repeated node names read");
    let err = encode(&m)
        .expect_err("repeated node names are refused")
        .to_string();
    assert!(err.contains("more than one node is named `act`"), "{err}");
}
