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

/// What one calibration run saw.
#[derive(Default)]
struct Seen {
    ranges: HashMap<ValueRef, Range>,
    dtypes: HashMap<ValueRef, DType>,
}

/// The smallest and largest finite element, `(0, 0)` when there is none. Infinities and
/// NaN are replaced by the neutral bound before comparing, a select the compiler turns
/// into vector blends, so the scan runs at memory speed over every activation.
fn finite_range(s: &[f32]) -> (f32, f32) {
    const LANES: usize = 16;
    let mut lo = [f32::INFINITY; LANES];
    let mut hi = [f32::NEG_INFINITY; LANES];
    let mut chunks = s.chunks_exact(LANES);
    for c in &mut chunks {
        for i in 0..LANES {
            // `a < b ? a : b` is exactly one minps/maxps; the non-finite select is a mask.
            let finite = c[i].abs() < f32::INFINITY;
            let (xl, xh) = if finite {
                (c[i], c[i])
            } else {
                (f32::INFINITY, f32::NEG_INFINITY)
            };
            lo[i] = if xl < lo[i] { xl } else { lo[i] };
            hi[i] = if xh > hi[i] { xh } else { hi[i] };
        }
    }
    let (mut l, mut h) = (f32::INFINITY, f32::NEG_INFINITY);
    for &x in chunks.remainder() {
        if x.is_finite() {
            l = l.min(x);
            h = h.max(x);
        }
    }
    for i in 0..LANES {
        l = l.min(lo[i]);
        h = h.max(hi[i]);
    }
    if l > h {
        (0.0, 0.0)
    } else {
        (l, h)
    }
}

fn f32_values(data: &Data) -> Option<&ndarray::ArrayD<f32>> {
    match data {
        Data::Tensor(Array::F32(a)) => Some(a),
        _ => None,
    }
}

/// Runs `model` on every sample and returns the value ranges chosen by `method`.
///
/// The samples run side by side on rayon's threads (see [`super::each`]); what each run
/// saw is merged with min, max and integer counts, which give the same result in any
/// order, so the ranges do not depend on the thread count.
pub fn calibrate(model: &Model, samples: &[Sample], method: Method) -> Result<Stats, QuantError> {
    if samples.is_empty() {
        return Err(QuantError::Calibration("no calibration inputs".into()));
    }
    let start = Instant::now();
    let interp = Interpreter::new(model)?;
    let mut stats = Stats::default();
    let mut ranges: HashMap<ValueRef, Range> = HashMap::new();
    let runs = super::each(samples, |sample| {
        let mut seen = Seen::default();
        let outputs = interp.run_observed(sample.clone(), &mut |v, data| {
            if let Data::Tensor(a) = data {
                seen.dtypes.insert(v, a.dtype());
            }
            if let Some(a) = f32_values(data) {
                let (lo, hi) = match a.as_slice_memory_order() {
                    Some(s) => finite_range(s),
                    None => finite_range(&a.iter().copied().collect::<Vec<_>>()),
                };
                seen.ranges.insert(v, Range { min: lo, max: hi });
            }
        })?;
        Ok((outputs, seen))
    })?;
    for (outputs, seen) in runs {
        stats.dtypes.extend(seen.dtypes);
        for (v, r) in seen.ranges {
            let m = ranges.entry(v).or_insert(r);
            m.min = m.min.min(r.min);
            m.max = m.max.max(r.max);
        }
        stats.outputs.push(outputs);
        stats.runs += 1;
    }
    if !matches!(method, Method::MinMax) {
        // A second pass fills histograms over the now-known |x| range of each value.
        let absmax: HashMap<ValueRef, f32> = ranges
            .iter()
            .map(|(v, r)| (*v, r.min.abs().max(r.max.abs())))
            .collect();
        let hists = super::fold_samples(
            samples,
            HashMap::<ValueRef, AbsHistogram>::new,
            |hists, sample| {
                interp.run_observed(sample.clone(), &mut |v, data| {
                    let (Some(a), Some(&m)) = (f32_values(data), absmax.get(&v)) else {
                        return;
                    };
                    let h = hists.entry(v).or_insert_with(|| AbsHistogram::new(m));
                    match a.as_slice_memory_order() {
                        Some(s) => h.add(s),
                        None => h.add(&a.iter().copied().collect::<Vec<_>>()),
                    }
                })?;
                Ok(())
            },
            |into, from| {
                for (v, h) in from {
                    match into.get_mut(&v) {
                        Some(g) => g.merge(&h),
                        None => {
                            into.insert(v, h);
                        }
                    }
                }
            },
        )?;
        stats.runs += samples.len();
        for (v, r) in ranges.iter_mut() {
            let Some(h) = hists.get(v) else { continue };
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

#[cfg(test)]
mod tests {
    use super::finite_range;

    /// The lane-parallel scan agrees with a plain one on every length around its lane
    /// width, with infinities and NaN anywhere, and an all-non-finite slice is `(0, 0)`.
    #[test]
    fn finite_range_skips_non_finite_values_at_any_position() {
        let special = [f32::INFINITY, f32::NEG_INFINITY, f32::NAN];
        for len in 0..40usize {
            let mut v: Vec<f32> = (0..len).map(|i| ((i * 37) % 23) as f32 - 11.5).collect();
            for (k, s) in special.iter().enumerate() {
                if len > 0 {
                    v[(k * 7) % len] = *s;
                }
            }
            let finite: Vec<f32> = v.iter().copied().filter(|x| x.is_finite()).collect();
            let want = if finite.is_empty() {
                (0.0, 0.0)
            } else {
                (
                    finite.iter().copied().fold(f32::INFINITY, f32::min),
                    finite.iter().copied().fold(f32::NEG_INFINITY, f32::max),
                )
            };
            assert_eq!(finite_range(&v), want, "length {len}");
        }
        assert_eq!(finite_range(&[f32::NAN; 20]), (0.0, 0.0));
    }
}
