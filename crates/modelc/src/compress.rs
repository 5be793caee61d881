//! `modelc compress`: structured pruning, low-rank factorization and sparsity (`modelc-passes`'s
//! `compress` module) applied to a model, the output error against the original measured on
//! calibration inputs, the result written only when it is within `--max-error`.

use std::fmt::Write as _;
use std::path::PathBuf;

use modelc_passes::compress::budget::{self, BudgetOptions, Goal};
use modelc_passes::compress::lowrank::{self, LowRankOptions, Rank};
use modelc_passes::compress::prune::{self, Criterion, PruneOptions};
use modelc_passes::compress::sparsity::{self, Pattern};
use modelc_passes::quant::{self, Metric};

#[derive(clap::Args, Debug)]
pub struct CompressArgs {
    /// The model to compress.
    pub input: PathBuf,
    /// Where to write the result (format from the extension).
    pub output: PathBuf,
    /// Remove this fraction (0..1) of the output channels of each group of tied
    /// Conv/Gemm/MatMul layers, the least important (weight norm) first.
    #[arg(long, value_name = "R")]
    pub prune: Option<f64>,
    /// Channel importance for --prune: l1 or l2 (weight norm).
    #[arg(long, default_value = "l1")]
    pub criterion: String,
    /// Factorize MatMul/Gemm/Conv weights by truncated SVD, keeping this fraction (0..1] of
    /// the squared singular values, where the two factors are smaller than the weight.
    #[arg(long, value_name = "E")]
    pub rank_energy: Option<f64>,
    /// Zero individual MatMul/Gemm/Conv weights by magnitude: `2:4` (N:M along the input
    /// channels), `block:R` (fraction R of the 1x4 input-channel blocks) or `R` (fraction R
    /// of the weights). A .tflite output stores FULLY_CONNECTED weights sparse.
    #[arg(long, value_name = "PATTERN")]
    pub sparsity: Option<String>,
    /// Directory of .npy/.npz inputs the error is measured on.
    #[arg(long, value_name = "DIR")]
    pub calibration: Option<PathBuf>,
    /// Measure on N seeded random inputs instead (says nothing about accuracy on real data).
    #[arg(long, value_name = "N")]
    pub calibration_random: Option<usize>,
    /// Held-out inputs (same layout as --calibration) for the search's check: it then
    /// searches on every --calibration input (as `quantize --max-error --calibration DIR
    /// --eval DIR` does, so the two can be judged on the same sets); without it, the last
    /// quarter of the calibration inputs is held out.
    #[arg(long, value_name = "DIR")]
    pub eval: Option<PathBuf>,
    /// Refuse to write the result when its error exceeds E (in --metric). Alone (no --prune,
    /// --rank-energy or --sparsity): search per layer (low-rank energies, int8/int4 weights
    /// as --weights allows; sparsity ratios for a .tflite output) for the smallest model
    /// within E, checked on held-out inputs (--eval, else the last quarter of the
    /// calibration inputs).
    #[arg(long, value_name = "E")]
    pub max_error: Option<f64>,
    /// The other way round: search per layer for the smallest error with at most this many
    /// weight bytes (sparse storage estimated).
    #[arg(long, value_name = "BYTES", conflicts_with_all = ["max_error", "ratio"])]
    pub size: Option<u64>,
    /// As --size, as a fraction (0..1) of the model's weight bytes.
    #[arg(long, value_name = "R", conflicts_with = "max_error")]
    pub ratio: Option<f64>,
    /// Weight precisions the search may store layers in besides float32: `auto` (what the
    /// output format stores: int8 and int4 for .onnx — raising the opset to 21 for int4 —,
    /// int8 and per-channel int4 (Conv, Gemm transB=1) for .tflite, none otherwise),
    /// `float` (none), `int8`, or `int8,int4`.
    #[arg(long, value_name = "LIST", default_value = "auto")]
    pub weights: String,
    /// cosine (1 - cosine similarity), max-rel, or top1 (1 - agreement).
    #[arg(long, default_value = "cosine")]
    pub metric: String,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Input shapes and symbolic dimensions fixed first (random inputs need them).
    #[command(flatten)]
    pub shapes: crate::ShapeArgs,
    /// Print the report as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

#[derive(serde::Serialize)]
struct Report {
    pruned: Vec<prune::Pruned>,
    factorized: Vec<lowrank::Factorized>,
    sparsified: Vec<sparsity::Sparsified>,
    weight_bytes_before: u64,
    weight_bytes_after: u64,
    outputs: Vec<quant::OutputError>,
    evaluation_inputs: usize,
    /// Size of the written file (sparse storage shows here, not in the dense weight bytes).
    output_file_bytes: u64,
}

impl CompressArgs {
    /// `modelc compress`'s arguments (the two files first, then the options), for a caller
    /// that is not the command line (`modelc.compress` in Python).
    pub fn parse_from<I, T>(argv: I) -> Result<CompressArgs, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        #[derive(clap::Parser)]
        #[command(name = "compress", no_binary_name = true)]
        struct Options {
            #[command(flatten)]
            args: CompressArgs,
        }
        Ok(<Options as clap::Parser>::try_parse_from(argv)?.args)
    }
}

