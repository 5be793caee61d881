//! `modelc targets` and `modelc check`: the built-in targets load, each operator of a model is
//! placed with the rule it breaks, the exit status says whether everything lands on the
//! accelerator, and a target file with a mistake is refused naming the file and the key.
//! (Agreement with the vendors' own tools is `tests/targets_vendor.py`.)

use std::path::Path;
use std::process::{Command, Output};

use crate::cli::{stderr, stdout, testdata};

fn modelc(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_modelc"))
        .args(args)
        .env_remove(modelc::check::TARGETS_DIR_ENV)
        .output()
        .expect("modelc runs")
}

#[test]
fn targets_lists_the_built_in_set() {
    let o = modelc(&["targets"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let names: Vec<String> = stdout(&o)
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(String::from))
        .collect();
    assert_eq!(
        names,
        [
            "coreml",
            "cpu",
            "edgetpu",
            "ethos-u55-128",
            "ethos-u65-256",
            "nnapi",
            "qnn-htp",
            "tensorrt",
            "tflite-gpu",
            "tflm"
        ]
    );
    let o = modelc(&["targets", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let u55 = v
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["target"]["name"] == "ethos-u55-128")
        .unwrap();
    assert_eq!(u55["target"]["fallback"], "partition");
    assert_eq!(
        u55["ops"]["DEPTHWISE_CONV_2D"]["stride"],
        serde_json::json!([1, 3])
    );
    // Every rule cites where it comes from.
    for t in v.as_array().unwrap() {
        for (op, rule) in t["ops"].as_object().unwrap() {
            assert!(!rule["source"].as_str().unwrap().is_empty(), "{op}");
        }
    }
}

/// The int16x8 CNN made by TensorFlow's converter: its float input QUANTIZE and output
/// DEQUANTIZE are the two operators Vela 5.2.0 puts on the CPU ("CPU operators = 2").
#[test]
fn check_places_each_operator_with_its_reason() {
    let model = testdata("tflite/small_cnn_int16x8.tflite");
    let o = modelc(&["check", &model, "--target", "ethos-u55-128"]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("2 of 17 ops do not run on ethos-u55-128"),
        "{err}"
    );
    insta::assert_snapshot!(stdout(&o), @r"
    fallback     QUANTIZE                 serving_default_image:0_int16
                 QUANTIZE: f32 tensor `serving_default_image:0` (accepted: i8, u8, i16)
    accelerator  CONV_2D                  functional_1/conv2d_1/Relu;functional_1/conv2d_1/convolution
    accelerator  DEPTHWISE_CONV_2D        functional_1/re_lu_1/Relu6;functional_1/depthwise_conv2d_1/depthwise
    accelerator  ADD                      functional_1/add_1/Add
    accelerator  MAX_POOL_2D              functional_1/max_pooling2d_1/MaxPool2d
    accelerator  CONV_2D                  functional_1/conv2d_1_2/convolution1
    accelerator  TANH                     functional_1/conv2d_1_2/Tanh
    accelerator  CONV_2D                  functional_1/conv2d_2_1/convolution1
    accelerator  LOGISTIC                 functional_1/conv2d_2_1/Sigmoid
    accelerator  QUANTIZE                 functional_1/conv2d_2_1/Sigmoid_requantized
    accelerator  QUANTIZE                 functional_1/conv2d_1_2/Tanh_requantized
    accelerator  CONCATENATION            functional_1/concatenate_1/concat
    accelerator  AVERAGE_POOL_2D          functional_1/average_pooling2d_1/AvgPool
    accelerator  MEAN                     functional_1/global_average_pooling2d_1/Mean
    accelerator  FULLY_CONNECTED          functional_1/dense_1/MatMul2
    accelerator  SOFTMAX                  StatefulPartitionedCall_1:0_int16
    fallback     DEQUANTIZE               StatefulPartitionedCall_1:0
                 DEQUANTIZE: not supported by ethos-u55-128
    15 of 17 ops on ethos-u55-128 (1 partition); 2 fall back to the CPU
    ");
}

#[test]
fn check_exits_zero_when_everything_lands_on_the_accelerator() {
    // Full-int8 MobileNetV2 (int8 input and output): Vela 5.2.0 reports CPU operators = 0.
    let model = testdata("tflite/mobilenet_v2_int8.tflite");
    let o = modelc(&["check", &model, "--target", "ethos-u65-256", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["accelerated"], v["total"]);
    assert_eq!(v["partitions"], 1);
    assert_eq!(v["nodes"].as_array().unwrap().len(), 65);
    // The CPU takes anything.
    let o = modelc(&["check", &model, "--target", "cpu"]);
    assert!(o.status.success(), "{}", stderr(&o));
    // TFLite Micro's int8 SOFTMAX aborts on its tiny input scale (7.8e-9: this Keras model's
    // weights are untrained), as tflite-micro's own interpreter does when it loads it.
    let o = modelc(&["check", &model, "--target", "tflm", "--json"]);
    assert_eq!(o.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let refused: Vec<&serde_json::Value> = v["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["accelerator"] == false)
        .collect();
    assert_eq!(refused.len(), 1);
    assert_eq!(
        refused[0]["reason"],
        "SOFTMAX: input scale 7.8477305e-9 <= 1.4901161193847656e-8"
    );
}

#[test]
fn check_judges_other_formats_as_the_tflite_modelc_writes() {
    // A float ONNX CNN: written as float TFLite, nothing of it runs on the NPU.
    let model = testdata("models/tiny_cnn.onnx");
    let o = modelc(&["check", &model, "--target", "ethos-u55-128", "--json"]);
    assert_eq!(o.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["accelerated"], 0);
    assert_eq!(v["partitions"], 0);
    let first = &v["nodes"][0];
    assert_eq!(first["op"], "CONV_2D");
    assert!(first["reason"]
        .as_str()
        .unwrap()
        .starts_with("CONV_2D: f32 tensor"));
    // The CPU target takes the IR's own nodes.
    let o = modelc(&["check", &model]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).ends_with("6 of 6 ops on cpu (1 partition)\n"));
}

fn target_file(dir: &Path, text: &str) -> String {
    let p = dir.join("npu.toml");
    std::fs::write(&p, text).unwrap();
    p.to_string_lossy().into_owned()
}

const HEADER: &str = r#"
[target]
name = "tiny-npu"
description = "test"
format = "tflite"
fallback = "cut"
source = "this test"
"#;

#[test]
fn a_cut_target_puts_everything_after_the_first_unsupported_op_on_the_cpu() {
    let dir = tempfile::tempdir().unwrap();
    // No MAX_POOL_2D: the graph is cut there.
    let ops = [
        "QUANTIZE",
        "CONV_2D",
        "DEPTHWISE_CONV_2D",
        "ADD",
        "TANH",
        "LOGISTIC",
    ];
    let mut text = HEADER.to_string();
    for op in ops {
        text.push_str(&format!("[ops.{op}]\nsource = \"test\"\n"));
    }
    let file = target_file(dir.path(), &text);
    let model = testdata("tflite/small_cnn_int8.tflite");
    let o = modelc(&["check", &model, "--target-file", &file, "--json"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let nodes = v["nodes"].as_array().unwrap();
    let first_cpu = nodes
        .iter()
        .position(|n| n["accelerator"] == false)
        .unwrap();
    assert_eq!(nodes[first_cpu]["op"], "MAX_POOL_2D");
    assert!(nodes[first_cpu + 1..]
        .iter()
        .all(|n| n["accelerator"] == false));
    assert!(nodes[first_cpu + 1]["reason"]
        .as_str()
        .unwrap()
        .contains("after the first unsupported op"));
    assert_eq!(v["partitions"], 1);
    assert_eq!(v["accelerated"], first_cpu);
}

#[test]
fn a_target_file_with_a_mistake_is_refused_naming_the_file_and_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let model = testdata("tflite/small_cnn_int8.tflite");
    let cases = [
        ("[ops.CONV2D]\nsource = \"x\"\n", "`ops.CONV2D`: `CONV2D` is not an operator"),
        (
            "[ops.CONV_2D]\nsource = \"x\"\nstride = [3, 1]\n",
            "`ops.CONV_2D.stride`: range [3, 1] is empty",
        ),
        (
            "[ops.CONV_2D]\nsource = \"x\"\nstrides = [1, 3]\n",
            "unknown field `strides`",
        ),
        (
            "[ops.CONV_2D]\nsource = \"x\"\nweight_dtypes = [\"int8\"]\n",
            "`ops.CONV_2D.weight_dtypes`: unknown element type `int8`",
        ),
        (
            "[ops.CONV_2D]\nsource = \"\"\n",
            "`ops.CONV_2D.source`: is empty",
        ),
        (
            "[tensors.quantized]\nvalue = true\nexcept = [\"POOL\"]\nsource = \"x\"\n[ops.ADD]\nsource = \"x\"\n",
            "`tensors.quantized.except`: `POOL` is not an operator",
        ),
    ];
    for (body, needle) in cases {
        let file = target_file(dir.path(), &format!("{HEADER}{body}"));
        let o = modelc(&["check", &model, "--target-file", &file]);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(1), "{body}: {err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains(&file), "{err} does not name the file");
        assert!(err.contains(needle), "{err:?} lacks {needle:?}");
    }
    let o = modelc(&["check", &model, "--target", "ethos-u99"]);
    assert!(stderr(&o).contains("unknown target `ethos-u99` (`modelc targets` lists them)"));
}

/// `quantize --target ethos-u55-128` makes the inputs and outputs int8 (quantize-io): the
/// float QUANTIZE / DEQUANTIZE that Vela puts on the CPU are gone, and the command says
/// where the rest lands (the float Flatten between them stays on the CPU: not lowered yet).
#[test]
fn quantize_for_a_target_makes_the_io_integer() {
    let dir = tempfile::tempdir().unwrap();
    let model = testdata("models/tiny_cnn.onnx");
    let plain = dir.path().join("plain.tflite");
    let lowered = dir.path().join("lowered.tflite");
    let base = ["--calibration-random", "4", "--dim", "N=1"];
    let o = modelc(&[&["quantize", &model, plain.to_str().unwrap()][..], &base].concat());
    assert!(o.status.success(), "{}", stderr(&o));
    let o = modelc(
        &[
            &["quantize", &model, lowered.to_str().unwrap()][..],
            &base,
            &["--target", "ethos-u55-128"],
        ]
        .concat(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("target ethos-u55-128: input `image` is now i8"),
        "{err}"
    );
    assert!(
        err.contains("target ethos-u55-128: output `probs` is now the quantized value"),
        "{err}"
    );
    let fallbacks = |p: &Path| {
        let o = modelc(&[
            "check",
            p.to_str().unwrap(),
            "--target",
            "ethos-u55-128",
            "--json",
        ]);
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        v["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|n| n["accelerator"] == false)
            .map(|n| n["op"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    let before = fallbacks(&plain);
    let after = fallbacks(&lowered);
    // Plain: only the float I/O's QUANTIZE / DEQUANTIZE fall back (the layout TRANSPOSE
    // before the Flatten stays on the int8 map); lowered: nothing.
    assert_eq!(before, ["QUANTIZE", "DEQUANTIZE"]);
    assert_eq!(after, Vec::<String>::new());
}
