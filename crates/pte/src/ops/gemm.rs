//! Gemm → `aten::addmm.out` (or `mm.out` without C); MatMul → `mm.out` / `bmm.out`, with
//! `view_copy.out` folding leading batch axes into one (the forms exir decomposes matmul
//! into). A transposed constant operand is transposed in the file; a computed one by
//! `permute_copy.out`.

use bytes::Bytes;
use modelc_ir::{Tensor, TensorData, ValueRef};

use super::{attr_float, attr_int};
use crate::lower::{Lower, Refusal};

pub(super) fn gemm(cx: &mut Lower) -> Result<(), Refusal> {
    let alpha = attr_float(cx, "alpha")?;
    let beta = attr_float(cx, "beta")?;
    let a = operand(cx, 0, attr_int(cx, "transA")? != 0)?;
    let b = operand(cx, 1, attr_int(cx, "transB")? != 0)?;
    let out = cx.output(0)?;
    if cx.has_input(2) {
        let c = cx.input(2)?;
        let beta = cx.p.double(f64::from(beta));
        let alpha = cx.p.double(f64::from(alpha));
        cx.p.call("aten::addmm", "out", &[c, a, b, beta, alpha], &[out]);
    } else {
        if alpha != 1.0 {
            return Err(format!("Gemm without C and alpha {alpha}"));
        }
        cx.p.call("aten::mm", "out", &[a, b], &[out]);
    }
    Ok(())
}

/// Gemm operand `slot` as a tensor EValue, transposed when `trans`.
fn operand(cx: &mut Lower, slot: usize, trans: bool) -> Result<usize, Refusal> {
    if !trans {
        return cx.input(slot);
    }
    if let Some(t) = cx.const_input(slot).cloned() {
        let t = transpose_2d(&t).ok_or("a transposed Gemm operand that is not a 2-D tensor")?;
        return cx.constant(&t);
    }
    let x = cx.input(slot)?;
    let src = cx.p.tensor(x).cloned().ok_or("operand is not a tensor")?;
    if src.sizes.len() != 2 {
        return Err("a transposed Gemm operand that is not 2-D".into());
    }
    let tmp = cx.temp(src.dtype, vec![src.sizes[1], src.sizes[0]]);
    let perm = cx.p.ints(vec![1, 0]);
    cx.p.call("aten::permute_copy", "out", &[x, perm], &[tmp]);
    Ok(tmp)
}

/// A 2-D constant's transpose, element bytes moved as they are.
fn transpose_2d(t: &Tensor) -> Option<Tensor> {
    let [r, c] = t.dims[..] else {
        return None;
    };
    let TensorData::Raw(bytes) = &t.data else {
        return None;
    };
    let size = (t.dtype.bits() / 8) as usize;
    if size == 0 {
        return None;
    }
    let (r, c) = (r as usize, c as usize);
    let mut out = vec![0u8; bytes.len()];
    for i in 0..r {
        for j in 0..c {
            let src = (i * c + j) * size;
            let dst = (j * r + i) * size;
            out[dst..dst + size].copy_from_slice(bytes.get(src..src + size)?);
        }
    }
    Tensor::from_raw(t.dtype, vec![c as u64, r as u64], Bytes::from(out)).ok()
}

pub(super) fn matmul(cx: &mut Lower) -> Result<(), Refusal> {
    let ad = cx.dims(cx.input_ref(0)?)?;
    let bd = cx.dims(cx.input_ref(1)?)?;
    let od = cx.dims(ValueRef::new(cx.node, 0))?;
    let dtype = cx.dtype(ValueRef::new(cx.node, 0))?;
    if ad.is_empty() || bd.is_empty() {
        return Err("MatMul of a scalar".into());
    }
    // A 1-D operand is a row [1, K] (left) or a column [K, 1] (right); the output's shape
    // (without that axis) is written through a view.
    let (a1, b1) = (ad.len() == 1, bd.len() == 1);
    let ad = if a1 { vec![1, ad[0]] } else { ad };
    let bd = if b1 { vec![bd[0], 1] } else { bd };
    let (ra, rb) = (ad.len(), bd.len());
    let mut a = cx.input(0)?;
    let mut b = cx.input(1)?;
    if a1 {
        a = view(cx, a, dtype, ad.clone());
    }
    if b1 {
        b = view(cx, b, dtype, bd.clone());
    }
    let out = cx.output(0)?;
    if ra == 2 && rb == 2 {
        if a1 || b1 {
            let o2 = cx.temp(dtype, vec![ad[0], bd[1]]);
            cx.p.call("aten::mm", "out", &[a, b], &[o2]);
            view_into(cx, o2, &od, out);
        } else {
            cx.p.call("aten::mm", "out", &[a, b], &[out]);
        }
        return Ok(());
    }
    let prod = |d: &[u64]| d.iter().product::<u64>();
    if rb == 2 {
        // [..., M, K] x [K, N]: rows of all batches at once.
        let rows = prod(&ad[..ra - 1]);
        let a2 = view(cx, a, dtype, vec![rows, ad[ra - 1]]);
        let o2 = cx.temp(dtype, vec![rows, bd[1]]);
        cx.p.call("aten::mm", "out", &[a2, b], &[o2]);
        view_into(cx, o2, &od, out);
        return Ok(());
    }
    if ad[..ra - 2] != bd[..rb - 2] {
        return Err(format!(
            "MatMul broadcasting batch axes {:?} x {:?}",
            &ad[..ra - 2],
            &bd[..rb - 2]
        ));
    }
    let batch = prod(&ad[..ra - 2]);
    let (m, k, n) = (ad[ra - 2], ad[ra - 1], bd[rb - 1]);
    if ra == 3 {
        cx.p.call("aten::bmm", "out", &[a, b], &[out]);
        return Ok(());
    }
    let a3 = view(cx, a, dtype, vec![batch, m, k]);
    let b3 = view(cx, b, dtype, vec![batch, k, n]);
    let o3 = cx.temp(dtype, vec![batch, m, n]);
    cx.p.call("aten::bmm", "out", &[a3, b3], &[o3]);
    view_into(cx, o3, &od, out);
    Ok(())
}

/// `x` reshaped to `sizes` into a temporary (`view_copy.out`).
pub(super) fn view(cx: &mut Lower, x: usize, dtype: modelc_ir::DType, sizes: Vec<u64>) -> usize {
    let tmp = cx.temp(dtype, sizes.clone());
    view_into(cx, x, &sizes, tmp);
    tmp
}

/// `x` reshaped to `sizes` into `out` (`view_copy.out`).
pub(super) fn view_into(cx: &mut Lower, x: usize, sizes: &[u64], out: usize) {
    let size = cx.p.ints(sizes.iter().map(|&d| d as i64).collect());
    cx.p.call("aten::view_copy", "out", &[x, size], &[out]);
}
