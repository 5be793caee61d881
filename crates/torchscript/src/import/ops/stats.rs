//! Reductions and scans that are compositions (found missing by the aten suite,
//! tests/aten_suite.py; `logsumexp` is reduce.rs's): `logcumsumexp` (max-shifted
//! cumulative sum of exponentials), `nansum` / `nanmean` (NaN as 0, the mean over the
//! non-NaN count), `count_nonzero`, `aminmax` (the pair), `trace` (the sum under a diagonal
//! mask made by Trilu), `diff` (n, dim, prepend, append), `msort` / `argsort` (sort's
//! values / indices), `kthvalue` (the k-th of TopK's smallest).

use super::super::args::Args;
use super::super::eval::{EvalResult, Evaluator, Stop};
use super::super::value::{PyValue, TensorRef};
use super::{arg, at, axis};

const OPS: &[&str] = &[
    "logcumsumexp",
    "nansum",
    "nanmean",
    "count_nonzero",
    "aminmax",
    "trace",
    "diff",
    "msort",
    "argsort",
    "kthvalue",
];

/// The largest index slices take as "to the end".
const END: i64 = i64::MAX;

fn item(op: &str, v: &PyValue, i: usize) -> EvalResult<PyValue> {
    v.as_list()
        .and_then(|l| l.get(i))
        .cloned()
        .ok_or_else(|| Stop::Fatal(format!("aten::{op}: expected a tuple result")))
}

pub fn call(cx: &mut Evaluator, op: &str, a: &Args) -> Option<EvalResult<PyValue>> {
    if !OPS.contains(&op) {
        return None;
    }
    let x = a.get(0, "self")?.as_tensor()?;
    Some(run(cx, op, x, a))
}

fn run(cx: &mut Evaluator, op: &str, x: TensorRef, a: &Args) -> EvalResult<PyValue> {
    let xv = PyValue::Tensor(x);
    let dim = a.some(1, "dim").cloned().unwrap_or(PyValue::None);
    match op {
        "logcumsumexp" => {
            // m + log(cumsum(exp(x − m))), m the max over the dim.
            let m = at(
                cx,
                "amax",
                vec![xv.clone(), dim.clone(), PyValue::Bool(true)],
            )?;
            let s = at(cx, "sub", vec![xv, m.clone()])?;
            let e = at(cx, "exp", vec![s])?;
            let c = at(cx, "cumsum", vec![e, dim])?;
            let l = at(cx, "log", vec![c])?;
            at(cx, "add", vec![l, m])
        }
        "nansum" | "nanmean" => {
            let keep = PyValue::Bool(arg(op, a.bool(2, "keepdim", false))?);
            let nan = at(cx, "isnan", vec![xv.clone()])?;
            let z = at(cx, "where", vec![nan.clone(), PyValue::Float(0.0), xv])?;
            let s = at(cx, "sum", vec![z, dim.clone(), keep.clone()])?;
            if op == "nansum" {
                return Ok(s);
            }
            let ok = at(cx, "logical_not", vec![nan])?;
            let ok = at(cx, "type_as", vec![ok, PyValue::Tensor(x)])?;
            let n = at(cx, "sum", vec![ok, dim, keep])?;
            at(cx, "div", vec![s, n])
        }
        "count_nonzero" => {
            let nz = at(cx, "ne", vec![xv, PyValue::Int(0)])?;
            let n = at(cx, "long", vec![nz])?;
            at(cx, "sum", vec![n, dim])
        }
        "aminmax" => {
            let keep = PyValue::Bool(arg(op, a.bool(2, "keepdim", false))?);
            let lo = at(cx, "amin", vec![xv.clone(), dim.clone(), keep.clone()])?;
            let hi = at(cx, "amax", vec![xv, dim, keep])?;
            Ok(PyValue::Tuple(vec![lo, hi]))
        }
        "trace" => {
            let ones = at(cx, "ones_like", vec![xv.clone()])?;
            let up = at(cx, "triu", vec![ones])?;
            let mask = at(cx, "tril", vec![up])?;
            let p = at(cx, "mul", vec![xv, mask])?;
            at(cx, "sum", vec![p])
        }
        "diff" => {
            let n = arg(op, a.int(1, "n", Some(1)))?;
            let d = arg(op, a.int(2, "dim", Some(-1)))?;
            let d = arg(op, axis(op, d, x.rank))?;
            let mut parts = Vec::new();
            if let Some(p) = a.some(3, "prepend") {
                parts.push(p.clone());
            }
            parts.push(xv);
            if let Some(p) = a.some(4, "append") {
                parts.push(p.clone());
            }
            let mut v = if parts.len() == 1 {
                parts.pop().unwrap_or(PyValue::None)
            } else {
                at(cx, "cat", vec![PyValue::List(parts), PyValue::Int(d)])?
            };
            let di = PyValue::Int(d);
            for _ in 0..n {
                let hi = at(
                    cx,
                    "slice",
                    vec![
                        v.clone(),
                        di.clone(),
                        PyValue::Int(1),
                        PyValue::Int(END),
                        PyValue::Int(1),
                    ],
                )?;
                let lo = at(
                    cx,
                    "slice",
                    vec![
                        v,
                        di.clone(),
                        PyValue::Int(0),
                        PyValue::Int(-1),
                        PyValue::Int(1),
                    ],
                )?;
                v = if x.dtype == modelc_ir::DType::Bool {
                    at(cx, "logical_xor", vec![hi, lo])?
                } else {
                    at(cx, "sub", vec![hi, lo])?
                };
            }
            Ok(v)
        }
        "msort" => {
            let s = at(cx, "sort", vec![xv, PyValue::Int(0), PyValue::Bool(false)])?;
            item(op, &s, 0)
        }
        "argsort" => {
            let d = match dim {
                PyValue::None => PyValue::Int(-1),
                d => d,
            };
            let desc = a
                .get(2, "descending")
                .cloned()
                .unwrap_or(PyValue::Bool(false));
            let s = at(cx, "sort", vec![xv, d, desc])?;
            item(op, &s, 1)
        }
        "kthvalue" => {
            // The k smallest (ascending), the last of them.
            let k = arg(op, a.int(1, "k", None))?;
            let d = arg(op, a.int(2, "dim", Some(-1)))?;
            let keep = arg(op, a.bool(3, "keepdim", false))?;
            let t = at(
                cx,
                "topk",
                vec![
                    xv,
                    PyValue::Int(k),
                    PyValue::Int(d),
                    PyValue::Bool(false),
                    PyValue::Bool(true),
                ],
            )?;
            let mut out = Vec::with_capacity(2);
            for i in 0..2 {
                let v = item(op, &t, i)?;
                let s = at(cx, "select", vec![v, PyValue::Int(d), PyValue::Int(k - 1)])?;
                out.push(if keep {
                    at(cx, "unsqueeze", vec![s, PyValue::Int(d)])?
                } else {
                    s
                });
            }
            Ok(PyValue::Tuple(out))
        }
        _ => Err(Stop::Fatal(format!("aten::{op}: is not supported"))),
    }
}
