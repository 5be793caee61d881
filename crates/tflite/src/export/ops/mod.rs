//! IR node → TFLite operator(s): ops with a one-to-one builtin by their row in
//! [`crate::table`], the others by their op family's file.

pub(crate) mod conv;
pub(crate) mod custom;
pub(crate) mod elementwise;
pub(crate) mod lstm;
pub(crate) mod select;
pub(crate) mod shape;

use modelc_ir::{NodeId, OnnxOp};

use super::lower::Lower;
use crate::TfliteError;

pub(crate) fn lower(x: &mut Lower, id: NodeId, op: OnnxOp) -> Result<(), TfliteError> {
    use OnnxOp::*;
    if let Some(row) = crate::table::by_op(op) {
        return elementwise::row(x, id, row);
    }
    match op {
        Conv => conv::conv(x, id),
        ConvTranspose => conv::conv_transpose(x, id),
        MaxPool | AveragePool => conv::pool(x, id, op),
        GlobalAveragePool | GlobalMaxPool => conv::global_pool(x, id, op),
        Gemm => conv::gemm(x, id),
        MatMul => conv::matmul(x, id),
        Mod => elementwise::floor_mod(x, id),
        Clip => elementwise::clip(x, id),
        Reciprocal => elementwise::reciprocal(x, id),
        Cast => elementwise::cast(x, id),
        QuantizeLinear => elementwise::quantize(x, id),
        LSTM => lstm::lstm(x, id),
        ArgMax | ArgMin => select::arg_extreme(x, id, op),
        TopK => select::top_k(x, id),
        CumSum => select::cumsum(x, id),
        Reshape | Flatten | Squeeze | Unsqueeze | Transpose | Concat | Pad | ReduceMean
        | ReduceSum | ReduceMax | ReduceMin | ReduceProd | Slice | Gather | Split | Resize
        | DepthToSpace | SpaceToDepth | Expand | Tile | Shape => shape::lower(x, id, op),
        _ => Err(TfliteError::Unsupported("no TFLite translation".into())),
    }
}
