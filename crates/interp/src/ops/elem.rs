//! Element-level helpers shared by every kernel family: the float trait float-only
//! kernels are generic over ([`Real`]: f32 and f64; f16 and bf16 are computed in f32 and
//! rounded back), the dispatch from a dtype to it ([`float_dispatch`]), row-major strides
//! and the output-size limit.

use std::fmt::Debug;

use half::{bf16, f16};
use modelc_ir::DType;
use ndarray::{
    ArrayD, ArrayView2, ArrayViewMut2, Axis, CowArray, IxDyn, LinalgScalar, ScalarOperand,
};
use num_traits::{Float, FromPrimitive};
use rayon::prelude::*;

use crate::{bail, Array, KernelError};

/// Largest number of elements a kernel allocates for one output or buffer.
pub const MAX_ELEMS: usize = 1 << 31;

/// The element count of `shape`, checked against [`MAX_ELEMS`]. The product of the
/// non-zero dimensions is bounded too, so per-axis work stays small even for empty shapes.
pub fn checked_count(shape: &[usize]) -> Result<usize, KernelError> {
    let mut nonzero: usize = 1;
    for &d in shape {
        nonzero = match nonzero.checked_mul(d.max(1)) {
            Some(v) if v <= MAX_ELEMS => v,
            _ => bail!("shape {shape:?} is too large"),
        };
    }
    Ok(if shape.contains(&0) { 0 } else { nonzero })
}

/// Row-major strides of `shape`.
pub fn strides_of(shape: &[usize]) -> Vec<usize> {
    let mut s = vec![1; shape.len()];
    for i in (0..shape.len().saturating_sub(1)).rev() {
        s[i] = s[i + 1] * shape[i + 1];
    }
    s
}

/// The float types float-only kernels compute in.
pub trait Real:
    Float
    + LinalgScalar
    + ScalarOperand
    + FromPrimitive
    + Debug
    + Default
    + Send
    + Sync
    + std::iter::Sum
    + std::ops::AddAssign
    + std::ops::MulAssign
    + 'static
{
    /// The array as this type: borrowed when it already is, converted otherwise (any
    /// float, integer or bool type).
    fn cow(a: &Array) -> Result<CowArray<'_, Self, IxDyn>, KernelError>;
    /// A result computed in this type, as an array of `dtype` (usually the input's).
    fn wrap(out: ArrayD<Self>, dtype: DType) -> Result<Array, KernelError>;
    /// A constant.
    fn c(v: f64) -> Self;
    fn as_f64(self) -> f64;
    /// The slice as f32 when this type is f32 (for the f32-only activation epilogues).
    fn as_f32s(v: &mut [Self]) -> Option<&mut [f32]>;
    /// The slice as f32 when this type is f32 (for the f32-only kernels).
    fn as_f32_ref(v: &[Self]) -> Option<&[f32]>;
    /// `c = a · b` (c overwritten).
    fn gemm(a: ArrayView2<Self>, b: ArrayView2<Self>, c: ArrayViewMut2<Self>) {
        mat_mul(Self::one(), a, b, Self::zero(), c);
    }
}

/// Multiply-adds per output block of [`mat_mul`], at least: smaller products are one block.
const BLOCK_WORK: usize = 1 << 21;
/// Output blocks of one [`mat_mul`], at most (more cost each block a repacking of the
/// shared operand for little balance).
const MAX_BLOCKS: usize = 4;

