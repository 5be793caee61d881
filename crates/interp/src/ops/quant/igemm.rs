//! Integer GEMM for the QDQ units: `C[m][p] = Σ_k A[m][k] · B[k][p]` over zero-point-shifted
//! 8-bit values held as i16 (each in [-255, 255]) with exact i32 accumulation.
//!
//! Operands are packed in pairs of k, so that one `vpmaddwd` (`_mm256_madd_epi16`) or
//! `vpdpwssd` multiplies two k steps of a row of output positions and adds the pair into i32
//! without saturation (|a·b + c·d| ≤ 2·255² fits easily). A is the weight matrix, packed
//! once at plan time in blocks of [`MR`] rows. B (one image's input or im2col, `[k][p]`)
//! is packed during the run, one block of columns at a time, by the task that then
//! multiplies it: a block is sized to stay in cache while every row block of A passes over
//! it, and packing reads the 8-bit input and subtracts its zero point on the way, so no
//! shifted copy of the input is made. Every product and sum is an exact integer, so the
//! kernels give the same results bit for bit, in any order and for any split among
//! threads; callers bound K so the sums cannot overflow ([`MAX_K`]).

use rayon::prelude::*;

pub use simd::i8_bytes;

/// Rows of A per micro-tile.
pub const MR: usize = 6;
/// Columns (output positions) of B per micro-tile: two 512-bit registers of i32.
pub const NR: usize = 32;
/// The largest reduction length whose i32 sums cannot overflow: K · 255² < 2³¹.
pub const MAX_K: usize = (i32::MAX as usize) / (255 * 255);
/// Packed B per task, in i32 pairs (128 KiB: half a core's L2 share with room for A).
const B_BLOCK: usize = 1 << 15;

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

/// Packs columns `c0 .. c0 + cols` of B (`[k][p]` row-major, each value converted by
/// `shift`) as `[cols / NR][k / 2][NR]` pairs, zero-padded, into `buf`.
fn pack_b<X: Copy>(
    b: &[X],
    (k, p): (usize, usize),
    (c0, cols): (usize, usize),
    shift: &impl Fn(X) -> i16,
    buf: &mut Vec<i32>,
) {
    let kp = k.div_ceil(2);
    let panels = cols.div_ceil(NR);
    buf.clear();
    buf.resize(panels * kp * NR, 0);
    for kk in 0..kp {
        let lo = &b[2 * kk * p + c0..][..cols];
        let hi = (2 * kk + 1 < k).then(|| &b[(2 * kk + 1) * p + c0..][..cols]);
        for pb in 0..panels {
            let dst = &mut buf[(pb * kp + kk) * NR..][..NR];
            let j0 = pb * NR;
            let n = NR.min(cols - j0);
            match hi {
                Some(hi) => {
                    for ((d, &l), &h) in dst[..n].iter_mut().zip(&lo[j0..]).zip(&hi[j0..]) {
                        *d = pair(shift(l), shift(h));
                    }
                }
                None => {
                    for (d, &l) in dst[..n].iter_mut().zip(&lo[j0..]) {
                        *d = pair(shift(l), 0);
                    }
                }
            }
        }
    }
}

