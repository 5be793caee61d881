//! The flatbuffers code generated from `schemas/executorch/program.fbs` (and the
//! `scalar_type.fbs` it includes; both as the pinned `executorch` package ships them) by
//! `cargo xtask codegen`: ExecuTorch's program schema as Rust types.

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
#[path = "generated/program_generated.rs"]
mod generated;

pub use generated::executorch_flatbuffer::*;
