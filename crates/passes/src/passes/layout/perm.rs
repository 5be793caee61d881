//! Permutations and the constant-tensor transposes the layout passes need.
//!
//! A permutation `p` follows ONNX `Transpose`: output axis `j` is input axis `p[j]`.

use modelc_ir::{Tensor, TensorData};

/// The identity permutation of rank `r`.
pub fn identity(r: usize) -> Vec<usize> {
    (0..r).collect()
}

pub fn is_identity(p: &[usize]) -> bool {
    p.iter().enumerate().all(|(i, &x)| i == x)
}

/// `q` with `q[p[j]] = j`.
pub fn inverse(p: &[usize]) -> Vec<usize> {
    let mut q = vec![0; p.len()];
    for (j, &x) in p.iter().enumerate() {
        q[x] = j;
    }
    q
}

/// Transposing by `a` and then by `b` is transposing by `compose(a, b)`.
pub fn compose(a: &[usize], b: &[usize]) -> Vec<usize> {
    b.iter().map(|&j| a[j]).collect()
}

/// Whether `p` is a permutation of `0..p.len()`.
pub fn is_perm(p: &[usize]) -> bool {
    let mut seen = vec![false; p.len()];
    p.iter()
        .all(|&x| x < p.len() && !std::mem::replace(&mut seen[x], true))
}

/// Channels-first → channels-last for rank `r`: `[0, 2, ..., r-1, 1]`.
pub fn to_channels_last(r: usize) -> Vec<usize> {
    if r < 3 {
        return identity(r);
    }
    let mut p = vec![0];
    p.extend(2..r);
    p.push(1);
    p
}

/// Channels-last → channels-first for rank `r`: `[0, r-1, 1, ..., r-2]`.
pub fn to_channels_first(r: usize) -> Vec<usize> {
    inverse(&to_channels_last(r))
}

/// `values` (one per axis) reordered for a tensor transposed by `p`.
pub fn permute_list<T: Clone>(values: &[T], p: &[usize]) -> Vec<T> {
    p.iter().map(|&i| values[i].clone()).collect()
}

/// Whether transposing a tensor of `dims` by `p` leaves the row-major order of its elements
/// unchanged: the axes that may be larger than 1 keep their relative order.
pub fn order_preserving(p: &[usize], dims: &[Option<u64>]) -> bool {
    let big: Vec<usize> = p
        .iter()
        .copied()
        .filter(|&a| dims.get(a).copied().flatten() != Some(1))
        .collect();
    big.windows(2).all(|w| w[0] < w[1])
}

/// For an order-preserving `p` (see [`order_preserving`]) over a tensor of `dims`: the
/// `Flatten` axis of the transposed tensor that gives what `Flatten(axis=a)` gives on the
/// original. Any position after the last possibly non-unit axis before `a` and up to the
/// first one at or after `a` splits the same; `a` itself when it is one of them.
pub fn flatten_axis(p: &[usize], dims: &[Option<u64>], a: usize) -> usize {
    let r = p.len();
    let big = |j: &usize| dims.get(p[*j]).copied().flatten() != Some(1);
    let lo = (0..r)
        .rev()
        .filter(big)
        .find(|&j| p[j] < a)
        .map_or(0, |j| j + 1);
    let hi = (0..r).filter(big).find(|&j| p[j] >= a).unwrap_or(r);
    a.clamp(lo, hi.max(lo))
}

/// Bytes per element of a tensor whose elements are whole bytes; `None` for strings and
/// sub-byte types.
fn elem_bytes(t: &Tensor) -> Option<usize> {
    let bits = t.dtype.bits();
    (bits > 0 && bits.is_multiple_of(8) && matches!(t.data, TensorData::Raw(_)))
        .then_some(bits as usize / 8)
}

