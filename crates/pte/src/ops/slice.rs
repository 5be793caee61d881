//! Slice with constant starts / ends / axes / steps → one `aten::slice_copy.Tensor_out` per
//! sliced axis (chained through temporaries); a negative step flips the axis first
//! (`aten::flip.out`: aten's slice steps forward only) and slices the mirrored range. Split → one `slice_copy` per output, Tile → `aten::repeat.out`.

use modelc_ir::ValueRef;

use super::axis;
use crate::lower::{Lower, Refusal};

pub(super) fn lower(cx: &mut Lower) -> Result<(), Refusal> {
    let dims = cx.dims(cx.input_ref(0)?)?;
    let dtype = cx.dtype(ValueRef::new(cx.node, 0))?;
    let rank = dims.len();
    let ints = |cx: &Lower, slot: usize, what: &str| -> Result<Option<Vec<i64>>, Refusal> {
        if !cx.has_input(slot) {
            return Ok(None);
        }
        cx.const_ints(slot)
            .map(Some)
            .ok_or_else(|| format!("{what} that are not constants"))
    };
    let (starts, ends) = match (ints(cx, 1, "starts")?, ints(cx, 2, "ends")?) {
        (Some(s), Some(e)) => (s, e),
        _ => {
            return Err("Slice before opset 10 (attributes)".into());
        }
    };
    let axes = ints(cx, 3, "axes")?.unwrap_or_else(|| (0..starts.len() as i64).collect());
    let steps = ints(cx, 4, "steps")?.unwrap_or_else(|| vec![1; starts.len()]);
    if starts.len() != ends.len() || axes.len() != starts.len() || steps.len() != starts.len() {
        return Err("starts / ends / axes / steps of different lengths".into());
    }
    if steps.contains(&0) {
        return Err("a step of 0".into());
    }
    let mut x = cx.input(0)?;
    let mut cur = dims.clone();
    let n = axes.len();
    let out = cx.output(0)?;
    for i in 0..n {
        let d = axis(axes[i], rank)? as usize;
        let len = cur[d] as i64;
        let wrap = |v: i64| if v < 0 { v + len } else { v };
        let (s, e, step) = if steps[i] > 0 || len == 0 {
            (
                wrap(starts[i]).clamp(0, len),
                wrap(ends[i]).clamp(0, len),
                steps[i].abs(),
            )
        } else {
            // Backwards from s down to (not including) e is forwards from len-1-s to len-1-e
            // on the flipped axis.
            let s = wrap(starts[i]).clamp(0, len - 1);
            let e = wrap(ends[i]).clamp(-1, len - 1);
            let flipped = cx.temp(dtype, cur.clone());
            let dv = cx.p.ints(vec![d as i64]);
            cx.p.call("aten::flip", "out", &[x, dv], &[flipped]);
            x = flipped;
            (len - 1 - s, len - 1 - e, -steps[i])
        };
        let count = if e > s { (e - s + step - 1) / step } else { 0 };
        cur[d] = count as u64;
        let dst = if i + 1 == n {
            out
        } else {
            cx.temp(dtype, cur.clone())
        };
        let (dv, sv, ev, stv) = (
            cx.p.int(d as i64),
            cx.p.int(s),
            cx.p.int(e.max(s)),
            cx.p.int(step),
        );
        cx.p.call(
            "aten::slice_copy",
            "Tensor_out",
            &[x, dv, sv, ev, stv],
            &[dst],
        );
        x = dst;
    }
    if n == 0 {
        let memory_format = cx.p.null();
        cx.p.call("aten::clone", "out", &[x, memory_format], &[out]);
    }
    Ok(())
}

pub(super) fn split(cx: &mut Lower) -> Result<(), Refusal> {
    let dims = cx.dims(cx.input_ref(0)?)?;
    let dim = axis(super::attr_int(cx, "axis").unwrap_or(0), dims.len())?;
    let n = cx.g.node(cx.node).outputs.len();
    let x = cx.input(0)?;
    let mut start = 0i64;
    for slot in 0..n {
        let size = cx.dims(ValueRef::new(cx.node, slot))?[dim as usize] as i64;
        if cx.g.node(cx.node).outputs[slot].is_absent() {
            start += size;
            continue;
        }
        let out = cx.output(slot)?;
        let (dv, sv, ev, stv) = (
            cx.p.int(dim),
            cx.p.int(start),
            cx.p.int(start + size),
            cx.p.int(1),
        );
        cx.p.call(
            "aten::slice_copy",
            "Tensor_out",
            &[x, dv, sv, ev, stv],
            &[out],
        );
        start += size;
    }
    Ok(())
}

pub(super) fn tile(cx: &mut Lower) -> Result<(), Refusal> {
    let repeats = cx.const_ints(1).ok_or("repeats that are not a constant")?;
    let x = cx.input(0)?;
    let out = cx.output(0)?;
    let repeats = cx.p.ints(repeats);
    cx.p.call("aten::repeat", "out", &[x, repeats], &[out]);
    Ok(())
}
