//! Element selection by position: Compress (`axis`, optional: flattened input when absent;
//! the condition may be shorter than the axis), Trilu (14: `upper`, default 1, optional
//! `k` input) and ReverseSequence (10: `batch_axis` default 1, `time_axis` default 0).

use crate::ops::util::{normalize_axis, one};
use crate::{bail, Array, Data, KernelError, OpCtx};

use super::common::{gather_tables, reshape, take, zero_like, FILL};
use super::gather::for_each_index;
use crate::ops::elem::strides_of;

pub fn compress(ctx: &OpCtx<'_>) -> Result<Vec<Data>, KernelError> {
    let x = ctx.input(0)?;
    let cond: Vec<bool> = match ctx.input(1)? {
        Array::Bool(c) => c.iter().copied().collect(),
        other => other.to_f64_vec()?.into_iter().map(|v| v != 0.0).collect(),
    };
    let (x, axis) = match ctx.attrs().get("axis") {
        Some(_) => {
            let a = normalize_axis(ctx.attrs().int("axis", 0)?, x.shape().len())?;
            (x.clone(), a)
        }
        None => (reshape(x, &[x.len()])?, 0),
    };
    let s = x.shape();
    if cond.len() > s[axis] {
        bail!(
            "condition has {} entries for an axis of size {}",
            cond.len(),
            s[axis]
        );
    }
    let st = strides_of(s);
    let tables: Vec<Vec<usize>> = (0..s.len())
        .map(|k| {
            if k == axis {
                (0..cond.len())
                    .filter(|&i| cond[i])
                    .map(|i| i * st[k])
                    .collect()
            } else {
                (0..s[k]).map(|i| i * st[k]).collect()
            }
        })
        .collect();
    one(gather_tables(&x, &tables, None)?)
}

pub fn trilu(ctx: &OpCtx<'_>) -> Result<Vec<Data>, KernelError> {
    let x = ctx.input(0)?;
    let k = match ctx.opt_input(1)? {
        Some(k) => match k.to_i64_vec()?.as_slice() {
            [k] => *k,
            _ => bail!("k must be a scalar"),
        },
        None => 0,
    };
    let upper = ctx.attrs().int("upper", 1)? != 0;
    let s = x.shape();
    if s.len() < 2 {
        bail!("Trilu needs rank >= 2, got {s:?}");
    }
    let (n, m) = (s[s.len() - 2], s[s.len() - 1]);
    let mut offs = Vec::with_capacity(x.len());
    for p in 0..x.len() {
        let i = ((p / m) % n.max(1)) as i64;
        let j = (p % m) as i64;
        let keep = if upper { j - i >= k } else { j - i <= k };
        offs.push(if keep { p } else { FILL });
    }
    one(take(x, &offs, s, Some(&zero_like(x)?))?)
}

pub fn reverse_sequence(ctx: &OpCtx<'_>) -> Result<Vec<Data>, KernelError> {
    let x = ctx.input(0)?;
    let lens = ctx.input(1)?.to_i64_vec()?;
    let s = x.shape();
    let r = s.len();
    let b = normalize_axis(ctx.attrs().int("batch_axis", 1)?, r)?;
    let t = normalize_axis(ctx.attrs().int("time_axis", 0)?, r)?;
    if b == t {
        bail!("batch_axis and time_axis must differ");
    }
    if lens.len() != s[b] {
        bail!(
            "sequence_lens has {} entries for a batch of {}",
            lens.len(),
            s[b]
        );
    }
    for &l in &lens {
        if l < 0 || l as usize > s[t] {
            bail!(
                "sequence length {l} is out of range for a time axis of {}",
                s[t]
            );
        }
    }
    let st = strides_of(s);
    let mut offs = Vec::with_capacity(x.len());
    for_each_index(s, |p, mi| {
        let l = lens[mi[b]] as usize;
        let ti = mi[t];
        offs.push(if ti < l {
            p - ti * st[t] + (l - 1 - ti) * st[t]
        } else {
            p
        });
        Ok(())
    })?;
    one(take(x, &offs, s, None)?)
}
