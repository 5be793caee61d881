//! `fuse-gemm`: `MatMul(A, B) + C` → `Gemm(A, B, C)` when A is known to be 2-D (from its
//! type, or its producer: Flatten, Gemm, Reshape to a constant 2-element shape), B is a 2-D
//! constant `[K, M]` and C a constant of shape `[M]` or `[1, M]` of B's dtype (f32/f64).
//! Either Add operand order. A MatMul whose A has another rank stays: Gemm is 2-D only.
//! (A Transpose of a constant weight before the MatMul is constant folding's job.)

use modelc_ir::{DType, Graph, NodeId, OnnxOp, Op, ValueRef};

use crate::pattern::{
    const_tensor, float_const, is_op, operand_orders, rank_of, remove_with_dead_consts,
    rewrite_nodes, single_use, take_over,
};
use crate::{Changed, Pass, PassContext, PassError};

pub struct FuseGemm;

impl Pass for FuseGemm {
    fn name(&self) -> &'static str {
        "fuse-gemm"
    }

    fn description(&self) -> &'static str {
        "turn a 2-D MatMul with a constant weight plus a constant bias Add into Gemm"
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
        if y.slot != 0 || !is_op(g, y.node, OnnxOp::MatMul) || !single_use(g, y) {
            continue;
        }
        if !matches_gemm(g, y.node, c) {
            continue;
        }
        let mm = y.node;
        let node = g.node_mut(mm);
        node.op = Op::Onnx(OnnxOp::Gemm);
        node.num_inputs = 3;
        g.connect(c, mm, 2);
        take_over(g, ValueRef::new(add, 0), y);
        remove_with_dead_consts(g, &[add]);
        return true;
    }
    false
}

fn matches_gemm(g: &Graph, mm: NodeId, c: ValueRef) -> bool {
    let (Some(a), Some(b)) = (g.input(mm, 0), g.input(mm, 1)) else {
        return false;
    };
    // Cheap checks first, and the weight only by type and shape: widening every MatMul
    // weight to f64 just to look at it cost ViT-B/16 0.4 s.
    if rank_of(g, a) != Some(2) {
        return false;
    }
    let Some(w) = const_tensor(g, b).filter(|w| matches!(w.dtype, DType::F32 | DType::F64)) else {
        return false;
    };
    let Some(bias) = float_const(g, c) else {
        return false;
    };
    let per_column = match bias.dims.as_slice() {
        [d] | [1, d] => w.dims.len() == 2 && *d == w.dims[1],
        _ => false,
    };
    per_column && bias.dtype == w.dtype
}
