//! BatchNormalization (opsets 1, 6, 7, 9, 14, 15).
//!
//! Inference: `Y = scale * (X − mean) / sqrt(var + epsilon) + B`, per channel (axis 1, or
//! the last axis for an NHWC node). Before opset 9 `spatial=0` gives per-activation
//! parameters of shape `X.shape[1..]`; they are recognised by their size.
//!
//! Training (`training_mode=1` from opset 14, `is_test=0` before opset 7): the batch mean
//! and (population) variance over every axis but the channel one normalize `X`; the
//! outputs are `Y`, `running_mean = mean * momentum + batch_mean * (1 − momentum)`,
//! `running_var` likewise, then (old opsets) the batch mean and variance.
//! Attributes: `epsilon` (1e-5), `momentum` (0.9). Float types (f16/bf16 in f32).

use ndarray::{ArrayD, IxDyn};

use super::common::{channel_axis, rnd, Prec};
use crate::ops::elem::{float_dispatch, Real};
use crate::{bail, Data, KernelError, OpCtx};

fn run<T: Real>(ctx: &OpCtx<'_>) -> Result<Vec<Data>, KernelError> {
    let x_in = ctx.input(0)?;
    let attrs = ctx.attrs();
    let eps = T::c(ctx.float("epsilon")? as f64);
    let momentum = T::c(ctx.float("momentum")? as f64);
    let training = if ctx.opset >= 14 {
        attrs.int("training_mode", 0)? != 0
    } else if ctx.opset < 7 {
        attrs.int("is_test", 0)? == 0 && ctx.node.outputs.len() > 1
    } else {
        false
    };
    let x = T::cow(x_in)?;
    let x = x.as_standard_layout();
    let shape = x.shape().to_vec();
    let cax = channel_axis(ctx, shape.len())?;
    let c = shape[cax];
    let stride: usize = shape[cax + 1..].iter().product();
    let xs = x
        .as_slice()
        .ok_or_else(|| KernelError::new("internal: array not contiguous"))?;
    let scale = T::cow(ctx.input(1)?)?;
    let bias = T::cow(ctx.input(2)?)?;
    let mean_in = ctx.input(3)?;
    let mean = T::cow(mean_in)?;
    let var = T::cow(ctx.input(4)?)?;
    let n_params = scale.len();
    for (p, what) in [(&bias, "B"), (&mean, "mean"), (&var, "var")] {
        if p.len() != n_params {
            bail!("{what} has {} elements, scale has {n_params}", p.len());
        }
    }
    let per_activation: usize = shape[1..].iter().product();
    // Which parameter each element uses.
    let index: Box<dyn Fn(usize) -> usize> = if n_params == c {
        Box::new(move |i| (i / stride.max(1)) % c.max(1))
    } else if n_params == per_activation && cax == 1 && !training {
        Box::new(move |i| i % per_activation.max(1))
    } else {
        bail!("scale has {n_params} elements, expected {c} (one per channel)");
    };
    let (scale, bias, mean, var): (Vec<T>, Vec<T>, Vec<T>, Vec<T>) = (
        scale.iter().copied().collect(),
        bias.iter().copied().collect(),
        mean.iter().copied().collect(),
        var.iter().copied().collect(),
    );
    let (use_mean, use_var) = if training {
        let mut sum = vec![0f64; c];
        let mut sq = vec![0f64; c];
        for (i, &v) in xs.iter().enumerate() {
            let ch = index(i);
            sum[ch] += v.as_f64();
        }
        let count = xs.len().checked_div(c).unwrap_or(0);
        let bm: Vec<f64> = sum.iter().map(|s| s / count as f64).collect();
        for (i, &v) in xs.iter().enumerate() {
            let ch = index(i);
            let d = v.as_f64() - bm[ch];
            sq[ch] += d * d;
        }
        let bv: Vec<f64> = sq.iter().map(|s| s / count as f64).collect();
        (
            bm.into_iter().map(T::c).collect::<Vec<T>>(),
            bv.into_iter().map(T::c).collect::<Vec<T>>(),
        )
    } else {
        (mean.clone(), var.clone())
    };
    let a: Vec<T> = scale
        .iter()
        .zip(&use_var)
        .map(|(&s, &v)| s / (v + eps).sqrt())
        .collect();
    let b: Vec<T> = bias
        .iter()
        .zip(&use_mean)
        .zip(&a)
        .map(|((&bb, &m), &aa)| bb - m * aa)
        .collect();
    let p = Prec::of(x_in.dtype());
    let y: Vec<T> = if p != Prec::Exact {
        // f16/bf16: the reference's step-by-step arithmetic in the input type,
        // `scale * (x − mean) / sqrt(var + epsilon) + B`.
        xs.iter()
            .enumerate()
            .map(|(i, &v)| {
                let ch = index(i);
                let d = rnd(p, scale[ch] * rnd(p, v - use_mean[ch]));
                let q = rnd(p, rnd(p, use_var[ch] + rnd(p, eps)).sqrt());
                rnd(p, rnd(p, d / q) + bias[ch])
            })
            .collect()
    } else if n_params == c && c > 0 && stride > 0 {
        // Per channel: runs of `stride` elements share a channel.
        let mut y = Vec::with_capacity(xs.len());
        if stride == 1 {
            for run in xs.chunks(c) {
                y.extend(
                    run.iter()
                        .zip(a.iter().zip(&b))
                        .map(|(&v, (&aa, &bb))| v * aa + bb),
                );
            }
        } else {
            for (r, run) in xs.chunks(stride).enumerate() {
                let ch = r % c;
                let (aa, bb) = (a[ch], b[ch]);
                y.extend(run.iter().map(|&v| v * aa + bb));
            }
        }
        y
    } else {
        xs.iter()
            .enumerate()
            .map(|(i, &v)| {
                let ch = index(i);
                v * a[ch] + b[ch]
            })
            .collect()
    };
    let y = ArrayD::from_shape_vec(IxDyn(&shape), y)?;
    let mut out = vec![Data::Tensor(T::wrap(y, x_in.dtype())?)];
    if training {
        let one = T::one();
        let run_mean: Vec<T> = mean
            .iter()
            .zip(&use_mean)
            .map(|(&m, &bm)| m * momentum + bm * (one - momentum))
            .collect();
        let run_var: Vec<T> = var
            .iter()
            .zip(&use_var)
            .map(|(&v, &bv)| v * momentum + bv * (one - momentum))
            .collect();
        let pdt = mean_in.dtype();
        for v in [run_mean, run_var, use_mean, use_var] {
            let a = ArrayD::from_shape_vec(IxDyn(&[v.len()]), v)?;
            out.push(Data::Tensor(T::wrap(a, pdt)?));
        }
    }
    Ok(out)
}

pub fn batch_normalization(ctx: &OpCtx<'_>) -> Result<Vec<Data>, KernelError> {
    float_dispatch!(ctx.input(0)?.dtype(), run(ctx))
}
