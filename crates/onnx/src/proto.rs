//! The ONNX protobuf message types.
//!
//! Generated at build time by `build.rs` from the project's schema
//! `schemas/onnx.proto` (pure-Rust parse with protobuf-parse, code generation with
//! prost-build; no `protoc` needed), so they are never edited by hand: change the
//! schema instead. The schema is proto2, so singular fields are `Option<T>` and
//! prost generates accessor methods (`name()`, `data_type()`, ...) that return
//! the default for an absent field. Every `bytes` field is a [`bytes::Bytes`], so
//! decoding from a `Bytes` (for example a memory-mapped model) makes
//! `TensorProto::raw_data` a zero-copy slice of the input.
//!
//! Naming follows prost: message `TensorProto` is [`TensorProto`], its nested
//! enum `DataType` is [`tensor_proto::DataType`] with variants such as
//! `Float8e4m3fn`, and a oneof such as `TensorShapeProto.Dimension.value` is
//! [`tensor_shape_proto::dimension::Value`].

pub use generated::*;

/// The generated code, kept in its own module so that the lint exemptions below
/// cover it and nothing else in this file.
#[allow(
    missing_docs,
    unreachable_pub,
    rustdoc::all,
    clippy::all,
    clippy::pedantic,
    clippy::nursery
)]
mod generated {
    include!(concat!(env!("OUT_DIR"), "/onnx.rs"));
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use prost::Message;

    fn entry(key: &str, value: &str) -> StringStringEntryProto {
        StringStringEntryProto {
            key: Some(key.into()),
            value: Some(value.into()),
        }
    }

