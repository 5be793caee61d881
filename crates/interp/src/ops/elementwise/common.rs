//! Shared machinery of the elementwise kernels: multidirectional broadcasting of two or
//! three arrays ([`zip2`], [`try_zip2`], [`zip3`]), the element trait [`Num`] (wrapping
//! integer arithmetic, f16/bf16 computed in f32), dispatch macros over `Array` variants,
//! and `erf`.

use half::{bf16, f16};
use ndarray::{ArrayD, IxDyn, Zip};

use crate::ops::elem::checked_count;
use crate::ops::util::broadcast_shapes;
use crate::{bail, KernelError};

/// Applies `f` to the elements of `a` and `b` broadcast against each other.
pub fn zip2<A, B, C>(
    a: &ArrayD<A>,
    b: &ArrayD<B>,
    mut f: impl FnMut(&A, &B) -> C,
) -> Result<ArrayD<C>, KernelError> {
    // Fast paths: a scalar on either side that does not raise the other's rank.
    if b.len() == 1 && b.ndim() <= a.ndim() {
        if let Some(y) = b.iter().next() {
            return Ok(a.map(|x| f(x, y)));
        }
    }
    if a.len() == 1 && a.ndim() <= b.ndim() {
        if let Some(x) = a.iter().next() {
            return Ok(b.map(|y| f(x, y)));
        }
    }
    let shape = broadcast_shapes(a.shape(), b.shape())?;
    checked_count(&shape)?;
    // Fast paths over contiguous memory: the same shape, or one side constant over trailing
    // blocks of the other (a per-channel scale or bias: [N, C, H, W] with [C, 1, 1]).
    if let (Some(x), Some(y)) = (a.as_slice(), b.as_slice()) {
        if a.shape() == b.shape() {
            let v = x.iter().zip(y).map(|(p, q)| f(p, q)).collect();
            return Ok(ArrayD::from_shape_vec(IxDyn(&shape), v)?);
        }
        if let Some(block) = trailing_block(&shape, b.shape()).filter(|_| a.shape() == shape) {
            let v = repeat_small(x, y, block, |p, q| f(p, q));
            return Ok(ArrayD::from_shape_vec(IxDyn(&shape), v)?);
        }
        if let Some(block) = trailing_block(&shape, a.shape()).filter(|_| b.shape() == shape) {
            let v = repeat_small(y, x, block, |q, p| f(p, q));
            return Ok(ArrayD::from_shape_vec(IxDyn(&shape), v)?);
        }
    }
    let dim = IxDyn(&shape);
    let (Some(av), Some(bv)) = (a.broadcast(dim.clone()), b.broadcast(dim)) else {
        bail!(
            "shapes {:?} and {:?} do not broadcast",
            a.shape(),
            b.shape()
        );
    };
    Ok(Zip::from(&av).and(&bv).map_collect(f))
}

/// `f(full element, small element)` over `full`, where `small` repeats each element over
/// `block` consecutive elements of `full` and the pattern cycles (see [`trailing_block`]).
fn repeat_small<A, B, C>(
    full: &[A],
    small: &[B],
    block: usize,
    mut f: impl FnMut(&A, &B) -> C,
) -> Vec<C> {
    let mut v = Vec::with_capacity(full.len());
    if block == 1 {
        // `small` repeats whole along `full` (a bias row over [batch, seq, features]): one
        // zip per row, which vectorizes, instead of one chunk per element.
        for row in full.chunks(small.len()) {
            v.extend(row.iter().zip(small).map(|(p, q)| f(p, q)));
        }
    } else {
        for (chunk, q) in full.chunks(block).zip(small.iter().cycle()) {
            v.extend(chunk.iter().map(|p| f(p, q)));
        }
    }
    v
}

/// When `small` broadcast to `full` repeats each of its elements over a block of `full`'s
/// trailing dimensions (its own are 1 there) and otherwise matches `full` from some axis
/// on (leading axes of size 1 or missing: the pattern then cycles), the block's size.
fn trailing_block(full: &[usize], small: &[usize]) -> Option<usize> {
    if small.len() > full.len() || small.is_empty() || full.contains(&0) {
        return None;
    }
    let pad = full.len() - small.len();
    let k = small.iter().rev().take_while(|&&d| d == 1).count();
    let head = &small[..small.len() - k];
    // Leading size-1 axes of `small` may repeat the pattern (cycle) only if they are
    // leading in `full` too; every other axis of the head must match `full`'s.
    let first = head.iter().position(|&d| d != 1).unwrap_or(head.len());
    let matches = head[first..]
        .iter()
        .zip(&full[pad + first..])
        .all(|(s, f)| s == f);
    matches.then(|| full[pad + small.len() - k..].iter().product())
}

