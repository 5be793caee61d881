//! Winograd F(4×4, 3×3) for Conv's 2-D f32 3×3 convolutions with stride 1, dilation 1 and
//! group 1 (ResNet's 3×3 convolutions), any padding.
//!
//! The output is cut into 4×4 tiles; each tile reads a 6×6 input patch. With Lavin and
//! Gray's matrices (points 0, ±1, ±2, ∞), a tile's output is `Aᵀ [(G g Gᵀ) ⊙ (Bᵀ d B)] A`:
//! the 36 point-wise products over the channels are 36 GEMMs
//! `M[p] (out ch × tiles) = U[p] (out ch × in ch) · V[p] (in ch × tiles)`, 4× fewer
//! multiply-adds than the direct convolution's 9 per output.
//!
//! - The weights `U = G g Gᵀ` are transformed once per interpreter (in f64, rounded once),
//!   through the node's prepared-state slot ([`crate::OpCtx::prepared`]).
//! - The tiles of one image go in blocks of whole tile rows whose transformed input and
//!   products (about [`BLOCK_BYTES`]) stay in L2; per block, the input transform runs in
//!   parallel over input channels, the 36 GEMMs as parallel single-threaded products, the
//!   output transform (with the bias and the fused epilogue, on the block's rows while they
//!   are in cache) in parallel over output channels. Every value is computed by the same
//!   sequential code whatever the thread count and the blocks depend on the shape alone,
//!   so results are bit-identical on any number of threads.
//! - Accuracy: the transforms multiply and add values scaled by up to 8 (Aᵀ) and 5 (Bᵀ),
//!   so the rounding error grows to a few units in the 6th significant digit of the output
//!   scale (measured against f64 in the tests below: under 1e-5 relative to the largest
//!   output); it is the error F(4,3) has in every runtime that uses it.

use ndarray::{ArrayView2, ArrayViewMut3, Axis, ShapeBuilder};
use rayon::prelude::*;

use super::conv::Win3;
use crate::ops::elem::{mat_mul_serial, Real};
use crate::plan::{Act, Affine};

/// Whether Conv takes this path. Off: measured on ResNet-50 (1 thread, AVX-512), its
/// GEMMs are narrow (a block's 4–56 tiles), the gemm crate runs them with its one-vector
/// kernel, and the whole run was ~5% slower than the im2col path; turned on once the
/// products run at the im2col GEMM's speed.
const ENABLED: bool = false;

/// Bytes of one block's transformed input and products, about (half a core's L2 here).
const BLOCK_BYTES: usize = 1 << 20;
/// Channels per task of the input and output transforms.
const CH_PER_TASK: usize = 4;

/// Whether Winograd computes this convolution: 2-D, 3×3, stride 1, dilation 1, one group,
/// and wide enough that the transforms pay for themselves (at 16 channels and fewer the
/// direct GEMM is as fast).
pub(super) fn applies(win: &Win3, group: usize, c: usize, m: usize, two_d: bool) -> bool {
    ENABLED && shape_fits(win, group, c, m, two_d)
}

/// The shapes [`conv3x3`] computes.
fn shape_fits(win: &Win3, group: usize, c: usize, m: usize, two_d: bool) -> bool {
    two_d
        && group == 1
        && win.k == [1, 3, 3]
        && win.s == [1, 1, 1]
        && win.d == [1, 1, 1]
        && win.big[0] == 1
        && c >= 32
        && m >= 32
        && win.small[1] >= 4
        && win.small[2] >= 4
}

