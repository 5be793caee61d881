//! The `modelc` command line: parses arguments, calls the library and prints. The `modelc`
//! binary and the Python package's `python -m modelc` both run [`main`].

use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::{Parser, Subcommand, ValueEnum};

use crate::progress;
use modelc::summary::Summary;
use modelc::{ConvertOptions, ExternalData, Passes, SaveOptions, ShapeArgs, Stage};

/// modelc converts neural-network models between ONNX, TFLite and TorchScript, and shows
/// what is inside them.
///
/// Every command reads the format from the file extension (.onnx, .tflite, .pt). Errors
/// name the file and what is wrong, and exit with status 1; a failed command never leaves
/// a partial output file behind.
#[derive(Parser)]
#[command(name = "modelc", version, about, long_about, propagate_version = true)]
#[command(
    after_help = "Examples:\n  modelc convert model.onnx copy.onnx\n  modelc inspect model.onnx --json\n  modelc dump model.onnx | less"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Threads the interpreter computes on (run, verify, quantize, constant folding);
    /// default: all cores. Outputs are bit-identical for any count.
    #[arg(long, global = true, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    threads: Option<u16>,
}

#[derive(Subcommand)]
enum Command {
    /// Convert a model to another file, possibly another format.
    ///
    /// The formats come from the extensions: .onnx, .tflite, .pt (TorchScript); every pair
    /// converts. ONNX → ONNX keeps everything the input had (opsets, metadata, doc strings,
    /// value_info, local functions, sparse initializers, sub-graphs, unknown ops and
    /// domains). To TFLite, NCHW graphs become NHWC (whole regions, transposes cancelled),
    /// BatchNorm folds into convolutions, activations fuse, and QDQ regions become int8
    /// ops. Weights are memory-mapped, never copied; ONNX models over 2 GB are written with
    /// external data. Check a conversion with `modelc verify IN OUT`.
    #[command(
        after_help = "Examples:\n  modelc convert resnet50.onnx resnet50.tflite\n  modelc convert model.tflite model.onnx\n  modelc convert traced.pt model.onnx -O2\n  modelc convert scripted.pt model.tflite --input-shape x:1,3,224,224\n  modelc convert big.onnx out.onnx --external-data always   # writes out.onnx + out.onnx.data\n  modelc convert model-int8.onnx model.tflite --target ethos-u55-128   # int8 I/O, then where each op lands\n  modelc convert encoder.onnx encoder-gpu.tflite --target tflite-gpu --fp16   # float16 weights"
    )]
    Convert {
        /// The model to read.
        input: PathBuf,
        /// Where to write the result (its extension selects the format).
        output: PathBuf,
        /// Where ONNX tensor data goes: `auto` keeps it in the file unless the model is over
        /// 2 GB, `always` moves tensors of 1 KiB or more to `<output>.data`, `never` keeps
        /// everything inline.
        #[arg(long, value_enum, default_value_t = ExternalArg::Auto)]
        external_data: ExternalArg,
        /// Keep the model's image layout at the graph inputs and outputs when the layout
        /// changes (ONNX NCHW -> TFLite NHWC and back): a Transpose sits at the boundary
        /// instead of the inputs and outputs switching layout.
        #[arg(long)]
        keep_io_layout: bool,
        /// Optimize on the way, as `modelc optimize -O<N>` does (0: none, the default).
        #[arg(short = 'O', default_value_t = 0, value_parser = clap::value_parser!(u8).range(0..=3))]
        level: u8,
        /// Move the model to this ONNX opset (default domain), up or down, with the version
        /// adapters (Squeeze/Reduce* axes, Split sizes, Resize forms, Clip bounds, ...);
        /// what the target cannot express is refused by node name.
        #[arg(long, value_name = "N")]
        opset: Option<i64>,
        #[command(flatten)]
        shapes: ShapeArgs,
        #[command(flatten)]
        types: TypeArgs,
        /// After writing, print what changed: `modelc diff` of the input against the
        /// written file.
        #[arg(long)]
        diff: bool,
        #[command(flatten)]
        target: Box<modelc::TargetArgs>,
        /// Store the Conv/ConvTranspose/Gemm/MatMul weights in float16, widened to float32
        /// where they are read (TFLite: float16 buffers + DEQUANTIZE, as TensorFlow's
        /// float16 quantization writes them): about half the file; compute stays float32 (the
        /// GPU delegate runs in fp16 anyway). With --target tflite-gpu, say.
        #[arg(long)]
        fp16: bool,
    },
    /// List the hardware targets `check`, `convert --target` and `quantize --target` know: name, format,
    /// fallback behaviour, operator count, and where the rules come from.
    ///
    /// The built-in targets are the files of the repository's `targets/` directory; a
    /// directory named by MODELC_TARGETS_DIR adds to them (a file with a built-in's name
    /// replaces it).
    #[command(after_help = "Examples:\n  modelc targets\n  modelc targets --json")]
    Targets {
        /// Print JSON (the whole validated rule set of each target).
        #[arg(long)]
        json: bool,
    },
    /// Say, operator by operator, whether a model runs on a hardware target's accelerator
    /// or falls back (and which rule it breaks).
    ///
    /// The model is judged in the form the target consumes: for a TFLite target
    /// (ethos-u55-128, ethos-u65-256, tflm) the operators of the .tflite file, or of the
    /// .tflite modelc writes for a model in another format. The summary gives the operators
    /// on the accelerator and the number of partitions; for a target that cuts the graph at
    /// the first unsupported operator, everything after it counts as fallback. Exit status
    /// 0 only when every operator lands on the accelerator.
    #[command(
        after_help = "Examples:\n  modelc check model.tflite --target ethos-u55-128\n  modelc check model.onnx --target tflm --json\n  modelc check model.tflite --target-file my-npu.toml"
    )]
    Check {
        /// The model to judge.
        input: PathBuf,
        /// A target by name (`modelc targets` lists them).
        #[arg(long, default_value = "cpu")]
        target: String,
        /// A target file of your own (TOML, the schema of targets/*.toml); overrides --target.
        #[arg(long, value_name = "FILE")]
        target_file: Option<PathBuf>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        shapes: ShapeArgs,
    },
    /// Summarize a model: format, opsets, inputs and outputs, ops, parameters, compute, memory.
    ///
    /// Besides the op histogram and parameter count: MACs and FLOPs per op type and in
    /// total (MACs count Conv, ConvTranspose, MatMul/Gemm, Einsum, attention and recurrent
    /// cells; FLOPs are 2 per MAC plus elementwise, pooling, normalization and reduction
    /// work), constant bytes per element type, and the peak activation memory of a plan that
    /// runs nodes in order and frees each value after its last reader. Sizes come from shape
    /// inference: fix symbolic ones with --input-shape / --dim, else what depends on them
    /// is listed as not counted.
    #[command(
        after_help = "Examples:\n  modelc inspect model.onnx\n  modelc inspect model.onnx --json | jq .ops\n  modelc inspect model.onnx --json | jq .cost.macs\n  modelc inspect bert.onnx --dim batch=1 --dim seq=128   # sizes for MACs and memory"
    )]
    Inspect {
        /// The model to read.
        input: PathBuf,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        /// Shapes to fix before summarizing (the inputs then show them).
        #[command(flatten)]
        shapes: ShapeArgs,
    },
    /// Run a model on the reference interpreter and write its outputs as .npy files.
    ///
    /// Inputs are .npy or ONNX TensorProto .pb files, in the model's input order (or by name
    /// with --input NAME=PATH). Without inputs, --random makes seeded random ones of the
    /// declared shapes. Outputs go to DIR/output_0.npy, output_1.npy, ... in output order.
    #[command(
        after_help = "Examples:\n  modelc run model.onnx image.npy -o out/\n  modelc run model.onnx --random --dim batch=1 -o out/\n  modelc run model.onnx --random --repeat 10 --profile   # time per op type\n  modelc run model.onnx --input mask=mask.pb --input ids=ids.npy -o out/"
    )]
    Run {
        /// The model to run.
        model: PathBuf,
        /// Input files in the model's input order.
        inputs: Vec<PathBuf>,
        #[command(flatten)]
        input_opts: InputOpts,
        /// Directory for the outputs (created if missing).
        #[arg(short, long, default_value = ".")]
        output_dir: PathBuf,
        /// After one warm-up run, run N more times and print the median time per run
        /// (the interpreter's inference latency, on --threads threads).
        #[arg(long, value_name = "N", default_value_t = 0)]
        repeat: usize,
        /// Print where the time goes: wall time per op type (calls, milliseconds, share),
        /// summed over the timed runs (or the one run without --repeat). A fused
        /// activation counts with its producer, as `Conv+Relu`.
        #[arg(long)]
        profile: bool,
    },
    /// Run two models on the same inputs and compare their outputs.
    ///
    /// Prints, per output, the maximum absolute and relative error and the cosine
    /// similarity of B's result against A's, and exits with status 1 when any element is
    /// outside |b - a| <= atol + rtol * |a|. Inputs are given as for `run`, or random
    /// (the default when none are given). When B takes NHWC where A takes NCHW, inputs are
    /// transposed for B and B's outputs back, and the table says so.
    #[command(
        after_help = "Examples:\n  modelc verify model.onnx converted.onnx\n  modelc verify model.onnx model.tflite --layers   # which node's error jumps first\n  modelc verify model.onnx model-fp16.onnx --rtol 1e-2 --atol 1e-3\n  modelc verify a.onnx b.onnx image.npy"
    )]
    Verify {
        /// The reference model.
        a: PathBuf,
        /// The model to check against it.
        b: PathBuf,
        /// Input files in A's input order.
        inputs: Vec<PathBuf>,
        #[command(flatten)]
        input_opts: InputOpts,
        /// Relative tolerance.
        #[arg(long, default_value_t = 1e-4)]
        rtol: f64,
        /// Absolute tolerance.
        #[arg(long, default_value_t = 1e-5)]
        atol: f64,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
        /// Also compare every intermediate value the two models share — by the provenance
        /// modelc records in the files it writes, then by name (channels moved last where B
        /// computes NHWC, quantized values dequantized) — and name the first node where the
        /// error jumps: its relative error, less that of the values it reads (and, for a
        /// quantized value, a few times its rounding error), is the largest.
        #[arg(long)]
        layers: bool,
        /// With --layers: the smallest jump in relative L2 error that blames a node.
        #[arg(long, default_value_t = 1e-3, value_name = "E")]
        layer_tol: f64,
        /// With --layers: how many rows the table shows.
        #[arg(long, default_value_t = 20, value_name = "N")]
        top: usize,
    },
    /// Simplify a model with graph passes and write the result.
    ///
    /// Runs a pipeline of passes to a fixed point: an optimization level or an explicit
    /// list (-p identity,fold,dce; `modelc passes` lists them). -O1, the default, removes
    /// pass-through and dead nodes and changes no computed bit; -O2 also folds constants
    /// with modelc's own kernels. Prints nodes per op type and bytes before and after.
    #[command(
        after_help = "Examples:\n  modelc optimize model.onnx model-opt.onnx\n  modelc optimize model.onnx out.onnx -p dce --print-after dce\n  modelc optimize model.onnx out.onnx --stop-after 3   # bisect a bad rewrite"
    )]
    Optimize {
        /// The model to read.
        input: PathBuf,
        /// Where to write the result.
        output: PathBuf,
        /// Optimization level, 0 to 3 (0: none, 1: identity + dce, 2 and 3: also fold).
        #[arg(short = 'O', default_value_t = 1, value_parser = clap::value_parser!(u8).range(0..=3))]
        level: u8,
        /// Run exactly these passes (comma-separated) instead of a level.
        #[arg(short = 'p', long = "passes", value_name = "PASS,...")]
        pipeline: Option<String>,
        /// Print the text form after every run of this pass.
        #[arg(long, value_name = "PASS")]
        print_after: Option<String>,
        /// Stop after this many pass steps.
        #[arg(long, value_name = "N")]
        stop_after: Option<usize>,
        /// Move the model to this ONNX opset first, so fusions into newer ops apply
        /// (--opset 20: Gelu; 23: Attention, RMSNormalization).
        #[arg(long, value_name = "N")]
        opset: Option<i64>,
        #[command(flatten)]
        shapes: ShapeArgs,
        #[command(flatten)]
        types: TypeArgs,
        /// After writing, print what changed: `modelc diff` of the input against the
        /// written file.
        #[arg(long)]
        diff: bool,
    },
    /// Compare two models' structure: I/O, nodes added, removed and changed.
    ///
    /// Nodes are matched by the names of the values they compute, then by structure (same
    /// op, matched inputs), so renamed values still line up. A changed node lists what
    /// differs: op, attributes, layout, which value feeds an input, and constant inputs
    /// (weights) by content hash with the largest elementwise difference. Only the main
    /// graph's nodes are matched; a changed sub-graph shows as a changed attribute. Exits 0
    /// whether or not the models differ; `--json` for tools.
    #[command(
        after_help = "Examples:\n  modelc diff model.onnx model-opt.onnx\n  modelc diff model.onnx model.tflite --json | jq .changed\n  modelc optimize model.onnx out.onnx -O2 --diff   # the same, after optimizing"
    )]
    Diff {
        /// The model before.
        a: PathBuf,
        /// The model after.
        b: PathBuf,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Draw a model's graph as a self-contained HTML page (zoom, pan, search) or an SVG.
    ///
    /// The layout is computed here (a layered DAG: longest-path layers, barycenter ordering
    /// to reduce crossings), nothing else is needed to make or open the file. Each box
    /// shows the op, the node name and its output type; constants are not drawn, `+Nw`
    /// counts the weights a node reads. The sub-graphs of If / Loop / Scan are drawn inside
    /// their node, side by side, each laid out the same way. An overlay colours the nodes: --errors with the per-layer errors
    /// of `verify --layers --json` (the blamed node outlined in red), --diff with what
    /// changed against another model, --target with the placement `modelc check` gives.
    #[command(
        after_help = "Examples:\n  modelc draw model.onnx -o graph.html\n  modelc draw model.tflite -o graph.svg\n  modelc verify model.onnx model.tflite --layers --json > errors.json\n  modelc draw model.tflite -o errors.html --errors errors.json\n  modelc draw model-opt.onnx -o changed.html --diff model.onnx\n  modelc draw model.tflite -o npu.html --target ethos-u55-128"
    )]
    Draw {
        /// The model to draw.
        model: PathBuf,
        /// Where to write the picture: .html or .svg.
        #[arg(short, long)]
        output: PathBuf,
        /// Colour nodes by their error in this output of `verify A MODEL --layers --json`
        /// and outline the blamed one.
        #[arg(long, value_name = "FILE.json", conflicts_with = "diff")]
        errors: Option<PathBuf>,
        /// Colour the nodes added (green) and changed (yellow) against this other model.
        #[arg(long, value_name = "OTHER", conflicts_with = "target")]
        diff: Option<PathBuf>,
        /// Colour the operators by their placement on this hardware target, as `modelc
        /// check` decides it (green: on the accelerator; red: falls back, and why).
        #[arg(long, value_name = "TARGET", conflicts_with = "errors")]
        target: Option<String>,
    },
    /// List the graph passes with what each does.
    Passes,
    /// Quantize a model: static int8 QDQ (calibrated), int8-dynamic, int4-weight, fp16, bf16.
    ///
    /// Static int8 runs the float model in the interpreter over the calibration inputs
    /// (--calibration DIR of .npy/.npz files) to choose activation ranges (--method minmax,
    /// percentile or entropy), quantizes weights per channel (symmetric int8) and writes QDQ
    /// that onnxruntime fuses into its integer kernels. --max-error keeps the most sensitive
    /// layers in float until the output error is within the budget. Prints sizes, the error
    /// against the float model (on --eval inputs, else the calibration inputs) and which
    /// layers stayed float and why.
    #[command(
        after_help = "Examples:\n  modelc quantize resnet50.onnx resnet50-int8.onnx --calibration calib/\n  modelc quantize model.onnx model-int8.onnx --calibration calib/ --eval heldout/ --method entropy\n  modelc quantize mobilenet.onnx m.onnx --calibration calib/ --max-error 0.01 --metric cosine\n  modelc quantize model.onnx model-fp16.onnx --mode fp16\n  modelc quantize llm.onnx llm-int4.onnx --mode int4-weight --block-size 32"
    )]
    Quantize(modelc::quantize::QuantizeArgs),
    /// Compress a model: structured pruning (--prune R), low-rank factorization
    /// (--rank-energy E) and sparsity (--sparsity 2:4 | block:R | R), checked against the
    /// original on calibration inputs.
    ///
    /// Pruning removes whole output channels of Conv/Gemm/MatMul (the least important by
    /// weight norm) and everything reading them (BatchNormalization, depthwise Conv, residual
    /// Add groups, Concat/Split, the next layer's inputs): the result is an ordinary smaller
    /// model. Factorization replaces a weight by the two factors of its truncated SVD where
    /// they are smaller. Sparsity zeros the smallest weights (2:4 along the input channels,
    /// 1x4 blocks, or unstructured); a .tflite output stores FULLY_CONNECTED weights in
    /// TFLite's sparse form (SparsityParameters) where that is smaller, which LiteRT runs
    /// directly. The report lists each layer changed and the output error; with --max-error
    /// nothing is written when the error exceeds it. --max-error alone searches: each layer's
    /// options (low-rank, int8/int4 weights, sparsity for .tflite) measured one at a time from
    /// the activations at that layer, taken most bytes saved per error first while the whole
    /// model stays within the bound, checked on held-out inputs; --size/--ratio the other way
    /// round.
    #[command(
        after_help = "Examples:\n  modelc compress model.onnx small.onnx --prune 0.25 --calibration calib/\n  modelc compress model.onnx sparse.tflite --sparsity block:0.75 --calibration calib/ --max-error 0.01\n  modelc compress model.onnx small.tflite --max-error 0.01 --metric cosine --calibration calib/ --json\n  modelc compress model.onnx small.onnx --max-error 0.01 --weights int8,int4 --calibration calib/\n  modelc compress model.onnx small.onnx --ratio 0.15 --calibration calib/\n  modelc compress model.onnx small.onnx --rank-energy 0.99 --calibration calib/ --max-error 0.01\n  modelc compress model.onnx small.tflite --prune 0.1 --rank-energy 0.995 --calibration-random 4 --json"
    )]
    Compress(modelc::compress::CompressArgs),
    /// Print a model in modelc's text form (the IR as a small SSA program).
    ///
    /// Constants of more than 16 elements print as a content hash (#0123abcd...); use
    /// --full to print every value.
    #[command(after_help = "Example:\n  modelc dump model.onnx > model.txt")]
    Dump {
        /// The model to read.
        input: PathBuf,
        /// Print every constant's values inline instead of a hash.
        #[arg(long)]
        full: bool,
    },
}

