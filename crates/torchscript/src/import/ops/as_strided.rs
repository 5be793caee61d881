//! `as_strided` (size, stride, storage_offset; Core ATen, found missing by the `.pt2`
//! suite): element `[i₀, i₁, …]` of the result is element `offset + Σ iₖ·strideₖ` of the
//! input's elements in row-major order (what torch reads from the storage of a contiguous
//! tensor, which every tensor of a graph modelc imports is). A contiguous view (offset 0,
//! the row-major strides of `size`, every element) → Reshape; any other view (windows,
//! broadcasts with stride 0, transposes, diagonals) → one Gather of the flattened input with
//! the constant indices. The input's element count must be known at import time; an index
//! past it is refused.

use modelc_ir::{Attrs, OnnxOp};

use super::super::args::Args;
use super::super::eval::{EvalResult, Evaluator};
use super::super::value::{PyValue, TensorRef};
use super::arg;

/// Indices Gather may take at most (an int64 constant of 8 bytes each).
const MAX_INDICES: u64 = 1 << 22;

pub fn call(cx: &mut Evaluator, op: &str, a: &Args) -> Option<EvalResult<PyValue>> {
    // (`as_strided_copy` comes here through layout.rs's `*_copy` forms.)
    if op != "as_strided" {
        return None;
    }
    let x = a.get(0, "self")?.as_tensor()?;
    Some(run(cx, op, x, a))
}

fn run(cx: &mut Evaluator, op: &str, x: TensorRef, a: &Args) -> EvalResult<PyValue> {
    let size = arg(op, a.ints(1, "size", None))?;
    let stride = arg(op, a.ints(2, "stride", None))?;
    let offset = match a.some(3, "storage_offset") {
        Some(v) => arg(
            op,
            v.as_int()
                .ok_or_else(|| "storage_offset must be a constant int".to_string()),
        )?,
        None => 0,
    };
    if size.len() != stride.len() {
        return arg(op, Err("size and stride differ in length".into()));
    }
    if size.iter().chain(&stride).any(|&s| s < 0) || offset < 0 {
        return arg(op, Err("a negative size, stride or offset".into()));
    }
    let numel =
        cx.b.g
            .shape_of(x.v)
            .and_then(|s| s.as_known())
            .map(|d| d.iter().product::<u64>())
            .ok_or_else(|| {
                super::super::eval::Stop::Fatal(format!(
                    "aten::{op}: the input's shape is not known at import time"
                ))
            })?;
    let count = size
        .iter()
        .try_fold(1u64, |n, &s| n.checked_mul(s as u64))
        .filter(|&n| n <= MAX_INDICES)
        .ok_or_else(|| {
            super::super::eval::Stop::Fatal(format!(
                "aten::{op}: a view of {size:?} has too many elements"
            ))
        })?;
    let dims: Vec<u64> = size.iter().map(|&s| s as u64).collect();
    let rank = Some(size.len());
    // The row-major strides of `size`: a contiguous view of every element is a Reshape.
    let mut contiguous = vec![1i64; size.len()];
    for k in (0..size.len().saturating_sub(1)).rev() {
        contiguous[k] = contiguous[k + 1] * size[k + 1].max(1);
    }
    let same = size
        .iter()
        .zip(&stride)
        .zip(&contiguous)
        .all(|((&n, &s), &c)| n <= 1 || s == c);
    if offset == 0 && same && count == numel {
        let shape = cx.b.ints(&size);
        let v = cx.b.op(OnnxOp::Reshape, &[x.v, shape], Attrs::default());
        return Ok(PyValue::Tensor(TensorRef::new(v, rank, x.dtype)));
    }
    let mut idx = vec![offset; count as usize];
    let mut block = count as usize;
    for (&n, &s) in size.iter().zip(&stride) {
        let n = n as usize;
        if n == 0 {
            break;
        }
        block /= n;
        for (i, v) in idx.iter_mut().enumerate() {
            *v += ((i / block) % n) as i64 * s;
        }
    }
    if let Some(&past) = idx.iter().find(|&&i| i as u64 >= numel) {
        return arg(
            op,
            Err(format!(
                "element {past} is past the input's {numel} elements"
            )),
        );
    }
    let m1 = cx.b.ints(&[-1]);
    let flat = cx.b.op(OnnxOp::Reshape, &[x.v, m1], Attrs::default());
    let idx = cx.b.const_i64(&dims, &idx);
    let v = cx.b.op(OnnxOp::Gather, &[flat, idx], Attrs::default());
    Ok(PyValue::Tensor(TensorRef::new(v, rank, x.dtype)))
}
