//! `cargo xtask qnn-env` and `cargo xtask targets-onnx`: the ONNX-side targets (nnapi,
//! coreml, qnn-htp, tensorrt) judged by their tools — onnxruntime's mobile usability checker
//! (in target/pyenv's onnxruntime) and Qualcomm's HTP backend (onnxruntime-qnn, pinned in
//! xtask/requirements-qnn.txt, installed into target/qnn-site) — against `modelc check`,
//! on hand-made one-violation models and torchvision models (tests/targets_onnx.py).

use std::path::{Path, PathBuf};

use crate::workspace::{run, Xtask};
use crate::Result;

impl Xtask {
    /// onnxruntime-qnn, installed (--no-deps) into target/qnn-site.
    pub(crate) fn qnn_env(&self) -> Result<PathBuf> {
        self.pyenv()?;
        let site = self.pip_site("qnn-site", "requirements-qnn.txt")?;
        println!("qnn-env: {}", self.rel(&site));
        Ok(site)
    }

    /// The hand-made cases and, with `models`, the model table (`only`: some of them);
    /// `modelc`: a given binary instead of the release build.
    pub(crate) fn targets_onnx(
        &self,
        modelc: Option<&Path>,
        models: bool,
        only: Option<&str>,
    ) -> Result<()> {
        let modelc = match modelc {
            Some(m) => m.to_path_buf(),
            None => self.build_modelc()?,
        };
        let site = self.qnn_env()?;
        let mut cmd = self.py();
        cmd.env("PYTHONPATH", &site)
            .arg("tests/targets_onnx.py")
            .arg("--modelc")
            .arg(&modelc)
            .arg("--out")
            .arg(self.target.join("targets-onnx"));
        if models {
            cmd.arg("--models").arg(self.torchvision()?);
            if let Some(only) = only {
                cmd.arg("--only").arg(only);
            }
        }
        run(&mut cmd)
    }
}
