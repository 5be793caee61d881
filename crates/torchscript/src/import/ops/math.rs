//! Element-wise math that ONNX spells as a composition (found missing by the aten suite,
//! tests/aten_suite.py), written in terms of the aten ops the importer already knows so
//! that torch's type promotion and the rank bookkeeping are theirs:
//! - unary: log2 / log10 / log1p / expm1 / exp2, square, trunc / fix, frac, deg2rad /
//!   rad2deg, erfc, sinc, logit (eps), isfinite / isposinf / isneginf, signbit,
//!   nan_to_num, sgn, and the identities on real tensors (positive, conj, real, …);
//! - binary: maximum / minimum (Max / Min, NaN propagating like torch), fmax / fmin (NaN
//!   ignored), hypot, atan2, copysign, xlogy, logaddexp / logaddexp2, heaviside,
//!   lerp, float_power (in double), ldexp, isclose, xlog1py; isreal, entr, ndtr (select.rs's
//!   `max(x, other)` is this `maximum`; clamp_min / clamp_max and addcdiv are
//!   elementwise.rs's);
//! - activations: selu (Selu: its ONNX defaults are torch's constants), hardshrink /
//!   softshrink (Shrink), tanhshrink, threshold, logsigmoid, softsign, softmin, glu.

use std::f64::consts::{LN_10, LN_2, PI};

use modelc_ir::{Attr, OnnxOp};

use super::super::args::Args;
use super::super::builder::attrs;
use super::super::eval::{EvalResult, Evaluator, Stop};
use super::super::value::{PyValue, TensorRef};
use super::{arg, at, axis, elementwise, expect_tensor, operand};

fn f(v: f64) -> PyValue {
    PyValue::Float(v)
}

/// Float operands: integer tensors are promoted to float32 first, as torch's float-valued
/// math does.
fn floating(cx: &mut Evaluator, op: &str, v: &PyValue) -> EvalResult<PyValue> {
    let t = arg(op, operand(cx, v, None))?;
    if t.dtype.is_float() {
        return Ok(PyValue::Tensor(t));
    }
    let c = cx.b.cast(t.v, modelc_ir::DType::F32);
    Ok(PyValue::Tensor(TensorRef::new(
        c,
        t.rank,
        modelc_ir::DType::F32,
    )))
}

const UNARY: &[&str] = &[
    "log2",
    "log10",
    "log1p",
    "special_log1p",
    "expm1",
    "special_expm1",
    "exp2",
    "special_exp2",
    "square",
    "trunc",
    "fix",
    "frac",
    "deg2rad",
    "rad2deg",
    "erfc",
    "special_erfc",
    "sinc",
    "special_sinc",
    "logit",
    "special_logit",
    "isfinite",
    "isposinf",
    "isneginf",
    "signbit",
    "nan_to_num",
    "sgn",
    "positive",
    "conj",
    "conj_physical",
    "resolve_conj",
    "resolve_neg",
    "real",
    "selu",
    "hardshrink",
    "softshrink",
    "tanhshrink",
    "threshold",
    "log_sigmoid",
    "softsign",
    "softmin",
    "glu",
    "special_expit",
    "isreal",
    "special_entr",
    "special_ndtr",
];

const BINARY: &[&str] = &[
    "maximum",
    "minimum",
    "fmax",
    "fmin",
    "hypot",
    "atan2",
    "arctan2",
    "copysign",
    "xlogy",
    "special_xlogy",
    "logaddexp",
    "logaddexp2",
    "heaviside",
    "lerp",
    "float_power",
    "ldexp",
    "isclose",
    "special_xlog1py",
];

pub fn call(cx: &mut Evaluator, op: &str, a: &Args) -> Option<EvalResult<PyValue>> {
    if !(UNARY.contains(&op) || BINARY.contains(&op)) {
        return None;
    }
    let x = a.get(0, "self")?.clone();
    if !matches!(x, PyValue::Tensor(_)) && !BINARY.contains(&op) {
        return None;
    }
    if BINARY.contains(&op)
        && ![a.get(0, "self"), a.get(1, "other")]
            .iter()
            .any(|v| matches!(v, Some(PyValue::Tensor(_))))
    {
        return None;
    }
    Some(if UNARY.contains(&op) {
        unary(cx, op, x, a)
    } else {
        binary(cx, op, x, a)
    })
}