/// `c = alpha · a · b + beta · c` (`c` is not read when `beta` is zero), with the `gemm`
/// crate (runtime-dispatched AVX-512 / AVX2 / scalar kernels; any strides).
///
/// Threads: the output is cut into at most [`MAX_BLOCKS`] blocks along its longer side
/// (column blocks are whole 16-lane vectors), chosen from the shape alone, and the blocks
/// run as rayon tasks, each a single-threaded gemm call. The calls are the same on any
/// number of threads, so the result does not depend on the thread count. This replaces the
/// crate's own `Parallelism::Rayon`, which on two threads was barely faster than one
/// (both threads pack the same panels and meet at a barrier per depth block).
pub fn mat_mul<T: Real>(
    alpha: T,
    a: ArrayView2<T>,
    b: ArrayView2<T>,
    beta: T,
    mut c: ArrayViewMut2<T>,
) {
    let (m, k, n) = product_dims(&a, &b, &c);
    let blocks = (m.saturating_mul(n).saturating_mul(k) / BLOCK_WORK).clamp(1, MAX_BLOCKS);
    if blocks == 1 {
        return mat_mul_serial(alpha, a, b, beta, c);
    }
    let tasks: Vec<_> = if n >= m {
        let step = n.div_ceil(blocks).next_multiple_of(16);
        b.axis_chunks_iter(Axis(1), step)
            .zip(c.axis_chunks_iter_mut(Axis(1), step))
            .map(|(bj, cj)| (a, bj, cj))
            .collect()
    } else {
        let step = m.div_ceil(blocks).next_multiple_of(6);
        a.axis_chunks_iter(Axis(0), step)
            .zip(c.axis_chunks_iter_mut(Axis(0), step))
            .map(|(ai, ci)| (ai, b, ci))
            .collect()
    };
    tasks
        .into_par_iter()
        .for_each(|(ai, bj, cj)| mat_mul_serial(alpha, ai, bj, beta, cj));
}

/// `(m, k, n)` of `a (m×k) · b (k×n) -> c (m×n)`; panics naming the shapes if they differ.
fn product_dims<T>(
    a: &ArrayView2<T>,
    b: &ArrayView2<T>,
    c: &ArrayViewMut2<T>,
) -> (usize, usize, usize) {
    let (m, k) = a.dim();
    let n = b.dim().1;
    assert!(
        b.dim().0 == k && c.dim() == (m, n),
        "mat_mul: shapes {:?} · {:?} -> {:?}",
        a.dim(),
        b.dim(),
        c.dim()
    );
    (m, k, n)
}

/// [`mat_mul`] as one single-threaded gemm call (for a caller that makes its own tasks).
#[allow(unsafe_code)] // gemm takes raw pointers and strides; see the SAFETY note
pub fn mat_mul_serial<T: Real>(
    alpha: T,
    a: ArrayView2<T>,
    b: ArrayView2<T>,
    beta: T,
    mut c: ArrayViewMut2<T>,
) {
    let (m, k, n) = product_dims(&a, &b, &c);
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if beta == T::zero() {
            c.fill(T::zero());
        } else {
            c.mapv_inplace(|v| v * beta);
        }
        return;
    }
    let (sa, sb, sc) = (a.strides(), b.strides(), c.strides());
    let (a_rs, a_cs, b_rs, b_cs, c_rs, c_cs) = (sa[0], sa[1], sb[0], sb[1], sc[0], sc[1]);
    let (pa, pb, pc) = (a.as_ptr(), b.as_ptr(), c.as_mut_ptr());
    // SAFETY: `T` is f32 or f64 (the only `Real`s), which `gemm` supports; the pointers and
    // strides describe the three views exactly (shapes checked above), and `c` is a
    // unique mutable view, so it overlaps neither `a` nor `b`.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            pc,
            c_cs,
            c_rs,
            beta != T::zero(),
            pa,
            a_cs,
            a_rs,
            pb,
            b_cs,
            b_rs,
            beta,
            alpha,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

fn ints_as_f64(a: &Array) -> Result<ArrayD<f64>, KernelError> {
    let v = match a {
        Array::Bool(x) => return Ok(x.mapv(|b| if b { 1.0 } else { 0.0 })),
        other => other.to_f64_vec()?,
    };
    Ok(ArrayD::from_shape_vec(IxDyn(a.shape()), v)?)
}

