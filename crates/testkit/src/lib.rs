//! What modelc's tests share. Tests that compare against the real runtimes (onnxruntime,
//! onnx, torch, LiteRT) run them through the pinned Python environment `cargo xtask pyenv`
//! makes; `cargo xtask ci` points `MODELC_PYTHON` at it.

use std::path::{Path, PathBuf};

/// The Python interpreter of the pinned environment: `MODELC_PYTHON`, else
/// `target/pyenv/bin/python` of this workspace. Panics (failing the test, never skipping it)
/// when it does not exist.
pub fn python() -> PathBuf {
    let p = std::env::var_os("MODELC_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/pyenv/bin/python")
        });
    assert!(
        p.exists(),
        "no Python environment at {}; create it with `cargo xtask pyenv` (`cargo xtask ci` does)",
        p.display()
    );
    p
}
