//! Unary math, elementwise. Abs, Sign (every numeric type), Neg (floats and signed
//! integers; integers wrap); Reciprocal, Floor, Ceil, Round (half to even), Sqrt, Exp, Log,
//! Erf, Sin, Cos, Tan, Asin, Acos, Atan, Sinh, Cosh, Asinh, Acosh, Atanh (float types);
//! IsNaN and IsInf (float types → bool; IsInf attributes `detect_negative` and
//! `detect_positive`, both default 1).

use super::common::{float_map, one_match, Erf, Num};
use crate::ops::util::one;
use crate::{bail, Array, Data, KernelError, OpCtx};

pub fn abs(ctx: &OpCtx<'_>) -> Result<Vec<Data>, KernelError> {
    one(one_match!(
        same [F32, F64, F16, BF16, I8, I16, I32, I64, U8, U16, U32, U64]
        ctx.input(0)?, |p| p.mapv(|x| x.abs_())
    ))
}

pub fn sign(ctx: &OpCtx<'_>) -> Result<Vec<Data>, KernelError> {
    one(one_match!(
        same [F32, F64, F16, BF16, I8, I16, I32, I64, U8, U16, U32, U64]
        ctx.input(0)?, |p| p.mapv(|x| x.sign_())
    ))
}

pub fn neg(ctx: &OpCtx<'_>) -> Result<Vec<Data>, KernelError> {
    one(one_match!(
        same [F32, F64, F16, BF16, I8, I16, I32, I64]
        ctx.input(0)?, |p| p.mapv(|x| x.neg_())
    ))
}

macro_rules! float_unary {
    ($($name:ident => |$x:ident| $body:expr;)*) => {$(
        pub fn $name(ctx: &OpCtx<'_>) -> Result<Vec<Data>, KernelError> {
            one(float_map!(ctx.input(0)?, F, |$x| $body))
        }
    )*};
}

float_unary! {
    reciprocal => |x| 1.0 / x;
    floor => |x| x.floor();
    ceil => |x| x.ceil();
    round => |x| x.round_ties_even();
    sqrt => |x| x.sqrt();
    exp => |x| x.exp();
    log => |x| x.ln();
    sin => |x| x.sin();
    cos => |x| x.cos();
    tan => |x| x.tan();
    asin => |x| x.asin();
    acos => |x| x.acos();
    atan => |x| x.atan();
    sinh => |x| x.sinh();
    cosh => |x| x.cosh();
    asinh => |x| x.asinh();
    acosh => |x| x.acosh();
    atanh => |x| x.atanh();
}

/// Erf; f32 data with the widest vectors the CPU has (the same bits as the scalar form:
/// the approximation is branch-free and never fused).
pub fn erf_(ctx: &OpCtx<'_>) -> Result<Vec<Data>, KernelError> {
    match ctx.input(0)? {
        Array::F32(a) => {
            let mut y = a.as_standard_layout().into_owned();
            if let Some(v) = y.as_slice_mut() {
                super::fast::par_apply(v, <f32 as Erf>::erf);
            }
            one(Array::F32(y))
        }
        x => one(float_map!(x, F, |x| Erf::erf(x))),
    }
}

fn float_pred(a: &Array, f: impl Fn(f64) -> bool) -> Result<Array, KernelError> {
    Ok(Array::Bool(match a {
        Array::F32(a) => a.mapv(|v| f(f64::from(v))),
        Array::F64(a) => a.mapv(&f),
        Array::F16(a) => a.mapv(|v| f(v.to_f64())),
        Array::BF16(a) => a.mapv(|v| f(v.to_f64())),
        other => bail!(
            "unsupported input type {} (expected a float type)",
            other.dtype()
        ),
    }))
}

pub fn is_nan(ctx: &OpCtx<'_>) -> Result<Vec<Data>, KernelError> {
    one(float_pred(ctx.input(0)?, f64::is_nan)?)
}

pub fn is_inf(ctx: &OpCtx<'_>) -> Result<Vec<Data>, KernelError> {
    let neg = ctx.attrs().int("detect_negative", 1)? != 0;
    let pos = ctx.attrs().int("detect_positive", 1)? != 0;
    one(float_pred(ctx.input(0)?, |v| {
        v.is_infinite() && if v > 0.0 { pos } else { neg }
    })?)
}
