//! The ONNX targets (nnapi, coreml, qnn-htp, tensorrt) through the CLI: `modelc check` judges
//! the ONNX nodes with their types, shapes and QDQ units, `convert --target` refuses a dynamic
//! shape for a static-shape target, and `quantize --target` writes the target's QDQ scheme.
//! (Agreement with onnxruntime's mobile checker and the QNN HTP backend on these rules is
//! `tests/targets_onnx.py`.)

use std::path::Path;

use modelc_ir::{DType, OnnxOp, Op};

use crate::cli::{stderr, stdout, testdata};
use crate::quant_cli::{modelc, write_model};

/// A classifier whose last op is a Gemm writing the graph output: plain `quantize` leaves
/// that output float, which HTP's FullyConnected refuses after a quantized input.
const FC: &str = r#"graph main(%x: f32[1,8]) -> (%y) {
  %w = const f32[4,8] [0.5, -0.25, 1.0, 0.75, -0.5, 0.125, 0.3, -0.1, 0.2, 0.4, -0.6, 0.8, 0.1, -0.3, 0.5, 0.7, -0.2, 0.6, 0.9, -0.4, 0.3, 0.2, -0.8, 0.1, 0.05, -0.15, 0.25, 0.35, -0.45, 0.55, 0.65, -0.75]
  %b = const f32[4] [0.1, -0.2, 0.3, 0.0]
  %h = Relu(%x)
  %y = Gemm(%h, %w, %b) {transB=1}
}"#;

fn check_json(path: &Path, target: &str) -> serde_json::Value {
    let o = modelc(&[
        "check",
        path.to_str().unwrap(),
        "--target",
        target,
        "--json",
    ]);
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", stderr(&o)))
}

