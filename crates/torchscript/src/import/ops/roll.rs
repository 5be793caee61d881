//! Cyclic reorderings (found missing by the aten suite, tests/aten_suite.py):
//! - `roll` (shifts, dims; no dims: over the flattened tensor) → the two slices of each dim
//!   concatenated the other way round (a shift known at import time taken modulo the
//!   dim's size when that is known; a run-time shift as it is);
//! - `rot90` (k, dims) → flips and a transpose;
//! - `cross` / `linalg_cross` (dim) on a dim of size 3 → the operands' components rotated
//!   by Gather with [1, 2, 0] and [2, 0, 1]: a₁b₂ − a₂b₁, ….

use modelc_ir::{Attr, Attrs, OnnxOp};

use super::super::args::Args;
use super::super::builder::attrs;
use super::super::eval::{EvalResult, Evaluator, Stop};
use super::super::value::{PyValue, TensorRef};
use super::{arg, at, axis, int_list, known_int};

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
            let shifts = a.get(1, "shifts").cloned().unwrap_or(PyValue::None);
            let shifts: Vec<PyValue> = match &shifts {
                PyValue::List(l) | PyValue::Tuple(l) => l.clone(),
                v => vec![v.clone()],
            };
            let dims = arg(op, a.ints(2, "dims", Some(&[])))?;
            roll(cx, op, x, &shifts, &dims)
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
                    let f = at(cx, "flip", vec![xv, int_list(&[d1])])?;
                    tr(cx, f)
                }
                2 => at(cx, "flip", vec![xv, int_list(&[d0, d1])]),
                3 => {
                    let f = at(cx, "flip", vec![xv, int_list(&[d0])])?;
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

/// `torch.roll`: along each dim, the last `shift` elements come first (Slice + Concat);
/// without dims, over the flattened tensor, reshaped back.
fn roll(
    cx: &mut Evaluator,
    op: &str,
    x: TensorRef,
    shifts: &[PyValue],
    dims: &[i64],
) -> EvalResult<PyValue> {
    let (mut v, dims, flat) = if dims.is_empty() {
        let m1 = cx.b.ints(&[-1]);
        let f = cx.b.op(OnnxOp::Reshape, &[x.v, m1], Attrs::default());
        (f, vec![0], true)
    } else {
        (x.v, dims.to_vec(), false)
    };
    if shifts.len() != dims.len() {
        return arg(op, Err("shifts and dims differ in length".into()));
    }
    for (shift, &d) in shifts.iter().zip(&dims) {
        let size = if flat {
            None
        } else {
            cx.b.static_dim(v, d).map(|n| n as i64)
        };
        // The split point -shift: a shift known at import time is taken modulo the size
        // when that is known; a run-time shift is used as it is (|shift| < size; 0 gives
        // the whole tensor then nothing).
        let neg = match known_int(cx, shift) {
            Some(k) => {
                let s = match size {
                    Some(n) if n > 0 => k.rem_euclid(n),
                    _ => k,
                };
                if s == 0 {
                    continue;
                }
                cx.b.ints(&[-s])
            }
            None => match shift {
                PyValue::SymInt(s) => {
                    let n = cx.b.op(OnnxOp::Neg, &[*s], Attrs::default());
                    cx.b.concat_scalars(&[n])
                }
                other => {
                    return arg(op, Err(format!("a shift is a {}", other.kind())));
                }
            },
        };
        let ax = cx.b.ints(&[d]);
        let end = cx.b.ints(&[i64::MAX]);
        let tail = cx.b.op(OnnxOp::Slice, &[v, neg, end, ax], Attrs::default());
        let zero = cx.b.ints(&[0]);
        let head =
            cx.b.op(OnnxOp::Slice, &[v, zero, neg, ax], Attrs::default());
        v = cx.b.op(
            OnnxOp::Concat,
            &[tail, head],
            attrs(vec![("axis", Attr::Int(d))]),
        );
    }
    if flat {
        let shape = cx.b.op(OnnxOp::Shape, &[x.v], Attrs::default());
        v = cx.b.op(OnnxOp::Reshape, &[v, shape], Attrs::default());
    }
    Ok(PyValue::Tensor(x.with(v)))
}
