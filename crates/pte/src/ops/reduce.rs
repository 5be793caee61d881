//! Reductions: ReduceMean → `aten::mean.out`, ReduceSum → `sum.IntList_out`, ReduceMax /
//! ReduceMin → `amax.out` / `amin.out`, ArgMax / ArgMin → `argmax.out` / `argmin.out`,
//! CumSum → `cumsum.out`, ReduceLogSumExp as `amax`, `sub`, `exp`, `sum`, `log`, `add` (no
//! logsumexp kernel; the maximum subtracted first, as onnxruntime computes it). Axes come
//! from the attribute (older opsets) or a constant input.

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
    let keep_flag = keep;
    let reduced = axes.clone();
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
        OnnxOp::ReduceLogSumExp => log_sum_exp(cx, x, (dims, &reduced), keep_flag, out)?,
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

/// log(sum(exp(x - m))) + m with m the maximum over the reduced axes (kept as size 1 to
/// broadcast), into `out`.
fn log_sum_exp(
    cx: &mut Lower,
    x: usize,
    (dims, reduced): (usize, &[i64]),
    keep: bool,
    out: usize,
) -> Result<(), Refusal> {
    let xd = cx.dims(cx.input_ref(0)?)?;
    let od = cx.dims(ValueRef::new(cx.node, 0))?;
    let dtype = cx.dtype(ValueRef::new(cx.node, 0))?;
    if !dtype.is_float() {
        return Err(format!("{dtype} ReduceLogSumExp"));
    }
    let kept: Vec<u64> = xd
        .iter()
        .enumerate()
        .map(|(i, &d)| if reduced.contains(&(i as i64)) { 1 } else { d })
        .collect();
    let t = cx.p.bool(true);
    let m = cx.temp(dtype, kept.clone());
    cx.p.call("aten::amax", "out", &[x, dims, t], &[m]);
    let d = cx.temp(dtype, xd.clone());
    let one = cx.p.int(1);
    cx.p.call("aten::sub", "out", &[x, m, one], &[d]);
    let e = cx.temp(dtype, xd);
    cx.p.call("aten::exp", "out", &[d], &[e]);
    let s = cx.temp(dtype, kept.clone());
    let null = cx.p.null();
    cx.p.call("aten::sum", "IntList_out", &[e, dims, t, null], &[s]);
    let l = cx.temp(dtype, kept.clone());
    cx.p.call("aten::log", "out", &[s], &[l]);
    if keep {
        cx.p.call("aten::add", "out", &[l, m, one], &[out]);
    } else {
        let r = cx.temp(dtype, kept);
        cx.p.call("aten::add", "out", &[l, m, one], &[r]);
        super::gemm::view_into(cx, r, &od, out);
    }
    Ok(())
}
