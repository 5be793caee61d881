//! Kernels: nn family (not yet written).

use modelc_ir::OnnxOp;

use super::Kernel;

pub fn lookup(op: OnnxOp) -> Option<Kernel> {
    let _ = op;
    None
}