/// [`zip2`] with a fallible element function; the first error is returned.
pub fn try_zip2<A, B, C>(
    a: &ArrayD<A>,
    b: &ArrayD<B>,
    mut f: impl FnMut(&A, &B) -> Result<C, KernelError>,
) -> Result<ArrayD<C>, KernelError> {
    let shape = broadcast_shapes(a.shape(), b.shape())?;
    checked_count(&shape)?;
    let dim = IxDyn(&shape);
    let (Some(av), Some(bv)) = (a.broadcast(dim.clone()), b.broadcast(dim.clone())) else {
        bail!(
            "shapes {:?} and {:?} do not broadcast",
            a.shape(),
            b.shape()
        );
    };
    let v = av
        .iter()
        .zip(bv.iter())
        .map(|(x, y)| f(x, y))
        .collect::<Result<Vec<C>, KernelError>>()?;
    Ok(ArrayD::from_shape_vec(dim, v)?)
}

/// Applies `f` to the elements of three arrays broadcast against each other.
pub fn zip3<A, B, C, D>(
    a: &ArrayD<A>,
    b: &ArrayD<B>,
    c: &ArrayD<C>,
    f: impl FnMut(&A, &B, &C) -> D,
) -> Result<ArrayD<D>, KernelError> {
    let shape = broadcast_shapes(&broadcast_shapes(a.shape(), b.shape())?, c.shape())?;
    checked_count(&shape)?;
    let dim = IxDyn(&shape);
    let (Some(av), Some(bv), Some(cv)) = (
        a.broadcast(dim.clone()),
        b.broadcast(dim.clone()),
        c.broadcast(dim),
    ) else {
        bail!(
            "shapes {:?}, {:?} and {:?} do not broadcast",
            a.shape(),
            b.shape(),
            c.shape()
        );
    };
    Ok(Zip::from(&av).and(&bv).and(&cv).map_collect(f))
}

/// A numeric element. Integer arithmetic wraps (as numpy and onnxruntime do); integer
/// division and remainder by zero are errors. f16/bf16 compute in f32 and round back.
pub trait Num: Copy + PartialOrd + Default + 'static {
    const FLOAT: bool;
    fn is_nan_(self) -> bool;
    fn to_f64_(self) -> f64;
    /// Float to this type (`as` semantics for integers: truncation, saturation, NaN → 0).
    fn from_f64_(v: f64) -> Self;
    fn zero_() -> Self;
    fn add_(self, o: Self) -> Self;
    fn sub_(self, o: Self) -> Self;
    fn mul_(self, o: Self) -> Self;
    fn div_(self, o: Self) -> Result<Self, KernelError>;
    /// Remainder with the sign of the dividend (C `fmod`).
    fn fmod_(self, o: Self) -> Result<Self, KernelError>;
    /// Remainder with the sign of the divisor (Python / numpy `mod`).
    fn pymod_(self, o: Self) -> Result<Self, KernelError>;
    fn abs_(self) -> Self;
    fn neg_(self) -> Self;
    fn sign_(self) -> Self;
    /// Integer power (wrapping); only used for integer types.
    fn powi_(self, e: u64) -> Self {
        let (mut base, mut e, mut acc) = (self, e, Self::from_f64_(1.0));
        while e > 0 {
            if e & 1 == 1 {
                acc = acc.mul_(base);
            }
            base = base.mul_(base);
            e >>= 1;
        }
        acc
    }
    /// numpy `maximum`: NaN propagates.
    fn max_(self, o: Self) -> Self {
        if self.is_nan_() || o.is_nan_() {
            if self.is_nan_() {
                self
            } else {
                o
            }
        } else if o > self {
            o
        } else {
            self
        }
    }
    /// numpy `minimum`: NaN propagates.
    fn min_(self, o: Self) -> Self {
        if self.is_nan_() || o.is_nan_() {
            if self.is_nan_() {
                self
            } else {
                o
            }
        } else if o < self {
            o
        } else {
            self
        }
    }
}