impl Real for f32 {
    fn cow(a: &Array) -> Result<CowArray<'_, f32, IxDyn>, KernelError> {
        Ok(match a {
            Array::F32(x) => CowArray::from(x.view()),
            Array::F16(x) => CowArray::from(x.mapv(f32::from)),
            Array::BF16(x) => CowArray::from(x.mapv(f32::from)),
            Array::F64(x) => CowArray::from(x.mapv(|v| v as f32)),
            Array::Str(_) | Array::Packed { .. } => {
                bail!("expected a numeric tensor, got {}", a.dtype())
            }
            other => CowArray::from(ints_as_f64(other)?.mapv(|v| v as f32)),
        })
    }
    fn wrap(out: ArrayD<f32>, dtype: DType) -> Result<Array, KernelError> {
        Ok(match dtype {
            DType::F32 => Array::F32(out),
            DType::F16 => Array::F16(out.mapv(f16::from_f32)),
            DType::BF16 => Array::BF16(out.mapv(bf16::from_f32)),
            DType::F64 => Array::F64(out.mapv(|v| v as f64)),
            other => from_f64_array(out.mapv(|v| v as f64), other)?,
        })
    }
    fn c(v: f64) -> f32 {
        v as f32
    }
    fn as_f32s(v: &mut [f32]) -> Option<&mut [f32]> {
        Some(v)
    }
    fn as_f32_ref(v: &[f32]) -> Option<&[f32]> {
        Some(v)
    }
    fn as_f64(self) -> f64 {
        self as f64
    }
    /// The packed kernel where it serves the shapes (it reads `a` in place and `b`'s rows
    /// as they are, where the gemm crate packs both on every call), else [`mat_mul`].
    fn gemm(a: ArrayView2<f32>, b: ArrayView2<f32>, c: ArrayViewMut2<f32>) {
        if crate::ops::nn::packed_gemm::serves(&a, &b, &c) {
            crate::ops::nn::packed_gemm::mat_mul(a, b, c);
        } else {
            mat_mul(1.0, a, b, 0.0, c);
        }
    }
}

impl Real for f64 {
    fn cow(a: &Array) -> Result<CowArray<'_, f64, IxDyn>, KernelError> {
        Ok(match a {
            Array::F64(x) => CowArray::from(x.view()),
            Array::F32(x) => CowArray::from(x.mapv(|v| v as f64)),
            Array::F16(x) => CowArray::from(x.mapv(f64::from)),
            Array::BF16(x) => CowArray::from(x.mapv(f64::from)),
            Array::Str(_) | Array::Packed { .. } => {
                bail!("expected a numeric tensor, got {}", a.dtype())
            }
            other => CowArray::from(ints_as_f64(other)?),
        })
    }
    fn wrap(out: ArrayD<f64>, dtype: DType) -> Result<Array, KernelError> {
        Ok(match dtype {
            DType::F64 => Array::F64(out),
            DType::F32 => Array::F32(out.mapv(|v| v as f32)),
            DType::F16 => Array::F16(out.mapv(f16::from_f64)),
            DType::BF16 => Array::BF16(out.mapv(bf16::from_f64)),
            other => from_f64_array(out, other)?,
        })
    }
    fn c(v: f64) -> f64 {
        v
    }
    fn as_f32s(_: &mut [f64]) -> Option<&mut [f32]> {
        None
    }
    fn as_f32_ref(_: &[f64]) -> Option<&[f32]> {
        None
    }
    fn as_f64(self) -> f64 {
        self
    }
}

/// An f64 array converted to `dtype` (numpy `astype`: integers truncate toward zero and
/// saturate; NaN becomes 0).
pub fn from_f64_array(a: ArrayD<f64>, dtype: DType) -> Result<Array, KernelError> {
    Ok(match dtype {
        DType::F64 => Array::F64(a),
        DType::F32 => Array::F32(a.mapv(|v| v as f32)),
        DType::F16 => Array::F16(a.mapv(f16::from_f64)),
        DType::BF16 => Array::BF16(a.mapv(bf16::from_f64)),
        DType::I8 => Array::I8(a.mapv(|v| v as i8)),
        DType::I16 => Array::I16(a.mapv(|v| v as i16)),
        DType::I32 => Array::I32(a.mapv(|v| v as i32)),
        DType::I64 => Array::I64(a.mapv(|v| v as i64)),
        DType::U8 => Array::U8(a.mapv(|v| v as u8)),
        DType::U16 => Array::U16(a.mapv(|v| v as u16)),
        DType::U32 => Array::U32(a.mapv(|v| v as u32)),
        DType::U64 => Array::U64(a.mapv(|v| v as u64)),
        DType::Bool => Array::Bool(a.mapv(|v| v != 0.0)),
        other => bail!("unsupported element type {other}"),
    })
}

