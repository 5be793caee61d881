//! Slice: `starts`/`ends`/`axes` attributes before opset 10; from 10 inputs `starts`,
//! `ends`, optional `axes` (negative allowed) and `steps` (negative steps walk backwards).
//! Starts and ends are clamped to the dimension as the spec says. Every type.

use crate::ops::util::one;
use crate::{bail, Array, Data, KernelError, OpCtx};

use super::common::{gather_tables, normalize_axes};
use crate::ops::elem::strides_of;

/// The indices a slice `start:end:step` selects in a dimension of size `dim`, with ONNX's
/// clamping rules.
pub fn slice_indices(
    start: i64,
    end: i64,
    step: i64,
    dim: usize,
) -> Result<Vec<usize>, KernelError> {
    if step == 0 {
        bail!("Slice step cannot be 0");
    }
    if dim == 0 {
        return Ok(vec![]);
    }
    let d = dim as i128;
    let (mut s, mut e) = (start as i128, end as i128);
    if s < 0 {
        s += d;
    }
    if e < 0 {
        e += d;
    }
    let step = step as i128;
    let mut out = Vec::new();
    if step > 0 {
        s = s.clamp(0, d);
        e = e.clamp(0, d);
        let mut i = s;
        while i < e {
            out.push(i as usize);
            i += step;
        }
    } else {
        s = s.clamp(0, (d - 1).max(0));
        e = e.clamp(-1, d - 1);
        let mut i = s;
        while i > e {
            out.push(i as usize);
            i += step;
        }
    }
    Ok(out)
}

pub fn slice_array(
    x: &Array,
    starts: &[i64],
    ends: &[i64],
    axes: Option<&[i64]>,
    steps: Option<&[i64]>,
) -> Result<Array, KernelError> {
    let shape = x.shape();
    let rank = shape.len();
    if starts.len() != ends.len() {
        bail!("Slice starts and ends have different lengths");
    }
    let axes: Vec<usize> = match axes {
        Some(a) => {
            if a.len() != starts.len() {
                bail!("Slice axes and starts have different lengths");
            }
            normalize_axes(a, rank)?
        }
        None => {
            if starts.len() > rank {
                bail!("Slice has more starts than the input has axes");
            }
            (0..starts.len()).collect()
        }
    };
    if let Some(st) = steps {
        if st.len() != starts.len() {
            bail!("Slice steps and starts have different lengths");
        }
    }
    let st = strides_of(shape);
    let mut tables: Vec<Vec<usize>> = (0..rank)
        .map(|k| (0..shape[k]).map(|i| i * st[k]).collect())
        .collect();
    for (j, &ax) in axes.iter().enumerate() {
        let step = steps.map_or(1, |s| s[j]);
        let idx = slice_indices(starts[j], ends[j], step, shape[ax])?;
        tables[ax] = idx.into_iter().map(|i| i * st[ax]).collect();
    }
    gather_tables(x, &tables, None)
}

pub fn slice(ctx: &OpCtx<'_>) -> Result<Vec<Data>, KernelError> {
    let x = ctx.input(0)?;
    if ctx.opset < 10 {
        let starts = ctx.attrs().ints("starts", vec![])?;
        let ends = ctx.attrs().ints("ends", vec![])?;
        let axes = ctx
            .attrs()
            .get("axes")
            .map(|_| ctx.attrs().ints("axes", vec![]))
            .transpose()?;
        return one(slice_array(x, &starts, &ends, axes.as_deref(), None)?);
    }
    let starts = ctx.input(1)?.to_i64_vec()?;
    let ends = ctx.input(2)?.to_i64_vec()?;
    let axes = ctx.opt_input(3)?.map(|a| a.to_i64_vec()).transpose()?;
    let steps = ctx.opt_input(4)?.map(|a| a.to_i64_vec()).transpose()?;
    one(slice_array(
        x,
        &starts,
        &ends,
        axes.as_deref(),
        steps.as_deref(),
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clamping_and_negative_steps() {
        assert_eq!(slice_indices(0, i64::MAX, 1, 3).unwrap(), vec![0, 1, 2]);
        assert_eq!(slice_indices(-1, i64::MIN, -1, 3).unwrap(), vec![2, 1, 0]);
        assert_eq!(slice_indices(10, -10, -2, 4).unwrap(), vec![3, 1]);
        assert_eq!(
            slice_indices(1000, 1001, 1, 4).unwrap(),
            Vec::<usize>::new()
        );
        assert!(slice_indices(0, 1, 0, 4).is_err());
        assert_eq!(slice_indices(0, -1, -1, 0).unwrap(), Vec::<usize>::new());
    }
}
