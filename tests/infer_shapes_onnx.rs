//! modelc's shape inference against onnx's reference: tests/infer_shapes_vs_onnx.py strips
//! the declared types from every ONNX node-suite model and from torchvision / torch models it
//! exports, lets `onnx.shape_inference` and `modelc optimize -p infer-shapes` infer them
//! again, and compares every value onnx infers fully (values only modelc types fully —
//! it tracks shape values symbolically — are compared with onnx's `data_prop=True` run). Fails on any disagreement or when
//! fewer values agree than modelc reached when this test was written. It also runs every
//! node-suite model with a Shape or Size node through `infer-shapes,fold,dce` and checks
//! with onnxruntime that the folded model computes what the original does.

use std::path::{Path, PathBuf};

use std::process::Command;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[test]
fn inferred_shapes_match_onnx_shape_inference() {
    let Some(python) = modelc_testkit::python() else {
        return;
    };
    let Some(node_suite) = modelc_testkit::node_suite() else {
        return;
    };
    let o = Command::new(python)
        .arg(root().join("tests/infer_shapes_vs_onnx.py"))
        .arg("--modelc")
        .arg(env!("CARGO_BIN_EXE_modelc"))
        .arg("--node-suite")
        .arg(node_suite)
        .arg("--torch")
        // 10,039 of 10,062 node-suite values and all 736 of the torch models' agreed when
        // this was written; the rest are ops modelc does not infer (ai.onnx.ml,
        // TfIdfVectorizer, SequenceMap, opset-8 Scan, one-sided inverse DFT).
        .args(["--min-agree", "10770"])
        // Node-suite models with Shape/Size through infer-shapes,fold,dce, run by
        // onnxruntime before and after: 256 when this was written.
        .args(["--fold-check", "--min-fold-checked", "250"])
        .output()
        .expect("python runs");
    let stdout = String::from_utf8_lossy(&o.stdout);
    let summary: Vec<&str> = stdout.lines().filter(|l| !l.starts_with("test_")).collect();
    println!("{}", summary.join("\n"));
    assert!(
        o.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

fn modelc(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_modelc"))
        .args(args)
        .output()
        .expect("modelc runs")
}

#[test]
fn optimize_fixes_input_dims_from_the_command_line() {
    let tiny = root().join("testdata/models/tiny_cnn.onnx");
    let tiny = tiny.to_str().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.onnx");
    let out_s = out.to_str().unwrap();
    for (args, batch) in [
        (vec!["--dim", "N=2"], 2),
        (vec!["--input-shape", "image:1,3,8,8"], 1),
    ] {
        let mut all = vec!["optimize", tiny, out_s, "-O2"];
        all.extend(args);
        let o = modelc(&all);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let m = modelc::load(&out).unwrap();
        let g = &m.graph;
        let input = modelc::ir::ValueRef::new(g.inputs()[0], 0);
        assert_eq!(g.known_dims(input), Some(vec![batch, 3, 8, 8]));
        assert_eq!(g.known_dims(g.outputs()[0]), Some(vec![batch, 10]));
        std::fs::remove_file(&out).unwrap();
    }
    let o = modelc(&["optimize", tiny, out_s, "--input-shape", "image:1,3,9,8"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert_eq!(
        err.trim(),
        "modelc: error: input `image` dimension 2 is 8, --input-shape says 9"
    );
    assert!(!out.exists());
    let o = modelc(&["optimize", tiny, out_s, "--dim", "N"]);
    assert_eq!(
        String::from_utf8_lossy(&o.stderr).trim(),
        "modelc: error: --dim `N` is not NAME=VALUE (a number)"
    );
}