macro_rules! int_common {
    ($t:ty) => {
        const FLOAT: bool = false;
        fn is_nan_(self) -> bool {
            false
        }
        fn to_f64_(self) -> f64 {
            self as f64
        }
        fn from_f64_(v: f64) -> Self {
            v as $t
        }
        fn zero_() -> Self {
            0
        }
        fn add_(self, o: Self) -> Self {
            self.wrapping_add(o)
        }
        fn sub_(self, o: Self) -> Self {
            self.wrapping_sub(o)
        }
        fn mul_(self, o: Self) -> Self {
            self.wrapping_mul(o)
        }
        fn div_(self, o: Self) -> Result<Self, KernelError> {
            if o == 0 {
                bail!("integer division by zero");
            }
            Ok(self.wrapping_div(o))
        }
        fn fmod_(self, o: Self) -> Result<Self, KernelError> {
            if o == 0 {
                bail!("integer modulo by zero");
            }
            Ok(self.wrapping_rem(o))
        }
    };
}

macro_rules! signed_num {
    ($($t:ty),*) => {$(
        impl Num for $t {
            int_common!($t);
            fn pymod_(self, o: Self) -> Result<Self, KernelError> {
                let r = self.fmod_(o)?;
                Ok(if r != 0 && ((r < 0) != (o < 0)) { r.wrapping_add(o) } else { r })
            }
            fn abs_(self) -> Self {
                self.wrapping_abs()
            }
            fn neg_(self) -> Self {
                self.wrapping_neg()
            }
            fn sign_(self) -> Self {
                self.signum()
            }
        }
    )*};
}

macro_rules! unsigned_num {
    ($($t:ty),*) => {$(
        impl Num for $t {
            int_common!($t);
            fn pymod_(self, o: Self) -> Result<Self, KernelError> {
                self.fmod_(o)
            }
            fn abs_(self) -> Self {
                self
            }
            fn neg_(self) -> Self {
                self.wrapping_neg()
            }
            fn sign_(self) -> Self {
                self.min(1)
            }
        }
    )*};
}

signed_num!(i8, i16, i32, i64);
unsigned_num!(u8, u16, u32, u64);

/// numpy's float remainder: sign of the divisor, `-0`/`+0` following the divisor.
pub fn py_fmod<F: num_traits::Float>(a: F, b: F) -> F {
    let r = a % b;
    if r != F::zero() {
        if (b < F::zero()) != (r < F::zero()) {
            r + b
        } else {
            r
        }
    } else {
        F::zero().copysign(b)
    }
}

fn float_sign<F: num_traits::Float>(x: F) -> F {
    if x > F::zero() {
        F::one()
    } else if x < F::zero() {
        -F::one()
    } else {
        x
    }
}

macro_rules! native_float_num {
    ($($t:ty),*) => {$(
        impl Num for $t {
            const FLOAT: bool = true;
            fn is_nan_(self) -> bool { self.is_nan() }
            fn to_f64_(self) -> f64 { self as f64 }
            fn from_f64_(v: f64) -> Self { v as $t }
            fn zero_() -> Self { 0.0 }
            fn add_(self, o: Self) -> Self { self + o }
            fn sub_(self, o: Self) -> Self { self - o }
            fn mul_(self, o: Self) -> Self { self * o }
            fn div_(self, o: Self) -> Result<Self, KernelError> { Ok(self / o) }
            fn fmod_(self, o: Self) -> Result<Self, KernelError> { Ok(self % o) }
            fn pymod_(self, o: Self) -> Result<Self, KernelError> { Ok(py_fmod(self, o)) }
            fn abs_(self) -> Self { self.abs() }
            fn neg_(self) -> Self { -self }
            fn sign_(self) -> Self { float_sign(self) }
        }
    )*};
}

native_float_num!(f32, f64);

