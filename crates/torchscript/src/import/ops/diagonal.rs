//! `diagonal(self, offset=0, dim1=0, dim2=1)` (a Core ATen op; `diagonal_copy` is it
//! through layout.rs): the two dims moved last (Transpose), flattened into one, and the
//! diagonal's flat positions `(r0 + i)·m + (c0 + i)` gathered — torch appends the diagonal
//! as the last dim. Needs the two dims' sizes at import time (the positions are constants).

use modelc_ir::{Attr, Attrs, OnnxOp};

use super::super::args::Args;
use super::super::builder::attrs;
use super::super::eval::{EvalResult, Evaluator, Stop};
use super::super::value::{PyValue, TensorRef};
use super::{arg, axis, need_rank};

pub fn call(cx: &mut Evaluator, op: &str, a: &Args) -> Option<EvalResult<PyValue>> {
    if op != "diagonal" {
        return None;
    }
    let Some(PyValue::Tensor(x)) = a.get(0, "self") else {
        return None;
    };
    let x = *x;
    Some((|| -> EvalResult<PyValue> {
        let rank = need_rank(op, x)?;
        if rank < 2 {
            return Err(Stop::Fatal(format!(
                "aten::{op}: needs at least 2 dims, has {rank}"
            )));
        }
        let offset = arg(op, a.int(1, "offset", Some(0)))?;
        let d1 = arg(
            op,
            axis(op, arg(op, a.int(2, "dim1", Some(0)))?, Some(rank)),
        )?;
        let d2 = arg(
            op,
            axis(op, arg(op, a.int(3, "dim2", Some(1)))?, Some(rank)),
        )?;
        if d1 == d2 {
            return Err(Stop::Fatal(format!(
                "aten::{op}: dim1 and dim2 are both {d1}"
            )));
        }
        let (Some(n), Some(m)) = (cx.b.static_dim(x.v, d1), cx.b.static_dim(x.v, d2)) else {
            return Err(Stop::Fatal(format!(
                "aten::{op}: needs the sizes of dims {d1} and {d2}, which are not known here"
            )));
        };
        let (n, m) = (n as i64, m as i64);
        let (r0, c0) = (0.max(-offset), 0.max(offset));
        let len = (n - r0).min(m - c0).max(0);
        let positions: Vec<i64> = (0..len).map(|i| (r0 + i) * m + (c0 + i)).collect();
        let perm: Vec<i64> = (0..rank as i64)
            .filter(|&d| d != d1 && d != d2)
            .chain([d1, d2])
            .collect();
        let moved = cx.b.op(
            OnnxOp::Transpose,
            &[x.v],
            attrs(vec![("perm", Attr::Ints(perm))]),
        );
        let mut flat_shape = vec![0i64; rank - 2];
        flat_shape.push(n * m);
        let flat_shape = cx.b.ints(&flat_shape);
        let flat =
            cx.b.op(OnnxOp::Reshape, &[moved, flat_shape], Attrs::default());
        let idx = cx.b.ints(&positions);
        let v = cx.b.op(
            OnnxOp::Gather,
            &[flat, idx],
            attrs(vec![("axis", Attr::Int(rank as i64 - 2))]),
        );
        Ok(PyValue::Tensor(TensorRef::new(v, Some(rank - 1), x.dtype)))
    })())
}
