//! A QDQ convolution run in integers: `DQ(x_q) , DQ(w_q) → Conv (+ bias) [→ Relu | Clip] → Q`
//! computed from `x_q` straight to the quantized output, as onnxruntime's QDQ → QLinearConv
//! fusion does, with no float tensor in between.
//!
//! `acc[c][p] = Σ (x_q − x_zp) · (w_q[c] − w_zp[c])` is exact: in i32 by the integer GEMM of
//! [`super::igemm`] for grouped and dense convolutions, and for depthwise ones in f32 by the
//! float Conv's depthwise kernels ([`super::qdepthwise`]), which are exact there because
//! every product and partial sum is an integer below 2²⁴ (checked when planned);
//! the output is `saturate(round_half_even(acc · m[c] + b[c] / y_scale) + y_zp)` with
//! `m[c] = x_scale · w_scale[c] / y_scale` and the activation's bounds divided by `y_scale`,
//! in f32. The float path rounds differently in two places: it sums the dequantized
//! products in f32 (relative error ~1e-6 of the sum) and divides by `y_scale` after adding
//! the bias. An output can therefore differ from the float path's by one quantization step
//! where the exact value lies within that error of a rounding boundary (x.5), never more.

use modelc_ir::{Attrs, DType};
use ndarray::{ArrayD, IxDyn};
use rayon::prelude::*;

use super::igemm::{gemm, gemm8, i8_bytes, Kernel, PackedA, PackedA8};
use super::integer::Conv;
use super::qdepthwise;
use crate::ops::elem::MAX_ELEMS;
use crate::ops::nn::Win3;
use crate::pool::Pool;
use crate::{bail, Array, KernelError};

/// An 8-bit quantized element type.
pub(crate) trait QInt: Copy + Send + Sync + num_traits::Zero + 'static {
    const LO: f32;
    const HI: f32;
    /// `v`, already rounded and within [LO, HI].
    fn from_f32(v: f32) -> Self;
    /// `v`, within [LO, HI].
    fn from_i32(v: i32) -> Self;
    fn to_i16(self) -> i16;
    /// The value a byte's bits hold.
    fn from_byte(b: u8) -> Self;
    /// The byte holding the value's bits.
    fn byte(self) -> u8;
    /// The values as bytes that read as unsigned once XORed with the returned mask.
    fn bytes(v: &[Self]) -> (&[u8], u8);
}

impl QInt for u8 {
    const LO: f32 = 0.0;
    const HI: f32 = 255.0;
    #[inline(always)]
    fn from_f32(v: f32) -> u8 {
        v as u8
    }
    #[inline(always)]
    fn from_i32(v: i32) -> u8 {
        v as u8
    }
    #[inline(always)]
    fn to_i16(self) -> i16 {
        self as i16
    }
    #[inline(always)]
    fn from_byte(b: u8) -> u8 {
        b
    }
    #[inline(always)]
    fn byte(self) -> u8 {
        self
    }
    fn bytes(v: &[u8]) -> (&[u8], u8) {
        (v, 0)
    }
}

