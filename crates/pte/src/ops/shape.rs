//! Reshape, Flatten, Squeeze, Unsqueeze → `aten::view_copy.out` to the inferred static
//! size; Transpose → `permute_copy.out`; Concat → `cat.out` of a tensor list.

use modelc_ir::ValueRef;

use super::{attr_int, attr_ints, axis};
use crate::lower::{Lower, Refusal};

pub(super) fn view(cx: &mut Lower) -> Result<(), Refusal> {
    let od = cx.dims(ValueRef::new(cx.node, 0))?;
    let x = cx.input(0)?;
    let out = cx.output(0)?;
    super::gemm::view_into(cx, x, &od, out);
    Ok(())
}

pub(super) fn transpose(cx: &mut Lower) -> Result<(), Refusal> {
    let rank = cx.dims(cx.input_ref(0)?)?.len();
    let perm = attr_ints(cx, "perm").unwrap_or_else(|| (0..rank as i64).rev().collect());
    let x = cx.input(0)?;
    let out = cx.output(0)?;
    let perm = cx.p.ints(perm);
    cx.p.call("aten::permute_copy", "out", &[x, perm], &[out]);
    Ok(())
}

pub(super) fn concat(cx: &mut Lower) -> Result<(), Refusal> {
    let rank = cx.dims(ValueRef::new(cx.node, 0))?.len();
    let dim = axis(attr_int(cx, "axis")?, rank)?;
    let n = cx.g.node(cx.node).num_inputs;
    let items = (0..n).map(|i| cx.input(i)).collect::<Result<Vec<_>, _>>()?;
    let list = cx.p.tensors(items);
    let out = cx.output(0)?;
    let dim = cx.p.int(dim);
    cx.p.call("aten::cat", "out", &[list, dim], &[out]);
    Ok(())
}
