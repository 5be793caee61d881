//! Helpers shared by the reduce-family kernels: the f16/bf16 rounding points, lane
//! iteration (applying a function to every 1-D lane along an axis, or to every group of
//! reduced elements), axis handling and size limits.

use modelc_ir::DType;
use ndarray::{ArrayD, ArrayViewD, IxDyn};
use rayon::prelude::*;

use crate::ops::elem::{checked_count, Real};
use crate::ops::util::normalize_axis;
use crate::{bail, Array, KernelError};

/// How intermediate results are rounded: not at all (f32, f64), or — to reproduce the
/// ONNX reference, which computes f16 with numpy and bf16 with ml_dtypes step by step —
/// to f16 after every step (sums accumulated in f32, as numpy's pairwise sum does) or to
/// bf16 after every step including each addition of the sum.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Prec {
    Exact,
    Half,
    BHalf,
}

pub fn rnd<T: Real>(p: Prec, v: T) -> T {
    match p {
        Prec::Exact => v,
        Prec::Half => T::c(half::f16::from_f64(v.as_f64()).to_f64()),
        Prec::BHalf => T::c(half::bf16::from_f64(v.as_f64()).to_f64()),
    }
}

impl Prec {
    /// The rounding that reproduces the reference for inputs of type `dtype`.
    pub fn of(dtype: DType) -> Prec {
        match dtype {
            DType::F16 => Prec::Half,
            DType::BF16 => Prec::BHalf,
            _ => Prec::Exact,
        }
    }
}

/// The permutation that moves `axis` last, and its inverse.
fn axis_last_perm(rank: usize, axis: usize) -> (Vec<usize>, Vec<usize>) {
    let mut perm: Vec<usize> = (0..rank).filter(|&i| i != axis).collect();
    perm.push(axis);
    let mut inv = vec![0; rank];
    for (i, &p) in perm.iter().enumerate() {
        inv[p] = i;
    }
    (perm, inv)
}

/// Elements per parallel task of [`map_lanes`], at least.
pub(super) const LANE_ELEMS: usize = 1 << 13;

/// Applies `f` to every 1-D lane of `a` along `axis` (each lane a contiguous mutable
/// slice; lanes run as rayon tasks); returns the result in standard layout.
pub fn map_lanes<T: Clone + Send>(
    a: ArrayViewD<'_, T>,
    axis: usize,
    f: impl Fn(&mut [T]) + Sync,
) -> Result<ArrayD<T>, KernelError> {
    let rank = a.ndim();
    if axis >= rank {
        bail!("axis {axis} is out of range for rank {rank}");
    }
    let n = a.shape()[axis];
    let (perm, inv) = axis_last_perm(rank, axis);
    let mut b = a.permuted_axes(perm).as_standard_layout().into_owned();
    if n > 0 {
        let s = b
            .as_slice_mut()
            .ok_or_else(|| KernelError::new("internal: array not contiguous"))?;
        // Lanes are independent: split over the rayon pool in runs of about LANE_ELEMS.
        s.par_chunks_exact_mut(n)
            .with_min_len(LANE_ELEMS.div_ceil(n))
            .for_each(&f);
    }
    if axis + 1 == rank {
        return Ok(b);
    }
    Ok(b.permuted_axes(inv).as_standard_layout().into_owned())
}

/// Reduces every group of elements that differ only along the axes flagged in `mask`
/// with `f` (which receives them contiguously, in row-major order of the reduced axes;
/// an empty slice when a reduced axis has length 0). The result has the shape of the
/// kept axes.
pub fn reduce_groups<T: Clone, U>(
    a: ArrayViewD<'_, T>,
    mask: &[bool],
    mut f: impl FnMut(&[T]) -> U,
) -> Result<ArrayD<U>, KernelError> {
    let rank = a.ndim();
    let shape = a.shape().to_vec();
    let kept: Vec<usize> = (0..rank).filter(|&i| !mask[i]).collect();
    let red: Vec<usize> = (0..rank).filter(|&i| mask[i]).collect();
    let out_shape: Vec<usize> = kept.iter().map(|&i| shape[i]).collect();
    let lane: usize = red.iter().map(|&i| shape[i]).product();
    let n_out = checked_count(&out_shape)?;
    let out: Vec<U> = if lane == 0 {
        (0..n_out).map(|_| f(&[])).collect()
    } else {
        let perm: Vec<usize> = kept.iter().chain(red.iter()).copied().collect();
        let b = a.permuted_axes(perm);
        let b = b.as_standard_layout();
        let s = b
            .as_slice()
            .ok_or_else(|| KernelError::new("internal: array not contiguous"))?;
        s.chunks_exact(lane).map(f).collect()
    };
    Ok(ArrayD::from_shape_vec(IxDyn(&out_shape), out)?)
}

