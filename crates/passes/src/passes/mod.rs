//! The built-in passes, one per file.

pub mod cse;
pub mod dce;
pub mod decompose;
pub mod fold;
pub mod fold_if;
pub mod fuse_attention;
pub mod fuse_bias;
pub mod fuse_conv_bn;
pub mod fuse_gelu;
pub mod fuse_gemm;
pub mod fuse_layernorm;
pub mod identity;
pub mod infer_shapes;
pub mod layout;
pub mod noop;
pub mod quantize_bias;
pub mod reshape_merge;
pub mod slice_concat;
pub mod transpose;
