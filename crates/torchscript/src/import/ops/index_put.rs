//! `index_put(x, indices, values, accumulate)` and Core ATen's `_unsafe_index_put`
//! (`x[idx] = v`, `x[:, idx] += v`, `x[mask] = v`) → ScatterND.
//!
//! `indices` lists one entry per leading dimension as `index` (index.rs) reads it: `None`
//! is a full slice of one dimension, an int tensor indexes one dimension, a bool mask of
//! rank r indexes r dimensions by its true positions (torch expands it to its `nonzero`
//! columns, as here). The indexed dimensions are moved to the front (a Transpose, undone
//! after), the index tensors are broadcast together and stacked on a last axis, and the
//! values — broadcast to the shape `x[indices]` has in torch, whose index dimensions come
//! first unless the indexed dimensions are adjacent and not leading — are laid out as
//! ScatterND's updates (the index dimensions first). `accumulate` is reduction `add`.

use modelc_ir::{Attr, Attrs, DType, OnnxOp, ValueRef};

use super::super::args::Args;
use super::super::builder::attrs;
use super::super::eval::{EvalResult, Evaluator, Stop};
use super::super::value::PyValue;
use super::{arg, index_operand};

pub fn call(cx: &mut Evaluator, op: &str, a: &Args) -> Option<EvalResult<PyValue>> {
    if !matches!(op, "index_put" | "_unsafe_index_put")
        || !matches!(a.get(0, "self"), Some(PyValue::Tensor(_)))
    {
        return None;
    }
    Some(index_put(cx, op, a))
}

fn fail<X>(op: &str, msg: impl Into<String>) -> EvalResult<X> {
    Err(Stop::Fatal(format!("aten::{op}: {}", msg.into())))
}

fn transpose(cx: &mut Evaluator, v: ValueRef, perm: &[i64]) -> ValueRef {
    if perm.iter().enumerate().all(|(i, &p)| i as i64 == p) {
        return v;
    }
    cx.b.op(
        OnnxOp::Transpose,
        &[v],
        attrs(vec![("perm", Attr::Ints(perm.to_vec()))]),
    )
}

fn inverse(perm: &[i64]) -> Vec<i64> {
    let mut inv = vec![0; perm.len()];
    for (i, &p) in perm.iter().enumerate() {
        inv[p as usize] = i as i64;
    }
    inv
}

