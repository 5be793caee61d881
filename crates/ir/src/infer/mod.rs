//! Shape and type inference: the element type and (possibly symbolic) shape of every value.
//!
//! Each op family has a file with its inference functions; [`rule`] maps an [`OnnxOp`] to
//! its function. A function sees its node through an [`InferCtx`] (input types, constant
//! inputs, small integer values known symbolically, attributes, layout, opset) and fills
//! [`Outputs`]. [`infer_graph`] walks a graph in topological order, recursing into If /
//! Loop / Scan bodies, and writes the results into [`Value::ty`](crate::Value) without ever
//! replacing a declared type with a less precise one; disagreements are reported, not fixed.
//!
//! Other passes read the results with [`Graph::tensor_type`], [`Graph::shape_of`],
//! [`Graph::dtype_of`] and [`Graph::known_dims`]:
//!
//! ```
//! use modelc_ir::{Graph, infer, DType};
//! let mut g = Graph::parse("graph(%x: f32[N,3,8,8]) -> (%y) { %y = Relu(%x) }").unwrap();
//! infer::infer_graph(&mut g, &[]);
//! let y = g.outputs()[0];
//! assert_eq!(g.dtype_of(y), Some(DType::F32));
//! assert_eq!(g.shape_of(y).unwrap().rank(), 4);
//! ```
//!
//! The types are facts later passes rely on (a Reshape is a no-op when its input and output
//! dims agree): a rewrite that changes what a value holds must update or clear its `ty`.
//! [`infer_node`] gives the types of a node a pass has just built.
//!
//! Symbolic dimensions: a `Dim::Sym` flows through ops that keep it (elementwise,
//! broadcasting against 1, Reshape `0`, Transpose, ...); an arithmetic result on symbols is
//! `Dim::Unknown` except where symbols cancel (Reshape's `-1`). Integer tensors that hold
//! shapes (`Shape` → `Gather` → `Concat` chains) are tracked element by element as
//! [`SymInt`]s, so a `Reshape` fed by such a chain still gets its shape.

mod control;
mod conv;
mod ctx;
mod dims;
mod elementwise;
mod graph;
mod image;
mod matmul;
mod ml;
mod other;
mod quant;
mod reduce;
mod shape_ops;

pub use ctx::{InferCtx, InferError, InputInfo, Outputs};
pub use dims::{broadcast, broadcast_dim, merge_dims, refine, tensor_floats, tensor_ints, SymInt};
pub use graph::{check_graph, infer_graph, infer_node, known_int_values, InferReport};

use crate::{DType, Graph, OnnxOp, Shape, TensorType, ValueRef, ValueType};

/// An inference function: reads the node through the context, writes its outputs.
pub type InferFn = fn(&InferCtx<'_>, &mut Outputs) -> Result<(), InferError>;

/// The inference function of `op`, `None` for ops without one (their outputs stay untyped).
pub fn rule(op: OnnxOp) -> Option<InferFn> {
    elementwise::rule(op)
        .or_else(|| conv::rule(op))
        .or_else(|| matmul::rule(op))
        .or_else(|| shape_ops::rule(op))
        .or_else(|| reduce::rule(op))
        .or_else(|| quant::rule(op))
        .or_else(|| other::rule(op))
        .or_else(|| ml::rule(op))
        .or_else(|| image::rule(op))
}

impl Graph {
    /// The tensor type of a value, when it has one (declared or inferred).
    pub fn tensor_type(&self, v: ValueRef) -> Option<&TensorType> {
        match &self.value(v)?.ty.as_ref()?.ty {
            ValueType::Tensor(t) => Some(t),
            _ => None,
        }
    }

    /// The shape of a tensor value, when at least its rank is known.
    pub fn shape_of(&self, v: ValueRef) -> Option<&Shape> {
        self.tensor_type(v)?.shape.as_ref()
    }

    /// The element type of a tensor value, when known.
    pub fn dtype_of(&self, v: ValueRef) -> Option<DType> {
        self.tensor_type(v)?.dtype
    }

    /// Every dimension of a tensor value as a number, when all are known.
    pub fn known_dims(&self, v: ValueRef) -> Option<Vec<u64>> {
        self.shape_of(v)?.as_known()
    }
}
