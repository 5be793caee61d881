//! Where the workspace's generated files live, and running commands (cargo, the pinned
//! Python, modelc) with what they print shown first.

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::util::{fnv1a64, read};
use crate::Result;

/// The workspace the tasks run in: its root, its target directory and the cargo that runs
/// them.
pub(crate) struct Xtask {
    pub(crate) root: PathBuf,
    pub(crate) target: PathBuf,
    cargo: String,
}

/// Runs a command with inherited stdio, printing it first.
pub(crate) fn run(cmd: &mut Command) -> Result<()> {
    println!("$ {}", show_command(cmd));
    let status = cmd
        .status()
        .map_err(|e| format!("cannot run {}: {e}", cmd.get_program().to_string_lossy()))?;
    if !status.success() {
        return Err(format!("`{}` failed ({status})", show_command(cmd)).into());
    }
    Ok(())
}

pub(crate) fn show_command(cmd: &Command) -> String {
    let mut s = String::new();
    for (k, v) in cmd.get_envs() {
        if let Some(v) = v {
            let _ = write!(s, "{}={} ", k.to_string_lossy(), v.to_string_lossy());
        }
    }
    s.push_str(&cmd.get_program().to_string_lossy());
    for a in cmd.get_args() {
        let a = a.to_string_lossy();
        if a.contains(' ') || a.contains('\'') || a.is_empty() {
            let _ = write!(s, " '{}'", a.replace('\'', "'\\''"));
        } else {
            let _ = write!(s, " {a}");
        }
    }
    s
}

impl Xtask {
    pub(crate) fn new() -> Self {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .expect("xtask lives in a workspace")
            .to_path_buf();
        let target = match std::env::var_os("CARGO_TARGET_DIR") {
            Some(dir) => root.join(dir),
            None => root.join("target"),
        };
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
        Xtask {
            root,
            target,
            cargo,
        }
    }

    pub(crate) fn requirements(&self) -> PathBuf {
        self.root.join("xtask/requirements.txt")
    }

    pub(crate) fn pyenv_dir(&self) -> PathBuf {
        self.target.join("pyenv")
    }

    pub(crate) fn python(&self) -> PathBuf {
        self.pyenv_dir().join("bin/python")
    }

    pub(crate) fn node_suite_dir(&self) -> PathBuf {
        self.target.join("onnx-node-suite")
    }

    pub(crate) fn testdata_dir(&self) -> PathBuf {
        self.target.join("testdata")
    }

    pub(crate) fn modelc_release(&self) -> PathBuf {
        self.target.join("release/modelc")
    }

    /// A path relative to the workspace root, for messages.
    pub(crate) fn rel<'a>(&self, p: &'a Path) -> std::borrow::Cow<'a, str> {
        match p.strip_prefix(&self.root) {
            Ok(r) => r.to_string_lossy(),
            Err(_) => p.to_string_lossy(),
        }
    }

    pub(crate) fn cargo(&self) -> Command {
        let mut c = Command::new(&self.cargo);
        c.current_dir(&self.root);
        c
    }

    pub(crate) fn py(&self) -> Command {
        let mut c = Command::new(self.python());
        c.current_dir(&self.root);
        c
    }

    /// A venv at `venv` with the pinned list `reqs` installed, unless its stamp says it is
    /// current.
    pub(crate) fn stamped_venv(&self, venv: &Path, reqs: &Path) -> Result<()> {
        let stamp_path = venv.join(".xtask-stamp");
        let name = reqs.file_name().unwrap_or_default().to_string_lossy();
        let stamp = format!("{name} fnv1a64 {:016x}\n", fnv1a64(&[&read(reqs)?]));
        let python = venv.join("bin/python");
        if python.exists() && fs::read_to_string(&stamp_path).ok().as_deref() == Some(&stamp) {
            return Ok(());
        }
        println!(
            "creating/updating {} from {}",
            self.rel(venv),
            self.rel(reqs)
        );
        let system_python =
            std::env::var("MODELC_SYSTEM_PYTHON").unwrap_or_else(|_| "python3".to_string());
        let _ = fs::remove_file(&stamp_path);
        run(Command::new(&system_python).args(["-m", "venv"]).arg(venv))?;
        pip_install(&mut Command::new(&python), &[], reqs)?;
        fs::write(&stamp_path, stamp)?;
        Ok(())
    }

    pub(crate) fn build_modelc(&self) -> Result<PathBuf> {
        println!("build: cargo build --release -p modelc");
        run(self.cargo().args(["build", "--release", "-p", "modelc"]))?;
        let bin = self.modelc_release();
        if !bin.exists() {
            return Err(format!("{} was not built", bin.display()).into());
        }
        Ok(bin)
    }
}

/// `python -m pip install` of a pinned list, the one way every environment of the project
/// is installed: `--no-deps` (each list pins its whole environment), `--no-cache-dir` (a
/// cache would keep a second copy of the wheels on disk), and `extra` before `-r LIST`
/// (e.g. `--target DIR` for a directory added to an existing environment's path).
pub(crate) fn pip_install(
    python: &mut Command,
    extra: &[&std::ffi::OsStr],
    list: &Path,
) -> Result<()> {
    run(python
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--no-input",
            "--no-deps",
            "--no-cache-dir",
        ])
        .args(extra)
        .arg("-r")
        .arg(list))
}

impl Xtask {
    /// A pinned list of pure-Python additions (`xtask/<list>`) installed with `--no-deps` into
    /// `target/<dir>` for PYTHONPATH on top of target/pyenv; skipped when the stamp (a hash of
    /// the list) is current.
    pub(crate) fn pip_site(&self, dir: &str, list: &str) -> Result<PathBuf> {
        let site = self.target.join(dir);
        let reqs_path = self.root.join("xtask").join(list);
        let reqs = crate::util::read(&reqs_path)?;
        let stamp = format!("fnv1a64 {:016x}\n", crate::util::fnv1a64(&[&reqs]));
        let stamp_path = site.join(".xtask-stamp");
        if std::fs::read_to_string(&stamp_path).ok().as_deref() == Some(&stamp) {
            return Ok(site);
        }
        std::fs::create_dir_all(&site)?;
        pip_install(
            &mut self.py(),
            &["--upgrade".as_ref(), "--target".as_ref(), site.as_os_str()],
            &reqs_path,
        )?;
        std::fs::write(&stamp_path, stamp)?;
        Ok(site)
    }
}
