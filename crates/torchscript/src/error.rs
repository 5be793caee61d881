//! Errors of the TorchScript reader and writer.

/// Why a TorchScript model could not be read or written. Messages are one line and name the
/// operator or tensor concerned.
#[derive(Debug, thiserror::Error)]
pub enum TorchScriptError {
    #[error("cannot open: {0}")]
    Open(#[source] std::io::Error),
    #[error("cannot be written as TorchScript: {0}")]
    Unsupported(String),
}