fn unary(cx: &mut Evaluator, op: &str, x: PyValue, a: &Args) -> EvalResult<PyValue> {
    let op = op.strip_prefix("special_").unwrap_or(op);
    match op {
        "positive" | "conj" | "conj_physical" | "resolve_conj" | "resolve_neg" | "real" => Ok(x),
        "sgn" => at(cx, "sign", vec![x]),
        "expit" => at(cx, "sigmoid", vec![x]),
        "log2" | "log10" => {
            let x = floating(cx, op, &x)?;
            let l = at(cx, "log", vec![x])?;
            let k = if op == "log2" { LN_2 } else { LN_10 };
            at(cx, "div", vec![l, f(k)])
        }
        "log1p" => {
            // log(u) · x / (u − 1) with u = 1 + x (Goldberg): exact where 1 + x rounds,
            // x itself where u is 1, u where it is infinite.
            let x = floating(cx, op, &x)?;
            let u = at(cx, "add", vec![x.clone(), f(1.0)])?;
            let d = at(cx, "sub", vec![u.clone(), f(1.0)])?;
            let l = at(cx, "log", vec![u.clone()])?;
            let q = at(cx, "div", vec![x.clone(), d.clone()])?;
            let r = at(cx, "mul", vec![l, q])?;
            let tiny = at(cx, "eq", vec![d, f(0.0)])?;
            let r = at(cx, "where", vec![tiny, x, r])?;
            let inf = at(cx, "isinf", vec![u.clone()])?;
            at(cx, "where", vec![inf, u, r])
        }
        "expm1" => {
            // (u − 1) · x / log(u) with u = exp(x) (Kahan): x where u is 1, u − 1 where
            // u − 1 is −1 or infinite.
            let x = floating(cx, op, &x)?;
            let u = at(cx, "exp", vec![x.clone()])?;
            let d = at(cx, "sub", vec![u.clone(), f(1.0)])?;
            let l = at(cx, "log", vec![u.clone()])?;
            let q = at(cx, "div", vec![x.clone(), l])?;
            let r = at(cx, "mul", vec![d.clone(), q])?;
            let one = at(cx, "eq", vec![u.clone(), f(1.0)])?;
            let r = at(cx, "where", vec![one, x, r])?;
            let low = at(cx, "eq", vec![d.clone(), f(-1.0)])?;
            let r = at(cx, "where", vec![low, d.clone(), r])?;
            let inf = at(cx, "isinf", vec![u])?;
            at(cx, "where", vec![inf, d, r])
        }
        "exp2" => {
            let x = floating(cx, op, &x)?;
            let l = at(cx, "mul", vec![x, f(LN_2)])?;
            at(cx, "exp", vec![l])
        }
        "square" => at(cx, "mul", vec![x.clone(), x]),
        "trunc" | "fix" | "frac" => {
            let t = expect_tensor(op, &x)?;
            if !t.dtype.is_float() {
                return if op == "frac" {
                    at(cx, "sub", vec![x.clone(), x])
                } else {
                    Ok(x)
                };
            }
            // trunc(x) = sign(x) · floor(|x|)
            let s = at(cx, "sign", vec![x.clone()])?;
            let m = at(cx, "abs", vec![x.clone()])?;
            let fl = at(cx, "floor", vec![m])?;
            let tr = at(cx, "mul", vec![s, fl])?;
            if op == "frac" {
                at(cx, "sub", vec![x, tr])
            } else {
                Ok(tr)
            }
        }
        "deg2rad" | "rad2deg" => {
            let x = floating(cx, op, &x)?;
            let k = if op == "deg2rad" {
                PI / 180.0
            } else {
                180.0 / PI
            };
            at(cx, "mul", vec![x, f(k)])
        }
        "erfc" => {
            let x = floating(cx, op, &x)?;
            let e = at(cx, "erf", vec![x])?;
            at(cx, "rsub", vec![e, f(1.0)])
        }
        "sinc" => {
            // sin(πx) / (πx), 1 at 0.
            let x = floating(cx, op, &x)?;
            let px = at(cx, "mul", vec![x.clone(), f(PI)])?;
            let s = at(cx, "sin", vec![px.clone()])?;
            let q = at(cx, "div", vec![s, px])?;
            let zero = at(cx, "eq", vec![x, f(0.0)])?;
            at(cx, "where", vec![zero, f(1.0), q])
        }
        "logit" => {
            // log(x / (1 - x)), x first clamped to [eps, 1 - eps] when eps is given.
            let mut x = floating(cx, op, &x)?;
            if let Some(eps) = a.some(1, "eps") {
                let eps = arg(
                    op,
                    eps.as_f64()
                        .ok_or_else(|| format!("eps must be a constant, is {}", eps.kind())),
                )?;
                x = at(cx, "clamp", vec![x, f(eps), f(1.0 - eps)])?;
            }
            let one_minus = at(cx, "rsub", vec![x.clone(), f(1.0)])?;
            let q = at(cx, "div", vec![x, one_minus])?;
            at(cx, "log", vec![q])
        }
        "isfinite" => {
            let t = expect_tensor(op, &x)?;
            if !t.dtype.is_float() {
                let z = at(cx, "eq", vec![x.clone(), x])?;
                return Ok(z);
            }
            let inf = at(cx, "isinf", vec![x.clone()])?;
            let nan = at(cx, "isnan", vec![x])?;
            let bad = at(cx, "logical_or", vec![inf, nan])?;
            at(cx, "logical_not", vec![bad])
        }
        "isposinf" | "isneginf" => {
            let t = expect_tensor(op, &x)?;
            let (pos, neg) = ((op == "isposinf") as i64, (op == "isneginf") as i64);
            let v = cx.b.op(
                OnnxOp::IsInf,
                &[t.v],
                attrs(vec![
                    ("detect_positive", Attr::Int(pos)),
                    ("detect_negative", Attr::Int(neg)),
                ]),
            );
            Ok(PyValue::Tensor(TensorRef::new(
                v,
                t.rank,
                modelc_ir::DType::Bool,
            )))
        }
        "signbit" => at(cx, "lt", vec![x, PyValue::Int(0)]),
        "nan_to_num" => {
            let x = floating(cx, op, &x)?;
            let t = expect_tensor(op, &x)?;
            let max = if t.dtype == modelc_ir::DType::F64 {
                f64::MAX
            } else {
                f32::MAX as f64
            };
            let nan = arg(op, a.f64(1, "nan", Some(0.0)))?;
            let posinf = arg(op, a.f64(2, "posinf", Some(max)))?;
            let neginf = arg(op, a.f64(3, "neginf", Some(-max)))?;
            let is_nan = at(cx, "isnan", vec![x.clone()])?;
            let y = at(cx, "where", vec![is_nan, f(nan), x.clone()])?;
            let is_pos = unary(cx, "isposinf", x.clone(), a)?;
            let y = at(cx, "where", vec![is_pos, f(posinf), y])?;
            let is_neg = unary(cx, "isneginf", x, a)?;
            at(cx, "where", vec![is_neg, f(neginf), y])
        }
        "isreal" => {
            // Real tensors: true everywhere.
            let nan = at(cx, "isnan", vec![x.clone()])?;
            let not = at(cx, "logical_not", vec![nan.clone()])?;
            at(cx, "logical_or", vec![nan, not])
        }
        "entr" => {
            // −x log x for x > 0, 0 at 0, −∞ below.
            let x = floating(cx, op, &x)?;
            let l = at(cx, "log", vec![x.clone()])?;
            let p = at(cx, "mul", vec![x.clone(), l])?;
            let n = at(cx, "neg", vec![p])?;
            let z = at(cx, "eq", vec![x.clone(), f(0.0)])?;
            let r = at(cx, "where", vec![z, f(0.0), n])?;
            let neg = at(cx, "lt", vec![x, f(0.0)])?;
            at(cx, "where", vec![neg, f(f64::NEG_INFINITY), r])
        }
        "ndtr" => {
            // (1 + erf(x / √2)) / 2
            let x = floating(cx, op, &x)?;
            let s = at(cx, "mul", vec![x, f(std::f64::consts::FRAC_1_SQRT_2)])?;
            let e = at(cx, "erf", vec![s])?;
            let p = at(cx, "add", vec![e, f(1.0)])?;
            at(cx, "mul", vec![p, f(0.5)])
        }
        "selu" => {
            let t = expect_tensor(op, &x)?;
            let v = cx.b.op(OnnxOp::Selu, &[t.v], Default::default());
            Ok(PyValue::Tensor(t.with(v)))
        }
        "hardshrink" | "softshrink" => {
            let t = expect_tensor(op, &x)?;
            let lambd = arg(op, a.f64(1, "lambd", Some(0.5)))?;
            let bias = if op == "softshrink" { lambd } else { 0.0 };
            let v = cx.b.op(
                OnnxOp::Shrink,
                &[t.v],
                attrs(vec![
                    ("lambd", Attr::Float(lambd as f32)),
                    ("bias", Attr::Float(bias as f32)),
                ]),
            );
            Ok(PyValue::Tensor(t.with(v)))
        }
        "tanhshrink" => {
            let th = at(cx, "tanh", vec![x.clone()])?;
            at(cx, "sub", vec![x, th])
        }
        "threshold" => {
            let th = a.get(1, "threshold").cloned().unwrap_or(f(0.0));
            let value = a.get(2, "value").cloned().unwrap_or(f(0.0));
            let keep = at(cx, "gt", vec![x.clone(), th])?;
            at(cx, "where", vec![keep, x, value])
        }
        "log_sigmoid" => {
            // min(x, 0) - log1p(exp(-|x|)), stable for large |x|.
            let m = at(cx, "clamp", vec![x.clone(), PyValue::None, f(0.0)])?;
            let ab = at(cx, "abs", vec![x])?;
            let n = at(cx, "neg", vec![ab])?;
            let e = at(cx, "exp", vec![n])?;
            let l = unary(cx, "log1p", e, a)?;
            at(cx, "sub", vec![m, l])
        }
        "softsign" => {
            let ab = at(cx, "abs", vec![x.clone()])?;
            let d = at(cx, "add", vec![ab, f(1.0)])?;
            at(cx, "div", vec![x, d])
        }
        "softmin" => {
            let n = at(cx, "neg", vec![x])?;
            let dim = a.get(1, "dim").cloned().unwrap_or(PyValue::Int(-1));
            let mut pos = vec![n, dim];
            if let Some(d) = a.some(2, "dtype") {
                pos.push(d.clone());
            }
            at(cx, "softmax", pos)
        }
        "glu" => {
            // a · sigmoid(b), a and b the halves of `dim`.
            let t = expect_tensor(op, &x)?;
            let d = arg(op, a.int(1, "dim", Some(-1)))?;
            let d = arg(op, axis(op, d, t.rank))?;
            let halves = cx.b.node(
                OnnxOp::Split,
                &[Some(t.v)],
                attrs(vec![("axis", Attr::Int(d)), ("num_outputs", Attr::Int(2))]),
                2,
            );
            let (p, q) = (
                PyValue::Tensor(t.with(halves[0])),
                PyValue::Tensor(t.with(halves[1])),
            );
            let s = at(cx, "sigmoid", vec![q])?;
            at(cx, "mul", vec![p, s])
        }
        _ => Err(Stop::Fatal(format!("aten::{op}: is not supported"))),
    }
}

