//! Quantization: the modes behind `modelc quantize`.
//!
//! - `int8`: static QDQ ([`static_int8`]), activations calibrated by running the float
//!   model in the interpreter ([`calibrate`]) with `minmax`, `percentile` or `entropy`
//!   ranges, weights per-channel symmetric int8, biases int32 where the runtime needs them
//!   stored (`quantize-bias`);
//! - `int8-dynamic` ([`dynamic`]): int8 weights, activations quantized at run time;
//! - `int4-weight` ([`int4`]): block-wise int4 weights for MatMul and Gather;
//! - `fp16` / `bf16` ([`float16`]): half-precision weights and compute, sensitive ops and
//!   the model's inputs and outputs kept in float32;
//! - an accuracy budget ([`budget`]): keep the most sensitive layers in float until the
//!   output error is within `--max-error`.
//!
//! Every mode returns the rewritten model and a [`QuantReport`].

pub mod budget;
pub mod calibrate;
pub mod dynamic;
pub mod edit;
mod error;
pub mod float16;
pub mod histogram;
pub mod int4;
pub mod int8_weight;
pub mod metrics;
pub mod params;
pub mod report;
pub mod static_int8;

use std::collections::HashMap;

use modelc_interp::{Data, Interpreter};
use modelc_ir::{DType, Graph, Model, NodeId, Op};

pub use calibrate::{Method, Sample};
pub use error::QuantError;
pub use metrics::{Metric, OutputError};
pub use report::{Layer, OpsetChange, QuantReport};
pub use static_int8::StaticOptions;

use crate::PassManager;

/// Which quantization.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Fp16,
    Bf16,
    Int8Dynamic,
    Int8,
    Int8Weight,
    Int4Weight,
}

impl Mode {
    pub fn name(self) -> &'static str {
        match self {
            Mode::Fp16 => "fp16",
            Mode::Bf16 => "bf16",
            Mode::Int8Dynamic => "int8-dynamic",
            Mode::Int8 => "int8",
            Mode::Int8Weight => "int8-weight",
            Mode::Int4Weight => "int4-weight",
        }
    }

    /// Whether the mode needs calibration data (activation ranges).
    pub fn needs_calibration(self) -> bool {
        self == Mode::Int8
    }

    /// The default-domain opset the ops this mode writes need, and what needs it.
    pub fn min_opset(self) -> Option<(i64, &'static str)> {
        match self {
            Mode::Int8 => Some((13, "per-channel QDQ")),
            Mode::Int8Weight => Some((13, "per-channel DequantizeLinear")),
            Mode::Int4Weight => Some((21, "block-wise int4 DequantizeLinear")),
            Mode::Fp16 | Mode::Bf16 | Mode::Int8Dynamic => None,
        }
    }
}

/// Everything `quantize` needs to know.
#[derive(Debug, Clone)]
pub struct QuantConfig {
    pub mode: Mode,
    pub method: Method,
    pub static_opts: StaticOptions,
    /// Op types (`Conv`) or node-name globs (`*/fc*`) to keep in float.
    pub exclude: Vec<String>,
    /// Keep the first and the last Conv/Gemm/MatMul in float.
    pub exclude_first_last: bool,
    /// Block size of `int4-weight` (elements per scale along the blocked axis).
    pub block_size: usize,
    /// `--max-error`: the metric and the bound.
    pub max_error: Option<(Metric, f64)>,
    /// Run the cleanup pipeline (identity, fold, dce) first.
    pub optimize_first: bool,
    /// `int8-weight`: also store int8 the float weights no Conv / Gemm / MatMul owns (an
    /// LSTM's, or ones an If / Loop body reads) — what `compress` can store narrower (the
    /// TFLite writer unrolls a stateful LSTM with its integer W and R).
    pub unowned_weights: bool,
}

impl QuantConfig {
    /// The default-domain opset the ops this configuration writes need, and what needs it:
    /// the mode's, or 21 for 16-bit QDQ activations (uint16/int16 QuantizeLinear).
    pub fn min_opset(&self) -> Option<(i64, &'static str)> {
        if self.mode == Mode::Int8 && self.static_opts.activation.bits() == 16 {
            return Some((21, "16-bit QDQ activations"));
        }
        self.mode.min_opset()
    }
}

impl Default for QuantConfig {
    fn default() -> Self {
        QuantConfig {
            mode: Mode::Int8,
            method: Method::MinMax,
            static_opts: StaticOptions::default(),
            exclude: Vec::new(),
            exclude_first_last: false,
            block_size: 32,
            max_error: None,
            optimize_first: true,
            unowned_weights: false,
        }
    }
}

