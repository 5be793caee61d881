//! Kernels: the quant family — Cast / CastLike (every element type, including the packed
//! float8, float4, e8m0 and 4-/2-bit integer types), the QDQ ops and the integer
//! matrix products and convolutions.

use modelc_ir::OnnxOp;

use super::Kernel;

pub mod cast;
pub mod convert;

pub fn lookup(op: OnnxOp) -> Option<Kernel> {
    Some(match op {
        OnnxOp::Cast => cast::cast,
        OnnxOp::CastLike => cast::cast_like,
        _ => return None,
    })
}