    fn tensor_type(elem: tensor_proto::DataType, dims: &[Option<i64>]) -> TypeProto {
        TypeProto {
            value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                elem_type: Some(elem as i32),
                shape: Some(TensorShapeProto {
                    dim: dims
                        .iter()
                        .map(|d| tensor_shape_proto::Dimension {
                            value: Some(match d {
                                Some(n) => tensor_shape_proto::dimension::Value::DimValue(*n),
                                None => tensor_shape_proto::dimension::Value::DimParam("N".into()),
                            }),
                            denotation: None,
                        })
                        .collect(),
                }),
            })),
            denotation: None,
        }
    }

    fn sample_model() -> ModelProto {
        use attribute_proto::AttributeType;
        use tensor_proto::DataType;

        let weight = TensorProto {
            name: Some("w".into()),
            dims: vec![2, 2],
            data_type: Some(DataType::Float as i32),
            raw_data: Some(Bytes::from_static(&[
                0, 0, 128, 63, 0, 0, 0, 64, 0, 0, 64, 64, 0, 0, 128, 64,
            ])),
            ..Default::default()
        };
        let sparse = SparseTensorProto {
            values: Some(TensorProto {
                name: Some("s".into()),
                dims: vec![2],
                data_type: Some(DataType::Float as i32),
                float_data: vec![1.5, -2.0],
                ..Default::default()
            }),
            indices: Some(TensorProto {
                dims: vec![2],
                data_type: Some(DataType::Int64 as i32),
                int64_data: vec![1, 6],
                ..Default::default()
            }),
            dims: vec![2, 4],
        };
        let then_branch = GraphProto {
            name: Some("then".into()),
            node: vec![NodeProto {
                op_type: Some("Identity".into()),
                input: vec!["x".into()],
                output: vec!["t".into()],
                ..Default::default()
            }],
            output: vec![ValueInfoProto {
                name: Some("t".into()),
                r#type: Some(tensor_type(DataType::Float, &[None, Some(2)])),
                ..Default::default()
            }],
            ..Default::default()
        };
        let node = NodeProto {
            name: Some("n0".into()),
            op_type: Some("Custom".into()),
            domain: Some("com.example".into()),
            input: vec!["x".into(), "w".into()],
            output: vec!["y".into()],
            attribute: vec![
                AttributeProto {
                    name: Some("alpha".into()),
                    r#type: Some(AttributeType::Float as i32),
                    f: Some(0.25),
                    ..Default::default()
                },
                AttributeProto {
                    name: Some("axes".into()),
                    r#type: Some(AttributeType::Ints as i32),
                    ints: vec![0, -1, 3],
                    ..Default::default()
                },
                AttributeProto {
                    name: Some("mode".into()),
                    r#type: Some(AttributeType::String as i32),
                    s: Some(Bytes::from_static(b"linear")),
                    ..Default::default()
                },
                AttributeProto {
                    name: Some("body".into()),
                    r#type: Some(AttributeType::Graph as i32),
                    g: Some(then_branch),
                    ..Default::default()
                },
                AttributeProto {
                    name: Some("value".into()),
                    r#type: Some(AttributeType::Tensor as i32),
                    t: Some(TensorProto {
                        data_type: Some(DataType::Int32 as i32),
                        int32_data: vec![7],
                        ..Default::default()
                    }),
                    ..Default::default()
                },
                AttributeProto {
                    name: Some("ty".into()),
                    r#type: Some(AttributeType::TypeProto as i32),
                    tp: Some(tensor_type(DataType::Float8e4m3fn, &[Some(4)])),
                    ..Default::default()
                },
            ],
            metadata_props: vec![entry("origin", "test")],
            ..Default::default()
        };
        let function = FunctionProto {
            name: Some("Custom".into()),
            domain: Some("com.example".into()),
            input: vec!["a".into(), "b".into()],
            output: vec!["c".into()],
            attribute_proto: vec![AttributeProto {
                name: Some("alpha".into()),
                r#type: Some(AttributeType::Float as i32),
                f: Some(1.0),
                ..Default::default()
            }],
            node: vec![NodeProto {
                op_type: Some("MatMul".into()),
                input: vec!["a".into(), "b".into()],
                output: vec!["c".into()],
                ..Default::default()
            }],
            opset_import: vec![OperatorSetIdProto {
                domain: Some(String::new()),
                version: Some(21),
            }],
            ..Default::default()
        };
        ModelProto {
            ir_version: Some(Version::IrVersion as i64),
            producer_name: Some("modelc".into()),
            opset_import: vec![
                OperatorSetIdProto {
                    domain: Some(String::new()),
                    version: Some(21),
                },
                OperatorSetIdProto {
                    domain: Some("com.example".into()),
                    version: Some(1),
                },
            ],
            graph: Some(GraphProto {
                name: Some("main".into()),
                node: vec![node],
                initializer: vec![weight],
                sparse_initializer: vec![sparse],
                input: vec![ValueInfoProto {
                    name: Some("x".into()),
                    r#type: Some(tensor_type(DataType::Float, &[None, Some(2)])),
                    ..Default::default()
                }],
                output: vec![ValueInfoProto {
                    name: Some("y".into()),
                    r#type: Some(tensor_type(DataType::Float, &[None, Some(2)])),
                    ..Default::default()
                }],
                ..Default::default()
            }),
            functions: vec![function],
            metadata_props: vec![entry("license", "Apache-2.0")],
            ..Default::default()
        }
    }

    #[test]
    fn model_round_trips() {
        let model = sample_model();
        let encoded = Bytes::from(model.encode_to_vec());
        let decoded = ModelProto::decode(encoded.clone()).unwrap();
        assert_eq!(decoded, model);
        // Re-encoding is stable.
        assert_eq!(decoded.encode_to_vec(), encoded);

        // raw_data decoded from a `Bytes` buffer is a view into that buffer.
        let raw = decoded.graph.as_ref().unwrap().initializer[0]
            .raw_data
            .as_ref()
            .unwrap();
        let range = encoded.as_ptr_range();
        assert!(range.contains(&raw.as_ptr()), "raw_data was copied");
    }

    #[test]
    fn tensor_wire_bytes() {
        // TensorProto { dims: [2], data_type: FLOAT (1), raw_data: [0xAB, 0xCD] }.
        // A key is (field_number << 3) | wire_type; wire type 0 = varint,
        // 2 = length-delimited. Fields are written in field-number order.
        //   dims = 1, int64, repeated *unpacked* (proto2, no [packed]):
        //     key (1 << 3) | 0 = 0x08, value 2                  -> 08 02
        //   data_type = 2, int32:
        //     key (2 << 3) | 0 = 0x10, value 1                  -> 10 01
        //   raw_data = 9, bytes:
        //     key (9 << 3) | 2 = 0x4A, length 2, then the bytes -> 4A 02 AB CD
        let t = TensorProto {
            dims: vec![2],
            data_type: Some(tensor_proto::DataType::Float as i32),
            raw_data: Some(Bytes::from_static(&[0xAB, 0xCD])),
            ..Default::default()
        };
        assert_eq!(
            t.encode_to_vec(),
            [0x08, 0x02, 0x10, 0x01, 0x4A, 0x02, 0xAB, 0xCD]
        );

        // int64_data = 7 is [packed = true]: one length-delimited record.
        //   key (7 << 3) | 2 = 0x3A, length 3, varints 1, 300 (= AC 02)
        let t = TensorProto {
            int64_data: vec![1, 300],
            ..Default::default()
        };
        assert_eq!(t.encode_to_vec(), [0x3A, 0x03, 0x01, 0xAC, 0x02]);

        // Dimension { dim_param: "N" }: key (2 << 3) | 2 = 0x12, length 1, 'N' (0x4E).
        let d = tensor_shape_proto::Dimension {
            value: Some(tensor_shape_proto::dimension::Value::DimParam("N".into())),
            denotation: None,
        };
        assert_eq!(d.encode_to_vec(), [0x12, 0x01, 0x4E]);

        // ModelProto { ir_version: 13, configuration: [{ num_devices: 2 }] }:
        //   ir_version = 1:     key 0x08, value 13 (0x0D)         -> 08 0D
        //   configuration = 26: key (26 << 3) | 2 = 210 = 0b1_1010010, as a varint
        //     low 7 bits first with the continuation bit: 0xD2, then 0x01;
        //     length 2, then DeviceConfigurationProto { num_devices = 2: 10 02 }
        let m = ModelProto {
            ir_version: Some(13),
            configuration: vec![DeviceConfigurationProto {
                num_devices: Some(2),
                ..Default::default()
            }],
            ..Default::default()
        };
        assert_eq!(
            m.encode_to_vec(),
            [0x08, 0x0D, 0xD2, 0x01, 0x02, 0x10, 0x02]
        );
    }

    #[test]
    fn enums_match_the_format() {
        use tensor_proto::DataType;
        assert_eq!(Version::IrVersion as i32, 13);
        assert_eq!(DataType::Bfloat16 as i32, 16);
        assert_eq!(DataType::Float8e5m2fnuz as i32, 20);
        assert_eq!(DataType::Float4e2m1 as i32, 23);
        assert_eq!(DataType::Float8e8m0 as i32, 24);
        assert_eq!(DataType::Int2 as i32, 26);
        assert_eq!(attribute_proto::AttributeType::TypeProtos as i32, 14);
        assert_eq!(
            DataType::from_str_name("FLOAT8E4M3FN"),
            Some(DataType::Float8e4m3fn)
        );
    }
}
