//! The `modelc` command's integration tests, one module per file, in one test binary (a binary
//! per file linked the whole workspace again each time, ~70 MB apiece, and filled a CI disk).

mod check_cli;
mod check_onnx_cli;
mod cli;
mod compress_cli;
mod fuse_models;
mod infer_shapes_onnx;
mod library;
mod pte_cli;
mod quant_cli;
mod roundtrip;
mod seeing;
mod tflite_mediapipe_pool;
