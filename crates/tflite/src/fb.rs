//! The flatbuffers code generated from `schemas/tflite.fbs` (`cargo xtask codegen`): the
//! TFLite schema as Rust types, for tools and tests that build or inspect `.tflite` files.

#[rustfmt::skip]
#[allow(
    clippy::all,
    clippy::pedantic,
    unused_imports,
    dead_code,
    non_camel_case_types,
    non_snake_case,
    deprecated,
    mismatched_lifetime_syntaxes,
    unsafe_op_in_unsafe_fn,
    unsafe_code
)]
#[path = "generated/tflite_generated.rs"]
mod generated;

pub use generated::tflite::*;
