//! Activations without a one-to-one IR op (relu, sigmoid, tanh, hardswish, mish,
//! leaky_relu, elu and celu are rows of [`crate::aten`]'s table): relu6/hardtanh (→ Clip),
//! gelu (`approximate` none → Gelu-20 is avoided: erf form; `tanh` → tanh
//! form), silu (x·sigmoid), hardsigmoid, softplus (beta and threshold: Softplus of beta·x
//! over beta, x past the threshold); softmax / log_softmax (`dim`, opset-13 axis semantics
//! match torch); prelu.

use modelc_ir::{Attr, Attrs, OnnxOp};

use super::super::args::Args;
use super::super::builder::attrs;
use super::super::eval::{EvalResult, Evaluator};
use super::super::value::PyValue;
use super::{arg, operand, unary};

pub fn call(cx: &mut Evaluator, op: &str, a: &Args) -> Option<EvalResult<PyValue>> {
    let known = matches!(
        op,
        "relu6"
            | "hardtanh"
            | "gelu"
            | "silu"
            | "hardsigmoid"
            | "softplus"
            | "softmax"
            | "log_softmax"
            | "prelu"
    );
    if !known || !matches!(a.get(0, "self"), Some(PyValue::Tensor(_))) {
        return None;
    }
    Some((|| -> EvalResult<PyValue> {
        let x = arg(
            op,
            operand(cx, a.get(0, "self").unwrap_or(&PyValue::None), None),
        )?;
        Ok(match op {
            // torch: relu6(x + 3) / 6, i.e. alpha 1/6, beta 0.5.
            "hardsigmoid" => unary(
                cx,
                OnnxOp::HardSigmoid,
                x,
                vec![
                    ("alpha", Attr::Float(1.0 / 6.0)),
                    ("beta", Attr::Float(0.5)),
                ],
            ),
            "softplus" => {
                let beta = arg(op, a.f64(1, "beta", Some(1.0)))?;
                let threshold = arg(op, a.f64(2, "threshold", Some(20.0)))?;
                // torch: x where beta·x > threshold, else log(1 + exp(beta·x)) / beta. At
                // the defaults the linear branch differs from Softplus by < 3e-9.
                if beta == 1.0 && threshold >= 20.0 {
                    return Ok(unary(cx, OnnxOp::Softplus, x, vec![]));
                }
                if !x.dtype.is_float() {
                    return arg(op, Err(format!("{} input", x.dtype)));
                }
                let b = cx.b.scalar(x.dtype, beta);
                let bx = cx.b.op(OnnxOp::Mul, &[x.v, b], Attrs::default());
                let sp = cx.b.op(OnnxOp::Softplus, &[bx], Attrs::default());
                let curve = cx.b.op(OnnxOp::Div, &[sp, b], Attrs::default());
                let t = cx.b.scalar(x.dtype, threshold);
                let linear = cx.b.op(OnnxOp::Greater, &[bx, t], Attrs::default());
                let v =
                    cx.b.op(OnnxOp::Where, &[linear, x.v, curve], Attrs::default());
                PyValue::Tensor(x.with(v))
            }
            "relu6" | "hardtanh" => {
                let (lo, hi) = if op == "relu6" {
                    (0.0, 6.0)
                } else {
                    (
                        arg(op, a.f64(1, "min_val", Some(-1.0)))?,
                        arg(op, a.f64(2, "max_val", Some(1.0)))?,
                    )
                };
                let l = cx.b.scalar(x.dtype, lo);
                let h = cx.b.scalar(x.dtype, hi);
                let v = cx.b.op(OnnxOp::Clip, &[x.v, l, h], Attrs::default());
                PyValue::Tensor(x.with(v))
            }
            "silu" => {
                let s = cx.b.op(OnnxOp::Sigmoid, &[x.v], Attrs::default());
                let v = cx.b.op(OnnxOp::Mul, &[x.v, s], Attrs::default());
                PyValue::Tensor(x.with(v))
            }
            "gelu" => {
                let approx = arg(op, a.str(1, "approximate", "none"))?;
                gelu(cx, x, &approx)
            }
            "prelu" => {
                let w = arg(
                    op,
                    operand(cx, a.get(1, "weight").unwrap_or(&PyValue::None), None),
                )?;
                // torch's weight is per channel (dim 1); ONNX broadcasts from the right.
                // (A 0-d weight is one slope for every channel: it broadcasts as it is.)
                let w = match x.rank {
                    Some(r) if r > 2 && w.rank != Some(0) => {
                        let axes: Vec<i64> = (1..r as i64 - 1).collect();
                        let ax = cx.b.ints(&axes);
                        cx.b.op(OnnxOp::Unsqueeze, &[w.v, ax], Attrs::default())
                    }
                    _ => w.v,
                };
                let v = cx.b.op(OnnxOp::PRelu, &[x.v, w], Attrs::default());
                PyValue::Tensor(x.with(v))
            }
            _ => {
                let dim = arg(op, a.int(1, "dim", None))?;
                let onnx = if op == "softmax" {
                    OnnxOp::Softmax
                } else {
                    OnnxOp::LogSoftmax
                };
                let v = cx.b.op(onnx, &[x.v], attrs(vec![("axis", Attr::Int(dim))]));
                PyValue::Tensor(x.with(v))
            }
        })
    })())
}

/// GELU in elementary ops (valid at every opset): erf form, or the tanh approximation.
fn gelu(cx: &mut Evaluator, x: super::super::value::TensorRef, approx: &str) -> PyValue {
    let half = cx.b.scalar(x.dtype, 0.5);
    let one = cx.b.scalar(x.dtype, 1.0);
    let inner = if approx == "tanh" {
        // 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))
        let c = cx.b.scalar(x.dtype, 0.044715);
        let k = cx.b.scalar(x.dtype, (2.0 / std::f64::consts::PI).sqrt());
        let three = cx.b.scalar(x.dtype, 3.0);
        let x3 = cx.b.op(OnnxOp::Pow, &[x.v, three], Attrs::default());
        let cx3 = cx.b.op(OnnxOp::Mul, &[x3, c], Attrs::default());
        let s = cx.b.op(OnnxOp::Add, &[x.v, cx3], Attrs::default());
        let ks = cx.b.op(OnnxOp::Mul, &[s, k], Attrs::default());
        cx.b.op(OnnxOp::Tanh, &[ks], Attrs::default())
    } else {
        // 0.5·x·(1 + erf(x/√2))
        let r2 = cx.b.scalar(x.dtype, std::f64::consts::SQRT_2);
        let d = cx.b.op(OnnxOp::Div, &[x.v, r2], Attrs::default());
        cx.b.op(OnnxOp::Erf, &[d], Attrs::default())
    };
    let p = cx.b.op(OnnxOp::Add, &[inner, one], Attrs::default());
    let xm = cx.b.op(OnnxOp::Mul, &[x.v, p], Attrs::default());
    let v = cx.b.op(OnnxOp::Mul, &[xm, half], Attrs::default());
    PyValue::Tensor(x.with(v))
}
