//! Kernels: neural-network ops — MatMul, Gemm, convolutions, pools, Resize, recurrent
//! cells, RoI ops and grid sampling. Each op (or small group) lives in `nn/`.

use modelc_ir::OnnxOp;

use super::Kernel;

pub(crate) mod common;
mod conv;
mod matmul;

pub fn lookup(op: OnnxOp) -> Option<Kernel> {
    Some(match op {
        OnnxOp::MatMul => matmul::matmul,
        OnnxOp::Gemm => matmul::gemm,
        OnnxOp::Conv => conv::conv,
        OnnxOp::ConvTranspose => conv::conv_transpose,
        _ => return None,
    })
}
