//! Calibration: runs the float model in the interpreter over the calibration inputs and
//! records, for every float32 value, its range (and for the histogram methods a histogram
//! of |x|), through the interpreter's observer hook, so no intermediate value is kept.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use modelc_interp::{Array, Data, Interpreter};
use modelc_ir::{DType, Model, ValueRef};

use super::histogram::AbsHistogram;
use super::QuantError;

/// One calibration input set: a value for every graph input, by name.
pub type Sample = Vec<(String, Data)>;

/// How an activation's range is chosen from what calibration saw.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Method {
    /// The observed minimum and maximum (ONNX Runtime's default).
    MinMax,
    /// Clip |x| at this percentile of the observed values (e.g. 99.99).
    Percentile(f64),
    /// Clip |x| where the KL divergence to the 8-bit quantized distribution is smallest.
    Entropy,
}

/// The observed range of one value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Range {
    pub min: f32,
    pub max: f32,
}

/// What calibration learnt about the model's values.
#[derive(Debug, Default)]
pub struct Stats {
    /// Ranges of the float32 values (graph inputs and node outputs).
    pub ranges: HashMap<ValueRef, Range>,
    /// Element type of every tensor value seen.
    pub dtypes: HashMap<ValueRef, DType>,
    pub runs: usize,
    pub elapsed: Duration,
    /// The model's outputs on each sample, in order, from the first pass: the float
    /// reference the error report and the budget search compare with, so they do not run
    /// the float model over the calibration inputs a second time.
    pub outputs: Vec<Vec<(String, Data)>>,
}

impl Stats {
    /// The float outputs of the first `n` calibration samples, if calibration ran them.
    pub fn reference(&self, n: usize) -> Option<&[Vec<(String, Data)>]> {
        self.outputs.get(..n)
    }
}

fn f32_values(data: &Data) -> Option<&ndarray::ArrayD<f32>> {
    match data {
        Data::Tensor(Array::F32(a)) => Some(a),
        _ => None,
    }
}

/// Runs `model` on every sample and returns the value ranges chosen by `method`.
pub fn calibrate(model: &Model, samples: &[Sample], method: Method) -> Result<Stats, QuantError> {
    if samples.is_empty() {
        return Err(QuantError::Calibration("no calibration inputs".into()));
    }
    let start = Instant::now();
    let interp = Interpreter::new(model)?;
    let mut stats = Stats::default();
    let mut ranges: HashMap<ValueRef, Range> = HashMap::new();
    for sample in samples {
        let outputs = interp.run_observed(sample.clone(), &mut |v, data| {
            if let Data::Tensor(a) = data {
                stats.dtypes.insert(v, a.dtype());
            }
            let Some(a) = f32_values(data) else { return };
            let (mut lo, mut hi) = (f32::INFINITY, f32::NEG_INFINITY);
            for &x in a.iter() {
                if x.is_finite() {
                    lo = lo.min(x);
                    hi = hi.max(x);
                }
            }
            if lo > hi {
                (lo, hi) = (0.0, 0.0);
            }
            let r = ranges.entry(v).or_insert(Range { min: lo, max: hi });
            r.min = r.min.min(lo);
            r.max = r.max.max(hi);
        })?;
        stats.outputs.push(outputs);
        stats.runs += 1;
    }
    if !matches!(method, Method::MinMax) {
        // A second pass fills histograms over the now-known |x| range of each value.
        let mut hists: HashMap<ValueRef, AbsHistogram> = ranges
            .iter()
            .map(|(v, r)| (*v, AbsHistogram::new(r.min.abs().max(r.max.abs()))))
            .collect();
        for sample in samples {
            interp.run_observed(sample.clone(), &mut |v, data| {
                if let (Some(a), Some(h)) = (f32_values(data), hists.get_mut(&v)) {
                    match a.as_slice_memory_order() {
                        Some(s) => h.add(s),
                        None => h.add(&a.iter().copied().collect::<Vec<_>>()),
                    }
                }
            })?;
            stats.runs += 1;
        }
        for (v, r) in ranges.iter_mut() {
            let h = &hists[v];
            let t = match method {
                Method::Percentile(p) => h.percentile(p),
                Method::Entropy => h.entropy_threshold(128),
                Method::MinMax => unreachable!(),
            };
            r.min = r.min.max(-t);
            r.max = r.max.min(t);
        }
    }
    stats.ranges = ranges;
    stats.elapsed = start.elapsed();
    Ok(stats)
}
