//! `cargo xtask pt2-suite`: torch.export (`.pt2`) archives through modelc — the aten suite's
//! OpInfo modules (tests/pt2_suite.py) and torchvision / transformer / LSTM models
//! (tests/pt2_models.py), each beside `torch.onnx.export(dynamo=True)` on the same
//! ExportedProgram; then the load figure of a 100 MB `.pt2` (tests/pt2_load.py).

use crate::workspace::{run, Xtask};
use crate::Result;

/// The committed CI subset: its ops and the modules that must keep passing.
const FLOOR: &str = "tests/pt2_suite_floor.json";

impl Xtask {
    /// The full suite (or `ops`) under target/pt2-suite, then the models under
    /// target/pt2-models, then `modelc inspect`'s wall time and peak RSS on a 100 MB `.pt2`
    /// (target/pt2-load; fails at 1 s or 1.5x the file).
    pub(crate) fn pt2_suite(
        &self,
        ops: Option<&str>,
        samples: Option<usize>,
        core: bool,
    ) -> Result<()> {
        let modelc = self.build_modelc()?;
        let mut cmd = self.pt2_cmd("tests/pt2_suite.py", &modelc)?;
        cmd.arg("--out").arg(self.target.join("pt2-suite"));
        if let Some(ops) = ops {
            cmd.arg("--ops").arg(ops);
        }
        if let Some(n) = samples {
            cmd.arg("--samples").arg(n.to_string());
        }
        if core {
            cmd.arg("--core");
        }
        run(&mut cmd)?;
        let mut cmd = self.pt2_cmd("tests/pt2_models.py", &modelc)?;
        cmd.arg("--out").arg(self.target.join("pt2-models"));
        run(&mut cmd)?;
        // The load figure: `modelc inspect` of a 100 MB .pt2 (wall time, peak RSS).
        let mut cmd = self.pt2_cmd("tests/pt2_load.py", &modelc)?;
        cmd.arg("--out").arg(self.target.join("pt2-load"));
        run(&mut cmd)?;
        println!(
            "pt2-suite: reports in {} and {}",
            self.rel(&self.target.join("pt2-suite/report.txt")),
            self.rel(&self.target.join("pt2-models/report.json"))
        );
        Ok(())
    }

    /// The CI subset: the floor file's ops, one sample each (no module it lists may stop
    /// passing, no crash, no ONNX file onnxruntime refuses), and the ResNet-18 and LSTM
    /// models with a dynamic batch.
    pub(crate) fn pt2_suite_subset(&self, modelc: &std::path::Path) -> Result<()> {
        let mut cmd = self.pt2_cmd("tests/pt2_suite.py", modelc)?;
        cmd.arg("--out")
            .arg(self.target.join("pt2-suite-subset"))
            .args(["--floor", FLOOR, "--subset", "--samples", "1"]);
        run(&mut cmd)?;
        let mut cmd = self.pt2_cmd("tests/pt2_models.py", modelc)?;
        cmd.arg("--out")
            .arg(self.target.join("pt2-models-subset"))
            .args(["--only", "resnet18,lstm"]);
        run(&mut cmd)
    }

    /// ONNX -> `.pt2` (tests/pt2_export.py), beside onnx2torch + torch.export
    /// (xtask/requirements-a19.txt in target/a19-site): the node suite (its first `limit`
    /// cases) and the models, also with a fixed batch (`resnet18` only with a limit); fails on a crash, a `.pt2` torch refuses or a
    /// result that differs from onnxruntime.
    pub(crate) fn pt2_export(&self, limit: Option<usize>) -> Result<()> {
        let modelc = self.build_modelc()?;
        let mut cmd = self.pt2_cmd("tests/pt2_export.py", &modelc)?;
        // The peer, onnx2torch (pure Python, --no-deps on top of target/pyenv), beside
        // expecttest's directory.
        let peer = self.pip_site("a19-site", "requirements-a19.txt")?;
        let expecttest = self.aten_suite_site()?;
        cmd.env("PYTHONPATH", std::env::join_paths([&expecttest, &peer])?);
        cmd.arg("--out")
            .arg(self.target.join("pt2-export"))
            .arg("--node-suite")
            .arg(self.node_suite_dir().join("node"));
        match limit {
            Some(n) => cmd.args(["--limit", &n.to_string(), "--models", "resnet18"]),
            None => cmd.arg("--static"),
        };
        run(&mut cmd)
    }

    fn pt2_cmd(&self, script: &str, modelc: &std::path::Path) -> Result<std::process::Command> {
        self.pyenv()?;
        // expecttest (torch.testing imports it), as for the aten suite.
        let site = self.aten_suite_site()?;
        let mut cmd = self.py();
        cmd.env("PYTHONPATH", &site)
            .arg(script)
            .arg("--modelc")
            .arg(modelc);
        Ok(cmd)
    }
}
