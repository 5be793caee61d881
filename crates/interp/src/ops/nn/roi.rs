//! Region-of-interest pools over N×C×H×W feature maps.
//!
//! - RoiAlign (opsets 10, 16): inputs X, rois [R, 4] (x1, y1, x2, y2), batch_indices [R];
//!   attributes `coordinate_transformation_mode` (16+: half_pixel default;
//!   output_half_pixel = opset 10 behaviour), `mode` (avg / max — max of the weighted
//!   bilinear corners, as onnxruntime and the ONNX reference), `output_height`,
//!   `output_width`, `sampling_ratio` (0 = adaptive), `spatial_scale`.
//! - MaxRoiPool (opset 1): rois [R, 5] (batch, x1, y1, x2, y2), `pooled_shape`,
//!   `spatial_scale`; Caffe's integer bins.

use ndarray::{ArrayD, IxDyn};

use super::common::check_nchw;
use crate::ops::elem::{checked_count, float_dispatch, Real};
use crate::ops::util::one;
use crate::{bail, Array, Data, KernelError, OpCtx};

fn batch_index(v: f64, n: usize) -> Result<usize, KernelError> {
    if !(v >= 0.0 && v < n as f64) || v.fract() != 0.0 {
        bail!("RoI batch index {v} is out of range for batch {n}");
    }
    Ok(v as usize)
}

fn roi_align_t<T: Real>(ctx: &OpCtx<'_>) -> Result<Array, KernelError> {
    check_nchw(ctx)?;
    let x0 = ctx.input(0)?;
    let x = T::cow(x0)?;
    let x = x.as_standard_layout();
    let rois = ctx.input(1)?.to_f64_vec()?;
    let bidx = ctx.input(2)?.to_i64_vec()?;
    let xs = x.shape();
    if xs.len() != 4 {
        bail!("RoiAlign: X must be 4-D, got {xs:?}");
    }
    let (n, c, h, w) = (xs[0], xs[1], xs[2], xs[3]);
    let nr = bidx.len();
    if rois.len() != nr * 4 {
        bail!("RoiAlign: rois must be [{nr}, 4]");
    }
    let at = ctx.attrs();
    let half_pixel = if ctx.opset >= 16 {
        match at
            .string("coordinate_transformation_mode", "half_pixel")?
            .as_str()
        {
            "half_pixel" => true,
            "output_half_pixel" => false,
            m => bail!("RoiAlign: unknown coordinate_transformation_mode `{m}`"),
        }
    } else {
        false
    };
    let max_mode = match at.string("mode", "avg")?.as_str() {
        "avg" => false,
        "max" => true,
        m => bail!("RoiAlign: unknown mode `{m}`"),
    };
    let oh = at.int("output_height", 1)?;
    let ow = at.int("output_width", 1)?;
    let sr = at.int("sampling_ratio", 0)?;
    let scale = ctx.float("spatial_scale")? as f64;
    if !(1..1 << 20).contains(&oh) || !(1..1 << 20).contains(&ow) || !(0..1 << 16).contains(&sr) {
        bail!("RoiAlign: bad output size or sampling ratio");
    }
    let (oh, ow) = (oh as usize, ow as usize);
    let shape = [nr, c, oh, ow];
    checked_count(&shape)?;
    let xv = x
        .as_slice()
        .ok_or_else(|| KernelError::new("X not contiguous"))?;
    let mut out = Vec::with_capacity(nr * c * oh * ow);
    for ri in 0..nr {
        let b = batch_index(bidx[ri] as f64, n)?;
        let off = if half_pixel { 0.5 } else { 0.0 };
        let r = &rois[ri * 4..ri * 4 + 4];
        let (sw, sh) = (r[0] * scale - off, r[1] * scale - off);
        let (ew, eh) = (r[2] * scale - off, r[3] * scale - off);
        let (mut rw, mut rh) = (ew - sw, eh - sh);
        if !half_pixel {
            rw = rw.max(1.0);
            rh = rh.max(1.0);
        }
        let (bh, bw) = (rh / oh as f64, rw / ow as f64);
        let gh = if sr > 0 {
            sr as usize
        } else {
            (rh / oh as f64).ceil().max(0.0) as usize
        };
        let gw = if sr > 0 {
            sr as usize
        } else {
            (rw / ow as f64).ceil().max(0.0) as usize
        };
        if gh > 1 << 16 || gw > 1 << 16 {
            bail!("RoiAlign: sampling grid too large");
        }
        checked_count(&[oh * ow, gh, gw])?;
        let count = (gh * gw).max(1) as f64;
        // Pre-computed bilinear taps: (positions, weights) per sample.
        let mut taps: Vec<([usize; 4], [f64; 4])> = Vec::with_capacity(oh * ow * gh * gw);
        for ph in 0..oh {
            for pw in 0..ow {
                for iy in 0..gh {
                    let yy = sh + ph as f64 * bh + (iy as f64 + 0.5) * bh / gh as f64;
                    for ix in 0..gw {
                        let xx = sw + pw as f64 * bw + (ix as f64 + 0.5) * bw / gw as f64;
                        if yy < -1.0
                            || yy > h as f64
                            || xx < -1.0
                            || xx > w as f64
                            || h == 0
                            || w == 0
                        {
                            taps.push(([0; 4], [0.0; 4]));
                            continue;
                        }
                        let (mut y, mut x) = (yy.max(0.0), xx.max(0.0));
                        let mut yl = y as usize;
                        let yh;
                        if yl >= h - 1 {
                            yl = h - 1;
                            yh = h - 1;
                            y = yl as f64;
                        } else {
                            yh = yl + 1;
                        }
                        let mut xl = x as usize;
                        let xh;
                        if xl >= w - 1 {
                            xl = w - 1;
                            xh = w - 1;
                            x = xl as f64;
                        } else {
                            xh = xl + 1;
                        }
                        let (ly, lx) = (y - yl as f64, x - xl as f64);
                        let (hy, hx) = (1.0 - ly, 1.0 - lx);
                        taps.push((
                            [yl * w + xl, yl * w + xh, yh * w + xl, yh * w + xh],
                            [hy * hx, hy * lx, ly * hx, ly * lx],
                        ));
                    }
                }
            }
        }
        for ci in 0..c {
            let plane = &xv[(b * c + ci) * h * w..][..h * w];
            let mut k = 0;
            for _ in 0..oh * ow {
                let mut acc = 0.0f64;
                let mut first = true;
                for _ in 0..gh * gw {
                    let (pos, wt) = &taps[k];
                    k += 1;
                    let v = |i: usize| {
                        wt[i] * plane.get(pos[i]).map_or(0.0, |v| v.to_f64().unwrap_or(0.0))
                    };
                    if max_mode {
                        let m = v(0).max(v(1)).max(v(2)).max(v(3));
                        acc = if first { m } else { acc.max(m) };
                        first = false;
                    } else {
                        acc += v(0) + v(1) + v(2) + v(3);
                    }
                }
                out.push(T::c(if max_mode { acc } else { acc / count }));
            }
        }
    }
    T::wrap(ArrayD::from_shape_vec(IxDyn(&shape), out)?, x0.dtype())
}

