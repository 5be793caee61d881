//! Shape and layout ops that are compositions of the ones the importer knows (found
//! missing by the aten suite, tests/aten_suite.py):
//! - the `*_copy` forms of view ops (`view_copy`, `permute_copy`, …) and `alias` are their
//!   view ops (the evaluation is in SSA form: a copy and a view are the same value);
//! - transposes: `mT` / `mH` / `adjoint` / `matrix_H` (last two dims; real tensors),
//!   `numpy_T` (all dims reversed); `movedim` / `swapaxes` are shape.rs's;
//! - `narrow`, `ravel`, `broadcast_to`, `tile`, `flipud` / `fliplr`, `atleast_1d/2d/3d`,
//!   `hstack` / `vstack` / `dstack` / `column_stack`, `broadcast_tensors`, `meshgrid`;
//! - products of vectors: `outer` / `ger`, `dot` / `vdot` / `inner` (vectors), `mv`,
//!   `addmv`, `addr`.

use modelc_ir::{Attr, OnnxOp};

use super::super::args::Args;
use super::super::builder::attrs;
use super::super::eval::{EvalResult, Evaluator, Stop};
use super::super::value::{PyValue, TensorRef};
use super::{arg, at, axis, expect_tensor, int_list, need_rank};

const OPS: &[&str] = &[
    "alias",
    "mT",
    "mH",
    "adjoint",
    "matrix_H",
    "numpy_T",
    "narrow",
    "ravel",
    "broadcast_to",
    "tile",
    "flipud",
    "fliplr",
    "atleast_1d",
    "atleast_2d",
    "atleast_3d",
    "hstack",
    "vstack",
    "dstack",
    "column_stack",
    "broadcast_tensors",
    "meshgrid",
    "outer",
    "ger",
    "dot",
    "vdot",
    "inner",
    "mv",
    "addmv",
    "addr",
];

pub fn call(cx: &mut Evaluator, op: &str, a: &Args) -> Option<EvalResult<PyValue>> {
    // `view_copy` → `view`, … (only for names whose base some family knows: the call
    // reports the base op otherwise, which names the same thing).
    // `index_copy` is no view's copy: scatter.rs takes it.
    if let Some(base) = op
        .strip_suffix("_copy")
        .filter(|b| !b.is_empty() && op != "index_copy")
    {
        let args = Args {
            pos: a.pos.clone(),
            kw: a.kw.clone(),
        };
        return Some(cx.aten(base, args));
    }
    if !OPS.contains(&op) {
        return None;
    }
    let first = a.get(0, "self")?.clone();
    let is_list = matches!(first, PyValue::List(_) | PyValue::Tuple(_));
    if !matches!(first, PyValue::Tensor(_)) && !is_list {
        return None;
    }
    Some(run(cx, op, first, a))
}