/// Computes `A · B` for B given as `[a.k][p]` row-major values, each converted by `shift`
/// (the zero point subtracted), and hands each finished piece of a row to
/// `emit(row, sums, out_piece)`, where `out` holds `a.m` rows of `p` outputs and `out_piece`
/// is the part of row `row` the sums are for. Blocks of columns and of rows are tasks on the
/// rayon pool. `kernel` picks the micro-kernel ([`Kernel::best`] in production; tests
/// compare).
pub fn gemm<X, T>(
    a: &PackedA,
    b: &[X],
    p: usize,
    shift: impl Fn(X) -> i16 + Sync,
    out: &mut [T],
    kernel: Kernel,
    emit: impl Fn(usize, &[i32], &mut [T]) + Sync,
) where
    X: Copy + Sync,
    T: Send,
{
    let (m, k, kp) = (a.m, a.k, a.kp);
    assert!(b.len() >= k * p && out.len() == m * p);
    if m == 0 || p == 0 {
        return;
    }
    // Columns per task: a packed block of B within B_BLOCK.
    let nc = ((B_BLOCK / kp.max(1)) / NR * NR).clamp(NR, p.div_ceil(NR) * NR);
    let tasks = split_tasks(out, m, p, nc);
    tasks
        .into_par_iter()
        .for_each_init(Vec::new, |buf, (r0, c0, mut rows)| {
            let cols = rows.first().map_or(0, |r| r.len());
            pack_b(b, (k, p), (c0, cols), &shift, buf);
            let mut tile = [[0i32; NR]; MR];
            for (bi, rblock) in rows.chunks_mut(MR).enumerate() {
                let mb = r0 / MR + bi;
                let ablock = a.block(mb);
                for pb in 0..cols.div_ceil(NR) {
                    kernel.tile(
                        kp,
                        ablock,
                        &buf[pb * kp * NR..(pb + 1) * kp * NR],
                        &mut tile,
                    );
                    let (j0, n) = (pb * NR, NR.min(cols - pb * NR));
                    for (i, row) in rblock.iter_mut().enumerate() {
                        emit(mb * MR + i, &tile[i][..n], &mut row[j0..j0 + n]);
                    }
                }
            }
        });
}

/// One task per block of rows and block of `nc` columns of `out` (`m` rows of `p`): the
/// first row, the first column and the task's pieces of its rows. Few column blocks (small
/// images): rows are split too, so every thread has work.
fn split_tasks<T>(out: &mut [T], m: usize, p: usize, nc: usize) -> Vec<Task<'_, T>> {
    let col_blocks = p.div_ceil(nc);
    let row_blocks = m.div_ceil(MR);
    let threads = rayon::current_num_threads();
    // One thread: one task per column block, so B is packed once.
    let groups = if threads == 1 {
        1
    } else {
        (4 * threads).div_ceil(col_blocks).clamp(1, row_blocks)
    };
    let group_rows = row_blocks.div_ceil(groups) * MR;
    let mut tasks = Vec::new();
    for (g, rows) in out.chunks_mut(group_rows * p).enumerate() {
        let mut pieces: Vec<Vec<&mut [T]>> = (0..col_blocks).map(|_| Vec::new()).collect();
        for row in rows.chunks_mut(p) {
            let mut rest = row;
            for piece in &mut pieces {
                let w = nc.min(rest.len());
                let (head, tail) = std::mem::take(&mut rest).split_at_mut(w);
                piece.push(head);
                rest = tail;
            }
        }
        for (cb, rows) in pieces.into_iter().enumerate() {
            tasks.push((g * group_rows, cb * nc, rows));
        }
    }
    tasks
}

/// A GEMM task: first row, first column, and the pieces of its rows.
type Task<'a, T> = (usize, usize, Vec<&'a mut [T]>);

