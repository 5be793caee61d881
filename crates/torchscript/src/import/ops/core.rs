//! Core ATen forms: the ops `torch.export`'s decompositions produce
//! (`ExportedProgram.run_decompositions()`, read from `.pt2` archives) that are another
//! name, or another calling convention, for an op the other families translate:
//! - `_softmax` / `_log_softmax` (`half_to_float` is false on float32 CPU) → softmax /
//!   log_softmax; `_adaptive_avg_pool2d/3d` → adaptive_avg_pool2d/3d;
//! - `_to` (what `_to_copy` becomes after layout.rs drops `_copy`) → `to` (its dtype is a
//!   keyword; layout, device and memory format do not change values);
//! - `scalar_tensor(s, dtype=…)` → a 0-d tensor of `dtype` (float32 by default, as torch);
//! - `native_layer_norm` / `native_group_norm` / `native_batch_norm` /
//!   `_native_batch_norm_legit*` / `_batch_norm_{with,no}_update` → layer_norm /
//!   group_norm / batch_norm, with the statistics they also return: layer norm's mean and
//!   reciprocal standard deviation over the normalized axes (kept as size 1), group norm's
//!   per (sample, group) `[N, G]`; batch norm in inference returns empty `[0]` tensors
//!   there, as torch does, and in training mode normalizes with the batch's statistics
//!   (returned per channel). Statistics nothing reads are removed with the rest of the
//!   dead code after import.

use modelc_ir::{Attr, Attrs, DType, OnnxOp, Tensor, ValueRef};

use super::super::args::{scalar_type, Args};
use super::super::builder::attrs;
use super::super::eval::{EvalResult, Evaluator, Stop};
use super::super::value::{PyValue, TensorRef};
use super::{arg, at, need_rank, operand};

const OPS: &[&str] = &[
    "_softmax",
    "_log_softmax",
    "_adaptive_avg_pool2d",
    "_adaptive_avg_pool3d",
    "_to",
    "scalar_tensor",
    "native_layer_norm",
    "native_group_norm",
    "native_batch_norm",
    "_native_batch_norm_legit",
    "_native_batch_norm_legit_no_training",
    "_native_batch_norm_legit_functional",
    "_batch_norm_with_update",
    "_batch_norm_with_update_functional",
    "_batch_norm_no_update",
];

pub fn call(cx: &mut Evaluator, op: &str, a: &Args) -> Option<EvalResult<PyValue>> {
    if !OPS.contains(&op) {
        return None;
    }
    let first = a.get(0, if op == "scalar_tensor" { "s" } else { "self" })?;
    // A tensor first argument (a number for scalar_tensor): other forms are not these ops.
    let tensor_first = matches!(first, PyValue::Tensor(_));
    if tensor_first == (op == "scalar_tensor") {
        return None;
    }
    Some(run(cx, op, a))
}

/// The positional arguments `a` gives for `names` (by position or keyword), `None` for
/// those it leaves out.
fn positional(a: &Args, names: &[&str]) -> Vec<PyValue> {
    names
        .iter()
        .enumerate()
        .map(|(i, n)| a.get(i, n).cloned().unwrap_or(PyValue::None))
        .collect()
}

