//! Pools over the spatial axes of an N×C×D1×…×Dn tensor (n = 1, 2, 3).
//!
//! - MaxPool (opsets 1, 8, 10, 11, 12): `auto_pad`, `ceil_mode`, `dilations`,
//!   `kernel_shape`, `pads`, `storage_order`, `strides`; optional second output Indices
//!   (flat int64 index into X, row- or column-major per `storage_order`). f16/f32/f64 and
//!   (12+) i8/u8.
//! - AveragePool (opsets 1, 7, 10, 11, 19): as MaxPool plus `count_include_pad` (pads count
//!   in the divisor, positions beyond the end pad never do).
//! - LpPool (opsets 1, 2, 11, 18): `p` (2), pads contribute 0.
//! - GlobalAveragePool, GlobalMaxPool, GlobalLpPool (`p`): one window over all spatial axes
//!   (f32 GlobalAveragePool by the vectorized row sum of [`super::gap`]).

use ndarray::{ArrayD, IxDyn};

use super::common::{check_nchw, geometry};
use super::conv::{to3, Win3};
use crate::ops::elem::{checked_count, float_dispatch, Real};
use crate::ops::util::one;
use crate::{bail, Array, Data, KernelError, OpCtx};
use rayon::prelude::*;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Max,
    Avg { include_pad: bool },
    Lp(f64),
}

struct Pooled<T> {
    shape: Vec<usize>,
    values: Vec<T>,
    indices: Option<Vec<i64>>,
}

