//! Why quantization failed.

/// A quantization failure: one line naming the problem.
#[derive(Debug, thiserror::Error)]
pub enum QuantError {
    #[error("calibration: {0}")]
    Calibration(String),
    #[error("nothing to quantize: {0}")]
    NothingToQuantize(String),
    #[error("{0}")]
    Unsupported(String),
    #[error("interpreter: {0}")]
    Interp(#[from] modelc_interp::InterpError),
    #[error(transparent)]
    Pass(#[from] crate::PassError),
    #[error("accuracy budget: {0}")]
    Budget(String),
}
