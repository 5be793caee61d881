//! A packed single-precision GEMM with an AVX-512 micro-kernel (12×32), used for f32
//! MatMul / Gemm / Conv when the CPU has AVX-512F; elsewhere (and for strided operands)
//! ndarray's `general_mat_mul` (matrixmultiply, whose widest kernel is AVX2) is used.
//! Goto-style blocking: B blocks of KC×NC packed into 32-column panels, A blocks of MC×KC
//! packed into 12-row panels; edge tiles are zero-padded in the packs and written back
//! through a scratch tile.

use ndarray::linalg::general_mat_mul;
use ndarray::{ArrayView2, ArrayViewMut2};

const MR: usize = 12;
const NR: usize = 32;
const KC: usize = 256;
const MC: usize = 144;
const NC: usize = 4096;

/// `c = a · b` (c is overwritten).
pub fn sgemm(a: ArrayView2<f32>, b: ArrayView2<f32>, mut c: ArrayViewMut2<f32>) {
    let (m, k) = a.dim();
    let n = b.dim().1;
    #[cfg(target_arch = "x86_64")]
    {
        let rows_ok = |s: &[isize], cols: usize| cols <= 1 || s[1] == 1;
        if m > 0
            && n > 0
            && k > 0
            && rows_ok(a.strides(), k)
            && rows_ok(b.strides(), n)
            && rows_ok(c.strides(), n)
            && a.strides()[0] >= 0
            && b.strides()[0] >= 0
            && c.strides()[0] >= 0
            && std::arch::is_x86_feature_detected!("avx512f")
        {
            let (lda, ldb, ldc) = (
                a.strides()[0] as usize,
                b.strides()[0] as usize,
                c.strides()[0] as usize,
            );
            // SAFETY: the feature is detected above; the pointers and leading dimensions
            // describe the views' memory (rows contiguous, non-negative row strides), and
            // every access stays inside rows < m / k and columns < k / n.
            unsafe {
                avx512::gemm(
                    m,
                    n,
                    k,
                    a.as_ptr(),
                    lda,
                    b.as_ptr(),
                    ldb,
                    c.as_mut_ptr(),
                    ldc,
                );
            }
            return;
        }
    }
    general_mat_mul(1.0, &a, &b, 0.0, &mut c);
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use super::{KC, MC, MR, NC, NR};
    use std::arch::x86_64::*;

    #[allow(clippy::too_many_arguments)]
    #[target_feature(enable = "avx512f")]
    pub unsafe fn gemm(
        m: usize,
        n: usize,
        k: usize,
        a: *const f32,
        lda: usize,
        b: *const f32,
        ldb: usize,
        c: *mut f32,
        ldc: usize,
    ) {
        let mut pb = vec![0.0f32; KC * NC.min(n.div_ceil(NR) * NR)];
        let mut pa = vec![0.0f32; KC * MC];
        let mut jc = 0;
        while jc < n {
            let nc = NC.min(n - jc);
            let mut pc = 0;
            while pc < k {
                let kc = KC.min(k - pc);
                // Pack B[pc..pc+kc, jc..jc+nc] into NR-wide panels.
                let panels = nc.div_ceil(NR);
                for jp in 0..panels {
                    let j0 = jc + jp * NR;
                    let w = NR.min(jc + nc - j0);
                    let dst = &mut pb[jp * kc * NR..(jp + 1) * kc * NR];
                    for p in 0..kc {
                        let src = b.add((pc + p) * ldb + j0);
                        let row = &mut dst[p * NR..(p + 1) * NR];
                        for (j, r) in row.iter_mut().enumerate() {
                            *r = if j < w { *src.add(j) } else { 0.0 };
                        }
                    }
                }
                let mut ic = 0;
                while ic < m {
                    let mc = MC.min(m - ic);
                    let rpanels = mc.div_ceil(MR);
                    // Few columns: A is used by few micro-panels, so read it in place
                    // (full row panels only) instead of packing it.
                    let direct = n <= 4 * NR;
                    for ip in 0..rpanels {
                        if direct && MR.min(ic + mc - (ic + ip * MR)) == MR {
                            continue;
                        }
                        let i0 = ic + ip * MR;
                        let h = MR.min(ic + mc - i0);
                        let dst = &mut pa[ip * kc * MR..(ip + 1) * kc * MR];
                        for i in 0..MR {
                            if i < h {
                                let src = a.add((i0 + i) * lda + pc);
                                for p in 0..kc {
                                    dst[p * MR + i] = *src.add(p);
                                }
                            } else {
                                for p in 0..kc {
                                    dst[p * MR + i] = 0.0;
                                }
                            }
                        }
                    }
                    for jp in 0..panels {
                        let j0 = jc + jp * NR;
                        let w = NR.min(jc + nc - j0);
                        for ip in 0..rpanels {
                            let i0 = ic + ip * MR;
                            let h = MR.min(ic + mc - i0);
                            let (ap, rsa, csa) = if direct && h == MR {
                                (a.add(i0 * lda + pc), lda, 1)
                            } else {
                                (pa.as_ptr().add(ip * kc * MR), 1, MR)
                            };
                            kernel(
                                kc,
                                ap,
                                rsa,
                                csa,
                                pb.as_ptr().add(jp * kc * NR),
                                c.add(i0 * ldc + j0),
                                ldc,
                                pc > 0,
                                h,
                                w,
                            );
                        }
                    }
                    ic += mc;
                }
                pc += kc;
            }
            jc += nc;
        }
    }

    #[allow(clippy::too_many_arguments)]
    #[target_feature(enable = "avx512f")]
    unsafe fn kernel(
        kc: usize,
        a: *const f32,
        rsa: usize,
        csa: usize,
        b: *const f32,
        c: *mut f32,
        ldc: usize,
        accumulate: bool,
        h: usize,
        w: usize,
    ) {
        let mut acc = [[_mm512_setzero_ps(); 2]; MR];
        for p in 0..kc {
            let b0 = _mm512_loadu_ps(b.add(p * NR));
            let b1 = _mm512_loadu_ps(b.add(p * NR + 16));
            let ap = a.add(p * csa);
            for (i, row) in acc.iter_mut().enumerate() {
                let av = _mm512_set1_ps(*ap.add(i * rsa));
                row[0] = _mm512_fmadd_ps(av, b0, row[0]);
                row[1] = _mm512_fmadd_ps(av, b1, row[1]);
            }
        }
        if h == MR && w == NR {
            for (i, row) in acc.iter().enumerate() {
                let cp = c.add(i * ldc);
                let (mut r0, mut r1) = (row[0], row[1]);
                if accumulate {
                    r0 = _mm512_add_ps(r0, _mm512_loadu_ps(cp));
                    r1 = _mm512_add_ps(r1, _mm512_loadu_ps(cp.add(16)));
                }
                _mm512_storeu_ps(cp, r0);
                _mm512_storeu_ps(cp.add(16), r1);
            }
        } else {
            let mut tile = [0.0f32; MR * NR];
            for (i, row) in acc.iter().enumerate() {
                _mm512_storeu_ps(tile.as_mut_ptr().add(i * NR), row[0]);
                _mm512_storeu_ps(tile.as_mut_ptr().add(i * NR + 16), row[1]);
            }
            for i in 0..h {
                let cp = c.add(i * ldc);
                for j in 0..w {
                    let v = tile[i * NR + j];
                    *cp.add(j) = if accumulate { *cp.add(j) + v } else { v };
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;

    #[test]
    fn matches_reference_on_edge_sizes() {
        for &(m, n, k) in &[
            (1, 1, 1),
            (13, 33, 7),
            (12, 32, 256),
            (150, 70, 300),
            (5, 4100, 3),
            (37, 1, 513),
            (40, 49, 600),
            (300, 128, 20),
        ] {
            let a = Array2::from_shape_fn((m, k), |(i, j)| ((i * 7 + j * 3) % 11) as f32 - 5.0);
            let b = Array2::from_shape_fn((k, n), |(i, j)| ((i * 5 + j) % 13) as f32 * 0.5 - 3.0);
            let mut c = Array2::from_elem((m, n), 99.0f32);
            sgemm(a.view(), b.view(), c.view_mut());
            let r = a.dot(&b);
            assert_eq!(c, r, "{m}x{n}x{k}");
            // Transposed (column-strided) operands take the fallback path.
            let mut c2 = Array2::from_elem((m, n), 99.0f32);
            let at = a.t().to_owned();
            sgemm(at.t(), b.view(), c2.view_mut());
            assert_eq!(c2, r);
        }
    }
}
