//! Errors of the ONNX reader and writer.

use std::path::PathBuf;

use modelc_ir::validate::ValidationError;

/// Why an ONNX model could not be read or written. Messages are one line; where there is
/// a node or tensor concerned, they name it.
#[derive(Debug, thiserror::Error)]
pub enum OnnxError {
    #[error("cannot open: {0}")]
    Open(#[source] std::io::Error),
    #[error("not a valid ONNX protobuf ({0})")]
    Decode(#[from] prost::DecodeError),
    /// A field's encoding is cut short or malformed (found walking a message's fields).
    #[error("not a valid ONNX protobuf ({0})")]
    Wire(&'static str),
    #[error("the file holds no graph")]
    NoGraph,
    #[error("{context}: {message}")]
    Invalid { context: String, message: String },
    #[error("tensor `{tensor}`: external data {message}")]
    ExternalData { tensor: String, message: String },
    #[error("graph nesting is deeper than {0} levels")]
    TooDeep(usize),
    #[error("invalid model: {0}")]
    Validation(#[from] ValidationError),
    #[error("cannot be written as ONNX: {0}")]
    Unsupported(String),
    #[error("cannot write {}: {source}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl OnnxError {
    pub(crate) fn invalid(context: impl Into<String>, message: impl Into<String>) -> OnnxError {
        OnnxError::Invalid {
            context: modelc_ir::one_line(&context.into()),
            message: modelc_ir::one_line(&message.into()),
        }
    }
}