fn run(cx: &mut Evaluator, op: &str, a: &Args) -> EvalResult<PyValue> {
    match op {
        "_softmax" | "_log_softmax" => {
            let pos = positional(a, &["self", "dim"]);
            at(cx, &op[1..], pos)
        }
        "_adaptive_avg_pool2d" | "_adaptive_avg_pool3d" => {
            let pos = positional(a, &["self", "output_size"]);
            at(cx, &op[1..], pos)
        }
        "_to" => cx.aten(
            "to",
            Args {
                pos: a.pos.clone(),
                kw: a.kw.clone(),
            },
        ),
        "scalar_tensor" => {
            let dt = match a.some(1, "dtype") {
                Some(PyValue::Int(c)) => scalar_type(*c).ok_or_else(|| {
                    Stop::Fatal(format!(
                        "aten::{op}: element type code {c} is not supported"
                    ))
                })?,
                _ => DType::F32,
            };
            let s = a.get(0, "s").unwrap_or(&PyValue::None);
            let v = match super::known_f64(cx, s) {
                Some(x) => cx.b.scalar(dt, x),
                None => {
                    let t = arg(op, operand(cx, s, None))?;
                    if t.dtype == dt {
                        t.v
                    } else {
                        cx.b.cast(t.v, dt)
                    }
                }
            };
            Ok(PyValue::Tensor(TensorRef::new(v, Some(0), dt)))
        }
        "native_layer_norm" => {
            let pos = positional(a, &["input", "normalized_shape", "weight", "bias", "eps"]);
            let x = arg(op, a.t(0, "input"))?;
            let k = arg(op, a.ints(1, "normalized_shape", None))?.len();
            let eps = arg(op, a.f64(4, "eps", Some(1e-5)))?;
            let y = at(cx, "layer_norm", pos)?;
            let rank = need_rank(op, x)?;
            let axes: Vec<i64> = (rank.saturating_sub(k)..rank).map(|d| d as i64).collect();
            let (mean, _, rstd) = statistics(cx, x.v, x.dtype, &axes, true, eps);
            Ok(PyValue::Tuple(vec![
                y,
                PyValue::Tensor(x.with(mean)),
                PyValue::Tensor(x.with(rstd)),
            ]))
        }
        "native_group_norm" => {
            // (input, weight, bias, N, C, HxW, group, eps) → group_norm(input, group,
            // weight, bias, eps).
            let x = arg(op, a.t(0, "input"))?;
            let group = a.get(6, "group").cloned().unwrap_or(PyValue::None);
            let g = arg(op, a.int(6, "group", None))?;
            let eps = arg(op, a.f64(7, "eps", Some(1e-5)))?;
            let pos = vec![
                PyValue::Tensor(x),
                group,
                a.get(1, "weight").cloned().unwrap_or(PyValue::None),
                a.get(2, "bias").cloned().unwrap_or(PyValue::None),
                PyValue::Float(eps),
            ];
            let y = at(cx, "group_norm", pos)?;
            let shape = cx.b.ints(&[0, g, -1]);
            let grouped = cx.b.op(OnnxOp::Reshape, &[x.v, shape], Attrs::default());
            let (mean, _, rstd) = statistics(cx, grouped, x.dtype, &[2], false, eps);
            let stat = |v| PyValue::Tensor(TensorRef::new(v, Some(2), x.dtype));
            Ok(PyValue::Tuple(vec![y, stat(mean), stat(rstd)]))
        }
        _ => batch_norm(cx, op, a),
    }
}

