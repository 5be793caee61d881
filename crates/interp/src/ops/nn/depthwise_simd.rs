//! AVX-512 kernels of 2-D f32 depthwise convolution with dilation 1 (every depthwise
//! layer of MobileNet and EfficientNet), reading the input plane in place: no padded or
//! phase-split copy of it is made (that copy was a third of a 14×14 stride-2 layer).
//!
//! - **Flat** (stride 1, output rows as wide as input rows, i.e. "same" padding across):
//!   the outputs of a plane are numbered across rows, so a 7×7 plane is four 16-lane
//!   vectors and a 14×14 one thirteen, not one part-filled vector per row. Output `i`'s
//!   input for tap `(ky, kx)` is then input element `i + (ky − py)·W + (kx − px)`: one
//!   load per tap and vector, whose mask (made once per layer, [`Flat::masks`]) drops the
//!   lanes whose tap falls on padding — a column off the row's ends or a row off the plane.
//! - **Stride 2 across** ([`Strided`]), for output rows of at most 8: each output row in
//!   vectors of 16 outputs; a tap's 16 inputs are the even lanes of two masked loads of 32
//!   consecutive input columns, gathered with one two-source permute.
//!
//! Accumulators live in registers: up to 8 vectors, an array passed by value into and out
//! of an `#[inline(always)]` function with constant-trip loops (in the caller's array the
//! compiler stored them to the stack on every tap). Each output is computed as the tap
//! loop computes it — zero, plus `w · x` (a product, then a sum: no fused multiply-add) for
//! every tap in (row, column) order, then the bias — so the bits match
//! [`super::depthwise`]'s other paths. A tap on padding loads 0 and adds `w · 0 = ±0`, which
//! leaves a sum that started at +0 unchanged (as the row kernel's padded buffer does).
//! The bias, then a Relu or Clip, are applied in registers before the one store; a SiLU is
//! applied by the caller on the stored plane.

use super::conv::Win3;
use crate::plan::Act;

/// Lanes per vector.
const L: usize = 16;
/// Accumulator vectors per block.
const NACC: usize = 8;
/// Mask words a layer may use (beyond this, the row kernel takes the layer).
const MAX_MASKS: usize = 1 << 17;

/// A layer geometry these kernels compute, with what they precompute for it.
pub(crate) enum SimdPlan {
    Flat(Flat),
    Strided(Strided),
}

/// Stride 1 with output rows as wide as input rows.
pub(crate) struct Flat {
    /// Inputs of a plane.
    is: usize,
    /// Outputs of a plane, and vectors covering them.
    p: usize,
    nvec: usize,
    /// Per tap, the input offset of output 0's tap input (may be negative).
    offs: Vec<isize>,
    /// Per tap and vector (`tap · nvec + v`), the lanes whose tap input is in the plane.
    masks: Vec<u16>,
}

/// Horizontal stride 2, any vertical stride.
pub(crate) struct Strided {
    /// Input rows and columns.
    h: usize,
    w: usize,
    /// Output rows and columns.
    oh: usize,
    ow: usize,
    sy: usize,
    py: usize,
    px: usize,
    kh: usize,
    kw: usize,
    /// Vectors per output row.
    nvec: usize,
    /// Per filter column and vector (`kx · nvec + v`), the masks of the two loads (input
    /// columns `32v + kx − px ..` and 16 further) that keep them inside the row.
    masks: Vec<[u16; 2]>,
}

impl SimdPlan {
    /// The plan for `win` when this CPU has AVX-512F and the geometry is one of the
    /// kernels'; `None` sends the layer to the row kernel.
    pub(crate) fn new(win: &Win3) -> Option<SimdPlan> {
        if !avx512() {
            return None;
        }
        let [kd, kh, kw] = win.k;
        let [_, h, w] = win.big;
        let [_, oh, ow] = win.small;
        let [_, sy, sx] = win.s;
        let (py, px) = (win.pb[1], win.pb[2]);
        let ok = win.big[0] == 1
            && win.small[0] == 1
            && kd == 1
            && win.d[1] == 1
            && win.d[2] == 1
            && kh * kw > 0
            && oh * ow > 0
            && h * w > 0;
        if !ok {
            return None;
        }
        if sy == 1 && sx == 1 && ow == w {
            let p = oh * ow;
            let nvec = p.div_ceil(L);
            if nvec * kh * kw > MAX_MASKS {
                return None;
            }
            return Some(SimdPlan::Flat(Flat::new(h, w, oh, kh, kw, py, px)));
        }
        // Stride 2 only where a row is at most half a vector (7×7 outputs): on wider rows
        // its two loads and a permute per tap and vector lost to the row kernel's one load
        // from its phase-split copy (MobileNetV2's 28- and 56-wide rows, 1.2–1.5× slower).
        if sx == 2 && (1..=4).contains(&sy) && ow <= L / 2 {
            let nvec = ow.div_ceil(L);
            let masks = (0..kw)
                .flat_map(|kx| {
                    (0..nvec).map(move |v| {
                        let c0 = (2 * L * v + kx) as isize - px as isize;
                        [cols_mask(c0, w), cols_mask(c0 + L as isize, w)]
                    })
                })
                .collect();
            return Some(SimdPlan::Strided(Strided {
                h,
                w,
                oh,
                ow,
                sy,
                py,
                px,
                kh,
                kw,
                nvec,
                masks,
            }));
        }
        None
    }

