//! One accuracy budget over the compressions: per layer, options of structure (low-rank at
//! several retained energies; where the output format stores zeros sparse, unstructured
//! sparsity at several ratios) and of weight precision (int8, int4 where the format stores
//! them) are measured one at a time on the search inputs. Each layer's options form a
//! staircase of upgrades — the lower convex hull of (error, bytes saved) from "unchanged" —
//! and the upgrades of all layers are taken most bytes per unit of error first: while their
//! errors add up to within `--max-error` (errors of independent small changes add:
//! 1 − cosine grows with the squared norm of the change), or until the model is as small as
//! `--size` asks. When every layer stored int8 (each whose int8 option alone is within the
//! bound) keeps the whole model within `--max-error`, the search starts from that point and
//! its upgrades go beyond it (int4, low-rank, sparsity): the result is then never larger than
//! int8 everywhere. A whole-model run checks each combination on the search inputs; errors
//! add up to more or less than their sum, so up to six rounds move the budget the sum is
//! held to (by the measured ratio, inside the bracket of budgets known within and over the
//! bound) and keep the smallest model measured within the bound (none: the longest prefix
//! of the upgrades within it, by binary search). Held-out inputs check the result, and the
//! longest prefix within the bound there is kept (not shorter than the int8 point when that
//! holds there).
//!
//! Error is measured as `quantize --max-error` measures it (the metrics of
//! `quant::compare`). An option alone is measured from the activations at its layer, computed
//! once per input ([`super::downstream`]): only the rest of the model runs per option.
//!
//! A float weight no Conv / Gemm / MatMul owns — one an If / Loop sub-graph reads, or an
//! LSTM's (silero VAD's, sliced into gate order inside an If) — is a layer of its own: its
//! readers are out of reach, so its options are its storage (int8, int4), applied to the
//! constant and measured from a cut before its first reader (the sub-graph's node), as exact
//! as any cut: everything before it is the original model's.

use std::cell::Cell;
use std::collections::HashMap;

use modelc_ir::{Model, NodeId};

use super::downstream::Activations;
use super::lowrank::{self, LowRankOptions, Rank};
use super::sparsity::{self, Pattern};
use super::weights::{self, Precision};
use crate::quant::calibrate::Sample;
use crate::quant::edit::label;
use crate::quant::{compare, reference, Metric, QuantError};

/// Retained energies tried for low-rank factorization.
const ENERGIES: [f64; 4] = [0.999, 0.99, 0.95, 0.9];
/// Fractions of zero weights tried for sparsity.
const RATIOS: [f64; 3] = [0.5, 0.75, 0.9];
/// Bytes a sparse weight costs besides values and indices (tables; as the TFLite writer).
const SPARSE_TABLES: u64 = 1024;
/// Options are measured one at a time on at most this many of the search inputs (the
/// combinations and the held-out check run on all of them): each option is a run of the
/// rest of the model per input, the bulk of the search's time.
const OPTION_INPUTS: usize = 16;
/// An option beyond a layer's int8 option (int4, low-rank, blocks, sparsity) that saves
/// less than this fraction of the model's weight bytes more than int8 does is not measured
/// (nor is a layer factorized whose factors could not save that): the search cannot gain
/// from it what measuring it costs.
const MIN_GAIN_FRACTION: u64 = 1000;

/// What the search aims at.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Goal {
    /// The smallest model whose error stays within this bound.
    MaxError(f64),
    /// The smallest error with at most this many weight bytes.
    Size(u64),
}

/// What the search may do and what it aims at.
#[derive(Debug, Clone, Copy)]
pub struct BudgetOptions {
    pub metric: Metric,
    pub goal: Goal,
    /// Whether the output format stores zeroed weights sparse (TFLite FULLY_CONNECTED
    /// weights): without it, sparsity saves nothing and is not tried.
    pub sparse_storage: bool,
    /// Whether the output format stores int8 weights behind a DequantizeLinear (low-rank
    /// factors are then tried in int8 too).
    pub int8: bool,
    /// Whether it stores int4 weights.
    pub int4: bool,
    /// Whether it stores weights quantized in blocks (ONNX opset 21's blocked
    /// DequantizeLinear: int8 in blocks along the input channels, int4 MatMul weights in
    /// blocks along K). Without it (TFLite: one scale per output channel at most) int4 is
    /// tried only where the writer stores a per-channel int4 weight as it is: a Conv that is
    /// not grouped, and a Gemm whose weight is [N, K] (transB=1).
    pub blocks: bool,
    /// Whether weights no layer owns (an LSTM's, a sub-graph's) may be stored narrower too
    /// (the TFLite writer unrolls a stateful LSTM with its integer W and R).
    pub unowned: bool,
}