/// What [`compress`] did: the report (`--json`'s) and its rendering for people.
pub struct Compressed {
    pub report: serde_json::Value,
    pub text: String,
}

/// Runs `modelc compress`: the report as JSON on stdout with `--json`, else as text on
/// stderr.
pub fn run(args: CompressArgs) -> Result<(), Box<dyn std::error::Error>> {
    let done = compress(&args)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&done.report)?);
    } else {
        eprint!("{}", done.text);
    }
    Ok(())
}

/// Compresses `args.input` into `args.output` as `modelc compress` does (the Python package's
/// `modelc.compress` too); nothing is written when it fails.
pub fn compress(args: &CompressArgs) -> Result<Compressed, Box<dyn std::error::Error>> {
    crate::check_distinct(&args.input, &args.output)?;
    let out_format = crate::format_of(&args.output)?;
    // No option given but a budget: the per-layer search chooses.
    let search = args.prune.is_none() && args.rank_energy.is_none() && args.sparsity.is_none();
    let goal = args.size.is_some() || args.ratio.is_some();
    if search && args.max_error.is_none() && !goal {
        return Err(
            "say what to do: --max-error E or --size BYTES / --ratio R (a per-layer search), or --prune R, --rank-energy E and/or --sparsity PATTERN"
                .into(),
        );
    }
    if goal && !search {
        return Err("--size and --ratio choose per layer: give them without --prune, --rank-energy and --sparsity".into());
    }
    if let Some(r) = args.ratio {
        if !(r > 0.0 && r < 1.0) {
            return Err(format!("--ratio {r} is not in (0, 1)").into());
        }
    }
    let pattern = args.sparsity.as_deref().map(parse_pattern).transpose()?;
    if let Some(r) = args.prune {
        if !(0.0..1.0).contains(&r) {
            return Err(format!("--prune {r} is not in [0, 1)").into());
        }
    }
    if let Some(e) = args.rank_energy {
        if !(e > 0.0 && e <= 1.0) {
            return Err(format!("--rank-energy {e} is not in (0, 1]").into());
        }
    }
    let criterion = match args.criterion.as_str() {
        "l1" => Criterion::L1,
        "l2" => Criterion::L2,
        c => return Err(format!("unknown --criterion `{c}` (l1, l2)").into()),
    };
    let metric = match args.metric.as_str() {
        "cosine" => Metric::Cosine,
        "max-rel" => Metric::MaxRel,
        "top1" => Metric::Top1,
        m => return Err(format!("unknown --metric `{m}` (cosine, max-rel, top1)").into()),
    };
    let dims = args.shapes.dims()?;
    let mut model = crate::load(&args.input)?;
    args.shapes.parse()?.apply(&mut model.graph)?;
    // Shapes and folded constants first (as `quantize` does): pruning follows channels by
    // rank, and BatchNormalization folded into its Conv is one layer less to carry them through.
    // ONNX `Constant` weights (paddle2onnx writes them) are weights like initializers.
    modelc_passes::pattern::constants_to_const(&mut model.graph);
    modelc_passes::PassManager::new(modelc_passes::registry::level(2)).run(&mut model)?;
    let samples = match (&args.calibration, args.calibration_random) {
        (Some(_), Some(_)) => {
            return Err("give --calibration or --calibration-random, not both".into())
        }
        (Some(dir), None) => crate::quantize::load_dir(&model, dir)?,
        (None, Some(n)) if n > 0 => crate::quantize::random_samples(&model, n, args.seed, &dims)?,
        _ => {
            return Err(
                "the error is measured on inputs: --calibration DIR (or --calibration-random N)"
                    .into(),
            )
        }
    };
    let eval = match &args.eval {
        Some(_) if !search => {
            return Err("--eval is the search's held-out set: give it with --max-error, --size or --ratio alone".into())
        }
        Some(dir) => Some(crate::quantize::load_dir(&model, dir)?),
        None => None,
    };
    if search {
        return run_search(args, &model, &samples, eval.as_deref(), metric, out_format);
    }
    let mut out = model.clone();
    let pruned = match args.prune {
        Some(ratio) => prune::prune(
            &mut out.graph,
            &PruneOptions {
                ratio,
                criterion,
                only: Vec::new(),
            },
        ),
        None => Vec::new(),
    };
    let factorized = match args.rank_energy {
        Some(e) => lowrank::factorize(
            &mut out.graph,
            &LowRankOptions {
                rank: Rank::Energy(e),
                only_if_smaller: true,
            },
        ),
        None => Vec::new(),
    };
    let sparsified = match pattern {
        Some(p) => sparsity::sparsify(&mut out.graph, p),
        None => Vec::new(),
    };
    let newly_zero: u64 = sparsified
        .iter()
        .map(|s| s.zeros_after - s.zeros_before)
        .sum();
    if pruned.is_empty() && factorized.is_empty() && newly_zero == 0 {
        return Err(format!(
            "{}: nothing to compress (no prunable channel group, no weight whose factors are smaller, no weight to zero); nothing written",
            args.input.display()
        )
        .into());
    }
    let outputs = quant::evaluate(&model, &out, &samples)?;
    let error = outputs.iter().map(|e| e.error(metric)).fold(0.0, f64::max);
    let mut report = Report {
        pruned,
        factorized,
        sparsified,
        weight_bytes_before: quant::weight_bytes(&model.graph),
        weight_bytes_after: quant::weight_bytes(&out.graph),
        outputs,
        evaluation_inputs: samples.len(),
        output_file_bytes: 0,
    };
    if let Some(bound) = args.max_error {
        if error > bound {
            return Err(format!(
                "{metric:?} error {error:.4e} on {} inputs exceeds --max-error {bound}; nothing written",
                samples.len()
            )
            .into());
        }
    }
    let mut save = crate::SaveOptions::default();
    save.tflite.sparse_weights = pattern.is_some();
    crate::save(&out, &args.output, &save)?;
    report.output_file_bytes = std::fs::metadata(&args.output)?.len();
    let mut text = String::new();
    for p in &report.pruned {
        writeln!(
            text,
            "pruned      {} ({}): {} -> {} channels",
            p.node, p.op, p.channels_before, p.channels_after
        )?;
    }
    for f in &report.factorized {
        writeln!(
            text,
            "factorized  {} ({}): {}x{} -> rank {} ({:.4} of the energy), {} -> {} weights",
            f.node, f.op, f.m, f.n, f.rank, f.energy, f.params_before, f.params_after
        )?;
    }
    for s in &report.sparsified {
        writeln!(
            text,
            "sparsified  {} ({}): {}, {} -> {} of {} weights zero",
            s.node, s.op, s.pattern, s.zeros_before, s.zeros_after, s.elements
        )?;
    }
    for o in &report.outputs {
        writeln!(
            text,
            "output {}: cosine {:.6}, max rel {:.3e} (on {} inputs)",
            o.name, o.cosine, o.max_rel, report.evaluation_inputs
        )?;
    }
    writeln!(
        text,
        "weights: {} -> {} bytes ({:.1}%)",
        report.weight_bytes_before,
        report.weight_bytes_after,
        100.0 * report.weight_bytes_after as f64 / report.weight_bytes_before.max(1) as f64
    )?;
    writeln!(
        text,
        "wrote {} ({} bytes)",
        args.output.display(),
        report.output_file_bytes
    )?;
    Ok(Compressed {
        report: serde_json::to_value(&report)?,
        text,
    })
}

