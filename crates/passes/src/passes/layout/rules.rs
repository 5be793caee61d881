//! Per-op rules of the layout passes: how a node is rewritten when its inputs arrive
//! transposed (see [`super::engine`]). Each rule first checks that it applies and returns
//! `false` without touching the graph when it does not; the engine then gives the node its
//! inputs in the original layout.
//!
//! - layout-sensitive ops of the source layout switch layout: data inputs in the data
//!   permutation, Conv-family weights and ConvTranspose weights transposed to the target
//!   convention, Resize/Upsample per-axis lists and `axes` reordered;
//! - same-shape ops (activations, Clip, Cast, Dropout, QuantizeLinear/DequantizeLinear with
//!   the per-axis `axis` remapped) and broadcasting ops (constants permuted to match) pass
//!   the permutation through;
//! - axis-bearing ops (Concat, Split, Pad, Reduce*, ArgMax/ArgMin, Softmax family from opset
//!   13, Slice, Squeeze, Unsqueeze, Transpose, Gather of a 1-D index list) remap their axes;
//!   Shape measures the transposed tensor and gathers its sizes back into the original order;
//! - Flatten and Reshape let the permutation go when it moves unit axes alone (the data
//!   order is unchanged, e.g. `[N, C, 1, 1]` → `[N, C]` after a global pool); a Reshape that
//!   merges or splits whole runs of axes which the permutation moves whole carries the
//!   permutation of the runs on (`[N, C, H, W]` → `[N, C, H*W]` in a ViT patch embedding);
//! - a Transpose whose input arrives transposed composes the two; one that turns an
//!   original-layout value into the converted layout on its way to a conv is absorbed.

use modelc_ir::{Attr, NodeId, OnnxOp, Tensor, ValueRef};

mod axes;
mod sensitive;

use super::engine::{const_of, Engine};
use super::perm;
use axes::{flatten, pad, reduce, reshape, slice, squeeze, transpose, unsqueeze};
use sensitive::sensitive;

pub(super) fn norm_axis(a: i64, r: usize) -> Option<usize> {
    let a = if a < 0 { a + r as i64 } else { a };
    (0..r as i64).contains(&a).then_some(a as usize)
}

pub(super) fn i64_tensor(v: &[i64]) -> Tensor {
    Tensor::from_i64(vec![v.len() as u64], v).expect("length matches")
}

/// Rewrites node `id`; false when no rule applies (the caller falls back).
pub fn apply(e: &mut Engine<'_>, id: NodeId) -> bool {
    let node = e.g.node(id);
    let Some(op) = node.op.onnx() else {
        return false;
    };
    if op.is_layout_sensitive() {
        return node.layout == Some(e.dir.source()) && sensitive(e, id, op);
    }
    let ins = e.g.inputs_of(id);
    let Some(p) = ins.iter().flatten().find_map(|v| e.state(*v).cloned()) else {
        if op == OnnxOp::Transpose {
            axes::absorb_transpose(e, id);
        }
        return true; // Nothing arrives transposed: nothing to do.
    };
    // Rules other than the elementwise ones read the permutation from input 0 only.
    let others_plain = ins.iter().skip(1).flatten().all(|v| e.state(*v).is_none());
    let first_is_p = ins.first().copied().flatten().and_then(|v| e.state(v)) == Some(&p);
    let traits = op.traits();
    if traits.broadcasting {
        return elementwise(e, id, &p, None);
    }
    if op == OnnxOp::Concat {
        return elementwise(e, id, &p, Some("axis"));
    }
    if !(others_plain && first_is_p) {
        return false;
    }
    use OnnxOp::*;
    match op {
        _ if traits.same_shape => unary(e, id, op, &p),
        _ if traits.reduce => reduce(e, id, op, &p),
        Softmax | LogSoftmax | Hardmax if e.opset >= 13 => {
            remap_axis_attr(e, id, "axis", -1, &p) && {
                e.set_state(ValueRef::new(id, 0), p);
                true
            }
        }
        Split => {
            remap_axis_attr(e, id, "axis", 0, &p) && {
                for s in 0..e.g.node(id).outputs.len() {
                    e.set_state(ValueRef::new(id, s), p.clone());
                }
                true
            }
        }
        Pad => pad(e, id, &p),
        Flatten => flatten(e, id, &p),
        Reshape => reshape(e, id, &p),
        Squeeze => squeeze(e, id, &p),
        Unsqueeze => unsqueeze(e, id, &p),
        Slice => slice(e, id, &p),
        Shape => shape(e, id, &p),
        Transpose => transpose(e, id, &p),
        Gather if gathers_along(e.g, id) => {
            remap_axis_attr(e, id, "axis", 0, &p) && {
                e.set_state(ValueRef::new(id, 0), p);
                true
            }
        }
        _ => false,
    }
}

