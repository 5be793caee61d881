//! Helpers shared by the movement kernels: a typed view of [`Array`] variants ([`Elem`],
//! [`Num`] and the `dispatch!` macros), element gathering by flat source offsets
//! ([`take`], [`gather_tables`]), size limits and typed constructors.

use std::borrow::Cow;

use bytes::Bytes;
use half::{bf16, f16};
use modelc_ir::DType;
use ndarray::{ArrayD, IxDyn};

use crate::ops::elem::checked_count;
use crate::ops::util::normalize_axis;
use crate::{bail, Array, KernelError};

/// An element type an [`Array`] holds (every variant but `Packed`).
pub trait Elem: Clone + Default + PartialOrd + std::fmt::Debug + 'static {
    fn get(a: &Array) -> Option<&ArrayD<Self>>;
    fn wrap(a: ArrayD<Self>) -> Array;

    /// A total order: NaN is greater than everything and equal to NaN (numpy's sort order).
    #[allow(clippy::eq_op)]
    fn total_cmp(&self, o: &Self) -> std::cmp::Ordering {
        use std::cmp::Ordering;
        match self.partial_cmp(o) {
            Some(c) => c,
            None => match (self != self, o != o) {
                (true, true) => Ordering::Equal,
                (true, false) => Ordering::Greater,
                _ => Ordering::Less,
            },
        }
    }

    /// Whether this is the type's zero (false, empty string); NaN is not zero.
    fn is_zero(&self) -> bool {
        *self == Self::default()
    }
}

/// A numeric element type with the conversions and arithmetic kernels need.
pub trait Num: Elem + Copy + PartialOrd {
    fn to_f64(self) -> f64;
    /// `as`-style conversion (saturating for integers).
    fn from_f64(v: f64) -> Self;
    /// Addition (wrapping for integers; f16/bf16 through f32).
    fn add(self, o: Self) -> Self;
    /// Multiplication (wrapping for integers).
    fn mul(self, o: Self) -> Self;
    fn is_nan(self) -> bool;
    fn zero() -> Self {
        Self::from_f64(0.0)
    }
}

macro_rules! elem {
    ($t:ty, $v:ident) => {
        impl Elem for $t {
            fn get(a: &Array) -> Option<&ArrayD<Self>> {
                match a {
                    Array::$v(x) => Some(x),
                    _ => None,
                }
            }
            fn wrap(a: ArrayD<Self>) -> Array {
                Array::$v(a)
            }
        }
    };
}
elem!(f32, F32);
elem!(f64, F64);
elem!(f16, F16);
elem!(bf16, BF16);
elem!(i8, I8);
elem!(i16, I16);
elem!(i32, I32);
elem!(i64, I64);
elem!(u8, U8);
elem!(u16, U16);
elem!(u32, U32);
elem!(u64, U64);
elem!(bool, Bool);
elem!(String, Str);

macro_rules! num_int {
    ($t:ty) => {
        impl Num for $t {
            fn to_f64(self) -> f64 {
                self as f64
            }
            fn from_f64(v: f64) -> Self {
                v as $t
            }
            fn add(self, o: Self) -> Self {
                self.wrapping_add(o)
            }
            fn mul(self, o: Self) -> Self {
                self.wrapping_mul(o)
            }
            fn is_nan(self) -> bool {
                false
            }
        }
    };
}
num_int!(i8);
num_int!(i16);
num_int!(i32);
num_int!(i64);
num_int!(u8);
num_int!(u16);
num_int!(u32);
num_int!(u64);

macro_rules! num_float {
    ($t:ty) => {
        impl Num for $t {
            fn to_f64(self) -> f64 {
                self as f64
            }
            fn from_f64(v: f64) -> Self {
                v as $t
            }
            fn add(self, o: Self) -> Self {
                self + o
            }
            fn mul(self, o: Self) -> Self {
                self * o
            }
            fn is_nan(self) -> bool {
                <$t>::is_nan(self)
            }
        }
    };
}
num_float!(f32);
num_float!(f64);

macro_rules! num_half {
    ($t:ty) => {
        impl Num for $t {
            fn to_f64(self) -> f64 {
                <$t>::to_f64(self)
            }
            fn from_f64(v: f64) -> Self {
                <$t>::from_f64(v)
            }
            fn add(self, o: Self) -> Self {
                <$t>::from_f32(self.to_f32() + o.to_f32())
            }
            fn mul(self, o: Self) -> Self {
                <$t>::from_f32(self.to_f32() * o.to_f32())
            }
            fn is_nan(self) -> bool {
                <$t>::is_nan(self)
            }
        }
    };
}
num_half!(f16);
num_half!(bf16);

