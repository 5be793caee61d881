//! TopK with a constant `k` → `aten::topk.values`, when only its values are read: among
//! equal values ONNX orders the lowest index first, and ExecuTorch's portable topk does not
//! (a sort of 8000 random floats swapped the indices of a tie), so read indices are refused.

use modelc_ir::ValueRef;

use super::{attr_int, axis};
use crate::lower::{Lower, Refusal};

pub(super) fn lower(cx: &mut Lower) -> Result<(), Refusal> {
    let rank = cx.dims(cx.input_ref(0)?)?.len();
    let dim = axis(attr_int(cx, "axis").unwrap_or(-1), rank)?;
    let k = cx
        .const_ints(1)
        .and_then(|k| k.first().copied())
        .ok_or("a k that is not a constant (sizes are planned ahead)")?;
    let largest = attr_int(cx, "largest").unwrap_or(1) != 0;
    let sorted = attr_int(cx, "sorted").unwrap_or(1) != 0;
    let node = cx.g.node(cx.node);
    if node.outputs.get(1).is_some_and(|v| !v.is_absent())
        && (!cx.g.users(ValueRef::new(cx.node, 1)).is_empty()
            || cx.g.outputs().contains(&ValueRef::new(cx.node, 1)))
    {
        return Err(
            "TopK's indices are read: the portable topk orders equal values differently from ONNX (lowest index first)"
                .into(),
        );
    }
    let x = cx.input(0)?;
    let values = cx.output(0)?;
    let indices = cx.output(1)?;
    let (k, d, l, s) = (
        cx.p.int(k),
        cx.p.int(dim),
        cx.p.bool(largest),
        cx.p.bool(sorted),
    );
    cx.p.call("aten::topk", "values", &[x, k, d, l, s], &[values, indices]);
    Ok(())
}
