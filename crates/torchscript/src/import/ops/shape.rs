//! Shape and data-movement ops: size / dim, flatten, view / reshape (sizes may be run-time
//! ints), unflatten, permute, transpose / t, unsqueeze / squeeze, select / slice /
//! `__getitem__`, expand / repeat, cat / stack, chunk / split (sizes or one size, the
//! pieces counted from the dimension's size when shape inference knows it) / unbind,
//! embedding / index_select (Gather; float indices from a graph input make it int64),
//! zeros / ones / full (+ `_like`), pad (constant, reflect, replicate, circular; pad sizes
//! may be run-time ints), swapaxes / movedim, list slices.
//!
//! `size(d)` is a number when the dim is known (the shapes a traced module was traced
//! with), so the arithmetic traced code does on sizes folds. `slice` / `select` with bounds
//! known at import time record what they view, so an in-place write to the result (traced
//! `x[a:b] = v`) reaches the tensor viewed ([`super::aten`]).

use modelc_ir::{Attr, Attrs, DType, OnnxOp, ValueRef};

use super::super::args::Args;
use super::super::builder::attrs;
use super::super::eval::{EvalResult, Evaluator, Stop};
use super::super::value::{PyValue, TensorRef, View, ViewKind};
use super::{arg, axis, known_int, known_ints, need_rank, operand};

/// `x.size(d)`: a number when shape inference knows it (the shapes a traced module was
/// traced with), else the run-time size.
fn size(cx: &mut Evaluator, x: TensorRef, d: i64) -> PyValue {
    match cx.b.static_dim(x.v, d) {
        Some(n) => PyValue::Int(n as i64),
        None => PyValue::SymInt(cx.b.dim(x.v, d)),
    }
}

/// A shape argument (static ints and run-time ints) as a 1-D int64 tensor, and its length
/// (0 when a tensor of unknown length gives it).
pub fn shape_tensor(cx: &mut Evaluator, op: &str, v: &PyValue) -> EvalResult<(ValueRef, usize)> {
    if let Some(ints) = known_ints(cx, v).filter(|_| !matches!(v, PyValue::Tensor(_))) {
        return Ok((cx.b.ints(&ints), ints.len()));
    }
    if let PyValue::Tensor(t) = v {
        let n = cx.b.static_dim(t.v, 0).unwrap_or(0) as usize;
        let s = if t.dtype == DType::I64 {
            t.v
        } else {
            cx.b.cast(t.v, DType::I64)
        };
        return Ok((s, n));
    }
    let items = v
        .as_list()
        .ok_or_else(|| Stop::Fatal(format!("aten::{op}: sizes are a {}", v.kind())))?;
    let mut parts = Vec::with_capacity(items.len());
    for it in items {
        parts.push(match it {
            PyValue::Int(i) => cx.b.scalar_i64(*i),
            PyValue::SymInt(s) => *s,
            PyValue::Tensor(t) if t.dtype == DType::I64 => t.v,
            PyValue::Tensor(t) => cx.b.cast(t.v, DType::I64),
            other => {
                return Err(Stop::Fatal(format!(
                    "aten::{op}: size is a {}",
                    other.kind()
                )))
            }
        });
    }
    Ok((cx.b.concat_scalars(&parts), items.len()))
}

fn reshape(cx: &mut Evaluator, x: TensorRef, shape: ValueRef, rank: Option<usize>) -> PyValue {
    let v = cx.b.op(OnnxOp::Reshape, &[x.v, shape], Attrs::default());
    PyValue::Tensor(TensorRef::new(v, rank, x.dtype))
}

/// The sizes a view / reshape list states (`[b, n, 3, heads, -1]`): the ones known at
/// import time become the result's known dims where inference, which does not follow
/// run-time sizes, left them unknown.
fn refine_dims(cx: &mut Evaluator, v: ValueRef, sizes: &PyValue, dtype: DType) {
    let Some(items) = sizes.as_list() else {
        return;
    };
    let dims: Vec<modelc_ir::Dim> = items
        .iter()
        .map(|s| match known_int(cx, s) {
            Some(k) if k > 0 => modelc_ir::Dim::Known(k as u64),
            _ => modelc_ir::Dim::Unknown,
        })
        .collect();
    let Some(val) = cx.b.g.value_mut(v) else {
        return;
    };
    let merged = match val.ty.as_ref().map(|t| &t.ty) {
        Some(modelc_ir::ValueType::Tensor(t)) => match &t.shape {
            Some(s) if s.rank() == dims.len() => {
                s.0.iter()
                    .zip(&dims)
                    .map(|(have, stated)| match have {
                        modelc_ir::Dim::Unknown => stated.clone(),
                        d => d.clone(),
                    })
                    .collect()
            }
            Some(_) => return,
            None => dims,
        },
        _ => dims,
    };
    val.ty = Some(std::sync::Arc::new(modelc_ir::TypeInfo::from(
        modelc_ir::ValueType::Tensor(modelc_ir::TensorType {
            dtype: Some(dtype),
            shape: Some(modelc_ir::Shape(merged)),
        }),
    )));
}

