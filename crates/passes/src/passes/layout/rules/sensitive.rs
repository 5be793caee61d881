//! The rule for layout-sensitive ops of the source layout: switch the node's layout, ask for
//! its data inputs in the data permutation, give Conv-family and ConvTranspose weights the
//! target convention (new constants, or a Transpose for a computed weight), and reorder
//! Resize/Upsample per-axis lists and `axes`.

use modelc_ir::{Attr, LayoutRoles, NodeId, OnnxOp, Tensor, ValueRef};

use super::super::engine::{const_of, Direction, Engine};
use super::super::perm;
use super::norm_axes;

/// The roles of a layout-sensitive op's inputs (from the traits table), for the ops this rule
/// rewrites. Not MaxUnpool (its indices input holds flat positions in the NCHW tensor, which
/// a transpose would have to recompute) nor Col2Im (its input is `[N, C*k, L]` columns, not a
/// spatial tensor): those keep their layout behind transposes.
fn sensitive_roles(op: OnnxOp) -> Option<LayoutRoles> {
    match op {
        OnnxOp::MaxUnpool | OnnxOp::Col2Im => None,
        _ => op.traits().layout,
    }
}

/// ConvTranspose weight between ONNX `[C_in, M/g, k...]` and the NHWC convention
/// `[M, k..., C_in/g]`.
fn conv_transpose_weight(t: &Tensor, group: u64, dir: Direction) -> Option<Tensor> {
    let d = &t.dims;
    let r = d.len();
    if r < 3 || group == 0 {
        return None;
    }
    let k = &d[if dir == Direction::ToNhwc { 2 } else { 1 }..if dir == Direction::ToNhwc {
        r
    } else {
        r - 1
    }];
    let k = k.to_vec();
    match dir {
        Direction::ToNhwc => {
            let (cin, mg) = (d[0], d[1]);
            if cin % group != 0 {
                return None;
            }
            let cg = cin / group;
            // [g, cg, mg, k...] -> [g, mg, k..., cg] -> [g*mg, k..., cg]
            let split = [vec![group, cg, mg], k.clone()].concat();
            let mut p = vec![0, 2];
            p.extend(3..3 + k.len());
            p.push(1);
            let t = perm::transpose_tensor(&perm::reshape_tensor(t, split)?, &p)?;
            perm::reshape_tensor(&t, [vec![group * mg], k, vec![cg]].concat())
        }
        Direction::ToNchw => {
            let (m, cg) = (d[0], d[r - 1]);
            if m % group != 0 {
                return None;
            }
            let mg = m / group;
            // [g, mg, k..., cg] -> [g, cg, mg, k...] -> [g*cg, mg, k...]
            let split = [vec![group, mg], k.clone(), vec![cg]].concat();
            let rs = split.len();
            let mut p = vec![0, rs - 1, 1];
            p.extend(2..rs - 1);
            let t = perm::transpose_tensor(&perm::reshape_tensor(t, split)?, &p)?;
            perm::reshape_tensor(&t, [vec![group * cg, mg], k].concat())
        }
    }
}

