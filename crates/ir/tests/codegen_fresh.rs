//! The committed op table (`src/op/onnx_ops.rs`) is what the generator makes from the pinned
//! `onnx` package. Regenerate with `cargo xtask codegen`.

use std::path::{Path, PathBuf};
use std::process::Command;

fn python() -> PathBuf {
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

#[test]
fn onnx_op_table_is_fresh() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = Command::new(python())
        .arg(root.join("gen/onnx_ops.py"))
        .output()
        .expect("the generator runs");
    assert!(
        out.status.success(),
        "generator failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let committed = std::fs::read_to_string(root.join("src/op/onnx_ops.rs")).unwrap();
    assert!(
        String::from_utf8_lossy(&out.stdout) == committed,
        "src/op/onnx_ops.rs is stale: run `cargo xtask codegen`"
    );
}
