//! Channel-wise normalizations and norms (float types; f16/bf16 computed in f32):
//!
//! - InstanceNormalization (opsets 1, 6, 22): per sample and channel, over the spatial
//!   dimensions, `scale[c] * (x − mean) / sqrt(var + epsilon) + B[c]`; `epsilon` (1e-5).
//! - GroupNormalization (opsets 18, 21): the channels split into `num_groups` groups, each
//!   sample's group normalized over its channels and spatial dimensions, then
//!   `scale * y + bias` per channel (opset 21: shape `[C]`; opset 18: shape
//!   `[num_groups]`, one value per group); `epsilon` (1e-5), `stash_type` (statistics are
//!   always computed in f64 here).
//! - MeanVarianceNormalization (opsets 1, 9, 13): `(X − E[X]) / (sqrt(E[X²] − E[X]²) +
//!   1e-9)` over `axes` (default `[0, 2, 3]`), as the reference computes it.
//! - LpNormalization (opsets 1, 22): `x / ‖x‖_p` along `axis` (−1) with `p` 1 or 2 (2);
//!   a lane whose norm is 0 gives 0.
//! - LRN (opsets 1, 13): `x / (bias + alpha / size * Σ x²)^beta`, the sum over the
//!   channels `c − ⌊(size−1)/2⌋ ..= c + ⌈(size−1)/2⌉`; `alpha` (1e-4), `beta` (0.75),
//!   `bias` (1), `size` (required).
//!
//! Instance, Group and LRN use channel axis 1, or the last axis for an NHWC node.

use ndarray::{ArrayD, IxDyn};

use super::common::{
    axes_mask, channel_axis, channels_back, channels_first, map_lanes, param, reduce_groups,
};
use crate::ops::elem::{float_dispatch, Real};
use crate::ops::util::{normalize_axis, one};
use crate::{bail, Data, KernelError, OpCtx};

/// Normalizes an NC... standard-layout slice per (sample, group) and applies per-channel
/// `scale` and `bias`.
fn group_norm_core<T: Real>(
    xs: &[T],
    n: usize,
    c: usize,
    groups: usize,
    scale: &[T],
    bias: &[T],
    eps: f64,
) -> Result<Vec<T>, KernelError> {
    if groups == 0 || !c.is_multiple_of(groups) {
        bail!("{c} channels cannot be split into {groups} groups");
    }
    let spatial = xs.len().checked_div(n * c).unwrap_or(0);
    let per_group = c / groups * spatial;
    let mut out = Vec::with_capacity(xs.len());
    if per_group == 0 {
        return Ok(xs.to_vec());
    }
    for (gi, chunk) in xs.chunks_exact(per_group).enumerate() {
        let g = gi % groups;
        let mean = chunk.iter().map(|v| v.as_f64()).sum::<f64>() / per_group as f64;
        let var = chunk
            .iter()
            .map(|v| {
                let d = v.as_f64() - mean;
                d * d
            })
            .sum::<f64>()
            / per_group as f64;
        let inv = 1.0 / (var + eps).sqrt();
        for (j, &v) in chunk.iter().enumerate() {
            let ch = g * (c / groups) + j / spatial.max(1);
            let y = T::c((v.as_f64() - mean) * inv);
            out.push(y * scale[ch] + bias[ch]);
        }
    }
    Ok(out)
}

fn group_like<T: Real>(ctx: &OpCtx<'_>, instance: bool) -> Result<Vec<Data>, KernelError> {
    let x_in = ctx.input(0)?;
    let x = T::cow(x_in)?;
    let rank = x.ndim();
    let cax = channel_axis(ctx, rank)?;
    let x = channels_first(x.view(), cax);
    let shape = x.shape().to_vec();
    let (n, c) = (shape[0], shape[1]);
    let eps = ctx.float("epsilon")? as f64;
    let (groups, scale, bias) = if instance {
        (
            c,
            param::<T>(ctx.input(1)?, c, "scale")?,
            param::<T>(ctx.input(2)?, c, "B")?,
        )
    } else {
        let g = ctx.attrs().int("num_groups", 0)?;
        if g <= 0 {
            bail!("num_groups must be positive, got {g}");
        }
        let g = g as usize;
        let s_in = ctx.input(1)?;
        let b_in = ctx.input(2)?;
        if s_in.len() == c && (ctx.opset >= 21 || s_in.len() != g) {
            (
                g,
                param::<T>(s_in, c, "scale")?,
                param::<T>(b_in, c, "bias")?,
            )
        } else {
            // Opset 18: one scale and bias per group, repeated over the group's channels.
            let s = param::<T>(s_in, g, "scale")?;
            let b = param::<T>(b_in, g, "bias")?;
            if g == 0 || !c.is_multiple_of(g) {
                bail!("{c} channels cannot be split into {g} groups");
            }
            let per = c / g;
            (
                g,
                (0..c).map(|ch| s[ch / per]).collect(),
                (0..c).map(|ch| b[ch / per]).collect(),
            )
        }
    };
    let xs = x
        .as_slice()
        .ok_or_else(|| KernelError::new("internal: array not contiguous"))?;
    let y = group_norm_core(xs, n, c, groups, &scale, &bias, eps)?;
    let y = ArrayD::from_shape_vec(IxDyn(&shape), y)?;
    one(T::wrap(channels_back(y, cax), x_in.dtype())?)
}

pub fn instance_normalization(ctx: &OpCtx<'_>) -> Result<Vec<Data>, KernelError> {
    float_dispatch!(ctx.input(0)?.dtype(), group_like(ctx, true))
}

pub fn group_normalization(ctx: &OpCtx<'_>) -> Result<Vec<Data>, KernelError> {
    float_dispatch!(ctx.input(0)?.dtype(), group_like(ctx, false))
}

