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
mod hex;
mod import;
mod read;
pub mod table;
mod target_view;

use std::borrow::Cow;
use std::path::Path;

use modelc_ir::Model;

pub use error::TfliteError;
pub use read::decode;
pub use target_view::target_graph;

/// How to write a `.tflite` file.
#[derive(Debug, Clone, Default)]
pub struct WriteOptions {
    /// Keep the model's own layout at the graph inputs and outputs instead of NHWC.
    pub keep_io_layout: bool,
    /// Store float32 FULLY_CONNECTED weights with enough zeros (after `modelc compress
    /// --sparsity`) in TFLite's sparse form (`SparsityParameters`, block-sparse 1×4 when the
    /// input size allows), where that is smaller than the dense bytes.
    pub sparse_weights: bool,
}

/// Name of the metadata buffer in which the exporter lists (one per line) the graph inputs
/// and outputs it made channels last, when it moved an NCHW model to NHWC.
pub const CHANNELS_LAST_IO: &str = "modelc_channels_last";

/// The graph inputs and outputs a model written by modelc has channels last relative to the
/// model it was converted from (see [`CHANNELS_LAST_IO`]); `None` when the file does not
/// say (not written by modelc, or no layout change).
pub fn channels_last_io(model: &Model) -> Option<Vec<String>> {
    let key = format!("{}{CHANNELS_LAST_IO}", import::EXTRA_METADATA);
    let hex = &model.meta.iter().find(|(k, _)| *k == key)?.1;
    let bytes = hex::unhex(hex)?;
    let text = String::from_utf8(bytes).ok()?;
    Some(
        text.lines()
            .filter(|l| !l.is_empty())
            .map(String::from)
            .collect(),
    )
}

/// Records `names` as the model's channels-last inputs and outputs, or with `None` that no
/// layout changed; either way a record a TFLite source carried goes (it described that
/// file's conversion, not this one).
pub(crate) fn set_channels_last_io(model: &mut Model, names: Option<&[String]>) {
    let key = format!("{}{CHANNELS_LAST_IO}", import::EXTRA_METADATA);
    model.meta.retain(|(k, _)| *k != key);
    if let Some(names) = names {
        model
            .meta
            .push((key, hex::hex(names.join("\n").as_bytes())));
    }
}

/// Reads a `.tflite` file.
pub fn read(path: &Path) -> Result<Model, TfliteError> {
    read::read(path)
}

/// Writes the model to `path` as TFLite, via a temporary file renamed into place.
pub fn write(model: &Model, path: &Path, opts: &WriteOptions) -> Result<(), TfliteError> {
    export::write(Cow::Borrowed(model), path, opts)
}

/// [`write`] of a model the caller no longer needs: the writer rewrites it in place instead
/// of a copy (a node-heavy graph is then held once, not twice).
pub fn write_owned(model: Model, path: &Path, opts: &WriteOptions) -> Result<(), TfliteError> {
    export::write(Cow::Owned(model), path, opts)
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
    export::write_with_limit(Cow::Borrowed(model), path, opts, inline_limit)
}
