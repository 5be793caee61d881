//! Integer GEMM for the QDQ units: `C[m][p] = Σ_k A[m][k] · B[k][p]` over zero-point-shifted
//! 8-bit values held as i16 (each in [-255, 255]) with exact i32 accumulation.
//!
//! Operands are packed in pairs of k, so that one `vpmaddwd` (`_mm256_madd_epi16`) multiplies
//! two k steps of eight output positions and adds the pair into i32 without saturation
//! (|a·b + c·d| ≤ 2·255² fits easily). A is the weight matrix, packed once at plan time in
//! blocks of [`MR`] rows; B (the im2col of one image) is packed per run in panels of [`NR`]
//! positions. Every product and sum is an exact integer, so the AVX2 and the portable kernel
//! give the same results bit for bit, in any order and for any thread split; callers bound K
//! so the sums cannot overflow ([`MAX_K`]).

use rayon::prelude::*;

/// Rows of A per micro-tile.
pub const MR: usize = 6;
/// Columns (output positions) of B per micro-tile.
pub const NR: usize = 16;
/// The largest reduction length whose i32 sums cannot overflow: K · 255² < 2³¹.
pub const MAX_K: usize = (i32::MAX as usize) / (255 * 255);

/// Two i16 values as one i32 lane, `lo` in the low half (the order `vpmaddwd` pairs them).
#[inline]
fn pair(lo: i16, hi: i16) -> i32 {
    (lo as u16 as u32 | ((hi as u16 as u32) << 16)) as i32
}

#[inline]
fn unpair(v: i32) -> (i32, i32) {
    (
        (v as u32 as u16 as i16) as i32,
        ((v as u32 >> 16) as u16 as i16) as i32,
    )
}

/// A (weights, `[m][k]` row-major) packed as `[m / MR][k / 2][MR]` pairs, zero-padded.
#[derive(Debug, Clone)]
pub struct PackedA {
    pub m: usize,
    pub k: usize,
    kp: usize,
    data: Vec<i32>,
}

impl PackedA {
    pub fn new(a: &[i16], m: usize, k: usize) -> PackedA {
        debug_assert_eq!(a.len(), m * k);
        let kp = k.div_ceil(2);
        let mut data = vec![0i32; m.div_ceil(MR) * kp * MR];
        for r in 0..m {
            let row = &a[r * k..(r + 1) * k];
            for kk in 0..kp {
                let hi = row.get(2 * kk + 1).copied().unwrap_or(0);
                data[((r / MR) * kp + kk) * MR + r % MR] = pair(row[2 * kk], hi);
            }
        }
        PackedA { m, k, kp, data }
    }

    fn block(&self, mb: usize) -> &[i32] {
        &self.data[mb * self.kp * MR..(mb + 1) * self.kp * MR]
    }
}

/// B (`[k][p]` row-major, p contiguous) packed as `[p / NR][k / 2][NR]` pairs, zero-padded.
pub struct PackedB {
    p: usize,
    kp: usize,
    data: Vec<i32>,
}

impl PackedB {
    /// Packs `k` rows of `p` values; `row(i)` is row i.
    pub fn new<'a>(k: usize, p: usize, row: impl Fn(usize) -> &'a [i16]) -> PackedB {
        let kp = k.div_ceil(2);
        let panels = p.div_ceil(NR);
        let mut data = vec![0i32; panels * kp * NR];
        let zeros = vec![0i16; p];
        for kk in 0..kp {
            let lo = row(2 * kk);
            let hi = if 2 * kk + 1 < k {
                row(2 * kk + 1)
            } else {
                &zeros[..]
            };
            for (j, (&l, &h)) in lo[..p].iter().zip(&hi[..p]).enumerate() {
                data[((j / NR) * kp + kk) * NR + j % NR] = pair(l, h);
            }
        }
        PackedB { p, kp, data }
    }

    fn panel(&self, pb: usize) -> &[i32] {
        &self.data[pb * self.kp * NR..(pb + 1) * self.kp * NR]
    }
}

