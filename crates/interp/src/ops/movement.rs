//! Kernels that move data without computing on it: Identity, Reshape, Transpose, Slice,
//! Gather/Scatter, Pad, Concat/Split, and the small shape/index producers (Shape, Range,
//! TopK, ArgMax, ...).

use modelc_ir::OnnxOp;

use super::Kernel;

mod common;
mod identity;
mod shape_ops;

pub fn lookup(op: OnnxOp) -> Option<Kernel> {
    Some(match op {
        OnnxOp::Identity => identity::identity,
        OnnxOp::Reshape => shape_ops::reshape,
        OnnxOp::Flatten => shape_ops::flatten,
        OnnxOp::Squeeze => shape_ops::squeeze,
        OnnxOp::Unsqueeze => shape_ops::unsqueeze,
        OnnxOp::Shape => shape_ops::shape,
        OnnxOp::Size => shape_ops::size,
        OnnxOp::Expand => shape_ops::expand,
        _ => return None,
    })
}
