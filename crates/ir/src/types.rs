//! Value types: tensor types with (possibly symbolic) shapes, and ONNX's non-tensor types
//! (sequence, map, optional, sparse tensor, opaque).

use crate::{DType, Doc};

/// One dimension of a shape.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Dim {
    /// A known size.
    Known(u64),
    /// A named symbolic size (`batch`, `seq`); equal names mean equal sizes.
    Sym(String),
    /// A size nothing is known about.
    Unknown,
}

impl Dim {
    pub fn known(&self) -> Option<u64> {
        match self {
            Dim::Known(n) => Some(*n),
            _ => None,
        }
    }
}

impl From<u64> for Dim {
    fn from(n: u64) -> Dim {
        Dim::Known(n)
    }
}

/// A tensor shape; `None` rank (see [`TensorType::shape`]) means the rank itself is unknown.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Shape(pub Vec<Dim>);

impl Shape {
    pub fn known(dims: &[u64]) -> Shape {
        Shape(dims.iter().map(|&d| Dim::Known(d)).collect())
    }

    pub fn rank(&self) -> usize {
        self.0.len()
    }

    /// All dimensions as numbers, when every one is known.
    pub fn as_known(&self) -> Option<Vec<u64>> {
        self.0.iter().map(Dim::known).collect()
    }
}

/// Type of a tensor value: element type (None when not declared) and shape (None when even
/// the rank is unknown).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TensorType {
    pub dtype: Option<DType>,
    pub shape: Option<Shape>,
}

/// The type of any value an edge can carry.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ValueType {
    Tensor(TensorType),
    SparseTensor(TensorType),
    Sequence(Option<Box<ValueType>>),
    Map {
        key: DType,
        value: Option<Box<ValueType>>,
    },
    Optional(Option<Box<ValueType>>),
    /// Boxed strings (16 bytes each, not 24): the widest variant sets the size of every
    /// value's type.
    Opaque {
        domain: Box<str>,
        name: Box<str>,
    },
    /// A type whose kind was not given (an empty ONNX `TypeProto`).
    Unspecified,
}

impl ValueType {
    pub fn tensor(dtype: DType, dims: &[u64]) -> ValueType {
        ValueType::Tensor(TensorType {
            dtype: Some(dtype),
            shape: Some(Shape::known(dims)),
        })
    }

    pub fn as_tensor(&self) -> Option<&TensorType> {
        match self {
            ValueType::Tensor(t) => Some(t),
            _ => None,
        }
    }
}

/// A value type plus ONNX's free-form `denotation` (e.g. `IMAGE`), which round-trips. Every
/// typed value holds one (behind an `Arc`, shared by values of equal type), so it is kept
/// small: a [`Doc`] takes 8 bytes where a `String` takes 24, and almost no type has a
/// denotation.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TypeInfo {
    pub ty: ValueType,
    pub denotation: Doc,
}

/// A value's type as [`crate::Value::ty`] holds it.
impl From<ValueType> for std::sync::Arc<TypeInfo> {
    fn from(ty: ValueType) -> std::sync::Arc<TypeInfo> {
        std::sync::Arc::new(ty.into())
    }
}

impl From<ValueType> for TypeInfo {
    fn from(ty: ValueType) -> TypeInfo {
        TypeInfo {
            ty,
            denotation: Doc::default(),
        }
    }
}
