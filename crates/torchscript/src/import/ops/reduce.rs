//! Reductions: mean / sum / amax / amin / prod / logsumexp (dims, keepdim) → ReduceMean /
//! ReduceSum / ReduceMax / ReduceMin / ReduceProd / ReduceLogSumExp with axes as an input
//! (opset 18; dims must be known at import time); any / all on bool tensors;
//! numel (ReduceProd of the shape); var / std (dims, unbiased or correction, keepdim) →
//! the mean squared deviation over the dims, divided by their element count less the
//! correction (read from the shape at run time); var_mean / std_mean → that and the mean;
//! linalg_vector_norm / norm (ord 2 → ReduceL2, 1 → ReduceL1, ±inf, 0, other p).

use modelc_ir::{Attr, Attrs, DType, OnnxOp};

use super::super::args::Args;
use super::super::builder::attrs;
use super::super::eval::{EvalResult, Evaluator};
use super::super::value::{PyValue, TensorRef};
use super::{arg, operand};

pub fn call(cx: &mut Evaluator, op: &str, a: &Args) -> Option<EvalResult<PyValue>> {
    if matches!(op, "linalg_vector_norm" | "norm")
        && matches!(a.get(0, "self"), Some(PyValue::Tensor(_)))
    {
        return Some(vector_norm(cx, op, a));
    }
    if matches!(op, "var" | "std" | "var_mean" | "std_mean")
        && matches!(a.get(0, "self"), Some(PyValue::Tensor(_)))
    {
        return Some(var_std(cx, op, a));
    }
    if !matches!(
        op,
        "mean" | "sum" | "amax" | "amin" | "numel" | "any" | "all" | "prod" | "logsumexp"
    ) {
        return None;
    }
    if !matches!(a.get(0, "self"), Some(PyValue::Tensor(_))) {
        return None;
    }
    Some((|| -> EvalResult<PyValue> {
        let x = arg(
            op,
            operand(cx, a.get(0, "self").unwrap_or(&PyValue::None), None),
        )?;
        if op == "numel" {
            let s = cx.b.op(OnnxOp::Shape, &[x.v], Attrs::default());
            let v = cx.b.op(
                OnnxOp::ReduceProd,
                &[s],
                attrs(vec![("keepdims", Attr::Int(0))]),
            );
            return Ok(PyValue::SymInt(v));
        }
        let dims = match a.some(1, "dim") {
            Some(d) => Some(arg(
                op,
                d.as_ints()
                    .ok_or_else(|| format!("dim must be constant ints, is {}", d.kind())),
            )?),
            None => None,
        };
        let keep = arg(op, a.bool(2, "keepdim", false))?;
        // torch lets a 0-d tensor be reduced over dim 0 or -1 (its one element); ONNX's
        // axes must name a dimension it has.
        let dims = dims.filter(|_| x.rank != Some(0));
        // torch sums and multiplies bools and narrower integers in int64.
        let x = match x.dtype {
            DType::Bool | DType::U8 | DType::I8 | DType::I16 | DType::I32
                if matches!(op, "sum" | "prod") =>
            {
                TensorRef::new(cx.b.cast(x.v, DType::I64), x.rank, DType::I64)
            }
            _ => x,
        };
        let (x, onnx) = match op {
            "mean" => (x, OnnxOp::ReduceMean),
            "sum" => (x, OnnxOp::ReduceSum),
            "amax" => (x, OnnxOp::ReduceMax),
            "amin" => (x, OnnxOp::ReduceMin),
            "prod" => (x, OnnxOp::ReduceProd),
            "logsumexp" => (x, OnnxOp::ReduceLogSumExp),
            // any/all on bools: max/min over 0/1 values.
            _ => {
                let c = cx.b.cast(x.v, DType::F32);
                (
                    TensorRef::new(c, x.rank, DType::F32),
                    if op == "any" {
                        OnnxOp::ReduceMax
                    } else {
                        OnnxOp::ReduceMin
                    },
                )
            }
        };
        let mut ins = vec![Some(x.v)];
        if let Some(d) = &dims {
            ins.push(Some(cx.b.ints(d)));
        }
        let v = cx.b.node(
            onnx,
            &ins,
            attrs(vec![("keepdims", Attr::Int(keep as i64))]),
            1,
        )[0];
        let rank = match (&dims, keep) {
            (_, true) => x.rank,
            (Some(d), false) => x.rank.map(|r| r.saturating_sub(d.len())),
            (None, false) => Some(0),
        };
        let (v, dtype) = if op == "any" || op == "all" {
            (cx.b.cast(v, DType::Bool), DType::Bool)
        } else {
            (v, x.dtype)
        };
        Ok(PyValue::Tensor(TensorRef::new(v, rank, dtype)))
    })())
}