impl Num for bool {
    fn to_f64(self) -> f64 {
        self as u8 as f64
    }
    fn from_f64(v: f64) -> Self {
        v != 0.0
    }
    fn add(self, o: Self) -> Self {
        self || o
    }
    fn mul(self, o: Self) -> Self {
        self && o
    }
    fn is_nan(self) -> bool {
        false
    }
}

/// Runs `$body` with `$T` bound to the element type of `$arr` (every type but packed ones).
macro_rules! mv_dispatch {
    ($arr:expr, $T:ident => $body:expr) => {
        match $arr {
            $crate::Array::Bool(_) => {
                type $T = bool;
                $body
            }
            $crate::Array::Str(_) => {
                type $T = String;
                $body
            }
            $crate::Array::Packed { dtype, .. } => {
                $crate::bail!("element type {dtype} is not supported by this op")
            }
            numeric => $crate::ops::movement::common::mv_dispatch_num!(numeric, $T => $body),
        }
    };
}

/// Like `mv_dispatch!` for numeric types only (no bool, strings or packed types).
macro_rules! mv_dispatch_num {
    ($arr:expr, $T:ident => $body:expr) => {
        match $arr {
            $crate::Array::F32(_) => {
                type $T = f32;
                $body
            }
            $crate::Array::F64(_) => {
                type $T = f64;
                $body
            }
            $crate::Array::F16(_) => {
                type $T = half::f16;
                $body
            }
            $crate::Array::BF16(_) => {
                type $T = half::bf16;
                $body
            }
            $crate::Array::I8(_) => {
                type $T = i8;
                $body
            }
            $crate::Array::I16(_) => {
                type $T = i16;
                $body
            }
            $crate::Array::I32(_) => {
                type $T = i32;
                $body
            }
            $crate::Array::I64(_) => {
                type $T = i64;
                $body
            }
            $crate::Array::U8(_) => {
                type $T = u8;
                $body
            }
            $crate::Array::U16(_) => {
                type $T = u16;
                $body
            }
            $crate::Array::U32(_) => {
                type $T = u32;
                $body
            }
            $crate::Array::U64(_) => {
                type $T = u64;
                $body
            }
            other => $crate::bail!("element type {} is not supported by this op", other.dtype()),
        }
    };
}

pub(crate) use mv_dispatch;
pub(crate) use mv_dispatch_num;

/// The typed array inside `a`, or an error naming the mismatch.
pub fn typed<T: Elem>(a: &Array) -> Result<&ArrayD<T>, KernelError> {
    T::get(a).ok_or_else(|| KernelError::new(format!("unexpected element type {}", a.dtype())))
}

/// The elements of `a` in row-major order, borrowed when already contiguous.
pub fn flat<T: Clone>(a: &ArrayD<T>) -> Cow<'_, [T]> {
    match a.as_slice() {
        Some(s) => Cow::Borrowed(s),
        None => Cow::Owned(a.iter().cloned().collect()),
    }
}

/// Converts i64 dimensions to usize, rejecting negatives.
pub fn dims_usize(dims: &[i64]) -> Result<Vec<usize>, KernelError> {
    dims.iter()
        .map(|&d| {
            usize::try_from(d).map_err(|_| KernelError::new(format!("invalid dimension {d}")))
        })
        .collect()
}

/// `a` with a new shape of the same element count (any type, packed included).
pub fn reshape(a: &Array, shape: &[usize]) -> Result<Array, KernelError> {
    let n = checked_count(shape)?;
    if n != a.len() {
        bail!(
            "cannot reshape {:?} ({} elements) to {shape:?}",
            a.shape(),
            a.len()
        );
    }
    if let Array::Packed { dtype, bytes, .. } = a {
        return Ok(Array::Packed {
            dtype: *dtype,
            shape: shape.to_vec(),
            bytes: bytes.clone(),
        });
    }
    crate::map_array!(a, x => ArrayD::from_shape_vec(IxDyn(shape), flat(x).into_owned())?)
}

/// Sentinel offset meaning "use the fill value" in [`take`] / [`gather_tables`].
pub const FILL: usize = usize::MAX;

