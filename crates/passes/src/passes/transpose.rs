//! `transpose`: Transpose cleanup. Every rewrite keeps or lowers the node count:
//!
//! - a Transpose with the identity permutation is removed;
//! - `Transpose(Transpose(x, a), b)` becomes `Transpose(x, compose(a, b))` (the first goes
//!   when nothing else reads it);
//! - a Transpose of a constant nothing else reads becomes the transposed constant, and a
//!   Transpose of `DequantizeLinear(constant)` transposes the quantized constant and remaps
//!   the per-axis `axis` (a weight path of a QDQ model);
//! - a Transpose that moves only unit axes (so the element order stays), read only by
//!   Reshape / Flatten, goes: they read its input (Flatten's axis adjusted);
//! - a Transpose read only by a same-shape elementwise op (activations, Clip, Cast, QDQ with
//!   its `axis` remapped) moves below it, and the Transposes (same permutation, each read
//!   only there) feeding a broadcasting op or Concat become one below it, constants
//!   permuted to match — so transposes sink until they meet and cancel.
//!
//! `to-nhwc` / `to-nchw` run these rewrites after placing their boundary transposes.

use modelc_ir::{Attr, Graph, NodeId, OnnxOp, Op, ValueRef};

use super::layout::perm;
use crate::pattern::{const_tensor, for_each_graph, single_use};
use crate::util::{bypass, captured};
use crate::{Changed, Pass, PassContext, PassError};

pub struct TransposeOpt;

impl Pass for TransposeOpt {
    fn name(&self) -> &'static str {
        "transpose"
    }

    fn description(&self) -> &'static str {
        "remove identity Transposes, merge chains, fold into constants, sink through elementwise ops"
    }

    fn run(&self, g: &mut Graph, _cx: &mut PassContext) -> Result<Changed, PassError> {
        Ok(Changed::from_bool(for_each_graph(g, &mut optimize)))
    }
}

/// Known dimensions of a value (`None` entries unknown), when its rank is known.
pub type DimsOf<'a> = dyn Fn(&Graph, ValueRef) -> Option<Vec<Option<u64>>> + 'a;

/// Applies the rewrites to `g` (not its sub-graphs) until none applies; true if any did.
/// Shapes come from declared types.
pub fn optimize(g: &mut Graph) -> bool {
    optimize_with(g, &super::layout::declared_dims)
}

/// [`optimize`] with shapes from `dims` (the layout passes know more than the types say).
pub fn optimize_with(g: &mut Graph, dims: &DimsOf<'_>) -> bool {
    let mut changed = false;
    // Each round moves a transpose down or removes a node: bounded by the graph size.
    for _ in 0..=g.node_count() {
        let Ok(order) = g.topo_order() else {
            return changed;
        };
        let mut round = false;
        for id in order {
            if g.try_node(id).is_some() && g.node(id).op == Op::Onnx(OnnxOp::Transpose) {
                round |= rewrite(g, id, dims);
            }
        }
        changed |= round;
        if !round {
            break;
        }
    }
    changed
}

/// The permutation of Transpose `id` (rank from the input when `perm` is absent).
fn perm_of(g: &Graph, id: NodeId) -> Option<Vec<usize>> {
    let p = g.node(id).attrs.ints("perm", vec![]).ok()?;
    if p.is_empty() {
        return None; // Reversal of an unknown rank.
    }
    let r = p.len() as i64;
    let p: Option<Vec<usize>> = p
        .iter()
        .map(|&a| {
            let a = if a < 0 { a + r } else { a };
            (0..r).contains(&a).then_some(a as usize)
        })
        .collect();
    p.filter(|p| perm::is_perm(p))
}

fn set_perm(g: &mut Graph, id: NodeId, p: &[usize]) {
    g.node_mut(id)
        .attrs
        .set("perm", Attr::Ints(p.iter().map(|&a| a as i64).collect()));
}

fn rewrite(g: &mut Graph, id: NodeId, dims: &DimsOf<'_>) -> bool {
    let Some(p) = perm_of(g, id) else {
        return false;
    };
    let Some(x) = g.input(id, 0) else {
        return false;
    };
    let out = ValueRef::new(id, 0);
    if perm::is_identity(&p) {
        return bypass(g, id, x);
    }
    // Transpose of a Transpose.
    if g.node(x.node).op == Op::Onnx(OnnxOp::Transpose) && !captured(g, x) {
        if let (Some(a), Some(src)) = (perm_of(g, x.node), g.input(x.node, 0)) {
            if a.len() == p.len() {
                let first = x.node;
                g.connect(src, id, 0);
                set_perm(g, id, &perm::compose(&a, &p));
                remove_if_unread(g, first);
                return true;
            }
        }
    }
    if captured(g, out) {
        return false;
    }
    if into_reshapes(g, id, x, &p, dims) {
        return true;
    }
    // Folding into a constant.
    if single_use(g, x) && !g.outputs().contains(&out) {
        if let Some(t) = const_tensor(g, x).and_then(|t| perm::transpose_tensor(t, &p)) {
            set_const(g, x, t);
            g.replace_uses(out, x);
            g.remove_node(id);
            return true;
        }
        if dequantize_const(g, x, &p) {
            g.replace_uses(out, x);
            g.remove_node(id);
            return true;
        }
    }
    sink(g, id, &p)
}

