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
        let models = self.torchvision()?;
        let site = self.targets_env()?;
        let mut cmd = self.py();
        cmd.env("PYTHONPATH", &site)
            .arg("tests/targets_table.py")
            .arg("--modelc")
            .arg(&modelc)
            .arg("--models")
            .arg(models)
            .arg("--out")
            .arg(self.target.join("targets-table"));
        if let Some(only) = only {
            cmd.arg("--only").arg(only);
        }
        run(&mut cmd)
    }

    /// The comparison with `modelc` (also CI's step: it takes about a minute).
    pub(crate) fn targets_vendor(&self, modelc: &Path) -> Result<()> {
        let site = self.targets_env()?;
        let mut cmd = self.py();
        cmd.env("PYTHONPATH", &site)
            .arg("tests/targets_vendor.py")
            .arg("--modelc")
            .arg(modelc)
            .arg("--out")
            .arg(self.target.join("targets-vendor"));
        run(&mut cmd)
    }
}
