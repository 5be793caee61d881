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
