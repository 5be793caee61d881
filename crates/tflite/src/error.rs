//! Errors of the TFLite reader and writer.

/// Why a TFLite model could not be read or written. Messages are one line and name the
/// operator or tensor concerned.
#[derive(Debug, thiserror::Error)]
pub enum TfliteError {
    #[error("cannot open: {0}")]
    Open(#[source] std::io::Error),
    #[error("cannot be written as TFLite: {0}")]
    Unsupported(String),
}
