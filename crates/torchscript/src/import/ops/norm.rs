//! Normalization: batch_norm (inference: running statistics; training without running
//! statistics: `training_mode=1`) → BatchNormalization;
//! layer_norm → LayerNormalization (opset 17, axis = −len(normalized_shape)); group_norm →
//! the input reshaped to [N, groups, -1], normalized over the last axis (ReduceMean of the
//! value and of the squared deviation, biased as torch's), reshaped back, then the
//! per-channel affine; instance_norm with input statistics → the same over the spatial axes
//! (with running statistics: BatchNormalization). Missing affine weight/bias become
//! ones/zeros, or are left out.

use modelc_ir::{Attr, Attrs, OnnxOp, Tensor, ValueRef};

use super::super::args::Args;
use super::super::builder::attrs;
use super::super::eval::{EvalResult, Evaluator, Stop};
use super::super::value::{PyValue, TensorRef};
use super::{arg, const_dims, operand};

fn filled(cx: &mut Evaluator, like: TensorRef, value: f32) -> Result<TensorRef, String> {
    let dims = const_dims(cx, like).ok_or("needs constant statistics")?;
    let n = dims.iter().product::<u64>() as usize;
    let t = Tensor::from_f32(dims, &vec![value; n]).map_err(|e| e.to_string())?;
    let v = cx.b.constant("", t);
    Ok(TensorRef::new(v, like.rank, like.dtype))
}

/// `batch_norm` with `training=True` and no running statistics to update (what modelc
/// writes for a training-mode BatchNormalization): the batch's own statistics, as
/// BatchNormalization's `training_mode=1` (whose running-statistics inputs then only feed
/// outputs nothing reads: zeros and ones of the channels' count).
fn batch_norm_training(
    cx: &mut Evaluator,
    op: &str,
    a: &Args,
    x: TensorRef,
) -> EvalResult<PyValue> {
    if a.some(3, "running_mean").is_some() || a.some(4, "running_var").is_some() {
        return Err(Stop::Fatal(
            "aten::batch_norm: training mode updating running statistics is not supported".into(),
        ));
    }
    let w = arg(op, a.t(1, "weight"))?;
    let b = arg(op, a.t(2, "bias"))?;
    let mut stat = |value: f32| -> EvalResult<ValueRef> {
        if let Ok(t) = filled(cx, w, value) {
            return Ok(t.v);
        }
        // A weight computed at run time: statistics of its shape.
        let shape = cx.b.op(OnnxOp::Shape, &[w.v], Attrs::default());
        let fill = Tensor::from_f32(vec![1], &[value]).map_err(|e| Stop::Fatal(e.to_string()))?;
        let m = attrs(vec![("value", Attr::Tensor(fill))]);
        let v = cx.b.op(OnnxOp::ConstantOfShape, &[shape], m);
        Ok(if w.dtype == modelc_ir::DType::F32 {
            v
        } else {
            cx.b.cast(v, w.dtype)
        })
    };
    let mean = stat(0.0)?;
    let var = stat(1.0)?;
    let eps = arg(op, a.f64(7, "eps", Some(1e-5)))?;
    let outs = cx.b.node(
        OnnxOp::BatchNormalization,
        &[Some(x.v), Some(w.v), Some(b.v), Some(mean), Some(var)],
        attrs(vec![
            ("epsilon", Attr::Float(eps as f32)),
            ("training_mode", Attr::Int(1)),
        ]),
        3,
    );
    Ok(PyValue::Tensor(x.with(outs[0])))
}