/// A new array of `shape` whose element `i` is `a`'s row-major element `offs[i]` (or `fill`'s
/// single element where `offs[i] == FILL`). Works for every type; packed types with whole
/// bytes per element are moved as bytes.
pub fn take(
    a: &Array,
    offs: &[usize],
    shape: &[usize],
    fill: Option<&Array>,
) -> Result<Array, KernelError> {
    take_runs(a, offs, 1, shape, fill)
}

/// Like [`take`] with runs: the output is `run` consecutive source elements starting at
/// each of `starts` (a whole run of fill values where the start is `FILL`).
pub fn take_runs(
    a: &Array,
    starts: &[usize],
    run: usize,
    shape: &[usize],
    fill: Option<&Array>,
) -> Result<Array, KernelError> {
    let n = a.len();
    let in_range = |o: usize| o.checked_add(run).is_some_and(|e| e <= n);
    if let Array::Packed { dtype, bytes, .. } = a {
        let bits = dtype.bits() as usize;
        if bits == 0 || !bits.is_multiple_of(8) {
            bail!("element type {dtype} is not supported by this op");
        }
        let w = bits / 8;
        let fill_bytes: Option<Bytes> = match fill {
            Some(Array::Packed { bytes, .. }) if bytes.len() >= w => Some(bytes.slice(0..w)),
            Some(_) => bail!("fill value type does not match {dtype}"),
            None => None,
        };
        let mut out = Vec::with_capacity(starts.len() * run * w);
        for &o in starts {
            if o == FILL {
                match &fill_bytes {
                    Some(f) => (0..run).for_each(|_| out.extend_from_slice(f)),
                    None => bail!("internal error: fill offset without a fill value"),
                }
            } else if in_range(o) {
                out.extend_from_slice(&bytes[o * w..(o + run) * w]);
            } else {
                bail!("internal error: offset {o} out of range");
            }
        }
        return Ok(Array::Packed {
            dtype: *dtype,
            shape: shape.to_vec(),
            bytes: Bytes::from(out),
        });
    }
    mv_dispatch!(a, T => take_runs_t::<T>(a, starts, run, shape, fill, in_range))
}

fn take_runs_t<T: Elem>(
    a: &Array,
    starts: &[usize],
    run: usize,
    shape: &[usize],
    fill: Option<&Array>,
    in_range: impl Fn(usize) -> bool,
) -> Result<Array, KernelError> {
    let src = flat(typed::<T>(a)?);
    let fill_v: Option<T> = match fill {
        Some(f) => Some(
            typed::<T>(f)?
                .iter()
                .next()
                .cloned()
                .ok_or_else(|| KernelError::new("empty fill value"))?,
        ),
        None => None,
    };
    let mut out: Vec<T> = Vec::with_capacity(starts.len() * run);
    for &o in starts {
        if o == FILL {
            match &fill_v {
                Some(f) => out.extend(std::iter::repeat_n(f.clone(), run)),
                None => bail!("internal error: fill offset without a fill value"),
            }
        } else if in_range(o) {
            out.extend_from_slice(&src[o..o + run]);
        } else {
            bail!("internal error: offset {o} out of range");
        }
    }
    Ok(T::wrap(ArrayD::from_shape_vec(IxDyn(shape), out)?))
}

/// Flat source offsets of an output whose axis `k` has `tables[k].len()` entries: the
/// offset of output index `(i0, i1, ...)` is `tables[0][i0] + tables[1][i1] + ...`
/// (`FILL` anywhere makes it `FILL`).
pub fn table_offsets(tables: &[Vec<usize>]) -> Result<Vec<usize>, KernelError> {
    let shape: Vec<usize> = tables.iter().map(|t| t.len()).collect();
    let n = checked_count(&shape)?;
    let mut offs = Vec::with_capacity(n);
    offs.push(0usize);
    for t in tables {
        let mut next = Vec::with_capacity(offs.len() * t.len());
        for &o in &offs {
            for &v in t {
                next.push(if o == FILL || v == FILL { FILL } else { o + v });
            }
        }
        offs = next;
    }
    Ok(offs)
}

/// [`take`] with offsets from [`table_offsets`].
pub fn gather_tables(
    a: &Array,
    tables: &[Vec<usize>],
    fill: Option<&Array>,
) -> Result<Array, KernelError> {
    let shape: Vec<usize> = tables.iter().map(|t| t.len()).collect();
    checked_count(&shape)?;
    // Copy the innermost axis as runs when it reads consecutive elements.
    if let Some((last, rest)) = tables.split_last() {
        let contiguous = last
            .first()
            .is_some_and(|&f| f != FILL && last.iter().enumerate().all(|(i, &v)| v == f + i));
        if contiguous && last.len() > 1 {
            let mut starts = table_offsets(rest)?;
            for o in starts.iter_mut().filter(|o| **o != FILL) {
                *o += last[0];
            }
            return take_runs(a, &starts, last.len(), &shape, fill);
        }
    }
    let offs = table_offsets(tables)?;
    take(a, &offs, &shape, fill)
}

