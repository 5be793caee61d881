//! `ops.prim.*` and the Python builtins printed code calls (`int`, `len`, `range`,
//! `annotate`, `unchecked_cast`, `uninitialized`, `getattr`, …).

use modelc_ir::{DType, OnnxOp};

use super::super::args::{scalar_code, Args};
use super::super::eval::{EvalResult, Evaluator, Stop};
use super::super::value::{PyValue, TensorRef};

pub fn call(cx: &mut Evaluator, op: &str, a: &Args) -> Option<EvalResult<PyValue>> {
    let p0 = a.pos.first();
    Some(Ok(match op {
        "RaiseException" => {
            let msg = match p0 {
                Some(PyValue::Str(s)) => s.clone(),
                _ => "exception".into(),
            };
            return Some(Err(Stop::Raise(format!(
                "{}: the model raises: {msg}",
                cx.at()
            ))));
        }
        "NumToTensor" => match p0? {
            PyValue::SymInt(s) => PyValue::Tensor(TensorRef::new(*s, Some(0), DType::I64)),
            PyValue::Int(i) => {
                PyValue::Tensor(TensorRef::new(cx.b.scalar_i64(*i), Some(0), DType::I64))
            }
            PyValue::Float(f) => PyValue::Tensor(TensorRef::new(
                cx.b.scalar(DType::F64, *f),
                Some(0),
                DType::F64,
            )),
            PyValue::Tensor(t) => PyValue::Tensor(*t),
            _ => return None,
        },
        "Int" | "Float" | "Bool" => return builtin(cx, &op.to_lowercase(), a),
        "TupleConstruct" => PyValue::Tuple(a.pos.clone()),
        "ListConstruct" => PyValue::List(a.pos.clone()),
        "TupleUnpack" | "ListUnpack" => p0?.clone(),
        "dtype" => match p0? {
            PyValue::Tensor(t) => PyValue::Int(scalar_code(t.dtype)),
            _ => return None,
        },
        "device" => PyValue::Device("cpu".into()),
        "type" => PyValue::Str("cpu".into()),
        "requires_grad" => PyValue::Bool(false),
        "is_nested" | "is_cuda" | "is_sparse" | "is_quantized" | "is_mkldnn" | "is_meta" => {
            PyValue::Bool(false)
        }
        "layout" => PyValue::Int(0),
        "unchecked_unwrap_optional" | "data" => p0?.clone(),
        "min" | "max" => match p0? {
            PyValue::List(l) | PyValue::Tuple(l) if a.pos.len() == 1 => {
                let ints: Option<Vec<i64>> = l.iter().map(PyValue::as_int).collect();
                let ints = ints?;
                let r = if op == "min" {
                    ints.iter().min()
                } else {
                    ints.iter().max()
                };
                PyValue::Int(*r?)
            }
            _ => return super::scalar::call(cx, op, a),
        },
        _ => return None,
    }))
}