/// `Shape` of a transposed tensor (no `start` / `end`): its sizes gathered back into the
/// original order, so the tensor itself need not be transposed back to be measured (a crop
/// or resize to another tensor's size in a model of unknown sizes).
fn shape(e: &mut Engine<'_>, id: NodeId, p: &[usize]) -> bool {
    let node = e.g.node(id);
    let out = ValueRef::new(id, 0);
    if node.attrs.contains("start") || node.attrs.contains("end") || e.g.outputs().contains(&out) {
        return false;
    }
    let readers = e.g.users(out);
    let name = node.outputs[0].name.clone();
    let order: Vec<i64> = perm::inverse(p).iter().map(|&i| i as i64).collect();
    let mut b = e.build();
    let order = b.const_i64s(&format!("{name}_order"), &order);
    let sizes = b
        .op(OnnxOp::Gather, &[out, order])
        .name("")
        .out(format!("{name}_reordered"))
        .int("axis", 0)
        .value();
    for (user, slot) in readers {
        e.g.connect(sizes, user, slot);
    }
    e.changed = true;
    true
}

/// Sets `attr` (an axis of the rank-`p.len()` input, default `default`) to its position in
/// the transposed tensor.
pub(super) fn remap_axis_attr(
    e: &mut Engine<'_>,
    id: NodeId,
    attr: &str,
    default: i64,
    p: &[usize],
) -> bool {
    let Ok(a) = e.g.node(id).attrs.int(attr, default) else {
        return false;
    };
    let Some(a) = norm_axis(a, p.len()) else {
        return false;
    };
    let pinv = perm::inverse(p);
    e.g.node_mut(id).attrs.set(attr, Attr::Int(pinv[a] as i64));
    true
}

fn unary(e: &mut Engine<'_>, id: NodeId, op: OnnxOp, p: &[usize]) -> bool {
    if matches!(op, OnnxOp::QuantizeLinear | OnnxOp::DequantizeLinear) {
        let node = e.g.node(id);
        if node.attrs.int("block_size", 0).unwrap_or(1) != 0 {
            return false;
        }
        let Some(scale) = e.g.input(id, 1) else {
            return false;
        };
        let per_tensor = match e.dims_of(scale) {
            Some(d) => d.is_empty() || (d.len() == 1 && d[0] == Some(1)),
            None => return false,
        };
        if !per_tensor && !remap_axis_attr(e, id, "axis", 1, p) {
            return false;
        }
    }
    let n = if op == OnnxOp::Dropout { 2 } else { 1 };
    for s in 0..n.min(e.g.node(id).outputs.len()) {
        e.set_state(ValueRef::new(id, s), p.to_vec());
    }
    true
}

enum Plan {
    Keep,
    Const(Tensor),
    Transpose,
}

/// Broadcasting elementwise ops and Concat (`axis_attr`): every input in permutation `p`,
/// constants permuted to match, other inputs transposed when that costs fewer transposes
/// than giving the node the original layout.
fn elementwise(e: &mut Engine<'_>, id: NodeId, p: &[usize], axis_attr: Option<&str>) -> bool {
    let r = p.len();
    let exact = axis_attr.is_some();
    let ins = e.g.inputs_of(id);
    let mut plans = Vec::with_capacity(ins.len());
    let (mut permuted, mut transposes) = (0, 0);
    for v in &ins {
        let Some(v) = *v else {
            plans.push(Plan::Keep);
            continue;
        };
        let plan = if e.state(v).map(Vec::as_slice) == Some(p) {
            permuted += 1;
            Plan::Keep
        } else if let Some((t, _)) = const_of(e.g, v) {
            if exact && t.dims.len() != r {
                return false;
            }
            match perm::broadcast_const(&t, r, p) {
                Some(c) if c == t => Plan::Keep,
                Some(c) => Plan::Const(c),
                None => return false,
            }
        } else {
            match (e.state(v), e.dims_of(v)) {
                (Some(_), _) => {
                    transposes += 1;
                    Plan::Transpose
                }
                (None, Some(d)) if d.len() == r => {
                    transposes += 1;
                    Plan::Transpose
                }
                // A lower-rank value of unit sizes broadcasts the same either way.
                (None, Some(d)) if !exact && d.iter().all(|&x| x == Some(1)) => Plan::Keep,
                _ => return false,
            }
        };
        plans.push(plan);
    }
    if transposes > permuted {
        return false;
    }
    if let Some(attr) = axis_attr {
        if !remap_axis_attr(e, id, attr, 1, p) {
            return false;
        }
    }
    for (slot, (v, plan)) in ins.iter().zip(plans).enumerate() {
        let Some(v) = *v else { continue };
        match plan {
            Plan::Keep => {}
            Plan::Const(c) => {
                let name = e.g.value(v).map(|x| x.name.clone()).unwrap_or_default();
                let nv = e.add_const(&name, c);
                e.rewire(id, slot, nv);
            }
            Plan::Transpose => {
                let nv = e.request(v, p);
                e.rewire(id, slot, nv);
            }
        }
    }
    e.set_state(ValueRef::new(id, 0), p.to_vec());
    true
}

pub(super) fn norm_axes(axes: &[i64], r: usize) -> Option<Vec<usize>> {
    let v: Option<Vec<usize>> = axes.iter().map(|&a| norm_axis(a, r)).collect();
    v.filter(|v| {
        let mut s = v.clone();
        s.sort();
        s.dedup();
        s.len() == v.len()
    })
}

/// A `Gather` whose indices are a 1-D list: it picks along its axis and keeps the rank, so
/// a permutation passes through it with the axis remapped.
pub(crate) fn gathers_along(g: &modelc_ir::Graph, id: NodeId) -> bool {
    g.input(id, 1)
        .and_then(|i| super::facts::declared(g, i))
        .is_some_and(|d| d.len() == 1)
}