fn slice_shape(cx: &mut Evaluator, x: TensorRef, start: i64, end: i64) -> ValueRef {
    let s = cx.b.op(OnnxOp::Shape, &[x.v], Attrs::default());
    let st = cx.b.ints(&[start]);
    let en = cx.b.ints(&[end]);
    cx.b.op(OnnxOp::Slice, &[s, st, en], Attrs::default())
}

fn fill(
    cx: &mut Evaluator,
    op: &str,
    a: &Args,
    shape: ValueRef,
    rank: Option<usize>,
    value: f64,
    dtype_pos: usize,
) -> EvalResult<PyValue> {
    let dt = super::create::dtype_arg(a, dtype_pos).unwrap_or(DType::F32);
    super::create::filled(cx, op, shape, rank, value, dt)
}

pub fn call(cx: &mut Evaluator, op: &str, a: &Args) -> Option<EvalResult<PyValue>> {
    const OPS: &[&str] = &[
        "size",
        "_shape_as_tensor",
        "dim",
        "flatten",
        "view",
        "reshape",
        "unflatten",
        "permute",
        "transpose",
        "t",
        "unsqueeze",
        "squeeze",
        "select",
        "slice",
        "__getitem__",
        "expand",
        "expand_as",
        "repeat",
        "cat",
        "concat",
        "stack",
        "chunk",
        "split",
        "split_with_sizes",
        "unbind",
        "embedding",
        "index_select",
        "zeros",
        "ones",
        "full",
        "zeros_like",
        "ones_like",
        "full_like",
        "constant_pad_nd",
        "pad",
        "view_as",
        "reshape_as",
        "swapaxes",
        "swapdims",
        "movedim",
        "moveaxis",
    ];
    // The `unsafe_` forms differ only in autograd's view checks (traced LSTMCell prints
    // unsafe_chunk).
    let op = match op {
        "unsafe_chunk" => "chunk",
        "unsafe_split" => "split",
        "unsafe_split_with_sizes" => "split_with_sizes",
        op => op,
    };
    if !OPS.contains(&op) {
        return None;
    }
    Some(run(cx, op, a))
}

