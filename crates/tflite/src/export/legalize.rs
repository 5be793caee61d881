//! The TFLite-specific rewrites of the exporter's private copy of the graph that are not
//! decompositions (those are `decompose-*` passes, run by the writer's pipeline, see
//! `export::DECOMPOSE`):
//! - the erf form of GELU that opsets before 20 export → `Gelu` (GELU): the `fuse-gelu`
//!   pattern, run whatever opset the model imports, since this graph is only lowered
//!   ([`erf_gelu`]);
//! - after the layout pass, [`flatten_nhwc`] lets a dense layer read an NHWC feature map
//!   directly (its weight permuted) instead of through a TRANSPOSE back to NCHW,
//!   [`lift_1d`] turns 1-D convolution and pooling into their 2-D forms, and
//!   [`softmax_last_axis`] moves a softmax over another axis last (SOFTMAX has no axis),
//!   and [`requantize_movement`] keeps a quantized feature map quantized through the
//!   transposes and reshapes between its DequantizeLinear and the next QuantizeLinear;
//! - [`int16_softmax`]: the TFLite import's fixed-point form of int16 SOFTMAX → `Softmax`
//!   again (before everything else), so that a TFLite file comes back with its SOFTMAX.

use modelc_ir::{
    Attr, Attrs, Builder, DType, Graph, Layout, NodeId, OnnxOp, OpsetImport, ValueRef,
};
use modelc_passes::passes::fuse_gelu::FuseGelu;
use modelc_passes::pattern::{
    const_tensor, extra_outputs_unused, float_const, float_tensor, only_user, rank_of,
    remove_with_dead_consts, scalar_const, set_const_if_unshared,
};
use modelc_passes::util::const_ints;
use modelc_passes::{Pass, PassContext};

/// The erf form of GELU → `Gelu`, whatever opset the model imports (see the module docs).
/// In a QDQ model the quantizer put a QuantizeLinear / DequantizeLinear pair between each of
/// the pattern's ops; those go first (GELU then runs on the int8 tensors around it, as
/// TensorFlow's converter makes it, instead of an ERF TFLite does not have).
/// Whether `g` or a graph nested in it (an `If` / `Loop` body) has a node of layout `l`.
pub(crate) fn has_layout(g: &Graph, l: modelc_ir::Layout) -> bool {
    g.node_ids().any(|id| {
        let node = g.node(id);
        node.layout == Some(l) || node.subgraphs().any(|b| has_layout(b, l))
    })
}

/// Runs `f` on `g` and on every graph nested in it (bodies become TFLite subgraphs, which
/// need the same forms).
pub(crate) fn in_every_graph(g: &mut Graph, f: &mut dyn FnMut(&mut Graph)) {
    f(g);
    let owners: Vec<NodeId> = g
        .node_ids()
        .filter(|&id| g.node(id).subgraphs().next().is_some())
        .collect();
    for id in owners {
        for body in g.node_mut(id).subgraphs_mut() {
            in_every_graph(body, f);
        }
    }
}

pub(crate) fn erf_gelu(g: &mut Graph, opset: i64) {
    let erfs: Vec<NodeId> = g
        .node_ids()
        .filter(|&id| g.node(id).op.onnx() == Some(OnnxOp::Erf))
        .collect();
    for e in erfs {
        unquantize_gelu_interior(g, e);
    }
    let mut cx = PassContext {
        opsets: vec![OpsetImport {
            domain: String::new(),
            version: opset.max(20),
        }],
        notes: Vec::new(),
    };
    // Cannot fail: the pass only matches patterns.
    let _ = FuseGelu.run(g, &mut cx);
}

/// The op reading `v` through a QuantizeLinear → DequantizeLinear pair (each the only reader
/// of the value before it): (reader, slot, the pair).
fn reader_through_qdq(g: &Graph, v: ValueRef) -> Option<(NodeId, usize, [NodeId; 2])> {
    let single = |v: ValueRef| -> Option<(NodeId, usize)> {
        if g.outputs().contains(&v) {
            return None;
        }
        only_user(g, v)
    };
    let (q, _) = single(v)?;
    let (dq, _) = single(ValueRef::new(q, 0))?;
    let ops = (g.node(q).op.onnx(), g.node(dq).op.onnx());
    if ops != (Some(OnnxOp::QuantizeLinear), Some(OnnxOp::DequantizeLinear)) {
        return None;
    }
    let (user, slot) = single(ValueRef::new(dq, 0))?;
    Some((user, slot, [q, dq]))
}

