//! MAX_POOL_2D and AVERAGE_POOL_2D (Pool2DOptions: padding, stride_w/h,
//! filter_width/height, fused activation) → `MaxPool` / `AveragePool` with `layout = NHWC`.
//! TFLite's SAME average pool divides by the number of real pixels, which is ONNX's
//! default `count_include_pad = 0`.

use modelc_ir::{Attr, OnnxOp};

use super::conv::auto_pad;
use super::{Ctx, OpIn};
use crate::fb::BuiltinOperator;
use crate::TfliteError;

pub(crate) fn pool_2d(cx: &mut Ctx, op: &OpIn) -> Result<bool, TfliteError> {
    let o = op
        .raw
        .builtin_options_as_pool_2_doptions()
        .ok_or_else(|| TfliteError::invalid(op.label(), "has no options"))?;
    let x = cx.req(op, 0)?;
    let kind = if op.code == BuiltinOperator::MAX_POOL_2D {
        OnnxOp::MaxPool
    } else {
        OnnxOp::AveragePool
    };
    let attrs = vec![
        ("auto_pad", auto_pad(o.padding())),
        (
            "kernel_shape",
            Attr::Ints(vec![o.filter_height() as i64, o.filter_width() as i64]),
        ),
        (
            "strides",
            Attr::Ints(vec![o.stride_h() as i64, o.stride_w() as i64]),
        ),
    ];
    let y = cx.op_nhwc(kind, &[Some(x)], attrs);
    let y = cx.activation(y, o.fused_activation_function(), op)?;
    cx.define(cx.out_tensor(op, 0)?, y)?;
    Ok(true)
}
