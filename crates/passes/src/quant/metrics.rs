//! How far a quantized model's outputs are from the float model's: cosine similarity, max
//! relative error (largest absolute difference over the largest reference magnitude), and
//! top-1 agreement for class scores.

use serde::Serialize;

/// The error measure `--max-error` bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Metric {
    /// 1 − cosine similarity.
    Cosine,
    /// max |b − a| / max |a|.
    MaxRel,
    /// Fraction of rows whose arg-max differs.
    Top1,
}

/// Error of one output over a set of inputs.
#[derive(Debug, Clone, Default, Serialize)]
pub struct OutputError {
    pub name: String,
    /// Mean over inputs of the cosine similarity (an output of one number per input: the
    /// cosine of all inputs' values together).
    pub cosine: f64,
    pub max_rel: f64,
    /// Fraction of rows (last axis = classes) whose arg-max agrees; None when the output
    /// is not a 2-D score matrix.
    pub top1: Option<f64>,
}

impl OutputError {
    /// The error under `metric` (0 = identical).
    pub fn error(&self, metric: Metric) -> f64 {
        match metric {
            Metric::Cosine => 1.0 - self.cosine,
            Metric::MaxRel => self.max_rel,
            Metric::Top1 => 1.0 - self.top1.unwrap_or(1.0),
        }
    }
}

/// Accumulates the error of one output over several runs.
#[derive(Debug, Default)]
pub struct Accumulator {
    cos_sum: f64,
    runs: usize,
    max_abs: f64,
    ref_max: f64,
    rows: usize,
    agree: usize,
    scores: bool,
    /// Over all runs together: an output of one number per run (a probability, a score) has
    /// no cosine of its own (±1), so its cosine is that of the runs' values side by side.
    dot_all: f64,
    na_all: f64,
    nb_all: f64,
    widest: usize,
}

impl Accumulator {
    /// Adds one run: reference `a`, candidate `b`, with shape `shape`.
    pub fn add(&mut self, a: &[f64], b: &[f64], shape: &[usize]) {
        let (mut dot, mut na, mut nb) = (0.0, 0.0, 0.0);
        self.widest = self.widest.max(a.len());
        for (x, y) in a.iter().zip(b) {
            dot += x * y;
            na += x * x;
            nb += y * y;
            self.max_abs = self.max_abs.max((x - y).abs());
            self.ref_max = self.ref_max.max(x.abs());
        }
        self.dot_all += dot;
        self.na_all += na;
        self.nb_all += nb;
        self.cos_sum += if na == 0.0 && nb == 0.0 {
            1.0
        } else if na == 0.0 || nb == 0.0 {
            0.0
        } else {
            dot / (na.sqrt() * nb.sqrt())
        };
        self.runs += 1;
        let classes = shape.last().copied().unwrap_or(0);
        if shape.len() == 2 && classes > 1 {
            self.scores = true;
            for (ra, rb) in a.chunks(classes).zip(b.chunks(classes)) {
                self.rows += 1;
                self.agree += usize::from(argmax(ra) == argmax(rb));
            }
        }
    }

    pub fn finish(&self, name: &str) -> OutputError {
        OutputError {
            name: name.to_string(),
            cosine: if self.runs == 0 {
                1.0
            } else if self.widest <= 1 {
                cosine(self.dot_all, self.na_all, self.nb_all)
            } else {
                self.cos_sum / self.runs as f64
            },
            max_rel: if self.ref_max > 0.0 {
                self.max_abs / self.ref_max
            } else {
                self.max_abs
            },
            top1: (self.scores && self.rows > 0).then(|| self.agree as f64 / self.rows as f64),
        }
    }
}

fn cosine(dot: f64, na: f64, nb: f64) -> f64 {
    if na == 0.0 && nb == 0.0 {
        1.0
    } else if na == 0.0 || nb == 0.0 {
        0.0
    } else {
        dot / (na.sqrt() * nb.sqrt())
    }
}

fn argmax(v: &[f64]) -> usize {
    let mut best = 0;
    for (i, x) in v.iter().enumerate() {
        if *x > v[best] {
            best = i;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_one_number_output_is_compared_across_runs() {
        let mut acc = Accumulator::default();
        acc.add(&[0.9], &[0.9], &[1, 1]);
        acc.add(&[0.1], &[0.5], &[1, 1]);
        let e = acc.finish("p");
        let want = (0.81 + 0.05) / ((0.81f64 + 0.01).sqrt() * (0.81f64 + 0.25).sqrt());
        assert!((e.cosine - want).abs() < 1e-12, "{}", e.cosine);
        assert!(e.cosine < 0.95);
    }

    #[test]
    fn errors_of_a_scaled_and_a_swapped_output() {
        let mut acc = Accumulator::default();
        acc.add(&[1.0, 2.0, 3.0, 4.0], &[2.0, 4.0, 6.0, 8.0], &[2, 2]);
        let e = acc.finish("y");
        assert!((e.cosine - 1.0).abs() < 1e-12);
        assert_eq!(e.top1, Some(1.0));
        assert!((e.max_rel - 1.0).abs() < 1e-12);
        let mut acc = Accumulator::default();
        acc.add(&[1.0, 0.0], &[0.0, 1.0], &[1, 2]);
        let e = acc.finish("y");
        assert_eq!(e.cosine, 0.0);
        assert_eq!(e.top1, Some(0.0));
        assert_eq!(e.error(Metric::Top1), 1.0);
    }
}
