//! `modelc compress` end to end: pruning a model whose zero channels go without changing its
//! outputs, and bad input (nothing to compress, a budget not met, calibration of the wrong
//! shape) giving one line, exit 1 and no output file.

use std::path::Path;

use modelc::ir::DType;

use crate::quant_cli::{calib_dir, expect_error, modelc, npy, write_model};

/// A Conv with 8 channels, 3 of them all zero, read by ReLU and a 1×1 Conv.
fn net() -> String {
    let w1: Vec<String> = (0..8 * 2)
        .map(|i| {
            if [1, 4, 6].contains(&(i / 2)) {
                "0.0".into()
            } else {
                format!("{:.3}", ((i * 7 % 11) as f32 - 5.0) / 5.0)
            }
        })
        .collect();
    let w2: Vec<String> = (0..3 * 8)
        .map(|i| format!("{:.3}", ((i * 5 % 13) as f32 - 6.0) / 6.0))
        .collect();
    format!(
        "graph main(%x: f32[1,2,4,4]) -> (%y) {{\n  %w1 = const f32[8,2,1,1] [{}]\n  %c1 = Conv(%x, %w1) {{kernel_shape=[1,1]}}\n  %r = Relu(%c1)\n  %w2 = const f32[3,8,1,1] [{}]\n  %y = Conv(%r, %w2) {{kernel_shape=[1,1]}}\n}}",
        w1.join(", "),
        w2.join(", ")
    )
}

fn calib(dir: &Path, dims: Vec<u64>) -> String {
    let files: Vec<(String, Vec<u8>)> = (0..3)
        .map(|i| (format!("{i}.npy"), npy(dims.clone(), DType::F32, i)))
        .collect();
    let files: Vec<(&str, Vec<u8>)> = files.iter().map(|(n, b)| (n.as_str(), b.clone())).collect();
    calib_dir(dir, "calib", &files)
        .to_str()
        .unwrap()
        .to_string()
}

/// `modelc compress ARGS... --json`, which must succeed: its JSON report.
fn compress_json(args: &[&str]) -> serde_json::Value {
    let mut all = vec!["compress"];
    all.extend_from_slice(args);
    all.push("--json");
    let o = modelc(&all);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_slice(&o.stdout).unwrap()
}

/// `modelc compress ARGS...`, which must fail with one line containing `msg` and leave no
/// file at `out`.
fn compress_refused(args: &[&str], out: &Path, msg: &str) {
    let mut all = vec!["compress"];
    all.extend_from_slice(args);
    expect_error(&all, out, msg);
}

