//! `fuse-bias`: moves a constant per-channel `Add` after a `Conv`, `ConvTranspose` or `Gemm`
//! into the producer's bias input (adding it to an existing constant bias).
//!
//! The added constant must broadcast per output channel without growing the result: rank at
//! most the result's, every dimension 1 except the channel axis (axis 1 for NCHW convs, the
//! last for NHWC, the last of Gemm's `[N, M]`), which is 1 or the channel count. Either Add
//! operand order; same dtype (f32/f64) as the weight. An existing bias must be a constant of
//! shape `[M]` (Gemm's C: per column, scaled by `beta`, which becomes 1).

use modelc_ir::{Attr, Graph, NodeId, OnnxOp, ValueRef};

use crate::passes::fuse_conv_bn::{conv_out_channels, set_bias};
use crate::pattern::{
    float_const, float_tensor, operand_orders, remove_with_dead_consts, rewrite_nodes, single_use,
    take_over, FloatConst,
};
use crate::{Changed, Pass, PassContext, PassError};

pub struct FuseBias;

impl Pass for FuseBias {
    fn name(&self) -> &'static str {
        "fuse-bias"
    }

    fn description(&self) -> &'static str {
        "fold a constant per-channel Add after Conv, ConvTranspose or Gemm into its bias"
    }

    fn run(&self, g: &mut Graph, _cx: &mut PassContext) -> Result<Changed, PassError> {
        Ok(Changed::from_bool(rewrite_nodes(
            g,
            &[OnnxOp::Add],
            fuse_one,
        )))
    }
}

fn fuse_one(g: &mut Graph, add: NodeId) -> bool {
    for (y, c) in operand_orders(g, add) {
        let Some(op) = g.node(y.node).op.onnx() else {
            continue;
        };
        if y.slot != 0
            || !matches!(op, OnnxOp::Conv | OnnxOp::ConvTranspose | OnnxOp::Gemm)
            || !single_use(g, y)
        {
            continue;
        }
        let Some(cc) = float_const(g, c) else {
            continue;
        };
        if fold_bias(g, y.node, op, c, &cc) {
            take_over(g, ValueRef::new(add, 0), y);
            remove_with_dead_consts(g, &[add]);
            return true;
        }
    }
    false
}

/// Per-channel values of `c` when it broadcasts along `axis` of a rank-`rank` result with
/// `m` channels and nowhere else.
fn per_channel(c: &FloatConst, rank: usize, axis: usize, m: usize) -> Option<Vec<f64>> {
    let k = c.dims.len();
    if k > rank {
        return None;
    }
    let mut along = 1u64;
    for (i, &d) in c.dims.iter().enumerate() {
        let pos = rank - k + i;
        if pos == axis {
            along = d;
        } else if d != 1 {
            return None;
        }
    }
    match along {
        1 => Some(vec![c.values[0]; m]),
        d if d as usize == m => Some(c.values.clone()),
        _ => None,
    }
}

fn fold_bias(g: &mut Graph, node: NodeId, op: OnnxOp, cv: ValueRef, c: &FloatConst) -> bool {
    let ins = g.inputs_of(node);
    let Some(Some(wv)) = ins.get(1).copied() else {
        return false;
    };
    let Some(w) = float_const(g, wv) else {
        return false;
    };
    if w.dtype != c.dtype {
        return false;
    }
    let attrs = &g.node(node).attrs;
    let (m, rank, axis, scale) = if op == OnnxOp::Gemm {
        let (Ok(beta), Ok(trans_b)) = (attrs.float("beta", 1.0), attrs.int("transB", 0)) else {
            return false;
        };
        if w.dims.len() != 2 {
            return false;
        }
        let m = if trans_b != 0 { w.dims[0] } else { w.dims[1] };
        (m as usize, 2, 1, beta as f64)
    } else {
        let (Some(layout), Ok(group)) = (g.node(node).layout, attrs.int("group", 1)) else {
            return false;
        };
        let Some(m) = conv_out_channels(op, layout, &w.dims, group) else {
            return false;
        };
        let rank = w.dims.len();
        let axis = match layout {
            modelc_ir::Layout::Nchw => 1,
            modelc_ir::Layout::Nhwc => rank - 1,
        };
        (m as usize, rank, axis, 1.0)
    };
    if rank < 2 {
        return false;
    }
    let Some(add) = per_channel(c, rank, axis, m) else {
        return false;
    };
    let old = ins.get(2).copied().flatten();
    if old.is_none() && c.dims == [m as u64] {
        // The added constant is the bias as it is: read it directly (even when shared).
        let n = g.node_mut(node);
        n.num_inputs = n.num_inputs.max(3);
        if op == OnnxOp::Gemm && scale != 1.0 {
            n.attrs.set("beta", Attr::Float(1.0));
        }
        g.connect(cv, node, 2);
        return true;
    }
    // A new bias constant is written; unless it replaces the old one or the added one in
    // place of being an extra copy, the model would grow.
    let old_unshared = old.is_some_and(|b| single_use(g, b));
    if !old_unshared && !single_use(g, cv) {
        return false;
    }
    let bias = match old {
        None => vec![0.0; m],
        Some(b) => match float_const(g, b) {
            Some(b) if b.dtype == c.dtype && b.dims == [m as u64] => b.values,
            // Gemm's C may be a per-column [1, M] or a scalar too.
            Some(b) if op == OnnxOp::Gemm && b.dtype == c.dtype => match per_channel(&b, 2, 1, m) {
                Some(v) => v,
                None => return false,
            },
            _ => return false,
        },
    };
    let new: Vec<f64> = (0..m).map(|j| scale * bias[j] + add[j]).collect();
    set_bias(g, node, 2, old, float_tensor(c.dtype, vec![m as u64], &new));
    if op == OnnxOp::Gemm && scale != 1.0 {
        g.node_mut(node).attrs.set("beta", Attr::Float(1.0));
    }
    true
}