/// The op producing `id`'s input `slot` through a QuantizeLinear → DequantizeLinear pair read
/// by nothing else: (producer's output, the pair).
fn producer_through_qdq(g: &Graph, id: NodeId, slot: usize) -> Option<(ValueRef, [NodeId; 2])> {
    let dq = g.input(id, slot)?;
    let q = g.input(dq.node, 0)?;
    let v = g.input(q.node, 0)?;
    let (user, s, pair) = reader_through_qdq(g, v)?;
    (user == id && s == slot).then_some((v, pair))
}

/// Removes the QDQ pairs between the ops of an erf-form GELU around Erf `e`:
/// `Div(x, √2)` (or `Mul` by 1/√2) → Erf → `Add` 1 → `Mul` by x → `Mul` by ½ (or x·½ first),
/// each pair only where the ops on both sides are those.
fn unquantize_gelu_interior(g: &mut Graph, e: NodeId) {
    let is = |g: &Graph, id: NodeId, ops: &[OnnxOp]| {
        g.node(id).op.onnx().is_some_and(|op| ops.contains(&op))
    };
    let mut cuts: Vec<(ValueRef, NodeId, usize, [NodeId; 2])> = Vec::new();
    if let Some((v, pair)) = producer_through_qdq(g, e, 0) {
        if is(g, v.node, &[OnnxOp::Div, OnnxOp::Mul]) {
            cuts.push((v, e, 0, pair));
        }
    }
    let mut at = ValueRef::new(e, 0);
    let mut chain = vec![OnnxOp::Add, OnnxOp::Mul, OnnxOp::Mul];
    chain.reverse();
    while let Some(want) = chain.pop() {
        let Some((user, slot, pair)) = reader_through_qdq(g, at) else {
            break;
        };
        // The last Mul is the one by ½ (a scalar), not some op after the GELU.
        let last = chain.is_empty();
        let by_scalar = |g: &Graph| {
            (0..2).any(|i| {
                g.input(user, i).is_some_and(|c| {
                    scalar_const(g, c).is_some() || dequantized_scalar(g, c).is_some()
                })
            })
        };
        if !is(g, user, &[want]) || (last && !by_scalar(g)) {
            break;
        }
        cuts.push((at, user, slot, pair));
        // The x·½ form: the other operand of the Mul by (1 + erf) comes from a Mul too.
        if want == OnnxOp::Mul && chain.len() == 1 {
            if let Some((h, hp)) = producer_through_qdq(g, user, 1 - slot.min(1)) {
                if is(g, h.node, &[OnnxOp::Mul]) {
                    cuts.push((h, user, 1 - slot.min(1), hp));
                }
            }
        }
        at = ValueRef::new(user, 0);
    }
    // At least Erf → Add: an Erf whose neighbours are something else is left as it is.
    if !cuts.iter().any(|c| c.0 == ValueRef::new(e, 0)) {
        return;
    }
    let mut island: Vec<NodeId> = cuts.iter().map(|c| c.1).collect();
    island.extend(cuts.iter().map(|c| c.0.node));
    for (v, user, slot, pair) in cuts {
        g.connect(v, user, slot);
        remove_with_dead_consts(g, &pair);
    }
    // The pattern's constants (1, ½) as floats, which the GELU match reads.
    for id in island {
        for slot in 0..g.node(id).num_inputs {
            let Some(c) = g.input(id, slot) else { continue };
            if let Some(x) = dequantized_scalar(g, c) {
                let base = g.value(c).map(|v| v.name.clone()).unwrap_or_default();
                let k = Builder::new(g).const_f32(&format!("{base}_float"), x);
                g.connect(k, id, slot);
                if g.users(c).is_empty() && !g.outputs().contains(&c) {
                    remove_with_dead_consts(g, &[c.node]);
                }
            }
        }
    }
}

/// The value of a DequantizeLinear of a one-element integer constant.
fn dequantized_scalar(g: &Graph, v: ValueRef) -> Option<f32> {
    if g.node(v.node).op.onnx() != Some(OnnxOp::DequantizeLinear) {
        return None;
    }
    let q = const_tensor(g, g.input(v.node, 0)?)?;
    let scale = scalar_const(g, g.input(v.node, 1)?)?;
    let int = |t: &modelc_ir::Tensor| -> Option<f64> {
        let raw = t.raw()?;
        match (t.dtype, raw.len()) {
            (DType::I8, 1) => Some(raw[0] as i8 as f64),
            (DType::U8, 1) => Some(raw[0] as f64),
            (DType::I32, 4) => Some(i32::from_le_bytes([raw[0], raw[1], raw[2], raw[3]]) as f64),
            _ => None,
        }
    };
    let x = int(q)?;
    let zp = match g.input(v.node, 2) {
        Some(z) => int(const_tensor(g, z)?)?,
        None => 0.0,
    };
    Some(((x - zp) * scale) as f32)
}

