//! `ops.prim.*` and the Python builtins printed code calls (`int`, `len`, `range`,
//! `annotate`, `unchecked_cast`, `uninitialized`, `getattr`, …).

use modelc_ir::{DType, OnnxOp};

use super::super::args::{scalar_code, Args};
use super::super::eval::{Cx, Ev, Stop};
use super::super::value::{T, V};

pub fn call(cx: &mut Cx, op: &str, a: &Args) -> Option<Ev<V>> {
    let p0 = a.pos.first();
    Some(Ok(match op {
        "RaiseException" => {
            let msg = match p0 {
                Some(V::Str(s)) => s.clone(),
                _ => "exception".into(),
            };
            return Some(Err(Stop::Raise(format!(
                "{}: the model raises: {msg}",
                cx.at()
            ))));
        }
        "NumToTensor" => match p0? {
            V::SymInt(s) => V::Tensor(T::new(*s, Some(0), DType::I64)),
            V::Int(i) => V::Tensor(T::new(cx.b.scalar_i64(*i), Some(0), DType::I64)),
            V::Float(f) => V::Tensor(T::new(cx.b.scalar(DType::F64, *f), Some(0), DType::F64)),
            V::Tensor(t) => V::Tensor(*t),
            _ => return None,
        },
        "Int" | "Float" | "Bool" => return builtin(cx, &op.to_lowercase(), a),
        "TupleConstruct" => V::Tuple(a.pos.clone()),
        "ListConstruct" => V::List(a.pos.clone()),
        "TupleUnpack" | "ListUnpack" => p0?.clone(),
        "dtype" => match p0? {
            V::Tensor(t) => V::Int(scalar_code(t.dtype)),
            _ => return None,
        },
        "device" => V::Device("cpu".into()),
        "type" => V::Str("cpu".into()),
        "requires_grad" => V::Bool(false),
        "is_nested" | "is_cuda" | "is_sparse" | "is_quantized" | "is_mkldnn" | "is_meta" => {
            V::Bool(false)
        }
        "layout" => V::Int(0),
        "unchecked_unwrap_optional" | "data" => p0?.clone(),
        "min" | "max" => match p0? {
            V::List(l) | V::Tuple(l) if a.pos.len() == 1 => {
                let ints: Option<Vec<i64>> = l.iter().map(V::as_int).collect();
                let ints = ints?;
                let r = if op == "min" {
                    ints.iter().min()
                } else {
                    ints.iter().max()
                };
                V::Int(*r?)
            }
            _ => return super::scalar::call(cx, op, a),
        },
        _ => return None,
    }))
}

pub fn builtin(cx: &mut Cx, name: &str, a: &Args) -> Option<Ev<V>> {
    let p0 = a.pos.first();
    Some(Ok(match name {
        "annotate" | "unchecked_cast" => a.pos.get(1)?.clone(),
        "uninitialized" => V::Uninit,
        "int" => match p0? {
            V::Int(i) => V::Int(*i),
            V::Bool(b) => V::Int(*b as i64),
            V::Float(f) => V::Int(f.trunc() as i64),
            V::SymInt(s) => V::SymInt(*s),
            V::Tensor(t) => {
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
                V::SymInt(v)
            }
            _ => return None,
        },
        "float" => match p0? {
            V::Int(i) => V::Float(*i as f64),
            V::Float(f) => V::Float(*f),
            V::Bool(b) => V::Float(*b as i64 as f64),
            V::Str(s) => V::Float(match s.as_str() {
                "inf" => f64::INFINITY,
                "-inf" => f64::NEG_INFINITY,
                s => s.parse().ok()?,
            }),
            _ => return None,
        },
        "bool" => match (p0?, p0?.as_bool()) {
            (_, Some(b)) => V::Bool(b),
            // A run-time truth value (`if bool(x.mean() > 0):`) stays a tensor.
            (V::Tensor(t), None) => {
                let v = if t.dtype == DType::Bool {
                    t.v
                } else {
                    cx.b.cast(t.v, DType::Bool)
                };
                V::Tensor(T::new(v, t.rank, DType::Bool))
            }
            _ => return None,
        },
        "str" => match p0? {
            V::Str(s) => V::Str(s.clone()),
            v => V::Str(format!("{v:?}")),
        },
        "len" => return super::scalar::call(cx, "len", a),
        "range" => {
            let ints: Option<Vec<i64>> = a.pos.iter().map(V::as_int).collect();
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
                v.push(V::Int(i));
                i += step;
            }
            V::List(v)
        }
        "enumerate" => match p0? {
            V::List(l) | V::Tuple(l) => V::List(
                l.iter()
                    .enumerate()
                    .map(|(i, x)| V::Tuple(vec![V::Int(i as i64), x.clone()]))
                    .collect(),
            ),
            _ => return None,
        },
        "getattr" => match (p0?, a.pos.get(1)?) {
            (V::Obj(o), V::Str(n)) => {
                let o = o.clone();
                return Some(cx.getattr(&o, n));
            }
            _ => return None,
        },
        "isinstance" => V::Bool(false),
        "print" => V::None,
        "math.sqrt" | "math.log" | "math.exp" | "math.floor" | "math.ceil" | "math.fabs" => {
            return super::scalar::call(cx, &name[5..], a)
        }
        "math.inf" => V::Float(f64::INFINITY),
        "min" | "max" => {
            if a.pos.len() == 1 {
                return call(cx, name, a);
            }
            return super::scalar::call(cx, name, a);
        }
        _ => return None,
    }))
}
