//! Element-wise losses (found missing by the aten suite, tests/aten_suite.py), composed from
//! the aten ops the importer knows, then reduced as torch's `reduction` says (0: none, 1:
//! mean, 2: sum; the printed code passes the enum's int):
//! - `l1_loss` |x − y|, `mse_loss` (x − y)², `huber_loss` (delta), `smooth_l1_loss` (beta);
//! - `soft_margin_loss` log(1 + exp(−y·x)); `binary_cross_entropy` (weight; logs clamped at
//!   −100 as torch does); `binary_cross_entropy_with_logits` (weight, pos_weight);
//!   `kl_div` (log_target); `hinge_embedding_loss` (margin); `margin_ranking_loss` (margin);
//! - and the distance they build on, `pairwise_distance` (p, eps, keepdim): the p-norm of
//!   x − y + eps over the last dim (p = ∞: the largest |·|, p = 0: the non-zero count).

use super::super::args::Args;
use super::super::eval::{EvalResult, Evaluator, Stop};
use super::super::value::PyValue;
use super::{arg, at};

const OPS: &[&str] = &[
    "l1_loss",
    "mse_loss",
    "huber_loss",
    "smooth_l1_loss",
    "soft_margin_loss",
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "kl_div",
    "hinge_embedding_loss",
    "margin_ranking_loss",
    "pairwise_distance",
];

fn f(v: f64) -> PyValue {
    PyValue::Float(v)
}

pub fn call(cx: &mut Evaluator, op: &str, a: &Args) -> Option<EvalResult<PyValue>> {
    if !OPS.contains(&op) || !matches!(a.get(0, "self"), Some(PyValue::Tensor(_))) {
        return None;
    }
    Some(run(cx, op, a))
}

fn operand(a: &Args, op: &str, i: usize, name: &str) -> EvalResult<PyValue> {
    a.get(i, name)
        .cloned()
        .ok_or_else(|| Stop::Fatal(format!("aten::{op}: argument `{name}` is missing")))
}

fn pairwise_distance(cx: &mut Evaluator, op: &str, a: &Args) -> EvalResult<PyValue> {
    let x = operand(a, op, 0, "x1")?;
    let y = operand(a, op, 1, "x2")?;
    let p = arg(op, a.f64(2, "p", Some(2.0)))?;
    let eps = arg(op, a.f64(3, "eps", Some(1e-6)))?;
    let keep = PyValue::Bool(arg(op, a.bool(4, "keepdim", false))?);
    let last = PyValue::List(vec![PyValue::Int(-1)]);
    let d = at(cx, "sub", vec![x, y])?;
    let d = at(cx, "add", vec![d, f(eps)])?;
    let ad = at(cx, "abs", vec![d])?;
    if p.is_infinite() {
        return at(cx, "amax", vec![ad, last, keep]);
    }
    if p == 0.0 {
        let nz = at(cx, "ne", vec![ad.clone(), f(0.0)])?;
        let nz = at(cx, "type_as", vec![nz, ad])?;
        return at(cx, "sum", vec![nz, last, keep]);
    }
    let pw = at(cx, "pow", vec![ad, f(p)])?;
    let s = at(cx, "sum", vec![pw, last, keep])?;
    at(cx, "pow", vec![s, f(1.0 / p)])
}

