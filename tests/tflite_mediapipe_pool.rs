//! MediaPipe's custom ops MaxPoolingWithArgmax2D and MaxUnpooling2D import as standard ops:
//! tests/tflite_mediapipe_pool.py builds .tflite files with them (LiteRT's schema), converts
//! each to ONNX (run in onnxruntime) and back to TFLite (run in LiteRT), and compares every
//! output exactly with torch's max_pool2d(return_indices=True) / max_unpool2d on the same
//! input, the indices in MediaPipe's window-position convention.

use std::path::Path;
use std::process::Command;

#[test]
fn mediapipe_pooling_with_argmax_and_unpooling_match_torch() {
    let Some(python) = modelc_testkit::python() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let o = Command::new(python)
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/tflite_mediapipe_pool.py"))
        .arg("--modelc")
        .arg(env!("CARGO_BIN_EXE_modelc"))
        .arg("--out")
        .arg(dir.path())
        .output()
        .expect("python runs");
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success() && stdout.contains("8 of 8 conversions exact"),
        "{stdout}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
}