/// `--input-type NAME:TYPE` (shared by `convert` and `optimize`, which read TorchScript
/// archives: they record no input types).
#[derive(clap::Args)]
struct TypeArgs {
    /// An input's element type: NAME:TYPE (int64, float32, ...). May be repeated.
    /// (TorchScript archives do not record input types; other formats must agree.)
    #[arg(long = "input-type", value_name = "NAME:TYPE")]
    input_types: Vec<String>,
}

impl TypeArgs {
    fn parse(&self) -> Result<modelc::InputTypes, modelc::InputTypeError> {
        modelc::InputTypes::parse(&self.input_types)
    }
}

/// How inputs are chosen (shared by `run` and `verify`).
#[derive(clap::Args)]
struct InputOpts {
    /// An input by name: NAME=PATH (.npy or .pb). May be repeated.
    #[arg(long = "input", value_name = "NAME=PATH")]
    named: Vec<String>,
    /// Use seeded random inputs of the declared shapes for inputs not given.
    #[arg(long)]
    random: bool,
    /// Seed for --random.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Shapes of random inputs (--input-shape for dimensions without a name, as TFLite's
    /// dynamic ones; --dim for named ones).
    #[command(flatten)]
    shapes: ShapeArgs,
}

#[derive(Clone, Copy, ValueEnum)]
enum ExternalArg {
    Auto,
    Always,
    Never,
}

