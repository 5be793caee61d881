//! Rules for ops with axes: Reduce*/ArgMax/ArgMin, Pad, Flatten, Reshape, Squeeze,
//! Unsqueeze, Slice and Transpose, for an input arriving transposed by `p`.

use modelc_ir::{Attr, NodeId, OnnxOp, ValueRef};

use super::super::engine::{const_of, Engine};
use super::super::perm;
use super::{i64_tensor, norm_axes, norm_axis};

/// The state of a tensor in state `p` after the axes `removed` (original numbering) are
/// dropped.
fn without_axes(p: &[usize], removed: &[usize]) -> Vec<usize> {
    let kept: Vec<usize> = (0..p.len()).filter(|a| !removed.contains(a)).collect();
    p.iter()
        .filter(|a| !removed.contains(a))
        .map(|a| kept.iter().position(|k| k == a).expect("kept axis"))
        .collect()
}

/// Axes given as an attribute or a constant input (`slot`); `Some(None)` when absent.
fn axes_of(e: &Engine<'_>, id: NodeId, attr: &str, slot: usize) -> Option<Option<Vec<i64>>> {
    let node = e.g.node(id);
    if node.attrs.contains(attr) {
        return node.attrs.ints(attr, vec![]).ok().map(Some);
    }
    match e.g.input(id, slot) {
        None => Some(None),
        Some(v) => {
            let (t, ints) = const_of(e.g, v)?;
            (t.element_count()? as usize == ints.len()).then_some(Some(ints))
        }
    }
}

/// Writes axes back where they came from (attribute or a new constant input).
fn set_axes(e: &mut Engine<'_>, id: NodeId, attr: &str, slot: usize, axes: &[i64]) {
    if e.g.node(id).attrs.contains(attr) {
        e.g.node_mut(id).attrs.set(attr, Attr::Ints(axes.to_vec()));
    } else {
        let name = format!("{}_axes", e.g.node(id).outputs[0].name);
        let c = e.add_const(&name, i64_tensor(axes));
        if e.g.node(id).num_inputs <= slot {
            e.g.node_mut(id).num_inputs = slot + 1;
        }
        e.rewire(id, slot, c);
    }
}

pub(super) fn reduce(e: &mut Engine<'_>, id: NodeId, op: OnnxOp, p: &[usize]) -> bool {
    let r = p.len();
    let pinv = perm::inverse(p);
    let keep = e.g.node(id).attrs.int("keepdims", 1).unwrap_or(1) != 0;
    let out = ValueRef::new(id, 0);
    if matches!(op, OnnxOp::ArgMax | OnnxOp::ArgMin) {
        let Some(a) =
            e.g.node(id)
                .attrs
                .int("axis", 0)
                .ok()
                .and_then(|a| norm_axis(a, r))
        else {
            return false;
        };
        e.g.node_mut(id)
            .attrs
            .set("axis", Attr::Int(pinv[a] as i64));
        let s = if keep {
            p.to_vec()
        } else {
            without_axes(p, &[a])
        };
        e.set_state(out, s);
        return true;
    }
    let Some(axes) = axes_of(e, id, "axes", 1) else {
        return false;
    };
    let noop =
        e.g.node(id)
            .attrs
            .int("noop_with_empty_axes", 0)
            .unwrap_or(0)
            != 0;
    let axes = match axes {
        Some(a) if !a.is_empty() => a,
        // No axes: every axis (or none with noop_with_empty_axes), the same set either way.
        _ => {
            let s = if keep || noop { p.to_vec() } else { vec![] };
            e.set_state(out, s);
            return true;
        }
    };
    let Some(axes) = norm_axes(&axes, r) else {
        return false;
    };
    let mapped: Vec<i64> = axes.iter().map(|&a| pinv[a] as i64).collect();
    set_axes(e, id, "axes", 1, &mapped);
    let s = if keep {
        p.to_vec()
    } else {
        without_axes(p, &axes)
    };
    e.set_state(out, s);
    true
}

