//! Normalizations, softmax and reductions: BatchNormalization (inference, and training
//! mode: batch statistics, updated running statistics as outputs 1 and 2),
//! InstanceNormalization, LayerNormalization, GroupNormalization (per-group scale and bias
//! in opsets 18-20, per-channel from 21), Softmax/LogSoftmax (the 2-D coercion of opsets
//! before 13 included), ReduceMean/Sum/Max/Min/L2 (axes as attribute or, from opset 13 for
//! ReduceSum and 18 for the others, as input; `keepdims`, `noop_with_empty_axes`),
//! ArgMax/ArgMin.

use modelc_ir::{DType, NodeId, OnnxOp, ValueRef};

use super::emit::{float_lit, int_list, Emitter, Info};
use super::like_input;

pub(crate) fn emit(e: &mut Emitter<'_>, id: NodeId, op: OnnxOp) -> Option<Result<(), String>> {
    use OnnxOp::*;
    Some(match op {
        BatchNormalization => batch_norm(e, id),
        InstanceNormalization => instance_norm(e, id),
        LayerNormalization => layer_norm(e, id),
        GroupNormalization => group_norm(e, id),
        Softmax => softmax(e, id, "torch.softmax"),
        LogSoftmax => softmax(e, id, "torch.log_softmax"),
        ReduceMean => reduce(e, id, "torch.mean"),
        ReduceSum => reduce(e, id, "torch.sum"),
        ReduceMax => reduce(e, id, "torch.amax"),
        ReduceMin => reduce(e, id, "torch.amin"),
        ReduceL2 => reduce(e, id, "torch.linalg_vector_norm"),
        ArgMax => arg(e, id, "torch.argmax"),
        ArgMin => arg(e, id, "torch.argmin"),
        _ => return None,
    })
}

fn err(x: impl std::fmt::Display) -> String {
    x.to_string()
}

/// Fails when an output past the first (training statistics) is read.
fn only_first_output(e: &Emitter<'_>, id: NodeId) -> Result<(), String> {
    let node = e.g.node(id);
    for slot in 1..node.outputs.len() {
        if !node.outputs[slot].is_absent() && !e.g.users(ValueRef::new(id, slot)).is_empty() {
            return Err(format!("output {slot} (a training statistic) is used"));
        }
    }
    Ok(())
}

fn batch_norm(e: &mut Emitter<'_>, id: NodeId) -> Result<(), String> {
    let attrs = &e.g.node(id).attrs;
    let training = attrs.int("training_mode", 0).map_err(err)? != 0;
    let eps = e.g.node(id).float("epsilon").map_err(err)? as f64;
    if !training {
        only_first_output(e, id)?;
    }
    let mut args = Vec::new();
    for slot in 0..5 {
        args.push(e.tensor(id, slot)?);
    }
    let rank = e.input_info(id, 0).rank;
    let info = like_input(e, id, rank);
    if !training {
        let expr = format!(
            "torch.batch_norm({}, False, 0.1, {}, True)",
            args.join(", "),
            float_lit(eps)
        );
        e.assign(id, expr, info);
        return Ok(());
    }
    // Training mode normalizes with the batch's own statistics (population variance), as
    // torch's batch_norm does when it is given no running statistics to update.
    let expr = format!(
        "torch.batch_norm({}, {}, {}, None, None, True, 0.0, {}, True)",
        args[0],
        args[1],
        args[2],
        float_lit(eps)
    );
    e.assign(id, expr, info);
    batch_stats(e, id, &args, rank)
}

