//! modelc's reference interpreter: runs any IR graph on the CPU, one kernel per ONNX op.
//!
//! ```no_run
//! # fn f(model: &modelc_ir::Model, x: modelc_interp::Array) -> Result<(), modelc_interp::InterpError> {
//! let interp = modelc_interp::Interpreter::new(model)?;
//! let outputs = interp.run(vec![("x".to_string(), x.into())])?;
//! # Ok(()) }
//! ```
//!
//! Kernels split their work over rayon's global thread pool (all cores unless
//! [`set_threads`] says otherwise, or a caller runs inside its own pool); every kernel
//! keeps each output element's arithmetic independent of the split, so outputs are
//! bit-identical for any thread count.

mod array;
mod ctx;
mod error;
mod interpreter;
pub mod ops;
mod plan;
mod pool;
mod profile;

pub use array::{Array, Data};
pub use ctx::OpCtx;
pub use error::{InterpError, KernelError};
pub use interpreter::Interpreter;
pub use profile::{OpTime, Profile};

/// Sets how many threads the interpreter computes on in this process (1: single-threaded).
/// Call it once, before anything runs; later calls fail.
pub fn set_threads(threads: usize) -> Result<(), InterpError> {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads.max(1))
        .build_global()
        .map_err(|e| InterpError::Threads {
            threads,
            message: e.to_string(),
        })
}