macro_rules! half_num {
    ($($t:ty),*) => {$(
        impl Num for $t {
            const FLOAT: bool = true;
            fn is_nan_(self) -> bool { self.is_nan() }
            fn to_f64_(self) -> f64 { self.to_f64() }
            fn from_f64_(v: f64) -> Self { <$t>::from_f64(v) }
            fn zero_() -> Self { <$t>::ZERO }
            fn add_(self, o: Self) -> Self { <$t>::from_f32(self.to_f32() + o.to_f32()) }
            fn sub_(self, o: Self) -> Self { <$t>::from_f32(self.to_f32() - o.to_f32()) }
            fn mul_(self, o: Self) -> Self { <$t>::from_f32(self.to_f32() * o.to_f32()) }
            fn div_(self, o: Self) -> Result<Self, KernelError> {
                Ok(<$t>::from_f32(self.to_f32() / o.to_f32()))
            }
            fn fmod_(self, o: Self) -> Result<Self, KernelError> {
                Ok(<$t>::from_f32(self.to_f32() % o.to_f32()))
            }
            fn pymod_(self, o: Self) -> Result<Self, KernelError> {
                Ok(<$t>::from_f32(py_fmod(self.to_f32(), o.to_f32())))
            }
            fn abs_(self) -> Self { <$t>::from_f32(self.to_f32().abs()) }
            fn neg_(self) -> Self { -self }
            fn sign_(self) -> Self { <$t>::from_f32(float_sign(self.to_f32())) }
        }
    )*};
}

half_num!(f16, bf16);

/// Matches two arrays of the same variant among the listed ones, binding their typed
/// arrays; `same` wraps the body's result in that variant again, `plain` returns it as is.
macro_rules! pair_match {
    (@w same $V:ident $e:expr) => { $crate::Array::$V($e) };
    (@w plain $V:ident $e:expr) => { $e };
    ($w:ident [$($V:ident),*] $a:expr, $b:expr, |$p:ident, $q:ident| $body:expr) => {
        match ($a, $b) {
            $( ($crate::Array::$V($p), $crate::Array::$V($q)) =>
                $crate::ops::elementwise::common::pair_match!(@w $w $V $body), )*
            (x, y) => $crate::bail!(
                "unsupported input types {} and {}", x.dtype(), y.dtype()
            ),
        }
    };
}
pub(crate) use pair_match;

/// Like [`pair_match!`] for one array.
macro_rules! one_match {
    ($w:ident [$($V:ident),*] $a:expr, |$p:ident| $body:expr) => {
        match $a {
            $( $crate::Array::$V($p) =>
                $crate::ops::elementwise::common::pair_match!(@w $w $V $body), )*
            x => $crate::bail!("unsupported input type {}", x.dtype()),
        }
    };
}
pub(crate) use one_match;

/// Same-typed numeric pair (every float and integer type), result in the same variant.
macro_rules! num_same {
    ($a:expr, $b:expr, |$p:ident, $q:ident| $body:expr) => {
        $crate::ops::elementwise::common::pair_match!(
            same [F32, F64, F16, BF16, I8, I16, I32, I64, U8, U16, U32, U64]
            $a, $b, |$p, $q| $body
        )
    };
}
pub(crate) use num_same;

/// Maps a float array (f32, f64, f16, bf16) elementwise; in `$body`, `$x` has type `$F`
/// (f32 for f32/f16/bf16, f64 for f64).
macro_rules! float_map {
    ($arr:expr, $F:ident, |$x:ident| $body:expr) => {
        match $arr {
            $crate::Array::F32(a) => {
                type $F = f32;
                $crate::Array::F32(a.mapv(|$x: $F| $body))
            }
            $crate::Array::F64(a) => {
                type $F = f64;
                $crate::Array::F64(a.mapv(|$x: $F| $body))
            }
            $crate::Array::F16(a) => {
                type $F = f32;
                $crate::Array::F16(a.mapv(|v| {
                    let $x: $F = v.to_f32();
                    half::f16::from_f32($body)
                }))
            }
            $crate::Array::BF16(a) => {
                type $F = f32;
                $crate::Array::BF16(a.mapv(|v| {
                    let $x: $F = v.to_f32();
                    half::bf16::from_f32($body)
                }))
            }
            other => $crate::bail!(
                "unsupported input type {} (expected a float type)",
                other.dtype()
            ),
        }
    };
}
pub(crate) use float_map;

/// Widens a float to f64 (identity for f64; keeps generic macro bodies lint-free).
pub fn to64<T: Into<f64>>(x: T) -> f64 {
    x.into()
}

