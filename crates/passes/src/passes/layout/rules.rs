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
//!   13, Slice, Squeeze, Unsqueeze, Transpose) remap their axes;
//! - Flatten and Reshape keep the permutation out only when it moves unit axes alone (the
//!   data order is unchanged, e.g. `[N, C, 1, 1]` → `[N, C]` after a global pool).

use modelc_ir::{Attr, NodeId, OnnxOp, Tensor, ValueRef};

use super::engine::{const_of, Direction, Engine};
use super::perm;

/// Ops whose output 0 has the shape of input 0 and whose other inputs are scalars or
/// per-channel parameters (for QuantizeLinear/DequantizeLinear, see `axis`).
pub fn same_shape(op: OnnxOp) -> bool {
    use OnnxOp::*;
    matches!(
        op,
        Relu | LeakyRelu
            | Sigmoid
            | HardSigmoid
            | HardSwish
            | Tanh
            | Elu
            | Selu
            | Celu
            | Gelu
            | Mish
            | Swish
            | Softplus
            | Softsign
            | ThresholdedRelu
            | Shrink
            | Abs
            | Neg
            | Exp
            | Log
            | Sqrt
            | Reciprocal
            | Floor
            | Ceil
            | Round
            | Sign
            | Erf
            | Sin
            | Cos
            | Tan
            | Asin
            | Acos
            | Atan
            | Sinh
            | Cosh
            | Asinh
            | Acosh
            | Atanh
            | Not
            | BitwiseNot
            | IsNaN
            | IsInf
            | Cast
            | Identity
            | Dropout
            | Clip
            | QuantizeLinear
            | DequantizeLinear
    )
}

/// Elementwise ops with multidirectional (numpy) broadcasting over all inputs.
pub fn broadcasting(op: OnnxOp) -> bool {
    use OnnxOp::*;
    matches!(
        op,
        Add | Sub
            | Mul
            | Div
            | Pow
            | Max
            | Min
            | Sum
            | Mean
            | PRelu
            | Where
            | Equal
            | Greater
            | Less
            | GreaterOrEqual
            | LessOrEqual
            | And
            | Or
            | Xor
            | Mod
            | BitShift
            | BitwiseAnd
            | BitwiseOr
            | BitwiseXor
    )
}

fn is_reduce(op: OnnxOp) -> bool {
    use OnnxOp::*;
    matches!(
        op,
        ReduceMean
            | ReduceSum
            | ReduceMax
            | ReduceMin
            | ReduceProd
            | ReduceL1
            | ReduceL2
            | ReduceLogSum
            | ReduceLogSumExp
            | ReduceSumSquare
            | ArgMax
            | ArgMin
    )
}

fn norm_axis(a: i64, r: usize) -> Option<usize> {
    let a = if a < 0 { a + r as i64 } else { a };
    (0..r as i64).contains(&a).then_some(a as usize)
}

fn i64_tensor(v: &[i64]) -> Tensor {
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
        return true; // Nothing arrives transposed: nothing to do.
    };
    // Rules other than the elementwise ones read the permutation from input 0 only.
    let others_plain = ins.iter().skip(1).flatten().all(|v| e.state(*v).is_none());
    let first_is_p = ins.first().copied().flatten().and_then(|v| e.state(v)) == Some(&p);
    if broadcasting(op) {
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
        _ if same_shape(op) => unary(e, id, op, &p),
        _ if is_reduce(op) => reduce(e, id, op, &p),
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
        Transpose => transpose(e, id, &p),
        _ => false,
    }
}

/// Sets `attr` (an axis of the rank-`p.len()` input, default `default`) to its position in
/// the transposed tensor.
fn remap_axis_attr(e: &mut Engine<'_>, id: NodeId, attr: &str, default: i64, p: &[usize]) -> bool {
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

fn norm_axes(axes: &[i64], r: usize) -> Option<Vec<usize>> {
    let v: Option<Vec<usize>> = axes.iter().map(|&a| norm_axis(a, r)).collect();
    v.filter(|v| {
        let mut s = v.clone();
        s.sort();
        s.dedup();
        s.len() == v.len()
    })
}

fn reduce(e: &mut Engine<'_>, id: NodeId, op: OnnxOp, p: &[usize]) -> bool {
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

fn pad(e: &mut Engine<'_>, id: NodeId, p: &[usize]) -> bool {
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

/// Whether transposing by `p` leaves the row-major order of the elements unchanged: the
/// axes that may be larger than 1 keep their relative order.
fn order_preserving(p: &[usize], dims: &[Option<u64>]) -> bool {
    let big: Vec<usize> = p
        .iter()
        .copied()
        .filter(|&a| dims.get(a).copied().flatten() != Some(1))
        .collect();
    big.windows(2).all(|w| w[0] < w[1])
}

fn flatten(e: &mut Engine<'_>, id: NodeId, p: &[usize]) -> bool {
    let r = p.len();
    let Some(x) = e.g.input(id, 0) else {
        return false;
    };
    let Some(dims) = e.dims_of(x) else {
        return false;
    };
    if dims.len() != r || !order_preserving(p, &dims) {
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
    // Any position after the last possibly non-unit axis before `a` and up to the first one
    // at or after `a` splits the same; the original position when it is one of them.
    let big = |j: &usize| dims[p[*j]] != Some(1);
    let lo = (0..r)
        .rev()
        .filter(big)
        .find(|&j| p[j] < a)
        .map_or(0, |j| j + 1);
    let hi = (0..r).filter(big).find(|&j| p[j] >= a).unwrap_or(r);
    let split = a.clamp(lo, hi.max(lo));
    e.g.node_mut(id).attrs.set("axis", Attr::Int(split as i64));
    true
}

fn reshape(e: &mut Engine<'_>, id: NodeId, p: &[usize]) -> bool {
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
    dims.len() == p.len() && order_preserving(p, &dims)
}

fn squeeze(e: &mut Engine<'_>, id: NodeId, p: &[usize]) -> bool {
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

fn unsqueeze(e: &mut Engine<'_>, id: NodeId, p: &[usize]) -> bool {
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

fn slice(e: &mut Engine<'_>, id: NodeId, p: &[usize]) -> bool {
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

fn transpose(e: &mut Engine<'_>, id: NodeId, p: &[usize]) -> bool {
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

/// Which inputs of a layout-sensitive op are data, and where its weight is.
struct SensitiveRoles {
    data: &'static [usize],
    weight: Option<usize>,
}

fn sensitive_roles(op: OnnxOp) -> Option<SensitiveRoles> {
    use OnnxOp::*;
    let (data, weight): (&'static [usize], Option<usize>) = match op {
        Conv | ConvInteger | ConvTranspose => (&[0], Some(1)),
        QLinearConv => (&[0], Some(3)),
        DeformConv => (&[0, 2, 4], Some(1)),
        MaxUnpool | Col2Im => return None,
        _ => (&[0], None),
    };
    Some(SensitiveRoles { data, weight })
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

fn sensitive(e: &mut Engine<'_>, id: NodeId, op: OnnxOp) -> bool {
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
                    return false;
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
