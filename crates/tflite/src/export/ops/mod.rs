//! One file per op family: IR node → TFLite operator(s).

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
    match op {
        Conv => conv::conv(x, id),
        ConvTranspose => conv::conv_transpose(x, id),
        MaxPool | AveragePool => conv::pool(x, id, op),
        GlobalAveragePool | GlobalMaxPool => conv::global_pool(x, id, op),
        Gemm => conv::gemm(x, id),
        MatMul => conv::matmul(x, id),
        Add | Sub | Mul | Div | Max | Min | Pow | Equal | Less | LessOrEqual | Greater
        | GreaterOrEqual | And | Or | Where | PRelu | Mod => elementwise::binary(x, id, op),
        Relu | Clip | Tanh | Sigmoid | HardSwish | LeakyRelu | Elu | Exp | Log | Sqrt | Abs
        | Neg | Floor | Ceil | Round | Sin | Cos | Not | Sign | Reciprocal | Gelu | Softmax
        | LogSoftmax | Cast => elementwise::unary(x, id, op),
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
