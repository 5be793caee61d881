//! Attention (opset 23, 24, 25): scaled dot-product attention, following the ONNX
//! reference implementation.
//!
//! Inputs Q, K, V are 4-D `(B, H, S, D)` or 3-D `(B, S, H*D)` (then the attributes
//! `q_num_heads`/`kv_num_heads` give the head counts); optional `attn_mask` (bool: true
//! attends, or additive float; broadcast right-aligned to `(B, Hq, Sq, Skv)` after its
//! last axis is padded to Skv with masked entries), `past_key`/`past_value` (concatenated
//! in front of K/V along the sequence axis and returned as `present_key`/`present_value`)
//! and `nonpad_kv_seqlen` (per-batch count of valid keys). Attributes: `scale` (default
//! `1/sqrt(D)`, applied as `sqrt(scale)` to both Q and K), `is_causal` (bottom-right
//! aligned: query `i` sees key `j <= i + offset`, offset = past length or
//! `nonpad_kv_seqlen[b] - Sq`), `left_window_size`/`right_window_size` (opset 25 sliding
//! window), `softcap` (`c * tanh(x / c)` before the mask), `softmax_precision`, and
//! `qk_matmul_output_mode` (0/1: the Q·Kᵀ product after softcap, 2: after adding the bias,
//! 3: the softmax). Grouped-query attention: query head `h` uses KV head
//! `h / (Hq / Hkv)`. A query row whose bias is entirely `-inf` yields zeros.

use ndarray::{s, Array4, ArrayD, IxDyn};

use super::common::{
    check_size, concat_seq, from_real, matmul, rank4, row_max, split_heads, to_real, Prec, Real,
};
use crate::{bail, Array, Data, KernelError, OpCtx};

pub fn attention(ctx: &OpCtx<'_>) -> Result<Vec<Data>, KernelError> {
    let q = ctx.input(0)?;
    let prec = Prec::of_dtype(q.dtype())?;
    if prec == Prec::F64 {
        run::<f64>(ctx, prec)
    } else {
        run::<f32>(ctx, prec)
    }
}