impl QInt for i8 {
    const LO: f32 = -128.0;
    const HI: f32 = 127.0;
    #[inline(always)]
    fn from_f32(v: f32) -> i8 {
        v as i8
    }
    #[inline(always)]
    fn from_i32(v: i32) -> i8 {
        v as i8
    }
    #[inline(always)]
    fn to_i16(self) -> i16 {
        self as i16
    }
    #[inline(always)]
    fn from_byte(b: u8) -> i8 {
        b as i8
    }
    #[inline(always)]
    fn byte(self) -> u8 {
        self as u8
    }
    fn bytes(v: &[i8]) -> (&[u8], u8) {
        (i8_bytes(v), 0x80)
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
    /// One output channel's sums to 8-bit outputs. Written as plain lane arithmetic (no
    /// float-to-integer conversion) so that it compiles to vector code: past ±1024 (in
    /// units of y_scale) every output saturates, and within that range adding 1.5 · 2²³
    /// rounds half to even and leaves the integer in the float's low bits. The same
    /// results as QuantizeLinear's f32 rounding; a NaN (a NaN bias) gives the low bound,
    /// as QuantizeLinear's does.
    #[inline(always)]
    pub(crate) fn row<S: Sum, T: QInt>(&self, c: usize, sums: &[S], out: &mut [T]) {
        const MAGIC: f32 = 12_582_912.0;
        const MAGIC_BITS: i32 = 0x4B40_0000;
        let (m, b) = (self.mult[c], self.offset[c]);
        let (lo, hi) = (self.lo, self.hi);
        let zp = self.y_zp as i32;
        let (qlo, qhi) = (T::LO as i32, T::HI as i32);
        for (o, &s) in out.iter_mut().zip(sums) {
            let mut v = s.to_f32() * m + b;
            // The Clip kernel's order: lower bound first, then the upper one.
            if v < lo {
                v = lo;
            }
            if v > hi {
                v = hi;
            }
            // Not `clamp`: a NaN must become a bound here, not stay NaN.
            #[allow(clippy::manual_clamp)]
            let v = v.max(-1024.0).min(1024.0);
            let r = ((v + MAGIC).to_bits() as i32) - MAGIC_BITS;
            *o = T::from_i32((r + zp).clamp(qlo, qhi));
        }
    }
}

/// An exact integer sum, as the GEMM (i32) or the depthwise kernel (f32) holds it.
pub(crate) trait Sum: Copy {
    fn to_f32(self) -> f32;
}

impl Sum for i32 {
    #[inline(always)]
    fn to_f32(self) -> f32 {
        self as f32
    }
}

impl Sum for f32 {
    #[inline(always)]
    fn to_f32(self) -> f32 {
        self
    }
}

/// The largest |sum| the depthwise kernel's f32 holds exactly.
const F32_EXACT: i64 = 1 << 24;

/// The weights of a unit, shifted by their zero points and packed once.
#[derive(Debug, Clone)]
enum Weights {
    /// One packed `[M/g][C/g · kh · kw]` matrix per group, as i16 pairs, and as i8 quads
    /// for `vpdpbusd` when the CPU has it and every weight fits in i8.
    Gemm {
        pairs: Vec<PackedA>,
        quads: Option<Vec<PackedA8>>,
    },
    /// Depthwise (`group = C = M`, one input channel per output): `[M][kh · kw]`, as f32
    /// for the float row kernel.
    Depthwise(Vec<f32>),
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
        // A depthwise channel's sums stay below Σ|w| · 255 (|x − x_zp| ≤ 255): within f32's
        // exact integers for every filter of the networks (9 or 25 taps), else the GEMM.
        let f32_exact = || {
            w.chunks(k)
                .all(|f| f.iter().map(|&v| (v as i64).abs()).sum::<i64>() * 255 < F32_EXACT)
        };
        let weights = if cg == 1 && group == m && f32_exact() {
            Weights::Depthwise(w.iter().map(|&v| v as f32).collect())
        } else {
            let mg = m / group;
            let part = |g: usize| &w[g * mg * k..(g + 1) * mg * k];
            Weights::Gemm {
                pairs: (0..group).map(|g| PackedA::new(part(g), mg, k)).collect(),
                quads: (Kernel::best() == Kernel::Avx512Vnni)
                    .then(|| (0..group).map(|g| PackedA8::new(part(g), mg, k)).collect())
                    .flatten(),
            }
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

    /// Runs the unit on `x_q` with the given GEMM kernel; the output buffer comes from
    /// `pool` when it has one of that size.
    pub(crate) fn run(
        &self,
        x: &Array,
        kernel: Kernel,
        pool: Option<&Pool>,
    ) -> Result<Array, KernelError> {
        match (x, self.y_dtype) {
            (Array::U8(a), DType::U8) => Ok(Array::U8(self.run_typed(a, kernel, pool)?)),
            (Array::U8(a), _) => Ok(Array::I8(self.run_typed(a, kernel, pool)?)),
            (Array::I8(a), DType::U8) => Ok(Array::U8(self.run_typed(a, kernel, pool)?)),
            (Array::I8(a), _) => Ok(Array::I8(self.run_typed(a, kernel, pool)?)),
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
        pool: Option<&Pool>,
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
        // Every element is written below (each image's every channel and position).
        let mut out: Vec<Y> = Pool::take(pool, total);
        for (img, out_img) in out.chunks_mut(m * p.max(1)).enumerate() {
            let x_img = &xs[img * c * h * w..(img + 1) * c * h * w];
            if p == 0 {
                continue;
            }
            match &self.weights {
                Weights::Depthwise(wts) => {
                    let win = Win3 {
                        big: [1, h, w],
                        small: [1, oh, ow],
                        k: [1, geo.k[0], geo.k[1]],
                        s: [1, geo.strides[0], geo.strides[1]],
                        d: [1, geo.dil[0], geo.dil[1]],
                        pb: [0, geo.pad_begin[0], geo.pad_begin[1]],
                    };
                    qdepthwise::image(&win, x_img, zp, wts, &self.requant, out_img);
                }
                Weights::Gemm { pairs, quads } => {
                    let (cg, mg) = (c / g, m / g);
                    if cg * geo.k[0] * geo.k[1] * p > MAX_ELEMS {
                        bail!("Conv is too large");
                    }
                    let pointwise = is_pointwise(&geo);
                    match quads {
                        // u8 × i8 on VNNI: x as unsigned bytes (i8 flipped to u8 + 128).
                        Some(quads) if kernel == Kernel::Avx512Vnni => {
                            let (bytes, flip) = X::bytes(x_img);
                            // The zero point as the byte it flips to: a negative i8 zero
                            // point (-4 -> 124) must not carry its sign bits into the sum's
                            // correction.
                            let zp_u = (zp as u8 ^ flip) as i32;
                            for (gi, pa) in quads.iter().enumerate() {
                                let xg = &bytes[gi * cg * h * w..(gi + 1) * cg * h * w];
                                let og = &mut out_img[gi * mg * p..(gi + 1) * mg * p];
                                let emit = |row, sums: &[i32], o: &mut [Y]| {
                                    self.requant.row(gi * mg + row, sums, o)
                                };
                                if pointwise {
                                    gemm8(pa, xg, p, (flip, zp_u), og, kernel, emit);
                                } else {
                                    let col = im2col(xg, zp_u as u8, |v| v ^ flip, cg, &geo);
                                    gemm8(pa, &col, p, (0, zp_u), og, kernel, emit);
                                }
                            }
                        }
                        _ => {
                            for (gi, pa) in pairs.iter().enumerate() {
                                let xg = &x_img[gi * cg * h * w..(gi + 1) * cg * h * w];
                                let og = &mut out_img[gi * mg * p..(gi + 1) * mg * p];
                                let emit = |row, sums: &[i32], o: &mut [Y]| {
                                    self.requant.row(gi * mg + row, sums, o)
                                };
                                if pointwise {
                                    // The input is B itself, shifted as it is packed.
                                    gemm(pa, xg, p, |v: X| v.to_i16() - zp, og, kernel, emit);
                                } else {
                                    let col = im2col(xg, 0, |v: X| v.to_i16() - zp, cg, &geo);
                                    gemm(pa, &col, p, |v: i16| v, og, kernel, emit);
                                }
                            }
                        }
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

/// `[C/g · kh · kw][oh · ow]` patches of one group's input, each value converted by `conv`
/// (the zero point subtracted, or a byte's sign flipped); padding reads `pad` (the zero
/// point, in the patches' form).
fn im2col<S: Copy + Sync, D: Copy + Send + Sync>(
    x: &[S],
    pad: D,
    conv: impl Fn(S) -> D + Sync,
    cg: usize,
    geo: &Conv,
) -> Vec<D> {
    let (h, w) = (geo.in_sp[0], geo.in_sp[1]);
    let (kh, kw) = (geo.k[0], geo.k[1]);
    let (oh, ow) = (geo.out_sp[0], geo.out_sp[1]);
    let (sy, sx) = (geo.strides[0], geo.strides[1]);
    let (dy, dx) = (geo.dil[0], geo.dil[1]);
    let (py, px) = (geo.pad_begin[0] as isize, geo.pad_begin[1] as isize);
    let p = oh * ow;
    let mut col = vec![pad; cg * kh * kw * p];
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
                    *d = conv(src[ix as usize]);
                }
            }
        }
    });
    col
}
