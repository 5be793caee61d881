//! Recurrent layers: `lstm` and `gru` (the flat-weights forms tracing and scripting print)
//! → one ONNX LSTM / GRU per layer, uni- or bidirectional, `batch_first` by transposing.
//! torch orders gates (i, f, g, o) for LSTM and (r, z, n) for GRU; ONNX wants (i, o, f, c)
//! and (z, r, h), so weight rows are split and re-concatenated; GRU uses
//! `linear_before_reset = 1`, torch's formula. Packed sequences and dropout between layers
//! (training only) are not supported.

use modelc_ir::{Attr, Attrs, OnnxOp, ValueRef};

use super::super::args::Args;
use super::super::builder::attrs;
use super::super::eval::{EvalResult, Evaluator, Stop};
use super::super::value::{PyValue, TensorRef};
use super::{arg, const_dims, operand};

fn stop(msg: impl Into<String>) -> Stop {
    Stop::Fatal(msg.into())
}

/// Rows of a `[G·H, X]` weight (or `[G·H]` bias) in ONNX gate order, with a leading axis.
fn reorder(cx: &mut Evaluator, w: ValueRef, order: &[usize]) -> ValueRef {
    let parts = cx.b.node(
        OnnxOp::Split,
        &[Some(w)],
        attrs(vec![
            ("axis", Attr::Int(0)),
            ("num_outputs", Attr::Int(order.len() as i64)),
        ]),
        order.len(),
    );
    let picked: Vec<ValueRef> = order.iter().map(|&i| parts[i]).collect();
    let c =
        cx.b.op(OnnxOp::Concat, &picked, attrs(vec![("axis", Attr::Int(0))]));
    let ax = cx.b.ints(&[0]);
    cx.b.op(OnnxOp::Unsqueeze, &[c, ax], Attrs::default())
}

fn cat0(cx: &mut Evaluator, v: &[ValueRef]) -> ValueRef {
    if v.len() == 1 {
        return v[0];
    }
    cx.b.op(OnnxOp::Concat, v, attrs(vec![("axis", Attr::Int(0))]))
}

pub fn call(cx: &mut Evaluator, op: &str, a: &Args) -> Option<EvalResult<PyValue>> {
    if op != "lstm" && op != "gru" {
        return None;
    }
    // The packed-sequence overload has a tensor (batch_sizes) second.
    if matches!(a.get(1, "batch_sizes"), Some(PyValue::Tensor(_))) && op == "lstm" {
        return super::bad(op, "packed sequences are not supported");
    }
    Some(run(cx, op, a))
}

