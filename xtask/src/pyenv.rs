//! `cargo xtask pyenv`: the pinned Python environment at `target/pyenv`.

use std::fs;
use std::process::Command;
use std::time::Instant;

use crate::util::{fnv1a64, read};
use crate::workspace::{pip_install, run, Xtask};
use crate::Result;

impl Xtask {
    pub(crate) fn pyenv(&self) -> Result<()> {
        let venv = self.pyenv_dir();
        let python = self.python();
        let stamp_path = venv.join(".xtask-stamp");
        let reqs = read(&self.requirements())?;
        let stamp = format!("requirements.txt fnv1a64 {:016x}\n", fnv1a64(&[&reqs]));
        if python.exists() && fs::read_to_string(&stamp_path).ok().as_deref() == Some(&stamp) {
            println!(
                "pyenv: {} is up to date with xtask/requirements.txt",
                self.rel(&venv)
            );
            return Ok(());
        }
        let started = Instant::now();
        let system_python =
            std::env::var("MODELC_SYSTEM_PYTHON").unwrap_or_else(|_| "python3".to_string());
        if venv.exists() && !python.exists() {
            println!(
                "pyenv: {} exists without a working python; recreating it",
                self.rel(&venv)
            );
            fs::remove_dir_all(&venv)?;
        }
        println!(
            "pyenv: creating/updating {} from xtask/requirements.txt",
            self.rel(&venv)
        );
        fs::create_dir_all(&self.target)?;
        let _ = fs::remove_file(&stamp_path);
        run(Command::new(&system_python)
            .args(["-m", "venv"])
            .arg(&venv)
            .current_dir(&self.root))
        .map_err(|e| {
            format!("{e}\n(creating the environment needs Python 3 with the venv module; set MODELC_SYSTEM_PYTHON to choose the interpreter)")
        })?;
        pip_install(&mut self.py(), &[], &self.requirements())?;
        run(self.py().args([
            "-c",
            "import numpy, onnx, onnxruntime; print(\"pyenv: onnx\", onnx.__version__, \"onnxruntime\", onnxruntime.__version__, \"numpy\", numpy.__version__)",
        ]))?;
        fs::write(&stamp_path, stamp)?;
        println!(
            "pyenv: ready in {:.1} s; Python is {}",
            started.elapsed().as_secs_f64(),
            self.rel(&python)
        );
        Ok(())
    }
}
