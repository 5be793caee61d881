//! Element-wise ops: the one-to-one forms of [`aten`]'s table (unary math, activations,
//! binary arithmetic, comparisons: `torch.<aten>(…)`), and the others: Selu, HardSigmoid,
//! Gelu, Softplus, PRelu, Div, Mod, variadic Max/Min/Sum/Mean, Where, Clip,
//! Identity/Dropout (inference: the input).
//!
//! Attributes: Selu `alpha`/`gamma`, HardSigmoid `alpha`/`beta`,
//! Gelu `approximate` (opset 20), Clip `min`/`max` (attributes before opset 11, optional
//! inputs since), Mod `fmod`. Integer Div truncates like ONNX (`rounding_mode="trunc"`).

use modelc_ir::{DType, NodeId, OnnxOp};

use super::emit::{float_lit, Emitter, Info};
use crate::aten;

pub(crate) fn emit(e: &mut Emitter<'_>, id: NodeId, op: OnnxOp) -> Option<Result<(), String>> {
    use OnnxOp::*;
    if op == IsInf {
        if let Some(r) = isinf_one_sided(e, id) {
            return Some(r);
        }
    }
    if let Some(row) = aten::by_op(op) {
        return Some(table(e, id, row));
    }
    let r = match op {
        Div => div(e, id),
        Mod => call(
            e,
            id,
            |e| {
                // fmod=1 keeps the dividend's sign (C), fmod=0 the divisor's (Python).
                let f = if e
                    .g
                    .node(id)
                    .attrs
                    .int("fmod", 0)
                    .map_err(|x| x.to_string())?
                    == 1
                {
                    "torch.fmod"
                } else {
                    "torch.remainder"
                };
                Ok(format!("{f}({}, {})", e.tensor(id, 0)?, e.tensor(id, 1)?))
            },
            None,
        ),
        Max | Min | Sum | Mean => variadic(e, id, op),
        Where => call(
            e,
            id,
            |e| {
                Ok(format!(
                    "torch.where({}, {}, {})",
                    e.tensor(id, 0)?,
                    e.tensor(id, 1)?,
                    e.tensor(id, 2)?
                ))
            },
            e.input_info(id, 1).dtype,
        ),
        Identity | Dropout => identity(e, id),
        Selu => with_attrs(e, id, |e, x| {
            // ONNX's defaults, the f32 nearest to torch's SELU constants.
            let a = attr_f(e, id, "alpha")?;
            let g = attr_f(e, id, "gamma")?;
            Ok(format!(
                "torch.mul(torch.elu({x}, {}), {})",
                float_lit(a),
                float_lit(g)
            ))
        }),
        HardSigmoid => with_attrs(e, id, |e, x| {
            let a = attr_f(e, id, "alpha")?;
            let b = attr_f(e, id, "beta")?;
            Ok(format!(
                "torch.clamp(torch.add(torch.mul({x}, {}), {}), 0.0, 1.0)",
                float_lit(a),
                float_lit(b)
            ))
        }),
        Gelu => with_attrs(e, id, |e, x| {
            let approx =
                e.g.node(id)
                    .attrs
                    .string("approximate", "none")
                    .map_err(|x| x.to_string())?;
            if approx != "none" && approx != "tanh" {
                return Err(format!("approximate=\"{approx}\" is not a Gelu mode"));
            }
            Ok(format!("torch.gelu({x}, approximate=\"{approx}\")"))
        }),
        Softplus => with_attrs(e, id, |_, x| {
            // torch switches to the identity above `threshold`; 20 keeps that exact in f32.
            Ok(format!("torch.softplus({x}, 1, 20)"))
        }),
        PRelu => call(
            e,
            id,
            |e| {
                let x = e.tensor(id, 0)?;
                let s = e.tensor(id, 1)?;
                // torch.prelu wants a per-channel slope; ONNX's broadcasts freely.
                Ok(format!(
                    "torch.where(torch.ge({x}, 0), {x}, torch.mul({x}, {s}))"
                ))
            },
            None,
        ),
        Clip => clip(e, id),
        _ => return None,
    };
    Some(r)
}

