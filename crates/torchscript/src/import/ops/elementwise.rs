//! Element-wise ops on tensors: the one-to-one forms of [`crate::aten`]'s table ([`table`]:
//! neg, sqrt, …, relu, leaky_relu, elu, …, add/sub with alpha 1, mul, pow, eq/lt/le/gt/ge,
//! logical_*), and
//! the others: add/sub with `alpha` ≠ 1, round with `decimals`, div (`rounding_mode` none / trunc / floor),
//! floor_divide, remainder/fmod, rsub, rsqrt, ne, where, masked_fill, clamp / clip /
//! clamp_min / clamp_max (scalar bounds: Clip; tensor bounds: maximum / minimum),
//! addcmul / addcdiv, is_floating_point; casts (`to`,
//! `type_as`, `float`); identities (`contiguous`, `detach`, `clone`, `dropout` in eval).
//! Results broadcast like ONNX (numpy rules, same as torch).

use modelc_ir::{Attr, Attrs, DType, OnnxOp};

use super::super::args::{scalar_type, Args};
use super::super::builder::attrs;
use super::super::eval::{EvalResult, Evaluator};
use super::super::value::{PyValue, TensorRef};
use super::{arg, operand, unary};
use crate::aten;

fn rank2(a: TensorRef, b: TensorRef) -> Option<usize> {
    Some(a.rank?.max(b.rank?))
}

/// Floor division of integers: ONNX's integer Div truncates toward zero, so divide
/// `a - a mod b` (Mod with the divisor's sign: an exact multiple of b) instead.
fn int_floor_div(
    cx: &mut Evaluator,
    a: modelc_ir::ValueRef,
    b: modelc_ir::ValueRef,
) -> modelc_ir::ValueRef {
    let m =
        cx.b.op(OnnxOp::Mod, &[a, b], attrs(vec![("fmod", Attr::Int(0))]));
    let exact = cx.b.op(OnnxOp::Sub, &[a, m], Attrs::default());
    cx.b.op(OnnxOp::Div, &[exact, b], Attrs::default())
}

/// Both operands as tensors of one element type, promoted as torch does (an integer side
/// takes the float side's type; a 0-d side of the same kind takes the other's).
pub fn pair(
    cx: &mut Evaluator,
    op: &str,
    x: &PyValue,
    y: &PyValue,
) -> EvalResult<(TensorRef, TensorRef)> {
    let like = x.as_tensor().or(y.as_tensor());
    let mut a = arg(op, operand(cx, x, like))?;
    let mut b = arg(op, operand(cx, y, like))?;
    if a.dtype != b.dtype {
        // torch promotes int to float; cast the non-float side.
        // Otherwise a scalar takes the other side's type.
        let cast_a = (b.dtype.is_float() && !a.dtype.is_float())
            || (a.dtype.is_float() == b.dtype.is_float() && a.rank == Some(0) && b.rank != Some(0));
        if cast_a {
            a = a.with(cx.b.cast(a.v, b.dtype));
            a.dtype = b.dtype;
        } else {
            b = b.with(cx.b.cast(b.v, a.dtype));
            b.dtype = a.dtype;
        }
    }
    Ok((a, b))
}

pub fn binary(
    cx: &mut Evaluator,
    op: &str,
    onnx: OnnxOp,
    x: &PyValue,
    y: &PyValue,
) -> EvalResult<PyValue> {
    let (a, b) = pair(cx, op, x, y)?;
    // torch multiplies / adds bool tensors as logical and / or (ONNX Mul/Add take no bools;
    // Core ATen decompositions such as isfinite's write `mul` of two masks).
    let onnx = match (onnx, a.dtype, b.dtype) {
        (OnnxOp::Mul, DType::Bool, DType::Bool) => OnnxOp::And,
        (OnnxOp::Add, DType::Bool, DType::Bool) => OnnxOp::Or,
        (onnx, ..) => onnx,
    };
    let v = cx.b.op(onnx, &[a.v, b.v], Attrs::default());
    let dtype = if aten::by_op(onnx).is_some_and(|r| r.kind.is_predicate()) {
        DType::Bool
    } else {
        a.dtype
    };
    Ok(PyValue::Tensor(TensorRef::new(v, rank2(a, b), dtype)))
}

