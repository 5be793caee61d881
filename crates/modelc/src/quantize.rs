//! `modelc quantize`: loads calibration inputs (.npy / .npz files, or seeded random ones),
//! runs the quantizer of `modelc-passes`, writes the result (any output format) and prints
//! the report.

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Instant;

use modelc_interp::{Array, Data};
use modelc_ir::{Dim, Model, Tensor, ValueType};
use modelc_passes::passes::quantize_bias::BiasScope;
use modelc_passes::quant::{self, Method, Metric, Mode, QuantConfig, QuantReport, Sample};

/// Why calibration or evaluation inputs could not be used.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("{}: {message}", path.display())]
    File { path: PathBuf, message: String },
    #[error("{0}")]
    Other(String),
}

fn file_err(path: &Path, message: impl Into<String>) -> InputError {
    InputError::File {
        path: path.to_path_buf(),
        message: message.into(),
    }
}

/// A declared input: name, element type and shape (symbolic dims `None`).
type InputSig = (String, Option<modelc_ir::DType>, Option<Vec<Option<u64>>>);

/// The model's inputs.
fn signature(model: &Model) -> Vec<InputSig> {
    crate::run::declared_inputs(model)
        .into_iter()
        .map(|(name, ty)| match ty {
            Some(ValueType::Tensor(tt)) => (
                name,
                tt.dtype,
                tt.shape.map(|s| {
                    s.0.iter()
                        .map(|d| match d {
                            Dim::Known(n) => Some(*n),
                            _ => None,
                        })
                        .collect()
                }),
            ),
            _ => (name, None, None),
        })
        .collect()
}

/// Checks `t` against the declared input; a tensor with one more leading axis than declared
/// (a batch of samples) is split along it.
fn fit(
    path: &Path,
    name: &str,
    dtype: Option<modelc_ir::DType>,
    shape: &Option<Vec<Option<u64>>>,
    t: Tensor,
) -> Result<Vec<Tensor>, InputError> {
    if let Some(dt) = dtype {
        if t.dtype != dt {
            return Err(file_err(
                path,
                format!("input `{name}` is {dt}, the file holds {}", t.dtype),
            ));
        }
    }
    let Some(shape) = shape else {
        return Ok(vec![t]);
    };
    let matches = |dims: &[u64]| {
        dims.len() == shape.len()
            && dims
                .iter()
                .zip(shape)
                .all(|(d, s)| s.is_none_or(|s| s == *d))
    };
    if matches(&t.dims) {
        return Ok(vec![t]);
    }
    if t.dims.len() == shape.len() + 1 && matches(&t.dims[1..])
        || (t.dims.len() == shape.len()
            && shape.first() == Some(&Some(1))
            && matches(&[&[1], &t.dims[1..]].concat()))
    {
        // A batch: one sample per leading index.
        let n = t.dims[0] as usize;
        let raw = t
            .raw()
            .ok_or_else(|| file_err(path, "string tensors are not supported"))?;
        let per = raw.len() / n.max(1);
        let dims: Vec<u64> = shape
            .iter()
            .zip(t.dims.iter().skip(t.dims.len() - shape.len()))
            .map(|(s, d)| s.unwrap_or(*d))
            .collect();
        return (0..n)
            .map(|i| {
                Tensor::from_raw(t.dtype, dims.clone(), raw.slice(i * per..(i + 1) * per))
                    .map_err(|e| file_err(path, e.to_string()))
            })
            .collect();
    }
    let want: Vec<String> = shape
        .iter()
        .map(|d| d.map_or("?".into(), |d| d.to_string()))
        .collect();
    Err(file_err(
        path,
        format!(
            "input `{name}` has shape [{}], the file holds {:?}",
            want.join(","),
            t.dims
        ),
    ))
}

