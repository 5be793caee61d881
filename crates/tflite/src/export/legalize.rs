//! Rewrites, on the exporter's private copy of the graph, of ops TFLite has no builtin for
//! into ops it has — the forms TensorFlow's converter emits for them:
//! - `BatchNormalization` not folded into a convolution (DenseNet's pre-activation BN) →
//!   `Mul` + `Add` with per-channel constants (MUL, ADD);
//! - `HardSigmoid` (MobileNetV3's squeeze-excitation gate) → `Mul` + `Add` + `Clip(0, 1)`
//!   (MUL, ADD, RELU_0_TO_1);
//! - `LayerNormalization` (opset 17+) → mean and variance over the normalized axes with
//!   `ReduceMean`, then `Sub`, `Div` by `Sqrt(var + epsilon)`, `Mul` by the scale and `Add`
//!   of the bias (MEAN, SUB, MUL, ADD, SQRT, DIV);
//! - `Softmax` / `LogSoftmax` before opset 13, which normalize over every axis from `axis`
//!   (default 1) on: the axis made explicit, and when it is not the last, the input
//!   flattened there (`Reshape`, softmax over the last axis, `Reshape` back);
//! - the erf form of GELU that opsets before 20 export → `Gelu` (GELU): the `fuse-gelu`
//!   pattern, run whatever opset the model imports, since this graph is only lowered.
//!
//! After the layout pass, [`flatten_nhwc`] lets a dense layer read an NHWC feature map
//! directly (its weight permuted) instead of through a TRANSPOSE back to NCHW.
//!
//! Each rewrite keeps the op when its inputs are not what it needs (non-constant BN
//! statistics, unknown rank), so lowering reports it as unsupported with its name.

use modelc_ir::{Attr, Attrs, DType, Graph, Layout, NodeId, OnnxOp, OpsetImport, ValueRef};
use modelc_passes::passes::fuse_conv_bn::bn_affine;
use modelc_passes::passes::fuse_gelu::FuseGelu;
use modelc_passes::pattern::{
    add_const, add_onnx_node, const_tensor, extra_outputs_unused, float_tensor, fresh_name,
    only_user, rank_of, remove_with_dead_consts, set_const_if_unshared, take_over,
};
use modelc_passes::util::const_ints;
use modelc_passes::{Pass, PassContext};