/// `--max-error`, `--size` or `--ratio` alone: the per-layer search (`compress::budget`) on
/// every input, checked on `eval`; without it, on the first three quarters of the inputs,
/// checked on the last quarter (on all of them when there is only one).
fn run_search(
    args: &CompressArgs,
    model: &crate::Model,
    samples: &[quant::Sample],
    eval: Option<&[quant::Sample]>,
    metric: Metric,
    out_format: crate::Format,
) -> Result<Compressed, Box<dyn std::error::Error>> {
    let split = if samples.len() >= 2 {
        samples.len() - (samples.len() / 4).max(1)
    } else {
        samples.len()
    };
    let (search, held) = match eval {
        Some(eval) => (samples, eval),
        None if split == samples.len() => (samples, samples),
        None => samples.split_at(split),
    };
    let sparse_storage = out_format == crate::Format::Tflite;
    let (int8, mut int4) = match (args.weights.as_str(), out_format) {
        ("auto", crate::Format::Onnx) => (true, true),
        // LiteRT (ai-edge-litert 2.3.0) runs an INT4 weight, one scale per output channel,
        // through DEQUANTIZE into CONV_2D / FULLY_CONNECTED.
        ("auto", crate::Format::Tflite) => (true, true),
        ("auto" | "float", _) => (false, false),
        ("int8", _) => (true, false),
        ("int8,int4" | "int4,int8", _) => (true, true),
        (w, _) => {
            return Err(format!("unknown --weights `{w}` (auto, float, int8, int8,int4)").into())
        }
    };
    let mut notes = Vec::new();
    if (int8 || int4) && !matches!(out_format, crate::Format::Onnx | crate::Format::Tflite) {
        return Err(format!("--weights {}: {out_format:?} files do not store quantized weights here (give --weights float)", args.weights).into());
    }
    let mut model = model.clone();
    if int4 {
        // Block-wise and per-channel int4 DequantizeLinear are opset 21.
        if let Err(e) = quant::require_opset(&mut model, 21, "int4 weights") {
            if args.weights != "auto" {
                return Err(format!("{}: {e}", args.input.display()).into());
            }
            notes.push(format!("int4 weights not tried: {e}"));
            int4 = false;
        }
    }
    let total = quant::weight_bytes(&model.graph);
    let goal = match (args.max_error, args.size, args.ratio) {
        (_, Some(bytes), _) => Goal::Size(bytes),
        (_, _, Some(r)) => Goal::Size((total as f64 * r) as u64),
        (Some(e), _, _) => Goal::MaxError(e),
        _ => unreachable!("checked by compress"),
    };
    let (out, budget) = budget::search(
        &model,
        search,
        held,
        &BudgetOptions {
            metric,
            goal,
            sparse_storage,
            int8,
            int4,
            blocks: out_format == crate::Format::Onnx,
            // Weights no Conv / Gemm / MatMul owns (an LSTM's, a sub-graph's) are layers of
            // their own in both formats: the TFLite writer keeps an unrolled LSTM's W and R
            // quantized (DEQUANTIZE into FULLY_CONNECTED), a fused LSTM's dequantized.
            unowned: true,
        },
    )
    .map_err(|e| format!("{}: {e}; nothing written", args.input.display()))?;
    let mut save = crate::SaveOptions::default();
    save.tflite.sparse_weights = sparse_storage;
    crate::save(&out, &args.output, &save)?;
    let bytes = std::fs::metadata(&args.output)?.len();
    let mut report = serde_json::to_value(&budget)?;
    report["output_file_bytes"] = bytes.into();
    report["notes"] = notes.clone().into();
    let mut text = String::new();
    for n in &notes {
        writeln!(text, "note: {n}")?;
    }
    for l in budget.layers.iter().filter(|l| l.choice != "none") {
        writeln!(
            text,
            "{:<40} {:<6} {:<34} error alone {:.3e}, {} -> {} bytes",
            l.node, l.op, l.choice, l.error_alone, l.bytes_before, l.bytes_after
        )?;
    }
    let aim = match goal {
        Goal::MaxError(b) => format!("bound {b}"),
        Goal::Size(t) => format!("size {t} bytes"),
    };
    writeln!(
        text,
        "{} error {:.4e} on {} search inputs, {:.4e} on {} held-out ({aim}); weights {} -> {} bytes; {} options measured; wrote {} ({bytes} bytes)",
        budget.metric,
        budget.search_error,
        budget.search_inputs,
        budget.held_out_error,
        budget.held_out_inputs,
        budget.weight_bytes_before,
        budget.weight_bytes_after,
        budget.candidates_measured,
        args.output.display()
    )?;
    let t = &budget.seconds;
    writeln!(
        text,
        "seconds: reference {:.1}, options {:.1}, combinations {:.1}, held-out {:.1}",
        t.reference, t.options, t.combinations, t.held_out
    )?;
    Ok(Compressed { report, text })
}

/// `--sparsity`: `N:M`, `block:R` or `R`.
fn parse_pattern(s: &str) -> Result<Pattern, String> {
    let bad = || format!("--sparsity `{s}`: give N:M (e.g. 2:4), block:R or R with R in [0, 1)");
    let ratio = |r: &str| {
        r.parse::<f64>()
            .ok()
            .filter(|r| (0.0..1.0).contains(r))
            .ok_or_else(bad)
    };
    if let Some(r) = s.strip_prefix("block:") {
        return Ok(Pattern::Blocks {
            ratio: ratio(r)?,
            size: 4,
        });
    }
    if let Some((n, m)) = s.split_once(':') {
        let (n, m) = (
            n.parse::<usize>().map_err(|_| bad())?,
            m.parse::<usize>().map_err(|_| bad())?,
        );
        if n == 0 || n >= m {
            return Err(bad());
        }
        return Ok(Pattern::NOfM { n, m });
    }
    Ok(Pattern::Unstructured { ratio: ratio(s)? })
}
