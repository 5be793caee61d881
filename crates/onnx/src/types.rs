//! `TypeProto` ↔ [`TypeInfo`], and `ValueInfoProto` fields.

use modelc_ir::{DType, Dim, Shape, TensorType, TypeInfo, ValueType};

use crate::proto::{self, tensor_shape_proto::dimension, type_proto};
use crate::OnnxError;

/// Imports a type; `what` names the value for error messages.
pub(crate) fn import_type(tp: &proto::TypeProto, what: &str) -> Result<TypeInfo, OnnxError> {
    Ok(TypeInfo {
        ty: import_value_type(tp, what)?,
        denotation: tp.denotation().into(),
    })
}

fn import_value_type(tp: &proto::TypeProto, what: &str) -> Result<ValueType, OnnxError> {
    let boxed =
        |inner: &Option<Box<proto::TypeProto>>| -> Result<Option<Box<ValueType>>, OnnxError> {
            inner
                .as_deref()
                .map(|t| import_value_type(t, what).map(Box::new))
                .transpose()
        };
    Ok(match &tp.value {
        None => ValueType::Unspecified,
        Some(type_proto::Value::TensorType(t)) => {
            ValueType::Tensor(import_tensor_type(t.elem_type, t.shape.as_ref(), what)?)
        }
        Some(type_proto::Value::SparseTensorType(t)) => {
            ValueType::SparseTensor(import_tensor_type(t.elem_type, t.shape.as_ref(), what)?)
        }
        Some(type_proto::Value::SequenceType(s)) => ValueType::Sequence(boxed(&s.elem_type)?),
        Some(type_proto::Value::OptionalType(s)) => ValueType::Optional(boxed(&s.elem_type)?),
        Some(type_proto::Value::MapType(m)) => ValueType::Map {
            key: import_dtype(m.key_type(), what)?
                .ok_or_else(|| OnnxError::invalid(what, "map type without a key type"))?,
            value: boxed(&m.value_type)?,
        },
        Some(type_proto::Value::OpaqueType(o)) => ValueType::Opaque {
            domain: o.domain().into(),
            name: o.name().into(),
        },
    })
}

/// An element-type code; 0 (UNDEFINED) is `None`, an unknown code an error.
pub(crate) fn import_dtype(code: i32, what: &str) -> Result<Option<DType>, OnnxError> {
    if code == 0 {
        return Ok(None);
    }
    DType::from_onnx_code(code)
        .map(Some)
        .ok_or_else(|| OnnxError::invalid(what, format!("unknown element type code {code}")))
}

fn import_tensor_type(
    elem: Option<i32>,
    shape: Option<&proto::TensorShapeProto>,
    what: &str,
) -> Result<TensorType, OnnxError> {
    let dtype = import_dtype(elem.unwrap_or(0), what)?;
    let shape = shape.map(|s| {
        Shape(
            s.dim
                .iter()
                .map(|d| match &d.value {
                    Some(dimension::Value::DimValue(v)) if *v >= 0 => Dim::Known(*v as u64),
                    // paddle2onnx (and others) write an unknown dimension as -1.
                    Some(dimension::Value::DimValue(_)) => Dim::Unknown,
                    Some(dimension::Value::DimParam(p)) if !p.is_empty() => Dim::Sym(p.clone()),
                    _ => Dim::Unknown,
                })
                .collect(),
        )
    });
    Ok(TensorType { dtype, shape })
}

pub(crate) fn export_type(t: &TypeInfo) -> proto::TypeProto {
    let mut tp = export_value_type(&t.ty);
    if !t.denotation.is_empty() {
        tp.denotation = Some(t.denotation.to_string());
    }
    tp
}

fn export_value_type(t: &ValueType) -> proto::TypeProto {
    let boxed =
        |inner: &Option<Box<ValueType>>| inner.as_deref().map(|t| Box::new(export_value_type(t)));
    let value = match t {
        ValueType::Unspecified => None,
        ValueType::Tensor(tt) => Some(type_proto::Value::TensorType(type_proto::Tensor {
            elem_type: Some(tt.dtype.map_or(0, DType::onnx_code)),
            shape: tt.shape.as_ref().map(export_shape),
        })),
        ValueType::SparseTensor(tt) => Some(type_proto::Value::SparseTensorType(
            type_proto::SparseTensor {
                elem_type: Some(tt.dtype.map_or(0, DType::onnx_code)),
                shape: tt.shape.as_ref().map(export_shape),
            },
        )),
        ValueType::Sequence(e) => Some(type_proto::Value::SequenceType(Box::new(
            type_proto::Sequence {
                elem_type: boxed(e),
            },
        ))),
        ValueType::Optional(e) => Some(type_proto::Value::OptionalType(Box::new(
            type_proto::Optional {
                elem_type: boxed(e),
            },
        ))),
        ValueType::Map { key, value } => {
            Some(type_proto::Value::MapType(Box::new(type_proto::Map {
                key_type: Some(key.onnx_code()),
                value_type: boxed(value),
            })))
        }
        ValueType::Opaque { domain, name } => {
            Some(type_proto::Value::OpaqueType(type_proto::Opaque {
                domain: Some(domain.to_string()),
                name: Some(name.to_string()),
            }))
        }
    };
    proto::TypeProto {
        value,
        denotation: None,
    }
}

fn export_shape(s: &Shape) -> proto::TensorShapeProto {
    proto::TensorShapeProto {
        dim: s
            .0
            .iter()
            .map(|d| proto::tensor_shape_proto::Dimension {
                value: match d {
                    Dim::Known(n) => Some(dimension::Value::DimValue(*n as i64)),
                    Dim::Sym(s) => Some(dimension::Value::DimParam(s.clone())),
                    Dim::Unknown => None,
                },
                denotation: None,
            })
            .collect(),
    }
}
