//! `lstm_cell` (what `nn.LSTMCell` prints: one time step; silero-vad's decoder) → its
//! formula in elementwise ops. torch: `gates = x·W_ihᵀ + b_ih + h·W_hhᵀ + b_hh`, split in
//! (i, f, g, o); `c' = σ(f)·c + σ(i)·tanh(g)`, `h' = σ(o)·tanh(c')`. The input may be
//! batched `[B, I]` or unbatched `[I]`: MatMul and a split on the last axis serve both.

use modelc_ir::{Attr, Attrs, OnnxOp, ValueRef};

use super::super::args::Args;
use super::super::builder::attrs;
use super::super::eval::{EvalResult, Evaluator, Stop};
use super::super::value::{PyValue, TensorRef};
use super::{arg, operand};

pub fn call(cx: &mut Evaluator, op: &str, a: &Args) -> Option<EvalResult<PyValue>> {
    if op != "lstm_cell" {
        return None;
    }
    Some(lstm_cell(cx, a))
}

fn tensor(cx: &mut Evaluator, a: &Args, i: usize, name: &str) -> EvalResult<Option<TensorRef>> {
    match a.get(i, name) {
        None | Some(PyValue::None) => Ok(None),
        Some(v) => arg("lstm_cell", operand(cx, v, None)).map(Some),
    }
}

/// `x · wᵀ (+ b)`.
fn linear(cx: &mut Evaluator, x: ValueRef, w: ValueRef, b: Option<ValueRef>) -> ValueRef {
    let wt = cx.b.op(
        OnnxOp::Transpose,
        &[w],
        attrs(vec![("perm", Attr::Ints(vec![1, 0]))]),
    );
    let y = cx.b.op(OnnxOp::MatMul, &[x, wt], Attrs::default());
    match b {
        Some(b) => cx.b.op(OnnxOp::Add, &[y, b], Attrs::default()),
        None => y,
    }
}

fn lstm_cell(cx: &mut Evaluator, a: &Args) -> EvalResult<PyValue> {
    let need = |t: Option<TensorRef>, what: &str| {
        t.ok_or_else(|| Stop::Fatal(format!("aten::lstm_cell: no {what}")))
    };
    let x = need(tensor(cx, a, 0, "input")?, "input")?;
    let hx: Vec<TensorRef> = match a.get(1, "hx") {
        Some(PyValue::List(l)) | Some(PyValue::Tuple(l)) => {
            l.iter().filter_map(PyValue::as_tensor).collect()
        }
        _ => Vec::new(),
    };
    let [h, c] = hx[..] else {
        return Err(Stop::Fatal(
            "aten::lstm_cell: hx is not a list of two tensors (h, c)".into(),
        ));
    };
    let w_ih = need(tensor(cx, a, 2, "w_ih")?, "w_ih")?;
    let w_hh = need(tensor(cx, a, 3, "w_hh")?, "w_hh")?;
    let b_ih = tensor(cx, a, 4, "b_ih")?.map(|t| t.v);
    let b_hh = tensor(cx, a, 5, "b_hh")?.map(|t| t.v);
    let gx = linear(cx, x.v, w_ih.v, b_ih);
    let gh = linear(cx, h.v, w_hh.v, b_hh);
    let gates = cx.b.op(OnnxOp::Add, &[gx, gh], Attrs::default());
    let parts = cx.b.node(
        OnnxOp::Split,
        &[Some(gates)],
        attrs(vec![("axis", Attr::Int(-1)), ("num_outputs", Attr::Int(4))]),
        4,
    );
    let sig = |cx: &mut Evaluator, v| cx.b.op(OnnxOp::Sigmoid, &[v], Attrs::default());
    let (i, f, o) = (sig(cx, parts[0]), sig(cx, parts[1]), sig(cx, parts[3]));
    let g = cx.b.op(OnnxOp::Tanh, &[parts[2]], Attrs::default());
    let fc = cx.b.op(OnnxOp::Mul, &[f, c.v], Attrs::default());
    let ig = cx.b.op(OnnxOp::Mul, &[i, g], Attrs::default());
    let c2 = cx.b.op(OnnxOp::Add, &[fc, ig], Attrs::default());
    let tc = cx.b.op(OnnxOp::Tanh, &[c2], Attrs::default());
    let h2 = cx.b.op(OnnxOp::Mul, &[o, tc], Attrs::default());
    let t = |v| PyValue::Tensor(TensorRef::new(v, x.rank, x.dtype));
    Ok(PyValue::Tuple(vec![t(h2), t(c2)]))
}
