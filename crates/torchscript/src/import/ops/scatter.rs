//! Index-addressed reads and writes (the forms modelc's writer gives GatherElements,
//! ScatterElements and ScatterND, and torch's own):
//! - `gather` (dim, index) → GatherElements;
//! - `scatter` (dim, index, src tensor), `scatter_add`, `scatter_reduce` (reduce
//!   sum/prod/amax/amin, `include_self` true) → ScatterElements with the reduction;
//! - `index_put` (one index tensor per leading dimension, all of one shape; `accumulate`)
//!   → ScatterND over the indices stacked on a last axis (reduction add when accumulating);
//! - `index_reduce` along dim 0 (prod/amax/amin, `include_self` true) → ScatterND with one
//!   index per row.
//!
//! torch's `mean` reductions and `include_self=False` have no ONNX reduction: refused.

use modelc_ir::{Attr, OnnxOp};

use super::super::args::Args;
use super::super::builder::attrs;
use super::super::eval::{EvalResult, Evaluator, Stop};
use super::super::value::{PyValue, TensorRef};
use super::{arg, axis};

pub fn call(cx: &mut Evaluator, op: &str, a: &Args) -> Option<EvalResult<PyValue>> {
    if !matches!(
        op,
        "gather" | "scatter" | "scatter_add" | "scatter_reduce" | "index_put" | "index_reduce"
    ) || !matches!(a.get(0, "self"), Some(PyValue::Tensor(_)))
    {
        return None;
    }
    Some((|| -> EvalResult<PyValue> {
        let x = arg(op, a.t(0, "self"))?;
        match op {
            "gather" => {
                let dim = arg(op, a.int(1, "dim", None))?;
                let idx = arg(op, a.t(2, "index"))?;
                let m = attrs(vec![("axis", Attr::Int(dim))]);
                let v = cx.b.op(OnnxOp::GatherElements, &[x.v, idx.v], m);
                Ok(PyValue::Tensor(TensorRef::new(v, idx.rank, x.dtype)))
            }
            "scatter" | "scatter_add" | "scatter_reduce" => {
                let dim = arg(op, a.int(1, "dim", None))?;
                let dim = arg(op, axis(op, dim, x.rank))?;
                let idx = arg(op, a.t(2, "index"))?;
                let src = arg(op, a.t(3, "src"))?;
                let reduction = match op {
                    "scatter" => {
                        if a.some(4, "reduce").is_some() {
                            return Err(fatal(op, "the `reduce` argument"));
                        }
                        "none".to_string()
                    }
                    "scatter_add" => "add".to_string(),
                    _ => {
                        include_self(op, a, 5)?;
                        reduction(op, &arg(op, a.str(4, "reduce", ""))?)?
                    }
                };
                let m = attrs(vec![
                    ("axis", Attr::Int(dim)),
                    ("reduction", Attr::String(reduction.into())),
                ]);
                let v = cx.b.op(OnnxOp::ScatterElements, &[x.v, idx.v, src.v], m);
                Ok(PyValue::Tensor(x.with(v)))
            }
            "index_put" => {
                let indices = match a.get(1, "indices") {
                    Some(PyValue::List(l) | PyValue::Tuple(l)) => l.clone(),
                    _ => return Err(fatal(op, "indices are not a list")),
                };
                let mut parts = Vec::with_capacity(indices.len());
                for i in &indices {
                    let PyValue::Tensor(t) = i else {
                        return Err(fatal(op, "an index that is not a tensor (None or a slice)"));
                    };
                    if t.dtype == modelc_ir::DType::Bool {
                        return Err(fatal(op, "a boolean mask index"));
                    }
                    let last = cx.b.ints(&[-1]);
                    let i64 = cx.b.cast(t.v, modelc_ir::DType::I64);
                    parts.push(cx.b.op(OnnxOp::Unsqueeze, &[i64, last], Default::default()));
                }
                if parts.is_empty() {
                    return Err(fatal(op, "no indices"));
                }
                let stacked =
                    cx.b.op(OnnxOp::Concat, &parts, attrs(vec![("axis", Attr::Int(-1))]));
                let values = arg(op, a.t(2, "values"))?;
                let add = arg(op, a.bool(3, "accumulate", false))?;
                let m = attrs(vec![(
                    "reduction",
                    Attr::String(if add { "add" } else { "none" }.into()),
                )]);
                let v = cx.b.op(OnnxOp::ScatterND, &[x.v, stacked, values.v], m);
                Ok(PyValue::Tensor(x.with(v)))
            }
            _ => {
                // index_reduce
                let dim = arg(op, a.int(1, "dim", None))?;
                if arg(op, axis(op, dim, x.rank))? != 0 {
                    return Err(fatal(op, "a dim other than 0"));
                }
                let idx = arg(op, a.t(2, "index"))?;
                let src = arg(op, a.t(3, "source"))?;
                include_self(op, a, 5)?;
                let r = reduction(op, &arg(op, a.str(4, "reduce", ""))?)?;
                let last = cx.b.ints(&[-1]);
                let rows =
                    cx.b.op(OnnxOp::Unsqueeze, &[idx.v, last], Default::default());
                let m = attrs(vec![("reduction", Attr::String(r.into()))]);
                let v = cx.b.op(OnnxOp::ScatterND, &[x.v, rows, src.v], m);
                Ok(PyValue::Tensor(x.with(v)))
            }
        }
    })())
}

fn fatal(op: &str, what: &str) -> Stop {
    Stop::Fatal(format!("aten::{op}: {what} is not supported"))
}

/// ONNX's reduction for torch's `reduce` name.
fn reduction(op: &str, reduce: &str) -> EvalResult<String> {
    Ok(match reduce {
        "sum" | "add" => "add",
        "prod" | "multiply" => "mul",
        "amax" => "max",
        "amin" => "min",
        other => return Err(fatal(op, &format!("reduce={other:?}"))),
    }
    .to_string())
}

/// ONNX's reductions include the data's own value; torch's `include_self=False` does not.
fn include_self(op: &str, a: &Args, slot: usize) -> EvalResult<()> {
    if !arg(op, a.bool(slot, "include_self", true))? {
        return Err(fatal(op, "include_self=False"));
    }
    Ok(())
}
