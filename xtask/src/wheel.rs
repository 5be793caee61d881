//! `cargo xtask wheel` and `cargo xtask python-tests`: the `modelc` Python package
//! (crates/python) built into an abi3 wheel by the pinned maturin, and its pytest suite
//! (tests/python) run against that wheel installed in a fresh virtual environment.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use crate::util::{fnv1a64, read};
use crate::workspace::{pip_install, run, Xtask};
use crate::Result;

impl Xtask {
    fn wheelenv_dir(&self) -> PathBuf {
        self.target.join("wheelenv")
    }

    pub(crate) fn wheels_dir(&self) -> PathBuf {
        self.target.join("wheels")
    }

    /// Builds target/wheels/modelc-VERSION-cp39-abi3-PLATFORM.whl (release, stripped) with
    /// maturin from xtask/requirements-wheel.txt; returns its path.
    pub(crate) fn wheel(&self) -> Result<PathBuf> {
        let venv = self.wheelenv_dir();
        self.stamped_venv(&venv, &self.root.join("xtask/requirements-wheel.txt"))?;
        let out = self.wheels_dir();
        if out.exists() {
            for e in fs::read_dir(&out)? {
                let p = e?.path();
                if p.extension().is_some_and(|e| e == "whl") {
                    fs::remove_file(&p)?;
                }
            }
        }
        let start = Instant::now();
        run(Command::new(venv.join("bin/maturin"))
            .current_dir(&self.root)
            .args(["build", "--release", "--strip", "--locked"])
            .args(["--manifest-path", "crates/python/Cargo.toml"])
            .arg("--interpreter")
            .arg(venv.join("bin/python"))
            .arg("--out")
            .arg(&out))?;
        let wheels: Vec<PathBuf> = fs::read_dir(&out)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "whl"))
            .collect();
        let [wheel] = wheels.as_slice() else {
            return Err(format!(
                "expected one wheel in {}, found {}",
                self.rel(&out),
                wheels.len()
            )
            .into());
        };
        let size = fs::metadata(wheel)?.len();
        println!(
            "wheel: {} ({:.1} MB) built in {:.0} s",
            self.rel(wheel),
            size as f64 / 1e6,
            start.elapsed().as_secs_f64()
        );
        // The bound: a wheel people download.
        if size > 25_000_000 {
            return Err(format!("{} is {size} bytes, over 25 MB", self.rel(wheel)).into());
        }
        Ok(wheel.clone())
    }

    /// Builds the wheel and modelc (release), installs the wheel into a fresh venv that sees
    /// the pinned target/pyenv packages (numpy, onnx, onnxruntime, torch, LiteRT) and pytest
    /// (xtask/requirements-python-tests.txt in target/python-tests-site) through a .pth file,
    /// and runs tests/python with the release CLI beside it for the timing comparison.
    pub(crate) fn python_tests(&self, filter: Option<&str>) -> Result<()> {
        self.pyenv()?;
        let testdata = match std::env::var_os("MODELC_TESTDATA") {
            Some(dir) => PathBuf::from(dir),
            None => {
                self.testdata()?;
                self.testdata_dir()
            }
        };
        let wheel = self.wheel()?;
        let modelc = self.build_modelc()?;
        let site = self.target.join("python-tests-site");
        let reqs = self.root.join("xtask/requirements-python-tests.txt");
        let stamp_path = site.join(".xtask-stamp");
        let stamp = format!("fnv1a64 {:016x}\n", fnv1a64(&[&read(&reqs)?]));
        if fs::read_to_string(&stamp_path).ok().as_deref() != Some(&stamp) {
            let _ = fs::remove_dir_all(&site);
            pip_install(
                &mut self.py(),
                &["--target".as_ref(), site.as_os_str()],
                &reqs,
            )?;
            fs::write(&stamp_path, stamp)?;
        }
        // A fresh venv each run: the wheel is installed as a user would, nothing left over.
        let venv = self.target.join("python-tests/venv");
        let _ = fs::remove_dir_all(&venv);
        run(self.py().args(["-m", "venv"]).arg(&venv))?;
        let python = venv.join("bin/python");
        let purelib = |py: &Path| -> Result<PathBuf> {
            let out = Command::new(py)
                .args([
                    "-c",
                    "import sysconfig; print(sysconfig.get_paths()['purelib'])",
                ])
                .output()?;
            Ok(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
        };
        let pinned = purelib(&self.python())?;
        let abs = |p: PathBuf| fs::canonicalize(&p).unwrap_or(p);
        fs::write(
            purelib(&python)?.join("modelc_test_env.pth"),
            format!("{}\n{}\n", abs(pinned).display(), abs(site).display()),
        )?;
        run(Command::new(&python)
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
            ])
            .args(["--no-deps", "--no-index", "--no-cache-dir"])
            .arg(&wheel))?;
        let mut pytest = Command::new(&python);
        pytest
            .current_dir(&self.root)
            .args([
                "-m",
                "pytest",
                "tests/python",
                "-q",
                "-p",
                "no:cacheprovider",
                "-s",
            ])
            .env("MODELC_CLI", abs(modelc))
            .env("MODELC_TESTDATA", abs(testdata));
        if let Some(f) = filter {
            pytest.args(["-k", f]);
        }
        run(&mut pytest)
    }
}