fn run(cx: &mut Evaluator, op: &str, a: &Args) -> EvalResult<PyValue> {
    let lstm = op == "lstm";
    let x = arg(
        op,
        operand(cx, a.get(0, "input").unwrap_or(&PyValue::None), None),
    )?;
    let hx: Vec<TensorRef> = match a.get(1, "hx") {
        Some(PyValue::List(l)) | Some(PyValue::Tuple(l)) => {
            l.iter().filter_map(PyValue::as_tensor).collect()
        }
        Some(PyValue::Tensor(t)) => vec![*t],
        _ => return Err(stop(format!("aten::{op}: hx is not a tensor list"))),
    };
    let params: Vec<TensorRef> = match a.get(2, "params") {
        Some(PyValue::List(l)) | Some(PyValue::Tuple(l)) => {
            l.iter().filter_map(PyValue::as_tensor).collect()
        }
        _ => return Err(stop(format!("aten::{op}: params is not a tensor list"))),
    };
    let has_bias = arg(op, a.bool(3, "has_biases", true))?;
    let layers = arg(op, a.int(4, "num_layers", Some(1)))?.max(1) as usize;
    let bidir = arg(op, a.bool(7, "bidirectional", false))?;
    let batch_first = arg(op, a.bool(8, "batch_first", false))?;
    let nd = if bidir { 2 } else { 1 };
    let per = if has_bias { 4 } else { 2 };
    if params.len() != layers * nd * per || hx.len() != if lstm { 2 } else { 1 } {
        return Err(stop(format!(
            "aten::{op}: {} weights and {} states for {layers} layers",
            params.len(),
            hx.len()
        )));
    }
    // aten::lstm / aten::gru take only 3-D input (nn.LSTM unsqueezes unbatched input before
    // calling them; torch.lstm itself refuses 2-D), so an input of unknown rank — e.g. the
    // output of an `if` — is 3-D in any model torch runs.
    // torch raises here, so a branch of a run-time `if` that gets here is not the one
    // taken (see `Evaluator::select_if`).
    if let Some(r) = x.rank.filter(|&r| r != 3) {
        return Err(Stop::Raise(format!(
            "{}: aten::{op}: needs a 3-D input, has rank {r} (torch's aten::{op} takes only \
             batched input)",
            cx.at()
        )));
    }
    // The hidden size from W_hh's shape [G·H, H] (weights computed from constants — slices
    // and concatenations in an ONNX file modelc wrote — have it from shape inference).
    let hidden = const_dims(cx, params[1])
        .and_then(|d| d.get(1).copied())
        .or_else(|| cx.b.static_dim(params[1].v, 1))
        .ok_or_else(|| {
            stop(format!(
                "aten::{op}: the hidden size (W_hh's shape) is unknown"
            ))
        })? as i64;
    let order: &[usize] = if lstm { &[0, 3, 1, 2] } else { &[1, 0, 2] };
    let mut seq = if batch_first {
        cx.b.op(
            OnnxOp::Transpose,
            &[x.v],
            attrs(vec![("perm", Attr::Ints(vec![1, 0, 2]))]),
        )
    } else {
        x.v
    };
    let (mut hs, mut cs) = (Vec::new(), Vec::new());
    for l in 0..layers {
        let (mut w, mut r, mut b) = (Vec::new(), Vec::new(), Vec::new());
        for d in 0..nd {
            let p = &params[(l * nd + d) * per..(l * nd + d + 1) * per];
            w.push(reorder(cx, p[0].v, order));
            r.push(reorder(cx, p[1].v, order));
            if has_bias {
                let bi = reorder(cx, p[2].v, order);
                let bh = reorder(cx, p[3].v, order);
                b.push(cx.b.op(
                    OnnxOp::Concat,
                    &[bi, bh],
                    attrs(vec![("axis", Attr::Int(1))]),
                ));
            }
        }
        let (w, r) = (cat0(cx, &w), cat0(cx, &r));
        let b = if has_bias { Some(cat0(cx, &b)) } else { None };
        let lo = cx.b.ints(&[(l * nd) as i64]);
        let hi = cx.b.ints(&[((l + 1) * nd) as i64]);
        let ax = cx.b.ints(&[0]);
        let h0 =
            cx.b.op(OnnxOp::Slice, &[hx[0].v, lo, hi, ax], Attrs::default());
        let mut ins = vec![Some(seq), Some(w), Some(r), b, None, Some(h0)];
        if lstm {
            ins.push(Some(cx.b.op(
                OnnxOp::Slice,
                &[hx[1].v, lo, hi, ax],
                Attrs::default(),
            )));
        }
        let mut at = vec![
            ("hidden_size", Attr::Int(hidden)),
            (
                "direction",
                Attr::String(if bidir { "bidirectional" } else { "forward" }.into()),
            ),
        ];
        if !lstm {
            at.push(("linear_before_reset", Attr::Int(1)));
        }
        let onnx = if lstm { OnnxOp::LSTM } else { OnnxOp::GRU };
        let outs = cx.b.node(onnx, &ins, attrs(at), if lstm { 3 } else { 2 });
        // Y [seq, nd, batch, H] → [seq, batch, nd·H]
        let y = cx.b.op(
            OnnxOp::Transpose,
            &[outs[0]],
            attrs(vec![("perm", Attr::Ints(vec![0, 2, 1, 3]))]),
        );
        let shape = cx.b.ints(&[0, 0, nd as i64 * hidden]);
        seq = cx.b.op(OnnxOp::Reshape, &[y, shape], Attrs::default());
        hs.push(outs[1]);
        if lstm {
            cs.push(outs[2]);
        }
    }
    let out = if batch_first {
        cx.b.op(
            OnnxOp::Transpose,
            &[seq],
            attrs(vec![("perm", Attr::Ints(vec![1, 0, 2]))]),
        )
    } else {
        seq
    };
    let t3 = |v: ValueRef| PyValue::Tensor(TensorRef::new(v, Some(3), x.dtype));
    let h = cat0(cx, &hs);
    let mut result = vec![t3(out), t3(h)];
    if lstm {
        let c = cat0(cx, &cs);
        result.push(t3(c));
    }
    Ok(PyValue::Tuple(result))
}
