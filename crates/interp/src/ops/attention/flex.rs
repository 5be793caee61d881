//! FlexAttention (`ai.onnx.preview`, version 1): scaled dot-product attention on rank-4
//! inputs `Q (B, Hq, L, E)`, `K (B, Hkv, S, E)`, `V (B, Hkv, S, Ev)` with optional modifier
//! sub-graphs: `Y = prob_mod(softmax(score_mod((Q·Kᵀ) * scale))) · V`.
//!
//! Attributes: `scale` (default `1/sqrt(E)`; applied as `sqrt(scale)` to Q and K, the
//! factor computed in f32 then cast to the input type), `score_mod` / `prob_mod` (graphs
//! of one rank-4 tensor in and out, same shape), `softmax_precision` (the type the scores,
//! softmax, modifiers and final product use: default f32, or f64 for f64 inputs). GQA:
//! query head `h` uses KV head `h / (Hq/Hkv)`. The Q·Kᵀ product is rounded to the input
//! type, like the reference.

use modelc_ir::{Attr, Graph};
use ndarray::{s, Array4, Axis};

use super::common::{check_size, from_real, matmul, rank4, row_max, to_real, Prec, Real};
use crate::{bail, Data, KernelError, OpCtx};

pub fn flex_attention(ctx: &OpCtx<'_>) -> Result<Vec<Data>, KernelError> {
    let prec = Prec::of_dtype(ctx.input(0)?.dtype())?;
    let attrs = ctx.attrs();
    let cp = match attrs.get("softmax_precision") {
        Some(_) => Prec::of_code(attrs.int("softmax_precision", 1)?)?,
        None if prec == Prec::F64 => Prec::F64,
        None => Prec::F32,
    };
    if prec == Prec::F64 || cp == Prec::F64 {
        run::<f64>(ctx, prec, cp)
    } else {
        run::<f32>(ctx, prec, cp)
    }
}

fn graph_attr<'a>(ctx: &OpCtx<'a>, name: &str) -> Result<Option<&'a Graph>, KernelError> {
    match ctx.attrs().get(name) {
        None => Ok(None),
        Some(Attr::Graph(g)) => Ok(Some(g)),
        Some(_) => bail!("attribute {name} must be a graph"),
    }
}

/// Runs a modifier sub-graph on `x` (of precision `cp`), checking the result's shape.
fn apply_mod<F: Real>(
    ctx: &OpCtx<'_>,
    g: &Graph,
    x: Array4<F>,
    cp: Prec,
    what: &str,
) -> Result<Array4<F>, KernelError> {
    let dim = x.dim();
    let input = from_real(&x.into_dyn(), cp.dtype())?;
    let mut outs = ctx.run_subgraph(g, vec![Data::Tensor(input)])?;
    if outs.len() != 1 {
        bail!("{what} must produce exactly one output, got {}", outs.len());
    }
    let Data::Tensor(out) = outs.remove(0) else {
        bail!("{what} must produce a tensor");
    };
    let o = to_real::<F>(&out)?.mapv(|v| cp.r(v));
    let shape = o.shape().to_vec();
    let o = o
        .into_dimensionality::<ndarray::Ix4>()
        .map_err(|_| KernelError::new(format!("{what} output has shape {shape:?}")))?;
    if o.dim() != dim {
        bail!("{what} output shape {shape:?} differs from its input's {dim:?}");
    }
    Ok(o)
}

fn run<F: Real>(ctx: &OpCtx<'_>, prec: Prec, cp: Prec) -> Result<Vec<Data>, KernelError> {
    let attrs = ctx.attrs();
    let (qa, ka, va) = (ctx.input(0)?, ctx.input(1)?, ctx.input(2)?);
    let q = rank4(to_real::<F>(qa)?, "Q")?;
    let k = rank4(to_real::<F>(ka)?, "K")?;
    let v = rank4(to_real::<F>(va)?, "V")?;
    let (b, hq, l, e) = q.dim();
    let (kb, hkv, sl, ke) = k.dim();
    let (vb, vh, vs, ev) = v.dim();
    if kb != b || vb != b {
        bail!("Q, K and V must have the same batch size");
    }
    if vh != hkv || vs != sl {
        bail!("K and V must share heads and sequence length");
    }
    if ke != e {
        bail!("Q and K must share the head size");
    }
    if hkv == 0 || !hq.is_multiple_of(hkv) {
        bail!("q_num_heads ({hq}) must be a multiple of kv_num_heads ({hkv})");
    }
    let group = hq / hkv;
    let scale = match attrs.get("scale") {
        Some(_) => attrs.float("scale", 0.0)?,
        None => (1.0 / (e as f64).sqrt()) as f32,
    };
    let ss: F = prec.cast(scale.sqrt() as f64);
    let qs = q.mapv(|x| prec.r(x * ss));
    let ks = k.mapv(|x| prec.r(x * ss));
    check_size(&[b, hq, l, sl], "the attention score matrix")?;
    let mut scores = Array4::<F>::zeros((b, hq, l, sl));
    for bi in 0..b {
        for h in 0..hq {
            let sc = matmul(
                qs.slice(s![bi, h, .., ..]),
                ks.slice(s![bi, h / group, .., ..]).t(),
                prec,
            );
            scores
                .slice_mut(s![bi, h, .., ..])
                .assign(&sc.mapv(|x| cp.r(x)));
        }
    }
    if let Some(g) = graph_attr(ctx, "score_mod")? {
        scores = apply_mod(ctx, g, scores, cp, "score_mod")?;
    }
    for mut row in scores.lanes_mut(Axis(3)) {
        let mx = row_max(row.iter().copied());
        let mut sum = F::zero();
        for x in row.iter_mut() {
            *x = cp.r(cp.r(*x - mx).exp());
            sum = if cp == Prec::BF16 {
                cp.r(sum + *x)
            } else {
                sum + *x
            };
        }
        let sum = cp.r(sum);
        row.mapv_inplace(|x| cp.r(x / sum));
    }
    if let Some(g) = graph_attr(ctx, "prob_mod")? {
        scores = apply_mod(ctx, g, scores, cp, "prob_mod")?;
    }
    let vc = v.mapv(|x| cp.r(x));
    let mut y = Array4::<F>::zeros((b, hq, l, ev));
    for bi in 0..b {
        for h in 0..hq {
            let o = matmul(
                scores.slice(s![bi, h, .., ..]),
                vc.slice(s![bi, h / group, .., ..]),
                cp,
            );
            y.slice_mut(s![bi, h, .., ..]).assign(&o);
        }
    }
    Ok(vec![Data::Tensor(from_real(&y.into_dyn(), va.dtype())?)])
}
