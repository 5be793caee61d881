//! Conv's k×k (im2col) path in tiles of output positions: each tile's columns are
//! written into a buffer that stays in cache (about [`TILE_BYTES`]) and multiplied by the
//! weights right away, instead of writing the whole column matrix (7 MB for ResNet-50's
//! first 3×3 stage) and reading it back from memory. The tiles are rayon tasks; each
//! task keeps one buffer for all the tiles it takes.
//!
//! The tiling depends on the shape alone, and each tile is one single-threaded GEMM, so
//! the result is the same on any number of threads.

use ndarray::{ArrayView2, ArrayViewMut2, Axis};
use rayon::prelude::*;

use super::conv::Win3;
use crate::ops::elem::Real;
use crate::KernelError;

/// Bytes of one tile's column buffer, about (half a core's L2 here).
const TILE_BYTES: usize = 512 << 10;

/// Output positions per tile, at least: narrower products ran slower than the whole
/// column matrix (ResNet-50's 14×14 stage, 49-position tiles: 16% slower).
const MIN_TILE: usize = 192;

/// Output positions per tile for `rows` column rows over `p` positions; `None` when fewer
/// than two tiles fit (the caller's whole-matrix path is then as good). The tiles are of
/// equal size and even in number, so two threads get equal shares.
pub(super) fn tile_len<T>(rows: usize, p: usize) -> Option<usize> {
    let target = (TILE_BYTES / std::mem::size_of::<T>() / rows.max(1)).max(MIN_TILE);
    let tiles = p / target / 2 * 2;
    (tiles >= 2).then(|| p.div_ceil(tiles))
}

/// `out = w · im2col(x)` for one image and group: `x` is `channels` planes of
/// `win.big`, the column matrix has `rows` rows, `out` is (out channels × positions),
/// computed in column tiles of `tile` positions, each by `mul(columns, out tile)` (a
/// single-threaded product of the weight and the tile's columns).
pub(super) fn conv_tiled<T: Real>(
    x: &[T],
    channels: usize,
    win: &Win3,
    rows: usize,
    mut out: ArrayViewMut2<T>,
    tile: usize,
    mul: impl Fn(ArrayView2<T>, ArrayViewMut2<T>) + Sync,
) -> Result<(), KernelError> {
    let p = out.dim().1;
    let tasks: Vec<_> = out
        .axis_chunks_iter_mut(Axis(1), tile)
        .enumerate()
        .collect();
    tasks.into_par_iter().try_for_each_init(
        || vec![T::zero(); rows * tile],
        |buf, (t, ov)| {
            let p0 = t * tile;
            let len = (p - p0).min(tile);
            let col = &mut buf[..rows * len];
            im2col_span(x, channels, win, p0, p0 + len, col);
            let cv = ArrayView2::from_shape((rows, len), &col[..])?;
            mul(cv, ov);
            Ok(())
        },
    )
}