/// Runs the command line `args` (the first is the program name) and returns the exit
/// status: 0 on success, 1 after printing `modelc: error: ...`, 2 on a usage error (clap's).
/// Never exits the process, so a Python interpreter that calls it keeps running.
pub fn main<I, T>(args: I) -> i32
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    main_with(args, false, |_| {})
}

/// [`main`] for the `modelc` binary's main thread, which runs every command and lives as
/// long as the process: that thread is made one of the interpreter's threads
/// ([`modelc_interp::set_threads_on_this_thread`]), so its kernels split their work in
/// place instead of handing it to the pool and sleeping. `heap` is told how the parsed
/// command uses memory before it starts, for the binary's allocator settings. Call it once
/// per process.
pub fn main_on_this_thread<I, T>(args: I, heap: impl FnOnce(HeapUse)) -> i32
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    main_with(args, true, heap)
}

/// How a command uses the heap, for an allocator that keeps freed pages for a while before
/// returning them to the system (mimalloc's purge delay).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeapUse {
    /// Runs models, most of them many times (`run`, `verify`, `diff`, `quantize`,
    /// `compress`): each run frees its activations and the next allocates the same sizes
    /// again, so pages kept are pages that need no fault.
    RunsModels,
    /// Reads a graph and writes one or a report, once: the pages a node-heavy file's reader
    /// freed, kept, stack under the writer's and make the peak.
    ReadsAndWrites,
}

