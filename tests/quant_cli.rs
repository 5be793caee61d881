//! `modelc quantize` end to end: real ONNX files in and out, calibration directories of
//! .npy / .npz files, and bad input giving one line, exit 1 and no output file.

use std::io::Write;
use std::path::{Path, PathBuf};

use std::process::{Command, Output};

use modelc::ir::{DType, Graph, Model, Tensor};

const CNN: &str = r#"graph main(%x: f32[1,2,4,4]) -> (%y) {
  %w = const f32[3,2,1,1] [0.5, -0.25, 1.0, 0.75, -0.5, 0.125]
  %b = const f32[3] [0.1, -0.2, 0.3]
  %c = Conv(%x, %w, %b) {kernel_shape=[1,1]}
  %y = Relu(%c)
}"#;

pub(crate) fn modelc(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_modelc"))
        .args(args)
        .output()
        .expect("modelc runs")
}

pub(crate) fn write_model(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    let m = Model::new(Graph::parse(text).unwrap(), 17);
    modelc::save(&m, &path, &modelc::SaveOptions::default()).unwrap();
    path
}

pub(crate) fn npy(dims: Vec<u64>, dtype: DType, seed: u32) -> Vec<u8> {
    let n: u64 = dims.iter().product();
    let t = match dtype {
        DType::F32 => {
            let v: Vec<f32> = (0..n)
                .map(|i| ((i as u32 * 7 + seed * 13) % 17) as f32 / 8.0 - 1.0)
                .collect();
            Tensor::from_f32(dims, &v).unwrap()
        }
        _ => Tensor::from_i64(dims, &vec![1; n as usize]).unwrap(),
    };
    modelc::npy::encode(&t).unwrap()
}

pub(crate) fn calib_dir(dir: &Path, name: &str, files: &[(&str, Vec<u8>)]) -> PathBuf {
    let d = dir.join(name);
    std::fs::create_dir_all(&d).unwrap();
    for (f, bytes) in files {
        std::fs::write(d.join(f), bytes).unwrap();
    }
    d
}

pub(crate) fn expect_error(args: &[&str], out: &Path, needle: &str) {
    let o = modelc(args);
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(o.status.code(), Some(1), "stderr: {err}");
    assert_eq!(err.lines().count(), 1, "not one line: {err}");
    assert!(err.starts_with("modelc: error: "), "{err}");
    assert!(err.contains(needle), "{err:?} lacks {needle:?}");
    assert!(!out.exists(), "an output file was left behind");
}

