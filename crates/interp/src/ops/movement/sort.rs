//! Ordering-based ops.
//!
//! - TopK: `k` attribute before opset 10, input from 10; `axis` (default -1), `largest`
//!   and `sorted` (11, default 1). Ties keep the lower index first, NaN counts as the
//!   largest value (as the reference's lexsort). Outputs values and i64 indices.
//! - ArgMax / ArgMin: `axis` (default 0), `keepdims` (default 1), `select_last_index`
//!   (12, default 0). A NaN is selected first (as numpy). i64 output.
//! - Unique (11): `axis` (optional; flattened input when absent), `sorted` (default 1);
//!   outputs Y, indices (first occurrences), inverse_indices and counts (i64). Sub-tensors
//!   along `axis` compare lexicographically.
//! - NonZero (9): i64 `[rank, nnz]` coordinates of the non-zero elements in row-major order.

use std::cmp::Ordering;

use ndarray::{ArrayD, IxDyn};

use crate::ops::util::{normalize_axis, one};
use crate::{bail, Array, Data, KernelError, OpCtx};

use super::common::{flat, gather_tables, mv_dispatch, take, typed, Elem};
use crate::ops::elem::strides_of;

fn i64_array(shape: &[usize], v: Vec<i64>) -> Result<Array, KernelError> {
    Ok(Array::I64(ArrayD::from_shape_vec(IxDyn(shape), v)?))
}

/// Sorted positions (within each lane along `axis`) for every lane: returns, for each lane
/// `(outer, inner)`, the lane's indices ordered by `cmp`.
fn lanes<T: Elem>(
    x: &[T],
    shape: &[usize],
    axis: usize,
    mut per_lane: impl FnMut(
        usize,
        usize,
        &mut dyn Iterator<Item = (usize, &T)>,
    ) -> Result<(), KernelError>,
) -> Result<(), KernelError> {
    let d = shape[axis];
    let outer: usize = shape[..axis].iter().product();
    let inner: usize = shape[axis + 1..].iter().product();
    for o in 0..outer {
        for i in 0..inner {
            let base = o * d * inner + i;
            let mut it = (0..d).map(|j| (j, &x[base + j * inner]));
            per_lane(o, i, &mut it)?;
        }
    }
    Ok(())
}

pub fn top_k(ctx: &OpCtx<'_>) -> Result<Vec<Data>, KernelError> {
    let x = ctx.input(0)?;
    let k = if ctx.opset < 10 {
        ctx.attrs().int("k", -1)?
    } else {
        match ctx.input(1)?.to_i64_vec()?.as_slice() {
            [k] => *k,
            _ => bail!("K must have one element"),
        }
    };
    let s = x.shape();
    let axis = normalize_axis(ctx.attrs().int("axis", -1)?, s.len())?;
    if k < 0 || k as usize > s[axis] {
        bail!("k = {k} is out of range for an axis of size {}", s[axis]);
    }
    let k = k as usize;
    let largest = ctx.attrs().int("largest", 1)? != 0;
    let outer: usize = s[..axis].iter().product();
    let inner: usize = s[axis + 1..].iter().product();
    let d = s[axis];
    let mut out_shape = s.to_vec();
    out_shape[axis] = k;
    // Source offsets in output order and the chosen indices.
    let mut offs = vec![0usize; outer * k * inner];
    let mut idx = vec![0i64; outer * k * inner];
    mv_dispatch!(x, T => {
        let data = flat(typed::<T>(x)?);
        lanes::<T>(&data, s, axis, |o, i, lane| {
            let mut v: Vec<(usize, &T)> = lane.collect();
            v.sort_by(|a, b| {
                let c = a.1.total_cmp(b.1);
                let c = if largest { c.reverse() } else { c };
                c.then(a.0.cmp(&b.0))
            });
            for (r, (j, _)) in v.into_iter().take(k).enumerate() {
                let p = o * k * inner + r * inner + i;
                offs[p] = o * d * inner + j * inner + i;
                idx[p] = j as i64;
            }
            Ok(())
        })?
    });
    let values = take(x, &offs, &out_shape, None)?;
    Ok(vec![values.into(), i64_array(&out_shape, idx)?.into()])
}

#[allow(clippy::eq_op)]
fn is_nan<T: PartialEq>(v: &T) -> bool {
    v != v
}

fn arg(ctx: &OpCtx<'_>, max: bool) -> Result<Vec<Data>, KernelError> {
    let x = ctx.input(0)?;
    let s = x.shape();
    let axis = normalize_axis(ctx.attrs().int("axis", 0)?, s.len())?;
    let keepdims = ctx.attrs().int("keepdims", 1)? != 0;
    let last = ctx.attrs().int("select_last_index", 0)? != 0;
    if s[axis] == 0 {
        bail!("ArgMax/ArgMin of an empty axis");
    }
    let inner: usize = s[axis + 1..].iter().product();
    let mut out = vec![0i64; x.len() / s[axis].max(1)];
    mv_dispatch!(x, T => {
        let data = flat(typed::<T>(x)?);
        lanes::<T>(&data, s, axis, |o, i, lane| {
            let mut best: Option<(usize, &T)> = None;
            for (j, v) in lane {
                best = match best {
                    None => Some((j, v)),
                    Some((bj, bv)) => {
                        // NaN wins for both ArgMax and ArgMin, as in numpy.
                        let c = match (is_nan(v), is_nan(bv)) {
                            (true, true) => Ordering::Equal,
                            (true, false) if max => Ordering::Greater,
                            (true, false) => Ordering::Less,
                            (false, true) if max => Ordering::Less,
                            (false, true) => Ordering::Greater,
                            (false, false) => v.total_cmp(bv),
                        };
                        let better = if max { c == Ordering::Greater } else { c == Ordering::Less };
                        if better || (last && c == Ordering::Equal) {
                            Some((j, v))
                        } else {
                            Some((bj, bv))
                        }
                    }
                };
            }
            out[o * inner + i] = best.map_or(0, |b| b.0 as i64);
            Ok(())
        })?
    });
    let mut shape = s.to_vec();
    if keepdims {
        shape[axis] = 1;
    } else {
        shape.remove(axis);
    }
    one(i64_array(&shape, out)?)
}

