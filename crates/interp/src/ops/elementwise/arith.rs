//! Binary arithmetic with multidirectional broadcasting (opset 7+; the legacy
//! `broadcast`/`axis` attributes of opset < 7 are not supported):
//! Add, Sub, Mul, Div (all numeric types; integer results wrap, integer division truncates
//! toward zero and division by zero is an error), Mod (attribute `fmod`, default 0: the
//! result takes the divisor's sign; `fmod=1`: C `fmod`, sign of the dividend) and Pow
//! (base and exponent of any numeric types, the result has the base's type).

use ndarray::ArrayD;

use super::common::{legacy_rhs, num_same, try_zip2, zip2, Num};
use crate::ops::util::one;
use crate::{bail, Array, Data, KernelError, OpCtx};

pub fn add(ctx: &OpCtx<'_>) -> Result<Vec<Data>, KernelError> {
    let a = ctx.input(0)?;
    let b = &*legacy_rhs(ctx, a, ctx.input(1)?)?;
    one(num_same!(a, b, |p, q| zip2(p, q, |x, y| x.add_(*y))?))
}

pub fn sub(ctx: &OpCtx<'_>) -> Result<Vec<Data>, KernelError> {
    let a = ctx.input(0)?;
    let b = &*legacy_rhs(ctx, a, ctx.input(1)?)?;
    one(num_same!(a, b, |p, q| zip2(p, q, |x, y| x.sub_(*y))?))
}

pub fn mul(ctx: &OpCtx<'_>) -> Result<Vec<Data>, KernelError> {
    let a = ctx.input(0)?;
    let b = &*legacy_rhs(ctx, a, ctx.input(1)?)?;
    one(num_same!(a, b, |p, q| zip2(p, q, |x, y| x.mul_(*y))?))
}

fn div_arrays<T: Num>(a: &ArrayD<T>, b: &ArrayD<T>) -> Result<ArrayD<T>, KernelError> {
    if T::FLOAT {
        zip2(a, b, |x, y| x.div_(*y).unwrap_or_default())
    } else {
        try_zip2(a, b, |x, y| x.div_(*y))
    }
}

pub fn div(ctx: &OpCtx<'_>) -> Result<Vec<Data>, KernelError> {
    let a = ctx.input(0)?;
    let b = &*legacy_rhs(ctx, a, ctx.input(1)?)?;
    one(num_same!(a, b, |p, q| div_arrays(p, q)?))
}

fn mod_arrays<T: Num>(a: &ArrayD<T>, b: &ArrayD<T>, fmod: bool) -> Result<ArrayD<T>, KernelError> {
    if fmod {
        try_zip2(a, b, |x, y| x.fmod_(*y))
    } else {
        try_zip2(a, b, |x, y| x.pymod_(*y))
    }
}

pub fn modulo(ctx: &OpCtx<'_>) -> Result<Vec<Data>, KernelError> {
    let a = ctx.input(0)?;
    let b = &*legacy_rhs(ctx, a, ctx.input(1)?)?;
    let fmod = match ctx.attrs().int("fmod", 0)? {
        0 => false,
        1 => true,
        v => bail!("fmod must be 0 or 1, got {v}"),
    };
    one(num_same!(a, b, |p, q| mod_arrays(p, q, fmod)?))
}

/// A Pow exponent: integers stay exact, floats go through f64.
enum Exponent {
    Int(ArrayD<i64>),
    Float(ArrayD<f64>),
}

fn exponent(e: &Array) -> Result<Exponent, KernelError> {
    let shape = ndarray::IxDyn(e.shape());
    Ok(match e {
        Array::F32(_) | Array::F64(_) | Array::F16(_) | Array::BF16(_) | Array::U64(_) => {
            Exponent::Float(ArrayD::from_shape_vec(shape, e.to_f64_vec()?)?)
        }
        Array::I8(_)
        | Array::I16(_)
        | Array::I32(_)
        | Array::I64(_)
        | Array::U8(_)
        | Array::U16(_)
        | Array::U32(_) => Exponent::Int(ArrayD::from_shape_vec(shape, e.to_i64_vec()?)?),
        other => bail!("unsupported exponent type {}", other.dtype()),
    })
}

fn pow_arrays<T: Num>(b: &ArrayD<T>, e: &Exponent) -> Result<ArrayD<T>, KernelError> {
    match e {
        Exponent::Float(e) => zip2(b, e, |x, y| T::from_f64_(x.to_f64_().powf(*y))),
        Exponent::Int(e) => zip2(b, e, |x, &y| {
            if T::FLOAT {
                T::from_f64_(match i32::try_from(y) {
                    Ok(k) => x.to_f64_().powi(k),
                    Err(_) => x.to_f64_().powf(y as f64),
                })
            } else if y >= 0 {
                x.powi_(y as u64)
            } else {
                T::from_f64_(x.to_f64_().powf(y as f64))
            }
        }),
    }
}

pub fn pow(ctx: &OpCtx<'_>) -> Result<Vec<Data>, KernelError> {
    let e = exponent(&*legacy_rhs(ctx, ctx.input(0)?, ctx.input(1)?)?)?;
    one(super::common::one_match!(
        same [F32, F64, F16, BF16, I8, I16, I32, I64, U8, U16, U32, U64]
        ctx.input(0)?, |p| pow_arrays(p, &e)?
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::IxDyn;

    #[test]
    fn integer_division_truncates_and_rejects_zero() {
        let a = ArrayD::from_shape_vec(IxDyn(&[3]), vec![-7i32, 7, i32::MIN]).unwrap();
        let b = ArrayD::from_shape_vec(IxDyn(&[3]), vec![2i32, -2, -1]).unwrap();
        let q = div_arrays(&a, &b).unwrap();
        assert_eq!(
            q.iter().copied().collect::<Vec<_>>(),
            vec![-3, -3, i32::MIN]
        );
        let z = ArrayD::from_shape_vec(IxDyn(&[1]), vec![0i32]).unwrap();
        assert!(div_arrays(&a, &z).is_err());
        assert!(mod_arrays(&a, &z, false).is_err());
    }

    #[test]
    fn integer_pow_and_mixed_types() {
        let b = ArrayD::from_shape_vec(IxDyn(&[3]), vec![2i64, -3, 5]).unwrap();
        let e = Exponent::Int(ArrayD::from_shape_vec(IxDyn(&[3]), vec![10, 3, 0]).unwrap());
        let r = pow_arrays(&b, &e).unwrap();
        assert_eq!(r.iter().copied().collect::<Vec<_>>(), vec![1024, -27, 1]);
        let e = Exponent::Float(ArrayD::from_shape_vec(IxDyn(&[1]), vec![0.5]).unwrap());
        let r = pow_arrays(&b, &e).unwrap();
        // sqrt(2) truncates to 1; sqrt(-3) is NaN, which casts to 0.
        assert_eq!(r.iter().copied().collect::<Vec<_>>(), vec![1, 0, 2]);
    }
}
