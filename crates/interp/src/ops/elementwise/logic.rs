//! Logical and bitwise ops with multidirectional broadcasting.
//! And, Or, Xor (bool, opset 7+), Not (bool); BitwiseAnd/Or/Xor/Not (integer types,
//! opset 18); BitShift (opset 11; attribute `direction` = "LEFT" | "RIGHT"; unsigned types,
//! and signed ones as the newest suite cases use them: left shifts wrap, right shifts of
//! signed values are arithmetic, and a shift amount that is negative or at least the bit
//! width shifts everything out — 0, or -1 for a negative value shifted right).

use std::borrow::Cow;

use ndarray::ArrayD;

use super::common::{legacy_rhs, one_match, pair_match, zip2};
use crate::ops::util::one;
use crate::{bail, Array, Data, KernelError, OpCtx};

fn bools<'a>(ctx: &OpCtx<'a>) -> Result<(&'a ArrayD<bool>, Cow<'a, ArrayD<bool>>), KernelError> {
    let a = ctx.input(0)?;
    let b = legacy_rhs(ctx, a, ctx.input(1)?)?;
    match (a, b) {
        (Array::Bool(a), std::borrow::Cow::Borrowed(Array::Bool(b))) => Ok((a, Cow::Borrowed(b))),
        (Array::Bool(a), std::borrow::Cow::Owned(Array::Bool(b))) => Ok((a, Cow::Owned(b))),
        (a, b) => bail!("inputs must be bool, got {} and {}", a.dtype(), b.dtype()),
    }
}

pub fn and(ctx: &OpCtx<'_>) -> Result<Vec<Data>, KernelError> {
    let (a, b) = bools(ctx)?;
    one(Array::Bool(zip2(a, &b, |x, y| *x && *y)?))
}

pub fn or(ctx: &OpCtx<'_>) -> Result<Vec<Data>, KernelError> {
    let (a, b) = bools(ctx)?;
    one(Array::Bool(zip2(a, &b, |x, y| *x || *y)?))
}

pub fn xor(ctx: &OpCtx<'_>) -> Result<Vec<Data>, KernelError> {
    let (a, b) = bools(ctx)?;
    one(Array::Bool(zip2(a, &b, |x, y| *x != *y)?))
}

pub fn not(ctx: &OpCtx<'_>) -> Result<Vec<Data>, KernelError> {
    match ctx.input(0)? {
        Array::Bool(a) => one(Array::Bool(a.mapv(|x| !x))),
        a => bail!("input must be bool, got {}", a.dtype()),
    }
}

macro_rules! bitwise {
    ($name:ident, $op:tt) => {
        pub fn $name(ctx: &OpCtx<'_>) -> Result<Vec<Data>, KernelError> {
            let (a, b) = (ctx.input(0)?, ctx.input(1)?);
            one(pair_match!(
                same [I8, I16, I32, I64, U8, U16, U32, U64]
                a, b, |p, q| zip2(p, q, |x, y| *x $op *y)?
            ))
        }
    };
}

bitwise!(bitwise_and, &);
bitwise!(bitwise_or, |);
bitwise!(bitwise_xor, ^);

pub fn bitwise_not(ctx: &OpCtx<'_>) -> Result<Vec<Data>, KernelError> {
    one(one_match!(
        same [I8, I16, I32, I64, U8, U16, U32, U64]
        ctx.input(0)?, |p| p.mapv(|x| !x)
    ))
}

/// Shifts by an amount of the same type, with every amount defined.
trait Shift: Copy {
    fn shl_(self, s: Self) -> Self;
    fn shr_(self, s: Self) -> Self;
}

macro_rules! shift_impl {
    ($($t:ty),*) => {$(
        impl Shift for $t {
            fn shl_(self, s: Self) -> Self {
                match u32::try_from(s) {
                    Ok(s) if s < <$t>::BITS => self.wrapping_shl(s),
                    _ => 0,
                }
            }
            fn shr_(self, s: Self) -> Self {
                match u32::try_from(s) {
                    Ok(s) if s < <$t>::BITS => self >> s,
                    // Everything shifted out: the sign fill (0 for unsigned types).
                    _ => self >> (<$t>::BITS - 1) >> 1,
                }
            }
        }
    )*};
}

shift_impl!(i8, i16, i32, i64, u8, u16, u32, u64);

pub fn bit_shift(ctx: &OpCtx<'_>) -> Result<Vec<Data>, KernelError> {
    let left = match ctx.attrs().string("direction", "")?.as_str() {
        "LEFT" => true,
        "RIGHT" => false,
        d => bail!("direction must be LEFT or RIGHT, got `{d}`"),
    };
    let (a, b) = (ctx.input(0)?, ctx.input(1)?);
    one(pair_match!(
        same [I8, I16, I32, I64, U8, U16, U32, U64]
        a, b, |p, q| zip2(p, q, |x, s| if left { x.shl_(*s) } else { x.shr_(*s) })?
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shifts_out_of_range() {
        assert_eq!((-8i8).shr_(-1), -1);
        assert_eq!(4i8.shr_(9), 0);
        assert_eq!((-1i8).shl_(8), 0);
        assert_eq!(64i8.shl_(1), -128);
        assert_eq!(1u64.shl_(64), 0);
        assert_eq!(u64::MAX.shr_(200), 0);
        assert_eq!((-128i8).shr_(1), -64);
    }
}