impl Command {
    /// Runs one model at a time, never two side by side on the thread pool (`run`,
    /// `verify`, `diff`): the interpreter may keep its threads spinning between kernels
    /// ([`modelc_interp::spin_during_runs`]).
    fn runs_one_at_a_time(&self) -> bool {
        matches!(
            self,
            Command::Run { .. } | Command::Verify { .. } | Command::Diff { .. }
        )
    }

    fn heap_use(&self) -> HeapUse {
        match self {
            Command::Run { .. }
            | Command::Verify { .. }
            | Command::Diff { .. }
            | Command::Quantize(_)
            | Command::Compress(_) => HeapUse::RunsModels,
            Command::Convert { .. }
            | Command::Targets { .. }
            | Command::Check { .. }
            | Command::Inspect { .. }
            | Command::Optimize { .. }
            | Command::Draw { .. }
            | Command::Passes
            | Command::Dump { .. } => HeapUse::ReadsAndWrites,
        }
    }
}

fn main_with<I, T>(args: I, on_this_thread: bool, heap: impl FnOnce(HeapUse)) -> i32
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            // --help and --version are "errors" that print to stdout and succeed.
            let _ = e.print();
            return e.exit_code();
        }
    };
    heap(cli.command.heap_use());
    // Only the binary: its main thread runs every command, one at a time. (Python may call
    // from several threads at once.)
    if on_this_thread && cli.command.runs_one_at_a_time() {
        modelc_interp::spin_during_runs(true);
    }
    let pool = if on_this_thread {
        Some(modelc_interp::set_threads_on_this_thread(
            cli.threads.map(usize::from),
        ))
    } else {
        cli.threads.map(|n| modelc_interp::set_threads(n.into()))
    };
    if let Some(Err(e)) = pool {
        eprintln!("modelc: error: {e}");
        return 1;
    }
    let code = match run(cli.command) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("modelc: error: {}", modelc::error_line(e.as_ref()));
            1
        }
    };
    let _ = std::io::stdout().flush();
    code
}

