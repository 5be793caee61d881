//! GatherElements → `aten::gather.out`; ScatterElements → `aten::scatter.src_out` (no
//! reduction) or `aten::scatter_add.out` (reduction add). Indices must be int64 (aten's
//! index type); constant negative indices are made positive in the file, computed ones must
//! be non-negative (the portable kernels do not wrap them).

use modelc_ir::{DType, Tensor};

use super::{attr_int, axis};
use crate::lower::{Lower, Refusal};

/// The index tensor at `slot`: a constant with negative entries wrapped by `len`, or the
/// computed int64 input.
fn indices(cx: &mut Lower, slot: usize, len: u64) -> Result<usize, Refusal> {
    if let Some(t) = cx.const_input(slot) {
        let c = modelc_ir::infer::tensor_ints(t).ok_or("indices that are not integers")?;
        let fixed: Vec<i64> = c
            .iter()
            .map(|&i| if i < 0 { i + len as i64 } else { i })
            .collect();
        let t = Tensor::from_i64(t.dims.clone(), &fixed).map_err(|e| e.to_string())?;
        return cx.constant(&t);
    }
    let it = cx.dtype(cx.input_ref(slot)?)?;
    if it != DType::I64 {
        return Err(format!("{it} indices (aten's are int64)"));
    }
    cx.input(slot)
}

pub(super) fn gather(cx: &mut Lower) -> Result<(), Refusal> {
    let dd = cx.dims(cx.input_ref(0)?)?;
    let dim = axis(attr_int(cx, "axis").unwrap_or(0), dd.len())?;
    let len = dd.get(dim as usize).copied().unwrap_or(1);
    let x = cx.input(0)?;
    let idx = indices(cx, 1, len)?;
    let out = cx.output(0)?;
    let d = cx.p.int(dim);
    let sparse = cx.p.bool(false);
    cx.p.call("aten::gather", "out", &[x, d, idx, sparse], &[out]);
    Ok(())
}

pub(super) fn scatter(cx: &mut Lower) -> Result<(), Refusal> {
    let dd = cx.dims(cx.input_ref(0)?)?;
    let dim = axis(attr_int(cx, "axis").unwrap_or(0), dd.len())?;
    let len = dd.get(dim as usize).copied().unwrap_or(1);
    let reduction =
        cx.g.node(cx.node)
            .string("reduction")
            .unwrap_or_else(|_| "none".into());
    let (name, overload) = match reduction.as_str() {
        "none" => ("aten::scatter", "src_out"),
        "add" => ("aten::scatter_add", "out"),
        r => return Err(format!("reduction {r} (none or add only)")),
    };
    let x = cx.input(0)?;
    let idx = indices(cx, 1, len)?;
    let src = cx.input(2)?;
    let out = cx.output(0)?;
    let d = cx.p.int(dim);
    cx.p.call(name, overload, &[x, d, idx, src], &[out]);
    Ok(())
}
