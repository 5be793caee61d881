//! Kernels that move data without computing on it: Identity, Reshape, Transpose, ...

use modelc_ir::OnnxOp;

use super::Kernel;

mod identity;

pub fn lookup(op: OnnxOp) -> Option<Kernel> {
    Some(match op {
        OnnxOp::Identity => identity::identity,
        _ => return None,
    })
}
