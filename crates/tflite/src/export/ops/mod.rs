//! IR node → TFLite operator(s): ops with a one-to-one builtin by their row in
//! [`crate::table`], the others by their op family's file.

pub(crate) mod control;
pub(crate) mod conv;
pub(crate) mod custom;
pub(crate) mod dynamic;
pub(crate) mod elementwise;
pub(crate) mod fill;
pub(crate) mod lstm;
pub(crate) mod range;
pub(crate) mod select;
pub(crate) mod shape;

use modelc_ir::{NodeId, OnnxOp};

use super::lower::Lower;
use crate::TfliteError;

pub(crate) fn lower(lowering: &mut Lower, id: NodeId, op: OnnxOp) -> Result<(), TfliteError> {
    use OnnxOp::*;
    if op == Pow && elementwise::is_rsqrt(lowering, id) {
        return elementwise::rsqrt(lowering, id);
    }
    if let Some(row) = crate::table::by_op(op) {
        return elementwise::row(lowering, id, row);
    }
    match op {
        Conv => conv::conv(lowering, id),
        ConvTranspose => conv::conv_transpose(lowering, id),
        MaxPool | AveragePool => conv::pool(lowering, id, op),
        GlobalAveragePool | GlobalMaxPool => conv::global_pool(lowering, id, op),
        Gemm => conv::gemm(lowering, id),
        MatMul => conv::matmul(lowering, id),
        Mod => elementwise::floor_mod(lowering, id),
        Clip => elementwise::clip(lowering, id),
        Reciprocal => elementwise::reciprocal(lowering, id),
        Cast => elementwise::cast(lowering, id),
        QuantizeLinear => elementwise::quantize(lowering, id),
        LSTM => lstm::lstm(lowering, id),
        If => control::if_op(lowering, id),
        Loop => control::loop_op(lowering, id),
        ArgMax | ArgMin => select::arg_extreme(lowering, id, op),
        TopK => select::top_k(lowering, id),
        CumSum => select::cumsum(lowering, id),
        GatherND => select::gather_nd(lowering, id),
        ScatterND => select::scatter_nd(lowering, id),
        ConstantOfShape if select::only_scatter_base(lowering, id) => Ok(()),
        ConstantOfShape => fill::constant_of_shape(lowering, id),
        Range => range::range(lowering, id),
        Reshape | Flatten | Squeeze | Unsqueeze | Transpose | Concat | Pad | ReduceMean
        | ReduceSum | ReduceMax | ReduceMin | ReduceProd | Slice | Gather | Split | Resize
        | DepthToSpace | SpaceToDepth | Expand | Tile | Shape => shape::lower(lowering, id, op),
        _ => Err(TfliteError::Unsupported("no TFLite translation".into())),
    }
}
