//! The `modelc` command line.

mod progress;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand, ValueEnum};
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
        after_help = "Examples:\n  modelc convert resnet50.onnx resnet50.tflite\n  modelc convert model.tflite model.onnx\n  modelc convert traced.pt model.onnx -O2\n  modelc convert scripted.pt model.tflite --input-shape x:1,3,224,224\n  modelc convert big.onnx out.onnx --external-data always   # writes out.onnx + out.onnx.data"
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
    },
    /// Summarize a model: format, opsets, inputs and outputs, ops, parameters.
    #[command(
        after_help = "Examples:\n  modelc inspect model.onnx\n  modelc inspect model.onnx --json | jq .ops"
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
        after_help = "Examples:\n  modelc run model.onnx image.npy -o out/\n  modelc run model.onnx --random --dim batch=1 -o out/\n  modelc run model.onnx --input mask=mask.pb --input ids=ids.npy -o out/"
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
    },
    /// Run two models on the same inputs and compare their outputs.
    ///
    /// Prints, per output, the maximum absolute and relative error and the cosine
    /// similarity of B's result against A's, and exits with status 1 when any element is
    /// outside |b - a| <= atol + rtol * |a|. Inputs are given as for `run`, or random
    /// (the default when none are given). When B takes NHWC where A takes NCHW, inputs are
    /// transposed for B and B's outputs back, and the table says so.
    #[command(
        after_help = "Examples:\n  modelc verify model.onnx converted.onnx\n  modelc verify model.onnx model-fp16.onnx --rtol 1e-2 --atol 1e-3\n  modelc verify a.onnx b.onnx image.npy"
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

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(n) = cli.threads {
        if let Err(e) = modelc_interp::set_threads(n.into()) {
            eprintln!("modelc: error: {e}");
            return ExitCode::FAILURE;
        }
    }
    match run(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("modelc: error: {}", modelc::error_line(e.as_ref()));
            ExitCode::FAILURE
        }
    }
}

fn load(path: &Path) -> Result<modelc::Model, modelc::Error> {
    let _p = progress::Progress::start(format!("reading {}", path.display()));
    modelc::load(path)
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

/// Renames A's inputs to B's by position and transposes channels-first inputs to channels
/// last where B takes them so. `recorded`: the inputs and outputs B's file lists as made
/// channels last (a .tflite modelc wrote); they are transposed, and nothing else. Without
/// it, shapes decide: a 4-D input that fits B only transposed is transposed, and then B
/// "takes channels last", so a 4-D input whose dims fit either way (C = H = W) is transposed
/// too (and so are such outputs, see `run::OutputLayout::Guess`). Returns B's inputs, a note
/// of what was done, and whether B takes channels last.
fn adapt_inputs(
    b: &modelc::Model,
    given: &[(String, modelc::ir::Tensor)],
    recorded: Option<&[String]>,
) -> (Vec<(String, modelc::ir::Tensor)>, String, bool) {
    let declared = modelc::run::declared_inputs(b);
    // B's declared dims per input, `None` where symbolic or unknown.
    let wants: Vec<Option<Vec<Option<u64>>>> = declared
        .iter()
        .map(|(_, ty)| {
            ty.as_ref()
                .and_then(|ty| ty.as_tensor())
                .and_then(|tt| tt.shape.as_ref())
                .map(|s| s.0.iter().map(|d| d.known()).collect())
        })
        .collect();
    let fits = |w: &[Option<u64>], dims: &[u64]| {
        w.len() == dims.len() && w.iter().zip(dims).all(|(w, d)| w.is_none_or(|w| w == *d))
    };
    let nhwc = |d: &[u64]| [d[0], d[2], d[3], d[1]];
    let fits_nhwc = |t: &modelc::ir::Tensor, w: &Option<Vec<Option<u64>>>| {
        t.raw().is_some()
            && t.dims.len() == 4
            && w.as_ref().is_some_and(|w| fits(w, &nhwc(&t.dims)))
    };
    let channels_last = match recorded {
        Some(names) => declared.iter().any(|(n, _)| names.contains(n)),
        None => given
            .iter()
            .zip(&wants)
            .any(|((_, t), w)| fits_nhwc(t, w) && w.as_ref().is_some_and(|w| !fits(w, &t.dims))),
    };
    let mut notes = Vec::new();
    let out = given
        .iter()
        .enumerate()
        .map(|(i, (name, t))| {
            let Some((b_name, _)) = declared.get(i) else {
                return (name.clone(), t.clone());
            };
            let transpose = match recorded {
                Some(names) => names.contains(b_name) && t.dims.len() >= 3 && t.raw().is_some(),
                None => {
                    let w = &wants[i];
                    let only_nhwc = w.as_ref().is_some_and(|w| !fits(w, &t.dims));
                    fits_nhwc(t, w) && (only_nhwc || channels_last)
                }
            };
            if transpose {
                notes.push(format!("`{name}` transposed channels first to last for B"));
                (b_name.clone(), modelc::run::channels_to_last(t))
            } else {
                (b_name.clone(), t.clone())
            }
        })
        .collect();
    (out, notes.join("; "), channels_last)
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
        } => {
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
                ..ConvertOptions::default()
            };
            convert(&input, &output, &opts)?;
        }
        Command::Inspect {
            input,
            json,
            shapes,
        } => {
            let format = modelc::input_format(&input)?;
            let mut model = load(&input)?;
            shapes.parse()?.apply(&mut model.graph)?;
            let summary = Summary::of(&model, format);
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
        } => {
            let m = load(&model)?;
            let given = gather_inputs(&m, &inputs, &input_opts, input_opts.random)?;
            let (outputs, mut times) = {
                let _p = progress::Progress::start(format!("running {}", model.display()));
                modelc::run::run_timed(&m, &given, repeat)?
            };
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
        } => {
            let ma = load(&a)?;
            let mb = load(&b)?;
            let random = input_opts.random || (inputs.is_empty() && input_opts.named.is_empty());
            let given = gather_inputs(&ma, &inputs, &input_opts, random)?;
            // Only a .tflite's own record describes its layouts (one carried into another
            // format by a conversion describes the file it came from).
            let recorded = match modelc::input_format(&b)? {
                modelc::Format::Tflite => modelc_tflite::channels_last_io(&mb),
                _ => None,
            };
            let (for_b, note, channels_last) = adapt_inputs(&mb, &given, recorded.as_deref());
            let out_a = modelc::run::run(&ma, &given)?;
            let out_b = modelc::run::run(&mb, &for_b)?;
            if out_a.len() != out_b.len() {
                return Err(format!("A has {} outputs, B has {}", out_a.len(), out_b.len()).into());
            }
            let mut diffs = Vec::new();
            for ((name, ta), (b_name, tb)) in out_a.iter().zip(&out_b) {
                let layout = match &recorded {
                    Some(names) => modelc::run::OutputLayout::Recorded(names.contains(b_name)),
                    None => modelc::run::OutputLayout::Guess(channels_last),
                };
                diffs.push(modelc::run::compare(name, tb, ta, rtol, atol, layout)?);
            }
            let ok = diffs.iter().all(|d| d.within);
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(
                        &serde_json::json!({"inputs": note, "rtol": rtol, "atol": atol, "outputs": diffs, "ok": ok})
                    )?
                );
            } else {
                if !note.is_empty() {
                    println!("inputs: {note}");
                }
                println!(
                    "{:<24} {:>12} {:>12} {:>12}  result",
                    "output", "max abs", "max rel", "cosine"
                );
                for d in &diffs {
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
        }
        Command::Quantize(args) => modelc::quantize::run(args)?,
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
