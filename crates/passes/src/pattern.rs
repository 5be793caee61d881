//! Small pattern-matching helpers for the fusion passes: "is this value produced by op X",
//! "is it read by exactly one node", "is it a float constant, and what are its values", and
//! the rewiring every fusion ends with (the fused node's result takes over the name and
//! readers of the last node of the pattern; nodes themselves are added with
//! [`modelc_ir::Builder`]).
//!
//! A pass states its rewrite once, for one node, as a closure (so it can capture the pass's
//! configuration, such as the opset): [`rewrite_nodes`] applies it to every node of the ops
//! it is anchored on, in the graph and in every nested sub-graph, and [`count_nodes`] counts
//! matches the same way. Operands of commutative ops are matched in either order by
//! [`operand_orders`] (and so by [`with_scalar`] and [`other_operand`]): a rule written for
//! `Add(x, k)` also matches `Add(k, x)`.

use modelc_interp::Array;
use modelc_ir::{DType, Graph, NodeId, OnnxOp, Op, Tensor, ValueRef};

use crate::PassContext;

/// How a fusion ends (the fused result takes over the pattern's; the pattern's nodes go):
/// the graph builder's, so every pass ends a rewrite the same way.
pub use modelc_ir::build::{remove_with_dead_consts, take_over};

/// Applies `f` to `g` and to every sub-graph nested in it; true when any call changed something.
pub fn for_each_graph(g: &mut Graph, f: &mut dyn FnMut(&mut Graph) -> bool) -> bool {
    let mut changed = f(g);
    let ids: Vec<NodeId> = g.node_ids().collect();
    for id in ids {
        for sub in g.node_mut(id).subgraphs_mut() {
            changed |= for_each_graph(sub, f);
        }
    }
    changed
}

/// Calls `rewrite` on every node whose op is one of `ops`, in `g` and in every nested
/// sub-graph (each graph in topological order, skipping nodes an earlier rewrite removed, not
/// visiting nodes the rewrites added); whether any call changed something. `rewrite` says
/// whether it changed the graph.
pub fn rewrite_nodes(
    g: &mut Graph,
    ops: &[OnnxOp],
    mut rewrite: impl FnMut(&mut Graph, NodeId) -> bool,
) -> bool {
    for_each_graph(g, &mut |g| {
        let mut changed = false;
        for id in g.topo_order().unwrap_or_default() {
            let anchored = g
                .try_node(id)
                .and_then(|n| n.op.onnx())
                .is_some_and(|op| ops.contains(&op));
            if anchored {
                changed |= rewrite(g, id);
            }
        }
        changed
    })
}

/// How many nodes whose op is one of `ops`, in `g` and its nested sub-graphs, `matches`
/// accepts (read-only walks, such as counting patterns a pass cannot rewrite at the model's
/// opset).
pub fn count_nodes(g: &Graph, ops: &[OnnxOp], matches: impl Fn(&Graph, NodeId) -> bool) -> usize {
    fn walk(g: &Graph, ops: &[OnnxOp], matches: &dyn Fn(&Graph, NodeId) -> bool) -> usize {
        let mut n = 0;
        for id in g.node_ids() {
            if g.node(id).op.onnx().is_some_and(|op| ops.contains(&op)) && matches(g, id) {
                n += 1;
            }
            for sub in g.node(id).subgraphs() {
                n += walk(sub, ops, matches);
            }
        }
        n
    }
    walk(g, ops, &matches)
}

/// The orders in which a pattern may read the two operands `(a, b)` of node `id`: `(a, b)`,
/// and `(b, a)` too when the op is commutative (the IR's traits table). Empty when an
/// operand is missing.
pub fn operand_orders(g: &Graph, id: NodeId) -> Vec<(ValueRef, ValueRef)> {
    let (Some(a), Some(b)) = (g.input(id, 0), g.input(id, 1)) else {
        return Vec::new();
    };
    if g.node(id)
        .op
        .onnx()
        .is_some_and(|op| op.traits().commutative)
    {
        vec![(a, b), (b, a)]
    } else {
        vec![(a, b)]
    }
}

/// The version of the default ONNX domain the model imports; `i64::MAX` when the context
/// names no opsets (a bare graph: every op at its newest version).
pub fn default_opset(cx: &PassContext) -> i64 {
    if cx.opsets.is_empty() {
        return i64::MAX;
    }
    cx.opsets
        .iter()
        .find(|o| o.domain.is_empty() || o.domain == "ai.onnx")
        .map_or(0, |o| o.version)
}

/// The ONNX op of node `id`, if it is one.
pub fn onnx_op(g: &Graph, id: NodeId) -> Option<OnnxOp> {
    g.node(id).op.onnx()
}

/// Whether node `id` is the ONNX op `op`.
pub fn is_op(g: &Graph, id: NodeId, op: OnnxOp) -> bool {
    onnx_op(g, id) == Some(op)
}

