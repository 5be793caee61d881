//! One accuracy budget over the compressions: each layer's options (low-rank at several
//! retained energies, and — where the output format stores zeros sparse — unstructured
//! sparsity at several ratios) are measured one at a time on the search inputs, then taken
//! greedily, most bytes saved per unit of error first, each kept only while the combined
//! model's error stays within the bound; the result is checked on held-out inputs and the
//! last choices are undone until it is within the bound there too.
//!
//! Error is measured as `quantize --max-error` measures it (`quant::reference` once, then
//! `quant::compare` per candidate: whole-model runs of the interpreter). Still to do: a
//! layer's sensitivity from its own calibration activations instead of a whole-model run
//! per candidate, and int8/int4 weights among the options.

use modelc_ir::{Model, NodeId};

use super::lowrank::{self, LowRankOptions, Rank};
use super::sparsity::{self, Pattern};
use crate::quant::calibrate::Sample;
use crate::quant::edit::label;
use crate::quant::{compare, reference, Metric, QuantError};

/// Retained energies tried for low-rank factorization.
const ENERGIES: [f64; 4] = [0.999, 0.99, 0.95, 0.9];
/// Fractions of zero weights tried for sparsity.
const RATIOS: [f64; 3] = [0.5, 0.75, 0.9];
/// Bytes a sparse weight costs besides values and indices (tables; as the TFLite writer).
const SPARSE_TABLES: u64 = 1024;

/// What the search may do and the bound it keeps.
#[derive(Debug, Clone, Copy)]
pub struct BudgetOptions {
    pub metric: Metric,
    pub bound: f64,
    /// Whether the output format stores zeroed weights sparse (TFLite FULLY_CONNECTED
    /// weights): without it, sparsity saves nothing and is not tried.
    pub sparse_storage: bool,
}

/// One compression option for one layer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Choice {
    LowRank(f64),
    Sparsity(f64),
}

impl std::fmt::Display for Choice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Choice::LowRank(e) => write!(f, "low-rank {e} energy"),
            Choice::Sparsity(r) => write!(f, "{r} of the weights zero"),
        }
    }
}

/// A layer's outcome, for reports.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct LayerChoice {
    pub node: String,
    pub op: String,
    /// What was chosen ("none": kept as it was).
    pub choice: String,
    /// The output error (in the metric) with only this layer changed, on the search inputs.
    pub error_alone: f64,
    /// Weight bytes of the layer before and (estimated as stored) after.
    pub bytes_before: u64,
    pub bytes_after: u64,
}

/// The search's outcome.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct BudgetReport {
    pub metric: String,
    pub bound: f64,
    pub search_inputs: usize,
    pub held_out_inputs: usize,
    pub search_error: f64,
    pub held_out_error: f64,
    pub candidates_measured: usize,
    pub layers: Vec<LayerChoice>,
}

struct Candidate {
    id: NodeId,
    choice: Choice,
    error: f64,
    /// Bytes saved (estimated as stored).
    saved: u64,
}