/// Pools `x` (standard layout, N×C×spatial).
fn pool_core<T: Real>(
    ctx: &OpCtx<'_>,
    x: &[T],
    xs: &[usize],
    kind: Kind,
    ceil_mode: bool,
    want_idx: bool,
    col_major: bool,
) -> Result<Pooled<T>, KernelError> {
    check_nchw(ctx)?;
    if xs.len() < 3 {
        bail!("pooling needs an input of rank >= 3, got {xs:?}");
    }
    let nd = xs.len() - 2;
    let ks = ctx.attrs().ints("kernel_shape", vec![])?;
    if ks.len() != nd || ks.iter().any(|&k| !(1..1 << 30).contains(&k)) {
        bail!("kernel_shape {ks:?} is invalid for {nd} spatial axes");
    }
    let kernel: Vec<usize> = ks.iter().map(|&k| k as usize).collect();
    let geo = geometry(ctx, &xs[2..], kernel, ceil_mode)?;
    let win = Win3 {
        big: to3(&xs[2..], 1)?,
        small: to3(&geo.out, 1)?,
        k: to3(&geo.kernel, 1)?,
        s: to3(&geo.strides, 1)?,
        d: to3(&geo.dilations, 1)?,
        pb: to3(&geo.pads_begin, 0)?,
    };
    let pe = to3(&geo.pads_end, 0)?;
    let mut shape = xs[..2].to_vec();
    shape.extend_from_slice(&geo.out);
    let total = checked_count(&shape)?;
    let planes = xs[0] * xs[1];
    let (ip, op) = (win.big_len(), win.small_len());
    let mut values = Vec::with_capacity(total);
    let mut indices = if want_idx {
        Some(Vec::with_capacity(total))
    } else {
        None
    };
    let [bd, bh, bw] = win.big;
    // Per axis and output position: the input coordinates of the window, in range or in pads.
    let taps = |ax: usize, o: usize| -> (Vec<usize>, usize) {
        let mut inside = Vec::new();
        let mut padded = 0;
        for kk in 0..win.k[ax] {
            let i = (o * win.s[ax] + kk * win.d[ax]) as isize - win.pb[ax] as isize;
            if i >= 0 && (i as usize) < win.big[ax] {
                inside.push(i as usize);
                padded += 1;
            } else if i >= -(win.pb[ax] as isize) && i < (win.big[ax] + pe[ax]) as isize {
                padded += 1;
            }
        }
        (inside, padded)
    };
    let tz: Vec<_> = (0..win.small[0]).map(|o| taps(0, o)).collect();
    let ty: Vec<_> = (0..win.small[1]).map(|o| taps(1, o)).collect();
    let tx: Vec<_> = (0..win.small[2]).map(|o| taps(2, o)).collect();
    if kind == Kind::Max && indices.is_none() && win.big[0] == 1 && win.k[0] == 1 {
        values.resize(total, T::zero());
        max_pool_2d(x, &win, &ty, &tx, &mut values);
        return Ok(Pooled {
            shape,
            values,
            indices,
        });
    }
    for plane in 0..planes {
        let xp = &x[plane * ip..(plane + 1) * ip];
        for (zi, zp) in &tz {
            for (yi, yp) in &ty {
                for (xi, xpad) in &tx {
                    match kind {
                        Kind::Max if indices.is_none() => {
                            // Same comparisons as below (the first element, then each
                            // greater one), without tracking where the maximum is.
                            let mut best = None;
                            for &z in zi {
                                for &y in yi {
                                    let row = &xp[(z * bh + y) * bw..][..bw];
                                    for &xx in xi {
                                        let v = row[xx];
                                        best = match best {
                                            Some(b) if v > b => Some(v),
                                            Some(b) => Some(b),
                                            None => Some(v),
                                        };
                                    }
                                }
                            }
                            values.push(best.unwrap_or_else(T::neg_infinity));
                        }
                        Kind::Max => {
                            let mut best = T::neg_infinity();
                            let mut arg = None;
                            for &z in zi {
                                for &y in yi {
                                    for &xx in xi {
                                        let v = xp[(z * bh + y) * bw + xx];
                                        if arg.is_none() || v > best {
                                            best = v;
                                            arg = Some((z, y, xx));
                                        }
                                    }
                                }
                            }
                            values.push(best);
                            if let Some(ix) = indices.as_mut() {
                                let (z, y, xx) = arg.unwrap_or((0, 0, 0));
                                let sp = if col_major {
                                    z + bd * (y + bh * xx)
                                } else {
                                    (z * bh + y) * bw + xx
                                };
                                ix.push((plane * ip + sp) as i64);
                            }
                        }
                        Kind::Avg { include_pad } => {
                            let mut sum = T::zero();
                            for &z in zi {
                                for &y in yi {
                                    for &xx in xi {
                                        sum += xp[(z * bh + y) * bw + xx];
                                    }
                                }
                            }
                            let count = if include_pad {
                                zp * yp * xpad
                            } else {
                                zi.len() * yi.len() * xi.len()
                            };
                            values.push(if count == 0 {
                                T::nan()
                            } else {
                                sum / T::c(count as f64)
                            });
                        }
                        Kind::Lp(p) => {
                            let mut sum = T::zero();
                            let pp = T::c(p);
                            for &z in zi {
                                for &y in yi {
                                    for &xx in xi {
                                        sum += xp[(z * bh + y) * bw + xx].abs().powf(pp);
                                    }
                                }
                            }
                            values.push(sum.powf(T::one() / pp));
                        }
                    }
                }
            }
        }
        let _ = op;
    }
    Ok(Pooled {
        shape,
        values,
        indices,
    })
}