/// How a layer's weight is changed: its structure, then its storage.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Structure {
    Unchanged,
    LowRank(f64),
    Sparsity(f64),
}

/// One option for one layer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Choice {
    pub structure: Structure,
    pub precision: Precision,
}

impl std::fmt::Display for Choice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.structure {
            Structure::Unchanged => {}
            Structure::LowRank(e) => write!(f, "low-rank {e} energy")?,
            Structure::Sparsity(r) => write!(f, "{r} of the weights zero")?,
        }
        match (self.structure, self.precision) {
            (_, Precision::F32) => Ok(()),
            (Structure::Unchanged, p) => write!(f, "{p} weights"),
            (_, p) => write!(f, ", {p} weights"),
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
    /// `--max-error`'s bound, or `None` for a size goal.
    pub bound: Option<f64>,
    /// `--size`/`--ratio`'s weight bytes, or `None` for an error bound.
    pub size_target: Option<u64>,
    /// Weight precisions the search could choose besides float32.
    pub precisions: Vec<String>,
    pub search_inputs: usize,
    /// How many of the search inputs each option alone was measured on.
    pub option_inputs: usize,
    pub held_out_inputs: usize,
    pub search_error: f64,
    pub held_out_error: f64,
    pub candidates_measured: usize,
    /// Constant bytes of the model before and after (sparse storage estimated).
    pub weight_bytes_before: u64,
    pub weight_bytes_after: u64,
    /// Wall seconds of each phase: the reference and activations, the options measured one
    /// at a time, the combinations measured on the search inputs, the held-out checks.
    pub seconds: Phases,
    /// Each whole-model measurement of the search: the budget its upgrades' errors were
    /// held to, how many upgrades that took, the bytes they save, the error measured.
    pub rounds: Vec<Round>,
    pub layers: Vec<LayerChoice>,
}

/// One combination measured on the search inputs.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Round {
    pub budget: f64,
    pub upgrades: usize,
    pub saved: u64,
    pub error: f64,
}

/// Wall seconds of the search's phases.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Phases {
    pub reference: f64,
    pub options: f64,
    /// Whole-model runs on the search inputs (the int8 point, the budget rounds).
    pub combinations: f64,
    pub held_out: f64,
}

struct Candidate {
    id: NodeId,
    choice: Choice,
    error: f64,
    /// Bytes saved (estimated as stored).
    saved: u64,
}

/// One upgrade of one layer along its staircase: to `to` (an index into the candidates).
#[derive(Debug, Clone, Copy)]
struct Step {
    layer: NodeId,
    to: usize,
    d_error: f64,
    d_saved: u64,
}