fn binary(cx: &mut Evaluator, op: &str, x: PyValue, a: &Args) -> EvalResult<PyValue> {
    let op = op.strip_prefix("special_").unwrap_or(op);
    let y = || -> EvalResult<PyValue> {
        a.get(1, "other")
            .cloned()
            .ok_or_else(|| Stop::Fatal(format!("aten::{op}: missing operand")))
    };
    match op {
        "maximum" | "minimum" => {
            let (p, q) = elementwise::pair(cx, op, &x, &y()?)?;
            let onnx = if op == "maximum" {
                OnnxOp::Max
            } else {
                OnnxOp::Min
            };
            let v = cx.b.op(onnx, &[p.v, q.v], Default::default());
            let rank = p.rank.zip(q.rank).map(|(r, s)| r.max(s));
            let m = PyValue::Tensor(TensorRef::new(v, rank, p.dtype));
            if !p.dtype.is_float() {
                return Ok(m);
            }
            // torch propagates NaN from either side (onnxruntime's Max does, LiteRT's
            // MAXIMUM not from its first operand); x + y is NaN exactly then, and NaN is
            // where it differs from itself (IsNaN has no TFLite form).
            let (pv, qv) = (PyValue::Tensor(p), PyValue::Tensor(q));
            let sum = at(cx, "add", vec![pv, qv])?;
            let nan = at(cx, "ne", vec![sum.clone(), sum.clone()])?;
            at(cx, "where", vec![nan, sum, m])
        }
        "fmax" | "fmin" => {
            // NaN on one side gives the other.
            let y = y()?;
            let m = binary(
                cx,
                if op == "fmax" { "maximum" } else { "minimum" },
                x.clone(),
                a,
            )?;
            let xn = at(cx, "isnan", vec![x.clone()])?;
            let m = at(cx, "where", vec![xn, y.clone(), m])?;
            let yn = at(cx, "isnan", vec![y])?;
            at(cx, "where", vec![yn, x, m])
        }
        "hypot" => {
            let y = y()?;
            let xx = at(cx, "mul", vec![x.clone(), x])?;
            let yy = at(cx, "mul", vec![y.clone(), y])?;
            let s = at(cx, "add", vec![xx, yy])?;
            at(cx, "sqrt", vec![s])
        }
        "atan2" | "arctan2" => {
            // atan(y / x), moved by ±π when x < 0 (the sign of y); x = 0 gives ±π/2 through
            // the infinite quotient, and 0 when y is 0 too.
            let (yv, xv) = (floating(cx, op, &x)?, floating(cx, op, &y()?)?);
            let q = at(cx, "div", vec![yv.clone(), xv.clone()])?;
            let base = at(cx, "atan", vec![q])?;
            let ypos = at(cx, "ge", vec![yv.clone(), f(0.0)])?;
            let shift = at(cx, "where", vec![ypos, f(PI), f(-PI)])?;
            let moved = at(cx, "add", vec![base.clone(), shift])?;
            let xneg = at(cx, "lt", vec![xv.clone(), f(0.0)])?;
            let r = at(cx, "where", vec![xneg, moved, base])?;
            let x0 = at(cx, "eq", vec![xv, f(0.0)])?;
            let y0 = at(cx, "eq", vec![yv, f(0.0)])?;
            let both = at(cx, "logical_and", vec![x0, y0])?;
            at(cx, "where", vec![both, f(0.0), r])
        }
        "copysign" => {
            let (xv, yv) = (floating(cx, op, &x)?, y()?);
            let m = at(cx, "abs", vec![xv])?;
            let neg = at(cx, "lt", vec![yv, PyValue::Int(0)])?;
            let nm = at(cx, "neg", vec![m.clone()])?;
            at(cx, "where", vec![neg, nm, m])
        }
        "xlogy" => {
            // x · log(y), 0 where x is 0 (unless y is NaN).
            let (xv, yv) = (floating(cx, op, &x)?, floating(cx, op, &y()?)?);
            let l = at(cx, "log", vec![yv.clone()])?;
            let p = at(cx, "mul", vec![xv.clone(), l])?;
            let x0 = at(cx, "eq", vec![xv, f(0.0)])?;
            let r = at(cx, "where", vec![x0, f(0.0), p])?;
            let yn = at(cx, "isnan", vec![yv.clone()])?;
            at(cx, "where", vec![yn, yv, r])
        }
        "logaddexp" | "logaddexp2" => {
            // max + log(1 + exp(-|x - y|)) (in base 2 for logaddexp2).
            let y = y()?;
            let m = binary(cx, "maximum", x.clone(), a)?;
            let d = at(cx, "sub", vec![x, y])?;
            let ad = at(cx, "abs", vec![d])?;
            let n = at(cx, "neg", vec![ad])?;
            let r = if op == "logaddexp" {
                let e = at(cx, "exp", vec![n])?;
                unary(cx, "log1p", e, a)?
            } else {
                let e = unary(cx, "exp2", n, a)?;
                let s = at(cx, "add", vec![e, f(1.0)])?;
                unary(cx, "log2", s, a)?
            };
            at(cx, "add", vec![m, r])
        }
        "heaviside" => {
            let values = a
                .get(1, "values")
                .cloned()
                .ok_or_else(|| Stop::Fatal(format!("aten::{op}: missing values")))?;
            let gt = at(cx, "gt", vec![x.clone(), PyValue::Int(0)])?;
            let step = at(cx, "where", vec![gt, f(1.0), f(0.0)])?;
            let step = at(cx, "type_as", vec![step, x.clone()])?;
            let z = at(cx, "eq", vec![x, PyValue::Int(0)])?;
            at(cx, "where", vec![z, values, step])
        }
        "float_power" => {
            // In double precision, as torch computes (and returns) it.
            let (p, q) = elementwise::pair(cx, op, &x, &y()?)?;
            let cast = |cx: &mut Evaluator, t: TensorRef| {
                TensorRef::new(
                    cx.b.cast(t.v, modelc_ir::DType::F64),
                    t.rank,
                    modelc_ir::DType::F64,
                )
            };
            let (p, q) = (cast(cx, p), cast(cx, q));
            let v = cx.b.op(OnnxOp::Pow, &[p.v, q.v], Default::default());
            let rank = p.rank.zip(q.rank).map(|(r, s)| r.max(s));
            Ok(PyValue::Tensor(TensorRef::new(
                v,
                rank,
                modelc_ir::DType::F64,
            )))
        }
        "ldexp" => {
            // x · 2^other
            let e = floating(cx, op, &y()?)?;
            let p = unary(cx, "exp2", e, a)?;
            at(cx, "mul", vec![x, p])
        }
        "isclose" => {
            // |x − y| ≤ atol + rtol · |y|, or equal (infinities), or both NaN with equal_nan.
            let y = y()?;
            let rtol = arg(op, a.f64(2, "rtol", Some(1e-5)))?;
            let atol = arg(op, a.f64(3, "atol", Some(1e-8)))?;
            let equal_nan = arg(op, a.bool(4, "equal_nan", false))?;
            let d = at(cx, "sub", vec![x.clone(), y.clone()])?;
            let ad = at(cx, "abs", vec![d])?;
            let ay = at(cx, "abs", vec![y.clone()])?;
            let tol = at(cx, "mul", vec![ay, f(rtol)])?;
            let tol = at(cx, "add", vec![tol, f(atol)])?;
            let close = at(cx, "le", vec![ad, tol])?;
            let eq = at(cx, "eq", vec![x.clone(), y.clone()])?;
            let r = at(cx, "logical_or", vec![close, eq])?;
            if !equal_nan {
                return Ok(r);
            }
            let xn = at(cx, "isnan", vec![x])?;
            let yn = at(cx, "isnan", vec![y])?;
            let both = at(cx, "logical_and", vec![xn, yn])?;
            at(cx, "logical_or", vec![r, both])
        }
        "xlog1py" => {
            // x · log1p(y), 0 where x is 0 (unless y is NaN).
            let (xv, yv) = (floating(cx, op, &x)?, floating(cx, op, &y()?)?);
            let l = unary(cx, "log1p", yv.clone(), a)?;
            let p = at(cx, "mul", vec![xv.clone(), l])?;
            let x0 = at(cx, "eq", vec![xv, f(0.0)])?;
            let r = at(cx, "where", vec![x0, f(0.0), p])?;
            let yn = at(cx, "isnan", vec![yv.clone()])?;
            at(cx, "where", vec![yn, yv, r])
        }
        "lerp" => {
            // start + weight · (end - start)
            let end = a
                .get(1, "end")
                .cloned()
                .ok_or_else(|| Stop::Fatal(format!("aten::{op}: missing end")))?;
            let w = a
                .get(2, "weight")
                .cloned()
                .ok_or_else(|| Stop::Fatal(format!("aten::{op}: missing weight")))?;
            let d = at(cx, "sub", vec![end, x.clone()])?;
            let s = at(cx, "mul", vec![w, d])?;
            at(cx, "add", vec![x, s])
        }
        _ => Err(Stop::Fatal(format!("aten::{op}: is not supported"))),
    }
}