/// `Softmax` / `LogSoftmax` (opset 13+) over an axis other than the last, which SOFTMAX
/// cannot do (after the layout pass, which moves a channel softmax last itself): TRANSPOSE
/// the axis last, softmax, TRANSPOSE back. Not for dequantized inputs (the int8 softmax
/// must read its quantized input directly). Returns whether anything changed.
pub(crate) fn softmax_last_axis(g: &mut Graph, opset: i64) -> bool {
    let mut b = Builder::new(g);
    let g = &mut b;
    if opset < 13 {
        return false; // `legacy_softmax` made these 2-D.
    }
    let mut changed = false;
    let ids: Vec<NodeId> = g.node_ids().collect();
    for id in ids {
        let Some(op @ (OnnxOp::Softmax | OnnxOp::LogSoftmax)) =
            g.try_node(id).and_then(|n| n.op.onnx())
        else {
            continue;
        };
        let Some(x) = g.input(id, 0) else { continue };
        let Some(rank) = rank_of(g, x) else { continue };
        let Ok(axis) = g.node(id).attrs.int("axis", -1) else {
            continue;
        };
        let r = rank as i64;
        let axis = if axis < 0 { axis + r } else { axis };
        let from_dq = g.node(x.node).op.onnx() == Some(OnnxOp::DequantizeLinear);
        if !(0..r - 1).contains(&axis) || from_dq {
            continue;
        }
        let mut perm: Vec<i64> = (0..r).filter(|&a| a != axis).collect();
        perm.push(axis);
        let mut back = vec![0i64; rank];
        for (i, &p) in perm.iter().enumerate() {
            back[p as usize] = i as i64;
        }
        let name = g.node(id).name.clone();
        let t = g
            .op(OnnxOp::Transpose, &[x])
            .out(format!("{name}_to_last"))
            .ints("perm", perm)
            .value();
        let sm = g
            .op(op, &[t])
            .out(format!("{name}_last"))
            .int("axis", -1)
            .value();
        let y = g
            .op(OnnxOp::Transpose, &[sm])
            .out(name.as_str())
            .ints("perm", back)
            .value();
        g.replace_node(id, y);
        changed = true;
    }
    changed
}

/// `Transpose(perm [0, 3, 1, 2]) → Flatten / Reshape to [N, C·H·W] → Gemm / MatMul` with a
/// constant f32 weight read by nothing else: the weight's C·H·W axis is permuted to H·W·C
/// order and the flatten reads the NHWC tensor itself, so the TRANSPOSE the layout pass left
/// at the border of the NHWC region disappears (a classifier over a flattened feature map).
pub(crate) fn flatten_nhwc(g: &mut Graph) {
    let ids: Vec<NodeId> = g.node_ids().collect();
    for id in ids {
        if g.try_node(id).and_then(|n| n.op.onnx()) != Some(OnnxOp::Transpose) {
            continue;
        }
        let _ = flatten_one(g, id);
    }
}