/// Searches per-layer compressions of `model` for `opts.goal`, measured on `search` and
/// checked on `held_out`. `Err(Budget)` when no option meets the goal.
pub fn search(
    model: &Model,
    search: &[Sample],
    held_out: &[Sample],
    opts: &BudgetOptions,
) -> Result<(Model, BudgetReport), QuantError> {
    let metric = opts.metric;
    let bound = match opts.goal {
        Goal::MaxError(b) => b,
        Goal::Size(_) => f64::INFINITY,
    };
    let total_before = crate::quant::weight_bytes(&model.graph);
    let clock = std::time::Instant::now();
    let option_inputs = &search[..search.len().min(OPTION_INPUTS)];
    let mut acts = Activations::new(model, option_inputs)?;
    let search_ref = if option_inputs.len() == search.len() {
        acts.reference().to_vec()
    } else {
        reference(model, search)?
    };
    let reference_held = reference(model, held_out)?;
    let min_gain = total_before / MIN_GAIN_FRACTION;
    let mut phases = Phases {
        reference: clock.elapsed().as_secs_f64(),
        ..Phases::default()
    };
    let clock = std::time::Instant::now();
    let mut layers: Vec<NodeId> = lowrank::candidates(&model.graph);
    for id in model.graph.node_ids() {
        if (opts.int8 || opts.int4)
            && weights::quantizable(&model.graph, id)
            && !layers.contains(&id)
        {
            layers.push(id);
        }
    }
    // Weights no layer owns (read by a sub-graph, or by an LSTM): the constants themselves.
    if opts.unowned && (opts.int8 || opts.int4) {
        for id in model.graph.node_ids() {
            if weights::constant_layer(&model.graph, id) {
                layers.push(id);
            }
        }
    }
    if opts.sparse_storage {
        for id in sparsity::candidates(&model.graph) {
            if !layers.contains(&id) && is_fc(model, id) {
                layers.push(id);
            }
        }
    }
    // In the order the cut moves along.
    let position: HashMap<NodeId, usize> = acts
        .order()
        .iter()
        .enumerate()
        .map(|(i, &id)| (id, i))
        .collect();
    // A layer is measured from a cut before its first reader: a constant's readers come
    // after it, the first of them (a sub-graph's node, for a captured constant) is the cut.
    let cut_at = |id: NodeId| -> NodeId {
        if !matches!(model.graph.node(id).op, modelc_ir::Op::Const(_)) {
            return id;
        }
        model
            .graph
            .users(modelc_ir::ValueRef::new(id, 0))
            .into_iter()
            .map(|(u, _)| u)
            .min_by_key(|u| position.get(u).copied().unwrap_or(usize::MAX))
            .unwrap_or(id)
    };
    layers.sort_by_key(|&id| position.get(&cut_at(id)).copied().unwrap_or(usize::MAX));
    let mut candidates: Vec<Candidate> = Vec::new();
    // Each layer's SVD, for every rank tried on it and every model built: computed side by
    // side up front (one SVD keeps one core busy), for the layers whose factors could save
    // `min_gain` (rank 1 stores m + n of the m·n elements).
    let spectra: Vec<(NodeId, (usize, usize, lowrank::Factors))> = {
        use rayon::prelude::*;
        let per_element = if opts.int8 { 1 } else { 4 };
        layers
            .par_iter()
            .filter(|&&id| weight_bytes(model, id) / 4 * per_element >= min_gain)
            .filter_map(|&id| lowrank::spectrum(&model.graph, id).map(|s| (id, s)))
            .collect()
    };
    let mut dims_of: HashMap<NodeId, (usize, usize)> = HashMap::new();
    let mut factors: HashMap<NodeId, lowrank::Factors> = HashMap::new();
    for (id, (m, n, f)) in spectra {
        dims_of.insert(id, (m, n));
        factors.insert(id, f);
    }
    let mut best_alone: Option<(f64, String)> = None;
    let mut measured = 0;
    // Options saving no more than the layer's int8 option (float low-rank or sparsity, int8
    // in blocks) are of use only if the int8 point is over the bound (from it, upgrades save
    // more than int8): they are measured then, in a second pass.
    let defer = matches!(opts.goal, Goal::MaxError(_)) && opts.int8;
    let mut deferred: Vec<(NodeId, Choice, u64)> = Vec::new();
    for &id in &layers {
        acts.advance_to(cut_at(id))?;
        // Options of a kind come least aggressive first: once one exceeds the bound, the
        // rest of that kind would too; one saving the same bytes is the same option.
        type Kind = (std::mem::Discriminant<Structure>, Precision);
        let mut over: Vec<Kind> = Vec::new();
        let mut last_saved: HashMap<Kind, u64> = HashMap::new();
        // One SVD per layer, kept: it says which energies give a rank whose factors are
        // smaller, and every option and model built factorizes from it.
        let dims = dims_of.get(&id).copied();
        let useful_energy = |e: f64| match (dims, factors.get(&id)) {
            (Some((m, n)), Some(f)) => {
                let r = lowrank::choose_rank(f.singular_values(), Rank::Energy(e));
                r * (m + n) < m * n
            }
            _ => false,
        };
        let mut int8_saved: Option<u64> = None;
        for choice in options(model, id, opts) {
            let kind = (std::mem::discriminant(&choice.structure), choice.precision);
            // Int4's grid is eighteen times as coarse as int8's: over where int8 is.
            let int8_kind = (
                std::mem::discriminant(&Structure::Unchanged),
                Precision::Int8,
            );
            if over.contains(&kind)
                || (choice.precision == Precision::Int4
                    && choice.structure == Structure::Unchanged
                    && over.contains(&int8_kind))
            {
                continue;
            }
            if let Structure::LowRank(e) = choice.structure {
                if !useful_energy(e) {
                    continue;
                }
            }
            let mut m = model.clone();
            let Some(sparse_saved) = apply(&mut m, id, choice, &factors) else {
                continue;
            };
            let saved =
                total_before.saturating_sub(crate::quant::weight_bytes(&m.graph)) + sparse_saved;
            if saved == 0 || last_saved.insert(kind, saved) == Some(saved) {
                continue;
            }
            if defer && int8_saved.is_some_and(|s| saved <= s) {
                deferred.push((id, choice, saved));
                continue;
            }
            let plain_int8 =
                choice.structure == Structure::Unchanged && choice.precision == Precision::Int8;
            if !plain_int8 && saved.saturating_sub(int8_saved.unwrap_or(0)) < min_gain {
                continue;
            }
            let error = acts.error(&m, metric)?;
            measured += 1;
            if best_alone.as_ref().is_none_or(|(e, _)| error < *e) {
                best_alone = Some((error, format!("{} ({choice})", label(&model.graph, id))));
            }
            if error > bound || error.is_nan() {
                over.push(kind);
                continue;
            }
            if choice.structure == Structure::Unchanged && choice.precision == Precision::Int8 {
                int8_saved = Some(saved);
            }
            candidates.push(Candidate {
                id,
                choice,
                error,
                saved,
            });
        }
    }
    if measured == 0 {
        return Err(QuantError::Unsupported(
            "nothing to compress: no layer has an option that saves bytes in this format".into(),
        ));
    }
    phases.options = clock.elapsed().as_secs_f64();
    let error_of = |m: &Model, refs: &[Vec<(String, modelc_interp::Data)>], s: &[Sample]| {
        compare(refs, m, s).map(|o| o.iter().map(|e| e.error(metric)).fold(0.0, f64::max))
    };
    // The int8 point: every layer whose int8 option is within the bound, stored int8. When
    // the whole model there is within the bound, the search starts from it — those steps
    // come first and are always taken, and the upgrades go beyond int8 (int4, low-rank,
    // sparsity) — so the result is never larger than int8 everywhere when that meets the
    // bound.
    let mut base: Vec<Step> = Vec::new();
    let mut base_error = 0.0;
    let mut base_secs = 0.0;
    if let Goal::MaxError(b) = opts.goal {
        base = int8_point(&layers, &candidates);
        if !base.is_empty() {
            let clock = std::time::Instant::now();
            let m = build(model, &configuration(&candidates, &base), &factors);
            base_error = error_of(&m, &search_ref, search)?;
            base_secs = clock.elapsed().as_secs_f64();
            if base_error > b || base_error.is_nan() {
                // The search starts from unchanged: the rounds' room is the whole bound
                // (with the failed point's error kept, the first budget was 0 and no round
                // ran: the result was the longest prefix of one greedy pass).
                base.clear();
                base_error = 0.0;
            }
        }
    }
    if base.is_empty() && !deferred.is_empty() {
        // The options left for a search from unchanged.
        let clock = std::time::Instant::now();
        acts = Activations::new(model, option_inputs)?;
        for (id, choice, saved) in deferred {
            acts.advance_to(cut_at(id))?;
            let mut m = model.clone();
            apply(&mut m, id, choice, &factors);
            let error = acts.error(&m, metric)?;
            measured += 1;
            if best_alone.as_ref().is_none_or(|(e, _)| error < *e) {
                best_alone = Some((error, format!("{} ({choice})", label(&model.graph, id))));
            }
            if error <= bound {
                candidates.push(Candidate {
                    id,
                    choice,
                    error,
                    saved,
                });
            }
        }
        phases.options += clock.elapsed().as_secs_f64();
    }
    let search_ref = &search_ref;
    let (search_secs, held_secs) = (Cell::new(base_secs), Cell::new(0.0));
    let timed = |secs: &Cell<f64>, refs, s, t: &[Step]| {
        let clock = std::time::Instant::now();
        let e = error_of(
            &build(model, &configuration(&candidates, t), &factors),
            refs,
            s,
        );
        secs.set(secs.get() + clock.elapsed().as_secs_f64());
        e
    };
    let on_search = |t: &[Step]| timed(&search_secs, search_ref, search, t);
    let on_held = |t: &[Step]| timed(&held_secs, &reference_held, held_out, t);
    let forced = base.len();
    let start: HashMap<NodeId, usize> = base.iter().map(|s| (s.layer, s.to)).collect();
    let mut steps = base.clone();
    steps.extend(staircase(&layers, &candidates, &start));
    // The upgrades taken, in order, while their errors add up to within `budget` (or until
    // the size goal is met): the int8 point's first, whatever the budget.
    let take = |budget: f64| -> (Vec<Step>, f64, u64) {
        let mut taken: Vec<Step> = steps[..forced].to_vec();
        let mut blocked: Vec<NodeId> = Vec::new();
        let mut sum: f64 = taken.iter().map(|s| s.d_error).sum();
        let mut saved: u64 = taken.iter().map(|s| s.d_saved).sum();
        for s in &steps[forced..] {
            if blocked.contains(&s.layer) {
                continue;
            }
            if let Goal::Size(target) = opts.goal {
                if total_before.saturating_sub(saved) <= target {
                    break;
                }
            }
            if sum + s.d_error > budget {
                // Its later steps build on this one.
                blocked.push(s.layer);
                continue;
            }
            sum += s.d_error;
            saved += s.d_saved;
            taken.push(*s);
        }
        (taken, sum, saved)
    };
    let (mut taken, _, saved) = take(bound);
    let mut rounds: Vec<Round> = Vec::new();
    let mut k = taken.len();
    let (search_error, held_error) = match opts.goal {
        Goal::MaxError(b) => {
            // Errors of different layers add up to more or less than their sum: each round
            // measures the whole model and moves the budget the sum is held to — by the
            // ratio of the bound to the measured error, kept inside the bracket of budgets
            // known within and over the bound (halving it in the log when the ratio points
            // outside) — keeping the smallest model measured within the bound. From the
            // int8 point, the first budget is the bound scaled as its errors added up.
            // The budget is for the upgrades beyond the int8 point (from unchanged, all of
            // them): first the room its measured error leaves, as if errors added; then the
            // room scaled as the measured error grew over the int8 point's.
            let base_sum: f64 = base.iter().map(|s| s.d_error).sum();
            let mut extra = (b - base_error).max(0.0);
            let mut best: Option<(Vec<Step>, f64, u64)> = (forced > 0).then(|| {
                let saved = base.iter().map(|s| s.d_saved).sum();
                (base.clone(), base_error, saved)
            });
            let (mut within, mut over) = (0.0f64, f64::INFINITY);
            if let Some((t, e, saved)) = &best {
                rounds.push(Round {
                    budget: 0.0,
                    upgrades: t.len(),
                    saved: *saved,
                    error: *e,
                });
            }
            for _ in 0..6 {
                let (t, sum, saved) = take(base_sum + extra);
                if t.is_empty() {
                    break;
                }
                let e = if t.len() == forced {
                    base_error
                } else {
                    on_search(&t)?
                };
                rounds.push(Round {
                    budget: extra,
                    upgrades: t.len(),
                    saved,
                    error: e,
                });
                if e <= b {
                    within = within.max(extra);
                    if best.as_ref().is_none_or(|x| saved > x.2) {
                        best = Some((t.clone(), e, saved));
                    }
                } else {
                    over = over.min(extra);
                }
                if t.len() == steps.len() && e <= b {
                    break;
                }
                let grown = e - base_error;
                let mut next = if grown > 0.0 {
                    extra * (b - base_error) / grown
                } else {
                    2.0 * extra
                };
                if e > b {
                    // Below the errors of the upgrades just taken, so that one of them
                    // goes: scaling by the ratio alone can keep the same upgrades round
                    // after round when each is large next to the bound's overshoot.
                    next = next.min((sum - base_sum).max(0.0) * (1.0 - 1e-9));
                }
                if next <= within || next >= over || next.is_nan() {
                    next = if over.is_finite() && within > 0.0 {
                        (within * over).sqrt()
                    } else if over.is_finite() {
                        over / 2.0
                    } else {
                        within * 2.0
                    };
                }
                if next.is_nan() || next <= 0.0 || (next - extra).abs() <= 0.02 * extra {
                    break;
                }
                extra = next;
            }
            let mut search_error;
            match best {
                Some((t, e, _)) => {
                    taken = t;
                    k = taken.len();
                    search_error = e;
                }
                None => {
                    // The longest prefix of the first choice within the bound.
                    (k, search_error) = longest_within(0, 0.0, k, b, |j| on_search(&taken[..j]))?;
                }
            }
            let mut held_error = if k == 0 { 0.0 } else { on_held(&taken[..k])? };
            if held_error > b {
                // Back along the upgrades; not below the int8 point if it holds there.
                let at_base = if forced > 0 && k > forced {
                    on_held(&taken[..forced])?
                } else {
                    f64::INFINITY
                };
                let (lo, at_lo) = if at_base <= b {
                    (forced, at_base)
                } else {
                    (0, 0.0)
                };
                (k, held_error) = longest_within(lo, at_lo, k, b, |j| on_held(&taken[..j]))?;
                search_error = on_search(&taken[..k])?;
            }
            if k == 0 {
                let (e, at) = best_alone.unwrap_or((f64::INFINITY, String::new()));
                return Err(QuantError::Budget(format!(
                    "no compression keeps the {metric:?} error within {b}: the smallest any single option gives is {e:.4e} ({at})"
                )));
            }
            (search_error, held_error)
        }
        Goal::Size(target) => {
            let smallest = total_before.saturating_sub(saved);
            if k == 0 {
                return Err(QuantError::Budget(format!(
                    "the weights are {total_before} bytes, already within --size {target}: nothing to do"
                )));
            }
            if smallest > target {
                return Err(QuantError::Budget(format!(
                    "the smallest the options make the weights is {smallest} bytes (of {total_before}), above --size {target}"
                )));
            }
            (on_search(&taken)?, on_held(&taken)?)
        }
    };
    let chosen = configuration(&candidates, &taken[..k]);
    let m = build(model, &chosen, &factors);
    let saved_total: u64 = chosen.iter().map(|c| c.saved).sum();
    let mut report = BudgetReport {
        metric: format!("{metric:?}").to_lowercase(),
        bound: match opts.goal {
            Goal::MaxError(b) => Some(b),
            Goal::Size(_) => None,
        },
        size_target: match opts.goal {
            Goal::Size(t) => Some(t),
            Goal::MaxError(_) => None,
        },
        precisions: [(opts.int8, "int8"), (opts.int4, "int4")]
            .iter()
            .filter(|(on, _)| *on)
            .map(|(_, p)| p.to_string())
            .collect(),
        search_inputs: search.len(),
        option_inputs: option_inputs.len(),
        held_out_inputs: held_out.len(),
        search_error,
        held_out_error: held_error,
        candidates_measured: measured,
        weight_bytes_before: total_before,
        weight_bytes_after: total_before.saturating_sub(saved_total),
        rounds,
        seconds: Phases {
            combinations: search_secs.get(),
            held_out: held_secs.get(),
            ..phases
        },
        layers: Vec::new(),
    };
    for &id in &layers {
        let bytes_before = weight_bytes(model, id);
        let pick = chosen.iter().find(|c| c.id == id);
        report.layers.push(LayerChoice {
            node: label(&model.graph, id),
            op: if is_constant(model, id) {
                "constant".to_string()
            } else {
                crate::pattern::onnx_op(&model.graph, id)
                    .map_or("?", |o| o.name())
                    .to_string()
            },
            choice: pick.map_or("none".into(), |c| c.choice.to_string()),
            error_alone: pick.map_or(0.0, |c| c.error),
            bytes_before,
            bytes_after: bytes_before.saturating_sub(pick.map_or(0, |c| c.saved)),
        });
    }
    Ok((m, report))
}