/// The error function in the type's own precision (musl's `erff` / `erf` via `libm`:
/// within an ulp, and no f64 detour for f32 data).
pub trait Erf: Copy {
    fn erf(self) -> Self;
}

impl Erf for f32 {
    #[inline(always)]
    fn erf(self) -> f32 {
        // A rational approximation on [-4, 4] (Eigen's `generic_fast_erf_float`, also
        // what TensorFlow and ONNX Runtime use): branch-free, so `mapv` vectorizes it;
        // within a few ulp of the true value (see the test). Beyond ±4, erf is ±1 in f32.
        // No `mul_add`: without FMA in the target features it becomes a libm call.
        let x = self.clamp(-4.0, 4.0); // NaN stays NaN

        let x2 = x * x;
        let mut p = x2 * -2.726_142_3e-10 + 2.770_681_4e-8;
        p = x2 * p + -2.101_024e-6;
        p = x2 * p + -5.692_506_4e-5;
        p = x2 * p + -7.349_906_3e-4;
        p = x2 * p + -2.954_600_2e-3;
        p = x2 * p + -1.609_603_3e-2;
        let mut q = x2 * -1.456_607_2e-5 + -2.133_740_6e-4;
        q = x2 * q + -1.682_827e-3;
        q = x2 * q + -7.373_329e-3;
        q = x2 * q + -1.426_474e-2;
        x * p / q
    }
}

impl Erf for f64 {
    fn erf(self) -> f64 {
        libm::erf(self)
    }
}

/// Before opset 7, binary ops broadcast only B onto A, and only with `broadcast=1`: B's
/// dimensions line up with A's from `axis` (default: A's trailing dimensions). Returns B
/// reshaped so that numpy broadcasting gives that result; B unchanged otherwise.
pub fn legacy_rhs<'a>(
    ctx: &crate::OpCtx<'_>,
    a: &crate::Array,
    b: &'a crate::Array,
) -> Result<std::borrow::Cow<'a, crate::Array>, KernelError> {
    use std::borrow::Cow;
    if ctx.opset >= 7 || ctx.attrs().int("broadcast", 0)? == 0 {
        return Ok(Cow::Borrowed(b));
    }
    let (ra, rb) = (a.shape().len(), b.shape().len());
    if rb > ra {
        bail!("B has rank {rb}, more than A's {ra}");
    }
    let axis = match ctx.attrs().get("axis") {
        None => ra - rb,
        Some(_) => crate::ops::util::normalize_axis(ctx.attrs().int("axis", 0)?, ra.max(1))?,
    };
    if axis + rb > ra {
        bail!("B of rank {rb} does not fit A of rank {ra} at axis {axis}");
    }
    let mut shape = b.shape().to_vec();
    shape.resize(ra - axis, 1);
    let reshaped = crate::map_array!(b, x => x
        .as_standard_layout()
        .into_owned()
        .into_shape_with_order(IxDyn(&shape))?)?;
    Ok(Cow::Owned(reshaped))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn erf_values() {
        assert!(Erf::erf(0.0f64).abs() < 1e-15);
        assert!((Erf::erf(0.3f64) - 0.328_626_759_459_127_4).abs() < 1e-15);
        assert!((Erf::erf(-2.0f64) + 0.995_322_265_018_952_7).abs() < 1e-15);
        // f32: within 4 ulp of the f64 value (relative) on a dense grid.
        let mut worst = 0.0f64;
        for i in -60_000..=60_000 {
            let x = i as f32 * 1e-4;
            let want = libm::erf(x as f64);
            let got = Erf::erf(x) as f64;
            let ulp = (want.abs() as f32).max(f32::MIN_POSITIVE) as f64 * f32::EPSILON as f64;
            worst = worst.max((got - want).abs() / ulp);
        }
        eprintln!("f32 erf: worst error {worst:.2} ulp");
        // The vectorized loop Erf's kernel runs gives the scalar bits, NaN and ±inf included.
        let xs: Vec<f32> = (-60_000..=60_000)
            .map(|i| i as f32 * 1e-4)
            .chain([f32::NAN, f32::INFINITY, f32::NEG_INFINITY, 1e30, -0.0])
            .collect();
        let mut v = xs.clone();
        crate::ops::elementwise::fast::par_apply(&mut v, <f32 as Erf>::erf);
        for (x, y) in xs.iter().zip(&v) {
            assert_eq!(y.to_bits(), Erf::erf(*x).to_bits(), "erf({x})");
        }
        assert!(worst <= 4.0, "worst error {worst} ulp");
        assert!(Erf::erf(f32::NAN).is_nan());
        assert!((Erf::erf(f32::INFINITY) - 1.0).abs() <= f32::EPSILON);
        assert!((Erf::erf(-9.0f32) + 1.0).abs() <= f32::EPSILON);
    }

    #[test]
    fn python_modulo() {
        assert_eq!((-7i32).pymod_(3).unwrap(), 2);
        assert_eq!(7i32.pymod_(-3).unwrap(), -2);
        assert_eq!((-7i32).fmod_(3).unwrap(), -1);
        assert!(5i8.pymod_(0).is_err());
        assert_eq!(py_fmod(-3.0f64, f64::INFINITY), f64::INFINITY);
        assert!(py_fmod(0.0f64, -2.0).is_sign_negative());
    }

    #[test]
    fn broadcast_zip() {
        let a = ArrayD::from_shape_vec(IxDyn(&[2, 1]), vec![1, 2]).unwrap();
        let b = ArrayD::from_shape_vec(IxDyn(&[3]), vec![10, 20, 30]).unwrap();
        let c = zip2(&a, &b, |x, y| x + y).unwrap();
        assert_eq!(c.shape(), &[2, 3]);
        assert_eq!(
            c.iter().copied().collect::<Vec<_>>(),
            vec![11, 21, 31, 12, 22, 32]
        );
        let d = try_zip2(&a, &b, |x, y| Ok(x * y)).unwrap();
        assert_eq!(
            d.iter().copied().collect::<Vec<_>>(),
            vec![10, 20, 30, 20, 40, 60]
        );
    }
}

