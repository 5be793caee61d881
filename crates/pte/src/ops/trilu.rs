//! Trilu (lower) → `aten::tril.out` with the constant diagonal `k`. The upper form has no
//! kernel: `aten::triu.out` is not in the pinned runtime's portable library.

use super::attr_int;
use crate::lower::{Lower, Refusal};

pub(super) fn lower(cx: &mut Lower) -> Result<(), Refusal> {
    if attr_int(cx, "upper").unwrap_or(1) != 0 {
        return Err(
            "upper Trilu: aten::triu.out is not registered in ExecuTorch's portable kernels".into(),
        );
    }
    let k = if cx.has_input(1) {
        cx.const_ints(1)
            .and_then(|k| k.first().copied())
            .ok_or("a diagonal that is not a constant")?
    } else {
        0
    };
    let x = cx.input(0)?;
    let out = cx.output(0)?;
    let k = cx.p.int(k);
    cx.p.call("aten::tril", "out", &[x, k], &[out]);
    Ok(())
}