/// Each layer's upgrades along the upper convex hull of its options' (error, bytes saved)
/// from (0, 0), or from its option in `start` — the options no mix of cheaper ones beats —
/// and all layers' upgrades merged,
/// most bytes per unit of error first (a layer's own upgrades stay in order: their ratios
/// fall along its hull).
fn staircase(
    layers: &[NodeId],
    candidates: &[Candidate],
    start: &HashMap<NodeId, usize>,
) -> Vec<Step> {
    let ratio = |s: &Step| s.d_saved as f64 / s.d_error.max(1e-15);
    let mut steps = Vec::new();
    for &layer in layers {
        let (mut err, mut saved) = start.get(&layer).map_or((0.0f64, 0u64), |&i| {
            (candidates[i].error, candidates[i].saved)
        });
        loop {
            let next = candidates
                .iter()
                .enumerate()
                .filter(|(_, c)| c.id == layer && c.saved > saved)
                .map(|(i, c)| Step {
                    layer,
                    to: i,
                    d_error: (c.error - err).max(0.0),
                    d_saved: c.saved - saved,
                })
                .max_by(|a, b| {
                    ratio(a)
                        .total_cmp(&ratio(b))
                        .then(a.d_saved.cmp(&b.d_saved))
                });
            let Some(step) = next else { break };
            err = err.max(candidates[step.to].error);
            saved = candidates[step.to].saved;
            steps.push(step);
        }
    }
    steps.sort_by(|a, b| ratio(b).total_cmp(&ratio(a)));
    steps
}

