//! Element-wise indexing along a dim (found missing by the aten suite,
//! tests/aten_suite.py):
//! - `gather` (dim, index) and `take_along_dim` (indices, dim; none: over the flattened
//!   tensor) → GatherElements; `take` (index into the flattened tensor) → Gather;
//! - `scatter` (dim, index, src | value, reduce add / multiply), `scatter_add`,
//!   `scatter_reduce` (sum / prod / amax / amin / mean, include_self) → ScatterElements
//!   with its reduction (include_self false: the scattered places first set to the
//!   reduction's identity by a plain scatter; mean: the sum over a scattered count);
//! - `index_copy` (dim, index, source), `index_add` (dim, index, source, alpha) and
//!   `index_reduce` (prod / amax / amin / mean,
//!   include_self) → ScatterElements with the 1-D index laid along `dim` and expanded to
//!   the source's shape;
//! - `max_unpool2d` / `max_unpool3d` (indices, output_size) → ScatterElements into zeros of
//!   the output's plane size, indices being positions within each (n, c) plane;
//! - `nonzero` / `argwhere` → NonZero transposed to torch's [count, rank];
//!   `masked_select` → GatherND of those positions (operands broadcast first).
//!
//! (`index_put` is index_put.rs's.) Indices are int64 as torch's are; negative indices are
//! ONNX's as they are torch's.

use modelc_ir::{Attr, DType, OnnxOp};

use super::super::args::Args;
use super::super::builder::attrs;
use super::super::eval::{EvalResult, Evaluator, Stop};
use super::super::value::{PyValue, TensorRef};
use super::{arg, at, axis, index_operand, operand};

const OPS: &[&str] = &[
    "gather",
    "take_along_dim",
    "take",
    "scatter",
    "scatter_add",
    "scatter_reduce",
    "index_add",
    "index_reduce",
    "index_copy",
    "max_unpool2d",
    "max_unpool3d",
    "nonzero",
    "argwhere",
    "masked_select",
];

fn tensor(op: &str, v: Option<&PyValue>, name: &str) -> EvalResult<TensorRef> {
    match v {
        Some(PyValue::Tensor(t)) => Ok(*t),
        Some(v) => Err(Stop::Fatal(format!(
            "aten::{op}: `{name}` is a {}, not a tensor",
            v.kind()
        ))),
        None => Err(Stop::Fatal(format!("aten::{op}: `{name}` is missing"))),
    }
}

/// An index operand ([`index_operand`]: a float graph input is recorded as an int64 one)
/// as int64.
fn i64s(cx: &mut Evaluator, t: TensorRef) -> TensorRef {
    let t = index_operand(cx, t);
    if t.dtype == DType::I64 {
        return t;
    }
    TensorRef::new(cx.b.cast(t.v, DType::I64), t.rank, DType::I64)
}

pub fn call(cx: &mut Evaluator, op: &str, a: &Args) -> Option<EvalResult<PyValue>> {
    if !OPS.contains(&op) || !matches!(a.get(0, "self"), Some(PyValue::Tensor(_))) {
        return None;
    }
    Some(run(cx, op, a))
}

fn flat(cx: &mut Evaluator, t: TensorRef) -> EvalResult<TensorRef> {
    let v = at(
        cx,
        "reshape",
        vec![PyValue::Tensor(t), PyValue::List(vec![PyValue::Int(-1)])],
    )?;
    tensor("reshape", Some(&v), "self")
}

/// `x` and `index` broadcast against each other in every dim but `d` (same rank).
fn broadcast_but(
    cx: &mut Evaluator,
    op: &str,
    x: TensorRef,
    index: TensorRef,
    d: i64,
) -> EvalResult<(TensorRef, TensorRef)> {
    let r = match (x.rank, index.rank) {
        (Some(r), Some(s)) if r == s => r,
        _ => return arg(op, Err("needs tensors of one known rank".into())),
    };
    let keep: Vec<i64> = (0..r as i64).map(|i| (i != d) as i64).collect();
    let unit: Vec<i64> = (0..r as i64).map(|i| (i == d) as i64).collect();
    let (keep, unit) = (cx.b.ints(&keep), cx.b.ints(&unit));
    let with_unit = |cx: &mut Evaluator, t: TensorRef| {
        let s = cx.b.op(OnnxOp::Shape, &[t.v], Default::default());
        let s = cx.b.op(OnnxOp::Mul, &[s, keep], Default::default());
        cx.b.op(OnnxOp::Add, &[s, unit], Default::default())
    };
    let (sx, si) = (with_unit(cx, x), with_unit(cx, index));
    let xv = cx.b.op(OnnxOp::Expand, &[x.v, si], Default::default());
    let iv = cx.b.op(OnnxOp::Expand, &[index.v, sx], Default::default());
    Ok((x.with(xv), index.with(iv)))
}

