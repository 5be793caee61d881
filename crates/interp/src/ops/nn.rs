//! Kernels: neural-network ops — MatMul, Gemm, convolutions, pools, Resize, recurrent
//! cells, RoI ops and grid sampling. Each op (or small group) lives in `nn/`.

use modelc_ir::OnnxOp;

use super::Kernel;

mod causal;
pub(crate) mod common;
mod conv;
mod conv_tiles;
pub(crate) mod packed_gemm;
mod winograd;
pub(crate) use conv::Win3;
pub(crate) use depthwise::PlaneKernel;
mod deform;
mod depthwise;
pub(crate) mod depthwise_rows;
mod depthwise_simd;
mod gap;
mod grid;
pub mod layout;
#[cfg(test)]
mod layout_tests;
mod matmul;
mod pool;
mod resize;
mod rnn;
mod roi;
#[cfg(test)]
mod tests;

pub fn lookup(op: OnnxOp) -> Option<Kernel> {
    Some(match op {
        OnnxOp::MatMul => matmul::matmul,
        OnnxOp::Gemm => matmul::gemm,
        OnnxOp::Conv => conv::conv,
        OnnxOp::ConvTranspose => conv::conv_transpose,
        OnnxOp::MaxPool => pool::max_pool,
        OnnxOp::AveragePool => pool::average_pool,
        OnnxOp::LpPool => pool::lp_pool,
        OnnxOp::GlobalAveragePool => pool::global_average_pool,
        OnnxOp::GlobalMaxPool => pool::global_max_pool,
        OnnxOp::GlobalLpPool => pool::global_lp_pool,
        OnnxOp::Resize => resize::resize,
        OnnxOp::Upsample => resize::upsample,
        OnnxOp::RNN => rnn::rnn,
        OnnxOp::GRU => rnn::gru,
        OnnxOp::LSTM => rnn::lstm,
        OnnxOp::MaxUnpool => pool::max_unpool,
        OnnxOp::RoiAlign => roi::roi_align,
        OnnxOp::MaxRoiPool => roi::max_roi_pool,
        OnnxOp::GridSample => grid::grid_sample,
        OnnxOp::AffineGrid => grid::affine_grid,
        OnnxOp::DeformConv => deform::deform_conv,
        OnnxOp::CausalConvWithState => causal::causal_conv_with_state,
        _ => return None,
    })
}
