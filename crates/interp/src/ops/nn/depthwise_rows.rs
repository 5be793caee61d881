//! The row kernel of 2-D depthwise convolution with dilation 1 (3×3 and 5×5 filters,
//! strides 1 and 2 in the mobile networks).
//!
//! One input plane is first copied into a buffer that holds it zero-padded and, for a
//! horizontal stride `s`, split into `s` column phases (phase `q` holds padded columns
//! `q, q + s, …`), so the input of every tap for consecutive outputs of a row is contiguous.
//! Each output row is then computed in blocks of 32 (then 16 or 8) outputs held in registers:
//! for each tap in (row, column) order, the block plus the weight times `block` contiguous
//! inputs. The last block of a row may read past the row into the buffer's slack or the
//! next row; those lanes are computed and dropped. Up to four output rows are computed
//! together (independent sums, so the additions of one row overlap another's instead of
//! waiting on each other); each element's sum is the same either way.
//!
//! The padding of the buffer is the same for every plane of a layer, so a task zeroes its
//! buffer once ([`RowPlan::fill`]) and then copies only each plane's interior into it
//! ([`RowPlan::copy_interior`]), in fixed-size pieces rather than a `memcpy`/`memset` call
//! per row (a 14-wide row costs less to copy than to call for).
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

    /// Copies the input plane `xc` into `buf`, zero-padded and phase-split.
    #[cfg(test)]
    pub(crate) fn fill<T: Real>(&self, xc: &[T], buf: &mut [T]) {
        buf.fill(T::zero());
        self.copy_interior(xc, buf);
    }

    /// Copies the input plane `xc` into the interior of `buf`, whose padding (everything
    /// [`RowPlan::fill`] zeroes and this does not write) must already be zero: the same
    /// positions for every plane, so a buffer filled once for one plane takes the next
    /// plane through this alone. Compiled for the widest vectors the CPU has, as the row
    /// loop is (the phase split is a strided gather the baseline build does one element at
    /// a time).
    #[allow(unsafe_code)] // calls the loop compiled for a feature only after detecting it
    pub(crate) fn copy_interior<T: Real>(&self, xc: &[T], buf: &mut [T]) {
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx512f") {
                // SAFETY: the CPU has AVX-512F, the only feature the function is compiled for.
                unsafe { copy_avx512(self, xc, buf) };
                return;
            }
            if std::arch::is_x86_feature_detected!("avx2") {
                // SAFETY: the CPU has AVX2, the only feature the function is compiled for.
                unsafe { copy_avx2(self, xc, buf) };
                return;
            }
        }
        self.copy_loop(xc, buf);
    }

    #[inline(always)]
    fn copy_loop<T: Real>(&self, xc: &[T], buf: &mut [T]) {
        let (sx, qw) = (self.sx, self.qw);
        for q in 0..sx {
            // Padded column j·sx + q is input column j·sx + q - px: columns before `lo` and
            // from `hi` on are padding.
            let lo = self.px.saturating_sub(q).div_ceil(sx).min(qw);
            let hi = (self.px + self.bw)
                .saturating_sub(q)
                .div_ceil(sx)
                .clamp(lo, qw);
            if lo >= hi {
                continue;
            }
            let first = lo * sx + q - self.px;
            let n = hi - lo;
            // Padded rows `py .. py + bh` hold input rows (those below `ph` exist).
            let rows = self.py.min(self.ph)..(self.py + self.bh).min(self.ph);
            for r in rows {
                let src = &xc[(r - self.py) * self.bw + first..][..(n - 1) * sx + 1];
                let dst = &mut buf[(q * self.ph + r) * qw + lo..][..n];
                match sx {
                    1 => copy_run(dst, src),
                    2 => {
                        let (pairs, last) = dst.split_at_mut(n - 1);
                        for (d, s) in pairs.iter_mut().zip(src.chunks_exact(2)) {
                            *d = s[0];
                        }
                        last[0] = src[src.len() - 1];
                    }
                    _ => {
                        for (d, s) in dst.iter_mut().zip(src.iter().step_by(sx)) {
                            *d = *s;
                        }
                    }
                }
            }
        }
    }
}