/// `U[p][m][c] = (G g Gᵀ)[p]` for weights `w` (`m × c × 3 × 3`), computed in f64.
pub(super) fn transform_weights<T: Real>(w: &[T], m: usize, c: usize) -> Vec<T> {
    const G: [[f64; 3]; 6] = [
        [1.0 / 4.0, 0.0, 0.0],
        [-1.0 / 6.0, -1.0 / 6.0, -1.0 / 6.0],
        [-1.0 / 6.0, 1.0 / 6.0, -1.0 / 6.0],
        [1.0 / 24.0, 1.0 / 12.0, 1.0 / 6.0],
        [1.0 / 24.0, -1.0 / 12.0, 1.0 / 6.0],
        [0.0, 0.0, 1.0],
    ];
    let mut u = vec![T::zero(); 36 * m * c];
    for mi in 0..m {
        for ci in 0..c {
            let k = &w[(mi * c + ci) * 9..][..9];
            let mut gk = [[0f64; 3]; 6];
            for (i, row) in gk.iter_mut().enumerate() {
                for (j, v) in row.iter_mut().enumerate() {
                    *v = (0..3).map(|t| G[i][t] * k[t * 3 + j].as_f64()).sum();
                }
            }
            for i in 0..6 {
                for j in 0..6 {
                    let v: f64 = (0..3).map(|t| gk[i][t] * G[j][t]).sum();
                    u[(i * 6 + j) * m * c + mi * c + ci] = T::c(v);
                }
            }
        }
    }
    u
}

/// `Bᵀ d` for one column (or row) of six.
#[inline(always)]
fn bt<T: Real>(d: [T; 6]) -> [T; 6] {
    let (c2, c4, c5) = (T::c(2.0), T::c(4.0), T::c(5.0));
    [
        c4 * d[0] - c5 * d[2] + d[4],
        -c4 * (d[1] + d[2]) + d[3] + d[4],
        c4 * (d[1] - d[2]) - d[3] + d[4],
        c2 * (d[3] - d[1]) - d[2] + d[4],
        c2 * (d[1] - d[3]) - d[2] + d[4],
        c4 * d[1] - c5 * d[3] + d[5],
    ]
}

/// `Aᵀ m` for one column (or row) of six.
#[inline(always)]
fn at<T: Real>(m: [T; 6]) -> [T; 4] {
    let (c2, c4, c8) = (T::c(2.0), T::c(4.0), T::c(8.0));
    let (s12, d12, s34, d34) = (m[1] + m[2], m[1] - m[2], m[3] + m[4], m[3] - m[4]);
    [
        m[0] + s12 + s34,
        d12 + c2 * d34,
        s12 + c4 * s34,
        d12 + c8 * d34 + m[5],
    ]
}

/// The geometry of one image's convolution.
#[derive(Clone, Copy)]
struct Geo {
    c: usize,
    m: usize,
    h: usize,
    w: usize,
    oh: usize,
    ow: usize,
    pt: usize,
    pl: usize,
    tiles_x: usize,
}

/// `out = conv(x, w) + bias`, then the fused BatchNormalization and activation, for `n` images (`x`: `n × c × h × w`,
/// `u`: [`transform_weights`], `out`: `n × m × oh × ow`).
#[allow(clippy::too_many_arguments)]
pub(super) fn conv3x3<T: Real>(
    x: &[T],
    n: usize,
    c: usize,
    win: &Win3,
    u: &[T],
    m: usize,
    bias: Option<&[T]>,
    epi: (Option<&Affine>, Option<Act>),
    out: &mut [T],
) {
    let [_, h, w] = win.big;
    let [_, oh, ow] = win.small;
    let (tiles_y, tiles_x) = (oh.div_ceil(4), ow.div_ceil(4));
    let per_row = 36 * (c + m) * tiles_x * std::mem::size_of::<T>();
    let rows = (BLOCK_BYTES / per_row.max(1)).clamp(1, tiles_y);
    let blocks = tiles_y.div_ceil(rows);
    let rows = tiles_y.div_ceil(blocks);
    let max_nt = rows * tiles_x;
    let mut v = vec![T::zero(); c * 36 * max_nt];
    let mut mo = vec![T::zero(); m * 36 * max_nt];
    let geo = Geo {
        c,
        m,
        h,
        w,
        oh,
        ow,
        pt: win.pb[1],
        pl: win.pb[2],
        tiles_x,
    };
    for img in 0..n {
        let xi = &x[img * c * h * w..][..c * h * w];
        let oi = &mut out[img * m * oh * ow..][..m * oh * ow];
        for b in 0..blocks {
            let ty0 = b * rows;
            let ty1 = (ty0 + rows).min(tiles_y);
            let nt = (ty1 - ty0) * tiles_x;
            input_transform(xi, &geo, ty0, ty1, &mut v[..c * 36 * nt]);
            products(u, &v[..c * 36 * nt], &geo, nt, &mut mo[..m * 36 * nt]);
            output_transform(&mo[..m * 36 * nt], &geo, ty0, ty1, bias, epi, oi);
        }
    }
}