/// Reads every .npy / .npz file of `dir` (sorted by name) as samples.
pub fn load_dir(model: &Model, dir: &Path) -> Result<Vec<Sample>, InputError> {
    let sig = signature(model);
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| file_err(dir, format!("cannot read the directory: {e}")))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("npy" | "npz")))
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(file_err(dir, "no .npy or .npz files"));
    }
    let mut samples = Vec::new();
    for path in files {
        if path.extension().and_then(|e| e.to_str()) == Some("npy") {
            if sig.len() != 1 {
                return Err(file_err(&path, format!(
                    "the model takes {} inputs; give each sample as an .npz with arrays named after them",
                    sig.len()
                )));
            }
            let (name, dt, shape) = &sig[0];
            let t = crate::npy::read(&path).map_err(|e| InputError::Other(e.to_string()))?;
            for t in fit(&path, name, *dt, shape, t)? {
                samples.push(vec![(name.clone(), to_data(&path, t)?)]);
            }
        } else {
            let arrays = read_npz(&path)?;
            let mut per_input = Vec::new();
            for (name, dt, shape) in &sig {
                let t = arrays
                    .iter()
                    .find(|(n, _)| n == name)
                    .map(|(_, t)| t.clone())
                    .or_else(|| (sig.len() == 1 && arrays.len() == 1).then(|| arrays[0].1.clone()))
                    .ok_or_else(|| file_err(&path, format!("no array named `{name}`")))?;
                per_input.push((name.clone(), fit(&path, name, *dt, shape, t)?));
            }
            samples.extend(interleave(&path, per_input)?);
        }
    }
    Ok(samples)
}

/// Samples from each input's list of tensors (sample i takes every input's i-th), which must
/// be equally long.
fn interleave(
    path: &Path,
    per_input: Vec<(String, Vec<Tensor>)>,
) -> Result<Vec<Sample>, InputError> {
    let n = per_input.first().map_or(0, |(_, v)| v.len());
    if per_input.iter().any(|(_, v)| v.len() != n) {
        return Err(file_err(path, "arrays hold different numbers of samples"));
    }
    (0..n)
        .map(|i| {
            per_input
                .iter()
                .map(|(name, ts)| Ok((name.clone(), to_data(path, ts[i].clone())?)))
                .collect()
        })
        .collect()
}

fn to_data(path: &Path, t: Tensor) -> Result<Data, InputError> {
    Array::from_tensor(&t)
        .map(Data::Tensor)
        .map_err(|e| file_err(path, e.to_string()))
}

/// The arrays of an .npz (a zip of .npy files, stored or deflated), by name.
fn read_npz(path: &Path) -> Result<Vec<(String, Tensor)>, InputError> {
    let f = std::fs::File::open(path).map_err(|e| file_err(path, format!("cannot read: {e}")))?;
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let mut zip =
        zip::ZipArchive::new(f).map_err(|e| file_err(path, format!("not a valid .npz: {e}")))?;
    let mut out = Vec::new();
    for i in 0..zip.len() {
        let mut entry = zip
            .by_index(i)
            .map_err(|e| file_err(path, format!("not a valid .npz: {e}")))?;
        let name = entry
            .name()
            .map_err(|e| file_err(path, format!("not a valid .npz: {e}")))?
            .trim_end_matches(".npy")
            .to_string();
        // Bound what an entry may inflate to (a .npz of images is not a zip bomb).
        let limit = (len.saturating_mul(1100)).min(1 << 32);
        if entry.size() > limit {
            return Err(file_err(
                path,
                format!("entry `{name}` claims {} bytes", entry.size()),
            ));
        }
        let mut bytes = Vec::new();
        entry
            .by_ref()
            .take(limit)
            .read_to_end(&mut bytes)
            .map_err(|e| file_err(path, format!("entry `{name}`: {e}")))?;
        let t = crate::npy::parse(&bytes)
            .map_err(|m| file_err(path, format!("entry `{name}`: {m}")))?;
        out.push((name, t));
    }
    Ok(out)
}

/// `n` seeded random samples of the declared input shapes.
pub fn random_samples(
    model: &Model,
    n: usize,
    seed: u64,
    dims: &HashMap<String, u64>,
) -> Result<Vec<Sample>, InputError> {
    (0..n)
        .map(|i| {
            let ts = crate::run::random_inputs(model, seed.wrapping_add(i as u64), dims)
                .map_err(|e| InputError::Other(e.to_string()))?;
            ts.into_iter()
                .map(|(name, t)| Ok((name, to_data(Path::new("random"), t)?)))
                .collect()
        })
        .collect()
}

