//! Ops outside the big families: the losses (NegativeLogLikelihoodLoss,
//! SoftmaxCrossEntropyLoss with its log-prob output), DFT (opset 17's `axis` attribute, 20's
//! axis input; `onesided`), BitCast between types of one width, the string ops
//! (StringConcat, RegexFullMatch, StringSplit's lengths), optionals (OptionalHasElement,
//! OptionalGetElement), sequences (SequenceEmpty, SequenceConstruct, SequenceInsert,
//! SequenceErase, SequenceAt, SequenceLength, SplitToSequence, ConcatFromSequence,
//! SequenceMap: sequences of what its body makes, not inferred here), Optional, STFT
//! (`[batch, frames, bins, 2]`), MelWeightMatrix (`[dft_length / 2 + 1, num_mel_bins]`) and the
//! CausalConvWithState (opset 27: output like the input, present state `[B, C, k-1]`),
//! FlexAttention (`[B, Hq, L, Ev]`), LinearAttention (opset 27: `[B, T, Hq*d_v]` and the
//! state `[B, Hkv, d_k, d_v]`) and the training optimizers Adagrad/Adam/Momentum (each new value has
//! the type of the value it updates).

use crate::{DType, Dim, OnnxOp, TensorType, ValueType};

use super::ctx::{fail, InferCtx, InferError, Outputs};
use super::dims::{axis, broadcast, dim_div, merge_dims};
use super::InferFn;

pub fn rule(op: OnnxOp) -> Option<InferFn> {
    use OnnxOp::*;
    Some(match op {
        NegativeLogLikelihoodLoss | SoftmaxCrossEntropyLoss => loss,
        DFT => dft,
        STFT => stft,
        MelWeightMatrix => mel_weight_matrix,
        Optional => optional,
        SequenceMap => sequence_map,
        BitCast => bitcast,
        StringConcat => string_concat,
        RegexFullMatch => regex,
        StringSplit => string_split,
        OptionalHasElement => has_element,
        OptionalGetElement => get_element,
        TrainingAdagrad | TrainingAdam | TrainingMomentum => optimizer,
        CausalConvWithState => causal_conv,
        PreviewFlexAttention => flex_attention,
        LinearAttention => linear_attention,
        SequenceEmpty => sequence_empty,
        SequenceConstruct => sequence_construct,
        SequenceInsert | SequenceErase => sequence_same,
        SequenceAt => sequence_at,
        SequenceLength => sequence_length,
        SplitToSequence => split_to_sequence,
        ConcatFromSequence => concat_from_sequence,
        _ => return None,
    })
}

fn loss(cx: &InferCtx<'_>, out: &mut Outputs) -> Result<(), InferError> {
    let dtype = cx.dtype(0);
    let shape = match cx.attr_string("reduction", "mean")?.as_str() {
        "none" => cx.shape(1).map(<[_]>::to_vec),
        _ => Some(vec![]),
    };
    out.set(0, dtype, shape);
    out.set(1, dtype, cx.shape(0).map(<[_]>::to_vec));
    Ok(())
}

fn dft(cx: &InferCtx<'_>, out: &mut Outputs) -> Result<(), InferError> {
    let dtype = cx.dtype(0);
    let Some(x) = cx.shape(0) else {
        out.set(0, dtype, None);
        return Ok(());
    };
    let r = x.len();
    if r < 2 {
        fail!("DFT input has rank {r}");
    }
    let a = if cx.opset >= 20 {
        if cx.has(2) {
            match cx.ints(2).as_deref() {
                Some([a]) => *a,
                _ => {
                    // Axis unknown: only a full-length, two-sided transform keeps every
                    // other dim.
                    let mut s = vec![Dim::Unknown; r];
                    if !cx.has(1) && cx.attr_int("onesided", 0)? == 0 {
                        s = x.to_vec();
                    }
                    s[r - 1] = Dim::Known(2);
                    out.set(0, dtype, Some(s));
                    return Ok(());
                }
            }
        } else {
            -2
        }
    } else {
        cx.attr_int("axis", 1)?
    };
    // The last dim is the real/imaginary pair; the axis counts among the others.
    let a = axis(a, r)?;
    if a == r - 1 {
        fail!("DFT axis is the complex dim");
    }
    let mut s = x.to_vec();
    if cx.has(1) {
        s[a] = match cx.ints(1).as_deref() {
            Some([n]) if *n > 0 => Dim::Known(*n as u64),
            _ => Dim::Unknown,
        };
    }
    let inverse = cx.attr_int("inverse", 0)? != 0;
    let onesided = cx.attr_int("onesided", 0)? != 0;
    if onesided {
        if inverse {
            out.set(0, dtype, None);
            return Ok(());
        }
        s[a] = match &s[a] {
            Dim::Known(n) => Dim::Known(n / 2 + 1),
            _ => Dim::Unknown,
        };
    }
    s[r - 1] = Dim::Known(2);
    out.set(0, dtype, Some(s));
    Ok(())
}

