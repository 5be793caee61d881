//! Range estimation from observed values: min/max, and a histogram of |x| for the
//! `percentile` and `entropy` (KL divergence, TensorRT's method) calibrators.

/// Bins of the |x| histogram (ONNX Runtime's percentile calibrator uses 2048 too).
pub const BINS: usize = 2048;

/// A histogram of absolute values over `[0, absmax]`.
#[derive(Debug, Clone)]
pub struct AbsHistogram {
    pub absmax: f32,
    pub counts: Vec<u64>,
}

impl AbsHistogram {
    pub fn new(absmax: f32) -> AbsHistogram {
        AbsHistogram {
            absmax,
            counts: vec![0; BINS],
        }
    }

    pub fn add(&mut self, values: &[f32]) {
        if self.absmax <= 0.0 || !self.absmax.is_finite() {
            self.counts[0] += values.len() as u64;
            return;
        }
        let k = BINS as f32 / self.absmax;
        for &v in values {
            let b = (v.abs() * k) as usize;
            self.counts[b.min(BINS - 1)] += 1;
        }
    }

    /// Adds the counts of `other`, a histogram over the same `[0, absmax]`.
    pub fn merge(&mut self, other: &AbsHistogram) {
        debug_assert_eq!(self.absmax, other.absmax);
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
    }

    fn bin_width(&self) -> f32 {
        self.absmax / BINS as f32
    }

    /// The |x| below which `pct` percent of the values lie.
    pub fn percentile(&self, pct: f64) -> f32 {
        let total: u64 = self.counts.iter().sum();
        if total == 0 {
            return self.absmax;
        }
        let want = (total as f64 * pct / 100.0).ceil() as u64;
        let mut seen = 0;
        for (i, &c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= want {
                return (i + 1) as f32 * self.bin_width();
            }
        }
        self.absmax
    }

    /// The clipping threshold that minimises the KL divergence between the clipped
    /// distribution and its quantization to `levels` bins (TensorRT's entropy calibration).
    pub fn entropy_threshold(&self, levels: usize) -> f32 {
        let total: u64 = self.counts.iter().sum();
        if total == 0 || self.absmax <= 0.0 {
            return self.absmax;
        }
        let hist: Vec<f64> = self.counts.iter().map(|&c| c as f64).collect();
        let mut best = (f64::INFINITY, BINS);
        // Candidate thresholds every 16 bins keep this linear-ish in BINS.
        let mut i = levels;
        while i <= BINS {
            let mut p: Vec<f64> = hist[..i].to_vec();
            let outliers: f64 = hist[i..].iter().sum();
            p[i - 1] += outliers;
            // Quantize the first i bins into `levels` groups, spreading each group's mass
            // evenly over its non-empty bins.
            let mut q = vec![0.0f64; i];
            for j in 0..levels {
                let start = j * i / levels;
                let end = ((j + 1) * i / levels).max(start + 1).min(i);
                let mass: f64 = hist[start..end].iter().sum();
                let nonzero = hist[start..end].iter().filter(|&&c| c > 0.0).count();
                if nonzero > 0 {
                    for k in start..end {
                        if hist[k] > 0.0 {
                            q[k] = mass / nonzero as f64;
                        }
                    }
                }
            }
            let (ps, qs): (f64, f64) = (p.iter().sum(), q.iter().sum());
            let mut kl = 0.0;
            for (a, b) in p.iter().zip(&q) {
                if *a > 0.0 {
                    let pa = a / ps;
                    // An empty q bin where p has mass: a small floor instead of infinity.
                    let qb = if *b > 0.0 { b / qs } else { 1e-12 };
                    kl += pa * (pa / qb).ln();
                }
            }
            if kl < best.0 {
                best = (kl, i);
            }
            i += 16;
        }
        best.1 as f32 * self.bin_width()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentile_cuts_the_outlier() {
        let mut values: Vec<f32> = (0..10_000).map(|i| (i % 100) as f32 / 100.0).collect();
        values.push(50.0);
        let mut h = AbsHistogram::new(50.0);
        h.add(&values);
        let t = h.percentile(99.9);
        assert!(t > 0.9 && t < 1.1, "{t}");
        assert_eq!(h.percentile(100.0), 50.0);
    }

    #[test]
    fn entropy_clips_a_long_tail() {
        // An exponential distribution (mean 1) and one far outlier: the threshold lands in
        // the tail, far below the outlier.
        let mut values: Vec<f32> = (1..100_000)
            .map(|i| -((i as f32) / 100_000.0).ln())
            .collect();
        values.push(100.0);
        let mut h = AbsHistogram::new(100.0);
        h.add(&values);
        let t = h.entropy_threshold(128);
        assert!((2.0..30.0).contains(&t), "{t}");
    }
}