/// Arguments of `modelc quantize`.
#[derive(clap::Args, Debug)]
pub struct QuantizeArgs {
    /// The float model to read.
    pub input: PathBuf,
    /// Where to write the quantized model (.onnx: QDQ; .tflite: the TFLite exporter's form).
    pub output: PathBuf,
    /// int8 (static, calibrated QDQ), int8-dynamic (int8 weights, activations quantized at
    /// run time; to .tflite: int8-weight), int8-weight (int8 weights, float compute),
    /// int4-weight, fp16, bf16.
    #[arg(long, default_value = "int8")]
    pub mode: String,
    /// Directory of calibration inputs: .npy files (one input, one sample or a batch per
    /// file) or .npz files (arrays named after the inputs).
    #[arg(long, value_name = "DIR")]
    pub calibration: Option<PathBuf>,
    /// Calibrate on N seeded random inputs instead (a poor substitute for real data).
    #[arg(long, value_name = "N")]
    pub calibration_random: Option<usize>,
    /// Held-out inputs (same layout as --calibration) for the error report.
    #[arg(long, value_name = "DIR")]
    pub eval: Option<PathBuf>,
    /// Range method: minmax, percentile, entropy.
    #[arg(long, default_value = "minmax")]
    pub method: String,
    /// Percentile of |x| kept by --method percentile.
    #[arg(long, default_value_t = 99.99)]
    pub percentile: f64,
    /// Activation type of static QDQ: u8 (asymmetric, fastest on x86 onnxruntime; the default
    /// for .onnx), i8 (the default for .tflite, whose integer kernels take int8 only), or
    /// u16 / i16 (ONNX only, opset 21: more accurate, for accelerators with 16-bit
    /// activations such as Qualcomm's HTP). With --target: one of the types the target takes
    /// (its file's default when not given).
    #[arg(long, value_name = "u8|i8|u16|i16")]
    pub activation_type: Option<String>,
    /// Per-tensor weights instead of per-channel.
    #[arg(long)]
    pub per_tensor: bool,
    /// Conv/ConvTranspose/Gemm biases of int8. `auto` (the default for .onnx): Conv biases
    /// stay float, since onnxruntime (checked with 1.32) turns them into the int32 bias its
    /// QLinearConv needs when it loads the model, which saves 8 bytes per output channel;
    /// the others int32. `int32` (the default for .tflite, whose integer kernels need it):
    /// all int32 behind a DequantizeLinear with scale = input scale × weight scale, for
    /// runtimes that fuse only explicit integer biases. `float`: all stay float.
    #[arg(long, value_name = "auto|int32|float")]
    pub bias: Option<String>,
    /// Quantize the model's outputs too (by default they stay float: a last
    /// requantization only adds error).
    #[arg(long)]
    pub quantize_outputs: bool,
    /// Keep ops of this type (Conv) or nodes whose name matches this glob in float. Repeatable.
    #[arg(long, value_name = "OP|GLOB")]
    pub exclude: Vec<String>,
    /// Keep the first and last Conv/Gemm/MatMul in float.
    #[arg(long)]
    pub exclude_first_last: bool,
    /// Block size of int4-weight.
    #[arg(long, default_value_t = 32)]
    pub block_size: usize,
    /// Accuracy budget: keep the most sensitive layers float until the error is at most E
    /// (--mode int8: static QDQ layers; --mode int8-weight: weights, on every calibration
    /// input).
    #[arg(long, value_name = "E")]
    pub max_error: Option<f64>,
    /// Error measure of --max-error: cosine (1 - cosine similarity), max-rel, top1.
    #[arg(long, default_value = "cosine")]
    pub metric: String,
    /// Seed of --calibration-random.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Input shapes and symbolic dimensions fixed before calibration (models with unknown
    /// dimensions need them for random inputs and a fully shaped QDQ graph).
    #[command(flatten)]
    pub shapes: crate::ShapeArgs,
    /// Move the model to this ONNX opset before quantizing (the mode's ops may need a newer
    /// one still: static int8 and int8-weight 13, int4-weight 21; quantize moves up to that
    /// itself and says so).
    #[arg(long, value_name = "N")]
    pub opset: Option<i64>,
    /// Print the report as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub target: Box<crate::TargetArgs>,
}

fn parse_mode(s: &str) -> Result<Mode, String> {
    Ok(match s {
        "int8" => Mode::Int8,
        "int8-dynamic" => Mode::Int8Dynamic,
        "int8-weight" => Mode::Int8Weight,
        "int4-weight" => Mode::Int4Weight,
        "fp16" => Mode::Fp16,
        "bf16" => Mode::Bf16,
        _ => {
            return Err(format!(
                "unknown --mode `{s}` (int8, int8-dynamic, int8-weight, int4-weight, fp16, bf16)"
            ))
        }
    })
}

