//! Cyclic reorderings (found missing by the aten suite, tests/aten_suite.py):
//! - `roll` (shifts, dims; no dims: over the flattened tensor) → the two slices of each dim
//!   concatenated the other way round (a shift smaller than the dim's size, as a slice
//!   from the end reads it);
//! - `rot90` (k, dims) → flips and a transpose;
//! - `cross` / `linalg_cross` (dim) on a dim of size 3 → the operands' components rotated
//!   by Gather with [1, 2, 0] and [2, 0, 1]: a₁b₂ − a₂b₁, ….

use modelc_ir::{Attr, OnnxOp};

use super::super::args::Args;
use super::super::builder::attrs;
use super::super::eval::{EvalResult, Evaluator, Stop};
use super::super::value::{PyValue, TensorRef};
use super::{arg, axis};

fn at(cx: &mut Evaluator, op: &str, pos: Vec<PyValue>) -> EvalResult<PyValue> {
    cx.aten(op, Args { pos, kw: vec![] })
}

fn ints(v: &[i64]) -> PyValue {
    PyValue::List(v.iter().map(|&i| PyValue::Int(i)).collect())
}

pub fn call(cx: &mut Evaluator, op: &str, a: &Args) -> Option<EvalResult<PyValue>> {
    if !matches!(op, "roll" | "rot90" | "cross" | "linalg_cross") {
        return None;
    }
    let x = a.get(0, "self")?.as_tensor()?;
    Some(run(cx, op, x, a))
}

fn run(cx: &mut Evaluator, op: &str, x: TensorRef, a: &Args) -> EvalResult<PyValue> {
    let xv = PyValue::Tensor(x);
    match op {
        "roll" => {
            let shifts = arg(op, a.ints(1, "shifts", None))?;
            let dims = arg(op, a.ints(2, "dims", Some(&[])))?;
            if dims.is_empty() {
                // Over the flattened tensor, then back to the shape.
                let shape = cx.b.op(OnnxOp::Shape, &[x.v], Default::default());
                let flat = at(cx, "reshape", vec![xv, ints(&[-1])])?;
                let s = shifts.first().copied().unwrap_or(0);
                let r = roll_dim(cx, flat, s, 0)?;
                let t = r
                    .as_tensor()
                    .ok_or_else(|| Stop::Fatal(format!("aten::{op}: expected a tensor")))?;
                let v = cx.b.op(OnnxOp::Reshape, &[t.v, shape], Default::default());
                return Ok(PyValue::Tensor(x.with(v)));
            }
            if dims.len() != shifts.len() {
                return arg(op, Err("shifts and dims differ in length".into()));
            }
            let mut v = xv;
            for (&s, &d) in shifts.iter().zip(&dims) {
                let d = arg(op, axis(op, d, x.rank))?;
                v = roll_dim(cx, v, s, d)?;
            }
            Ok(v)
        }
        "rot90" => {
            let k = arg(op, a.int(1, "k", Some(1)))?.rem_euclid(4);
            let dims = arg(op, a.ints(2, "dims", Some(&[0, 1])))?;
            let (d0, d1) = match dims[..] {
                [d0, d1] => (d0, d1),
                _ => return arg(op, Err("dims must be two dims".into())),
            };
            let tr = |cx: &mut Evaluator, v| {
                at(cx, "transpose", vec![v, PyValue::Int(d0), PyValue::Int(d1)])
            };
            match k {
                1 => {
                    let f = at(cx, "flip", vec![xv, ints(&[d1])])?;
                    tr(cx, f)
                }
                2 => at(cx, "flip", vec![xv, ints(&[d0, d1])]),
                3 => {
                    let f = at(cx, "flip", vec![xv, ints(&[d0])])?;
                    tr(cx, f)
                }
                _ => Ok(xv),
            }
        }
        _ => {
            // cross / linalg_cross
            let y = a
                .get(1, "other")
                .and_then(PyValue::as_tensor)
                .ok_or_else(|| Stop::Fatal(format!("aten::{op}: `other` is not a tensor")))?;
            let default = if op == "linalg_cross" { Some(-1) } else { None };
            let d = match a.some(2, "dim") {
                Some(v) => arg(
                    op,
                    v.as_int()
                        .ok_or_else(|| "dim must be a constant int".to_string()),
                )?,
                None => default.ok_or_else(|| {
                    Stop::Fatal(format!("aten::{op}: without a dim is not supported"))
                })?,
            };
            let rank = x.rank.zip(y.rank).map(|(r, s)| r.max(s));
            let d = arg(op, axis(op, d, rank))?;
            // Broadcast first (torch broadcasts the operands).
            let b = at(
                cx,
                "broadcast_tensors",
                vec![PyValue::List(vec![xv, PyValue::Tensor(y)])],
            )?;
            let (p, q) = match b.as_list() {
                Some([p, q]) => (p.clone(), q.clone()),
                _ => return arg(op, Err("broadcast failed".into())),
            };
            let rot = |cx: &mut Evaluator, v: &PyValue, idx: &[i64]| -> EvalResult<PyValue> {
                let t = v
                    .as_tensor()
                    .ok_or_else(|| Stop::Fatal(format!("aten::{op}: expected a tensor")))?;
                let i = cx.b.ints(idx);
                let g = cx.b.op(
                    OnnxOp::Gather,
                    &[t.v, i],
                    attrs(vec![("axis", Attr::Int(d))]),
                );
                Ok(PyValue::Tensor(t.with(g)))
            };
            let (p1, p2) = (rot(cx, &p, &[1, 2, 0])?, rot(cx, &p, &[2, 0, 1])?);
            let (q1, q2) = (rot(cx, &q, &[1, 2, 0])?, rot(cx, &q, &[2, 0, 1])?);
            let l = at(cx, "mul", vec![p1, q2])?;
            let r = at(cx, "mul", vec![p2, q1])?;
            at(cx, "sub", vec![l, r])
        }
    }
}

/// `v` rolled by `s` along `d`: cat(v[−s:], v[:−s]).
fn roll_dim(cx: &mut Evaluator, v: PyValue, s: i64, d: i64) -> EvalResult<PyValue> {
    if s == 0 {
        return Ok(v);
    }
    let di = PyValue::Int(d);
    let tail = at(
        cx,
        "slice",
        vec![
            v.clone(),
            di.clone(),
            PyValue::Int(-s),
            PyValue::Int(i64::MAX),
            PyValue::Int(1),
        ],
    )?;
    let head = at(
        cx,
        "slice",
        vec![
            v,
            di.clone(),
            PyValue::Int(0),
            PyValue::Int(-s),
            PyValue::Int(1),
        ],
    )?;
    at(cx, "cat", vec![PyValue::List(vec![tail, head]), di])
}