/// The int8 point: for each layer with an int8 option (its weight stored int8, structure
/// unchanged) among the candidates, the step to it from unchanged.
fn int8_point(layers: &[NodeId], candidates: &[Candidate]) -> Vec<Step> {
    let int8 = Choice {
        structure: Structure::Unchanged,
        precision: Precision::Int8,
    };
    layers
        .iter()
        .filter_map(|&layer| {
            let (to, c) = candidates
                .iter()
                .enumerate()
                .find(|(_, c)| c.id == layer && c.choice == int8)?;
            Some(Step {
                layer,
                to,
                d_error: c.error,
                d_saved: c.saved,
            })
        })
        .collect()
}

/// The option each layer has after `steps` (its last upgrade among them).
fn configuration<'c>(candidates: &'c [Candidate], steps: &[Step]) -> Vec<&'c Candidate> {
    let mut last: Vec<(NodeId, usize)> = Vec::new();
    for s in steps {
        match last.iter_mut().find(|(l, _)| *l == s.layer) {
            Some(e) => e.1 = s.to,
            None => last.push((s.layer, s.to)),
        }
    }
    last.into_iter().map(|(_, i)| &candidates[i]).collect()
}

/// The largest `k` in `lo..n` whose error is within `bound` (the error grows with `k`; `lo`
/// is known within it, with error `at_lo`; `n` is known over it), with its error.
fn longest_within(
    lo: usize,
    at_lo: f64,
    n: usize,
    bound: f64,
    error: impl Fn(usize) -> Result<f64, QuantError>,
) -> Result<(usize, f64), QuantError> {
    let (mut lo, mut hi) = (lo, n.saturating_sub(1).max(lo));
    let mut at_lo = at_lo;
    while lo < hi {
        let mid = (lo + hi).div_ceil(2);
        let e = error(mid)?;
        if e <= bound {
            lo = mid;
            at_lo = e;
        } else {
            hi = mid - 1;
        }
    }
    Ok((lo, at_lo))
}

