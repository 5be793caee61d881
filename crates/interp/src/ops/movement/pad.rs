//! Pad and CenterCropPad.
//!
//! Pad: `paddings`/`pads` attribute before opset 11 (with float `value`), `pads` input
//! (and optional `constant_value` input) from 11, optional `axes` input from 18; modes
//! `constant`, `reflect`, `edge` and `wrap` (19). Negative pads crop. Every type for
//! constant mode.
//!
//! CenterCropPad (18): crops (centered, extra element dropped at the end) or zero-pads
//! (centered, extra element added at the end) each of `axes` (default all) to `shape`.

use crate::ops::util::one;
use crate::{bail, Array, Data, KernelError, OpCtx};

use super::common::{from_f64_vec, gather_tables, normalize_axes, zero_like, FILL};
use crate::ops::elem::strides_of;

#[derive(Clone, Copy, PartialEq, Debug)]
enum Mode {
    Constant,
    Reflect,
    Edge,
    Wrap,
}

/// Source index along an axis of size `d` for padded position `src` (`None`: fill).
fn source(src: i64, d: usize, mode: Mode) -> Result<Option<usize>, KernelError> {
    let di = d as i64;
    if (0..di).contains(&src) {
        return Ok(Some(src as usize));
    }
    if mode == Mode::Constant {
        return Ok(None);
    }
    if d == 0 {
        bail!("cannot pad an empty axis in {mode:?} mode");
    }
    Ok(Some(match mode {
        Mode::Edge => src.clamp(0, di - 1) as usize,
        Mode::Wrap => src.rem_euclid(di) as usize,
        Mode::Reflect => {
            if d == 1 {
                0
            } else {
                let p = 2 * (di - 1);
                let m = src.rem_euclid(p);
                (if m >= di { p - m } else { m }) as usize
            }
        }
        Mode::Constant => unreachable!("handled above"),
    }))
}

fn pad_array(x: &Array, pads: &[i64], mode: Mode, value: &Array) -> Result<Array, KernelError> {
    let s = x.shape();
    let r = s.len();
    if pads.len() != 2 * r {
        bail!("pads {pads:?} do not match rank {r}");
    }
    let st = strides_of(s);
    let mut tables = Vec::with_capacity(r);
    let mut total: usize = 1;
    for k in 0..r {
        let (b, e) = (pads[k] as i128, pads[k + r] as i128);
        let n = s[k] as i128 + b + e;
        if n < 0 {
            bail!("pads {pads:?} remove more than axis {k} holds");
        }
        if n > crate::ops::elem::MAX_ELEMS as i128 {
            bail!("padded output is too large");
        }
        let n = n as i64;
        total = total.saturating_mul((n as usize).max(1));
        if total > crate::ops::elem::MAX_ELEMS {
            bail!("padded output is too large");
        }
        // |b| <= n + |e| may still be huge; positions are computed in i128.
        let mut t = Vec::with_capacity(n as usize);
        for i in 0..n {
            let src = i as i128 - b;
            let src = i64::try_from(src).unwrap_or(if src < 0 { i64::MIN } else { i64::MAX });
            t.push(match source(src, s[k], mode)? {
                Some(j) => j * st[k],
                None => FILL,
            });
        }
        tables.push(t);
    }
    gather_tables(x, &tables, Some(value))
}

pub fn pad(ctx: &OpCtx<'_>) -> Result<Vec<Data>, KernelError> {
    let x = ctx.input(0)?;
    let r = x.shape().len();
    let mode = match ctx.attrs().string("mode", "constant")?.as_str() {
        "constant" => Mode::Constant,
        "reflect" => Mode::Reflect,
        "edge" => Mode::Edge,
        "wrap" => Mode::Wrap,
        m => bail!("unknown Pad mode {m:?}"),
    };
    let (pads, value) = if ctx.opset < 11 {
        let name = if ctx.opset < 2 { "paddings" } else { "pads" };
        let pads = ctx.attrs().ints(name, vec![])?;
        let v = ctx.float("value")? as f64;
        let value = match x {
            Array::Str(_) => zero_like(x)?,
            _ => from_f64_vec(x.dtype(), &[], vec![v])?,
        };
        (pads, value)
    } else {
        let pads = ctx.input(1)?.to_i64_vec()?;
        let value = match ctx.opt_input(2)? {
            Some(v) if !v.is_empty() => {
                if v.dtype() != x.dtype() {
                    bail!(
                        "constant_value type {} differs from input type {}",
                        v.dtype(),
                        x.dtype()
                    );
                }
                v.clone()
            }
            _ => zero_like(x)?,
        };
        let pads = match ctx.opt_input(3)? {
            Some(axes) if ctx.opset >= 18 => {
                let axes = normalize_axes(&axes.to_i64_vec()?, r)?;
                if pads.len() != 2 * axes.len() {
                    bail!("pads {pads:?} do not match axes {axes:?}");
                }
                let mut full = vec![0; 2 * r];
                let n = axes.len();
                for (j, &a) in axes.iter().enumerate() {
                    full[a] = pads[j];
                    full[a + r] = pads[j + n];
                }
                full
            }
            _ => pads,
        };
        (pads, value)
    };
    let value = if value.len() == 1 && !value.shape().is_empty() {
        super::common::reshape(&value, &[])?
    } else {
        value
    };
    one(pad_array(x, &pads, mode, &value)?)
}

pub fn center_crop_pad(ctx: &OpCtx<'_>) -> Result<Vec<Data>, KernelError> {
    let x = ctx.input(0)?;
    let target = ctx.input(1)?.to_i64_vec()?;
    let s = x.shape();
    let r = s.len();
    let axes: Vec<usize> = match ctx.attrs().get("axes") {
        Some(_) => normalize_axes(&ctx.attrs().ints("axes", vec![])?, r)?,
        None => (0..r).collect(),
    };
    if target.len() != axes.len() {
        bail!("shape {target:?} does not match axes {axes:?}");
    }
    let mut pads = vec![0i64; 2 * r];
    for (j, &a) in axes.iter().enumerate() {
        let t = target[j];
        if t < 0 {
            bail!("invalid target size {t}");
        }
        let d = s[a] as i64;
        if t < d {
            let b = (d - t) / 2;
            pads[a] = -b;
            pads[a + r] = -(d - t - b);
        } else if t > d {
            let b = (t - d) / 2;
            pads[a] = b;
            pads[a + r] = t - d - b;
        }
    }
    one(pad_array(x, &pads, Mode::Constant, &zero_like(x)?)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pad_modes_index_like_numpy() {
        // numpy.pad(arange(3), 4, mode) on the left: positions -4..0.
        let src = |m| {
            (-4..0)
                .map(|i| source(i, 3, m).unwrap())
                .collect::<Vec<_>>()
        };
        assert_eq!(src(Mode::Reflect), vec![Some(0), Some(1), Some(2), Some(1)]);
        assert_eq!(src(Mode::Edge), vec![Some(0); 4]);
        assert_eq!(src(Mode::Wrap), vec![Some(2), Some(0), Some(1), Some(2)]);
        assert_eq!(src(Mode::Constant), vec![None; 4]);
        assert!(source(-1, 0, Mode::Edge).is_err());
    }
}