impl QuantizeArgs {
    /// The options of `modelc quantize` without its two files (`--mode int8 --method entropy
    /// ...`), for a model quantized in memory (`Model.quantize` in Python); the files are
    /// left empty.
    pub fn parse_options<I, T>(flags: I) -> Result<QuantizeArgs, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        #[derive(clap::Parser)]
        #[command(name = "quantize", no_binary_name = true)]
        struct Options {
            #[command(flatten)]
            args: QuantizeArgs,
        }
        let argv = ["-", "-"].into_iter().map(std::ffi::OsString::from);
        let argv = argv.chain(flags.into_iter().map(Into::into));
        let mut args = <Options as clap::Parser>::try_parse_from(argv)?.args;
        args.input = PathBuf::new();
        args.output = PathBuf::new();
        Ok(args)
    }
}

/// The quantizer's configuration the options in `args` ask for, for a TFLite destination
/// (`tflite`: int8 activations, int32 biases, quantized outputs, fixed ranges) or another,
/// with `--target`'s quantization scheme applied.
pub fn config(
    args: &QuantizeArgs,
    tflite: bool,
) -> Result<QuantConfig, Box<dyn std::error::Error>> {
    let mode = parse_mode(&args.mode)?;
    let method = match args.method.as_str() {
        "minmax" => Method::MinMax,
        "percentile" if args.percentile > 0.0 && args.percentile <= 100.0 => {
            Method::Percentile(args.percentile)
        }
        "percentile" => {
            return Err(format!("--percentile {} is not in (0, 100]", args.percentile).into())
        }
        "entropy" => Method::Entropy,
        m => return Err(format!("unknown --method `{m}` (minmax, percentile, entropy)").into()),
    };
    let metric = match args.metric.as_str() {
        "cosine" => Metric::Cosine,
        "max-rel" => Metric::MaxRel,
        "top1" => Metric::Top1,
        m => return Err(format!("unknown --metric `{m}` (cosine, max-rel, top1)").into()),
    };
    // TFLite has no builtins for ONNX's run-time-quantized integer ops (DynamicQuantizeLinear,
    // ConvInteger, MatMulInteger): a dynamic-range TFLite file gets int8 weights that its
    // float kernels read through DEQUANTIZE.
    let mode = if tflite && mode == Mode::Int8Dynamic {
        eprintln!(
            "modelc: int8-dynamic to TFLite: int8 weights, float compute (--mode int8-weight)"
        );
        Mode::Int8Weight
    } else {
        mode
    };
    let activation = activation_type(args.activation_type.as_deref().unwrap_or(if tflite {
        "i8"
    } else {
        "u8"
    }))?;
    if tflite && activation.bits() == 16 {
        return Err(
            "--activation-type u16/i16 writes 16-bit QDQ, which is ONNX only (TFLite's 16-bit \
             scheme is int16x8, not written by modelc quantize)"
                .into(),
        );
    }
    let mut cfg = QuantConfig {
        mode,
        method,
        exclude: args
            .exclude
            .iter()
            .flat_map(|e| e.split(','))
            .map(str::to_string)
            .filter(|s| !s.is_empty())
            .collect(),
        exclude_first_last: args.exclude_first_last,
        block_size: args.block_size,
        max_error: args.max_error.map(|e| (metric, e)),
        // An LSTM's weights too: the TFLite writer keeps an unrolled LSTM's W and R
        // quantized.
        unowned_weights: true,
        ..QuantConfig::default()
    };
    cfg.static_opts.activation = activation;
    cfg.static_opts.per_channel = !args.per_tensor;
    cfg.static_opts.int32_bias = match args.bias.as_deref() {
        None if tflite => Some(BiasScope::All),
        None | Some("auto") => Some(BiasScope::ExceptConv),
        Some("int32") => Some(BiasScope::All),
        Some("float") => None,
        Some(b) => return Err(format!("unknown --bias `{b}` (auto, int32, float)").into()),
    };
    // Full-integer TFLite has no int8-in, float-out kernels: the last op's output is
    // quantized too (and dequantized to the model's float output by a DEQUANTIZE op), as
    // TensorFlow's converter does.
    cfg.static_opts.quantize_outputs = args.quantize_outputs || tflite;
    // LiteRT's integer LOGISTIC / SOFTMAX / TANH produce fixed output ranges only.
    cfg.static_opts.fixed_ranges = tflite;
    // A target's own scheme (qnn-htp: uint8 activations; tensorrt: zero point 0).
    let target = args.target.resolve()?;
    if let Some(t) = &target {
        if let Some(scheme) = &t.file.quantization {
            apply_scheme(&mut cfg, scheme, args.activation_type.as_deref())
                .map_err(|e| format!("--target {}: {e}", t.name()))?;
        }
    }
    // Ops the target's integer kernels run besides the default set (validated names).
    if let Some(t) = &target {
        cfg.static_opts.extra_ops = t
            .file
            .target
            .quantize_ops
            .iter()
            .filter_map(|op| modelc_ir::OnnxOp::lookup("", op))
            .collect();
    }
    Ok(cfg)
}

