//! Running one kernel on hand-built inputs, for the families' unit tests.

use modelc_ir::{Attr, Layout, Node, OnnxOp, Op, Value};
use ndarray::{ArrayD, IxDyn};

use crate::{Array, Data, KernelError, OpCtx};

/// Runs the kernel of `op` at `opset` with `attrs` on `inputs` (a node with `outputs`
/// outputs and the given layout); its outputs, which must be tensors.
pub fn run_op(
    op: OnnxOp,
    opset: i64,
    attrs: Vec<(&str, Attr)>,
    inputs: &[Option<Array>],
    outputs: usize,
    layout: Option<Layout>,
) -> Result<Vec<Array>, KernelError> {
    let outs = (0..outputs)
        .map(|i| Value::named(format!("y{i}")))
        .collect();
    let mut node = Node::new(Op::Onnx(op), inputs.len(), outs);
    node.layout = layout;
    for (n, a) in attrs {
        node.attrs.set(n, a);
    }
    let data: Vec<Option<Data>> = inputs.iter().map(|a| a.clone().map(Data::Tensor)).collect();
    let ctx = OpCtx::for_test(&node, &data, opset);
    let kernel = super::lookup(op).expect("kernel");
    crate::ops::nn::layout::call(kernel, &ctx)?
        .into_iter()
        .map(|d| match d {
            Data::Tensor(a) => Ok(a),
            other => Err(KernelError::new(format!("not a tensor: {other:?}"))),
        })
        .collect()
}

/// An f32 array of `shape`.
pub fn f32s(shape: &[usize], v: &[f32]) -> Array {
    Array::F32(ArrayD::from_shape_vec(IxDyn(shape), v.to_vec()).unwrap())
}

/// An i64 array of `shape`.
pub fn i64s(shape: &[usize], v: &[i64]) -> Array {
    Array::I64(ArrayD::from_shape_vec(IxDyn(shape), v.to_vec()).unwrap())
}