/// Runs the command line `args` as [`main`] does, but returns any error, a usage error
/// included, instead of printing it: for callers that report errors their own way (Python's
/// `modelc.convert`).
pub fn execute<I, T>(args: I) -> Result<(), Box<dyn std::error::Error>>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = Cli::try_parse_from(args).map_err(|e| {
        let text = e.to_string();
        let line = text.lines().next().unwrap_or_default();
        UsageError(line.trim_start_matches("error: ").to_string())
    })?;
    if let Some(n) = cli.threads {
        modelc_interp::set_threads(n.into())?;
    }
    run(cli.command)
}

/// A command line that does not parse, as clap's first line says it (`unexpected argument
/// '--foo' found`).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

fn load(path: &Path) -> Result<modelc::Model, modelc::Error> {
    let _p = progress::Progress::start(format!("reading {}", path.display()));
    modelc::load(path)
}

/// The model `run` runs: with the shapes --input-shape gives, and for TorchScript, whose
/// code may branch on sizes (a scripted `if x.size(-1) == 1:`), specialized to the shapes
/// of the input files given, as torch runs it on them.
fn load_for_run(
    path: &Path,
    files: &[PathBuf],
    opts: &InputOpts,
) -> Result<modelc::Model, Box<dyn std::error::Error>> {
    let mut shapes = opts.shapes.parse()?;
    if modelc::input_format(path)? == modelc::Format::TorchScript {
        let names = modelc_torchscript::forward_inputs(path).map_err(|source| {
            modelc::Error::TorchScript {
                path: path.to_path_buf(),
                source,
            }
        })?;
        let mut given: Vec<(String, PathBuf)> =
            names.into_iter().zip(files.iter().cloned()).collect();
        for (name, file) in parse_pairs(&opts.named, "--input")? {
            given.retain(|(n, _)| *n != name);
            given.push((name, PathBuf::from(file)));
        }
        for (name, file) in given {
            if !shapes.shapes.iter().any(|(n, _)| *n == name) {
                let dims = modelc::run::read_tensor(&file)?.dims;
                shapes.shapes.push((name, dims));
            }
        }
    }
    let _p = progress::Progress::start(format!("reading {}", path.display()));
    Ok(modelc::load_with(
        path,
        &shapes,
        &modelc::InputTypes::default(),
    )?)
}