/// torch's nonzero: the positions of the non-zero elements as [count, rank] int64 (a 0-d
/// tensor: [0 or 1, 0], where ONNX's NonZero would give a position of rank 1).
fn nonzero(cx: &mut Evaluator, x: TensorRef) -> modelc_ir::ValueRef {
    let input = if x.rank == Some(0) {
        let one = cx.b.ints(&[1]);
        cx.b.op(OnnxOp::Reshape, &[x.v, one], Default::default())
    } else {
        x.v
    };
    let nz = cx.b.op(OnnxOp::NonZero, &[input], Default::default());
    let pos = cx.b.op(
        OnnxOp::Transpose,
        &[nz],
        attrs(vec![("perm", Attr::Ints(vec![1, 0]))]),
    );
    if x.rank != Some(0) {
        return pos;
    }
    let (zero, axis1) = (cx.b.ints(&[0]), cx.b.ints(&[1]));
    cx.b.op(OnnxOp::Slice, &[pos, zero, zero, axis1], Default::default())
}

/// ScatterElements of `src` into `x` at `index` along `d` with `reduction`; without
/// `include_self` the scattered places first get the reduction's identity.
#[allow(clippy::too_many_arguments)]
fn scatter_into(
    cx: &mut Evaluator,
    op: &str,
    x: TensorRef,
    index: TensorRef,
    src: TensorRef,
    d: i64,
    reduction: &'static str,
    include_self: bool,
) -> EvalResult<PyValue> {
    if reduction == "mean" {
        // The sum over the count of what was summed (self counting once when included).
        if !x.dtype.is_float() {
            return arg(op, Err("mean of integers is not supported".into()));
        }
        let total = scatter_into(cx, op, x, index, src, d, "add", include_self)?;
        let one = cx.b.scalar(x.dtype, 1.0);
        let xs = cx.b.op(OnnxOp::Shape, &[x.v], Default::default());
        let is = cx.b.op(OnnxOp::Shape, &[index.v], Default::default());
        let ones_x = cx.b.op(OnnxOp::Expand, &[one, xs], Default::default());
        let ones_i = cx.b.op(OnnxOp::Expand, &[one, is], Default::default());
        let count = scatter_into(
            cx,
            op,
            x.with(ones_x),
            index,
            TensorRef::new(ones_i, index.rank, x.dtype),
            d,
            "add",
            include_self,
        )?;
        return at(cx, "div", vec![total, count]);
    }
    let mut base = x.v;
    if !include_self {
        let id = match reduction {
            "add" => 0.0,
            "mul" => 1.0,
            "max" => f64::NEG_INFINITY,
            _ => f64::INFINITY,
        };
        if !x.dtype.is_float() && id.is_infinite() {
            return arg(op, Err("amax/amin without self on integers".into()));
        }
        let idv = cx.b.scalar(x.dtype, id);
        let shape = cx.b.op(OnnxOp::Shape, &[index.v], Default::default());
        let fill = cx.b.op(OnnxOp::Expand, &[idv, shape], Default::default());
        base = cx.b.op(
            OnnxOp::ScatterElements,
            &[x.v, index.v, fill],
            attrs(vec![("axis", Attr::Int(d))]),
        );
    }
    let src = if src.dtype != x.dtype {
        cx.b.cast(src.v, x.dtype)
    } else {
        src.v
    };
    let v = cx.b.op(
        OnnxOp::ScatterElements,
        &[base, index.v, src],
        attrs(vec![
            ("axis", Attr::Int(d)),
            ("reduction", Attr::String(reduction.into())),
        ]),
    );
    Ok(PyValue::Tensor(x.with(v)))
}

