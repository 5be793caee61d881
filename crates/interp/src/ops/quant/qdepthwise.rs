//! The depthwise convolution of a QDQ unit (one input channel per output channel, 2-D,
//! dilation 1), from the 8-bit input plane straight to the 8-bit output plane.
//!
//! A channel's plane is converted once (one contiguous pass a row) into a zero-padded
//! buffer of zero-point-shifted values held in f32. Each output row is then computed at
//! stride 1 across the padded width in blocks of sixteen sums held in registers, each the
//! sum over the taps of the weight times sixteen contiguous inputs (a horizontal stride
//! `s` keeps every `s`-th: the stride-2 layers do twice the multiplications of a row, but
//! all in whole vectors), and is requantized as soon as it is complete. Every product and
//! partial sum is an integer below 2²⁴ (the planner checks Σ|w| · 255 < 2²⁴), so f32 holds
//! them exactly: the result is the exact integer sum whatever the order or vector width,
//! the same on every CPU and thread count.
//!
//! The loops are plain Rust, compiled a second time for AVX-512 (chosen at run time), where
//! they vectorize sixteen lanes wide.

use std::cell::RefCell;

use super::qconv::{QInt, Requant};

/// The geometry of one channel: input and output planes, filter, strides, leading padding.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Plane {
    pub h: usize,
    pub w: usize,
    pub oh: usize,
    pub ow: usize,
    pub kh: usize,
    pub kw: usize,
    pub sy: usize,
    pub sx: usize,
    pub py: usize,
    pub px: usize,
}

impl Plane {
    /// Padded rows and columns (those the outputs read).
    fn padded(&self) -> (usize, usize) {
        (
            (self.oh - 1) * self.sy + self.kh,
            (self.ow - 1) * self.sx + self.kw,
        )
    }

    /// Whether this kernel computes the geometry (strides 1 to 4, a non-empty output).
    pub(crate) fn supported(&self) -> bool {
        (1..=4).contains(&self.sy)
            && (1..=4).contains(&self.sx)
            && self.oh > 0
            && self.ow > 0
            && self.kh * self.kw > 0
    }
}

thread_local! {
    /// Each thread's padded buffer and row of sums, kept between channels and runs.
    static SCRATCH: RefCell<(Vec<f32>, Vec<f32>)> = const { RefCell::new((Vec::new(), Vec::new())) };
}

/// One channel: `x` its input plane, `taps` its `kh · kw` shifted weights, `zp` x's zero
/// point, `ch` the channel (for the requantization), `out` its output plane.
pub(crate) fn channel<X: QInt, Y: QInt>(
    g: &Plane,
    x: &[X],
    zp: i16,
    taps: &[f32],
    requant: &Requant,
    ch: usize,
    out: &mut [Y],
) {
    assert!(g.supported() && x.len() >= g.h * g.w && out.len() >= g.oh * g.ow);
    assert!(taps.len() >= g.kh * g.kw);
    SCRATCH.with(|cell| match cell.try_borrow_mut() {
        Ok(mut s) => {
            let (buf, sums) = &mut *s;
            fast::channel(g, x, zp, taps, requant, ch, out, buf, sums)
        }
        Err(_) => fast::channel(
            g,
            x,
            zp,
            taps,
            requant,
            ch,
            out,
            &mut Vec::new(),
            &mut Vec::new(),
        ),
    })
}

/// Outputs per block of lane arithmetic.
const BLOCK: usize = 16;

#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn channel_body<X: QInt, Y: QInt>(
    g: &Plane,
    x: &[X],
    zp: i16,
    taps: &[f32],
    requant: &Requant,
    ch: usize,
    out: &mut [Y],
    buf: &mut Vec<f32>,
    sums: &mut Vec<f32>,
) {
    let (ph, pw) = g.padded();
    // Stride-1 sums over the whole padded width (every `sx`-th is an output), in blocks.
    let wide = (g.ow - 1) * g.sx + 1;
    let blocks = wide.div_ceil(BLOCK);
    buf.clear();
    // Slack: the last block of the last row reads past the plane.
    buf.resize(ph * pw + BLOCK, 0.0);
    sums.clear();
    sums.resize(blocks * BLOCK + g.ow, 0.0);
    let shift = |v: X| (v.to_i16() - zp) as f32;
    // Columns of the padded row that hold input columns, and the first of those.
    let lo = g.px.min(pw);
    let hi = (g.px + g.w).min(pw);
    for r in 0..ph {
        let Some(iy) = r.checked_sub(g.py).filter(|&iy| iy < g.h) else {
            continue; // padding rows stay 0
        };
        let src = &x[iy * g.w..][..g.w];
        for (d, &v) in buf[r * pw + lo..r * pw + hi].iter_mut().zip(src) {
            *d = shift(v);
        }
    }
    let (row_sums, compact) = sums.split_at_mut(blocks * BLOCK);
    for oy in 0..g.oh {
        let base = oy * g.sy * pw;
        for (b, acc_out) in row_sums.chunks_exact_mut(BLOCK).enumerate() {
            let mut acc = [0f32; BLOCK];
            for ky in 0..g.kh {
                for kx in 0..g.kw {
                    let wt = taps[ky * g.kw + kx];
                    let at = base + ky * pw + kx + b * BLOCK;
                    let src: &[f32; BLOCK] = buf[at..at + BLOCK].try_into().expect("BLOCK");
                    for (a, &v) in acc.iter_mut().zip(src) {
                        *a += wt * v;
                    }
                }
            }
            acc_out.copy_from_slice(&acc);
        }
        let o = &mut out[oy * g.ow..(oy + 1) * g.ow];
        if g.sx == 1 {
            requant.row(ch, &row_sums[..g.ow], o);
        } else {
            for (c, &s) in compact.iter_mut().zip(row_sums.iter().step_by(g.sx)) {
                *c = s;
            }
            requant.row(ch, &compact[..], o);
        }
    }
}

/// The AVX-512 compilation of [`channel_body`] and its dispatch.
#[allow(unsafe_code)]
mod fast {
    use super::{channel_body, Plane, QInt, Requant};

    #[allow(clippy::too_many_arguments)]
    pub(super) fn channel<X: QInt, Y: QInt>(
        g: &Plane,
        x: &[X],
        zp: i16,
        taps: &[f32],
        requant: &Requant,
        ch: usize,
        out: &mut [Y],
        buf: &mut Vec<f32>,
        sums: &mut Vec<f32>,
    ) {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU has AVX-512F, the only feature the function is compiled for.
            unsafe { avx512(g, x, zp, taps, requant, ch, out, buf, sums) };
            return;
        }
        channel_body(g, x, zp, taps, requant, ch, out, buf, sums)
    }

    #[cfg(target_arch = "x86_64")]
    #[allow(clippy::too_many_arguments)]
    #[target_feature(enable = "avx512f")]
    fn avx512<X: QInt, Y: QInt>(
        g: &Plane,
        x: &[X],
        zp: i16,
        taps: &[f32],
        requant: &Requant,
        ch: usize,
        out: &mut [Y],
        buf: &mut Vec<f32>,
        sums: &mut Vec<f32>,
    ) {
        channel_body(g, x, zp, taps, requant, ch, out, buf, sums)
    }
}