fn is_fc(model: &Model, id: NodeId) -> bool {
    matches!(
        crate::pattern::onnx_op(&model.graph, id),
        Some(modelc_ir::OnnxOp::MatMul | modelc_ir::OnnxOp::Gemm)
    )
}

fn options(model: &Model, id: NodeId, opts: &BudgetOptions) -> Vec<Choice> {
    let mut out = Vec::new();
    if is_constant(model, id) {
        // Only its storage: its readers' structure is out of reach.
        for (on, p) in [(opts.int8, Precision::Int8), (opts.int4, Precision::Int4)] {
            if on {
                out.push(Choice {
                    structure: Structure::Unchanged,
                    precision: p,
                });
            }
        }
        return out;
    }
    let quantizable = weights::quantizable(&model.graph, id);
    let int4 = opts.int4 && (opts.blocks || per_channel_int4(model, id));
    for (on, p) in [
        (opts.int8, Precision::Int8),
        (int4, Precision::Int4),
        (opts.int8 && opts.int4 && opts.blocks, Precision::Int8Block),
    ] {
        if on && quantizable {
            out.push(Choice {
                structure: Structure::Unchanged,
                precision: p,
            });
        }
    }
    // Factors in float32, and in int8 where the format has it.
    let mut factors = vec![Precision::F32];
    if quantizable && opts.int8 {
        factors.push(Precision::Int8);
    }
    for p in factors {
        out.extend(ENERGIES.iter().map(|&e| Choice {
            structure: Structure::LowRank(e),
            precision: p,
        }));
    }
    if opts.sparse_storage && is_fc(model, id) {
        out.extend(RATIOS.iter().map(|&r| Choice {
            structure: Structure::Sparsity(r),
            precision: Precision::F32,
        }));
    }
    out
}

