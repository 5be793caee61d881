//! `cargo xtask parity`: `modelc optimize -O2` against onnxsim on exported torchvision
//! models.

use std::fs;
use std::path::PathBuf;

use crate::util::{fnv1a64, read};
use crate::workspace::{run, Xtask};
use crate::Result;

impl Xtask {
    /// Exports the torchvision models (a few seconds each) unless their stamp is current.
    pub(crate) fn torchvision(&self) -> Result<PathBuf> {
        self.pyenv()?;
        let out = self.testdata_dir().join("torchvision");
        let script = self.root.join("testdata/make_torchvision.py");
        let stamp_path = out.join(".stamp");
        let stamp = format!(
            "requirements.txt + make_torchvision.py fnv1a64 {:016x}\n",
            fnv1a64(&[&read(&self.requirements())?, &read(&script)?])
        );
        if fs::read_to_string(&stamp_path).ok().as_deref() == Some(&stamp) {
            println!("testdata: {} is up to date", self.rel(&out));
        } else {
            println!(
                "testdata: exporting torchvision models into {}",
                self.rel(&out)
            );
            if out.exists() {
                fs::remove_dir_all(&out)?;
            }
            fs::create_dir_all(&out)?;
            run(self.py().arg(&script).arg("--out").arg(&out))?;
            fs::write(&stamp_path, stamp)?;
        }
        Ok(out)
    }

    pub(crate) fn parity(&self, only: Option<&str>, runs: usize, no_fail: bool) -> Result<()> {
        let modelc = self.build_modelc()?;
        let models = self.torchvision()?;
        let out = self.target.join("parity");
        let mut cmd = self.py();
        cmd.arg("tests/onnxsim_parity.py")
            .arg("--modelc")
            .arg(&modelc)
            .arg("--models")
            .arg(&models)
            .arg("--out")
            .arg(&out)
            .arg("--runs")
            .arg(runs.max(1).to_string());
        if let Some(only) = only {
            cmd.arg("--only").arg(only);
        }
        if no_fail {
            cmd.arg("--no-fail");
        }
        run(&mut cmd).map_err(|e| {
            format!(
                "onnxsim parity failed ({e}); see {}",
                self.rel(&out.join("report.json"))
            )
            .into()
        })
    }
}
