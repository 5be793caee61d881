//! Running products and extremes along a dim (Core ATen ops the `.pt2` suite found missing):
//! - `cumprod` (dim) → ReduceProd, `cummax` / `cummin` (dim) → (ReduceMax / ReduceMin,
//!   ArgMax / ArgMin) over a triangle: the input unsqueezed at `dim` so that output place
//!   `i` sees elements `j`, those with `j > i` replaced by the reduction's neutral value
//!   (1, −∞, +∞). ONNX's CumProd is too new for the opset modelc writes (18); the triangle
//!   costs n² elements along the dim, exact where exp(cumsum(log x)) would lose signs and
//!   zeros.
//!
//! torch's cummax / cummin take the later of equal elements (`>=` / `<=` in its kernel):
//! ArgMax / ArgMin of the reversed elements (TFLite has no `select_last_index`). Indices
//! come out int64, as torch's do.

use modelc_ir::{Attr, Attrs, DType, OnnxOp};

use super::super::args::Args;
use super::super::builder::attrs;
use super::super::eval::{EvalResult, Evaluator};
use super::super::value::{PyValue, TensorRef};
use super::{arg, axis, need_rank};

pub fn call(cx: &mut Evaluator, op: &str, a: &Args) -> Option<EvalResult<PyValue>> {
    if !matches!(op, "cumprod" | "cummax" | "cummin") {
        return None;
    }
    let x = a.get(0, "self")?.as_tensor()?;
    Some(run(cx, op, x, a))
}

fn run(cx: &mut Evaluator, op: &str, x: TensorRef, a: &Args) -> EvalResult<PyValue> {
    let r = need_rank(op, x)?;
    let d = arg(op, a.int(1, "dim", None))?;
    if r == 0 {
        // A 0-d tensor is its own running product / extreme, at index 0.
        return Ok(match op {
            "cumprod" => PyValue::Tensor(x),
            _ => {
                let zero = cx.b.scalar_i64(0);
                PyValue::Tuple(vec![
                    PyValue::Tensor(x),
                    PyValue::Tensor(TensorRef::new(zero, Some(0), DType::I64)),
                ])
            }
        });
    }
    let d = arg(op, axis(op, d, Some(r)))?;
    let mut x = x;
    if op == "cumprod" {
        // cumprod(x, dtype=…): the result's type.
        if let Some(code) = a.some(2, "dtype").and_then(PyValue::as_int) {
            if let Some(t) = super::super::args::scalar_type(code) {
                if t != x.dtype {
                    x = TensorRef::new(cx.b.cast(x.v, t), x.rank, t);
                }
            }
        }
    }
    let masked = triangle(cx, x, d as usize, r, neutral(op, x.dtype));
    let j = cx.b.ints(&[d + 1]);
    let keep0 = ("keepdims", Attr::Int(0));
    let reduce = match op {
        "cumprod" => OnnxOp::ReduceProd,
        "cummax" => OnnxOp::ReduceMax,
        _ => OnnxOp::ReduceMin,
    };
    let values = cx.b.op(reduce, &[masked, j], attrs(vec![keep0.clone()]));
    let values = x.with(values);
    if op == "cumprod" {
        return Ok(PyValue::Tensor(values));
    }
    // The last of equal elements: the first along the reversed axis, n − 1 − that index
    // (TFLite has no `select_last_index`).
    let index = if op == "cummax" {
        OnnxOp::ArgMax
    } else {
        OnnxOp::ArgMin
    };
    let (start, end, step) = (cx.b.ints(&[-1]), cx.b.ints(&[i64::MIN]), cx.b.ints(&[-1]));
    let reversed = cx.b.op(
        OnnxOp::Slice,
        &[masked, start, end, j, step],
        Attrs::default(),
    );
    let first = cx.b.op(
        index,
        &[reversed],
        attrs(vec![("axis", Attr::Int(d + 1)), keep0]),
    );
    let n = cx.b.dim(x.v, d);
    let one = cx.b.scalar_i64(1);
    let last = cx.b.op(OnnxOp::Sub, &[n, one], Attrs::default());
    let indices = cx.b.op(OnnxOp::Sub, &[last, first], Attrs::default());
    Ok(PyValue::Tuple(vec![
        PyValue::Tensor(values),
        PyValue::Tensor(TensorRef::new(indices, x.rank, DType::I64)),
    ]))
}

/// The reduction's neutral element in `dtype`: 1 for the product, the lowest / highest
/// value for the maximum / minimum.
fn neutral(op: &str, dtype: DType) -> f64 {
    let float = matches!(dtype, DType::F32 | DType::F64 | DType::F16 | DType::BF16);
    match op {
        "cumprod" => 1.0,
        "cummax" if float => f64::NEG_INFINITY,
        "cummin" if float => f64::INFINITY,
        "cummax" => match dtype {
            DType::Bool | DType::U8 | DType::U16 | DType::U32 | DType::U64 => 0.0,
            DType::I8 => i8::MIN as f64,
            DType::I16 => i16::MIN as f64,
            DType::I32 => i32::MIN as f64,
            _ => i64::MIN as f64,
        },
        _ => match dtype {
            DType::Bool => 1.0,
            DType::U8 => u8::MAX as f64,
            DType::I8 => i8::MAX as f64,
            DType::I16 => i16::MAX as f64,
            DType::U16 => u16::MAX as f64,
            DType::I32 => i32::MAX as f64,
            DType::U32 => u32::MAX as f64,
            _ => i64::MAX as f64,
        },
    }
}

/// `x` unsqueezed at `d` (output place `i` on axis `d`, element `j` on axis `d + 1`), with
/// `fill` where `j > i`: shape `x.shape[..d] + [n, n] + x.shape[d + 1..]`.
fn triangle(
    cx: &mut Evaluator,
    x: TensorRef,
    d: usize,
    rank: usize,
    fill: f64,
) -> modelc_ir::ValueRef {
    let ax = cx.b.ints(&[d as i64]);
    let xm = cx.b.op(OnnxOp::Unsqueeze, &[x.v, ax], Attrs::default());
    // j <= i as a [n, n, 1, …] mask (one 1 per dim after `d`).
    let n = cx.b.dim(x.v, d as i64);
    let (start, step) = (cx.b.scalar_i64(0), cx.b.scalar_i64(1));
    let idx = cx.b.op(OnnxOp::Range, &[start, n, step], Attrs::default());
    let ones = vec![1; rank - d - 1];
    let i_shape = cx.b.ints(&[&[-1, 1][..], &ones].concat());
    let j_shape = cx.b.ints(&[&[1, -1][..], &ones].concat());
    let i = cx.b.op(OnnxOp::Reshape, &[idx, i_shape], Attrs::default());
    let j = cx.b.op(OnnxOp::Reshape, &[idx, j_shape], Attrs::default());
    let mask = cx.b.op(OnnxOp::LessOrEqual, &[j, i], Attrs::default());
    let fill = cx.b.scalar(x.dtype, fill);
    cx.b.op(OnnxOp::Where, &[mask, xm, fill], Attrs::default())
}
