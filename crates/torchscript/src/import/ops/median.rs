//! `median` (Core ATen; found missing by the `.pt2` suite): torch's median is the lower of
//! the two middle elements, the ⌈n/2⌉-th smallest. With a dim (`median.dim`, dim, keepdim)
//! → TopK of the k = (n + 1) / 2 smallest along the dim (n read from the shape at run time),
//! its last value and index: the (values, indices) pair torch returns; without one → the
//! same over the flattened tensor, a 0-d result.
//!
//! Indices come out int64, as torch's do; among equal elements TopK keeps the lower index
//! first, as torch's stable sort.

use modelc_ir::{Attr, Attrs, DType, OnnxOp, ValueRef};

use super::super::args::Args;
use super::super::builder::attrs;
use super::super::eval::{EvalResult, Evaluator};
use super::super::value::{PyValue, TensorRef};
use super::{arg, axis};

pub fn call(cx: &mut Evaluator, op: &str, a: &Args) -> Option<EvalResult<PyValue>> {
    if op != "median" {
        return None;
    }
    let x = a.get(0, "self")?.as_tensor()?;
    Some(run(cx, op, x, a))
}

fn run(cx: &mut Evaluator, op: &str, x: TensorRef, a: &Args) -> EvalResult<PyValue> {
    let Some(dim) = a.some(1, "dim") else {
        let m1 = cx.b.ints(&[-1]);
        let flat = cx.b.op(OnnxOp::Reshape, &[x.v, m1], Attrs::default());
        let (values, _) = lower_middle(cx, flat, 0);
        let zero = cx.b.ints(&[0]);
        let v = cx.b.op(OnnxOp::Squeeze, &[values, zero], Attrs::default());
        return Ok(PyValue::Tensor(TensorRef::new(v, Some(0), x.dtype)));
    };
    let d = arg(
        op,
        dim.as_int()
            .ok_or_else(|| "dim must be a constant int".to_string()),
    )?;
    let keep = arg(op, a.bool(2, "keepdim", false))?;
    if x.rank == Some(0) {
        // The median of one element is that element, at index 0.
        let zero = cx.b.scalar_i64(0);
        return Ok(PyValue::Tuple(vec![
            PyValue::Tensor(x),
            PyValue::Tensor(TensorRef::new(zero, Some(0), DType::I64)),
        ]));
    }
    let d = arg(op, axis(op, d, x.rank))?;
    let (mut values, mut indices) = lower_middle(cx, x.v, d);
    let mut rank = x.rank;
    if !keep {
        let ax = cx.b.ints(&[d]);
        values = cx.b.op(OnnxOp::Squeeze, &[values, ax], Attrs::default());
        indices = cx.b.op(OnnxOp::Squeeze, &[indices, ax], Attrs::default());
        rank = rank.map(|r| r - 1);
    }
    Ok(PyValue::Tuple(vec![
        PyValue::Tensor(TensorRef::new(values, rank, x.dtype)),
        PyValue::Tensor(TensorRef::new(indices, rank, DType::I64)),
    ]))
}

/// The ⌈n/2⌉-th smallest element along `d` and its index, the dim kept (size 1).
fn lower_middle(cx: &mut Evaluator, x: ValueRef, d: i64) -> (ValueRef, ValueRef) {
    let n = cx.b.dim(x, d);
    let (one, two) = (cx.b.scalar_i64(1), cx.b.scalar_i64(2));
    let n1 = cx.b.op(OnnxOp::Add, &[n, one], Attrs::default());
    let k = cx.b.op(OnnxOp::Div, &[n1, two], Attrs::default());
    let k = cx.b.concat_scalars(&[k]);
    let top = cx.b.node(
        OnnxOp::TopK,
        &[Some(x), Some(k)],
        attrs(vec![
            ("axis", Attr::Int(d)),
            ("largest", Attr::Int(0)),
            ("sorted", Attr::Int(1)),
        ]),
        2,
    );
    let (start, end, ax) = (cx.b.ints(&[-1]), cx.b.ints(&[i64::MAX]), cx.b.ints(&[d]));
    let last = |cx: &mut Evaluator, v| {
        cx.b.op(OnnxOp::Slice, &[v, start, end, ax], Attrs::default())
    };
    (last(cx, top[0]), last(cx, top[1]))
}
