//! Attention: scaled_dot_product_attention (attn_mask bool or additive, is_causal, scale;
//! dropout ignored in eval) and the fused encoder layer `_transformer_encoder_layer_fwd`
//! that tracing records for `nn.TransformerEncoderLayer` in inference, decomposed into
//! LayerNormalization, MatMul, Softmax and the feed-forward block (ReLU or GELU, pre- or
//! post-norm). Inputs are batch-first `[B, L, E]`.

use modelc_ir::{Attr, Attrs, DType, OnnxOp, ValueRef};

use super::super::args::Args;
use super::super::builder::attrs;
use super::super::eval::{EvalResult, Evaluator, Stop};
use super::super::value::{PyValue, TensorRef};
use super::{arg, operand};

fn mm(cx: &mut Evaluator, a: ValueRef, b: ValueRef) -> ValueRef {
    cx.b.op(OnnxOp::MatMul, &[a, b], Attrs::default())
}

fn add(cx: &mut Evaluator, a: ValueRef, b: ValueRef) -> ValueRef {
    cx.b.op(OnnxOp::Add, &[a, b], Attrs::default())
}

/// x·Wᵀ + b.
fn linear(cx: &mut Evaluator, x: ValueRef, w: ValueRef, b: ValueRef) -> ValueRef {
    let wt = cx.b.op(
        OnnxOp::Transpose,
        &[w],
        attrs(vec![("perm", Attr::Ints(vec![1, 0]))]),
    );
    let y = mm(cx, x, wt);
    add(cx, y, b)
}

/// A mask of MultiheadAttention's fused paths as [`sdpa`] takes it: bool masks there mark
/// the positions *not* attended (inverted here); additive float masks stay. `mask_type` 1
/// is a key padding mask [B, S], made [B, 1, 1, S]; 0 ([L, S]) and 2 ([B, H, L, S])
/// broadcast as they are.
fn mha_mask(cx: &mut Evaluator, m: TensorRef, mask_type: Option<i64>) -> Result<TensorRef, String> {
    let mut v = m.v;
    let mut rank = m.rank;
    if mask_type == Some(1) {
        let axes = cx.b.ints(&[1, 2]);
        v = cx.b.op(OnnxOp::Unsqueeze, &[v, axes], Attrs::default());
        rank = Some(4);
    }
    if m.dtype == DType::Bool {
        v = cx.b.op(OnnxOp::Not, &[v], Attrs::default());
    } else if !m.dtype.is_float() {
        return Err(format!("a {} mask", m.dtype));
    }
    Ok(TensorRef::new(v, rank, m.dtype))
}

