//! aten / prim ops and Python builtins → IR, one file per op family.
//!
//! Every family has `call(cx, op, args) -> Option<EvalResult<PyValue>>`: `None` when it does not know the
//! op. In-place variants (`relu_`, `add_`) are the same as their functional forms: the
//! evaluation is in SSA form and the printed code uses each op's result. Ops no family knows
//! are reported (with their line) and replaced by a placeholder so import goes on and
//! lists every problem at once. The IR produced uses ONNX ops valid at opset 18.

pub mod activation;
pub mod as_strided;
pub mod attention;
pub mod conv;
pub mod core;
pub mod create;
pub mod cumulative;
pub mod diagonal;
pub mod edge_forms;
pub mod elementwise;
pub mod index;
pub mod index_put;
pub mod layout;
pub mod linear;
pub mod loss;
pub mod math;
pub mod median;
pub mod norm;
pub mod pool;
pub mod prim;
pub mod reduce;
pub mod resize;
pub mod rnn;
pub mod rnn_cell;
pub mod roll;
pub mod scalar;
pub mod scatter;
pub mod select;
pub mod shape;
pub mod slice_scatter;
pub mod stats;
pub mod unfold;

use modelc_ir::{Attr, DType, OnnxOp, ValueRef};

use super::args::Args;
use super::builder::attrs;
use super::eval::{EvalResult, Evaluator, Stop};
use super::value::{PyValue, TensorRef};

type Family = fn(&mut Evaluator, &str, &Args) -> Option<EvalResult<PyValue>>;

/// The families, tried in this order; each op form is taken by one of them
/// (`tests::one_family_per_form`).
const FAMILIES: &[(&str, Family)] = &[
    ("edge_forms", edge_forms::call),
    ("scalar", scalar::call),
    // The table's one-to-one forms first, elementwise.rs's others (alpha ≠ 1, …) after.
    ("elementwise", elementwise::table),
    ("elementwise", elementwise::call),
    ("activation", activation::call),
    ("conv", conv::call),
    ("norm", norm::call),
    ("pool", pool::call),
    ("linear", linear::call),
    ("shape", shape::call),
    ("create", create::call),
    ("index", index::call),
    ("index_put", index_put::call),
    ("reduce", reduce::call),
    ("resize", resize::call),
    ("select", select::call),
    ("scatter", scatter::call),
    ("attention", attention::call),
    ("rnn", rnn::call),
    ("rnn_cell", rnn_cell::call),
    ("math", math::call),
    ("layout", layout::call),
    ("loss", loss::call),
    ("stats", stats::call),
    ("roll", roll::call),
    ("core", core::call),
    ("slice_scatter", slice_scatter::call),
    ("diagonal", diagonal::call),
    ("cumulative", cumulative::call),
    ("median", median::call),
    ("unfold", unfold::call),
    ("as_strided", as_strided::call),
];

/// An aten op (`torch.X` / `ops.aten.X`).
pub fn aten(cx: &mut Evaluator, op: &str, mut args: Args) -> EvalResult<PyValue> {
    let base = op
        .strip_suffix('_')
        .filter(|b| !b.ends_with('_'))
        .unwrap_or(op);
    for v in args
        .pos
        .iter_mut()
        .chain(args.kw.iter_mut().map(|(_, v)| v))
    {
        with_ranks(cx, v);
    }
    for (_, f) in FAMILIES {
        if let Some(r) = f(cx, base, &args) {
            let in_place = base != op;
            return r
                .map(|mut v| {
                    with_ranks(cx, &mut v);
                    if let (true, Some(PyValue::Tensor(t)), PyValue::Tensor(new)) =
                        (in_place, args.pos.first(), &v)
                    {
                        write_back(cx, *t, *new);
                    }
                    v
                })
                .or_else(|e| match e {
                    Stop::Fatal(m) if !m.contains(':') || m.starts_with("aten::") => {
                        untranslatable(cx, op, &args, &m)
                    }
                    e => Err(e),
                });
        }
    }
    // No family took it: say why when it reads a value the import could not give.
    if args
        .pos
        .iter()
        .chain(args.kw.iter().map(|(_, v)| v))
        .any(|v| matches!(v, PyValue::Uninit))
    {
        return untranslatable(
            cx,
            op,
            &args,
            "is not supported on a value modelc does not compute (an `uninitialized` one, or \
             the indices of adaptive max pooling with uneven windows)",
        );
    }
    untranslatable(cx, op, &args, "is not supported")
}

