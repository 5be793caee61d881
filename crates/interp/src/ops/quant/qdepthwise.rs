//! The depthwise convolution of a QDQ unit (one input channel per output channel, 2-D),
//! from the 8-bit input planes straight to the 8-bit output planes, one channel at a time
//! while it is in cache.
//!
//! A channel's plane is converted once into zero-point-shifted values held in f32; the
//! float Conv's depthwise kernels compute its sums ([`PlaneKernel`]: the AVX-512 kernels
//! reading the plane in place, else the row kernel, else the tap loop); each sum is then
//! requantized. Every product and partial sum is an integer below 2²⁴ (the planner checks
//! Σ|w| · 255 < 2²⁴), so f32 holds them exactly: the result is the exact integer sum
//! whichever kernel, order or vector width computes it, the same on every CPU and thread
//! count.

use rayon::prelude::*;

use super::qconv::{QInt, Requant};
use crate::ops::nn::{PlaneKernel, Win3};

/// One image: `x` its `c` input planes of `win.big`, `zp` their zero point, `taps` the
/// `c` filters' shifted weights (`win.k_len()` each), `out` its `c` output planes of
/// `win.small`.
pub(crate) fn image<X: QInt, Y: QInt>(
    win: &Win3,
    x: &[X],
    zp: i16,
    taps: &[f32],
    requant: &Requant,
    out: &mut [Y],
) {
    let (is, p, kl) = (win.big_len(), win.small_len(), win.k_len());
    if p == 0 {
        return;
    }
    let kernel = PlaneKernel::new::<f32>(win);
    out.par_chunks_mut(p)
        .with_min_len(PlaneKernel::planes_per_task(p))
        .enumerate()
        .for_each_init(
            || (kernel.buffer::<f32>(), vec![0f32; is], vec![0f32; p]),
            |(buf, xf, sums), (ch, o)| {
                ends::shift(&x[ch * is..][..is], zp, xf);
                kernel.plane(win, xf, &taps[ch * kl..][..kl], None, None, sums, buf);
                ends::requant(requant, ch, sums, o);
            },
        );
}

/// The conversions at both ends of a channel, compiled a second time for AVX-512 (chosen
/// at run time), where they vectorize sixteen lanes wide.
#[allow(unsafe_code)]
mod ends {
    use super::{QInt, Requant};

    /// `xf[i] = x[i] − zp`.
    pub(super) fn shift<X: QInt>(x: &[X], zp: i16, xf: &mut [f32]) {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU has AVX-512F, the only feature the function is compiled for.
            unsafe { shift_avx512(x, zp, xf) };
            return;
        }
        shift_body(x, zp, xf)
    }

    /// `o` = channel `ch`'s sums requantized.
    pub(super) fn requant<Y: QInt>(r: &Requant, ch: usize, sums: &[f32], o: &mut [Y]) {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: as in `shift`.
            unsafe { requant_avx512(r, ch, sums, o) };
            return;
        }
        r.row(ch, sums, o)
    }

    #[inline(always)]
    fn shift_body<X: QInt>(x: &[X], zp: i16, xf: &mut [f32]) {
        for (d, &v) in xf.iter_mut().zip(x) {
            *d = (v.to_i16() - zp) as f32;
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f")]
    fn shift_avx512<X: QInt>(x: &[X], zp: i16, xf: &mut [f32]) {
        shift_body(x, zp, xf)
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f")]
    fn requant_avx512<Y: QInt>(r: &Requant, ch: usize, sums: &[f32], o: &mut [Y]) {
        r.row(ch, sums, o)
    }
}
