//! Grid sampling.
//!
//! - GridSample (opsets 16, 20): X [N, C, D1..Dr], grid [N, O1..Or, r] (last component
//!   first: grid[..., 0] indexes the last spatial axis); attributes `mode` (16: bilinear /
//!   nearest / bicubic, 20: linear / nearest / cubic), `padding_mode` (zeros / border /
//!   reflection), `align_corners`. Nearest rounds half to even; cubic uses A = -0.75.
//! - AffineGrid (opset 20): theta [N, 2, 3] or [N, 3, 4], size [N, C, H, W] or
//!   [N, C, D, H, W]; `align_corners`; output grid [N, H, W, 2] / [N, D, H, W, 3].

use ndarray::{ArrayD, IxDyn};

use super::common::check_nchw;
use crate::ops::elem::{checked_count, float_dispatch, strides_of, Real};
use crate::ops::util::one;
use crate::{bail, Array, Data, KernelError, OpCtx};

#[derive(Clone, Copy, PartialEq)]
enum Pad {
    Zeros,
    Border,
    Reflection,
}

fn reflect(x: f64, lo: f64, hi: f64) -> f64 {
    let rng = hi - lo;
    if rng <= 0.0 {
        return lo;
    }
    if x < lo {
        let dx = lo - x;
        let n = (dx / rng) as i64;
        let r = dx - n as f64 * rng;
        if n % 2 == 0 {
            lo + r
        } else {
            hi - r
        }
    } else if x > hi {
        let dx = x - hi;
        let n = (dx / rng) as i64;
        let r = dx - n as f64 * rng;
        if n % 2 == 0 {
            hi - r
        } else {
            lo + r
        }
    } else {
        x
    }
}

fn cubic(t: f64) -> [f64; 4] {
    let a = -0.75;
    let x = t.abs();
    [
        ((a * (x + 1.0) - 5.0 * a) * (x + 1.0) + 8.0 * a) * (x + 1.0) - 4.0 * a,
        ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0,
        ((a + 2.0) * (1.0 - x) - (a + 3.0)) * (1.0 - x) * (1.0 - x) + 1.0,
        ((a * (2.0 - x) - 5.0 * a) * (2.0 - x) + 8.0 * a) * (2.0 - x) - 4.0 * a,
    ]
}

fn grid_sample_t<T: Real>(ctx: &OpCtx<'_>) -> Result<Array, KernelError> {
    check_nchw(ctx)?;
    let x0 = ctx.input(0)?;
    let x = T::cow(x0)?;
    let x = x.as_standard_layout();
    let g = T::cow(ctx.input(1)?)?;
    let g = g.as_standard_layout();
    let (xs, gs) = (x.shape(), g.shape());
    if xs.len() < 3 || gs.len() != xs.len() || gs[0] != xs[0] || gs[gs.len() - 1] != xs.len() - 2 {
        bail!("GridSample: X {xs:?} and grid {gs:?} do not match");
    }
    let r = xs.len() - 2;
    let at = ctx.attrs();
    let mode = at.string(
        "mode",
        if ctx.opset >= 20 {
            "linear"
        } else {
            "bilinear"
        },
    )?;
    let mode = match mode.as_str() {
        "bilinear" | "linear" => 1,
        "nearest" => 0,
        "bicubic" | "cubic" => 3,
        m => bail!("GridSample: unknown mode `{m}`"),
    };
    let pad = match at.string("padding_mode", "zeros")?.as_str() {
        "zeros" => Pad::Zeros,
        "border" => Pad::Border,
        "reflection" => Pad::Reflection,
        m => bail!("GridSample: unknown padding_mode `{m}`"),
    };
    let align = at.int("align_corners", 0)? != 0;
    let (n, c) = (xs[0], xs[1]);
    let dims = &xs[2..];
    let ostat = &gs[1..gs.len() - 1];
    let mut oshape = vec![n, c];
    oshape.extend_from_slice(ostat);
    checked_count(&oshape)?;
    let op: usize = ostat.iter().product();
    let ip: usize = dims.iter().product();
    let istr = strides_of(dims);
    let xv = x
        .as_slice()
        .ok_or_else(|| KernelError::new("X not contiguous"))?;
    let gv = g
        .as_slice()
        .ok_or_else(|| KernelError::new("grid not contiguous"))?;
    let mut out = vec![T::zero(); n * c * op];
    let borders: Vec<(f64, f64)> = dims
        .iter()
        .map(|&d| {
            if align {
                (0.0, d as f64 - 1.0)
            } else {
                (-0.5, d as f64 - 0.5)
            }
        })
        .collect();
    // Resolves an integer index along axis `i` per padding mode; None = zero.
    let pixel = |i: usize, idx: i64| -> Option<usize> {
        let d = dims[i] as i64;
        if d == 0 {
            return None;
        }
        match pad {
            Pad::Zeros => (0..d).contains(&idx).then_some(idx as usize),
            Pad::Border => Some(idx.clamp(0, d - 1) as usize),
            Pad::Reflection => {
                let v = reflect(idx as f64, borders[i].0, borders[i].1) as i64;
                Some(v.clamp(0, d - 1) as usize)
            }
        }
    };
    let mut taps: Vec<Vec<(Option<usize>, f64)>> = vec![Vec::new(); r];
    for b in 0..n {
        for o in 0..op {
            let gp = &gv[(b * op + o) * r..][..r];
            for i in 0..r {
                let nv = gp[r - 1 - i].to_f64().unwrap_or(f64::NAN) as f32;
                let d = dims[i] as f32;
                let mut v = if align {
                    (nv + 1.0) / 2.0 * (d - 1.0)
                } else {
                    ((nv + 1.0) * d - 1.0) / 2.0
                } as f64;
                if !v.is_finite() {
                    bail!("GridSample: non-finite grid coordinate");
                }
                if mode == 0 {
                    v = v.round_ties_even();
                }
                let (lo, hi) = borders[i];
                if v < lo || v > hi {
                    match pad {
                        Pad::Border => v = v.clamp(0.0, dims[i] as f64 - 1.0),
                        Pad::Reflection => v = reflect(v, lo, hi),
                        Pad::Zeros => {}
                    }
                }
                // Far outside is equivalent to just outside; keeps index arithmetic small.
                let v = v.clamp(-1e12, 1e12);
                let t = &mut taps[i];
                t.clear();
                match mode {
                    0 => t.push((pixel(i, v as i64), 1.0)),
                    1 => {
                        let x0 = v.floor();
                        let f = v - x0;
                        t.push((pixel(i, x0 as i64), 1.0 - f));
                        t.push((pixel(i, x0 as i64 + 1), f));
                    }
                    _ => {
                        let x0 = v.floor();
                        let w = cubic(v - x0);
                        for (k, &wk) in w.iter().enumerate() {
                            t.push((pixel(i, x0 as i64 - 1 + k as i64), wk));
                        }
                    }
                }
            }
            // Tensor product of the per-axis taps.
            let mut combo: Vec<(usize, f64)> = vec![(0, 1.0)];
            for i in 0..r {
                let mut next = Vec::with_capacity(combo.len() * taps[i].len());
                for &(off, w) in &combo {
                    for &(p, wt) in &taps[i] {
                        if let Some(p) = p {
                            next.push((off + p * istr[i], w * wt));
                        }
                    }
                }
                combo = next;
            }
            for ci in 0..c {
                let plane = &xv[(b * c + ci) * ip..][..ip];
                let mut acc = 0.0f64;
                for &(p, w) in &combo {
                    acc += w * plane[p].to_f64().unwrap_or(0.0);
                }
                out[(b * c + ci) * op + o] = T::c(acc);
            }
        }
    }
    T::wrap(ArrayD::from_shape_vec(IxDyn(&oshape), out)?, x0.dtype())
}