fn bitcast(cx: &InferCtx<'_>, out: &mut Outputs) -> Result<(), InferError> {
    let to = cx.attr_dtype("to")?;
    let shape = match (to, cx.dtype(0), cx.shape(0)) {
        (Some(t), Some(f), Some(s)) if t.bits() == f.bits() => Some(s.to_vec()),
        (Some(t), Some(f), Some(s)) if t.bits() > 0 && f.bits() > t.bits() => {
            let mut v = s.to_vec();
            v.push(Dim::Known((f.bits() / t.bits()) as u64));
            Some(v)
        }
        (Some(t), Some(f), Some(s)) if f.bits() > 0 && t.bits() > f.bits() && !s.is_empty() => {
            let last = dim_div(&s[s.len() - 1], (t.bits() / f.bits()) as u64);
            if last != Dim::Known(1) && last != Dim::Unknown {
                fail!("BitCast to a wider type needs the last dim to be the width ratio");
            }
            Some(s[..s.len() - 1].to_vec())
        }
        _ => None,
    };
    out.set(0, to, shape);
    Ok(())
}

fn string_concat(cx: &InferCtx<'_>, out: &mut Outputs) -> Result<(), InferError> {
    let shape = match (cx.shape(0), cx.shape(1)) {
        (Some(a), Some(b)) => Some(broadcast(&[a, b])?),
        _ => None,
    };
    out.set(0, Some(DType::Str), shape);
    Ok(())
}

fn regex(cx: &InferCtx<'_>, out: &mut Outputs) -> Result<(), InferError> {
    out.set(0, Some(DType::Bool), cx.shape(0).map(<[_]>::to_vec));
    Ok(())
}

fn string_split(cx: &InferCtx<'_>, out: &mut Outputs) -> Result<(), InferError> {
    let s = cx.shape(0).map(<[_]>::to_vec);
    out.set(
        0,
        Some(DType::Str),
        s.clone().map(|mut v| {
            v.push(Dim::Unknown);
            v
        }),
    );
    out.set(1, Some(DType::I64), s);
    Ok(())
}

/// STFT: signal `[batch, length, 1|2]`, `frame_step`, optional window and frame length.
fn stft(cx: &InferCtx<'_>, out: &mut Outputs) -> Result<(), InferError> {
    let Some(x) = cx.shape(0) else {
        out.set(0, cx.dtype(0), None);
        return Ok(());
    };
    if x.len() != 3 {
        fail!("STFT signal has rank {}", x.len());
    }
    let frame_len = match (cx.has(3), cx.ints(3).as_deref(), cx.shape(2)) {
        (true, Some([n]), _) => Some(*n),
        (false, _, Some([Dim::Known(w)])) => Some(*w as i64),
        _ => None,
    };
    let step = match cx.ints(1).as_deref() {
        Some([s]) => Some(*s),
        _ => None,
    };
    let frames = match (&x[1], frame_len, step) {
        (Dim::Known(l), Some(f), Some(s)) if f > 0 && s > 0 && *l as i64 >= f => {
            Dim::Known(((*l as i64 - f) / s + 1) as u64)
        }
        _ => Dim::Unknown,
    };
    let onesided = cx.attr_int("onesided", 1)? != 0;
    let bins = match frame_len {
        Some(f) if f > 0 && onesided => Dim::Known(f as u64 / 2 + 1),
        Some(f) if f > 0 => Dim::Known(f as u64),
        _ => Dim::Unknown,
    };
    out.set(
        0,
        cx.dtype(0),
        Some(vec![x[0].clone(), frames, bins, Dim::Known(2)]),
    );
    Ok(())
}

