//! Kernels, one per ONNX op, grouped in families. Each family module exposes
//! `lookup(OnnxOp) -> Option<Kernel>`; [`lookup`] asks them in turn.

pub mod attention;
pub mod control;
pub mod elem;
pub mod elementwise;
pub mod misc;
pub mod movement;
pub mod nn;
pub mod quant;
pub mod reduce;
#[cfg(test)]
pub(crate) mod test_util;
pub mod util;

use modelc_ir::OnnxOp;

use crate::{Data, KernelError, OpCtx};

/// A kernel computes a node's outputs (in slot order) from its context.
pub type Kernel = fn(&OpCtx<'_>) -> Result<Vec<Data>, KernelError>;

/// The kernel for `op`, if the interpreter has one.
pub fn lookup(op: OnnxOp) -> Option<Kernel> {
    elementwise::lookup(op)
        .or_else(|| movement::lookup(op))
        .or_else(|| reduce::lookup(op))
        .or_else(|| nn::lookup(op))
        .or_else(|| quant::lookup(op))
        .or_else(|| control::lookup(op))
        .or_else(|| attention::lookup(op))
        .or_else(|| misc::lookup(op))
}

/// Every op with a kernel.
pub fn supported() -> Vec<OnnxOp> {
    OnnxOp::all().filter(|&op| lookup(op).is_some()).collect()
}
