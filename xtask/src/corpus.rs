//! `cargo xtask corpus`: trained models shipped inside pip packages (`testdata/corpus.py`),
//! converted by modelc in every direction and run in each format's own runtime against the
//! source's; cells listed in `tests/corpus_passing.json` must stay ok.

use crate::workspace::{run, Xtask};
use crate::Result;

/// The models CI runs (a few minutes): one of each kind the corpus holds — a TFLite
/// detector with sparse weights, one with MediaPipe's transposed-convolution custom op, a
/// landmark model, a paddle2onnx OCR classifier, the streaming VAD with state inputs, and
/// its scripted TorchScript form (an int argument pinned, an LSTMCell, Ifs on sizes), its
/// ONNX form with the chunk's shape given (Ifs folded), and the ONNX form whose sample-rate
/// input is pinned by `--dim sr=16000` (the If on it folded).
pub(crate) const CI_SUBSET: &str = "mp_face_detection_full_sparse,mp_selfie_segmentation,\
     mp_face_landmark,ocr_cls,silero_vad,silero_vad_jit,silero_vad_16k_op15@pinned,\
     silero_vad@pinned";

/// The list of cells that must stay ok (never a list of expected failures).
const PASSING: &str = "tests/corpus_passing.json";

impl Xtask {
    pub(crate) fn corpus(&self, only: Option<&str>, write_passing: bool) -> Result<()> {
        self.pyenv()?;
        let modelc = self.build_modelc()?;
        let work = self.target.join("corpus");
        let mut cmd = self.py();
        cmd.arg("testdata/corpus.py")
            .arg("--modelc")
            .arg(&modelc)
            .arg("--work")
            .arg(&work)
            .arg("--passing")
            .arg(PASSING)
            .arg("--json")
            .arg(work.join("report.json"));
        if let Some(only) = only {
            cmd.arg("--only").arg(only);
        }
        if write_passing {
            cmd.arg("--write-passing");
        }
        run(&mut cmd).map_err(|e| {
            format!(
                "corpus failed ({e}); the table is in {}",
                self.rel(&work.join("report.json"))
            )
            .into()
        })
    }
}
