//! modelc's intermediate representation.
//!
//! A [`Model`] holds a [`Graph`]: operations ([`Node`], with an [`Op`] from ONNX's vocabulary
//! or [`Op::Custom`]) connected by edges that carry values from output slots to input slots.
//! Constants are shared [`Tensor`]s that may point into a memory-mapped file. The text form
//! ([`text`]) prints and parses graphs; [`validate`] checks them.

mod attr;
pub mod build;
pub mod cost;
mod dtype;
mod graph;
pub mod infer;
pub mod mapped;
mod message;
mod model;
mod op;
pub mod provenance;
mod tensor;
pub mod text;
mod types;
pub mod validate;

pub use attr::{Attr, AttrEntry, AttrError, AttrKind, AttrTypeError, Attrs};
pub use build::{Builder, Names};
pub use dtype::DType;
pub use graph::{
    node_label, CycleError, Doc, Edge, Extra, Graph, Metadata, Node, NodeId, Value, ValueRef,
};
pub use mapped::{map_file, release_resident};
pub use message::one_line;
pub use model::{Function, Model, OpsetImport};
pub use op::{
    type_bit, AttrDefault, AttrSchema, CustomOp, Layout, LayoutRoles, OnnxOp, Op, OpSchema,
    OpTraits, Randomness, VersionDependentDefault,
};
pub use tensor::{element_count, SparseTensor, Tensor, TensorData, TensorError};
pub use thin_vec::{thin_vec, ThinVec};
pub use types::{Dim, Shape, TensorType, TypeInfo, ValueType};