pub fn call(cx: &mut Evaluator, op: &str, a: &Args) -> Option<EvalResult<PyValue>> {
    match op {
        "batch_norm" => Some((|| -> EvalResult<PyValue> {
            let x = arg(
                op,
                operand(cx, a.get(0, "input").unwrap_or(&PyValue::None), None),
            )?;
            if arg(op, a.bool(5, "training", false))? {
                return batch_norm_training(cx, op, a, x);
            }
            let mean = arg(op, a.t(3, "running_mean"))?;
            let var = arg(op, a.t(4, "running_var"))?;
            let w = match arg(op, a.opt_t(1, "weight"))? {
                Some(w) => w,
                None => arg(op, filled(cx, mean, 1.0))?,
            };
            let b = match arg(op, a.opt_t(2, "bias"))? {
                Some(b) => b,
                None => arg(op, filled(cx, mean, 0.0))?,
            };
            let eps = arg(op, a.f64(7, "eps", Some(1e-5)))?;
            let v = cx.b.op(
                OnnxOp::BatchNormalization,
                &[x.v, w.v, b.v, mean.v, var.v],
                attrs(vec![("epsilon", Attr::Float(eps as f32))]),
            );
            Ok(PyValue::Tensor(x.with(v)))
        })()),
        "layer_norm" => Some((|| -> EvalResult<PyValue> {
            let x = arg(
                op,
                operand(cx, a.get(0, "input").unwrap_or(&PyValue::None), None),
            )?;
            let shape = arg(op, a.ints(1, "normalized_shape", None))?;
            let eps = arg(op, a.f64(4, "eps", Some(1e-5)))?;
            let w = match arg(op, a.opt_t(2, "weight"))? {
                Some(w) => w,
                None => {
                    let n = shape.iter().product::<i64>().max(0) as usize;
                    let t =
                        Tensor::from_f32(shape.iter().map(|&d| d as u64).collect(), &vec![1.0; n])
                            .map_err(|e| Stop::Fatal(e.to_string()))?;
                    TensorRef::new(cx.b.constant("", t), Some(shape.len()), x.dtype)
                }
            };
            let b = arg(op, a.opt_t(3, "bias"))?;
            let v = cx.b.node(
                OnnxOp::LayerNormalization,
                &[Some(x.v), Some(w.v), b.map(|b| b.v)],
                attrs(vec![
                    ("axis", Attr::Int(-(shape.len() as i64))),
                    ("epsilon", Attr::Float(eps as f32)),
                ]),
                1,
            )[0];
            Ok(PyValue::Tensor(x.with(v)))
        })()),
        "group_norm" | "instance_norm" => Some((|| -> EvalResult<PyValue> {
            let x = arg(
                op,
                operand(cx, a.get(0, "input").unwrap_or(&PyValue::None), None),
            )?;
            let Some(rank) = x.rank.filter(|&r| r >= 2) else {
                return arg(op, Err("needs the input's rank (at least 2)".to_string()));
            };
            let (w, b, eps) = if op == "group_norm" {
                (
                    arg(op, a.opt_t(2, "weight"))?,
                    arg(op, a.opt_t(3, "bias"))?,
                    arg(op, a.f64(4, "eps", Some(1e-5)))?,
                )
            } else {
                let w = arg(op, a.opt_t(1, "weight"))?;
                let b = arg(op, a.opt_t(2, "bias"))?;
                let eps = arg(op, a.f64(7, "eps", Some(1e-5)))?;
                if !arg(op, a.bool(5, "use_input_stats", true))? {
                    // Running statistics: a BatchNormalization.
                    let mean = arg(op, a.t(3, "running_mean"))?;
                    let var = arg(op, a.t(4, "running_var"))?;
                    let w = match w {
                        Some(w) => w,
                        None => arg(op, filled(cx, mean, 1.0))?,
                    };
                    let b = match b {
                        Some(b) => b,
                        None => arg(op, filled(cx, mean, 0.0))?,
                    };
                    let v = cx.b.op(
                        OnnxOp::BatchNormalization,
                        &[x.v, w.v, b.v, mean.v, var.v],
                        attrs(vec![("epsilon", Attr::Float(eps as f32))]),
                    );
                    return Ok(PyValue::Tensor(x.with(v)));
                }
                (w, b, eps)
            };
            // The values each mean runs over: [N, groups, -1] for group_norm, the spatial
            // axes for instance_norm.
            let (grouped, axes) = if op == "group_norm" {
                let g = arg(op, a.int(1, "num_groups", None))?;
                let shape = cx.b.ints(&[0, g, -1]);
                let r = cx.b.op(OnnxOp::Reshape, &[x.v, shape], Attrs::default());
                (r, vec![2])
            } else {
                (x.v, (2..rank as i64).collect())
            };
            let axes = cx.b.ints(&axes);
            let keep = || attrs(vec![("keepdims", Attr::Int(1))]);
            let mean = cx.b.op(OnnxOp::ReduceMean, &[grouped, axes], keep());
            let d = cx.b.op(OnnxOp::Sub, &[grouped, mean], Attrs::default());
            let sq = cx.b.op(OnnxOp::Mul, &[d, d], Attrs::default());
            let var = cx.b.op(OnnxOp::ReduceMean, &[sq, axes], keep());
            let e = cx.b.scalar(x.dtype, eps);
            let ve = cx.b.op(OnnxOp::Add, &[var, e], Attrs::default());
            let sd = cx.b.op(OnnxOp::Sqrt, &[ve], Attrs::default());
            let mut y = cx.b.op(OnnxOp::Div, &[d, sd], Attrs::default());
            if op == "group_norm" {
                let shape = cx.b.op(OnnxOp::Shape, &[x.v], Attrs::default());
                y = cx.b.op(OnnxOp::Reshape, &[y, shape], Attrs::default());
            }
            // weight / bias [C] → [C, 1, ..., 1] against [N, C, spatial...].
            let per_channel: Vec<i64> = std::iter::once(-1)
                .chain(std::iter::repeat_n(1, rank - 2))
                .collect();
            for (t, onnx) in [(w, OnnxOp::Mul), (b, OnnxOp::Add)] {
                if let Some(t) = t {
                    let s = cx.b.ints(&per_channel);
                    let c = cx.b.op(OnnxOp::Reshape, &[t.v, s], Attrs::default());
                    y = cx.b.op(onnx, &[y, c], Attrs::default());
                }
            }
            Ok(PyValue::Tensor(x.with(y)))
        })()),
        _ => None,
    }
}