fn quantize(model: &Path, out: &Path, extra: &[&str]) {
    let args = [
        &[
            "quantize",
            model.to_str().unwrap(),
            out.to_str().unwrap(),
            "--calibration-random",
            "4",
        ][..],
        extra,
    ]
    .concat();
    let o = modelc(&args);
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn quantize_for_qnn_htp_quantizes_the_gemm_output_htp_refuses_float() {
    let dir = tempfile::tempdir().unwrap();
    let model = write_model(dir.path(), "fc.onnx", FC);
    let plain = dir.path().join("plain.onnx");
    let htp = dir.path().join("htp.onnx");
    quantize(&model, &plain, &[]);
    quantize(&model, &htp, &["--target", "qnn-htp"]);
    let v = check_json(&plain, "qnn-htp");
    let off: Vec<_> = v["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["accelerator"] == false)
        .map(|n| n["reason"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(off.len(), 1, "{off:?}");
    assert!(
        off[0].starts_with("Gemm: reads quantized") && off[0].contains("writes float `y`"),
        "{off:?}"
    );
    // The default scheme, a16w8: uint16 activations (opset 21), int8 weights, int32 bias, the
    // output quantized; `--activation-type u8` (the file's other option) gives a8w8.
    let a8 = dir.path().join("htp_a8.onnx");
    quantize(
        &model,
        &a8,
        &["--target", "qnn-htp", "--activation-type", "u8"],
    );
    for (path, activation, opset) in [(&htp, DType::U16, 21), (&a8, DType::U8, 13)] {
        let v = check_json(path, "qnn-htp");
        assert_eq!(v["accelerated"], v["total"], "{v}");
        let m = modelc::load(path).unwrap();
        assert!(m.opset("").unwrap() >= opset, "{:?}", m.opset(""));
        let g = &m.graph;
        let dq: Vec<_> = g
            .node_ids()
            .filter(|&id| g.node(id).op == Op::Onnx(OnnxOp::DequantizeLinear))
            .collect();
        let const_dtype = |id, slot| match g.input(id, slot).map(|v| &g.node(v.node).op) {
            Some(Op::Const(t)) => Some(t.dtype),
            _ => None,
        };
        let zero_points: Vec<DType> = dq.iter().filter_map(|&id| const_dtype(id, 2)).collect();
        assert!(zero_points.contains(&activation), "{zero_points:?}");
        assert!(zero_points.contains(&DType::I8), "{zero_points:?}");
        let other = if activation == DType::U8 {
            DType::U16
        } else {
            DType::U8
        };
        assert!(!zero_points.contains(&other), "{zero_points:?}");
        let consts: Vec<DType> = dq.iter().filter_map(|&id| const_dtype(id, 0)).collect();
        assert!(consts.contains(&DType::I32), "no int32 bias: {consts:?}");
        let last = g.outputs()[0].node;
        assert_eq!(g.node(last).op, Op::Onnx(OnnxOp::DequantizeLinear));
    }
    // A type the target does not take is refused, naming the ones it does.
    let o = modelc(&[
        "quantize",
        model.to_str().unwrap(),
        dir.path().join("i8.onnx").to_str().unwrap(),
        "--calibration-random",
        "4",
        "--target",
        "qnn-htp",
        "--activation-type",
        "i8",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("--activation-type i8 is not taken by the target (it takes u16, u8)"),
        "{}",
        stderr(&o)
    );
    assert!(!dir.path().join("i8.onnx").exists());
}

#[test]
fn quantize_for_tensorrt_writes_symmetric_int8_with_zero_points_0() {
    let dir = tempfile::tempdir().unwrap();
    let model = write_model(dir.path(), "fc.onnx", FC);
    let plain = dir.path().join("plain.onnx");
    let trt = dir.path().join("trt.onnx");
    quantize(&model, &plain, &[]);
    quantize(&model, &trt, &["--target", "tensorrt"]);
    // Plain quantization writes uint8 activations, which TensorRT's DequantizeLinear refuses.
    let o = modelc(&["check", plain.to_str().unwrap(), "--target", "tensorrt"]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert!(
        stdout(&o).contains("DequantizeLinear: u8 tensor"),
        "{}",
        stdout(&o)
    );
    let o = modelc(&["check", trt.to_str().unwrap(), "--target", "tensorrt"]);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    let m = modelc::load(&trt).unwrap();
    let g = &m.graph;
    for id in g.node_ids() {
        let n = g.node(id);
        if !matches!(
            n.op,
            Op::Onnx(OnnxOp::QuantizeLinear | OnnxOp::DequantizeLinear)
        ) {
            continue;
        }
        let Some(zp) = g.input(id, 2) else { continue };
        let Op::Const(t) = &g.node(zp.node).op else {
            panic!("zero point of {} is not constant", n.name)
        };
        assert!(
            t.raw().unwrap().iter().all(|&b| b == 0),
            "zero point of `{}` is not 0",
            n.name
        );
    }
}

#[test]
fn a_static_shape_target_asks_for_input_shape() {
    let dir = tempfile::tempdir().unwrap();
    let model = testdata("models/tiny_cnn.onnx");
    let out = dir.path().join("out.onnx");
    let o = modelc(&[
        "convert",
        &model,
        out.to_str().unwrap(),
        "--target",
        "nnapi",
    ]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("input `image` [N,3,8,8] has unknown dimensions")
            && err.contains("--input-shape"),
        "{err}"
    );
    assert!(!out.exists(), "a file the target rejects was written");
    let o = modelc(&[
        "convert",
        &model,
        out.to_str().unwrap(),
        "--target",
        "nnapi",
        "--dim",
        "N=1",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("6 of 6 ops on nnapi (1 partition)"),
        "{}",
        stderr(&o)
    );
    // The dynamic model itself: every node reads a value of unknown batch.
    let v = check_json(Path::new(&model), "coreml");
    assert_eq!(v["accelerated"], 0);
    let first = v["nodes"][0]["reason"].as_str().unwrap();
    assert!(first.contains("has a dynamic shape"), "{first}");
}

#[test]
fn convert_fp16_for_tflite_gpu_stores_float16_weights() {
    // `convert --target tflite-gpu --fp16`: the Conv filter and the MatMul weights become
    // float16 buffers read through DEQUANTIZE (the TFLite importer reads them back as float16
    // constants widened by a Cast); the file is about half the size and still all on the GPU.
    // (TF 2.15.1's analyzer and interpreter judge the real models: tests/targets_gpu.py.)
    use modelc_passes::testing::vals;
    let text = format!(
        r#"graph main(%x: f32[1,8,16,16]) -> (%y) {{
  %w = const f32[16,8,3,3] {w}
  %c = Conv(%x, %w) {{pads=[1,1,1,1]}}
  %r = Relu(%c)
  %p = GlobalAveragePool(%r)
  %shape = const i64[2] [1, 16]
  %f = Reshape(%p, %shape)
  %k = const f32[16,256] {k}
  %y = MatMul(%f, %k)
}}"#,
        w = vals(16 * 8 * 9, 1),
        k = vals(16 * 256, 2),
    );
    let dir = tempfile::tempdir().unwrap();
    let model = write_model(dir.path(), "m.onnx", &text);
    let (plain, half) = (dir.path().join("f32.tflite"), dir.path().join("f16.tflite"));
    for (out, extra) in [(&plain, &[][..]), (&half, &["--fp16"][..])] {
        let args = [
            &[
                "convert",
                model.to_str().unwrap(),
                out.to_str().unwrap(),
                "--target",
                "tflite-gpu",
            ][..],
            extra,
        ]
        .concat();
        let o = modelc(&args);
        assert!(o.status.success(), "{}", stderr(&o));
    }
    let size = |p: &Path| std::fs::metadata(p).unwrap().len() as f64;
    let ratio = size(&half) / size(&plain);
    assert!(ratio < 0.6, "float16 file is {ratio:.3} of the float32 one");
    let m = modelc::load(&half).unwrap();
    let g = &m.graph;
    let halves = g
        .node_ids()
        .filter(|&id| matches!(&g.node(id).op, Op::Const(t) if t.dtype == DType::F16))
        .count();
    assert_eq!(halves, 2);
    let v = check_json(&half, "tflite-gpu");
    assert_eq!(v["accelerated"], v["total"], "{v}");
}
