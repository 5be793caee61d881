//! aten / prim ops and Python builtins → IR, one file per op family.
//!
//! Every family has `call(cx, op, args) -> Option<EvalResult<PyValue>>`: `None` when it does not know the
//! op. In-place variants (`relu_`, `add_`) are the same as their functional forms: the
//! evaluation is in SSA form and the printed code uses each op's result. Ops no family knows
//! are reported (with their line) and replaced by a placeholder so import goes on and
//! lists every problem at once. The IR produced uses ONNX ops valid at opset 18.

pub mod activation;
pub mod attention;
pub mod conv;
pub mod edge_forms;
pub mod elementwise;
pub mod layout;
pub mod linear;
pub mod loss;
pub mod math;
pub mod norm;
pub mod pool;
pub mod prim;
pub mod reduce;
pub mod resize;
pub mod rnn;
pub mod roll;
pub mod scalar;
pub mod scatter;
pub mod select;
pub mod shape;
pub mod stats;

use modelc_ir::{Attr, DType, OnnxOp, ValueRef};

use super::args::Args;
use super::builder::attrs;
use super::eval::{EvalResult, Evaluator, Stop};
use super::value::{PyValue, TensorRef};

type Family = fn(&mut Evaluator, &str, &Args) -> Option<EvalResult<PyValue>>;

const FAMILIES: &[Family] = &[
    edge_forms::call,
    scalar::call,
    elementwise::table,
    elementwise::call,
    activation::call,
    conv::call,
    norm::call,
    pool::call,
    linear::call,
    shape::call,
    reduce::call,
    resize::call,
    select::call,
    attention::call,
    rnn::call,
    math::call,
    layout::call,
    loss::call,
    scatter::call,
    stats::call,
    roll::call,
];

/// An aten op (`torch.X` / `ops.aten.X`).
pub fn aten(cx: &mut Evaluator, op: &str, args: Args) -> EvalResult<PyValue> {
    let base = op
        .strip_suffix('_')
        .filter(|b| !b.ends_with('_'))
        .unwrap_or(op);
    for f in FAMILIES {
        if let Some(r) = f(cx, base, &args) {
            return r.or_else(|e| match e {
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

/// Normalizes a possibly negative axis against `rank`.
pub fn axis(op: &str, a: i64, rank: Option<usize>) -> Result<i64, String> {
    if a >= 0 {
        return Ok(a);
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
