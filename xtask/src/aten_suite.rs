//! `cargo xtask aten-suite`: single-op modules from PyTorch's OpInfo database, traced and
//! converted by modelc to ONNX (onnxruntime) and TFLite (LiteRT), with `torch.onnx.export`
//! on the same modules as the anchor (tests/aten_suite.py).

use std::fs;
use std::path::PathBuf;

use crate::util::{fnv1a64, read};
use crate::workspace::{pip_install, run, Xtask};
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
    fn aten_suite_site(&self) -> Result<PathBuf> {
        let site = self.target.join("aten-suite-site");
        let reqs_path = self.root.join("xtask/requirements-aten-suite.txt");
        let reqs = read(&reqs_path)?;
        let stamp = format!("fnv1a64 {:016x}\n", fnv1a64(&[&reqs]));
        let stamp_path = site.join(".xtask-stamp");
        if fs::read_to_string(&stamp_path).ok().as_deref() == Some(&stamp) {
            return Ok(site);
        }
        fs::create_dir_all(&site)?;
        pip_install(
            &mut self.py(),
            &["--upgrade".as_ref(), "--target".as_ref(), site.as_os_str()],
            &reqs_path,
        )?;
        fs::write(&stamp_path, stamp)?;
        Ok(site)
    }
}