/// `t` transposed by `p`; `None` for element types that are not whole bytes (or a `p` that
/// does not fit).
pub fn transpose_tensor(t: &Tensor, p: &[usize]) -> Option<Tensor> {
    if p.len() != t.dims.len() || !is_perm(p) {
        return None;
    }
    let es = elem_bytes(t)?;
    let src = t.raw()?;
    if is_identity(p) {
        return Some(t.clone());
    }
    let dims: Vec<usize> = t.dims.iter().map(|&d| d as usize).collect();
    let out_dims: Vec<usize> = permute_list(&dims, p);
    // An empty tensor first: its other dims may be anything (their products overflow).
    if dims.contains(&0) {
        return Tensor::from_raw(
            t.dtype,
            out_dims.iter().map(|&d| d as u64).collect(),
            Vec::new().into(),
        )
        .ok();
    }
    let mut strides = vec![1usize; dims.len()];
    for i in (0..dims.len().saturating_sub(1)).rev() {
        strides[i] = strides[i + 1].checked_mul(dims[i + 1])?;
    }
    let out_strides: Vec<usize> = permute_list(&strides, p);
    let count = dims.iter().try_fold(1usize, |c, &d| c.checked_mul(d))?;
    let mut out = Vec::with_capacity(count.checked_mul(es)?);
    // Rows of the last output axis are copied in a tight loop; the index over the other
    // axes advances once per row.
    let last = out_dims.len() - 1;
    let (row_len, row_stride) = (out_dims[last], out_strides[last]);
    let mut idx = vec![0usize; last];
    let mut off = 0usize;
    for _ in 0..count / row_len.max(1) {
        let mut o = off;
        for _ in 0..row_len {
            out.extend_from_slice(&src[o * es..(o + 1) * es]);
            o += row_stride;
        }
        for ax in (0..last).rev() {
            idx[ax] += 1;
            off += out_strides[ax];
            if idx[ax] < out_dims[ax] {
                break;
            }
            off -= out_strides[ax] * out_dims[ax];
            idx[ax] = 0;
        }
    }
    // A layout change reads each weight once: the source's file pages need not stay resident
    // beside the transposed copy (see `release_resident`).
    modelc_ir::release_resident(src);
    Tensor::from_raw(
        t.dtype,
        out_dims.iter().map(|&d| d as u64).collect(),
        out.into(),
    )
    .ok()
}

/// `t` with a new shape of the same element count (row-major data unchanged).
pub fn reshape_tensor(t: &Tensor, dims: Vec<u64>) -> Option<Tensor> {
    (modelc_ir::element_count(&dims)? == t.element_count()?).then(|| Tensor {
        dtype: t.dtype,
        dims,
        data: t.data.clone(),
    })
}

/// A constant broadcast against a rank-`r` tensor transposed by `p`: left-padded with unit
/// axes to rank `r`, then transposed. Constants with at most one element need no change.
pub fn broadcast_const(t: &Tensor, r: usize, p: &[usize]) -> Option<Tensor> {
    if t.dims.len() > r {
        return None;
    }
    if t.element_count()? <= 1 && t.dims.len() <= 1 {
        return Some(t.clone());
    }
    let mut dims = vec![1u64; r - t.dims.len()];
    dims.extend_from_slice(&t.dims);
    transpose_tensor(&reshape_tensor(t, dims)?, p)
}

/// A 1-D tensor whose element `j` is `t`'s element `idx[j]`.
pub fn gather_1d(t: &Tensor, idx: &[usize]) -> Option<Tensor> {
    let es = elem_bytes(t)?;
    let src = t.raw()?;
    let n = *t.dims.first()? as usize;
    if t.dims.len() != 1 || idx.iter().any(|&i| i >= n) {
        return None;
    }
    let out: Vec<u8> = idx
        .iter()
        .flat_map(|&i| src[i * es..(i + 1) * es].iter().copied())
        .collect();
    Tensor::from_raw(t.dtype, vec![idx.len() as u64], out.into()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permutations() {
        assert_eq!(to_channels_last(4), [0, 2, 3, 1]);
        assert_eq!(to_channels_first(4), [0, 3, 1, 2]);
        assert_eq!(to_channels_last(3), [0, 2, 1]);
        let p = [2, 0, 1];
        assert!(is_identity(&compose(&p, &inverse(&p))));
        assert!(!is_perm(&[0, 0]));
    }

    #[test]
    fn transposes_bytes() {
        let t = Tensor::from_f32(vec![2, 3], &[0., 1., 2., 3., 4., 5.]).unwrap();
        let u = transpose_tensor(&t, &[1, 0]).unwrap();
        assert_eq!(u.dims, [3, 2]);
        assert_eq!(
            u,
            Tensor::from_f32(vec![3, 2], &[0., 3., 1., 4., 2., 5.]).unwrap()
        );
        let b = broadcast_const(
            &Tensor::from_f32(vec![2, 1, 1], &[1., 2.]).unwrap(),
            4,
            &[0, 2, 3, 1],
        )
        .unwrap();
        assert_eq!(b.dims, [1, 1, 1, 2]);
    }
}