fn flatten_one(g: &mut Graph, t: NodeId) -> Option<()> {
    let perm = g.node(t).attrs.ints("perm", vec![]).ok()?;
    if perm != [0, 3, 1, 2] {
        return None;
    }
    let x = g.input(t, 0)?;
    let dims = g.shape_of(x)?.0.clone();
    let known = |d: &modelc_ir::Dim| match d {
        modelc_ir::Dim::Known(n) => Some(*n as usize),
        _ => None,
    };
    let [_, h, w, c] = &dims[..] else {
        return None;
    };
    let (h, w, c) = (known(h)?, known(w)?, known(c)?);
    let chw = c * h * w;
    let (flat, _) = only_user(g, ValueRef::new(t, 0))?;
    match g.node(flat).op.onnx()? {
        OnnxOp::Flatten if g.node(flat).attrs.int("axis", 1).ok()? == 1 => {}
        OnnxOp::Reshape => {
            let shape = const_ints(g, g.input(flat, 1)?)?;
            let ok = shape.len() == 2
                && (-1..=1).contains(&shape[0])
                && (shape[1] == -1 || shape[1] == chw as i64)
                && !(shape[0] == -1 && shape[1] == -1);
            if !ok {
                return None;
            }
        }
        _ => return None,
    }
    let (dense, slot) = only_user(g, ValueRef::new(flat, 0))?;
    if slot != 0 {
        return None;
    }
    let op = g.node(dense).op.onnx()?;
    let wv = g.input(dense, 1)?;
    let weight = const_tensor(g, wv)?;
    if weight.dtype != DType::F32 {
        return None;
    }
    // Which axis of the weight runs over C·H·W.
    let axis = match op {
        OnnxOp::Gemm if g.node(dense).attrs.int("transA", 0).ok()? == 0 => {
            if g.node(dense).attrs.int("transB", 0).ok()? != 0 {
                1
            } else {
                0
            }
        }
        OnnxOp::MatMul => 0,
        _ => return None,
    };
    if weight.dims.len() != 2 || weight.dims[axis] as usize != chw {
        return None;
    }
    let src = weight.raw()?;
    let k = weight.dims[1 - axis] as usize;
    // The NHWC-flat position of each NCHW-flat position (c, y, x).
    let mut to = vec![0usize; chw];
    for ch in 0..c {
        for y in 0..h {
            for xx in 0..w {
                to[(ch * h + y) * w + xx] = (y * w + xx) * c + ch;
            }
        }
    }
    // Elements are moved as 4-byte groups (bit patterns kept, NaN payloads included).
    let mut out = vec![0u8; src.len()];
    if axis == 1 {
        // Each source row is read once: a memory-mapped weight need not stay resident beside
        // its permuted copy, so what has been read is released every few MiB.
        let row = chw * 4;
        let mut released = 0;
        for (r, (row_in, row_out)) in src
            .chunks_exact(row)
            .zip(out.chunks_exact_mut(row))
            .enumerate()
        {
            for (from, &dst) in to.iter().enumerate() {
                row_out[dst * 4..dst * 4 + 4].copy_from_slice(&row_in[from * 4..from * 4 + 4]);
            }
            let done = (r + 1) * row;
            if done - released >= 8 << 20 {
                modelc_ir::release_resident(&src[released..done]);
                released = done;
            }
        }
    } else {
        for (from, &dst) in to.iter().enumerate() {
            out[dst * k * 4..(dst + 1) * k * 4]
                .copy_from_slice(&src[from * k * 4..(from + 1) * k * 4]);
        }
    }
    modelc_ir::release_resident(src);
    let permuted = modelc_ir::Tensor::from_raw(DType::F32, weight.dims.clone(), out.into()).ok()?;
    if !set_const_if_unshared(g, wv, permuted) {
        return None;
    }
    g.connect(x, flat, 0);
    remove_with_dead_consts(g, &[t]);
    Some(())
}

/// 1-D convolution and pooling, which TFLite has no builtin for, lifted to 2-D the way
/// TensorFlow's `conv1d` is: on the channels-last graph (after the layout pass), `[N, L, C]`
/// gets a unit height (`Unsqueeze` at axis 1, an EXPAND_DIMS/RESHAPE), the op runs as its
/// 2-D form with a `[1, k]` window (the weight `[M, k, C/g]` reshaped to `[M, 1, k, C/g]`,
/// the same bytes), and the height is squeezed off again. The squeeze then moves past unary
/// activations and per-tensor (de)quantization, so the activation still fuses into the
/// convolution and a quantized convolution still sees its Q/DQ pair, and an unsqueeze
/// meeting such a squeeze cancels: a chain of 1-D convolutions stays 4-D throughout.
pub(crate) fn lift_1d(g: &mut Graph, opset: i64) {
    let mut b = Builder::new(g);
    let g = &mut b;
    let ids: Vec<NodeId> = g.node_ids().collect();
    let mut squeezes = Vec::new();
    let mut unsqueezes = Vec::new();
    for id in ids {
        let Some(op) = g.try_node(id).and_then(|n| n.op.onnx()) else {
            continue;
        };
        if matches!(
            op,
            OnnxOp::Conv
                | OnnxOp::ConvTranspose
                | OnnxOp::MaxPool
                | OnnxOp::AveragePool
                | OnnxOp::Resize
        ) {
            if let Some((u, s)) = lift_one(g, id, op, opset) {
                unsqueezes.extend(u);
                squeezes.push(s);
            }
        }
    }
    for s in squeezes {
        sink_squeeze(g, s);
    }
    for &u in &unsqueezes {
        hoist_unsqueeze(g, u);
    }
    for u in unsqueezes {
        cancel_unsqueeze(g, u);
    }
}

/// `Unsqueeze` / `Squeeze` of `x` at `axis`, its axes an input from opset 13 on.
fn unit_axis(g: &mut Builder<'_>, op: OnnxOp, name: &str, x: ValueRef, opset: i64) -> ValueRef {
    g.op(op, &[x]).out(name).axes(&[1], opset >= 13).value()
}

/// A per-spatial-axis attribute of a 1-D op in its 2-D form: `[v]` → `[unit, v]`, `pads`
/// `[b, e]` → `[0, b, 0, e]`. Absent attributes stay absent (their defaults agree).
fn lift_attrs(attrs: &Attrs) -> Option<Attrs> {
    let mut out = attrs.clone();
    for (key, unit) in [
        ("kernel_shape", 1),
        ("strides", 1),
        ("dilations", 1),
        ("output_padding", 0),
        ("output_shape", 1),
    ] {
        if let Some(Attr::Ints(v)) = attrs.get(key) {
            if v.len() != 1 {
                return None;
            }
            out.set(key, Attr::Ints(vec![unit, v[0]]));
        }
    }
    if let Some(Attr::Ints(p)) = attrs.get("pads") {
        let [b, e] = p[..] else { return None };
        out.set("pads", Attr::Ints(vec![0, b, 0, e]));
    }
    Some(out)
}