pub(super) fn pad(e: &mut Engine<'_>, id: NodeId, p: &[usize]) -> bool {
    let r = p.len();
    let pinv = perm::inverse(p);
    let out = ValueRef::new(id, 0);
    if e.g.node(id).attrs.contains("pads") {
        let Ok(pads) = e.g.node(id).attrs.ints("pads", vec![]) else {
            return false;
        };
        if pads.len() != 2 * r {
            return false;
        }
        let new = [
            perm::permute_list(&pads[..r], p),
            perm::permute_list(&pads[r..], p),
        ]
        .concat();
        e.g.node_mut(id).attrs.set("pads", Attr::Ints(new));
        e.set_state(out, p.to_vec());
        return true;
    }
    if let Some(axes_v) = e.g.input(id, 3) {
        let Some((_, axes)) = const_of(e.g, axes_v) else {
            return false;
        };
        let Some(axes) = norm_axes(&axes, r) else {
            return false;
        };
        let mapped: Vec<i64> = axes.iter().map(|&a| pinv[a] as i64).collect();
        set_axes(e, id, "", 3, &mapped);
        e.set_state(out, p.to_vec());
        return true;
    }
    let Some(pv) = e.g.input(id, 1) else {
        return false;
    };
    let Some((_, pads)) = const_of(e.g, pv) else {
        return false;
    };
    if pads.len() != 2 * r {
        return false;
    }
    let new = [
        perm::permute_list(&pads[..r], p),
        perm::permute_list(&pads[r..], p),
    ]
    .concat();
    let name = e.g.value(pv).map(|v| v.name.clone()).unwrap_or_default();
    let c = e.add_const(&name, i64_tensor(&new));
    e.rewire(id, 1, c);
    e.set_state(out, p.to_vec());
    true
}

pub(super) fn flatten(e: &mut Engine<'_>, id: NodeId, p: &[usize]) -> bool {
    let r = p.len();
    let Some(x) = e.g.input(id, 0) else {
        return false;
    };
    let Some(dims) = e.dims_of(x) else {
        return false;
    };
    if dims.len() != r || !perm::order_preserving(p, &dims) {
        return false;
    }
    let Some(a) = e.g.node(id).attrs.int("axis", 1).ok().and_then(|a| {
        if a == r as i64 {
            Some(r)
        } else {
            norm_axis(a, r)
        }
    }) else {
        return false;
    };
    let split = perm::flatten_axis(p, &dims, a);
    e.g.node_mut(id).attrs.set("axis", Attr::Int(split as i64));
    true
}

pub(super) fn reshape(e: &mut Engine<'_>, id: NodeId, p: &[usize]) -> bool {
    let (Some(x), Some(s)) = (e.g.input(id, 0), e.g.input(id, 1)) else {
        return false;
    };
    let Some((_, shape)) = const_of(e.g, s) else {
        return false;
    };
    let allowzero = e.g.node(id).attrs.int("allowzero", 0).unwrap_or(0) != 0;
    // A 0 copies the input's size at that position, which the transpose moved.
    if shape.is_empty() || (!allowzero && shape.contains(&0)) {
        return false;
    }
    let Some(dims) = e.dims_of(x) else {
        return false;
    };
    if dims.len() != p.len() {
        return false;
    }
    if perm::order_preserving(p, &dims) {
        return true;
    }
    grouped_reshape(e, id, p, &dims, &shape)
}

