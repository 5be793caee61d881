//! Conv (opsets 1, 11) and ConvTranspose (opsets 1, 11): 1-D, 2-D and 3-D.
//!
//! Conv: attributes `auto_pad` (NOTSET / SAME_UPPER / SAME_LOWER / VALID), `dilations`,
//! `group` (including depthwise), `kernel_shape` (inferred from W), `pads`, `strides`;
//! optional bias B. Computed as im2col into one contiguous buffer + one GEMM per image and
//! group (1×1 stride-1 unpadded convolutions use the input directly); f32 products use
//! the weight packed once per interpreter, with bias, BatchNormalization and activation in
//! the kernel's epilogue (`packed_gemm.rs`), others the gemm crate; a column matrix
//! larger than a tile goes in tiles of output positions (`conv_tiles.rs`); wide 2-D 3×3
//! stride-1 f32 convolutions by Winograd F(4×4, 3×3) (`winograd.rs`). A BatchNormalization
//! and an activation the plan fused into the Conv are applied to each output plane after
//! the bias.
//!
//! ConvTranspose: the same attributes plus `output_padding` and `output_shape`; computed
//! as one GEMM (Wᵀ·X) per image and group followed by col2im scatter-add.

use modelc_ir::DType;
use ndarray::{s, ArrayD, ArrayView2, ArrayViewMut2, IxDyn};

use super::common::{auto_pad, check_nchw, geometry, spatial_ints, AutoPad};
use super::conv_tiles::{conv_tiled, tile_len};
use super::depthwise::depthwise;
use super::packed_gemm::{self, Epilogue};
use super::winograd;
use crate::ops::elem::{checked_count, float_dispatch, mat_mul, mat_mul_serial, Real};
use crate::ops::util::one;
use crate::plan::{Act, Affine};
use crate::{bail, Array, Data, KernelError, OpCtx};
use rayon::prelude::*;

/// Output elements per parallel task of the bias and activation epilogue, at least.
const EPILOGUE_ELEMS: usize = 1 << 13;

/// A spatial problem padded to three dimensions: `big` is the image side (conv input,
/// conv-transpose output), `small` the column side (conv output, conv-transpose input).
#[derive(Debug, Clone, Copy)]
pub struct Win3 {
    pub big: [usize; 3],
    pub small: [usize; 3],
    pub k: [usize; 3],
    pub s: [usize; 3],
    pub d: [usize; 3],
    pub pb: [usize; 3],
}

pub fn to3(v: &[usize], fill: usize) -> Result<[usize; 3], KernelError> {
    if v.len() > 3 {
        bail!(
            "only 1-D, 2-D and 3-D spatial ranks are supported, got {}",
            v.len()
        );
    }
    let mut r = [fill; 3];
    r[3 - v.len()..].copy_from_slice(v);
    Ok(r)
}

impl Win3 {
    pub fn big_len(&self) -> usize {
        self.big.iter().product()
    }
    pub fn small_len(&self) -> usize {
        self.small.iter().product()
    }
    pub fn k_len(&self) -> usize {
        self.k.iter().product()
    }
    /// The range of small-side indices `o` along axis `ax` for which
    /// `o*s + off` lies in `[0, big)`.
    pub(super) fn valid(&self, ax: usize, off: isize) -> (usize, usize) {
        let s = self.s[ax] as isize;
        let n = self.small[ax];
        let big = self.big[ax] as isize;
        let lo = if off >= 0 {
            0
        } else {
            ((-off + s - 1) / s) as usize
        };
        let hi = if big - off <= 0 {
            0
        } else {
            ((big - off + s - 1) / s) as usize
        };
        let lo = lo.min(n);
        (lo, hi.min(n).max(lo))
    }
    pub(super) fn off(&self, ax: usize, kk: usize) -> isize {
        (kk * self.d[ax]) as isize - self.pb[ax] as isize
    }
}