fn remove_if_unread(g: &mut Graph, id: NodeId) {
    let v = ValueRef::new(id, 0);
    if g.users(v).is_empty() && !g.outputs().contains(&v) {
        g.remove_node(id);
    }
}

/// Replaces the tensor of constant `v` (read only by the rewritten node).
fn set_const(g: &mut Graph, v: ValueRef, t: modelc_ir::Tensor) {
    let ty = modelc_ir::TypeInfo::from(modelc_ir::ValueType::tensor(t.dtype, &t.dims));
    let node = g.node_mut(v.node);
    node.outputs[0].ty = Some(std::sync::Arc::new(ty));
    node.op = Op::Const(Box::new(t));
}

/// `DequantizeLinear(q, scale, zp)` with `q` a constant read only there: transposes `q` by
/// `p`, remaps a per-axis `axis`; the node's result is then the transposed value.
fn dequantize_const(g: &mut Graph, v: ValueRef, p: &[usize]) -> bool {
    let id = v.node;
    if g.node(id).op != Op::Onnx(OnnxOp::DequantizeLinear)
        || g.node(id).attrs.int("block_size", 0).unwrap_or(1) != 0
    {
        return false;
    }
    let Some(q) = g.input(id, 0) else {
        return false;
    };
    if !single_use(g, q) {
        return false;
    }
    let Some(t) = const_tensor(g, q).and_then(|t| perm::transpose_tensor(t, p)) else {
        return false;
    };
    let r = p.len() as i64;
    let axis = g.node(id).attrs.int("axis", 1).unwrap_or(1);
    let axis = if axis < 0 { axis + r } else { axis };
    let per_axis = g
        .input(id, 1)
        .and_then(|s| const_tensor(g, s))
        .is_some_and(|s| s.element_count().unwrap_or(0) > 1);
    if per_axis {
        if !(0..r).contains(&axis) {
            return false;
        }
        let new_axis = perm::inverse(p)[axis as usize];
        g.node_mut(id).attrs.set("axis", Attr::Int(new_axis as i64));
    }
    set_const(g, q, t);
    if let Some(val) = g.value_mut(v) {
        super::layout::permute_type(val, p);
    }
    true
}

/// Moves Transpose `id` (permutation `p`) below the elementwise op reading it.
fn sink(g: &mut Graph, id: NodeId, p: &[usize]) -> bool {
    let out = ValueRef::new(id, 0);
    if !single_use(g, out) {
        return false;
    }
    let (user, slot) = g.users(out)[0];
    let Some(op) = g.node(user).op.onnx() else {
        return false;
    };
    let extra_unused = (1..g.node(user).outputs.len()).all(|s| {
        let v = ValueRef::new(user, s);
        g.node(user).outputs[s].is_absent() || (g.users(v).is_empty() && !g.outputs().contains(&v))
    });
    if !extra_unused || captured(g, ValueRef::new(user, 0)) {
        return false;
    }
    let r = p.len();
    let pinv = perm::inverse(p);
    if op.traits().same_shape && slot == 0 {
        if matches!(op, OnnxOp::QuantizeLinear | OnnxOp::DequantizeLinear) {
            // Per-axis: the axis of the transposed tensor is axis p[a] of the input.
            let per_tensor = g
                .input(user, 1)
                .and_then(|s| const_tensor(g, s))
                .is_some_and(|s| s.element_count() == Some(1));
            if g.node(user).attrs.int("block_size", 0).unwrap_or(1) != 0 {
                return false;
            }
            if !per_tensor {
                let Some(a) = g.node(user).attrs.int("axis", 1).ok().and_then(|a| {
                    let a = if a < 0 { a + r as i64 } else { a };
                    (0..r as i64).contains(&a).then_some(a as usize)
                }) else {
                    return false;
                };
                g.node_mut(user).attrs.set("axis", Attr::Int(p[a] as i64));
            }
        }
        let x = g.input(id, 0).expect("checked");
        move_below(g, id, user, &[(0, x)], p);
        return true;
    }
    let concat = op == OnnxOp::Concat;
    if !(op.traits().broadcasting || concat) {
        return false;
    }
    // Every input: a Transpose by `p` read only here, or a constant.
    let ins = g.inputs_of(user);
    let mut feeds = Vec::new();
    let mut consts = Vec::new();
    let mut transposes = Vec::new();
    for (s, v) in ins.iter().enumerate() {
        let Some(v) = *v else { continue };
        let n = v.node;
        if g.node(n).op == Op::Onnx(OnnxOp::Transpose)
            && perm_of(g, n).as_deref() == Some(p)
            && single_use(g, v)
        {
            feeds.push((s, g.input(n, 0).expect("transpose input")));
            transposes.push(n);
        } else if let Some(t) = const_tensor(g, v) {
            if concat && t.dims.len() != r {
                return false;
            }
            let Some(c) = perm::broadcast_const(t, r, &pinv) else {
                return false;
            };
            if c != *t {
                // Changing a shared constant would need a copy: more nodes.
                if !single_use(g, v) {
                    return false;
                }
                consts.push((v, c));
            }
        } else {
            return false;
        }
    }
    if concat {
        let Some(a) = g.node(user).attrs.int("axis", 0).ok().and_then(|a| {
            let a = if a < 0 { a + r as i64 } else { a };
            (0..r as i64).contains(&a).then_some(a as usize)
        }) else {
            return false;
        };
        g.node_mut(user).attrs.set("axis", Attr::Int(p[a] as i64));
    }
    for (v, c) in consts {
        set_const(g, v, c);
    }
    move_below(g, id, user, &feeds, p);
    for n in transposes {
        if n != id {
            g.remove_node(n);
        }
    }
    true
}

