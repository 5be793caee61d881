//! `cargo xtask tflite-suite`: the TFLite op suite (testdata/tflite/ops) through modelc and
//! tf2onnx in the same run, both scored in onnxruntime against LiteRT.

use std::fs;
use std::path::PathBuf;
use std::process::Command;

use crate::util::{fnv1a64, read};
use crate::workspace::{pip_install, run, Xtask};
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
        let venv = self.tfenv_dir();
        let reqs_path = self.root.join("xtask/requirements-tflite-suite.txt");
        let stamp_path = venv.join(".xtask-stamp");
        let stamp = format!(
            "requirements-tflite-suite.txt fnv1a64 {:016x}\n",
            fnv1a64(&[&read(&reqs_path)?])
        );
        let python = venv.join("bin/python");
        if python.exists() && fs::read_to_string(&stamp_path).ok().as_deref() == Some(&stamp) {
            return Ok(());
        }
        println!(
            "tfenv: creating/updating {} from {}",
            self.rel(&venv),
            self.rel(&reqs_path)
        );
        let system_python =
            std::env::var("MODELC_SYSTEM_PYTHON").unwrap_or_else(|_| "python3".to_string());
        let _ = fs::remove_file(&stamp_path);
        run(Command::new(&system_python).args(["-m", "venv"]).arg(&venv))?;
        pip_install(&mut Command::new(&python), &[], &reqs_path)?;
        fs::write(&stamp_path, stamp)?;
        Ok(())
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
