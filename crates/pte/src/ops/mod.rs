//! One IR op → portable-kernel calls, one file per op family. Each kernel is called by its
//! `out` variant as ExecuTorch's portable library registers it (schemas:
//! `executorch/kernels/portable/functions.yaml` of the pinned package); arguments are
//! passed in schema order, then the `out` tensors, then the return ([`crate::program::Call`]).

mod binary;
mod clip;
mod conv;
mod copy;
mod elements;
mod gather;
mod gemm;
mod norm;
mod pad;
mod pool;
mod quant;
mod reduce;
mod resize;
mod shape;
mod slice;
mod softmax;
mod topk;
mod trilu;
mod unary;

use modelc_ir::{NodeId, OnnxOp};

use crate::lower::{Lower, Refusal};

pub(crate) fn lower_node(cx: &mut Lower, id: NodeId) -> Result<(), Refusal> {
    let node = cx.g.node(id);
    let Some(op) = node.op.onnx() else {
        return Err(format!("{} has no portable kernel", node.op.display_name()));
    };
    if node.subgraphs().next().is_some() {
        return Err("control flow (sub-graphs) is not written to ExecuTorch programs".into());
    }
    use OnnxOp::*;
    match op {
        Add | Sub | Mul | Div | Pow | Max | Min | Equal | Less | Greater | LessOrEqual
        | GreaterOrEqual | And | Or | Xor => binary::lower(cx, op),
        Relu | Sigmoid | Tanh | Exp | Log | Sqrt | Neg | Abs | Erf | Reciprocal | Floor | Ceil
        | Sin | Cos | Not | Atan | Tan | Asin | Acos | Sign | Round => unary::lower(cx, op),
        LeakyRelu => unary::leaky_relu(cx),
        Clip => clip::lower(cx),
        Conv => conv::lower(cx),
        MaxPool | AveragePool | GlobalAveragePool => pool::lower(cx, op),
        Gemm => gemm::gemm(cx),
        MatMul => gemm::matmul(cx),
        Reshape | Flatten | Squeeze | Unsqueeze => shape::view(cx),
        Transpose => shape::transpose(cx),
        Concat => shape::concat(cx),
        Gather => gather::lower(cx),
        Softmax => softmax::lower(cx, false),
        LogSoftmax => softmax::lower(cx, true),
        Cast => copy::cast(cx),
        Identity => copy::identity(cx),
        Expand => copy::expand(cx),
        Where => copy::where_(cx),
        ReduceMean | ReduceSum | ReduceMax | ReduceMin | ReduceLogSumExp => reduce::reduce(cx, op),
        ArgMax | ArgMin => reduce::arg(cx, op),
        CumSum => reduce::cumsum(cx),
        Slice => slice::lower(cx),
        Split => slice::split(cx),
        Tile => slice::tile(cx),
        LayerNormalization => norm::layer_norm(cx),
        InstanceNormalization => norm::instance_norm(cx),
        Pad => pad::lower(cx),
        Trilu => trilu::lower(cx),
        GatherElements => elements::gather(cx),
        ScatterElements => elements::scatter(cx),
        TopK => topk::lower(cx),
        Resize => resize::lower(cx),
        QuantizeLinear | DequantizeLinear => quant::lower(cx, op),
        other => Err(format!("{} has no portable-kernel lowering", other.name())),
    }
}

/// An attribute of the node being lowered, with the ONNX default.
pub(crate) fn attr_int(cx: &Lower, name: &str) -> Result<i64, Refusal> {
    cx.g.node(cx.node).int(name).map_err(|e| e.to_string())
}

pub(crate) fn attr_ints(cx: &Lower, name: &str) -> Option<Vec<i64>> {
    cx.g.node(cx.node).ints(name).ok()
}

pub(crate) fn attr_float(cx: &Lower, name: &str) -> Result<f32, Refusal> {
    cx.g.node(cx.node).float(name).map_err(|e| e.to_string())
}

/// A negative axis counted from the end of a rank-`rank` shape.
pub(crate) fn axis(a: i64, rank: usize) -> Result<i64, Refusal> {
    let r = rank as i64;
    let a = if a < 0 { a + r } else { a };
    if (0..r.max(1)).contains(&a) {
        Ok(a)
    } else {
        Err(format!("axis {a} is outside rank {rank}"))
    }
}