/// MelWeightMatrix: `[dft_length / 2 + 1, num_mel_bins]` of `output_datatype` (float).
fn mel_weight_matrix(cx: &InferCtx<'_>, out: &mut Outputs) -> Result<(), InferError> {
    let scalar = |i: usize| match cx.ints(i).as_deref() {
        Some([v]) if *v >= 0 => Dim::Known(*v as u64),
        _ => Dim::Unknown,
    };
    let rows = match scalar(1) {
        Dim::Known(n) => Dim::Known(n / 2 + 1),
        d => d,
    };
    let dtype = cx.attr_dtype("output_datatype")?.or(Some(DType::F32));
    out.set(0, dtype, Some(vec![rows, scalar(0)]));
    Ok(())
}

/// Optional: an optional of its input's type (or of the `type` attribute when empty).
fn optional(cx: &InferCtx<'_>, out: &mut Outputs) -> Result<(), InferError> {
    if let Some(t) = cx.input(0).and_then(|i| i.ty) {
        out.set_type(0, ValueType::Optional(Some(Box::new(t.clone()))));
    } else if let Some(crate::Attr::Type(t)) = cx.attrs.get("type") {
        out.set_type(0, ValueType::Optional(Some(Box::new(t.ty.clone()))));
    }
    Ok(())
}

/// SequenceMap: every output is a sequence (of what its body makes, not inferred here).
fn sequence_map(cx: &InferCtx<'_>, out: &mut Outputs) -> Result<(), InferError> {
    for i in 0..cx.num_outputs {
        out.set_type(i, ValueType::Sequence(None));
    }
    Ok(())
}

fn has_element(_cx: &InferCtx<'_>, out: &mut Outputs) -> Result<(), InferError> {
    out.set(0, Some(DType::Bool), Some(vec![]));
    Ok(())
}

fn get_element(cx: &InferCtx<'_>, out: &mut Outputs) -> Result<(), InferError> {
    match cx.input(0).and_then(|i| i.ty) {
        Some(ValueType::Optional(Some(t))) => out.set_type(0, (**t).clone()),
        Some(t @ ValueType::Tensor(_)) => out.set_type(0, t.clone()),
        _ => {}
    }
    Ok(())
}

/// Optimizers: inputs R, T, then the tensors they update; output k is input 2 + k updated.
fn optimizer(cx: &InferCtx<'_>, out: &mut Outputs) -> Result<(), InferError> {
    for k in 0..cx.num_outputs {
        if let Some(t) = cx.input(2 + k).and_then(|i| i.ty) {
            out.set_type(k, t.clone());
        }
    }
    Ok(())
}

fn sequence_of(t: Option<ValueType>) -> ValueType {
    ValueType::Sequence(t.map(Box::new))
}

/// The element type of a sequence input.
fn element(cx: &InferCtx<'_>, i: usize) -> Option<ValueType> {
    match cx.input(i)?.ty? {
        ValueType::Sequence(Some(t)) => Some((**t).clone()),
        _ => None,
    }
}

fn sequence_empty(cx: &InferCtx<'_>, out: &mut Outputs) -> Result<(), InferError> {
    let dtype = cx.attr_dtype("dtype")?.unwrap_or(DType::F32);
    let t = ValueType::Tensor(TensorType {
        dtype: Some(dtype),
        shape: None,
    });
    out.set_type(0, sequence_of(Some(t)));
    Ok(())
}

fn sequence_construct(cx: &InferCtx<'_>, out: &mut Outputs) -> Result<(), InferError> {
    let mut types = (0..cx.inputs.len()).map(|i| cx.input(i).and_then(|x| x.ty));
    let first = types.next().flatten().cloned();
    let merged = types.try_fold(first, |acc, t| match (acc, t) {
        (Some(a), Some(b)) => Some(Some(merge_dims(&a, b))),
        _ => None,
    });
    out.set_type(0, sequence_of(merged.flatten()));
    Ok(())
}

fn sequence_same(cx: &InferCtx<'_>, out: &mut Outputs) -> Result<(), InferError> {
    let elem = match (element(cx, 0), cx.op) {
        // An inserted tensor of another shape widens the element type.
        (Some(e), OnnxOp::SequenceInsert) => {
            cx.input(1).and_then(|x| x.ty).map(|t| merge_dims(&e, t))
        }
        (e, _) => e,
    };
    out.set_type(0, sequence_of(elem));
    Ok(())
}

fn sequence_at(cx: &InferCtx<'_>, out: &mut Outputs) -> Result<(), InferError> {
    if let Some(e) = element(cx, 0) {
        out.set_type(0, e);
    }
    Ok(())
}

fn sequence_length(_cx: &InferCtx<'_>, out: &mut Outputs) -> Result<(), InferError> {
    out.set(0, Some(DType::I64), Some(vec![]));
    Ok(())
}

