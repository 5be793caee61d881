//! `ConstantOfShape(shape) {value}` → FILL(dims, value): the shape tensor (int32 or int64,
//! computed at run time or not) as FILL's dims, the one-element `value` attribute as a
//! scalar constant (a float32 zero when the attribute is absent, ONNX's default).

use bytes::Bytes;
use modelc_ir::{Attr, DType, NodeId};

use crate::export::lower::Lower;
use crate::fb::BuiltinOperator as B;
use crate::TfliteError;

pub(crate) fn constant_of_shape(lowering: &mut Lower, id: NodeId) -> Result<(), TfliteError> {
    let (dtype, bytes) = match lowering.g.node(id).attrs.get("value") {
        None => (DType::F32, Bytes::from_static(&[0; 4])),
        Some(Attr::Tensor(t)) if t.dims.iter().product::<u64>() == 1 => {
            let raw = t.raw().ok_or_else(|| {
                TfliteError::Unsupported(format!("a {} `value` has no FILL form", t.dtype))
            })?;
            (t.dtype, raw.clone())
        }
        Some(_) => {
            return Err(TfliteError::Unsupported(
                "`value` is not a one-element tensor".into(),
            ))
        }
    };
    let dims = lowering.req(id, 0)?;
    let name = format!("{}/value", lowering.g.node(id).name);
    let value = lowering
        .model
        .add_tensor(name, dtype, vec![], Some(&bytes), None)?;
    let out = lowering.output(0)?;
    // LiteRT's FILL versions by value type (op_version.cc): 1 float32/int32/int64,
    // 2 bool/string, 3 int8/int16, 4 float16.
    let version = match dtype {
        DType::Bool | DType::Str => 2,
        DType::I8 | DType::I16 => 3,
        DType::F16 => 4,
        _ => 1,
    };
    lowering
        .model
        .emit(B::FILL, version, &[Some(dims), Some(value)], &[out], None);
    Ok(())
}
