//! The accuracy budget (`--max-error E --metric M`): mixed precision chosen automatically.
//!
//! 1. Quantize everything; if the error on the calibration inputs is within the budget, done.
//! 2. Otherwise measure each quantizable compute layer's sensitivity: the output error when
//!    only that layer is quantized (the rest float).
//! 3. Keep the k most sensitive layers in float, with k found by binary search (the error
//!    falls as k grows), and return the smallest such model within the budget.

use std::collections::HashMap;

use modelc_interp::Data;
use modelc_ir::{Model, NodeId, OnnxOp};

use super::calibrate::{Sample, Stats};
use super::metrics::Metric;
use super::report::{BudgetReport, Layer};
use super::{compare, edit, reference, static_int8, QuantConfig, QuantError};

/// Sensitivity is measured on at most this many inputs (each layer costs one run per input).
const SENSITIVITY_INPUTS: usize = 2;
/// The budget is checked on at most this many inputs.
const CHECK_INPUTS: usize = 8;

/// Layers the search may keep in float: every quantizable op except data movement (which
/// follows its input's quantization).
fn candidate(op: OnnxOp) -> bool {
    static_int8::quantizable(op) && !static_int8::direct(op)
}

pub fn search(
    float: &Model,
    stats: &Stats,
    cfg: &QuantConfig,
    excluded: &HashMap<NodeId, String>,
    calibration: &[Sample],
    metric: Metric,
    bound: f64,
) -> Result<(Model, Vec<Layer>, BudgetReport), QuantError> {
    let check = &calibration[..calibration.len().min(CHECK_INPUTS)];
    let sens_set = &calibration[..calibration.len().min(SENSITIVITY_INPUTS)];
    let mut evaluations = 0;
    let build = |keep: &HashMap<NodeId, String>| -> Result<(Model, Vec<Layer>), QuantError> {
        let mut m = float.clone();
        let layers = static_int8::quantize_static(&mut m.graph, stats, &cfg.static_opts, keep)
            .map_err(QuantError::Unsupported)?;
        Ok((m, layers))
    };
    // The float outputs are computed once; each candidate model runs against them.
    // Both sets are prefixes of the calibration inputs, whose float outputs calibration
    // kept.
    let float_ref = |set: &[Sample]| match stats.reference(set.len()) {
        Some(r) => Ok(r.to_vec()),
        None => reference(float, set),
    };
    let check_ref = float_ref(check)?;
    let sens_ref = float_ref(sens_set)?;
    let error =
        |m: &Model, set: &[Sample], r: &[Vec<(String, Data)>]| worst_error(r, m, set, metric);

    let (all, all_layers) = build(excluded)?;
    let err_all = error(&all, check, &check_ref)?;
    evaluations += 1;
    let candidates: Vec<NodeId> = float
        .graph
        .topo_order()
        .unwrap_or_default()
        .into_iter()
        .filter(|id| !excluded.contains_key(id))
        .filter(|&id| float.graph.node(id).op.onnx().is_some_and(candidate))
        .collect();
    if err_all <= bound || candidates.is_empty() {
        let report = BudgetReport {
            metric,
            max_error: bound,
            error_all_quantized: err_all,
            error_final: err_all,
            kept_float: Vec::new(),
            sensitivity: Vec::new(),
            evaluations,
        };
        return Ok((all, all_layers, report));
    }

    let sens = sensitivities(&candidates, excluded, &mut evaluations, |keep| {
        error(&build(keep)?.0, sens_set, &sens_ref)
    })?;

    let (k, m, layers, e) = fewest_float(&sens, excluded, bound, &mut evaluations, |keep| {
        let (m, layers) = build(keep)?;
        let e = error(&m, check, &check_ref)?;
        Ok((m, layers, e))
    })?;
    if k == sens.len() {
        return Err(QuantError::Budget(format!(
            "{metric:?} error is within {bound} only with every quantizable layer in float (fully quantized: {err_all:.4e})"
        )));
    }
    if e > bound {
        return Err(QuantError::Budget(format!(
            "{metric:?} error {e:.4e} exceeds {bound} even with every quantizable layer in float"
        )));
    }
    let report = BudgetReport {
        metric,
        max_error: bound,
        error_all_quantized: err_all,
        error_final: e,
        kept_float: sens[..k]
            .iter()
            .map(|(id, s)| (edit::label(&float.graph, *id), *s))
            .collect(),
        sensitivity: sens
            .iter()
            .map(|(id, s)| (edit::label(&float.graph, *id), *s))
            .collect(),
        evaluations,
    };
    Ok((m, layers, report))
}

/// Sensitivity of `int8-weight` layers is measured on at most this many inputs.
const WEIGHT_SENSITIVITY_INPUTS: usize = 8;

