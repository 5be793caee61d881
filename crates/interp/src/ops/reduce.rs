//! Kernels that reduce or normalize along axes: the Reduce* ops, Softmax / LogSoftmax /
//! Hardmax, the normalizations (Batch, Instance, Layer, Group, RMS, MeanVariance, Lp, LRN),
//! Dropout, Det, Einsum, the window functions and the Fourier transforms (DFT, STFT).

use modelc_ir::OnnxOp;

use super::Kernel;

mod batchnorm;
mod common;
mod det;
mod dft;
mod dropout;
mod einsum;
mod layernorm;
mod norms;
mod reduce_ops;
mod softmax;
#[cfg(test)]
mod tests;
mod window;

pub fn lookup(op: OnnxOp) -> Option<Kernel> {
    Some(match op {
        OnnxOp::ReduceSum => reduce_ops::reduce_sum,
        OnnxOp::ReduceMean => reduce_ops::reduce_mean,
        OnnxOp::ReduceMax => reduce_ops::reduce_max,
        OnnxOp::ReduceMin => reduce_ops::reduce_min,
        OnnxOp::ReduceProd => reduce_ops::reduce_prod,
        OnnxOp::ReduceL1 => reduce_ops::reduce_l1,
        OnnxOp::ReduceL2 => reduce_ops::reduce_l2,
        OnnxOp::ReduceLogSum => reduce_ops::reduce_log_sum,
        OnnxOp::ReduceLogSumExp => reduce_ops::reduce_log_sum_exp,
        OnnxOp::ReduceSumSquare => reduce_ops::reduce_sum_square,
        OnnxOp::Softmax => softmax::softmax,
        OnnxOp::LogSoftmax => softmax::log_softmax,
        OnnxOp::Hardmax => softmax::hardmax,
        OnnxOp::BatchNormalization => batchnorm::batch_normalization,
        OnnxOp::InstanceNormalization => norms::instance_normalization,
        OnnxOp::GroupNormalization => norms::group_normalization,
        OnnxOp::MeanVarianceNormalization => norms::mean_variance_normalization,
        OnnxOp::LpNormalization => norms::lp_normalization,
        OnnxOp::LRN => norms::lrn,
        OnnxOp::LayerNormalization => layernorm::layer_normalization,
        OnnxOp::RMSNormalization => layernorm::rms_normalization,
        OnnxOp::Dropout => dropout::dropout,
        OnnxOp::Det => det::det,
        OnnxOp::HannWindow => window::hann_window,
        OnnxOp::HammingWindow => window::hamming_window,
        OnnxOp::BlackmanWindow => window::blackman_window,
        OnnxOp::Einsum => einsum::einsum,
        OnnxOp::DFT => dft::dft,
        OnnxOp::STFT => dft::stft,
        _ => return None,
    })
}