fn mvn<T: Real>(ctx: &OpCtx<'_>) -> Result<Vec<Data>, KernelError> {
    let x_in = ctx.input(0)?;
    let x = T::cow(x_in)?;
    let rank = x.ndim();
    let axes = ctx.attrs().ints("axes", vec![0, 2, 3])?;
    let mask = axes_mask(&axes, rank)?;
    let stats = reduce_groups(x.view(), &mask, |xs| {
        let n = xs.len() as f64;
        let mean = xs.iter().map(|v| v.as_f64()).sum::<f64>() / n;
        let sq = xs.iter().map(|v| v.as_f64() * v.as_f64()).sum::<f64>() / n;
        (mean, (sq - mean * mean).max(0.0).sqrt() + 1e-9)
    })?;
    let kept_shape: Vec<usize> = x
        .shape()
        .iter()
        .zip(&mask)
        .map(|(&d, &m)| if m { 1 } else { d })
        .collect();
    let stats = stats.into_shape_with_order(IxDyn(&kept_shape))?;
    let stats = stats
        .broadcast(x.raw_dim())
        .ok_or_else(|| KernelError::new("internal: statistics do not broadcast"))?;
    let mut y = x.to_owned();
    ndarray::Zip::from(&mut y)
        .and(&stats)
        .for_each(|v, &(m, s)| *v = T::c((v.as_f64() - m) / s));
    one(T::wrap(y, x_in.dtype())?)
}

pub fn mean_variance_normalization(ctx: &OpCtx<'_>) -> Result<Vec<Data>, KernelError> {
    float_dispatch!(ctx.input(0)?.dtype(), mvn(ctx))
}

fn lp<T: Real>(ctx: &OpCtx<'_>) -> Result<Vec<Data>, KernelError> {
    let x_in = ctx.input(0)?;
    let x = T::cow(x_in)?;
    let axis = normalize_axis(ctx.attrs().int("axis", -1)?, x.ndim())?;
    let p = ctx.attrs().int("p", 2)?;
    if p != 1 && p != 2 {
        bail!("p must be 1 or 2, got {p}");
    }
    let y = map_lanes(x.view(), axis, |lane| {
        let norm = if p == 1 {
            lane.iter().map(|v| v.as_f64().abs()).sum::<f64>()
        } else {
            lane.iter()
                .map(|v| v.as_f64() * v.as_f64())
                .sum::<f64>()
                .sqrt()
        };
        for v in lane.iter_mut() {
            // A zero norm gives zeros (as the opset-22 reference does), not NaN.
            *v = if norm == 0.0 {
                T::zero()
            } else {
                T::c(v.as_f64() / norm)
            };
        }
    })?;
    one(T::wrap(y, x_in.dtype())?)
}

pub fn lp_normalization(ctx: &OpCtx<'_>) -> Result<Vec<Data>, KernelError> {
    float_dispatch!(ctx.input(0)?.dtype(), lp(ctx))
}

fn lrn_run<T: Real>(ctx: &OpCtx<'_>) -> Result<Vec<Data>, KernelError> {
    let x_in = ctx.input(0)?;
    let attrs = ctx.attrs();
    let alpha = ctx.float("alpha")? as f64;
    let beta = ctx.float("beta")? as f64;
    let bias = ctx.float("bias")? as f64;
    let size = attrs.int("size", 0)?;
    if size <= 0 {
        bail!("size must be positive, got {size}");
    }
    let x = T::cow(x_in)?;
    let cax = channel_axis(ctx, x.ndim())?;
    let x = channels_first(x.view(), cax);
    let shape = x.shape().to_vec();
    let (n, c) = (shape[0], shape[1]);
    let spatial: usize = shape[2..].iter().product();
    let xs = x
        .as_slice()
        .ok_or_else(|| KernelError::new("internal: array not contiguous"))?;
    let lo = (size - 1) / 2;
    let hi = size - 1 - lo;
    let mut y = vec![T::zero(); xs.len()];
    for b in 0..n {
        for ch in 0..c {
            let from = (ch as i64 - lo).max(0) as usize;
            let to = (ch as i64 + hi).min(c as i64 - 1) as usize;
            for s in 0..spatial {
                let mut sq = 0.0;
                for k in from..=to {
                    let v = xs[(b * c + k) * spatial + s].as_f64();
                    sq += v * v;
                }
                let i = (b * c + ch) * spatial + s;
                y[i] = T::c(xs[i].as_f64() / (bias + alpha / size as f64 * sq).powf(beta));
            }
        }
    }
    let y = ArrayD::from_shape_vec(IxDyn(&shape), y)?;
    one(T::wrap(channels_back(y, cax), x_in.dtype())?)
}

pub fn lrn(ctx: &OpCtx<'_>) -> Result<Vec<Data>, KernelError> {
    float_dispatch!(ctx.input(0)?.dtype(), lrn_run(ctx))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_must_divide_channels() {
        let xs = [1.0f64, 2.0, 3.0, 4.0, 5.0, 6.0];
        let ones = [1.0; 3];
        let zeros = [0.0; 3];
        assert!(group_norm_core(&xs, 1, 3, 2, &ones, &zeros, 0.0).is_err());
        // One group of channels {0, 1, 2} with spatial size 2: mean 3.5, var 35/12.
        let y = group_norm_core(&xs, 1, 3, 1, &ones, &zeros, 0.0).unwrap();
        let sd = (35.0f64 / 12.0).sqrt();
        assert!((y[0] - (1.0 - 3.5) / sd).abs() < 1e-12);
        assert!((y[5] - (6.0 - 3.5) / sd).abs() < 1e-12);
    }
}
