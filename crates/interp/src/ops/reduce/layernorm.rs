//! LayerNormalization (opset 17) and RMSNormalization (opset 23).
//!
//! Both flatten `X` to `[prod(shape[..axis]), prod(shape[axis..])]` (`axis` default −1)
//! and normalize each row: LayerNormalization to `(x − mean) / sqrt(var + epsilon)`,
//! RMSNormalization to `x / sqrt(mean(x²) + epsilon)` (`epsilon` 1e-5); then multiply by
//! `Scale` and (LayerNormalization) add the optional `B`, both broadcast to `X`.
//! LayerNormalization's optional outputs `Mean` and `InvStdDev` have shape
//! `shape[..axis] + [1, ...]`, in f32 when `stash_type` is 1 (the default), else in X's
//! type. Statistics accumulate in f64. Float types (f16/bf16 in f32).

use ndarray::{ArrayD, ArrayViewD, IxDyn};

use super::common::{rnd, Prec};
use crate::ops::elem::{float_dispatch, Real};
use crate::{bail, Array, Data, KernelError, OpCtx};

/// `p` (scale or bias) as a row-pattern of length `cols` if it broadcasts to the
/// normalized shape, else broadcast to the full shape of X.
enum Param<T> {
    Row(Vec<T>),
    Full(Vec<T>),
}

fn param<T: Real>(
    p: ArrayViewD<'_, T>,
    shape: &[usize],
    axis: usize,
) -> Result<Param<T>, KernelError> {
    if let Some(b) = p.broadcast(IxDyn(&shape[axis..])) {
        return Ok(Param::Row(b.iter().copied().collect()));
    }
    match p.broadcast(IxDyn(shape)) {
        Some(b) => Ok(Param::Full(b.iter().copied().collect())),
        None => bail!("shape {:?} does not broadcast to {shape:?}", p.shape()),
    }
}

impl<T: Copy> Param<T> {
    fn at(&self, i: usize, cols: usize) -> T {
        match self {
            Param::Row(v) => v[i % cols],
            Param::Full(v) => v[i],
        }
    }
}

fn run<T: Real>(ctx: &OpCtx<'_>, rms: bool) -> Result<Vec<Data>, KernelError> {
    let x_in = ctx.input(0)?;
    let attrs = ctx.attrs();
    let eps = ctx.float("epsilon")? as f64;
    let stash = attrs.int("stash_type", 1)?;
    let x = T::cow(x_in)?;
    let x = x.as_standard_layout();
    let shape = x.shape().to_vec();
    let rank = shape.len() as i64;
    let axis = attrs.int("axis", -1)?;
    if axis < -rank || axis >= rank.max(1) {
        bail!("axis {axis} is out of range for rank {rank}");
    }
    let axis = if axis < 0 { axis + rank } else { axis } as usize;
    let cols: usize = shape[axis.min(shape.len())..].iter().product();
    let xs = x
        .as_slice()
        .ok_or_else(|| KernelError::new("internal: array not contiguous"))?;
    let scale = T::cow(ctx.input(1)?)?;
    let scale = param(scale.view(), &shape, axis)?;
    let bias = match (rms, ctx.opt_input(2)?) {
        (false, Some(b)) => {
            let b = T::cow(b)?;
            Some(param(b.view(), &shape, axis)?)
        }
        _ => None,
    };
    // f16/bf16: the reference rounds the normalized value, the product and the sum.
    let p = Prec::of(x_in.dtype());
    let mut y = Vec::with_capacity(xs.len());
    let mut means = Vec::new();
    let mut invs = Vec::new();
    if cols > 0 {
        for (r, row) in xs.chunks_exact(cols).enumerate() {
            let n = cols as f64;
            let mean = if rms {
                0.0
            } else {
                row.iter().map(|v| v.as_f64()).sum::<f64>() / n
            };
            let var = row
                .iter()
                .map(|v| {
                    let d = v.as_f64() - mean;
                    d * d
                })
                .sum::<f64>()
                / n;
            let inv = 1.0 / (var + eps).sqrt();
            means.push(mean);
            invs.push(inv);
            if let (Prec::Exact, Param::Row(sc)) = (p, &scale) {
                // The common case without rounding steps or per-element index arithmetic
                // (same operations in the same order as the general loop).
                match &bias {
                    Some(Param::Row(b)) => y.extend(
                        row.iter()
                            .zip(sc)
                            .zip(b)
                            .map(|((&v, &s), &b)| T::c((v.as_f64() - mean) * inv) * s + b),
                    ),
                    None => y.extend(
                        row.iter()
                            .zip(sc)
                            .map(|(&v, &s)| T::c((v.as_f64() - mean) * inv) * s),
                    ),
                    Some(Param::Full(_)) => {}
                }
                if !matches!(bias, Some(Param::Full(_))) {
                    continue;
                }
            }
            for (j, &v) in row.iter().enumerate() {
                let i = r * cols + j;
                let mut o = rnd(
                    p,
                    rnd(p, T::c((v.as_f64() - mean) * inv)) * scale.at(i, cols),
                );
                if let Some(b) = &bias {
                    o = rnd(p, o + b.at(i, cols));
                }
                y.push(o);
            }
        }
    }
    let y = ArrayD::from_shape_vec(IxDyn(&shape), y)?;
    let mut out = vec![Data::Tensor(T::wrap(y, x_in.dtype())?)];
    if !rms && ctx.node.outputs.len() > 1 {
        let stat_shape: Vec<usize> = shape
            .iter()
            .enumerate()
            .map(|(i, &d)| if i < axis { d } else { 1 })
            .collect();
        let rows: usize = shape[..axis].iter().product();
        if cols == 0 {
            means = vec![f64::NAN; rows];
            invs = vec![f64::NAN; rows];
        }
        for v in [means, invs] {
            let a = ArrayD::from_shape_vec(IxDyn(&stat_shape), v)?;
            out.push(Data::Tensor(if stash == 1 {
                Array::F32(a.mapv(|v| v as f32))
            } else {
                f64::wrap(a, x_in.dtype())?
            }));
        }
    }
    Ok(out)
}

pub fn layer_normalization(ctx: &OpCtx<'_>) -> Result<Vec<Data>, KernelError> {
    float_dispatch!(ctx.input(0)?.dtype(), run(ctx, false))
}

pub fn rms_normalization(ctx: &OpCtx<'_>) -> Result<Vec<Data>, KernelError> {
    float_dispatch!(ctx.input(0)?.dtype(), run(ctx, true))
}
