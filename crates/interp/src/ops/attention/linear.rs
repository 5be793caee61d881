//! LinearAttention (opset 27): recurrent linear attention over packed 3-D inputs
//! `query (B, T, Hq*dk)`, `key (B, T, Hkv*dk)`, `value (B, T, Hkv*dv)`, with optional
//! `past_state (B, Hkv, dk, dv)`, `decay` (log-space gate, `(B, T, Hkv*dk)` or
//! `(B, T, Hkv)`) and `beta` (`(B, T, Hkv)` or `(B, T, 1)`). Outputs
//! `output (B, T, Hq*dv)` and `present_state (B, Hkv, dk, dv)`.
//!
//! Attributes: `q_num_heads`, `kv_num_heads` (required; Hq a multiple of Hkv, query head
//! `h` reads the state of KV head `h / (Hq/Hkv)`), `scale` (0 = `1/sqrt(dk)`),
//! `update_rule` (`linear`, `gated`, `delta`, `gated_delta` — the default), `chunk_size`
//! (a tuning hint, ignored). Per token t:
//! gated rules first multiply the state by `exp(g_t)`; delta rules replace `v_t` by
//! `beta_t * (v_t - Sᵀ k_t)`; then `S += k_t ⊗ v_t` and `o_t = scale * qᵀ S`.
//! Like the reference, everything is computed in f32 whatever the input type.

use ndarray::{s, Array4, ArrayD};

use super::common::{from_real, split_heads, to_real};
use crate::{bail, Data, KernelError, OpCtx};

pub fn linear_attention(ctx: &OpCtx<'_>) -> Result<Vec<Data>, KernelError> {
    let attrs = ctx.attrs();
    let rule = attrs.string("update_rule", "gated_delta")?;
    let (gating, delta) = match rule.as_str() {
        "linear" => (false, false),
        "gated" => (true, false),
        "delta" => (false, true),
        "gated_delta" => (true, true),
        other => bail!("unsupported update_rule '{other}'"),
    };
    let hq = attrs.int("q_num_heads", 0)?;
    let hkv = attrs.int("kv_num_heads", 0)?;
    if hq <= 0 || hkv <= 0 || hq % hkv != 0 {
        bail!("q_num_heads ({hq}) must be a positive multiple of kv_num_heads ({hkv})");
    }
    let (qa, ka, va) = (ctx.input(0)?, ctx.input(1)?, ctx.input(2)?);
    let past = ctx.opt_input(3)?;
    let decay = ctx.opt_input(4)?;
    let beta = ctx.opt_input(5)?;
    if gating != decay.is_some() {
        bail!("update_rule '{rule}' requires decay exactly when gated");
    }
    if delta != beta.is_some() {
        bail!("update_rule '{rule}' requires beta exactly for delta rules");
    }
    let q = split_heads(&to_real::<f32>(qa)?, hq, "query")?;
    let k = split_heads(&to_real::<f32>(ka)?, hkv, "key")?;
    let v = split_heads(&to_real::<f32>(va)?, hkv, "value")?;
    let (b, hq, t, dk) = q.dim();
    let (kb, hkv, kt, kdk) = k.dim();
    let (vb, _, vt, dv) = v.dim();
    if kb != b || vb != b || kt != t || vt != t || kdk != dk {
        bail!(
            "query/key/value shapes {:?}, {:?}, {:?} are inconsistent",
            qa.shape(),
            ka.shape(),
            va.shape()
        );
    }
    let group = hq / hkv;

    // decay as (B, Hkv, T, dk or 1), beta as (B, Hkv or 1, T, 1).
    let decay4 = match decay {
        None => None,
        Some(d) => {
            let df = to_real::<f32>(d)?;
            let sh = df.shape().to_vec();
            if sh.len() != 3 || sh[0] != b || sh[1] != t {
                bail!("decay shape {sh:?} must be ({b}, {t}, ...)");
            }
            if sh[2] == hkv || sh[2] == hkv * dk {
                Some(split_heads(&df, hkv as i64, "decay")?)
            } else {
                bail!("decay last dim {} must be {hkv} or {}", sh[2], hkv * dk);
            }
        }
    };
    let beta4 = match beta {
        None => None,
        Some(bt) => {
            let bf = to_real::<f32>(bt)?;
            let sh = bf.shape().to_vec();
            if sh.len() != 3 || sh[0] != b || sh[1] != t || (sh[2] != hkv && sh[2] != 1) {
                bail!("beta shape {sh:?} must be ({b}, {t}, {hkv} or 1)");
            }
            Some(split_heads(&bf, sh[2] as i64, "beta")?)
        }
    };

    let (mut state, state_dtype) = match past {
        Some(p) => {
            if p.shape() != [b, hkv, dk, dv] {
                bail!(
                    "past_state shape {:?} does not match ({b}, {hkv}, {dk}, {dv})",
                    p.shape()
                );
            }
            let s = to_real::<f32>(p)?.into_dimensionality::<ndarray::Ix4>()?;
            (s, p.dtype())
        }
        None => (Array4::<f32>::zeros((b, hkv, dk, dv)), qa.dtype()),
    };
    let scale_attr = ctx.float("scale")?;
    let scale = if scale_attr == 0.0 {
        (1.0 / (dk as f64).sqrt()) as f32
    } else {
        scale_attr
    };

    let mut out = Array4::<f32>::zeros((b, hq, t, dv));
    let mut vt_buf = vec![0f32; dv];
    for bi in 0..b {
        for ti in 0..t {
            for h in 0..hkv {
                let mut st = state.slice_mut(s![bi, h, .., ..]);
                if let Some(d4) = &decay4 {
                    let g = d4.slice(s![bi, h, ti, ..]);
                    for di in 0..dk {
                        let e = g[if g.len() == 1 { 0 } else { di }].exp();
                        st.row_mut(di).mapv_inplace(|x| x * e);
                    }
                }
                for (m, slot) in vt_buf.iter_mut().enumerate() {
                    *slot = v[[bi, h, ti, m]];
                }
                if let Some(b4) = &beta4 {
                    let bh = if b4.dim().1 == 1 { 0 } else { h };
                    let bv = b4[[bi, bh, ti, 0]];
                    for (m, slot) in vt_buf.iter_mut().enumerate() {
                        let mut r = 0f32;
                        for di in 0..dk {
                            r += st[[di, m]] * k[[bi, h, ti, di]];
                        }
                        *slot = bv * (*slot - r);
                    }
                }
                for di in 0..dk {
                    let kd = k[[bi, h, ti, di]];
                    for (m, &vm) in vt_buf.iter().enumerate() {
                        st[[di, m]] += kd * vm;
                    }
                }
                for qh in h * group..(h + 1) * group {
                    for m in 0..dv {
                        let mut acc = 0f32;
                        for di in 0..dk {
                            acc += q[[bi, qh, ti, di]] * st[[di, m]];
                        }
                        out[[bi, qh, ti, m]] = scale * acc;
                    }
                }
            }
        }
    }
    let out: ArrayD<f32> = super::common::merge_heads(&out)?;
    Ok(vec![
        Data::Tensor(from_real(&out, qa.dtype())?),
        Data::Tensor(from_real(&state.into_dyn(), state_dtype)?),
    ])
}
