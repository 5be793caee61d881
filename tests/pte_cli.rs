//! `modelc convert` to ExecuTorch `.pte`: symbolic sizes must be fixed, the file is
//! recognized by extension and content, reading one is refused in one line, and a model with
//! an op that has no portable kernel leaves nothing behind. (Running the programs in ExecuTorch's runtime against onnxruntime:
//! tests/pte_models.py, `cargo xtask pte`.)

use std::process::Command;

use crate::cli::{stderr, testdata};

fn modelc(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_modelc"))
        .args(args)
        .output()
        .expect("modelc runs")
}

#[test]
fn convert_writes_a_pte_that_modelc_recognizes_but_does_not_read() {
    let dir = tempfile::tempdir().unwrap();
    let pte = dir.path().join("tiny.pte");
    let tiny = testdata("models/tiny_cnn.onnx");
    // The batch is symbolic: ExecuTorch plans memory ahead, so it must be fixed.
    let o = modelc(&["convert", &tiny, pte.to_str().unwrap()]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("'image' has no known size"), "{err}");
    assert!(err.contains("--input-shape"), "{err}");
    assert!(!pte.exists());
    let o = modelc(&[
        "convert",
        &tiny,
        pte.to_str().unwrap(),
        "--input-shape",
        "image:1,3,8,8",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let bytes = std::fs::read(&pte).unwrap();
    assert_eq!(&bytes[4..8], b"ET12");
    // By content, whatever the name.
    let renamed = dir.path().join("tiny.bin");
    std::fs::copy(&pte, &renamed).unwrap();
    assert_eq!(modelc::input_format(&renamed).unwrap(), modelc::Format::Pte);
    let o = modelc(&["inspect", renamed.to_str().unwrap()]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("writes ExecuTorch (.pte) files but does not read them"),
        "{err}"
    );
}

#[test]
fn an_op_without_a_portable_kernel_is_refused_by_node_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("m.pte");
    let o = modelc(&[
        "convert",
        &testdata("models/custom_op.onnx"),
        out.to_str().unwrap(),
    ]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("cannot be written as ExecuTorch portable-kernel calls"),
        "{err}"
    );
    assert!(err.contains("\"fancy\""), "{err}");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}
