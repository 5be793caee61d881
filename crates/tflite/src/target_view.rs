//! A `.tflite` file as a hardware target sees it ([`TargetGraph`]): one node per operator of
//! the main subgraph, named by its builtin (`CONV_2D`) and its first output tensor, with the
//! tensors' element types, shapes (`shape_signature` where given), quantization and
//! constness, and the options the target rules test (strides, dilation, kernel, padding,
//! axes). It reads the flatbuffer the way the importer does (same verification, same tensor
//! decoding), so `modelc check` judges exactly the operators Vela or TFLite Micro will see.

use bytes::Bytes;
use modelc_ir::DType;
use modelc_passes::target::{Params, QuantView, TargetGraph, TargetNode, TensorView};

use crate::fb::{self, BuiltinOperator as B};
use crate::import::{Ctx, OpIn};
use crate::TfliteError;

/// The operators of the main subgraph of the TFLite file in `bytes`.
pub fn target_graph(bytes: Bytes) -> Result<TargetGraph, TfliteError> {
    let model = crate::read::verify(&bytes)?;
    let sg = model
        .subgraphs()
        .filter(|s| !s.is_empty())
        .ok_or_else(|| TfliteError::invalid("model", "has no subgraphs"))?
        .get(0);
    let mut cx = Ctx::new(model, sg, &bytes)?;
    let mut nodes = Vec::new();
    for (i, raw) in sg.operators().into_iter().flatten().enumerate() {
        let op = cx.operator(i, raw)?;
        nodes.push(node(&cx, &op));
    }
    Ok(TargetGraph { nodes })
}

fn node(cx: &Ctx<'_>, op: &OpIn<'_>) -> TargetNode {
    let tensor = |t: usize| {
        let info = cx.info(t);
        TensorView {
            name: info.name.clone(),
            dtype: info.dtype,
            shape: info.shape.clone(),
            is_const: info.data.is_some() && !info.is_variable,
            quant: info.quant.as_ref().map(|q| QuantView {
                scales: q.scale.clone(),
                zero_points: q.zero_point.clone(),
            }),
        }
    };
    let inputs: Vec<Option<TensorView>> = op.inputs.iter().map(|t| t.map(tensor)).collect();
    let outputs: Vec<TensorView> = op.outputs.iter().map(|&t| tensor(t)).collect();
    let name = outputs
        .first()
        .map(|t| t.name.clone())
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| format!("op{}", op.index));
    let opname = match &op.custom_code {
        Some(c) => format!("CUSTOM:{c}"),
        None => op.code.variant_name().unwrap_or("UNKNOWN").to_string(),
    };
    TargetNode {
        name,
        op: opname,
        params: params(cx, op, &inputs),
        inputs,
        outputs,
    }
}

/// Integer values of a small constant tensor (axes, permutations).
fn const_ints(cx: &Ctx<'_>, t: Option<usize>) -> Option<Vec<i64>> {
    let info = cx.info(t?);
    let data = info.data.as_ref()?;
    match info.dtype {
        DType::I32 => Some(
            data.chunks_exact(4)
                .map(|c| i64::from(i32::from_le_bytes([c[0], c[1], c[2], c[3]])))
                .collect(),
        ),
        DType::I64 => Some(
            data.chunks_exact(8)
                .map(|c| i64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
                .collect(),
        ),
        _ => None,
    }
}

fn params(cx: &Ctx<'_>, op: &OpIn<'_>, inputs: &[Option<TensorView>]) -> Params {
    let raw = op.raw;
    let valid = |p: fb::Padding| Some(p == fb::Padding::VALID);
    // Kernel (height, width) of an OHWI / 1HWC weight tensor.
    let weight_hw = |i: usize| {
        inputs
            .get(i)
            .and_then(Option::as_ref)
            .filter(|w| w.shape.len() == 4)
            .map(|w| [w.shape[1], w.shape[2]])
    };
    let rank0 = inputs
        .first()
        .and_then(Option::as_ref)
        .map_or(0, |x| x.shape.len() as i64);
    let norm = |axes: Vec<i64>| -> Vec<i64> {
        axes.into_iter()
            .map(|a| if a < 0 { a + rank0 } else { a })
            .collect()
    };
    let mut p = Params::default();
    match op.code {
        B::CONV_2D => {
            if let Some(o) = raw.builtin_options_as_conv_2_doptions() {
                p.stride = Some([o.stride_h().into(), o.stride_w().into()]);
                p.dilation = Some([o.dilation_h_factor().into(), o.dilation_w_factor().into()]);
                p.padding_valid = valid(o.padding());
            }
            p.kernel = weight_hw(1);
        }
        B::DEPTHWISE_CONV_2D => {
            if let Some(o) = raw.builtin_options_as_depthwise_conv_2_doptions() {
                p.stride = Some([o.stride_h().into(), o.stride_w().into()]);
                p.dilation = Some([o.dilation_h_factor().into(), o.dilation_w_factor().into()]);
                p.padding_valid = valid(o.padding());
                p.depth_multiplier = Some(o.depth_multiplier().into());
            }
            p.kernel = weight_hw(1);
        }
        B::STRIDED_SLICE => {
            if let Some(o) = raw.builtin_options_as_strided_slice_options() {
                for (flag, set) in [
                    ("ellipsis_mask", o.ellipsis_mask()),
                    ("new_axis_mask", o.new_axis_mask()),
                    ("shrink_axis_mask", o.shrink_axis_mask()),
                ] {
                    if set != 0 {
                        p.options.push(flag.to_string());
                    }
                }
            }
        }
        B::MIRROR_PAD => {
            let mode = raw
                .builtin_options_as_mirror_pad_options()
                .map(|o| o.mode());
            if mode == Some(fb::MirrorPadMode::SYMMETRIC) {
                p.options.push("mode SYMMETRIC".to_string());
            }
        }
        B::TRANSPOSE_CONV => {
            if let Some(o) = raw.builtin_options_as_transpose_conv_options() {
                p.stride = Some([o.stride_h().into(), o.stride_w().into()]);
                p.padding_valid = valid(o.padding());
            }
            p.kernel = weight_hw(1);
        }
        B::AVERAGE_POOL_2D | B::MAX_POOL_2D | B::L2_POOL_2D => {
            if let Some(o) = raw.builtin_options_as_pool_2_doptions() {
                p.stride = Some([o.stride_h().into(), o.stride_w().into()]);
                p.kernel = Some([o.filter_height().into(), o.filter_width().into()]);
                p.padding_valid = valid(o.padding());
            }
        }
        B::MEAN
        | B::SUM
        | B::REDUCE_MAX
        | B::REDUCE_MIN
        | B::REDUCE_PROD
        | B::ARG_MAX
        | B::ARG_MIN => {
            p.axes = const_ints(cx, op.inputs.get(1).copied().flatten()).map(norm);
        }
        B::CONCATENATION => {
            if let Some(o) = raw.builtin_options_as_concatenation_options() {
                p.axes = Some(norm(vec![o.axis().into()]));
            }
        }
        B::SOFTMAX => p.axes = Some(vec![rank0 - 1]),
        _ => {}
    }
    p
}
