//! `unfold` (Tensor.unfold(dimension, size, step); Core ATen, found missing by the `.pt2`
//! suite): the windows `x[.., c·step : c·step + size, ..]` for c in 0..count, count =
//! (n − size) / step + 1, as a new last dim of `size`. → one Gather along the dim with
//! [count, size] constant indices (n must be known at import time), then a Transpose that
//! moves the window dim to the end. A 0-d input gives its element (size 1) or nothing.

use modelc_ir::{Attr, OnnxOp};

use super::super::args::Args;
use super::super::builder::attrs;
use super::super::eval::{EvalResult, Evaluator};
use super::super::value::{PyValue, TensorRef};
use super::{arg, axis, need_rank};

/// Indices Gather may take at most (an int64 constant of 8 bytes each).
const MAX_INDICES: u64 = 1 << 22;

pub fn call(cx: &mut Evaluator, op: &str, a: &Args) -> Option<EvalResult<PyValue>> {
    if op != "unfold" {
        return None;
    }
    let x = a.get(0, "self")?.as_tensor()?;
    Some(run(cx, op, x, a))
}

fn run(cx: &mut Evaluator, op: &str, x: TensorRef, a: &Args) -> EvalResult<PyValue> {
    let r = need_rank(op, x)?;
    let d = arg(op, a.int(1, "dimension", None))?;
    let size = arg(op, a.int(2, "size", None))?;
    let step = arg(op, a.int(3, "step", None))?;
    if r == 0 {
        // A 0-d tensor unfolds to its one element (size 1) or nothing (size 0).
        if !(0..=1).contains(&size) || step <= 0 || !(-1..=0).contains(&d) {
            return arg(
                op,
                Err(format!("size {size} / step {step} do not fit a 0-d input")),
            );
        }
        let shape = cx.b.ints(&[1]);
        let one = cx.b.op(OnnxOp::Reshape, &[x.v, shape], Default::default());
        let (start, end, ax) = (cx.b.ints(&[0]), cx.b.ints(&[size]), cx.b.ints(&[0]));
        let v =
            cx.b.op(OnnxOp::Slice, &[one, start, end, ax], Default::default());
        return Ok(PyValue::Tensor(TensorRef::new(v, Some(1), x.dtype)));
    }
    let d = arg(op, axis(op, d, Some(r)))?;
    let n = cx.b.static_dim(x.v, d).ok_or_else(|| {
        super::super::eval::Stop::Fatal(format!(
            "aten::{op}: the size of dim {d} is not known at import time"
        ))
    })?;
    if size < 0 || step <= 0 || size as u64 > n {
        return arg(
            op,
            Err(format!("size {size} / step {step} do not fit a dim of {n}")),
        );
    }
    let count = (n - size as u64) / step as u64 + 1;
    if count.saturating_mul(size as u64) > MAX_INDICES {
        return arg(op, Err(format!("{count} windows of {size} are too many")));
    }
    let idx: Vec<i64> = (0..count as i64)
        .flat_map(|c| (0..size).map(move |s| c * step + s))
        .collect();
    let idx = cx.b.const_i64(&[count, size as u64], &idx);
    let g = cx.b.op(
        OnnxOp::Gather,
        &[x.v, idx],
        attrs(vec![("axis", Attr::Int(d))]),
    );
    // [.., count, size, rest..] → [.., count, rest.., size].
    let d = d as usize;
    let perm: Vec<i64> = (0..=d)
        .chain(d + 2..r + 1)
        .chain([d + 1])
        .map(|p| p as i64)
        .collect();
    let v = cx.b.op(
        OnnxOp::Transpose,
        &[g],
        attrs(vec![("perm", Attr::Ints(perm))]),
    );
    Ok(PyValue::Tensor(TensorRef::new(v, Some(r + 1), x.dtype)))
}