/// Calls the generic function `$f::<T>(args..)` with `T` the compute type for `$dtype`
/// (f32 for f32/f16/bf16, f64 for f64); an error for other types.
macro_rules! float_dispatch {
    ($dtype:expr, $f:ident ( $($arg:expr),* $(,)? )) => {
        match $dtype {
            modelc_ir::DType::F32 | modelc_ir::DType::F16 | modelc_ir::DType::BF16 => {
                $f::<f32>($($arg),*)
            }
            modelc_ir::DType::F64 => $f::<f64>($($arg),*),
            other => Err($crate::KernelError::new(format!(
                "element type {other} is not supported by this op (float types only)"
            ))),
        }
    };
}
pub(crate) use float_dispatch;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_strides() {
        assert_eq!(checked_count(&[2, 3, 4]).unwrap(), 24);
        assert_eq!(checked_count(&[0, 5]).unwrap(), 0);
        assert!(checked_count(&[1 << 20, 1 << 20]).is_err());
        assert_eq!(strides_of(&[2, 3, 4]), vec![12, 4, 1]);
        assert_eq!(strides_of(&[]), Vec::<usize>::new());
    }

    #[test]
    fn mat_mul_matches_naive_on_odd_shapes_and_strides() {
        use ndarray::{s, Array2};
        for &(m, k, n) in &[
            (1, 1, 1),
            (3, 5, 7),
            (13, 33, 17),
            (40, 1, 3),
            (2, 0, 4),
            (64, 70, 65),
            // Split into column blocks, and into row blocks (more than BLOCK_WORK).
            (64, 300, 250),
            (250, 300, 64),
        ] {
            let a = Array2::from_shape_fn((m, k), |(i, j)| ((i * 7 + j * 3) % 11) as f64 - 5.0);
            let bt = Array2::from_shape_fn((n, k), |(i, j)| ((i * 5 + j) % 13) as f64 - 6.0);
            let b = bt.t(); // column-major operand
            let mut want = Array2::<f64>::ones((m, n));
            for i in 0..m {
                for j in 0..n {
                    let dot: f64 = (0..k).map(|p| a[[i, p]] * b[[p, j]]).sum();
                    want[[i, j]] = 2.0 * dot + 0.5;
                }
            }
            let mut c = Array2::<f64>::ones((m, n));
            mat_mul(2.0, a.view(), b, 0.5, c.view_mut());
            assert_eq!(c, want, "{m}x{k}x{n}");
            let mut big = Array2::<f32>::from_elem((m, 2 * n), f32::NAN);
            let a32 = a.mapv(|v| v as f32);
            let b32 = b.mapv(|v| v as f32);
            mat_mul(
                1.0,
                a32.view(),
                b32.view(),
                0.0,
                big.slice_mut(s![.., ..;2]),
            );
            let got = big.slice(s![.., ..;2]).mapv(|v| v as f64);
            let want0 = (want - 0.5) / 2.0;
            assert_eq!(got, want0, "f32 {m}x{k}x{n}");
        }
    }

    #[test]
    fn mat_mul_bits_do_not_depend_on_the_thread_count() {
        use ndarray::Array2;
        // Inexact products (sums of non-dyadic values), so a different reduction order
        // would show in the bits.
        for &(m, k, n) in &[(128, 256, 1024), (1024, 256, 196), (7, 5000, 300)] {
            let a = Array2::from_shape_fn((m, k), |(i, j)| ((i * 31 + j * 17) % 97) as f32 / 7.0);
            let b = Array2::from_shape_fn((k, n), |(i, j)| ((i * 13 + j * 29) % 89) as f32 / 3.0);
            let run = |threads: usize| {
                let pool = rayon::ThreadPoolBuilder::new()
                    .num_threads(threads)
                    .build()
                    .unwrap();
                let mut c = Array2::<f32>::zeros((m, n));
                pool.install(|| mat_mul(1.0, a.view(), b.view(), 0.0, c.view_mut()));
                c.mapv(f32::to_bits)
            };
            assert_eq!(run(1), run(2), "{m}x{k}x{n}");
            assert_eq!(run(1), run(3), "{m}x{k}x{n}");
        }
    }
}