/// An in-place op made `new` of `old`: names bound to `old` read `new` from now on, and
/// when `old` is a view, the tensor it views gets `new` in that place (and so on up).
fn write_back(cx: &mut Evaluator, old: TensorRef, new: TensorRef) {
    if old.v == new.v {
        return;
    }
    cx.replaced.insert(old.v, new);
    let Some(view) = cx.views.get(&old.v).copied() else {
        return;
    };
    let base = match cx.current(&PyValue::Tensor(view.base)) {
        PyValue::Tensor(b) => b,
        _ => view.base,
    };
    let d = view.dim;
    let ax = cx.b.ints(&[d]);
    let part = |cx: &mut Evaluator, s: i64, e: i64| {
        let (s, e) = (cx.b.ints(&[s]), cx.b.ints(&[e]));
        cx.b.op(OnnxOp::Slice, &[base.v, s, e, ax], Default::default())
    };
    let mut v = new.v;
    if new.dtype != base.dtype {
        v = cx.b.cast(v, base.dtype);
    }
    let (start, end) = match view.kind {
        super::value::ViewKind::Slice { start, end } => (start, end),
        super::value::ViewKind::Select { index } => {
            v = cx.b.op(OnnxOp::Unsqueeze, &[v, ax], Default::default());
            (index, if index == -1 { i64::MAX } else { index + 1 })
        }
    };
    // The new value may broadcast (a filled scalar): give it the region's shape unless it
    // is known to have it.
    let region = part(cx, start, end);
    let same =
        cx.b.g.known_dims(region).is_some() && cx.b.g.known_dims(region) == cx.b.g.known_dims(v);
    if !same {
        let shape = cx.b.op(OnnxOp::Shape, &[region], Default::default());
        v = cx.b.op(OnnxOp::Expand, &[v, shape], Default::default());
    }
    // The parts before and after the region, left out when known to be empty (a slice
    // from the start / to the end).
    let size = cx.b.static_dim(base.v, d).map(|n| n as i64);
    let norm = |i: i64| match size {
        Some(n) if i < 0 => (i + n).max(0),
        Some(n) => i.min(n),
        None => i,
    };
    let mut parts = Vec::new();
    if norm(start) != 0 {
        parts.push(part(cx, 0, start));
    }
    parts.push(v);
    if end != i64::MAX && size.is_none_or(|n| norm(end) < n) {
        parts.push(part(cx, end, i64::MAX));
    }
    let joined = if parts.len() == 1 {
        parts[0]
    } else {
        cx.b.op(OnnxOp::Concat, &parts, attrs(vec![("axis", Attr::Int(d))]))
    };
    write_back(cx, base, base.with(joined));
}

/// Fills in the ranks of tensors (also inside lists) that the op which made them did not
/// state, from shape inference over the graph built so far.
fn with_ranks(cx: &Evaluator, v: &mut PyValue) {
    match v {
        PyValue::Tensor(t) if t.rank.is_none() => t.rank = cx.b.rank_of(t.v),
        PyValue::List(items) | PyValue::Tuple(items) => {
            for it in items {
                with_ranks(cx, it);
            }
        }
        _ => {}
    }
}