/// The batch-norm forms: (values, then the statistics the form returns). In inference
/// (running statistics) batch_norm's; in training the batch's own (mean and biased
/// variance over every axis but the channels', as torch normalizes), returning them per
/// channel; the `*_functional` forms also return the running statistics updated with
/// `momentum` (the variance unbiased, as torch updates it).
fn batch_norm(cx: &mut Evaluator, op: &str, a: &Args) -> EvalResult<PyValue> {
    let x = arg(op, a.t(0, "input"))?;
    let stats_given = matches!(a.get(3, "running_mean"), Some(PyValue::Tensor(_)));
    // Where `training` is (None: `fixed` says), where `eps` is, how many values.
    let (training_at, eps_at, outputs, fixed) = match op {
        "_native_batch_norm_legit_no_training" => (None, 6, 3, false),
        "_batch_norm_no_update" => (None, 6, 4, false),
        "_batch_norm_with_update" => (None, 6, 4, true),
        "_batch_norm_with_update_functional" => (None, 6, 6, true),
        "_native_batch_norm_legit_functional" => (Some(5), 7, 5, true),
        // `_native_batch_norm_legit.no_stats(input, weight, bias, training, momentum, eps)`.
        "_native_batch_norm_legit" if !stats_given => (Some(3), 5, 3, true),
        _ => (Some(5), 7, 3, true),
    };
    let training = match training_at {
        Some(i) => arg(op, a.bool(i, "training", false))?,
        None => fixed,
    };
    let eps = arg(op, a.f64(eps_at, "eps", Some(1e-5)))?;
    let empty = |cx: &mut Evaluator| -> EvalResult<PyValue> {
        let t = Tensor::from_f32(vec![0], &[]).map_err(|e| Stop::Fatal(e.to_string()))?;
        let mut v = cx.b.constant("", t);
        if x.dtype != DType::F32 {
            v = cx.b.cast(v, x.dtype);
        }
        Ok(PyValue::Tensor(TensorRef::new(v, Some(1), x.dtype)))
    };
    let mut updated = None;
    let mut outs = if training {
        let rank = need_rank(op, x)?;
        let w = arg(op, a.opt_t(1, "weight"))?;
        let b = arg(op, a.opt_t(2, "bias"))?;
        let axes: Vec<i64> = std::iter::once(0).chain(2..rank as i64).collect();
        let (mean, var, rstd) = statistics(cx, x.v, x.dtype, &axes, true, eps);
        let d = cx.b.op(OnnxOp::Sub, &[x.v, mean], Attrs::default());
        let mut y = cx.b.op(OnnxOp::Mul, &[d, rstd], Attrs::default());
        let per_channel: Vec<i64> = std::iter::once(-1)
            .chain(std::iter::repeat_n(1, rank.saturating_sub(2)))
            .collect();
        for (t, onnx) in [(w, OnnxOp::Mul), (b, OnnxOp::Add)] {
            if let Some(t) = t {
                let s = cx.b.ints(&per_channel);
                let c = cx.b.op(OnnxOp::Reshape, &[t.v, s], Attrs::default());
                y = cx.b.op(onnx, &[y, c], Attrs::default());
            }
        }
        let flat = cx.b.ints(&[-1]);
        let channel = |cx: &mut Evaluator, v| {
            let v = cx.b.op(OnnxOp::Reshape, &[v, flat], Attrs::default());
            PyValue::Tensor(TensorRef::new(v, Some(1), x.dtype))
        };
        let (m, r) = (channel(cx, mean), channel(cx, rstd));
        if outputs >= 5 && stats_given {
            let mom = arg(op, a.f64(eps_at - 1, "momentum", Some(0.1)))?;
            let (mean, var) = (channel(cx, mean), channel(cx, var));
            updated = Some(running_update(cx, op, a, x, mean, var, mom)?);
        }
        vec![PyValue::Tensor(x.with(y)), m, r]
    } else {
        let mut pos = positional(
            a,
            &["input", "weight", "bias", "running_mean", "running_var"],
        );
        pos.extend([
            PyValue::Bool(false),
            PyValue::Float(0.1),
            PyValue::Float(eps),
            PyValue::Bool(false),
        ]);
        let y = at(cx, "batch_norm", pos)?;
        vec![y, empty(cx)?, empty(cx)?]
    };
    match outputs {
        // _batch_norm_*_update's reserve (empty on CPU).
        4 => outs.push(empty(cx)?),
        // The running statistics, updated in training.
        5 | 6 if training => {
            if outputs == 6 {
                outs.push(empty(cx)?);
            }
            let (m, v) = updated.unwrap_or((PyValue::Uninit, PyValue::Uninit));
            outs.extend([m, v]);
        }
        5 => outs.extend([
            a.get(3, "running_mean").cloned().unwrap_or(PyValue::None),
            a.get(4, "running_var").cloned().unwrap_or(PyValue::None),
        ]),
        _ => {}
    }
    Ok(PyValue::Tuple(outs))
}

