//! Compression beyond quantization: the transforms behind `modelc compress`.
//!
//! - [`budget`]: per-layer choices among them under one accuracy bound;
//! - [`downstream`]: a model cut at a layer, so a change there is measured by running only
//!   what follows it, from activations computed once;
//! - [`lowrank`]: a MatMul / Gemm / Conv weight replaced by the two factors of its truncated
//!   SVD when they are smaller;
//! - [`prune`]: whole output channels removed, and the removal carried through every layer
//!   that reads them, so the result is an ordinary smaller model;
//! - [`sparsity`]: individual weights zeroed by magnitude (2:4, 1×B blocks, unstructured) for
//!   sparse storage (TFLite's `SparsityParameters`) and sparse kernels;
//! - [`weights`]: one layer's weight stored int8 or int4 behind a DequantizeLinear.

pub mod budget;
pub mod downstream;
pub mod lowrank;
pub mod prune;
pub mod sparsity;
pub mod weights;
