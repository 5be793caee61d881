//! ExecuTorch programs (`.pte`) from modelc's IR: the graph becomes one execution plan,
//! `forward`, of portable-kernel calls (`aten::*.out` variants, one file per op family under
//! [`ops`]) on tensors placed in one memory arena by the IR's liveness plan ([`plan`]), with
//! the weights in the program's constant segment ([`file`]). Reading `.pte` is not supported.
//!
//! What has no portable kernel, and values whose size is unknown (ExecuTorch plans memory
//! ahead of time), are refused by node, all at once, and nothing is written.

pub mod fb;
mod file;
mod lower;
mod ops;
mod plan;
mod prepare;
mod program;

use std::path::Path;

use modelc_ir::Model;

/// The flatbuffer file identifier of the program schema modelc writes (bytes 4..8 of a
/// `.pte`): `ET12`.
pub const FILE_IDENTIFIER: &[u8; 4] = b"ET12";

/// Whether the first bytes of a file are an ExecuTorch program's (any `ET??` schema).
pub fn is_pte(head: &[u8]) -> bool {
    head.get(4..6) == Some(b"ET")
        && head
            .get(6..8)
            .is_some_and(|v| v.iter().all(u8::is_ascii_alphanumeric))
}

/// Why a model could not be written as an ExecuTorch program.
#[derive(Debug, thiserror::Error)]
pub enum PteError {
    /// Nodes without a portable-kernel form, or with sizes unknown before run time: each
    /// `node 'name' (Op): reason`.
    #[error("{} node(s) cannot be written as ExecuTorch portable-kernel calls: {}", .0.len(), .0.join("; "))]
    Unsupported(Vec<String>),
    /// A pass the writer runs first failed.
    #[error("preparing the graph: {0}")]
    Prepare(String),
    /// The program exceeds a limit of the format (a 32-bit index or size).
    #[error("{0}")]
    TooLarge(String),
    #[error("cannot write the file: {0}")]
    Io(#[from] std::io::Error),
}

/// Writes `model` as an ExecuTorch program at `path` (under a temporary name, renamed when
/// complete: a refusal or failure leaves nothing behind).
pub fn write(model: &Model, path: &Path) -> Result<(), PteError> {
    layout(model)?.write(path)
}

/// The `.pte` file's bytes for `model`, in memory.
pub fn to_bytes(model: &Model) -> Result<Vec<u8>, PteError> {
    Ok(layout(model)?.to_vec())
}

fn layout(model: &Model) -> Result<file::PteFile, PteError> {
    let mut m = model.clone();
    prepare::prepare(&mut m)?;
    // What shape inference finds a node cannot compute (a Transpose perm out of range, a
    // Squeeze of a dim that is not 1, ...): the sizes planned from such a graph would be
    // wrong, so it is refused by node, as the ONNX writer refuses it.
    let errors = modelc_ir::infer::check_graph(&m.graph, &m.opset_imports).errors;
    if !errors.is_empty() {
        return Err(PteError::Unsupported(errors));
    }
    let program = lower::lower(&m.graph)?;
    let arena = plan::plan(&program);
    file::serialize(&program, &arena)
}