fn var_std(cx: &mut Evaluator, op: &str, a: &Args) -> EvalResult<PyValue> {
    let x = arg(
        op,
        operand(cx, a.get(0, "self").unwrap_or(&PyValue::None), None),
    )?;
    if !x.dtype.is_float() {
        return arg(op, Err(format!("{} input", x.dtype)));
    }
    let dims = match a.some(1, "dim") {
        None | Some(PyValue::None) => None,
        Some(v) => Some(arg(
            op,
            v.as_ints()
                .ok_or_else(|| format!("dim must be a constant int list, is {}", v.kind())),
        )?),
    };
    // var(x, dim, unbiased: bool, keepdim) or var(x, dim, *, correction, keepdim).
    let correction = match (a.get(2, "unbiased"), a.get(usize::MAX, "correction")) {
        (Some(PyValue::Bool(u)), _) => *u as i64 as f64,
        // The correction overload printed positionally.
        (Some(PyValue::Int(c)), _) => *c as f64,
        (Some(PyValue::Float(c)), _) => *c,
        (_, Some(v)) if !matches!(v, PyValue::None) => arg(
            op,
            v.as_f64()
                .ok_or_else(|| format!("correction must be a constant, is {}", v.kind())),
        )?,
        _ => 1.0,
    };
    let keep = match a.get(3, "keepdim") {
        Some(PyValue::Bool(k)) => *k,
        _ => arg(op, a.bool(usize::MAX, "keepdim", false))?,
    };
    let axes = dims.as_ref().map(|d| cx.b.ints(d));
    let reduce = |cx: &mut Evaluator, onnx: OnnxOp, v, keepdims: bool| {
        let mut ins = vec![Some(v)];
        if let Some(ax) = axes {
            ins.push(Some(ax));
        }
        cx.b.node(
            onnx,
            &ins,
            attrs(vec![("keepdims", Attr::Int(keepdims as i64))]),
            1,
        )[0]
    };
    let mean = reduce(cx, OnnxOp::ReduceMean, x.v, true);
    let d = cx.b.op(OnnxOp::Sub, &[x.v, mean], Attrs::default());
    let sq = cx.b.op(OnnxOp::Mul, &[d, d], Attrs::default());
    let ss = reduce(cx, OnnxOp::ReduceSum, sq, keep);
    // The element count over the dims, less the correction.
    let shape = cx.b.op(OnnxOp::Shape, &[x.v], Attrs::default());
    let sizes = match axes {
        Some(ax) => cx.b.op(OnnxOp::Gather, &[shape, ax], Attrs::default()),
        None => shape,
    };
    let n = cx.b.node(
        OnnxOp::ReduceProd,
        &[Some(sizes)],
        attrs(vec![("keepdims", Attr::Int(0))]),
        1,
    )[0];
    let n = cx.b.cast(n, x.dtype);
    let c = cx.b.scalar(x.dtype, correction);
    let denom = cx.b.op(OnnxOp::Sub, &[n, c], Attrs::default());
    let mut v = cx.b.op(OnnxOp::Div, &[ss, denom], Attrs::default());
    if op.starts_with("std") {
        v = cx.b.op(OnnxOp::Sqrt, &[v], Attrs::default());
    }
    let rank = match (&dims, keep) {
        (_, true) => x.rank,
        (Some(d), false) => x.rank.map(|r| r.saturating_sub(d.len())),
        (None, false) => Some(0),
    };
    let spread = PyValue::Tensor(TensorRef::new(v, rank, x.dtype));
    if !op.ends_with("_mean") {
        return Ok(spread);
    }
    let mean = if keep {
        mean
    } else {
        reduce(cx, OnnxOp::ReduceMean, x.v, false)
    };
    Ok(PyValue::Tuple(vec![
        spread,
        PyValue::Tensor(TensorRef::new(mean, rank, x.dtype)),
    ]))
}