/// Searches per-layer compressions of `model` within `opts.bound`, measured on `search` and
/// checked on `held_out`. `Err(Budget)` when no option keeps the error within the bound.
pub fn search(
    model: &Model,
    search: &[Sample],
    held_out: &[Sample],
    opts: &BudgetOptions,
) -> Result<(Model, BudgetReport), QuantError> {
    let metric = opts.metric;
    let reference_search = reference(model, search)?;
    let reference_held = reference(model, held_out)?;
    let error_of = |m: &Model, refs: &[Vec<(String, modelc_interp::Data)>], s: &[Sample]| {
        compare(refs, m, s).map(|o| o.iter().map(|e| e.error(metric)).fold(0.0, f64::max))
    };
    let mut layers: Vec<NodeId> = lowrank::candidates(&model.graph);
    if opts.sparse_storage {
        for id in sparsity::candidates(&model.graph) {
            if !layers.contains(&id) && is_fc(model, id) {
                layers.push(id);
            }
        }
    }
    let mut candidates = Vec::new();
    let mut best_alone: Option<(f64, String)> = None;
    for &id in &layers {
        for choice in options(model, id, opts) {
            let mut m = model.clone();
            let Some(saved) = apply(&mut m, id, choice) else {
                continue;
            };
            if saved == 0 {
                continue;
            }
            let error = error_of(&m, &reference_search, search)?;
            if best_alone.as_ref().is_none_or(|(e, _)| error < *e) {
                best_alone = Some((error, format!("{} ({choice})", label(&model.graph, id))));
            }
            candidates.push(Candidate {
                id,
                choice,
                error,
                saved,
            });
        }
    }
    let measured = candidates.len();
    if candidates.is_empty() {
        return Err(QuantError::Unsupported(
            "nothing to compress: no layer has an option that saves bytes in this format".into(),
        ));
    }
    // Most bytes per unit of error first (an exact option first of all).
    candidates.sort_by(|a, b| {
        let ka = a.saved as f64 / a.error.max(1e-12);
        let kb = b.saved as f64 / b.error.max(1e-12);
        kb.total_cmp(&ka)
    });
    let mut chosen: Vec<&Candidate> = Vec::new();
    let mut search_error = 0.0;
    for c in &candidates {
        if c.error > opts.bound || chosen.iter().any(|k| k.id == c.id) {
            continue;
        }
        let mut trial: Vec<&Candidate> = chosen.clone();
        trial.push(c);
        let m = build(model, &trial);
        let e = error_of(&m, &reference_search, search)?;
        if e <= opts.bound {
            chosen = trial;
            search_error = e;
        }
    }
    // Held-out: undo the last choices until within the bound there too.
    loop {
        if chosen.is_empty() {
            let (e, at) = best_alone.unwrap_or((f64::INFINITY, String::new()));
            return Err(QuantError::Budget(format!(
                "no compression keeps the {metric:?} error within {}: the smallest any single option gives is {e:.4e} ({at})",
                opts.bound
            )));
        }
        let m = build(model, &chosen);
        let held_error = error_of(&m, &reference_held, held_out)?;
        if held_error <= opts.bound {
            let mut report = BudgetReport {
                metric: format!("{metric:?}").to_lowercase(),
                bound: opts.bound,
                search_inputs: search.len(),
                held_out_inputs: held_out.len(),
                search_error,
                held_out_error: held_error,
                candidates_measured: measured,
                layers: Vec::new(),
            };
            for &id in &layers {
                let bytes_before = weight_bytes(model, id);
                let pick = chosen.iter().find(|c| c.id == id);
                report.layers.push(LayerChoice {
                    node: label(&model.graph, id),
                    op: crate::pattern::onnx_op(&model.graph, id)
                        .map_or("?", |o| o.name())
                        .to_string(),
                    choice: pick.map_or("none".into(), |c| c.choice.to_string()),
                    error_alone: pick.map_or(0.0, |c| c.error),
                    bytes_before,
                    bytes_after: bytes_before - pick.map_or(0, |c| c.saved),
                });
            }
            return Ok((m, report));
        }
        chosen.pop();
        search_error = f64::NAN;
    }
}

fn is_fc(model: &Model, id: NodeId) -> bool {
    matches!(
        crate::pattern::onnx_op(&model.graph, id),
        Some(modelc_ir::OnnxOp::MatMul | modelc_ir::OnnxOp::Gemm)
    )
}

fn options(model: &Model, id: NodeId, opts: &BudgetOptions) -> Vec<Choice> {
    let mut out: Vec<Choice> = ENERGIES.iter().map(|&e| Choice::LowRank(e)).collect();
    if opts.sparse_storage && is_fc(model, id) {
        out.extend(RATIOS.iter().map(|&r| Choice::Sparsity(r)));
    }
    out
}

/// Bytes of layer `id`'s weight (its input 1).
fn weight_bytes(model: &Model, id: NodeId) -> u64 {
    model
        .graph
        .input(id, 1)
        .and_then(|w| crate::pattern::const_tensor(&model.graph, w))
        .map_or(0, |t| t.byte_len())
}

/// Applies `choice` to layer `id` of `m`; the bytes it saves as stored, or `None` when it
/// does not apply.
fn apply(m: &mut Model, id: NodeId, choice: Choice) -> Option<u64> {
    match choice {
        Choice::LowRank(e) => {
            let f = lowrank::factorize_node(
                &mut m.graph,
                id,
                &LowRankOptions {
                    rank: Rank::Energy(e),
                    only_if_smaller: true,
                },
            )?;
            // f32 weights (4 bytes; the passes change f32/f64 weights, f64 models are rare).
            Some((f.params_before - f.params_after) * 4)
        }
        Choice::Sparsity(ratio) => {
            let s = sparsity::sparsify_node(&mut m.graph, id, Pattern::Unstructured { ratio })?;
            let dense = s.elements * 4;
            let nonzero = s.elements - s.zeros_after;
            // Values plus (at most) two-byte indices, and the tables.
            let stored = nonzero * 6 + SPARSE_TABLES;
            Some(dense.saturating_sub(stored))
        }
    }
}

/// `model` with each of `chosen` applied to its layer (node ids are stable across the
/// rewrites: each choice changes only its own layer).
fn build(model: &Model, chosen: &[&Candidate]) -> Model {
    let mut m = model.clone();
    for c in chosen {
        apply(&mut m, c.id, c.choice);
    }
    m
}