thread_local! {
    /// Each thread's packed block of B for [`gemm8`], kept between calls and runs: a fresh
    /// one per task costs more in page clearing than the packing itself.
    static PACK8: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    /// The calling thread's packed B for a [`gemm8`] whose tasks share it, kept likewise.
    static SHARED8: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Bytes of packed B per task of [`gemm8`] (as [`B_BLOCK`]: 128 KiB).
const B8_BLOCK: usize = 1 << 17;

/// A (weights `w_q − w_zp`, `[m][k]` row-major, each within i8) packed for `vpdpbusd`:
/// `[m / MR][k / 4][MR]` quads of four consecutive k (as one i32 lane, the lowest k in the
/// low byte), zero-padded; and each row's sum, for the zero-point correction.
#[derive(Debug, Clone)]
pub struct PackedA8 {
    pub m: usize,
    pub k: usize,
    kq: usize,
    data: Vec<i32>,
    row_sums: Vec<i32>,
}

impl PackedA8 {
    /// `None` when a value does not fit in i8 (a weight zero point other than 0 can
    /// shift it out).
    pub fn new(a: &[i16], m: usize, k: usize) -> Option<PackedA8> {
        debug_assert_eq!(a.len(), m * k);
        if a.iter().any(|&v| i8::try_from(v).is_err()) {
            return None;
        }
        let kq = k.div_ceil(4);
        let mut data = vec![0i32; m.div_ceil(MR) * kq * MR];
        for r in 0..m {
            let row = &a[r * k..(r + 1) * k];
            for q in 0..kq {
                let b = |j: usize| row.get(4 * q + j).map_or(0u8, |&v| v as i8 as u8);
                data[((r / MR) * kq + q) * MR + r % MR] =
                    i32::from_le_bytes([b(0), b(1), b(2), b(3)]);
            }
        }
        let row_sums = a
            .chunks(k.max(1))
            .map(|r| r.iter().map(|&v| v as i32).sum())
            .collect();
        Some(PackedA8 {
            m,
            k,
            kq,
            data,
            row_sums,
        })
    }

    fn block(&self, mb: usize) -> &[i32] {
        &self.data[mb * self.kq * MR..(mb + 1) * self.kq * MR]
    }
}

/// Bytes of B's columns `c0 .. c0 + cols` packed by [`pack_b8`].
fn packed8_len(k: usize, cols: usize) -> usize {
    cols.div_ceil(NR) * k.div_ceil(4) * NR * 4
}

/// Packs columns `c0 .. c0 + cols` of B (`[k][p]` row-major bytes, each XORed with
/// `flip`) as `[cols / NR][k / 4][NR][4]` bytes (four consecutive k of one column
/// together), into `buf` ([`packed8_len`] bytes), every byte written. Padding columns and k
/// are 0 (A's padding is 0 too). `c0` is a multiple of [`NR`], so a block's panels are the
/// same bytes whether it is packed alone or with the rest of B.
fn pack_b8(b: &[u8], (k, p): (usize, usize), (c0, cols): (usize, usize), flip: u8, buf: &mut [u8]) {
    let kq = k.div_ceil(4);
    let panels = cols.div_ceil(NR);
    let zero = [0u8; NR];
    for q in 0..kq {
        let row = |j: usize| -> &[u8] {
            let r = 4 * q + j;
            if r < k {
                &b[r * p + c0..][..cols]
            } else {
                &zero[..0]
            }
        };
        let rows = [row(0), row(1), row(2), row(3)];
        for pb in 0..panels {
            let dst = &mut buf[(pb * kq + q) * NR * 4..][..NR * 4];
            let j0 = pb * NR;
            let n = NR.min(cols - j0);
            // Whole sixteen-column pieces of full quads take the vector interleave.
            let whole = if rows.iter().all(|r| r.len() == cols) {
                n / 16
            } else {
                0
            };
            for piece in 0..whole {
                let j = j0 + 16 * piece;
                simd::interleave4(
                    [
                        &rows[0][j..j + 16],
                        &rows[1][j..j + 16],
                        &rows[2][j..j + 16],
                        &rows[3][j..j + 16],
                    ],
                    flip,
                    &mut dst[64 * piece..64 * piece + 64],
                );
            }
            // The rest, and the padding (k past the last row, columns past the last).
            for jj in 16 * whole..NR {
                for (t, r) in rows.iter().enumerate() {
                    let v = r.get(j0 + jj).filter(|_| jj < n);
                    dst[jj * 4 + t] = v.map_or(0, |&v| v ^ flip);
                }
            }
        }
    }
}

/// [`gemm`] with 8-bit operands for `vpdpbusd`: B is `[a.k][p]` bytes, unsigned once XORed
/// with `flip` (0x80 turns i8 into u8 + 128), and `zp` is its zero point in that unsigned
/// form. `emit` receives the exact sums `Σ_k A[r][k] · (B[k][c] − zp)`: the kernel sums
/// `A · B` (wrapping i32, exact modulo 2³²) and the row's `zp · Σ_k A[r][k]` is taken off,
/// which leaves the true sum, itself within i32 ([`MAX_K`]).
#[allow(clippy::too_many_arguments)]
pub fn gemm8<T: Send>(
    a: &PackedA8,
    b: &[u8],
    p: usize,
    (flip, zp): (u8, i32),
    out: &mut [T],
    kernel: Kernel,
    emit: impl Fn(usize, &[i32], &mut [T]) + Sync,
) {
    let (m, k, kq) = (a.m, a.k, a.kq);
    assert!(b.len() >= k * p && out.len() == m * p);
    if m == 0 || p == 0 {
        return;
    }
    let nc = ((B8_BLOCK / (4 * kq).max(1)) / NR * NR).clamp(NR, p.div_ceil(NR) * NR);
    let tasks = split_tasks(out, m, p, nc);
    let ctx = Ctx8 {
        a,
        zp,
        vnni: kernel == Kernel::Avx512Vnni && simd::avx512vnni(),
    };
    let run = |panels: &[u8], task: Task<'_, T>| {
        if ctx.vnni {
            simd::task8_avx512vnni(&ctx, panels, task, &emit)
        } else {
            task8(&ctx, panels, task, &emit)
        }
    };
    // Each task packs its own block of B, into its thread's buffer.
    let pack_and_run = |buf: &mut Vec<u8>, task: Task<'_, T>| {
        let (c0, cols) = (task.1, task.2.first().map_or(0, |r| r.len()));
        buf.resize(packed8_len(k, cols), 0);
        pack_b8(b, (k, p), (c0, cols), flip, buf);
        run(buf, task)
    };
    let col_blocks = p.div_ceil(nc);
    if tasks.len() == 1 || rayon::current_num_threads() == 1 {
        PACK8.with(|cell| match cell.try_borrow_mut() {
            Ok(mut buf) => tasks.into_iter().for_each(|t| pack_and_run(&mut buf, t)),
            Err(_) => tasks
                .into_iter()
                .for_each(|t| pack_and_run(&mut Vec::new(), t)),
        });
    } else if tasks.len() > col_blocks {
        // Rows are split too (a small image): the tasks of a column block would each pack
        // the same block. B is packed once instead, its panels in parallel, and shared.
        let with_shared = |shared: &mut Vec<u8>| {
            let panel = packed8_len(k, NR);
            shared.resize(packed8_len(k, p), 0);
            shared
                .par_chunks_mut(panel)
                .enumerate()
                .for_each(|(j, dst)| pack_b8(b, (k, p), (j * NR, NR.min(p - j * NR)), flip, dst));
            tasks.into_par_iter().for_each(|t| {
                let (c0, cols) = (t.1, t.2.first().map_or(0, |r| r.len()));
                let first = c0 / NR * panel;
                run(&shared[first..first + packed8_len(k, cols)], t)
            });
        };
        SHARED8.with(|cell| match cell.try_borrow_mut() {
            Ok(mut shared) => with_shared(&mut shared),
            Err(_) => with_shared(&mut Vec::new()),
        });
    } else {
        tasks.into_par_iter().for_each(|t| {
            PACK8.with(|cell| match cell.try_borrow_mut() {
                Ok(mut buf) => pack_and_run(&mut buf, t),
                Err(_) => pack_and_run(&mut Vec::new(), t),
            })
        });
    }
}

