//! Pooling: MaxPool 2-D → `aten::max_pool2d_with_indices.out` (the indices into a
//! temporary), AveragePool 2-D → `aten::avg_pool2d.out`, GlobalAveragePool →
//! `aten::mean.out` over the spatial axes, keeping them.

use modelc_ir::{DType, OnnxOp};

use super::conv::{spatial_pads, split_pads};
use super::{attr_int, attr_ints};
use crate::lower::{Lower, Refusal};

pub(super) fn lower(cx: &mut Lower, op: OnnxOp) -> Result<(), Refusal> {
    let dims = cx.dims(cx.input_ref(0)?)?;
    let n = dims.len().saturating_sub(2);
    if op == OnnxOp::GlobalAveragePool {
        let x = cx.input(0)?;
        let out = cx.output(0)?;
        let axes = cx.p.ints((2..dims.len() as i64).collect());
        let keep = cx.p.bool(true);
        let dtype = cx.p.null();
        cx.p.call("aten::mean", "out", &[x, axes, keep, dtype], &[out]);
        return Ok(());
    }
    if n != 2 {
        return Err(format!(
            "{}-D {} (the portable kernels pool 2-D)",
            n,
            op.name()
        ));
    }
    if cx.g.node(cx.node).outputs.len() > 1 && !cx.g.node(cx.node).outputs[1].is_absent() {
        return Err("MaxPool's Indices output (ONNX and aten number them differently)".into());
    }
    let kernel = attr_ints(cx, "kernel_shape").ok_or("no kernel_shape")?;
    let strides = attr_ints(cx, "strides").unwrap_or_else(|| vec![1; n]);
    if kernel.len() != n || strides.len() != n {
        return Err(format!(
            "kernel_shape / strides not one per spatial axis ({n})"
        ));
    }
    let pads = spatial_pads(cx, n)?;
    let (sym, extra) = split_pads(&pads, n);
    if extra.iter().any(|&p| p != 0) {
        return Err(format!("asymmetric pads {pads:?}"));
    }
    let ceil = attr_int(cx, "ceil_mode")? != 0;
    let x = cx.input(0)?;
    let out = cx.output(0)?;
    let out_dims = cx.dims(modelc_ir::ValueRef::new(cx.node, 0))?;
    let kernel = cx.p.ints(kernel);
    let stride = cx.p.ints(strides);
    let padding = cx.p.ints(sym);
    let ceil = cx.p.bool(ceil);
    if op == OnnxOp::MaxPool {
        let dilation =
            cx.p.ints(attr_ints(cx, "dilations").unwrap_or_else(|| vec![1; n]));
        let indices = cx.temp(DType::I64, out_dims);
        cx.p.call(
            "aten::max_pool2d_with_indices",
            "out",
            &[x, kernel, stride, padding, dilation, ceil],
            &[out, indices],
        );
    } else {
        let count_pad = cx.p.bool(attr_int(cx, "count_include_pad")? != 0);
        let divisor = cx.p.null();
        cx.p.call(
            "aten::avg_pool2d",
            "out",
            &[x, kernel, stride, padding, ceil, count_pad, divisor],
            &[out],
        );
    }
    Ok(())
}
