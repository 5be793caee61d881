//! Dimensions as exporters really write them: `dim_value: -1` (paddle2onnx) is an unknown
//! dimension, not an error, and is written back as one (no value, no name).

use modelc_ir::Dim;
use modelc_onnx::proto::{self, tensor_shape_proto::dimension};
use modelc_onnx::{decode, encode};
use prost::Message;

pub(crate) fn dim(v: i64) -> proto::tensor_shape_proto::Dimension {
    proto::tensor_shape_proto::Dimension {
        value: Some(dimension::Value::DimValue(v)),
        ..Default::default()
    }
}

pub(crate) fn float_input(
    name: &str,
    dims: Vec<proto::tensor_shape_proto::Dimension>,
) -> proto::ValueInfoProto {
    proto::ValueInfoProto {
        name: Some(name.into()),
        r#type: Some(proto::TypeProto {
            value: Some(proto::type_proto::Value::TensorType(
                proto::type_proto::Tensor {
                    elem_type: Some(1),
                    shape: Some(proto::TensorShapeProto { dim: dims }),
                },
            )),
            denotation: None,
        }),
        ..Default::default()
    }
}

#[test]
fn minus_one_dimensions_are_unknown() {
    let g = proto::GraphProto {
        name: Some("g".into()),
        node: vec![proto::NodeProto {
            op_type: Some("Relu".into()),
            input: vec!["x".into()],
            output: vec!["y".into()],
            ..Default::default()
        }],
        input: vec![float_input("x", vec![dim(-1), dim(3), dim(-1)])],
        output: vec![float_input("y", vec![dim(-1), dim(3), dim(-1)])],
        ..Default::default()
    };
    let bytes = proto::ModelProto {
        ir_version: Some(8),
        opset_import: vec![proto::OperatorSetIdProto {
            domain: Some(String::new()),
            version: Some(13),
        }],
        graph: Some(g),
        ..Default::default()
    }
    .encode_to_vec();
    let m = decode(bytes.into(), None).expect("-1 dimensions read");
    let x = modelc_ir::ValueRef::new(m.graph.inputs()[0], 0);
    let shape = m
        .graph
        .value(x)
        .unwrap()
        .ty
        .as_ref()
        .unwrap()
        .ty
        .as_tensor()
        .unwrap()
        .shape
        .clone();
    assert_eq!(
        shape.unwrap().0,
        [Dim::Unknown, Dim::Known(3), Dim::Unknown]
    );
    // Written back as unknown dimensions, which read the same.
    let again = decode(encode(&m).unwrap().into(), None).unwrap();
    assert!(again == m);
}