/// Whether layer `id` stores an int4 weight with one scale per output channel as it is: a
/// Conv that is not grouped (depthwise filters are rearranged by the TFLite writer), or a
/// Gemm with transB=1 (FULLY_CONNECTED's [N, K]).
fn per_channel_int4(model: &Model, id: NodeId) -> bool {
    let g = &model.graph;
    let attr = |name: &str| match g.node(id).attrs.get(name) {
        Some(modelc_ir::Attr::Int(v)) => Some(*v),
        _ => None,
    };
    match crate::pattern::onnx_op(g, id) {
        Some(modelc_ir::OnnxOp::Conv) => attr("group").unwrap_or(1) == 1,
        Some(modelc_ir::OnnxOp::Gemm) => attr("transB") == Some(1),
        _ => false,
    }
}

/// Whether layer `id` is a constant (a weight a sub-graph reads) rather than an op.
fn is_constant(model: &Model, id: NodeId) -> bool {
    matches!(model.graph.node(id).op, modelc_ir::Op::Const(_))
}

/// Bytes of layer `id`'s weight (its input 1; a constant layer's own).
fn weight_bytes(model: &Model, id: NodeId) -> u64 {
    if let modelc_ir::Op::Const(t) = &model.graph.node(id).op {
        return t.byte_len();
    }
    model
        .graph
        .input(id, 1)
        .and_then(|w| crate::pattern::const_tensor(&model.graph, w))
        .map_or(0, |t| t.byte_len())
}

