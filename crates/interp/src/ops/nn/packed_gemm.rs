//! f32 products `out = W · X`: Conv's 1×1 and im2col paths (W its weight) and MatMul (W
//! the left operand).
//!
//! Both operands are read in place. W is read in panels of [`MR`] rows, one broadcast
//! value at a time, with any strides. This kernel first kept a copy of each Conv weight
//! packed in panels: that copy was at most about 5% faster on MobileNetV2 (within this
//! host's noise) and, as a second copy of every weight, took ResNet-50's `run` from 137 to
//! 222 MiB, over the 153 MiB bound. X is read in place (rows of positions, any row stride),
//! 16 (AVX-512) or 8 (AVX2 + FMA) positions per vector, the ragged last vector masked, so
//! no copy of X is made and a 7×7 plane costs four vectors, not a packing pass. The bias,
//! a fused BatchNormalization (`x * a + b`, a product then a sum, as its own kernel
//! computes it) and a Relu or Clip are applied to the accumulators before the one store;
//! a SiLU right after it, on the stored block while it is in cache.
//!
//! The gemm crate's call repacked both operands on every run and wrote the product to
//! memory before a separate pass added the bias and the activation: on MobileNetV2's 1×1
//! convolutions it reached a third of onnxruntime's rate at 7×7 and 14×14.
//!
//! Each output element is one fused multiply-add chain over k in order, in depth blocks of
//! [`KC`] fixed by the shape (a block's partial sum is stored and reloaded), so the result
//! depends neither on the thread count nor on how the work is split into tasks.

use ndarray::{ArrayView2, ArrayViewMut2};
use rayon::prelude::*;

use crate::plan::{Act, Affine};

/// Weight rows per panel (rows of the micro-kernel's output tile).
pub(crate) const MR: usize = 6;
/// Depth of one block: a 64-position strip of X over this depth (128 KB) stays in L2
/// while every panel passes over it.
const KC: usize = 512;
/// Multiply-adds per parallel task, at least.
const TASK_WORK: usize = 1 << 18;

/// The left operand as the kernel reads it: element (row `p · MR + i`, depth `kk`) at
/// `ptr + p · panel_stride + i · rs + kk · ks`.
#[derive(Clone, Copy)]
struct Lhs {
    ptr: *const f32,
    m: usize,
    k: usize,
    panel_stride: usize,
    rs: usize,
    ks: usize,
}

/// The kernel's view of `w` (`m × k`, non-negative strides; panics otherwise).
fn lhs_of(w: &ArrayView2<'_, f32>) -> Lhs {
    let (m, k) = w.dim();
    assert!(
        w.strides().iter().all(|&s| s >= 0),
        "packed gemm: negative strides {:?}",
        w.strides()
    );
    let (rs, ks) = (w.strides()[0] as usize, w.strides()[1] as usize);
    Lhs {
        ptr: w.as_ptr(),
        m,
        k,
        panel_stride: MR * rs,
        rs,
        ks,
    }
}

/// What is applied to output row `r` (channel `ch0 + r`) before it is stored.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Epilogue<'a> {
    /// Per channel, added first.
    pub bias: Option<&'a [f32]>,
    /// Per position (column), added next: a MatMul's bias, `MatMul → Add(b)` with `b` one
    /// value per output column.
    pub col_bias: Option<&'a [f32]>,
    /// A fused BatchNormalization, per channel.
    pub affine: Option<&'a Affine>,
    pub act: Option<Act>,
    /// The channel of row 0.
    pub ch0: usize,
}

/// Whether this CPU has a kernel here (AVX-512F, or AVX2 with FMA); callers keep another
/// path for the rest.
pub(crate) fn available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx512f")
            || (std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma"))
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// The operands of one product, as raw parts the tasks share: `x` is `w.depth()` rows of
/// `n` positions (row `i` at `x + i · x_rs`), `out` is `w.rows()` rows of `n` (row `r` at
/// `out + r · out_rs`), both with unit column stride.
#[derive(Clone, Copy)]
struct Operands<'a> {
    w: Lhs,
    /// The storage `w` points into.
    _w: std::marker::PhantomData<&'a f32>,
    x: *const f32,
    x_rs: usize,
    /// X packed ([`PackedX`]): strip `s` starts at `x + s · x_strip`, its rows `x_rs` (the
    /// strip's width) apart; `0` when X is read in place.
    x_strip: usize,
    n: usize,
    out: *mut f32,
    out_rs: usize,
}