pub fn arg_max(ctx: &OpCtx<'_>) -> Result<Vec<Data>, KernelError> {
    arg(ctx, true)
}

pub fn arg_min(ctx: &OpCtx<'_>) -> Result<Vec<Data>, KernelError> {
    arg(ctx, false)
}

pub fn non_zero(ctx: &OpCtx<'_>) -> Result<Vec<Data>, KernelError> {
    let x = ctx.input(0)?;
    let s: Vec<usize> = if x.shape().is_empty() {
        vec![1]
    } else {
        x.shape().to_vec()
    };
    let nz: Vec<usize> = mv_dispatch!(x, T => {
        flat(typed::<T>(x)?).iter().enumerate().filter(|(_, v)| !v.is_zero()).map(|(p, _)| p).collect()
    });
    let r = s.len();
    let n = nz.len();
    let st = strides_of(&s);
    let mut out = vec![0i64; r * n];
    for (c, &p) in nz.iter().enumerate() {
        for k in 0..r {
            out[k * n + c] = ((p / st[k]) % s[k]) as i64;
        }
    }
    one(i64_array(&[r, n], out)?)
}

pub fn unique(ctx: &OpCtx<'_>) -> Result<Vec<Data>, KernelError> {
    let x = ctx.input(0)?;
    let sorted = ctx.attrs().int("sorted", 1)? != 0;
    let (x, axis) = match ctx.attrs().get("axis") {
        Some(_) => {
            let a = normalize_axis(ctx.attrs().int("axis", 0)?, x.shape().len())?;
            (x.clone(), a)
        }
        None => (super::common::reshape(x, &[x.len()])?, 0),
    };
    let s = x.shape().to_vec();
    let d = s[axis];
    let outer: usize = s[..axis].iter().product();
    let inner: usize = s[axis + 1..].iter().product();
    // Slice j along axis = elements (o, j, i) for all o, i.
    let order: Vec<usize> = mv_dispatch!(&x, T => {
        let data = flat(typed::<T>(&x)?);
        let cmp = |a: usize, b: usize| -> Ordering {
            for o in 0..outer {
                for i in 0..inner {
                    let c = data[o * d * inner + a * inner + i]
                        .total_cmp(&data[o * d * inner + b * inner + i]);
                    if c != Ordering::Equal {
                        return c;
                    }
                }
            }
            Ordering::Equal
        };
        let mut order: Vec<usize> = (0..d).collect();
        order.sort_by(|&a, &b| cmp(a, b).then(a.cmp(&b)));
        // Group equal runs: first element of each run is its first occurrence.
        let mut group_of = vec![0usize; d];
        let mut firsts: Vec<usize> = Vec::new();
        let mut counts: Vec<i64> = Vec::new();
        for (r, &j) in order.iter().enumerate() {
            if r == 0 || cmp(order[r - 1], j) != Ordering::Equal {
                firsts.push(j);
                counts.push(0);
            }
            let g = firsts.len() - 1;
            group_of[j] = g;
            counts[g] += 1;
        }
        // Group order in the output: sorted, or by first occurrence.
        let mut groups: Vec<usize> = (0..firsts.len()).collect();
        if !sorted {
            groups.sort_by_key(|&g| firsts[g]);
        }
        let mut rank = vec![0usize; groups.len()];
        for (r, &g) in groups.iter().enumerate() {
            rank[g] = r;
        }
        let mut packed = Vec::with_capacity(3 * groups.len() + d);
        packed.extend(groups.iter().map(|&g| firsts[g]));
        packed.extend(groups.iter().map(|&g| counts[g] as usize));
        packed.extend((0..d).map(|j| rank[group_of[j]]));
        packed
    });
    let u = (order.len() - d) / 2;
    let firsts = &order[..u];
    let counts = &order[u..2 * u];
    let inverse = &order[2 * u..];
    let st = strides_of(&s);
    let tables: Vec<Vec<usize>> = (0..s.len())
        .map(|k| {
            if k == axis {
                firsts.iter().map(|&j| j * st[k]).collect()
            } else {
                (0..s[k]).map(|i| i * st[k]).collect()
            }
        })
        .collect();
    let y = gather_tables(&x, &tables, None)?;
    Ok(vec![
        y.into(),
        i64_array(&[u], firsts.iter().map(|&v| v as i64).collect())?.into(),
        i64_array(&[d], inverse.iter().map(|&v| v as i64).collect())?.into(),
        i64_array(&[u], counts.iter().map(|&v| v as i64).collect())?.into(),
    ])
}
