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
use rayon::prelude::*;

use crate::ops::elem::{float_dispatch, Real};
use crate::ops::elementwise::fast::on_widest;
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

/// Rows per parallel task: about this many elements.
const ROW_TASK_ELEMS: usize = 1 << 13;

/// A row's mean (0 for RMSNormalization) and `1 / sqrt(var + eps)`, accumulated in f64.
#[inline(always)]
fn row_stats<T: Real>(row: &[T], rms: bool, eps: f64) -> (f64, f64) {
    let n = row.len() as f64;
    let mean = if rms {
        0.0
    } else {
        sum_f64(row, |v| v.as_f64()) / n
    };
    let var = sum_f64(row, |v| {
        let d = v.as_f64() - mean;
        d * d
    }) / n;
    (mean, 1.0 / (var + eps).sqrt())
}

/// The sum of `f` over `row` in eight running partial sums (a fixed order, so it vectorizes
/// and gives the same bits on any thread count).
#[inline(always)]
fn sum_f64<T: Copy>(row: &[T], f: impl Fn(T) -> f64) -> f64 {
    let mut acc = [0f64; 8];
    let mut chunks = row.chunks_exact(8);
    for c in &mut chunks {
        for (a, &v) in acc.iter_mut().zip(c) {
            *a += f(v);
        }
    }
    let mut s = acc.iter().sum::<f64>();
    for &v in chunks.remainder() {
        s += f(v);
    }
    s
}

/// Writes row `r` normalized, scaled and shifted into `out`.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn normalize_row<T: Real>(
    out: &mut [T],
    row: &[T],
    r: usize,
    mean: f64,
    inv: f64,
    p: Prec,
    scale: &Param<T>,
    bias: Option<&Param<T>>,
) {
    let cols = row.len();
    if let (Prec::Exact, Param::Row(sc)) = (p, scale) {
        // The common case without rounding steps or per-element index arithmetic (same
        // operations in the same order as the general loop).
        match bias {
            Some(Param::Row(b)) => {
                for (((o, &v), &s), &b) in out.iter_mut().zip(row).zip(sc).zip(b) {
                    *o = T::c((v.as_f64() - mean) * inv) * s + b;
                }
                return;
            }
            None => {
                for ((o, &v), &s) in out.iter_mut().zip(row).zip(sc) {
                    *o = T::c((v.as_f64() - mean) * inv) * s;
                }
                return;
            }
            Some(Param::Full(_)) => {}
        }
    }
    for (j, (o, &v)) in out.iter_mut().zip(row).enumerate() {
        let i = r * cols + j;
        let mut y = rnd(
            p,
            rnd(p, T::c((v.as_f64() - mean) * inv)) * scale.at(i, cols),
        );
        if let Some(b) = bias {
            y = rnd(p, y + b.at(i, cols));
        }
        *o = y;
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
    let rows = xs.len().checked_div(cols).unwrap_or(0);
    let mut y = vec![T::zero(); xs.len()];
    let mut means = vec![0f64; rows];
    let mut invs = vec![0f64; rows];
    if let Some(per_task) = ROW_TASK_ELEMS.checked_div(cols) {
        // Rows are independent: tasks of whole rows (about ROW_TASK_ELEMS elements each), so
        // the result does not depend on the thread count.
        let per_task = per_task.max(1);
        y.par_chunks_mut(cols * per_task)
            .zip(xs.par_chunks(cols * per_task))
            .zip(means.par_chunks_mut(per_task))
            .zip(invs.par_chunks_mut(per_task))
            .enumerate()
            .for_each(|(task, (((ys, xs), ms), is))| {
                on_widest(
                    #[inline(always)]
                    || {
                        let rows = ys.chunks_exact_mut(cols).zip(xs.chunks_exact(cols));
                        for (k, (out, row)) in rows.enumerate() {
                            let r = task * per_task + k;
                            let (mean, inv) = row_stats(row, rms, eps);
                            ms[k] = mean;
                            is[k] = inv;
                            normalize_row(out, row, r, mean, inv, p, &scale, bias.as_ref());
                        }
                    },
                )
            });
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
