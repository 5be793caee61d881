//! Gather (`axis`), GatherElements (`axis`) and GatherND (`batch_dims` from opset 12).
//! Indices are int32/int64, negative ones count from the end; out-of-range indices are
//! errors. Data of every type.

use crate::ops::util::{normalize_axis, one};
use crate::{bail, Data, KernelError, OpCtx};

use super::common::{gather_tables, reshape, resolve_index, take};
use crate::ops::elem::{checked_count, strides_of};

pub fn gather(ctx: &OpCtx<'_>) -> Result<Vec<Data>, KernelError> {
    let x = ctx.input(0)?;
    let ind = ctx.input(1)?;
    let s = x.shape();
    let axis = normalize_axis(ctx.attrs().int("axis", 0)?, s.len())?;
    let dim = s[axis];
    let outer: usize = s[..axis].iter().product();
    let inner: usize = s[axis + 1..].iter().product();
    let idx = ind
        .to_i64_vec()?
        .into_iter()
        .map(|v| resolve_index(v, dim))
        .collect::<Result<Vec<_>, _>>()?;
    let mut out_shape = s[..axis].to_vec();
    out_shape.extend_from_slice(ind.shape());
    out_shape.extend_from_slice(&s[axis + 1..]);
    checked_count(&out_shape)?;
    let tables = vec![
        (0..outer).map(|o| o * dim * inner).collect(),
        idx.into_iter().map(|i| i * inner).collect(),
        (0..inner).collect(),
    ];
    let y = gather_tables(x, &tables, None)?;
    one(reshape(&y, &out_shape)?)
}

/// Calls `f(flat_position, multi_index)` for every element of `shape` in row-major order.
pub fn for_each_index(
    shape: &[usize],
    mut f: impl FnMut(usize, &[usize]) -> Result<(), KernelError>,
) -> Result<(), KernelError> {
    let n: usize = shape.iter().product();
    let mut idx = vec![0usize; shape.len()];
    for p in 0..n {
        f(p, &idx)?;
        for k in (0..shape.len()).rev() {
            idx[k] += 1;
            if idx[k] < shape[k] {
                break;
            }
            idx[k] = 0;
        }
    }
    Ok(())
}

/// Flat data offsets addressed by an GatherElements/ScatterElements `indices` tensor of
/// shape `ishape` along `axis` of a data tensor of shape `dshape`.
pub fn element_offsets(
    dshape: &[usize],
    ishape: &[usize],
    idx: &[i64],
    axis: usize,
) -> Result<Vec<usize>, KernelError> {
    if ishape.len() != dshape.len() {
        bail!(
            "indices rank {} differs from data rank {}",
            ishape.len(),
            dshape.len()
        );
    }
    for (k, (&i, &d)) in ishape.iter().zip(dshape).enumerate() {
        if k != axis && i > d {
            bail!("indices shape {ishape:?} exceeds data shape {dshape:?}");
        }
    }
    let st = strides_of(dshape);
    let mut offs = Vec::with_capacity(idx.len());
    for_each_index(ishape, |p, mi| {
        let mut o = 0;
        for k in 0..mi.len() {
            let i = if k == axis {
                resolve_index(idx[p], dshape[k])?
            } else {
                mi[k]
            };
            o += i * st[k];
        }
        offs.push(o);
        Ok(())
    })?;
    Ok(offs)
}

pub fn gather_elements(ctx: &OpCtx<'_>) -> Result<Vec<Data>, KernelError> {
    let x = ctx.input(0)?;
    let ind = ctx.input(1)?;
    let axis = normalize_axis(ctx.attrs().int("axis", 0)?, x.shape().len())?;
    let idx = ind.to_i64_vec()?;
    let offs = element_offsets(x.shape(), ind.shape(), &idx, axis)?;
    one(take(x, &offs, ind.shape(), None)?)
}

/// For GatherND/ScatterND: the flat data offset of each index tuple and the size of the
/// slice it addresses; also the output shape of GatherND.
pub fn nd_offsets(
    dshape: &[usize],
    ishape: &[usize],
    idx: &[i64],
    batch_dims: usize,
) -> Result<(Vec<usize>, usize, Vec<usize>), KernelError> {
    let q = ishape.len();
    let r = dshape.len();
    if q == 0 {
        bail!("indices must have rank at least 1");
    }
    let k = ishape[q - 1];
    if batch_dims >= q || batch_dims >= r || batch_dims + k > r {
        bail!(
            "invalid GatherND shapes: data {dshape:?}, indices {ishape:?}, batch_dims {batch_dims}"
        );
    }
    if ishape[..batch_dims] != dshape[..batch_dims] {
        bail!("batch dimensions of data {dshape:?} and indices {ishape:?} differ");
    }
    let st = strides_of(dshape);
    let inner: usize = dshape[batch_dims + k..].iter().product();
    let batch: usize = dshape[..batch_dims].iter().product();
    let batch_stride: usize = dshape[batch_dims..].iter().product();
    let tuples: usize = ishape[batch_dims..q - 1].iter().product();
    let mut offs = Vec::with_capacity(batch * tuples);
    for b in 0..batch {
        for t in 0..tuples {
            let base = (b * tuples + t) * k;
            let mut o = b * batch_stride;
            for j in 0..k {
                let i = resolve_index(idx[base + j], dshape[batch_dims + j])?;
                o += i * st[batch_dims + j];
            }
            offs.push(o);
        }
    }
    let mut out_shape = ishape[..q - 1].to_vec();
    out_shape.extend_from_slice(&dshape[batch_dims + k..]);
    Ok((offs, inner, out_shape))
}

pub fn gather_nd(ctx: &OpCtx<'_>) -> Result<Vec<Data>, KernelError> {
    let x = ctx.input(0)?;
    let ind = ctx.input(1)?;
    let b = ctx.attrs().int("batch_dims", 0)?;
    let b = usize::try_from(b).map_err(|_| KernelError::new("batch_dims must be >= 0"))?;
    let idx = ind.to_i64_vec()?;
    let (offs, inner, out_shape) = nd_offsets(x.shape(), ind.shape(), &idx, b)?;
    checked_count(&out_shape)?;
    let tables = vec![offs, (0..inner).collect()];
    let y = gather_tables(x, &tables, None)?;
    one(reshape(&y, &out_shape)?)
}
