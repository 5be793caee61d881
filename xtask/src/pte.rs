//! `cargo xtask pte-env` / `cargo xtask pte`: ExecuTorch's runtime and exir
//! (xtask/requirements-pte.txt, in target/pte-site), and the ONNX → `.pte` count against
//! exir on the same modules (tests/pte_models.py).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::workspace::{run, Xtask};
use crate::Result;

impl Xtask {
    pub(crate) fn pte_env(&self) -> Result<PathBuf> {
        self.pyenv()?;
        let site = self.pip_site("pte-site", "requirements-pte.txt")?;
        println!("pte-env: {}", self.rel(&site));
        Ok(site)
    }

    /// The models with the exir anchor, then the aten suite subset's torch-exported ONNX files
    /// (made first when missing); report in target/pte-models/report.json.
    pub(crate) fn pte(&self, modelc: Option<PathBuf>, only: Option<&str>) -> Result<()> {
        let modelc = match modelc {
            Some(m) => m,
            None => self.build_modelc()?,
        };
        let aten = self.target.join("aten-suite-subset");
        if !aten.join("report.json").exists() {
            self.aten_suite_subset(&modelc)?;
        }
        let mut cmd = self.pte_cmd(&modelc)?;
        cmd.arg("--out").arg(self.target.join("pte-models"));
        match only {
            Some(only) => cmd.arg("--only").arg(only),
            None => cmd
                .arg("--aten")
                .arg(&aten)
                .arg("--qdq")
                .arg("resnet18,mobilenet_v2"),
        };
        run(&mut cmd)
    }

    fn pte_cmd(&self, modelc: &Path) -> Result<Command> {
        let pte = self.pte_env()?;
        // expecttest (torch.testing, imported by tests/aten_suite.py) and executorch.
        let aten = self.aten_suite_site()?;
        let path = std::env::join_paths([pte, aten]).map_err(|e| e.to_string())?;
        let mut cmd = self.py();
        cmd.env("PYTHONPATH", path)
            .arg("tests/pte_models.py")
            .arg("--modelc")
            .arg(modelc);
        Ok(cmd)
    }
}