/// The weight `w` (`[M, k, C/g]`) with a unit height: the constant itself reshaped when
/// nothing else reads it (also behind a DequantizeLinear), else an `Unsqueeze`.
fn lift_weight(g: &mut Builder<'_>, w: ValueRef, name: &str, opset: i64) -> ValueRef {
    let reshaped = |t: &modelc_ir::Tensor| -> Option<modelc_ir::Tensor> {
        let [m, k, c] = t.dims[..] else { return None };
        let mut t = t.clone();
        t.dims = vec![m, 1, k, c];
        Some(t)
    };
    let raw = match g.node(w.node).op.onnx() {
        Some(OnnxOp::DequantizeLinear) if only_user(g, w).is_some() => g.input(w.node, 0),
        _ => Some(w),
    };
    if let Some(raw) = raw {
        if let Some(t) = const_tensor(g, raw).and_then(reshaped) {
            if set_const_if_unshared(g, raw, t) {
                if raw != w {
                    // The DequantizeLinear's result changes shape with its input.
                    if let Some(v) = g.value_mut(w) {
                        v.ty = None;
                    }
                }
                return w;
            }
        }
    }
    unit_axis(g, OnnxOp::Unsqueeze, &format!("{name}_weight_2d"), w, opset)
}

/// Lifts one node; returns the unsqueezes it made of its input and the squeeze of its result.
fn lift_one(
    g: &mut Builder<'_>,
    id: NodeId,
    op: OnnxOp,
    opset: i64,
) -> Option<(Option<NodeId>, NodeId)> {
    let node = g.node(id);
    if node.layout != Some(Layout::Nhwc) || !extra_outputs_unused(g, id) {
        return None;
    }
    let x = g.input(id, 0)?;
    if rank_of(g, x)? != 3 {
        return None;
    }
    let attrs = lift_attrs(&node.attrs)?;
    let name = node.name.clone();
    if op == OnnxOp::Resize {
        return lift_resize(g, id, x, opset);
    }
    let x2 = unit_axis(g, OnnxOp::Unsqueeze, &format!("{name}_2d"), x, opset);
    let mut inputs = vec![x2];
    if matches!(op, OnnxOp::Conv | OnnxOp::ConvTranspose) {
        let w = g.input(id, 1)?;
        inputs.push(lift_weight(g, w, &name, opset));
        if let Some(b) = g.input(id, 2) {
            inputs.push(b);
        }
    }
    let y2 = g
        .op(op, &inputs)
        .out(format!("{name}_2d"))
        .attrs(attrs)
        .value();
    Some(finish_lift(g, id, x2, y2, opset))
}

/// Ends a lift: `y2` (the 2-D op, channels last) squeezed back to 1-D takes over node `id`'s
/// result. Returns the unsqueeze of the input and the squeeze made.
fn finish_lift(
    g: &mut Builder<'_>,
    id: NodeId,
    x2: ValueRef,
    y2: ValueRef,
    opset: i64,
) -> (Option<NodeId>, NodeId) {
    g.node_mut(y2.node).layout = Some(Layout::Nhwc);
    let name = g.node(id).name.clone();
    let y = unit_axis(g, OnnxOp::Squeeze, &name, y2, opset);
    g.replace_node(id, y);
    (Some(x2.node), y.node)
}