    /// Computes one output plane `o` from the input plane `xc`, the filter's taps, its bias
    /// and a Relu or Clip (any other activation is the caller's).
    #[allow(unsafe_code)] // the plan exists only when the CPU has AVX-512F
    pub(crate) fn plane(
        &self,
        xc: &[f32],
        taps: &[f32],
        bias: Option<f32>,
        act: Option<Act>,
        o: &mut [f32],
    ) {
        #[cfg(target_arch = "x86_64")]
        {
            let ep = x86::Ep::new(bias, act);
            match self {
                SimdPlan::Flat(f) => {
                    assert!(xc.len() >= f.is && o.len() == f.p && taps.len() == f.offs.len());
                    // SAFETY: the plan was made on a CPU with AVX-512F; the plane and the
                    // output have the plan's sizes.
                    unsafe { x86::flat(f, xc.as_ptr(), taps, &ep, o.as_mut_ptr()) }
                }
                SimdPlan::Strided(s) => {
                    assert!(
                        xc.len() >= s.h * s.w
                            && o.len() == s.oh * s.ow
                            && taps.len() == s.kh * s.kw
                    );
                    // SAFETY: as above.
                    unsafe { x86::strided(s, xc.as_ptr(), taps, &ep, o.as_mut_ptr()) }
                }
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            let _ = (xc, taps, bias, act, o);
            unreachable!("depthwise SIMD plan without AVX-512");
        }
    }
}

fn avx512() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx512f")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// The lanes `l` of 16 for which column `c0 + l` is inside a row of `w` columns.
fn cols_mask(c0: isize, w: usize) -> u16 {
    let lo = (-c0).clamp(0, L as isize) as usize;
    let hi = (w as isize - c0).clamp(0, L as isize) as usize;
    lanes(lo, hi)
}

/// Lanes `lo .. hi` (of 16) set.
fn lanes(lo: usize, hi: usize) -> u16 {
    if lo >= hi {
        return 0;
    }
    let upto = |n: usize| ((1u32 << n) - 1) as u16;
    upto(hi) & !upto(lo)
}

impl Flat {
    fn new(h: usize, w: usize, oh: usize, kh: usize, kw: usize, py: usize, px: usize) -> Flat {
        let p = oh * w;
        let nvec = p.div_ceil(L);
        let mut offs = Vec::with_capacity(kh * kw);
        let mut masks = vec![0u16; kh * kw * nvec];
        // Per filter column, the lanes of each vector whose column is valid (made row
        // segment by row segment, into filter row 0's masks); per filter row, the valid
        // outputs are one flat range.
        let mut cols = vec![0u16; nvec];
        for ky in 0..kh {
            for kx in 0..kw {
                offs.push((ky as isize - py as isize) * w as isize + kx as isize - px as isize);
            }
        }
        for kx in 0..kw {
            // Output column ox reads input column ox + kx − px.
            let clo = px.saturating_sub(kx).min(w);
            let chi = (w + px).saturating_sub(kx).clamp(clo, w);
            for (v, m) in cols.iter_mut().enumerate() {
                *m = 0;
                let mut i = v * L;
                while i < (v + 1) * L {
                    let ox = i % w;
                    let seg = (w - ox).min((v + 1) * L - i);
                    // Lanes of this row segment: columns ox .. ox + seg.
                    let a = clo.max(ox).min(ox + seg);
                    let b = chi.min(ox + seg).max(a);
                    *m |= lanes(a - ox + i - v * L, b - ox + i - v * L);
                    i += seg;
                }
            }
            masks[kx * nvec..][..nvec].copy_from_slice(&cols);
        }
        // Every filter row combines the column masks with its range of valid outputs
        // (row 0 last: its masks hold the column masks until then).
        for ky in (0..kh).rev() {
            let ylo = py.saturating_sub(ky).min(oh);
            let yhi = (h + py).saturating_sub(ky).clamp(ylo, oh);
            let (flo, fhi) = (ylo * w, (yhi * w).min(p));
            for kx in 0..kw {
                for v in 0..nvec {
                    let base = v * L;
                    let lo = flo.saturating_sub(base).min(L);
                    let hi = fhi.saturating_sub(base).min(L);
                    let t = ky * kw + kx;
                    masks[t * nvec + v] = masks[kx * nvec + v] & lanes(lo, hi);
                }
            }
        }
        Flat {
            is: h * w,
            p,
            nvec,
            offs,
            masks,
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
mod x86 {
    use std::arch::x86_64::*;

    use super::{Flat, Strided, L, NACC};
    use crate::plan::Act;

    /// What is applied to the accumulators before the store: the bias, then a Relu
    /// (`max(v, 0)`: NaN becomes 0, as the Relu kernel does) or a Clip (`max(lo, v)` then
    /// `min(hi, v)`: NaN stays, as the Clip kernel keeps it).
    pub(super) struct Ep {
        bias: Option<f32>,
        relu: bool,
        lo: Option<f32>,
        hi: Option<f32>,
    }

    impl Ep {
        pub(super) fn new(bias: Option<f32>, act: Option<Act>) -> Ep {
            let (relu, lo, hi) = match act {
                Some(Act::Relu) => (true, None, None),
                Some(Act::Clip { lo, hi }) => (false, lo, hi),
                Some(Act::Silu) | None => (false, None, None),
            };
            Ep { bias, relu, lo, hi }
        }

        #[inline(always)]
        unsafe fn apply(&self, mut v: __m512) -> __m512 {
            if let Some(b) = self.bias {
                v = _mm512_add_ps(v, _mm512_set1_ps(b));
            }
            if self.relu {
                v = _mm512_max_ps(v, _mm512_setzero_ps());
            }
            if let Some(lo) = self.lo {
                v = _mm512_max_ps(_mm512_set1_ps(lo), v);
            }
            if let Some(hi) = self.hi {
                v = _mm512_min_ps(_mm512_set1_ps(hi), v);
            }
            v
        }
    }

    /// The first `n` lanes (0..=16).
    #[inline(always)]
    fn first(n: usize) -> __mmask16 {
        ((1u32 << n.min(L)) - 1) as u16
    }

    /// # Safety
    /// AVX-512F; `x` holds the plane, `o` `f.p` outputs, `taps` one weight per offset.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn flat(f: &Flat, x: *const f32, taps: &[f32], ep: &Ep, o: *mut f32) {
        let mut v0 = 0;
        while v0 < f.nvec {
            let n = (f.nvec - v0).min(NACC);
            match n {
                1 => flat_block::<1>(f, x, taps, ep, o, v0),
                2 => flat_block::<2>(f, x, taps, ep, o, v0),
                3 => flat_block::<3>(f, x, taps, ep, o, v0),
                4 => flat_block::<4>(f, x, taps, ep, o, v0),
                5 => flat_block::<5>(f, x, taps, ep, o, v0),
                6 => flat_block::<6>(f, x, taps, ep, o, v0),
                7 => flat_block::<7>(f, x, taps, ep, o, v0),
                _ => flat_block::<8>(f, x, taps, ep, o, v0),
            }
            v0 += n;
        }
    }

    /// Output vectors `v0 .. v0 + NV` of a flat plane.
    #[inline(always)]
    unsafe fn flat_block<const NV: usize>(
        f: &Flat,
        x: *const f32,
        taps: &[f32],
        ep: &Ep,
        o: *mut f32,
        v0: usize,
    ) {
        let acc = flat_taps::<NV>([_mm512_setzero_ps(); NV], f, x, taps, v0);
        for (v, &a) in acc.iter().enumerate() {
            let i = (v0 + v) * L;
            _mm512_mask_storeu_ps(o.add(i), first(f.p - i), ep.apply(a));
        }
    }

    /// The accumulators plus every tap's products, in tap order (by value: see the module
    /// header).
    #[inline(always)]
    unsafe fn flat_taps<const NV: usize>(
        mut acc: [__m512; NV],
        f: &Flat,
        x: *const f32,
        taps: &[f32],
        v0: usize,
    ) -> [__m512; NV] {
        for (t, (&off, &wt)) in f.offs.iter().zip(taps).enumerate() {
            let w = _mm512_set1_ps(wt);
            // Lanes on padding are masked off: their addresses may lie outside the plane
            // (never read), hence `wrapping_offset`.
            let src = x.wrapping_offset(off + (v0 * L) as isize);
            let masks = f.masks.as_ptr().add(t * f.nvec + v0);
            for (v, acc) in acc.iter_mut().enumerate() {
                let xv = _mm512_maskz_loadu_ps(*masks.add(v), src.wrapping_add(v * L));
                *acc = _mm512_add_ps(*acc, _mm512_mul_ps(w, xv));
            }
        }
        acc
    }

    /// # Safety
    /// AVX-512F; `x` holds the `h × w` plane, `o` the `oh × ow` outputs, `taps` `kh · kw`
    /// weights.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn strided(s: &Strided, x: *const f32, taps: &[f32], ep: &Ep, o: *mut f32) {
        // Rows per block: as many as keep 8 accumulators busy.
        let mut v0 = 0;
        while v0 < s.nvec {
            let nv = (s.nvec - v0).min(4);
            let mut oy = 0;
            while oy < s.oh {
                let left = s.oh - oy;
                oy += match nv {
                    1 => rows_of::<1, 8>(s, x, taps, ep, o, oy, v0, left),
                    2 => rows_of::<2, 4>(s, x, taps, ep, o, oy, v0, left),
                    3 => rows_of::<3, 2>(s, x, taps, ep, o, oy, v0, left),
                    _ => rows_of::<4, 2>(s, x, taps, ep, o, oy, v0, left),
                };
            }
            v0 += nv;
        }
    }

    /// `R` output rows from `oy` (4, 2 or 1 when fewer are left), vectors `v0 .. v0 + NV`
    /// of each; returns the rows done.
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    unsafe fn rows_of<const NV: usize, const R: usize>(
        s: &Strided,
        x: *const f32,
        taps: &[f32],
        ep: &Ep,
        o: *mut f32,
        oy: usize,
        v0: usize,
        left: usize,
    ) -> usize {
        let r = if left >= R {
            R
        } else if left >= 4 {
            4
        } else if left >= 2 {
            2
        } else {
            1
        };
        match r {
            1 => strided_block::<NV, 1>(s, x, taps, ep, o, oy, v0),
            2 => strided_block::<NV, 2>(s, x, taps, ep, o, oy, v0),
            4 => strided_block::<NV, 4>(s, x, taps, ep, o, oy, v0),
            _ => strided_block::<NV, R>(s, x, taps, ep, o, oy, v0),
        }
        r
    }

    #[inline(always)]
    unsafe fn strided_block<const NV: usize, const R: usize>(
        s: &Strided,
        x: *const f32,
        taps: &[f32],
        ep: &Ep,
        o: *mut f32,
        oy: usize,
        v0: usize,
    ) {
        let acc = strided_taps::<NV, R>([[_mm512_setzero_ps(); NV]; R], s, x, taps, oy, v0);
        for (r, row) in acc.iter().enumerate() {
            for (v, &a) in row.iter().enumerate() {
                let ox = (v0 + v) * L;
                let dst = o.add((oy + r) * s.ow + ox);
                _mm512_mask_storeu_ps(dst, first(s.ow - ox), ep.apply(a));
            }
        }
    }

    #[inline(always)]
    unsafe fn strided_taps<const NV: usize, const R: usize>(
        mut acc: [[__m512; NV]; R],
        s: &Strided,
        x: *const f32,
        taps: &[f32],
        oy: usize,
        v0: usize,
    ) -> [[__m512; NV]; R] {
        // Even lanes of (a, b): a's 0, 2, …, 14, then b's.
        let even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
        for ky in 0..s.kh {
            // Each row's input row, or none (all lanes masked) when it is padding.
            let mut src = [x; R];
            let mut keep = [0u16; R];
            for r in 0..R {
                let iy = ((oy + r) * s.sy + ky) as isize - s.py as isize;
                if iy >= 0 && (iy as usize) < s.h {
                    src[r] = x.wrapping_offset(iy * s.w as isize);
                    keep[r] = u16::MAX;
                }
            }
            for kx in 0..s.kw {
                let w = _mm512_set1_ps(*taps.get_unchecked(ky * s.kw + kx));
                let masks = s.masks.as_ptr().add(kx * s.nvec + v0);
                let c0 = kx as isize - s.px as isize;
                for (r, row) in acc.iter_mut().enumerate() {
                    for (v, acc) in row.iter_mut().enumerate() {
                        let [m0, m1] = *masks.add(v);
                        let p = src[r].wrapping_offset(c0 + (2 * L * (v0 + v)) as isize);
                        let a = _mm512_maskz_loadu_ps(m0 & keep[r], p);
                        let b = _mm512_maskz_loadu_ps(m1 & keep[r], p.wrapping_add(L));
                        let xv = _mm512_permutex2var_ps(a, even, b);
                        *acc = _mm512_add_ps(*acc, _mm512_mul_ps(w, xv));
                    }
                }
            }
        }
        acc
    }
}
