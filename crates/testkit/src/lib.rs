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

/// Checks a format's op-table cases in the real runtimes: writes `entries` (JSON objects,
/// one per table row, see `tests/table_forms.py`) as a manifest in `dir`, runs
/// `tests/SCRIPT --table MANIFEST` with the pinned Python and asserts that it succeeds and
/// prints `summary` (the line that counts the rows found exact). Returns its output.
pub fn check_table_cases(script: &str, dir: &Path, entries: &[String], summary: &str) -> String {
    let manifest = dir.join("table.json");
    std::fs::write(&manifest, format!("[\n{}\n]\n", entries.join(",\n")))
        .expect("the manifest is written");
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests")
        .join(script);
    let out = std::process::Command::new(python())
        .arg(&script)
        .arg("--table")
        .arg(&manifest)
        .output()
        .expect("the pinned Python runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success() && stdout.contains(summary),
        "{} --table: {}\n{stdout}\n{}",
        script.display(),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}
