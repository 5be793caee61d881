//! Cast → `aten::_to_copy.out` (the out tensor's type is the cast's), Identity →
//! `aten::clone.out`, Expand → `aten::expand_copy.out` to the inferred size, Where →
//! `aten::where.self_out`.

use modelc_ir::ValueRef;

use crate::lower::{Lower, Refusal};

pub(super) fn cast(cx: &mut Lower) -> Result<(), Refusal> {
    let x = cx.input(0)?;
    let out = cx.output(0)?;
    let non_blocking = cx.p.bool(false);
    let memory_format = cx.p.null();
    cx.p.call(
        "aten::_to_copy",
        "out",
        &[x, non_blocking, memory_format],
        &[out],
    );
    Ok(())
}

pub(super) fn identity(cx: &mut Lower) -> Result<(), Refusal> {
    let x = cx.input(0)?;
    let out = cx.output(0)?;
    let memory_format = cx.p.null();
    cx.p.call("aten::clone", "out", &[x, memory_format], &[out]);
    Ok(())
}

pub(super) fn expand(cx: &mut Lower) -> Result<(), Refusal> {
    let od = cx.dims(ValueRef::new(cx.node, 0))?;
    let x = cx.input(0)?;
    let out = cx.output(0)?;
    let size = cx.p.ints(od.iter().map(|&d| d as i64).collect());
    let implicit = cx.p.bool(false);
    cx.p.call("aten::expand_copy", "out", &[x, size, implicit], &[out]);
    Ok(())
}

pub(super) fn where_(cx: &mut Lower) -> Result<(), Refusal> {
    let c = cx.input(0)?;
    let a = cx.input(1)?;
    let b = cx.input(2)?;
    let out = cx.output(0)?;
    cx.p.call("aten::where", "self_out", &[c, a, b], &[out]);
    Ok(())
}