fn run(cx: &mut Evaluator, op: &str, x: PyValue, a: &Args) -> EvalResult<PyValue> {
    match op {
        "alias" => Ok(x),
        "mT" | "mH" | "adjoint" | "matrix_H" => {
            at(cx, "transpose", vec![x, PyValue::Int(-2), PyValue::Int(-1)])
        }
        "numpy_T" => {
            let r = need_rank(op, expect_tensor(op, &x)?)? as i64;
            let perm: Vec<i64> = (0..r).rev().collect();
            at(cx, "permute", vec![x, int_list(&perm)])
        }
        "narrow" => {
            let d = a.get(1, "dim").cloned().unwrap_or(PyValue::Int(0));
            let length = arg(op, a.int(3, "length", None))?;
            let t = expect_tensor(op, &x)?;
            let start = match a.get(2, "start") {
                // A 0-d tensor start (torch.narrow accepts one): a run-time int.
                Some(PyValue::Tensor(s)) => {
                    let v = if s.dtype == modelc_ir::DType::I64 {
                        s.v
                    } else {
                        cx.b.cast(s.v, modelc_ir::DType::I64)
                    };
                    PyValue::SymInt(v)
                }
                _ => {
                    let start = arg(op, a.int(2, "start", None))?;
                    if start < 0 {
                        // A negative start counts from the end: the size is needed.
                        let dim = arg(op, axis(op, d.as_int().unwrap_or(0), t.rank))?;
                        let size = at(cx, "size", vec![x.clone(), PyValue::Int(dim)])?;
                        at(cx, "add", vec![size, PyValue::Int(start)])?
                    } else {
                        PyValue::Int(start)
                    }
                }
            };
            let end = at(cx, "add", vec![start.clone(), PyValue::Int(length)])?;
            at(cx, "slice", vec![x, d, start, end, PyValue::Int(1)])
        }
        "ravel" => at(cx, "reshape", vec![x, int_list(&[-1])]),
        "broadcast_to" => {
            let size = a.get(1, "size").cloned().unwrap_or(PyValue::None);
            at(cx, "expand", vec![x, size])
        }
        "tile" => {
            let r = need_rank(op, expect_tensor(op, &x)?)?;
            let mut dims = arg(op, a.ints(1, "dims", None))?;
            while dims.len() < r {
                dims.insert(0, 1);
            }
            at(cx, "repeat", vec![x, int_list(&dims)])
        }
        "flipud" => at(cx, "flip", vec![x, int_list(&[0])]),
        "fliplr" => at(cx, "flip", vec![x, int_list(&[1])]),
        "atleast_1d" | "atleast_2d" | "atleast_3d" => {
            if let PyValue::List(items) | PyValue::Tuple(items) = &x {
                let mut out = Vec::with_capacity(items.len());
                for it in items {
                    out.push(run(cx, op, it.clone(), a)?);
                }
                return Ok(PyValue::List(out));
            }
            atleast(cx, op, x)
        }
        "hstack" | "vstack" | "dstack" | "column_stack" => {
            let items = x.as_list().map(<[PyValue]>::to_vec).unwrap_or_default();
            let (lift, dim) = match op {
                "vstack" => ("atleast_2d", 0),
                "dstack" => ("atleast_3d", 2),
                _ => ("atleast_1d", 1),
            };
            let mut parts = Vec::with_capacity(items.len());
            let mut all_1d = true;
            for it in items {
                let t = if op == "column_stack" {
                    // Vectors (and scalars) become columns.
                    let r = need_rank(op, expect_tensor(op, &it)?)?;
                    if r <= 1 {
                        at(cx, "reshape", vec![it, int_list(&[-1, 1])])?
                    } else {
                        it
                    }
                } else {
                    atleast(cx, lift, it)?
                };
                all_1d &= expect_tensor(op, &t)?.rank == Some(1);
                parts.push(t);
            }
            let dim = if op == "hstack" && all_1d { 0 } else { dim };
            at(cx, "cat", vec![PyValue::List(parts), PyValue::Int(dim)])
        }
        "broadcast_tensors" => {
            let items = x.as_list().map(<[PyValue]>::to_vec).unwrap_or_default();
            broadcast(cx, op, items).map(PyValue::List)
        }
        "meshgrid" => {
            // Each vector laid along its own axis, then all broadcast; `xy` swaps the
            // first two axes' roles.
            let items = x.as_list().map(<[PyValue]>::to_vec).unwrap_or_default();
            let indexing = arg(op, a.str(1, "indexing", "ij"))?;
            let n = items.len();
            let mut axes: Vec<usize> = (0..n).collect();
            if indexing == "xy" && n >= 2 {
                axes.swap(0, 1);
            }
            let mut shaped = Vec::with_capacity(n);
            for (it, &ax) in items.into_iter().zip(&axes) {
                let mut shape = vec![1i64; n];
                shape[ax] = -1;
                shaped.push(at(cx, "reshape", vec![it, int_list(&shape)])?);
            }
            broadcast(cx, op, shaped).map(PyValue::List)
        }
        "outer" | "ger" => {
            let y = a.get(1, "vec2").cloned().unwrap_or(PyValue::None);
            let col = at(cx, "unsqueeze", vec![x, PyValue::Int(1)])?;
            let row = at(cx, "unsqueeze", vec![y, PyValue::Int(0)])?;
            at(cx, "mul", vec![col, row])
        }
        "dot" | "vdot" | "inner" => {
            let y = a.get(1, "other").cloned().unwrap_or(PyValue::None);
            let (rx, ry) = (
                need_rank(op, expect_tensor(op, &x)?)?,
                need_rank(op, expect_tensor(op, &y)?)?,
            );
            match (rx, ry) {
                (0, _) | (_, 0) => at(cx, "mul", vec![x, y]),
                (1, 1) => {
                    let p = at(cx, "mul", vec![x, y])?;
                    at(cx, "sum", vec![p])
                }
                // inner over the last dims: x · yᵀ.
                (_, 1 | 2) => {
                    let yt = if ry == 2 {
                        at(cx, "transpose", vec![y, PyValue::Int(0), PyValue::Int(1)])?
                    } else {
                        y
                    };
                    at(cx, "matmul", vec![x, yt])
                }
                _ => arg(op, Err(format!("of ranks {rx} and {ry} is not supported"))),
            }
        }
        "mv" => {
            let y = a.get(1, "vec").cloned().unwrap_or(PyValue::None);
            at(cx, "matmul", vec![x, y])
        }
        "addmv" | "addr" => {
            // beta · self + alpha · (mat · vec | outer(vec1, vec2))
            let p = a.get(1, "mat").cloned().unwrap_or(PyValue::None);
            let q = a.get(2, "vec").cloned().unwrap_or(PyValue::None);
            let beta = a.get(3, "beta").cloned().unwrap_or(PyValue::Int(1));
            let alpha = a.get(4, "alpha").cloned().unwrap_or(PyValue::Int(1));
            let prod = if op == "addmv" {
                at(cx, "matmul", vec![p, q])?
            } else {
                let col = at(cx, "unsqueeze", vec![p, PyValue::Int(1)])?;
                let row = at(cx, "unsqueeze", vec![q, PyValue::Int(0)])?;
                at(cx, "mul", vec![col, row])?
            };
            let s = scaled(cx, x, &beta)?;
            let t = scaled(cx, prod, &alpha)?;
            at(cx, "add", vec![s, t])
        }
        _ => Err(Stop::Fatal(format!("aten::{op}: is not supported"))),
    }
}

