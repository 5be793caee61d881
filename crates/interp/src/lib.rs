//! modelc's reference interpreter: runs any IR graph on the CPU, one kernel per ONNX op.
//!
//! ```no_run
//! # fn f(model: &modelc_ir::Model, x: modelc_interp::Array) -> Result<(), modelc_interp::InterpError> {
//! let interp = modelc_interp::Interpreter::new(model)?;
//! let outputs = interp.run(vec![("x".to_string(), x.into())])?;
//! # Ok(()) }
//! ```

mod array;
mod ctx;
mod error;
mod interpreter;
pub mod ops;

pub use array::{Array, Data};
pub use ctx::OpCtx;
pub use error::{InterpError, KernelError};
pub use interpreter::Interpreter;