/// Computes `A · B` one block of [`MR`] rows at a time (blocks in parallel over the rayon
/// pool) and hands each finished row to `emit(row, sums, out_row)`, where `out` holds `m` rows
/// of `p` outputs. `simd` picks the kernel ([`Kernel::best`] in production; tests compare).
pub fn gemm<T: Send>(
    a: &PackedA,
    b: &PackedB,
    out: &mut [T],
    kernel: Kernel,
    emit: impl Fn(usize, &[i32], &mut [T]) + Sync,
) {
    let (p, kp) = (b.p, b.kp);
    debug_assert_eq!(a.kp, kp);
    debug_assert_eq!(out.len(), a.m * p);
    out.par_chunks_mut(MR * p)
        .enumerate()
        .for_each(|(mb, rows)| {
            let ablock = a.block(mb);
            let mut sums = vec![0i32; MR * p];
            let mut tile = [[0i32; NR]; MR];
            for pb in 0..p.div_ceil(NR) {
                kernel.tile(kp, ablock, b.panel(pb), &mut tile);
                let cols = NR.min(p - pb * NR);
                for (i, t) in tile.iter().enumerate() {
                    sums[i * p + pb * NR..i * p + pb * NR + cols].copy_from_slice(&t[..cols]);
                }
            }
            for (i, out_row) in rows.chunks_mut(p).enumerate() {
                emit(mb * MR + i, &sums[i * p..(i + 1) * p], out_row);
            }
        });
}

/// Which micro-kernel computes the tiles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kernel {
    /// Plain Rust, any CPU.
    Portable,
    /// AVX2 `vpmaddwd` (x86-64 with AVX2 only).
    Avx2,
    /// AVX-512 VNNI `vpdpwssd`: the pair products and their sum added to the i32
    /// accumulators in one instruction, sixteen positions a register.
    Avx512Vnni,
}

impl Kernel {
    /// The fastest kernel this CPU runs.
    pub fn best() -> Kernel {
        if simd::avx512vnni() {
            Kernel::Avx512Vnni
        } else if simd::avx2() {
            Kernel::Avx2
        } else {
            Kernel::Portable
        }
    }

    /// Every kernel this CPU runs (tests check they agree).
    pub fn available() -> Vec<Kernel> {
        let mut v = vec![Kernel::Portable];
        if simd::avx2() {
            v.push(Kernel::Avx2);
        }
        if simd::avx512vnni() {
            v.push(Kernel::Avx512Vnni);
        }
        v
    }

    /// One `MR × NR` tile: `a` is a packed A block, `b` a packed B panel, both `kp` pairs deep.
    fn tile(self, kp: usize, a: &[i32], b: &[i32], out: &mut [[i32; NR]; MR]) {
        assert!(a.len() >= kp * MR && b.len() >= kp * NR);
        match self {
            Kernel::Avx2 if simd::avx2() => simd::tile_avx2(kp, a, b, out),
            Kernel::Avx512Vnni if simd::avx512vnni() => simd::tile_avx512vnni(kp, a, b, out),
            _ => tile_portable(kp, a, b, out),
        }
    }
}

fn tile_portable(kp: usize, a: &[i32], b: &[i32], out: &mut [[i32; NR]; MR]) {
    *out = [[0; NR]; MR];
    for kk in 0..kp {
        let bs = &b[kk * NR..(kk + 1) * NR];
        for (i, row) in out.iter_mut().enumerate() {
            let (a0, a1) = unpair(a[kk * MR + i]);
            for (o, &bv) in row.iter_mut().zip(bs) {
                let (b0, b1) = unpair(bv);
                *o += a0 * b0 + a1 * b1;
            }
        }
    }
}

/// The x86-64 kernels: the only unsafe code of the integer path (CPU feature dispatch and
/// vector loads from slices whose lengths were checked by the caller).
#[allow(unsafe_code)]
mod simd {
    use super::{MR, NR};

    pub fn avx2() -> bool {
        #[cfg(target_arch = "x86_64")]
        {
            std::is_x86_feature_detected!("avx2")
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            false
        }
    }

    pub fn avx512vnni() -> bool {
        #[cfg(target_arch = "x86_64")]
        {
            std::is_x86_feature_detected!("avx512f") && std::is_x86_feature_detected!("avx512vnni")
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            false
        }
    }

    #[cfg(target_arch = "x86_64")]
    pub fn tile_avx512vnni(kp: usize, a: &[i32], b: &[i32], out: &mut [[i32; NR]; MR]) {
        assert!(avx512vnni() && a.len() >= kp * MR && b.len() >= kp * NR);
        // SAFETY: AVX-512F and VNNI are present (checked above) and every read stays inside
        // `a[..kp * MR]` and `b[..kp * NR]` (asserted above).
        unsafe { tile_avx512vnni_impl(kp, a.as_ptr(), b.as_ptr(), out) }
    }