/// `k · v`, `v` itself when k is 1; 0 · v is zeros even where v is NaN (torch ignores
/// `self` when beta is 0).
fn scaled(cx: &mut Evaluator, v: PyValue, k: &PyValue) -> EvalResult<PyValue> {
    match k.as_f64() {
        Some(1.0) => Ok(v),
        Some(0.0) => at(cx, "zeros_like", vec![v]),
        _ => at(cx, "mul", vec![v, k.clone()]),
    }
}

fn atleast(cx: &mut Evaluator, op: &str, x: PyValue) -> EvalResult<PyValue> {
    let r = need_rank(op, expect_tensor(op, &x)?)?;
    let shape: &[i64] = match (op, r) {
        ("atleast_1d", 0) => &[1],
        ("atleast_2d", 0) => &[1, 1],
        ("atleast_2d", 1) => &[1, -1],
        ("atleast_3d", 0) => &[1, 1, 1],
        ("atleast_3d", 1) => &[1, -1, 1],
        ("atleast_3d", 2) => return at(cx, "unsqueeze", vec![x, PyValue::Int(-1)]),
        _ => return Ok(x),
    };
    at(cx, "reshape", vec![x, int_list(shape)])
}

/// Every tensor expanded to their common broadcast shape: the element-wise maximum of the
/// shapes, each padded with leading ones to the largest rank.
fn broadcast(cx: &mut Evaluator, op: &str, items: Vec<PyValue>) -> EvalResult<Vec<PyValue>> {
    let ts: Vec<TensorRef> = items
        .iter()
        .map(|v| expect_tensor(op, v))
        .collect::<EvalResult<_>>()?;
    let ranks: Vec<usize> = ts
        .iter()
        .map(|t| need_rank(op, *t))
        .collect::<EvalResult<_>>()?;
    let r = ranks.iter().copied().max().unwrap_or(0);
    let mut shape = None;
    for (t, &rt) in ts.iter().zip(&ranks) {
        let s = cx.b.op(OnnxOp::Shape, &[t.v], Default::default());
        let s = if rt < r {
            let ones = cx.b.ints(&vec![1; r - rt]);
            cx.b.op(
                OnnxOp::Concat,
                &[ones, s],
                attrs(vec![("axis", Attr::Int(0))]),
            )
        } else {
            s
        };
        shape = Some(match shape {
            None => s,
            Some(acc) => cx.b.op(OnnxOp::Max, &[acc, s], Default::default()),
        });
    }
    let Some(shape) = shape else {
        return Ok(Vec::new());
    };
    Ok(ts
        .into_iter()
        .map(|t| {
            let v = cx.b.op(OnnxOp::Expand, &[t.v, shape], Default::default());
            PyValue::Tensor(TensorRef::new(v, Some(r), t.dtype))
        })
        .collect())
}
