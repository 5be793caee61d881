//! Shape-only ops: Reshape (shape attribute before opset 5, input after; `allowzero` from
//! 14), Flatten (`axis`), Squeeze / Unsqueeze (`axes` attribute before opset 13, input
//! from 13), Shape (`start`/`end` from 15), Size, and Expand (bidirectional broadcast).

use crate::ops::util::{broadcast_shapes, one};
use crate::{bail, Array, Data, KernelError, OpCtx};

use super::common::{gather_tables, normalize_axes, reshape as reshape_to};
use crate::ops::elem::{checked_count, strides_of};
use ndarray::{ArrayD, IxDyn};

/// The output shape of Reshape for `input` and the requested `shape` (0 copies the input
/// dimension unless `allowzero`; one -1 is inferred).
pub fn reshape_shape(
    input: &[usize],
    shape: &[i64],
    allowzero: bool,
) -> Result<Vec<usize>, KernelError> {
    let mut out = Vec::with_capacity(shape.len());
    let mut infer = None;
    if allowzero && shape.contains(&0) && shape.contains(&-1) {
        bail!("Reshape with allowzero=1 cannot have both 0 and -1 in shape {shape:?}");
    }
    for (i, &d) in shape.iter().enumerate() {
        match d {
            -1 => {
                if infer.is_some() {
                    bail!("Reshape shape {shape:?} has more than one -1");
                }
                infer = Some(i);
                out.push(1);
            }
            0 if !allowzero => match input.get(i) {
                Some(&v) => out.push(v),
                None => bail!("Reshape shape {shape:?}: 0 at index {i} is past the input rank"),
            },
            d if d >= 0 => out.push(d as usize),
            d => bail!("Reshape: invalid dimension {d}"),
        }
    }
    let total: usize = input.iter().product();
    let known = checked_count(&out)?;
    if let Some(i) = infer {
        if known == 0 || !total.is_multiple_of(known) {
            bail!("cannot reshape {input:?} to {shape:?}");
        }
        out[i] = total / known;
    } else if known != total {
        bail!("cannot reshape {input:?} to {shape:?}");
    }
    Ok(out)
}

pub fn reshape(ctx: &OpCtx<'_>) -> Result<Vec<Data>, KernelError> {
    let x = ctx.input(0)?;
    let shape = if ctx.opset < 5 {
        ctx.attrs().ints("shape", vec![])?
    } else {
        ctx.input(1)?.to_i64_vec()?
    };
    let allowzero = ctx.attrs().int("allowzero", 0)? != 0;
    let out = reshape_shape(x.shape(), &shape, allowzero)?;
    one(reshape_to(x, &out)?)
}

pub fn flatten(ctx: &OpCtx<'_>) -> Result<Vec<Data>, KernelError> {
    let x = ctx.input(0)?;
    let r = x.shape().len() as i64;
    let axis = ctx.attrs().int("axis", 1)?;
    if axis < -r || axis > r {
        bail!("axis {axis} is out of range for rank {r}");
    }
    let axis = if axis < 0 { axis + r } else { axis } as usize;
    let a: usize = x.shape()[..axis].iter().product();
    let b: usize = x.shape()[axis..].iter().product();
    one(reshape_to(x, &[a, b])?)
}

pub fn squeeze(ctx: &OpCtx<'_>) -> Result<Vec<Data>, KernelError> {
    let x = ctx.input(0)?;
    let shape = x.shape();
    let axes = if ctx.opset < 13 {
        ctx.attrs()
            .get("axes")
            .map(|_| ctx.attrs().ints("axes", vec![]))
            .transpose()?
    } else {
        ctx.opt_input(1)?.map(|a| a.to_i64_vec()).transpose()?
    };
    let out: Vec<usize> = match axes {
        None => shape.iter().copied().filter(|&d| d != 1).collect(),
        Some(axes) => {
            let axes = normalize_axes(&axes, shape.len())?;
            for &a in &axes {
                if shape[a] != 1 {
                    bail!("cannot squeeze axis {a} of size {}", shape[a]);
                }
            }
            shape
                .iter()
                .enumerate()
                .filter(|(i, _)| !axes.contains(i))
                .map(|(_, &d)| d)
                .collect()
        }
    };
    one(reshape_to(x, &out)?)
}