#[test]
fn prunes_zero_channels_within_the_budget_and_reports_them() {
    let tmp = tempfile::tempdir().unwrap();
    let model = write_model(tmp.path(), "net.onnx", &net());
    let calib = calib(tmp.path(), vec![1, 2, 4, 4]);
    let out = tmp.path().join("small.onnx");
    let r = compress_json(&[
        model.to_str().unwrap(),
        out.to_str().unwrap(),
        "--prune",
        "0.375",
        "--calibration",
        &calib,
        "--max-error",
        "1e-6",
    ]);
    assert_eq!(r["pruned"][0]["channels_before"], 8);
    assert_eq!(r["pruned"][0]["channels_after"], 5);
    assert!(
        r["outputs"][0]["cosine"].as_f64().unwrap() > 0.999999,
        "{r}"
    );
    let small = modelc::load(&out).unwrap();
    let w1 = small
        .graph
        .node_ids()
        .find_map(|id| match &small.graph.node(id).op {
            modelc::ir::Op::Const(t) if t.dims.len() == 4 && t.dims[1] == 2 => Some(t.dims.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(w1, vec![5, 2, 1, 1]);
}

#[test]
fn refuses_a_budget_nothing_and_wrong_calibration_without_writing() {
    let tmp = tempfile::tempdir().unwrap();
    let model = write_model(tmp.path(), "net.onnx", &net());
    let calib_ok = calib(tmp.path(), vec![1, 2, 4, 4]);
    let out = tmp.path().join("small.onnx");
    let (m, o) = (model.to_str().unwrap(), out.to_str().unwrap());
    // Half the channels: live ones go too, and the error exceeds a tiny budget.
    compress_refused(
        &[
            m,
            o,
            "--prune",
            "0.75",
            "--calibration",
            &calib_ok,
            "--max-error",
            "1e-9",
        ],
        &out,
        "exceeds --max-error",
    );
    // The only Conv's output is the graph output: nothing can be pruned.
    let single = write_model(
        tmp.path(),
        "single.onnx",
        "graph main(%x: f32[1,2,4,4]) -> (%y) {\n  %w = const f32[3,2,1,1] [0.5, -0.25, 1.0, 0.75, -0.5, 0.125]\n  %y = Conv(%x, %w) {kernel_shape=[1,1]}\n}",
    );
    compress_refused(
        &[
            single.to_str().unwrap(),
            o,
            "--prune",
            "0.5",
            "--calibration",
            &calib_ok,
        ],
        &out,
        "nothing to compress",
    );
    let wrong = tmp.path().join("wrong");
    std::fs::create_dir_all(&wrong).unwrap();
    std::fs::write(wrong.join("0.npy"), npy(vec![1, 3, 4, 4], DType::F32, 0)).unwrap();
    compress_refused(
        &[
            m,
            o,
            "--prune",
            "0.25",
            "--calibration",
            wrong.to_str().unwrap(),
        ],
        &out,
        "has shape",
    );
    compress_refused(&[m, o, "--calibration", &calib_ok], &out, "--prune");
}

/// A Gemm `[32, 64]` (transB) with seeded weights, read by ReLU.
fn fc_net() -> String {
    let w: Vec<String> = (0..32 * 64)
        .map(|i| format!("{:.3}", ((i * 37 % 101) as f32 - 50.0) / 50.0))
        .collect();
    format!(
        "graph main(%x: f32[1,64]) -> (%y) {{\n  %w = const f32[32,64] [{}]\n  %g = Gemm(%x, %w) {{transB=1}}\n  %y = Relu(%g)\n}}",
        w.join(", ")
    )
}

#[test]
fn block_sparsity_to_tflite_is_smaller_and_reported() {
    let tmp = tempfile::tempdir().unwrap();
    let model = write_model(tmp.path(), "fc.onnx", &fc_net());
    let calib = calib(tmp.path(), vec![1, 64]);
    let (sparse, dense) = (tmp.path().join("s.tflite"), tmp.path().join("d.tflite"));
    let r = compress_json(&[
        model.to_str().unwrap(),
        sparse.to_str().unwrap(),
        "--sparsity",
        "block:0.75",
        "--calibration",
        &calib,
    ]);
    assert_eq!(r["sparsified"][0]["elements"], 2048);
    assert_eq!(r["sparsified"][0]["zeros_after"], 1536);
    let c = modelc(&["convert", model.to_str().unwrap(), dense.to_str().unwrap()]);
    assert!(c.status.success(), "{}", String::from_utf8_lossy(&c.stderr));
    let (s, d) = (
        std::fs::metadata(&sparse).unwrap().len(),
        std::fs::metadata(&dense).unwrap().len(),
    );
    assert_eq!(r["output_file_bytes"], s);
    // 2048 weights → 512 stored + 128 one-byte block indices + 33 segments.
    assert!(s + 5000 < d, "sparse {s} vs dense {d}");
}

#[test]
fn refuses_a_bad_sparsity_pattern_and_nothing_to_sparsify() {
    let tmp = tempfile::tempdir().unwrap();
    let model = write_model(tmp.path(), "fc.onnx", &fc_net());
    let calib = calib(tmp.path(), vec![1, 64]);
    let out = tmp.path().join("s.tflite");
    let (m, o) = (model.to_str().unwrap(), out.to_str().unwrap());
    for bad in ["4:4", "block:1.5", "most"] {
        compress_refused(
            &[m, o, "--sparsity", bad, "--calibration", &calib],
            &out,
            "--sparsity",
        );
    }
    // 2:4 of a weight already 2:4 zeroes nothing more.
    let mut once = modelc::load(&model).unwrap();
    modelc_passes::compress::sparsity::sparsify(
        &mut once.graph,
        modelc_passes::compress::sparsity::Pattern::NOfM { n: 2, m: 4 },
    );
    let already = tmp.path().join("already.onnx");
    modelc::save(&once, &already, &modelc::SaveOptions::default()).unwrap();
    compress_refused(
        &[
            already.to_str().unwrap(),
            o,
            "--sparsity",
            "2:4",
            "--calibration",
            &calib,
        ],
        &out,
        "nothing to compress",
    );
}

/// A MatMul `[48, 40]` of rank 2 (a sum of two outer products) then ReLU then a MatMul
/// `[40, 8]` of full rank: low-rank is exact on the first and costly on the second.
fn low_rank_net() -> String {
    let a: Vec<String> = (0..48 * 40)
        .map(|k| {
            let (i, j) = ((k / 40) as f32, (k % 40) as f32);
            format!(
                "{:.6}",
                (i * 0.37).sin() * (j * 0.11).cos() + 0.5 * (i * 0.05).cos() * (j * 0.29).sin()
            )
        })
        .collect();
    let b: Vec<String> = (0..40 * 8)
        .map(|i| format!("{:.3}", ((i * 37 % 101) as f32 - 50.0) / 50.0))
        .collect();
    format!(
        "graph main(%x: f32[1,48]) -> (%y) {{\n  %a = const f32[48,40] [{}]\n  %h = MatMul(%x, %a)\n  %r = Relu(%h)\n  %b = const f32[40,8] [{}]\n  %y = MatMul(%r, %b)\n}}",
        a.join(", "),
        b.join(", ")
    )
}

#[test]
fn max_error_alone_searches_per_layer_and_checks_held_out() {
    let tmp = tempfile::tempdir().unwrap();
    let model = write_model(tmp.path(), "lr.onnx", &low_rank_net());
    let calib = calib(tmp.path(), vec![1, 48]);
    let out = tmp.path().join("small.onnx");
    let r = compress_json(&[
        model.to_str().unwrap(),
        out.to_str().unwrap(),
        "--max-error",
        "1e-6",
        "--weights",
        "float",
        "--calibration",
        &calib,
    ]);
    // Three inputs: two to search, one held out.
    assert_eq!(r["search_inputs"], 2);
    assert_eq!(r["held_out_inputs"], 1);
    assert!(r["held_out_error"].as_f64().unwrap() <= 1e-6, "{r}");
    let layers = r["layers"].as_array().unwrap();
    assert!(
        layers[0]["choice"]
            .as_str()
            .unwrap()
            .starts_with("low-rank"),
        "{r}"
    );
    assert!(layers[0]["bytes_after"].as_u64() < layers[0]["bytes_before"].as_u64());
    assert_eq!(layers[1]["choice"], "none", "{r}");
    let small = modelc::load(&out).unwrap();
    let matmuls = small
        .graph
        .node_ids()
        .filter(|&id| small.graph.node(id).op.onnx() == Some(modelc::ir::OnnxOp::MatMul))
        .count();
    assert_eq!(matmuls, 3);
    // --eval: the search runs on every calibration input and is checked on these (the sets
    // `quantize --max-error --calibration DIR --eval DIR` takes, so the two can be compared).
    let files: Vec<(String, Vec<u8>)> = (0..2)
        .map(|i| (format!("{i}.npy"), npy(vec![1, 48], DType::F32, 10 + i)))
        .collect();
    let files: Vec<(&str, Vec<u8>)> = files.iter().map(|(n, b)| (n.as_str(), b.clone())).collect();
    let held = calib_dir(tmp.path(), "held", &files);
    let args = [
        model.to_str().unwrap(),
        out.to_str().unwrap(),
        "--max-error",
        "1e-6",
        "--weights",
        "float",
        "--calibration",
        &calib,
        "--eval",
        held.to_str().unwrap(),
    ];
    let r = compress_json(&args);
    assert_eq!(r["search_inputs"], 3);
    assert_eq!(r["held_out_inputs"], 2);
    assert!(r["held_out_error"].as_f64().unwrap() <= 1e-6, "{r}");
    // Only the search has a held-out set.
    std::fs::remove_file(&out).unwrap();
    compress_refused(
        &[
            model.to_str().unwrap(),
            out.to_str().unwrap(),
            "--rank-energy",
            "0.9",
            "--calibration",
            &calib,
            "--eval",
            held.to_str().unwrap(),
        ],
        &out,
        "--eval is the search's held-out set",
    );
}

#[test]
fn max_error_alone_refuses_a_budget_nothing_meets_and_nothing_to_compress() {
    let tmp = tempfile::tempdir().unwrap();
    let calib48 = calib(tmp.path(), vec![1, 48]);
    let out = tmp.path().join("small.onnx");
    // Only the full-rank layer can change (the rank-2 one is not there): no option is exact.
    let full = write_model(
        tmp.path(),
        "full.onnx",
        &format!(
            "graph main(%x: f32[1,48]) -> (%y) {{\n  %b = const f32[48,40] [{}]\n  %y = MatMul(%x, %b)\n}}",
            (0..48 * 40)
                .map(|i| format!("{:.3}", ((i * 37 % 101) as f32 - 50.0) / 50.0))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    );
    compress_refused(
        &[
            full.to_str().unwrap(),
            out.to_str().unwrap(),
            "--max-error",
            "1e-9",
            "--calibration",
            &calib48,
        ],
        &out,
        "no compression keeps",
    );
    // A 1×1 Conv of 3×2: its factors are never smaller.
    let tiny = write_model(
        tmp.path(),
        "tiny.onnx",
        "graph main(%x: f32[1,2,4,4]) -> (%y) {\n  %w = const f32[3,2,1,1] [0.5, -0.25, 1.0, 0.75, -0.5, 0.125]\n  %y = Conv(%x, %w) {kernel_shape=[1,1]}\n}",
    );
    let img = tmp.path().join("img");
    std::fs::create_dir_all(&img).unwrap();
    let calib_img = calib(&img, vec![1, 2, 4, 4]);
    compress_refused(
        &[
            tiny.to_str().unwrap(),
            out.to_str().unwrap(),
            "--max-error",
            "0.1",
            "--calibration",
            &calib_img,
        ],
        &out,
        "nothing to compress",
    );
    // Calibration of the wrong shape.
    compress_refused(
        &[
            full.to_str().unwrap(),
            out.to_str().unwrap(),
            "--max-error",
            "0.1",
            "--calibration",
            &calib_img,
        ],
        &out,
        "has shape",
    );
}

/// Weight bytes of an ONNX file's initializers and constants, as modelc reads them.
fn weight_bytes(path: &Path) -> u64 {
    modelc_passes::quant::weight_bytes(&modelc::load(path).unwrap().graph)
}

#[test]
fn max_error_combines_low_rank_and_int8_int4_weights_smaller_than_int8_alone() {
    let tmp = tempfile::tempdir().unwrap();
    let model = write_model(tmp.path(), "lr.onnx", &low_rank_net());
    let calib = calib(tmp.path(), vec![1, 48]);
    let int8 = tmp.path().join("int8.onnx");
    let o = modelc(&[
        "quantize",
        model.to_str().unwrap(),
        int8.to_str().unwrap(),
        "--mode",
        "int8-weight",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out = tmp.path().join("small.onnx");
    let r = compress_json(&[
        model.to_str().unwrap(),
        out.to_str().unwrap(),
        "--max-error",
        "1e-3",
        "--calibration",
        &calib,
    ]);
    assert_eq!(r["precisions"], serde_json::json!(["int8", "int4"]), "{r}");
    assert!(r["held_out_error"].as_f64().unwrap() <= 1e-3, "{r}");
    let layers = r["layers"].as_array().unwrap();
    // The rank-2 layer is factorized and its factors stored narrow; the full-rank one is
    // stored narrow.
    let first = layers[0]["choice"].as_str().unwrap();
    assert!(
        first.starts_with("low-rank") && first.contains("int"),
        "{r}"
    );
    assert!(layers[1]["choice"].as_str().unwrap().contains("int"), "{r}");
    let (small, int8_only) = (weight_bytes(&out), weight_bytes(&int8));
    assert!(small < int8_only, "{small} vs int8 alone {int8_only}");
    assert_eq!(r["weight_bytes_after"].as_u64(), Some(small), "{r}");
}

#[test]
fn size_and_ratio_choose_the_smallest_error_at_a_size() {
    let tmp = tempfile::tempdir().unwrap();
    let model = write_model(tmp.path(), "lr.onnx", &low_rank_net());
    let calib = calib(tmp.path(), vec![1, 48]);
    let before = weight_bytes(&model);
    let out = tmp.path().join("small.onnx");
    let r = compress_json(&[
        model.to_str().unwrap(),
        out.to_str().unwrap(),
        "--ratio",
        "0.2",
        "--calibration",
        &calib,
    ]);
    let after = weight_bytes(&out);
    assert!(after as f64 <= 0.2 * before as f64, "{after} of {before}");
    assert_eq!(
        r["size_target"].as_u64(),
        Some((before as f64 * 0.2) as u64)
    );
    assert!(r["held_out_error"].as_f64().unwrap() < 0.1, "{r}");
    std::fs::remove_file(&out).unwrap();
    // No option makes it that small.
    compress_refused(
        &[
            model.to_str().unwrap(),
            out.to_str().unwrap(),
            "--size",
            "10",
            "--calibration",
            &calib,
        ],
        &out,
        "above --size 10",
    );
}
