//! Python-level arithmetic, comparisons and list helpers torch prints as `torch.*` calls
//! (`torch.add(i, 2)`, `torch.eq(torch.dim(x), 4)`, `torch.len(l)`, `torch.format(…)`, …).
//! Values known at import time are computed here; run-time ints (sizes) become int64
//! scalar ops. Tensor operands fall through to the tensor families.

use modelc_ir::{Attrs, OnnxOp};

use super::super::args::Args;
use super::super::eval::{Cx, Ev, Stop};
use super::super::value::V;

fn is_num(v: &V) -> bool {
    matches!(v, V::Int(_) | V::Float(_) | V::Bool(_))
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

fn num2(op: &str, a: &V, b: &V) -> Option<V> {
    if let (V::Int(x), V::Int(y)) = (a, b) {
        let (x, y) = (*x, *y);
        return Some(match op {
            "add" => V::Int(x.wrapping_add(y)),
            "sub" => V::Int(x.wrapping_sub(y)),
            "mul" => V::Int(x.wrapping_mul(y)),
            "div" if y != 0 => V::Float(x as f64 / y as f64),
            "floordiv" if y != 0 => V::Int(floor_div(x, y)),
            "remainder" if y != 0 => V::Int(x - y * floor_div(x, y)),
            "pow" if y >= 0 => V::Int(x.wrapping_pow(y.min(63) as u32)),
            "eq" => V::Bool(x == y),
            "ne" => V::Bool(x != y),
            "lt" => V::Bool(x < y),
            "le" => V::Bool(x <= y),
            "gt" => V::Bool(x > y),
            "ge" => V::Bool(x >= y),
            "min" => V::Int(x.min(y)),
            "max" => V::Int(x.max(y)),
            "__and__" => V::Int(x & y),
            "__or__" => V::Int(x | y),
            _ => return None,
        });
    }
    let (x, y) = (a.as_f64()?, b.as_f64()?);
    Some(match op {
        "add" => V::Float(x + y),
        "sub" => V::Float(x - y),
        "mul" => V::Float(x * y),
        "div" => V::Float(x / y),
        "floordiv" => V::Float((x / y).floor()),
        "remainder" => V::Float(x - y * (x / y).floor()),
        "pow" => V::Float(x.powf(y)),
        "eq" => V::Bool(x == y),
        "ne" => V::Bool(x != y),
        "lt" => V::Bool(x < y),
        "le" => V::Bool(x <= y),
        "gt" => V::Bool(x > y),
        "ge" => V::Bool(x >= y),
        "min" => V::Float(x.min(y)),
        "max" => V::Float(x.max(y)),
        _ => return None,
    })
}

/// Structural equality of import-time values (for `==` on strings, None, lists).
fn same(a: &V, b: &V) -> Option<bool> {
    Some(match (a, b) {
        (V::None, V::None) => true,
        (V::None, _) | (_, V::None) => false,
        (V::Str(x), V::Str(y)) => x == y,
        (V::Device(x), V::Device(y)) => x == y,
        (V::Str(x), V::Device(y)) | (V::Device(y), V::Str(x)) => x == y,
        (V::List(x) | V::Tuple(x), V::List(y) | V::Tuple(y)) => {
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

fn sym(cx: &mut Cx, v: &V) -> Option<modelc_ir::ValueRef> {
    match v {
        V::SymInt(s) => Some(*s),
        V::Int(i) => Some(cx.b.scalar_i64(*i)),
        _ => None,
    }
}

pub fn call(cx: &mut Cx, op: &str, a: &Args) -> Option<Ev<V>> {
    let p0 = a.pos.first();
    let p1 = a.pos.get(1);
    match op {
        "__is__" | "__isnot__" => {
            let (x, y) = (p0?, p1?);
            let r = match (x, y) {
                (V::None, V::None) => true,
                (V::None, _) | (_, V::None) => false,
                (V::Uninit, _) | (_, V::Uninit) => false,
                _ => return None,
            };
            Some(Ok(V::Bool(if op == "__is__" { r } else { !r })))
        }
        "__not__" => p0?.as_bool().map(|b| Ok(V::Bool(!b))),
        "len" => match p0? {
            V::List(v) | V::Tuple(v) => Some(Ok(V::Int(v.len() as i64))),
            V::Str(s) => Some(Ok(V::Int(s.chars().count() as i64))),
            V::Tensor(t) => {
                let d = cx.b.dim(t.v, 0);
                Some(Ok(V::SymInt(d)))
            }
            _ => None,
        },
        "format" => {
            let s = match p0? {
                V::Str(s) => s.clone(),
                _ => return None,
            };
            Some(Ok(V::Str(s)))
        }
        "append" => match p0? {
            // Lists are values here: the evaluator rebinds the appended-to name to the
            // returned list (see the in-place rule in eval.rs).
            V::List(l) => {
                let mut l = l.clone();
                l.push(p1?.clone());
                Some(Ok(V::List(l)))
            }
            _ => None,
        },
        "list" => match p0? {
            V::List(l) | V::Tuple(l) => Some(Ok(V::List(l.clone()))),
            _ => None,
        },
        "warn" => Some(Ok(V::None)),
        "any" | "all" => match p0? {
            V::List(l) | V::Tuple(l) => {
                let bools: Option<Vec<bool>> = l.iter().map(V::as_bool).collect();
                let b = bools?;
                Some(Ok(V::Bool(if op == "any" {
                    b.iter().any(|&x| x)
                } else {
                    b.iter().all(|&x| x)
                })))
            }
            _ => None,
        },
        "device" => match p0? {
            V::Str(s) => Some(Ok(V::Device(s.clone()))),
            V::Device(d) => Some(Ok(V::Device(d.clone()))),
            _ => None,
        },
        // Import is for inference. "Grad enabled" picks the composite (non-fused) paths of
        // modules like MultiheadAttention, which compute the same thing op by op.
        "is_grad_enabled" => Some(Ok(V::Bool(true))),
        "is_autocast_enabled" | "is_autocast_cpu_enabled" => Some(Ok(V::Bool(false))),
        "backends.mha.get_fastpath_enabled" => Some(Ok(V::Bool(false))),
        "is_scripting" => Some(Ok(V::Bool(true))),
        "_is_tracing" | "jit.is_tracing" | "_C._get_tracing_state" => Some(Ok(V::Bool(false))),
        "__contains__" => {
            let (l, x) = (p0?, p1?);
            match l {
                V::List(v) | V::Tuple(v) => {
                    let mut any = false;
                    for item in v {
                        match same(item, x) {
                            Some(true) => any = true,
                            Some(false) => {}
                            None => return None,
                        }
                    }
                    Some(Ok(V::Bool(any)))
                }
                V::Str(s) => match x {
                    V::Str(sub) => Some(Ok(V::Bool(s.contains(sub.as_str())))),
                    _ => None,
                },
                _ => None,
            }
        }
        "eq" | "ne" if p0.zip(p1).and_then(|(x, y)| same(x, y)).is_some() => {
            let r = same(p0?, p1?)?;
            Some(Ok(V::Bool(if op == "eq" { r } else { !r })))
        }
        "eq" | "ne"
            if matches!(
                (p0, p1),
                (
                    Some(V::List(_) | V::Tuple(_)),
                    Some(V::List(_) | V::Tuple(_))
                )
            ) =>
        {
            // Lists holding run-time sizes: equal when every element is.
            let (x, y) = (p0?.as_list()?, p1?.as_list()?);
            if x.len() != y.len() {
                return Some(Ok(V::Bool(op == "ne")));
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
                return Some(Ok(V::Bool(op == "eq")));
            };
            if op == "ne" {
                v = cx.b.op(OnnxOp::Not, &[v], Attrs::default());
            }
            Some(Ok(V::Tensor(super::super::value::T::new(
                v,
                Some(0),
                modelc_ir::DType::Bool,
            ))))
        }
        "neg" => match p0? {
            V::Int(i) => Some(Ok(V::Int(-i))),
            V::Float(f) => Some(Ok(V::Float(-f))),
            V::SymInt(s) => {
                let v = cx.b.op(OnnxOp::Neg, &[*s], Attrs::default());
                Some(Ok(V::SymInt(v)))
            }
            _ => None,
        },
        "sqrt" | "exp" | "log" | "floor" | "ceil" | "fabs" if a.pos.len() == 1 && is_num(p0?) => {
            let x = p0?.as_f64()?;
            Some(Ok(match op {
                "sqrt" => V::Float(x.sqrt()),
                "exp" => V::Float(x.exp()),
                "log" => V::Float(x.ln()),
                "floor" => V::Int(x.floor() as i64),
                "ceil" => V::Int(x.ceil() as i64),
                _ => V::Float(x.abs()),
            }))
        }
        "add" | "sub" | "mul" | "div" | "floordiv" | "remainder" | "pow" | "eq" | "ne" | "lt"
        | "le" | "gt" | "ge" | "min" | "max" | "__and__" | "__or__" => {
            let (x, y) = (p0?, p1?);
            if is_num(x) && is_num(y) {
                if op == "__and__" || op == "__or__" {
                    if let (V::Bool(p), V::Bool(q)) = (x, y) {
                        return Some(Ok(V::Bool(if op == "__and__" {
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
                if let (V::Str(l), V::Str(r)) = (x, y) {
                    return Some(Ok(V::Str(format!("{l}{r}"))));
                }
                if let (V::List(l), V::List(r)) = (x, y) {
                    let mut l = l.clone();
                    l.extend(r.iter().cloned());
                    return Some(Ok(V::List(l)));
                }
            }
            // Run-time ints (sizes) with ints.
            let dynamic = matches!(x, V::SymInt(_)) || matches!(y, V::SymInt(_));
            let ints =
                matches!(x, V::SymInt(_) | V::Int(_)) && matches!(y, V::SymInt(_) | V::Int(_));
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
                    | OnnxOp::GreaterOrEqual => V::Tensor(super::super::value::T::new(
                        v,
                        Some(0),
                        modelc_ir::DType::Bool,
                    )),
                    _ => V::SymInt(v),
                }));
            }
            None
        }
        _ => None,
    }
}