/// Quantizes `model`. `calibration` gives activation ranges (int8) and value types (every
/// mode); `eval` are held-out inputs for the report (empty: the calibration inputs are
/// used and the report says so).
pub fn quantize(
    model: &Model,
    cfg: &QuantConfig,
    calibration: &[Sample],
    eval: &[Sample],
) -> Result<(Model, QuantReport), QuantError> {
    if calibration.is_empty() {
        return Err(QuantError::Calibration("no calibration inputs".into()));
    }
    let mut float = model.clone();
    // ONNX `Constant` weights (paddle2onnx writes them) are weights like initializers: as
    // `compress` does, so the modes reach them.
    crate::pattern::constants_to_const(&mut float.graph);
    // Before calibrating: a model older than the ops this mode writes is converted first
    // (or refused, by node), not after minutes of calibration.
    let opset = match cfg.min_opset() {
        Some((min, why)) => require_opset(&mut float, min, why)?,
        None => None,
    };
    if cfg.optimize_first {
        PassManager::new(crate::registry::level(2)).run(&mut float)?;
    }
    let method = if cfg.mode.needs_calibration() {
        cfg.method
    } else {
        Method::MinMax
    };
    // Modes without activation ranges only need value types: one run is enough.
    let calib_set = if cfg.mode.needs_calibration() {
        calibration
    } else {
        &calibration[..1]
    };
    let stats = calibrate::calibrate(&float, calib_set, method)?;
    let excluded = excluded_nodes(&float.graph, cfg);

    let mut report = QuantReport {
        mode: cfg.mode.name().to_string(),
        weight_bytes_before: weight_bytes(&float.graph),
        calibration_inputs: if cfg.mode.needs_calibration() {
            calibration.len()
        } else {
            0
        },
        calibration_seconds: stats.elapsed.as_secs_f64(),
        opset,
        ..QuantReport::default()
    };

    let quantized = match (cfg.mode, cfg.max_error) {
        (Mode::Int8, Some((metric, bound))) => {
            let (m, layers, b) =
                budget::search(&float, &stats, cfg, &excluded, calibration, metric, bound)?;
            report.layers = layers;
            report.budget = Some(b);
            m
        }
        (Mode::Int8Weight, Some((metric, bound))) => {
            let (m, layers, b) =
                budget::search_weights(&float, cfg, &excluded, calibration, metric, bound)?;
            report.layers = layers;
            report.budget = Some(b);
            m
        }
        (_, Some(_)) => {
            return Err(QuantError::Unsupported(
                "--max-error works with --mode int8 and int8-weight".into(),
            ))
        }
        (Mode::Int8, None) => {
            let mut m = float.clone();
            report.layers =
                static_int8::quantize_static(&mut m.graph, &stats, &cfg.static_opts, &excluded)
                    .map_err(QuantError::Unsupported)?;
            m
        }
        (Mode::Fp16 | Mode::Bf16, None) => {
            let mut m = float.clone();
            let dt = if cfg.mode == Mode::Fp16 {
                DType::F16
            } else {
                DType::BF16
            };
            report.layers = float16::convert(&mut m.graph, &stats, dt, &excluded)
                .map_err(QuantError::Unsupported)?;
            m
        }
        (Mode::Int8Dynamic, None) => {
            let mut m = float.clone();
            // Recurrent weights need per-axis DequantizeLinear (opset 13); older models
            // keep them float.
            let opset = m.opset("");
            report.layers = dynamic::quantize_dynamic(&mut m.graph, &stats, &excluded, opset)
                .map_err(QuantError::Unsupported)?;
            m
        }
        (Mode::Int8Weight, None) => {
            let mut m = float.clone();
            report.layers =
                int8_weight::quantize_weights(&mut m.graph, &excluded, cfg.unowned_weights)
                    .map_err(QuantError::Unsupported)?;
            m
        }
        (Mode::Int4Weight, None) => {
            let mut m = float.clone();
            report.layers = int4::quantize_int4(&mut m.graph, cfg.block_size, &excluded)
                .map_err(QuantError::Unsupported)?;
            m
        }
    };
    if !report.layers.iter().any(|l| l.quantized) {
        return Err(QuantError::NothingToQuantize(format!(
            "no op the {} mode quantizes was found (or all were excluded)",
            cfg.mode.name()
        )));
    }
    let mut quantized = quantized;
    PassManager::new(crate::registry::pipeline("dce")?).run(&mut quantized)?;
    report.weight_bytes_after = weight_bytes(&quantized.graph);
    let (eval_set, on) = if eval.is_empty() {
        (calibration, "calibration")
    } else {
        (eval, "held-out")
    };
    report.evaluated_on = on.to_string();
    report.evaluation_inputs = eval_set.len();
    // Evaluated on the calibration inputs, the float outputs are calibration's.
    let calibrated = stats.reference(eval_set.len()).filter(|_| eval.is_empty());
    report.outputs = match calibrated {
        Some(r) => compare(r, &quantized, eval_set)?,
        None => evaluate(&float, &quantized, eval_set)?,
    };
    Ok((quantized, report))
}

/// Raises the default-domain opset of `m` to at least `min` (the ops modelc emits need it)
/// with the opset conversion; refuses, by node, what does not convert. Returns the change.
pub fn require_opset(
    m: &mut Model,
    min: i64,
    why: &str,
) -> Result<Option<OpsetChange>, QuantError> {
    let Some(v) = m.opset("").filter(|&v| v < min) else {
        return Ok(None);
    };
    crate::opset::convert_model(m, min)
        .map_err(|e| QuantError::Unsupported(format!("{why} needs opset {min}: {e}")))?;
    Ok(Some(OpsetChange {
        from: v,
        to: min,
        why: format!("{why} needs opset {min}"),
    }))
}

