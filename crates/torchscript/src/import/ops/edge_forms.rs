//! Reductions, arg-reductions and scans over dim 0 / -1 of a 0-d tensor (torch allows them;
//! ONNX's axis must be within the rank, so their families would write files onnxruntime
//! rejects; found by the aten suite, tests/aten_suite.py): the value itself (argmax/argmin:
//! 0; any/all: as bool; max/min with a dim: the pair (value, 0)). One rule for the
//! reductions of reduce.rs, select.rs and stats.rs, tried before every other family; it
//! takes only these 0-d forms (`tests::one_family_per_form` checks that no other form of
//! an op is taken by two families).

use modelc_ir::DType;

use super::super::args::Args;
use super::super::eval::{EvalResult, Evaluator};
use super::super::value::{PyValue, TensorRef};
use super::{arg, at, operand};

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
