//! `fuse-layernorm`: decomposed normalizations over the last axis → one op.
//!
//! - LayerNorm: `d = x - ReduceMean(x)`, `var = ReduceMean(d²)`, `n = d / Sqrt(var + eps)`,
//!   optionally `n * γ` and `+ β` → `LayerNormalization(x, γ, β)` {axis=-1, epsilon}
//!   (opset 17). `d²` as `Pow(d, 2)` or `d * d`; the division as `Div(d, s)`,
//!   `d * Reciprocal(s)` or `d * (1 / s)`.
//! - RMSNorm: `n = x / Sqrt(ReduceMean(x²) + eps)` (same spellings), optionally `n * γ` →
//!   `RMSNormalization(x, γ)` {axis=-1, epsilon} (opset 23).
//!
//! Both reductions must be over exactly the last axis with `keepdims=1`; the exponent exactly
//! 2; eps, γ and β constants (γ and β of shape `[C]`, C the last dimension, same dtype).
//! Without γ a ones scale is created (at most 1 KiB), which needs C from the input's type. Every
//! intermediate value is read only inside the pattern (`d` by exactly its two readers).
//! Below the opset that defines the fused op, the pattern stays (noted in the report).

use modelc_ir::{Attr, Attrs, Builder, DType, Graph, NodeId, OnnxOp, ValueRef};

use crate::pattern::{
    count_nodes, default_opset, float_const, float_tensor, is_last_axis, last_dim, note_once,
    only_user, other_operand, producer, rank_of, reduce_axes_keepdims, remove_with_dead_consts,
    rewrite_nodes, scalar_const, single_use, sole_user_op, with_scalar, FloatConst,
};
use crate::{Changed, Pass, PassContext, PassError};

pub struct FuseLayerNorm;

impl Pass for FuseLayerNorm {
    fn name(&self) -> &'static str {
        "fuse-layernorm"
    }

    fn description(&self) -> &'static str {
        "turn decomposed LayerNorm (opset 17+) and RMSNorm (opset 23+) into one op"
    }

    fn run(&self, g: &mut Graph, cx: &mut PassContext) -> Result<Changed, PassError> {
        let opset = default_opset(cx);
        for (rms, needs, op) in [
            (false, 17, "LayerNormalization"),
            (true, 23, "RMSNormalization"),
        ] {
            if opset >= needs {
                continue;
            }
            let found = count_nodes(g, &[OnnxOp::Sqrt], |g, id| {
                match_norm(g, id, true, opset).is_some_and(|m| m.rms == rms)
            });
            if found > 0 {
                let note = format!(
                    "fuse-layernorm: {found} pattern(s) left decomposed: {op} needs opset {needs}, the model imports {opset} (convert-opset={needs} / --opset {needs} moves it there)"
                );
                note_once(cx, note);
            }
        }
        if opset < 17 {
            return Ok(Changed::No);
        }
        let rms = opset >= 23;
        Ok(Changed::from_bool(rewrite_nodes(
            g,
            &[OnnxOp::Sqrt],
            |g, id| match_norm(g, id, rms, opset).is_some_and(|m| rewrite(g, m)),
        )))
    }
}

struct Match {
    x: ValueRef,
    dtype: DType,
    rms: bool,
    eps: f64,
    gamma: Option<(ValueRef, FloatConst)>,
    beta: Option<(ValueRef, FloatConst)>,
    out: ValueRef,
    nodes: Vec<NodeId>,
}

/// `v = ReduceMean(input)` over the last axis with kept dims: returns (input, node).
fn mean_last(g: &Graph, v: ValueRef, opset: i64) -> Option<(ValueRef, NodeId)> {
    let r = producer(g, v, OnnxOp::ReduceMean)?;
    let input = g.input(r, 0)?;
    let axes = reduce_axes_keepdims(g, r, opset)?;
    if g.node(r).attrs.int("noop_with_empty_axes", 0).ok()? != 0
        || !is_last_axis(&axes, rank_of(g, input))
    {
        return None;
    }
    Some((input, r))
}

/// `v = s²` as `Pow(s, 2)` or `s * s`: returns (s, node).
fn square(g: &Graph, v: ValueRef) -> Option<(ValueRef, NodeId)> {
    let n = v.node;
    match g.node(n).op.onnx()? {
        OnnxOp::Pow => {
            let e = g.input(n, 1)?;
            (scalar_const(g, e)? == 2.0).then_some((g.input(n, 0)?, n))
        }
        OnnxOp::Mul => {
            let (a, b) = (g.input(n, 0)?, g.input(n, 1)?);
            (a == b).then_some((a, n))
        }
        _ => None,
    }
}