pub fn unsqueeze(ctx: &OpCtx<'_>) -> Result<Vec<Data>, KernelError> {
    let x = ctx.input(0)?;
    let axes = if ctx.opset < 13 {
        ctx.attrs().ints("axes", vec![])?
    } else {
        ctx.input(1)?.to_i64_vec()?
    };
    let rank = x.shape().len() + axes.len();
    let axes = normalize_axes(&axes, rank)?;
    let mut it = x.shape().iter();
    let mut out = Vec::with_capacity(rank);
    for i in 0..rank {
        if axes.contains(&i) {
            out.push(1);
        } else {
            match it.next() {
                Some(&d) => out.push(d),
                None => bail!("Unsqueeze axes are inconsistent with the input rank"),
            }
        }
    }
    one(reshape_to(x, &out)?)
}

pub fn shape(ctx: &OpCtx<'_>) -> Result<Vec<Data>, KernelError> {
    let x = ctx.input(0)?;
    let s = x.shape();
    let r = s.len() as i64;
    let clamp = |v: i64| -> usize {
        let v = if v < 0 { v + r } else { v };
        v.clamp(0, r) as usize
    };
    let start = clamp(ctx.attrs().int("start", 0)?);
    let end = clamp(ctx.attrs().int("end", r)?);
    let dims: Vec<i64> = if start < end {
        s[start..end].iter().map(|&d| d as i64).collect()
    } else {
        vec![]
    };
    let n = dims.len();
    one(Array::I64(ArrayD::from_shape_vec(IxDyn(&[n]), dims)?))
}

pub fn size(ctx: &OpCtx<'_>) -> Result<Vec<Data>, KernelError> {
    let x = ctx.input(0)?;
    one(Array::I64(ArrayD::from_elem(IxDyn(&[]), x.len() as i64)))
}

/// `x` broadcast to `out` (which must be a broadcast of its shape).
pub fn broadcast_to(x: &Array, out: &[usize]) -> Result<Array, KernelError> {
    let s = x.shape();
    if out.len() < s.len() {
        bail!("cannot broadcast {s:?} to {out:?}");
    }
    let st = strides_of(s);
    let lead = out.len() - s.len();
    let mut tables = Vec::with_capacity(out.len());
    for (i, &d) in out.iter().enumerate() {
        if i < lead {
            tables.push(vec![0; d]);
        } else {
            let k = i - lead;
            if s[k] == d {
                tables.push((0..d).map(|j| j * st[k]).collect());
            } else if s[k] == 1 {
                tables.push(vec![0; d]);
            } else {
                bail!("cannot broadcast {s:?} to {out:?}");
            }
        }
    }
    gather_tables(x, &tables, None)
}

pub fn expand(ctx: &OpCtx<'_>) -> Result<Vec<Data>, KernelError> {
    let x = ctx.input(0)?;
    let shape = ctx.input(1)?.to_i64_vec()?;
    let shape = super::common::dims_usize(&shape)?;
    let out = broadcast_shapes(x.shape(), &shape)?;
    checked_count(&out)?;
    one(broadcast_to(x, &out)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reshape_rules() {
        assert_eq!(
            reshape_shape(&[2, 3, 4], &[0, -1], false).unwrap(),
            vec![2, 12]
        );
        assert_eq!(
            reshape_shape(&[0, 3, 4], &[3, 4, 0], true).unwrap(),
            vec![3, 4, 0]
        );
        assert!(reshape_shape(&[2, 3], &[-1, -1], false).is_err());
        assert!(reshape_shape(&[2, 3], &[4, -1], false).is_err());
        assert!(reshape_shape(&[2, 3], &[0, -1], true).is_err());
        assert!(reshape_shape(&[2, 3], &[0, 0, 0], false).is_err());
    }
}
