//! Cast (opsets 1–25; attributes `to`, `saturate` from 19 for the float8 types,
//! `round_mode` from 24 for float8e8m0) and CastLike (opsets 15–25; the target type is the
//! second input's; same `saturate` / `round_mode`). Every pair of element types converts:
//! floats round to nearest even, floats to integers truncate and wrap, strings parse and
//! print as numpy does.

use modelc_ir::DType;
use ndarray::ArrayD;

use super::convert::{decode, encode, format_f32, Opts};
use crate::ops::util::one;
use crate::{bail, Array, Data, KernelError, OpCtx};

/// Converts `x` to `to` with ONNX Cast's rules.
pub fn cast_array(x: &Array, to: DType, opts: Opts<'_>) -> Result<Array, KernelError> {
    if x.dtype() == to {
        return Ok(x.clone());
    }
    if to == DType::Str {
        // Single-precision floats print with their own shortest digits.
        let f32s: Option<ArrayD<f32>> = match x {
            Array::F32(a) => Some(a.clone()),
            Array::F16(a) => Some(a.mapv(|v| v.to_f32())),
            Array::BF16(a) => Some(a.mapv(|v| v.to_f32())),
            _ => None,
        };
        if let Some(a) = f32s {
            return Ok(Array::Str(a.mapv(format_f32)));
        }
    }
    encode(decode(x)?, to, x.shape(), opts)
}

fn opts(ctx: &OpCtx<'_>) -> Result<(bool, String), KernelError> {
    Ok((
        ctx.attrs().int("saturate", 1)? != 0,
        ctx.attrs().string("round_mode", "up")?,
    ))
}

pub fn cast(ctx: &OpCtx<'_>) -> Result<Vec<Data>, KernelError> {
    let x = ctx.input(0)?;
    let code = ctx.attrs().int("to", 0)?;
    let Some(to) = i32::try_from(code).ok().and_then(DType::from_onnx_code) else {
        bail!("Cast: `to` = {code} is not an element type");
    };
    let (saturate, round_mode) = opts(ctx)?;
    one(cast_array(
        x,
        to,
        Opts {
            saturate,
            round_mode: &round_mode,
        },
    )?)
}

pub fn cast_like(ctx: &OpCtx<'_>) -> Result<Vec<Data>, KernelError> {
    let x = ctx.input(0)?;
    let to = ctx.input(1)?.dtype();
    let (saturate, round_mode) = opts(ctx)?;
    one(cast_array(
        x,
        to,
        Opts {
            saturate,
            round_mode: &round_mode,
        },
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::IxDyn;

    fn strs(v: &[&str]) -> Array {
        Array::Str(
            ArrayD::from_shape_vec(IxDyn(&[v.len()]), v.iter().map(|s| s.to_string()).collect())
                .unwrap(),
        )
    }

    #[test]
    fn strings_to_and_from_numbers() {
        let x = strs(&["1e-5", "INF", "-inf", "NaN", "+INF", " 2.5 "]);
        let Array::F32(y) = cast_array(&x, DType::F32, Opts::default()).unwrap() else {
            panic!()
        };
        let y: Vec<f32> = y.iter().copied().collect();
        assert_eq!(y[0], 1e-5);
        assert_eq!(y[1], f32::INFINITY);
        assert_eq!(y[2], f32::NEG_INFINITY);
        assert!(y[3].is_nan());
        assert_eq!(y[4], f32::INFINITY);
        assert_eq!(y[5], 2.5);
        assert!(cast_array(&strs(&["abc"]), DType::F32, Opts::default()).is_err());
        let i = cast_array(&strs(&["-7", "300"]), DType::I8, Opts::default()).unwrap();
        assert_eq!(
            i,
            Array::I8(ArrayD::from_shape_vec(IxDyn(&[2]), vec![-7, 44]).unwrap())
        );
        let f = Array::F32(ArrayD::from_shape_vec(IxDyn(&[3]), vec![0.1, 1e-7, -3.0]).unwrap());
        assert_eq!(
            cast_array(&f, DType::Str, Opts::default()).unwrap(),
            strs(&["0.1", "1e-07", "-3.0"])
        );
    }

    #[test]
    fn float_to_int_truncates_and_wraps() {
        let f = Array::F32(
            ArrayD::from_shape_vec(IxDyn(&[4]), vec![2.7, -2.7, 300.0, f32::NAN]).unwrap(),
        );
        assert_eq!(
            cast_array(&f, DType::U8, Opts::default()).unwrap(),
            Array::U8(ArrayD::from_shape_vec(IxDyn(&[4]), vec![2, 254, 44, 0]).unwrap())
        );
    }
}
