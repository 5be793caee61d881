//! Kernels that reduce or normalize along axes: the Reduce* ops, Softmax / LogSoftmax /
//! Hardmax, the normalizations (Batch, Instance, Layer, Group, RMS, MeanVariance, Lp, LRN),
//! Dropout, Det, Einsum, the window functions and the Fourier transforms (DFT, STFT).

use modelc_ir::OnnxOp;

use super::Kernel;

mod common;
mod reduce_ops;

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
        _ => return None,
    })
}