/// 2-D MaxPool without indices, in parallel over planes: the outputs whose window lies
/// inside the row in x are computed a tap at a time across the row (the compiler
/// vectorizes the loop), the others from their tap lists. Either way each output sees its
/// taps in the generic loop's order (rows, then columns) with the same comparisons (the
/// first element, then each greater one), so NaNs and ±0 come out as there.
fn max_pool_2d<T: Real>(
    x: &[T],
    win: &Win3,
    ty: &[(Vec<usize>, usize)],
    tx: &[(Vec<usize>, usize)],
    out: &mut [T],
) {
    let [_, bh, bw] = win.big;
    let [_, oh, ow] = win.small;
    let (s, d, pb, kw) = (win.s[2], win.d[2], win.pb[2], win.k[2]);
    // Outputs `xlo..xhi` have every column tap inside the row.
    let first_in = pb.div_ceil(s);
    let last_in = (bw + pb).checked_sub((kw - 1) * d + 1).map(|v| v / s + 1);
    let (xlo, xhi) = match last_in {
        Some(hi) => (first_in.min(ow), hi.min(ow).max(first_in.min(ow))),
        None => (0, 0),
    };
    if oh * ow == 0 {
        return;
    }
    let planes = out.len() / (oh * ow);
    out.par_chunks_mut(oh * ow)
        .with_min_len((1 << 14) / (oh * ow).max(1) + 1)
        .enumerate()
        .take(planes)
        .for_each(|(plane, op)| {
            let xp = &x[plane * bh * bw..][..bh * bw];
            for (orow, (yi, _)) in op.chunks_mut(ow).zip(ty) {
                for (ox, (xi, _)) in tx.iter().enumerate() {
                    if (xlo..xhi).contains(&ox) && !yi.is_empty() {
                        continue;
                    }
                    let mut best = None;
                    for &y in yi {
                        for &xx in xi {
                            let v = xp[y * bw + xx];
                            best = match best {
                                Some(b) if v > b => Some(v),
                                Some(b) => Some(b),
                                None => Some(v),
                            };
                        }
                    }
                    orow[ox] = best.unwrap_or_else(T::neg_infinity);
                }
                let Some((&y0, rest)) = yi.split_first() else {
                    continue;
                };
                let dst = &mut orow[xlo..xhi];
                for (row_i, &y) in std::iter::once(&y0).chain(rest).enumerate() {
                    let row = &xp[y * bw..][..bw];
                    for kx in 0..kw {
                        // Column of output `xlo` for this tap; `xlo·s ≥ pb` makes it ≥ 0.
                        let c0 = xlo * s + kx * d - pb;
                        if row_i == 0 && kx == 0 {
                            for (j, o) in dst.iter_mut().enumerate() {
                                *o = row[c0 + j * s];
                            }
                        } else {
                            for (j, o) in dst.iter_mut().enumerate() {
                                let v = row[c0 + j * s];
                                *o = if v > *o { v } else { *o };
                            }
                        }
                    }
                }
            }
        });
}

fn pool_float<T: Real>(
    ctx: &OpCtx<'_>,
    kind: Kind,
    want_idx: bool,
) -> Result<Vec<Data>, KernelError> {
    let x0 = ctx.input(0)?;
    let x = T::cow(x0)?;
    let x = x.as_standard_layout();
    let xv = x
        .as_slice()
        .ok_or_else(|| KernelError::new("X not contiguous"))?;
    let ceil_mode = ctx.attrs().int("ceil_mode", 0)? != 0;
    let col_major = ctx.attrs().int("storage_order", 0)? != 0;
    let r = pool_core(ctx, xv, x.shape(), kind, ceil_mode, want_idx, col_major)?;
    let y = T::wrap(
        ArrayD::from_shape_vec(IxDyn(&r.shape), r.values)?,
        x0.dtype(),
    )?;
    let mut out = vec![Data::Tensor(y)];
    if let Some(ix) = r.indices {
        out.push(Data::Tensor(Array::I64(ArrayD::from_shape_vec(
            IxDyn(&r.shape),
            ix,
        )?)));
    }
    Ok(out)
}

fn want_indices(ctx: &OpCtx<'_>) -> bool {
    ctx.node.outputs.len() > 1 && !ctx.node.outputs[1].is_absent()
}

