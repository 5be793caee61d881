//! Tensor indexing: `index(x, indices)` (`x[idx]`, `x[:, idx]`, `x[i, j]`, `x[mask]`)
//! (`gather` is scatter.rs's, with `take_along_dim`).
//!
//! `indices` lists one entry per leading dimension, `None` for a full slice. One int index
//! tensor is a Gather along its dimension. Several (broadcast together) index their
//! dimensions jointly: those dimensions are moved to the front, GatherND picks the
//! elements, and the result's index dimensions go where torch puts them (at the first
//! indexed dimension when the indexed dimensions are adjacent, else in front). A bool mask
//! over the leading dimensions is the elements where it is true, in order (NonZero).

use modelc_ir::{Attr, Attrs, DType, OnnxOp};

use super::super::args::Args;
use super::super::builder::attrs;
use super::super::eval::{EvalResult, Evaluator, Stop};
use super::super::value::{PyValue, TensorRef};
use super::{arg, index_operand};

pub fn call(cx: &mut Evaluator, op: &str, a: &Args) -> Option<EvalResult<PyValue>> {
    if !matches!(a.get(0, "self"), Some(PyValue::Tensor(_))) {
        return None;
    }
    match op {
        "index" => Some(index(cx, op, a)),
        _ => None,
    }
}

fn fail<X>(msg: impl Into<String>) -> EvalResult<X> {
    Err(Stop::Fatal(format!("aten::index: {}", msg.into())))
}

fn index(cx: &mut Evaluator, op: &str, a: &Args) -> EvalResult<PyValue> {
    let x = arg(op, a.t(0, "self"))?;
    let list = a
        .get(1, "indices")
        .and_then(PyValue::as_list)
        .map(<[PyValue]>::to_vec)
        .unwrap_or_default();
    let mut idx: Vec<(usize, TensorRef)> = Vec::new();
    for (k, v) in list.iter().enumerate() {
        match v {
            PyValue::None => {}
            PyValue::Tensor(t) => idx.push((k, *t)),
            other => return fail(format!("an index is a {}", other.kind())),
        }
    }
    if idx.is_empty() {
        return Ok(PyValue::Tensor(x));
    }
    // A bool mask over dims k.. (the only index): its true positions, in row-major order.
    if let [(k, m)] = idx.as_slice() {
        if m.dtype == DType::Bool {
            return mask_index(cx, x, *k, *m);
        }
    }
    if idx.iter().any(|(_, t)| t.dtype == DType::Bool) {
        return fail("a bool mask together with other indices is not supported");
    }
    if let [(k, t)] = idx.as_slice() {
        let t = index_operand(cx, *t);
        let v = cx.b.op(
            OnnxOp::Gather,
            &[x.v, t.v],
            attrs(vec![("axis", Attr::Int(*k as i64))]),
        );
        let rank = x.rank.zip(t.rank).map(|(r, q)| r - 1 + q);
        return Ok(PyValue::Tensor(TensorRef::new(v, rank, x.dtype)));
    }
    let Some(r) = x.rank else {
        return fail("several index tensors need the input's rank, which is unknown");
    };
    let Some(q) = idx
        .iter()
        .map(|(_, t)| t.rank)
        .try_fold(0usize, |m, r| r.map(|r| m.max(r)))
    else {
        return fail("the rank of an index tensor is unknown");
    };
    let positions: Vec<usize> = idx.iter().map(|(k, _)| *k).collect();
    let m = positions.len();
    let adjacent = positions.windows(2).all(|w| w[1] == w[0] + 1);
    // Indexed dims first, the others after in their order.
    let mut perm: Vec<i64> = positions.iter().map(|&k| k as i64).collect();
    perm.extend((0..r as i64).filter(|d| !positions.contains(&(*d as usize))));
    let xt = if perm.iter().enumerate().all(|(i, &p)| i as i64 == p) {
        x.v
    } else {
        cx.b.op(
            OnnxOp::Transpose,
            &[x.v],
            attrs(vec![("perm", Attr::Ints(perm))]),
        )
    };
    // Broadcast the indices to one shape, stack them on a new last axis.
    let ts: Vec<TensorRef> = idx.iter().map(|(_, t)| index_operand(cx, *t)).collect();
    let mut sum = ts[0].v;
    for t in &ts[1..] {
        sum = cx.b.op(OnnxOp::Add, &[sum, t.v], Attrs::default());
    }
    let shape = cx.b.op(OnnxOp::Shape, &[sum], Attrs::default());
    let last = cx.b.ints(&[-1]);
    let parts: Vec<_> = ts
        .iter()
        .map(|t| {
            let e = cx.b.op(OnnxOp::Expand, &[t.v, shape], Attrs::default());
            cx.b.op(OnnxOp::Unsqueeze, &[e, last], Attrs::default())
        })
        .collect();
    let stacked =
        cx.b.op(OnnxOp::Concat, &parts, attrs(vec![("axis", Attr::Int(-1))]));
    let mut v = cx.b.op(OnnxOp::GatherND, &[xt, stacked], Attrs::default());
    let out_rank = q + r - m;
    let first = positions[0];
    if adjacent && first > 0 {
        // [B (q dims), rest...] → rest[..first] + B + rest[first..]
        let mut perm: Vec<i64> = (q..q + first).map(|d| d as i64).collect();
        perm.extend((0..q).map(|d| d as i64));
        perm.extend((q + first..out_rank).map(|d| d as i64));
        v = cx.b.op(
            OnnxOp::Transpose,
            &[v],
            attrs(vec![("perm", Attr::Ints(perm))]),
        );
    }
    Ok(PyValue::Tensor(TensorRef::new(v, Some(out_rank), x.dtype)))
}