/// Applies `choice` to layer `id` of `m`; the bytes sparse storage saves besides the change
/// in dense constant bytes, or `None` when the choice does not apply.
fn apply(
    m: &mut Model,
    id: NodeId,
    choice: Choice,
    factors: &HashMap<NodeId, lowrank::Factors>,
) -> Option<u64> {
    let g = &mut m.graph;
    let newest = g.node_ids().map(|n| g.node(n).seq()).max().unwrap_or(0);
    if matches!(g.node(id).op, modelc_ir::Op::Const(_)) {
        return (choice.structure == Structure::Unchanged
            && weights::quantize_constant(g, id, choice.precision))
        .then_some(0);
    }
    let mut layers = vec![id];
    let mut sparse_saved = 0;
    match choice.structure {
        Structure::Unchanged if choice.precision == Precision::F32 => return None,
        Structure::Unchanged => {}
        Structure::LowRank(e) => {
            let opts = LowRankOptions {
                rank: Rank::Energy(e),
                only_if_smaller: true,
            };
            match factors.get(&id) {
                Some(f) => lowrank::factorize_node_with(g, id, &opts, f)?,
                None => lowrank::factorize_node(g, id, &opts)?,
            };
            // The two factor layers replace it.
            layers = g
                .node_ids()
                .filter(|&n| g.node(n).seq() > newest && g.node(n).op.onnx().is_some())
                .collect();
        }
        Structure::Sparsity(ratio) => {
            let s = sparsity::sparsify_node(g, id, Pattern::Unstructured { ratio })?;
            let dense = s.elements * 4;
            let nonzero = s.elements - s.zeros_after;
            // Values plus (at most) two-byte indices, and the tables.
            let stored = nonzero * 6 + SPARSE_TABLES;
            sparse_saved = dense.saturating_sub(stored);
        }
    }
    if choice.precision != Precision::F32 {
        let skipped = weights::quantize_layers(g, &layers, choice.precision);
        if skipped.len() == layers.len() && choice.structure == Structure::Unchanged {
            return None;
        }
    }
    Some(sparse_saved)
}

/// `model` with each of `chosen` applied to its layer (node ids are stable across the
/// rewrites: each choice changes only its own layer).
fn build(
    model: &Model,
    chosen: &[&Candidate],
    factors: &HashMap<NodeId, lowrank::Factors>,
) -> Model {
    let mut m = model.clone();
    for c in chosen {
        apply(&mut m, c.id, c.choice, factors);
    }
    m
}