/// Records `aten::op` as untranslatable and returns a placeholder tensor.
pub fn untranslatable(cx: &mut Evaluator, op: &str, args: &Args, why: &str) -> EvalResult<PyValue> {
    let why = why.strip_prefix(&format!("aten::{op}: ")).unwrap_or(why);
    cx.report(format!("aten::{op}: {why}"));
    let ins: Vec<ValueRef> = args
        .pos
        .iter()
        .chain(args.kw.iter().map(|(_, v)| v))
        .filter_map(|v| v.as_tensor().map(|t| t.v))
        .collect();
    let out = cx.b.custom(op, &ins, 1)[0];
    Ok(PyValue::Tensor(TensorRef::new(out, None, DType::F32)))
}

pub fn prim(cx: &mut Evaluator, op: &str, args: Args) -> EvalResult<PyValue> {
    match prim::call(cx, op, &args) {
        Some(r) => r,
        None => {
            cx.report(format!("prim::{op} is not supported"));
            Ok(PyValue::None)
        }
    }
}

pub fn builtin(cx: &mut Evaluator, name: &str, args: Args) -> EvalResult<PyValue> {
    match prim::builtin(cx, name, &args) {
        Some(r) => r,
        None => Err(Stop::Fatal(format!(
            "{}: unknown function `{name}`",
            cx.at()
        ))),
    }
}

/// `aten::op(pos…)` through the importer's own translation (how compositions are written).
pub fn at(cx: &mut Evaluator, op: &str, pos: Vec<PyValue>) -> EvalResult<PyValue> {
    cx.aten(op, Args { pos, kw: vec![] })
}

/// A list of Python ints (a `dims` / `shape` argument).
pub fn int_list(v: &[i64]) -> PyValue {
    PyValue::List(v.iter().map(|&i| PyValue::Int(i)).collect())
}

/// `v` as a tensor, or an error naming `op`.
pub fn expect_tensor(op: &str, v: &PyValue) -> EvalResult<TensorRef> {
    v.as_tensor()
        .ok_or_else(|| Stop::Fatal(format!("aten::{op}: expected a tensor, got {}", v.kind())))
}

/// `t`'s rank, or an error naming `op` when it is unknown.
pub fn need_rank(op: &str, t: TensorRef) -> EvalResult<usize> {
    t.rank
        .ok_or_else(|| Stop::Fatal(format!("aten::{op}: the input's rank is unknown")))
}

/// An op error as a [`Stop`] (reported as untranslatable by [`aten`]).
pub fn bad<X>(op: &str, msg: impl std::fmt::Display) -> Option<EvalResult<X>> {
    Some(Err(Stop::Fatal(format!("aten::{op}: {msg}"))))
}

/// Turns an argument error into a [`Stop`].
pub fn arg<X>(op: &str, r: Result<X, String>) -> EvalResult<X> {
    r.map_err(|m| Stop::Fatal(format!("aten::{op}: {m}")))
}

/// A tensor operand: tensors as they are, Python numbers and run-time ints as scalar
/// constants/values of `like`'s element type.
pub fn operand(
    cx: &mut Evaluator,
    v: &PyValue,
    like: Option<TensorRef>,
) -> Result<TensorRef, String> {
    let dt = like.map(|t| t.dtype);
    match v {
        PyValue::Tensor(t) => Ok(*t),
        PyValue::Bool(b) => Ok(TensorRef::new(
            cx.b.scalar(dt.unwrap_or(DType::Bool), *b as i64 as f64),
            Some(0),
            dt.unwrap_or(DType::Bool),
        )),
        PyValue::Int(i) => {
            let d = dt.unwrap_or(DType::I64);
            Ok(TensorRef::new(cx.b.scalar(d, *i as f64), Some(0), d))
        }
        PyValue::Float(f) => {
            let d = match dt {
                Some(d) if d.is_float() => d,
                _ => DType::F32,
            };
            Ok(TensorRef::new(cx.b.scalar(d, *f), Some(0), d))
        }
        PyValue::SymInt(s) => {
            let d = dt.unwrap_or(DType::I64);
            let v = if d == DType::I64 {
                *s
            } else {
                cx.b.cast(*s, d)
            };
            Ok(TensorRef::new(v, Some(0), d))
        }
        other => Err(format!("expected a tensor or number, got {}", other.kind())),
    }
}