fn run<F: Real>(ctx: &OpCtx<'_>, prec: Prec) -> Result<Vec<Data>, KernelError> {
    let attrs = ctx.attrs();
    let (qa, ka, va) = (ctx.input(0)?, ctx.input(1)?, ctx.input(2)?);
    let v_dtype = va.dtype();
    Prec::of_dtype(v_dtype)?;
    let (q, k, v) = (to_real::<F>(qa)?, to_real::<F>(ka)?, to_real::<F>(va)?);
    let rank = q.ndim();
    if k.ndim() != rank || v.ndim() != rank {
        bail!("Q, K and V must have the same rank");
    }
    let (q, k, v) = match rank {
        3 => {
            let qh = attrs.int("q_num_heads", 0)?;
            let kvh = attrs.int("kv_num_heads", 0)?;
            (
                split_heads(&q, qh, "Q")?,
                split_heads(&k, kvh, "K")?,
                split_heads(&v, kvh, "V")?,
            )
        }
        4 => (rank4(q, "Q")?, rank4(k, "K")?, rank4(v, "V")?),
        r => bail!("Q, K and V must be rank 3 or 4, got rank {r}"),
    };
    let (b, hq, sq, dq) = q.dim();
    let (kb, hkv, skv_new, dk) = k.dim();
    let (vb, hv, sv, dv) = v.dim();
    if kb != b || vb != b {
        bail!("Q, K and V must have the same batch size");
    }
    if dk != dq {
        bail!("Q and K head sizes differ ({dq} and {dk})");
    }
    if hv != hkv || sv != skv_new {
        bail!("K and V must have the same number of heads and sequence length");
    }
    if hkv == 0 || !hq.is_multiple_of(hkv) {
        bail!("q_num_heads ({hq}) must be a multiple of kv_num_heads ({hkv})");
    }
    let group = hq / hkv;

    // KV cache.
    let past_key = ctx.opt_input(4)?;
    let past_value = ctx.opt_input(5)?;
    let (k, v, past_len) = match (past_key, past_value) {
        (None, None) => (k, v, 0usize),
        (Some(pk), Some(pv)) => {
            let pk = rank4(to_real::<F>(pk)?, "past_key")?;
            let pv = rank4(to_real::<F>(pv)?, "past_value")?;
            let (pb, ph, pl, pd) = pk.dim();
            if pb != b || ph != hkv || pd != dk {
                bail!("past_key shape {:?} does not match K", pk.shape());
            }
            let (vb, vh, vl, vd) = pv.dim();
            if vb != b || vh != hkv || vd != dv || vl != pl {
                bail!("past_value shape {:?} does not match V", pv.shape());
            }
            (concat_seq(&pk, &k)?, concat_seq(&pv, &v)?, pl)
        }
        _ => bail!("past_key and past_value must be provided together"),
    };
    let skv = k.dim().2;

    let nonpad = match ctx.opt_input(6)? {
        None => None,
        Some(a) => {
            if past_key.is_some() {
                bail!("nonpad_kv_seqlen cannot be combined with past_key/past_value");
            }
            let n = a.to_i64_vec()?;
            if n.len() != b {
                bail!("nonpad_kv_seqlen must have {b} elements, got {}", n.len());
            }
            Some(n)
        }
    };

    // Additive bias (B, Hq, Sq, Skv).
    let ninf = F::neg_infinity();
    check_size(&[b, hq, sq, skv], "the attention score matrix")?;
    let mut bias = Array4::<F>::zeros((b, hq, sq, skv));
    if let Some(m) = ctx.opt_input(3)? {
        let mf: ArrayD<F> = match m {
            Array::Bool(x) => x.mapv(|t| if t { F::zero() } else { ninf }),
            other => to_real::<F>(other)?.mapv(|x| prec.r(x)),
        };
        let mshape = mf.shape().to_vec();
        let Some(&last) = mshape.last() else {
            bail!("attn_mask must have rank at least 1");
        };
        if last > skv || mshape.len() > 4 {
            bail!("attn_mask shape {mshape:?} does not fit ({b}, {hq}, {sq}, {skv})");
        }
        let mf = if last < skv {
            let mut pshape = mshape.clone();
            *pshape.last_mut().unwrap_or(&mut 0) = skv;
            let mut p = ArrayD::<F>::from_elem(IxDyn(&pshape), ninf);
            p.slice_each_axis_mut(|ax| {
                if ax.axis.index() + 1 == pshape.len() {
                    ndarray::Slice::from(0..last)
                } else {
                    ndarray::Slice::from(..)
                }
            })
            .assign(&mf);
            p
        } else {
            mf
        };
        let view = mf.broadcast((b, hq, sq, skv)).ok_or_else(|| {
            KernelError::new(format!(
                "attn_mask shape {mshape:?} does not broadcast to ({b}, {hq}, {sq}, {skv})"
            ))
        })?;
        bias.zip_mut_with(&view, |x, &y| *x += y);
    }
    let is_causal = attrs.int("is_causal", 0)? != 0;
    let left = attrs.int("left_window_size", -1)?;
    let right = attrs.int("right_window_size", -1)?;
    if left < -1 || right < -1 {
        bail!("window sizes must be -1 or nonnegative");
    }
    let offset = |bi: usize| -> i64 {
        match (&nonpad, past_key) {
            (Some(n), None) => n[bi].saturating_sub(sq as i64),
            _ => past_len as i64,
        }
    };
    if is_causal || left >= 0 || right >= 0 || nonpad.is_some() {
        for bi in 0..b {
            let off = offset(bi);
            for i in 0..sq {
                for j in 0..skv {
                    let diff = (i as i64).saturating_add(off).saturating_sub(j as i64);
                    let mut allowed = !(is_causal && diff < 0);
                    if left >= 0 && diff > left {
                        allowed = false;
                    }
                    if right >= 0 && diff.saturating_neg() > right {
                        allowed = false;
                    }
                    if let Some(n) = &nonpad {
                        if (j as i64) >= n[bi] {
                            allowed = false;
                        }
                    }
                    if !allowed {
                        bias.slice_mut(s![bi, .., i, j]).mapv_inplace(|x| x + ninf);
                    }
                }
            }
        }
    }

    // Scale and products.
    let scale = match attrs.get("scale") {
        Some(_) => attrs.float("scale", 0.0)? as f64,
        None => 1.0 / (dq as f64).sqrt(),
    };
    let ss: F = prec.cast(scale.sqrt());
    let qs = q.mapv(|x| prec.r(x * ss));
    let ks = k.mapv(|x| prec.r(x * ss));
    let softcap = ctx.float("softcap")? as f64;
    let cap: F = prec.cast(softcap);
    let mode = attrs.int("qk_matmul_output_mode", 0)?;
    if !(0..=3).contains(&mode) {
        bail!("qk_matmul_output_mode must be 0..3, got {mode}");
    }
    let sp = match attrs.get("softmax_precision") {
        Some(_) => Prec::of_code(attrs.int("softmax_precision", 1)?)?,
        None => prec,
    };

    let mut y = Array4::<F>::zeros((b, hq, sq, dv));
    let mut qk_out = Array4::<F>::zeros((b, hq, sq, skv));
    for bi in 0..b {
        for h in 0..hq {
            let kh = h / group;
            let mut scores = matmul(
                qs.slice(s![bi, h, .., ..]),
                ks.slice(s![bi, kh, .., ..]).t(),
                prec,
            );
            if softcap > 0.0 {
                scores.mapv_inplace(|x| prec.r(prec.r(prec.r(x / cap).tanh()) * cap));
            }
            let bias_bh = bias.slice(s![bi, h, .., ..]);
            let mut probs = scores.clone();
            probs.zip_mut_with(&bias_bh, |x, &bv| *x = prec.r(*x + bv));
            if mode == 2 {
                qk_out.slice_mut(s![bi, h, .., ..]).assign(&probs);
            } else if mode < 2 {
                qk_out.slice_mut(s![bi, h, .., ..]).assign(&scores);
            }
            for (mut row, brow) in probs.rows_mut().into_iter().zip(bias_bh.rows()) {
                if row_max(brow.iter().copied()) == ninf {
                    row.fill(F::zero());
                    continue;
                }
                let mx = row_max(row.iter().copied());
                let safe = if mx == ninf { F::zero() } else { mx };
                let mut sum = F::zero();
                for x in row.iter_mut() {
                    *x = sp.r(sp.r(sp.r(*x - safe).exp()));
                    // numpy sums f16 in f32 but ml_dtypes' bf16 one rounded add at a time.
                    sum = if sp == Prec::BF16 {
                        sp.r(sum + *x)
                    } else {
                        sum + *x
                    };
                }
                let mut sum = sp.r(sum);
                if sum == F::zero() {
                    sum = F::one();
                }
                row.mapv_inplace(|x| prec.r(sp.r(x / sum)));
            }
            if mode == 3 {
                qk_out.slice_mut(s![bi, h, .., ..]).assign(&probs);
            }
            let out = matmul(probs.view(), v.slice(s![bi, kh, .., ..]), prec);
            y.slice_mut(s![bi, h, .., ..]).assign(&out);
        }
    }

    let dtype = qa.dtype();
    let y = if rank == 3 {
        super::common::merge_heads(&y)?
    } else {
        y.into_dyn()
    };
    Ok(vec![
        Data::Tensor(from_real(&y, dtype)?),
        Data::Tensor(from_real(&k.into_dyn(), ka.dtype())?),
        Data::Tensor(from_real(&v.into_dyn(), v_dtype)?),
        Data::Tensor(from_real(&qk_out.into_dyn(), dtype)?),
    ])
}
