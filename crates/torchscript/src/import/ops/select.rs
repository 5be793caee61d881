//! Selection along an axis and reorderings:
//! - `argmax` / `argmin` (dim, keepdim; no dim: over the flattened tensor) → ArgMax / ArgMin
//!   (`select_last_index` 0: torch returns the first of equal values);
//! - `max` / `min` with a dim → (ReduceMax / ReduceMin, ArgMax / ArgMin), the (values,
//!   indices) pair torch returns; without one → the extreme of all elements; with a tensor
//!   → math.rs's `maximum` / `minimum`; `tril` / `triu` → Trilu; `topk` (k, dim, largest,
//!   sorted) → TopK; `sort` (dim, descending) → TopK over the whole axis (its size read
//!   from the shape at run time);
//! - `cumsum` (dim) → CumSum; `flip` (dims) → Slice with step -1 on each;
//! - `pixel_shuffle` (r) → DepthToSpace in CRD order (torch's channel order);
//!   `pixel_unshuffle` (r) → Reshape to [N, C, H, r, W, r], Transpose, Reshape (SpaceToDepth
//!   orders channels the other way round);
//! - `einsum` (equation, operands) → Einsum, an implicit output (no `->`) made explicit:
//!   the letters used once, in alphabetical order.
//!
//! Indices come out int64, as torch's do. torch's sort is stable and TopK's order among
//! equal values is the lower index first, which is the same.

use modelc_ir::{Attr, Attrs, DType, OnnxOp};

use super::super::args::Args;
use super::super::builder::attrs;
use super::super::eval::{EvalResult, Evaluator};
use super::super::value::{PyValue, TensorRef};
use super::{arg, axis, operand};