/// A one-to-one form of [`aten`]'s table: the row's op on the operands. `None` when `op` has
/// no row, reads no tensor, (add/sub) has an `alpha` other than 1, (round) has
/// `decimals`, or (elu) has a `scale` / `input_scale` other than 1 ([`call`] has those forms). `logical_*` of non-bool tensors compare them
/// with 0 first (ONNX And/Or/Xor/Not take bools only).
pub fn table(cx: &mut Evaluator, op: &str, a: &Args) -> Option<EvalResult<PyValue>> {
    let row = aten::by_name(op)?;
    if !has_tensor(a) || row.alpha && !matches!(a.f64(2, "alpha", Some(1.0)), Ok(1.0)) {
        return None;
    }
    if op == "round" && !matches!(a.some(1, "decimals"), None | Some(PyValue::Int(0))) {
        return None;
    }
    // elu's `scale` / `input_scale` (selu and celu decompose to them): not ONNX Elu's.
    if op == "elu"
        && [(2, "scale"), (3, "input_scale")]
            .iter()
            .any(|&(i, k)| !matches!(a.f64(i, k, Some(1.0)), Ok(1.0)))
    {
        return None;
    }
    let x = a.get(0, "self")?;
    if op.starts_with("logical_") {
        let ins: Vec<&PyValue> = if row.kind.arity() == 1 {
            vec![x]
        } else {
            vec![x, a.get(1, "other")?]
        };
        if ins
            .iter()
            .any(|v| v.as_tensor().is_some_and(|t| t.dtype != DType::Bool))
        {
            return Some(logical_of_bools(cx, op, &ins));
        }
    }
    Some((|| -> EvalResult<PyValue> {
        if row.kind.arity() == 2 {
            let y = a.get(1, "other").ok_or_else(|| {
                super::super::eval::Stop::Fatal(format!("aten::{op}: missing operand"))
            })?;
            return binary(cx, op, row.op, x, y);
        }
        let t = arg(op, operand(cx, x, None))?;
        let mut params = Vec::with_capacity(row.params.len());
        for (i, p) in row.params.iter().enumerate() {
            let v = arg(op, a.f64(1 + i, p.arg, Some(p.aten_default)))?;
            params.push((p.attr, Attr::Float(v as f32)));
        }
        let v = cx.b.op(row.op, &[t.v], attrs(params));
        let dtype = if row.kind.is_predicate() {
            DType::Bool
        } else {
            t.dtype
        };
        Ok(PyValue::Tensor(TensorRef::new(v, t.rank, dtype)))
    })())
}

/// `op` (a logical connective) of the operands compared with 0 (Python values: their truth).
fn logical_of_bools(cx: &mut Evaluator, op: &str, ins: &[&PyValue]) -> EvalResult<PyValue> {
    let mut bools = Vec::with_capacity(ins.len());
    for v in ins {
        bools.push(match v {
            PyValue::Tensor(t) if t.dtype != DType::Bool => {
                super::at(cx, "ne", vec![(*v).clone(), PyValue::Int(0)])?
            }
            PyValue::Tensor(_) => (*v).clone(),
            other => PyValue::Bool(other.as_bool().unwrap_or(false)),
        });
    }
    super::at(cx, op, bools)
}

fn has_tensor(a: &Args) -> bool {
    a.pos
        .iter()
        .chain(a.kw.iter().map(|k| &k.1))
        .any(|v| matches!(v, PyValue::Tensor(_)))
}

pub fn call(cx: &mut Evaluator, op: &str, a: &Args) -> Option<EvalResult<PyValue>> {
    if !has_tensor(a) {
        return None;
    }
    run(cx, op, a)
}

