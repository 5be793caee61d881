//! Issue 15, seeing what a conversion did: `inspect`'s compute and memory figures, `diff`,
//! and `verify --layers`, on real torchvision models exported by `testdata/make_torchvision.py`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Mutex;

fn modelc(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_modelc"))
        .args(args)
        .output()
        .expect("modelc runs")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A torchvision model exported by `testdata/make_torchvision.py` (seeded random weights,
/// opset 17), made once into cargo's per-target temporary directory and reused; `None`
/// (the test skips) without the pinned Python environment.
fn torchvision(name: &str) -> Option<PathBuf> {
    static LOCK: Mutex<()> = Mutex::new(());
    let python = modelc_testkit::python()?;
    let _one_at_a_time = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("torchvision");
    let path = dir.join(format!("{name}.onnx"));
    if !path.exists() {
        let script =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/make_torchvision.py");
        let o = Command::new(python)
            .arg(script)
            .arg("--out")
            .arg(&dir)
            .arg("--only")
            .arg(name)
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "make_torchvision.py failed: {}",
            text(&o)
        );
    }
    Some(path)
}

fn inspect_json(model: &Path) -> serde_json::Value {
    let o = modelc(&["inspect", model.to_str().unwrap(), "--json"]);
    assert!(o.status.success(), "{}", text(&o));
    serde_json::from_slice(&o.stdout).unwrap()
}

/// The MACs torchvision publishes for its models (the "GFLOPS" column of its model table,
/// which counts multiply-accumulates): ResNet-50 4.09 G, MobileNetV2 0.30 G. modelc's count
/// must be within 5%.
#[test]
fn inspect_macs_match_published_figures() {
    for (name, published) in [("resnet50", 4.09e9), ("mobilenet_v2", 0.30e9)] {
        let Some(model) = torchvision(name) else {
            return;
        };
        let j = inspect_json(&model);
        let cost = &j["cost"];
        let macs = cost["macs"].as_u64().unwrap() as f64;
        assert!(
            (macs / published - 1.0).abs() < 0.05,
            "{name}: {macs} MACs, published {published}"
        );
        assert!(cost["flops"].as_u64().unwrap() as f64 >= 2.0 * macs);
        assert_eq!(cost["uncounted"].as_array().unwrap().len(), 0, "{cost}");
        assert_eq!(cost["unknown_size_values"], 0);
        // Every weight is float32, and the bytes by type add up to the parameter bytes.
        assert_eq!(cost["weight_bytes"]["f32"], j["parameter_bytes"]);
        // The largest activation of both is a [1, 64 or 96, 112, 112]-sized float tensor or
        // a residual sum of [1, 256, 56, 56]: the peak holds at least two such values.
        let peak = cost["peak_activation_bytes"].as_u64().unwrap();
        assert!(
            peak > 2 * 256 * 56 * 56 * 4 && peak < 32 << 20,
            "{name}: peak {peak}"
        );
    }
}

/// `fuse-conv-bn` then `dce`: the BatchNormalization goes, the Conv that takes over its
/// output name gets new weights (numeric distance shown) and a bias; the Relu is unchanged.
#[test]
fn diff_shows_a_fusion() {
    use modelc_passes::testing::{pos_vals, vals};
    let before = format!(
        "graph main(%x: f32[1,2,4,4]) -> (%y) {{
  %w = const f32[3,2,1,1] {w}
  %c = Conv(%x, %w) layout=NCHW
  %s = const f32[3] {s}
  %b = const f32[3] {b}
  %m = const f32[3] {m}
  %v = const f32[3] {v}
  %bn = BatchNormalization(%c, %s, %b, %m, %v) layout=NCHW
  %y = Relu(%bn)
}}",
        w = vals(6, 1),
        s = pos_vals(3, 2),
        b = vals(3, 3),
        m = vals(3, 4),
        v = pos_vals(3, 5)
    );
    let done = modelc_passes::testing::run("fuse-conv-bn,dce", &before);
    let d = modelc::diff::diff(&done.before, &done.after);
    insta::assert_snapshot!("diff_fuse_conv_bn", d.render());
    let json = serde_json::to_value(&d).unwrap();
    assert_eq!(json["removed"].as_array().unwrap().len(), 1);
    assert_eq!(json["removed"][0]["op"], "Conv");
}

/// The same computation with every value renamed, one attribute changed and one input
/// retyped: nodes match by structure, and only the real changes are listed.
#[test]
fn diff_matches_renamed_nodes_by_structure() {
    let a = modelc::ir::Graph::parse(
        "graph main(%x: f32[1,4], %k: f32[4,4]) -> (%y) {
  %w = const f32[4,4] [1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0]
  %h = MatMul(%x, %w)
  %r = LeakyRelu(%h) {alpha=0.1}
  %t = Add(%r, %x)
  %y = Softmax(%t) {axis=1}
}",
    )
    .unwrap();
    let b = modelc::ir::Graph::parse(
        "graph main(%x: f32[N,4], %z: f32[4]) -> (%out) {
  %w = const f32[4,4] [1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.5]
  %v0 = MatMul(%x, %w)
  %v1 = LeakyRelu(%v0) {alpha=0.2}
  %v2 = Add(%v1, %x)
  %out = Softmax(%v2) {axis=1}
}",
    )
    .unwrap();
    let d = modelc::diff::diff(&a, &b);
    insta::assert_snapshot!("diff_renamed", d.render());
    assert_eq!(d.matched_by_structure, 4);
    assert!(d.added.is_empty() && d.removed.is_empty());
}

#[test]
fn diff_of_a_model_with_itself_is_empty_and_cli_prints_json() {
    let model = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/models/tiny_cnn.onnx");
    let m = model.to_str().unwrap();
    let o = modelc(&["diff", m, m]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        "nodes: 6 in A, 6 in B: 6 unchanged, 0 changed, 0 removed, 0 added\n"
    );
    // optimize --diff prints the diff of the input against what it wrote.
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("t.tflite");
    let o = modelc(&[
        "convert",
        m,
        out.to_str().unwrap(),
        "--dim",
        "N=1",
        "--diff",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let printed = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(
        printed.contains("~ input image: f32[1,3,8,8] -> f32[1,8,8,3]"),
        "{printed}"
    );
    let o = modelc(&["diff", m, out.to_str().unwrap(), "--json"]);
    assert!(o.status.success(), "{}", text(&o));
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(j["changed"].as_array().unwrap().iter().any(|c| c["changes"]
        .as_array()
        .unwrap()
        .iter()
        .any(|ch| ch["kind"] == "layout" && ch["b"] == "NHWC")));
}
