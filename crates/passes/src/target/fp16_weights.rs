//! `fp16-weights`: the float32 weights of Conv, ConvTranspose, Gemm and MatMul stored in
//! float16 and widened back to float32 where they are read (`Cast`), compute staying float32.
//! The TFLite writer turns the pair into a float16 buffer and a DEQUANTIZE operator, the form
//! TensorFlow's converter writes for float16 quantization (`target_spec.supported_types =
//! [tf.float16]`), which the GPU delegate loads as its fp16 weights: the file is about half the
//! size. Run by `convert --fp16` (with `--target tflite-gpu`, say).
//!
//! Only a constant every reader of which takes it as its weight (input 1) changes: a constant
//! also read elsewhere (a shared scale, a Clip bound) stays float32, and so do scalars and
//! grouped (depthwise) filters.

use modelc_ir::{Builder, DType, Graph, NodeId, OnnxOp, Op, ValueRef};

use crate::quant::float16::to_half;
use crate::{Changed, Pass, PassContext, PassError};

pub struct Fp16Weights;

impl Pass for Fp16Weights {
    fn name(&self) -> &'static str {
        "fp16-weights"
    }

    fn description(&self) -> &'static str {
        "float16 storage for Conv/ConvTranspose/Gemm/MatMul weights, widened by a Cast (TFLite: \
         float16 buffer + DEQUANTIZE, as TensorFlow's float16 quantization); run by convert --fp16"
    }

    fn run(&self, g: &mut Graph, cx: &mut PassContext) -> Result<Changed, PassError> {
        let weights: Vec<NodeId> = g.node_ids().filter(|&id| is_weight(g, id)).collect();
        let (mut before, mut after) = (0u64, 0u64);
        let mut b = Builder::new(g);
        for id in &weights {
            let Op::Const(t) = &b.node(*id).op else {
                continue;
            };
            let Some(half) = to_half(t, DType::F16) else {
                continue;
            };
            before += t.byte_len();
            after += half.byte_len();
            let name = b.node(*id).outputs[0].name.clone();
            let h = b.constant(&format!("{name}_f16"), half);
            let wide = b
                .op(OnnxOp::Cast, &[h])
                .int("to", DType::F32.onnx_code() as i64)
                .out(name)
                .value();
            b.replace_node(*id, wide);
        }
        if weights.is_empty() {
            return Ok(Changed::No);
        }
        cx.notes.push(format!(
            "{} weight tensor(s) stored as float16: {before} -> {after} bytes",
            weights.len()
        ));
        Ok(Changed::Yes)
    }
}

/// A float32 constant of two or more elements that every reader takes as its weight.
fn is_weight(g: &Graph, id: NodeId) -> bool {
    let Op::Const(t) = &g.node(id).op else {
        return false;
    };
    if t.dtype != DType::F32 || t.dims.iter().product::<u64>() < 2 {
        return false;
    }
    let users = g.users(ValueRef::new(id, 0));
    let is_output = g.outputs().iter().any(|o| o.node == id);
    !users.is_empty()
        && !is_output
        && users.iter().all(|&(u, slot)| {
            let n = g.node(u);
            slot == 1
                && matches!(
                    n.op,
                    Op::Onnx(OnnxOp::Conv | OnnxOp::ConvTranspose | OnnxOp::Gemm | OnnxOp::MatMul)
                )
                // Grouped (depthwise) filters stay float32: the TFLite writer re-lays them out
                // as constants only, and they are a small part of a model's weights.
                && n.attrs.int("group", 1).unwrap_or(1) == 1
        })
}
