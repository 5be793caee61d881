//! `cargo xtask conformance`: the ONNX node suite through `modelc convert` and `modelc
//! optimize`, run in onnxruntime.

use std::fs;

use crate::workspace::{run, Xtask};
use crate::Result;

impl Xtask {
    pub(crate) fn conformance(&self, limit: Option<usize>, filter: Option<&str>) -> Result<()> {
        let modelc = self.build_modelc()?;
        self.node_suite()?;
        // Twice: `convert` must be lossless, and `optimize` (default passes) must not
        // change what any model computes.
        for command in ["convert", "optimize"] {
            let out = self.target.join("conformance").join(command);
            fs::create_dir_all(&out)?;
            let mut cmd = self.py();
            cmd.arg("tests/onnx_roundtrip.py")
                .arg("--modelc")
                .arg(&modelc)
                .arg("--command")
                .arg(command)
                .arg("--suite")
                .arg(self.node_suite_dir().join("node"))
                .arg("--out")
                .arg(&out);
            if let Some(n) = limit {
                cmd.arg("--limit").arg(n.to_string());
            }
            if let Some(f) = filter {
                cmd.arg("--filter").arg(f);
            }
            run(&mut cmd).map_err(|e| {
                format!(
                    "conformance ({command}) failed ({e}); see {}",
                    self.rel(&out.join("report.json"))
                )
            })?;
        }
        Ok(())
    }
}