impl Operands<'_> {
    /// X at depth `kk` and position `c`, where `c` starts a strip of `strip` positions (the
    /// kernel's, which is the width a [`PackedX`] was packed at).
    ///
    /// # Safety
    /// `kk` and `c` lie inside X.
    #[allow(unsafe_code)]
    unsafe fn x_at(&self, kk: usize, c: usize, strip: usize) -> *const f32 {
        if self.x_strip == 0 {
            self.x.add(kk * self.x_rs + c)
        } else {
            debug_assert!(c.is_multiple_of(strip) && self.x_rs == strip);
            self.x.add(c / strip * self.x_strip + kk * self.x_rs)
        }
    }
}
// SAFETY: made only from a shared X view and an exclusive output view (`operands`); the
// tasks of `product` read X and write disjoint output elements.
#[allow(unsafe_code)]
unsafe impl Send for Operands<'_> {}
#[allow(unsafe_code)]
unsafe impl Sync for Operands<'_> {}

/// The raw parts of `x` (`w.k × n`) and `out` (`w.m × n`); panics when the shapes differ
/// or a row is not contiguous.
fn operands<'a>(w: Lhs, x: &ArrayView2<'_, f32>, out: &mut ArrayViewMut2<'_, f32>) -> Operands<'a> {
    let n = out.dim().1;
    assert!(
        x.dim() == (w.k, n) && out.dim().0 == w.m,
        "packed gemm: {}×{} weight · {:?} -> {:?}",
        w.m,
        w.k,
        x.dim(),
        out.dim()
    );
    let unit = |d: (usize, usize), st: &[isize]| d.0 <= 1 || d.1 <= 1 || st[1] == 1;
    let stride = |d: (usize, usize), st: &[isize]| if d.0 <= 1 { d.1 } else { st[0] as usize };
    assert!(
        unit(x.dim(), x.strides()) && unit(out.dim(), out.strides()),
        "packed gemm: rows must be contiguous ({:?}, {:?})",
        x.strides(),
        out.strides()
    );
    assert!(
        (x.dim().0 <= 1 || x.strides()[0] >= n as isize)
            && (out.dim().0 <= 1 || out.strides()[0] >= n as isize),
        "packed gemm: rows overlap ({:?}, {:?})",
        x.strides(),
        out.strides()
    );
    Operands {
        w,
        _w: std::marker::PhantomData,
        x: x.as_ptr(),
        x_rs: stride(x.dim(), x.strides()),
        x_strip: 0,
        n,
        out: out.as_mut_ptr(),
        out_rs: stride(out.dim(), out.strides()),
    }
}

/// `out = epilogue(w · x)` on the rayon pool, in tasks of panels × position strips.
/// Panics if [`available`] is false or the shapes differ.
pub(crate) fn product(
    w: ArrayView2<'_, f32>,
    x: ArrayView2<'_, f32>,
    epi: &Epilogue<'_>,
    mut out: ArrayViewMut2<'_, f32>,
) {
    let ops = operands(lhs_of(&w), &x, &mut out);
    product_on(ops, epi);
}

/// Whether [`mat_mul`] serves `a · b -> c`: a CPU with a kernel here, rows of `b` and `c`
/// contiguous, and at least a panel of rows and a vector of columns (a matrix-vector
/// product would use a sixth of the kernel or less, where the gemm crate's does better).
pub(crate) fn serves(
    a: &ArrayView2<'_, f32>,
    b: &ArrayView2<'_, f32>,
    c: &ArrayViewMut2<'_, f32>,
) -> bool {
    let (m, k) = a.dim();
    let n = b.dim().1;
    let rows_contiguous = |d: (usize, usize), st: &[isize]| {
        (d.1 <= 1 || st[1] == 1) && (d.0 <= 1 || st[0] >= d.1 as isize)
    };
    available()
        && m >= MR
        && n >= 16
        && k >= 1
        && b.dim().0 == k
        && c.dim() == (m, n)
        && a.strides().iter().all(|&s| s >= 0)
        && rows_contiguous(b.dim(), b.strides())
        && rows_contiguous(c.dim(), c.strides())
}

/// `c = a · b` for operands [`serves`] accepts, with `a` read in place (any non-negative
/// strides), on the rayon pool; the same bits on any number of threads.
pub(crate) fn mat_mul(a: ArrayView2<'_, f32>, b: ArrayView2<'_, f32>, c: ArrayViewMut2<'_, f32>) {
    assert!(
        serves(&a, &b, &c),
        "packed gemm: {:?} · {:?} -> {:?} not served",
        a.dim(),
        b.dim(),
        c.dim()
    );
    product(a, b, &Epilogue::default(), c);
}