    #[cfg(not(target_arch = "x86_64"))]
    pub fn tile_avx512vnni(kp: usize, a: &[i32], b: &[i32], out: &mut [[i32; NR]; MR]) {
        super::tile_portable(kp, a, b, out)
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,avx512vnni")]
    unsafe fn tile_avx512vnni_impl(
        kp: usize,
        a: *const i32,
        b: *const i32,
        out: &mut [[i32; NR]; MR],
    ) {
        use std::arch::x86_64::*;
        let mut acc = [_mm512_setzero_si512(); MR];
        for kk in 0..kp {
            // SAFETY (all loads): kk < kp, so kk * NR + 16 ≤ kp * NR and kk * MR + i < kp * MR.
            let bv = unsafe { _mm512_loadu_si512(b.add(kk * NR) as *const __m512i) };
            for (i, acc) in acc.iter_mut().enumerate() {
                let av = _mm512_set1_epi32(unsafe { *a.add(kk * MR + i) });
                *acc = _mm512_dpwssd_epi32(*acc, av, bv);
            }
        }
        for (row, acc) in out.iter_mut().zip(acc) {
            // SAFETY: each row holds NR = 16 i32s, one 512-bit store.
            unsafe { _mm512_storeu_si512(row.as_mut_ptr() as *mut __m512i, acc) };
        }
    }

    #[cfg(target_arch = "x86_64")]
    pub fn tile_avx2(kp: usize, a: &[i32], b: &[i32], out: &mut [[i32; NR]; MR]) {
        assert!(avx2() && a.len() >= kp * MR && b.len() >= kp * NR);
        // SAFETY: AVX2 is present (checked above) and every read stays inside `a[..kp * MR]`
        // and `b[..kp * NR]` (asserted above).
        unsafe { tile_avx2_impl(kp, a.as_ptr(), b.as_ptr(), out) }
    }

    #[cfg(not(target_arch = "x86_64"))]
    pub fn tile_avx2(kp: usize, a: &[i32], b: &[i32], out: &mut [[i32; NR]; MR]) {
        super::tile_portable(kp, a, b, out)
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn tile_avx2_impl(kp: usize, a: *const i32, b: *const i32, out: &mut [[i32; NR]; MR]) {
        use std::arch::x86_64::*;
        let z = _mm256_setzero_si256();
        let mut acc = [[z; 2]; MR];
        for kk in 0..kp {
            // SAFETY (all loads): kk < kp, so kk * NR + 16 ≤ kp * NR and kk * MR + i < kp * MR.
            let b0 = unsafe { _mm256_loadu_si256(b.add(kk * NR) as *const __m256i) };
            let b1 = unsafe { _mm256_loadu_si256(b.add(kk * NR + 8) as *const __m256i) };
            for (i, acc) in acc.iter_mut().enumerate() {
                let av = _mm256_set1_epi32(unsafe { *a.add(kk * MR + i) });
                acc[0] = _mm256_add_epi32(acc[0], _mm256_madd_epi16(av, b0));
                acc[1] = _mm256_add_epi32(acc[1], _mm256_madd_epi16(av, b1));
            }
        }
        for (row, acc) in out.iter_mut().zip(acc) {
            // SAFETY: each row holds NR = 16 i32s; the two stores write 8 each.
            unsafe {
                _mm256_storeu_si256(row.as_mut_ptr() as *mut __m256i, acc[0]);
                _mm256_storeu_si256(row.as_mut_ptr().add(8) as *mut __m256i, acc[1]);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A deterministic pseudo-random i16 in [-255, 255].
    fn val(seed: &mut u64) -> i16 {
        *seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((*seed >> 33) % 511) as i16 - 255
    }

    #[test]
    fn every_kernel_equals_the_plain_triple_loop_bit_for_bit() {
        let mut seed = 7;
        // Odd sizes exercise the padding of every block, panel and k pair; the extremes of
        // the range (±255 everywhere) the largest sums.
        for &(m, k, p, extreme) in &[
            (1, 1, 1, false),
            (7, 9, 17, false),
            (13, 33, 50, false),
            (6, 960, 16, true),
            (20, 27, 3, true),
        ] {
            let a: Vec<i16> = (0..m * k)
                .map(|i| {
                    if extreme {
                        if i % 3 == 0 {
                            -255
                        } else {
                            255
                        }
                    } else {
                        val(&mut seed)
                    }
                })
                .collect();
            let bm: Vec<i16> = (0..k * p)
                .map(|_| if extreme { -255 } else { val(&mut seed) })
                .collect();
            let want: Vec<i32> = (0..m * p)
                .map(|i| {
                    let (r, c) = (i / p, i % p);
                    (0..k)
                        .map(|j| a[r * k + j] as i32 * bm[j * p + c] as i32)
                        .sum()
                })
                .collect();
            let pa = PackedA::new(&a, m, k);
            let pb = PackedB::new(k, p, |i| &bm[i * p..(i + 1) * p]);
            for kernel in Kernel::available() {
                let mut out = vec![0i32; m * p];
                gemm(&pa, &pb, &mut out, kernel, |_, sums, row| {
                    row.copy_from_slice(sums)
                });
                assert_eq!(out, want, "{kernel:?} m={m} k={k} p={p}");
            }
        }
    }
}
