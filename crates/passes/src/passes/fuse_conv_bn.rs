//! `fuse-conv-bn`: folds an inference-mode `BatchNormalization` into the `Conv`,
//! `ConvTranspose` or `Gemm` that feeds it, or into a 2-D `MatMul` with a constant weight
//! (which becomes a `Gemm`).
//!
//! BN computes `y = (x - mean) * s + beta` with `s = scale / sqrt(var + epsilon)` per channel.
//! After a Conv/ConvTranspose (NCHW or NHWC, per the IR's layout convention: the weight's
//! output-channel axis is 0, except NCHW ConvTranspose `[C_in, M/group, k...]`) or a Gemm
//! (BN over `[N, M]`, channel axis 1), the weight's output channels are scaled by `s` and
//! the bias becomes `(bias - mean) * s + beta`. Arithmetic is done in f64 and rounded once
//! to the weight's dtype (f32 or f64).
//!
//! Conditions: BN in inference (`training_mode` 0, `spatial` not 0, no mean/var outputs
//! read), every BN parameter and the weight constant with the shapes above, the producer's
//! result read only by the BN, the weight read only by the producer (a shared weight would
//! be duplicated, making the model bigger), and the BN's layout equal to the producer's.
//! BN parameters may be shared (duplicate-constant sharing merges the identical statistics
//! of untrained models): the new bias (M values) is then smaller than the four M-value
//! parameters that BN had in the input model.

use modelc_ir::{Attr, Builder, DType, Graph, Layout, NodeId, OnnxOp, Op, ValueRef};

use crate::pattern::{
    extra_outputs_unused, float_const, float_tensor, rank_of, remove_with_dead_consts,
    rewrite_nodes, set_const_if_unshared, single_use, take_over, FloatConst,
};
use crate::{Changed, Pass, PassContext, PassError};

pub struct FuseConvBn;

impl Pass for FuseConvBn {
    fn name(&self) -> &'static str {
        "fuse-conv-bn"
    }

    fn description(&self) -> &'static str {
        "fold inference BatchNormalization into the Conv, ConvTranspose, Gemm or MatMul before it"
    }

    fn run(&self, g: &mut Graph, _cx: &mut PassContext) -> Result<Changed, PassError> {
        Ok(Changed::from_bool(rewrite_nodes(
            g,
            &[OnnxOp::BatchNormalization],
            fuse_one,
        )))
    }
}

/// BN's per-channel affine map `y = x * s + t`, from constant parameters.
pub struct Affine {
    pub dtype: DType,
    pub s: Vec<f64>,
    pub t: Vec<f64>,
}

/// The affine map of inference BatchNormalization `bn` with constant parameters of one
/// dtype; `None` in training mode, when its mean/variance outputs are read, or for
/// non-constant parameters.
pub fn bn_affine(g: &Graph, bn: NodeId) -> Option<Affine> {
    let node = g.node(bn);
    if node.attrs.int("training_mode", 0).ok()? != 0
        || node.attrs.int("spatial", 1).ok()? == 0
        || node.attrs.contains("is_test") && node.attrs.int("is_test", 1).ok()? == 0
        || !extra_outputs_unused(g, bn)
    {
        return None;
    }
    let eps = node.float("epsilon").ok()? as f64;
    let ins = g.inputs_of(bn);
    let param = |i: usize| -> Option<FloatConst> { float_const(g, (*ins.get(i)?)?) };
    let (scale, beta, mean, var) = (param(1)?, param(2)?, param(3)?, param(4)?);
    let m = scale.values.len();
    let dtype = scale.dtype;
    for p in [&scale, &beta, &mean, &var] {
        if p.dims != [m as u64] || p.dtype != dtype {
            return None;
        }
    }
    let mut s = Vec::with_capacity(m);
    let mut t = Vec::with_capacity(m);
    for c in 0..m {
        let sc = scale.values[c] / (var.values[c] + eps).sqrt();
        s.push(sc);
        t.push(beta.values[c] - mean.values[c] * sc);
    }
    Some(Affine { dtype, s, t })
}

