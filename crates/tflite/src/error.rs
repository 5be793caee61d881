//! Errors of the TFLite reader and writer.

use std::path::PathBuf;

/// Why a TFLite model could not be read or written. Messages are one line and name the
/// operator or tensor concerned.
#[derive(Debug, thiserror::Error)]
pub enum TfliteError {
    #[error("cannot open: {0}")]
    Open(#[source] std::io::Error),
    #[error("not a TFLite flatbuffer: {0}")]
    NotTflite(String),
    #[error("invalid TFLite flatbuffer: {0}")]
    Verify(String),
    #[error("unsupported TFLite schema version {0} (this reader knows version 3)")]
    Version(u32),
    #[error("{context}: {message}")]
    Invalid { context: String, message: String },
    #[error("cannot be written as TFLite: {0}")]
    Unsupported(String),
    #[error("cannot write {}: {source}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl TfliteError {
    pub(crate) fn invalid(context: impl Into<String>, message: impl Into<String>) -> TfliteError {
        TfliteError::Invalid {
            context: modelc_ir::one_line(&context.into()),
            message: modelc_ir::one_line(&message.into()),
        }
    }
}
