//! DeformConv (opsets 19, 22), 2-D: a convolution whose sampling positions are shifted by
//! learned offsets (input `offset` [N, offset_group·kh·kw·2, oh, ow], (y, x) pairs) and
//! optionally scaled by `mask` [N, offset_group·kh·kw, oh, ow]. Samples are bilinear with
//! zeros outside the image. Attributes `dilations`, `group`, `kernel_shape`,
//! `offset_group`, `pads`, `strides`. Computed as a sampled im2col + one GEMM per group.

use ndarray::{s, ArrayD, ArrayView2, ArrayViewMut2, IxDyn};

use super::common::{check_nchw, spatial_ints};
use crate::ops::elem::{checked_count, float_dispatch, Real};
use crate::ops::util::one;
use crate::{bail, Array, Data, KernelError, OpCtx};

fn bilinear<T: Real>(plane: &[T], h: usize, w: usize, y: T, x: T) -> T {
    let y0 = y.floor();
    let x0 = x.floor();
    let (ly, lx) = (y - y0, x - x0);
    let (y0, x0) = (
        y0.to_i64().unwrap_or(i64::MIN / 2),
        x0.to_i64().unwrap_or(i64::MIN / 2),
    );
    let at = |yy: i64, xx: i64| -> T {
        if yy >= 0 && xx >= 0 && (yy as usize) < h && (xx as usize) < w {
            plane[yy as usize * w + xx as usize]
        } else {
            T::zero()
        }
    };
    let one = T::one();
    (one - ly) * (one - lx) * at(y0, x0)
        + (one - ly) * lx * at(y0, x0 + 1)
        + ly * (one - lx) * at(y0 + 1, x0)
        + ly * lx * at(y0 + 1, x0 + 1)
}

fn deform_t<T: Real>(ctx: &OpCtx<'_>) -> Result<Array, KernelError> {
    check_nchw(ctx)?;
    let x0 = ctx.input(0)?;
    let x = T::cow(x0)?;
    let x = x.as_standard_layout();
    let w = T::cow(ctx.input(1)?)?;
    let w = w.as_standard_layout();
    let off = T::cow(ctx.input(2)?)?;
    let off = off.as_standard_layout();
    let (xs, ws, os) = (x.shape(), w.shape(), off.shape());
    if xs.len() != 4 || ws.len() != 4 || os.len() != 4 {
        bail!("DeformConv: only 2-D is supported (X {xs:?}, W {ws:?}, offset {os:?})");
    }
    let at = ctx.attrs();
    let group = at.int("group", 1)?;
    let og = at.int("offset_group", 1)?;
    if group < 1 || og < 1 {
        bail!("DeformConv: group and offset_group must be positive");
    }
    let (group, og) = (group as usize, og as usize);
    let (n, c, ih, iw) = (xs[0], xs[1], xs[2], xs[3]);
    let m = ws[0];
    if ws[1] * group != c || m % group != 0 || c % og != 0 {
        bail!("DeformConv: channels of X {xs:?}, W {ws:?} do not match group/offset_group");
    }
    let (kh, kw) = (ws[2], ws[3]);
    let ks = at.ints("kernel_shape", vec![])?;
    if !ks.is_empty() && ks != [kh as i64, kw as i64] {
        bail!("DeformConv: kernel_shape {ks:?} does not match W {ws:?}");
    }
    let st = spatial_ints(ctx, "strides", 2, 1, 1)?;
    let dl = spatial_ints(ctx, "dilations", 2, 1, 1)?;
    let pads = spatial_ints(ctx, "pads", 4, 0, 0)?;
    let (oh, ow) = (os[2], os[3]);
    let k = kh * kw;
    if os[0] != n || os[1] != og * k * 2 {
        bail!("DeformConv: offset {os:?} does not match X {xs:?} and kernel {kh}x{kw}");
    }
    let mask = match ctx.opt_input(4)? {
        Some(mk) => {
            let mk = T::cow(mk)?.as_standard_layout().into_owned();
            if mk.shape() != [n, og * k, oh, ow] {
                bail!("DeformConv: mask {:?} does not match", mk.shape());
            }
            Some(mk)
        }
        None => None,
    };
    let p = oh * ow;
    let cg = c / group;
    let mg = m / group;
    let out_shape = [n, m, oh, ow];
    checked_count(&out_shape)?;
    checked_count(&[c * k, p])?;
    let xv = x
        .as_slice()
        .ok_or_else(|| KernelError::new("X not contiguous"))?;
    let wv = w
        .as_slice()
        .ok_or_else(|| KernelError::new("W not contiguous"))?;
    let ov = off
        .as_slice()
        .ok_or_else(|| KernelError::new("offset not contiguous"))?;
    let mv = mask.as_ref().and_then(|m| m.as_slice());
    let w2 = ArrayView2::from_shape((m, cg * k), wv)?;
    let mut col = vec![T::zero(); c * k * p];
    let mut out = vec![T::zero(); n * m * p];
    let cpo = c / og;
    for b in 0..n {
        for ci in 0..c {
            let g = ci / cpo;
            let plane = &xv[(b * c + ci) * ih * iw..][..ih * iw];
            for a in 0..kh {
                for e in 0..kw {
                    let kk = a * kw + e;
                    let row = &mut col[(ci * k + kk) * p..][..p];
                    let oy_base = ((b * og + g) * k + kk) * 2;
                    for i in 0..oh {
                        for j in 0..ow {
                            let q = i * ow + j;
                            let dy = ov[(oy_base * oh + i) * ow + j];
                            let dx = ov[((oy_base + 1) * oh + i) * ow + j];
                            let y = T::c((i * st[0] + a * dl[0]) as f64 - pads[0] as f64) + dy;
                            let xx = T::c((j * st[1] + e * dl[1]) as f64 - pads[1] as f64) + dx;
                            let mut v = bilinear(plane, ih, iw, y, xx);
                            if let Some(mv) = mv {
                                v *= mv[((b * og + g) * k + kk) * p + q];
                            }
                            row[q] = v;
                        }
                    }
                }
            }
        }
        for g in 0..group {
            let colv = ArrayView2::from_shape((cg * k, p), &col[g * cg * k * p..][..cg * k * p])?;
            let mut o =
                ArrayViewMut2::from_shape((mg, p), &mut out[(b * m + g * mg) * p..][..mg * p])?;
            T::gemm(w2.slice(s![g * mg..(g + 1) * mg, ..]), colv, o.view_mut());
        }
    }
    if let Some(bias) = ctx.opt_input(3)? {
        let bias = T::cow(bias)?;
        if bias.len() != m {
            bail!(
                "DeformConv: bias has {} values for {m} channels",
                bias.len()
            );
        }
        let bv: Vec<T> = bias.iter().copied().collect();
        if p > 0 {
            for (i, chunk) in out.chunks_mut(p).enumerate() {
                let bb = bv[i % m];
                chunk.iter_mut().for_each(|v| *v += bb);
            }
        }
    }
    T::wrap(ArrayD::from_shape_vec(IxDyn(&out_shape), out)?, x0.dtype())
}

pub fn deform_conv(ctx: &OpCtx<'_>) -> Result<Vec<Data>, KernelError> {
    one(float_dispatch!(ctx.input(0)?.dtype(), deform_t(ctx))?)
}