fn run(cx: &mut Evaluator, op: &str, a: &Args) -> EvalResult<PyValue> {
    let first = a.get(0, "self").cloned().unwrap_or(PyValue::None);
    if let (PyValue::List(items) | PyValue::Tuple(items), "slice") = (&first, op) {
        return list_slice(op, a, items);
    }
    match op {
        "zeros" | "ones" | "full" => {
            let (shape, n) = shape_tensor(cx, op, &first)?;
            let (value, dpos) = if op == "full" {
                (arg(op, a.f64(1, "fill_value", None))?, 2)
            } else {
                (if op == "ones" { 1.0 } else { 0.0 }, 1)
            };
            return fill(cx, op, a, shape, Some(n), value, dpos);
        }
        "cat" | "concat" | "stack" => {
            let items = first
                .as_list()
                .ok_or_else(|| Stop::Fatal(format!("aten::{op}: tensors are a {}", first.kind())))?
                .to_vec();
            let dim = arg(op, a.int(1, "dim", Some(0)))?;
            let mut ts = Vec::new();
            for it in &items {
                ts.push(arg(op, operand(cx, it, None))?);
            }
            let t0 = *ts
                .first()
                .ok_or_else(|| Stop::Fatal(format!("aten::{op}: no tensors")))?;
            let (vals, rank) = if op == "stack" {
                let ax = cx.b.ints(&[dim]);
                let v: Vec<ValueRef> = ts
                    .iter()
                    .map(|t| cx.b.op(OnnxOp::Unsqueeze, &[t.v, ax], Attrs::default()))
                    .collect();
                (v, t0.rank.map(|r| r + 1))
            } else {
                (ts.iter().map(|t| t.v).collect(), t0.rank)
            };
            let v =
                cx.b.op(OnnxOp::Concat, &vals, attrs(vec![("axis", Attr::Int(dim))]));
            return Ok(PyValue::Tensor(TensorRef::new(v, rank, t0.dtype)));
        }
        _ => {}
    }
    let x = arg(op, operand(cx, &first, None))?;
    Ok(match op {
        "size" => match a.some(1, "dim") {
            Some(d) => {
                let d = d
                    .as_int()
                    .ok_or_else(|| Stop::Fatal("aten::size: dim is not constant".into()))?;
                size(cx, x, d)
            }
            None => {
                let r = need_rank(op, x)?;
                PyValue::List((0..r as i64).map(|i| size(cx, x, i)).collect())
            }
        },
        // What tracing records for `torch.tensor(x.shape)` (and modelc's writer for Shape).
        "_shape_as_tensor" => {
            let v = cx.b.op(OnnxOp::Shape, &[x.v], Default::default());
            PyValue::Tensor(TensorRef::new(v, Some(1), DType::I64))
        }
        "dim" => PyValue::Int(need_rank(op, x)? as i64),
        "flatten" => {
            let start = arg(op, a.int(1, "start_dim", Some(0)))?;
            let end = arg(op, a.int(2, "end_dim", Some(-1)))?;
            let r = need_rank(op, x)? as i64;
            let (s, e) = (
                if start < 0 { start + r } else { start },
                if end < 0 { end + r } else { end },
            );
            if r == 0 {
                let shape = cx.b.ints(&[1]);
                return Ok(reshape(cx, x, shape, Some(1)));
            }
            if s >= e {
                return Ok(PyValue::Tensor(x));
            }
            // flatten(1) of a tensor whose batch alone is dynamic (torch.export's symbolic
            // batch): a constant [-1, C·H·W], which every writer and runtime takes, rather
            // than a shape computed at run time.
            let tail: Option<Vec<u64>> = (s..r).map(|d| cx.b.static_dim(x.v, d)).collect();
            let batch_dynamic = cx.b.static_dim(x.v, 0).is_none();
            if let (1, true, true, Some(tail)) = (s, e + 1 == r, batch_dynamic, tail) {
                let n: u64 = tail.iter().product();
                if n > 0 && n <= i64::MAX as u64 {
                    let shape = cx.b.ints(&[-1, n as i64]);
                    return Ok(reshape(cx, x, shape, Some(2)));
                }
            }
            let mut parts = Vec::new();
            if s > 0 {
                parts.push(slice_shape(cx, x, 0, s));
            }
            parts.push(cx.b.ints(&[-1]));
            if e + 1 < r {
                parts.push(slice_shape(cx, x, e + 1, r));
            }
            let shape = if parts.len() == 1 {
                parts[0]
            } else {
                cx.b.op(OnnxOp::Concat, &parts, attrs(vec![("axis", Attr::Int(0))]))
            };
            reshape(cx, x, shape, Some((r - (e - s)) as usize))
        }
        "view" | "reshape" => {
            let sizes = a
                .get(1, "size")
                .or(a.get(1, "shape"))
                .cloned()
                .unwrap_or(PyValue::None);
            let (shape, n) = shape_tensor(cx, op, &sizes)?;
            let r = reshape(cx, x, shape, if n > 0 { Some(n) } else { None });
            if let PyValue::Tensor(t) = &r {
                refine_dims(cx, t.v, &sizes, x.dtype);
            }
            r
        }
        "view_as" | "reshape_as" => {
            let o = arg(op, a.t(1, "other"))?;
            let s = cx.b.op(OnnxOp::Shape, &[o.v], Attrs::default());
            reshape(cx, x, s, o.rank)
        }
        "unflatten" => {
            let r = need_rank(op, x)? as i64;
            let d = arg(
                op,
                axis(op, arg(op, a.int(1, "dim", None))?, Some(r as usize)),
            )?;
            let sizes = a.get(2, "sizes").cloned().unwrap_or(PyValue::None);
            let (mid, n) = shape_tensor(cx, op, &sizes)?;
            let mut parts = Vec::new();
            if d > 0 {
                parts.push(slice_shape(cx, x, 0, d));
            }
            parts.push(mid);
            if d + 1 < r {
                parts.push(slice_shape(cx, x, d + 1, r));
            }
            let shape =
                cx.b.op(OnnxOp::Concat, &parts, attrs(vec![("axis", Attr::Int(0))]));
            reshape(cx, x, shape, Some(r as usize - 1 + n))
        }
        "permute" => {
            let dims = arg(op, a.ints(1, "dims", None))?;
            let r = dims.len();
            if x.rank.is_some_and(|xr| xr != r) {
                return arg(op, Err(format!("{r} dims for a rank-{:?} input", x.rank)));
            }
            let perm: Vec<i64> = dims
                .iter()
                .map(|&d| axis(op, d, Some(r)))
                .collect::<Result<_, _>>()
                .map_err(Stop::Fatal)?;
            let mut seen = perm.clone();
            seen.sort_unstable();
            seen.dedup();
            if seen.len() != r {
                return arg(op, Err(format!("dims {dims:?} are not a permutation")));
            }
            let v = cx.b.op(
                OnnxOp::Transpose,
                &[x.v],
                attrs(vec![("perm", Attr::Ints(perm))]),
            );
            PyValue::Tensor(TensorRef::new(v, Some(r), x.dtype))
        }
        // `t` of a 0-d or 1-d tensor is the tensor.
        "t" if matches!(x.rank, Some(0 | 1)) => PyValue::Tensor(x),
        "transpose" | "t" | "swapaxes" | "swapdims" => {
            let r = need_rank(op, x)?;
            let (n0, n1) = if op == "transpose" {
                ("dim0", "dim1")
            } else {
                ("axis0", "axis1")
            };
            let (d0, d1) = if op == "t" {
                (0, if r > 1 { 1 } else { 0 })
            } else {
                (
                    arg(op, axis(op, arg(op, a.int(1, n0, None))?, Some(r)))?,
                    arg(op, axis(op, arg(op, a.int(2, n1, None))?, Some(r)))?,
                )
            };
            let mut perm: Vec<i64> = (0..r as i64).collect();
            perm.swap(d0 as usize, d1 as usize);
            let v = cx.b.op(
                OnnxOp::Transpose,
                &[x.v],
                attrs(vec![("perm", Attr::Ints(perm))]),
            );
            PyValue::Tensor(x.with(v))
        }
        "unsqueeze" => {
            let d = arg(op, a.int(1, "dim", None))?;
            let ax = cx.b.ints(&[d]);
            let v = cx.b.op(OnnxOp::Unsqueeze, &[x.v, ax], Attrs::default());
            PyValue::Tensor(TensorRef::new(v, x.rank.map(|r| r + 1), x.dtype))
        }
        "squeeze" => match a.some(1, "dim") {
            Some(d) => {
                let dims = d
                    .as_ints()
                    .ok_or_else(|| Stop::Fatal("aten::squeeze: dim is not constant".into()))?;
                // torch leaves a listed dim whose size is not 1 in place (and squeezing a 0-d
                // tensor is a no-op); ONNX's Squeeze refuses such an axis, so only the dims
                // that may be 1 are passed on. `squeeze.dims` with no dims left squeezes
                // nothing (ONNX's empty axes: all).
                let rank = cx.b.rank_of(x.v).or(x.rank);
                let dims: Vec<i64> = dims
                    .into_iter()
                    .filter(|&d| rank != Some(0) && cx.b.static_dim(x.v, d).is_none_or(|n| n == 1))
                    .collect();
                if dims.is_empty() {
                    return Ok(PyValue::Tensor(x));
                }
                let ax = cx.b.ints(&dims);
                let v = cx.b.op(OnnxOp::Squeeze, &[x.v, ax], Attrs::default());
                PyValue::Tensor(TensorRef::new(
                    v,
                    x.rank.map(|r| r.saturating_sub(dims.len())),
                    x.dtype,
                ))
            }
            None => {
                let v = cx.b.op(OnnxOp::Squeeze, &[x.v], Attrs::default());
                PyValue::Tensor(TensorRef::new(v, None, x.dtype))
            }
        },
        "select" | "__getitem__" => {
            let (d, idx) = if op == "select" {
                (
                    arg(op, a.int(1, "dim", None))?,
                    a.get(2, "index").cloned().unwrap_or(PyValue::None),
                )
            } else {
                (0, a.get(1, "idx").cloned().unwrap_or(PyValue::None))
            };
            let i = match idx {
                PyValue::Int(i) => cx.b.scalar_i64(i),
                PyValue::SymInt(s) => s,
                other => {
                    return Err(Stop::Fatal(format!(
                        "aten::{op}: index is a {}",
                        other.kind()
                    )))
                }
            };
            let v = cx.b.op(
                OnnxOp::Gather,
                &[x.v, i],
                attrs(vec![("axis", Attr::Int(d))]),
            );
            let kind = known_int(
                cx,
                a.get(if op == "select" { 2 } else { 1 }, "index")
                    .unwrap_or(&PyValue::None),
            )
            .map(|index| ViewKind::Select { index });
            view(cx, x, v, d, kind)
        }
        "slice" => {
            let d = arg(op, a.int(1, "dim", Some(0)))?;
            let start = a.some(2, "start").cloned().unwrap_or(PyValue::Int(0));
            let end = a.some(3, "end").cloned().unwrap_or(PyValue::Int(i64::MAX));
            let step = arg(op, a.int(4, "step", Some(1)))?;
            let mut one = |v: &PyValue| -> EvalResult<ValueRef> {
                Ok(match v {
                    PyValue::Int(i) => cx.b.ints(&[*i]),
                    PyValue::SymInt(s) => cx.b.concat_scalars(&[*s]),
                    other => {
                        return Err(Stop::Fatal(format!(
                            "aten::slice: bound is a {}",
                            other.kind()
                        )))
                    }
                })
            };
            let (s, e) = (one(&start)?, one(&end)?);
            let ax = cx.b.ints(&[d]);
            let st = cx.b.ints(&[step]);
            let v =
                cx.b.op(OnnxOp::Slice, &[x.v, s, e, ax, st], Attrs::default());
            let kind = match (&start, &end) {
                (PyValue::Int(s), PyValue::Int(e)) if step == 1 => {
                    Some(ViewKind::Slice { start: *s, end: *e })
                }
                _ => None,
            };
            view(cx, x, v, d, kind)
        }
        "expand" => {
            let sizes = a.get(1, "size").cloned().unwrap_or(PyValue::None);
            // torch's -1 keeps a dimension; ONNX Expand broadcasts, so 1 does the same.
            let sizes = match sizes {
                PyValue::List(l) | PyValue::Tuple(l) => PyValue::List(
                    l.into_iter()
                        .map(|s| {
                            if s.as_int() == Some(-1) {
                                PyValue::Int(1)
                            } else {
                                s
                            }
                        })
                        .collect(),
                ),
                s => s,
            };
            let (shape, n) = shape_tensor(cx, op, &sizes)?;
            let v = cx.b.op(OnnxOp::Expand, &[x.v, shape], Attrs::default());
            PyValue::Tensor(TensorRef::new(
                v,
                Some(n).filter(|&n| n > 0).or(x.rank),
                x.dtype,
            ))
        }
        "expand_as" => {
            let o = arg(op, a.t(1, "other"))?;
            let s = cx.b.op(OnnxOp::Shape, &[o.v], Attrs::default());
            let v = cx.b.op(OnnxOp::Expand, &[x.v, s], Attrs::default());
            PyValue::Tensor(TensorRef::new(v, o.rank, x.dtype))
        }
        "repeat" => {
            let reps = arg(op, a.ints(1, "repeats", None))?;
            let mut xv = x.v;
            if let Some(r) = x.rank {
                if reps.len() > r {
                    let axes: Vec<i64> = (0..(reps.len() - r) as i64).collect();
                    let ax = cx.b.ints(&axes);
                    xv = cx.b.op(OnnxOp::Unsqueeze, &[xv, ax], Attrs::default());
                }
            }
            let rp = cx.b.ints(&reps);
            let v = cx.b.op(OnnxOp::Tile, &[xv, rp], Attrs::default());
            PyValue::Tensor(TensorRef::new(v, Some(reps.len()), x.dtype))
        }
        "chunk" => {
            let n = arg(op, a.int(1, "chunks", None))?;
            let d = arg(op, a.int(2, "dim", Some(0)))?;
            match cx.b.static_dim(x.v, d) {
                // torch's chunks are ceil(size / n) long, which may make fewer than n.
                Some(size) if n > 0 => {
                    let each = (size as i64 + n - 1) / n;
                    split_sizes(cx, x, d, &sizes_of(size as i64, each.max(1)))?
                }
                _ => {
                    let outs = cx.b.node(
                        OnnxOp::Split,
                        &[Some(x.v)],
                        attrs(vec![("axis", Attr::Int(d)), ("num_outputs", Attr::Int(n))]),
                        n.clamp(1, 4096) as usize,
                    );
                    PyValue::List(
                        outs.into_iter()
                            .map(|v| PyValue::Tensor(x.with(v)))
                            .collect(),
                    )
                }
            }
        }
        "unbind" => {
            let d = arg(op, a.int(1, "dim", Some(0)))?;
            let n = cx.b.static_dim(x.v, d).ok_or_else(|| {
                Stop::Fatal(format!(
                    "aten::unbind: the size of dimension {d} is not known at import time"
                ))
            })?;
            let parts = split_sizes(cx, x, d, &vec![1; n.min(MAX_PIECES as u64 + 1) as usize])?;
            let ax = cx.b.ints(&[d]);
            let items = parts
                .as_list()
                .unwrap_or(&[])
                .iter()
                .filter_map(PyValue::as_tensor)
                .map(|t| {
                    let v = cx.b.op(OnnxOp::Squeeze, &[t.v, ax], Attrs::default());
                    PyValue::Tensor(TensorRef::new(
                        v,
                        x.rank.map(|r| r.saturating_sub(1)),
                        x.dtype,
                    ))
                })
                .collect();
            PyValue::List(items)
        }
        "split" | "split_with_sizes" => {
            let d = arg(op, a.int(2, "dim", Some(0)))?;
            let sizes = a.get(1, "split_size").cloned().unwrap_or(PyValue::None);
            match (&sizes, known_ints(cx, &sizes)) {
                // One int: pieces of that size, the last one shorter.
                (PyValue::Int(_) | PyValue::SymInt(_), Some(one)) if op == "split" => {
                    let size = cx.b.static_dim(x.v, d).ok_or_else(|| {
                        Stop::Fatal(format!(
                            "aten::split: the size of dimension {d} is not known at import time"
                        ))
                    })?;
                    split_sizes(cx, x, d, &sizes_of(size as i64, one[0].max(1)))?
                }
                (_, Some(list)) => split_sizes(cx, x, d, &list)?,
                // Sizes computed at run time: their count is the list's length.
                (PyValue::List(l) | PyValue::Tuple(l), None) => {
                    let n = l.len();
                    let (sp, _) = shape_tensor(cx, op, &sizes)?;
                    let outs = cx.b.node(
                        OnnxOp::Split,
                        &[Some(x.v), Some(sp)],
                        attrs(vec![("axis", Attr::Int(d))]),
                        n,
                    );
                    PyValue::List(
                        outs.into_iter()
                            .map(|v| PyValue::Tensor(x.with(v)))
                            .collect(),
                    )
                }
                _ => {
                    return Err(Stop::Fatal(format!(
                        "aten::{op}: split sizes are a {}",
                        sizes.kind()
                    )))
                }
            }
        }
        "movedim" | "moveaxis" => {
            let r = need_rank(op, x)?;
            let norm = |v: Vec<i64>| -> EvalResult<Vec<i64>> {
                v.into_iter()
                    .map(|d| arg(op, axis(op, d, Some(r))))
                    .collect()
            };
            let src = norm(arg(op, a.ints(1, "source", None))?)?;
            let dst = norm(arg(op, a.ints(2, "destination", None))?)?;
            if src.len() != dst.len() {
                return arg(op, Err("source and destination differ in length".into()));
            }
            // The moved dims take their places; the others keep their order.
            let mut perm = vec![-1i64; r];
            for (s, d) in src.iter().zip(&dst) {
                perm[*d as usize] = *s;
            }
            let mut rest = (0..r as i64).filter(|d| !src.contains(d));
            for p in perm.iter_mut().filter(|p| **p < 0) {
                *p = rest.next().unwrap_or(0);
            }
            let v = cx.b.op(
                OnnxOp::Transpose,
                &[x.v],
                attrs(vec![("perm", Attr::Ints(perm))]),
            );
            PyValue::Tensor(x.with(v))
        }
        "embedding" => {
            // embedding(weight, indices, padding_idx, scale_grad_by_freq, sparse)
            let idx = arg(op, a.t(1, "indices"))?;
            let idx = super::index_operand(cx, idx);
            let v = cx.b.op(
                OnnxOp::Gather,
                &[x.v, idx.v],
                attrs(vec![("axis", Attr::Int(0))]),
            );
            PyValue::Tensor(TensorRef::new(v, idx.rank.map(|r| r + 1), x.dtype))
        }
        // torch allows dim 0 / -1 of a 0-d tensor: the value.
        "index_select" if x.rank == Some(0) => PyValue::Tensor(x),
        "index_select" => {
            let d = arg(op, a.int(1, "dim", None))?;
            let idx = arg(op, a.t(2, "index"))?;
            let idx = super::index_operand(cx, idx);
            let v = cx.b.op(
                OnnxOp::Gather,
                &[x.v, idx.v],
                attrs(vec![("axis", Attr::Int(d))]),
            );
            PyValue::Tensor(x.with(v))
        }
        "zeros_like" | "ones_like" | "full_like" => {
            let s = cx.b.op(OnnxOp::Shape, &[x.v], Attrs::default());
            let value = match op {
                "zeros_like" => 0.0,
                "ones_like" => 1.0,
                _ => arg(op, a.f64(1, "fill_value", None))?,
            };
            let dpos = if op == "full_like" { 2 } else { 1 };
            let r = fill(cx, op, a, s, x.rank, value, dpos)?;
            match (r, a.some(dpos, "dtype")) {
                (PyValue::Tensor(t), None) if t.dtype != x.dtype => {
                    PyValue::Tensor(TensorRef::new(cx.b.cast(t.v, x.dtype), x.rank, x.dtype))
                }
                (r, _) => r,
            }
        }
        "constant_pad_nd" | "pad" => {
            let pad_arg = a.get(1, "pad").cloned().unwrap_or(PyValue::None);
            // Pad sizes known at import time, or computed at run time (each an int).
            let pad_items: Vec<PyValue> = match known_ints(cx, &pad_arg) {
                Some(p) => p.into_iter().map(PyValue::Int).collect(),
                None => pad_arg
                    .as_list()
                    .ok_or_else(|| {
                        Stop::Fatal(format!("aten::{op}: pad sizes are a {}", pad_arg.kind()))
                    })?
                    .to_vec(),
            };
            let mode = if op == "pad" {
                arg(op, a.str(2, "mode", "constant"))?
            } else {
                "constant".into()
            };
            // torch's reflect / replicate are ONNX's reflect / edge; circular is opset 19's
            // wrap, spelled here with Slice and Concat (the IR is at opset 18).
            let onnx_mode = match mode.as_str() {
                "constant" => "constant",
                "reflect" => "reflect",
                "replicate" => "edge",
                "circular" => {
                    let pad = known_ints(cx, &pad_arg).ok_or_else(|| {
                        Stop::Fatal(format!(
                            "aten::{op}: circular pad sizes are not known at import time"
                        ))
                    })?;
                    return circular_pad(cx, op, x, &pad);
                }
                _ => {
                    return Err(Stop::Fatal(format!(
                        "aten::pad: mode {mode} is not supported"
                    )))
                }
            };
            let value = arg(
                op,
                a.f64(if op == "pad" { 3 } else { 2 }, "value", Some(0.0)),
            )?;
            let r = need_rank(op, x)?;
            if !pad_items.len().is_multiple_of(2) || pad_items.len() / 2 > r {
                return arg(
                    op,
                    Err(format!("{} pad sizes for rank {r}", pad_items.len())),
                );
            }
            // torch lists (begin, end) pairs from the last dimension backwards.
            let mut begins = vec![PyValue::Int(0); r];
            let mut ends = vec![PyValue::Int(0); r];
            for (k, pair) in pad_items.chunks(2).enumerate() {
                let d = r - 1 - k;
                begins[d] = pair[0].clone();
                ends[d] = pair[1].clone();
            }
            // torch replicates the edge of the whole input, then crops (negative sizes);
            // ONNX's edge Pad crops first, and onnxruntime refuses to replicate an extent
            // cropped to nothing: pad the positive sizes, then Slice the negative ones.
            let known: Option<Vec<i64>> = [&begins[..], &ends[..]]
                .concat()
                .iter()
                .map(|p| match p {
                    PyValue::Int(i) => Some(*i),
                    _ => None,
                })
                .collect();
            if let Some(k) = known.filter(|k| onnx_mode == "edge" && k.iter().any(|&p| p < 0)) {
                let grow: Vec<i64> = k.iter().map(|&p| p.max(0)).collect();
                let gp = cx.b.ints(&grow);
                let m = attrs(vec![("mode", Attr::String("edge".into()))]);
                let padded = cx.b.op(OnnxOp::Pad, &[x.v, gp], m);
                let (mut starts, mut stops, mut axes) = (vec![], vec![], vec![]);
                for d in 0..r {
                    let (b, e) = (k[d], k[r + d]);
                    if b < 0 || e < 0 {
                        starts.push(b.min(0).saturating_neg());
                        stops.push(if e < 0 { e } else { i64::MAX });
                        axes.push(d as i64);
                    }
                }
                let (st, sp, ax) = (cx.b.ints(&starts), cx.b.ints(&stops), cx.b.ints(&axes));
                let v =
                    cx.b.op(OnnxOp::Slice, &[padded, st, sp, ax], Attrs::default());
                return Ok(PyValue::Tensor(x.with(v)));
            }
            let (p, _) = shape_tensor(cx, op, &PyValue::List([begins, ends].concat()))?;
            let v = if onnx_mode == "constant" {
                let c = cx.b.scalar(x.dtype, value);
                cx.b.op(OnnxOp::Pad, &[x.v, p, c], Attrs::default())
            } else {
                let m = attrs(vec![("mode", Attr::String(onnx_mode.into()))]);
                cx.b.op(OnnxOp::Pad, &[x.v, p], m)
            };
            PyValue::Tensor(x.with(v))
        }
        _ => return Err(Stop::Fatal(format!("aten::{op} is not supported"))),
    })
}

