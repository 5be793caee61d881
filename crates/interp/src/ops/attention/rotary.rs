//! RotaryEmbedding (opset 23): rotates pairs of features of each head by position-dependent
//! angles given as cos/sin caches.
//!
//! `input` is 4-D `(B, H, S, D)` or 3-D `(B, S, H*D)` (attribute `num_heads` gives H);
//! `cos_cache`/`sin_cache` are `(max_pos, R/2)` indexed by `position_ids` `(B, S)`, or
//! `(B, S, R/2)` when `position_ids` is omitted. Attributes: `rotary_embedding_dim` R
//! (0 = the whole head), `interleaved` (pairs are `(x[2i], x[2i+1])` instead of
//! `(x[i], x[i + R/2])`). Features past R are copied. f16/bf16 round after every step like
//! the reference.

use ndarray::{s, ArrayD};

use super::common::{from_real, rank4, split_heads, to_real, Prec, Real};
use crate::{bail, Data, KernelError, OpCtx};

pub fn rotary_embedding(ctx: &OpCtx<'_>) -> Result<Vec<Data>, KernelError> {
    let x = ctx.input(0)?;
    let prec = Prec::of_dtype(x.dtype())?;
    if prec == Prec::F64 {
        run::<f64>(ctx, prec)
    } else {
        run::<f32>(ctx, prec)
    }
}

fn run<F: Real>(ctx: &OpCtx<'_>, prec: Prec) -> Result<Vec<Data>, KernelError> {
    let attrs = ctx.attrs();
    let xa = ctx.input(0)?;
    let x = to_real::<F>(xa)?;
    let cos = to_real::<F>(ctx.input(1)?)?;
    let sin = to_real::<F>(ctx.input(2)?)?;
    let pos = match ctx.opt_input(3)? {
        Some(p) => Some((p.shape().to_vec(), p.to_i64_vec()?)),
        None => None,
    };
    let interleaved = attrs.int("interleaved", 0)? != 0;
    let rot_attr = attrs.int("rotary_embedding_dim", 0)?;
    let num_heads = attrs.int("num_heads", 0)?;
    let rank = x.ndim();
    // (B, S, H, D) standard layout.
    let x4 = match rank {
        4 => rank4(x, "input")?
            .permuted_axes([0, 2, 1, 3])
            .as_standard_layout()
            .into_owned(),
        3 => split_heads(&x, num_heads, "input")?
            .permuted_axes([0, 2, 1, 3])
            .as_standard_layout()
            .into_owned(),
        r => bail!("input must be rank 3 or 4, got rank {r}"),
    };
    let (b, sl, h, d) = x4.dim();
    if rot_attr < 0 {
        bail!("rotary_embedding_dim must be nonnegative");
    }
    let rot = if rot_attr == 0 { d } else { rot_attr as usize };
    if rot > d || !rot.is_multiple_of(2) {
        bail!("rotary_embedding_dim {rot} must be even and at most the head size {d}");
    }
    let half = rot / 2;
    for (c, name) in [(&cos, "cos_cache"), (&sin, "sin_cache")] {
        let want_rank = if pos.is_some() { 2 } else { 3 };
        if c.ndim() != want_rank || c.shape()[want_rank - 1] != half {
            bail!(
                "{name} shape {:?} does not match rotary_embedding_dim/2 = {half}",
                c.shape()
            );
        }
        if pos.is_none() && (c.shape()[0] != b || c.shape()[1] != sl) {
            bail!("{name} shape {:?} must be ({b}, {sl}, {half})", c.shape());
        }
    }
    if let Some((pshape, _)) = &pos {
        if pshape.as_slice() != [b, sl] {
            bail!("position_ids shape {pshape:?} must be ({b}, {sl})");
        }
    }
    let max_pos = cos.shape()[0].min(sin.shape()[0]);
    if half == 0 {
        return Ok(vec![Data::Tensor(xa.clone())]);
    }
    let (nc, ns) = (cos.len() / half, sin.len() / half);
    let cos = cos.into_shape_with_order((nc, half))?;
    let sin = sin.into_shape_with_order((ns, half))?;
    let mut out = x4.clone();
    for bi in 0..b {
        for si in 0..sl {
            let row = match &pos {
                Some((_, p)) => {
                    let v = p[bi * sl + si];
                    if v < 0 || v as usize >= max_pos {
                        bail!("position id {v} is out of range for a cache of {max_pos}");
                    }
                    v as usize
                }
                None => bi * sl + si,
            };
            let c = cos.row(row);
            let sn = sin.row(row);
            for hi in 0..h {
                let xin = x4.slice(s![bi, si, hi, ..]);
                let mut o = out.slice_mut(s![bi, si, hi, ..]);
                for i in 0..half {
                    let (i1, i2) = if interleaved {
                        (2 * i, 2 * i + 1)
                    } else {
                        (i, i + half)
                    };
                    let (x1, x2) = (xin[i1], xin[i2]);
                    let (cv, sv) = (c[i], sn[i]);
                    o[i1] = prec.r(prec.r(cv * x1) - prec.r(sv * x2));
                    o[i2] = prec.r(prec.r(sv * x1) + prec.r(cv * x2));
                }
            }
        }
    }
    let out: ArrayD<F> = if rank == 4 {
        out.permuted_axes([0, 2, 1, 3])
            .as_standard_layout()
            .into_owned()
            .into_dyn()
    } else {
        out.into_shape_with_order(ndarray::IxDyn(xa.shape()))?
    };
    Ok(vec![Data::Tensor(from_real(&out, xa.dtype())?)])
}
