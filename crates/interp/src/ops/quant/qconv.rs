//! A QDQ convolution run in integers: `DQ(x_q) , DQ(w_q) → Conv (+ bias) [→ Relu | Clip] → Q`
//! computed from `x_q` straight to the quantized output, as onnxruntime's QDQ → QLinearConv
//! fusion does, with no float tensor in between.
//!
//! `acc[c][p] = Σ (x_q − x_zp) · (w_q[c] − w_zp[c])` is exact in i32 (the integer GEMM of
//! [`super::igemm`] for grouped and dense convolutions, a direct loop for depthwise ones);
//! the output is `saturate(round_half_even(acc · m[c] + b[c] / y_scale) + y_zp)` with
//! `m[c] = x_scale · w_scale[c] / y_scale` and the activation's bounds divided by `y_scale`,
//! in f32. The float path rounds differently in two places: it sums the dequantized
//! products in f32 (relative error ~1e-6 of the sum) and divides by `y_scale` after adding
//! the bias. An output can therefore differ from the float path's by one quantization step
//! where the exact value lies within that error of a rounding boundary (x.5), never more.

use modelc_ir::{Attrs, DType};
use ndarray::{ArrayD, IxDyn};
use rayon::prelude::*;

use super::igemm::{gemm, Kernel, PackedA, PackedB};
use super::integer::Conv;
use super::qdq::round_even_f32;
use crate::ops::elem::MAX_ELEMS;
use crate::{bail, Array, KernelError};

/// An 8-bit quantized element type.
pub(crate) trait QInt: Copy + Send + Sync {
    const LO: f32;
    const HI: f32;
    /// `v`, already rounded and within [LO, HI].
    fn from_f32(v: f32) -> Self;
    fn to_i16(self) -> i16;
}

impl QInt for u8 {
    const LO: f32 = 0.0;
    const HI: f32 = 255.0;
    fn from_f32(v: f32) -> u8 {
        v as u8
    }
    fn to_i16(self) -> i16 {
        self as i16
    }
}

impl QInt for i8 {
    const LO: f32 = -128.0;
    const HI: f32 = 127.0;
    fn from_f32(v: f32) -> i8 {
        v as i8
    }
    fn to_i16(self) -> i16 {
        self as i16
    }
}

/// Per-output-channel requantization of i32 sums to the output's 8-bit type.
#[derive(Debug, Clone)]
pub(crate) struct Requant {
    /// `x_scale · w_scale[c] / y_scale`.
    pub mult: Vec<f32>,
    /// `bias[c] / y_scale`.
    pub offset: Vec<f32>,
    /// The activation's bounds in units of `y_scale` (±∞ without one).
    pub lo: f32,
    pub hi: f32,
    pub y_zp: f32,
}

impl Requant {
    #[inline]
    fn row<T: QInt>(&self, c: usize, sums: &[i32], out: &mut [T]) {
        let (m, b, zp) = (self.mult[c], self.offset[c], self.y_zp);
        let (lo, hi) = (self.lo, self.hi);
        for (o, &s) in out.iter_mut().zip(sums) {
            let mut v = s as f32 * m + b;
            // The Clip kernel's order: lower bound first, then the upper one.
            if v < lo {
                v = lo;
            }
            if v > hi {
                v = hi;
            }
            *o = T::from_f32((round_even_f32(v) + zp).clamp(T::LO, T::HI));
        }
    }
}

/// The weights of a unit, shifted by their zero points and packed once.
#[derive(Debug, Clone)]
enum Weights {
    /// One packed `[M/g][C/g · kh · kw]` matrix per group.
    Gemm(Vec<PackedA>),
    /// Depthwise (`group = C = M`, one input channel per output): `[M][kh · kw]`.
    Depthwise(Vec<i16>),
}

/// A planned integer convolution.
#[derive(Debug, Clone)]
pub(crate) struct QConv {
    /// The Conv node's attributes (geometry is derived per run from the input shape).
    pub attrs: Attrs,
    pub w_shape: Vec<usize>,
    /// x's zero point and element type.
    pub x_zp: i16,
    pub x_dtype: DType,
    pub y_dtype: DType,
    weights: Weights,
    pub requant: Requant,
}

