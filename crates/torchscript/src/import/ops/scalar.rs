//! Python-level arithmetic, comparisons and list helpers torch prints as `torch.*` calls
//! (`torch.add(i, 2)`, `torch.eq(torch.dim(x), 4)`, `torch.len(l)`, `torch.format(…)`, …).
//! Values known at import time are computed here; run-time ints (sizes) become int64
//! scalar ops. Tensor operands fall through to the tensor families.

use modelc_ir::{Attrs, OnnxOp};

use super::super::args::Args;
use super::super::eval::{EvalResult, Evaluator, Stop};
use super::super::value::PyValue;

fn is_num(v: &PyValue) -> bool {
    matches!(v, PyValue::Int(_) | PyValue::Float(_) | PyValue::Bool(_))
}

/// Python's `//` on ints (rounds toward negative infinity).
fn floor_div(x: i64, y: i64) -> i64 {
    let q = x.wrapping_div(y);
    if x % y != 0 && ((x < 0) != (y < 0)) {
        q - 1
    } else {
        q
    }
}

fn num2(op: &str, a: &PyValue, b: &PyValue) -> Option<PyValue> {
    if let (PyValue::Int(x), PyValue::Int(y)) = (a, b) {
        let (x, y) = (*x, *y);
        return Some(match op {
            "add" => PyValue::Int(x.wrapping_add(y)),
            "sub" => PyValue::Int(x.wrapping_sub(y)),
            "mul" => PyValue::Int(x.wrapping_mul(y)),
            "div" if y != 0 => PyValue::Float(x as f64 / y as f64),
            "floordiv" if y != 0 => PyValue::Int(floor_div(x, y)),
            "remainder" if y != 0 => PyValue::Int(x - y * floor_div(x, y)),
            "pow" if y >= 0 => PyValue::Int(x.wrapping_pow(y.min(63) as u32)),
            "eq" => PyValue::Bool(x == y),
            "ne" => PyValue::Bool(x != y),
            "lt" => PyValue::Bool(x < y),
            "le" => PyValue::Bool(x <= y),
            "gt" => PyValue::Bool(x > y),
            "ge" => PyValue::Bool(x >= y),
            "min" => PyValue::Int(x.min(y)),
            "max" => PyValue::Int(x.max(y)),
            "__and__" => PyValue::Int(x & y),
            "__or__" => PyValue::Int(x | y),
            _ => return None,
        });
    }
    let (x, y) = (a.as_f64()?, b.as_f64()?);
    Some(match op {
        "add" => PyValue::Float(x + y),
        "sub" => PyValue::Float(x - y),
        "mul" => PyValue::Float(x * y),
        "div" => PyValue::Float(x / y),
        "floordiv" => PyValue::Float((x / y).floor()),
        "remainder" => PyValue::Float(x - y * (x / y).floor()),
        "pow" => PyValue::Float(x.powf(y)),
        "eq" => PyValue::Bool(x == y),
        "ne" => PyValue::Bool(x != y),
        "lt" => PyValue::Bool(x < y),
        "le" => PyValue::Bool(x <= y),
        "gt" => PyValue::Bool(x > y),
        "ge" => PyValue::Bool(x >= y),
        "min" => PyValue::Float(x.min(y)),
        "max" => PyValue::Float(x.max(y)),
        _ => return None,
    })
}

/// Structural equality of import-time values (for `==` on strings, None, lists).
fn same(a: &PyValue, b: &PyValue) -> Option<bool> {
    Some(match (a, b) {
        (PyValue::None, PyValue::None) => true,
        (PyValue::None, _) | (_, PyValue::None) => false,
        (PyValue::Str(x), PyValue::Str(y)) => x == y,
        (PyValue::Device(x), PyValue::Device(y)) => x == y,
        (PyValue::Str(x), PyValue::Device(y)) | (PyValue::Device(y), PyValue::Str(x)) => x == y,
        (PyValue::List(x) | PyValue::Tuple(x), PyValue::List(y) | PyValue::Tuple(y)) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y)
                    .map(|(p, q)| same(p, q))
                    .collect::<Option<Vec<bool>>>()?
                    .into_iter()
                    .all(|b| b)
        }
        (x, y) if is_num(x) && is_num(y) => num2("eq", x, y)?.as_bool()?,
        _ => return None,
    })
}