/// A 1-D `Resize` ([N, L, C] after the layout pass; constant scales or sizes, no roi, no
/// `axes`) as a 2-D one over [N, 1, L, C]: the unit axis gets scale 1 / size 1.
fn lift_resize(
    g: &mut Builder<'_>,
    id: NodeId,
    x: ValueRef,
    opset: i64,
) -> Option<(Option<NodeId>, NodeId)> {
    let node = g.node(id);
    let (name, mut attrs) = (node.name.clone(), node.attrs.clone());
    let (roi, scales, sizes) = (g.input(id, 1), g.input(id, 2), g.input(id, 3));
    let empty = |v: Option<ValueRef>| {
        v.is_none_or(|v| const_tensor(g, v).is_some_and(|t| t.dims.iter().product::<u64>() == 0))
    };
    if !empty(roi) {
        return None;
    }
    let scales = scales.filter(|&v| !empty(Some(v)));
    // With `axes` (opset 18) the lists are per listed axis: only the axes move.
    if let Some(Attr::Ints(axes)) = node.attrs.get("axes") {
        let moved: Option<Vec<i64>> = axes
            .iter()
            .map(|&a| match if a < 0 { a + 3 } else { a } {
                0 => Some(0),
                a @ 1..=2 => Some(a + 1),
                _ => None,
            })
            .collect();
        attrs.set("axes", Attr::Ints(moved?));
        let x2 = unit_axis(g, OnnxOp::Unsqueeze, &format!("{name}_2d"), x, opset);
        let slots = [Some(x2), roi, scales, sizes];
        let used = if sizes.is_some() { 4 } else { 3 };
        let y2 = g
            .op_opt(OnnxOp::Resize, &slots[..used])
            .out(format!("{name}_2d"))
            .attrs(attrs)
            .value();
        return Some(finish_lift(g, id, x2, y2, opset));
    }
    let lifted = match (scales, sizes) {
        (Some(v), None) => {
            let f = float_const(g, v)?;
            let [n, l, c] = f.values[..] else { return None };
            (
                2,
                g.constant(
                    &format!("{name}_scales_2d"),
                    float_tensor(f.dtype, vec![4], &[n, 1.0, l, c]),
                ),
            )
        }
        (None, Some(v)) => {
            let [n, l, c] = const_ints(g, v)?[..] else {
                return None;
            };
            (3, g.const_i64s(&format!("{name}_sizes_2d"), &[n, 1, l, c]))
        }
        _ => return None,
    };
    let x2 = unit_axis(g, OnnxOp::Unsqueeze, &format!("{name}_2d"), x, opset);
    let mut slots: Vec<Option<ValueRef>> = vec![Some(x2), None, None, None];
    slots[lifted.0] = Some(lifted.1);
    slots.truncate(lifted.0 + 1);
    let y2 = g
        .op_opt(OnnxOp::Resize, &slots)
        .out(format!("{name}_2d"))
        .attrs(attrs)
        .value();
    Some(finish_lift(g, id, x2, y2, opset))
}

/// Whether `id` computes each element from the same element of its first input alone (unary
/// activations, and Clip / Q / DQ with one-element further inputs), so a reshape commutes
/// with it.
fn elementwise_unary(g: &Graph, id: NodeId) -> bool {
    let scalar_params = || {
        g.inputs_of(id)
            .iter()
            .skip(1)
            .flatten()
            .all(|&v| const_tensor(g, v).is_some_and(|t| t.dims.iter().product::<u64>() == 1))
    };
    let ok = match g.node(id).op.onnx() {
        Some(
            OnnxOp::Relu
            | OnnxOp::LeakyRelu
            | OnnxOp::Sigmoid
            | OnnxOp::Tanh
            | OnnxOp::HardSwish
            | OnnxOp::HardSigmoid,
        ) => true,
        Some(OnnxOp::Clip | OnnxOp::QuantizeLinear | OnnxOp::DequantizeLinear) => scalar_params(),
        _ => false,
    };
    ok && extra_outputs_unused(g, id)
}

/// Swaps `a` and `b`, where `b` is the only reader of `a`'s result (on its first input) and
/// both are unary on their first input: `x → a → b → readers` becomes `x → b → a → readers`.
/// The value the readers see keeps its name and type; `b`'s result is new (its type is
/// left to inference).
fn swap_unary(g: &mut Builder<'_>, a: NodeId, b: NodeId) {
    let (Some(x), a_out, b_out) = (g.input(a, 0), ValueRef::new(a, 0), ValueRef::new(b, 0)) else {
        return;
    };
    let readers = g.users(b_out);
    g.connect(x, b, 0);
    g.connect(b_out, a, 0);
    for (reader, slot) in readers {
        g.connect(a_out, reader, slot);
    }
    let outputs = g
        .outputs()
        .iter()
        .map(|&o| if o == b_out { a_out } else { o })
        .collect();
    g.set_outputs(outputs);
    let (name, ty) = match g.value(b_out) {
        Some(v) => (v.name.clone(), v.ty.clone()),
        None => return,
    };
    let fresh = g.fresh(&format!("{name}_2d"));
    if let Some(v) = g.value_mut(b_out) {
        v.name = fresh;
        v.ty = None;
    }
    if let Some(v) = g.value_mut(a_out) {
        v.name = name;
        v.ty = ty;
    }
}

/// Moves squeeze `s` after the elementwise ops that read it alone.
fn sink_squeeze(g: &mut Builder<'_>, s: NodeId) {
    loop {
        let out = ValueRef::new(s, 0);
        if g.outputs().contains(&out) {
            return;
        }
        match only_user(g, out) {
            Some((next, 0)) if elementwise_unary(g, next) => swap_unary(g, s, next),
            _ => return,
        }
    }
}

