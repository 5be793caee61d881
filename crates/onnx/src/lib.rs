//! ONNX import and export for modelc.
//!
//! [`read`] memory-maps a `.onnx` file and decodes it with tensors pointing into the map (no
//! copy of the weights), resolving external data beside the model; [`write`] streams a model
//! back out. The round trip is lossless: opsets, metadata, doc strings, value_info, local
//! functions, sparse initializers, sub-graphs, unknown ops and domains all survive.

mod error;
mod export;
mod import;
mod names;
mod prepare;
pub mod proto;
mod split;
mod tensor;
mod types;
mod validate;
mod write;

use std::fs::File;
use std::path::Path;

use bytes::Bytes;
use modelc_ir::Model;
use prost::Message;

pub use error::OnnxError;
pub use import::MAX_DEPTH;
pub use write::{ExternalData, WriteOptions};

/// Reads an ONNX model file. External data is resolved relative to the file's directory and
/// may not leave it.
pub fn read(path: &Path) -> Result<Model, OnnxError> {
    let file = File::open(path).map_err(OnnxError::Open)?;
    let bytes = modelc_ir::map_file(&file).map_err(OnnxError::Open)?;
    let base = path.parent().map(|p| {
        if p.as_os_str().is_empty() {
            Path::new(".")
        } else {
            p
        }
    });
    decode(bytes, base)
}

/// Decodes an ONNX model from bytes. `base_dir` is where external data is looked up; without
/// it, a model that refers to external data is an error.
pub fn decode(bytes: Bytes, base_dir: Option<&Path>) -> Result<Model, OnnxError> {
    let split = split::decode(bytes)?;
    let mut ext = tensor::ExternalFiles::new(base_dir.map(Path::to_path_buf));
    let model = import::import_model(&split.model, &split.nodes, &mut ext)?;
    Ok(model)
}

/// Decodes a serialized `TensorProto` (the `.pb` files of the ONNX test suites and
/// `modelc run` inputs). `base_dir` resolves external data as for models.
pub fn decode_tensor(
    bytes: Bytes,
    base_dir: Option<&Path>,
) -> Result<modelc_ir::Tensor, OnnxError> {
    let tp = proto::TensorProto::decode(bytes)?;
    let mut ext = tensor::ExternalFiles::new(base_dir.map(Path::to_path_buf));
    tensor::import_tensor(&tp, "", &mut ext)
}

/// Encodes a tensor as a serialized `TensorProto` named `name`.
pub fn encode_tensor(t: &modelc_ir::Tensor, name: &str) -> Vec<u8> {
    tensor::export_tensor(t, name).encode_to_vec()
}

/// The model as an ONNX `ModelProto` (tensor bytes shared, not copied), as it is: no
/// preparation (an NHWC op is an error).
pub fn to_proto(model: &Model) -> Result<proto::ModelProto, OnnxError> {
    export::export_model(model)
}

/// Encodes the model as ONNX bytes in memory (all tensors inline).
pub fn encode(model: &Model) -> Result<Vec<u8>, OnnxError> {
    Ok(to_proto(model)?.encode_to_vec())
}

/// Writes the model to `path`: prepared for ONNX first (NHWC ops moved to NCHW, see
/// [`WriteOptions::keep_io_layout`]), then streamed via a temporary file renamed into place,
/// so a failure leaves neither half a file nor a changed target.
pub fn write(model: &Model, path: &Path, opts: &WriteOptions) -> Result<(), OnnxError> {
    let prepared = prepare::prepare(model, opts);
    let model = prepared.as_ref().unwrap_or(model);
    let mut nodes = write::MainNodes::default();
    let mp = export::export_model_with(model, &mut nodes)?;
    write::write_proto(mp, nodes, path, opts)
}