/// The node producing `v` when it is the ONNX op `op`.
pub fn producer(g: &Graph, v: ValueRef, op: OnnxOp) -> Option<NodeId> {
    is_op(g, v.node, op).then_some(v.node)
}

/// Whether `v` has exactly one reader, which is a plain input slot (not a sub-graph
/// capture), and is not a graph output: the value can disappear into a fused node.
pub fn single_use(g: &Graph, v: ValueRef) -> bool {
    let users = g.users(v);
    users.len() == 1 && users[0].1 < g.node(users[0].0).num_inputs && !g.outputs().contains(&v)
}

/// The only reader of `v` (node and slot) when [`single_use`] holds.
pub fn only_user(g: &Graph, v: ValueRef) -> Option<(NodeId, usize)> {
    single_use(g, v).then(|| g.users(v)[0])
}

/// Whether every output of node `id` past the first is absent or unread, so that the node
/// can be replaced by something producing only its first output.
pub fn extra_outputs_unused(g: &Graph, id: NodeId) -> bool {
    let node = g.node(id);
    (1..node.outputs.len()).all(|slot| {
        let v = ValueRef::new(id, slot);
        node.outputs[slot].is_absent() || (g.users(v).is_empty() && !g.outputs().contains(&v))
    })
}

/// The constant tensor behind `v` (a `Const` node; an overridable graph-input default is not
/// a constant).
pub fn const_tensor(g: &Graph, v: ValueRef) -> Option<&Tensor> {
    match &g.node(v.node).op {
        Op::Const(t) => Some(t),
        _ => None,
    }
}

/// A float constant's values widened to f64, with its dtype and shape. Only f32 and f64:
/// the dtypes a fused constant can be written back in exactly the precision it had.
#[derive(Debug, Clone)]
pub struct FloatConst {
    pub dtype: DType,
    pub dims: Vec<u64>,
    pub values: Vec<f64>,
}

impl FloatConst {
    pub fn from_tensor(t: &Tensor) -> Option<FloatConst> {
        if !matches!(t.dtype, DType::F32 | DType::F64) {
            return None;
        }
        let values = Array::from_tensor(t).ok()?.to_f64_vec().ok()?;
        Some(FloatConst {
            dtype: t.dtype,
            dims: t.dims.clone(),
            values,
        })
    }

    /// The single value of a one-element constant (any rank: `[]`, `[1]`, `[1,1]`).
    pub fn scalar(&self) -> Option<f64> {
        (self.values.len() == 1).then(|| self.values[0])
    }
}

/// The f32/f64 constant behind `v`.
pub fn float_const(g: &Graph, v: ValueRef) -> Option<FloatConst> {
    FloatConst::from_tensor(const_tensor(g, v)?)
}

/// The value of a one-element f32/f64 constant behind `v`.
pub fn scalar_const(g: &Graph, v: ValueRef) -> Option<f64> {
    float_const(g, v)?.scalar()
}

/// Whether `x` equals `want` to within a relative `tol` (exporters write constants such as
/// 1/√2 rounded to f32, or as 1.4142 typed by hand).
pub fn close(x: f64, want: f64, tol: f64) -> bool {
    (x - want).abs() <= tol * want.abs().max(1e-12)
}

/// A tensor of `dtype` (f32 or f64) holding `values` (computed in f64, rounded once).
pub fn float_tensor(dtype: DType, dims: Vec<u64>, values: &[f64]) -> Tensor {
    let bytes: Vec<u8> = match dtype {
        DType::F64 => values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        _ => values
            .iter()
            .flat_map(|&v| (v as f32).to_le_bytes())
            .collect(),
    };
    let dtype = if dtype == DType::F64 {
        DType::F64
    } else {
        DType::F32
    };
    Tensor::from_raw(dtype, dims, bytes.into()).expect("byte length matches the shape")
}

/// Replaces the constant feeding `v` in place when nothing else reads it, so a fusion never
/// duplicates a weight. Returns false (and changes nothing) when the constant is shared or a
/// graph output.
pub fn set_const_if_unshared(g: &mut Graph, v: ValueRef, t: Tensor) -> bool {
    if !single_use(g, v) || const_tensor(g, v).is_none() {
        return false;
    }
    let ty = modelc_ir::TypeInfo::from(modelc_ir::ValueType::tensor(t.dtype, &t.dims));
    let node = g.node_mut(v.node);
    node.outputs[0].ty = Some(std::sync::Arc::new(ty));
    node.op = Op::Const(Box::new(t));
    true
}

/// The rank of `v` when known: from its declared or inferred type, else from producers whose
/// result rank does not depend on their input (Flatten, Gemm, Reshape to a constant shape).
pub fn rank_of(g: &Graph, v: ValueRef) -> Option<usize> {
    if let Some(shape) = g
        .value(v)
        .and_then(|val| val.ty.as_ref())
        .and_then(|t| t.ty.as_tensor())
        .and_then(|t| t.shape.as_ref())
    {
        return Some(shape.rank());
    }
    match onnx_op(g, v.node)? {
        OnnxOp::Flatten | OnnxOp::Gemm if v.slot == 0 => Some(2),
        OnnxOp::Reshape if v.slot == 0 => {
            let shape = g.input(v.node, 1)?;
            const_tensor(g, shape)?.dims.first().map(|&n| n as usize)
        }
        _ => None,
    }
}