/// IsInf with `detect_positive` or `detect_negative` off (`torch.isinf` detects both):
/// `isposinf` / `isneginf`, or neither (all false). `None` for the two-sided default.
fn isinf_one_sided(e: &mut Emitter<'_>, id: NodeId) -> Option<Result<(), String>> {
    let attrs = &e.g.node(id).attrs;
    let pos = attrs.int("detect_positive", 1).map_err(|x| x.to_string());
    let neg = attrs.int("detect_negative", 1).map_err(|x| x.to_string());
    let (pos, neg) = match (pos, neg) {
        (Ok(p), Ok(n)) => (p != 0, n != 0),
        (Err(m), _) | (_, Err(m)) => return Some(Err(m)),
    };
    if pos && neg {
        return None;
    }
    Some(call(
        e,
        id,
        |e| {
            let x = e.tensor(id, 0)?;
            Ok(match (pos, neg) {
                (true, _) => format!("torch.isposinf({x})"),
                (_, true) => format!("torch.isneginf({x})"),
                _ => format!("torch.logical_and(torch.isposinf({x}), torch.isneginf({x}))"),
            })
        },
        Some(DType::Bool),
    ))
}

/// A one-to-one form of [`aten`]'s table: `torch.<aten>(operands…, params…)`.
fn table(e: &mut Emitter<'_>, id: NodeId, row: &aten::Row) -> Result<(), String> {
    let n = e.g.node(id).num_inputs;
    if n > row.kind.arity() {
        return Err(format!(
            "{n} inputs; torch.{} takes {}",
            row.aten,
            row.kind.arity()
        ));
    }
    let mut operands = Vec::with_capacity(row.kind.arity());
    for slot in 0..row.kind.arity() {
        operands.push(e.tensor(id, slot)?);
    }
    for p in row.params {
        operands.push(float_lit(attr_f(e, id, p.attr)?));
    }
    let mut expr = format!("torch.{}({})", row.aten, operands.join(", "));
    let dtype = row.kind.is_predicate().then_some(DType::Bool);
    // ONNX's result has input 0's type where the operands' types may differ (Pow of an
    // integer base by a float exponent); torch promotes to the wider one.
    let (a, b) = (e.input_info(id, 0).dtype, e.input_info(id, 1).dtype);
    if let (Some(a), Some(b), None) = (a, b, dtype) {
        if a != b && row.kind.arity() == 2 {
            let code = super::emit::scalar_type(a).ok_or_else(|| format!("torch has no {a}"))?;
            expr = format!("torch.to({expr}, {code})");
        }
    }
    call(e, id, |_| Ok(expr), dtype)
}

