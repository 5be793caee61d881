//! Activation functions, elementwise on float types (f16/bf16 computed in f32) unless noted:
//! Relu (also signed integers, opset 14), LeakyRelu (`alpha`=0.01), PRelu (`slope`
//! broadcast against X; floats and integers), Elu (`alpha`=1), Selu (`alpha`≈1.6733,
//! `gamma`≈1.0507), Celu (`alpha`=1), Sigmoid, HardSigmoid (`alpha`=0.2, `beta`=0.5),
//! HardSwish, Softplus, Softsign, Tanh, Gelu (`approximate`="none" | "tanh"), Mish,
//! ThresholdedRelu (`alpha`=1), Shrink (`bias`=0, `lambd`=0.5; every numeric type) and
//! Swish (`alpha`=1).

use ndarray::ArrayD;

use super::common::{float_map, num_same, one_match, to64, zip2, Erf, Num};
use crate::ops::util::one;
use crate::{bail, Data, KernelError, OpCtx};

fn sigmoid<F: num_traits::Float>(x: F) -> F {
    if x >= F::zero() {
        F::one() / (F::one() + (-x).exp())
    } else {
        let e = x.exp();
        e / (F::one() + e)
    }
}

/// ln(1 + e^x) without overflow.
fn softplus<F: num_traits::Float>(x: F) -> F {
    if x > F::zero() {
        x + (-x).exp().ln_1p()
    } else {
        x.exp().ln_1p()
    }
}

pub fn relu(ctx: &OpCtx<'_>) -> Result<Vec<Data>, KernelError> {
    let x = ctx.input(0)?;
    match x {
        crate::Array::I8(_)
        | crate::Array::I16(_)
        | crate::Array::I32(_)
        | crate::Array::I64(_) => {
            one(one_match!(same [I8, I16, I32, I64] x, |p| p.mapv(|v| v.max(0))))
        }
        _ => one(float_map!(x, F, |v| if v > 0.0 { v } else { 0.0 })),
    }
}

pub fn leaky_relu(ctx: &OpCtx<'_>) -> Result<Vec<Data>, KernelError> {
    let alpha = ctx.float("alpha")?;
    one(float_map!(ctx.input(0)?, F, |x| if x >= 0.0 {
        x
    } else {
        F::from(alpha) * x
    }))
}

pub fn prelu(ctx: &OpCtx<'_>) -> Result<Vec<Data>, KernelError> {
    let (x, slope) = (ctx.input(0)?, ctx.input(1)?);
    if let crate::Array::Bool(_) | crate::Array::Str(_) = x {
        bail!("unsupported input type {}", x.dtype());
    }
    one(num_same!(x, slope, |p, q| zip2(p, q, |&v, &s| {
        if v < Num::zero_() {
            s.mul_(v)
        } else {
            v
        }
    })?))
}

pub fn elu(ctx: &OpCtx<'_>) -> Result<Vec<Data>, KernelError> {
    let alpha = ctx.float("alpha")?;
    one(float_map!(ctx.input(0)?, F, |x| if x >= 0.0 {
        x
    } else {
        F::from(alpha) * x.exp_m1()
    }))
}

pub fn selu(ctx: &OpCtx<'_>) -> Result<Vec<Data>, KernelError> {
    let alpha = ctx.float("alpha")?;
    let gamma = ctx.float("gamma")?;
    one(float_map!(ctx.input(0)?, F, |x| if x > 0.0 {
        F::from(gamma) * x
    } else {
        F::from(gamma) * (F::from(alpha) * x.exp() - F::from(alpha))
    }))
}

pub fn celu(ctx: &OpCtx<'_>) -> Result<Vec<Data>, KernelError> {
    let alpha = ctx.float("alpha")?;
    one(float_map!(ctx.input(0)?, F, |x| {
        let a = F::from(alpha);
        x.max(0.0) + (a * (x / a).exp_m1()).min(0.0)
    }))
}

pub fn sigmoid_op(ctx: &OpCtx<'_>) -> Result<Vec<Data>, KernelError> {
    match ctx.input(0)? {
        crate::Array::F32(a) => {
            let mut y = a.as_standard_layout().into_owned();
            if let Some(v) = y.as_slice_mut() {
                super::fast::par_apply(v, super::fast::sigmoid_f32);
            }
            one(crate::Array::F32(y))
        }
        x => one(float_map!(x, F, |x| sigmoid(x))),
    }
}

