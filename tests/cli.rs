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

pub(crate) fn testdata(rel: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata")
        .join(rel)
        .to_string_lossy()
        .into_owned()
}

pub(crate) fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub(crate) fn stdout(o: &Output) -> String {
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
    // TFLite export lists every node it cannot translate.
    expect_convert_error(
        &testdata("models/custom_op.onnx"),
        &dir.path().join("m.tflite"),
        "1 node(s) have no TFLite form: com.example.FancyOp \"fancy\" (no TFLite equivalent)",
    );
    // TorchScript export names every node it cannot translate.
    expect_convert_error(
        &testdata("models/custom_op.onnx"),
        &dir.path().join("m.pt"),
        "com.example.FancyOp \"fancy\": custom op, no TorchScript translation",
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
    for cmd in ["convert", "inspect", "dump", "run", "verify", "optimize"] {
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

/// `modelc run` on the bundled example gives onnxruntime's outputs for the same input.
#[test]
fn run_matches_onnxruntime() {
    let Some(python) = modelc_testkit::python() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let model = testdata("models/tiny_cnn.onnx");
    let input = dir.path().join("image.npy");
    let ort_out = dir.path().join("ort.npy");
    let script = r#"
import sys, numpy as np, onnxruntime as ort
model, inp, out = sys.argv[1:4]
x = np.random.default_rng(7).standard_normal((2, 3, 8, 8)).astype(np.float32)
np.save(inp, x)
sess = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
np.save(out, sess.run(None, {sess.get_inputs()[0].name: x})[0])
"#;
    let o = Command::new(python)
        .args([
            "-c",
            script,
            &model,
            input.to_str().unwrap(),
            ort_out.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let out_dir = dir.path().join("out");
    let o = modelc(&[
        "run",
        &model,
        input.to_str().unwrap(),
        "-o",
        out_dir.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let ours = modelc::npy::read(&out_dir.join("output_0.npy")).unwrap();
    let theirs = modelc::npy::read(&ort_out).unwrap();
    let d = modelc::run::compare(
        "probs",
        &ours,
        &theirs,
        1e-4,
        1e-6,
        modelc::run::OutputLayout::Guess(false),
    )
    .unwrap();
    assert!(d.within, "modelc run differs from onnxruntime: {d:?}");
}

#[test]
fn verify_passes_for_a_conversion_and_fails_for_a_different_model() {
    let dir = tempfile::tempdir().unwrap();
    let a = testdata("models/tiny_cnn.onnx");
    let b = dir.path().join("b.onnx");
    assert!(modelc(&["convert", &a, b.to_str().unwrap()])
        .status
        .success());
    let o = modelc(&["verify", &a, b.to_str().unwrap(), "--dim", "N=2"]);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).contains("max abs"), "{}", stdout(&o));

    // Perturb one weight of B: verify must notice and exit 1.
    let mut m = modelc::load(&b).unwrap();
    let g = &mut m.graph;
    let id = g
        .node_ids()
        .find(|&id| matches!(&g.node(id).op, modelc::ir::Op::Const(t) if t.dims.len() == 4))
        .expect("a conv weight");
    if let modelc::ir::Op::Const(t) = &mut g.node_mut(id).op {
        let mut bytes = t.raw().unwrap().to_vec();
        let first = f32::from_le_bytes(bytes[0..4].try_into().unwrap());
        bytes[0..4].copy_from_slice(&(first + 0.5).to_le_bytes());
        t.data = modelc::ir::TensorData::Raw(bytes.into());
    }
    let c = dir.path().join("c.onnx");
    modelc::save(&m, &c, &modelc::SaveOptions::default()).unwrap();
    let o = modelc(&["verify", &a, c.to_str().unwrap(), "--dim", "N=2"]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert!(stdout(&o).contains("EXCEEDS"));
}

#[test]
fn run_reports_bad_inputs_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let model = testdata("models/tiny_cnn.onnx");
    let wrong = dir.path().join("wrong.npy");
    let t = modelc::ir::Tensor::from_f32(vec![1, 3, 4, 4], &[0.0; 48]).unwrap();
    std::fs::write(&wrong, modelc::npy::encode(&t).unwrap()).unwrap();
    let o = modelc(&[
        "run",
        &model,
        wrong.to_str().unwrap(),
        "-o",
        dir.path().to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(
        err.contains("input `image`") && err.contains("expected shape"),
        "{err}"
    );
    let o = modelc(&["run", &model, "-o", dir.path().to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("no value for input image"),
        "{}",
        stderr(&o)
    );
    let o = modelc(&[
        "run",
        &model,
        "--random",
        "-o",
        dir.path().to_str().unwrap(),
    ]);
    assert!(stderr(&o).contains("--dim N="), "{}", stderr(&o));
}

#[test]
fn run_profile_counts_every_kernel_call_of_the_timed_runs() {
    let dir = tempfile::tempdir().unwrap();
    let model = testdata("models/tiny_cnn.onnx");
    let m = modelc::load(Path::new(&model)).unwrap();
    let count = |name: &str| {
        m.graph
            .node_ids()
            .filter(
                |&id| matches!(&m.graph.node(id).op, modelc::ir::Op::Onnx(op) if op.name() == name),
            )
            .count()
    };
    let convs = count("Conv");
    assert!(convs > 0);
    let o = modelc(&[
        "run",
        &model,
        "--random",
        "--dim",
        "N=2",
        "--repeat",
        "3",
        "--profile",
        "-o",
        dir.path().to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let err = stderr(&o);
    // Rows: op (a fused activation joins its producer, and a Conv is named by its kind:
    // `Conv 3x3+Relu`), calls, ms, share.
    let conv_calls: usize = err
        .lines()
        .filter(|l| l.starts_with("Conv ") || l.starts_with("Conv+"))
        .map(|l| {
            l.split_whitespace()
                .rev()
                .nth(2)
                .unwrap()
                .parse::<usize>()
                .unwrap()
        })
        .sum();
    assert_eq!(conv_calls, 3 * convs, "{err}");
    assert!(err.lines().any(|l| l.starts_with("total ")), "{err}");
}

#[test]
fn run_takes_input_shapes_for_unnamed_dynamic_dims() {
    // TFLite names no dimensions: the batch of the converted example is just dynamic.
    let dir = tempfile::tempdir().unwrap();
    let tfl = dir.path().join("tiny.tflite");
    let o = modelc(&[
        "convert",
        &testdata("models/tiny_cnn.onnx"),
        tfl.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = dir.path().to_str().unwrap();
    let o = modelc(&["run", tfl.to_str().unwrap(), "--random", "-o", out]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("--input-shape image:"),
        "{}",
        stderr(&o)
    );
    let o = modelc(&[
        "run",
        tfl.to_str().unwrap(),
        "--random",
        "--input-shape",
        "image:3,8,8,3",
        "-o",
        out,
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let y = modelc::run::read_tensor(&dir.path().join("output_0.npy")).unwrap();
    assert_eq!(y.dims, vec![3, 10]);
}

#[test]
fn optimize_removes_passthroughs_and_reports() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("chain.onnx");
    let text = r#"graph chain(%x: f32[2,3]) -> (%y) {
  %i = Identity(%x)
  %d, %m = Dropout(%i)
  %y = Relu(%d)
}"#;
    let model = modelc::Model::new(modelc::ir::Graph::parse(text).unwrap(), 17);
    modelc::save(&model, &src, &modelc::SaveOptions::default()).unwrap();
    let out = dir.path().join("opt.onnx");
    let o = modelc(&["optimize", src.to_str().unwrap(), out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let report = stderr(&o);
    assert!(
        report.contains("Identity") && report.contains("reached a fixed point"),
        "{report}"
    );
    let optimized = modelc::load(&out).unwrap();
    let ops: Vec<String> = optimized
        .graph
        .node_ids()
        .map(|id| optimized.graph.node(id).op.display_name())
        .filter(|n| n != "input")
        .collect();
    assert_eq!(ops, ["Relu"]);
    let o = modelc(&["verify", src.to_str().unwrap(), out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stdout(&o));

    let o = modelc(&[
        "optimize",
        src.to_str().unwrap(),
        out.to_str().unwrap(),
        "-p",
        "dce,nope",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("unknown pass `nope`"), "{}", stderr(&o));
    let o = modelc(&["passes"]);
    assert!(stdout(&o).contains("dce") && stdout(&o).contains("identity"));
}

#[test]
fn convert_fixes_input_shapes_and_optimizes_on_the_way() {
    let dir = tempfile::tempdir().unwrap();
    let scripted = testdata("torchscript/cnn_bn_scripted/model.pt");
    // A scripted model declares no sizes: they stay unknown in the .tflite (shape_signature
    // -1, sized at run time) unless --input-shape pins them.
    let out = dir.path().join("cnn.tflite");
    let o = modelc(&["convert", &scripted, out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = modelc(&["inspect", out.to_str().unwrap()]);
    assert!(stdout(&o).contains("x: f32[?,?,?,?]"), "{}", stdout(&o));
    let o = modelc(&[
        "convert",
        &scripted,
        out.to_str().unwrap(),
        "--input-shape",
        "x:2,3,16,16",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = modelc(&["inspect", out.to_str().unwrap()]);
    assert!(stdout(&o).contains("x: f32[2,16,16,3]"), "{}", stdout(&o));
    // -O2 with a fixed batch: the shapes are static in the result.
    let onnx = dir.path().join("tiny.onnx");
    let tiny = testdata("models/tiny_cnn.onnx");
    let o = modelc(&[
        "convert",
        &tiny,
        onnx.to_str().unwrap(),
        "-O2",
        "--dim",
        "N=1",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = modelc(&["inspect", onnx.to_str().unwrap()]);
    assert!(stdout(&o).contains("probs: f32[1,10]"), "{}", stdout(&o));
}

#[test]
fn verify_transposes_outputs_whose_dims_fit_both_layouts() {
    // A strided 4x4 convolution from [1,3,8,8] to [1,4,4,4]: the .tflite's output is NHWC
    // with the very same dims; the file records that it is channels last.
    let weights = weights(192);
    let text = format!(
        r#"graph main(%x: f32[1,3,8,8]) -> (%y) {{
  %w = const f32[4,3,4,4] [{}]
  %y = Conv(%x, %w) {{kernel_shape=[4,4], strides=[2,2], pads=[1,1,1,1]}}
}}"#,
        weights
    );
    let o = verify_onnx_against_tflite(&text);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    assert!(
        stdout(&o).contains("transposed channels last to first"),
        "{}",
        stdout(&o)
    );
}

/// `n` deterministic text-form weights in [-1, 1), comma separated.
fn weights(n: usize) -> String {
    let w: Vec<String> = (0..n)
        .map(|i| format!("{:.3}", ((i * 37 % 101) as f32 / 50.0) - 1.0))
        .collect();
    w.join(", ")
}

/// Writes `text` as ONNX, converts it to .tflite and runs `modelc verify` on the pair.
fn verify_onnx_against_tflite(text: &str) -> std::process::Output {
    let dir = tempfile::tempdir().unwrap();
    let model = modelc::Model::new(modelc::ir::Graph::parse(text).unwrap(), 17);
    let onnx = dir.path().join("m.onnx");
    modelc::save(&model, &onnx, &modelc::SaveOptions::default()).unwrap();
    let tfl = dir.path().join("m.tflite");
    let o = modelc(&["convert", onnx.to_str().unwrap(), tfl.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    modelc(&["verify", onnx.to_str().unwrap(), tfl.to_str().unwrap()])
}

#[test]
fn verify_follows_the_layouts_the_tflite_records() {
    // `cube` is [1,4,4,4] in both files, but only `img` was made channels last: the .tflite
    // lists its channels-last inputs and outputs, so verify transposes `img` and not `cube`
    // (guessing from shapes, it transposed both and failed a correct conversion).
    let weights = weights(108);
    let text = format!(
        r#"graph main(%x: f32[1,3,4,4]) -> (%img, %cube) {{
  %w = const f32[4,3,3,3] [{}]
  %img = Conv(%x, %w) {{pads=[1,1,1,1]}}
  %s2 = const i64[2] [1, -1]
  %flat = Reshape(%img, %s2)
  %r = Relu(%flat)
  %s = const i64[4] [1, 4, 4, 4]
  %cube = Reshape(%r, %s)
}}"#,
        weights
    );
    let o = verify_onnx_against_tflite(&text);
    let out = stdout(&o);
    assert!(o.status.success(), "{out}{}", stderr(&o));
    let line = |name: &str| {
        out.lines()
            .find(|l| l.starts_with(name))
            .unwrap_or("")
            .to_string()
    };
    assert!(line("img ").contains("transposed"), "{out}");
    assert!(!line("cube ").contains("transposed"), "{out}");
}

#[test]
fn verify_compares_1d_models_channels_last() {
    // A 1-D convolution: the .tflite takes and gives [N, L, C].
    let weights = weights(60);
    let text = format!(
        r#"graph main(%x: f32[2,3,20]) -> (%y) {{
  %w = const f32[4,3,5] [{}]
  %y = Conv(%x, %w) {{pads=[2,2]}}
}}"#,
        weights
    );
    let o = verify_onnx_against_tflite(&text);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    assert!(
        stdout(&o).contains("`x` transposed channels first to last"),
        "{}",
        stdout(&o)
    );
}

/// An error's causes appear once on its line: an error that prints its source and also
/// returns it (ONNX decoding, a kernel's failure, an I/O error) does not repeat it, the
/// flatbuffers verifier's multi-line trace becomes one line, and the file is named once.
#[test]
fn errors_say_their_cause_once() {
    let dir = tempfile::tempdir().unwrap();
    let error_of = |args: &[&str]| {
        let o = modelc(args);
        assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
        let err = stderr(&o);
        assert_eq!(err.lines().count(), 1, "not one line: {err}");
        err.trim_end().to_string()
    };

    let truncated = testdata("bad/truncated.onnx");
    assert_eq!(
        error_of(&["inspect", &truncated]),
        format!("modelc: error: {truncated}: not a valid ONNX protobuf (failed to decode Protobuf message: ModelProto.graph: buffer underflow)")
    );

    let missing = dir.path().join("missing.onnx");
    let missing = missing.to_str().unwrap();
    assert_eq!(
        error_of(&["inspect", missing]),
        format!("modelc: error: {missing}: cannot open: No such file or directory (os error 2)")
    );

    let tflite = std::fs::read(testdata("tflite/small_cnn_float.tflite")).unwrap();
    let cut = dir.path().join("cut.tflite");
    std::fs::write(&cut, &tflite[..100]).unwrap();
    let cut = cut.to_str().unwrap();
    assert_eq!(
        error_of(&["inspect", cut]),
        format!("modelc: error: {cut}: invalid TFLite flatbuffer: Range [9324, 9328) is out of bounds (while verifying table field `operator_codes` at position 52)")
    );

    let pt = std::fs::read(testdata("torchscript/cnn_bn_traced/model.pt")).unwrap();
    let cut = dir.path().join("cut.pt");
    std::fs::write(&cut, &pt[..2000]).unwrap();
    let cut = cut.to_str().unwrap();
    assert_eq!(
        error_of(&["inspect", cut]),
        format!("modelc: error: {cut}: bad TorchScript archive: not a zip archive: invalid Zip archive: Could not find EOCD")
    );

    let huge = dir.path().join("huge.onnx");
    let text = "graph main(%x: f32[1]) -> (%y) {\n  %s = const i64[2] [100000, 100000]\n  %y = Expand(%x, %s)\n}";
    let model = modelc::Model::new(modelc::ir::Graph::parse(text).unwrap(), 17);
    modelc::save(&model, &huge, &modelc::SaveOptions::default()).unwrap();
    let out = dir.path().join("out");
    assert_eq!(
        error_of(&[
            "run",
            huge.to_str().unwrap(),
            "--random",
            "-o",
            out.to_str().unwrap()
        ]),
        "modelc: error: node Expand -> y: shape [100000, 100000] is too large"
    );
}

#[test]
fn tflite_to_onnx_moves_io_to_nchw_unless_keep_io_layout() {
    // The ONNX writer's own layout option: a channels-last .tflite becomes an NCHW ONNX model
    // with NCHW inputs and outputs, or keeps NHWC at the boundary behind a Transpose.
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        r#"graph main(%x: f32[1,3,4,4]) -> (%y) {{
  %w = const f32[4,3,3,3] [{}]
  %c = Conv(%x, %w) {{pads=[1,1,1,1]}}
  %y = Relu(%c)
}}"#,
        weights(108)
    );
    let model = modelc::Model::new(modelc::ir::Graph::parse(&text).unwrap(), 17);
    let onnx = dir.path().join("m.onnx");
    modelc::save(&model, &onnx, &modelc::SaveOptions::default()).unwrap();
    let tfl = dir.path().join("m.tflite");
    let o = modelc(&["convert", onnx.to_str().unwrap(), tfl.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let dims_and_transposes = |args: &[&str]| {
        let back = dir.path().join("back.onnx");
        let mut all = vec!["convert", tfl.to_str().unwrap(), back.to_str().unwrap()];
        all.extend_from_slice(args);
        let o = modelc(&all);
        assert!(o.status.success(), "{}", stderr(&o));
        let m = modelc::load(&back).unwrap();
        let g = &m.graph;
        let x = modelc::ir::ValueRef::new(g.inputs()[0], 0);
        let dims: Vec<Option<u64>> = g
            .value(x)
            .and_then(|v| v.ty.as_ref()?.ty.as_tensor()?.shape.clone())
            .map(|s| s.0.iter().map(|d| d.known()).collect())
            .unwrap_or_default();
        let transposes = g
            .node_ids()
            .filter(|&id| g.node(id).op.onnx() == Some(modelc::ir::OnnxOp::Transpose))
            .count();
        (dims, transposes)
    };
    let (nchw, t) = dims_and_transposes(&[]);
    assert_eq!(nchw, [Some(1), Some(3), Some(4), Some(4)]);
    assert_eq!(t, 0, "NCHW at the boundary needs no Transpose");
    let (nhwc, t) = dims_and_transposes(&["--keep-io-layout"]);
    assert_eq!(nhwc, [Some(1), Some(4), Some(4), Some(3)]);
    assert_eq!(t, 2, "a Transpose at the input and at the output");
}

#[test]
fn input_formats_are_recognized_by_content_whatever_the_extension() {
    // Shipped models are often `.jit`, `.bin` or `.model`: the content says what they are,
    // and the output's extension still chooses what is written.
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            "torchscript/cnn_bn_traced/model.pt",
            "model.jit",
            "TorchScript",
        ),
        ("tflite/small_cnn_dynamic.tflite", "model.model", "Tflite"),
        ("models/tiny_cnn.onnx", "model.bin", "Onnx"),
    ];
    for (src, name, format) in cases {
        let renamed = dir.path().join(name);
        std::fs::copy(testdata(src), &renamed).unwrap();
        let o = modelc(&["inspect", "--json", renamed.to_str().unwrap()]);
        assert!(o.status.success(), "{name}: {}", stderr(&o));
        let json: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(json["format"], format, "{name}");
        let out = dir.path().join(format!("{name}.onnx"));
        let o = modelc(&["convert", renamed.to_str().unwrap(), out.to_str().unwrap()]);
        assert!(o.status.success(), "{name}: {}", stderr(&o));
        assert_eq!(modelc::input_format(&out).unwrap(), modelc::Format::Onnx);
    }
    // Neither content nor extension: one line naming the file, no output.
    let junk = dir.path().join("notes.model");
    std::fs::write(&junk, b"hello, not a model").unwrap();
    let o = modelc(&["inspect", junk.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("notes.model: not a model modelc reads"),
        "{err}"
    );
}

/// The default-domain opset of the ONNX file at `path`.
fn opset_of(path: &Path) -> Option<i64> {
    modelc::load(path).unwrap().opset("")
}

#[test]
fn convert_moves_a_model_between_opsets_and_refuses_what_the_target_lacks() {
    let dir = tempfile::tempdir().unwrap();
    let tiny = testdata("models/tiny_cnn.onnx");
    let old = dir.path().join("tiny11.onnx");
    let o = modelc(&["convert", &tiny, old.to_str().unwrap(), "--opset", "11"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(opset_of(&old), Some(11));
    let back = dir.path().join("tiny18.onnx");
    let o = modelc(&[
        "convert",
        old.to_str().unwrap(),
        back.to_str().unwrap(),
        "--opset",
        "18",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(opset_of(&back), Some(18));
    let o = modelc(&["verify", &tiny, back.to_str().unwrap(), "--dim", "N=2"]);
    assert!(o.status.success(), "{}", stdout(&o));

    // Squeeze with computed axes and Gelu have no opset-12 form: both named, one line.
    let text = r#"graph g(%x: f32[1,2,3], %k: i64[1]) -> (%a, %b) {
  %a = Squeeze(%x, %k)
  %b = Gelu(%x)
}"#;
    let src = dir.path().join("new.onnx");
    let model = modelc::Model::new(modelc::ir::Graph::parse(text).unwrap(), 20);
    modelc::save(&model, &src, &modelc::SaveOptions::default()).unwrap();
    let out = dir.path().join("old").join("x.onnx");
    std::fs::create_dir(out.parent().unwrap()).unwrap();
    let o = modelc(&[
        "convert",
        src.to_str().unwrap(),
        out.to_str().unwrap(),
        "--opset",
        "12",
    ]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("-> a` (Squeeze): `axes` is computed at run time")
            && err.contains("-> b` (Gelu): Gelu exists from opset 20 on"),
        "{err}"
    );
    assert!(!out.exists());
}

#[test]
fn optimize_opset_lets_gelu_fuse_into_the_standard_op() {
    let dir = tempfile::tempdir().unwrap();
    let text = r#"graph g(%x: f32[2,8]) -> (%y) {
  %sqrt2 = const f32[] [1.4142135]
  %one = const f32[] [1.0]
  %half = const f32[] [0.5]
  %d = Div(%x, %sqrt2)
  %e = Erf(%d)
  %a = Add(%e, %one)
  %m = Mul(%x, %a)
  %y = Mul(%m, %half)
}"#;
    let src = dir.path().join("gelu17.onnx");
    let model = modelc::Model::new(modelc::ir::Graph::parse(text).unwrap(), 17);
    modelc::save(&model, &src, &modelc::SaveOptions::default()).unwrap();
    let out = dir.path().join("out.onnx");
    let o = modelc(&[
        "optimize",
        src.to_str().unwrap(),
        out.to_str().unwrap(),
        "-O2",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("--opset 20"), "{}", stderr(&o));
    let o = modelc(&[
        "optimize",
        src.to_str().unwrap(),
        out.to_str().unwrap(),
        "-O2",
        "--opset",
        "20",
    ]);
    let report = stderr(&o);
    assert!(o.status.success(), "{report}");
    assert!(
        report
            .lines()
            .any(|l| l.starts_with("opset") && l.contains("17") && l.contains("20")),
        "{report}"
    );
    let m = modelc::load(&out).unwrap();
    assert_eq!(m.opset(""), Some(20));
    let gelus = m
        .graph
        .node_ids()
        .filter(|&id| m.graph.node(id).op.display_name() == "Gelu")
        .count();
    assert_eq!(gelus, 1);
    let o = modelc(&["verify", src.to_str().unwrap(), out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stdout(&o));
}

#[test]
fn quantize_moves_an_old_opset_up_before_calibrating() {
    let dir = tempfile::tempdir().unwrap();
    let old = dir.path().join("tiny12.onnx");
    let o = modelc(&[
        "convert",
        &testdata("models/tiny_cnn.onnx"),
        old.to_str().unwrap(),
        "--opset",
        "12",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = dir.path().join("q.onnx");
    let o = modelc(&[
        "quantize",
        old.to_str().unwrap(),
        out.to_str().unwrap(),
        "--calibration-random",
        "2",
        "--dim",
        "N=1",
    ]);
    let report = stderr(&o);
    assert!(o.status.success(), "{report}");
    assert!(
        report.contains("opset: 12 -> 13 (per-channel QDQ needs opset 13)"),
        "{report}"
    );
    assert_eq!(opset_of(&out), Some(13));

    // What cannot move up is refused before any calibration.
    let text = r#"graph g(%x: f32[1,2,3,3]) -> (%y) {
  %s = const f32[2] [1.0, 2.0]
  %b = const f32[2] [0.5, -0.5]
  %m = const f32[2] [0.1, 0.2]
  %v = const f32[2] [1.0, 4.0]
  %y = BatchNormalization(%x, %s, %b, %m, %v) {spatial=0}
}"#;
    let src = dir.path().join("bn8.onnx");
    let model = modelc::Model::new(modelc::ir::Graph::parse(text).unwrap(), 8);
    modelc::save(&model, &src, &modelc::SaveOptions::default()).unwrap();
    let out = dir.path().join("bn-int8.onnx");
    let o = modelc(&[
        "quantize",
        src.to_str().unwrap(),
        out.to_str().unwrap(),
        "--calibration-random",
        "2",
    ]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("needs opset 13") && err.contains("spatial=0"),
        "{err}"
    );
    assert!(!err.contains("calibration:"), "{err}");
    assert!(!out.exists());
}

#[test]
fn every_command_that_runs_or_rewrites_a_model_takes_the_shape_options() {
    let dir = tempfile::tempdir().unwrap();
    let tiny = testdata("models/tiny_cnn.onnx");
    let d = dir.path();
    let path = |n: &str| d.join(n).to_string_lossy().into_owned();
    let shapes = ["--input-shape", "image:2,3,8,8", "--dim", "N=2"];
    let commands: Vec<Vec<String>> = vec![
        vec!["convert".into(), tiny.clone(), path("c.onnx")],
        vec!["optimize".into(), tiny.clone(), path("o.onnx")],
        vec![
            "run".into(),
            tiny.clone(),
            "--random".into(),
            "-o".into(),
            path("run"),
        ],
        vec!["verify".into(), tiny.clone(), tiny.clone()],
        vec![
            "quantize".into(),
            tiny.clone(),
            path("q.onnx"),
            "--calibration-random".into(),
            "1".into(),
        ],
        vec!["inspect".into(), tiny.clone()],
    ];
    for mut args in commands {
        args.extend(shapes.iter().map(|s| s.to_string()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let o = modelc(&args);
        assert!(o.status.success(), "{args:?}: {}", stderr(&o));
        if args[0] == "inspect" {
            assert!(stdout(&o).contains("image: f32[2,3,8,8]"), "{}", stdout(&o));
        }
    }
    // The quantized model has the fixed batch.
    let o = modelc(&["inspect", &path("q.onnx")]);
    assert!(stdout(&o).contains("image: f32[2,3,8,8]"), "{}", stdout(&o));
}

/// A `torch.export` archive (testdata/make_pt2.py) is recognized by its extension and by its
/// content, converts with its symbolic batch kept, and is written back as a `.pt2`.
#[test]
fn pt2_archives_read_by_extension_and_content() {
    let dir = tempfile::tempdir().unwrap();
    let pt2 = testdata("pt2/linear_dyn.pt2");
    let o = modelc(&["inspect", &pt2]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(text.contains("torch.export (.pt2) model"), "{text}");
    assert!(text.contains("x: f32[s77,4]"), "{text}");
    // By content, whatever the file is called.
    let renamed = dir.path().join("model.bin");
    std::fs::copy(&pt2, &renamed).unwrap();
    let o = modelc(&["inspect", renamed.to_str().unwrap()]);
    assert!(
        stdout(&o).contains("torch.export (.pt2) model"),
        "{}",
        stderr(&o)
    );
    let onnx = dir.path().join("m.onnx");
    let o = modelc(&["convert", &pt2, onnx.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = modelc(&["inspect", onnx.to_str().unwrap()]);
    assert!(stdout(&o).contains("x: f32[s77,4]"), "{}", stdout(&o));
    // And back to a .pt2, the symbolic batch still there.
    let back = dir.path().join("back.pt2");
    let o = modelc(&["convert", onnx.to_str().unwrap(), back.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = modelc(&["inspect", back.to_str().unwrap()]);
    assert!(
        stdout(&o).contains("torch.export (.pt2) model"),
        "{}",
        stdout(&o)
    );
    assert!(stdout(&o).contains("x: f32[s77,4]"), "{}", stdout(&o));
}

#[test]
fn run_gives_the_same_bits_on_any_number_of_threads() {
    let dir = tempfile::tempdir().unwrap();
    let model = testdata("models/tiny_cnn.onnx");
    let mut outputs = Vec::new();
    for threads in ["1", "2"] {
        let out = dir.path().join(threads);
        let o = modelc(&[
            "run",
            &model,
            "--random",
            "--dim",
            "N=2",
            "--threads",
            threads,
            "-o",
            out.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
        outputs.push(std::fs::read(out.join("output_0.npy")).unwrap());
    }
    assert_eq!(outputs[0], outputs[1]);
    let o = modelc(&["run", &model, "--random", "--dim", "N=2", "--threads", "0"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("--threads"), "{}", stderr(&o));
}
