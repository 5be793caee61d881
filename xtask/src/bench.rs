//! `cargo xtask bench`: conversion, inference, quantization, TorchScript and TFLite
//! benchmarks against the reference tools.

use std::ffi::OsString;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::measure::{measure, measure_exiting};
use crate::util::{median, mib, slug};
use crate::workspace::{run, Xtask};
use crate::Result;

impl Xtask {
    pub(crate) fn bench(&self, runs: usize) -> Result<()> {
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
        self.bench_memory(&modelc, runs)?;
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
    pub(crate) fn quant_interop(&self, modelc: &Path, models: &str, check: bool) -> Result<()> {
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
    pub(crate) fn bench_torchscript(&self, modelc: &Path, runs: usize) -> Result<()> {
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
    pub(crate) fn bench_tflite(&self, modelc: &Path, runs: usize) -> Result<()> {
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

    /// Peak memory on node-heavy graphs and of the interpreter (issue: at most 20x the file
    /// for node-heavy files, the 200,000-node chain converted under 100 MB, `modelc run` of
    /// ResNet-50 under 1.5x the file plus its two largest activations). The node-heavy files
    /// are made by testdata/make_big_graphs.py; a file of a million empty nodes must be
    /// refused, and what refusing it costs is measured too.
    pub(crate) fn bench_memory(&self, modelc: &Path, runs: usize) -> Result<()> {
        let dir = self.testdata_dir().join("big");
        let chain = dir.join("relu_chain.onnx");
        let empty = dir.join("empty_nodes.onnx");
        if !chain.exists() || !empty.exists() {
            run(self.py().arg("testdata/make_big_graphs.py").arg(&dir))?;
        }
        let out = self.target.join("bench");
        self.bench_commands(
            modelc,
            runs,
            "node-heavy ONNX (200,000 Relu nodes)",
            &chain,
            &[
                (
                    "modelc inspect chain.onnx",
                    vec!["inspect".into(), chain.clone().into()],
                ),
                (
                    "modelc convert chain.onnx x.onnx",
                    vec![
                        "convert".into(),
                        chain.clone().into(),
                        out.join("chain.onnx").into(),
                    ],
                ),
                (
                    "modelc convert chain.onnx x.tflite",
                    vec![
                        "convert".into(),
                        chain.clone().into(),
                        out.join("chain.tflite").into(),
                    ],
                ),
            ],
            "goals: under 100 MiB, at most 20x",
            "memory_chain.json",
        )?;
        let file_bytes = fs::metadata(&empty)?.len();
        let s = measure_exiting(
            modelc,
            &["inspect".into(), empty.clone().into()],
            &out.join("empty_nodes.stderr"),
            1,
        )?;
        println!(
            "{:<38} refused; wall {:>8.1} ms  peak RSS {:>7.1} MiB = {:.2}x the file (goal: at most 20x)",
            "modelc inspect empty_nodes.onnx",
            s.wall.as_secs_f64() * 1e3,
            s.max_rss_bytes as f64 / 1048576.0,
            s.max_rss_bytes as f64 / file_bytes as f64
        );
        // ResNet-50 in the interpreter: the bound is the weights (mapped, 1.5x for the
        // interpreter's own copies) plus the two largest activations live at once.
        let model = self.testdata_dir().join("resnet50.onnx");
        let model_bytes = fs::metadata(&model)?.len();
        let largest = self.largest_activations(&model, 2)?;
        let bound = 1.5 * model_bytes as f64 + largest as f64;
        let mut samples = Vec::new();
        for i in 0..=runs.min(3) {
            let s = measure(
                modelc,
                &[
                    "run".into(),
                    model.clone().into(),
                    "--random".into(),
                    "--dim".into(),
                    "batch=1".into(),
                    "-o".into(),
                    out.join("run-memory").into(),
                ],
                &out.join("run_memory.stderr"),
            )?;
            if i > 0 {
                samples.push(s.max_rss_bytes as f64);
            }
        }
        let rss = median(samples.into_iter());
        println!(
            "{:<38} peak RSS {:>7.1} MiB (goal: under 1.5 x {:.1} MiB + {:.1} MiB of activations = {:.1} MiB: {})",
            "modelc run resnet50.onnx",
            rss / 1048576.0,
            mib(model_bytes),
            largest as f64 / 1048576.0,
            bound / 1048576.0,
            if rss <= bound { "met" } else { "not met" }
        );
        Ok(())
    }

    /// The bytes of the `n` largest activations of `model` (ONNX shape inference, batch 1).
    fn largest_activations(&self, model: &Path, n: usize) -> Result<u64> {
        let script = r#"
import sys, onnx
m = onnx.shape_inference.infer_shapes(onnx.load(sys.argv[1], load_external_data=False))
sizes = []
for v in list(m.graph.value_info) + list(m.graph.output):
    t = v.type.tensor_type
    n = onnx.helper.tensor_dtype_to_np_dtype(t.elem_type).itemsize
    for d in t.shape.dim:
        n *= max(d.dim_value, 1)
    sizes.append(n)
print(sum(sorted(sizes)[-int(sys.argv[2]):]))
"#;
        let out = self
            .py()
            .arg("-c")
            .arg(script)
            .arg(model)
            .arg(n.to_string())
            .output()?;
        if !out.status.success() {
            return Err(format!(
                "measuring activations of {}: {}",
                model.display(),
                String::from_utf8_lossy(&out.stderr)
            )
            .into());
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().parse()?)
    }

    /// Runs each modelc command on `file` 1 + `runs` times and prints the median wall time,
    /// CPU time and peak RSS (also as a multiple of the file's size); writes `json_name`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn bench_commands(
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

    /// `cargo xtask bench --inference-only`: the release build, the test models, then
    /// [`Xtask::bench_inference`].
    pub(crate) fn bench_inference_only(&self, runs: usize) -> Result<()> {
        let modelc = self.build_modelc()?;
        self.testdata()?;
        self.bench_inference(&modelc, runs)
    }

    /// Inference latency of the interpreter (`modelc run --repeat`) next to onnxruntime's
    /// with the same number of threads (1 and 2), on the same models and input shapes:
    /// ResNet-50, the transformer encoder, MobileNetV2, EfficientNet-B0 and MobileNetV2
    /// quantized to int8 QDQ by `modelc quantize`. The two tools take turns, three rounds of
    /// `runs` timed runs each (after a warm-up), and each keeps its fastest run: on a shared
    /// machine the minimum is what is least disturbed by the other load.
    pub(crate) fn bench_inference(&self, modelc: &Path, runs: usize) -> Result<()> {
        const ROUNDS: usize = 3;
        let out_dir = self.target.join("bench");
        fs::create_dir_all(&out_dir)?;
        let vision = self.torchvision()?;
        let int8 = out_dir.join("mobilenet_v2.int8.onnx");
        if !int8.exists() {
            let calib = self.target.join("quant");
            run(self.py().arg("tests/quant_models.py").arg(&calib).args([
                "--calib",
                "16",
                "--heldout",
                "16",
            ]))?;
            run(Command::new(modelc)
                .arg("quantize")
                .arg(vision.join("mobilenet_v2.onnx"))
                .arg(&int8)
                .arg("--calibration")
                .arg(calib.join("calib")))?;
        }
        let cases: [(&str, PathBuf, &[&str]); 5] = [
            (
                "resnet50",
                self.testdata_dir().join("resnet50.onnx"),
                &["batch=1"],
            ),
            (
                "transformer",
                self.testdata_dir().join("transformer.onnx"),
                &["batch=1", "seq=128"],
            ),
            ("mobilenet_v2", vision.join("mobilenet_v2.onnx"), &[]),
            ("efficientnet_b0", vision.join("efficientnet_b0.onnx"), &[]),
            ("mobilenet_v2 int8", int8, &[]),
        ];
        let value_of = |text: &str, key: &str| -> Option<f64> {
            text.lines().rev().find_map(|l| {
                l.split_once(key)
                    .and_then(|(_, rest)| rest.split_whitespace().next()?.parse().ok())
            })
        };
        println!(
            "\nbench: inference, fastest of {ROUNDS} rounds x {runs} runs, modelc and onnxruntime taking turns"
        );
        let mut table = format!(
            "{:<20} {:>7} {:>14} {:>16} {:>8}\n",
            "model", "threads", "modelc ms", "onnxruntime ms", "ratio"
        );
        let mut json_rows = Vec::new();
        for (name, model, dims) in &cases {
            for threads in [1usize, 2] {
                let (mut ours_ms, mut ort_ms) = (f64::INFINITY, f64::INFINITY);
                let mut failure = None;
                for _ in 0..ROUNDS {
                    let mut cmd = Command::new(modelc);
                    cmd.arg("run")
                        .arg(model)
                        .arg("--random")
                        .arg("--threads")
                        .arg(threads.to_string())
                        .arg("--repeat")
                        .arg(runs.to_string())
                        .arg("-o")
                        .arg(out_dir.join(format!("run-{}", slug(name))));
                    for d in *dims {
                        cmd.arg("--dim").arg(d);
                    }
                    let ours = cmd.output()?;
                    let err = String::from_utf8_lossy(&ours.stderr).into_owned();
                    match value_of(&err, "(min ").filter(|_| ours.status.success()) {
                        Some(ms) => ours_ms = ours_ms.min(ms),
                        None => failure = Some(err),
                    }
                    let mut ort = self.py();
                    ort.arg(self.root.join("xtask/py/ort_latency.py"))
                        .arg(model)
                        .arg("--repeat")
                        .arg(runs.to_string())
                        .arg("--threads")
                        .arg(threads.to_string());
                    for d in *dims {
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
                    let ms = value_of(&String::from_utf8_lossy(&theirs.stdout), "min_ms ")
                        .ok_or("ort_latency.py printed no minimum")?;
                    ort_ms = ort_ms.min(ms);
                }
                let (ours_cell, ratio_cell) = match &failure {
                    None => (format!("{ours_ms:.1}"), format!("{:.2}x", ours_ms / ort_ms)),
                    Some(err) => (
                        format!(
                            "fails: {}",
                            err.lines()
                                .last()
                                .unwrap_or("")
                                .trim_start_matches("modelc: error: ")
                        ),
                        "-".into(),
                    ),
                };
                let _ = writeln!(
                    table,
                    "{name:<20} {threads:>7} {ours_cell:>14} {ort_ms:>16.1} {ratio_cell:>8}"
                );
                json_rows.push(serde_json::json!({
                    "model": name, "dims": dims, "threads": threads,
                    "modelc_ms_min": failure.is_none().then_some(ours_ms),
                    "onnxruntime_ms_min": ort_ms,
                    "modelc_error": failure,
                }));
            }
        }
        print!("{table}");
        let json_path = out_dir.join("inference.json");
        fs::write(
            &json_path,
            serde_json::to_string_pretty(&serde_json::json!({
                "runs_per_round": runs, "rounds": ROUNDS, "statistic": "min",
                "results": json_rows,
            }))? + "\n",
        )?;
        println!("bench: wrote {}", self.rel(&json_path));
        Ok(())
    }
}