/// `dst = src` in pieces of 16, 8, 4 and 1 elements (fixed-size copies the compiler keeps
/// inline, where a slice copy of unknown length becomes a `memcpy` call).
#[inline(always)]
fn copy_run<T: Copy>(dst: &mut [T], src: &[T]) {
    let n = dst.len().min(src.len());
    let mut i = 0;
    while i + 16 <= n {
        piece::<T, 16>(&mut dst[i..], &src[i..]);
        i += 16;
    }
    if i + 8 <= n {
        piece::<T, 8>(&mut dst[i..], &src[i..]);
        i += 8;
    }
    if i + 4 <= n {
        piece::<T, 4>(&mut dst[i..], &src[i..]);
        i += 4;
    }
    for k in 0..3 {
        if i + k < n {
            dst[i + k] = src[i + k];
        }
    }
}

#[inline(always)]
fn piece<T: Copy, const N: usize>(dst: &mut [T], src: &[T]) {
    let d: &mut [T; N] = (&mut dst[..N]).try_into().expect("N elements");
    let s: &[T; N] = src[..N].try_into().expect("N elements");
    *d = *s;
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn copy_avx512<T: Real>(rp: &RowPlan, xc: &[T], buf: &mut [T]) {
    rp.copy_loop(xc, buf);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn copy_avx2<T: Real>(rp: &RowPlan, xc: &[T], buf: &mut [T]) {
    rp.copy_loop(xc, buf);
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
    let mut oy = 0;
    while oy < rp.sh {
        oy += if oy + 4 <= rp.sh && rp.sw <= MID {
            row_group::<T, 4>(rp, buf, taps, bias, o, oy);
            4
        } else if oy + 2 <= rp.sh {
            row_group::<T, 2>(rp, buf, taps, bias, o, oy);
            2
        } else {
            row_group::<T, 1>(rp, buf, taps, bias, o, oy);
            1
        };
    }
}

/// Output rows `oy .. oy + R`, block by block.
#[inline(always)]
fn row_group<T: Real, const R: usize>(
    rp: &RowPlan,
    buf: &[T],
    taps: &[T],
    bias: Option<T>,
    o: &mut [T],
    oy: usize,
) {
    let base = oy * rp.sy * rp.qw;
    let rows = Rows {
        step: rp.sy * rp.qw,
        sw: rp.sw,
        oy,
    };
    let mut x0 = 0;
    while x0 < rp.sw {
        let left = rp.sw - x0;
        x0 += if left >= BIG {
            block::<T, BIG, R>(buf, base + x0, &rp.offs, taps, bias, o, &rows, x0);
            BIG
        } else if left > SMALL {
            block::<T, MID, R>(buf, base + x0, &rp.offs, taps, bias, o, &rows, x0);
            MID
        } else {
            block::<T, SMALL, R>(buf, base + x0, &rp.offs, taps, bias, o, &rows, x0);
            SMALL
        };
    }
}

/// Where the rows of a group are: `step` buffer elements from one output row's inputs to
/// the next's, `sw` outputs a row, `oy` the first row.
struct Rows {
    step: usize,
    sw: usize,
    oy: usize,
}

/// Up to `L` consecutive outputs (as many as are left in the row from column `x0`) of
/// each of `R` rows, whose first row's first tap input is at `start`.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn block<T: Real, const L: usize, const R: usize>(
    buf: &[T],
    start: usize,
    offs: &[usize],
    taps: &[T],
    bias: Option<T>,
    o: &mut [T],
    rows: &Rows,
    x0: usize,
) {
    let mut acc = [[T::zero(); L]; R];
    for (&off, &wt) in offs.iter().zip(taps) {
        for (r, acc) in acc.iter_mut().enumerate() {
            let at = start + r * rows.step + off;
            let src = &buf[at..at + L];
            for i in 0..L {
                acc[i] += wt * src[i];
            }
        }
    }
    let n = (rows.sw - x0).min(L);
    for (r, acc) in acc.iter_mut().enumerate() {
        if let Some(b) = bias {
            for a in acc.iter_mut() {
                *a += b;
            }
        }
        let dst = &mut o[(rows.oy + r) * rows.sw + x0..];
        if n == L {
            piece::<T, L>(dst, acc);
        } else {
            copy_run(&mut dst[..n], &acc[..n]);
        }
    }
}