/// `V[c][p][t]` for the tiles of tile rows `ty0..ty1`.
fn input_transform<T: Real>(x: &[T], g: &Geo, ty0: usize, ty1: usize, v: &mut [T]) {
    let nt = (ty1 - ty0) * g.tiles_x;
    // The patch rows and columns this block reads, zero-padded.
    let (ph, pw) = ((ty1 - ty0) * 4 + 2, g.tiles_x * 4 + 2);
    let y0 = (ty0 * 4) as isize - g.pt as isize;
    let x0 = -(g.pl as isize);
    v.par_chunks_mut(36 * nt * CH_PER_TASK)
        .enumerate()
        .for_each(|(task, vc)| {
            let mut pad = vec![T::zero(); ph * pw];
            for (k, vch) in vc.chunks_mut(36 * nt).enumerate() {
                let ci = task * CH_PER_TASK + k;
                let plane = &x[ci * g.h * g.w..][..g.h * g.w];
                for r in 0..ph {
                    let dst = &mut pad[r * pw..][..pw];
                    let iy = y0 + r as isize;
                    if iy < 0 || iy >= g.h as isize {
                        dst.fill(T::zero());
                        continue;
                    }
                    let src = &plane[iy as usize * g.w..][..g.w];
                    for (cx, d) in dst.iter_mut().enumerate() {
                        let ix = x0 + cx as isize;
                        *d = if ix >= 0 && ix < g.w as isize {
                            src[ix as usize]
                        } else {
                            T::zero()
                        };
                    }
                }
                for t in 0..nt {
                    let (ty, tx) = (t / g.tiles_x, t % g.tiles_x);
                    let base = ty * 4 * pw + tx * 4;
                    // Bᵀ d, column by column, then (Bᵀ d) B row by row.
                    let mut cols = [[T::zero(); 6]; 6];
                    for j in 0..6 {
                        let col = std::array::from_fn(|i| pad[base + i * pw + j]);
                        cols[j] = bt(col);
                    }
                    for i in 0..6 {
                        let row = bt(std::array::from_fn(|j| cols[j][i]));
                        for (j, &val) in row.iter().enumerate() {
                            vch[(i * 6 + j) * nt + t] = val;
                        }
                    }
                }
            }
        });
}

/// `M[m][p][t] = Σ_c U[p][m][c] · V[c][p][t]`: 36 single-threaded GEMMs, run in parallel.
fn products<T: Real>(u: &[T], v: &[T], g: &Geo, nt: usize, mo: &mut [T]) {
    let (c, m) = (g.c, g.m);
    let mut m3 = ArrayViewMut3::from_shape((m, 36, nt), mo).expect("product buffer");
    let outs: Vec<_> = m3.axis_iter_mut(Axis(1)).enumerate().collect();
    outs.into_par_iter().for_each(|(p, mp)| {
        let up = ArrayView2::from_shape((m, c), &u[p * m * c..][..m * c]).expect("U");
        let vp = ArrayView2::from_shape((c, nt).strides((36 * nt, 1)), &v[p * nt..]).expect("V");
        mat_mul_serial(T::one(), up, vp, T::zero(), mp);
    });
}