pub fn max_pool(ctx: &OpCtx<'_>) -> Result<Vec<Data>, KernelError> {
    let x = ctx.input(0)?;
    let want = want_indices(ctx);
    macro_rules! small_int {
        ($a:expr, $v:ident, $t:ty) => {{
            let xf = $a.mapv(|v| v as f32);
            let xf = xf.as_standard_layout();
            let xv = xf
                .as_slice()
                .ok_or_else(|| KernelError::new("X not contiguous"))?;
            let ceil_mode = ctx.attrs().int("ceil_mode", 0)? != 0;
            let col_major = ctx.attrs().int("storage_order", 0)? != 0;
            let r = pool_core::<f32>(ctx, xv, $a.shape(), Kind::Max, ceil_mode, want, col_major)?;
            let vals: Vec<$t> = r.values.iter().map(|&v| v as $t).collect();
            let mut out = vec![Data::Tensor(Array::$v(ArrayD::from_shape_vec(
                IxDyn(&r.shape),
                vals,
            )?))];
            if let Some(ix) = r.indices {
                out.push(Data::Tensor(Array::I64(ArrayD::from_shape_vec(
                    IxDyn(&r.shape),
                    ix,
                )?)));
            }
            Ok(out)
        }};
    }
    match x {
        Array::I8(a) => small_int!(a, I8, i8),
        Array::U8(a) => small_int!(a, U8, u8),
        _ => float_dispatch!(x.dtype(), pool_float(ctx, Kind::Max, want)),
    }
}

pub fn average_pool(ctx: &OpCtx<'_>) -> Result<Vec<Data>, KernelError> {
    let x = ctx.input(0)?;
    let include_pad = ctx.attrs().int("count_include_pad", 0)? != 0;
    float_dispatch!(x.dtype(), pool_float(ctx, Kind::Avg { include_pad }, false))
}

fn p_attr(ctx: &OpCtx<'_>) -> Result<f64, KernelError> {
    let p = ctx.attrs().int("p", 2)?;
    if p < 1 {
        bail!("p must be positive, got {p}");
    }
    Ok(p as f64)
}

pub fn lp_pool(ctx: &OpCtx<'_>) -> Result<Vec<Data>, KernelError> {
    let x = ctx.input(0)?;
    let p = p_attr(ctx)?;
    float_dispatch!(x.dtype(), pool_float(ctx, Kind::Lp(p), false))
}

fn global_t<T: Real>(ctx: &OpCtx<'_>, kind: Kind) -> Result<Array, KernelError> {
    check_nchw(ctx)?;
    let x0 = ctx.input(0)?;
    let x = T::cow(x0)?;
    let x = x.as_standard_layout();
    let xs = x.shape();
    if xs.len() < 2 {
        bail!("global pooling needs an input of rank >= 2, got {xs:?}");
    }
    let planes = xs[0] * xs[1];
    let sp: usize = xs[2..].iter().product();
    let xv = x
        .as_slice()
        .ok_or_else(|| KernelError::new("X not contiguous"))?;
    let mut vals = Vec::with_capacity(planes);
    for i in 0..planes {
        let s = &xv[i * sp..(i + 1) * sp];
        vals.push(match kind {
            Kind::Max => s
                .iter()
                .copied()
                .fold(T::neg_infinity(), |a, b| if b > a { b } else { a }),
            Kind::Avg { .. } => s.iter().copied().sum::<T>() / T::c(sp as f64),
            Kind::Lp(p) => {
                let pp = T::c(p);
                s.iter()
                    .map(|v| v.abs().powf(pp))
                    .sum::<T>()
                    .powf(T::one() / pp)
            }
        });
    }
    let mut shape = xs[..2].to_vec();
    shape.extend(std::iter::repeat_n(1, xs.len() - 2));
    T::wrap(ArrayD::from_shape_vec(IxDyn(&shape), vals)?, x0.dtype())
}

pub fn global_average_pool(ctx: &OpCtx<'_>) -> Result<Vec<Data>, KernelError> {
    let x = ctx.input(0)?;
    if let (Array::F32(xf), true) = (x, x.shape().len() >= 2) {
        check_nchw(ctx)?;
        let xf = xf.as_standard_layout();
        let xs = xf.shape();
        let xv = xf
            .as_slice()
            .ok_or_else(|| KernelError::new("X not contiguous"))?;
        let mut means = vec![0f32; xs[0] * xs[1]];
        super::gap::plane_means(xv, &mut means);
        let mut shape = xs[..2].to_vec();
        shape.extend(std::iter::repeat_n(1, xs.len() - 2));
        return one(Array::F32(ArrayD::from_shape_vec(IxDyn(&shape), means)?));
    }
    one(float_dispatch!(
        x.dtype(),
        global_t(ctx, Kind::Avg { include_pad: false })
    )?)
}

