//! `cargo xtask aten-suite`: single-op modules from PyTorch's OpInfo database, traced and
//! converted by modelc to ONNX (onnxruntime) and TFLite (LiteRT), with `torch.onnx.export`
//! on the same modules as the anchor (tests/aten_suite.py).

use std::path::PathBuf;

use crate::workspace::{run, Xtask};
use crate::Result;

/// The committed list of modules that pass (the CI subset's ops and its floor).
const FLOOR: &str = "tests/aten_suite_floor.json";

impl Xtask {
    /// The full suite (or `ops`), report under target/aten-suite.
    pub(crate) fn aten_suite(&self, ops: Option<&str>, samples: Option<usize>) -> Result<()> {
        let modelc = self.build_modelc()?;
        let mut cmd = self.aten_suite_cmd(&modelc)?;
        cmd.arg("--out").arg(self.target.join("aten-suite"));
        if let Some(ops) = ops {
            cmd.arg("--ops").arg(ops);
        }
        if let Some(n) = samples {
            cmd.arg("--samples").arg(n.to_string());
        }
        run(&mut cmd)?;
        println!(
            "aten-suite: report in {} and report.txt",
            self.rel(&self.target.join("aten-suite/report.json"))
        );
        Ok(())
    }

    /// The CI subset: the floor file's ops; fails when a module it lists stops passing,
    /// modelc crashes, or it writes a file onnxruntime or LiteRT refuses.
    pub(crate) fn aten_suite_subset(&self, modelc: &std::path::Path) -> Result<()> {
        let mut cmd = self.aten_suite_cmd(modelc)?;
        cmd.arg("--out")
            .arg(self.target.join("aten-suite-subset"))
            .arg("--floor")
            .arg(FLOOR)
            .arg("--subset");
        run(&mut cmd)
    }

    fn aten_suite_cmd(&self, modelc: &std::path::Path) -> Result<std::process::Command> {
        self.pyenv()?;
        let site = self.aten_suite_site()?;
        let mut cmd = self.py();
        cmd.env("PYTHONPATH", &site)
            .arg("tests/aten_suite.py")
            .arg("--modelc")
            .arg(modelc);
        Ok(cmd)
    }

    /// xtask/requirements-aten-suite.txt installed (--no-deps) into target/aten-suite-site,
    /// skipped when its stamp is current.
    pub(crate) fn aten_suite_site(&self) -> Result<PathBuf> {
        self.pip_site("aten-suite-site", "requirements-aten-suite.txt")
    }
}
