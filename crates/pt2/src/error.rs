//! Errors of the `.pt2` reader and writer.

/// Why a `.pt2` archive could not be read. Messages are one line and name the entry, node
/// or tensor concerned.
#[derive(Debug, thiserror::Error)]
pub enum Pt2Error {
    #[error("cannot open: {0}")]
    Open(#[source] std::io::Error),
    /// The zip container is malformed or unsafe, or not a `torch.export` archive.
    #[error("bad .pt2 archive: {0}")]
    Archive(String),
    /// The archive or its program was written in a version modelc does not read.
    #[error("unsupported .pt2 version: {0}")]
    Version(String),
    /// A JSON entry does not parse as the schema says.
    #[error("bad .pt2 JSON {file}: {msg}")]
    Json { file: String, msg: String },
    /// A weight or constant entry is missing, short or not what its metadata says.
    #[error("bad .pt2 weight {name}: {msg}")]
    Weight { name: String, msg: String },
    /// The program could not be translated; every problem found, one per `; `.
    #[error("cannot import .pt2: {0}")]
    Import(String),
    /// The model cannot be written as a `.pt2`; every problem found, by node or value.
    #[error("cannot write .pt2: {0}")]
    Export(String),
    #[error("cannot write {path}: {source}")]
    Write {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl From<modelc_torchscript::TorchScriptError> for Pt2Error {
    fn from(e: modelc_torchscript::TorchScriptError) -> Pt2Error {
        match e {
            modelc_torchscript::TorchScriptError::Archive(m) => Pt2Error::Archive(m),
            modelc_torchscript::TorchScriptError::Open(e) => Pt2Error::Open(e),
            e => Pt2Error::Archive(e.to_string()),
        }
    }
}