pub fn grid_sample(ctx: &OpCtx<'_>) -> Result<Vec<Data>, KernelError> {
    one(float_dispatch!(ctx.input(0)?.dtype(), grid_sample_t(ctx))?)
}

fn affine_grid_t<T: Real>(ctx: &OpCtx<'_>) -> Result<Array, KernelError> {
    let t0 = ctx.input(0)?;
    let th = T::cow(t0)?;
    let th = th.as_standard_layout();
    let size = ctx.input(1)?.to_i64_vec()?;
    let align = ctx.attrs().int("align_corners", 0)? != 0;
    if size.iter().any(|&v| v < 0) {
        bail!("AffineGrid: negative size {size:?}");
    }
    let size: Vec<usize> = size.iter().map(|&v| v as usize).collect();
    let r = match size.len() {
        4 => 2,
        5 => 3,
        _ => bail!("AffineGrid: size must have 4 or 5 values, got {size:?}"),
    };
    let n = size[0];
    if th.shape() != [n, r, r + 1] {
        bail!(
            "AffineGrid: theta {:?} does not match size {size:?}",
            th.shape()
        );
    }
    let sp = &size[2..];
    let mut oshape = vec![n];
    oshape.extend_from_slice(sp);
    oshape.push(r);
    checked_count(&oshape)?;
    let lin = |i: usize, len: usize| -> f64 {
        if len <= 1 {
            return if align { -1.0 } else { 0.0 };
        }
        let v = -1.0 + 2.0 * i as f64 / (len - 1) as f64;
        if align {
            v
        } else {
            v * (len - 1) as f64 / len as f64
        }
    };
    let tv = th
        .as_slice()
        .ok_or_else(|| KernelError::new("theta not contiguous"))?;
    let p: usize = sp.iter().product();
    let mut out = Vec::with_capacity(n * p * r);
    let st = strides_of(sp);
    for b in 0..n {
        let m = &tv[b * r * (r + 1)..][..r * (r + 1)];
        for o in 0..p {
            // Base coordinates in (x, y[, z]) order: x along the last axis.
            let mut base = vec![0.0f64; r + 1];
            for i in 0..r {
                let idx = (o / st[i]) % sp[i];
                base[r - 1 - i] = lin(idx, sp[i]);
            }
            base[r] = 1.0;
            for row in 0..r {
                let mut acc = 0.0;
                for (k, bv) in base.iter().enumerate() {
                    acc += m[row * (r + 1) + k].to_f64().unwrap_or(0.0) * bv;
                }
                out.push(T::c(acc));
            }
        }
    }
    T::wrap(ArrayD::from_shape_vec(IxDyn(&oshape), out)?, t0.dtype())
}

pub fn affine_grid(ctx: &OpCtx<'_>) -> Result<Vec<Data>, KernelError> {
    one(float_dispatch!(ctx.input(0)?.dtype(), affine_grid_t(ctx))?)
}
