//! HannWindow, HammingWindow and BlackmanWindow (opset 17).
//!
//! Input `size` (an integer scalar); attributes `periodic` (1: the denominator is `size`,
//! 0: `size − 1`, a symmetric window) and `output_datatype` (1 = float; any numeric ONNX
//! type). With `N` that denominator and `n = 0..size`:
//! Hann `0.5 − 0.5 cos(2πn/N)`, Hamming `25/46 − 21/46 cos(2πn/N)`,
//! Blackman `0.42 − 0.5 cos(2πn/N) + 0.08 cos(4πn/N)`.

use std::f64::consts::PI;

use modelc_ir::DType;
use ndarray::{ArrayD, IxDyn};

use crate::ops::elem::{from_f64_array, MAX_ELEMS};
use crate::ops::util::one;
use crate::{bail, Data, KernelError, OpCtx};

#[derive(Clone, Copy)]
enum Kind {
    Hann,
    Hamming,
    Blackman,
}

fn window(ctx: &OpCtx<'_>, kind: Kind) -> Result<Vec<Data>, KernelError> {
    let size = match ctx.input(0)?.to_i64_vec()?.as_slice() {
        [s] => *s,
        _ => bail!("size must be a scalar"),
    };
    if size < 0 || size as u64 > MAX_ELEMS as u64 {
        bail!("window size {size} is out of range");
    }
    let periodic = ctx.attrs().int("periodic", 1)? != 0;
    let code = ctx.attrs().int("output_datatype", 1)?;
    let dtype = i32::try_from(code)
        .ok()
        .and_then(DType::from_onnx_code)
        .ok_or_else(|| KernelError::new(format!("unknown output_datatype {code}")))?;
    let n_den = if periodic { size } else { size - 1 } as f64;
    let v: Vec<f64> = (0..size)
        .map(|n| {
            let t = 2.0 * PI * n as f64 / n_den;
            match kind {
                Kind::Hann => 0.5 - 0.5 * t.cos(),
                Kind::Hamming => 25.0 / 46.0 - (1.0 - 25.0 / 46.0) * t.cos(),
                Kind::Blackman => 0.42 - 0.5 * t.cos() + 0.08 * (2.0 * t).cos(),
            }
        })
        .collect();
    let a = ArrayD::from_shape_vec(IxDyn(&[size as usize]), v)?;
    if matches!(dtype, DType::Bool | DType::Str) {
        bail!("output_datatype {dtype} is not numeric");
    }
    one(from_f64_array(a, dtype)?)
}

pub fn hann_window(ctx: &OpCtx<'_>) -> Result<Vec<Data>, KernelError> {
    window(ctx, Kind::Hann)
}

pub fn hamming_window(ctx: &OpCtx<'_>) -> Result<Vec<Data>, KernelError> {
    window(ctx, Kind::Hamming)
}

pub fn blackman_window(ctx: &OpCtx<'_>) -> Result<Vec<Data>, KernelError> {
    window(ctx, Kind::Blackman)
}
