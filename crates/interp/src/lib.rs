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
mod awake;
pub use awake::spin_during_runs;
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
    build_pool(
        rayon::ThreadPoolBuilder::new().num_threads(threads.max(1)),
        threads,
    )
}

/// [`set_threads`] (`None`: rayon's default, `RAYON_NUM_THREADS` or every core), with the
/// calling thread as one of the threads: a kernel called from
/// it splits its work right there, where from any other thread it hands the work to the
/// pool and sleeps until the pool is done — two context switches per parallel kernel,
/// about a tenth of MobileNetV2's single-threaded run.
///
/// For a thread that runs the interpreter and lives as long as the process (a command
/// line's main thread). The calling thread computes only while it waits on its own work,
/// so with one thread, work handed in from any other thread would never run: call the
/// interpreter from this thread only.
pub fn set_threads_on_this_thread(threads: Option<usize>) -> Result<(), InterpError> {
    let builder = rayon::ThreadPoolBuilder::new().use_current_thread();
    match threads {
        Some(n) => build_pool(builder.num_threads(n.max(1)), n),
        None => build_pool(builder, 0),
    }
}

fn build_pool(builder: rayon::ThreadPoolBuilder, threads: usize) -> Result<(), InterpError> {
    builder.build_global().map_err(|e| InterpError::Threads {
        threads,
        message: e.to_string(),
    })
}
