//! Generates the ONNX protobuf types (`$OUT_DIR/onnx.rs`) from `schemas/onnx.proto`.
//!
//! No `protoc` binary is involved: the schema is parsed by protobuf-parse's
//! pure-Rust parser into a `FileDescriptorSet` (rust-protobuf's types), which is
//! re-encoded and decoded as prost-types' `FileDescriptorSet` and handed to
//! prost-build's code generator.

use std::path::{Path, PathBuf};

fn main() {
    let manifest_dir =
        PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let schemas = manifest_dir.join("../../schemas");
    let schema = schemas.join("onnx.proto");

    println!("cargo:rerun-if-changed={}", schema.display());
    println!("cargo:rerun-if-changed=build.rs");

    // protobuf-parse names files by their path relative to an include dir, so
    // give it canonical paths to make `strip_prefix` work despite the `..`.
    let schemas = canonical(&schemas);
    let schema = canonical(&schema);

    let parsed = protobuf_parse::Parser::new()
        .pure()
        .include(&schemas)
        .input(&schema)
        .file_descriptor_set()
        .unwrap_or_else(|e| panic!("failed to parse {}: {e:?}", schema.display()));

    // rust-protobuf descriptor -> bytes -> prost-types descriptor. Both are the
    // same `google/protobuf/descriptor.proto` message, so the bytes carry over.
    let encoded = protobuf::Message::write_to_bytes(&parsed)
        .expect("failed to serialize the FileDescriptorSet");
    let fds = <prost_types::FileDescriptorSet as prost::Message>::decode(encoded.as_slice())
        .expect("failed to decode the FileDescriptorSet with prost-types");

    let mut config = prost_build::Config::new();
    // Every `bytes` field becomes `bytes::Bytes`: decoding from a `Bytes` that
    // wraps a memory-mapped model then slices tensor raw_data without copying.
    config.bytes(["."]);
    config
        .compile_fds(fds)
        .expect("prost-build failed to generate code for onnx.proto");
}

fn canonical(path: &Path) -> PathBuf {
    path.canonicalize()
        .unwrap_or_else(|e| panic!("cannot resolve {}: {e}", path.display()))
}
