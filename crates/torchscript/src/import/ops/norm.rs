//! Normalization: batch_norm (inference: running statistics) → BatchNormalization;
//! layer_norm → LayerNormalization (opset 17, axis = −len(normalized_shape)); group_norm
//! and instance_norm are reported. Missing affine weight/bias become ones/zeros.

use modelc_ir::{Attr, OnnxOp, Tensor};

use super::super::args::Args;
use super::super::builder::attrs;
use super::super::eval::{Cx, Ev, Stop};
use super::super::value::{T, V};
use super::{arg, const_dims, operand};

fn filled(cx: &mut Cx, like: T, value: f32) -> Result<T, String> {
    let dims = const_dims(cx, like).ok_or("needs constant statistics")?;
    let n = dims.iter().product::<u64>() as usize;
    let t = Tensor::from_f32(dims, &vec![value; n]).map_err(|e| e.to_string())?;
    let v = cx.b.constant("", t);
    Ok(T::new(v, like.rank, like.dtype))
}

pub fn call(cx: &mut Cx, op: &str, a: &Args) -> Option<Ev<V>> {
    match op {
        "batch_norm" => Some((|| -> Ev<V> {
            let x = arg(op, operand(cx, a.get(0, "input").unwrap_or(&V::None), None))?;
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
            if arg(op, a.bool(5, "training", false))? {
                return Err(Stop::Fatal(
                    "aten::batch_norm: training mode is not supported".into(),
                ));
            }
            let eps = arg(op, a.f64(7, "eps", Some(1e-5)))?;
            let v = cx.b.op(
                OnnxOp::BatchNormalization,
                &[x.v, w.v, b.v, mean.v, var.v],
                attrs(vec![("epsilon", Attr::Float(eps as f32))]),
            );
            Ok(V::Tensor(x.with(v)))
        })()),
        "layer_norm" => Some((|| -> Ev<V> {
            let x = arg(op, operand(cx, a.get(0, "input").unwrap_or(&V::None), None))?;
            let shape = arg(op, a.ints(1, "normalized_shape", None))?;
            let eps = arg(op, a.f64(4, "eps", Some(1e-5)))?;
            let w = match arg(op, a.opt_t(2, "weight"))? {
                Some(w) => w,
                None => {
                    let n = shape.iter().product::<i64>().max(0) as usize;
                    let t =
                        Tensor::from_f32(shape.iter().map(|&d| d as u64).collect(), &vec![1.0; n])
                            .map_err(|e| Stop::Fatal(e.to_string()))?;
                    T::new(cx.b.constant("", t), Some(shape.len()), x.dtype)
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
            Ok(V::Tensor(x.with(v)))
        })()),
        _ => None,
    }
}