pub fn call(cx: &mut Evaluator, op: &str, a: &Args) -> Option<EvalResult<PyValue>> {
    if op == "einsum" {
        return Some(einsum(cx, a));
    }
    if matches!(op, "tril" | "triu") && matches!(a.get(0, "self"), Some(PyValue::Tensor(_))) {
        return Some(trilu(cx, op, a));
    }
    let x_is_tensor = matches!(a.get(0, "self"), Some(PyValue::Tensor(_)));
    match (op, a.get(1, "other").or(a.get(1, "dim"))) {
        // max(x) / min(x): over every element.
        ("max" | "min", None) if x_is_tensor && a.pos.len() + a.kw.len() == 1 => {
            return Some(reduce_all(cx, op, a));
        }
        // max(x, other): element-wise, math.rs's maximum / minimum.
        ("max" | "min", Some(PyValue::Tensor(_))) => {
            let (x, y) = (a.get(0, "self")?.clone(), a.get(1, "other")?.clone());
            let op = if op == "max" { "maximum" } else { "minimum" };
            return Some(super::at(cx, op, vec![x, y]));
        }
        _ => {}
    }
    let known = matches!(
        op,
        "argmax"
            | "argmin"
            | "topk"
            | "sort"
            | "cumsum"
            | "flip"
            | "pixel_shuffle"
            | "pixel_unshuffle"
    ) || (matches!(op, "max" | "min")
        && matches!(a.get(1, "dim"), Some(PyValue::Int(_))));
    if !known || !matches!(a.get(0, "self"), Some(PyValue::Tensor(_))) {
        return None;
    }
    Some((|| -> EvalResult<PyValue> {
        let x = arg(
            op,
            operand(cx, a.get(0, "self").unwrap_or(&PyValue::None), None),
        )?;
        match op {
            "argmax" | "argmin" => {
                let onnx = if op == "argmax" {
                    OnnxOp::ArgMax
                } else {
                    OnnxOp::ArgMin
                };
                let keep = arg(op, a.bool(2, "keepdim", false))?;
                let (input, dim, rank) = match a.some(1, "dim") {
                    None | Some(PyValue::None) => {
                        // Over the flattened tensor: a 1-D view, one index out.
                        let flat = cx.b.ints(&[-1]);
                        let v = cx.b.op(OnnxOp::Reshape, &[x.v, flat], Attrs::default());
                        (v, 0, Some(1))
                    }
                    Some(_) => {
                        let d = arg(op, a.int(1, "dim", None))?;
                        (x.v, arg(op, axis(op, d, x.rank))?, x.rank)
                    }
                };
                let keep = keep && rank == x.rank;
                let v = cx.b.op(
                    onnx,
                    &[input],
                    attrs(vec![
                        ("axis", Attr::Int(dim)),
                        ("keepdims", Attr::Int(keep as i64)),
                    ]),
                );
                let out_rank = if keep {
                    rank
                } else {
                    rank.map(|r| r.saturating_sub(1))
                };
                Ok(PyValue::Tensor(TensorRef::new(v, out_rank, DType::I64)))
            }
            "max" | "min" => {
                let d = arg(op, a.int(1, "dim", None))?;
                let d = arg(op, axis(op, d, x.rank))?;
                let keep = arg(op, a.bool(2, "keepdim", false))?;
                let (reduce, index) = if op == "max" {
                    (OnnxOp::ReduceMax, OnnxOp::ArgMax)
                } else {
                    (OnnxOp::ReduceMin, OnnxOp::ArgMin)
                };
                let axes = cx.b.ints(&[d]);
                let keepdims = ("keepdims", Attr::Int(keep as i64));
                let values = cx.b.op(reduce, &[x.v, axes], attrs(vec![keepdims.clone()]));
                let indices =
                    cx.b.op(index, &[x.v], attrs(vec![("axis", Attr::Int(d)), keepdims]));
                let rank = if keep {
                    x.rank
                } else {
                    x.rank.map(|r| r.saturating_sub(1))
                };
                Ok(PyValue::Tuple(vec![
                    PyValue::Tensor(TensorRef::new(values, rank, x.dtype)),
                    PyValue::Tensor(TensorRef::new(indices, rank, DType::I64)),
                ]))
            }
            "topk" | "sort" => {
                let (k, d, largest, sorted) = if op == "topk" {
                    let k = match a.get(1, "k") {
                        Some(PyValue::SymInt(v)) => *v,
                        _ => {
                            let k = arg(op, a.int(1, "k", None))?;
                            cx.b.ints(&[k])
                        }
                    };
                    let one = cx.b.ints(&[1]);
                    let k = cx.b.op(OnnxOp::Reshape, &[k, one], Attrs::default());
                    (
                        k,
                        arg(op, a.int(2, "dim", Some(-1)))?,
                        arg(op, a.bool(3, "largest", true))?,
                        arg(op, a.bool(4, "sorted", true))?,
                    )
                } else {
                    let d = arg(op, a.int(1, "dim", Some(-1)))?;
                    let d = arg(op, axis(op, d, x.rank))?;
                    let shape = cx.b.op(OnnxOp::Shape, &[x.v], Attrs::default());
                    let (from, to) = (cx.b.ints(&[d]), cx.b.ints(&[d.saturating_add(1)]));
                    let n = cx.b.op(OnnxOp::Slice, &[shape, from, to], Attrs::default());
                    (n, d, arg(op, a.bool(2, "descending", false))?, true)
                };
                let d = arg(op, axis(op, d, x.rank))?;
                let out = cx.b.node(
                    OnnxOp::TopK,
                    &[Some(x.v), Some(k)],
                    attrs(vec![
                        ("axis", Attr::Int(d)),
                        ("largest", Attr::Int(largest as i64)),
                        ("sorted", Attr::Int(sorted as i64)),
                    ]),
                    2,
                );
                Ok(PyValue::Tuple(vec![
                    PyValue::Tensor(TensorRef::new(out[0], x.rank, x.dtype)),
                    PyValue::Tensor(TensorRef::new(out[1], x.rank, DType::I64)),
                ]))
            }
            "cumsum" => {
                let d = arg(op, a.int(1, "dim", None))?;
                let d = arg(op, axis(op, d, x.rank))?;
                let axis_v = cx.b.scalar_i64(d);
                let v = cx.b.op(OnnxOp::CumSum, &[x.v, axis_v], Attrs::default());
                Ok(PyValue::Tensor(x.with(v)))
            }
            "flip" => {
                let dims = arg(op, a.ints(1, "dims", None))?;
                let dims: Vec<i64> = dims
                    .iter()
                    .map(|&d| axis(op, d, x.rank))
                    .collect::<Result<_, _>>()
                    .map_err(super::super::eval::Stop::Fatal)?;
                let n = dims.len();
                let starts = cx.b.ints(&vec![-1; n]);
                let ends = cx.b.ints(&vec![i64::MIN; n]);
                let axes = cx.b.ints(&dims);
                let steps = cx.b.ints(&vec![-1; n]);
                let v = cx.b.op(
                    OnnxOp::Slice,
                    &[x.v, starts, ends, axes, steps],
                    Attrs::default(),
                );
                Ok(PyValue::Tensor(x.with(v)))
            }
            "pixel_unshuffle" => {
                // out[c·r² + i·r + j, h, w] = in[c, h·r + i, w·r + j].
                let r = arg(op, a.int(1, "downscale_factor", None))?;
                if x.rank != Some(4) {
                    return arg(op, Err("only 4-D inputs".to_string()));
                }
                if r < 1 {
                    return arg(op, Err(format!("downscale factor {r}")));
                }
                let rv = cx.b.scalar_i64(r);
                let (n, c) = (cx.b.dim(x.v, 0), cx.b.dim(x.v, 1));
                let h = cx.b.dim(x.v, 2);
                let h = cx.b.op(OnnxOp::Div, &[h, rv], Attrs::default());
                let w = cx.b.dim(x.v, 3);
                let w = cx.b.op(OnnxOp::Div, &[w, rv], Attrs::default());
                let split = cx.b.concat_scalars(&[n, c, h, rv, w, rv]);
                let v = cx.b.op(OnnxOp::Reshape, &[x.v, split], Attrs::default());
                let v = cx.b.op(
                    OnnxOp::Transpose,
                    &[v],
                    attrs(vec![("perm", Attr::Ints(vec![0, 1, 3, 5, 2, 4]))]),
                );
                let rr = cx.b.scalar_i64(r * r);
                let crr = cx.b.op(OnnxOp::Mul, &[c, rr], Attrs::default());
                let merged = cx.b.concat_scalars(&[n, crr, h, w]);
                let v = cx.b.op(OnnxOp::Reshape, &[v, merged], Attrs::default());
                Ok(PyValue::Tensor(x.with(v)))
            }
            _ => {
                // pixel_shuffle: out[c, h·r + i, w·r + j] = in[c·r² + i·r + j, h, w].
                let r = arg(op, a.int(1, "upscale_factor", None))?;
                if x.rank != Some(4) {
                    return arg(op, Err("only 4-D inputs".to_string()));
                }
                let v = cx.b.op(
                    OnnxOp::DepthToSpace,
                    &[x.v],
                    attrs(vec![
                        ("blocksize", Attr::Int(r)),
                        ("mode", Attr::String("CRD".into())),
                    ]),
                );
                Ok(PyValue::Tensor(x.with(v)))
            }
        }
    })())
}

