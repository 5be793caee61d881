//! Errors of the TorchScript reader and writer.

/// Why a TorchScript model could not be read or written. Messages are one line and name the
/// operator or tensor concerned.
#[derive(Debug, thiserror::Error)]
pub enum TorchScriptError {
    #[error("cannot open: {0}")]
    Open(#[source] std::io::Error),
    #[error("cannot be written as TorchScript: {0}")]
    Unsupported(String),
    #[error("cannot write {}: {source}", path.display())]
    Write {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The zip container is malformed or unsafe (bombs, escaping names, missing entries).
    #[error("bad TorchScript archive: {0}")]
    Archive(String),
    /// A pickle (`data.pkl`, `constants.pkl`) is malformed or uses something not allowed.
    #[error("bad pickle {file}: {msg}")]
    Pickle { file: String, msg: String },
    /// The TorchScript source in `code/` does not parse.
    #[error("cannot parse {file}:{line}: {msg}")]
    Code {
        file: String,
        line: usize,
        msg: String,
    },
    /// The module could not be translated; every problem found, one per `; `.
    #[error("cannot import TorchScript: {0}")]
    Import(String),
}