/// `l[start:end:step]` of a Python list (`x.shape[-2:]` in scripted code), bounds as
/// Python takes them.
fn list_slice(op: &str, a: &Args, items: &[PyValue]) -> EvalResult<PyValue> {
    let n = items.len() as i64;
    let bound = |i: usize, name: &str, default: i64| -> EvalResult<i64> {
        let v = arg(op, a.int(i, name, Some(default)))?;
        Ok(if v < 0 { (v + n).max(0) } else { v.min(n) })
    };
    let step = arg(op, a.int(3, "step", Some(1)))?;
    if step <= 0 {
        return arg(op, Err(format!("list slice step {step}")));
    }
    let (s, e) = (bound(1, "start", 0)?, bound(2, "end", n)?);
    let out: Vec<PyValue> = (s..e.max(s))
        .step_by(step as usize)
        .map(|i| items[i as usize].clone())
        .collect();
    Ok(PyValue::List(out))
}

/// The result `v` of a slice / select of `x`, recorded as a view of `x` when its bounds
/// are known (a folded constant gets a node of its own first, so that it is not shared).
fn view(
    cx: &mut Evaluator,
    x: TensorRef,
    v: ValueRef,
    dim: i64,
    kind: Option<ViewKind>,
) -> PyValue {
    let hint = match kind {
        Some(ViewKind::Select { .. }) => x.rank.map(|r| r.saturating_sub(1)),
        _ => x.rank,
    };
    let rank = cx.b.rank_of(v).or(hint);
    let mut t = TensorRef::new(v, rank, x.dtype);
    if let Some(kind) = kind {
        if matches!(cx.b.g.node(v.node).op, modelc_ir::Op::Const(_)) {
            t.v = cx.b.build().op(OnnxOp::Identity, &[v]).value();
            if let Some(val) = cx.b.g.value(v).cloned() {
                if let Some(out) = cx.b.g.value_mut(t.v) {
                    out.ty = val.ty;
                }
            }
        }
        cx.views.insert(t.v, View { base: x, dim, kind });
    }
    PyValue::Tensor(t)
}

