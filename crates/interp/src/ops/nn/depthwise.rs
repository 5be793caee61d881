//! Direct depthwise convolution (one input channel per group, any channel multiplier):
//! each output plane is its bias plus one strided row update per kernel tap, with no
//! im2col buffer and no per-group GEMM call. MobileNet and EfficientNet spend most of
//! their convolution calls here.
//!
//! f32 2-D planes with dilation 1 take the AVX-512 kernels of [`super::depthwise_simd`]
//! where the CPU has them and the geometry is theirs (stride 1 with "same" padding across,
//! or stride 2 onto rows of at most 8), reading the plane in place. Other 2-D planes with
//! dilation 1 take the row kernel ([`super::depthwise_rows`]): the plane is copied once into
//! a zero-padded, stride-phase-split buffer, then each output row is computed in
//! register-sized blocks with every tap unrolled over contiguous input. Other planes take
//! the general tap loop here. [`PlaneKernel`] makes the choice once per layer, for this
//! Conv and for the integer depthwise of QDQ models (`quant::qdepthwise`).
//!
//! Both compute each output element the same way — zero, plus every tap's product in
//! (depth, row, column) order, then the bias (as a separate Add would: fusing a bias Add
//! into the Conv changes no bit) — and planes are computed independently (in parallel over
//! the rayon pool), so the result depends neither on the path nor on the thread count.
//! (A padded tap adds `w · 0 = ±0` where the tap loop skips it: the same bits, since a sum
//! that starts at +0 is never -0; only an infinite weight over padding would differ.)

use rayon::prelude::*;

use super::conv::Win3;
use super::depthwise_rows::{rows_apply, RowPlan};
use super::depthwise_simd::SimdPlan;
use crate::ops::elem::Real;
use crate::plan::Act;

/// Output elements per parallel task, at least (7×7 planes are too small to be tasks).
const TASK_ELEMS: usize = 1 << 12;

/// `out` (`n · m` planes of `win.small`) = depthwise convolution of `x` (`n · c` planes of
/// `win.big`) with `w` (`m` filters of `win.k` taps), `m = c · mult`; output channel `o`
/// reads input channel `o / mult`. `bias` has `m` values when given; `act` is applied to
/// each plane after its bias (f32 only).
#[allow(clippy::too_many_arguments)]
pub fn depthwise<T: Real>(
    x: &[T],
    w: &[T],
    bias: Option<&[T]>,
    act: Option<Act>,
    c: usize,
    mult: usize,
    win: &Win3,
    out: &mut [T],
) {
    let (is, p, kl) = (win.big_len(), win.small_len(), win.k_len());
    let m = c * mult;
    if p == 0 {
        return;
    }
    let kernel = PlaneKernel::new::<T>(win);
    out.par_chunks_mut(p)
        .with_min_len(PlaneKernel::planes_per_task(p))
        .enumerate()
        .for_each_init(
            || kernel.buffer(),
            |buf, (plane, o)| {
                let (img, oc) = (plane / m, plane % m);
                let xc = &x[(img * c + oc / mult) * is..][..is];
                let taps = &w[oc * kl..][..kl];
                kernel.plane(win, xc, taps, bias.map(|b| b[oc]), act, o, buf);
            },
        );
}

/// How each plane of one 2-D depthwise layer is computed, chosen once for the layer: the
/// float Conv and the integer depthwise of a QDQ unit (whose sums of shifted 8-bit values
/// are exact in f32) share it.
pub(crate) enum PlaneKernel {
    /// The AVX-512 kernels, reading the plane in place (f32 only).
    Simd(SimdPlan),
    /// The row kernel, from a zero-padded, phase-split copy of the plane.
    Rows(RowPlan),
    /// The general tap loop.
    Taps,
}

impl PlaneKernel {
    /// The fastest kernel for `win` and element type `T` on this CPU.
    pub(crate) fn new<T: Real>(win: &Win3) -> PlaneKernel {
        if T::as_f32_ref(&[]).is_some() {
            if let Some(sp) = SimdPlan::new(win) {
                return PlaneKernel::Simd(sp);
            }
        }
        match RowPlan::new(win) {
            Some(rp) => PlaneKernel::Rows(rp),
            None => PlaneKernel::Taps,
        }
    }

    /// Planes of `p` outputs each parallel task takes, at least: small planes (7×7) are
    /// too small to be tasks alone.
    pub(crate) fn planes_per_task(p: usize) -> usize {
        TASK_ELEMS.div_ceil(p.max(1))
    }

    /// A task's scratch buffer for [`PlaneKernel::plane`]: zeroed once, since the padding
    /// of the row kernel's copy stays zero from plane to plane of the layer.
    pub(crate) fn buffer<T: Real>(&self) -> Vec<T> {
        match self {
            PlaneKernel::Rows(rp) => vec![T::zero(); rp.buf_len()],
            _ => Vec::new(),
        }
    }