fn run(cx: &mut Evaluator, op: &str, a: &Args) -> EvalResult<PyValue> {
    if op == "pairwise_distance" {
        return pairwise_distance(cx, op, a);
    }
    let x = operand(a, op, 0, "self")?;
    // (loss element-wise, index of the `reduction` argument)
    let (loss, red_at) = match op {
        "l1_loss" | "mse_loss" => {
            let y = operand(a, op, 1, "target")?;
            let d = at(cx, "sub", vec![x, y])?;
            let l = if op == "l1_loss" {
                at(cx, "abs", vec![d])?
            } else {
                at(cx, "mul", vec![d.clone(), d])?
            };
            (l, 2)
        }
        "huber_loss" | "smooth_l1_loss" => {
            // |d| < k: 0.5 d² (/ k for smooth L1); else k (|d| − 0.5 k) (|d| − 0.5 k for
            // smooth L1).
            let y = operand(a, op, 1, "target")?;
            let k = if op == "huber_loss" {
                arg(op, a.f64(3, "delta", Some(1.0)))?
            } else {
                arg(op, a.f64(3, "beta", Some(1.0)))?
            };
            let d = at(cx, "sub", vec![x, y])?;
            let ad = at(cx, "abs", vec![d.clone()])?;
            let sq = at(cx, "mul", vec![d.clone(), d])?;
            let (inner, outer) = if op == "huber_loss" {
                let inner = at(cx, "mul", vec![sq, f(0.5)])?;
                let o = at(cx, "sub", vec![ad.clone(), f(0.5 * k)])?;
                (inner, at(cx, "mul", vec![o, f(k)])?)
            } else if k == 0.0 {
                // smooth L1 with beta 0 is L1.
                (ad.clone(), ad.clone())
            } else {
                let inner = at(cx, "mul", vec![sq, f(0.5 / k)])?;
                (inner, at(cx, "sub", vec![ad.clone(), f(0.5 * k)])?)
            };
            let small = at(cx, "lt", vec![ad, f(k)])?;
            (at(cx, "where", vec![small, inner, outer])?, 2)
        }
        "soft_margin_loss" => {
            let y = operand(a, op, 1, "target")?;
            let p = at(cx, "mul", vec![x, y])?;
            let n = at(cx, "neg", vec![p])?;
            let e = at(cx, "exp", vec![n])?;
            (at(cx, "log1p", vec![e])?, 2)
        }
        "binary_cross_entropy" => {
            // −(y log x + (1 − y) log(1 − x)), each log at least −100.
            let y = operand(a, op, 1, "target")?;
            let lx = at(cx, "log", vec![x.clone()])?;
            let lx = at(cx, "clamp", vec![lx, f(-100.0), PyValue::None])?;
            let one_minus = at(cx, "rsub", vec![x, f(1.0)])?;
            let l1x = at(cx, "log", vec![one_minus])?;
            let l1x = at(cx, "clamp", vec![l1x, f(-100.0), PyValue::None])?;
            let p = at(cx, "mul", vec![y.clone(), lx])?;
            let ny = at(cx, "rsub", vec![y, f(1.0)])?;
            let q = at(cx, "mul", vec![ny, l1x])?;
            let s = at(cx, "add", vec![p, q])?;
            let mut l = at(cx, "neg", vec![s])?;
            if let Some(w) = a.some(2, "weight") {
                l = at(cx, "mul", vec![l, w.clone()])?;
            }
            (l, 3)
        }
        "binary_cross_entropy_with_logits" => {
            // (1 − y)·x + (1 + (pw − 1)·y)·(log1p(exp(−|x|)) + max(−x, 0)), times weight.
            let y = operand(a, op, 1, "target")?;
            let ax = at(cx, "abs", vec![x.clone()])?;
            let nax = at(cx, "neg", vec![ax])?;
            let e = at(cx, "exp", vec![nax])?;
            let sp = at(cx, "log1p", vec![e])?;
            let nx = at(cx, "neg", vec![x.clone()])?;
            let relu = at(cx, "clamp", vec![nx, f(0.0), PyValue::None])?;
            let soft = at(cx, "add", vec![sp, relu])?;
            let coef = match a.some(3, "pos_weight") {
                Some(pw) => {
                    let pm = at(cx, "sub", vec![pw.clone(), f(1.0)])?;
                    let t = at(cx, "mul", vec![pm, y.clone()])?;
                    at(cx, "add", vec![t, f(1.0)])?
                }
                None => f(1.0),
            };
            let ny = at(cx, "rsub", vec![y, f(1.0)])?;
            let p = at(cx, "mul", vec![ny, x])?;
            let q = at(cx, "mul", vec![coef, soft])?;
            let mut l = at(cx, "add", vec![p, q])?;
            if let Some(w) = a.some(2, "weight") {
                l = at(cx, "mul", vec![l, w.clone()])?;
            }
            (l, 4)
        }
        "kl_div" => {
            // target · (log target − input), 0 where target is 0; or exp(t) · (t − input).
            let y = operand(a, op, 1, "target")?;
            let log_target = arg(op, a.bool(3, "log_target", false))?;
            let l = if log_target {
                let e = at(cx, "exp", vec![y.clone()])?;
                let d = at(cx, "sub", vec![y, x])?;
                at(cx, "mul", vec![e, d])?
            } else {
                let xl = at(cx, "xlogy", vec![y.clone(), y.clone()])?;
                let p = at(cx, "mul", vec![y, x])?;
                at(cx, "sub", vec![xl, p])?
            };
            (l, 2)
        }
        "hinge_embedding_loss" => {
            // x where y = 1, max(0, margin − x) where y = −1.
            let y = operand(a, op, 1, "target")?;
            let margin = arg(op, a.f64(2, "margin", Some(1.0)))?;
            let m = at(cx, "rsub", vec![x.clone(), f(margin)])?;
            let m = at(cx, "clamp", vec![m, f(0.0), PyValue::None])?;
            let zero = at(cx, "zeros_like", vec![x.clone()])?;
            let pos = at(cx, "eq", vec![y.clone(), PyValue::Int(1)])?;
            let neg = at(cx, "eq", vec![y, PyValue::Int(-1)])?;
            let a1 = at(cx, "where", vec![pos, x, zero.clone()])?;
            let a2 = at(cx, "where", vec![neg, m, zero])?;
            (at(cx, "add", vec![a1, a2])?, 3)
        }
        "margin_ranking_loss" => {
            // max(0, −y · (x1 − x2) + margin)
            let x2 = operand(a, op, 1, "input2")?;
            let y = operand(a, op, 2, "target")?;
            let margin = arg(op, a.f64(3, "margin", Some(0.0)))?;
            let d = at(cx, "sub", vec![x, x2])?;
            let p = at(cx, "mul", vec![y, d])?;
            let n = at(cx, "rsub", vec![p, f(margin)])?;
            (at(cx, "clamp", vec![n, f(0.0), PyValue::None])?, 4)
        }
        _ => return Err(Stop::Fatal(format!("aten::{op}: is not supported"))),
    };
    match arg(op, a.int(red_at, "reduction", Some(1)))? {
        0 => Ok(loss),
        1 => at(cx, "mean", vec![loss]),
        2 => at(cx, "sum", vec![loss]),
        r => arg(op, Err(format!("reduction {r} is not one of 0, 1, 2"))),
    }
}