fn fuse_one(g: &mut Graph, bn: NodeId) -> bool {
    let Some(x) = g.input(bn, 0) else {
        return false;
    };
    if !single_use(g, x) || x.slot != 0 {
        return false;
    }
    let prod = x.node;
    let Some(op) = g.node(prod).op.onnx() else {
        return false;
    };
    if !matches!(
        op,
        OnnxOp::Conv | OnnxOp::ConvTranspose | OnnxOp::Gemm | OnnxOp::MatMul
    ) {
        return false;
    }
    let Some(aff) = bn_affine(g, bn) else {
        return false;
    };
    let ok = match op {
        OnnxOp::Gemm => fold_into_gemm(g, prod, &aff),
        OnnxOp::MatMul => fold_into_matmul(g, prod, &aff),
        _ => fold_into_conv(g, prod, op, bn, &aff),
    };
    if ok {
        take_over(g, ValueRef::new(bn, 0), x);
        remove_with_dead_consts(g, &[bn]);
    }
    ok
}

/// The number of output channels of a Conv/ConvTranspose with weight `dims`.
pub(crate) fn conv_out_channels(
    op: OnnxOp,
    layout: Layout,
    dims: &[u64],
    group: i64,
) -> Option<u64> {
    match (op, layout) {
        (OnnxOp::ConvTranspose, Layout::Nchw) => {
            dims.get(1)?.checked_mul(u64::try_from(group).ok()?)
        }
        _ => dims.first().copied(),
    }
}

/// For each element of a conv weight of `dims`, its output channel.
fn out_channel_map(op: OnnxOp, layout: Layout, dims: &[u64], group: u64) -> Option<Vec<usize>> {
    let count: u64 = dims.iter().product();
    let mut map = Vec::with_capacity(count as usize);
    if op == OnnxOp::ConvTranspose && layout == Layout::Nchw {
        // [C_in, M/group, k...]: channel c of group c / (C_in/group) feeds outputs
        // group_index * M/group + j.
        let (c_in, per_group) = (*dims.first()?, *dims.get(1)?);
        if group == 0 || c_in % group != 0 {
            return None;
        }
        let k: u64 = dims[2..].iter().product();
        for i in 0..count {
            let c = i / (per_group * k);
            let j = (i / k) % per_group;
            map.push(((c / (c_in / group)) * per_group + j) as usize);
        }
    } else {
        let inner: u64 = dims[1..].iter().product();
        for i in 0..count {
            map.push((i / inner) as usize);
        }
    }
    Some(map)
}

fn fold_into_conv(g: &mut Graph, conv: NodeId, op: OnnxOp, bn: NodeId, aff: &Affine) -> bool {
    let node = g.node(conv);
    let (Some(layout), Some(bn_layout)) = (node.layout, g.node(bn).layout) else {
        return false;
    };
    let Ok(group) = node.attrs.int("group", 1) else {
        return false;
    };
    let ins = g.inputs_of(conv);
    let Some(Some(wv)) = ins.get(1).copied() else {
        return false;
    };
    let Some(w) = float_const(g, wv) else {
        return false;
    };
    let m = aff.s.len();
    let out_channels = conv_out_channels(op, layout, &w.dims, group);
    if bn_layout != layout
        || w.dtype != aff.dtype
        || w.dims.len() < 3
        || group < 1
        || out_channels != Some(m as u64)
        || !single_use(g, wv)
    {
        return false;
    }
    let bias_in = ins.get(2).copied().flatten();
    let bias = match bias_in {
        Some(b) => match float_const(g, b) {
            Some(b) if b.dims == [m as u64] && b.dtype == aff.dtype => b.values,
            _ => return false,
        },
        None => vec![0.0; m],
    };
    let Some(map) = out_channel_map(op, layout, &w.dims, group as u64) else {
        return false;
    };
    let new_w: Vec<f64> = w
        .values
        .iter()
        .zip(&map)
        .map(|(v, &c)| v * aff.s[c])
        .collect();
    let new_b: Vec<f64> = (0..m).map(|c| bias[c] * aff.s[c] + aff.t[c]).collect();
    set_const_if_unshared(g, wv, float_tensor(w.dtype, w.dims.clone(), &new_w));
    set_bias(
        g,
        conv,
        2,
        bias_in,
        float_tensor(aff.dtype, vec![m as u64], &new_b),
    );
    true
}