/// Rewires `t` (a Transpose by `p`) from above `user` to below it: `user` reads `feeds`
/// (slot, value) directly and `t` reads `user`'s result. When that result is a graph output,
/// `t`'s result takes over its name (graph outputs keep their names); otherwise the values
/// keep their names and only their types change.
fn move_below(g: &mut Graph, t: NodeId, user: NodeId, feeds: &[(usize, ValueRef)], p: &[usize]) {
    let u_out = ValueRef::new(user, 0);
    let t_out = ValueRef::new(t, 0);
    let is_output = g.outputs().contains(&u_out);
    let readers = g.users(u_out);
    for &(slot, v) in feeds {
        g.connect(v, user, slot);
    }
    g.connect(u_out, t, 0);
    for (n, s) in readers {
        g.connect(t_out, n, s);
    }
    let outs: Vec<ValueRef> = g
        .outputs()
        .iter()
        .map(|&o| if o == u_out { t_out } else { o })
        .collect();
    g.set_outputs(outs);
    // The user's result is now the untransposed one: its type un-permuted; the
    // Transpose's result has the type the user's result had.
    let mut tv = std::mem::take(&mut g.node_mut(t).outputs[0]);
    let mut uv = std::mem::take(&mut g.node_mut(user).outputs[0]);
    tv.ty = uv.ty.clone();
    super::layout::permute_type(&mut uv, &perm::inverse(p));
    if is_output {
        std::mem::swap(&mut tv.name, &mut uv.name);
        std::mem::swap(&mut tv.doc, &mut uv.doc);
        std::mem::swap(&mut tv.meta, &mut uv.meta);
    } else if !uv.name.is_empty() {
        // Provenance: the name stays with the value that computes what it did (the
        // Transpose's result now holds the user's old result), and the user's
        // untransposed result, which the source never computed, gets a name of its own,
        // so `modelc verify --layers` does not compare it with the source's value.
        let fresh = modelc_ir::Builder::new(g).fresh(&format!("{}/untransposed", uv.name));
        tv.name = std::mem::replace(&mut uv.name, fresh);
        std::mem::swap(&mut tv.doc, &mut uv.doc);
        std::mem::swap(&mut tv.meta, &mut uv.meta);
    }
    g.node_mut(t).outputs[0] = tv;
    g.node_mut(user).outputs[0] = uv;
}

/// Removes Transpose `id` of `x` by `p` when it moves only unit axes and every reader is a
/// Reshape (constant shape without copied `0` sizes) or a Flatten: those read `x` instead.
fn into_reshapes(g: &mut Graph, id: NodeId, x: ValueRef, p: &[usize], dims: &DimsOf<'_>) -> bool {
    let out = ValueRef::new(id, 0);
    let Some(xd) = dims(g, x).filter(|d| d.len() == p.len()) else {
        return false;
    };
    if !perm::order_preserving(p, &xd) || g.outputs().contains(&out) {
        return false;
    }
    let users = g.users(out);
    let ok = !users.is_empty()
        && users.iter().all(|&(u, slot)| {
            let node = g.node(u);
            slot == 0
                && match node.op.onnx() {
                    Some(OnnxOp::Flatten) => true,
                    Some(OnnxOp::Reshape) => {
                        let allowzero = node.attrs.int("allowzero", 0).unwrap_or(0) != 0;
                        g.input(u, 1)
                            .and_then(|s| crate::util::const_ints(g, s))
                            .is_some_and(|s| allowzero || !s.contains(&0))
                    }
                    _ => false,
                }
        });
    if !ok {
        return false;
    }
    // Flatten(y, a) with y = x transposed by p equals Flatten(x, a') where x is y transposed
    // by the inverse.
    let yd = perm::permute_list(&xd, p);
    let pinv = perm::inverse(p);
    let r = p.len() as i64;
    for (u, _) in users {
        if g.node(u).op == Op::Onnx(OnnxOp::Flatten) {
            let a = g.node(u).attrs.int("axis", 1).unwrap_or(1);
            let a = if a < 0 { a + r } else { a }.clamp(0, r) as usize;
            let a2 = perm::flatten_axis(&pinv, &yd, a);
            g.node_mut(u).attrs.set("axis", Attr::Int(a2 as i64));
        }
        g.connect(x, u, 0);
    }
    g.remove_node(id);
    true
}
