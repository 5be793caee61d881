//! Softmax / LogSoftmax over one axis → `aten::_softmax.out` / `_log_softmax.out(self, dim,
//! half_to_float=false, *, out)`.
//! (Before opset 13 Softmax normalizes over all trailing axes: the writer's
//! `decompose-legacy-softmax` pass has made that one axis and written it out.)

use modelc_ir::ValueRef;

use super::{attr_int, axis};
use crate::lower::{Lower, Refusal};

pub(super) fn lower(cx: &mut Lower, log: bool) -> Result<(), Refusal> {
    let rank = cx.dims(ValueRef::new(cx.node, 0))?.len();
    let dim = axis(
        // Absent: opset ≥ 13 (earlier ones have it written by the pass), default -1.
        attr_int(cx, "axis").unwrap_or(-1),
        rank,
    )?;
    let x = cx.input(0)?;
    let out = cx.output(0)?;
    let dim = cx.p.int(dim);
    let half = cx.p.bool(false);
    let name = if log {
        "aten::_log_softmax"
    } else {
        "aten::_softmax"
    };
    cx.p.call(name, "out", &[x, dim, half], &[out]);
    Ok(())
}