/// The values of a constant node's tensor as ints (integer or integral float contents).
fn const_values(cx: &Evaluator, v: ValueRef) -> Option<Vec<f64>> {
    match &cx.b.g.node(v.node).op {
        modelc_ir::Op::Const(c) => modelc_ir::infer::tensor_floats(c),
        _ => None,
    }
}

/// A number known at import time: a Python number, or a run-time int / one-element tensor
/// the graph computes as a constant.
pub fn known_f64(cx: &Evaluator, v: &PyValue) -> Option<f64> {
    match v {
        PyValue::SymInt(s) => match const_values(cx, *s)?.as_slice() {
            [x] => Some(*x),
            _ => None,
        },
        PyValue::Tensor(t) => match const_values(cx, t.v)?.as_slice() {
            [x] => Some(*x),
            _ => None,
        },
        v => v.as_f64(),
    }
}

/// An int known at import time (see [`known_f64`]).
pub fn known_int(cx: &Evaluator, v: &PyValue) -> Option<i64> {
    match v {
        PyValue::Int(i) => Some(*i),
        PyValue::Bool(b) => Some(*b as i64),
        PyValue::Float(_) => None,
        v => known_f64(cx, v)
            .filter(|x| x.fract() == 0.0)
            .map(|x| x as i64),
    }
}

/// A list of ints known at import time (an int alone is a one-element list).
pub fn known_ints(cx: &Evaluator, v: &PyValue) -> Option<Vec<i64>> {
    match v {
        PyValue::List(l) | PyValue::Tuple(l) => l.iter().map(|x| known_int(cx, x)).collect(),
        v => Some(vec![known_int(cx, v)?]),
    }
}

/// An index operand (embedding indices, index_select / gather indices, tensor indexing):
/// int tensors as they are; a float graph input is recorded as one that is int64 (the
/// import runs again with it so typed) and cast meanwhile.
pub fn index_operand(cx: &mut Evaluator, t: TensorRef) -> TensorRef {
    if !t.dtype.is_float() && t.dtype != DType::Bool {
        return t;
    }
    if t.dtype.is_float() {
        let node = cx.b.g.node(t.v.node);
        if matches!(node.op, modelc_ir::Op::Input { .. }) {
            if let Some(v) = node.outputs.first() {
                let name = v.name.clone();
                if !cx.index_inputs.contains(&name) {
                    cx.index_inputs.push(name);
                }
            }
        }
    }
    let v = cx.b.cast(t.v, DType::I64);
    TensorRef::new(v, t.rank, DType::I64)
}

/// Normalizes a possibly negative axis against `rank`.
pub fn axis(op: &str, a: i64, rank: Option<usize>) -> Result<i64, String> {
    if a >= 0 {
        return match rank {
            Some(r) if a >= r as i64 => {
                Err(format!("aten::{op}: axis {a} out of range for rank {r}"))
            }
            _ => Ok(a),
        };
    }
    let r = rank.ok_or_else(|| {
        format!("aten::{op}: negative axis needs the input's rank, which is unknown")
    })? as i64;
    if a + r < 0 {
        return Err(format!("aten::{op}: axis {a} out of range for rank {r}"));
    }
    Ok(a + r)
}

pub fn int_attr(name: &str, v: i64) -> (&str, Attr) {
    (name, Attr::Int(v))
}

/// A one-input op with attributes, same rank and type out.
pub fn unary(cx: &mut Evaluator, op: OnnxOp, x: TensorRef, a: Vec<(&str, Attr)>) -> PyValue {
    let v = cx.b.op(op, &[x.v], attrs(a));
    PyValue::Tensor(x.with(v))
}

/// The static shape of a constant value (weights), if it is one.
pub fn const_dims(cx: &Evaluator, t: TensorRef) -> Option<Vec<u64>> {
    match &cx.b.g.node(t.v.node).op {
        modelc_ir::Op::Const(c) => Some(c.dims.clone()),
        _ => None,
    }
}

#[cfg(test)]
mod tests;