/// The updated running statistics of a training-mode BatchNormalization (outputs 1 and 2,
/// when present): `input * momentum + batch * (1 - momentum)`, the batch variance being the
/// population one over every axis but the channels.
fn batch_stats(
    e: &mut Emitter<'_>,
    id: NodeId,
    args: &[String],
    rank: Option<usize>,
) -> Result<(), String> {
    let node = e.g.node(id);
    // Statistics nothing reads are dropped with the other dead lines.
    let used: Vec<usize> = (1..node.outputs.len().min(3))
        .filter(|&s| !node.outputs[s].is_absent())
        .collect();
    if used.is_empty() {
        return Ok(());
    }
    let momentum = node.float("momentum").map_err(err)? as f64;
    let r =
        rank.ok_or("the input's rank is unknown (the running statistics reduce every axis but 1)")?;
    let mut axes = vec![0i64];
    axes.extend(2..r as i64);
    let var = e.fresh("batch_var");
    let mean = e.fresh("batch_mean");
    e.lines.push(format!(
        "{var}, {mean} = torch.var_mean({}, {}, False, False)",
        args[0],
        int_list(&axes)
    ));
    let stat_info = Info {
        rank: Some(1),
        dtype: e.input_info(id, 0).dtype,
    };
    for slot in used {
        let (input, batch) = if slot == 1 {
            (&args[3], &mean)
        } else {
            (&args[4], &var)
        };
        let hint = node.outputs[slot].name.clone();
        let name = e.fresh(&hint);
        e.lines.push(format!(
            "{name} = torch.add(torch.mul({input}, {}), torch.mul({batch}, {}))",
            float_lit(momentum),
            float_lit(1.0 - momentum)
        ));
        e.bind(ValueRef::new(id, slot), name);
        e.set_info(ValueRef::new(id, slot), stat_info);
    }
    Ok(())
}

fn instance_norm(e: &mut Emitter<'_>, id: NodeId) -> Result<(), String> {
    let eps = e.g.node(id).float("epsilon").map_err(err)? as f64;
    let x = e.tensor(id, 0)?;
    let s = e.tensor(id, 1)?;
    let b = e.tensor(id, 2)?;
    let expr = format!(
        "torch.instance_norm({x}, {s}, {b}, None, None, True, 0.1, {}, True)",
        float_lit(eps)
    );
    let info = like_input(e, id, e.input_info(id, 0).rank);
    e.assign(id, expr, info);
    Ok(())
}

fn layer_norm(e: &mut Emitter<'_>, id: NodeId) -> Result<(), String> {
    let attrs = &e.g.node(id).attrs;
    let axis = attrs.int("axis", -1).map_err(err)?;
    let eps = e.g.node(id).float("epsilon").map_err(err)? as f64;
    only_first_output(e, id)?;
    let rank = e.input_info(id, 0).rank;
    // torch normalizes over the trailing `normalized_shape`: its sizes come from the scale
    // (when it has exactly those dimensions) or the input's static shape.
    let count = match (axis, rank) {
        (a, _) if a < 0 => (-a) as usize,
        (a, Some(r)) => r.checked_sub(a as usize).ok_or("axis past the rank")?,
        _ => return Err("positive axis with unknown input rank".into()),
    };
    let from_scale = e
        .const_input(id, 1)
        .filter(|t| t.dims.len() == count)
        .map(|t| t.dims.clone());
    let x = e.tensor(id, 0)?;
    let shape = match from_scale.or_else(|| {
        e.input_shape(id, 0)
            .map(|s| s[s.len().saturating_sub(count)..].to_vec())
    }) {
        Some(s) => int_list(&s.iter().map(|&d| d as i64).collect::<Vec<_>>()),
        // Sizes known only at run time: the input's trailing sizes.
        None => format!("torch.size({x})[-{count}:]"),
    };
    let w = e.tensor(id, 1)?;
    let b = e.opt_tensor(id, 2)?;
    let expr = format!(
        "torch.layer_norm({x}, {shape}, {w}, {b}, {}, True)",
        float_lit(eps)
    );
    let info = like_input(e, id, rank);
    e.assign(id, expr, info);
    Ok(())
}

fn group_norm(e: &mut Emitter<'_>, id: NodeId) -> Result<(), String> {
    let attrs = &e.g.node(id).attrs;
    let groups = attrs.int("num_groups", 0).map_err(err)?;
    if groups < 1 {
        return Err(format!("num_groups {groups}"));
    }
    let eps = e.g.node(id).float("epsilon").map_err(err)? as f64;
    let x = e.tensor(id, 0)?;
    let mut s = e.tensor(id, 1)?;
    let mut b = e.tensor(id, 2)?;
    if e.opset < 21 {
        // Scale and bias per group: repeated for each channel of the group.
        let per = format!("(torch.size({x}, 1) // {groups})");
        s = format!("torch.repeat_interleave({s}, {per})");
        b = format!("torch.repeat_interleave({b}, {per})");
    }
    let expr = format!(
        "torch.group_norm({x}, {groups}, {s}, {b}, {}, True)",
        float_lit(eps)
    );
    let info = like_input(e, id, e.input_info(id, 0).rank);
    e.assign(id, expr, info);
    Ok(())
}