fn run(cx: &mut Evaluator, op: &str, a: &Args) -> EvalResult<PyValue> {
    let x = tensor(op, a.get(0, "self"), "self")?;
    match op {
        "gather" | "take_along_dim" => {
            let (dim, index) = if op == "gather" {
                (a.some(1, "dim").cloned(), a.get(2, "index"))
            } else {
                (a.some(2, "dim").cloned(), a.get(1, "indices"))
            };
            let index = i64s(cx, tensor(op, index, "index")?);
            let (x, index, d) = match dim {
                Some(d) => {
                    let d = arg(op, d.as_int().ok_or("dim must be a constant int".into()))?;
                    let d = arg(op, axis(op, d, x.rank))?;
                    if op == "take_along_dim" {
                        // The other dims broadcast: each side expanded to the other's
                        // shape with `dim` set to 1.
                        let (x2, i2) = broadcast_but(cx, op, x, index, d)?;
                        (x2, i2, d)
                    } else {
                        (x, index, d)
                    }
                }
                None => (flat(cx, x)?, flat(cx, index)?, 0),
            };
            let v = cx.b.op(
                OnnxOp::GatherElements,
                &[x.v, index.v],
                attrs(vec![("axis", Attr::Int(d))]),
            );
            Ok(PyValue::Tensor(TensorRef::new(v, index.rank, x.dtype)))
        }
        "take" => {
            let index = i64s(cx, tensor(op, a.get(1, "index"), "index")?);
            let xf = flat(cx, x)?;
            let v = cx.b.op(
                OnnxOp::Gather,
                &[xf.v, index.v],
                attrs(vec![("axis", Attr::Int(0))]),
            );
            Ok(PyValue::Tensor(TensorRef::new(v, index.rank, x.dtype)))
        }
        "scatter" | "scatter_add" | "scatter_reduce" => {
            let d = arg(op, a.int(1, "dim", None))?;
            let d = arg(op, axis(op, d, x.rank))?;
            let index = i64s(cx, tensor(op, a.get(2, "index"), "index")?);
            let src = match a.get(3, "src").or_else(|| a.get(usize::MAX, "value")) {
                Some(PyValue::Tensor(t)) => *t,
                Some(v) => {
                    // A scalar value: a tensor of the index's shape.
                    let s = arg(op, operand(cx, v, Some(x)))?;
                    let shape = cx.b.op(OnnxOp::Shape, &[index.v], Default::default());
                    let e = cx.b.op(OnnxOp::Expand, &[s.v, shape], Default::default());
                    TensorRef::new(e, index.rank, x.dtype)
                }
                None => return arg(op, Err("`src` is missing".into())),
            };
            let reduce = match op {
                "scatter_add" => "add".to_string(),
                "scatter" => arg(op, a.str(4, "reduce", "none"))?,
                _ => arg(op, a.str(4, "reduce", ""))?,
            };
            let reduction = match reduce.as_str() {
                "none" => "none",
                "add" | "sum" => "add",
                "multiply" | "prod" => "mul",
                "amax" => "max",
                "amin" => "min",
                "mean" => "mean",
                other => return arg(op, Err(format!("reduce `{other}` is not supported"))),
            };
            let include_self = op != "scatter_reduce" || arg(op, a.bool(5, "include_self", true))?;
            scatter_into(cx, op, x, index, src, d, reduction, include_self)
        }
        "index_add" | "index_reduce" | "index_copy" => {
            let r = x
                .rank
                .ok_or_else(|| Stop::Fatal(format!("aten::{op}: the input's rank is unknown")))?;
            let d = arg(op, a.int(1, "dim", None))?;
            // A 0-d input takes dim 0 or -1 (torch's wrapping of a scalar's dim).
            let d = if r == 0 && (-1..=0).contains(&d) {
                0
            } else {
                arg(op, axis(op, d, x.rank))?
            };
            let index = i64s(cx, tensor(op, a.get(2, "index"), "index")?);
            let source = tensor(op, a.get(3, "source"), "source")?;
            let (source, reduction, include_self) = if op == "index_copy" {
                (source, "none", true)
            } else if op == "index_add" {
                let alpha = a.get(4, "alpha").cloned().unwrap_or(PyValue::Int(1));
                let source = match alpha.as_f64() {
                    Some(1.0) => source,
                    _ => {
                        let m = at(cx, "mul", vec![PyValue::Tensor(source), alpha])?;
                        tensor(op, Some(&m), "source")?
                    }
                };
                (source, "add", true)
            } else {
                let reduction = match arg(op, a.str(4, "reduce", ""))?.as_str() {
                    "prod" => "mul",
                    "amax" => "max",
                    "amin" => "min",
                    "mean" if r > 0 => "mean",
                    other => return arg(op, Err(format!("reduce `{other}` is not supported"))),
                };
                (source, reduction, arg(op, a.bool(5, "include_self", true))?)
            };
            if r == 0 {
                let name = match reduction {
                    "none" => return Ok(PyValue::Tensor(source)),
                    "add" => "add",
                    "mul" => "mul",
                    "max" => "maximum",
                    _ => "minimum",
                };
                let s = PyValue::Tensor(source);
                return if include_self {
                    at(cx, name, vec![PyValue::Tensor(x), s])
                } else {
                    Ok(s)
                };
            }
            let mut shape = vec![1i64; r];
            shape[d as usize] = -1;
            let sh = cx.b.ints(&shape);
            let idx = cx.b.op(OnnxOp::Reshape, &[index.v, sh], Default::default());
            let ss = cx.b.op(OnnxOp::Shape, &[source.v], Default::default());
            let idx = cx.b.op(OnnxOp::Expand, &[idx, ss], Default::default());
            let idx = TensorRef::new(idx, Some(r), DType::I64);
            scatter_into(cx, op, x, idx, source, d, reduction, include_self)
        }
        "max_unpool2d" | "max_unpool3d" => {
            let index = i64s(cx, tensor(op, a.get(1, "indices"), "indices")?);
            let size = arg(op, a.ints(2, "output_size", None))?;
            let r = x.rank.unwrap_or(0);
            if r < size.len() + 1 {
                return arg(op, Err("input rank below the output size's".into()));
            }
            // [lead…, plane] views; zeros of [lead…, prod(size)] scattered into.
            let lead = r - size.len();
            let shape = cx.b.op(OnnxOp::Shape, &[x.v], Default::default());
            let starts = cx.b.ints(&[0]);
            let ends = cx.b.ints(&[lead as i64]);
            let lead_dims =
                cx.b.op(OnnxOp::Slice, &[shape, starts, ends], Default::default());
            let minus1 = cx.b.ints(&[-1]);
            let plane = cx.b.ints(&[size.iter().product()]);
            let out_size = cx.b.ints(&size);
            let cat = |cx: &mut Evaluator, tail| {
                cx.b.op(
                    OnnxOp::Concat,
                    &[lead_dims, tail],
                    attrs(vec![("axis", Attr::Int(0))]),
                )
            };
            let flat_shape = cat(cx, minus1);
            let zeros_shape = cat(cx, plane);
            let final_shape = cat(cx, out_size);
            let xf =
                cx.b.op(OnnxOp::Reshape, &[x.v, flat_shape], Default::default());
            let idf =
                cx.b.op(OnnxOp::Reshape, &[index.v, flat_shape], Default::default());
            let zero = cx.b.scalar(x.dtype, 0.0);
            let zeros =
                cx.b.op(OnnxOp::Expand, &[zero, zeros_shape], Default::default());
            let v = cx.b.op(
                OnnxOp::ScatterElements,
                &[zeros, idf, xf],
                attrs(vec![("axis", Attr::Int(lead as i64))]),
            );
            let v =
                cx.b.op(OnnxOp::Reshape, &[v, final_shape], Default::default());
            Ok(PyValue::Tensor(TensorRef::new(v, Some(r), x.dtype)))
        }
        "nonzero" | "argwhere" => {
            let v = nonzero(cx, x);
            Ok(PyValue::Tensor(TensorRef::new(v, Some(2), DType::I64)))
        }
        "masked_select" => {
            let mask = tensor(op, a.get(1, "mask"), "mask")?;
            let b = at(
                cx,
                "broadcast_tensors",
                vec![PyValue::List(vec![
                    PyValue::Tensor(x),
                    PyValue::Tensor(mask),
                ])],
            )?;
            let (xb, mb) = match b.as_list() {
                Some([PyValue::Tensor(p), PyValue::Tensor(q)]) => (*p, *q),
                _ => return arg(op, Err("broadcast failed".into())),
            };
            let pos = nonzero(cx, mb);
            let v = cx.b.op(OnnxOp::GatherND, &[xb.v, pos], Default::default());
            Ok(PyValue::Tensor(TensorRef::new(v, Some(1), x.dtype)))
        }
        _ => Err(Stop::Fatal(format!("aten::{op}: is not supported"))),
    }
}
