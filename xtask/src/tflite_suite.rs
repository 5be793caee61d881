//! `cargo xtask tflite-suite`: the TFLite op suite (testdata/tflite/ops) through modelc and
//! tf2onnx in the same run, both scored in onnxruntime against LiteRT.

use std::path::PathBuf;
use std::process::Command;

use crate::workspace::{run, Xtask};
use crate::Result;

impl Xtask {
    fn tfenv_dir(&self) -> PathBuf {
        self.target.join("tfenv")
    }

    fn tf_python(&self) -> Command {
        let mut c = Command::new(self.tfenv_dir().join("bin/python"));
        c.current_dir(&self.root).env("TF_CPP_MIN_LOG_LEVEL", "3");
        c
    }

    /// target/tfenv from xtask/requirements-tflite-suite.txt (TensorFlow, tf2onnx), kept apart
    /// from target/pyenv: TensorFlow is large and only this command needs it.
    fn tfenv(&self) -> Result<()> {
        self.stamped_venv(
            &self.tfenv_dir(),
            &self.root.join("xtask/requirements-tflite-suite.txt"),
        )
    }

    /// Makes sure of target/tfenv, optionally regenerates the committed models with
    /// TensorFlow's converter, converts them with tf2onnx (--opset 18) and runs
    /// tests/tflite_op_suite.py on modelc's and tf2onnx's ONNX files.
    pub(crate) fn tflite_suite(&self, regenerate: bool, update_passing: bool) -> Result<()> {
        self.pyenv()?;
        self.tfenv()?;
        if regenerate {
            run(self.tf_python().arg("testdata/make_tflite_ops.py"))?;
        }
        let out = self.target.join("tflite-suite");
        let peer = out.join("tf2onnx");
        run(self
            .tf_python()
            .arg("xtask/py/tf2onnx_suite.py")
            .arg("testdata/tflite/ops")
            .arg(&peer))?;
        let modelc = self.build_modelc()?;
        let mut suite = self.py();
        suite
            .arg("tests/tflite_op_suite.py")
            .arg("--modelc")
            .arg(&modelc)
            .arg("--out")
            .arg(out.join("modelc"))
            .arg("--peer")
            .arg(format!("tf2onnx={}", peer.display()));
        if update_passing {
            suite.arg("--update-passing");
        }
        run(&mut suite)
    }
}
