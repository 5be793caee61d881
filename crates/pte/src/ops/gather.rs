//! Gather → `aten::select_copy.int_out` for one constant index (the rank drops), otherwise
//! `aten::index_select.out` on the indices flattened to 1-D, reshaped after
//! (`view_copy.out`) to `data[:axis] + indices.shape + data[axis+1:]`. Constant negative
//! indices are made positive in the file; computed ones must be non-negative (the portable
//! kernel does not wrap them).

use modelc_ir::{DType, Tensor, ValueRef};

use super::gemm::{view, view_into};
use super::{attr_int, axis};
use crate::lower::{Lower, Refusal};

pub(super) fn lower(cx: &mut Lower) -> Result<(), Refusal> {
    let dd = cx.dims(cx.input_ref(0)?)?;
    let id = cx.dims(cx.input_ref(1)?)?;
    let od = cx.dims(ValueRef::new(cx.node, 0))?;
    let dtype = cx.dtype(ValueRef::new(cx.node, 0))?;
    if dd.is_empty() {
        return Err("Gather from a rank-0 tensor".into());
    }
    let dim = axis(attr_int(cx, "axis")?, dd.len())?;
    let len = dd[dim as usize] as i64;
    let consts = cx.const_input(1).and_then(modelc_ir::infer::tensor_ints);
    let x = cx.input(0)?;
    if let (Some(&c), true) = (consts.as_ref().and_then(|c| c.first()), id.is_empty()) {
        let index = if c < 0 { c + len } else { c };
        let out = cx.output(0)?;
        let (d, i) = (cx.p.int(dim), cx.p.int(index));
        cx.p.call("aten::select_copy", "int_out", &[x, d, i], &[out]);
        return Ok(());
    }
    let n: u64 = id.iter().product();
    let idx = match consts {
        Some(c) => {
            let fixed: Vec<i64> = c.iter().map(|&i| if i < 0 { i + len } else { i }).collect();
            let t = Tensor::from_i64(vec![n], &fixed).map_err(|e| e.to_string())?;
            cx.constant(&t)?
        }
        None => {
            let it = cx.dtype(cx.input_ref(1)?)?;
            if !matches!(it, DType::I64 | DType::I32) {
                return Err(format!("{it} indices"));
            }
            let i = cx.input(1)?;
            if id.len() == 1 {
                i
            } else {
                view(cx, i, it, vec![n])
            }
        }
    };
    let out = cx.output(0)?;
    let mut flat = dd.clone();
    flat[dim as usize] = n;
    let d = cx.p.int(dim);
    if flat == od {
        cx.p.call("aten::index_select", "out", &[x, d, idx], &[out]);
    } else {
        let tmp = cx.temp(dtype, flat);
        cx.p.call("aten::index_select", "out", &[x, d, idx], &[tmp]);
        view_into(cx, tmp, &od, out);
    }
    Ok(())
}