    /// One output plane `o` from the input plane `xc` (of `win.big`), the filter's taps,
    /// its bias and activation; `buf` is this layer's [`PlaneKernel::buffer`].
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn plane<T: Real>(
        &self,
        win: &Win3,
        xc: &[T],
        taps: &[T],
        bias: Option<T>,
        act: Option<Act>,
        o: &mut [T],
        buf: &mut [T],
    ) {
        match self {
            PlaneKernel::Simd(sp) => {
                let f32s = (T::as_f32_ref(xc), T::as_f32_ref(taps), T::as_f32s(o));
                let (Some(xf), Some(wf), Some(of)) = f32s else {
                    unreachable!("the SIMD depthwise kernels are planned for f32 only")
                };
                let bf = bias.map(|b| b.as_f64() as f32);
                sp.plane(xf, wf, bf, act, of);
                if act == Some(Act::Silu) {
                    Act::Silu.apply_slice(of);
                }
                return;
            }
            PlaneKernel::Rows(rp) => {
                rp.copy_interior(xc, buf);
                rows_apply(rp, buf, taps, bias, o);
            }
            PlaneKernel::Taps => {
                o.fill(T::zero());
                plane_taps(xc, taps, win, o);
                if let Some(b) = bias {
                    o.iter_mut().for_each(|v| *v += b);
                }
            }
        }
        if let (Some(act), Some(v)) = (act, T::as_f32s(o)) {
            act.apply_slice(v);
        }
    }
}

