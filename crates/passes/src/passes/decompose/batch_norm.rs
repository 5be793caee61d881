//! `decompose-batch-norm`: `BatchNormalization` not folded into a convolution (DenseNet's
//! pre-activation BN) → `Mul` + `Add` with per-channel constants, when its statistics are
//! constants (else it stays, for the writer to report).

use modelc_ir::{Builder, Layout, NodeId, OnnxOp};

use super::{base_name, Decompose};
use crate::passes::fuse_conv_bn::bn_affine;
use crate::pattern::{float_tensor, rank_of};

pub const PASS: Decompose = Decompose {
    name: "decompose-batch-norm",
    description: "BatchNormalization with constant statistics → Mul + Add by per-channel constants",
    ops: &[OnnxOp::BatchNormalization],
    opsets: 0..=i64::MAX,
    rewrite: |g, id, _, _| batch_norm(g, id),
};

fn batch_norm(g: &mut Builder<'_>, id: NodeId) -> bool {
    let node = g.node(id);
    if !matches!(node.layout, None | Some(Layout::Nchw)) {
        return false;
    }
    let (Some(x), Some(affine)) = (g.input(id, 0), bn_affine(g, id)) else {
        return false;
    };
    let Some(rank) = rank_of(g, x).filter(|&r| r >= 2) else {
        return false;
    };
    let name = base_name(g, id);
    // Per-channel constants broadcast over [N, C, spatial...].
    let mut dims = vec![affine.s.len() as u64];
    dims.resize(rank - 1, 1);
    let s = g.constant(
        &format!("{name}_scale"),
        float_tensor(affine.dtype, dims.clone(), &affine.s),
    );
    let t = g.constant(
        &format!("{name}_shift"),
        float_tensor(affine.dtype, dims, &affine.t),
    );
    let mul = g
        .op(OnnxOp::Mul, &[x, s])
        .out(format!("{name}_mul"))
        .value();
    let add = g.op(OnnxOp::Add, &[mul, t]).out(name.as_str()).value();
    g.replace_node(id, add);
    true
}
