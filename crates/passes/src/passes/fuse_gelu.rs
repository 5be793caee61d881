//! `fuse-gelu`: the decomposed GELU forms exporters write → one `Gelu` (opset 20).
//!
//! - erf form: `x * 0.5 * (1 + erf(x / √2))`, with `x / √2` written as `Div(x, 1.4142…)`
//!   or `Mul(x, 0.7071…)`, and the three factors `x`, `0.5`, `1 + erf(…)` multiplied in any
//!   order and operand order (torch's `nn.GELU` export, hand-written versions);
//! - tanh form: `x * 0.5 * (1 + tanh(√(2/π) * (x + 0.044715 * x³)))`, `x³` as `Pow(x, 3)` or
//!   `x * (x * x)` → `Gelu` with `approximate="tanh"`.
//!
//! The additions may be `Add` or a two-input `Sum` (as in ONNX's own Gelu function body).
//! Constants are compared with a relative tolerance of 1e-4 (exporters write √2 rounded or
//! typed by hand), except 1, 2, 3 and 0.5, which must be exact. Every intermediate value
//! must be read only inside the pattern. Only when the model imports opset 20 or newer:
//! `Gelu` does not exist before, and raising the opset would change other ops' meaning.

use modelc_ir::{Attr, Attrs, Builder, Graph, NodeId, OnnxOp, ValueRef};

use crate::pattern::{
    close, count_nodes, default_opset, is_add2, note_once, only_user, operand_orders,
    other_operand, producer, remove_with_dead_consts, rewrite_nodes, scalar_const, single_use,
    sole_user_op, with_scalar,
};
use crate::{Changed, Pass, PassContext, PassError};

pub struct FuseGelu;

impl Pass for FuseGelu {
    fn name(&self) -> &'static str {
        "fuse-gelu"
    }

    fn description(&self) -> &'static str {
        "turn decomposed GELU (erf or tanh form) into Gelu (opset 20+)"
    }

    fn run(&self, g: &mut Graph, cx: &mut PassContext) -> Result<Changed, PassError> {
        let opset = default_opset(cx);
        if opset < 20 {
            let found = count_nodes(g, ANCHORS, |g, id| match_gelu(g, id).is_some());
            if found > 0 {
                let note = format!(
                    "fuse-gelu: {found} GELU pattern(s) left decomposed: Gelu needs opset 20, the model imports {opset} (convert-opset=20 / --opset 20 moves it there)"
                );
                note_once(cx, note);
            }
            return Ok(Changed::No);
        }
        Ok(Changed::from_bool(rewrite_nodes(g, ANCHORS, |g, id| {
            match_gelu(g, id).map(|m| rewrite(g, m)).is_some()
        })))
    }
}

const TOL: f64 = 1e-4;

/// The nodes a GELU pattern is matched from.
const ANCHORS: &[OnnxOp] = &[OnnxOp::Erf, OnnxOp::Tanh];

/// The GELU pattern around the Erf or Tanh node `id`.
fn match_gelu(g: &Graph, id: NodeId) -> Option<Match> {
    match g.node(id).op.onnx()? {
        OnnxOp::Erf => match_erf(g, id),
        OnnxOp::Tanh => match_tanh(g, id),
        _ => None,
    }
}

/// A matched GELU: its input, the value it replaces, the nodes it removes.
struct Match {
    x: ValueRef,
    out: ValueRef,
    nodes: Vec<NodeId>,
    tanh: bool,
}

/// `Erf(x / √2)` → the whole pattern.
fn match_erf(g: &Graph, erf: NodeId) -> Option<Match> {
    let u = g.input(erf, 0)?;
    if !single_use(g, u) {
        return None;
    }
    let scale = u.node;
    let (x, k) = with_scalar(g, scale)?;
    let ok = match g.node(scale).op.onnx()? {
        OnnxOp::Div => g.input(scale, 0) == Some(x) && close(k, std::f64::consts::SQRT_2, TOL),
        OnnxOp::Mul => close(k, std::f64::consts::FRAC_1_SQRT_2, TOL),
        _ => false,
    };
    if !ok {
        return None;
    }
    let mut nodes = vec![scale, erf];
    let out = tail(g, erf, x, &mut nodes)?;
    Some(Match {
        x,
        out,
        nodes,
        tanh: false,
    })
}