impl QConv {
    /// Plans the unit from its constants. `w` is `[M, C/g, kh, kw]` already shifted by its
    /// zero points (each value in [-255, 255]); `None` when the shape is not one this
    /// kernel takes (2-D convolution, K within [`super::igemm::MAX_K`]).
    pub(crate) fn new(
        attrs: Attrs,
        w: Vec<i16>,
        w_shape: Vec<usize>,
        x_zp: i16,
        x_dtype: DType,
        y_dtype: DType,
        requant: Requant,
    ) -> Option<QConv> {
        if w_shape.len() != 4 || !matches!(y_dtype, DType::U8 | DType::I8) {
            return None;
        }
        let group = usize::try_from(attrs.int("group", 1).ok()?).ok()?;
        let (m, cg) = (w_shape[0], w_shape[1]);
        let k = cg * w_shape[2] * w_shape[3];
        if group == 0 || m % group != 0 || k == 0 || k > super::igemm::MAX_K || m == 0 {
            return None;
        }
        if requant.mult.len() != m || requant.offset.len() != m {
            return None;
        }
        let weights = if cg == 1 && group == m {
            Weights::Depthwise(w)
        } else {
            let mg = m / group;
            Weights::Gemm(
                (0..group)
                    .map(|g| PackedA::new(&w[g * mg * k..(g + 1) * mg * k], mg, k))
                    .collect(),
            )
        };
        Some(QConv {
            attrs,
            w_shape,
            x_zp,
            x_dtype,
            y_dtype,
            weights,
            requant,
        })
    }

    /// Runs the unit on `x_q` with the given GEMM kernel.
    pub(crate) fn run(&self, x: &Array, kernel: Kernel) -> Result<Array, KernelError> {
        match (x, self.y_dtype) {
            (Array::U8(a), DType::U8) => Ok(Array::U8(self.run_typed(a, kernel)?)),
            (Array::U8(a), _) => Ok(Array::I8(self.run_typed(a, kernel)?)),
            (Array::I8(a), DType::U8) => Ok(Array::U8(self.run_typed(a, kernel)?)),
            (Array::I8(a), _) => Ok(Array::I8(self.run_typed(a, kernel)?)),
            (other, _) => bail!(
                "the quantized input is {}, the unit expects {}",
                other.dtype(),
                self.x_dtype
            ),
        }
    }

    fn run_typed<X: QInt, Y: QInt>(
        &self,
        x: &ArrayD<X>,
        kernel: Kernel,
    ) -> Result<ArrayD<Y>, KernelError> {
        let geo = Conv::new(&self.attrs, x.shape(), &self.w_shape)?;
        if geo.in_sp.len() != 2 {
            bail!(
                "the integer convolution takes 4-D inputs, not {:?}",
                x.shape()
            );
        }
        let (c, m, g) = (geo.c, geo.m, geo.group);
        let (h, w) = (geo.in_sp[0], geo.in_sp[1]);
        let (oh, ow) = (geo.out_sp[0], geo.out_sp[1]);
        let p = oh * ow;
        let total = geo
            .n
            .checked_mul(m)
            .and_then(|v| v.checked_mul(p))
            .filter(|&t| t <= MAX_ELEMS)
            .ok_or_else(|| KernelError::new("Conv output is too large"))?;
        let xc = x.as_standard_layout();
        let xs = xc
            .as_slice()
            .ok_or_else(|| KernelError::new("input is not contiguous"))?;
        let zp = self.x_zp;
        let mut out = vec![Y::from_f32(0.0); total];
        for (img, out_img) in out.chunks_mut(m * p.max(1)).enumerate() {
            let x_img = &xs[img * c * h * w..(img + 1) * c * h * w];
            if p == 0 {
                continue;
            }
            match &self.weights {
                Weights::Depthwise(wts) => {
                    let kk = geo.k[0] * geo.k[1];
                    let padded = padded_dims(&geo)
                        .filter(|(hp, wp)| hp.checked_mul(*wp).is_some_and(|t| t <= MAX_ELEMS))
                        .ok_or_else(|| KernelError::new("Conv is too large"))?;
                    out_img
                        .par_chunks_mut(p)
                        .enumerate()
                        .for_each(|(ch, orow)| {
                            let plane = &x_img[ch * h * w..(ch + 1) * h * w];
                            let mut sums = vec![0i32; p];
                            depthwise_plane(
                                plane,
                                zp,
                                &geo,
                                padded,
                                &wts[ch * kk..(ch + 1) * kk],
                                &mut sums,
                            );
                            self.requant.row(ch, &sums, orow);
                        });
                }
                Weights::Gemm(packed) => {
                    let (cg, mg) = (c / g, m / g);
                    if cg * geo.k[0] * geo.k[1] * p > MAX_ELEMS {
                        bail!("Conv is too large");
                    }
                    let shifted: Vec<i16> = x_img.iter().map(|v| v.to_i16() - zp).collect();
                    for (gi, pa) in packed.iter().enumerate() {
                        let xg = &shifted[gi * cg * h * w..(gi + 1) * cg * h * w];
                        let pb = if is_pointwise(&geo) {
                            PackedB::new(cg, p, |i| &xg[i * p..(i + 1) * p])
                        } else {
                            let col = im2col(xg, cg, &geo);
                            PackedB::new(pa.k, p, |i| &col[i * p..(i + 1) * p])
                        };
                        let og = &mut out_img[gi * mg * p..(gi + 1) * mg * p];
                        gemm(pa, &pb, og, kernel, |row, sums, o| {
                            self.requant.row(gi * mg + row, sums, o)
                        });
                    }
                }
            }
        }
        Ok(ArrayD::from_shape_vec(IxDyn(&[geo.n, m, oh, ow]), out)?)
    }
}

