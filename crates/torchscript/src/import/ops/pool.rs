//! Pooling: max_pool1d/2d/3d → MaxPool (kernel, stride (empty = kernel), padding,
//! dilation, ceil_mode); avg_pool1d/2d/3d → AveragePool (count_include_pad; a
//! divisor_override is reported); adaptive_avg_pool*/adaptive_max_pool* with output size 1
//! → GlobalAveragePool / GlobalMaxPool (other output sizes are reported).

use modelc_ir::{Attr, Attrs, OnnxOp};

use super::super::args::Args;
use super::super::builder::attrs;
use super::super::eval::{Cx, Ev, Stop};
use super::super::value::V;
use super::{arg, operand};

fn spatial(op: &str) -> usize {
    if op.ends_with("1d") {
        1
    } else if op.ends_with("3d") {
        3
    } else {
        2
    }
}

fn expand(v: Vec<i64>, n: usize) -> Vec<i64> {
    if v.len() == 1 {
        vec![v[0]; n]
    } else {
        v
    }
}

pub fn call(cx: &mut Cx, op: &str, a: &Args) -> Option<Ev<V>> {
    let max = matches!(op, "max_pool1d" | "max_pool2d" | "max_pool3d");
    let avg = matches!(op, "avg_pool1d" | "avg_pool2d" | "avg_pool3d");
    let adaptive = op.starts_with("adaptive_avg_pool") || op.starts_with("adaptive_max_pool");
    if !(max || avg || adaptive) {
        return None;
    }
    Some((|| -> Ev<V> {
        let x = arg(op, operand(cx, a.get(0, "self").unwrap_or(&V::None), None))?;
        let n = spatial(op);
        if adaptive {
            let out = arg(op, a.ints(1, "output_size", None))?;
            if out.iter().any(|&o| o != 1) {
                return Err(Stop::Fatal(format!(
                    "aten::{op}: output size {out:?} is not supported (only 1)"
                )));
            }
            let onnx = if op.contains("avg") {
                OnnxOp::GlobalAveragePool
            } else {
                OnnxOp::GlobalMaxPool
            };
            let v = cx.b.op(onnx, &[x.v], Attrs::default());
            return Ok(V::Tensor(x.with(v)));
        }
        let kernel = expand(arg(op, a.ints(1, "kernel_size", None))?, n);
        let stride = arg(op, a.ints(2, "stride", Some(&[])))?;
        let stride = if stride.is_empty() {
            kernel.clone()
        } else {
            expand(stride, n)
        };
        let pad = expand(arg(op, a.ints(3, "padding", Some(&[0])))?, n);
        let pads: Vec<i64> = pad.iter().chain(&pad).copied().collect();
        let v = if max {
            let dil = expand(arg(op, a.ints(4, "dilation", Some(&[1])))?, n);
            let ceil = arg(op, a.bool(5, "ceil_mode", false))?;
            cx.b.op(
                OnnxOp::MaxPool,
                &[x.v],
                attrs(vec![
                    ("kernel_shape", Attr::Ints(kernel)),
                    ("strides", Attr::Ints(stride)),
                    ("pads", Attr::Ints(pads)),
                    ("dilations", Attr::Ints(dil)),
                    ("ceil_mode", Attr::Int(ceil as i64)),
                ]),
            )
        } else {
            let ceil = arg(op, a.bool(4, "ceil_mode", false))?;
            let include = arg(op, a.bool(5, "count_include_pad", true))?;
            if a.some(6, "divisor_override").is_some() {
                return Err(Stop::Fatal(format!(
                    "aten::{op}: divisor_override is not supported"
                )));
            }
            cx.b.op(
                OnnxOp::AveragePool,
                &[x.v],
                attrs(vec![
                    ("kernel_shape", Attr::Ints(kernel)),
                    ("strides", Attr::Ints(stride)),
                    ("pads", Attr::Ints(pads)),
                    ("ceil_mode", Attr::Int(ceil as i64)),
                    ("count_include_pad", Attr::Int(include as i64)),
                ]),
            )
        };
        Ok(V::Tensor(x.with(v)))
    })())
}