pub(super) fn sensitive(e: &mut Engine<'_>, id: NodeId, op: OnnxOp) -> bool {
    let Some(roles) = sensitive_roles(op) else {
        return false;
    };
    let ins = e.g.inputs_of(id);
    let Some(x) = ins.first().copied().flatten() else {
        return false;
    };
    let node = e.g.node(id);
    let weight = roles.weight.and_then(|s| ins.get(s).copied().flatten());
    let r = e
        .rank_of(x)
        .or_else(|| weight.and_then(|w| e.rank_of(w)))
        .or_else(|| {
            let k = node.attrs.ints("kernel_shape", vec![]).ok()?.len();
            (k > 0).then_some(k + 2)
        });
    let Some(r) = r.filter(|&r| r >= 3) else {
        return false;
    };
    // MaxPool's Indices count in the layout they were computed in.
    if op == OnnxOp::MaxPool && node.outputs.len() > 1 && !node.outputs[1].is_absent() {
        let v = ValueRef::new(id, 1);
        if !e.g.users(v).is_empty() || e.g.outputs().contains(&v) {
            return false;
        }
    }
    let d = e.dir.data_perm(r);
    let group = node.attrs.int("group", 1).unwrap_or(1).max(1) as u64;

    // Per-axis lists of Resize / Upsample: constants reordered, or `axes` remapped.
    let mut lists: Vec<(usize, Tensor)> = Vec::new();
    // Lists computed in the graph (`sizes` from a Shape): gathered in the new order.
    let mut computed: Vec<(usize, Vec<i64>)> = Vec::new();
    let mut new_attrs: Vec<(&str, Attr)> = Vec::new();
    let dinv = perm::inverse(&d);
    if matches!(op, OnnxOp::Resize | OnnxOp::Upsample) {
        if op == OnnxOp::Resize && node.attrs.contains("axes") {
            let Some(axes) = node
                .attrs
                .ints("axes", vec![])
                .ok()
                .and_then(|a| norm_axes(&a, r))
            else {
                return false;
            };
            new_attrs.push((
                "axes",
                Attr::Ints(axes.iter().map(|&a| dinv[a] as i64).collect()),
            ));
        } else {
            if let Ok(s) = node.attrs.floats("scales", vec![]) {
                if s.len() == r {
                    new_attrs.push(("scales", Attr::Floats(perm::permute_list(&s, &d))));
                }
            }
            let slots: Vec<(usize, usize)> = if op == OnnxOp::Resize && e.opset >= 11 {
                vec![(1, 2), (2, 1), (3, 1)]
            } else {
                vec![(1, 1)]
            };
            for (slot, halves) in slots {
                let Some(v) = ins.get(slot).copied().flatten() else {
                    continue;
                };
                let Some((t, _)) = const_of(e.g, v) else {
                    let idx: Vec<i64> = (0..halves)
                        .flat_map(|h| d.iter().map(move |&i| (h * r + i) as i64))
                        .collect();
                    let len = e.dims_of(v).and_then(|dims| match dims.as_slice() {
                        [n] => *n,
                        _ => None,
                    });
                    // (ONNX gives one entry per axis; a length known otherwise refuses.)
                    if len.is_some_and(|n| n != (halves * r) as u64) {
                        return false;
                    }
                    computed.push((slot, idx));
                    continue;
                };
                if t.element_count() == Some(0) {
                    continue;
                }
                let idx: Vec<usize> = (0..halves)
                    .flat_map(|h| d.iter().map(move |&i| h * r + i))
                    .collect();
                match perm::gather_1d(&t, &idx) {
                    Some(c) if t.dims == [(halves * r) as u64] => lists.push((slot, c)),
                    _ => return false,
                }
            }
        }
    }

    // The weight in the target convention.
    enum W {
        Const(Tensor),
        View(Vec<usize>),
    }
    let w_plan = match weight {
        None => None,
        Some(w) => {
            let rw = e.rank_of(w).unwrap_or(r);
            let c = const_of(e.g, w).map(|c| c.0);
            Some(match (op, c) {
                (OnnxOp::ConvTranspose, Some(t)) => match conv_transpose_weight(&t, group, e.dir) {
                    Some(t) => W::Const(t),
                    None => return false,
                },
                (OnnxOp::ConvTranspose, None) if group == 1 => {
                    // [C_in, M, k...] <-> [M, k..., C_in]
                    let mut p: Vec<usize> = (1..rw).collect();
                    p.push(0);
                    W::View(match e.dir {
                        Direction::ToNhwc => p,
                        Direction::ToNchw => perm::inverse(&p),
                    })
                }
                (OnnxOp::ConvTranspose, None) => return false,
                (_, Some(t)) => match perm::transpose_tensor(&t, &e.dir.data_perm(t.dims.len())) {
                    Some(t) => W::Const(t),
                    None => return false,
                },
                (_, None) => W::View(e.dir.data_perm(rw)),
            })
        }
    };

    // Apply.
    for &s in roles.data {
        if let Some(v) = ins.get(s).copied().flatten() {
            let nv = e.request(v, &d);
            e.rewire(id, s, nv);
        }
    }
    if let (Some(slot), Some(w), Some(plan)) = (roles.weight, weight, w_plan) {
        let nv = match plan {
            W::Const(t) => {
                let name = e.g.value(w).map(|x| x.name.clone()).unwrap_or_default();
                e.add_const(&name, t)
            }
            W::View(p) => e.request(w, &p),
        };
        e.rewire(id, slot, nv);
    }
    for (slot, t) in lists {
        let v = ins[slot].expect("present");
        let name = e.g.value(v).map(|x| x.name.clone()).unwrap_or_default();
        let nv = e.add_const(&name, t);
        e.rewire(id, slot, nv);
    }
    for (slot, idx) in computed {
        let v = ins[slot].expect("present");
        let name = e.g.value(v).map(|x| x.name.clone()).unwrap_or_default();
        let mut b = e.build();
        let order = b.const_i64s(&format!("{name}_order"), &idx);
        let nv = b
            .op(OnnxOp::Gather, &[v, order])
            .name("")
            .out(format!("{name}_reordered"))
            .int("axis", 0)
            .value();
        e.rewire(id, slot, nv);
    }
    let target = e.dir.target();
    let node = e.g.node_mut(id);
    for (k, v) in new_attrs {
        node.attrs.set(k, v);
    }
    node.layout = Some(target);
    e.changed = true;
    e.set_state(ValueRef::new(id, 0), d);
    true
}
