//! Matrix products: linear (x·Wᵀ + b; Gemm when x is 2-D, else MatMul + Add), addmm
//! (β·bias + α·a·b → Gemm), matmul / mm / bmm → MatMul, baddbmm (β·input + α·b1·b2),
//! addbmm (β·input + α·Σ_b b1[b]·b2[b]: the batch of products summed).

use modelc_ir::{Attr, Attrs, OnnxOp};

use super::super::args::Args;
use super::super::builder::attrs;
use super::super::eval::{EvalResult, Evaluator};
use super::super::value::{PyValue, TensorRef};
use super::{arg, operand};

fn transpose2(cx: &mut Evaluator, w: TensorRef) -> modelc_ir::ValueRef {
    cx.b.op(
        OnnxOp::Transpose,
        &[w.v],
        attrs(vec![("perm", Attr::Ints(vec![1, 0]))]),
    )
}

fn scaled(
    cx: &mut Evaluator,
    v: modelc_ir::ValueRef,
    k: f64,
    like: TensorRef,
) -> modelc_ir::ValueRef {
    if k == 1.0 {
        return v;
    }
    let s = cx.b.scalar(like.dtype, k);
    cx.b.op(OnnxOp::Mul, &[v, s], Attrs::default())
}

pub fn call(cx: &mut Evaluator, op: &str, a: &Args) -> Option<EvalResult<PyValue>> {
    if !matches!(
        op,
        "linear" | "addmm" | "matmul" | "mm" | "bmm" | "baddbmm" | "addbmm"
    ) {
        return None;
    }
    Some((|| -> EvalResult<PyValue> {
        Ok(match op {
            "linear" => {
                let x = arg(
                    op,
                    operand(cx, a.get(0, "input").unwrap_or(&PyValue::None), None),
                )?;
                let w = arg(op, a.t(1, "weight"))?;
                let b = arg(op, a.opt_t(2, "bias"))?;
                if x.rank == Some(2) {
                    let v = cx.b.node(
                        OnnxOp::Gemm,
                        &[Some(x.v), Some(w.v), b.map(|b| b.v)],
                        attrs(vec![("transB", Attr::Int(1))]),
                        1,
                    )[0];
                    PyValue::Tensor(x.with(v))
                } else {
                    let wt = transpose2(cx, w);
                    let mut v = cx.b.op(OnnxOp::MatMul, &[x.v, wt], Attrs::default());
                    if let Some(b) = b {
                        v = cx.b.op(OnnxOp::Add, &[v, b.v], Attrs::default());
                    }
                    PyValue::Tensor(x.with(v))
                }
            }
            "addmm" => {
                let c = arg(op, a.t(0, "self"))?;
                let m1 = arg(op, a.t(1, "mat1"))?;
                let m2 = arg(op, a.t(2, "mat2"))?;
                let beta = arg(op, a.f64(3, "beta", Some(1.0)))?;
                let alpha = arg(op, a.f64(4, "alpha", Some(1.0)))?;
                let v = cx.b.op(
                    OnnxOp::Gemm,
                    &[m1.v, m2.v, c.v],
                    attrs(vec![
                        ("alpha", Attr::Float(alpha as f32)),
                        ("beta", Attr::Float(beta as f32)),
                    ]),
                );
                PyValue::Tensor(TensorRef::new(v, Some(2), m1.dtype))
            }
            "baddbmm" | "addbmm" => {
                let c = arg(op, a.t(0, "self"))?;
                let b1 = arg(op, a.t(1, "batch1"))?;
                let b2 = arg(op, a.t(2, "batch2"))?;
                let beta = arg(op, a.f64(3, "beta", Some(1.0)))?;
                let alpha = arg(op, a.f64(4, "alpha", Some(1.0)))?;
                let mut p = cx.b.op(OnnxOp::MatMul, &[b1.v, b2.v], Attrs::default());
                if op == "addbmm" {
                    let axes = cx.b.ints(&[0]);
                    p = cx.b.op(
                        OnnxOp::ReduceSum,
                        &[p, axes],
                        attrs(vec![("keepdims", Attr::Int(0))]),
                    );
                }
                let p = scaled(cx, p, alpha, b1);
                let v = if beta == 0.0 {
                    p
                } else {
                    let cc = scaled(cx, c.v, beta, c);
                    cx.b.op(OnnxOp::Add, &[cc, p], Attrs::default())
                };
                let rank = if op == "addbmm" { 2 } else { 3 };
                PyValue::Tensor(TensorRef::new(v, Some(rank), b1.dtype))
            }
            _ => {
                let x = arg(
                    op,
                    operand(cx, a.get(0, "self").unwrap_or(&PyValue::None), None),
                )?;
                let y = arg(
                    op,
                    operand(cx, a.get(1, "other").unwrap_or(&PyValue::None), None),
                )?;
                let v = cx.b.op(OnnxOp::MatMul, &[x.v, y.v], Attrs::default());
                let rank = match (x.rank, y.rank) {
                    (Some(1), Some(1)) => Some(0),
                    (Some(1), Some(r)) | (Some(r), Some(1)) => Some(r - 1),
                    (Some(p), Some(q)) => Some(p.max(q)),
                    _ => None,
                };
                PyValue::Tensor(TensorRef::new(v, rank, x.dtype))
            }
        })
    })())
}