/// Adds every tap of one filter, applied to one input plane, into one output plane.
fn plane_taps<T: Real>(xc: &[T], taps: &[T], win: &Win3, o: &mut [T]) {
    let [_, bh, bw] = win.big;
    let [_, sh, sw] = win.small;
    let mut tap = 0;
    for a in 0..win.k[0] {
        let offd = win.off(0, a);
        let (dlo, dhi) = win.valid(0, offd);
        for b in 0..win.k[1] {
            let offy = win.off(1, b);
            let (ylo, yhi) = win.valid(1, offy);
            for e in 0..win.k[2] {
                let offx = win.off(2, e);
                let (xlo, xhi) = win.valid(2, offx);
                let wt = taps[tap];
                tap += 1;
                if xlo >= xhi {
                    continue;
                }
                for od in dlo..dhi {
                    let id = ((od * win.s[0]) as isize + offd) as usize;
                    for oy in ylo..yhi {
                        let iy = ((oy * win.s[1]) as isize + offy) as usize;
                        let src = &xc[(id * bh + iy) * bw..][..bw];
                        let dst = &mut o[(od * sh + oy) * sw..][..sw][xlo..xhi];
                        let start = ((xlo * win.s[2]) as isize + offx) as usize;
                        match win.s[2] {
                            1 => {
                                let src = &src[start..start + dst.len()];
                                for (d, &s) in dst.iter_mut().zip(src) {
                                    *d += wt * s;
                                }
                            }
                            st => {
                                for (d, s) in dst.iter_mut().zip(src[start..].iter().step_by(st)) {
                                    *d += wt * *s;
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The row kernel gives the tap loop's bits on every geometry it takes (strides 1–3,
    /// 1×1 to 5×5 filters, pads larger than the filter, rows narrower and wider than a
    /// register block).
    #[test]
    fn row_kernel_matches_the_tap_loop_bit_for_bit() {
        let mut seed = 7u32;
        let mut next = move || {
            seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (seed >> 8) as f32 / (1u32 << 24) as f32 - 0.5
        };
        let mut checked = 0;
        for &(h, w) in &[(1usize, 40usize), (7, 7), (14, 15), (29, 70)] {
            for k in [1usize, 3, 5] {
                for s in 1usize..=3 {
                    for pad in [(0, 0), (1, 1), (2, 1), (k + 1, 0)] {
                        let oh = (h + pad.0 + pad.1).checked_sub(k).map(|v| v / s + 1);
                        let ow = (w + pad.1 + pad.0).checked_sub(k).map(|v| v / s + 1);
                        let (Some(oh), Some(ow)) = (oh, ow) else {
                            continue;
                        };
                        let win = Win3 {
                            big: [1, h, w],
                            small: [1, oh, ow],
                            k: [1, k, k],
                            s: [1, s, s],
                            d: [1, 1, 1],
                            pb: [0, pad.0, pad.1],
                        };
                        let rp = RowPlan::new(&win).expect("a row-kernel geometry");
                        let x: Vec<f32> = (0..h * w).map(|_| next()).collect();
                        let taps: Vec<f32> = (0..k * k).map(|_| next()).collect();
                        let bias = next();
                        let mut want = vec![0.0f32; oh * ow];
                        plane_taps(&x, &taps, &win, &mut want);
                        want.iter_mut().for_each(|v| *v += bias);
                        // The buffer held another plane first: only its interior is
                        // rewritten, as in a task's second plane.
                        let mut buf = vec![f32::NAN; rp.buf_len()];
                        let other: Vec<f32> = (0..h * w).map(|_| next()).collect();
                        rp.fill(&other, &mut buf);
                        rp.copy_interior(&x, &mut buf);
                        let mut got = vec![f32::NAN; oh * ow];
                        rows_apply(&rp, &buf, &taps, Some(bias), &mut got);
                        let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
                        assert_eq!(bits(&got), bits(&want), "{win:?}");
                        checked += 1;
                    }
                }
            }
        }
        assert!(checked > 100, "{checked} geometries");
    }

    /// The AVX-512 kernels give the tap loop's bits (then the Relu or Clip kernel's) on
    /// every geometry they take: strides 1 and 2 each way, square and oblong filters up to
    /// 5×5, pads larger than the filter, planes of one row or column, rows narrower and
    /// wider than a vector, flat lengths around the block sizes, NaN and infinite inputs.
    #[test]
    fn simd_kernels_match_the_tap_loop_bit_for_bit() {
        let mut seed = 9u32;
        let mut next = move || {
            seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (seed >> 8) as f32 / (1u32 << 24) as f32 - 0.5
        };
        let (mut flat, mut strided) = (0, 0);
        let kernels = [(1usize, 1usize), (3, 3), (5, 5), (1, 3), (3, 5), (5, 2)];
        let strides = [(1usize, 1usize), (2, 2), (1, 2), (3, 2)];
        let acts = [
            None,
            Some(Act::Relu),
            Some(Act::Clip {
                lo: Some(0.0),
                hi: Some(0.25),
            }),
            Some(Act::Clip {
                lo: None,
                hi: Some(0.1),
            }),
        ];
        let planes = [
            (1usize, 40usize),
            (7, 7),
            (14, 14),
            (14, 15),
            (29, 70),
            (4, 12),
            (9, 1),
            (23, 33),
            (56, 56),
            (11, 131),
        ];
        for (pi, &(h, w)) in planes.iter().enumerate() {
            for (kh, kw) in kernels {
                for (sy, sx) in strides {
                    for (ci, pad) in [(0, 0), (1, 1), (2, 1), (kh.max(kw) + 1, 0)]
                        .into_iter()
                        .chain([((kh - 1) / 2, (kw - 1) / 2)])
                        .enumerate()
                    {
                        // "Same" padding: the right pad completes the filter's width.
                        let pe = if ci == 4 {
                            (kh - 1 - pad.0, kw - 1 - pad.1)
                        } else {
                            (pad.1, pad.0)
                        };
                        let oh = (h + pad.0 + pe.0).checked_sub(kh).map(|v| v / sy + 1);
                        let ow = (w + pad.1 + pe.1).checked_sub(kw).map(|v| v / sx + 1);
                        let (Some(oh), Some(ow)) = (oh, ow) else {
                            continue;
                        };
                        let win = Win3 {
                            big: [1, h, w],
                            small: [1, oh, ow],
                            k: [1, kh, kw],
                            s: [1, sy, sx],
                            d: [1, 1, 1],
                            pb: [0, pad.0, pad.1],
                        };
                        let Some(sp) = SimdPlan::new(&win) else {
                            continue;
                        };
                        match sp {
                            SimdPlan::Flat(_) => flat += 1,
                            SimdPlan::Strided(_) => strided += 1,
                        }
                        let mut x: Vec<f32> = (0..h * w).map(|_| next()).collect();
                        if pi == 3 {
                            x[5] = f32::NAN;
                            x[h * w - 1] = f32::INFINITY;
                        }
                        let taps: Vec<f32> = (0..kh * kw).map(|_| next()).collect();
                        let bias = (ci % 2 == 0).then(&mut next);
                        let act = acts[(ci + pi) % acts.len()];
                        let mut want = vec![0.0f32; oh * ow];
                        plane_taps(&x, &taps, &win, &mut want);
                        if let Some(b) = bias {
                            want.iter_mut().for_each(|v| *v += b);
                        }
                        if let Some(a) = act {
                            a.apply_slice(&mut want);
                        }
                        // A guard past the plane's end: nothing is written there.
                        let mut got = vec![f32::NAN; oh * ow + 20];
                        sp.plane(&x, &taps, bias, act, &mut got[..oh * ow]);
                        let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
                        assert_eq!(bits(&got[..oh * ow]), bits(&want), "{win:?} {act:?}");
                        assert!(got[oh * ow..].iter().all(|v| v.is_nan()), "{win:?}");
                    }
                }
            }
        }
        if SimdPlan::new(&Win3 {
            big: [1, 7, 7],
            small: [1, 7, 7],
            k: [1, 3, 3],
            s: [1, 1, 1],
            d: [1, 1, 1],
            pb: [0, 1, 1],
        })
        .is_some()
        {
            assert!(flat > 50 && strided > 20, "{flat} flat, {strided} strided");
        }
    }
}