/// Normalizes a list of (possibly negative) axes against `rank` into a mask; repeated
/// axes are an error.
pub fn axes_mask(axes: &[i64], rank: usize) -> Result<Vec<bool>, KernelError> {
    let mut mask = vec![false; rank];
    for &ax in axes {
        let a = normalize_axis(ax, rank)?;
        if mask[a] {
            bail!("axis {ax} is repeated in {axes:?}");
        }
        mask[a] = true;
    }
    Ok(mask)
}

/// `shape` with the masked axes set to 1 (keepdims) or removed.
pub fn reduced_shape(shape: &[usize], mask: &[bool], keepdims: bool) -> Vec<usize> {
    shape
        .iter()
        .zip(mask)
        .filter_map(|(&d, &m)| match (m, keepdims) {
            (false, _) => Some(d),
            (true, true) => Some(1),
            (true, false) => None,
        })
        .collect()
}

/// The channel axis of a layout-sensitive op's input of rank `rank`: 1 for NCHW (ONNX's
/// default), the last axis for NHWC.
pub fn channel_axis(ctx: &crate::OpCtx<'_>, rank: usize) -> Result<usize, KernelError> {
    if rank < 2 {
        bail!("expected an input of rank at least 2, got rank {rank}");
    }
    Ok(match ctx.node.layout {
        Some(modelc_ir::Layout::Nhwc) => rank - 1,
        _ => 1,
    })
}

/// A 1-D parameter input converted to the compute type, checked to have `n` elements.
pub fn param<T: Real>(a: &Array, n: usize, what: &str) -> Result<Vec<T>, KernelError> {
    let v = T::cow(a)?;
    if v.len() != n {
        bail!("{what} has {} elements, expected {n}", v.len());
    }
    Ok(v.iter().copied().collect())
}

/// `a` with its channel axis `cax` moved to position 1, in standard layout (a copy only
/// when `cax != 1`).
pub fn channels_first<T: Clone>(a: ArrayViewD<'_, T>, cax: usize) -> ArrayD<T> {
    if cax == 1 {
        return a.as_standard_layout().into_owned();
    }
    let rank = a.ndim();
    let mut perm: Vec<usize> = vec![0, cax];
    perm.extend((1..rank).filter(|&i| i != cax));
    a.permuted_axes(perm).as_standard_layout().into_owned()
}

/// The inverse of [`channels_first`]: moves axis 1 back to `cax`.
pub fn channels_back<T: Clone>(a: ArrayD<T>, cax: usize) -> ArrayD<T> {
    if cax == 1 {
        return a;
    }
    let rank = a.ndim();
    let mut perm: Vec<usize> = vec![0, cax];
    perm.extend((1..rank).filter(|&i| i != cax));
    let mut inv = vec![0; rank];
    for (i, &p) in perm.iter().enumerate() {
        inv[p] = i;
    }
    a.permuted_axes(inv).as_standard_layout().into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::ArrayD;

    #[test]
    fn lanes_and_groups() {
        let a = ArrayD::from_shape_vec(IxDyn(&[2, 3]), vec![1, 2, 3, 4, 5, 6]).unwrap();
        let r = map_lanes(a.view(), 0, |l| l.reverse()).unwrap();
        assert_eq!(
            r.iter().copied().collect::<Vec<_>>(),
            vec![4, 5, 6, 1, 2, 3]
        );
        let s = reduce_groups(a.view(), &[false, true], |l| l.iter().sum::<i32>()).unwrap();
        assert_eq!(s.iter().copied().collect::<Vec<_>>(), vec![6, 15]);
        let s = reduce_groups(a.view(), &[true, false], |l| l.iter().sum::<i32>()).unwrap();
        assert_eq!(s.iter().copied().collect::<Vec<_>>(), vec![5, 7, 9]);
        assert!(axes_mask(&[0, -2], 2).is_err());
        assert!(axes_mask(&[2], 2).is_err());
    }
}