fn match_norm(g: &Graph, sqrt: NodeId, rms_allowed: bool, opset: i64) -> Option<Match> {
    // Sqrt(ReduceMean(square) + eps)
    let ve = g.input(sqrt, 0)?;
    let add = producer(g, ve, OnnxOp::Add)?;
    let (var, eps) = with_scalar(g, add)?;
    // Add's operands share x's element type, so the eps constant tells it.
    let dtype = float_const(g, other_operand(g, add, var)?)?.dtype;
    let (sq, mean2) = mean_last(g, var, opset)?;
    let (d, sq_node) = square(g, sq)?;
    for v in [ve, var, sq] {
        if !single_use(g, v) {
            return None;
        }
    }
    let mut nodes = vec![sq_node, mean2, add, sqrt];
    // d / s, in one of its spellings.
    let s = ValueRef::new(sqrt, 0);
    let (n_out, div_nodes) = divide_by(g, d, s)?;
    // Read only by the square and the division (a `d * d` square reads it twice).
    let d_inside = g
        .users(d)
        .iter()
        .all(|(u, slot)| (*u == sq_node || div_nodes.contains(u)) && *slot < 2);
    nodes.extend(div_nodes);
    // LayerNorm when d = x - mean(x); RMSNorm when d is x itself.
    let (x, rms) = match producer(g, d, OnnxOp::Sub) {
        Some(sub) if is_centering(g, sub) => {
            let (x, mean1) = mean_last(g, g.input(sub, 1)?, opset)?;
            if g.input(sub, 0)? != x
                || !single_use(g, g.input(sub, 1)?)
                || !d_inside
                || g.outputs().contains(&d)
            {
                return None;
            }
            nodes.extend([mean1, sub]);
            (x, false)
        }
        _ => {
            // d (= x) is read by the square and the division, and maybe elsewhere: fine.
            if !rms_allowed {
                return None;
            }
            (d, true)
        }
    };
    // Optional * γ, then (LayerNorm only) optional + β.
    let mut out = n_out;
    let mut gamma = None;
    let mut beta = None;
    if let Some((mul, _)) = only_user(g, out) {
        if g.node(mul).op.onnx() == Some(OnnxOp::Mul) {
            let c = other_operand(g, mul, out);
            if let Some(c) = c.and_then(|c| Some((c, float_const(g, c)?))) {
                gamma = Some(c);
                nodes.push(mul);
                out = ValueRef::new(mul, 0);
            }
        }
    }
    if !rms && gamma.is_some() {
        if let Some(add_b) = sole_user_op(g, out, OnnxOp::Add) {
            let c = other_operand(g, add_b, out);
            if let Some(c) = c.and_then(|c| Some((c, float_const(g, c)?))) {
                beta = Some(c);
                nodes.push(add_b);
                out = ValueRef::new(add_b, 0);
            }
        }
    }
    Some(Match {
        x,
        dtype,
        rms,
        eps,
        gamma,
        beta,
        out,
        nodes,
    })
}

fn is_centering(g: &Graph, sub: NodeId) -> bool {
    g.input(sub, 1)
        .is_some_and(|m| producer(g, m, OnnxOp::ReduceMean).is_some())
}

/// `d / s` as `Div(d, s)`, `d * Reciprocal(s)` or `d * Div(1, s)`, with `s` read only there.
/// Returns the quotient and the nodes that compute it.
fn divide_by(g: &Graph, d: ValueRef, s: ValueRef) -> Option<(ValueRef, Vec<NodeId>)> {
    let (user, _) = only_user(g, s)?;
    match g.node(user).op.onnx()? {
        OnnxOp::Div if g.input(user, 0)? == d && g.input(user, 1)? == s => {
            Some((ValueRef::new(user, 0), vec![user]))
        }
        OnnxOp::Reciprocal | OnnxOp::Div => {
            if g.node(user).op.onnx()? == OnnxOp::Div
                && (g.input(user, 1)? != s || scalar_const(g, g.input(user, 0)?)? != 1.0)
            {
                return None;
            }
            let r = ValueRef::new(user, 0);
            let mul = sole_user_op(g, r, OnnxOp::Mul)?;
            (other_operand(g, mul, r)? == d).then(|| (ValueRef::new(mul, 0), vec![user, mul]))
        }
        _ => None,
    }
}

fn rewrite(g: &mut Graph, m: Match) -> bool {
    let dtype = m.dtype;
    let c = m
        .gamma
        .as_ref()
        .map(|(_, gm)| gm.values.len() as u64)
        .or_else(|| last_dim(g, m.x));
    let Some(c) = c else { return false };
    let per_channel = |p: &Option<(ValueRef, FloatConst)>| {
        p.as_ref()
            .is_none_or(|(_, p)| p.dims == [c] && p.dtype == dtype)
    };
    if !per_channel(&m.gamma) || !per_channel(&m.beta) || !matches!(dtype, DType::F32 | DType::F64)
    {
        return false;
    }
    let gamma = match &m.gamma {
        Some((v, _)) => *v,
        // A scale of ones makes the model a little bigger while removing nodes: allowed up
        // to 1 KiB, the growth constant folding allows too.
        None if c * (dtype.bits() as u64 / 8) > 1024 => return false,
        None => {
            let base = g.value(m.out).map(|v| v.name.clone()).unwrap_or_default();
            let ones = vec![1.0; c as usize];
            Builder::new(g).constant(
                &format!("{base}_scale"),
                float_tensor(dtype, vec![c], &ones),
            )
        }
    };
    let mut inputs = vec![m.x, gamma];
    if let Some((b, _)) = &m.beta {
        inputs.push(*b);
    }
    let mut attrs = Attrs::default();
    attrs.set("axis", Attr::Int(-1));
    attrs.set("epsilon", Attr::Float(m.eps as f32));
    let op = if m.rms {
        OnnxOp::RMSNormalization
    } else {
        OnnxOp::LayerNormalization
    };
    let name = g.node(m.out.node).name.clone();
    Builder::new(g)
        .op(op, &inputs)
        .name(name)
        .attrs(attrs)
        .take_over(m.out);
    remove_with_dead_consts(g, &m.nodes);
    true
}
