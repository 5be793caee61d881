//! Reductions: ReduceMean → `aten::mean.out`, ReduceSum → `sum.IntList_out`, ReduceMax /
//! ReduceMin → `amax.out` / `amin.out`, ArgMax / ArgMin → `argmax.out` / `argmin.out`,
//! CumSum → `cumsum.out`. Axes come from the attribute (older opsets) or a constant input.

use modelc_ir::{OnnxOp, ValueRef};

use super::{attr_int, attr_ints, axis};
use crate::lower::{Lower, Refusal};

pub(super) fn reduce(cx: &mut Lower, op: OnnxOp) -> Result<(), Refusal> {
    let rank = cx.dims(cx.input_ref(0)?)?.len();
    let axes = match attr_ints(cx, "axes") {
        Some(a) => Some(a),
        None if cx.has_input(1) => Some(
            cx.const_ints(1)
                .ok_or("axes that are not a constant (sizes are planned ahead)")?,
        ),
        None => None,
    };
    let keep = attr_int(cx, "keepdims").unwrap_or(1) != 0;
    let noop_empty = attr_int(cx, "noop_with_empty_axes").unwrap_or(0) != 0;
    let axes: Vec<i64> = match axes {
        // A scalar's only axis (0 or -1): the empty list reduces it whole.
        Some(a) if rank == 0 && a.iter().all(|&a| a == 0 || a == -1) => Vec::new(),
        Some(a) if !a.is_empty() => a
            .into_iter()
            .map(|a| axis(a, rank))
            .collect::<Result<_, _>>()?,
        _ if noop_empty => return Err("noop_with_empty_axes".into()),
        _ => (0..rank as i64).collect(),
    };
    let x = cx.input(0)?;
    let out = cx.output(0)?;
    let dims = cx.p.ints(axes);
    let keep = cx.p.bool(keep);
    match op {
        OnnxOp::ReduceMean | OnnxOp::ReduceSum => {
            let dtype = cx.p.null();
            let (name, overload) = if op == OnnxOp::ReduceMean {
                ("aten::mean", "out")
            } else {
                ("aten::sum", "IntList_out")
            };
            cx.p.call(name, overload, &[x, dims, keep, dtype], &[out]);
        }
        OnnxOp::ReduceMax => cx.p.call("aten::amax", "out", &[x, dims, keep], &[out]),
        OnnxOp::ReduceMin => cx.p.call("aten::amin", "out", &[x, dims, keep], &[out]),
        _ => return Err(format!("{} is not a reduction", op.name())),
    }
    Ok(())
}

pub(super) fn arg(cx: &mut Lower, op: OnnxOp) -> Result<(), Refusal> {
    let rank = cx.dims(cx.input_ref(0)?)?.len();
    if attr_int(cx, "select_last_index").unwrap_or(0) != 0 {
        return Err("select_last_index=1 (aten picks the first)".into());
    }
    let a = attr_int(cx, "axis").unwrap_or(0);
    // A scalar's only axis (0 or -1): no dim, the whole (one-element) tensor.
    let dim = if rank == 0 && (a == 0 || a == -1) {
        None
    } else {
        Some(axis(a, rank)?)
    };
    let keep = attr_int(cx, "keepdims").unwrap_or(1) != 0;
    let x = cx.input(0)?;
    let out = cx.output(0)?;
    let dim = match dim {
        Some(d) => cx.p.int(d),
        None => cx.p.null(),
    };
    let keep = cx.p.bool(keep);
    let name = if op == OnnxOp::ArgMax {
        "aten::argmax"
    } else {
        "aten::argmin"
    };
    cx.p.call(name, "out", &[x, dim, keep], &[out]);
    Ok(())
}

pub(super) fn cumsum(cx: &mut Lower) -> Result<(), Refusal> {
    if attr_int(cx, "exclusive").unwrap_or(0) != 0 || attr_int(cx, "reverse").unwrap_or(0) != 0 {
        return Err("exclusive or reverse CumSum".into());
    }
    let rank = cx.dims(ValueRef::new(cx.node, 0))?.len();
    let a = cx
        .const_ints(1)
        .and_then(|a| a.first().copied())
        .ok_or("an axis that is not a constant")?;
    let dim = axis(a, rank)?;
    let x = cx.input(0)?;
    let out = cx.output(0)?;
    let dim = cx.p.int(dim);
    let dtype = cx.p.null();
    cx.p.call("aten::cumsum", "out", &[x, dim, dtype], &[out]);
    Ok(())
}