/// `linalg_vector_norm(x, ord, dim, keepdim)` and `norm(x, p, dim, keepdim)`: ReduceL2 /
/// ReduceL1 for orders 2 and 1, the largest / smallest |x| for ±inf, the count of non-zeros
/// for 0, else (Σ|x|^p)^(1/p). No dims: over every element.
fn vector_norm(cx: &mut Evaluator, op: &str, a: &Args) -> EvalResult<PyValue> {
    let x = arg(op, a.t(0, "self"))?;
    let ord = match a.some(1, if op == "norm" { "p" } else { "ord" }) {
        None => 2.0,
        Some(PyValue::Str(s)) if s == "fro" => 2.0,
        Some(v) => arg(
            op,
            v.as_f64()
                .ok_or_else(|| format!("the order must be a constant, is {}", v.kind())),
        )?,
    };
    let dims = match a.some(2, "dim") {
        None => None,
        Some(v) => Some(arg(
            op,
            v.as_ints()
                .ok_or_else(|| format!("dim must be a constant int list, is {}", v.kind())),
        )?)
        .filter(|d| !d.is_empty()),
    };
    let keep = arg(op, a.bool(3, "keepdim", false))?;
    if !x.dtype.is_float() {
        return arg(op, Err(format!("{} input", x.dtype)));
    }
    // A 0-d tensor's dim 0 / -1 is its one element (ONNX axes must name a dimension).
    let dims = dims.filter(|_| x.rank != Some(0));
    let reduce = |cx: &mut Evaluator, onnx: OnnxOp, v| {
        let mut ins = vec![Some(v)];
        if let Some(d) = &dims {
            ins.push(Some(cx.b.ints(d)));
        }
        cx.b.node(
            onnx,
            &ins,
            attrs(vec![("keepdims", Attr::Int(keep as i64))]),
            1,
        )[0]
    };
    let v = if ord == 2.0 {
        reduce(cx, OnnxOp::ReduceL2, x.v)
    } else if ord == 1.0 {
        reduce(cx, OnnxOp::ReduceL1, x.v)
    } else if ord.is_infinite() {
        let abs = cx.b.op(OnnxOp::Abs, &[x.v], Attrs::default());
        let onnx = if ord > 0.0 {
            OnnxOp::ReduceMax
        } else {
            OnnxOp::ReduceMin
        };
        reduce(cx, onnx, abs)
    } else if ord == 0.0 {
        let zero = cx.b.scalar(x.dtype, 0.0);
        let eq = cx.b.op(OnnxOp::Equal, &[x.v, zero], Attrs::default());
        let nz = cx.b.op(OnnxOp::Not, &[eq], Attrs::default());
        let nz = cx.b.cast(nz, x.dtype);
        reduce(cx, OnnxOp::ReduceSum, nz)
    } else {
        let abs = cx.b.op(OnnxOp::Abs, &[x.v], Attrs::default());
        let p = cx.b.scalar(x.dtype, ord);
        let pw = cx.b.op(OnnxOp::Pow, &[abs, p], Attrs::default());
        let s = reduce(cx, OnnxOp::ReduceSum, pw);
        let inv = cx.b.scalar(x.dtype, 1.0 / ord);
        cx.b.op(OnnxOp::Pow, &[s, inv], Attrs::default())
    };
    let rank = match (&dims, keep) {
        (_, true) => x.rank,
        (Some(d), false) => x.rank.map(|r| r.saturating_sub(d.len())),
        (None, false) => Some(0),
    };
    Ok(PyValue::Tensor(TensorRef::new(v, rank, x.dtype)))
}