/// `tril` / `triu` (diagonal offset) → Trilu.
fn trilu(cx: &mut Evaluator, op: &str, a: &Args) -> EvalResult<PyValue> {
    let x = arg(op, a.t(0, "self"))?;
    let k = arg(op, a.int(1, "diagonal", Some(0)))?;
    let kv = cx.b.scalar_i64(k);
    let v = cx.b.op(
        OnnxOp::Trilu,
        &[x.v, kv],
        attrs(vec![("upper", Attr::Int((op == "triu") as i64))]),
    );
    Ok(PyValue::Tensor(x.with(v)))
}

/// `max(x)` / `min(x)`: the extreme of all elements, a 0-d tensor.
fn reduce_all(cx: &mut Evaluator, op: &str, a: &Args) -> EvalResult<PyValue> {
    let x = arg(op, a.t(0, "self"))?;
    let onnx = if op == "max" {
        OnnxOp::ReduceMax
    } else {
        OnnxOp::ReduceMin
    };
    let v =
        cx.b.op(onnx, &[x.v], attrs(vec![("keepdims", Attr::Int(0))]));
    Ok(PyValue::Tensor(TensorRef::new(v, Some(0), x.dtype)))
}

fn einsum(cx: &mut Evaluator, a: &Args) -> EvalResult<PyValue> {
    let op = "einsum";
    let eq = arg(op, a.str(0, "equation", ""))?;
    if eq.contains("...") {
        return arg(
            op,
            Err("an equation with `...` is not supported".to_string()),
        );
    }
    let eq = eq.replace(' ', "");
    let eq = match eq.split_once("->") {
        Some(_) => eq,
        // Implicit output: the letters used exactly once, in alphabetical order.
        None => {
            let mut counts = [0usize; 128];
            for c in eq.chars().filter(char::is_ascii_alphabetic) {
                counts[c as usize] += 1;
            }
            let out: String = (0u8..128)
                .filter(|&c| counts[c as usize] == 1)
                .map(char::from)
                .collect();
            format!("{eq}->{out}")
        }
    };
    let out = eq.split_once("->").map(|(_, o)| o).unwrap_or_default();
    let list = a
        .get(1, "tensors")
        .and_then(PyValue::as_list)
        .unwrap_or(&[]);
    let mut ins = Vec::new();
    let mut dtype = DType::F32;
    let lhs = eq.split_once("->").map(|(l, _)| l).unwrap_or_default();
    let subscripts: Vec<&str> = lhs.split(',').collect();
    for (k, v) in list.iter().enumerate() {
        let t = arg(op, operand(cx, v, None))?;
        let letters = subscripts
            .get(k)
            .map(|s| s.chars().filter(char::is_ascii_alphabetic).count());
        if let (Some(r), Some(n)) = (t.rank, letters) {
            if r != n {
                // torch raises for this (and a rank being tried for an input is wrong).
                return Err(super::super::eval::Stop::Raise(format!(
                    "{}: the model raises: einsum operand {k} has rank {r}, its subscripts {n} letters",
                    cx.at()
                )));
            }
        }
        dtype = t.dtype;
        ins.push(t.v);
    }
    if ins.is_empty() {
        return arg(op, Err("no operands".to_string()));
    }
    let rank = out.chars().filter(|c| c.is_ascii_alphabetic()).count();
    let v = cx.b.op(
        OnnxOp::Einsum,
        &ins,
        attrs(vec![("equation", Attr::String(eq.clone().into()))]),
    );
    Ok(PyValue::Tensor(TensorRef::new(v, Some(rank), dtype)))
}