/// The columns of output positions `p0..p1` (flat indices over `win.small`): like
/// [`super::conv::im2col`], with rows of `p1 - p0` elements. Every element is written.
pub(super) fn im2col_span<T: Copy + num_traits::Zero>(
    x: &[T],
    channels: usize,
    w: &Win3,
    p0: usize,
    p1: usize,
    col: &mut [T],
) {
    let [bd, bh, bw] = w.big;
    let [_, sh, sw] = w.small;
    let plane = bd * bh * bw;
    let len = p1 - p0;
    let mut row = 0;
    for c in 0..channels {
        let xc = &x[c * plane..(c + 1) * plane];
        for a in 0..w.k[0] {
            let offd = w.off(0, a);
            let (dlo, dhi) = w.valid(0, offd);
            for b in 0..w.k[1] {
                let offy = w.off(1, b);
                let (ylo, yhi) = w.valid(1, offy);
                for e in 0..w.k[2] {
                    let offx = w.off(2, e);
                    let (xlo, xhi) = w.valid(2, offx);
                    let dst = &mut col[row * len..(row + 1) * len];
                    row += 1;
                    let mut o = p0;
                    while o < p1 {
                        let line = o / sw;
                        let ox0 = o % sw;
                        let ox1 = sw.min(ox0 + (p1 - o));
                        let seg = &mut dst[o - p0..o - p0 + (ox1 - ox0)];
                        o += ox1 - ox0;
                        let (od, oy) = (line / sh, line % sh);
                        if od < dlo || od >= dhi || oy < ylo || oy >= yhi {
                            seg.fill(T::zero());
                            continue;
                        }
                        let id = ((od * w.s[0]) as isize + offd) as usize;
                        let iy = ((oy * w.s[1]) as isize + offy) as usize;
                        let src = &xc[(id * bh + iy) * bw..][..bw];
                        // The valid part of this segment, clamped to it.
                        let (vlo, vhi) = (xlo.clamp(ox0, ox1), xhi.clamp(ox0, ox1));
                        seg[..vlo - ox0].fill(T::zero());
                        seg[vhi - ox0..].fill(T::zero());
                        let valid = &mut seg[vlo - ox0..vhi - ox0];
                        if w.s[2] == 1 {
                            let start = (vlo as isize + offx) as usize;
                            valid.copy_from_slice(&src[start..start + valid.len()]);
                        } else {
                            for (i, v) in valid.iter_mut().enumerate() {
                                *v = src[(((vlo + i) * w.s[2]) as isize + offx) as usize];
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
    use super::super::conv::im2col;
    use super::*;

    /// ResNet-50's column matrices: tiles of at least MIN_TILE positions, an even number
    /// of them, covering every position; the 14×14 and 7×7 stages stay whole.
    #[test]
    fn tiles_are_wide_even_and_cover_the_positions() {
        for (rows, p, want) in [
            (147, 12544, Some(896)),
            (576, 3136, Some(262)),
            (1152, 784, Some(196)),
            (2304, 196, None),
            (4608, 49, None),
        ] {
            let got = tile_len::<f32>(rows, p);
            assert_eq!(got, want, "{rows} x {p}");
            if let Some(t) = got {
                assert!(t >= MIN_TILE && p.div_ceil(t) % 2 == 0, "{rows} x {p}: {t}");
            }
        }
    }

    /// Every span of the tiled columns is the same slice of the whole column matrix, for
    /// strides, dilations, padding and 1-, 2- and 3-D windows, and spans cut mid-row.
    #[test]
    fn spans_are_slices_of_the_whole_im2col() {
        let cases = [
            // big, small, k, s, d, pb
            (
                [1, 9, 11],
                [1, 9, 11],
                [1, 3, 3],
                [1, 1, 1],
                [1, 1, 1],
                [0, 1, 1],
            ),
            (
                [1, 12, 10],
                [1, 5, 4],
                [1, 3, 3],
                [1, 2, 2],
                [1, 1, 1],
                [0, 0, 0],
            ),
            (
                [1, 16, 16],
                [1, 8, 8],
                [1, 7, 7],
                [1, 2, 2],
                [1, 1, 1],
                [0, 3, 3],
            ),
            (
                [1, 10, 10],
                [1, 6, 6],
                [1, 3, 3],
                [1, 1, 1],
                [1, 2, 2],
                [0, 0, 0],
            ),
            (
                [1, 1, 20],
                [1, 1, 9],
                [1, 1, 4],
                [1, 1, 2],
                [1, 1, 1],
                [0, 0, 1],
            ),
            (
                [5, 6, 7],
                [3, 6, 7],
                [3, 3, 3],
                [2, 1, 1],
                [1, 1, 1],
                [1, 1, 1],
            ),
        ];
        for (big, small, k, s, d, pb) in cases {
            let win = Win3 {
                big,
                small,
                k,
                s,
                d,
                pb,
            };
            let channels = 3;
            let x: Vec<f32> = (0..channels * win.big_len())
                .map(|i| i as f32 + 1.0)
                .collect();
            let (p, rows) = (win.small_len(), channels * win.k_len());
            let mut whole = vec![f32::NAN; rows * p];
            im2col(&x, channels, &win, &mut whole);
            for (p0, p1) in [(0, p), (0, 1), (3, p.min(17)), (p / 2, p), (p - 1, p)] {
                let len = p1 - p0;
                let mut span = vec![f32::NAN; rows * len];
                im2col_span(&x, channels, &win, p0, p1, &mut span);
                for r in 0..rows {
                    assert_eq!(
                        span[r * len..(r + 1) * len],
                        whole[r * p + p0..r * p + p1],
                        "{win:?} span {p0}..{p1} row {r}"
                    );
                }
            }
        }
    }
}
