//! The committed flatbuffers code (`src/generated/program_generated.rs`) is what the pinned
//! flatc makes from `schemas/executorch/program.fbs` (with `--gen-all`: the included
//! `scalar_type.fbs` in the same file). Regenerate with `cargo xtask codegen`.

use std::path::Path;
use std::process::Command;

#[test]
fn generated_flatbuffers_code_is_fresh() {
    let Some(flatc) = modelc_testkit::pyenv_program("flatc") else {
        return;
    };
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = tempfile::tempdir().unwrap();
    let status = Command::new(flatc)
        .arg("--rust")
        .arg("--gen-all")
        .arg("-o")
        .arg(out.path())
        .arg(root.join("../../schemas/executorch/program.fbs"))
        .status()
        .expect("flatc runs");
    assert!(status.success(), "flatc failed");
    let made = std::fs::read(out.path().join("program_generated.rs")).unwrap();
    let committed = std::fs::read(root.join("src/generated/program_generated.rs")).unwrap();
    assert!(
        made == committed,
        "src/generated/program_generated.rs is stale: run `cargo xtask codegen`"
    );
}