/// `_native_multi_head_attention(query, key, value, embed_dim, num_heads, qkv_weight,
/// qkv_bias, proj_weight, proj_bias, mask, need_weights, average_attn_weights, mask_type)`:
/// what `nn.MultiheadAttention` records in inference (batch-first [B, L, E] inputs). Returns
/// the output and the attention weights (averaged over heads unless asked not to).
fn native_mha(cx: &mut Evaluator, op: &str, a: &Args) -> EvalResult<PyValue> {
    let q_in = arg(op, a.t(0, "query"))?;
    let k_in = arg(op, a.t(1, "key"))?;
    let v_in = arg(op, a.t(2, "value"))?;
    let e = arg(op, a.int(3, "embed_dim", None))?;
    let h = arg(op, a.int(4, "num_head", None))?;
    let t = |i: usize, n: &str| arg(op, a.t(i, n)).map(|t| t.v);
    let (qkv_w, qkv_b, proj_w, proj_b) = (
        t(5, "qkv_weight")?,
        t(6, "qkv_bias")?,
        t(7, "proj_weight")?,
        t(8, "proj_bias")?,
    );
    let mask = match arg(op, a.opt_t(9, "mask"))? {
        Some(m) => {
            let mask_type = a.some(12, "mask_type").and_then(PyValue::as_int);
            Some(arg(op, mha_mask(cx, m, mask_type))?)
        }
        None => None,
    };
    let average = arg(op, a.bool(11, "average_attn_weights", true))?;
    if q_in.rank != Some(3) || h <= 0 || e % h != 0 {
        return arg(
            op,
            Err(format!(
                "needs [B, L, E] inputs and E divisible by heads (rank {:?}, E {e}, heads {h})",
                q_in.rank
            )),
        );
    }
    let d = e / h;
    // Rows [k·E, (k+1)·E) of the packed weight and bias project q, k and v.
    let part = |cx: &mut Evaluator, w: ValueRef, k: i64| {
        let (s, en, ax) = (
            cx.b.ints(&[k * e]),
            cx.b.ints(&[(k + 1) * e]),
            cx.b.ints(&[0]),
        );
        cx.b.op(OnnxOp::Slice, &[w, s, en, ax], Attrs::default())
    };
    let mut heads = Vec::new();
    for (k, x) in [q_in, k_in, v_in].iter().enumerate() {
        let (w, b) = (part(cx, qkv_w, k as i64), part(cx, qkv_b, k as i64));
        let p = linear(cx, x.v, w, b);
        // [B, L, E] → [B, L, H, D] → [B, H, L, D]
        let shape = cx.b.ints(&[0, 0, h, d]);
        let r = cx.b.op(OnnxOp::Reshape, &[p, shape], Attrs::default());
        heads.push(cx.b.op(
            OnnxOp::Transpose,
            &[r],
            attrs(vec![("perm", Attr::Ints(vec![0, 2, 1, 3]))]),
        ));
    }
    let q = TensorRef::new(heads[0], Some(4), q_in.dtype);
    let (o, probs) = arg(
        op,
        sdpa_with_probs(
            cx,
            q,
            heads[1],
            heads[2],
            mask,
            false,
            Some(1.0 / (d as f64).sqrt()),
        ),
    )?;
    let o = cx.b.op(
        OnnxOp::Transpose,
        &[o],
        attrs(vec![("perm", Attr::Ints(vec![0, 2, 1, 3]))]),
    );
    let back = cx.b.ints(&[0, 0, e]);
    let o = cx.b.op(OnnxOp::Reshape, &[o, back], Attrs::default());
    let out = linear(cx, o, proj_w, proj_b);
    let (w, w_rank) = if average {
        let axes = cx.b.ints(&[1]);
        let m = cx.b.op(
            OnnxOp::ReduceMean,
            &[probs, axes],
            attrs(vec![("keepdims", Attr::Int(0))]),
        );
        (m, 3)
    } else {
        (probs, 4)
    };
    Ok(PyValue::Tuple(vec![
        PyValue::Tensor(TensorRef::new(out, Some(3), q_in.dtype)),
        PyValue::Tensor(TensorRef::new(w, Some(w_rank), q_in.dtype)),
    ]))
}

/// softmax(q·kᵀ·scale + mask)·v over the last two axes of rank-`r` tensors.
pub fn sdpa(
    cx: &mut Evaluator,
    q: TensorRef,
    k: ValueRef,
    v: ValueRef,
    mask: Option<TensorRef>,
    causal: bool,
    scale: Option<f64>,
) -> Result<ValueRef, String> {
    sdpa_with_probs(cx, q, k, v, mask, causal, scale).map(|(o, _)| o)
}