/// `int8-weight` held to `--max-error`: the same search over weight-only int8 (activations
/// and compute float). Every Conv / ConvTranspose / Gemm / MatMul float weight (and, with
/// `cfg.unowned_weights`, every weight no such layer owns: an LSTM's, a sub-graph's) is a
/// candidate; each one's sensitivity is the output error with only its weight int8; the k
/// most sensitive stay float, k the smallest whose model is within the bound on every
/// calibration input (weight-only runs are float compute: the whole set is affordable, and a
/// baseline checked on fewer inputs than `compress` checks on would not be a fair one).
pub fn search_weights(
    float: &Model,
    cfg: &QuantConfig,
    excluded: &HashMap<NodeId, String>,
    calibration: &[Sample],
    metric: Metric,
    bound: f64,
) -> Result<(Model, Vec<Layer>, BudgetReport), QuantError> {
    let sens_set = &calibration[..calibration.len().min(WEIGHT_SENSITIVITY_INPUTS)];
    let check_ref = reference(float, calibration)?;
    let sens_ref = reference(float, sens_set)?;
    let mut evaluations = 0;
    let build = |keep: &HashMap<NodeId, String>| -> Result<(Model, Vec<Layer>), QuantError> {
        let mut m = float.clone();
        let layers = super::int8_weight::quantize_weights(&mut m.graph, keep, cfg.unowned_weights)
            .map_err(QuantError::Unsupported)?;
        Ok((m, layers))
    };
    let error =
        |m: &Model, set: &[Sample], r: &[Vec<(String, Data)>]| worst_error(r, m, set, metric);
    let (all, all_layers) = build(excluded)?;
    let err_all = error(&all, calibration, &check_ref)?;
    evaluations += 1;
    let g = &float.graph;
    let candidates: Vec<NodeId> = g
        .topo_order()
        .unwrap_or_default()
        .into_iter()
        .filter(|id| !excluded.contains_key(id))
        .filter(|&id| {
            let owned = matches!(
                g.node(id).op.onnx(),
                Some(OnnxOp::Conv | OnnxOp::ConvTranspose | OnnxOp::Gemm | OnnxOp::MatMul)
            ) && edit::const_input(g, id, 1)
                .is_some_and(|(_, t)| t.dtype == modelc_ir::DType::F32);
            owned || (cfg.unowned_weights && crate::compress::weights::constant_layer(g, id))
        })
        .collect();
    let named = |l: &[(NodeId, f64)]| -> Vec<(String, f64)> {
        l.iter().map(|(id, s)| (edit::label(g, *id), *s)).collect()
    };
    let report = |kept: &[(NodeId, f64)], all: &[(NodeId, f64)], e, evaluations| BudgetReport {
        metric,
        max_error: bound,
        error_all_quantized: err_all,
        error_final: e,
        kept_float: named(kept),
        sensitivity: named(all),
        evaluations,
    };
    if err_all <= bound || candidates.is_empty() {
        return Ok((all, all_layers, report(&[], &[], err_all, evaluations)));
    }
    let sens = sensitivities(&candidates, excluded, &mut evaluations, |keep| {
        error(&build(keep)?.0, sens_set, &sens_ref)
    })?;
    let (k, m, layers, e) = fewest_float(&sens, excluded, bound, &mut evaluations, |keep| {
        let (m, layers) = build(keep)?;
        let e = error(&m, calibration, &check_ref)?;
        Ok((m, layers, e))
    })?;
    if k == sens.len() {
        return Err(QuantError::Budget(format!(
            "{metric:?} error is within {bound} only with every weight in float (all int8: {err_all:.4e})"
        )));
    }
    Ok((m, layers, report(&sens[..k], &sens, e, evaluations)))
}

/// The largest error over the outputs of `m` on `set` against the float outputs `reference`.
fn worst_error(
    reference: &[Vec<(String, Data)>],
    m: &Model,
    set: &[Sample],
    metric: Metric,
) -> Result<f64, QuantError> {
    let errs = compare(reference, m, set)?;
    Ok(errs.iter().map(|e| e.error(metric)).fold(0.0, f64::max))
}

/// Each candidate's sensitivity, most sensitive first: the error `measure` finds with only
/// that candidate quantized (the others float, besides `excluded`).
fn sensitivities(
    candidates: &[NodeId],
    excluded: &HashMap<NodeId, String>,
    evaluations: &mut usize,
    measure: impl Fn(&HashMap<NodeId, String>) -> Result<f64, QuantError>,
) -> Result<Vec<(NodeId, f64)>, QuantError> {
    let mut sens = Vec::with_capacity(candidates.len());
    for &c in candidates {
        let mut keep = excluded.clone();
        for &o in candidates {
            if o != c {
                keep.insert(o, String::new());
            }
        }
        sens.push((c, measure(&keep)?));
        *evaluations += 1;
    }
    sens.sort_by(|a, b| b.1.total_cmp(&a.1));
    Ok(sens)
}

/// The smallest `k` for which keeping the `k` most sensitive layers of `sens` (most
/// sensitive first) float, besides `excluded`, gives a model that `measure` finds within
/// `bound`: a binary search, since the error falls as `k` grows. Returns `k` with that
/// model, its layers and its error (at `k = sens.len()`, the last one measured, which the
/// caller checks); `evaluations` counts the models measured.
fn fewest_float(
    sens: &[(NodeId, f64)],
    excluded: &HashMap<NodeId, String>,
    bound: f64,
    evaluations: &mut usize,
    measure: impl Fn(&HashMap<NodeId, String>) -> Result<(Model, Vec<Layer>, f64), QuantError>,
) -> Result<(usize, Model, Vec<Layer>, f64), QuantError> {
    let with_float = |k: usize| {
        let mut keep = excluded.clone();
        for (id, s) in &sens[..k] {
            keep.insert(
                *id,
                format!("kept in float by --max-error (sensitivity {s:.3e})"),
            );
        }
        keep
    };
    let (mut lo, mut hi) = (0usize, sens.len());
    let mut best: Option<(usize, Model, Vec<Layer>, f64)> = None;
    while lo < hi {
        let mid = (lo + hi) / 2;
        let (m, layers, e) = measure(&with_float(mid))?;
        *evaluations += 1;
        if e <= bound {
            hi = mid;
            best = Some((mid, m, layers, e));
        } else {
            lo = mid + 1;
        }
    }
    match best {
        Some(b) if b.0 == lo => Ok(b),
        _ => {
            let (m, layers, e) = measure(&with_float(lo))?;
            *evaluations += 1;
            Ok((lo, m, layers, e))
        }
    }
}