/// For a binary node reading `v`, its other operand: `b` of `op(v, b)`, or (commutative ops
/// only, see [`operand_orders`]) `a` of `op(a, v)`.
pub fn other_operand(g: &Graph, id: NodeId, v: ValueRef) -> Option<ValueRef> {
    operand_orders(g, id)
        .into_iter()
        .find_map(|(x, other)| (x == v).then_some(other))
}

/// For a binary node `op(value, k)` whose second operand is a one-element float constant
/// `k`: `(value, k)`; for commutative ops also `op(k, value)` (see [`operand_orders`]).
/// When both operands are constants, the second is `k`.
pub fn with_scalar(g: &Graph, id: NodeId) -> Option<(ValueRef, f64)> {
    operand_orders(g, id)
        .into_iter()
        .find_map(|(x, c)| Some((x, scalar_const(g, c)?)))
}

/// The only reader of `v` when it is the ONNX op `op` (and `v` is [`single_use`]).
pub fn sole_user_op(g: &Graph, v: ValueRef, op: OnnxOp) -> Option<NodeId> {
    let (user, _) = only_user(g, v)?;
    is_op(g, user, op).then_some(user)
}

/// The axes a Reduce* node reduces over, when given explicitly and `keepdims` is 1: the
/// `axes` attribute before opset 18 (`opset`: the default domain's version), the constant
/// second input from 18 on (ReduceSum: from 13).
pub fn reduce_axes_keepdims(g: &Graph, id: NodeId, opset: i64) -> Option<Vec<i64>> {
    let node = g.node(id);
    if node.attrs.int("keepdims", 1).ok()? != 1 {
        return None;
    }
    let from_input = if is_op(g, id, OnnxOp::ReduceSum) {
        opset >= 13
    } else {
        opset >= 18
    };
    if !from_input {
        return match node.attrs.get("axes")? {
            modelc_ir::Attr::Ints(a) if !a.is_empty() => Some(a.clone()),
            _ => None,
        };
    }
    if node.attrs.contains("axes") {
        return None;
    }
    let v = crate::util::const_ints(g, g.input(id, 1)?)?;
    (!v.is_empty()).then_some(v)
}

/// Whether `axes` names exactly the last axis of a value of rank `rank` (when known): `[-1]`,
/// or `[rank - 1]`.
pub fn is_last_axis(axes: &[i64], rank: Option<usize>) -> bool {
    match axes {
        [-1] => true,
        [a] => rank.is_some_and(|r| r >= 1 && *a == r as i64 - 1),
        _ => false,
    }
}

/// The size of the last dimension of `v`, when its type knows it.
pub fn last_dim(g: &Graph, v: ValueRef) -> Option<u64> {
    g.value(v)?
        .ty
        .as_ref()?
        .ty
        .as_tensor()?
        .shape
        .as_ref()?
        .0
        .last()?
        .known()
}

/// Adds `note` to the run's notes unless it is there already (passes run repeatedly until
/// a fixed point).
pub fn note_once(cx: &mut PassContext, note: String) {
    if !cx.notes.contains(&note) {
        cx.notes.push(note);
    }
}

/// Whether node `id` adds exactly two values: `Add`, or `Sum` of two inputs (ONNX's own
/// function bodies, e.g. Gelu's, write `Sum`).
pub fn is_add2(g: &Graph, id: NodeId) -> bool {
    match onnx_op(g, id) {
        Some(OnnxOp::Add) => true,
        Some(OnnxOp::Sum) => g.node(id).num_inputs == 2,
        _ => false,
    }
}

/// ONNX `Constant` nodes (a `value` tensor) become constants, in sub-graphs too: the passes
/// and writers that need a constant operand (a weight) then see one.
pub fn constants_to_const(g: &mut Graph) {
    let ids: Vec<_> = g.node_ids().collect();
    for id in ids {
        for sub in g.node_mut(id).subgraphs_mut() {
            constants_to_const(sub);
        }
        let node = g.node(id);
        if node.op.onnx() != Some(modelc_ir::OnnxOp::Constant) {
            continue;
        }
        if let Some(modelc_ir::Attr::Tensor(t)) = node.attrs.get("value") {
            let t = t.clone();
            let ty = modelc_ir::TypeInfo::from(modelc_ir::ValueType::tensor(t.dtype, &t.dims));
            let n = g.node_mut(id);
            n.outputs[0].ty = Some(std::sync::Arc::new(ty));
            n.op = Op::Const(Box::new(t));
            n.attrs = modelc_ir::Attrs::default();
            n.layout = None;
        }
    }
}
