//! Shared by the fusion tests: deterministic pseudo-random constants and inputs, the numeric
//! before/after check, and op counting.

#![allow(dead_code)]

use modelc_interp::Array;
use modelc_ir::Graph;

/// A small deterministic generator (64-bit LCG), so snapshots do not change between runs.
pub struct Lcg(u64);

impl Lcg {
    pub fn new(seed: u64) -> Lcg {
        Lcg(seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407))
    }

    /// Uniform in [-1, 1).
    pub fn next(&mut self) -> f32 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    }
}

/// A text-form list of `n` values in [-1, 1) with 3 decimals (`[0.123, -0.5, ...]`).
pub fn vals(n: usize, seed: u64) -> String {
    list(n, seed, |v| v)
}

/// A text-form list of `n` values in [0.5, 1.5) (variances, scales).
pub fn pos_vals(n: usize, seed: u64) -> String {
    list(n, seed, |v| 1.0 + v / 2.0)
}

fn list(n: usize, seed: u64, f: impl Fn(f32) -> f32) -> String {
    let mut r = Lcg::new(seed);
    let items: Vec<String> = (0..n)
        .map(|_| format!("{:.3}", f(r.next())))
        .map(|s| if s == "-0.000" { "0.0".into() } else { s })
        .collect();
    format!("[{}]", items.join(", "))
}

/// An f32 array of `shape` with values in [-scale, scale).
pub fn input(shape: &[usize], seed: u64, scale: f32) -> Array {
    let mut r = Lcg::new(seed);
    let n = shape.iter().product();
    let v: Vec<f32> = (0..n).map(|_| r.next() * scale).collect();
    Array::F32(ndarray::ArrayD::from_shape_vec(ndarray::IxDyn(shape), v).unwrap())
}

/// Parses `text`, runs the passes of `spec` to a fixed point (validating every step) and
/// returns the graph before, the graph after and the printed result.
pub fn run(text: &str, spec: &str) -> (Graph, Graph, String) {
    let before = Graph::parse(text).unwrap_or_else(|e| panic!("test graph does not parse: {e}"));
    let mut after = before.clone();
    let mut pm = modelc_passes::PassManager::new(modelc_passes::registry::pipeline(spec).unwrap());
    pm.validate = true;
    pm.run_graph(&mut after).unwrap_or_else(|e| panic!("{e}"));
    let printed = modelc_ir::text::print_graph(&after, &Default::default());
    (before, after, printed)
}

/// How many nodes of op `name` (as printed: `Conv`, `BatchNormalization`) the graph has.
pub fn count_in(g: &Graph, name: &str) -> usize {
    g.node_ids()
        .filter(|&id| g.node(id).op.display_name() == name)
        .count()
}
