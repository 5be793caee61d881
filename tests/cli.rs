//! End-to-end tests of the `modelc` command line: real files in, real files out, exit codes
//! and one-line errors.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn modelc(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_modelc"))
        .args(args)
        .output()
        .expect("modelc runs")
}

fn testdata(rel: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata")
        .join(rel)
        .to_string_lossy()
        .into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Runs `modelc convert` and expects failure with exactly one line naming the file.
fn expect_convert_error(input: &str, out: &Path, needle: &str) {
    let o = modelc(&["convert", input, out.to_str().unwrap()]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "stderr: {err}");
    assert_eq!(err.lines().count(), 1, "not one line: {err}");
    assert!(err.starts_with("modelc: error: "), "{err}");
    assert!(err.contains(needle), "{err:?} lacks {needle:?}");
    assert!(!out.exists(), "an output file was left behind");
    let leftovers: Vec<PathBuf> = std::fs::read_dir(out.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
}

#[test]
fn convert_writes_an_equivalent_model() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("tiny.onnx");
    let o = modelc(&[
        "convert",
        &testdata("models/tiny_cnn.onnx"),
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let a = modelc::load(Path::new(&testdata("models/tiny_cnn.onnx"))).unwrap();
    let b = modelc::load(&out).unwrap();
    assert!(a == b);
    // Converting twice gives byte-identical files.
    let out2 = dir.path().join("tiny2.onnx");
    assert!(
        modelc(&["convert", out.to_str().unwrap(), out2.to_str().unwrap()])
            .status
            .success()
    );
    assert_eq!(std::fs::read(&out).unwrap(), std::fs::read(&out2).unwrap());
}

#[test]
fn bad_inputs_fail_with_one_line_and_no_output() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.onnx");
    let truncated = testdata("bad/truncated.onnx");
    expect_convert_error(
        &truncated,
        &out,
        "truncated.onnx: not a valid ONNX protobuf",
    );
    expect_convert_error(&testdata("bad/garbage.onnx"), &out, "garbage.onnx");
    expect_convert_error(
        &testdata("bad/escape_external/model.onnx"),
        &out,
        "leaves the model's directory",
    );
    expect_convert_error(&testdata("bad/huge_dims.onnx"), &out, "huge_dims.onnx");
    expect_convert_error(
        &testdata("no/such/file.onnx"),
        &out,
        "file.onnx: cannot open",
    );
}

#[test]
fn unsupported_formats_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let tiny = testdata("models/tiny_cnn.onnx");
    expect_convert_error(
        &tiny,
        &dir.path().join("m.tflite"),
        "TFLite is not yet supported",
    );
    expect_convert_error(
        &tiny,
        &dir.path().join("m.pt"),
        "TorchScript is not yet supported",
    );
    expect_convert_error(&tiny, &dir.path().join("m.txt"), "cannot tell the format");
}

#[test]
fn convert_refuses_to_overwrite_its_input() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("m.onnx");
    std::fs::copy(testdata("models/tiny_cnn.onnx"), &model).unwrap();
    let before = std::fs::read(&model).unwrap();
    let o = modelc(&["convert", model.to_str().unwrap(), model.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("refusing to overwrite the input"),
        "{}",
        stderr(&o)
    );
    assert_eq!(std::fs::read(&model).unwrap(), before);
}

#[test]
fn inspect_reports_io_ops_and_parameters() {
    let o = modelc(&["inspect", &testdata("models/tiny_cnn.onnx")]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    for needle in [
        "ONNX model",
        "opsets: ai.onnx",
        "inputs:",
        "outputs:",
        "Conv",
        "parameters:",
    ] {
        assert!(text.contains(needle), "{needle:?} missing in:\n{text}");
    }
    let o = modelc(&["inspect", "--json", &testdata("models/tiny_cnn.onnx")]);
    assert!(o.status.success());
    let json: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let model = modelc::load(Path::new(&testdata("models/tiny_cnn.onnx"))).unwrap();
    assert_eq!(
        json["inputs"].as_array().unwrap().len(),
        model.graph.inputs().len()
    );
    assert_eq!(json["format"], "Onnx");
    assert!(json["parameters"].as_u64().unwrap() > 0);
    assert!(json["ops"]["Conv"].as_u64().unwrap() >= 1);
}

#[test]
fn dump_prints_the_text_form_that_parses_back() {
    let path = testdata("models/if_loop.onnx");
    let o = modelc(&["dump", "--full", &path]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    let parsed =
        modelc::ir::text::parse_model(&text, None).expect("dump --full output parses on its own");
    assert!(parsed == modelc::load(Path::new(&path)).unwrap());
}

#[test]
fn help_explains_each_command_with_an_example() {
    for cmd in ["convert", "inspect", "dump"] {
        let o = modelc(&[cmd, "--help"]);
        assert!(o.status.success());
        let text = stdout(&o);
        assert!(
            text.contains("Example"),
            "`modelc {cmd} --help` has no example:\n{text}"
        );
    }
    let o = modelc(&["--version"]);
    assert!(stdout(&o).starts_with("modelc "));
}