fn run(cx: &mut Evaluator, op: &str, a: &Args) -> Option<EvalResult<PyValue>> {
    let x = a.get(0, "self")?;
    let y = a.get(1, "other");
    Some((|| -> EvalResult<PyValue> {
        match op {
            // alpha ≠ 1 (alpha 1 is the table's).
            "add" | "sub" => {
                let y = y.ok_or_else(|| {
                    super::super::eval::Stop::Fatal(format!("aten::{op}: missing operand"))
                })?;
                let alpha = arg(op, a.f64(2, "alpha", Some(1.0)))?;
                let y = binary(cx, "mul", OnnxOp::Mul, y, &PyValue::Float(alpha))?;
                let onnx = if op == "add" {
                    OnnxOp::Add
                } else {
                    OnnxOp::Sub
                };
                binary(cx, op, onnx, x, &y)
            }
            "rsub" => {
                let y = y.cloned().unwrap_or(PyValue::Int(0));
                let alpha = arg(op, a.f64(2, "alpha", Some(1.0)))?;
                let x = if alpha != 1.0 {
                    binary(cx, "mul", OnnxOp::Mul, x, &PyValue::Float(alpha))?
                } else {
                    x.clone()
                };
                binary(cx, op, OnnxOp::Sub, &y, &x)
            }
            "div" | "true_divide" => {
                let y = y.unwrap_or(&PyValue::Int(1));
                let mode = arg(op, a.str(2, "rounding_mode", ""))?;
                // True division is float division even of ints.
                let (mut p, mut q) = pair(cx, op, x, y)?;
                if !p.dtype.is_float() && mode.is_empty() {
                    p = TensorRef::new(cx.b.cast(p.v, DType::F32), p.rank, DType::F32);
                    q = TensorRef::new(cx.b.cast(q.v, DType::F32), q.rank, DType::F32);
                }
                let d = cx.b.op(OnnxOp::Div, &[p.v, q.v], Attrs::default());
                let v = match mode.as_str() {
                    "floor" if p.dtype.is_float() => cx.b.op(OnnxOp::Floor, &[d], Attrs::default()),
                    // ONNX's integer Div truncates toward zero.
                    "floor" => int_floor_div(cx, p.v, q.v),
                    "trunc" if p.dtype.is_float() => {
                        // trunc(x) = sign(x) * floor(|x|)
                        let s = cx.b.op(OnnxOp::Sign, &[d], Attrs::default());
                        let ab = cx.b.op(OnnxOp::Abs, &[d], Attrs::default());
                        let f = cx.b.op(OnnxOp::Floor, &[ab], Attrs::default());
                        cx.b.op(OnnxOp::Mul, &[s, f], Attrs::default())
                    }
                    _ => d,
                };
                Ok(PyValue::Tensor(TensorRef::new(v, rank2(p, q), p.dtype)))
            }
            "floor_divide" | "floordiv" => {
                let (p, q) = pair(cx, op, x, y.unwrap_or(&PyValue::Int(1)))?;
                let v = if p.dtype.is_float() {
                    let d = cx.b.op(OnnxOp::Div, &[p.v, q.v], Attrs::default());
                    cx.b.op(OnnxOp::Floor, &[d], Attrs::default())
                } else {
                    int_floor_div(cx, p.v, q.v)
                };
                Ok(PyValue::Tensor(TensorRef::new(v, rank2(p, q), p.dtype)))
            }
            // torch.remainder takes the divisor's sign (Python's %), torch.fmod the
            // dividend's (C's fmod). ONNX Mod does the first only for integers: a float
            // remainder is a - floor(a / b) * b.
            "remainder" | "fmod" => {
                let (p, q) = pair(cx, op, x, y.unwrap_or(&PyValue::Int(1)))?;
                let v = if op == "remainder" && p.dtype.is_float() {
                    let d = cx.b.op(OnnxOp::Div, &[p.v, q.v], Attrs::default());
                    let f = cx.b.op(OnnxOp::Floor, &[d], Attrs::default());
                    let m = cx.b.op(OnnxOp::Mul, &[f, q.v], Attrs::default());
                    cx.b.op(OnnxOp::Sub, &[p.v, m], Attrs::default())
                } else {
                    let fmod = (op == "fmod") as i64;
                    cx.b.op(
                        OnnxOp::Mod,
                        &[p.v, q.v],
                        attrs(vec![("fmod", Attr::Int(fmod))]),
                    )
                };
                Ok(PyValue::Tensor(TensorRef::new(v, rank2(p, q), p.dtype)))
            }
            "ne" => {
                let e = binary(cx, op, OnnxOp::Equal, x, y.unwrap_or(&PyValue::None))?;
                let t = e.as_tensor().expect("binary gives a tensor");
                Ok(unary(cx, OnnxOp::Not, t, vec![]))
            }
            // self + value · t1 ∘ t2 (∘: · or /).
            "addcmul" | "addcdiv" => {
                let t1 = a.get(1, "tensor1").unwrap_or(&PyValue::None);
                let t2 = a.get(2, "tensor2").unwrap_or(&PyValue::None);
                let value = arg(op, a.f64(3, "value", Some(1.0)))?;
                let onnx = if op == "addcmul" {
                    OnnxOp::Mul
                } else {
                    OnnxOp::Div
                };
                let mut p = binary(cx, op, onnx, t1, t2)?;
                if value != 1.0 {
                    p = binary(cx, op, OnnxOp::Mul, &p, &PyValue::Float(value))?;
                }
                binary(cx, op, OnnxOp::Add, x, &p)
            }
            // elu(x, alpha, scale, input_scale) = scale · (x > 0 ? x : alpha · (e^(x · input_scale) − 1))
            // (Core ATen's selu is elu with selu's alpha and scale): with input_scale 1,
            // scale · Elu(x, alpha); otherwise the two branches apart (any input_scale sign).
            "elu" => {
                let alpha = arg(op, a.f64(1, "alpha", Some(1.0)))?;
                let scale = PyValue::Float(arg(op, a.f64(2, "scale", Some(1.0)))?);
                let input_scale = arg(op, a.f64(3, "input_scale", Some(1.0)))?;
                let alpha = PyValue::Float(alpha);
                if input_scale == 1.0 {
                    let e = super::at(cx, "elu", vec![x.clone(), alpha])?;
                    return super::at(cx, "mul", vec![e, scale]);
                }
                let xs = super::at(cx, "mul", vec![x.clone(), PyValue::Float(input_scale)])?;
                let e = super::at(cx, "exp", vec![xs])?;
                let e = super::at(cx, "sub", vec![e, PyValue::Float(1.0)])?;
                let e = super::at(cx, "mul", vec![e, alpha])?;
                let neg = super::at(cx, "mul", vec![e, scale.clone()])?;
                let pos = super::at(cx, "mul", vec![x.clone(), scale])?;
                let gt = super::at(cx, "gt", vec![x.clone(), PyValue::Float(0.0)])?;
                super::at(cx, "where", vec![gt, pos, neg])
            }
            "is_floating_point" | "is_complex" | "is_signed" => {
                let t = arg(op, operand(cx, x, None))?;
                Ok(PyValue::Bool(match op {
                    "is_floating_point" => t.dtype.is_float(),
                    "is_complex" => false,
                    _ => t.dtype.is_float() || t.dtype.is_int() && !t.dtype.name().starts_with('u'),
                }))
            }
            // With decimals (the table has the plain form): round(x · 10^d) / 10^d.
            "round" => {
                let d = arg(op, a.int(1, "decimals", Some(0)))?;
                let k = PyValue::Float(10f64.powi(d as i32));
                let s = super::at(cx, "mul", vec![x.clone(), k.clone()])?;
                let r = super::at(cx, "round", vec![s])?;
                super::at(cx, "div", vec![r, k])
            }
            "rsqrt" => {
                let t = arg(op, operand(cx, x, None))?;
                let s = cx.b.op(OnnxOp::Sqrt, &[t.v], Attrs::default());
                let v = cx.b.op(OnnxOp::Reciprocal, &[s], Attrs::default());
                Ok(PyValue::Tensor(t.with(v)))
            }
            "where" => {
                let c = arg(op, operand(cx, x, None))?;
                let (p, q) = pair(
                    cx,
                    op,
                    a.get(1, "self").unwrap_or(&PyValue::None),
                    a.get(2, "other").unwrap_or(&PyValue::None),
                )?;
                let v = cx.b.op(OnnxOp::Where, &[c.v, p.v, q.v], Attrs::default());
                let r = rank2(c, p).zip(q.rank).map(|(r, s)| r.max(s));
                Ok(PyValue::Tensor(TensorRef::new(v, r, p.dtype)))
            }
            "masked_fill" => {
                let t = arg(op, operand(cx, x, None))?;
                let mask = arg(
                    op,
                    operand(cx, a.get(1, "mask").unwrap_or(&PyValue::None), None),
                )?;
                let fill = arg(
                    op,
                    operand(cx, a.get(2, "value").unwrap_or(&PyValue::None), Some(t)),
                )?;
                let v =
                    cx.b.op(OnnxOp::Where, &[mask.v, fill.v, t.v], Attrs::default());
                Ok(PyValue::Tensor(TensorRef::new(v, rank2(t, mask), t.dtype)))
            }
            "clamp" | "clip" | "clamp_min" | "clamp_max" => {
                let t = arg(op, operand(cx, x, None))?;
                let (lo_arg, hi_arg) = match op {
                    "clamp_min" => (a.some(1, "min"), None),
                    "clamp_max" => (None, a.some(1, "max")),
                    _ => (a.some(1, "min"), a.some(2, "max")),
                };
                // Tensor bounds: Max / Min (ONNX Clip takes scalar bounds only).
                let tensor_bound = [lo_arg, hi_arg].iter().any(|b| {
                    b.and_then(PyValue::as_tensor)
                        .is_some_and(|b| b.rank != Some(0))
                });
                if tensor_bound {
                    let mut v = PyValue::Tensor(t);
                    if let Some(lo) = lo_arg {
                        v = super::at(cx, "maximum", vec![v, lo.clone()])?;
                    }
                    if let Some(hi) = hi_arg {
                        v = super::at(cx, "minimum", vec![v, hi.clone()])?;
                    }
                    return Ok(v);
                }
                let lo = match lo_arg {
                    Some(v) => Some(arg(op, operand(cx, v, Some(t)))?.v),
                    None => None,
                };
                let hi = match hi_arg {
                    Some(v) => Some(arg(op, operand(cx, v, Some(t)))?.v),
                    None => None,
                };
                let v =
                    cx.b.node(OnnxOp::Clip, &[Some(t.v), lo, hi], Attrs::default(), 1)[0];
                Ok(PyValue::Tensor(t.with(v)))
            }
            "contiguous"
            | "detach"
            | "clone"
            | "dropout"
            | "feature_dropout"
            | "alpha_dropout"
            | "feature_alpha_dropout"
            | "requires_grad" => Ok(PyValue::Tensor(arg(op, operand(cx, x, None))?)),
            "to" | "type" | "type_as" | "float" | "double" | "long" | "int" | "half" | "bool" => {
                let t = arg(op, operand(cx, x, None))?;
                let target = match op {
                    "float" => Some(DType::F32),
                    "double" => Some(DType::F64),
                    "long" => Some(DType::I64),
                    "int" => Some(DType::I32),
                    "half" => Some(DType::F16),
                    "bool" => Some(DType::Bool),
                    "type_as" => a
                        .get(1, "other")
                        .and_then(PyValue::as_tensor)
                        .map(|o| o.dtype),
                    _ => a
                        .pos
                        .iter()
                        .skip(1)
                        .chain(a.kw.iter().filter(|k| k.0 == "dtype").map(|k| &k.1))
                        .find_map(|v| match v {
                            PyValue::Int(c) => scalar_type(*c),
                            PyValue::Tensor(o) => Some(o.dtype),
                            _ => None,
                        }),
                };
                match target {
                    Some(d) if d != t.dtype => {
                        let v = cx.b.cast(t.v, d);
                        Ok(PyValue::Tensor(TensorRef::new(v, t.rank, d)))
                    }
                    _ => Ok(PyValue::Tensor(t)),
                }
            }
            _ => Err(super::super::eval::Stop::Fatal(String::new())),
        }
    })())
    .filter(|r| !matches!(r, Err(super::super::eval::Stop::Fatal(m)) if m.is_empty()))
}
