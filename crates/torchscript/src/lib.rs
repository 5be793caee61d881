//! TorchScript import and export for modelc, without libtorch.
//!
//! [`read`] opens a `.pt` archive (zip), reads `data.pkl`/`constants.pkl` with a restricted
//! unpickler (nothing is executed), parses the TorchScript code in `code/` and inlines it into
//! one IR graph; [`write`] produces an archive that `torch.jit.load` accepts.

pub mod archive;
pub mod aten;
pub mod code;
mod error;
mod export;
pub mod import;
pub mod pickle;

use std::path::Path;

use modelc_ir::Model;

pub use error::TorchScriptError;
pub use export::{aten_program, AtenProgram};

/// The archive entry (under `extra/`) in which modelc records the element types and shapes
/// of `forward`'s arguments, which TorchScript code does not declare; the reader uses it when
/// present.
pub const INPUT_TYPES: &str = "modelc_input_types.txt";

/// The archive entry (under `extra/`) in which modelc records provenance: a JSON object from
/// the code's variable names to the source values they compute ([`modelc_ir::provenance`]).
pub const PROVENANCE: &str = "modelc_provenance.json";

/// How to write a TorchScript archive.
#[derive(Debug, Clone, Default)]
pub struct WriteOptions {}

/// How to read a TorchScript archive.
#[derive(Debug, Clone, Default)]
pub struct ReadOptions {
    /// Element types of inputs by name (an archive does not record them; see
    /// [`import::import_with`] for what is used otherwise).
    pub input_types: Vec<(String, modelc_ir::DType)>,
    /// Shapes of inputs by name (scripted modules record none; the code may need ranks).
    pub input_shapes: Vec<(String, Vec<u64>)>,
    /// Values of `forward`'s `int` arguments by name (`--dim sr=16000`): the code is
    /// specialized to them, as for a size known at import (a graph has no Python ints).
    pub int_args: Vec<(String, i64)>,
}

/// Reads a TorchScript `.pt` archive.
pub fn read(path: &Path) -> Result<Model, TorchScriptError> {
    read_with(path, &ReadOptions::default())
}

/// Reads a TorchScript `.pt` archive with options.
pub fn read_with(path: &Path, opts: &ReadOptions) -> Result<Model, TorchScriptError> {
    let mut archive = archive::Archive::open(path)?;
    import::import_with(&mut archive, opts)
}

/// The names of the tensor arguments of the root module's `forward`, in order (the graph
/// inputs an import makes), without importing the model: `modelc run` uses them to read a
/// module specialized to the shapes of the inputs it is given.
pub fn forward_inputs(path: &Path) -> Result<Vec<String>, TorchScriptError> {
    let mut archive = archive::Archive::open(path)?;
    import::forward_inputs(&mut archive)
}

/// Writes the model to `path` as a TorchScript archive, via a temporary file renamed into place.
pub fn write(model: &Model, path: &Path, opts: &WriteOptions) -> Result<(), TorchScriptError> {
    export::write(model, path, opts)
}
