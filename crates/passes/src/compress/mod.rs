//! Compression beyond quantization: the transforms behind `modelc compress`.
//!
//! - [`lowrank`]: a MatMul / Gemm / Conv weight replaced by the two factors of its truncated
//!   SVD when they are smaller;

pub mod lowrank;
