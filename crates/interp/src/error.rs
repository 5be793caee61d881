//! Interpreter errors.

/// What a kernel reports: the op-level problem, without the node (the interpreter adds it).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct KernelError(pub String);

impl KernelError {
    pub fn new(msg: impl Into<String>) -> KernelError {
        KernelError(msg.into())
    }
}

impl From<modelc_ir::AttrTypeError> for KernelError {
    fn from(e: modelc_ir::AttrTypeError) -> KernelError {
        KernelError(e.to_string())
    }
}

impl From<modelc_ir::AttrError> for KernelError {
    fn from(e: modelc_ir::AttrError) -> KernelError {
        KernelError(e.to_string())
    }
}

impl From<ndarray::ShapeError> for KernelError {
    fn from(e: ndarray::ShapeError) -> KernelError {
        KernelError(format!("shape error: {e}"))
    }
}

/// Returns early from a kernel with a formatted [`KernelError`].
#[macro_export]
macro_rules! bail {
    ($($arg:tt)*) => {
        return Err($crate::KernelError::new(format!($($arg)*)))
    };
}

/// Why a model cannot be run, or a run failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum InterpError {
    #[error("no kernel for {}", .0.join(", "))]
    Unsupported(Vec<String>),
    #[error("{0}")]
    Graph(String),
    #[error("input `{name}`: {message}")]
    Input { name: String, message: String },
    #[error("missing input `{0}`")]
    MissingInput(String),
    #[error("unknown input `{0}`")]
    UnknownInput(String),
    #[error("cannot start {threads} threads: {message}")]
    Threads { threads: usize, message: String },
    #[error("node {node}: {source}")]
    Kernel {
        node: String,
        #[source]
        source: KernelError,
    },
}
