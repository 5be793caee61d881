//! `Range(start, limit, delta)` → RANGE(start, limit, delta): the same scalars and the same
//! count, ceil((limit - start) / delta) (0 when negative), in both; float32, int32 and
//! int64 in LiteRT.

use modelc_ir::{DType, NodeId};

use crate::export::lower::Lower;
use crate::fb::BuiltinOperator as B;
use crate::TfliteError;

pub(crate) fn range(lowering: &mut Lower, id: NodeId) -> Result<(), TfliteError> {
    let dtype = lowering
        .g
        .input(id, 0)
        .and_then(|v| lowering.model.dtype_of(v));
    // LiteRT's RANGE kernel (range.cc) computes int32, int64 and float32 only.
    if !matches!(dtype, Some(DType::F32 | DType::I32 | DType::I64)) {
        let name = dtype.map_or("an unknown".to_string(), |d| d.to_string());
        return Err(TfliteError::Unsupported(format!(
            "Range of {name} elements (LiteRT's RANGE takes float32, int32, int64)"
        )));
    }
    let inputs = [
        Some(lowering.req(id, 0)?),
        Some(lowering.req(id, 1)?),
        Some(lowering.req(id, 2)?),
    ];
    let out = lowering.output(0)?;
    // Version 2 is the int64 form (op_version.cc).
    let version = if dtype == Some(DType::I64) { 2 } else { 1 };
    lowering
        .model
        .emit(B::RANGE, version, &inputs, &[out], None);
    Ok(())
}