/// Writes the output rows of tile rows `ty0..ty1` from the products, then adds the bias
/// and applies the epilogue to them.
fn output_transform<T: Real>(
    mo: &[T],
    g: &Geo,
    ty0: usize,
    ty1: usize,
    bias: Option<&[T]>,
    (affine, act): (Option<&Affine>, Option<Act>),
    out: &mut [T],
) {
    let nt = (ty1 - ty0) * g.tiles_x;
    let plane = g.oh * g.ow;
    let (r0, r1) = (ty0 * 4, (ty1 * 4).min(g.oh));
    out.par_chunks_mut(plane * CH_PER_TASK)
        .zip(mo.par_chunks(36 * nt * CH_PER_TASK))
        .enumerate()
        .for_each(|(task, (oc, mc))| {
            for (k, (op, mch)) in oc.chunks_mut(plane).zip(mc.chunks(36 * nt)).enumerate() {
                let mi = task * CH_PER_TASK + k;
                for t in 0..nt {
                    let (ty, tx) = (ty0 + t / g.tiles_x, t % g.tiles_x);
                    // M A row by row, then Aᵀ (M A) column by column.
                    let mut rows6 = [[T::zero(); 4]; 6];
                    for (i, row) in rows6.iter_mut().enumerate() {
                        *row = at(std::array::from_fn(|j| mch[(i * 6 + j) * nt + t]));
                    }
                    let y: [[T; 4]; 4] =
                        std::array::from_fn(|jj| at(std::array::from_fn(|i| rows6[i][jj])));
                    let (oy, ox) = (ty * 4, tx * 4);
                    let (hh, ww) = ((g.oh - oy).min(4), (g.ow - ox).min(4));
                    for (rr, dst) in op[oy * g.ow..].chunks_mut(g.ow).take(hh).enumerate() {
                        for (jj, d) in dst[ox..ox + ww].iter_mut().enumerate() {
                            *d = y[jj][rr];
                        }
                    }
                }
                let rows = &mut op[r0 * g.ow..r1 * g.ow];
                if let Some(b) = bias {
                    let bb = b[mi];
                    rows.iter_mut().for_each(|v| *v += bb);
                }
                if let Some(v) = T::as_f32s(rows) {
                    if let Some(a) = affine {
                        a.apply_channel(mi, v);
                    }
                    if let Some(act) = act {
                        act.apply_slice(v);
                    }
                }
            }
        });
}

#[cfg(test)]
mod tests {
    use modelc_ir::{Attr, OnnxOp};
    use ndarray::{ArrayD, IxDyn};

    use super::super::conv::{to3, Win3};
    use super::{conv3x3, shape_fits, transform_weights};
    use crate::ops::test_util::run_op;
    use crate::Array;