pub fn roi_align(ctx: &OpCtx<'_>) -> Result<Vec<Data>, KernelError> {
    one(float_dispatch!(ctx.input(0)?.dtype(), roi_align_t(ctx))?)
}

fn max_roi_pool_t<T: Real>(ctx: &OpCtx<'_>) -> Result<Array, KernelError> {
    check_nchw(ctx)?;
    let x0 = ctx.input(0)?;
    let x = T::cow(x0)?;
    let x = x.as_standard_layout();
    let rois = ctx.input(1)?.to_f64_vec()?;
    let xs = x.shape();
    if xs.len() != 4 {
        bail!("MaxRoiPool: X must be 4-D, got {xs:?}");
    }
    let (n, c, h, w) = (xs[0], xs[1], xs[2], xs[3]);
    if rois.len() % 5 != 0 {
        bail!("MaxRoiPool: rois must be [R, 5]");
    }
    let nr = rois.len() / 5;
    let ps = ctx.attrs().ints("pooled_shape", vec![])?;
    if ps.len() != 2 || ps.iter().any(|&v| !(1..1 << 20).contains(&v)) {
        bail!("MaxRoiPool: bad pooled_shape {ps:?}");
    }
    let (ph, pw) = (ps[0] as usize, ps[1] as usize);
    let scale = ctx.float("spatial_scale")? as f64;
    let shape = [nr, c, ph, pw];
    checked_count(&shape)?;
    let xv = x
        .as_slice()
        .ok_or_else(|| KernelError::new("X not contiguous"))?;
    let mut out = Vec::with_capacity(nr * c * ph * pw);
    for r in rois.chunks(5) {
        let b = batch_index(r[0], n)?;
        let q = |v: f64| (v * scale).round().clamp(-1e12, 1e12) as i64;
        let (sw, sh, ew, eh) = (q(r[1]), q(r[2]), q(r[3]), q(r[4]));
        let rw = (ew - sw + 1).max(1) as f64;
        let rh = (eh - sh + 1).max(1) as f64;
        let (bh, bw) = (rh / ph as f64, rw / pw as f64);
        for ci in 0..c {
            let plane = &xv[(b * c + ci) * h * w..][..h * w];
            for i in 0..ph {
                let hs = ((i as f64 * bh).floor() as i64 + sh).clamp(0, h as i64) as usize;
                let he = (((i + 1) as f64 * bh).ceil() as i64 + sh).clamp(0, h as i64) as usize;
                for j in 0..pw {
                    let ws = ((j as f64 * bw).floor() as i64 + sw).clamp(0, w as i64) as usize;
                    let we = (((j + 1) as f64 * bw).ceil() as i64 + sw).clamp(0, w as i64) as usize;
                    let mut m = T::neg_infinity();
                    let mut any = false;
                    for y in hs..he {
                        for xx in ws..we {
                            let v = plane[y * w + xx];
                            if !any || v > m {
                                m = v;
                                any = true;
                            }
                        }
                    }
                    out.push(if any { m } else { T::zero() });
                }
            }
        }
    }
    T::wrap(ArrayD::from_shape_vec(IxDyn(&shape), out)?, x0.dtype())
}

pub fn max_roi_pool(ctx: &OpCtx<'_>) -> Result<Vec<Data>, KernelError> {
    one(float_dispatch!(ctx.input(0)?.dtype(), max_roi_pool_t(ctx))?)
}