/// Applies every rewrite to the top-level graph (TFLite export has no sub-graphs).
pub(crate) fn decompose(g: &mut Graph, opset: i64) {
    let ids: Vec<NodeId> = g.node_ids().collect();
    for id in ids {
        let Some(op) = g.try_node(id).and_then(|n| n.op.onnx()) else {
            continue;
        };
        match op {
            OnnxOp::BatchNormalization => batch_norm(g, id),
            OnnxOp::HardSigmoid if opset >= 11 => hard_sigmoid(g, id),
            OnnxOp::LayerNormalization => layer_norm(g, id, opset),
            OnnxOp::Softmax | OnnxOp::LogSoftmax if opset < 13 => legacy_softmax(g, id, op),
            _ => {}
        }
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

fn scalar(g: &mut Graph, name: &str, v: f64) -> ValueRef {
    add_const(g, name, float_tensor(DType::F32, vec![], &[v]))
}

/// A 1-D int64 constant (shapes, axes).
fn i64_const(g: &mut Graph, name: &str, values: &[i64]) -> ValueRef {
    let t = modelc_ir::Tensor::from_i64(vec![values.len() as u64], values).expect("sizes match");
    add_const(g, name, t)
}

/// [`add_onnx_node`] with its result named `name` (made unique): lowering names TFLite
/// tensors after values.
fn op_node(g: &mut Graph, op: OnnxOp, name: &str, inputs: &[ValueRef], attrs: Attrs) -> ValueRef {
    let v = add_onnx_node(g, op, name, inputs, attrs);
    let unique = fresh_name(g, name);
    g.value_mut(v).expect("just added").name = unique;
    v
}

/// Replaces node `old`'s first result by `new` and removes `old`.
fn finish(g: &mut Graph, old: NodeId, new: ValueRef) {
    take_over(g, ValueRef::new(old, 0), new);
    remove_with_dead_consts(g, &[old]);
}

fn batch_norm(g: &mut Graph, id: NodeId) {
    let node = g.node(id);
    if !matches!(node.layout, None | Some(Layout::Nchw)) {
        return;
    }
    let (Some(x), Some(affine)) = (g.input(id, 0), bn_affine(g, id)) else {
        return;
    };
    let Some(rank) = rank_of(g, x).filter(|&r| r >= 2) else {
        return;
    };
    let name = node.name.clone();
    // Per-channel constants broadcast over [N, C, spatial...].
    let mut dims = vec![affine.s.len() as u64];
    dims.resize(rank - 1, 1);
    let s = add_const(
        g,
        &format!("{name}_scale"),
        float_tensor(affine.dtype, dims.clone(), &affine.s),
    );
    let t = add_const(
        g,
        &format!("{name}_shift"),
        float_tensor(affine.dtype, dims, &affine.t),
    );
    let mul = op_node(
        g,
        OnnxOp::Mul,
        &format!("{name}_mul"),
        &[x, s],
        Attrs::default(),
    );
    let add = op_node(g, OnnxOp::Add, &name, &[mul, t], Attrs::default());
    finish(g, id, add);
}

fn hard_sigmoid(g: &mut Graph, id: NodeId) {
    let node = g.node(id);
    let (Ok(alpha), Ok(beta)) = (
        node.attrs.float("alpha", 0.2),
        node.attrs.float("beta", 0.5),
    ) else {
        return;
    };
    let Some(x) = g.input(id, 0) else {
        return;
    };
    if g.dtype_of(x) != Some(DType::F32) {
        return;
    }
    let name = node.name.clone();
    let a = scalar(g, &format!("{name}_alpha"), alpha as f64);
    let b = scalar(g, &format!("{name}_beta"), beta as f64);
    let (lo, hi) = (
        scalar(g, &format!("{name}_lo"), 0.0),
        scalar(g, &format!("{name}_hi"), 1.0),
    );
    let mul = op_node(
        g,
        OnnxOp::Mul,
        &format!("{name}_mul"),
        &[x, a],
        Attrs::default(),
    );
    let add = op_node(
        g,
        OnnxOp::Add,
        &format!("{name}_add"),
        &[mul, b],
        Attrs::default(),
    );
    let clip = op_node(g, OnnxOp::Clip, &name, &[add, lo, hi], Attrs::default());
    finish(g, id, clip);
}

fn legacy_softmax(g: &mut Graph, id: NodeId, op: OnnxOp) {
    let Some(x) = g.input(id, 0) else { return };
    let dims: Option<Vec<u64>> = g
        .value(x)
        .and_then(|v| v.ty.as_ref())
        .and_then(|t| t.ty.as_tensor())
        .and_then(|t| t.shape.as_ref())
        .and_then(|s| s.0.iter().map(|d| d.known()).collect());
    let rank = dims.as_ref().map(|d| d.len()).or_else(|| rank_of(g, x));
    let Some(rank) = rank.map(|r| r as i64) else {
        return;
    };
    let Ok(axis) = g.node(id).attrs.int("axis", 1) else {
        return;
    };
    let axis = if axis < 0 { axis + rank } else { axis };
    if !(0..rank).contains(&axis) {
        return;
    }
    // Explicit from here on: the lowering's default is opset 13's (the last axis).
    g.node_mut(id).attrs.set("axis", Attr::Int(axis));
    let Some(dims) = dims else { return };
    if axis == rank - 1 || !extra_outputs_unused(g, id) {
        return;
    }
    let name = g.node(id).name.clone();
    let outer: u64 = dims[..axis as usize].iter().product();
    let inner: u64 = dims[axis as usize..].iter().product();
    let flat_shape = i64_const(g, &format!("{name}_2d"), &[outer as i64, inner as i64]);
    let back_shape = i64_const(
        g,
        &format!("{name}_shape"),
        &dims.iter().map(|&d| d as i64).collect::<Vec<_>>(),
    );
    let flat = op_node(
        g,
        OnnxOp::Reshape,
        &format!("{name}_flat"),
        &[x, flat_shape],
        Attrs::default(),
    );
    let mut attrs = Attrs::default();
    attrs.set("axis", Attr::Int(1));
    let soft = op_node(g, op, &format!("{name}_2d"), &[flat], attrs);
    let out = op_node(
        g,
        OnnxOp::Reshape,
        &format!("{name}_nd"),
        &[soft, back_shape],
        Attrs::default(),
    );
    finish(g, id, out);
}

fn layer_norm(g: &mut Graph, id: NodeId, opset: i64) {
    let node = g.node(id);
    let (Ok(axis), Ok(eps)) = (
        node.attrs.int("axis", -1),
        node.attrs.float("epsilon", 1e-5),
    ) else {
        return;
    };
    if !extra_outputs_unused(g, id) {
        return;
    }
    let ins = g.inputs_of(id);
    let (Some(x), Some(scale)) = (
        ins.first().copied().flatten(),
        ins.get(1).copied().flatten(),
    ) else {
        return;
    };
    let bias = ins.get(2).copied().flatten();
    let Some(rank) = rank_of(g, x) else {
        return;
    };
    if g.dtype_of(x) != Some(DType::F32) {
        return;
    }
    let first = if axis < 0 { axis + rank as i64 } else { axis };
    if first < 0 || first >= rank as i64 {
        return;
    }
    let axes: Vec<i64> = (first..rank as i64).collect();
    let name = node.name.clone();
    let axes_const = (opset >= 18).then(|| i64_const(g, &format!("{name}_axes"), &axes));
    let mean_of = |g: &mut Graph, v: ValueRef, suffix: &str| {
        let mut attrs = Attrs::default();
        attrs.set("keepdims", Attr::Int(1));
        let mut inputs = vec![v];
        match axes_const {
            Some(a) => inputs.push(a),
            None => attrs.set("axes", Attr::Ints(axes.clone())),
        }
        op_node(
            g,
            OnnxOp::ReduceMean,
            &format!("{name}_{suffix}"),
            &inputs,
            attrs,
        )
    };
    let mean = mean_of(g, x, "mean");
    let d = op_node(
        g,
        OnnxOp::Sub,
        &format!("{name}_centered"),
        &[x, mean],
        Attrs::default(),
    );
    let sq = op_node(
        g,
        OnnxOp::Mul,
        &format!("{name}_square"),
        &[d, d],
        Attrs::default(),
    );
    let var = mean_of(g, sq, "variance");
    let e = scalar(g, &format!("{name}_epsilon"), eps as f64);
    let ve = op_node(
        g,
        OnnxOp::Add,
        &format!("{name}_add_epsilon"),
        &[var, e],
        Attrs::default(),
    );
    let sd = op_node(
        g,
        OnnxOp::Sqrt,
        &format!("{name}_std"),
        &[ve],
        Attrs::default(),
    );
    let n = op_node(
        g,
        OnnxOp::Div,
        &format!("{name}_normalized"),
        &[d, sd],
        Attrs::default(),
    );
    let mut y = op_node(
        g,
        OnnxOp::Mul,
        &format!("{name}_scaled"),
        &[n, scale],
        Attrs::default(),
    );
    if let Some(b) = bias {
        y = op_node(g, OnnxOp::Add, &name, &[y, b], Attrs::default());
    }
    finish(g, id, y);
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
