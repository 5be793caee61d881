//! `cargo xtask targets-table`: the hardware-targets table in one command. The table's models
//! (ResNet-18, MobileNetV2, EfficientNet-B0, the transformer encoder, the LSTM classifier and
//! the YOLO-style detector) through every target with a tool that runs here — Ethos-U55/U65
//! (Vela), TFLite Micro and the Edge TPU rules (tests/targets_table.py), qnn-htp, nnapi, coreml
//! and tensorrt (tests/targets_onnx.py), tflite-gpu (tests/targets_gpu.py) — then one table
//! of them all (tests/targets_summary.py), which fails when `modelc check` and a tool disagree.

use crate::workspace::{run, Xtask};
use crate::Result;

/// The models of the table (issue 13's list).
pub(crate) const TABLE_MODELS: &str =
    "resnet18,mobilenet_v2,efficientnet_b0,transformer_encoder,lstm,yolo";

impl Xtask {
    /// Every part runs (a failing one does not hide the others); the summary reads their
    /// reports, and the command fails when any part or the summary does.
    pub(crate) fn targets_all(&self, only: Option<&str>) -> Result<()> {
        let modelc = self.build_modelc()?;
        let only = only.unwrap_or(TABLE_MODELS);
        let mut failed = Vec::new();
        if let Err(e) = self.targets_tflite_table(&modelc, Some(only)) {
            failed.push(format!(
                "Ethos-U / TFLite Micro / Edge TPU (tests/targets_table.py): {e}"
            ));
        }
        if let Err(e) = self.targets_onnx(Some(&modelc), true, Some(only)) {
            failed.push(format!(
                "qnn-htp / nnapi / coreml / tensorrt (tests/targets_onnx.py): {e}"
            ));
        }
        if let Err(e) = self.targets_gpu_table(&modelc, Some(only)) {
            failed.push(format!("tflite-gpu (tests/targets_gpu.py): {e}"));
        }
        let summary = run(self
            .py()
            .arg("tests/targets_summary.py")
            .arg("--target-dir")
            .arg(&self.target)
            .arg("--only")
            .arg(only)
            .arg("--modelc")
            .arg(&modelc)
            .arg("--out")
            .arg(self.target.join("targets-summary.md")));
        if let Err(e) = summary {
            failed.push(format!("summary (tests/targets_summary.py): {e}"));
        }
        if failed.is_empty() {
            Ok(())
        } else {
            Err(failed.join("\n").into())
        }
    }
}
