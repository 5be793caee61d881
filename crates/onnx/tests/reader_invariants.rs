//! Regressions found by the `onnx_reader` fuzz target (`fuzz/`): whatever the reader accepts
//! must survive an ONNX round trip and a text-form round trip; what cannot is refused with a
//! one-line error.

use modelc_ir::text::{constants, parse_model, print_model, PrintOptions};
use modelc_onnx::proto::{self, attribute_proto::AttributeType};
use modelc_onnx::{decode, encode};
use prost::Message;

fn node(op: &str, inputs: &[&str], outputs: &[&str]) -> proto::NodeProto {
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
