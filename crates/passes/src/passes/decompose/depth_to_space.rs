//! `decompose-depth-to-space`: `DepthToSpace` in CRD mode (torch's `pixel_shuffle`) → DCR
//! mode on channels reordered: by permuting the producing convolution's filters and bias when
//! it has constant float ones read by nothing else (a super-resolution head), else by a
//! `Gather` along the channels.

use modelc_ir::{Attr, Builder, DType, Graph, NodeId, OnnxOp, ValueRef};

use super::{base_name, Decompose};
use crate::pattern::{const_tensor, only_user, rank_of, set_const_if_unshared};

pub const PASS: Decompose = Decompose {
    name: "decompose-depth-to-space",
    description: "DepthToSpace CRD → DCR on reordered channels (conv filters permuted, or Gather)",
    ops: &[OnnxOp::DepthToSpace],
    opsets: 0..=i64::MAX,
    rewrite: |g, id, _, _| depth_to_space_crd(g, id),
};

/// `DepthToSpace` mode CRD → DCR after reordering the channels (see the module docs).
fn depth_to_space_crd(g: &mut Builder<'_>, id: NodeId) -> bool {
    let node = g.node(id);
    if node.attrs.string("mode", "DCR").ok().as_deref() != Some("CRD") {
        return false;
    }
    let (Ok(r), Some(x)) = (node.attrs.int("blocksize", 0), g.input(id, 0)) else {
        return false;
    };
    let channels = g
        .shape_of(x)
        .and_then(|s| s.0.get(1).and_then(|d| d.known()))
        .filter(|_| rank_of(g, x) == Some(4));
    let Some(channels) = channels else {
        return false;
    };
    let rr = match u64::try_from(r) {
        Ok(r) if (1..=1 << 16).contains(&r) && channels.is_multiple_of(r * r) => r * r,
        _ => return false,
    };
    // The channel order is materialized: a hostile declared size must stay small.
    if channels > 1 << 20 {
        return false;
    }
    let c = channels / rr;
    // DCR channel (b·C + ch) reads CRD channel (ch·r² + b), b = i·r + j.
    let order: Vec<u64> = (0..channels).map(|k| (k % c) * rr + k / c).collect();
    let name = base_name(g, id);
    if !permute_conv_outputs(g, x, &order) {
        let idx: Vec<i64> = order.iter().map(|&o| o as i64).collect();
        let idx = g.const_i64s(&format!("{name}_crd_order"), &idx);
        let gathered = g
            .op(OnnxOp::Gather, &[x, idx])
            .out(format!("{name}_dcr"))
            .int("axis", 1)
            .value();
        g.connect(gathered, id, 0);
    }
    g.node_mut(id).attrs.set("mode", Attr::String("DCR".into()));
    true
}

/// Reorders the output channels of the `Conv` producing `x` (output `k` becomes the old
/// output `order[k]`) when it is `x`'s only reader's producer with constant float weight and
/// bias read by nothing else. False (nothing changed) otherwise.
fn permute_conv_outputs(g: &mut Graph, x: ValueRef, order: &[u64]) -> bool {
    let conv = x.node;
    if g.node(conv).op.onnx() != Some(OnnxOp::Conv)
        || only_user(g, x).is_none()
        || g.outputs().contains(&x)
        || g.node(conv).attrs.int("group", 1).ok() != Some(1)
    {
        return false;
    }
    let (Some(w), b) = (g.input(conv, 1), g.input(conv, 2)) else {
        return false;
    };
    let permuted = |g: &Graph, v: ValueRef| -> Option<modelc_ir::Tensor> {
        let t = const_tensor(g, v)?;
        if only_user(g, v).is_none() || !matches!(t.dtype, DType::F32 | DType::F16) {
            return None;
        }
        if t.dims.first() != Some(&(order.len() as u64)) {
            return None;
        }
        let raw = t.raw()?;
        let row = raw.len() / order.len();
        let mut out = Vec::with_capacity(raw.len());
        for &o in order {
            out.extend_from_slice(&raw[o as usize * row..(o as usize + 1) * row]);
        }
        modelc_ir::Tensor::from_raw(t.dtype, t.dims.clone(), out.into()).ok()
    };
    let Some(new_w) = permuted(g, w) else {
        return false;
    };
    let new_b = match b {
        Some(b) => match permuted(g, b) {
            Some(t) => Some((b, t)),
            None => return false,
        },
        None => None,
    };
    set_const_if_unshared(g, w, new_w);
    if let Some((b, t)) = new_b {
        set_const_if_unshared(g, b, t);
    }
    true
}