fn split_to_sequence(cx: &InferCtx<'_>, out: &mut Outputs) -> Result<(), InferError> {
    let dtype = cx.dtype(0);
    let shape = match cx.shape(0) {
        Some(s) => {
            let a = axis(cx.attr_int("axis", 0)?, s.len())?;
            let mut v = s.to_vec();
            // Without `split`, pieces of size 1 that `keepdims=0` may drop; with it, sizes
            // may differ.
            if !cx.has(1) && cx.attr_int("keepdims", 1)? == 0 {
                v.remove(a);
            } else if !cx.has(1) {
                v[a] = Dim::Known(1);
            } else {
                // A scalar split gives pieces of that size (the last may be shorter).
                v[a] = match (cx.ints(1).as_deref(), cx.rank(1), &s[a]) {
                    (Some([k]), Some(0), Dim::Known(n)) if *k > 0 && n % (*k as u64) == 0 => {
                        Dim::Known(*k as u64)
                    }
                    _ => Dim::Unknown,
                };
            }
            Some(v)
        }
        None => None,
    };
    let t = ValueType::Tensor(TensorType {
        dtype,
        shape: shape.map(crate::Shape),
    });
    out.set_type(0, sequence_of(Some(t)));
    Ok(())
}

fn concat_from_sequence(cx: &InferCtx<'_>, out: &mut Outputs) -> Result<(), InferError> {
    let Some(ValueType::Tensor(e)) = element(cx, 0) else {
        return Ok(());
    };
    let new_axis = cx.attr_int("new_axis", 0)? != 0;
    let shape = e.shape.as_ref().map(|s| -> Result<Vec<Dim>, InferError> {
        let mut v = s.0.clone();
        if new_axis {
            let a = axis(cx.attr_int("axis", 0)?, v.len() + 1)?;
            v.insert(a, Dim::Unknown);
        } else {
            let a = axis(cx.attr_int("axis", 0)?, v.len())?;
            v[a] = Dim::Unknown;
        }
        Ok(v)
    });
    out.set(0, e.dtype, shape.transpose()?);
    Ok(())
}

fn causal_conv(cx: &InferCtx<'_>, out: &mut Outputs) -> Result<(), InferError> {
    let dtype = cx.dtype(0);
    out.set(0, dtype, cx.shape(0).map(<[_]>::to_vec));
    let state = match (cx.shape(0), cx.shape(1)) {
        (Some([b, c, _]), Some([_, _, k])) => Some(vec![
            b.clone(),
            c.clone(),
            match k {
                Dim::Known(k) if *k >= 1 => Dim::Known(k - 1),
                _ => Dim::Unknown,
            },
        ]),
        _ => None,
    };
    out.set(1, dtype, state);
    Ok(())
}

fn flex_attention(cx: &InferCtx<'_>, out: &mut Outputs) -> Result<(), InferError> {
    let shape = match (cx.shape(0), cx.shape(2)) {
        (Some([b, h, l, _]), Some([_, _, _, ev])) => {
            Some(vec![b.clone(), h.clone(), l.clone(), ev.clone()])
        }
        _ => None,
    };
    out.set(0, cx.dtype(0), shape);
    Ok(())
}

fn linear_attention(cx: &InferCtx<'_>, out: &mut Outputs) -> Result<(), InferError> {
    let qh = cx.attr_int("q_num_heads", 0)?;
    let kvh = cx.attr_int("kv_num_heads", 0)?;
    if qh < 1 || kvh < 1 {
        fail!("LinearAttention needs positive q_num_heads and kv_num_heads");
    }
    let (qh, kvh) = (qh as u64, kvh as u64);
    let (q, k, v) = (cx.shape(0), cx.shape(1), cx.shape(2));
    let d_v = v.and_then(|v| v.get(2)).map(|d| dim_div(d, kvh));
    let y = match (q, &d_v) {
        (Some([b, t, _]), Some(dv)) => {
            Some(vec![b.clone(), t.clone(), super::dims::dim_mul(dv, qh)])
        }
        _ => None,
    };
    out.set(0, cx.dtype(0), y);
    let state = match (q, k, d_v) {
        (Some([b, _, _]), Some([_, _, kd]), Some(dv)) => {
            Some(vec![b.clone(), Dim::Known(kvh), dim_div(kd, kvh), dv])
        }
        _ => None,
    };
    out.set(1, cx.dtype(3).or(cx.dtype(0)), state);
    Ok(())
}