/// A Reshape that merges or splits runs of adjacent axes (e.g. `[N, C, H, W]` →
/// `[N, C, H*W]` in a ViT patch embedding) of a tensor whose permutation moves those runs
/// whole: the transposed tensor is reshaped run by run instead, and the result carries the
/// permutation of the runs (`[N, H*W, C]`, state `[0, 2, 1]`). Needs static sizes.
fn grouped_reshape(
    e: &mut Engine<'_>,
    id: NodeId,
    p: &[usize],
    dims: &[Option<u64>],
    shape: &[i64],
) -> bool {
    let Some(xd) = dims.iter().copied().collect::<Option<Vec<u64>>>() else {
        return false;
    };
    let Some(total) = modelc_ir::element_count(&xd) else {
        return false;
    };
    // The output sizes, with -1 resolved.
    let positive: Vec<u64> = shape
        .iter()
        .filter(|&&d| d > 0)
        .map(|&d| d as u64)
        .collect();
    let Some(known) = modelc_ir::element_count(&positive) else {
        return false;
    };
    let od: Vec<u64> = match shape.iter().filter(|&&d| d == -1).count() {
        0 => shape.iter().map(|&d| d as u64).collect(),
        1 if known > 0 && total % known == 0 => shape
            .iter()
            .map(|&d| if d == -1 { total / known } else { d as u64 })
            .collect(),
        _ => return false,
    };
    if modelc_ir::element_count(&od) != Some(total) || od.contains(&0) {
        return false;
    }
    // Runs: input axes [a0, a1) become output axes [b0, b1) with equal products.
    let mut runs: Vec<(Vec<usize>, Vec<usize>)> = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < xd.len() || j < od.len() {
        let (mut a, mut b) = (vec![], vec![]);
        let (mut pa, mut pb) = (1u64, 1u64);
        // One axis from each side at least, then grow the side with the smaller product.
        loop {
            if a.is_empty() || pa < pb {
                let Some(&d) = xd.get(i) else { return false };
                pa *= d;
                a.push(i);
                i += 1;
            } else if b.is_empty() || pb < pa {
                let Some(&d) = od.get(j) else { return false };
                pb *= d;
                b.push(j);
                j += 1;
            } else {
                break;
            }
        }
        runs.push((a, b));
    }
    // The permutation must move whole runs, keeping each run's axes in order.
    let mut order = Vec::new();
    let mut k = 0;
    while k < p.len() {
        let Some(run) = runs.iter().position(|(a, _)| a[0] == p[k]) else {
            return false;
        };
        let a = &runs[run].0;
        if p.get(k..k + a.len()) != Some(a.as_slice()) {
            return false;
        }
        order.push(run);
        k += a.len();
    }
    let q: Vec<usize> = order.iter().flat_map(|&r| runs[r].1.clone()).collect();
    let new_shape: Vec<i64> = q.iter().map(|&b| od[b] as i64).collect();
    let name = format!("{}_shape", e.g.node(id).outputs[0].name);
    let c = e.add_const(&name, i64_tensor(&new_shape));
    e.rewire(id, 1, c);
    e.set_state(ValueRef::new(id, 0), q);
    true
}

pub(super) fn squeeze(e: &mut Engine<'_>, id: NodeId, p: &[usize]) -> bool {
    let r = p.len();
    let pinv = perm::inverse(p);
    let Some(axes) = axes_of(e, id, "axes", 1) else {
        return false;
    };
    let removed = match &axes {
        Some(a) if !a.is_empty() => match norm_axes(a, r) {
            Some(v) => v,
            None => return false,
        },
        _ => {
            let Some(d) = e.g.input(id, 0).and_then(|x| e.dims_of(x)) else {
                return false;
            };
            if d.iter().any(Option::is_none) {
                return false;
            }
            (0..r).filter(|&i| d[i] == Some(1)).collect()
        }
    };
    if matches!(&axes, Some(a) if !a.is_empty()) {
        let mapped: Vec<i64> = removed.iter().map(|&a| pinv[a] as i64).collect();
        set_axes(e, id, "axes", 1, &mapped);
    }
    e.set_state(ValueRef::new(id, 0), without_axes(p, &removed));
    true
}