#[test]
fn quantizes_with_npy_and_npz_calibration() {
    let tmp = tempfile::tempdir().unwrap();
    let model = write_model(tmp.path(), "cnn.onnx", CNN);
    let files: Vec<(String, Vec<u8>)> = (0..4)
        .map(|i| (format!("{i}.npy"), npy(vec![1, 2, 4, 4], DType::F32, i)))
        .collect();
    let files: Vec<(&str, Vec<u8>)> = files.iter().map(|(n, b)| (n.as_str(), b.clone())).collect();
    let calib = calib_dir(tmp.path(), "calib", &files);
    let out = tmp.path().join("q.onnx");
    let o = modelc(&[
        "quantize",
        model.to_str().unwrap(),
        out.to_str().unwrap(),
        "--calibration",
        calib.to_str().unwrap(),
        "--json",
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(
        err.contains("calibration: 4 inputs through the interpreter in "),
        "{err}"
    );
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(report["mode"], "int8");
    assert_eq!(report["calibration_inputs"], 4);
    assert!(
        report["outputs"][0]["cosine"].as_f64().unwrap() > 0.999,
        "{report}"
    );
    let q = modelc::load(&out).unwrap();
    let ops: Vec<String> = q
        .graph
        .node_ids()
        .map(|id| q.graph.node(id).op.display_name())
        .collect();
    // Input and Conv output quantized; the Relu makes the graph output, which stays float.
    assert_eq!(
        ops.iter().filter(|o| *o == "QuantizeLinear").count(),
        2,
        "{ops:?}"
    );

    // One .npz holding a batch of 3 samples under the input's name.
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    zip.start_file("x.npy", zip::write::SimpleFileOptions::default())
        .unwrap();
    zip.write_all(&npy(vec![3, 2, 4, 4], DType::F32, 9))
        .unwrap();
    let bytes = zip.finish().unwrap().into_inner();
    let calib = calib_dir(tmp.path(), "npz", &[("batch.npz", bytes)]);
    let out2 = tmp.path().join("q2.onnx");
    let o = modelc(&[
        "quantize",
        model.to_str().unwrap(),
        out2.to_str().unwrap(),
        "--calibration",
        calib.to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(err.contains("calibration: 3 inputs"), "{err}");
}

#[test]
fn random_calibration_warns_loudly() {
    let tmp = tempfile::tempdir().unwrap();
    let model = write_model(tmp.path(), "cnn.onnx", CNN);
    let out = tmp.path().join("q.onnx");
    let o = modelc(&[
        "quantize",
        model.to_str().unwrap(),
        out.to_str().unwrap(),
        "--calibration-random",
        "8",
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(
        err.contains("WARNING: calibrating on 8 RANDOM inputs"),
        "{err}"
    );
    assert!(out.exists());
}

#[test]
fn other_modes_write_models() {
    let tmp = tempfile::tempdir().unwrap();
    let model = write_model(tmp.path(), "cnn.onnx", CNN);
    for mode in ["fp16", "bf16", "int8-dynamic"] {
        let out = tmp.path().join(format!("{mode}.onnx"));
        let o = modelc(&[
            "quantize",
            model.to_str().unwrap(),
            out.to_str().unwrap(),
            "--mode",
            mode,
        ]);
        assert!(
            o.status.success(),
            "{mode}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(modelc::load(&out).is_ok());
    }
}

#[test]
fn bad_calibration_input_is_one_line_and_no_output() {
    let tmp = tempfile::tempdir().unwrap();
    let model = write_model(tmp.path(), "cnn.onnx", CNN);
    let m = model.to_str().unwrap();
    let out = tmp.path().join("q.onnx");
    let o = out.to_str().unwrap();

    let d = calib_dir(
        tmp.path(),
        "shape",
        &[("a.npy", npy(vec![1, 2, 8, 8], DType::F32, 0))],
    );
    expect_error(
        &["quantize", m, o, "--calibration", d.to_str().unwrap()],
        &out,
        "a.npy: input `x` has shape [1,2,4,4], the file holds [1, 2, 8, 8]",
    );

    let d = calib_dir(
        tmp.path(),
        "dtype",
        &[("a.npy", npy(vec![1, 2, 4, 4], DType::I64, 0))],
    );
    expect_error(
        &["quantize", m, o, "--calibration", d.to_str().unwrap()],
        &out,
        "a.npy: input `x` is f32, the file holds i64",
    );

    let d = calib_dir(tmp.path(), "empty", &[("notes.txt", b"hello".to_vec())]);
    expect_error(
        &["quantize", m, o, "--calibration", d.to_str().unwrap()],
        &out,
        "no .npy or .npz files",
    );

    let d = calib_dir(
        tmp.path(),
        "garbage",
        &[
            ("a.npy", b"\x93NUMPY garbage".to_vec()),
            ("b.npz", b"PK not a zip".to_vec()),
        ],
    );
    expect_error(
        &["quantize", m, o, "--calibration", d.to_str().unwrap()],
        &out,
        "a.npy",
    );

    expect_error(
        &["quantize", m, o],
        &out,
        "static int8 needs calibration inputs",
    );
    expect_error(
        &[
            "quantize",
            m,
            o,
            "--mode",
            "int3",
            "--calibration-random",
            "2",
        ],
        &out,
        "unknown --mode `int3`",
    );

    let exp = write_model(
        tmp.path(),
        "exp.onnx",
        "graph main(%x: f32[4]) -> (%y) {\n  %y = Exp(%x)\n}",
    );
    expect_error(
        &[
            "quantize",
            exp.to_str().unwrap(),
            o,
            "--mode",
            "int8-dynamic",
        ],
        &out,
        "nothing to quantize",
    );
}

fn run_python(python: &Path, script: &str, args: &[&str]) -> String {
    let o = Command::new(python)
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .expect("python runs");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "python failed: {err}");
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Exports torch recurrent models to ONNX (opset 17, the TorchScript exporter).
const EXPORT_RNNS: &str = r#"
import sys, torch
out = sys.argv[1]
torch.manual_seed(0)

class Net(torch.nn.Module):
    def __init__(self, rnn):
        super().__init__()
        self.rnn = rnn
    def forward(self, x):
        y, _ = self.rnn(x)
        return y

models = {
    # Two layers, bidirectional: W [2, 4*128, 64|256], R [2, 4*128, 128].
    "lstm": torch.nn.LSTM(64, 128, num_layers=2, bidirectional=True, batch_first=True),
    "gru": torch.nn.GRU(64, 128, num_layers=2, batch_first=True),
}
for name, rnn in models.items():
    m = Net(rnn).eval()
    x = torch.randn(2, 20, 64)
    torch.onnx.export(m, (x,), f"{out}/{name}.onnx", opset_version=17, dynamo=False,
                      input_names=["x"], output_names=["y"])
"#;

/// Runs the float and the quantized model in onnxruntime on the same random input; prints
/// the size ratio, the cosine similarity of the outputs, the ops and the element types of
/// the recurrent ops' W and R.
const COMPARE_ORT: &str = r#"
import sys, os, json, numpy as np, onnx, onnxruntime as ort
from onnx import numpy_helper
fp32, q = sys.argv[1:3]
x = np.random.default_rng(7).standard_normal((2, 20, 64)).astype(np.float32)
outs = []
for p in (fp32, q):
    s = ort.InferenceSession(p, providers=["CPUExecutionProvider"])
    outs.append(s.run(None, {"x": x})[0].astype(np.float64).ravel())
a, b = outs
m = onnx.load(q)
onnx.checker.check_model(m, full_check=True)
inits = {t.name: t.data_type for t in m.graph.initializer}
producer = {o: n for n in m.graph.node for o in n.output}
weights = []
for n in m.graph.node:
    if n.op_type in ("LSTM", "GRU", "RNN"):
        for w in n.input[1:3]:
            d = producer.get(w)
            if d is not None and d.op_type == "DequantizeLinear":
                weights.append(onnx.TensorProto.DataType.Name(inits[d.input[0]]))
            else:
                weights.append(onnx.TensorProto.DataType.Name(inits.get(w, 0)))
print(json.dumps({
    "ratio": os.path.getsize(q) / os.path.getsize(fp32),
    "cosine": float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b))),
    "identical": bool(np.array_equal(a, b)),
    "ops": sorted({n.op_type for n in m.graph.node}),
    "domains": sorted({n.domain for n in m.graph.node}),
    "weights": weights,
}))
"#;

/// `--mode int8-dynamic` on torch's LSTM and GRU: int8 W and R behind DequantizeLinear,
/// float compute, checked in onnxruntime against the float model.
#[test]
fn int8_dynamic_quantizes_torch_lstm_and_gru_weights() {
    let Some(python) = modelc_testkit::python() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_str().unwrap();
    run_python(&python, EXPORT_RNNS, &[dir]);
    for (name, op) in [("lstm", "LSTM"), ("gru", "GRU")] {
        let fp32 = tmp.path().join(format!("{name}.onnx"));
        let q = tmp.path().join(format!("{name}_int8.onnx"));
        let o = modelc(&[
            "quantize",
            fp32.to_str().unwrap(),
            q.to_str().unwrap(),
            "--mode",
            "int8-dynamic",
            "--json",
        ]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        let layers = report["layers"].as_array().unwrap();
        // One per torch layer, all weight-only.
        assert_eq!(layers.len(), 2, "{report}");
        for l in layers {
            assert_eq!(l["op"], op, "{l}");
            assert_eq!(l["quantized"], true, "{l}");
            assert!(l["note"].as_str().unwrap().contains("weight-only"), "{l}");
        }

        let r: serde_json::Value = serde_json::from_str(&run_python(
            &python,
            COMPARE_ORT,
            &[fp32.to_str().unwrap(), q.to_str().unwrap()],
        ))
        .unwrap();
        eprintln!("{name}: {r}");
        // Every W and R is int8; the graph has only standard ops and no integer compute.
        let weights = r["weights"].as_array().unwrap();
        assert_eq!(weights.len(), 4, "{r}");
        assert!(weights.iter().all(|w| w == "INT8"), "{r}");
        assert_eq!(r["domains"], serde_json::json!([""]), "{r}");
        let ops: Vec<&str> = r["ops"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o.as_str().unwrap())
            .collect();
        assert!(
            ops.contains(&"DequantizeLinear") && ops.contains(&op),
            "{r}"
        );
        assert!(!ops.contains(&"DynamicQuantizeLinear"), "{r}");
        // Measured (torch 2.15, onnxruntime 1.32): LSTM 0.260 of the fp32 file, GRU 0.269
        // (float biases and scales); cosine 0.99999 for both.
        let ratio = r["ratio"].as_f64().unwrap();
        assert!(ratio < 0.35, "{name}: quantized file is {ratio:.3} of fp32");
        let cosine = r["cosine"].as_f64().unwrap();
        assert!(cosine >= 0.999, "{name}: cosine {cosine}");
        assert_eq!(r["identical"], false, "{r}");
    }

    // Excluded by op type, the GRU stays float: nothing is left to quantize.
    let gru = tmp.path().join("gru.onnx");
    let out = tmp.path().join("gru_excluded.onnx");
    expect_error(
        &[
            "quantize",
            gru.to_str().unwrap(),
            out.to_str().unwrap(),
            "--mode",
            "int8-dynamic",
            "--exclude",
            "GRU",
        ],
        &out,
        "nothing to quantize",
    );
}
