//! modelc-tflite's integration tests, one module per file, in one test binary (a binary per
//! file linked the whole dependency tree again each time, ~70 MB apiece, and filled a CI disk).

mod arg_int32;
mod codegen_fresh;
mod control;
mod dynamic;
mod export_1d;
mod export_validity;
mod hand_built;
mod lstm;
mod mutations;
mod read_write;
mod rsqrt;
mod shipped;
mod sparse_export;
mod table;