fn sym(cx: &mut Evaluator, v: &PyValue) -> Option<modelc_ir::ValueRef> {
    match v {
        PyValue::SymInt(s) => Some(*s),
        PyValue::Int(i) => Some(cx.b.scalar_i64(*i)),
        _ => None,
    }
}

pub fn call(cx: &mut Evaluator, op: &str, a: &Args) -> Option<EvalResult<PyValue>> {
    let p0 = a.pos.first();
    let p1 = a.pos.get(1);
    match op {
        "__is__" | "__isnot__" => {
            let (x, y) = (p0?, p1?);
            let r = match (x, y) {
                (PyValue::None, PyValue::None) => true,
                (PyValue::None, _) | (_, PyValue::None) => false,
                (PyValue::Uninit, _) | (_, PyValue::Uninit) => false,
                // Identity of tensors: the same graph value.
                (PyValue::Tensor(a), PyValue::Tensor(b)) => a.v == b.v,
                (PyValue::Obj(a), PyValue::Obj(b)) => std::rc::Rc::ptr_eq(a, b),
                _ => return None,
            };
            Some(Ok(PyValue::Bool(if op == "__is__" { r } else { !r })))
        }
        "__not__" => p0?.as_bool().map(|b| Ok(PyValue::Bool(!b))),
        "len" => match p0? {
            PyValue::List(v) | PyValue::Tuple(v) => Some(Ok(PyValue::Int(v.len() as i64))),
            PyValue::Str(s) => Some(Ok(PyValue::Int(s.chars().count() as i64))),
            PyValue::Tensor(t) => {
                let d = cx.b.dim(t.v, 0);
                Some(Ok(PyValue::SymInt(d)))
            }
            _ => None,
        },
        "format" => {
            let s = match p0? {
                PyValue::Str(s) => s.clone(),
                _ => return None,
            };
            Some(Ok(PyValue::Str(s)))
        }
        "append" => match p0? {
            // Lists are values here: the evaluator rebinds the appended-to name to the
            // returned list (see the in-place rule in eval.rs).
            PyValue::List(l) => {
                let mut l = l.clone();
                l.push(p1?.clone());
                Some(Ok(PyValue::List(l)))
            }
            _ => None,
        },
        // `l[i] = v` on a list (Swin copies its shift sizes and zeroes one): the list with
        // the item replaced; the name is rebound like `append`'s.
        "_set_item" => match (p0?, p1?.as_int(), a.pos.get(2)) {
            (PyValue::List(l), Some(i), Some(v)) => {
                let n = l.len() as i64;
                let k = if i < 0 { i + n } else { i };
                if !(0..n).contains(&k) {
                    return Some(Err(super::super::eval::Stop::Raise(format!(
                        "{}: list index {i} out of range",
                        cx.at()
                    ))));
                }
                let mut l = l.clone();
                l[k as usize] = v.clone();
                Some(Ok(PyValue::List(l)))
            }
            _ => None,
        },
        // `copy(l)` and `sum(l)` of a list of Python numbers.
        "copy" => match p0? {
            PyValue::List(l) => Some(Ok(PyValue::List(l.clone()))),
            _ => None,
        },
        "sum" if matches!(p0?, PyValue::List(_)) && a.pos.len() == 1 => {
            let l = p0?.as_list()?;
            if let Some(ints) = l
                .iter()
                .map(|v| match v {
                    PyValue::Int(i) => Some(*i),
                    _ => None,
                })
                .collect::<Option<Vec<i64>>>()
            {
                return Some(Ok(PyValue::Int(ints.iter().sum())));
            }
            let fs: Option<Vec<f64>> = l.iter().map(PyValue::as_f64).collect();
            Some(Ok(PyValue::Float(fs?.iter().sum())))
        }
        "list" => match p0? {
            PyValue::List(l) | PyValue::Tuple(l) => Some(Ok(PyValue::List(l.clone()))),
            _ => None,
        },
        "warn" => Some(Ok(PyValue::None)),
        "any" | "all" => match p0? {
            PyValue::List(l) | PyValue::Tuple(l) => {
                let bools: Option<Vec<bool>> = l.iter().map(PyValue::as_bool).collect();
                let b = bools?;
                Some(Ok(PyValue::Bool(if op == "any" {
                    b.iter().any(|&x| x)
                } else {
                    b.iter().all(|&x| x)
                })))
            }
            _ => None,
        },
        "device" => match p0? {
            PyValue::Str(s) => Some(Ok(PyValue::Device(s.clone()))),
            PyValue::Device(d) => Some(Ok(PyValue::Device(d.clone()))),
            _ => None,
        },
        // Import is for inference. "Grad enabled" picks the composite (non-fused) paths of
        // modules like MultiheadAttention, which compute the same thing op by op.
        "is_grad_enabled" => Some(Ok(PyValue::Bool(true))),
        "is_autocast_enabled" | "is_autocast_cpu_enabled" => Some(Ok(PyValue::Bool(false))),
        "backends.mha.get_fastpath_enabled" => Some(Ok(PyValue::Bool(false))),
        "is_scripting" => Some(Ok(PyValue::Bool(true))),
        "_is_tracing" | "jit.is_tracing" | "_C._get_tracing_state" => {
            Some(Ok(PyValue::Bool(false)))
        }
        "__contains__" => {
            let (l, x) = (p0?, p1?);
            match l {
                PyValue::List(v) | PyValue::Tuple(v) => {
                    let mut any = false;
                    for item in v {
                        match same(item, x) {
                            Some(true) => any = true,
                            Some(false) => {}
                            None => return None,
                        }
                    }
                    Some(Ok(PyValue::Bool(any)))
                }
                PyValue::Str(s) => match x {
                    PyValue::Str(sub) => Some(Ok(PyValue::Bool(s.contains(sub.as_str())))),
                    _ => None,
                },
                _ => None,
            }
        }
        "eq" | "ne" if p0.zip(p1).and_then(|(x, y)| same(x, y)).is_some() => {
            let r = same(p0?, p1?)?;
            Some(Ok(PyValue::Bool(if op == "eq" { r } else { !r })))
        }
        "eq" | "ne"
            if matches!(
                (p0, p1),
                (
                    Some(PyValue::List(_) | PyValue::Tuple(_)),
                    Some(PyValue::List(_) | PyValue::Tuple(_))
                )
            ) =>
        {
            // Lists holding run-time sizes: equal when every element is.
            let (x, y) = (p0?.as_list()?, p1?.as_list()?);
            if x.len() != y.len() {
                return Some(Ok(PyValue::Bool(op == "ne")));
            }
            let mut acc: Option<modelc_ir::ValueRef> = None;
            for (p, q) in x.iter().zip(y) {
                let (l, r) = (sym(cx, p)?, sym(cx, q)?);
                let e = cx.b.op(OnnxOp::Equal, &[l, r], Attrs::default());
                acc = Some(match acc {
                    Some(a) => cx.b.op(OnnxOp::And, &[a, e], Attrs::default()),
                    None => e,
                });
            }
            let Some(mut v) = acc else {
                return Some(Ok(PyValue::Bool(op == "eq")));
            };
            if op == "ne" {
                v = cx.b.op(OnnxOp::Not, &[v], Attrs::default());
            }
            Some(Ok(PyValue::Tensor(super::super::value::TensorRef::new(
                v,
                Some(0),
                modelc_ir::DType::Bool,
            ))))
        }
        "neg" => match p0? {
            PyValue::Int(i) => Some(Ok(PyValue::Int(-i))),
            PyValue::Float(f) => Some(Ok(PyValue::Float(-f))),
            PyValue::SymInt(s) => {
                let v = cx.b.op(OnnxOp::Neg, &[*s], Attrs::default());
                Some(Ok(PyValue::SymInt(v)))
            }
            _ => None,
        },
        // math functions of a run-time int: float32 scalars of the graph.
        "sqrt" | "exp" | "log" if a.pos.len() == 1 && matches!(p0?, PyValue::SymInt(_)) => {
            let PyValue::SymInt(s) = p0? else { return None };
            let f = cx.b.cast(*s, modelc_ir::DType::F32);
            let onnx = match op {
                "sqrt" => OnnxOp::Sqrt,
                "exp" => OnnxOp::Exp,
                _ => OnnxOp::Log,
            };
            let v = cx.b.op(onnx, &[f], Attrs::default());
            Some(Ok(PyValue::Tensor(super::super::value::TensorRef::new(
                v,
                Some(0),
                modelc_ir::DType::F32,
            ))))
        }
        "sqrt" | "exp" | "log" | "floor" | "ceil" | "fabs" if a.pos.len() == 1 && is_num(p0?) => {
            let x = p0?.as_f64()?;
            Some(Ok(match op {
                "sqrt" => PyValue::Float(x.sqrt()),
                "exp" => PyValue::Float(x.exp()),
                "log" => PyValue::Float(x.ln()),
                "floor" => PyValue::Int(x.floor() as i64),
                "ceil" => PyValue::Int(x.ceil() as i64),
                _ => PyValue::Float(x.abs()),
            }))
        }
        "add" | "sub" | "mul" | "div" | "floordiv" | "remainder" | "pow" | "eq" | "ne" | "lt"
        | "le" | "gt" | "ge" | "min" | "max" | "__and__" | "__or__" => {
            let (x, y) = (p0?, p1?);
            if is_num(x) && is_num(y) {
                if op == "__and__" || op == "__or__" {
                    if let (PyValue::Bool(p), PyValue::Bool(q)) = (x, y) {
                        return Some(Ok(PyValue::Bool(if op == "__and__" {
                            *p && *q
                        } else {
                            *p || *q
                        })));
                    }
                }
                return match num2(op, x, y) {
                    Some(v) => Some(Ok(v)),
                    None => Some(Err(Stop::Raise(format!(
                        "{}: {op} fails on {x:?}, {y:?}",
                        cx.at()
                    )))),
                };
            }
            if op == "add" {
                if let (PyValue::Str(l), PyValue::Str(r)) = (x, y) {
                    return Some(Ok(PyValue::Str(format!("{l}{r}"))));
                }
                if let (PyValue::List(l), PyValue::List(r)) = (x, y) {
                    let mut l = l.clone();
                    l.extend(r.iter().cloned());
                    return Some(Ok(PyValue::List(l)));
                }
            }
            // Run-time ints (sizes) with ints.
            let dynamic = matches!(x, PyValue::SymInt(_)) || matches!(y, PyValue::SymInt(_));
            let ints = matches!(x, PyValue::SymInt(_) | PyValue::Int(_))
                && matches!(y, PyValue::SymInt(_) | PyValue::Int(_));
            if dynamic && ints {
                let (l, r) = (sym(cx, x)?, sym(cx, y)?);
                let onnx = match op {
                    "add" => OnnxOp::Add,
                    "sub" => OnnxOp::Sub,
                    "mul" => OnnxOp::Mul,
                    // Sizes are non-negative, so truncating division is floor division.
                    "floordiv" => OnnxOp::Div,
                    "remainder" => OnnxOp::Mod,
                    "eq" | "ne" => OnnxOp::Equal,
                    "lt" => OnnxOp::Less,
                    "gt" => OnnxOp::Greater,
                    "le" => OnnxOp::LessOrEqual,
                    "ge" => OnnxOp::GreaterOrEqual,
                    "min" => OnnxOp::Min,
                    "max" => OnnxOp::Max,
                    _ => return None,
                };
                let mut v = cx.b.op(onnx, &[l, r], Attrs::default());
                if op == "ne" {
                    v = cx.b.op(OnnxOp::Not, &[v], Attrs::default());
                }
                return Some(Ok(match onnx {
                    OnnxOp::Equal
                    | OnnxOp::Less
                    | OnnxOp::Greater
                    | OnnxOp::LessOrEqual
                    | OnnxOp::GreaterOrEqual => PyValue::Tensor(
                        super::super::value::TensorRef::new(v, Some(0), modelc_ir::DType::Bool),
                    ),
                    _ => PyValue::SymInt(v),
                }));
            }
            None
        }
        _ => None,
    }
}