/// [`sdpa`], and the attention probabilities.
fn sdpa_with_probs(
    cx: &mut Evaluator,
    q: TensorRef,
    k: ValueRef,
    v: ValueRef,
    mask: Option<TensorRef>,
    causal: bool,
    scale: Option<f64>,
) -> Result<(ValueRef, ValueRef), String> {
    let r = q.rank.ok_or("the query's rank is unknown")?;
    if r < 2 {
        return Err(format!("query of rank {r}"));
    }
    let mut perm: Vec<i64> = (0..r as i64).collect();
    perm.swap(r - 1, r - 2);
    let kt = cx.b.op(
        OnnxOp::Transpose,
        &[k],
        attrs(vec![("perm", Attr::Ints(perm))]),
    );
    let scores = mm(cx, q.v, kt);
    let scale = match scale {
        Some(s) => cx.b.scalar(q.dtype, s),
        None => {
            // 1/sqrt(E) with E the query's last dimension, at run time.
            let e = cx.b.dim(q.v, -1);
            let ef = cx.b.cast(e, q.dtype);
            let s = cx.b.op(OnnxOp::Sqrt, &[ef], Attrs::default());
            cx.b.op(OnnxOp::Reciprocal, &[s], Attrs::default())
        }
    };
    let mut scores = cx.b.op(OnnxOp::Mul, &[scores, scale], Attrs::default());
    if causal {
        // Upper triangle (above the diagonal) gets -inf: Trilu of ones marks the allowed part.
        let shape_s = cx.b.op(OnnxOp::Shape, &[scores], Attrs::default());
        let st = cx.b.ints(&[-2]);
        let en = cx.b.ints(&[i64::MAX]);
        let last2 = cx.b.op(OnnxOp::Slice, &[shape_s, st, en], Attrs::default());
        let one =
            modelc_ir::Tensor::from_raw(DType::Bool, vec![1], bytes::Bytes::from_static(&[1]))
                .map_err(|e| e.to_string())?;
        let ones = cx.b.op(
            OnnxOp::ConstantOfShape,
            &[last2],
            attrs(vec![("value", Attr::Tensor(one))]),
        );
        let ones_i = cx.b.cast(ones, DType::I64);
        let tri = cx.b.op(
            OnnxOp::Trilu,
            &[ones_i],
            attrs(vec![("upper", Attr::Int(0))]),
        );
        let allowed = cx.b.cast(tri, DType::Bool);
        let ninf = cx.b.scalar(q.dtype, f64::NEG_INFINITY);
        scores =
            cx.b.op(OnnxOp::Where, &[allowed, scores, ninf], Attrs::default());
    }
    if let Some(m) = mask {
        scores = if m.dtype == DType::Bool {
            let ninf = cx.b.scalar(q.dtype, f64::NEG_INFINITY);
            cx.b.op(OnnxOp::Where, &[m.v, scores, ninf], Attrs::default())
        } else {
            add(cx, scores, m.v)
        };
    }
    let p = cx.b.op(
        OnnxOp::Softmax,
        &[scores],
        attrs(vec![("axis", Attr::Int(-1))]),
    );
    Ok((mm(cx, p, v), p))
}

pub fn call(cx: &mut Evaluator, op: &str, a: &Args) -> Option<EvalResult<PyValue>> {
    match op {
        "scaled_dot_product_attention" => Some((|| -> EvalResult<PyValue> {
            let q = arg(
                op,
                operand(cx, a.get(0, "query").unwrap_or(&PyValue::None), None),
            )?;
            let k = arg(op, a.t(1, "key"))?;
            let v = arg(op, a.t(2, "value"))?;
            let mask = arg(op, a.opt_t(3, "attn_mask"))?;
            let causal = arg(op, a.bool(5, "is_causal", false))?;
            let scale = match a.some(6, "scale") {
                Some(s) => Some(s.as_f64().ok_or_else(|| {
                    Stop::Fatal("aten::scaled_dot_product_attention: scale is not constant".into())
                })?),
                None => None,
            };
            if a.bool(7, "enable_gqa", false).unwrap_or(false) {
                return Err(Stop::Fatal(
                    "aten::scaled_dot_product_attention: enable_gqa is not supported".into(),
                ));
            }
            let out = arg(op, sdpa(cx, q, k.v, v.v, mask, causal, scale))?;
            Ok(PyValue::Tensor(q.with(out)))
        })()),
        "_transformer_encoder_layer_fwd" => Some(encoder_layer(cx, op, a)),
        "_native_multi_head_attention" => Some(native_mha(cx, op, a)),
        _ => None,
    }
}