fn product_on(ops: Operands<'_>, epi: &Epilogue<'_>) {
    let w = ops.w;
    let (m, k, n) = (w.m, w.k, ops.n);
    if m == 0 || n == 0 {
        return;
    }
    let strip = strip_len();
    let strips = n.div_ceil(strip);
    let panels = m.div_ceil(MR);
    // Panels per task: enough multiply-adds to be worth a task.
    let per_panel = (MR * k.max(1) * strip.min(n)).max(1);
    let group = TASK_WORK.div_ceil(per_panel).clamp(1, panels);
    let groups = panels.div_ceil(group);
    (0..strips * groups).into_par_iter().for_each(|t| {
        let (s, g) = (t / groups, t % groups);
        let p0 = g * group;
        let p1 = (p0 + group).min(panels);
        let c0 = s * strip;
        let c1 = (c0 + strip).min(n);
        // SAFETY: `operands` checked the views; this task writes the rows of panels
        // p0..p1 at positions c0..c1 only, which no other task writes.
        #[allow(unsafe_code)]
        unsafe {
            block(&ops, epi, p0..p1, c0..c1)
        };
    });
}

/// A right operand (`k × n`) packed once for many products, as a MatMul's constant weight
/// is: the positions in strips of the kernel's width, each strip's `k` rows contiguous (the
/// last strip padded with zeros). Read in place, a weight with rows 1 or 4 KB apart kept the
/// kernel's loads in a few cache sets and a new page on every row, and a transformer's
/// MatMuls ran 25–40% slower than on the same weight packed; the products are the same bits.
pub(crate) struct PackedX {
    data: Vec<f32>,
    k: usize,
    n: usize,
    strip: usize,
}

impl PackedX {
    /// `x` packed for this CPU's kernel ([`available`] must be true).
    pub(crate) fn new(x: ArrayView2<'_, f32>) -> PackedX {
        let (k, n) = x.dim();
        let strip = strip_len();
        let strips = n.div_ceil(strip);
        let mut data = vec![0f32; strips * k * strip];
        if k > 0 {
            for (s, block) in data.chunks_exact_mut(k * strip).enumerate() {
                let c0 = s * strip;
                let c1 = (c0 + strip).min(n);
                for (row, src) in block.chunks_exact_mut(strip).zip(x.rows()) {
                    for (d, &v) in row.iter_mut().zip(src.slice(ndarray::s![c0..c1])) {
                        *d = v;
                    }
                }
            }
        }
        PackedX { data, k, n, strip }
    }

    /// `(k, n)`, the shape of the operand packed.
    pub(crate) fn dim(&self) -> (usize, usize) {
        (self.k, self.n)
    }
}

/// [`product`] with X packed once ([`PackedX`]); the same bits as with X read in place.
/// Panics if the shapes differ.
pub(crate) fn product_packed(
    w: ArrayView2<'_, f32>,
    x: &PackedX,
    epi: &Epilogue<'_>,
    mut out: ArrayViewMut2<'_, f32>,
) {
    let (k, n) = x.dim();
    // `operands` checks the shapes and the output's strides; a view of X's shape over the
    // packed data (long enough: the strips hold at least k · n) stands in for X, whose
    // strips the kernel then reads where they are.
    let shape = ArrayView2::from_shape((k, n), &x.data[..k * n]).expect("k · n packed values");
    let mut ops = operands(lhs_of(&w), &shape, &mut out);
    ops.x = x.data.as_ptr();
    ops.x_rs = x.strip;
    ops.x_strip = x.strip * k;
    product_on(ops, epi);
}

/// [`product`] on the calling thread (for a caller that makes its own tasks).
pub(crate) fn product_serial(
    w: ArrayView2<'_, f32>,
    x: ArrayView2<'_, f32>,
    epi: &Epilogue<'_>,
    mut out: ArrayViewMut2<'_, f32>,
) {
    let ops = operands(lhs_of(&w), &x, &mut out);
    // SAFETY: `operands` checked the views, and `out` is borrowed exclusively here.
    #[allow(unsafe_code)]
    unsafe {
        block(&ops, epi, 0..ops.w.m.div_ceil(MR), 0..ops.n)
    };
}

/// Positions per micro-kernel strip on this CPU.
#[cfg(target_arch = "x86_64")]
fn strip_len() -> usize {
    use x86::Isa;
    if std::arch::is_x86_feature_detected!("avx512f") {
        x86::Avx512::L * x86::Avx512::NV
    } else {
        x86::Avx2::L * x86::Avx2::NV
    }
}

#[cfg(not(target_arch = "x86_64"))]
fn strip_len() -> usize {
    64
}

/// [`product_serial`] with the AVX2 kernel, on a CPU that also has AVX-512 (so the tests
/// check both); `false` without AVX2 and FMA.
#[cfg(test)]
fn product_serial_avx2(
    w: ArrayView2<'_, f32>,
    x: ArrayView2<'_, f32>,
    epi: &Epilogue<'_>,
    mut out: ArrayViewMut2<'_, f32>,
) -> bool {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
        let ops = operands(lhs_of(&w), &x, &mut out);
        // SAFETY: the CPU has AVX2 and FMA; `operands` checked the views, and `out` is
        // borrowed exclusively here.
        #[allow(unsafe_code)]
        unsafe {
            x86::block_avx2(&ops, epi, 0..ops.w.m.div_ceil(MR), 0..ops.n)
        };
        return true;
    }
    false
}