/// Sizes `each, each, …, rest` that add up to `total`.
fn sizes_of(total: i64, each: i64) -> Vec<i64> {
    let n = (total / each).clamp(0, MAX_PIECES as i64 + 1);
    let mut v = vec![each; n as usize];
    if total % each != 0 {
        v.push(total % each);
    }
    v
}

/// Most pieces a split / unbind / chunk is made into.
const MAX_PIECES: usize = 4096;

/// Split into pieces of the given sizes along `d`.
fn split_sizes(cx: &mut Evaluator, x: TensorRef, d: i64, sizes: &[i64]) -> EvalResult<PyValue> {
    if sizes.is_empty() {
        return Ok(PyValue::List(Vec::new()));
    }
    if sizes.len() > MAX_PIECES {
        return Err(Stop::Fatal(format!(
            "aten::split: {} pieces (more than {MAX_PIECES})",
            sizes.len()
        )));
    }
    let sp = cx.b.ints(sizes);
    let outs = cx.b.node(
        OnnxOp::Split,
        &[Some(x.v), Some(sp)],
        attrs(vec![("axis", Attr::Int(d))]),
        sizes.len(),
    );
    Ok(PyValue::List(
        outs.into_iter()
            .map(|v| PyValue::Tensor(x.with(v)))
            .collect(),
    ))
}