/// `x[..., mask]` with the mask over dims `k .. k + mask rank`: those dims flattened and
/// the positions where the mask is true kept (Compress of the flattened mask).
fn mask_index(cx: &mut Evaluator, x: TensorRef, k: usize, m: TensorRef) -> EvalResult<PyValue> {
    let (Some(r), Some(mr)) = (x.rank, m.rank) else {
        return fail("a bool mask needs the ranks of the input and the mask");
    };
    if k + mr > r {
        return fail(format!(
            "a mask of rank {mr} at dim {k} of a rank-{r} input"
        ));
    }
    // Shape [dims before k, -1, dims after k + mr].
    let s = cx.b.op(OnnxOp::Shape, &[x.v], Attrs::default());
    let mut parts = Vec::new();
    if k > 0 {
        let (a0, a1) = (cx.b.ints(&[0]), cx.b.ints(&[k as i64]));
        parts.push(cx.b.op(OnnxOp::Slice, &[s, a0, a1], Attrs::default()));
    }
    parts.push(cx.b.ints(&[-1]));
    if k + mr < r {
        let (a0, a1) = (cx.b.ints(&[(k + mr) as i64]), cx.b.ints(&[r as i64]));
        parts.push(cx.b.op(OnnxOp::Slice, &[s, a0, a1], Attrs::default()));
    }
    let shape = if parts.len() == 1 {
        parts[0]
    } else {
        cx.b.op(OnnxOp::Concat, &parts, attrs(vec![("axis", Attr::Int(0))]))
    };
    let flat = cx.b.op(OnnxOp::Reshape, &[x.v, shape], Attrs::default());
    let m1 = cx.b.ints(&[-1]);
    let mflat = cx.b.op(OnnxOp::Reshape, &[m.v, m1], Attrs::default());
    let v = cx.b.op(
        OnnxOp::Compress,
        &[flat, mflat],
        attrs(vec![("axis", Attr::Int(k as i64))]),
    );
    Ok(PyValue::Tensor(TensorRef::new(
        v,
        Some(r - mr + 1),
        x.dtype,
    )))
}