/// Computes the rows of panels `panels` at positions `cols`.
///
/// # Safety
/// `ops` came from `operands`, `panels` and `cols` lie inside its shape, and no other
/// thread reads or writes those output elements meanwhile.
#[allow(unsafe_code)]
unsafe fn block(
    ops: &Operands<'_>,
    epi: &Epilogue<'_>,
    panels: std::ops::Range<usize>,
    cols: std::ops::Range<usize>,
) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            return x86::block_avx512(ops, epi, panels, cols);
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            return x86::block_avx2(ops, epi, panels, cols);
        }
    }
    panic!("packed gemm: no AVX-512F or AVX2+FMA on this CPU (check `available` first)");
}

#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
mod x86 {
    use std::arch::x86_64::*;

    use super::{Epilogue, Operands, KC, MR};
    use crate::plan::Act;

    /// One vector ISA: the few operations the micro-kernel needs.
    pub(super) trait Isa {
        type V: Copy;
        type M: Copy;
        /// Lanes per vector.
        const L: usize;
        /// Vectors per micro-kernel row (the strip is `L · NV` positions).
        const NV: usize;
        /// The first `n` lanes (1..=L).
        unsafe fn mask(n: usize) -> Self::M;
        unsafe fn zero() -> Self::V;
        unsafe fn splat(x: f32) -> Self::V;
        unsafe fn load(p: *const f32, m: Self::M) -> Self::V;
        unsafe fn store(p: *mut f32, m: Self::M, v: Self::V);
        /// `a · b + c`, rounded once.
        unsafe fn fma(a: Self::V, b: Self::V, c: Self::V) -> Self::V;
        unsafe fn add(a: Self::V, b: Self::V) -> Self::V;
        unsafe fn mul(a: Self::V, b: Self::V) -> Self::V;
        /// x86 `max`: `b` when either is NaN.
        unsafe fn max(a: Self::V, b: Self::V) -> Self::V;
        /// x86 `min`: `b` when either is NaN.
        unsafe fn min(a: Self::V, b: Self::V) -> Self::V;
    }

    pub(super) struct Avx512;
    impl Isa for Avx512 {
        type V = __m512;
        type M = __mmask16;
        const L: usize = 16;
        const NV: usize = 4;
        #[inline(always)]
        unsafe fn mask(n: usize) -> __mmask16 {
            ((1u32 << n) - 1) as u16
        }
        #[inline(always)]
        unsafe fn zero() -> __m512 {
            _mm512_setzero_ps()
        }
        #[inline(always)]
        unsafe fn splat(x: f32) -> __m512 {
            _mm512_set1_ps(x)
        }
        #[inline(always)]
        unsafe fn load(p: *const f32, m: __mmask16) -> __m512 {
            _mm512_maskz_loadu_ps(m, p)
        }
        #[inline(always)]
        unsafe fn store(p: *mut f32, m: __mmask16, v: __m512) {
            _mm512_mask_storeu_ps(p, m, v)
        }
        #[inline(always)]
        unsafe fn fma(a: __m512, b: __m512, c: __m512) -> __m512 {
            _mm512_fmadd_ps(a, b, c)
        }
        #[inline(always)]
        unsafe fn add(a: __m512, b: __m512) -> __m512 {
            _mm512_add_ps(a, b)
        }
        #[inline(always)]
        unsafe fn mul(a: __m512, b: __m512) -> __m512 {
            _mm512_mul_ps(a, b)
        }
        #[inline(always)]
        unsafe fn max(a: __m512, b: __m512) -> __m512 {
            _mm512_max_ps(a, b)
        }
        #[inline(always)]
        unsafe fn min(a: __m512, b: __m512) -> __m512 {
            _mm512_min_ps(a, b)
        }
    }