/// The element type `--activation-type` (or a target file) names.
fn activation_type(name: &str) -> Result<modelc_ir::DType, String> {
    Ok(match name {
        "u8" => modelc_ir::DType::U8,
        "i8" => modelc_ir::DType::I8,
        "u16" => modelc_ir::DType::U16,
        "i16" => modelc_ir::DType::I16,
        t => {
            return Err(format!(
                "unknown --activation-type `{t}` (u8, i8, u16, i16)"
            ))
        }
    })
}

/// The target's quantization scheme (`[quantization]` of its file) in place of the
/// defaults: activation type and symmetry, per-channel weights, biases, quantized outputs.
/// `chosen` is the user's `--activation-type`: one of the types the target takes (its
/// default `activation` or one of its `activation_options`), else an error.
pub fn apply_scheme(
    cfg: &mut QuantConfig,
    scheme: &modelc_passes::target::QuantScheme,
    chosen: Option<&str>,
) -> Result<(), String> {
    let o = &mut cfg.static_opts;
    o.activation = match chosen {
        Some(c) if c == scheme.activation || scheme.activation_options.iter().any(|a| a == c) => {
            activation_type(c)?
        }
        Some(c) => {
            let mut takes = vec![scheme.activation.as_str()];
            takes.extend(scheme.activation_options.iter().map(String::as_str));
            return Err(format!(
                "--activation-type {c} is not taken by the target (it takes {})",
                takes.join(", ")
            ));
        }
        None => activation_type(&scheme.activation)?,
    };
    o.symmetric_activations = scheme.symmetric_activations;
    o.per_channel = scheme.per_channel;
    o.int32_bias = match scheme.bias.as_str() {
        "int32" => Some(BiasScope::All),
        "float" => None,
        _ => o.int32_bias,
    };
    o.quantize_outputs = o.quantize_outputs || scheme.quantize_outputs;
    Ok(())
}

/// Samples given as tensors by name (one map per sample; Python's dicts of numpy arrays),
/// checked against the model's inputs as calibration files are: every input present, of
/// its element type and shape (an array with one more leading axis is a batch of samples).
/// `what` names them in errors (`calibration`).
pub fn samples(
    model: &Model,
    what: &str,
    given: Vec<Vec<(String, Tensor)>>,
) -> Result<Vec<Sample>, InputError> {
    let sig = signature(model);
    let mut samples = Vec::new();
    for (i, mut arrays) in given.into_iter().enumerate() {
        let at = PathBuf::from(format!("{what}[{i}]"));
        if let Some((extra, _)) = arrays
            .iter()
            .find(|(n, _)| !sig.iter().any(|(name, _, _)| name == n))
        {
            return Err(file_err(&at, format!("the model has no input `{extra}`")));
        }
        let mut per_input = Vec::new();
        for (name, dt, shape) in &sig {
            let pos = arrays
                .iter()
                .position(|(n, _)| n == name)
                .ok_or_else(|| file_err(&at, format!("no array for input `{name}`")))?;
            let t = arrays.swap_remove(pos).1;
            per_input.push((name.clone(), fit(&at, name, *dt, shape, t)?));
        }
        samples.extend(interleave(&at, per_input)?);
    }
    Ok(samples)
}