pub fn builtin(cx: &mut Evaluator, name: &str, a: &Args) -> Option<EvalResult<PyValue>> {
    let p0 = a.pos.first();
    Some(Ok(match name {
        "annotate" | "unchecked_cast" => a.pos.get(1)?.clone(),
        "uninitialized" => PyValue::Uninit,
        "int" => match p0? {
            v @ (PyValue::SymInt(_) | PyValue::Tensor(_)) if super::known_int(cx, v).is_some() => {
                PyValue::Int(super::known_int(cx, v)?)
            }
            PyValue::Int(i) => PyValue::Int(*i),
            // A constant one-element tensor (a buffer): its value, known at import time.
            PyValue::Tensor(t) if const_scalar(cx, *t).is_some() => {
                PyValue::Int(const_scalar(cx, *t)?.trunc() as i64)
            }
            PyValue::Bool(b) => PyValue::Int(*b as i64),
            PyValue::Float(f) => PyValue::Int(f.trunc() as i64),
            PyValue::SymInt(s) => PyValue::SymInt(*s),
            PyValue::Tensor(t) => {
                let v = if t.dtype == DType::I64 {
                    t.v
                } else {
                    cx.b.cast(t.v, DType::I64)
                };
                let v = if t.rank == Some(0) {
                    v
                } else {
                    let shape = cx.b.ints(&[]);
                    cx.b.op(OnnxOp::Reshape, &[v, shape], Default::default())
                };
                PyValue::SymInt(v)
            }
            _ => return None,
        },
        "float" => match p0? {
            v @ (PyValue::SymInt(_) | PyValue::Tensor(_)) if super::known_f64(cx, v).is_some() => {
                PyValue::Float(super::known_f64(cx, v)?)
            }
            PyValue::Int(i) => PyValue::Float(*i as f64),
            // A run-time int as a float: a float32 scalar of the graph.
            PyValue::SymInt(s) => PyValue::Tensor(TensorRef::new(
                cx.b.cast(*s, DType::F32),
                Some(0),
                DType::F32,
            )),
            // A one-element tensor known only at run time (`float(t)`): a float32 scalar.
            PyValue::Tensor(t) => {
                let v = if t.dtype == DType::F32 {
                    t.v
                } else {
                    cx.b.cast(t.v, DType::F32)
                };
                let v = if t.rank == Some(0) {
                    v
                } else {
                    let shape = cx.b.ints(&[]);
                    cx.b.op(OnnxOp::Reshape, &[v, shape], Default::default())
                };
                PyValue::Tensor(TensorRef::new(v, Some(0), DType::F32))
            }
            PyValue::Float(f) => PyValue::Float(*f),
            PyValue::Bool(b) => PyValue::Float(*b as i64 as f64),
            PyValue::Str(s) => PyValue::Float(match s.as_str() {
                "inf" => f64::INFINITY,
                "-inf" => f64::NEG_INFINITY,
                s => s.parse().ok()?,
            }),
            _ => return None,
        },
        "bool" => match (p0?, p0?.as_bool()) {
            (_, Some(b)) => PyValue::Bool(b),
            // A size (`bool(len(t))`): known at import when the tensor's size is.
            (v @ PyValue::SymInt(_), None) if super::known_int(cx, v).is_some() => {
                PyValue::Bool(super::known_int(cx, v)? != 0)
            }
            (PyValue::SymInt(s), None) => PyValue::Tensor(TensorRef::new(
                cx.b.cast(*s, DType::Bool),
                Some(0),
                DType::Bool,
            )),
            (PyValue::Tensor(t), None) if const_scalar(cx, *t).is_some() => {
                PyValue::Bool(const_scalar(cx, *t)? != 0.0)
            }
            // A run-time truth value (`if bool(x.mean() > 0):`) stays a tensor.
            (PyValue::Tensor(t), None) => {
                let v = if t.dtype == DType::Bool {
                    t.v
                } else {
                    cx.b.cast(t.v, DType::Bool)
                };
                PyValue::Tensor(TensorRef::new(v, t.rank, DType::Bool))
            }
            _ => return None,
        },
        "str" => match p0? {
            PyValue::Str(s) => PyValue::Str(s.clone()),
            v => PyValue::Str(format!("{v:?}")),
        },
        "len" => return super::scalar::call(cx, "len", a),
        "range" => {
            let ints: Option<Vec<i64>> = a.pos.iter().map(PyValue::as_int).collect();
            let Some(ints) = ints else {
                return Some(Err(Stop::Fatal(format!(
                    "{}: `range` over a run-time bound is not supported",
                    cx.at()
                ))));
            };
            let (start, stop, step) = match ints.as_slice() {
                [n] => (0, *n, 1),
                [s, e] => (*s, *e, 1),
                [s, e, st] if *st != 0 => (*s, *e, *st),
                _ => return None,
            };
            let mut v = Vec::new();
            let mut i = start;
            while (step > 0 && i < stop) || (step < 0 && i > stop) {
                if v.len() >= super::super::eval::MAX_UNROLL {
                    return Some(Err(Stop::Fatal("range too long to unroll".into())));
                }
                v.push(PyValue::Int(i));
                i += step;
            }
            PyValue::List(v)
        }
        "enumerate" => match p0? {
            PyValue::List(l) | PyValue::Tuple(l) => PyValue::List(
                l.iter()
                    .enumerate()
                    .map(|(i, x)| PyValue::Tuple(vec![PyValue::Int(i as i64), x.clone()]))
                    .collect(),
            ),
            _ => return None,
        },
        "getattr" => match (p0?, a.pos.get(1)?) {
            (PyValue::Obj(o), PyValue::Str(n)) => {
                let o = o.clone();
                return Some(cx.getattr(&o, n));
            }
            _ => return None,
        },
        "isinstance" => PyValue::Bool(false),
        "print" => PyValue::None,
        "math.sqrt" | "math.log" | "math.exp" | "math.floor" | "math.ceil" | "math.fabs" => {
            return super::scalar::call(cx, &name[5..], a)
        }
        "math.inf" => PyValue::Float(f64::INFINITY),
        "min" | "max" => {
            if a.pos.len() == 1 {
                return call(cx, name, a);
            }
            return super::scalar::call(cx, name, a);
        }
        _ => return None,
    }))
}

/// The value of a one-element constant tensor (an initializer), if `t` is one.
fn const_scalar(cx: &Evaluator, t: TensorRef) -> Option<f64> {
    match &cx.b.g.node(t.v.node).op {
        modelc_ir::Op::Const(c) if c.element_count() == Some(1) => {
            crate::export::tensor_floats(c)?.first().copied()
        }
        _ => None,
    }
}