/// Moves unsqueeze `u` before the elementwise ops whose result only it reads.
fn hoist_unsqueeze(g: &mut Builder<'_>, u: NodeId) {
    while let Some(x) = g.input(u, 0) {
        let prev = x.node;
        let alone = only_user(g, x).is_some() && !g.outputs().contains(&x);
        if !alone || !elementwise_unary(g, prev) {
            return;
        }
        swap_unary(g, prev, u);
    }
}

/// Removes an unsqueeze (at axis 1) of a squeeze's result (at axis 1): its readers read the
/// squeeze's input instead.
fn cancel_unsqueeze(g: &mut Builder<'_>, u: NodeId) {
    let Some(x) = g.try_node(u).and_then(|_| g.input(u, 0)) else {
        return;
    };
    if g.node(x.node).op.onnx() != Some(OnnxOp::Squeeze) {
        return;
    }
    let (Some(inner), Some(ux), Some(sx)) = (g.input(x.node, 0), axes_of(g, u), axes_of(g, x.node))
    else {
        return;
    };
    if ux != [1] || sx != [1] {
        return;
    }
    g.replace_uses(ValueRef::new(u, 0), inner);
    remove_with_dead_consts(g, &[u]);
    let sq = ValueRef::new(x.node, 0);
    if g.users(sq).is_empty() && !g.outputs().contains(&sq) {
        remove_with_dead_consts(g, &[x.node]);
    }
}

/// The axes of an Unsqueeze / Squeeze (attribute or constant input).
fn axes_of(g: &Graph, id: NodeId) -> Option<Vec<i64>> {
    match g.input(id, 1) {
        Some(a) => const_ints(g, a),
        None => g.node(id).attrs.ints("axes", vec![]).ok(),
    }
}

/// Data-movement ops that run on integers as they do on floats (each output element is an
/// input element).
fn moves_data(op: Option<OnnxOp>) -> bool {
    matches!(
        op,
        Some(
            OnnxOp::Transpose
                | OnnxOp::Reshape
                | OnnxOp::Flatten
                | OnnxOp::Squeeze
                | OnnxOp::Unsqueeze
        )
    )
}

/// `DequantizeLinear → Transpose/Reshape/… → float readers` becomes `DequantizeLinear →
/// Transpose/… → QuantizeLinear → DequantizeLinear → readers`, with the first pair's
/// per-tensor scale and zero point: exact (re-quantizing a moved element with the same
/// parameters gives the same integer), and the op then runs on the int8 tensor. Without it
/// the TRANSPOSE the layout pass puts between a quantized feature map and its Flatten (a
/// dense layer over an NHWC map), and every op after it up to the next QUANTIZE, ran in
/// float on the CPU of an integer-only accelerator. Graph outputs are left alone (their
/// names and types are the model's).
pub(crate) fn requantize_movement(g: &mut Graph) {
    let Ok(order) = g.topo_order() else {
        return;
    };
    for id in order {
        if !moves_data(g.node(id).op.onnx()) {
            continue;
        }
        let Some(x) = g.input(id, 0) else {
            continue;
        };
        let dq = x.node;
        if g.node(dq).op.onnx() != Some(OnnxOp::DequantizeLinear) {
            continue;
        }
        let Some(scale) = g.input(dq, 1) else {
            continue;
        };
        let per_tensor =
            |v: ValueRef| const_tensor(g, v).is_some_and(|t| t.dims.iter().product::<u64>() == 1);
        let zero_point = g.input(dq, 2);
        // An integer feature map (a constant's DequantizeLinear is folded elsewhere).
        let activation = g.input(dq, 0).is_some_and(|q| const_tensor(g, q).is_none());
        if !activation || !per_tensor(scale) || !zero_point.is_none_or(per_tensor) {
            continue;
        }
        let out = ValueRef::new(id, 0);
        let readers = g.users(out);
        let requantized = matches!(
            readers[..],
            [(r, 0)] if g.node(r).op.onnx() == Some(OnnxOp::QuantizeLinear)
        );
        if requantized || readers.is_empty() || g.outputs().contains(&out) {
            continue;
        }
        let mut b = Builder::new(g);
        let name = b.value(out).map(|v| v.name.clone()).unwrap_or_default();
        let mut inputs = vec![out, scale];
        inputs.extend(zero_point);
        let q = (b.op(OnnxOp::QuantizeLinear, &inputs))
            .out(format!("{name}_Q"))
            .stands_for(out)
            .value();
        inputs[0] = q;
        let back = (b.op(OnnxOp::DequantizeLinear, &inputs))
            .out(format!("{name}_DQ"))
            .stands_for(out)
            .value();
        for (reader, slot) in readers {
            b.connect(back, reader, slot);
        }
    }
}