/// What every task of one [`gemm8`] reads.
struct Ctx8<'a> {
    a: &'a PackedA8,
    zp: i32,
    vnni: bool,
}

/// One task of [`gemm8`]: computes and emits its tiles from its block of B, packed
/// ([`pack_b8`]) into `buf`.
#[inline(always)]
fn task8<T>(
    ctx: &Ctx8<'_>,
    buf: &[u8],
    (r0, _, mut rows): Task<'_, T>,
    emit: &impl Fn(usize, &[i32], &mut [T]),
) {
    let a = ctx.a;
    let kq = a.kq;
    let cols = rows.first().map_or(0, |r| r.len());
    let mut tile = [[0i32; NR]; MR];
    for (bi, rblock) in rows.chunks_mut(MR).enumerate() {
        let mb = r0 / MR + bi;
        let ablock = a.block(mb);
        for pb in 0..cols.div_ceil(NR) {
            let panel = &buf[pb * kq * NR * 4..(pb + 1) * kq * NR * 4];
            if ctx.vnni {
                simd::tile8_avx512vnni(kq, ablock, panel, &mut tile)
            } else {
                tile8_portable(kq, ablock, panel, &mut tile)
            }
            let (j0, n) = (pb * NR, NR.min(cols - pb * NR));
            for (i, row) in rblock.iter_mut().enumerate() {
                let r = mb * MR + i;
                let corr = ctx.zp.wrapping_mul(a.row_sums[r]);
                let mut sums = [0i32; NR];
                for (s, &t) in sums.iter_mut().zip(&tile[i]) {
                    *s = t.wrapping_sub(corr);
                }
                emit(r, &sums[..n], &mut row[j0..j0 + n]);
            }
        }
    }
}