/// Emits the node's single output as `expr`, with the broadcast rank of its inputs and the
/// given element type (else input 0's).
fn call(
    e: &mut Emitter<'_>,
    id: NodeId,
    expr: impl FnOnce(&mut Emitter<'_>) -> Result<String, String>,
    dtype: Option<DType>,
) -> Result<(), String> {
    let x = expr(e)?;
    let info = Info {
        rank: broadcast_rank(e, id),
        dtype: dtype.or(e.input_info(id, 0).dtype),
    };
    e.assign(id, x, info);
    Ok(())
}

fn with_attrs(
    e: &mut Emitter<'_>,
    id: NodeId,
    f: impl FnOnce(&mut Emitter<'_>, &str) -> Result<String, String>,
) -> Result<(), String> {
    let x = e.tensor(id, 0)?;
    let expr = f(e, &x)?;
    call(e, id, |_| Ok(expr), None)
}

/// Float attribute `name` of node `id`, or the ONNX schema's default at the model's opset
/// (Selu's constants changed at opset 6).
fn attr_f(e: &Emitter<'_>, id: NodeId, name: &str) -> Result<f64, String> {
    let node = e.g.node(id);
    node.attrs
        .float_or_default(&node.op, Some(e.opset), name)
        .map(f64::from)
        .map_err(|x| x.to_string())
}

/// The rank of an element-wise result: the largest input rank, when all are known.
fn broadcast_rank(e: &Emitter<'_>, id: NodeId) -> Option<usize> {
    let n = e.g.node(id).num_inputs;
    let mut rank = 0;
    for slot in 0..n {
        if e.input(id, slot).is_some() {
            rank = rank.max(e.input_info(id, slot).rank?);
        }
    }
    Some(rank)
}

fn div(e: &mut Emitter<'_>, id: NodeId) -> Result<(), String> {
    let dtype = e.input_info(id, 0).dtype.or(e.input_info(id, 1).dtype);
    let a = e.tensor(id, 0)?;
    let b = e.tensor(id, 1)?;
    let expr = match dtype {
        Some(dt) if dt.is_int() => format!("torch.div({a}, {b}, rounding_mode=\"trunc\")"),
        Some(_) => format!("torch.div({a}, {b})"),
        None => {
            return Err("element type unknown (integer and float Div differ)".into());
        }
    };
    call(e, id, |_| Ok(expr), dtype)
}

fn variadic(e: &mut Emitter<'_>, id: NodeId, op: OnnxOp) -> Result<(), String> {
    let n = e.g.node(id).num_inputs;
    let mut terms = Vec::new();
    for slot in 0..n {
        terms.push(e.tensor(id, slot)?);
    }
    let f = match op {
        OnnxOp::Max => "torch.maximum",
        OnnxOp::Min => "torch.minimum",
        _ => "torch.add",
    };
    let mut expr = terms
        .first()
        .cloned()
        .ok_or_else(|| format!("{op} without inputs"))?;
    for t in &terms[1..] {
        expr = format!("{f}({expr}, {t})");
    }
    if op == OnnxOp::Mean {
        expr = format!("torch.div({expr}, {})", float_lit(terms.len() as f64));
    }
    call(e, id, |_| Ok(expr), None)
}

fn identity(e: &mut Emitter<'_>, id: NodeId) -> Result<(), String> {
    let node = e.g.node(id);
    let mask_used = node.outputs.len() > 1
        && !node.outputs[1].is_absent()
        && !e.g.users(modelc_ir::ValueRef::new(id, 1)).is_empty();
    if mask_used {
        return Err("the Dropout mask output is used".into());
    }
    // `training_mode` true drops at random; the identity would be another model.
    if node.op == modelc_ir::Op::Onnx(OnnxOp::Dropout) && e.input(id, 2).is_some() {
        let training = e.ints_input(id, 2);
        if training.as_deref() != Some(&[0]) {
            return Err("training-mode Dropout (random; written, it would be the identity)".into());
        }
    }
    let v = e.input(id, 0).ok_or("input 0 is missing")?;
    let x = e.value(v)?;
    let info = e.info(v);
    let out = modelc_ir::ValueRef::new(id, 0);
    e.bind(out, x);
    e.set_info(out, info);
    Ok(())
}

fn clip(e: &mut Emitter<'_>, id: NodeId) -> Result<(), String> {
    let is_int = e.input_info(id, 0).dtype.is_some_and(|d| d.is_int());
    let lit = |v: f64| {
        if is_int {
            format!("{}", v as i64)
        } else {
            float_lit(v)
        }
    };
    let bound = |e: &mut Emitter<'_>, slot: usize, attr: &str| -> Result<String, String> {
        if e.opset < 11 {
            return Ok(match e.g.node(id).attrs.get(attr) {
                Some(modelc_ir::Attr::Float(v)) => lit(*v as f64),
                _ => "None".into(),
            });
        }
        if e.input(id, slot).is_none() {
            return Ok("None".into());
        }
        match e.floats_input(id, slot) {
            Some(v) if v.len() == 1 => Ok(lit(v[0])),
            _ => e.tensor(id, slot),
        }
    };
    let lo = bound(e, 1, "min")?;
    let hi = bound(e, 2, "max")?;
    let x = e.tensor(id, 0)?;
    let is_tensor =
        |b: &str| b != "None" && !b.starts_with(|c: char| c == '-' || c.is_ascii_digit());
    let expr = if lo == "None" && hi == "None" {
        format!("torch.clone({x})")
    } else if is_tensor(&lo) || is_tensor(&hi) {
        // clamp's scalar and tensor overloads cannot be mixed; one bound at a time can.
        let mut expr = x;
        if lo != "None" {
            expr = format!("torch.clamp_min({expr}, {lo})");
        }
        if hi != "None" {
            expr = format!("torch.clamp_max({expr}, {hi})");
        }
        expr
    } else {
        format!("torch.clamp({x}, {lo}, {hi})")
    };
    let info = e.input_info(id, 0);
    e.assign(id, expr, info);
    Ok(())
}