fn encoder_layer(cx: &mut Evaluator, op: &str, a: &Args) -> EvalResult<PyValue> {
    let src = arg(op, a.t(0, "src"))?;
    let e = arg(op, a.int(1, "embed_dim", None))?;
    let h = arg(op, a.int(2, "num_heads", None))?;
    let t = |i: usize, n: &str| arg(op, a.t(i, n)).map(|t| t.v);
    let (qkv_w, qkv_b, proj_w, proj_b) = (
        t(3, "qkv_weight")?,
        t(4, "qkv_bias")?,
        t(5, "proj_weight")?,
        t(6, "proj_bias")?,
    );
    let gelu = arg(op, a.bool(7, "use_gelu", false))?;
    let norm_first = arg(op, a.bool(8, "norm_first", false))?;
    let eps = arg(op, a.f64(9, "eps", None))?;
    let (n1w, n1b, n2w, n2b) = (
        t(10, "norm_weight_1")?,
        t(11, "norm_bias_1")?,
        t(12, "norm_weight_2")?,
        t(13, "norm_bias_2")?,
    );
    let (f1w, f1b, f2w, f2b) = (
        t(14, "ffn_weight_1")?,
        t(15, "ffn_bias_1")?,
        t(16, "ffn_weight_2")?,
        t(17, "ffn_bias_2")?,
    );
    let mask = match arg(op, a.opt_t(18, "mask"))? {
        Some(m) => {
            let mask_type = a.some(19, "mask_type").and_then(PyValue::as_int);
            Some(arg(op, mha_mask(cx, m, mask_type))?)
        }
        None => None,
    };
    if src.rank != Some(3) || h <= 0 || e % h != 0 {
        return Err(Stop::Fatal(format!(
            "aten::_transformer_encoder_layer_fwd: needs a [B, L, E] input and E divisible by heads (rank {:?}, E {e}, heads {h})",
            src.rank
        )));
    }
    let ln = |cx: &mut Evaluator, x: ValueRef, w: ValueRef, b: ValueRef| {
        cx.b.op(
            OnnxOp::LayerNormalization,
            &[x, w, b],
            attrs(vec![
                ("axis", Attr::Int(-1)),
                ("epsilon", Attr::Float(eps as f32)),
            ]),
        )
    };
    let self_attn = |cx: &mut Evaluator, x: ValueRef| -> Result<ValueRef, String> {
        let qkv = linear(cx, x, qkv_w, qkv_b);
        let parts = cx.b.node(
            OnnxOp::Split,
            &[Some(qkv)],
            attrs(vec![("axis", Attr::Int(-1)), ("num_outputs", Attr::Int(3))]),
            3,
        );
        // [B, L, E] → [B, L, H, D] → [B, H, L, D]
        let heads_shape = cx.b.ints(&[0, 0, h, e / h]);
        let mut qkv_h = Vec::new();
        for p in parts {
            let r =
                cx.b.op(OnnxOp::Reshape, &[p, heads_shape], Attrs::default());
            qkv_h.push(cx.b.op(
                OnnxOp::Transpose,
                &[r],
                attrs(vec![("perm", Attr::Ints(vec![0, 2, 1, 3]))]),
            ));
        }
        let q = TensorRef::new(qkv_h[0], Some(4), src.dtype);
        let o = sdpa(
            cx,
            q,
            qkv_h[1],
            qkv_h[2],
            mask,
            false,
            Some(1.0 / ((e / h) as f64).sqrt()),
        )?;
        let o = cx.b.op(
            OnnxOp::Transpose,
            &[o],
            attrs(vec![("perm", Attr::Ints(vec![0, 2, 1, 3]))]),
        );
        let back = cx.b.ints(&[0, 0, e]);
        let o = cx.b.op(OnnxOp::Reshape, &[o, back], Attrs::default());
        Ok(linear(cx, o, proj_w, proj_b))
    };
    let ffn = |cx: &mut Evaluator, x: ValueRef| -> ValueRef {
        let y = linear(cx, x, f1w, f1b);
        let y = if gelu {
            let r = super::activation::call(
                cx,
                "gelu",
                &Args {
                    pos: vec![PyValue::Tensor(TensorRef::new(y, Some(3), src.dtype))],
                    kw: vec![],
                },
            );
            match r {
                Some(Ok(PyValue::Tensor(t))) => t.v,
                _ => y,
            }
        } else {
            cx.b.op(OnnxOp::Relu, &[y], Attrs::default())
        };
        linear(cx, y, f2w, f2b)
    };
    let x = src.v;
    let out = if norm_first {
        let n = ln(cx, x, n1w, n1b);
        let sa = arg(op, self_attn(cx, n))?;
        let x = add(cx, x, sa);
        let n = ln(cx, x, n2w, n2b);
        let ff = ffn(cx, n);
        add(cx, x, ff)
    } else {
        let sa = arg(op, self_attn(cx, x))?;
        let s = add(cx, x, sa);
        let x = ln(cx, s, n1w, n1b);
        let ff = ffn(cx, x);
        let s = add(cx, x, ff);
        ln(cx, s, n2w, n2b)
    };
    Ok(PyValue::Tensor(src.with(out)))
}
