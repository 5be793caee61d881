//! modelc reads what it writes: every model of testdata (ONNX, TFLite and TorchScript
//! sources), written by modelc in each of the three formats, reads back into modelc and
//! runs the same as the source does in modelc's interpreter (float outputs: max abs error
//! ≤ 1e-4 of the output's range; integer and bool outputs exactly).
//!
//! A write may refuse (the writer validates and names the node); a refused write is
//! printed, and `EXPECTED` lists the (source, format) pairs that must round trip, so a
//! writer that starts refusing one fails here. A file that was written but does not read
//! back, or runs differently, always fails, except for the pairs `READ_BACK_GAPS` lists
//! with the reader's reason — a listed pair that starts to round trip fails too, so the
//! list only shrinks.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use modelc::ir::Tensor;
use modelc::run::{random_inputs, run};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The sources: name, path, and the input files testdata has for it (random inputs of the
/// declared shapes when there are none).
fn sources() -> Vec<(String, PathBuf, Vec<PathBuf>)> {
    let r = root().join("testdata");
    let mut out = Vec::new();
    // (local_function.onnx, custom_op.onnx and sparse_init.onnx are left out: the
    // interpreter runs no local functions, custom ops or sparse constants, so there is no
    // source output to match.)
    for name in ["tiny_cnn", "if_loop", "fp16_bf16"] {
        out.push((
            format!("{name}.onnx"),
            r.join("models").join(format!("{name}.onnx")),
            Vec::new(),
        ));
    }
    for name in [
        "small_cnn_float",
        "small_cnn_fp16",
        "small_cnn_dynamic",
        "small_cnn_int8",
        "small_cnn_int16x8",
        "mobilenet_v2_float",
        "mobilenet_v2_int8",
    ] {
        out.push((
            format!("{name}.tflite"),
            r.join("tflite").join(format!("{name}.tflite")),
            vec![r.join("tflite").join(format!("{name}.input.npy"))],
        ));
    }
    let mut pts: Vec<PathBuf> = std::fs::read_dir(r.join("torchscript"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    pts.sort();
    for dir in pts {
        let name = dir.file_name().unwrap().to_string_lossy().to_string();
        let mut inputs: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| {
                p.file_name()
                    .unwrap()
                    .to_string_lossy()
                    .starts_with("input_")
            })
            .collect();
        inputs.sort();
        out.push((format!("{name}.pt"), dir.join("model.pt"), inputs));
    }
    out
}

/// (source, written format) pairs that must write, read back and run the same.
const EXPECTED: &[(&str, &str)] = &[
    ("tiny_cnn.onnx", "onnx"),
    ("tiny_cnn.onnx", "tflite"),
    ("tiny_cnn.onnx", "pt"),
    ("if_loop.onnx", "onnx"),
    ("if_loop.onnx", "pt"),
    ("fp16_bf16.onnx", "onnx"),
    ("fp16_bf16.onnx", "tflite"),
    ("fp16_bf16.onnx", "pt"),
    ("small_cnn_float.tflite", "onnx"),
    ("small_cnn_float.tflite", "tflite"),
    ("small_cnn_float.tflite", "pt"),
    ("small_cnn_int8.tflite", "onnx"),
    ("small_cnn_int8.tflite", "tflite"),
    ("small_cnn_int8.tflite", "pt"),
    ("mobilenet_v2_float.tflite", "onnx"),
    ("mobilenet_v2_float.tflite", "tflite"),
    ("mobilenet_v2_float.tflite", "pt"),
    ("mobilenet_v2_int8.tflite", "onnx"),
    ("mobilenet_v2_int8.tflite", "tflite"),
    ("mobilenet_v2_int8.tflite", "pt"),
    ("cnn_bn_traced.pt", "onnx"),
    ("cnn_bn_traced.pt", "tflite"),
    ("cnn_bn_traced.pt", "pt"),
    ("encoder_layer_traced.pt", "onnx"),
    ("encoder_layer_traced.pt", "tflite"),
    ("encoder_layer_traced.pt", "pt"),
    ("encoder_layer_scripted.pt", "pt"),
    ("lstm_traced.pt", "onnx"),
    ("lstm_traced.pt", "tflite"),
    ("lstm_traced.pt", "pt"),
    ("resblock_scripted.pt", "pt"),
];

/// Written files the reader cannot take yet, with its reason (a substring of the error).
const READ_BACK_GAPS: &[(&str, &str, &str)] = &[
    // The writer's ONNX Loop is a TorchScript `while`; the reader evaluates code at import
    // time and unrolls only loops whose condition it knows there.
    (
        "if_loop.onnx",
        "pt",
        "`while` on a run-time value is not supported",
    ),
];

fn inputs_for(model: &modelc::Model, files: &[PathBuf]) -> Vec<(String, Tensor)> {
    if files.is_empty() {
        let dims: HashMap<String, u64> = [("N", 2), ("batch", 2), ("seq", 4)]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
        return random_inputs(model, 7, &dims).unwrap();
    }
    let names = modelc::run::declared_inputs(model);
    files
        .iter()
        .zip(names)
        .map(|(f, (n, _))| (n, modelc::npy::read(f).unwrap()))
        .collect()
}

/// Renames `inputs` (by position) to the model's declared inputs.
fn rename(model: &modelc::Model, inputs: &[(String, Tensor)]) -> Vec<(String, Tensor)> {
    modelc::run::declared_inputs(model)
        .into_iter()
        .zip(inputs)
        .map(|((n, _), (_, t))| (n, t.clone()))
        .collect()
}

fn same(got: &[(String, Tensor)], want: &[(String, Tensor)]) -> Result<(), String> {
    if got.len() != want.len() {
        return Err(format!("{} outputs instead of {}", got.len(), want.len()));
    }
    for ((name, g), (_, w)) in got.iter().zip(want) {
        if g.dims != w.dims {
            return Err(format!(
                "output `{name}`: shape {:?} vs {:?}",
                g.dims, w.dims
            ));
        }
        let gv = modelc_interp::Array::from_tensor(g)
            .and_then(|a| a.to_f64_vec())
            .map_err(|e| e.to_string())?;
        let wv = modelc_interp::Array::from_tensor(w)
            .and_then(|a| a.to_f64_vec())
            .map_err(|e| e.to_string())?;
        let range = wv.iter().fold(0f64, |m, x| m.max(x.abs()));
        let tol = if w.dtype.is_float() {
            1e-4 * range
        } else {
            0.0
        };
        let worst = gv
            .iter()
            .zip(&wv)
            .filter(|(a, b)| !(a.is_nan() && b.is_nan()))
            .map(|(a, b)| (a - b).abs())
            .fold(0f64, f64::max);
        if worst > tol || gv.iter().zip(&wv).any(|(a, b)| a.is_nan() != b.is_nan()) {
            return Err(format!(
                "output `{name}`: max abs error {worst:.3e} (tolerance {tol:.3e})"
            ));
        }
    }
    Ok(())
}

enum Outcome {
    RoundTrips,
    Refused(String),
    Fails(String),
}

fn round_trip(
    model: &modelc::Model,
    inputs: &[(String, Tensor)],
    want: &[(String, Tensor)],
    path: &Path,
) -> Outcome {
    // The TorchScript writer moves an NHWC graph (from TFLite) to NCHW, inputs and
    // outputs included: the read-back model takes and gives channels first.
    let nchw = path.extension().is_some_and(|e| e == "pt") && is_nhwc(model);
    let opts = modelc::SaveOptions {
        onnx: modelc::OnnxWriteOptions {
            keep_io_layout: true,
            ..Default::default()
        },
        // The source's layout at the inputs and outputs, so the read-back model takes the
        // same inputs.
        tflite: modelc_tflite::WriteOptions {
            keep_io_layout: true,
        },
        ..Default::default()
    };
    if let Err(e) = modelc::save(model, path, &opts) {
        return Outcome::Refused(modelc::error_line(&e));
    }
    let back = match modelc::load(path) {
        Ok(m) => m,
        Err(e) => return Outcome::Fails(format!("read back: {}", modelc::error_line(&e))),
    };
    let mut inputs = rename(&back, inputs);
    if nchw {
        for (_, t) in &mut inputs {
            *t = permute4(t, [0, 3, 1, 2]);
        }
    }
    let mut got = match run(&back, &inputs) {
        Ok(o) => o,
        Err(e) => return Outcome::Fails(format!("run: {e}")),
    };
    if nchw {
        for (_, t) in &mut got {
            *t = permute4(t, [0, 2, 3, 1]);
        }
    }
    match same(&got, want) {
        Ok(()) => Outcome::RoundTrips,
        Err(e) => Outcome::Fails(e),
    }
}

fn is_nhwc(model: &modelc::Model) -> bool {
    let g = &model.graph;
    g.node_ids()
        .any(|id| g.node(id).layout == Some(modelc::ir::Layout::Nhwc))
}

/// A rank-4 tensor's dimensions permuted (other ranks as they are).
fn permute4(t: &Tensor, perm: [usize; 4]) -> Tensor {
    if t.dims.len() != 4 {
        return t.clone();
    }
    let es = (t.dtype.bits() / 8) as usize;
    let raw = t.raw().unwrap();
    let d: Vec<usize> = t.dims.iter().map(|&x| x as usize).collect();
    let out_dims: Vec<usize> = perm.iter().map(|&p| d[p]).collect();
    let strides = [d[1] * d[2] * d[3], d[2] * d[3], d[3], 1];
    let mut out = Vec::with_capacity(raw.len());
    for a in 0..out_dims[0] {
        for b in 0..out_dims[1] {
            for c in 0..out_dims[2] {
                for e in 0..out_dims[3] {
                    let idx = [a, b, c, e];
                    let src: usize = (0..4).map(|k| idx[k] * strides[perm[k]]).sum();
                    out.extend_from_slice(&raw[src * es..(src + 1) * es]);
                }
            }
        }
    }
    let dims = out_dims.iter().map(|&x| x as u64).collect();
    Tensor::from_raw(t.dtype, dims, out.into()).unwrap()
}

#[test]
fn every_written_model_reads_back_and_runs_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let mut failures = Vec::new();
    let mut passed = Vec::new();
    for (name, path, files) in sources() {
        let model = modelc::load(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
        let inputs = inputs_for(&model, &files);
        let want = run(&model, &inputs).unwrap_or_else(|e| panic!("{name}: run: {e}"));
        for fmt in ["onnx", "tflite", "pt"] {
            let out = dir.path().join(format!("{name}.{fmt}"));
            let key = (name.as_str(), fmt);
            let gap = READ_BACK_GAPS
                .iter()
                .find(|(s, f, _)| (*s, *f) == key)
                .map(|g| g.2);
            match (round_trip(&model, &inputs, &want, &out), gap) {
                (Outcome::RoundTrips, None) => passed.push(format!("{name} -> {fmt}")),
                (Outcome::RoundTrips, Some(_)) => failures.push(format!(
                    "{name} -> {fmt} round trips now: remove it from READ_BACK_GAPS"
                )),
                (Outcome::Fails(e), Some(reason)) if e.contains(reason) => {
                    println!("known gap {name} -> {fmt}: {e}")
                }
                (Outcome::Fails(e), _) => failures.push(format!("{name} -> {fmt}: {e}")),
                (Outcome::Refused(e), _) if EXPECTED.contains(&key) => {
                    failures.push(format!("{name} -> {fmt}: refused: {e}"))
                }
                (Outcome::Refused(e), _) => println!("refused {name} -> {fmt}: {e}"),
            }
        }
    }
    println!("{} round trips: {}", passed.len(), passed.join(", "));
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
