//! `cargo xtask targets-env` and `cargo xtask targets`: the hardware targets' vendor tools
//! (Arm's Vela, TensorFlow Lite Micro) pinned in xtask/requirements-targets.txt and
//! installed into target/targets-site, and `modelc check` compared with them node by node
//! (tests/targets_vendor.py).

use std::path::{Path, PathBuf};

use crate::workspace::{run, Xtask};
use crate::Result;

impl Xtask {
    /// The vendor tools, installed (--no-deps) into target/targets-site.
    pub(crate) fn targets_env(&self) -> Result<PathBuf> {
        self.pyenv()?;
        let site = self.pip_site("targets-site", "requirements-targets.txt")?;
        println!("targets-env: {}", self.rel(&site));
        Ok(site)
    }

    /// `modelc check` against Vela on every hand-made constraint case and the committed
    /// TFLite models, for both Ethos-U targets; report in target/targets-vendor.
    /// Then, with `table`, the CNN table (tests/targets_table.py): torchvision models
    /// quantized plain and with `--target ethos-u55-128`, Vela's CPU/NPU operator counts for
    /// both, accuracy against fp32 (onnxruntime vs LiteRT), TFLite Micro's load and run;
    /// report in target/targets-table.
    pub(crate) fn targets(&self, table: bool, only: Option<&str>) -> Result<()> {
        let modelc = self.build_modelc()?;
        self.targets_vendor(&modelc)?;
        if !table {
            return Ok(());
        }
        self.targets_tflite_table(&modelc, only)
    }

    /// The TFLite part of the table (tests/targets_table.py): Ethos-U55/U65 through Vela,
    /// TFLite Micro, the Edge TPU rules; report in target/targets-table.
    pub(crate) fn targets_tflite_table(&self, modelc: &Path, only: Option<&str>) -> Result<()> {
        let models = self.torchvision()?;
        let site = self.targets_env()?;
        let mut cmd = self.py();
        cmd.env("PYTHONPATH", &site)
            .arg("tests/targets_table.py")
            .arg("--modelc")
            .arg(modelc)
            .arg("--models")
            .arg(models)
            .arg("--out")
            .arg(self.target.join("targets-table"));
        if let Some(only) = only {
            cmd.arg("--only").arg(only);
        }
        run(&mut cmd)
    }

    /// The comparison with `modelc` (also CI's step: it takes about a minute), then the
    /// int64 cases against TFLite Micro (tests/targets_int64.py).
    pub(crate) fn targets_vendor(&self, modelc: &Path) -> Result<()> {
        let site = self.targets_env()?;
        let mut cmd = self.py();
        cmd.env("PYTHONPATH", &site)
            .arg("tests/targets_vendor.py")
            .arg("--modelc")
            .arg(modelc)
            .arg("--out")
            .arg(self.target.join("targets-vendor"));
        run(&mut cmd)?;
        // int64 -> int32 (`--target tflm`) judged by TFLite Micro: a few seconds.
        let mut cmd = self.py();
        cmd.env("PYTHONPATH", &site)
            .arg("tests/targets_int64.py")
            .arg("--modelc")
            .arg(modelc)
            .arg("--out")
            .arg(self.target.join("targets-int64"));
        run(&mut cmd)
    }
}

impl Xtask {
    /// TensorFlow 2.15.1 (CPU wheel) in its own venv, target/tf215env, from the pinned
    /// xtask/requirements-tf215.txt: its model analyzer judges the tflite-gpu target.
    pub(crate) fn tf215_env(&self) -> Result<PathBuf> {
        let venv = self.target.join("tf215env");
        self.stamped_venv(&venv, &self.root.join("xtask/requirements-tf215.txt"))?;
        println!("tf215-env: {}", self.rel(&venv));
        Ok(venv.join("bin/python"))
    }

    /// `modelc check --target tflite-gpu` against TensorFlow 2.15.1's GPU compatibility
    /// analyzer (tests/targets_gpu.py) on the committed TFLite models and per-op files, and
    /// the GPU table: the torchvision CNNs, MobileNetV3-Small and the transformer encoder
    /// converted plain and with `--target tflite-gpu`; report in target/targets-gpu.
    pub(crate) fn targets_gpu(&self) -> Result<()> {
        let modelc = self.build_modelc()?;
        self.targets_gpu_table(&modelc, None)
    }

    /// The GPU comparison and table with a given modelc (`only`: some of the table's models).
    pub(crate) fn targets_gpu_table(&self, modelc: &Path, only: Option<&str>) -> Result<()> {
        let python = self.tf215_env()?;
        let models = self.torchvision()?;
        // The LSTM and YOLO-style detector (torch, which the TensorFlow venv lacks).
        let made = self.target.join("targets-models");
        run(self.py().arg("tests/targets_models.py").arg(&made))?;
        let mut cmd = std::process::Command::new(python);
        cmd.current_dir(&self.root)
            .arg("tests/targets_gpu.py")
            .arg("--modelc")
            .arg(modelc)
            .arg("--table")
            .arg(models)
            .arg("--made")
            .arg(&made)
            .arg("--out")
            .arg(self.target.join("targets-gpu"));
        if let Some(only) = only {
            cmd.arg("--only").arg(only);
        }
        run(&mut cmd)
    }
}
