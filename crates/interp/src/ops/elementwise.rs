//! Elementwise kernels: broadcasting binary arithmetic, comparisons and logic, variadic
//! Max/Min/Sum/Mean, unary math and activations, Clip.

use modelc_ir::OnnxOp;

use super::Kernel;

mod arith;
pub(crate) mod common;

pub fn lookup(op: OnnxOp) -> Option<Kernel> {
    use OnnxOp as O;
    Some(match op {
        O::Add => arith::add,
        O::Sub => arith::sub,
        O::Mul => arith::mul,
        O::Div => arith::div,
        O::Mod => arith::modulo,
        O::Pow => arith::pow,
        _ => return None,
    })
}
