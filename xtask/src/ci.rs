//! `cargo xtask ci`: every test, in order, stopping at the first failure.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use crate::workspace::{run, Xtask};
use crate::Result;

impl Xtask {
    pub(crate) fn ci(&self, from: Option<&str>) -> Result<()> {
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
                        .arg(self.target.join("torchscript-interop").join("forms")))?;
                    // Transformer / vision-transformer architectures (torch + torchvision,
                    // seeded weights), traced and scripted, against torch; the classic
                    // torch.onnx.export on the same modules is reported beside.
                    run(self
                        .py()
                        .arg("tests/torchscript_archs.py")
                        .arg("--modelc")
                        .arg(&modelc)
                        .arg("--out")
                        .arg(self.target.join("torchscript-interop").join("archs")))
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
            (
                "tflite control flow",
                Box::new(|| {
                    // If/Loop <-> IF/WHILE and stateful LSTMs, both ways, in LiteRT and
                    // onnxruntime (and TensorFlow-made IF/WHILE files from testdata/).
                    let modelc = self.build_modelc()?;
                    run(self
                        .py()
                        .arg("tests/tflite_control_flow.py")
                        .arg("--modelc")
                        .arg(&modelc)
                        .arg("--out")
                        .arg(self.target.join("tflite-interop/control")))
                }),
            ),
            (
                "opset conversion",
                Box::new(|| {
                    // Every node-suite model to opsets 13 and 17 (up and down) by modelc and
                    // by onnx.version_converter, run in onnxruntime against the suite's
                    // outputs: modelc never writes an invalid or wrong file and passes at
                    // least as many as the peer.
                    let modelc = self.build_modelc()?;
                    run(self
                        .py()
                        .arg("tests/opset_convert.py")
                        .arg("--modelc")
                        .arg(&modelc)
                        .arg("--suite")
                        .arg(self.node_suite_dir().join("node"))
                        .args(["--target", "13", "--target", "17", "--at-least-peer"])
                        .arg("--json")
                        .arg(self.target.join("opset-convert/report.json")))
                }),
            ),
            (
                "corpus",
                // Shipped models (pip wheels) in every direction, the CI subset; the full
                // corpus is `cargo xtask corpus`.
                Box::new(|| self.corpus(Some(crate::corpus::CI_SUBSET), false)),
            ),
            (
                "tflite op suite",
                Box::new(|| {
                    // TensorFlow-made single-op TFLite models -> ONNX in onnxruntime vs
                    // LiteRT; fails on a regression against tests/tflite_op_suite.passing.
                    let modelc = self.build_modelc()?;
                    run(self
                        .py()
                        .arg("tests/tflite_op_suite.py")
                        .arg("--modelc")
                        .arg(&modelc)
                        .arg("--out")
                        .arg(self.target.join("tflite-suite/modelc")))
                }),
            ),
            (
                "aten suite subset",
                Box::new(|| {
                    // OpInfo samples of a fixed list of ops through modelc (ONNX in
                    // onnxruntime, TFLite in LiteRT): no module of the committed floor may
                    // stop passing, no crash, no file a runtime refuses.
                    let modelc = self.build_modelc()?;
                    self.aten_suite_subset(&modelc)
                }),
            ),
            (
                "draw in chromium",
                // `modelc draw`'s page of ViT-B/16 in headless Chromium (Debian's package,
                // installed when missing): one box per node, a screenshot for review.
                Box::new(|| {
                    let modelc = self.build_modelc()?;
                    self.draw_check(Some(modelc), None)
                }),
            ),
            (
                "pt2 suite subset",
                Box::new(|| {
                    // torch.export archives of a fixed list of OpInfo ops and of ResNet-18 and
                    // an LSTM (dynamic batch) through modelc: no module of
                    // tests/pt2_suite_floor.json may stop passing, no crash, no file
                    // onnxruntime or LiteRT refuses, no model that differs from torch.
                    let modelc = self.build_modelc()?;
                    self.pt2_suite_subset(&modelc)
                }),
            ),
            (
                "onnx to pt2 subset",
                Box::new(|| {
                    // modelc's .pt2 writer: the node suite's first 300 cases and ResNet-18
                    // (dynamic batch) to .pt2, loaded by torch.export.load and run: no crash,
                    // no archive torch refuses, no result that differs from onnxruntime.
                    self.pt2_export(Some(300))
                }),
            ),
            (
                "targets vs vendor tools",
                Box::new(|| {
                    // `modelc check` against Arm's Vela on hand-made constraint cases and the
                    // committed TFLite models: never NPU where Vela falls back.
                    let modelc = self.build_modelc()?;
                    self.targets_vendor(&modelc)
                }),
            ),
            (
                "onnx targets vs their tools",
                Box::new(|| {
                    // `modelc check` for nnapi / coreml / qnn-htp / tensorrt against
                    // onnxruntime's mobile usability checker and the onnxruntime-qnn HTP
                    // backend on the hand-made one-violation models, and ResNet-18
                    // quantized with --target qnn-htp running on HTP with CPU fallback off.
                    let modelc = self.build_modelc()?;
                    self.targets_onnx(Some(&modelc), true, Some("resnet18"))
                }),
            ),
            (
                "python package",
                Box::new(|| {
                    // The wheel (release; its dependencies are the release build the steps
                    // before made) installed in a fresh venv, tests/python on it: every
                    // function against onnxruntime / LiteRT / torch, the README example,
                    // import time and ResNet-50 conversion time against the CLI's.
                    self.python_tests(None)
                }),
            ),
            (
                "compress sparse (LiteRT)",
                Box::new(|| {
                    // `modelc compress --sparsity` to block-sparse TFLite: smaller than the
                    // dense file, and LiteRT (default delegates and builtin kernels) computes
                    // what onnxruntime does on the same zeros; latencies side by side.
                    let modelc = self.build_modelc()?;
                    let out = self.target.join("compress-sparse");
                    run(self
                        .py()
                        .arg("tests/compress_sparse.py")
                        .arg("--modelc")
                        .arg(&modelc)
                        .arg("--out")
                        .arg(&out)
                        .args(["--runs", "20", "--check", "--json"])
                        .arg(out.join("report.json")))
                }),
            ),
            (
                "pte",
                Box::new(|| {
                    // `cargo xtask pte`, as the README gives it: ONNX -> ExecuTorch .pte
                    // (ResNet-18, MobileNetV2, EfficientNet-B0, a transformer encoder, an
                    // LSTM and the aten subset's ONNX files) run in ExecuTorch's runtime: no
                    // crash, no file the runtime refuses, no result differing from
                    // onnxruntime; exir on the same modules beside it.
                    let modelc = self.build_modelc()?;
                    self.pte(Some(modelc), None)
                }),
            ),
        ];
        let first = match from {
            None => 0,
            Some(from) => steps
                .iter()
                .position(|(name, _)| *name == from)
                .or_else(|| from.parse::<usize>().ok().map(|n| n.saturating_sub(1)))
                .filter(|&i| i < steps.len())
                .ok_or_else(|| {
                    let names: Vec<&str> = steps.iter().map(|(name, _)| *name).collect();
                    format!("no ci step `{from}`; the steps: {}", names.join(", "))
                })?,
        };
        let total = Instant::now();
        let mut timings = Vec::new();
        for (i, (name, step)) in steps.iter().enumerate().skip(first) {
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
        println!("\nci: {} passed, 0 failed", timings.len());
        for (name, secs) in &timings {
            println!("  {name:<20} {secs:>8.1} s");
        }
        println!("  {:<20} {:>8.1} s", "total", total.elapsed().as_secs_f64());
        Ok(())
    }

    /// Deletes the large files (over 1 MiB: models, tensors) that the CI steps write under
    /// their own output directories, keeping reports and small files. Returns bytes freed.
    pub(crate) fn prune_step_outputs(&self) -> Result<u64> {
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
            "corpus/out",
            "parity",
            "layout-cnn",
        ] {
            prune(&self.target.join(dir), &mut freed)?;
        }
        Ok(freed)
    }

    /// Free space on the target directory's file system, as `df` reports it (for CI logs).
    pub(crate) fn disk_free(&self) -> String {
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
}
