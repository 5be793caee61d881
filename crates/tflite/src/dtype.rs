//! TFLite `TensorType` ↔ IR [`DType`].

use modelc_ir::DType;

use crate::fb::TensorType;

/// The IR element type of a TFLite tensor type; `None` for RESOURCE and VARIANT, which
/// have no IR equivalent.
pub(crate) fn from_tflite(t: TensorType) -> Option<DType> {
    Some(match t {
        TensorType::FLOAT32 => DType::F32,
        TensorType::FLOAT16 => DType::F16,
        TensorType::INT32 => DType::I32,
        TensorType::UINT8 => DType::U8,
        TensorType::INT64 => DType::I64,
        TensorType::STRING => DType::Str,
        TensorType::BOOL => DType::Bool,
        TensorType::INT16 => DType::I16,
        TensorType::COMPLEX64 => DType::C64,
        TensorType::INT8 => DType::I8,
        TensorType::FLOAT64 => DType::F64,
        TensorType::COMPLEX128 => DType::C128,
        TensorType::UINT64 => DType::U64,
        TensorType::UINT32 => DType::U32,
        TensorType::UINT16 => DType::U16,
        TensorType::INT4 => DType::I4,
        TensorType::BFLOAT16 => DType::BF16,
        _ => return None,
    })
}

/// The TFLite tensor type of an IR element type, when TFLite has one.
pub(crate) fn to_tflite(d: DType) -> Option<TensorType> {
    Some(match d {
        DType::F32 => TensorType::FLOAT32,
        DType::F16 => TensorType::FLOAT16,
        DType::I32 => TensorType::INT32,
        DType::U8 => TensorType::UINT8,
        DType::I64 => TensorType::INT64,
        DType::Str => TensorType::STRING,
        DType::Bool => TensorType::BOOL,
        DType::I16 => TensorType::INT16,
        DType::C64 => TensorType::COMPLEX64,
        DType::I8 => TensorType::INT8,
        DType::F64 => TensorType::FLOAT64,
        DType::C128 => TensorType::COMPLEX128,
        DType::U64 => TensorType::UINT64,
        DType::U32 => TensorType::UINT32,
        DType::U16 => TensorType::UINT16,
        DType::I4 => TensorType::INT4,
        DType::BF16 => TensorType::BFLOAT16,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_mapped_type_round_trips() {
        for code in 0..=18i8 {
            let t = TensorType(code);
            if let Some(d) = from_tflite(t) {
                assert_eq!(to_tflite(d), Some(t), "{t:?}");
            }
        }
        assert_eq!(from_tflite(TensorType::RESOURCE), None);
        assert_eq!(to_tflite(DType::F8E4M3FN), None);
    }
}