    /// Values in [-1, 1) from a fixed sequence.
    fn values(len: usize, seed: u64) -> Vec<f64> {
        let mut s = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
        (0..len)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                (s >> 11) as f64 / (1u64 << 52) as f64 - 1.0
            })
            .collect()
    }

    fn conv(x: &Array, w: &Array, b: &Array, pads: [i64; 4]) -> Array {
        let attrs = vec![("pads", Attr::Ints(pads.to_vec()))];
        let ins = [Some(x.clone()), Some(w.clone()), Some(b.clone())];
        run_op(OnnxOp::Conv, 22, attrs, &ins, 1, None)
            .unwrap()
            .remove(0)
    }

    /// [`conv3x3`] on f32 arrays (`x`: n × c × h × w, `w`: m × c × 3 × 3).
    fn winograd(x: &Array, w: &Array, b: &Array, win: &Win3) -> Array {
        let (Array::F32(x), Array::F32(w), Array::F32(b)) = (x, w, b) else {
            panic!("f32 inputs")
        };
        let (n, c, m) = (x.shape()[0], x.shape()[1], w.shape()[0]);
        let u = transform_weights(w.as_slice().unwrap(), m, c);
        let mut out = vec![0f32; n * m * win.small_len()];
        let xs = x.as_slice().unwrap();
        conv3x3(xs, n, c, win, &u, m, b.as_slice(), (None, None), &mut out);
        let shape = [n, m, win.small[1], win.small[2]];
        Array::F32(ArrayD::from_shape_vec(IxDyn(&shape), out).unwrap())
    }

    fn arrays(shape: &[usize], v: &[f64]) -> (Array, Array) {
        let f32s = v.iter().map(|&v| v as f32).collect();
        let f64s = v.iter().map(|&v| v as f32 as f64).collect();
        (
            Array::F32(ArrayD::from_shape_vec(IxDyn(shape), f32s).unwrap()),
            Array::F64(ArrayD::from_shape_vec(IxDyn(shape), f64s).unwrap()),
        )
    }

    /// Odd sizes (edge tiles in both directions), padding 1 and asymmetric padding, a
    /// batch of two, channel counts that are not multiples of the 16-lane width.
    const CASES: [(usize, usize, usize, usize, usize, [i64; 4]); 4] = [
        (2, 33, 35, 11, 13, [1, 1, 1, 1]),
        (1, 32, 48, 7, 7, [1, 1, 1, 1]),
        (1, 40, 33, 9, 14, [0, 2, 1, 0]),
        (3, 64, 64, 6, 5, [1, 1, 1, 1]),
    ];

    #[test]
    fn matches_the_direct_convolution_in_f64() {
        for (i, &(n, c, m, h, w, pads)) in CASES.iter().enumerate() {
            let (oh, ow) = (
                h + (pads[0] + pads[2]) as usize - 2,
                w + (pads[1] + pads[3]) as usize - 2,
            );
            let win = Win3 {
                big: to3(&[h, w], 1).unwrap(),
                small: to3(&[oh, ow], 1).unwrap(),
                k: [1, 3, 3],
                s: [1; 3],
                d: [1; 3],
                pb: to3(&[pads[0] as usize, pads[1] as usize], 0).unwrap(),
            };
            assert!(shape_fits(&win, 1, c, m, true), "case {i}");
            let (x32, x64) = arrays(&[n, c, h, w], &values(n * c * h * w, 3 * i as u64 + 1));
            let (w32, w64) = arrays(&[m, c, 3, 3], &values(m * c * 9, 3 * i as u64 + 2));
            let (b32, b64) = arrays(&[m], &values(m, 3 * i as u64 + 3));
            let got = winograd(&x32, &w32, &b32, &win);
            // f64 takes the direct (im2col) path: the exact result to within 1e-15.
            let want = conv(&x64, &w64, &b64, pads);
            assert_eq!(got.shape(), &[n, m, oh, ow]);
            let (got, want) = (got.to_f64_vec().unwrap(), want.to_f64_vec().unwrap());
            let scale = want.iter().fold(0f64, |a, v| a.max(v.abs()));
            let err = got
                .iter()
                .zip(&want)
                .fold(0f64, |a, (g, w)| a.max((g - w).abs()));
            // Each output sums 9·c products of values below 1 after transforms whose
            // coefficients reach 8 (Aᵀ) and 5 (Bᵀ): an f32 error of a few ulps of the
            // output scale per channel; the direct f32 path is itself ~1e-6 off.
            assert!(
                err <= 1e-5 * scale,
                "case {i}: max error {err:e} at scale {scale}"
            );
        }
    }

    #[test]
    fn bits_do_not_depend_on_the_thread_count() {
        let (n, c, m, h, w) = (1, 48, 40, 30, 17);
        let win = Win3 {
            big: [1, h, w],
            small: [1, h, w],
            k: [1, 3, 3],
            s: [1; 3],
            d: [1; 3],
            pb: [0, 1, 1],
        };
        let (x, _) = arrays(&[n, c, h, w], &values(n * c * h * w, 7));
        let (wt, _) = arrays(&[m, c, 3, 3], &values(m * c * 9, 8));
        let (b, _) = arrays(&[m], &values(m, 9));
        let run = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            let y = pool.install(|| winograd(&x, &wt, &b, &win));
            match y {
                Array::F32(a) => a.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                other => panic!("{other:?}"),
            }
        };
        let one = run(1);
        assert_eq!(one, run(2));
        assert_eq!(one, run(3));
    }
}
