//! SwiGLU (opset 28): `Y = A * sigmoid(alpha * A) * B` for equal-shaped float inputs A and
//! B (no broadcasting); attribute `alpha` (default 1.0). f16/bf16 round after each step
//! like the reference.

use super::common::{from_real, to_real, Prec, Real};
use crate::{bail, Data, KernelError, OpCtx};

pub fn swiglu(ctx: &OpCtx<'_>) -> Result<Vec<Data>, KernelError> {
    let a = ctx.input(0)?;
    let prec = Prec::of_dtype(a.dtype())?;
    if prec == Prec::F64 {
        run::<f64>(ctx, prec)
    } else {
        run::<f32>(ctx, prec)
    }
}

fn run<F: Real>(ctx: &OpCtx<'_>, prec: Prec) -> Result<Vec<Data>, KernelError> {
    let (aa, ba) = (ctx.input(0)?, ctx.input(1)?);
    if aa.shape() != ba.shape() || aa.dtype() != ba.dtype() {
        bail!(
            "SwiGLU requires A and B of identical shape and type, got {:?} {} and {:?} {}",
            aa.shape(),
            aa.dtype(),
            ba.shape(),
            ba.dtype()
        );
    }
    let alpha: F = prec.cast(ctx.float("alpha")? as f64);
    let mut a = to_real::<F>(aa)?;
    let b = to_real::<F>(ba)?;
    let r = |x: F| prec.r(x);
    a.zip_mut_with(&b, |x, &y| {
        let e = r(r(-alpha * *x).exp());
        let sig = r(F::one() / r(F::one() + e));
        *x = r(r(*x * sig) * y);
    });
    Ok(vec![Data::Tensor(from_real(&a, aa.dtype())?)])
}
