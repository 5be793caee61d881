//! Attention: scaled_dot_product_attention (attn_mask bool or additive, is_causal, scale;
//! dropout ignored in eval) and the fused encoder layer `_transformer_encoder_layer_fwd`
//! that tracing records for `nn.TransformerEncoderLayer` in inference, decomposed into
//! LayerNormalization, MatMul, Softmax and the feed-forward block (ReLU or GELU, pre- or
//! post-norm; key-padding / attention masks), and `_native_multi_head_attention`, what
//! `nn.MultiheadAttention` records on its inference fast path (packed or separate q, k, v
//! projections, masks, averaged or per-head weights). Inputs are batch-first `[B, L, E]`.

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

/// The packed in-projection weight and bias and the out-projection weight and bias, the
/// four arguments from `first` on.
fn projections(op: &str, a: &Args, first: usize) -> EvalResult<[ValueRef; 4]> {
    let names = ["qkv_weight", "qkv_bias", "proj_weight", "proj_bias"];
    let mut out = [ValueRef::new(Default::default(), 0); 4];
    for (k, n) in names.iter().enumerate() {
        out[k] = arg(op, a.t(first + k, n))?.v;
    }
    Ok(out)
}

/// The optional `mask` argument at `slot` with its `mask_type` at `type_slot`, as
/// [`mha_mask`] makes it.
fn opt_mask(
    cx: &mut Evaluator,
    op: &str,
    a: &Args,
    slot: usize,
    type_slot: usize,
) -> EvalResult<Option<TensorRef>> {
    match arg(op, a.opt_t(slot, "mask"))? {
        Some(m) => {
            let mask_type = a.some(type_slot, "mask_type").and_then(PyValue::as_int);
            Ok(Some(arg(op, mha_mask(cx, m, mask_type))?))
        }
        None => Ok(None),
    }
}

/// Attention over `h` heads of the projected q, k, v ([B, L, E] each): each made
/// [B, H, L, D], [`sdpa`] with scale 1/√D, the heads merged back to [B, L, E]. Returns that
/// and the attention probabilities [B, H, L, S].
fn heads_attention(
    cx: &mut Evaluator,
    qkv: [ValueRef; 3],
    h: i64,
    e: i64,
    mask: Option<TensorRef>,
    dtype: DType,
) -> Result<(ValueRef, ValueRef), String> {
    let d = e / h;
    let swap = || attrs(vec![("perm", Attr::Ints(vec![0, 2, 1, 3]))]);
    let shape = cx.b.ints(&[0, 0, h, d]);
    let mut heads = [qkv[0]; 3];
    for (k, p) in qkv.into_iter().enumerate() {
        // [B, L, E] → [B, L, H, D] → [B, H, L, D]
        let r = cx.b.op(OnnxOp::Reshape, &[p, shape], Attrs::default());
        heads[k] = cx.b.op(OnnxOp::Transpose, &[r], swap());
    }
    let q = TensorRef::new(heads[0], Some(4), dtype);
    let scale = Some(1.0 / (d as f64).sqrt());
    let (o, probs) = sdpa(cx, q, heads[1], heads[2], mask, false, scale)?;
    let o = cx.b.op(OnnxOp::Transpose, &[o], swap());
    let back = cx.b.ints(&[0, 0, e]);
    let o = cx.b.op(OnnxOp::Reshape, &[o, back], Attrs::default());
    Ok((o, probs))
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
    let [qkv_w, qkv_b, proj_w, proj_b] = projections(op, a, 5)?;
    let mask = opt_mask(cx, op, a, 9, 12)?;
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
    // Rows [k·E, (k+1)·E) of the packed weight and bias project q, k and v.
    let part = |cx: &mut Evaluator, w: ValueRef, k: i64| {
        let (s, en, ax) = (
            cx.b.ints(&[k * e]),
            cx.b.ints(&[(k + 1) * e]),
            cx.b.ints(&[0]),
        );
        cx.b.op(OnnxOp::Slice, &[w, s, en, ax], Attrs::default())
    };
    let mut projected = [q_in.v; 3];
    for (k, x) in [q_in, k_in, v_in].iter().enumerate() {
        let (w, b) = (part(cx, qkv_w, k as i64), part(cx, qkv_b, k as i64));
        projected[k] = linear(cx, x.v, w, b);
    }
    let (o, probs) = arg(op, heads_attention(cx, projected, h, e, mask, q_in.dtype))?;
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

/// softmax(q·kᵀ·scale + mask)·v over the last two axes of rank-`r` tensors, and the
/// attention probabilities (the softmax).
pub fn sdpa(
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
            let (out, _) = arg(op, sdpa(cx, q, k.v, v.v, mask, causal, scale))?;
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
    let [qkv_w, qkv_b, proj_w, proj_b] = projections(op, a, 3)?;
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
    let mask = opt_mask(cx, op, a, 18, 19)?;
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
        let (o, _) = heads_attention(cx, [parts[0], parts[1], parts[2]], h, e, mask, src.dtype)?;
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