/// Makes input `slot` of `node` the constant `t`: in place when the old bias constant is
/// read only here, else as a new constant (widening `num_inputs` when the slot was omitted).
pub(crate) fn set_bias(
    g: &mut Graph,
    node: NodeId,
    slot: usize,
    old: Option<ValueRef>,
    t: modelc_ir::Tensor,
) {
    if let Some(b) = old {
        if set_const_if_unshared(g, b, t.clone()) {
            return;
        }
    }
    let base = match old {
        Some(b) => g.value(b).map(|v| v.name.clone()).unwrap_or_default(),
        None => {
            let out = &g.node(node).outputs[0].name;
            format!("{out}_bias")
        }
    };
    let c = Builder::new(g).constant(&base, t);
    let n = g.node_mut(node);
    if n.num_inputs <= slot {
        n.num_inputs = slot + 1;
    }
    g.connect(c, node, slot);
}

/// A 2-D `MatMul(A, B)` with a constant B is a `Gemm` without C: it becomes one, with the
/// BN folded into B and a new C.
fn fold_into_matmul(g: &mut Graph, mm: NodeId, aff: &Affine) -> bool {
    let (Some(a), Some(b)) = (g.input(mm, 0), g.input(mm, 1)) else {
        return false;
    };
    let b_is_matrix = float_const(g, b).is_some_and(|b| b.dims.len() == 2);
    if rank_of(g, a) != Some(2) || !b_is_matrix {
        return false;
    }
    g.node_mut(mm).op = Op::Onnx(OnnxOp::Gemm);
    if fold_into_gemm(g, mm, aff) {
        return true;
    }
    g.node_mut(mm).op = Op::Onnx(OnnxOp::MatMul);
    false
}

fn fold_into_gemm(g: &mut Graph, gemm: NodeId, aff: &Affine) -> bool {
    let node = g.node(gemm);
    let attrs = &node.attrs;
    // alpha and transA scale and shape A's side only; the fold touches B and C.
    let (Ok(beta), Ok(trans_b)) = (node.float("beta"), attrs.int("transB", 0)) else {
        return false;
    };
    let ins = g.inputs_of(gemm);
    let Some(Some(bv)) = ins.get(1).copied() else {
        return false;
    };
    let Some(b) = float_const(g, bv) else {
        return false;
    };
    let m = aff.s.len();
    if b.dims.len() != 2 || b.dtype != aff.dtype || !single_use(g, bv) {
        return false;
    }
    // Column m of op(B) is row m of B when transposed, column m otherwise.
    let (rows, cols) = (b.dims[0] as usize, b.dims[1] as usize);
    let out = if trans_b != 0 { rows } else { cols };
    if out != m {
        return false;
    }
    // BN over a rank-2 input uses axis 1 whatever the layout.
    let c_in = ins.get(2).copied().flatten();
    let c = match c_in {
        None => vec![0.0; m],
        Some(cv) => {
            let Some(c) = float_const(g, cv) else {
                return false;
            };
            let per_column = match c.dims.as_slice() {
                [] | [1] | [1, 1] => c.values.len() == 1,
                [d] | [1, d] => *d as usize == m,
                _ => false,
            };
            if !per_column || c.dtype != aff.dtype {
                return false;
            }
            (0..m)
                .map(|j| beta as f64 * c.values[if c.values.len() == 1 { 0 } else { j }])
                .collect()
        }
    };
    let new_b: Vec<f64> = b
        .values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let j = if trans_b != 0 { i / cols } else { i % cols };
            v * aff.s[j]
        })
        .collect();
    let new_c: Vec<f64> = (0..m).map(|j| c[j] * aff.s[j] + aff.t[j]).collect();
    set_const_if_unshared(g, bv, float_tensor(b.dtype, b.dims.clone(), &new_b));
    // The new C is per column [M] and already includes beta.
    set_bias(
        g,
        gemm,
        2,
        c_in,
        float_tensor(aff.dtype, vec![m as u64], &new_c),
    );
    if beta != 1.0 {
        g.node_mut(gemm).attrs.set("beta", Attr::Float(1.0));
    }
    true
}
