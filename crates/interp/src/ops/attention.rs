//! Kernels: the attention family — Attention (opset 23/24/25), RotaryEmbedding (23),
//! SwiGLU (28), LinearAttention (27) and `ai.onnx.preview.FlexAttention` (1). Batched
//! matrix products use the `gemm` crate; f16/bf16 compute in f32 and round back
//! at the points the ONNX reference implementation rounds (see `common.rs`).

use modelc_ir::OnnxOp;

use super::Kernel;

mod common;
mod flex;
mod linear;
mod rotary;
mod sdpa;
mod swiglu;
#[cfg(test)]
mod tests;

pub fn lookup(op: OnnxOp) -> Option<Kernel> {
    Some(match op {
        OnnxOp::Attention => sdpa::attention,
        OnnxOp::RotaryEmbedding => rotary::rotary_embedding,
        OnnxOp::SwiGLU => swiglu::swiglu,
        OnnxOp::LinearAttention => linear::linear_attention,
        OnnxOp::PreviewFlexAttention => flex::flex_attention,
        _ => return None,
    })
}