/// Quantizes `model` (its input shapes already fixed) as `args` asks, on `calibration` and
/// `eval` samples (`None`: `--calibration-random`, or one seeded random run for the modes
/// that need value types only), then lowered for `--target` when one is given. What
/// `modelc quantize` does between reading and writing.
pub fn quantize_model(
    mut model: Model,
    args: &QuantizeArgs,
    cfg: &QuantConfig,
    calibration: Option<Vec<Sample>>,
    eval: &[Sample],
) -> Result<(Model, QuantReport), Box<dyn std::error::Error>> {
    if let Some(target) = args.opset {
        let from = modelc_passes::opset::convert_model(&mut model, target)?;
        if from != target {
            eprintln!("opset: {from} -> {target} (--opset)");
        }
    }
    let dims: HashMap<String, u64> = args.shapes.dims()?;
    // Resolved before calibrating: an unknown target fails at once.
    let target = args.target.resolve()?;
    let calibration = match (calibration, args.calibration_random) {
        (Some(_), Some(_)) => {
            return Err("give --calibration or --calibration-random, not both".into())
        }
        (Some(samples), None) => samples,
        (None, Some(n)) => {
            if n == 0 {
                return Err("--calibration-random needs at least 1 input".into());
            }
            if cfg.mode == Mode::Int8 {
                eprintln!("modelc: WARNING: calibrating on {n} RANDOM inputs: activation ranges will not match real data and accuracy will suffer; use --calibration DIR with real inputs");
            }
            random_samples(&model, n, args.seed, &dims)?
        }
        (None, None) if cfg.mode == Mode::Int8 => return Err(
            "static int8 needs calibration inputs: --calibration DIR (or --calibration-random N)"
                .into(),
        ),
        // Other modes need one run for value types only.
        (None, None) => random_samples(&model, 1, args.seed, &dims)?,
    };
    // The target's rewrites whose results the calibrator must measure (an integer
    // LayerNorm's variance and reciprocal square root).
    if let Some(t) = target
        .as_ref()
        .filter(|t| !t.file.target.before_quantize.is_empty())
    {
        let passes = modelc_passes::registry::pipeline(&t.file.target.before_quantize.join(","))?;
        for note in modelc_passes::PassManager::new(passes)
            .run(&mut model)?
            .notes
        {
            eprintln!("target {}: {note}", t.name());
        }
    }
    let (mut quantized, report) = quant::quantize(&model, cfg, &calibration, eval)?;
    if let Some(t) = &target {
        for note in crate::check::lower(&mut quantized, t)? {
            eprintln!("target {}: {note}", t.name());
        }
    }
    Ok((quantized, report))
}

/// Runs `modelc quantize`.
pub fn run(args: QuantizeArgs) -> Result<(), Box<dyn std::error::Error>> {
    crate::check_distinct(&args.input, &args.output)?;
    let tflite = crate::format_of(&args.output)? == crate::Format::Tflite;
    let target = args.target.resolve()?;
    let cfg = config(&args, tflite)?;
    let fixed = args.shapes.parse()?;
    let mut model = crate::load(&args.input)?;
    fixed.apply(&mut model.graph)?;
    let calibration = match &args.calibration {
        Some(dir) => Some(load_dir(&model, dir)?),
        None => None,
    };
    let eval = match &args.eval {
        Some(dir) => load_dir(&model, dir)?,
        None => Vec::new(),
    };
    let start = Instant::now();
    let (quantized, report) = quantize_model(model, &args, &cfg, calibration, &eval)?;
    if cfg.mode == Mode::Int8 {
        eprintln!(
            "calibration: {} inputs through the interpreter in {:.2} s",
            report.calibration_inputs, report.calibration_seconds
        );
    }
    crate::save(&quantized, &args.output, &crate::SaveOptions::default())?;
    let before = std::fs::metadata(&args.input).map(|m| m.len()).unwrap_or(0);
    let after = std::fs::metadata(&args.output)
        .map(|m| m.len())
        .unwrap_or(0);
    if args.json {
        let mut v = serde_json::to_value(&report)?;
        v["file_bytes_before"] = before.into();
        v["file_bytes_after"] = after.into();
        v["seconds"] = start.elapsed().as_secs_f64().into();
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        eprint!("{}", report.render());
        eprintln!(
            "file: {} bytes -> {} bytes ({:.1}%), {:.2} s",
            before,
            after,
            if before > 0 {
                100.0 * after as f64 / before as f64
            } else {
                0.0
            },
            start.elapsed().as_secs_f64()
        );
    }
    if let Some(t) = &target {
        let placed = crate::check::check(&args.output, t, &Default::default())?;
        eprint!("{}", crate::check::render_fallbacks(&placed));
    }
    Ok(())
}
