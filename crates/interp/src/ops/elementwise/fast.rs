//! f32 activations the compiler can vectorize (no branches, no libm calls), and their
//! parallel in-place application: Sigmoid and SiLU dominate EfficientNet-style models,
//! where a scalar `exp` per element cost more than the convolutions.
//!
//! `exp_f32` is Cephes' `expf` (range reduction by ln 2 split in two, degree-6
//! polynomial; within 2 ulp of the exact value on the clamped range), so Sigmoid agrees
//! with onnxruntime's to float32 rounding.

use rayon::prelude::*;

/// Elements per parallel task: large enough that scheduling costs nothing.
const CHUNK: usize = 1 << 14;

/// e^x for x clamped to [-87, 88] (beyond it e^x under- or overflows f32 anyway).
#[inline(always)]
pub fn exp_f32(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const C1: f32 = 0.693_359_4;
    const C2: f32 = -2.121_944_4e-4;
    // 1.5 · 2^23: adding and subtracting it rounds to the nearest integer, branch-free.
    const ROUND: f32 = 12_582_912.0;
    let x = x.clamp(-87.0, 88.0);
    let t = x * LOG2E + ROUND;
    let n = t - ROUND;
    let r = x - n * C1 - n * C2;
    let p = 1.987_569_1e-4_f32;
    let p = p * r + 1.398_199_9e-3;
    let p = p * r + 8.333_452e-3;
    let p = p * r + 4.166_579_6e-2;
    let p = p * r + 1.666_666_5e-1;
    let p = p * r + 0.5;
    let e = p * r * r + r + 1.0;
    // 2^n by building the exponent bits; n is in [-126, 127] after the clamp. `t` holds n
    // in its low mantissa bits (its exponent is that of 1.5 · 2^23), so its bits give n
    // without a float-to-int conversion, which Rust's saturating `as` kept from vectorizing.
    let n_bits = t.to_bits().wrapping_sub(ROUND.to_bits());
    let scale = f32::from_bits(n_bits.wrapping_add(127) << 23);
    e * scale
}

/// 1 / (1 + e^-x); NaN stays NaN.
#[inline(always)]
pub fn sigmoid_f32(x: f32) -> f32 {
    let s = 1.0 / (1.0 + exp_f32(-x));
    if x.is_nan() {
        x
    } else {
        s
    }
}

/// x · sigmoid(x), exactly as Sigmoid followed by Mul computes it.
#[inline(always)]
pub fn silu_f32(x: f32) -> f32 {
    x * sigmoid_f32(x)
}

/// Applies `f` to every element in place, split over the rayon pool (each element's
/// result is the same whatever the split).
pub fn par_apply(v: &mut [f32], f: impl Fn(f32) -> f32 + Sync) {
    if v.len() <= CHUNK {
        apply_serial(v, &f);
    } else {
        v.par_chunks_mut(CHUNK).for_each(|c| apply_serial(c, &f));
    }
}

/// Applies `f` to one slice, on the calling thread, with the widest vectors the CPU has
/// ([`on_widest`]).
pub(crate) fn apply_serial<F: Fn(f32) -> f32>(v: &mut [f32], f: &F) {
    on_widest(
        #[inline(always)]
        || apply_loop(v, f),
    );
}

/// Runs `f` compiled for the widest vectors the CPU has: AVX-512F, AVX2 or the baseline
/// (the build targets plain x86-64, so loops the compiler vectorizes would otherwise use
/// 4-lane SSE). Pass an `#[inline(always)] || ...` closure calling `#[inline(always)]`
/// functions: only code inlined into the dispatching function is compiled for its features
/// (a closure left out of line stays baseline SSE). Rust never contracts a product and a sum into
/// a fused multiply-add, so all three forms give the same bits.
#[allow(unsafe_code)] // calls the function compiled for a feature only after detecting it
#[inline(always)]
pub(crate) fn on_widest<R>(f: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU has AVX-512F, the only feature the function is compiled for.
            return unsafe { run_avx512(f) };
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2, the only feature the function is compiled for.
            return unsafe { run_avx2(f) };
        }
    }
    f()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn run_avx512<R>(f: impl FnOnce() -> R) -> R {
    f()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn run_avx2<R>(f: impl FnOnce() -> R) -> R {
    f()
}

#[inline(always)]
fn apply_loop<F: Fn(f32) -> f32>(v: &mut [f32], f: &F) {
    v.iter_mut().for_each(|x| *x = f(*x));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_and_sigmoid_match_the_exact_functions() {
        let mut worst_exp = 0f64;
        let mut worst_sig = 0f64;
        for i in -100_000..=100_000 {
            let x = i as f32 * 8.7e-4; // about [-87, 87]
            let want = (x as f64).exp();
            worst_exp = worst_exp.max(((exp_f32(x) as f64 - want) / want).abs());
            let s = 1.0 / (1.0 + (-(x as f64)).exp());
            worst_sig = worst_sig.max((sigmoid_f32(x) as f64 - s).abs() / s);
        }
        assert!(worst_exp < 3e-7, "exp relative error {worst_exp}");
        assert!(worst_sig < 3e-7, "sigmoid relative error {worst_sig}");
        assert_eq!(sigmoid_f32(-1000.0), 1.0 / (1.0 + exp_f32(88.0)));
        assert!(sigmoid_f32(-1000.0) < 1e-37);
        assert_eq!(sigmoid_f32(1000.0), 1.0);
        assert!(sigmoid_f32(f32::NAN).is_nan());
        assert_eq!(silu_f32(0.0), 0.0);
    }
}
