//! `slice_scatter(input, src, dim, start, end, step)` and `select_scatter(input, src, dim,
//! index)`: `input` with a slice (a selected index) replaced by `src` — what
//! torch.export's functionalization writes for in-place writes into views (Core ATen).
//! Step 1: the parts of `input` before and after the slice concatenated around `src` (parts
//! known to be empty are left out); other steps: ScatterElements at
//! `start + step·k` along `dim`. select_scatter is slice_scatter of `src` unsqueezed at
//! `dim`, over `[index, index + 1)`.

use modelc_ir::{Attr, Attrs, DType, OnnxOp, ValueRef};

use super::super::args::Args;
use super::super::builder::attrs;
use super::super::eval::{EvalResult, Evaluator, Stop};
use super::super::value::{PyValue, TensorRef};
use super::{arg, axis, operand};

pub fn call(cx: &mut Evaluator, op: &str, a: &Args) -> Option<EvalResult<PyValue>> {
    if !matches!(op, "slice_scatter" | "select_scatter") {
        return None;
    }
    let (Some(PyValue::Tensor(x)), Some(src)) = (a.get(0, "self"), a.get(1, "src")) else {
        return None;
    };
    let (x, src) = (*x, src.clone());
    Some((|| -> EvalResult<PyValue> {
        let src = arg(op, operand(cx, &src, Some(x)))?;
        let d = arg(op, axis(op, arg(op, a.int(2, "dim", Some(0)))?, x.rank))?;
        let src_dtype = src.dtype;
        let mut src = src.v;
        if src_dtype != x.dtype {
            src = cx.b.cast(src, x.dtype);
        }
        let (start, end, step) = if op == "select_scatter" {
            let i = arg(op, a.int(3, "index", None))?;
            let ax = cx.b.ints(&[d]);
            src = cx.b.op(OnnxOp::Unsqueeze, &[src, ax], Attrs::default());
            let end = if i == -1 { i64::MAX } else { i + 1 };
            (PyValue::Int(i), PyValue::Int(end), 1)
        } else {
            (
                a.some(3, "start").cloned().unwrap_or(PyValue::Int(0)),
                a.some(4, "end").cloned().unwrap_or(PyValue::Int(i64::MAX)),
                arg(op, a.int(5, "step", Some(1)))?,
            )
        };
        let v = if step == 1 {
            concat_around(cx, op, x, src, d, &start, &end)?
        } else if step > 1 {
            scatter_stepped(cx, op, x, src, d, &start, step)?
        } else {
            return Err(Stop::Fatal(format!(
                "aten::{op}: step {step} is not positive"
            )));
        };
        Ok(PyValue::Tensor(x.with(v)))
    })())
}

/// A bound as a one-element int64 tensor.
fn bound(cx: &mut Evaluator, op: &str, v: &PyValue) -> EvalResult<ValueRef> {
    Ok(match v {
        PyValue::Int(i) => cx.b.ints(&[*i]),
        PyValue::SymInt(s) => cx.b.concat_scalars(&[*s]),
        other => {
            return Err(Stop::Fatal(format!(
                "aten::{op}: a bound is a {}",
                other.kind()
            )))
        }
    })
}

fn concat_around(
    cx: &mut Evaluator,
    op: &str,
    x: TensorRef,
    src: ValueRef,
    d: i64,
    start: &PyValue,
    end: &PyValue,
) -> EvalResult<ValueRef> {
    let size = cx.b.static_dim(x.v, d).map(|n| n as i64);
    let ax = cx.b.ints(&[d]);
    let mut parts = Vec::new();
    if start.as_int() != Some(0) {
        let (zero, s) = (cx.b.ints(&[0]), bound(cx, op, start)?);
        parts.push(cx.b.op(OnnxOp::Slice, &[x.v, zero, s, ax], Attrs::default()));
    }
    parts.push(src);
    let past_end = match (end.as_int(), size) {
        (Some(e), _) if e == i64::MAX => true,
        (Some(e), Some(n)) => e >= n,
        _ => false,
    };
    if !past_end {
        let (e, max) = (bound(cx, op, end)?, cx.b.ints(&[i64::MAX]));
        parts.push(cx.b.op(OnnxOp::Slice, &[x.v, e, max, ax], Attrs::default()));
    }
    Ok(if parts.len() == 1 {
        parts[0]
    } else {
        cx.b.op(OnnxOp::Concat, &parts, attrs(vec![("axis", Attr::Int(d))]))
    })
}

/// `src` written at `start + step·k` along `d`: ScatterElements with those indices,
/// broadcast to `src`'s shape.
fn scatter_stepped(
    cx: &mut Evaluator,
    op: &str,
    x: TensorRef,
    src: ValueRef,
    d: i64,
    start: &PyValue,
    step: i64,
) -> EvalResult<ValueRef> {
    let rank = x
        .rank
        .ok_or_else(|| Stop::Fatal(format!("aten::{op}: the input's rank is unknown")))?;
    let start = match start.as_int() {
        Some(s) if s >= 0 => s,
        Some(s) => match cx.b.static_dim(x.v, d) {
            Some(n) => (s + n as i64).max(0),
            None => {
                return Err(Stop::Fatal(format!(
                    "aten::{op}: a negative start needs the size of dim {d}, which is unknown"
                )))
            }
        },
        None => {
            return Err(Stop::Fatal(format!(
                "aten::{op}: a step of {step} needs a constant start"
            )))
        }
    };
    // k = 0 .. src.size(d), as start + step·k, shaped [1, …, n, …, 1].
    let shape = cx.b.op(OnnxOp::Shape, &[src], Attrs::default());
    let di = cx.b.ints(&[d]);
    let n = cx.b.op(
        OnnxOp::Gather,
        &[shape, di],
        attrs(vec![("axis", Attr::Int(0))]),
    );
    let zero = cx.b.scalar(DType::I64, 0.0);
    let one = cx.b.scalar(DType::I64, 1.0);
    let first = cx.b.ints(&[0]);
    let n0 = cx.b.op(OnnxOp::Squeeze, &[n, first], Attrs::default());
    let k = cx.b.op(OnnxOp::Range, &[zero, n0, one], Attrs::default());
    let (s, st) = (
        cx.b.scalar(DType::I64, start as f64),
        cx.b.scalar(DType::I64, step as f64),
    );
    let sk = cx.b.op(OnnxOp::Mul, &[k, st], Attrs::default());
    let idx = cx.b.op(OnnxOp::Add, &[sk, s], Attrs::default());
    let mut dims = vec![1i64; rank];
    dims[d as usize] = -1;
    let dims = cx.b.ints(&dims);
    let idx = cx.b.op(OnnxOp::Reshape, &[idx, dims], Attrs::default());
    let idx = cx.b.op(OnnxOp::Expand, &[idx, shape], Attrs::default());
    Ok(cx.b.op(
        OnnxOp::ScatterElements,
        &[x.v, idx, src],
        attrs(vec![("axis", Attr::Int(d))]),
    ))
}
