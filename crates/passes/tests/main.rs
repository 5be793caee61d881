//! The pass tests, one module per pass, in one test binary: a binary per file linked the
//! whole workspace ~20 times over (~70 MB each), which filled a CI disk. The tests use
//! `modelc_passes::testing`, the helper users test their own passes with.

mod cleanup;
mod compress_budget;
mod compress_downstream;
mod compress_lowrank;
mod compress_prune;
mod compress_sparsity;
mod cse;
mod decompose;
mod fold;
mod fp16_weights;
mod fuse_attention;
mod fuse_bias;
mod fuse_conv_bn;
mod fuse_gelu;
mod fuse_gemm;
mod fuse_layernorm;
mod infer_shapes;
mod int64_to_int32;
mod layout;
mod layout_cnn;
mod layout_coverage;
mod noop;
mod opset;
mod quant;
mod quant_coverage;
mod quantize_bias;
mod quantize_io;
mod reshape_merge;
mod slice_concat;
mod target_onnx;
mod targets_edgetpu;
mod testing;
mod transpose;