fn softmax(e: &mut Emitter<'_>, id: NodeId, f: &str) -> Result<(), String> {
    let new_semantics = e.opset >= 13;
    let axis =
        e.g.node(id)
            .attrs
            .int("axis", if new_semantics { -1 } else { 1 })
            .map_err(err)?;
    let rank = e.input_info(id, 0).rank;
    let x = e.tensor(id, 0)?;
    let is_last = axis == -1 || rank.is_some_and(|r| axis == r as i64 - 1);
    let expr = if new_semantics || is_last {
        format!("{f}({x}, {axis})")
    } else {
        // Before opset 13 the input is seen as 2-D, [prod(dims < axis), prod(dims >= axis)].
        format!("torch.reshape({f}(torch.flatten({x}, {axis}), -1), torch.size({x}))")
    };
    let info = like_input(e, id, rank);
    e.assign(id, expr, info);
    Ok(())
}

fn reduce(e: &mut Emitter<'_>, id: NodeId, f: &str) -> Result<(), String> {
    let node = e.g.node(id);
    let keepdims = node.attrs.int("keepdims", 1).map_err(err)? != 0;
    let noop = node.attrs.int("noop_with_empty_axes", 0).map_err(err)? != 0;
    let axes = if node.num_inputs > 1 && e.input(id, 1).is_some() {
        e.ints_input(id, 1).ok_or("axes are not a constant")?
    } else {
        node.attrs.ints("axes", Vec::new()).map_err(err)?
    };
    let rank = e.input_info(id, 0).rank;
    let x = e.tensor(id, 0)?;
    if axes.is_empty() && noop {
        let info = e.input_info(id, 0);
        e.assign(id, format!("torch.clone({x})"), info);
        return Ok(());
    }
    if axes.is_empty() && !keepdims && rank.is_none() {
        // Every axis of an input of unknown rank, to a scalar: torch's call without dims.
        let expr = if f == "torch.linalg_vector_norm" {
            format!("{f}({x}, 2)")
        } else {
            format!("{f}({x})")
        };
        let info = like_input(e, id, Some(0));
        e.assign(id, expr, info);
        return Ok(());
    }
    let axes = if axes.is_empty() {
        let r = rank.ok_or("reducing all axes of an input of unknown rank, keeping them")?;
        (0..r as i64).collect()
    } else {
        axes
    };
    let keep = if keepdims { "True" } else { "False" };
    let expr = if f == "torch.linalg_vector_norm" {
        format!("{f}({x}, 2, {}, {keep})", int_list(&axes))
    } else {
        format!("{f}({x}, {}, {keep})", int_list(&axes))
    };
    let out_rank = if keepdims {
        rank
    } else {
        rank.and_then(|r| r.checked_sub(axes.len()))
    };
    let info = like_input(e, id, out_rank);
    e.assign(id, expr, info);
    Ok(())
}

fn arg(e: &mut Emitter<'_>, id: NodeId, f: &str) -> Result<(), String> {
    let attrs = &e.g.node(id).attrs;
    let axis = attrs.int("axis", 0).map_err(err)?;
    let keepdims = attrs.int("keepdims", 1).map_err(err)? != 0;
    if attrs.int("select_last_index", 0).map_err(err)? != 0 {
        return Err("select_last_index=1".into());
    }
    let rank = e.input_info(id, 0).rank;
    let x = e.tensor(id, 0)?;
    let keep = if keepdims { "True" } else { "False" };
    let info = Info {
        rank: if keepdims {
            rank
        } else {
            rank.and_then(|r| r.checked_sub(1))
        },
        dtype: Some(DType::I64),
    };
    e.assign(id, format!("{f}({x}, {axis}, {keep})"), info);
    Ok(())
}