#[cfg(test)]
mod broadcast_tests {
    use ndarray::{ArrayD, IxDyn, Zip};

    use super::zip2;

    /// The contiguous fast paths give what ndarray's general broadcasting gives.
    #[test]
    fn fast_paths_match_general_broadcasting() {
        let cases: &[(&[usize], &[usize])] = &[
            (&[2, 3, 4, 5], &[3, 1, 1]),
            (&[2, 3, 4, 5], &[1, 3, 1, 1]),
            (&[2, 3, 4, 5], &[4, 1]),
            (&[2, 3, 4, 5], &[1, 4, 1]),
            (&[2, 3, 4, 5], &[2, 3, 4, 5]),
            (&[2, 3, 4, 5], &[5]),
            (&[2, 3, 4, 5], &[2, 1, 4, 5]),
            (&[3, 1, 1], &[2, 3, 4, 5]),
            (&[1, 3, 1, 5], &[2, 3, 4, 5]),
            (&[2, 3], &[3, 2, 1]),
            // A whole row repeated (a bias over [batch, seq, features]), either side.
            (&[2, 3, 4, 5], &[4, 5]),
            (&[2, 3, 4, 5], &[1, 1, 4, 5]),
            (&[5], &[2, 3, 4, 5]),
            (&[1, 4, 5], &[2, 3, 4, 5]),
        ];
        for &(sa, sb) in cases {
            let na = sa.iter().product::<usize>();
            let a = ArrayD::from_shape_vec(IxDyn(sa), (0..na).map(|v| v as f32 * 0.5).collect())
                .unwrap();
            let n = sb.iter().product::<usize>();
            let b = ArrayD::from_shape_vec(IxDyn(sb), (0..n).map(|v| v as f32 + 1.0).collect())
                .unwrap();
            let got = zip2(&a, &b, |x, y| x * 10.0 - y).unwrap();
            let shape = crate::ops::util::broadcast_shapes(sa, sb).unwrap();
            let (av, bv) = (
                a.broadcast(IxDyn(&shape)).unwrap(),
                b.broadcast(IxDyn(&shape)).unwrap(),
            );
            let want = Zip::from(&av).and(&bv).map_collect(|x, y| x * 10.0 - y);
            assert_eq!(got, want, "{sa:?} with {sb:?}");
        }
    }
}