/// torch's circular padding: along each padded dimension (pairs listed from the last one
/// backwards), the last `begin` elements are put in front and the first `end` behind, one
/// dimension after another (so corners wrap both ways, as in torch).
fn circular_pad(cx: &mut Evaluator, op: &str, x: TensorRef, pad: &[i64]) -> EvalResult<PyValue> {
    let r = need_rank(op, x)?;
    if !pad.len().is_multiple_of(2) || pad.len() / 2 > r {
        return arg(op, Err(format!("{} pad values for rank {r}", pad.len())));
    }
    if pad.iter().any(|&p| p < 0) {
        return Err(Stop::Fatal(format!(
            "aten::{op}: circular padding by negative amounts is not supported"
        )));
    }
    let mut v = x.v;
    for (k, pair) in pad.chunks(2).enumerate() {
        let (begin, end) = (pair[0], pair[1]);
        if begin == 0 && end == 0 {
            continue;
        }
        let axis = cx.b.ints(&[(r - 1 - k) as i64]);
        let mut parts = Vec::new();
        if begin > 0 {
            let (s, e) = (cx.b.ints(&[-begin]), cx.b.ints(&[i64::MAX]));
            parts.push(cx.b.op(OnnxOp::Slice, &[v, s, e, axis], Attrs::default()));
        }
        parts.push(v);
        if end > 0 {
            let (s, e) = (cx.b.ints(&[0]), cx.b.ints(&[end]));
            parts.push(cx.b.op(OnnxOp::Slice, &[v, s, e, axis], Attrs::default()));
        }
        v = cx.b.op(
            OnnxOp::Concat,
            &parts,
            attrs(vec![("axis", Attr::Int((r - 1 - k) as i64))]),
        );
    }
    Ok(PyValue::Tensor(x.with(v)))
}
