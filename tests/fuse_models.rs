//! The fusion passes on real models: `tests/fuse_models.py` exports torchvision ResNet-18
//! (with its BatchNormalization nodes), hand-written transformer blocks (LayerNorm, erf and
//! tanh GELU, attention, at opsets 17 and 20, and lifted to 23 by onnx's version converter),
//! `nn.TransformerEncoder` and `nn.MultiheadAttention` with the target/pyenv torch, runs
//! this `modelc optimize -O2` on each, and checks the fused op counts and onnxruntime's
//! outputs against the original model's; then does the same on the ONNX node suite's
//! `*_expanded` GELU / LayerNorm / RMSNorm / attention cases (the spec's own decompositions).

use std::path::Path;

use std::process::Command;

#[test]
fn fusions_on_exported_torch_models_match_onnxruntime() {
    let Some(python) = modelc_testkit::python() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fuse_models.py");
    let out = Command::new(python)
        .arg(&script)
        .arg(env!("CARGO_BIN_EXE_modelc"))
        .arg(dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    assert!(
        out.status.success(),
        "fuse_models.py failed:\n{stdout}\n{stderr}"
    );
    // Every model was checked (a script that stopped early would not print them all).
    for name in [
        "resnet18_bn:",
        "resnet18_bn_init:",
        "hand_block_opset20:",
        "hand_block_opset17:",
        "transformer_encoder:",
        "multihead_attention:",
        "hand_block_opset23:",
        "multihead_attention_opset23:",
        "node_suite_expanded:",
    ] {
        assert!(stdout.contains(name), "no result for {name}\n{stdout}");
    }
}