/// `Tanh(√(2/π) * (x + 0.044715 * x³))` → the whole pattern.
fn match_tanh(g: &Graph, tanh: NodeId) -> Option<Match> {
    let t = g.input(tanh, 0)?;
    let scale = producer(g, t, OnnxOp::Mul)?;
    let (inner, k) = with_scalar(g, scale)?;
    if !single_use(g, t) || !close(k, (2.0 / std::f64::consts::PI).sqrt(), TOL) {
        return None;
    }
    let add = inner.node;
    if !is_add2(g, add) {
        return None;
    }
    if !single_use(g, inner) {
        return None;
    }
    // One operand of the Add is 0.044715 * x³, the other x.
    for (x, cubic) in operand_orders(g, add) {
        let Some(mut nodes) = match_cubic_term(g, cubic, x) else {
            continue;
        };
        nodes.extend([add, scale, tanh]);
        let out = tail(g, tanh, x, &mut nodes)?;
        return Some(Match {
            x,
            out,
            nodes,
            tanh: true,
        });
    }
    None
}

/// `0.044715 * x³` with `x³` as `Pow(x, 3)`, `x * (x * x)` or `(x * x) * x`.
fn match_cubic_term(g: &Graph, v: ValueRef, x: ValueRef) -> Option<Vec<NodeId>> {
    let mul = producer(g, v, OnnxOp::Mul)?;
    let (cube, k) = with_scalar(g, mul)?;
    if !single_use(g, v) || !single_use(g, cube) || !close(k, 0.044715, TOL) {
        return None;
    }
    let c = cube.node;
    match g.node(c).op.onnx()? {
        OnnxOp::Pow => {
            (g.input(c, 0)? == x && scalar_const(g, g.input(c, 1)?)? == 3.0).then(|| vec![c, mul])
        }
        OnnxOp::Mul => {
            let sq = other_operand(g, c, x)?;
            let s = producer(g, sq, OnnxOp::Mul)?;
            let square = g.input(s, 0)? == x && g.input(s, 1)? == x && single_use(g, sq);
            square.then(|| vec![s, c, mul])
        }
        _ => None,
    }
}

/// From the Erf/Tanh node: `Add(·, 1)`, then the product of that, `x` and `0.5` in any
/// order. Returns the product's result; pushes the nodes it walked.
fn tail(g: &Graph, f: NodeId, x: ValueRef, nodes: &mut Vec<NodeId>) -> Option<ValueRef> {
    let fv = ValueRef::new(f, 0);
    let (add, _) = only_user(g, fv)?;
    if !is_add2(g, add) {
        return None;
    }
    if other_operand(g, add, fv).and_then(|o| scalar_const(g, o)) != Some(1.0) {
        return None;
    }
    let av = ValueRef::new(add, 0);
    let m1 = sole_user_op(g, av, OnnxOp::Mul)?;
    nodes.extend([add, m1]);
    let o1 = other_operand(g, m1, av)?;
    let m1v = ValueRef::new(m1, 0);
    let half = |v: ValueRef| scalar_const(g, v) == Some(0.5);
    if o1 == x || half(o1) {
        // (1 + f) * x, then * 0.5; or (1 + f) * 0.5, then * x.
        let m2 = sole_user_op(g, m1v, OnnxOp::Mul)?;
        let o2 = other_operand(g, m2, m1v)?;
        let ok = if o1 == x { half(o2) } else { o2 == x };
        nodes.push(m2);
        return ok.then_some(ValueRef::new(m2, 0));
    }
    // (1 + f) * (x * 0.5)
    let h = producer(g, o1, OnnxOp::Mul)?;
    let (hx, k) = with_scalar(g, h)?;
    if hx != x || k != 0.5 || !single_use(g, o1) {
        return None;
    }
    nodes.push(h);
    Some(m1v)
}

fn rewrite(g: &mut Graph, m: Match) {
    let mut attrs = Attrs::default();
    if m.tanh {
        attrs.set("approximate", Attr::String("tanh".into()));
    }
    let name = g.node(m.out.node).name.clone();
    Builder::new(g)
        .op(OnnxOp::Gelu, &[m.x])
        .name(name)
        .attrs(attrs)
        .take_over(m.out);
    remove_with_dead_consts(g, &m.nodes);
}
