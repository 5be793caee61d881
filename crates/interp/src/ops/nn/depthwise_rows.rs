//! The row kernel of 2-D depthwise convolution with dilation 1 (3×3 and 5×5 filters,
//! strides 1 and 2 in the mobile networks).
//!
//! One input plane is first copied into a buffer that holds it zero-padded and, for a
//! horizontal stride `s`, split into `s` column phases (phase `q` holds padded columns
//! `q, q + s, …`), so the input of every tap for consecutive outputs of a row is contiguous.
//! Each output row is then computed in blocks of 32 (then 16 or 8) outputs held in registers:
//! for each tap in (row, column) order, the block plus the weight times `block` contiguous
//! inputs. The last block of a row may read past the row into the buffer's slack or the
//! next row; those lanes are computed and dropped.
//!
//! The loop is compiled three times, for AVX-512F, AVX2 and the baseline, and the widest
//! the CPU has is chosen at run time. None uses fused multiply-add, so all three compute
//! the same products and sums in the same order: the same bits on every machine.
//!
//! The integer depthwise convolution of the QDQ units ([`crate::ops::quant`]) runs this
//! kernel too, on zero-point-shifted 8-bit values held in f32: every product and partial
//! sum is an integer below 2²⁴ there (its caller checks the bound), so f32 computes it
//! exactly and the result is the integer sum.

use super::conv::Win3;
use crate::ops::elem::Real;

/// Outputs per register block; the tail of a row uses a block of [`MID`] when more than
/// [`SMALL`] outputs are left (a 14-wide row: one 16-block, not two 8-blocks), then [`SMALL`].
const BIG: usize = 32;
const MID: usize = 16;
const SMALL: usize = 8;

/// The geometry of one plane's padded, phase-split buffer.
pub(crate) struct RowPlan {
    /// Input plane rows and columns.
    bh: usize,
    bw: usize,
    /// Output plane rows and columns.
    sh: usize,
    sw: usize,
    /// Vertical and horizontal strides.
    sy: usize,
    sx: usize,
    /// Padding before the first row and column.
    py: usize,
    px: usize,
    /// Padded rows; columns per phase.
    ph: usize,
    qw: usize,
    /// Offset of each tap's first input, relative to the start of an output row's first
    /// padded row.
    offs: Vec<usize>,
}

impl RowPlan {
    /// The plan for `win` when the row kernel computes it: 2-D (depth 1), dilation 1,
    /// strides up to 4 and at most 49 taps.
    pub(crate) fn new(win: &Win3) -> Option<RowPlan> {
        let [kd, kh, kw] = win.k;
        let ok = win.big[0] == 1
            && win.small[0] == 1
            && kd == 1
            && win.d[1] == 1
            && win.d[2] == 1
            && (1..=4).contains(&win.s[1])
            && (1..=4).contains(&win.s[2])
            && kh * kw <= 49
            && kh * kw > 0
            && win.small[1] > 0
            && win.small[2] > 0;
        if !ok {
            return None;
        }
        let [_, sh, sw] = win.small;
        let (sy, sx) = (win.s[1], win.s[2]);
        let ph = (sh - 1) * sy + kh;
        let pw = (sw - 1) * sx + kw;
        let qw = pw.div_ceil(sx);
        let offs = (0..kh)
            .flat_map(|ky| (0..kw).map(move |kx| (kx % sx) * ph * qw + ky * qw + kx / sx))
            .collect();
        Some(RowPlan {
            bh: win.big[1],
            bw: win.big[2],
            sh,
            sw,
            sy,
            sx,
            py: win.pb[1],
            px: win.pb[2],
            ph,
            qw,
            offs,
        })
    }

    /// Elements of the buffer: the phases plus slack for the last block of the last row.
    pub(crate) fn buf_len(&self) -> usize {
        self.sx * self.ph * self.qw + BIG
    }

