//! Node-heavy files: the reader refuses a node without an op type at once (a file of empty
//! NodeProtos is two bytes a node), and the writer, which encodes the main graph's nodes as
//! it makes them, writes what the whole-`ModelProto` encoding holds.

use modelc_onnx::proto::{self, attribute_proto::AttributeType};
use modelc_onnx::{decode, to_proto, write, ExternalData, WriteOptions};
use prost::Message;

use super::dims::{dim, float_input};
use super::reader_invariants::node;

/// A float value of shape `[4]`.
fn info(name: &str) -> proto::ValueInfoProto {
    float_input(name, vec![dim(4)])
}

fn model(nodes: Vec<proto::NodeProto>, inputs: &[&str], outputs: &[&str]) -> proto::ModelProto {
    proto::ModelProto {
        ir_version: Some(10),
        opset_import: vec![proto::OperatorSetIdProto {
            domain: Some(String::new()),
            version: Some(21),
        }],
        graph: Some(proto::GraphProto {
            name: Some("g".into()),
            node: nodes,
            input: inputs.iter().map(|n| info(n)).collect(),
            output: outputs.iter().map(|n| info(n)).collect(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

#[test]
fn a_node_without_an_op_type_is_refused_at_the_first_one() {
    let mut bytes = model(vec![node("Relu", &["x"], &["y"])], &["x"], &["y"]).encode_to_vec();
    // Splice 100,000 empty NodeProtos (0x0a 0x00) into the graph (field 7) as a hostile file
    // would: the graph's length prefix grows by their size.
    let mp = proto::ModelProto::decode(bytes.as_slice()).unwrap();
    let mut gp = mp.graph.clone().unwrap().encode_to_vec();
    gp.extend(std::iter::repeat_n([0x0a, 0x00], 100_000).flatten());
    let mut rest = mp;
    rest.graph = None;
    bytes = rest.encode_to_vec();
    bytes.push(0x3a);
    prost::encoding::encode_varint(gp.len() as u64, &mut bytes);
    bytes.extend(gp);
    let err = decode(bytes.into(), None).unwrap_err().to_string();
    assert_eq!(err, "graph `g`, node 1: the node has no op_type");
}

/// A model with plain nodes, a Constant (tensor attribute) and an If (graph attributes).
fn mixed() -> modelc_ir::Model {
    let mut constant = node("Constant", &[], &["c"]);
    constant.attribute.push(proto::AttributeProto {
        name: Some("value".into()),
        r#type: Some(AttributeType::Tensor as i32),
        t: Some(proto::TensorProto {
            dims: vec![4],
            data_type: Some(1),
            raw_data: Some((0..16u8).collect::<Vec<u8>>().into()),
            ..Default::default()
        }),
        ..Default::default()
    });
    let branch = |op: &str, out: &str| proto::GraphProto {
        name: Some(format!("{op}_branch")),
        node: vec![node(op, &["a"], &[out])],
        output: vec![info(out)],
        ..Default::default()
    };
    let mut iff = node("If", &["cond"], &["z"]);
    for (name, g) in [
        ("then_branch", branch("Relu", "t")),
        ("else_branch", branch("Neg", "e")),
    ] {
        iff.attribute.push(proto::AttributeProto {
            name: Some(name.into()),
            r#type: Some(AttributeType::Graph as i32),
            g: Some(g),
            ..Default::default()
        });
    }
    let mut mp = model(
        vec![
            node("Relu", &["x"], &["r"]),
            constant,
            node("Add", &["r", "c"], &["a"]),
            node("ReduceSum", &["a"], &["s"]),
            node("Greater", &["s", "s0"], &["cond"]),
            iff,
            node("Sigmoid", &["z"], &["y"]),
        ],
        &["x", "s0"],
        &["y"],
    );
    let g = mp.graph.as_mut().unwrap();
    g.input[1] = float_input("s0", vec![]);
    decode(mp.encode_to_vec().into(), None).unwrap()
}

#[test]
fn the_streamed_file_holds_what_the_whole_proto_holds() {
    let m = mixed();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.onnx");
    write(&m, &path, &WriteOptions::default()).unwrap();
    let written = proto::ModelProto::decode(std::fs::read(&path).unwrap().as_slice()).unwrap();
    assert_eq!(written, to_proto(&m).unwrap());
    // Nodes in the graph's order, the Constant's tensor kept inline.
    let ops: Vec<&str> = written
        .graph
        .as_ref()
        .unwrap()
        .node
        .iter()
        .map(|n| n.op_type())
        .collect();
    assert_eq!(
        ops,
        [
            "Relu",
            "Constant",
            "Add",
            "ReduceSum",
            "Greater",
            "If",
            "Sigmoid"
        ]
    );
}

#[test]
fn tensors_of_streamed_nodes_still_move_to_the_external_file() {
    let m = mixed();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.onnx");
    let opts = WriteOptions {
        external_data: ExternalData::Always,
        external_threshold: 1,
        ..WriteOptions::default()
    };
    write(&m, &path, &opts).unwrap();
    let written = proto::ModelProto::decode(std::fs::read(&path).unwrap().as_slice()).unwrap();
    let constant = &written.graph.as_ref().unwrap().node[1];
    let t = constant.attribute[0].t.as_ref().unwrap();
    assert!(t.raw_data.is_none());
    assert_eq!(t.external_data[0].value(), "m.onnx.data");
    // And it reads back as the model it was.
    let back = modelc_onnx::read(&path).unwrap();
    assert_eq!(to_proto(&back).unwrap(), to_proto(&m).unwrap());
}