/// `f` of each of `items`, in their order, on rayon's threads: one run of the interpreter on
/// one sample keeps about one core busy (its kernels gain little from a second thread at
/// batch 1), so the samples of a measurement run side by side. The results, and what is
/// summed from them, are in the samples' order whatever the thread count.
pub(crate) fn each<T: Sync, R: Send>(
    items: &[T],
    f: impl Fn(&T) -> Result<R, QuantError> + Sync,
) -> Result<Vec<R>, QuantError> {
    use rayon::prelude::*;
    items.par_iter().map(&f).collect()
}

/// Folds `f` over `items` on rayon's threads, each thread into its own accumulator from
/// `init`, then `merge`s the accumulators: for statistics too large to keep one per item
/// (histograms), and only where `merge` gives the same result in any order (integer counts).
pub(crate) fn fold_samples<T: Sync, A: Send>(
    items: &[T],
    init: impl Fn() -> A + Sync + Send,
    f: impl Fn(&mut A, &T) -> Result<(), QuantError> + Sync + Send,
    merge: impl Fn(&mut A, A) + Sync + Send,
) -> Result<A, QuantError> {
    use rayon::prelude::*;
    items
        .par_iter()
        .try_fold(&init, |mut acc, item| {
            f(&mut acc, item)?;
            Ok::<A, QuantError>(acc)
        })
        .try_reduce(&init, |mut a, b| {
            merge(&mut a, b);
            Ok(a)
        })
}

/// Bytes held in the graph's constants.
pub fn weight_bytes(g: &Graph) -> u64 {
    g.node_ids()
        .map(|id| match &g.node(id).op {
            Op::Const(t) => t.byte_len(),
            Op::Input { default: Some(t) } => t.byte_len(),
            _ => 0,
        })
        .sum()
}

/// Runs both models on `samples` and measures each output's error.
pub fn evaluate(
    float: &Model,
    quantized: &Model,
    samples: &[Sample],
) -> Result<Vec<OutputError>, QuantError> {
    compare(&reference(float, samples)?, quantized, samples)
}

/// The float model's outputs on `samples` (computed once when many candidates are compared).
pub fn reference(
    float: &Model,
    samples: &[Sample],
) -> Result<Vec<Vec<(String, Data)>>, QuantError> {
    let a = Interpreter::new(float)?;
    each(samples, |s| Ok(a.run(s.clone())?))
}

/// Measures each output's error of `quantized` on `samples` against `reference`.
pub fn compare(
    reference: &[Vec<(String, Data)>],
    quantized: &Model,
    samples: &[Sample],
) -> Result<Vec<OutputError>, QuantError> {
    let b = Interpreter::new(quantized)?;
    let names = b.output_names();
    let mut acc: Vec<metrics::Accumulator> = names.iter().map(|_| Default::default()).collect();
    let runs = each(samples, |s| Ok(b.run(s.clone())?))?;
    for (rb, ra) in runs.iter().zip(reference) {
        for (i, ((_, da), (_, db))) in ra.iter().zip(rb).enumerate() {
            if let (Data::Tensor(x), Data::Tensor(y)) = (da, db) {
                if let (Ok(xv), Ok(yv)) = (x.to_f64_vec(), y.to_f64_vec()) {
                    acc[i].add(&xv, &yv, x.shape());
                }
            }
        }
    }
    Ok(names.iter().zip(&acc).map(|(n, a)| a.finish(n)).collect())
}

/// Nodes the configuration keeps in float, with the reason.
pub fn excluded_nodes(g: &Graph, cfg: &QuantConfig) -> HashMap<NodeId, String> {
    let mut out = HashMap::new();
    let order = g.topo_order().unwrap_or_default();
    for &id in &order {
        let n = g.node(id);
        let Some(op) = n.op.onnx() else { continue };
        let label = edit::label(g, id);
        for pat in &cfg.exclude {
            if pat == op.name() || glob(pat, &label) {
                out.insert(id, format!("excluded by --exclude {pat}"));
            }
        }
    }
    if cfg.exclude_first_last {
        let weighted: Vec<NodeId> = order
            .iter()
            .copied()
            .filter(|&id| g.node(id).op.onnx().is_some_and(static_int8::weighted))
            .collect();
        for id in [weighted.first(), weighted.last()].into_iter().flatten() {
            out.insert(*id, "excluded by --exclude-first-last".into());
        }
    }
    out
}

/// Shell-style glob: `*` any run of characters, `?` one character.
pub fn glob(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    #[test]
    fn glob_matches_like_a_shell() {
        assert!(super::glob("/layer1/*", "/layer1/conv1/Conv"));
        assert!(super::glob("*Conv", "/a/Conv"));
        assert!(super::glob("c?nv", "conv"));
        assert!(!super::glob("/layer1/*", "/layer2/conv"));
        assert!(!super::glob("conv", "conv1"));
    }
}