/// [`modelc::convert`] with a spinner while a file is read or written.
fn convert(
    input: &Path,
    output: &Path,
    opts: &ConvertOptions,
) -> Result<modelc::Converted, modelc::Error> {
    let mut spinner = None;
    let done = modelc::convert_with(input, output, opts, &mut |stage| {
        // The previous stage's spinner stops first.
        drop(spinner.take());
        spinner = match stage {
            Stage::Reading(p) => Some(progress::Progress::start(format!(
                "reading {}",
                p.display()
            ))),
            Stage::Transforming => None,
            Stage::Writing(p) => Some(progress::Progress::start(format!(
                "writing {}",
                p.display()
            ))),
        };
    });
    drop(spinner);
    done
}

/// `--diff` of convert / optimize: the input as read (shapes fixed) against the file written.
fn print_diff(
    input: &Path,
    output: &Path,
    opts: &ConvertOptions,
) -> Result<(), Box<dyn std::error::Error>> {
    let mut before = modelc::load_with(input, &opts.input_shapes, &opts.input_types)?;
    opts.input_shapes.apply(&mut before.graph)?;
    let after = load(output)?;
    print!(
        "{}",
        modelc::diff::diff(&before.graph, &after.graph).render()
    );
    Ok(())
}

fn parse_pairs(list: &[String], what: &str) -> Result<Vec<(String, String)>, String> {
    list.iter()
        .map(|s| {
            s.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .ok_or_else(|| format!("{what} `{s}` is not NAME=VALUE"))
        })
        .collect()
}

/// Inputs from positional files, --input NAME=PATH and (when `random`) random values.
fn gather_inputs(
    model: &modelc::Model,
    files: &[PathBuf],
    opts: &InputOpts,
    random: bool,
) -> Result<Vec<(String, modelc::ir::Tensor)>, Box<dyn std::error::Error>> {
    let declared = modelc::run::declared_inputs(model);
    if files.len() > declared.len() {
        return Err(format!(
            "{} input files given, the model takes {}",
            files.len(),
            declared.len()
        )
        .into());
    }
    let mut given: Vec<(String, modelc::ir::Tensor)> = Vec::new();
    for (path, (name, _)) in files.iter().zip(&declared) {
        given.push((name.clone(), modelc::run::read_tensor(path)?));
    }
    for (name, path) in parse_pairs(&opts.named, "--input")? {
        if !declared.iter().any(|(n, _)| *n == name) {
            let names: Vec<&str> = declared.iter().map(|(n, _)| n.as_str()).collect();
            return Err(format!(
                "the model has no input `{name}` (inputs: {})",
                names.join(", ")
            )
            .into());
        }
        given.retain(|(n, _)| *n != name);
        given.push((name, modelc::run::read_tensor(Path::new(&path))?));
    }
    if random {
        let fixed = modelc_passes::passes::infer_shapes::InputShapes::parse(
            &opts.shapes.input_shapes,
            &[],
        )?;
        let shaped;
        let model = if opts.shapes.input_shapes.is_empty() {
            model
        } else {
            let mut m = model.clone();
            fixed.apply(&mut m.graph)?;
            shaped = m;
            &shaped
        };
        let dims = opts.shapes.dims()?;
        for (name, t) in modelc::run::random_inputs(model, opts.seed, &dims)? {
            if !given.iter().any(|(n, _)| *n == name) {
                given.push((name, t));
            }
        }
    }
    let missing: Vec<&str> = declared
        .iter()
        .map(|(n, _)| n.as_str())
        .filter(|n| !given.iter().any(|(g, _)| g == n))
        .collect();
    if !missing.is_empty() {
        return Err(format!(
            "no value for input {} (give files, --input NAME=PATH, or --random)",
            missing.join(", ")
        )
        .into());
    }
    Ok(given)
}