/// A 1×1 convolution with unit strides and no padding: its im2col is its input.
fn is_pointwise(geo: &Conv) -> bool {
    geo.k == [1, 1] && geo.strides == [1, 1] && geo.pad_begin == [0, 0] && geo.out_sp == geo.in_sp
}

/// `[C/g · kh · kw][oh · ow]` patches of one group's shifted input; padding reads 0 (the
/// zero point, shifted).
fn im2col(x: &[i16], cg: usize, geo: &Conv) -> Vec<i16> {
    let (h, w) = (geo.in_sp[0], geo.in_sp[1]);
    let (kh, kw) = (geo.k[0], geo.k[1]);
    let (oh, ow) = (geo.out_sp[0], geo.out_sp[1]);
    let (sy, sx) = (geo.strides[0], geo.strides[1]);
    let (dy, dx) = (geo.dil[0], geo.dil[1]);
    let (py, px) = (geo.pad_begin[0] as isize, geo.pad_begin[1] as isize);
    let p = oh * ow;
    let mut col = vec![0i16; cg * kh * kw * p];
    col.par_chunks_mut(p).enumerate().for_each(|(r, dst)| {
        let (ci, ky, kx) = (r / (kh * kw), (r / kw) % kh, r % kw);
        let plane = &x[ci * h * w..(ci + 1) * h * w];
        for oy in 0..oh {
            let iy = (oy * sy + ky * dy) as isize - py;
            if iy < 0 || iy as usize >= h {
                continue;
            }
            let src = &plane[iy as usize * w..(iy as usize + 1) * w];
            for (ox, d) in dst[oy * ow..(oy + 1) * ow].iter_mut().enumerate() {
                let ix = (ox * sx + kx * dx) as isize - px;
                if ix >= 0 && (ix as usize) < w {
                    *d = src[ix as usize];
                }
            }
        }
    });
    col
}

/// The padded plane a depthwise channel is read from: large enough for every tap of every
/// output position (`None` on overflow).
fn padded_dims(geo: &Conv) -> Option<(usize, usize)> {
    let dim = |i: usize| -> Option<usize> {
        let reach = (geo.out_sp[i].checked_sub(1)?)
            .checked_mul(geo.strides[i])?
            .checked_add((geo.k[i] - 1).checked_mul(geo.dil[i])?)?
            .checked_add(1)?;
        Some(reach.max(geo.pad_begin[i].checked_add(geo.in_sp[i])?))
    };
    Some((dim(0)?, dim(1)?))
}

/// One channel of a depthwise convolution: `sums[oy][ox] = Σ w[ky][kx] · (x − zp)`, the
/// input padded with its zero point (shifted: 0) to `hp × wp`.
fn depthwise_plane<X: QInt>(
    plane: &[X],
    zp: i16,
    geo: &Conv,
    (hp, wp): (usize, usize),
    wk: &[i16],
    sums: &mut [i32],
) {
    let (h, w) = (geo.in_sp[0], geo.in_sp[1]);
    let (kh, kw) = (geo.k[0], geo.k[1]);
    let (oh, ow) = (geo.out_sp[0], geo.out_sp[1]);
    let (sy, sx) = (geo.strides[0], geo.strides[1]);
    let (dy, dx) = (geo.dil[0], geo.dil[1]);
    let (py, px) = (geo.pad_begin[0], geo.pad_begin[1]);
    let mut padded = vec![0i32; hp * wp];
    for y in 0..h {
        let dst = &mut padded[(y + py) * wp + px..(y + py) * wp + px + w];
        for (d, &v) in dst.iter_mut().zip(&plane[y * w..(y + 1) * w]) {
            *d = (v.to_i16() - zp) as i32;
        }
    }
    for oy in 0..oh {
        let out = &mut sums[oy * ow..(oy + 1) * ow];
        for ky in 0..kh {
            let row = &padded[(oy * sy + ky * dy) * wp..(oy * sy + ky * dy + 1) * wp];
            for kx in 0..kw {
                let wv = wk[ky * kw + kx] as i32;
                let src = &row[kx * dx..];
                if sx == 1 {
                    for (o, &v) in out.iter_mut().zip(src) {
                        *o += wv * v;
                    }
                } else {
                    for (o, v) in out.iter_mut().zip(src.iter().step_by(sx)) {
                        *o += wv * v;
                    }
                }
            }
        }
    }
}
