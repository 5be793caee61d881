//! Direct depthwise convolution (one input channel per group, any channel multiplier):
//! each output plane is its bias plus one strided row update per kernel tap, with no
//! im2col buffer and no per-group GEMM call. MobileNet and EfficientNet spend most of
//! their convolution calls here.
//!
//! Planes are computed independently (in parallel over the rayon pool), each in a fixed
//! order — the taps in (depth, row, column) order, then the bias (as a separate Add
//! would: fusing a bias Add into the Conv changes no bit) — so the result does not
//! depend on the thread count.

use rayon::prelude::*;

use super::conv::Win3;
use crate::ops::elem::Real;

/// `out` (`n · m` planes of `win.small`) = depthwise convolution of `x` (`n · c` planes of
/// `win.big`) with `w` (`m` filters of `win.k` taps), `m = c · mult`; output channel `o`
/// reads input channel `o / mult`. `bias` has `m` values when given.
pub fn depthwise<T: Real>(
    x: &[T],
    w: &[T],
    bias: Option<&[T]>,
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
    out.par_chunks_mut(p).enumerate().for_each(|(plane, o)| {
        let (img, oc) = (plane / m, plane % m);
        let xc = &x[(img * c + oc / mult) * is..][..is];
        let taps = &w[oc * kl..][..kl];
        o.fill(T::zero());
        plane_taps(xc, taps, win, o);
        if let Some(b) = bias {
            o.iter_mut().for_each(|v| *v += b[oc]);
        }
    });
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
