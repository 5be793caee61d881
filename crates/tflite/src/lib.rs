//! TFLite import and export for modelc.
//!
//! [`read`] memory-maps a `.tflite` file, verifies the flatbuffer and imports it into the IR
//! (NHWC layout kept as the layout attribute, quantized tensors as QDQ, constant tensors
//! pointing into the map); [`write`] exports a model as a `.tflite` flatbuffer, moving NCHW
//! regions to NHWC first.

mod dtype;
mod error;
mod export;
pub mod fb;
mod import;
mod read;

use std::path::Path;

use modelc_ir::Model;

pub use error::TfliteError;
pub use read::decode;

/// How to write a `.tflite` file.
#[derive(Debug, Clone, Default)]
pub struct WriteOptions {
    /// Keep the model's own layout at the graph inputs and outputs instead of NHWC.
    pub keep_io_layout: bool,
}

/// Reads a `.tflite` file.
pub fn read(path: &Path) -> Result<Model, TfliteError> {
    read::read(path)
}

/// Writes the model to `path` as TFLite, via a temporary file renamed into place.
pub fn write(model: &Model, path: &Path, opts: &WriteOptions) -> Result<(), TfliteError> {
    export::write(model, path, opts)
}

/// [`write`] with tensor data past `inline_limit` bytes stored after the flatbuffer (the
/// form TFLite uses for models over 2 GB); tests use a small limit to exercise it.
#[doc(hidden)]
pub fn write_with_inline_limit(
    model: &Model,
    path: &Path,
    opts: &WriteOptions,
    inline_limit: u64,
) -> Result<(), TfliteError> {
    export::write_with_limit(model, path, opts, inline_limit)
}