pub fn global_max_pool(ctx: &OpCtx<'_>) -> Result<Vec<Data>, KernelError> {
    let x = ctx.input(0)?;
    one(float_dispatch!(x.dtype(), global_t(ctx, Kind::Max))?)
}

pub fn global_lp_pool(ctx: &OpCtx<'_>) -> Result<Vec<Data>, KernelError> {
    let x = ctx.input(0)?;
    let p = p_attr(ctx)?;
    one(float_dispatch!(x.dtype(), global_t(ctx, Kind::Lp(p)))?)
}

/// MaxUnpool (opsets 9, 11): scatters X into zeros at the flat positions I; output shape
/// from the optional `output_shape` input or `(in - 1) * stride + kernel - pads`.
fn max_unpool_t<T: Real>(ctx: &OpCtx<'_>) -> Result<Array, KernelError> {
    check_nchw(ctx)?;
    let x0 = ctx.input(0)?;
    let x = T::cow(x0)?;
    let idx = ctx.input(1)?.to_i64_vec()?;
    let xs = x.shape();
    if xs.len() < 3 || idx.len() != x.len() {
        bail!(
            "MaxUnpool: X {xs:?} and indices ({} values) do not match",
            idx.len()
        );
    }
    let nd = xs.len() - 2;
    let ks = ctx.attrs().ints("kernel_shape", vec![])?;
    if ks.len() != nd || ks.iter().any(|&k| !(1..1 << 30).contains(&k)) {
        bail!("MaxUnpool: bad kernel_shape {ks:?}");
    }
    let strides = super::common::spatial_ints(ctx, "strides", nd, 1, 1)?;
    let pads = super::common::spatial_ints(ctx, "pads", 2 * nd, 0, 0)?;
    let mut inferred = xs[..2].to_vec();
    for i in 0..nd {
        let full = (xs[2 + i].max(1) - 1) * strides[i] + ks[i] as usize;
        inferred.push(
            full.checked_sub(pads[i] + pads[nd + i])
                .ok_or_else(|| KernelError::new("MaxUnpool: pads larger than the output"))?,
        );
    }
    let total = checked_count(&inferred)?;
    let mut out = vec![T::zero(); total];
    for (&i, &v) in idx.iter().zip(x.iter()) {
        if i < 0 || i as usize >= total {
            bail!("MaxUnpool: index {i} is out of range for output {inferred:?}");
        }
        out[i as usize] = v;
    }
    let y = ArrayD::from_shape_vec(IxDyn(&inferred), out)?;
    // An explicit output shape places the inferred result at its origin.
    let y = match ctx.opt_input(2)? {
        None => y,
        Some(s) => {
            let v = s.to_i64_vec()?;
            if v.len() != xs.len() || v.iter().zip(&inferred).any(|(&d, &i)| d < i as i64) {
                bail!("MaxUnpool: output_shape {v:?} is smaller than the inferred {inferred:?}");
            }
            let shape: Vec<usize> = v.iter().map(|&d| d as usize).collect();
            checked_count(&shape)?;
            let mut big = ArrayD::<T>::zeros(IxDyn(&shape));
            let sl: Vec<ndarray::SliceInfoElem> = inferred
                .iter()
                .map(|&d| ndarray::SliceInfoElem::from(0..d))
                .collect();
            big.slice_mut(sl.as_slice()).assign(&y);
            big
        }
    };
    T::wrap(y, x0.dtype())
}

pub fn max_unpool(ctx: &OpCtx<'_>) -> Result<Vec<Data>, KernelError> {
    one(float_dispatch!(ctx.input(0)?.dtype(), max_unpool_t(ctx))?)
}
