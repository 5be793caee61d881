//! Forms of known ops that their families would translate into ONNX that onnxruntime
//! rejects (found by the aten suite, tests/aten_suite.py); tried before every other family:
//! - reductions, arg-reductions and scans over dim 0 / -1 of a 0-d tensor (torch allows
//!   them; ONNX's axis must be within the rank): the value itself (argmax/argmin: 0;
//!   any/all: as bool; max/min with a dim: the pair (value, 0));
//! - `index_select` of a 0-d tensor: the value; `t` of a 0-d or 1-d tensor: the value;
//! - `logical_and/or/xor/not` of non-bool tensors: the operands compared with 0 first
//!   (ONNX And/Or/Xor/Not take bools only);
//! - `clamp` / `clip` with tensor bounds: Max / Min (ONNX Clip takes scalar bounds);
//! - `round` with `decimals`: round(x · 10^d) / 10^d.

use modelc_ir::DType;

use super::super::args::Args;
use super::super::eval::{EvalResult, Evaluator};
use super::super::value::{PyValue, TensorRef};
use super::{arg, operand};

fn at(cx: &mut Evaluator, op: &str, pos: Vec<PyValue>) -> EvalResult<PyValue> {
    cx.aten(op, Args { pos, kw: vec![] })
}

const REDUCTIONS: &[&str] = &[
    "sum",
    "mean",
    "amax",
    "amin",
    "prod",
    "any",
    "all",
    "argmax",
    "argmin",
    "cumsum",
    "max",
    "min",
    "logsumexp",
    "nansum",
    "nanmean",
];

pub fn call(cx: &mut Evaluator, op: &str, a: &Args) -> Option<EvalResult<PyValue>> {
    let x = a.get(0, "self")?.as_tensor();
    match op {
        _ if REDUCTIONS.contains(&op) && x.is_some_and(|t| t.rank == Some(0)) => {
            // Only with a dim (a reduction over everything is valid ONNX at rank 0).
            let dim = a.some(1, "dim")?;
            if !matches!(dim, PyValue::Int(_) | PyValue::List(_) | PyValue::Tuple(_)) {
                return None;
            }
            let t = x?;
            Some(scalar_reduce(cx, op, t))
        }
        "index_select" if x.is_some_and(|t| t.rank == Some(0)) => Some(Ok(PyValue::Tensor(x?))),
        "t" if x.is_some_and(|t| matches!(t.rank, Some(0 | 1))) => Some(Ok(PyValue::Tensor(x?))),
        "logical_and" | "logical_or" | "logical_xor" | "logical_not" => {
            let ins: Vec<&PyValue> = if op == "logical_not" {
                vec![a.get(0, "self")?]
            } else {
                vec![a.get(0, "self")?, a.get(1, "other")?]
            };
            let non_bool = ins
                .iter()
                .any(|v| v.as_tensor().is_some_and(|t| t.dtype != DType::Bool));
            if !non_bool {
                return None;
            }
            Some((|| {
                let mut bools = Vec::with_capacity(ins.len());
                for v in ins {
                    let b = match v {
                        PyValue::Tensor(t) if t.dtype != DType::Bool => {
                            at(cx, "ne", vec![v.clone(), PyValue::Int(0)])?
                        }
                        PyValue::Tensor(_) => v.clone(),
                        other => PyValue::Bool(other.as_bool().unwrap_or(false)),
                    };
                    bools.push(b);
                }
                at(cx, op, bools)
            })())
        }
        "clamp" | "clip" => {
            let t = x?;
            let bounds = [a.some(1, "min"), a.some(2, "max")];
            let tensor_bound = bounds.iter().any(|b| {
                b.and_then(PyValue::as_tensor)
                    .is_some_and(|b| b.rank != Some(0))
            });
            if !tensor_bound {
                return None;
            }
            Some((|| {
                let mut v = PyValue::Tensor(t);
                if let Some(lo) = bounds[0] {
                    v = at(cx, "maximum", vec![v, lo.clone()])?;
                }
                if let Some(hi) = bounds[1] {
                    v = at(cx, "minimum", vec![v, hi.clone()])?;
                }
                Ok(v)
            })())
        }
        "round" => {
            let t = x?;
            let d = match a.some(1, "decimals") {
                Some(PyValue::Int(d)) if *d != 0 => *d,
                _ => return None,
            };
            Some((|| {
                let k = 10f64.powi(d as i32);
                let s = at(cx, "mul", vec![PyValue::Tensor(t), PyValue::Float(k)])?;
                let r = at(cx, "round", vec![s])?;
                at(cx, "div", vec![r, PyValue::Float(k)])
            })())
        }
        _ => None,
    }
}

fn scalar_reduce(cx: &mut Evaluator, op: &str, t: TensorRef) -> EvalResult<PyValue> {
    match op {
        "argmax" | "argmin" => Ok(PyValue::Tensor(zeros_i64(cx, t)?)),
        "any" | "all" => at(cx, "ne", vec![PyValue::Tensor(t), PyValue::Int(0)]),
        "max" | "min" => Ok(PyValue::Tuple(vec![
            PyValue::Tensor(t),
            PyValue::Tensor(zeros_i64(cx, t)?),
        ])),
        _ => Ok(PyValue::Tensor(t)),
    }
}

/// An int64 0-d zero (the index of the one element of a 0-d tensor).
fn zeros_i64(cx: &mut Evaluator, t: TensorRef) -> EvalResult<TensorRef> {
    let z = arg("argmax", operand(cx, &PyValue::Int(0), None))?;
    Ok(TensorRef::new(z.v, t.rank, DType::I64))
}