    /// Copies the input plane `xc` into `buf`, zero-padded and phase-split (compiled for
    /// the widest vectors the CPU has, as the row loop is: the phase split is a strided
    /// gather the baseline build does one element at a time).
    #[allow(unsafe_code)] // calls the loop compiled for a feature only after detecting it
    pub(crate) fn fill<T: Real>(&self, xc: &[T], buf: &mut [T]) {
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx512f") {
                // SAFETY: the CPU has AVX-512F, the only feature the function is compiled for.
                unsafe { fill_avx512(self, xc, buf) };
                return;
            }
            if std::arch::is_x86_feature_detected!("avx2") {
                // SAFETY: the CPU has AVX2, the only feature the function is compiled for.
                unsafe { fill_avx2(self, xc, buf) };
                return;
            }
        }
        self.fill_loop(xc, buf);
    }

    #[inline(always)]
    fn fill_loop<T: Real>(&self, xc: &[T], buf: &mut [T]) {
        let (sx, qw) = (self.sx, self.qw);
        for q in 0..sx {
            for r in 0..self.ph {
                let dst = &mut buf[(q * self.ph + r) * qw..][..qw];
                let Some(iy) = r.checked_sub(self.py).filter(|&iy| iy < self.bh) else {
                    dst.fill(T::zero());
                    continue;
                };
                let src = &xc[iy * self.bw..][..self.bw];
                // Padded column j·sx + q is input column j·sx + q - px: columns before
                // `lo` and from `hi` on are padding.
                let lo = self.px.saturating_sub(q).div_ceil(sx).min(qw);
                let hi = (self.px + self.bw)
                    .saturating_sub(q)
                    .div_ceil(sx)
                    .clamp(lo, qw);
                dst[..lo].fill(T::zero());
                if lo < hi {
                    let first = lo * sx + q - self.px;
                    let part = &mut dst[lo..hi];
                    let src = &src[first..first + (part.len() - 1) * sx + 1];
                    if sx == 1 {
                        part.copy_from_slice(src);
                    } else if sx == 2 {
                        let (pairs, last) = part.split_at_mut(part.len() - 1);
                        for (d, s) in pairs.iter_mut().zip(src.chunks_exact(2)) {
                            *d = s[0];
                        }
                        last[0] = src[src.len() - 1];
                    } else {
                        for (d, s) in part.iter_mut().zip(src.iter().step_by(sx)) {
                            *d = *s;
                        }
                    }
                }
                dst[hi..].fill(T::zero());
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn fill_avx512<T: Real>(rp: &RowPlan, xc: &[T], buf: &mut [T]) {
    rp.fill_loop(xc, buf);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn fill_avx2<T: Real>(rp: &RowPlan, xc: &[T], buf: &mut [T]) {
    rp.fill_loop(xc, buf);
}

/// Computes one output plane `o` from the filled buffer, the filter's taps and its bias.
#[allow(unsafe_code)] // calls the loop compiled for a feature only after detecting it
pub(crate) fn rows_apply<T: Real>(
    rp: &RowPlan,
    buf: &[T],
    taps: &[T],
    bias: Option<T>,
    o: &mut [T],
) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU has AVX-512F, the only feature the function is compiled for.
            unsafe { rows_avx512(rp, buf, taps, bias, o) };
            return;
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2, the only feature the function is compiled for.
            unsafe { rows_avx2(rp, buf, taps, bias, o) };
            return;
        }
    }
    rows(rp, buf, taps, bias, o);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn rows_avx512<T: Real>(rp: &RowPlan, buf: &[T], taps: &[T], bias: Option<T>, o: &mut [T]) {
    rows(rp, buf, taps, bias, o);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn rows_avx2<T: Real>(rp: &RowPlan, buf: &[T], taps: &[T], bias: Option<T>, o: &mut [T]) {
    rows(rp, buf, taps, bias, o);
}

#[inline(always)]
fn rows<T: Real>(rp: &RowPlan, buf: &[T], taps: &[T], bias: Option<T>, o: &mut [T]) {
    for oy in 0..rp.sh {
        let base = oy * rp.sy * rp.qw;
        let orow = &mut o[oy * rp.sw..][..rp.sw];
        let mut x0 = 0;
        while x0 < rp.sw {
            let left = rp.sw - x0;
            let o = &mut orow[x0..];
            x0 += if left >= BIG {
                block::<T, BIG>(buf, base + x0, &rp.offs, taps, bias, o);
                BIG
            } else if left > SMALL {
                block::<T, MID>(buf, base + x0, &rp.offs, taps, bias, o);
                MID
            } else {
                block::<T, SMALL>(buf, base + x0, &rp.offs, taps, bias, o);
                SMALL
            };
        }
    }
}

/// Up to `L` consecutive outputs (as many as `out` holds) whose first tap input is at
/// `start`.
#[inline(always)]
fn block<T: Real, const L: usize>(
    buf: &[T],
    start: usize,
    offs: &[usize],
    taps: &[T],
    bias: Option<T>,
    out: &mut [T],
) {
    let mut acc = [T::zero(); L];
    for (&off, &wt) in offs.iter().zip(taps) {
        let src = &buf[start + off..start + off + L];
        for i in 0..L {
            acc[i] += wt * src[i];
        }
    }
    if let Some(b) = bias {
        for a in &mut acc {
            *a += b;
        }
    }
    let n = out.len().min(L);
    out[..n].copy_from_slice(&acc[..n]);
}