pub(super) fn unsqueeze(e: &mut Engine<'_>, id: NodeId, p: &[usize]) -> bool {
    let Some(Some(axes)) = axes_of(e, id, "axes", 1) else {
        return false;
    };
    let out_r = p.len() + axes.len();
    let Some(mut added) = norm_axes(&axes, out_r) else {
        return false;
    };
    added.sort();
    // The node stays as it is: new unit axes at the same positions; the others carry `p`.
    let rest: Vec<usize> = (0..out_r).filter(|j| !added.contains(j)).collect();
    let mut q = vec![0; out_r];
    for &j in &added {
        q[j] = j;
    }
    for (k, &j) in rest.iter().enumerate() {
        q[j] = rest[p[k]];
    }
    e.set_state(ValueRef::new(id, 0), q);
    true
}

pub(super) fn slice(e: &mut Engine<'_>, id: NodeId, p: &[usize]) -> bool {
    let r = p.len();
    let pinv = perm::inverse(p);
    let node = e.g.node(id);
    let from_attrs = node.attrs.contains("starts");
    let axes: Vec<i64> = if from_attrs {
        let n = node.attrs.ints("starts", vec![]).unwrap_or_default().len();
        node.attrs
            .ints("axes", (0..n as i64).collect())
            .unwrap_or_default()
    } else {
        match e.g.input(id, 3) {
            Some(v) => match const_of(e.g, v) {
                Some((_, a)) => a,
                None => return false,
            },
            None => {
                let Some(starts) = e.g.input(id, 1) else {
                    return false;
                };
                match e.dims_of(starts) {
                    Some(d) if d.len() == 1 && d[0].is_some() => {
                        (0..d[0].unwrap_or(0) as i64).collect()
                    }
                    _ => return false,
                }
            }
        }
    };
    let Some(axes) = norm_axes(&axes, r) else {
        return false;
    };
    let mapped: Vec<i64> = axes.iter().map(|&a| pinv[a] as i64).collect();
    if from_attrs {
        e.g.node_mut(id).attrs.set("axes", Attr::Ints(mapped));
    } else {
        set_axes(e, id, "", 3, &mapped);
    }
    e.set_state(ValueRef::new(id, 0), p.to_vec());
    true
}

pub(super) fn transpose(e: &mut Engine<'_>, id: NodeId, p: &[usize]) -> bool {
    let r = p.len();
    let t: Vec<usize> = match e.g.node(id).attrs.ints("perm", vec![]) {
        Ok(v) if v.is_empty() => (0..r).rev().collect(),
        Ok(v) => match v
            .iter()
            .map(|&a| norm_axis(a, r))
            .collect::<Option<Vec<_>>>()
        {
            Some(t) if perm::is_perm(&t) && t.len() == r => t,
            _ => return false,
        },
        Err(_) => return false,
    };
    // The input is x transposed by p; the node must still produce x transposed by t.
    let new = perm::compose(&perm::inverse(p), &t);
    e.g.node_mut(id)
        .attrs
        .set("perm", Attr::Ints(new.iter().map(|&a| a as i64).collect()));
    true
}

/// A Transpose of an original-layout value into the layout the converted ops use (e.g.
/// ConvNeXt's `permute(0, 3, 1, 2)` after its channels-last MLP, before the next depthwise
/// conv): the tensor already is in that layout, so the node becomes the identity (removed
/// later) and its result is in the data permutation. Only when the result reaches a
/// layout-sensitive op, so the transpose is not merely moved further down.
pub(super) fn absorb_transpose(e: &mut Engine<'_>, id: NodeId) {
    let Ok(t) = e.g.node(id).attrs.ints("perm", vec![]) else {
        return;
    };
    let r = t.len();
    let Some(t) = t
        .iter()
        .map(|&a| norm_axis(a, r))
        .collect::<Option<Vec<_>>>()
    else {
        return;
    };
    if !(3..=5).contains(&r) || !perm::is_perm(&t) || perm::inverse(&t) != e.dir.data_perm(r) {
        return;
    }
    let out = ValueRef::new(id, 0);
    if !e.feeds_sensitive(out, 0) {
        return;
    }
    e.g.node_mut(id)
        .attrs
        .set("perm", Attr::Ints((0..r as i64).collect()));
    e.set_state(out, perm::inverse(&t));
}