/// Writes the columns of `x` (`channels` planes of `w.big`) into `col`
/// (`channels * k_len` rows of `small_len`).
pub fn im2col<T: Copy + num_traits::Zero>(x: &[T], channels: usize, w: &Win3, col: &mut [T]) {
    let [bd, bh, bw] = w.big;
    let [sd, sh, sw] = w.small;
    let plane = bd * bh * bw;
    let p = sd * sh * sw;
    let mut row = 0;
    for c in 0..channels {
        let xc = &x[c * plane..(c + 1) * plane];
        for a in 0..w.k[0] {
            let (dlo, dhi) = w.valid(0, w.off(0, a));
            for b in 0..w.k[1] {
                let (ylo, yhi) = w.valid(1, w.off(1, b));
                for e in 0..w.k[2] {
                    let offx = w.off(2, e);
                    let (xlo, xhi) = w.valid(2, offx);
                    let dst = &mut col[row * p..(row + 1) * p];
                    row += 1;
                    for od in 0..sd {
                        let dplane = &mut dst[od * sh * sw..(od + 1) * sh * sw];
                        if od < dlo || od >= dhi {
                            dplane.fill(T::zero());
                            continue;
                        }
                        let id = (od * w.s[0]) as isize + w.off(0, a);
                        for oy in 0..sh {
                            let drow = &mut dplane[oy * sw..(oy + 1) * sw];
                            if oy < ylo || oy >= yhi {
                                drow.fill(T::zero());
                                continue;
                            }
                            let iy = (oy * w.s[1]) as isize + w.off(1, b);
                            let src = &xc[(id as usize * bh + iy as usize) * bw..][..bw];
                            drow[..xlo].fill(T::zero());
                            drow[xhi..].fill(T::zero());
                            if w.s[2] == 1 {
                                let start = (xlo as isize + offx) as usize;
                                drow[xlo..xhi].copy_from_slice(&src[start..start + (xhi - xlo)]);
                            } else {
                                for ox in xlo..xhi {
                                    drow[ox] = src[((ox * w.s[2]) as isize + offx) as usize];
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Adds the columns `col` (`channels * k_len` rows of `small_len`) into the image `y`
/// (`channels` planes of `w.big`): the adjoint of [`im2col`].
pub fn col2im_add<T: Copy + std::ops::AddAssign>(
    col: &[T],
    channels: usize,
    w: &Win3,
    y: &mut [T],
) {
    let [bd, bh, bw] = w.big;
    let [sd, sh, sw] = w.small;
    let plane = bd * bh * bw;
    let p = sd * sh * sw;
    let mut row = 0;
    for c in 0..channels {
        let yc = &mut y[c * plane..(c + 1) * plane];
        for a in 0..w.k[0] {
            let (dlo, dhi) = w.valid(0, w.off(0, a));
            for b in 0..w.k[1] {
                let (ylo, yhi) = w.valid(1, w.off(1, b));
                for e in 0..w.k[2] {
                    let offx = w.off(2, e);
                    let (xlo, xhi) = w.valid(2, offx);
                    let src = &col[row * p..(row + 1) * p];
                    row += 1;
                    for od in dlo..dhi {
                        let id = (od * w.s[0]) as isize + w.off(0, a);
                        for oy in ylo..yhi {
                            let iy = (oy * w.s[1]) as isize + w.off(1, b);
                            let dst = &mut yc[(id as usize * bh + iy as usize) * bw..][..bw];
                            let srow = &src[(od * sh + oy) * sw..][..sw];
                            for ox in xlo..xhi {
                                dst[((ox * w.s[2]) as isize + offx) as usize] += srow[ox];
                            }
                        }
                    }
                }
            }
        }
    }
}

fn group_attr(ctx: &OpCtx<'_>) -> Result<usize, KernelError> {
    let g = ctx.attrs().int("group", 1)?;
    if g < 1 {
        bail!("group must be positive, got {g}");
    }
    Ok(g as usize)
}

fn kernel_attr(ctx: &OpCtx<'_>, w_spatial: &[usize]) -> Result<Vec<usize>, KernelError> {
    let ks = ctx.attrs().ints("kernel_shape", vec![])?;
    if !ks.is_empty()
        && (ks.len() != w_spatial.len() || ks.iter().zip(w_spatial).any(|(&a, &b)| a != b as i64))
    {
        bail!("kernel_shape {ks:?} does not match the weight's spatial shape {w_spatial:?}");
    }
    Ok(w_spatial.to_vec())
}

fn conv_t<T: Real>(ctx: &OpCtx<'_>) -> Result<Array, KernelError> {
    check_nchw(ctx)?;
    let x0 = ctx.input(0)?;
    let x = T::cow(x0)?;
    let w = T::cow(ctx.input(1)?)?;
    let x = x.as_standard_layout();
    let w = w.as_standard_layout();
    let (xs, ws) = (x.shape(), w.shape());
    if xs.len() < 3 || ws.len() != xs.len() {
        bail!("Conv: bad input shapes X {xs:?}, W {ws:?}");
    }
    let group = group_attr(ctx)?;
    let (n, c, m) = (xs[0], xs[1], ws[0]);
    if c % group != 0 || m % group != 0 || ws[1] * group != c {
        bail!("Conv: channels of X {xs:?} and W {ws:?} do not match group {group}");
    }
    let cg = c / group;
    let mg = m / group;
    let kernel = kernel_attr(ctx, &ws[2..])?;
    let geo = geometry(ctx, &xs[2..], kernel, false)?;
    let win = Win3 {
        big: to3(&xs[2..], 1)?,
        small: to3(&geo.out, 1)?,
        k: to3(&geo.kernel, 1)?,
        s: to3(&geo.strides, 1)?,
        d: to3(&geo.dilations, 1)?,
        pb: to3(&geo.pads_begin, 0)?,
    };
    let mut out_shape = vec![n, m];
    out_shape.extend_from_slice(&geo.out);
    checked_count(&out_shape)?;
    let (is, p, kl) = (win.big_len(), win.small_len(), win.k_len());
    let cgk = cg * kl;
    let direct = kl == 1
        && geo.strides.iter().all(|&v| v == 1)
        && geo.pads_begin.iter().chain(&geo.pads_end).all(|&v| v == 0);
    let bias = match ctx.opt_input(2)? {
        Some(b) => {
            let b = T::cow(b)?;
            if b.len() != m || b.ndim() != 1 {
                bail!(
                    "Conv: bias shape {:?} does not match {m} output channels",
                    b.shape()
                );
            }
            Some(b.iter().copied().collect::<Vec<T>>())
        }
        None => None,
    };
    let xv = x
        .as_slice()
        .ok_or_else(|| KernelError::new("Conv: X not contiguous"))?;
    let wv = w
        .as_slice()
        .ok_or_else(|| KernelError::new("Conv: W not contiguous"))?;
    // The fused BatchNormalization and activation, applied here to each output plane
    // right after its bias (f32 results only: an f16 Conv computes in f32 and rounds, and
    // the interpreter fuses nothing into it). With a normalization of another channel
    // count, neither: the interpreter reports it.
    let f32_out = x0.dtype() == DType::F32;
    let (affine, act) = match ctx.affine.filter(|_| f32_out) {
        Some(a) if a.a.len() != m => (None, None),
        a => (a, ctx.epilogue.filter(|_| f32_out)),
    };
    // Every element is written below: by the depthwise kernel, or by the GEMM (β = 0).
    let mut out = ctx.out_buffer::<T>(out_shape.iter().product());
    if cg == 1 {
        let dw_act = act.filter(|_| affine.is_none());
        depthwise(xv, wv, bias.as_deref(), dw_act, c, mg, &win, &mut out);
        if let (Some(a), Some(v)) = (affine, T::as_f32s(&mut out)) {
            let p = win.small_len().max(1);
            v.par_chunks_mut(p).enumerate().for_each(|(i, plane)| {
                a.apply_channel(i % m, plane);
                if let Some(act) = act {
                    act.apply_slice(plane);
                }
            });
        }
        ctx.epilogue_done.set(act.is_some() || affine.is_some());
        return T::wrap(ArrayD::from_shape_vec(IxDyn(&out_shape), out)?, x0.dtype());
    }
    // Winograd F(4×4, 3×3) for wide 2-D 3×3 stride-1 f32 convolutions (winograd.rs).
    if x0.dtype() == DType::F32 && winograd::applies(&win, group, c, m, xs.len() == 4) {
        let make = || winograd::transform_weights(wv, m, c);
        let mut owned = None;
        let u = ctx.prepared_or(&mut owned, make);
        let epi = (affine, act);
        winograd::conv3x3(xv, n, c, &win, u, m, bias.as_deref(), epi, &mut out);
        ctx.epilogue_done.set(act.is_some() || affine.is_some());
        return T::wrap(ArrayD::from_shape_vec(IxDyn(&out_shape), out)?, x0.dtype());
    }
    // f32 products on the packed_gemm.rs kernel (the weight read where it is), on CPUs
    // with its kernels; the bias, normalization and activation in its epilogue.
    if packed_gemm::available() {
        if let (Some(xf), Some(wf), Some(of)) =
            (T::as_f32_ref(xv), T::as_f32_ref(wv), T::as_f32s(&mut out))
        {
            let bias = bias.as_deref().and_then(T::as_f32_ref);
            let shape = ConvShape {
                n,
                c,
                m,
                group,
                direct,
            };
            conv_packed(xf, wf, bias, (affine, act), &shape, &win, of)?;
            ctx.epilogue_done.set(act.is_some() || affine.is_some());
            return T::wrap(ArrayD::from_shape_vec(IxDyn(&out_shape), out)?, x0.dtype());
        }
    }
    let tiled = tile_len::<T>(cgk, p).is_some();
    let mut col = if direct || p == 0 || tiled {
        Vec::new()
    } else {
        checked_count(&[cgk, p])?;
        vec![T::zero(); cgk * p]
    };
    let w2 = ArrayView2::from_shape((m, cgk), wv)?;
    if p > 0 {
        for img in 0..n {
            for g in 0..group {
                let xg = &xv[(img * c + g * cg) * is..][..cg * is];
                let wg = w2.slice(s![g * mg..(g + 1) * mg, ..]);
                let og = &mut out[(img * m + g * mg) * p..][..mg * p];
                if let Some(tile) = tile_len::<T>(cgk, p).filter(|_| !direct) {
                    let ov = ArrayViewMut2::from_shape((mg, p), og)?;
                    conv_tiled(xg, cg, &win, cgk, ov, tile, |cv, ov| {
                        mat_mul_serial(T::one(), wg, cv, T::zero(), ov)
                    })?;
                    continue;
                }
                let colv = if direct {
                    ArrayView2::from_shape((cg, p), xg)?
                } else {
                    col.par_chunks_mut(kl * p)
                        .enumerate()
                        .for_each(|(ch, rows)| im2col(&xg[ch * is..][..is], 1, &win, rows));
                    ArrayView2::from_shape((cgk, p), &col[..])?
                };
                let ov = ArrayViewMut2::from_shape((mg, p), og)?;
                mat_mul(T::one(), wg, colv, T::zero(), ov);
            }
        }
    }
    // The bias is added after the product, as a separate Add would: fusing a bias Add into
    // the Conv changes no bit. The activation follows on the same plane while it is in
    // cache, with the expression its own node would use.
    if p > 0 && (bias.is_some() || act.is_some() || affine.is_some()) {
        let bias = bias.as_deref();
        out.par_chunks_mut(p)
            .with_min_len(EPILOGUE_ELEMS.div_ceil(p))
            .enumerate()
            .for_each(|(i, plane)| {
                if let Some(bv) = bias {
                    let bb = bv[i % m];
                    plane.iter_mut().for_each(|v| *v += bb);
                }
                if let Some(v) = T::as_f32s(plane) {
                    if let Some(a) = affine {
                        a.apply_channel(i % m, v);
                    }
                    if let Some(act) = act {
                        act.apply_slice(v);
                    }
                }
            });
    }
    ctx.epilogue_done.set(act.is_some() || affine.is_some());
    T::wrap(ArrayD::from_shape_vec(IxDyn(&out_shape), out)?, x0.dtype())
}

/// A Conv's channel counts (`c` in, `m` out, in `group` groups) over `n` images;
/// `direct` when the positions are X's own (1×1, stride 1, no padding).
struct ConvShape {
    n: usize,
    c: usize,
    m: usize,
    group: usize,
    direct: bool,
}

/// An f32 Conv by [`packed_gemm`] products, one per image and group: X itself
/// for a direct convolution, else its columns (in tiles when the whole column matrix
/// would not stay in cache).
fn conv_packed(
    xf: &[f32],
    wf: &[f32],
    bias: Option<&[f32]>,
    (affine, act): (Option<&Affine>, Option<Act>),
    shape: &ConvShape,
    win: &Win3,
    out: &mut [f32],
) -> Result<(), KernelError> {
    let ConvShape {
        n,
        c,
        m,
        group,
        direct,
    } = *shape;
    let (is, p) = (win.big_len(), win.small_len());
    let (cg, mg) = (c / group, m / group);
    let cgk = cg * win.k_len();
    let tile = tile_len::<f32>(cgk, p).filter(|_| !direct);
    let mut col = if direct || tile.is_some() || p == 0 {
        Vec::new()
    } else {
        checked_count(&[cgk, p])?;
        vec![0f32; cgk * p]
    };
    for img in 0..n {
        for g in 0..group {
            let pw = ArrayView2::from_shape((mg, cgk), &wf[g * mg * cgk..][..mg * cgk])?;
            let epi = Epilogue {
                bias,
                affine,
                act,
                ch0: g * mg,
                ..Epilogue::default()
            };
            let xg = &xf[(img * c + g * cg) * is..][..cg * is];
            let og =
                ArrayViewMut2::from_shape((mg, p), &mut out[(img * m + g * mg) * p..][..mg * p])?;
            if direct {
                packed_gemm::product(pw, ArrayView2::from_shape((cg, p), xg)?, &epi, og);
            } else if let Some(tile) = tile {
                conv_tiled(xg, cg, win, cgk, og, tile, |cv, ov| {
                    packed_gemm::product_serial(pw, cv, &epi, ov)
                })?;
            } else {
                col.par_chunks_mut(win.k_len() * p)
                    .enumerate()
                    .for_each(|(ch, rows)| im2col(&xg[ch * is..][..is], 1, win, rows));
                let cv = ArrayView2::from_shape((cgk, p), &col[..])?;
                packed_gemm::product(pw, cv, &epi, og);
            }
        }
    }
    Ok(())
}

pub fn conv(ctx: &OpCtx<'_>) -> Result<Vec<Data>, KernelError> {
    let x = ctx.input(0)?;
    one(float_dispatch!(x.dtype(), conv_t(ctx))?)
}

fn conv_transpose_t<T: Real>(ctx: &OpCtx<'_>) -> Result<Array, KernelError> {
    check_nchw(ctx)?;
    let x0 = ctx.input(0)?;
    let x = T::cow(x0)?;
    let w = T::cow(ctx.input(1)?)?;
    let x = x.as_standard_layout();
    let w = w.as_standard_layout();
    let (xs, ws) = (x.shape(), w.shape());
    if xs.len() < 3 || ws.len() != xs.len() {
        bail!("ConvTranspose: bad input shapes X {xs:?}, W {ws:?}");
    }
    let group = group_attr(ctx)?;
    let (n, c) = (xs[0], xs[1]);
    if ws[0] != c || c % group != 0 {
        bail!("ConvTranspose: channels of X {xs:?} and W {ws:?} do not match group {group}");
    }
    let cg = c / group;
    let mg = ws[1];
    let m = mg * group;
    let nd = xs.len() - 2;
    let kernel = kernel_attr(ctx, &ws[2..])?;
    let strides = spatial_ints(ctx, "strides", nd, 1, 1)?;
    let dil = spatial_ints(ctx, "dilations", nd, 1, 1)?;
    let opad = spatial_ints(ctx, "output_padding", nd, 0, 0)?;
    let ap = auto_pad(ctx)?;
    let os_attr = ctx.attrs().ints("output_shape", vec![])?;
    let output_shape: Option<Vec<usize>> = if os_attr.is_empty() {
        None
    } else {
        if os_attr.len() < nd || os_attr.iter().any(|&v| !(0..1 << 30).contains(&v)) {
            bail!("ConvTranspose: bad output_shape {os_attr:?}");
        }
        Some(
            os_attr[os_attr.len() - nd..]
                .iter()
                .map(|&v| v as usize)
                .collect(),
        )
    };
    let full: Vec<usize> = (0..nd)
        .map(|i| {
            strides[i] * xs[2 + i].saturating_sub(1) + opad[i] + (kernel[i].max(1) - 1) * dil[i] + 1
        })
        .collect();
    let has_pads = ctx.attrs().contains("pads");
    let (pb, out_sp): (Vec<usize>, Vec<usize>) =
        if !has_pads && matches!(ap, AutoPad::SameUpper | AutoPad::SameLower) {
            let target = output_shape
                .clone()
                .unwrap_or_else(|| (0..nd).map(|i| xs[2 + i] * strides[i]).collect());
            let pb = (0..nd)
                .map(|i| {
                    let total = full[i].saturating_sub(target[i]);
                    if ap == AutoPad::SameUpper {
                        total / 2
                    } else {
                        total - total / 2
                    }
                })
                .collect();
            (pb, target)
        } else {
            let pads = if ap == AutoPad::Valid {
                vec![0; 2 * nd]
            } else {
                spatial_ints(ctx, "pads", 2 * nd, 0, 0)?
            };
            let out_sp = match &output_shape {
                Some(o) => o.clone(),
                None => (0..nd)
                    .map(|i| {
                        full[i].checked_sub(pads[i] + pads[nd + i]).ok_or_else(|| {
                            KernelError::new("ConvTranspose: pads larger than the output")
                        })
                    })
                    .collect::<Result<_, _>>()?,
            };
            (pads[..nd].to_vec(), out_sp)
        };
    let win = Win3 {
        big: to3(&out_sp, 1)?,
        small: to3(&xs[2..], 1)?,
        k: to3(&kernel, 1)?,
        s: to3(&strides, 1)?,
        d: to3(&dil, 1)?,
        pb: to3(&pb, 0)?,
    };
    let mut out_shape = vec![n, m];
    out_shape.extend_from_slice(&out_sp);
    checked_count(&out_shape)?;
    let (ip, op, kl) = (win.small_len(), win.big_len(), win.k_len());
    let mgk = mg * kl;
    checked_count(&[mgk, ip])?;
    let mut col = vec![T::zero(); mgk * ip];
    let xv = x
        .as_slice()
        .ok_or_else(|| KernelError::new("X not contiguous"))?;
    let wv = w
        .as_slice()
        .ok_or_else(|| KernelError::new("W not contiguous"))?;
    let w2 = ArrayView2::from_shape((c, mgk), wv)?;
    let mut out = vec![T::zero(); out_shape.iter().product()];
    if ip > 0 && op > 0 {
        for img in 0..n {
            for g in 0..group {
                let xg =
                    ArrayView2::from_shape((cg, ip), &xv[(img * c + g * cg) * ip..][..cg * ip])?;
                let wg = w2.slice(s![g * cg..(g + 1) * cg, ..]);
                let mut cv = ArrayViewMut2::from_shape((mgk, ip), &mut col[..])?;
                T::gemm(wg.t(), xg, cv.view_mut());
                let og = &mut out[(img * m + g * mg) * op..][..mg * op];
                col2im_add(&col, mg, &win, og);
            }
        }
    }
    if let Some(b) = ctx.opt_input(2)? {
        let b = T::cow(b)?;
        if b.len() != m || b.ndim() != 1 {
            bail!(
                "ConvTranspose: bias shape {:?} does not match {m} output channels",
                b.shape()
            );
        }
        let bv: Vec<T> = b.iter().copied().collect();
        if op > 0 {
            for (i, chunk) in out.chunks_mut(op).enumerate() {
                let bb = bv[i % m];
                chunk.iter_mut().for_each(|v| *v += bb);
            }
        }
    }
    T::wrap(ArrayD::from_shape_vec(IxDyn(&out_shape), out)?, x0.dtype())
}

pub fn conv_transpose(ctx: &OpCtx<'_>) -> Result<Vec<Data>, KernelError> {
    let x = ctx.input(0)?;
    one(float_dispatch!(x.dtype(), conv_transpose_t(ctx))?)
}