pub fn hard_sigmoid(ctx: &OpCtx<'_>) -> Result<Vec<Data>, KernelError> {
    let alpha = ctx.float("alpha")?;
    let beta = ctx.float("beta")?;
    one(float_map!(ctx.input(0)?, F, |x| (F::from(alpha) * x
        + F::from(beta))
    .clamp(0.0, 1.0)))
}

pub fn hard_swish(ctx: &OpCtx<'_>) -> Result<Vec<Data>, KernelError> {
    one(float_map!(ctx.input(0)?, F, |x| x * (x / 6.0 + 0.5).clamp(0.0, 1.0)))
}

pub fn softplus_op(ctx: &OpCtx<'_>) -> Result<Vec<Data>, KernelError> {
    one(float_map!(ctx.input(0)?, F, |x| softplus(x)))
}

pub fn softsign(ctx: &OpCtx<'_>) -> Result<Vec<Data>, KernelError> {
    one(float_map!(ctx.input(0)?, F, |x| x / (1.0 + x.abs())))
}

pub fn tanh(ctx: &OpCtx<'_>) -> Result<Vec<Data>, KernelError> {
    one(float_map!(ctx.input(0)?, F, |x| x.tanh()))
}

pub fn gelu(ctx: &OpCtx<'_>) -> Result<Vec<Data>, KernelError> {
    match ctx.attrs().string("approximate", "none")?.as_str() {
        "none" => one(float_map!(ctx.input(0)?, F, |x| {
            let r: F = std::f64::consts::FRAC_1_SQRT_2 as F;
            0.5 * x * (1.0 + Erf::erf(x * r))
        })),
        "tanh" => one(float_map!(ctx.input(0)?, F, |x| {
            let v = to64(x);
            let k = (2.0 / std::f64::consts::PI).sqrt();
            (0.5 * v * (1.0 + (k * (v + 0.044_715 * v * v * v)).tanh())) as F
        })),
        a => bail!("approximate must be `none` or `tanh`, got `{a}`"),
    }
}

pub fn mish(ctx: &OpCtx<'_>) -> Result<Vec<Data>, KernelError> {
    one(float_map!(ctx.input(0)?, F, |x| x * softplus(x).tanh()))
}

pub fn thresholded_relu(ctx: &OpCtx<'_>) -> Result<Vec<Data>, KernelError> {
    let alpha = ctx.float("alpha")?;
    one(float_map!(ctx.input(0)?, F, |x| if x > F::from(alpha) {
        x
    } else {
        0.0
    }))
}

fn shrink_arr<T: Num>(a: &ArrayD<T>, bias: f64, lambd: f64) -> ArrayD<T> {
    a.mapv(|x| {
        let v = x.to_f64_();
        if v < -lambd {
            T::from_f64_(v + bias)
        } else if v > lambd {
            T::from_f64_(v - bias)
        } else {
            T::zero_()
        }
    })
}

pub fn shrink(ctx: &OpCtx<'_>) -> Result<Vec<Data>, KernelError> {
    let bias = f64::from(ctx.float("bias")?);
    let lambd = f64::from(ctx.float("lambd")?);
    one(one_match!(
        same [F32, F64, F16, BF16, I8, I16, I32, I64, U8, U16, U32, U64]
        ctx.input(0)?, |p| shrink_arr(p, bias, lambd)
    ))
}

pub fn swish(ctx: &OpCtx<'_>) -> Result<Vec<Data>, KernelError> {
    let alpha = ctx.float("alpha")?;
    one(float_map!(ctx.input(0)?, F, |x| x * sigmoid(
        F::from(alpha) * x
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stable_sigmoid_and_softplus() {
        assert_eq!(sigmoid(-1000.0f32), 0.0);
        assert_eq!(sigmoid(1000.0f32), 1.0);
        assert_eq!(softplus(1000.0f64), 1000.0);
        assert!((softplus(0.0f64) - std::f64::consts::LN_2).abs() < 1e-15);
    }
}
