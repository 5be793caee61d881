//! The committed op table (`src/op/onnx_ops.rs`) is what the generator makes from the pinned
//! `onnx` package. Regenerate with `cargo xtask codegen`.

use std::path::Path;

use std::process::Command;

#[test]
fn onnx_op_table_is_fresh() {
    let Some(python) = modelc_testkit::python() else {
        return;
    };
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = Command::new(python)
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
