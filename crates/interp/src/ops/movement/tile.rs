//! Tile (opset 6+: `repeats` input, one non-negative count per axis; every type).

use crate::ops::util::one;
use crate::{bail, Data, KernelError, OpCtx};

use super::common::gather_tables;
use crate::ops::elem::{checked_count, strides_of};

pub fn tile(ctx: &OpCtx<'_>) -> Result<Vec<Data>, KernelError> {
    let x = ctx.input(0)?;
    let reps = ctx.input(1)?.to_i64_vec()?;
    let s = x.shape();
    if reps.len() != s.len() {
        bail!("repeats {reps:?} do not match rank {}", s.len());
    }
    let mut out = Vec::with_capacity(s.len());
    for (&d, &r) in s.iter().zip(&reps) {
        let r = usize::try_from(r).map_err(|_| KernelError::new(format!("invalid repeat {r}")))?;
        out.push(
            d.checked_mul(r)
                .ok_or_else(|| KernelError::new("Tile output is too large"))?,
        );
    }
    checked_count(&out)?;
    let st = strides_of(s);
    let tables: Vec<Vec<usize>> = (0..s.len())
        .map(|k| (0..out[k]).map(|i| (i % s[k]) * st[k]).collect())
        .collect();
    one(gather_tables(x, &tables, None)?)
}