/// `(1 − momentum)·running + momentum·batch` for the running mean and variance (`a`'s
/// arguments 3 and 4), the batch variance made unbiased: × n / (n − 1), n = numel / C.
fn running_update(
    cx: &mut Evaluator,
    op: &str,
    a: &Args,
    x: TensorRef,
    mean: PyValue,
    var: PyValue,
    momentum: f64,
) -> EvalResult<(PyValue, PyValue)> {
    let shape = cx.b.op(OnnxOp::Shape, &[x.v], Attrs::default());
    let keep0 = || attrs(vec![("keepdims", Attr::Int(0))]);
    let total = cx.b.op(OnnxOp::ReduceProd, &[shape], keep0());
    let one_ax = cx.b.ints(&[1]);
    let c = cx.b.op(
        OnnxOp::Gather,
        &[shape, one_ax],
        attrs(vec![("axis", Attr::Int(0))]),
    );
    let n = cx.b.op(OnnxOp::Div, &[total, c], Attrs::default());
    let n = cx.b.cast(n, x.dtype);
    let one = cx.b.scalar(x.dtype, 1.0);
    let n1 = cx.b.op(OnnxOp::Sub, &[n, one], Attrs::default());
    let k = cx.b.op(OnnxOp::Div, &[n, n1], Attrs::default());
    let (PyValue::Tensor(mean), PyValue::Tensor(var)) = (mean, var) else {
        return Err(Stop::Fatal(format!(
            "aten::{op}: batch statistics are not tensors"
        )));
    };
    let unbiased = cx.b.op(OnnxOp::Mul, &[var.v, k], Attrs::default());
    let (keep, take) = (
        cx.b.scalar(x.dtype, 1.0 - momentum),
        cx.b.scalar(x.dtype, momentum),
    );
    let mut blend = |i: usize, name: &str, batch| -> EvalResult<PyValue> {
        let r = arg(op, a.t(i, name))?;
        let old = cx.b.op(OnnxOp::Mul, &[r.v, keep], Attrs::default());
        let new = cx.b.op(OnnxOp::Mul, &[batch, take], Attrs::default());
        let v = cx.b.op(OnnxOp::Add, &[old, new], Attrs::default());
        Ok(PyValue::Tensor(r.with(v)))
    };
    Ok((
        blend(3, "running_mean", mean.v)?,
        blend(4, "running_var", unbiased)?,
    ))
}

/// The mean of `x` (of element type `dt`) over `axes`, its biased variance, and the
/// reciprocal of the standard deviation (the variance plus `eps`), as torch's
/// normalizations compute them.
fn statistics(
    cx: &mut Evaluator,
    x: ValueRef,
    dt: DType,
    axes: &[i64],
    keep: bool,
    eps: f64,
) -> (ValueRef, ValueRef, ValueRef) {
    let ax = cx.b.ints(axes);
    let reduce = |keep: bool| attrs(vec![("keepdims", Attr::Int(keep as i64))]);
    let mean_kept = cx.b.op(OnnxOp::ReduceMean, &[x, ax], reduce(true));
    let d = cx.b.op(OnnxOp::Sub, &[x, mean_kept], Attrs::default());
    let sq = cx.b.op(OnnxOp::Mul, &[d, d], Attrs::default());
    let var = cx.b.op(OnnxOp::ReduceMean, &[sq, ax], reduce(keep));
    let e = cx.b.scalar(dt, eps);
    let ve = cx.b.op(OnnxOp::Add, &[var, e], Attrs::default());
    let sd = cx.b.op(OnnxOp::Sqrt, &[ve], Attrs::default());
    let rstd = cx.b.op(OnnxOp::Reciprocal, &[sd], Attrs::default());
    let mean = if keep {
        mean_kept
    } else {
        cx.b.op(OnnxOp::ReduceMean, &[x, ax], reduce(false))
    };
    (mean, var, rstd)
}