fn index_put(cx: &mut Evaluator, op: &str, a: &Args) -> EvalResult<PyValue> {
    let x = arg(op, a.t(0, "self"))?;
    let list = match a.get(1, "indices") {
        Some(PyValue::List(l) | PyValue::Tuple(l)) => l.clone(),
        _ => return fail(op, "indices are not a list"),
    };
    let Some(values) = a.get(2, "values").and_then(PyValue::as_tensor) else {
        return fail(op, "`values` is not a tensor");
    };
    let values = if values.dtype == x.dtype {
        values.v
    } else {
        cx.b.cast(values.v, x.dtype)
    };
    let add = arg(op, a.bool(3, "accumulate", false))?;
    // (dim, int64 index of rank `rank`) per indexed dimension.
    let mut idx: Vec<(usize, ValueRef, Option<usize>)> = Vec::new();
    let mut dim = 0usize;
    for v in &list {
        match v {
            PyValue::None => dim += 1,
            PyValue::Tensor(t) if t.dtype == DType::Bool => {
                let Some(mr) = t.rank else {
                    return fail(op, "a bool mask index of unknown rank");
                };
                // NonZero: [mr, n], one row per masked dimension.
                let nz = cx.b.op(OnnxOp::NonZero, &[t.v], Attrs::default());
                for j in 0..mr {
                    let row = cx.b.scalar_i64(j as i64);
                    let r = cx.b.op(
                        OnnxOp::Gather,
                        &[nz, row],
                        attrs(vec![("axis", Attr::Int(0))]),
                    );
                    idx.push((dim + j, r, Some(1)));
                }
                dim += mr;
            }
            PyValue::Tensor(t) => {
                let t = index_operand(cx, *t);
                let v = if t.dtype == DType::I64 {
                    t.v
                } else {
                    cx.b.cast(t.v, DType::I64)
                };
                idx.push((dim, v, t.rank));
                dim += 1;
            }
            other => return fail(op, format!("an index is a {}", other.kind())),
        }
    }
    if idx.is_empty() {
        // x[...] = v: every element.
        let shape = cx.b.op(OnnxOp::Shape, &[x.v], Attrs::default());
        let v = cx.b.op(OnnxOp::Expand, &[values, shape], Attrs::default());
        let v = if add {
            cx.b.op(OnnxOp::Add, &[x.v, v], Attrs::default())
        } else {
            v
        };
        return Ok(PyValue::Tensor(x.with(v)));
    }
    let positions: Vec<usize> = idx.iter().map(|(k, _, _)| *k).collect();
    let m = positions.len();
    let leading = positions.iter().enumerate().all(|(i, &k)| i == k);
    let r = match x.rank {
        Some(r) => r,
        None if leading => m,
        None => {
            return fail(
                op,
                "indices after a full slice need the input's rank, which is unknown",
            )
        }
    };
    if dim > r {
        return fail(op, format!("{dim} indexed dimensions of a rank-{r} input"));
    }
    // Indexed dims first, the others after in their order.
    let mut perm: Vec<i64> = positions.iter().map(|&k| k as i64).collect();
    perm.extend((0..r as i64).filter(|d| !positions.contains(&(*d as usize))));
    let xt = if x.rank.is_some() {
        transpose(cx, x.v, &perm)
    } else {
        x.v
    };
    // torch broadcasts the index tensors together (e.g. [n, 1] with [1, m]): each is
    // expanded to the shape of their sum before they are stacked.
    let mut parts: Vec<ValueRef> = idx.iter().map(|(_, v, _)| *v).collect();
    if parts.len() > 1 {
        let mut sum = parts[0];
        for p in &parts[1..] {
            sum = cx.b.op(OnnxOp::Add, &[sum, *p], Attrs::default());
        }
        let shape = cx.b.op(OnnxOp::Shape, &[sum], Attrs::default());
        for p in parts.iter_mut() {
            *p = cx.b.op(OnnxOp::Expand, &[*p, shape], Attrs::default());
        }
    }
    let last = cx.b.ints(&[-1]);
    for p in parts.iter_mut() {
        *p = cx.b.op(OnnxOp::Unsqueeze, &[*p, last], Attrs::default());
    }
    let stacked =
        cx.b.op(OnnxOp::Concat, &parts, attrs(vec![("axis", Attr::Int(-1))]));
    // ScatterND's updates: indices.shape[:-1] + xt.shape[m:].
    let lead = cx.b.op(
        OnnxOp::Shape,
        &[stacked],
        attrs(vec![("end", Attr::Int(-1))]),
    );
    let tail = cx.b.op(
        OnnxOp::Shape,
        &[xt],
        attrs(vec![("start", Attr::Int(m as i64))]),
    );
    let upd_shape = cx.b.op(
        OnnxOp::Concat,
        &[lead, tail],
        attrs(vec![("axis", Attr::Int(0))]),
    );
    let adjacent = positions.windows(2).all(|w| w[1] == w[0] + 1);
    let first = positions[0];
    let updates = if adjacent && first > 0 {
        // torch's x[indices] has the index dims (q of them) at `first`:
        // rest[..first] + B + rest[first..]; the values broadcast to that, then moved
        // to ScatterND's B + rest.
        let Some(q) = idx
            .iter()
            .map(|(_, _, rank)| *rank)
            .try_fold(0usize, |acc, rk| rk.map(|rk| acc.max(rk)))
        else {
            return fail(op, "the rank of an index tensor is unknown");
        };
        let out_rank = q + r - m;
        let mut to_torch: Vec<i64> = (q..q + first).map(|d| d as i64).collect();
        to_torch.extend((0..q).map(|d| d as i64));
        to_torch.extend((q + first..out_rank).map(|d| d as i64));
        let order = cx.b.ints(&to_torch);
        let torch_shape = cx.b.op(
            OnnxOp::Gather,
            &[upd_shape, order],
            attrs(vec![("axis", Attr::Int(0))]),
        );
        let v =
            cx.b.op(OnnxOp::Expand, &[values, torch_shape], Attrs::default());
        transpose(cx, v, &inverse(&to_torch))
    } else {
        cx.b.op(OnnxOp::Expand, &[values, upd_shape], Attrs::default())
    };
    let red = attrs(vec![(
        "reduction",
        Attr::String(if add { "add" } else { "none" }.into()),
    )]);
    let v = cx.b.op(OnnxOp::ScatterND, &[xt, stacked, updates], red);
    let v = if x.rank.is_some() {
        transpose(cx, v, &inverse(&perm))
    } else {
        v
    };
    Ok(PyValue::Tensor(x.with(v)))
}