/// Normalizes a list of axes against `rank`, rejecting duplicates.
pub fn normalize_axes(axes: &[i64], rank: usize) -> Result<Vec<usize>, KernelError> {
    let mut out = Vec::with_capacity(axes.len());
    for &a in axes {
        let ax = normalize_axis(a, rank)?;
        if out.contains(&ax) {
            bail!("axis {a} is repeated");
        }
        out.push(ax);
    }
    Ok(out)
}

/// Resolves index `v` into a dimension of size `dim` (negatives count from the end); an
/// error when out of range.
pub fn resolve_index(v: i64, dim: usize) -> Result<usize, KernelError> {
    let d = dim as i64;
    let r = if v < 0 { v + d } else { v };
    if r < 0 || r >= d {
        bail!("index {v} is out of range for a dimension of size {dim}");
    }
    Ok(r as usize)
}

/// An array of `dtype` (numeric or bool) from f64 values (`as` conversions).
pub fn from_f64_vec(dtype: DType, shape: &[usize], v: Vec<f64>) -> Result<Array, KernelError> {
    macro_rules! mk {
        ($t:ty) => {
            <$t as Elem>::wrap(ArrayD::from_shape_vec(
                IxDyn(shape),
                v.into_iter().map(<$t as Num>::from_f64).collect(),
            )?)
        };
    }
    Ok(match dtype {
        DType::F32 => mk!(f32),
        DType::F64 => mk!(f64),
        DType::F16 => mk!(f16),
        DType::BF16 => mk!(bf16),
        DType::I8 => mk!(i8),
        DType::I16 => mk!(i16),
        DType::I32 => mk!(i32),
        DType::I64 => mk!(i64),
        DType::U8 => mk!(u8),
        DType::U16 => mk!(u16),
        DType::U32 => mk!(u32),
        DType::U64 => mk!(u64),
        DType::Bool => mk!(bool),
        d => bail!("element type {d} is not supported by this op"),
    })
}

/// An array of `dtype` (integer) from i64 values (`as` conversions, exact for i64).
pub fn from_i64_vec(dtype: DType, shape: &[usize], v: Vec<i64>) -> Result<Array, KernelError> {
    macro_rules! mk {
        ($t:ty) => {
            <$t as Elem>::wrap(ArrayD::from_shape_vec(
                IxDyn(shape),
                v.into_iter().map(|x| x as $t).collect(),
            )?)
        };
    }
    Ok(match dtype {
        DType::I8 => mk!(i8),
        DType::I16 => mk!(i16),
        DType::I32 => mk!(i32),
        DType::I64 => mk!(i64),
        DType::U8 => mk!(u8),
        DType::U16 => mk!(u16),
        DType::U32 => mk!(u32),
        DType::U64 => mk!(u64),
        d => from_f64_vec(d, shape, v.into_iter().map(|x| x as f64).collect())?,
    })
}

/// A scalar zero of `a`'s type (empty string for strings).
pub fn zero_like(a: &Array) -> Result<Array, KernelError> {
    if let Array::Str(_) = a {
        return Ok(Array::Str(ArrayD::from_elem(IxDyn(&[]), String::new())));
    }
    from_f64_vec(a.dtype(), &[], vec![0.0])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_gather_and_fill() {
        let a = Array::I64(ArrayD::from_shape_vec(IxDyn(&[2, 2]), vec![1, 2, 3, 4]).unwrap());
        // Transpose via tables: out[i][j] = a[j][i].
        let t = gather_tables(&a, &[vec![0, 1], vec![0, 2]], None).unwrap();
        assert_eq!(t.to_i64_vec().unwrap(), vec![1, 3, 2, 4]);
        let fill = Array::I64(ArrayD::from_elem(IxDyn(&[]), 9));
        let t = gather_tables(&a, &[vec![FILL, 0], vec![1]], Some(&fill)).unwrap();
        assert_eq!(t.to_i64_vec().unwrap(), vec![9, 2]);
        assert!(take(&a, &[4], &[1], None).is_err());
        assert!(checked_count(&[1 << 20, 1 << 20]).is_err());
    }
}
