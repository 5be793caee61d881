//! LayerNormalization → `aten::native_layer_norm.out(input, normalized_shape, weight?,
//! bias?, eps, *, out0, out1, out2)`; InstanceNormalization → `aten::native_group_norm.out`
//! with one group per channel. Mean and rstd go to temporaries.

use modelc_ir::{DType, ValueRef};

use super::{attr_float, attr_int, axis};
use crate::lower::{Lower, Refusal};

pub(super) fn layer_norm(cx: &mut Lower) -> Result<(), Refusal> {
    let dims = cx.dims(cx.input_ref(0)?)?;
    let rank = dims.len();
    let first = axis(attr_int(cx, "axis")?, rank)? as usize;
    let eps = attr_float(cx, "epsilon")?;
    let node = cx.g.node(cx.node);
    if node.outputs.iter().skip(1).any(|v| !v.is_absent()) {
        return Err("LayerNormalization's Mean / InvStdDev outputs are read".into());
    }
    let dtype = cx.dtype(ValueRef::new(cx.node, 0))?;
    if dtype != DType::F32 {
        return Err(format!("{dtype} LayerNormalization (float32 only)"));
    }
    let x = cx.input(0)?;
    let w = cx.input(1)?;
    let b = if cx.has_input(2) {
        cx.input(2)?
    } else {
        cx.p.null()
    };
    let out = cx.output(0)?;
    let stat: Vec<u64> = dims
        .iter()
        .enumerate()
        .map(|(i, &d)| if i < first { d } else { 1 })
        .collect();
    let mean = cx.temp(dtype, stat.clone());
    let rstd = cx.temp(dtype, stat);
    let shape = cx.p.ints(dims[first..].iter().map(|&d| d as i64).collect());
    let eps = cx.p.double(f64::from(eps));
    cx.p.call(
        "aten::native_layer_norm",
        "out",
        &[x, shape, w, b, eps],
        &[out, mean, rstd],
    );
    Ok(())
}

pub(super) fn instance_norm(cx: &mut Lower) -> Result<(), Refusal> {
    let dims = cx.dims(cx.input_ref(0)?)?;
    if dims.len() < 3 {
        return Err(format!("InstanceNormalization of rank {}", dims.len()));
    }
    let eps = attr_float(cx, "epsilon").unwrap_or(1e-5);
    let dtype = cx.dtype(ValueRef::new(cx.node, 0))?;
    if dtype != DType::F32 {
        return Err(format!("{dtype} InstanceNormalization (float32 only)"));
    }
    let (n, c) = (dims[0], dims[1]);
    let hw: u64 = dims[2..].iter().product();
    let x = cx.input(0)?;
    let w = cx.input(1)?;
    let b = cx.input(2)?;
    let out = cx.output(0)?;
    let mean = cx.temp(dtype, vec![n, c]);
    let rstd = cx.temp(dtype, vec![n, c]);
    let (nv, cv, hwv, gv) = (
        cx.p.int(n as i64),
        cx.p.int(c as i64),
        cx.p.int(hw as i64),
        cx.p.int(c as i64),
    );
    let eps = cx.p.double(f64::from(eps));
    cx.p.call(
        "aten::native_group_norm",
        "out",
        &[x, w, b, nv, cv, hwv, gv, eps],
        &[out, mean, rstd],
    );
    Ok(())
}