/// One `MR × NR` tile of [`gemm8`]: `a` a packed A block, `b` a packed B panel, `kq`
/// quads deep; wrapping i32 sums.
fn tile8_portable(kq: usize, a: &[i32], b: &[u8], out: &mut [[i32; NR]; MR]) {
    *out = [[0; NR]; MR];
    for q in 0..kq {
        let bs = &b[q * NR * 4..(q + 1) * NR * 4];
        for (i, row) in out.iter_mut().enumerate() {
            let w = a[q * MR + i].to_le_bytes();
            for (o, quad) in row.iter_mut().zip(bs.chunks_exact(4)) {
                let mut s = 0i32;
                for t in 0..4 {
                    s += quad[t] as i32 * w[t] as i8 as i32;
                }
                *o = o.wrapping_add(s);
            }
        }
    }
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

    /// Twelve accumulators (six rows of two registers): enough independent `vpdpwssd`s to
    /// cover the instruction's latency.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,avx512vnni")]
    unsafe fn tile_avx512vnni_impl(
        kp: usize,
        a: *const i32,
        b: *const i32,
        out: &mut [[i32; NR]; MR],
    ) {
        use std::arch::x86_64::*;
        let z = _mm512_setzero_si512();
        let mut acc = [[z; 2]; MR];
        for kk in 0..kp {
            // SAFETY (all loads): kk < kp, so kk * NR + 32 ≤ kp * NR and kk * MR + i < kp * MR.
            let b0 = unsafe { _mm512_loadu_si512(b.add(kk * NR) as *const __m512i) };
            let b1 = unsafe { _mm512_loadu_si512(b.add(kk * NR + 16) as *const __m512i) };
            for (i, acc) in acc.iter_mut().enumerate() {
                let av = _mm512_set1_epi32(unsafe { *a.add(kk * MR + i) });
                acc[0] = _mm512_dpwssd_epi32(acc[0], av, b0);
                acc[1] = _mm512_dpwssd_epi32(acc[1], av, b1);
            }
        }
        for (row, acc) in out.iter_mut().zip(acc) {
            // SAFETY: each row holds NR = 32 i32s; the two stores write 16 each.
            unsafe {
                _mm512_storeu_si512(row.as_mut_ptr() as *mut __m512i, acc[0]);
                _mm512_storeu_si512(row.as_mut_ptr().add(16) as *mut __m512i, acc[1]);
            }
        }
    }

    /// Four rows of sixteen bytes, each XORed with `flip`, interleaved into sixteen quads
    /// (`dst[4j + t] = rows[t][j] ^ flip`).
    pub fn interleave4(rows: [&[u8]; 4], flip: u8, dst: &mut [u8]) {
        assert!(rows.iter().all(|r| r.len() >= 16) && dst.len() >= 64);
        #[cfg(target_arch = "x86_64")]
        {
            use std::arch::x86_64::*;
            // SAFETY: SSE2 is part of x86-64; each load reads the 16 bytes of a row and the
            // stores write dst[..64] (lengths asserted above).
            unsafe {
                let f = _mm_set1_epi8(flip as i8);
                let ld = |r: &[u8]| _mm_xor_si128(_mm_loadu_si128(r.as_ptr() as *const __m128i), f);
                let (r0, r1, r2, r3) = (ld(rows[0]), ld(rows[1]), ld(rows[2]), ld(rows[3]));
                let (lo01, lo23) = (_mm_unpacklo_epi8(r0, r1), _mm_unpacklo_epi8(r2, r3));
                let (hi01, hi23) = (_mm_unpackhi_epi8(r0, r1), _mm_unpackhi_epi8(r2, r3));
                let d = dst.as_mut_ptr() as *mut __m128i;
                _mm_storeu_si128(d, _mm_unpacklo_epi16(lo01, lo23));
                _mm_storeu_si128(d.add(1), _mm_unpackhi_epi16(lo01, lo23));
                _mm_storeu_si128(d.add(2), _mm_unpacklo_epi16(hi01, hi23));
                _mm_storeu_si128(d.add(3), _mm_unpackhi_epi16(hi01, hi23));
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        for j in 0..16 {
            for t in 0..4 {
                dst[4 * j + t] = rows[t][j] ^ flip;
            }
        }
    }

    #[cfg(target_arch = "x86_64")]
    pub fn tile8_avx512vnni(kq: usize, a: &[i32], b: &[u8], out: &mut [[i32; NR]; MR]) {
        assert!(avx512vnni() && a.len() >= kq * MR && b.len() >= kq * NR * 4);
        // SAFETY: AVX-512F and VNNI are present (checked above) and every read stays inside
        // `a[..kq * MR]` and `b[..kq * NR * 4]` (asserted above).
        unsafe { tile8_avx512vnni_impl(kq, a.as_ptr(), b.as_ptr(), out) }
    }

    #[cfg(not(target_arch = "x86_64"))]
    pub fn tile8_avx512vnni(kq: usize, a: &[i32], b: &[u8], out: &mut [[i32; NR]; MR]) {
        super::tile8_portable(kq, a, b, out)
    }

    /// [`tile_avx512vnni_impl`] with `vpdpbusd`: four k steps (u8 × i8) a lane.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,avx512vnni")]
    unsafe fn tile8_avx512vnni_impl(
        kq: usize,
        a: *const i32,
        b: *const u8,
        out: &mut [[i32; NR]; MR],
    ) {
        use std::arch::x86_64::*;
        let z = _mm512_setzero_si512();
        let mut acc = [[z; 2]; MR];
        for q in 0..kq {
            // SAFETY (all loads): q < kq, so q * 128 + 128 ≤ kq * NR * 4 and
            // q * MR + i < kq * MR.
            let b0 = unsafe { _mm512_loadu_si512(b.add(q * NR * 4) as *const __m512i) };
            let b1 = unsafe { _mm512_loadu_si512(b.add(q * NR * 4 + 64) as *const __m512i) };
            for (i, acc) in acc.iter_mut().enumerate() {
                let av = _mm512_set1_epi32(unsafe { *a.add(q * MR + i) });
                acc[0] = _mm512_dpbusd_epi32(acc[0], b0, av);
                acc[1] = _mm512_dpbusd_epi32(acc[1], b1, av);
            }
        }
        for (row, acc) in out.iter_mut().zip(acc) {
            // SAFETY: each row holds NR = 32 i32s; the two stores write 16 each.
            unsafe {
                _mm512_storeu_si512(row.as_mut_ptr() as *mut __m512i, acc[0]);
                _mm512_storeu_si512(row.as_mut_ptr().add(16) as *mut __m512i, acc[1]);
            }
        }
    }

    /// [`super::task8`] compiled for AVX-512 with VNNI (the epilogue vectorizes sixteen
    /// lanes wide and the tile kernel inlines), after checking the CPU has it.
    pub(super) fn task8_avx512vnni<T>(
        ctx: &super::Ctx8<'_>,
        buf: &[u8],
        task: super::Task<'_, T>,
        emit: &impl Fn(usize, &[i32], &mut [T]),
    ) {
        #[cfg(target_arch = "x86_64")]
        if avx512vnni() {
            // SAFETY: the CPU has AVX-512F and VNNI, the features the function is compiled for.
            unsafe { task8_impl(ctx, buf, task, emit) };
            return;
        }
        super::task8(ctx, buf, task, emit)
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,avx512vnni")]
    fn task8_impl<T>(
        ctx: &super::Ctx8<'_>,
        buf: &[u8],
        task: super::Task<'_, T>,
        emit: &impl Fn(usize, &[i32], &mut [T]),
    ) {
        super::task8(ctx, buf, task, emit)
    }

    /// The bytes of an i8 slice.
    pub fn i8_bytes(v: &[i8]) -> &[u8] {
        // SAFETY: i8 and u8 have the same size and alignment and every bit pattern is valid
        // for both; the slice borrows `v`.
        unsafe { std::slice::from_raw_parts(v.as_ptr() as *const u8, v.len()) }
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

    /// The tile in two halves of sixteen columns (twelve of the sixteen registers hold
    /// accumulators).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn tile_avx2_impl(kp: usize, a: *const i32, b: *const i32, out: &mut [[i32; NR]; MR]) {
        use std::arch::x86_64::*;
        for half in 0..2 {
            let z = _mm256_setzero_si256();
            let mut acc = [[z; 2]; MR];
            for kk in 0..kp {
                // SAFETY (all loads): kk < kp and half ≤ 1, so kk * NR + 16 · half + 16 ≤
                // kp * NR, and kk * MR + i < kp * MR.
                let bp = unsafe { b.add(kk * NR + 16 * half) };
                let b0 = unsafe { _mm256_loadu_si256(bp as *const __m256i) };
                let b1 = unsafe { _mm256_loadu_si256(bp.add(8) as *const __m256i) };
                for (i, acc) in acc.iter_mut().enumerate() {
                    let av = _mm256_set1_epi32(unsafe { *a.add(kk * MR + i) });
                    acc[0] = _mm256_add_epi32(acc[0], _mm256_madd_epi16(av, b0));
                    acc[1] = _mm256_add_epi32(acc[1], _mm256_madd_epi16(av, b1));
                }
            }
            for (row, acc) in out.iter_mut().zip(acc) {
                // SAFETY: each row holds NR = 32 i32s; the stores write 8 each at 16 · half
                // and 16 · half + 8.
                unsafe {
                    let dst = row.as_mut_ptr().add(16 * half);
                    _mm256_storeu_si256(dst as *mut __m256i, acc[0]);
                    _mm256_storeu_si256(dst.add(8) as *mut __m256i, acc[1]);
                }
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
    fn every_kernel_and_thread_count_equals_the_plain_triple_loop_bit_for_bit() {
        let mut seed = 7;
        // Odd sizes exercise the padding of every block, panel and k pair; the extremes of
        // the range (±255 everywhere) the largest sums; the wide ones several column
        // blocks per task split.
        for &(m, k, p, extreme) in &[
            (1, 1, 1, false),
            (7, 9, 17, false),
            (13, 33, 50, false),
            (6, 960, 16, true),
            (20, 27, 3, true),
            (9, 300, 700, false),
            (25, 2, 3000, false),
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
            // B as unsigned bytes with zero point 128: the packing's shift is exercised.
            let bm: Vec<u8> = (0..k * p)
                .map(|_| {
                    if extreme {
                        0
                    } else {
                        (val(&mut seed) / 2 + 128) as u8
                    }
                })
                .collect();
            let want: Vec<i32> = (0..m * p)
                .map(|i| {
                    let (r, c) = (i / p, i % p);
                    (0..k)
                        .map(|j| a[r * k + j] as i32 * (bm[j * p + c] as i32 - 128))
                        .sum()
                })
                .collect();
            let pa = PackedA::new(&a, m, k);
            for kernel in Kernel::available() {
                for threads in [1, 2] {
                    let pool = rayon::ThreadPoolBuilder::new()
                        .num_threads(threads)
                        .build()
                        .unwrap();
                    let mut out = vec![0i32; m * p];
                    pool.install(|| {
                        gemm(
                            &pa,
                            &bm,
                            p,
                            |v| v as i16 - 128,
                            &mut out,
                            kernel,
                            |_, s, o| o.copy_from_slice(s),
                        )
                    });
                    assert_eq!(out, want, "{kernel:?} {threads} threads m={m} k={k} p={p}");
                }
            }
        }
    }

    #[test]
    fn gemm8_on_every_kernel_and_thread_count_equals_the_plain_triple_loop_bit_for_bit() {
        let mut seed = 9;
        // i8 weights (the extremes −128 and 127 too); B as u8 with zero point 131, or as
        // i8 flipped to u8 (zero point −5 + 128); odd sizes pad every quad and panel; wide
        // ones split columns into tasks.
        for &(m, k, p, extreme) in &[
            (1, 1, 1, false),
            (7, 9, 17, false),
            (13, 35, 50, false),
            (6, 960, 16, true),
            (20, 27, 3, true),
            (9, 300, 700, false),
            (25, 2, 3000, false),
        ] {
            let a: Vec<i16> = (0..m * k)
                .map(|i| match (extreme, i % 3) {
                    (true, 0) => -128,
                    (true, _) => 127,
                    _ => val(&mut seed) / 2,
                })
                .collect();
            let bu: Vec<u8> = (0..k * p)
                .map(|_| {
                    if extreme {
                        0
                    } else {
                        (val(&mut seed) / 2 + 128) as u8
                    }
                })
                .collect();
            for flip in [0u8, 0x80] {
                // The values B holds: u8 (zero point 131), or i8 bits (zero point −5).
                let (value, zp_u): (Box<dyn Fn(u8) -> i32>, i32) = if flip == 0 {
                    (Box::new(|v| v as i32 - 131), 131)
                } else {
                    (Box::new(|v| v as i8 as i32 + 5), 123)
                };
                let want: Vec<i32> = (0..m * p)
                    .map(|i| {
                        let (r, c) = (i / p, i % p);
                        (0..k)
                            .map(|j| a[r * k + j] as i32 * value(bu[j * p + c]))
                            .sum()
                    })
                    .collect();
                let pa = PackedA8::new(&a, m, k).unwrap();
                for kernel in Kernel::available() {
                    for threads in [1, 2] {
                        let pool = rayon::ThreadPoolBuilder::new()
                            .num_threads(threads)
                            .build()
                            .unwrap();
                        let mut out = vec![0i32; m * p];
                        pool.install(|| {
                            gemm8(&pa, &bu, p, (flip, zp_u), &mut out, kernel, |_, s, o| {
                                o.copy_from_slice(s)
                            })
                        });
                        assert_eq!(
                            out, want,
                            "{kernel:?} {threads} threads m={m} k={k} p={p} flip={flip}"
                        );
                    }
                }
            }
        }
        // A weight outside i8 is refused.
        assert!(PackedA8::new(&[128], 1, 1).is_none());
    }
}