/// The import's fixed-point form of an int16 SOFTMAX (`import::softmax16`: int64 arithmetic
/// from the input's integers to the output's dequantized value, which onnxruntime runs bit
/// for bit as LiteRT does) → `Softmax` of the float input again, which the writer lowers to
/// SOFTMAX between the tensors' int16 quantization as TFLite has it. The region is found by
/// its exp table; beta is read back from the rescale constants. Returns whether one was
/// rewritten.
pub(crate) fn int16_softmax(g: &mut Graph) -> bool {
    let ids: Vec<NodeId> = g.node_ids().collect();
    let mut found = Vec::new();
    for id in ids {
        if g.node(id).op.onnx() != Some(OnnxOp::Gather) {
            continue;
        }
        let Some(table) = g.input(id, 0) else {
            continue;
        };
        let is_table = const_tensor(g, table)
            .filter(|t| t.dtype == DType::I64 && t.element_count() == Some(65536))
            .and_then(modelc_ir::infer::tensor_ints)
            .is_some_and(|v| crate::import::softmax16::is_exp_table(&v));
        if is_table {
            found.extend(int16_softmax_region(g, id));
        }
    }
    let changed = !found.is_empty();
    let mut b = Builder::new(g);
    for r in found {
        let x = if (r.beta - 1.0).abs() < 1e-6 {
            r.x
        } else {
            let beta = b.const_f32("softmax_beta", r.beta as f32);
            b.op(OnnxOp::Mul, &[r.x, beta]).value()
        };
        let y = b.op(OnnxOp::Softmax, &[x]).int("axis", -1).value();
        // The region's nodes are unread now; the writer's `dce` drops them.
        b.take_over(r.out, y);
    }
    changed
}

/// What [`int16_softmax`] needs of one region: its float input (the QuantizeLinear's),
/// its last value (the output's dequantized value) and beta.
struct Int16Softmax {
    x: ValueRef,
    out: ValueRef,
    beta: f64,
}

/// The region around the exp table's `Gather` `exp`: downstream through the final rounding
/// shift to the `Mul` by the output scale, upstream through the rescale (`Mul` by the
/// multiplier, `Div`s by powers of two) to `max - q` and q's QuantizeLinear.
fn int16_softmax_region(g: &Graph, exp: NodeId) -> Option<Int16Softmax> {
    let onnx = |v: ValueRef| g.node(v.node).op.onnx();
    // Downstream: exp · reciprocal, + round, / 2^right, min 32767, cast, · output scale.
    let (product, _) = g
        .users(ValueRef::new(exp, 0))
        .into_iter()
        .find(|&(u, _)| g.node(u).op.onnx() == Some(OnnxOp::Mul))?;
    let mut v = ValueRef::new(product, 0);
    let out = loop {
        let (user, _) = only_user(g, v)?;
        let next = ValueRef::new(user, 0);
        match g.node(user).op.onnx()? {
            OnnxOp::Add | OnnxOp::Div | OnnxOp::Min | OnnxOp::Cast => v = next,
            OnnxOp::Mul if scalar_const(g, g.input(user, 1)?).is_some() => break next,
            _ => return None,
        }
    };
    // Upstream: min 65535, then the rescale's floor divisions and the multiplier.
    let mut v = g.input(exp, 1)?;
    let mut divisor = 1.0f64;
    let multiplier = loop {
        let node = v.node;
        match onnx(v)? {
            OnnxOp::Min | OnnxOp::Add => v = g.input(node, 0)?,
            OnnxOp::Div => {
                divisor *= *const_ints(g, g.input(node, 1)?)?.first()? as f64;
                v = g.input(node, 0)?;
            }
            OnnxOp::Mul => {
                let m = *const_ints(g, g.input(node, 1)?)?.first()? as f64;
                v = g.input(node, 0)?;
                break m;
            }
            _ => return None,
        }
    };
    // max - q, q = Cast(QuantizeLinear(x, scale, 0)).
    if onnx(v)? != OnnxOp::Sub {
        return None;
    }
    let q = g.input(v.node, 1)?;
    if onnx(q)? != OnnxOp::Cast {
        return None;
    }
    let quantize = g.input(q.node, 0)?;
    if onnx(quantize)? != OnnxOp::QuantizeLinear {
        return None;
    }
    let x = g.input(quantize.node, 0)?;
    let scale = scalar_const(g, g.input(quantize.node, 1)?)?;
    // SoftmaxPrepare's rescale is scale · beta / (10 / 65535).
    let rescale = multiplier / divisor;
    let beta = rescale * (10.0 / 65535.0) / scale;
    Some(Int16Softmax { x, out, beta })
}
