//! Reductions: mean / sum / amax / amin (dims, keepdim) → ReduceMean / ReduceSum /
//! ReduceMax / ReduceMin with axes as an input (opset 18); any / all on bool tensors;
//! numel (ReduceProd of the shape).

use modelc_ir::{Attr, Attrs, DType, OnnxOp};

use super::super::args::Args;
use super::super::builder::attrs;
use super::super::eval::{Cx, Ev};
use super::super::value::{T, V};
use super::{arg, operand};

pub fn call(cx: &mut Cx, op: &str, a: &Args) -> Option<Ev<V>> {
    if !matches!(
        op,
        "mean" | "sum" | "amax" | "amin" | "numel" | "any" | "all" | "prod"
    ) {
        return None;
    }
    if !matches!(a.get(0, "self"), Some(V::Tensor(_))) {
        return None;
    }
    Some((|| -> Ev<V> {
        let x = arg(op, operand(cx, a.get(0, "self").unwrap_or(&V::None), None))?;
        if op == "numel" {
            let s = cx.b.op(OnnxOp::Shape, &[x.v], Attrs::default());
            let v = cx.b.op(
                OnnxOp::ReduceProd,
                &[s],
                attrs(vec![("keepdims", Attr::Int(0))]),
            );
            return Ok(V::SymInt(v));
        }
        let dims = match a.some(1, "dim") {
            Some(d) => d.as_ints(),
            None => None,
        };
        let keep = arg(op, a.bool(2, "keepdim", false))?;
        let (x, onnx) = match op {
            "mean" => (x, OnnxOp::ReduceMean),
            "sum" => (x, OnnxOp::ReduceSum),
            "amax" => (x, OnnxOp::ReduceMax),
            "amin" => (x, OnnxOp::ReduceMin),
            "prod" => (x, OnnxOp::ReduceProd),
            // any/all on bools: max/min over 0/1 values.
            _ => {
                let c = cx.b.cast(x.v, DType::F32);
                (
                    T::new(c, x.rank, DType::F32),
                    if op == "any" {
                        OnnxOp::ReduceMax
                    } else {
                        OnnxOp::ReduceMin
                    },
                )
            }
        };
        let mut ins = vec![Some(x.v)];
        if let Some(d) = &dims {
            ins.push(Some(cx.b.ints(d)));
        }
        let v = cx.b.node(
            onnx,
            &ins,
            attrs(vec![("keepdims", Attr::Int(keep as i64))]),
            1,
        )[0];
        let rank = match (&dims, keep) {
            (_, true) => x.rank,
            (Some(d), false) => x.rank.map(|r| r.saturating_sub(d.len())),
            (None, false) => Some(0),
        };
        let (v, dtype) = if op == "any" || op == "all" {
            (cx.b.cast(v, DType::Bool), DType::Bool)
        } else {
            (v, x.dtype)
        };
        Ok(V::Tensor(T::new(v, rank, dtype)))
    })())
}
