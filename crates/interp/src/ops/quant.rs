//! Kernels: the quant family — Cast / CastLike (every element type, including the packed
//! float8, float4, e8m0 and 4-/2-bit integer types), the QDQ ops and the integer
//! matrix products and convolutions; and the QDQ units a run computes in integers
//! ([`units`]: DequantizeLinear → Conv → QuantizeLinear as one integer convolution).

use modelc_ir::OnnxOp;

use super::Kernel;

pub mod bitcast;
pub mod cast;
pub mod convert;
pub mod igemm;
pub mod integer;
pub(crate) mod qadd;
pub(crate) mod qconv;
pub(crate) mod qdepthwise;
pub mod qdq;
pub(crate) mod units;

pub fn lookup(op: OnnxOp) -> Option<Kernel> {
    Some(match op {
        OnnxOp::BitCast => bitcast::bitcast,
        OnnxOp::Cast => cast::cast,
        OnnxOp::CastLike => cast::cast_like,
        OnnxOp::QuantizeLinear => qdq::quantize_linear,
        OnnxOp::DequantizeLinear => qdq::dequantize_linear,
        OnnxOp::DynamicQuantizeLinear => qdq::dynamic_quantize_linear,
        OnnxOp::MatMulInteger => integer::matmul_integer,
        OnnxOp::QLinearMatMul => integer::qlinear_matmul,
        OnnxOp::ConvInteger => integer::conv_integer,
        OnnxOp::QLinearConv => integer::qlinear_conv,
        _ => return None,
    })
}