fn run(command: Command) -> Result<(), Box<dyn std::error::Error>> {
    match command {
        Command::Convert {
            input,
            output,
            external_data,
            keep_io_layout,
            level,
            opset,
            shapes,
            types,
            diff,
            target,
            fp16,
        } => {
            let target = target.resolve()?;
            let mut save = SaveOptions::default();
            save.onnx.external_data = match external_data {
                ExternalArg::Auto => ExternalData::Auto,
                ExternalArg::Always => ExternalData::Always,
                ExternalArg::Never => ExternalData::Never,
            };
            save.onnx.keep_io_layout = keep_io_layout;
            save.tflite.keep_io_layout = keep_io_layout;
            let opts = ConvertOptions {
                input_shapes: shapes.parse()?,
                input_types: types.parse()?,
                opset,
                passes: Passes::Level(level),
                save,
                lowering: target
                    .as_ref()
                    .map(|t| {
                        t.lowering()
                            .into_iter()
                            .map(String::from)
                            .collect::<Vec<_>>()
                    })
                    .unwrap_or_default()
                    .into_iter()
                    .chain(fp16.then(|| "fp16-weights".to_string()))
                    .collect(),
                ..ConvertOptions::default()
            };
            let done = convert(&input, &output, &opts)?;
            if let Some(t) = &target {
                for note in &done.report.notes {
                    eprintln!("target {}: {note}", t.name());
                }
                let placed = modelc::check::check(&output, t, &Default::default())?;
                eprint!("{}", modelc::check::render_fallbacks(&placed));
            }
            if diff {
                print_diff(&input, &output, &opts)?;
            }
        }
        Command::Inspect {
            input,
            json,
            shapes,
        } => {
            let format = modelc::input_format(&input)?;
            let mut model = load(&input)?;
            shapes.parse()?.apply(&mut model.graph)?;
            let mut summary = Summary::of(&model, format);
            summary.add_cost(std::borrow::Cow::Owned(model));
            if json {
                println!("{}", serde_json::to_string_pretty(&summary)?);
            } else {
                print!("{}", summary.render(&input.display().to_string()));
            }
        }
        Command::Run {
            model,
            inputs,
            input_opts,
            output_dir,
            repeat,
            profile,
        } => {
            let m = load_for_run(&model, &inputs, &input_opts)?;
            let given = gather_inputs(&m, &inputs, &input_opts, input_opts.random)?;
            let mut by_op = modelc_interp::Profile::default();
            let (outputs, mut times) = {
                let _p = progress::Progress::start(format!("running {}", model.display()));
                modelc::run::run_timed(&m, &given, repeat, profile.then_some(&mut by_op))?
            };
            if profile {
                eprint!("{}", by_op.render());
            }
            if !times.is_empty() {
                times.sort();
                let median = times[times.len() / 2];
                eprintln!(
                    "inference: median {:.3} ms over {} runs (min {:.3} ms, max {:.3} ms)",
                    median.as_secs_f64() * 1e3,
                    times.len(),
                    times[0].as_secs_f64() * 1e3,
                    times[times.len() - 1].as_secs_f64() * 1e3
                );
            }
            std::fs::create_dir_all(&output_dir)
                .map_err(|e| format!("{}: cannot create: {e}", output_dir.display()))?;
            for (i, (name, t)) in outputs.iter().enumerate() {
                let path = output_dir.join(format!("output_{i}.npy"));
                let bytes = modelc::npy::encode(t).map_err(|e| format!("output `{name}`: {e}"))?;
                std::fs::write(&path, bytes)
                    .map_err(|e| format!("{}: cannot write: {e}", path.display()))?;
                println!("{}: {name} {}{:?}", path.display(), t.dtype, t.dims);
            }
        }
        Command::Verify {
            a,
            b,
            inputs,
            input_opts,
            rtol,
            atol,
            json,
            layers,
            layer_tol,
            top,
        } => {
            let ma = load(&a)?;
            let mb = load(&b)?;
            let random = input_opts.random || (inputs.is_empty() && input_opts.named.is_empty());
            let given = gather_inputs(&ma, &inputs, &input_opts, random)?;
            let verified =
                modelc::verify::verify(&ma, &mb, modelc::input_format(&b)?, &given, rtol, atol)?;
            let (note, diffs, ok) = (&verified.inputs, &verified.outputs, verified.ok);
            let per_layer = if layers {
                let _p = progress::Progress::start("comparing every layer".to_string());
                Some(modelc::layers::compare_layers(
                    &ma,
                    &given,
                    &mb,
                    &verified.inputs_for_b,
                    layer_tol,
                )?)
            } else {
                None
            };
            if json {
                let mut j = serde_json::to_value(&verified)?;
                if let Some(r) = &per_layer {
                    j["layers"] = serde_json::to_value(r)?;
                }
                println!("{}", serde_json::to_string_pretty(&j)?);
            } else {
                if let Some(r) = &per_layer {
                    print!("{}", r.render(top));
                }
                if !note.is_empty() {
                    println!("inputs: {note}");
                }
                println!(
                    "{:<24} {:>12} {:>12} {:>12}  result",
                    "output", "max abs", "max rel", "cosine"
                );
                for d in diffs {
                    let extra = if d.note.is_empty() {
                        String::new()
                    } else {
                        format!(" ({})", d.note)
                    };
                    println!(
                        "{:<24} {:>12.3e} {:>12.3e} {:>12.8}  {}{extra}",
                        d.name,
                        d.max_abs,
                        d.max_rel,
                        d.cosine,
                        if d.within { "ok" } else { "EXCEEDS" }
                    );
                }
            }
            if !ok {
                return Err(format!("outputs differ beyond rtol={rtol}, atol={atol}").into());
            }
        }
        Command::Optimize {
            input,
            output,
            level,
            pipeline,
            print_after,
            stop_after,
            opset,
            shapes,
            types,
            diff,
        } => {
            let print_after = print_after.map(|name| {
                let header = format!("// after {name}");
                let print: modelc::GraphHook = Arc::new(move |g| {
                    println!("{header}");
                    print!(
                        "{}",
                        modelc::ir::text::print_graph(
                            g,
                            &modelc::ir::text::PrintOptions::default()
                        )
                    );
                });
                (name, print)
            });
            let opts = ConvertOptions {
                input_shapes: shapes.parse()?,
                input_types: types.parse()?,
                opset,
                passes: match pipeline {
                    Some(spec) => Passes::List(spec),
                    None => Passes::Level(level),
                },
                stop_after,
                print_after,
                save: SaveOptions::default(),
                lowering: Vec::new(),
            };
            let done = convert(&input, &output, &opts)?;
            let report = done.report;
            eprint!("{}", modelc::summary::compare(&done.before, &done.after));
            let changed: Vec<&str> = report
                .steps
                .iter()
                .filter(|s| s.changed)
                .map(|s| s.pass)
                .collect();
            eprintln!(
                "{} pass steps{}, {}",
                report.steps.len(),
                if changed.is_empty() {
                    String::new()
                } else {
                    format!(" (changed by: {})", changed.join(", "))
                },
                if report.converged {
                    "reached a fixed point"
                } else {
                    "stopped before a fixed point"
                }
            );
            for note in &report.notes {
                eprintln!("note: {note}");
            }
            if diff {
                print_diff(&input, &output, &opts)?;
            }
        }
        Command::Draw {
            model,
            output,
            errors,
            diff,
            target,
        } => {
            let m = load(&model)?;
            let mut g = m.graph.clone();
            modelc::ir::infer::infer_graph(&mut g, &m.opset_imports);
            let mut l = modelc::draw::layout(&g);
            if let Some(path) = &errors {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
                let report: serde_json::Value = serde_json::from_str(&text)
                    .map_err(|e| format!("{}: not JSON: {e}", path.display()))?;
                let o = modelc::overlay::errors(&g, &report)
                    .map_err(|e| format!("{}: {e}", path.display()))?;
                l.apply(&o);
            }
            if let Some(other) = &diff {
                let before = load(other)?;
                let d = modelc::diff::diff(&before.graph, &m.graph);
                l.apply(&modelc::overlay::diff(&g, &d));
            }
            if let Some(name) = &target {
                let target = modelc::check::resolve(Some(name), None)?;
                let report = modelc::check::check(&model, &target, &Default::default())?;
                l.apply(&modelc::overlay::placement(&g, &report));
            }
            let text = match output.extension().and_then(|e| e.to_str()) {
                Some("html") | Some("htm") => modelc::draw::html(&l, &model.display().to_string()),
                Some("svg") => modelc::draw::svg(&l),
                _ => {
                    return Err(format!(
                        "{}: the picture is written as .html or .svg",
                        output.display()
                    )
                    .into())
                }
            };
            let tmp = output.with_extension("draw.tmp");
            std::fs::write(&tmp, text)
                .and_then(|_| std::fs::rename(&tmp, &output))
                .map_err(|e| {
                    let _ = std::fs::remove_file(&tmp);
                    format!("{}: cannot write: {e}", output.display())
                })?;
            eprintln!("{}: {} nodes", output.display(), l.nodes.len());
        }
        Command::Diff { a, b, json } => {
            let (ma, mb) = (load(&a)?, load(&b)?);
            let d = modelc::diff::diff(&ma.graph, &mb.graph);
            if json {
                println!("{}", serde_json::to_string_pretty(&d)?);
            } else {
                print!("{}", d.render());
            }
        }
        Command::Quantize(args) => modelc::quantize::run(args)?,
        Command::Targets { json } => {
            let targets = modelc::check::targets()?;
            if json {
                let files: Vec<_> = targets.iter().map(|t| &t.file).collect();
                println!("{}", serde_json::to_string_pretty(&files)?);
            } else {
                for t in &targets {
                    let m = &t.file.target;
                    let ops = if m.all_ops {
                        "all ops".to_string()
                    } else {
                        format!("{} ops", t.file.ops.len())
                    };
                    println!(
                        "{:<14} {:<7} fallback={:<10} {:<8} {}",
                        m.name,
                        format!("{:?}", m.format).to_lowercase(),
                        m.fallback.name(),
                        ops,
                        m.description
                    );
                }
            }
        }
        Command::Check {
            input,
            target,
            target_file,
            json,
            shapes,
        } => {
            let target = modelc::check::resolve(Some(&target), target_file.as_deref())?;
            let report = modelc::check::check(&input, &target, &shapes.parse()?)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                for p in &report.nodes {
                    match &p.reason {
                        None => println!("accelerator  {:<24} {}", p.op, p.node),
                        Some(why) => {
                            println!("fallback     {:<24} {}\n             {why}", p.op, p.node)
                        }
                    }
                }
                println!("{}", report.summary());
            }
            if !report.all_on_accelerator() {
                return Err(format!(
                    "{}: {} of {} ops do not run on {}",
                    input.display(),
                    report.total - report.accelerated,
                    report.total,
                    report.target
                )
                .into());
            }
        }
        Command::Compress(args) => modelc::compress::run(args)?,
        Command::Passes => {
            for p in modelc_passes::registry::all() {
                println!("{:<16} {}", p.name(), p.description());
            }
        }
        Command::Dump { input, full } => {
            let model = load(&input)?;
            let opts = modelc::ir::text::PrintOptions {
                inline_limit: if full { usize::MAX } else { 16 },
            };
            print!("{}", modelc::ir::text::print_model(&model, &opts));
        }
    }
    Ok(())
}