    pub(super) struct Avx2;
    impl Isa for Avx2 {
        type V = __m256;
        type M = __m256i;
        const L: usize = 8;
        const NV: usize = 2;
        #[inline(always)]
        unsafe fn mask(n: usize) -> __m256i {
            _mm256_cmpgt_epi32(
                _mm256_set1_epi32(n as i32),
                _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7),
            )
        }
        #[inline(always)]
        unsafe fn zero() -> __m256 {
            _mm256_setzero_ps()
        }
        #[inline(always)]
        unsafe fn splat(x: f32) -> __m256 {
            _mm256_set1_ps(x)
        }
        #[inline(always)]
        unsafe fn load(p: *const f32, m: __m256i) -> __m256 {
            _mm256_maskload_ps(p, m)
        }
        #[inline(always)]
        unsafe fn store(p: *mut f32, m: __m256i, v: __m256) {
            _mm256_maskstore_ps(p, m, v)
        }
        #[inline(always)]
        unsafe fn fma(a: __m256, b: __m256, c: __m256) -> __m256 {
            _mm256_fmadd_ps(a, b, c)
        }
        #[inline(always)]
        unsafe fn add(a: __m256, b: __m256) -> __m256 {
            _mm256_add_ps(a, b)
        }
        #[inline(always)]
        unsafe fn mul(a: __m256, b: __m256) -> __m256 {
            _mm256_mul_ps(a, b)
        }
        #[inline(always)]
        unsafe fn max(a: __m256, b: __m256) -> __m256 {
            _mm256_max_ps(a, b)
        }
        #[inline(always)]
        unsafe fn min(a: __m256, b: __m256) -> __m256 {
            _mm256_min_ps(a, b)
        }
    }

    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn block_avx512(
        ops: &Operands<'_>,
        epi: &Epilogue<'_>,
        panels: std::ops::Range<usize>,
        cols: std::ops::Range<usize>,
    ) {
        block_on::<Avx512>(ops, epi, panels, cols)
    }

    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn block_avx2(
        ops: &Operands<'_>,
        epi: &Epilogue<'_>,
        panels: std::ops::Range<usize>,
        cols: std::ops::Range<usize>,
    ) {
        block_on::<Avx2>(ops, epi, panels, cols)
    }

    /// The strips of `cols`, each in depth blocks, each block over every panel.
    #[inline(always)]
    unsafe fn block_on<S: Isa>(
        ops: &Operands<'_>,
        epi: &Epilogue<'_>,
        panels: std::ops::Range<usize>,
        cols: std::ops::Range<usize>,
    ) {
        let (m, k) = (ops.w.m, ops.w.k);
        let strip = S::L * S::NV;
        let mut c0 = cols.start;
        while c0 < cols.end {
            let width = (cols.end - c0).min(strip);
            let mut k0 = 0;
            loop {
                let k1 = (k0 + KC).min(k);
                let first = k0 == 0;
                let last = k1 == k;
                for p in panels.clone() {
                    let rows = (m - p * MR).min(MR);
                    let tile = Tile {
                        a: ops.w.ptr.add(p * ops.w.panel_stride + k0 * ops.w.ks),
                        a_rs: ops.w.rs,
                        a_ks: ops.w.ks,
                        depth: k1 - k0,
                        x: ops.x_at(k0, c0, strip),
                        x_rs: ops.x_rs,
                        out: ops.out.add(p * MR * ops.out_rs + c0),
                        out_rs: ops.out_rs,
                        col0: c0,
                        rows,
                        row0: p * MR,
                        first,
                        last,
                    };
                    match width.div_ceil(S::L) {
                        1 => tile_on::<S, 1>(&tile, epi, width),
                        2 => tile_on::<S, 2>(&tile, epi, width),
                        3 => tile_on::<S, 3>(&tile, epi, width),
                        _ => tile_on::<S, 4>(&tile, epi, width),
                    }
                }
                if last {
                    break;
                }
                k0 = k1;
            }
            c0 += width;
        }
    }

    /// One micro-kernel call: `rows` (≤ MR) output rows × up to `NV` vectors of positions,
    /// over one depth block.
    struct Tile {
        /// The panel at the block's first depth: row `i`, depth `kk` at `a + i·a_rs + kk·a_ks`.
        a: *const f32,
        a_rs: usize,
        a_ks: usize,
        depth: usize,
        /// X at the block's first row and the strip's first position.
        x: *const f32,
        x_rs: usize,
        /// The output at the panel's first row and the strip's first position.
        out: *mut f32,
        out_rs: usize,
        /// The strip's first position (for the epilogue's column bias).
        col0: usize,
        rows: usize,
        /// The panel's first row (for the epilogue's channel).
        row0: usize,
        /// The first depth block (else the partial sum is loaded from `out`).
        first: bool,
        /// The last depth block (then the epilogue is applied).
        last: bool,
    }

    #[inline(always)]
    unsafe fn tile_on<S: Isa, const NV: usize>(t: &Tile, epi: &Epilogue<'_>, width: usize) {
        let full = S::mask(S::L);
        let mut masks = [full; NV];
        masks[NV - 1] = S::mask(width - (NV - 1) * S::L);
        // Every loop over the accumulators has a constant trip count (rows past `t.rows`
        // are skipped inside it), and the accumulators go from step to step by value, so
        // they stay in registers: with a `take(rows)` loop the compiler kept the array in
        // memory and stored all of it on every step of k, and with the epilogue taking it
        // by reference it zeroed a stack copy (a memset call) for every tile.
        let acc = if t.first {
            [[S::zero(); NV]; MR]
        } else {
            load_acc::<S, NV>(t, &masks)
        };
        let acc = fma_loop::<S, NV>(acc, t, &masks);
        let acc = if t.last {
            epilogue_on::<S, NV>(acc, t, epi, &masks)
        } else {
            acc
        };
        store_acc::<S, NV>(acc, t, &masks);
        if t.last && epi.act == Some(Act::Silu) {
            for r in 0..t.rows {
                let row = std::slice::from_raw_parts_mut(t.out.add(r * t.out_rs), width);
                Act::Silu.apply_slice(row);
            }
        }
    }

    /// The partial sums an earlier depth block stored.
    #[inline(always)]
    unsafe fn load_acc<S: Isa, const NV: usize>(t: &Tile, masks: &[S::M; NV]) -> [[S::V; NV]; MR] {
        let mut acc = [[S::zero(); NV]; MR];
        for (r, row) in acc.iter_mut().enumerate() {
            if r < t.rows {
                for (v, a) in row.iter_mut().enumerate() {
                    *a = S::load(t.out.add(r * t.out_rs + v * S::L), masks[v]);
                }
            }
        }
        acc
    }

    /// Stores the tile's rows.
    #[inline(always)]
    unsafe fn store_acc<S: Isa, const NV: usize>(
        acc: [[S::V; NV]; MR],
        t: &Tile,
        masks: &[S::M; NV],
    ) {
        for (r, row) in acc.iter().enumerate() {
            if r < t.rows {
                for (v, &a) in row.iter().enumerate() {
                    S::store(t.out.add(r * t.out_rs + v * S::L), masks[v], a);
                }
            }
        }
    }

    /// The accumulators plus the block's products, in order of k. The accumulators come in
    /// and go out by value: inside, every index is a constant, so they live in registers
    /// (in the caller's array they were stored to memory on every step).
    #[inline(always)]
    unsafe fn fma_loop<S: Isa, const NV: usize>(
        mut acc: [[S::V; NV]; MR],
        t: &Tile,
        masks: &[S::M; NV],
    ) -> [[S::V; NV]; MR] {
        // Rows past `t.rows` read the last row again (a panel of a matrix read in place has
        // no zero rows past its end); their sums are never stored.
        let offs: [usize; MR] = std::array::from_fn(|r| r.min(t.rows - 1) * t.a_rs);
        let mut a = t.a;
        let mut x = t.x;
        for _ in 0..t.depth {
            let mut xv = [S::zero(); NV];
            for (v, xv) in xv.iter_mut().enumerate() {
                *xv = S::load(x.add(v * S::L), masks[v]);
            }
            for (r, row) in acc.iter_mut().enumerate() {
                let w = S::splat(*a.add(offs[r]));
                for (acc, &xv) in row.iter_mut().zip(&xv) {
                    *acc = S::fma(w, xv, *acc);
                }
            }
            a = a.add(t.a_ks);
            x = x.add(t.x_rs);
        }
        acc
    }

    /// Bias, then the fused normalization, then a Relu or Clip, each with the expression
    /// of its own kernel (Relu sends NaN to 0, Clip keeps it).
    #[inline(always)]
    unsafe fn epilogue_on<S: Isa, const NV: usize>(
        mut acc: [[S::V; NV]; MR],
        t: &Tile,
        epi: &Epilogue<'_>,
        masks: &[S::M; NV],
    ) -> [[S::V; NV]; MR] {
        let mut col_bias = [S::zero(); NV];
        if let Some(cb) = epi.col_bias {
            for (v, b) in col_bias.iter_mut().enumerate() {
                *b = S::load(cb.as_ptr().add(t.col0 + v * S::L), masks[v]);
            }
        }
        for (r, row) in acc.iter_mut().enumerate() {
            if r >= t.rows {
                continue;
            }
            let ch = epi.ch0 + t.row0 + r;
            if let Some(b) = epi.bias {
                let b = S::splat(b[ch]);
                row.iter_mut().for_each(|v| *v = S::add(*v, b));
            }
            if epi.col_bias.is_some() {
                for (v, &b) in row.iter_mut().zip(&col_bias) {
                    *v = S::add(*v, b);
                }
            }
            if let Some(af) = epi.affine {
                let (a, b) = (S::splat(af.a[ch]), S::splat(af.b[ch]));
                row.iter_mut().for_each(|v| *v = S::add(S::mul(*v, a), b));
            }
            match epi.act {
                Some(Act::Relu) => {
                    let z = S::zero();
                    row.iter_mut().for_each(|v| *v = S::max(*v, z));
                }
                Some(Act::Clip { lo, hi }) => {
                    if let Some(lo) = lo {
                        let lo = S::splat(lo);
                        row.iter_mut().for_each(|v| *v = S::max(lo, *v));
                    }
                    if let Some(hi) = hi {
                        let hi = S::splat(hi);
                        row.iter_mut().for_each(|v| *v = S::min(hi, *v));
                    }
                }
                Some(Act::Silu) | None => {}
            }
        }
        acc
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::ShapeBuilder;

    fn lcg(seed: &mut u32) -> f32 {
        *seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        (*seed >> 8) as f32 / (1u32 << 24) as f32 - 0.5
    }

    /// Every shape around the tile edges (rows around MR, positions around a vector and a
    /// strip, depths across a block), strided operands, every epilogue: within f32
    /// rounding of an f64 product with the epilogue's expressions, and the same bits
    /// serially and on the pool.
    #[test]
    fn matches_an_f64_product_on_ragged_shapes() {
        if !available() {
            eprintln!("packed gemm: no AVX-512F / AVX2+FMA here; the kernel is not used");
            return;
        }
        let mut seed = 11u32;
        let mut checked = 0;
        for &m in &[1usize, 5, 6, 7, 13, 24] {
            for &n in &[1usize, 7, 8, 15, 16, 17, 49, 64, 65, 130] {
                for &k in &[1usize, 3, 16, 511, 513] {
                    if m * n * k > 600_000 && !(m == 7 && n == 65) {
                        continue;
                    }
                    let (x_rs, out_rs) = (n + (k % 3), n + (m % 2));
                    let w: Vec<f32> = (0..m * k).map(|_| lcg(&mut seed)).collect();
                    let x: Vec<f32> = (0..k * x_rs).map(|_| lcg(&mut seed)).collect();
                    let bias: Vec<f32> = (0..m + 2).map(|_| lcg(&mut seed)).collect();
                    let col_bias: Vec<f32> = (0..n).map(|_| lcg(&mut seed)).collect();
                    let affine = Affine {
                        a: (0..m + 2).map(|_| lcg(&mut seed) * 4.0).collect(),
                        b: (0..m + 2).map(|_| lcg(&mut seed)).collect(),
                    };
                    let pw = ArrayView2::from_shape((m, k), &w[..]).unwrap();
                    for (e, act) in [
                        None,
                        Some(Act::Relu),
                        Some(Act::Clip {
                            lo: Some(-0.1),
                            hi: Some(0.2),
                        }),
                        Some(Act::Silu),
                    ]
                    .into_iter()
                    .enumerate()
                    {
                        let epi = Epilogue {
                            bias: (e != 1).then_some(&bias[..]),
                            col_bias: (e % 3 == 0).then_some(&col_bias[..]),
                            affine: (e >= 2).then_some(&affine),
                            act,
                            ch0: e % 3,
                        };
                        let xv = ArrayView2::from_shape((k, n).strides((x_rs, 1)), &x).unwrap();
                        let len = (m - 1) * out_rs + n;
                        let mut got = vec![f32::NAN; len];
                        fn ov(
                            v: &mut [f32],
                            m: usize,
                            n: usize,
                            rs: usize,
                        ) -> ArrayViewMut2<'_, f32> {
                            ArrayViewMut2::from_shape((m, n).strides((rs, 1)), v).unwrap()
                        }
                        product(pw, xv, &epi, ov(&mut got, m, n, out_rs));
                        let mut serial = vec![f32::NAN; len];
                        product_serial(pw, xv, &epi, ov(&mut serial, m, n, out_rs));
                        let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
                        assert_eq!(bits(&got), bits(&serial), "m {m} n {n} k {k}");
                        // X packed once: the same bits.
                        let mut packed = vec![f32::NAN; len];
                        let px = PackedX::new(xv);
                        product_packed(pw, &px, &epi, ov(&mut packed, m, n, out_rs));
                        assert_eq!(bits(&packed), bits(&got), "packed: m {m} n {n} k {k}");
                        // The AVX2 kernel sums in the same order, with the same fused
                        // multiply-adds: the same bits.
                        let mut avx2 = vec![f32::NAN; len];
                        if product_serial_avx2(pw, xv, &epi, ov(&mut avx2, m, n, out_rs)) {
                            assert_eq!(bits(&avx2), bits(&got), "AVX2: m {m} n {n} k {k}");
                        }
                        for r in 0..m {
                            let ch = epi.ch0 + r;
                            for c in 0..n {
                                let mut s = 0f64;
                                let mut mag = 0f64;
                                for i in 0..k {
                                    let p = w[r * k + i] as f64 * x[i * x_rs + c] as f64;
                                    s += p;
                                    mag += p.abs();
                                }
                                let mut want = s;
                                let mut tol = mag * k as f64 * 1.2e-7 + 1e-30;
                                if let Some(b) = epi.bias {
                                    want += b[ch] as f64;
                                    tol += b[ch].abs() as f64 * 1.2e-7;
                                }
                                if let Some(b) = epi.col_bias {
                                    want += b[c] as f64;
                                    tol += (want.abs() + b[c].abs() as f64) * 1.2e-7;
                                }
                                if let Some(a) = epi.affine {
                                    want = want * a.a[ch] as f64 + a.b[ch] as f64;
                                    tol = tol * (a.a[ch].abs() as f64)
                                        + (want.abs() + a.b[ch].abs() as f64) * 2.4e-7;
                                }
                                want = match act {
                                    Some(Act::Relu) => want.max(0.0),
                                    Some(Act::Clip { .. }) => want.clamp(-0.1, 0.2),
                                    Some(Act::Silu) => want / (1.0 + (-want).exp()),
                                    None => want,
                                };
                                let g = got[r * out_rs + c] as f64;
                                assert!(
                                    (g - want).abs() <= tol + want.abs() * 1e-6,
                                    "m {m} n {n} k {k} epilogue {e}: [{r},{c}] {g} vs {want}"
                                );
                            }
                            // Positions between rows (the stride's gap) are not written.
                            if r + 1 < m {
                                for c in n..out_rs {
                                    assert!(got[r * out_rs + c].is_nan());
                                }
                            }
                        }
                        checked += 1;
                    }
                }
            }
        }
        assert!(checked > 500, "{checked} products");
    }

    /// A left operand read in place (row-major, transposed, or a strided slice) gives the
    /// bits of the same matrix packed (the kernel sums in the same order either way), on
    /// any number of threads; rows past the last panel's end are never read.
    #[test]
    fn mat_mul_reads_the_left_operand_in_place_with_any_strides() {
        use ndarray::{s, Array2};
        if !available() {
            return;
        }
        let mut seed = 5u32;
        for &(m, k, n) in &[(6, 1, 16), (7, 33, 17), (13, 513, 65), (128, 256, 130)] {
            let a: Vec<f32> = (0..m * k).map(|_| lcg(&mut seed)).collect();
            let b = Array2::from_shape_fn((k, n), |_| lcg(&mut seed));
            let a_rows = ArrayView2::from_shape((m, k), &a).unwrap();
            let mut want = Array2::from_elem((m, n), f32::NAN);
            product_serial(
                ArrayView2::from_shape((m, k), &a[..]).unwrap(),
                b.view(),
                &Epilogue::default(),
                want.view_mut(),
            );
            let a_t = a_rows.t().to_owned(); // k × m, standard layout
            let wide = Array2::from_shape_fn((m, 2 * k), |(i, j)| {
                if j % 2 == 0 {
                    a[i * k + j / 2]
                } else {
                    f32::NAN
                }
            });
            // Only the first m rows of this exact-size buffer exist: a read past them
            // would leave the allocation.
            for (name, view) in [
                ("rows", a_rows),
                ("transposed", a_t.t()),
                ("strided", wide.slice(s![.., ..;2])),
            ] {
                for threads in [1, 2] {
                    let pool = rayon::ThreadPoolBuilder::new()
                        .num_threads(threads)
                        .build()
                        .unwrap();
                    let mut got = Array2::from_elem((m, n), f32::NAN);
                    assert!(serves(&view, &b.view(), &got.view_mut()));
                    pool.install(|| mat_mul(view, b.view(), got.view_mut()));
                    assert_eq!(
                        got.mapv(f32::to_bits),
                        want.mapv(f32::to_bits),
                        "{name}, {threads} threads: {m}×{k}×{n}"
                    );
                }
            }
        }
    }

    /// Relu sends NaN to +0; Clip keeps NaN, as their kernels do (a −0 product sums to +0,
    /// as every sum here starts at +0).
    #[test]
    fn activations_keep_their_kernels_nan_and_zero_rules() {
        if !available() {
            return;
        }
        let pw = ArrayView2::from_shape((2, 1), &[1.0f32, 1.0][..]).unwrap();
        let x = [f32::NAN, -0.0, 5.0, -5.0];
        for (act, want) in [
            (Act::Relu, [0.0f32, 0.0, 5.0, 0.0]),
            (
                Act::Clip {
                    lo: Some(-1.0),
                    hi: Some(1.0),
                },
                [f32::NAN, 0.0, 1.0, -1.0],
            ),
        ] {
            let mut out = [0.0f32; 8];
            let epi = Epilogue {
                act: Some(act),
                ..Epilogue::default()
            };
            let xv = ArrayView2::from_shape((1, 4), &x[..]).unwrap();
            let ov = ArrayViewMut2::from_shape((2, 4), &mut out[..]).unwrap();
            product_serial(pw, xv, &epi, ov);
            for r in 0..2 {
                for c in 0..4 {
                    let (g, w) = (out[r * 4 + c], want[c]);
                    assert!(
                        g.to_bits() == w.to_bits() || (g.is_nan() && w.is_nan()),
                        "{act:?} of {}: {g}",
                        x[c]
                    );
                }
            }
        }
    }
}
