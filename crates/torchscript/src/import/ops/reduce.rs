//! Reductions: mean / sum / amax / amin (dims, keepdim) → ReduceMean / ReduceSum /
//! ReduceMax / ReduceMin with axes as an input (opset 18); any / all on bool tensors;
//! numel (ReduceProd of the shape); var / std (dims, unbiased or correction, keepdim) →
//! the mean squared deviation over the dims, divided by their element count less the
//! correction (read from the shape at run time); var_mean / std_mean → that and the mean.

use modelc_ir::{Attr, Attrs, DType, OnnxOp};

use super::super::args::Args;
use super::super::builder::attrs;
use super::super::eval::{EvalResult, Evaluator};
use super::super::value::{PyValue, TensorRef};
use super::{arg, operand};

pub fn call(cx: &mut Evaluator, op: &str, a: &Args) -> Option<EvalResult<PyValue>> {
    if matches!(op, "var" | "std" | "var_mean" | "std_mean")
        && matches!(a.get(0, "self"), Some(PyValue::Tensor(_)))
    {
        return Some(var_std(cx, op, a));
    }
    if !matches!(
        op,
        "mean" | "sum" | "amax" | "amin" | "numel" | "any" | "all" | "prod"
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
            Some(d) => d.as_ints(),
            None => None,
        };
        let keep = arg(op, a.bool(2, "keepdim", false))?;
        let (x, onnx) = match op {
            "mean" => (x, OnnxOp::ReduceMean),
            "sum" => (x, OnnxOp::ReduceSum),
            "amax" => (x, OnnxOp::ReduceMax),
            "amin" => (x, OnnxOp::ReduceMin),
            "prod" => (x, OnnxOp::ReduceProd),
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
