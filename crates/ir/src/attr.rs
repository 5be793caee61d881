//! Node attributes, with ONNX's attribute kinds.
//!
//! Attributes are kept as an ordered list of named values, exactly as the source file had
//! them (explicitly set defaults stay explicit), so a round trip through a format is lossless.
//! Typed accessors give passes and kernels checked access: [`Node::float`](crate::Node::float)
//! and its siblings fall back to the ONNX schema's default for the node's op (one source for
//! every default); [`Attrs::float`] and its siblings take the fallback from the caller, for
//! the places that mean a value other than the schema's.

use bytes::Bytes;

use crate::{AttrDefault, Graph, Op, SparseTensor, Tensor, TypeInfo, VersionDependentDefault};

/// The kind of an attribute value; names and codes are ONNX's `AttributeProto.AttributeType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AttrKind {
    Float,
    Int,
    String,
    Tensor,
    Graph,
    SparseTensor,
    Type,
    Floats,
    Ints,
    Strings,
    Tensors,
    Graphs,
    SparseTensors,
    Types,
}

const KINDS: &[(AttrKind, i32, &str)] = &[
    (AttrKind::Float, 1, "float"),
    (AttrKind::Int, 2, "int"),
    (AttrKind::String, 3, "string"),
    (AttrKind::Tensor, 4, "tensor"),
    (AttrKind::Graph, 5, "graph"),
    (AttrKind::SparseTensor, 11, "sparse_tensor"),
    (AttrKind::Type, 13, "type"),
    (AttrKind::Floats, 6, "floats"),
    (AttrKind::Ints, 7, "ints"),
    (AttrKind::Strings, 8, "strings"),
    (AttrKind::Tensors, 9, "tensors"),
    (AttrKind::Graphs, 10, "graphs"),
    (AttrKind::SparseTensors, 12, "sparse_tensors"),
    (AttrKind::Types, 14, "types"),
];

impl AttrKind {
    pub fn onnx_code(self) -> i32 {
        KINDS.iter().find(|k| k.0 == self).map_or(0, |k| k.1)
    }
    pub fn from_onnx_code(code: i32) -> Option<AttrKind> {
        KINDS.iter().find(|k| k.1 == code).map(|k| k.0)
    }
    pub fn name(self) -> &'static str {
        KINDS.iter().find(|k| k.0 == self).map_or("?", |k| k.2)
    }
    pub fn from_name(name: &str) -> Option<AttrKind> {
        KINDS.iter().find(|k| k.2 == name).map(|k| k.0)
    }
}

/// An attribute value. Equality compares floats by their bits, so a NaN attribute equals
/// itself and a round trip can be checked exactly.
#[derive(Debug, Clone)]
pub enum Attr {
    Float(f32),
    Int(i64),
    String(Bytes),
    Tensor(Tensor),
    Graph(Box<Graph>),
    SparseTensor(SparseTensor),
    Type(TypeInfo),
    Floats(Vec<f32>),
    Ints(Vec<i64>),
    Strings(Vec<Bytes>),
    Tensors(Vec<Tensor>),
    Graphs(Vec<Graph>),
    SparseTensors(Vec<SparseTensor>),
    Types(Vec<TypeInfo>),
    /// Inside a function body: the value of the calling node's attribute `name`
    /// (ONNX `ref_attr_name`), of the given kind.
    Ref {
        name: String,
        kind: AttrKind,
    },
}

impl PartialEq for Attr {
    fn eq(&self, other: &Attr) -> bool {
        use Attr::*;
        match (self, other) {
            (Float(a), Float(b)) => a.to_bits() == b.to_bits(),
            (Floats(a), Floats(b)) => {
                a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits())
            }
            (Int(a), Int(b)) => a == b,
            (String(a), String(b)) => a == b,
            (Tensor(a), Tensor(b)) => a == b,
            (Graph(a), Graph(b)) => a == b,
            (SparseTensor(a), SparseTensor(b)) => a == b,
            (Type(a), Type(b)) => a == b,
            (Ints(a), Ints(b)) => a == b,
            (Strings(a), Strings(b)) => a == b,
            (Tensors(a), Tensors(b)) => a == b,
            (Graphs(a), Graphs(b)) => a == b,
            (SparseTensors(a), SparseTensors(b)) => a == b,
            (Types(a), Types(b)) => a == b,
            (Ref { name: a, kind: ka }, Ref { name: b, kind: kb }) => a == b && ka == kb,
            _ => false,
        }
    }
}

impl Attr {
    pub fn kind(&self) -> AttrKind {
        match self {
            Attr::Float(_) => AttrKind::Float,
            Attr::Int(_) => AttrKind::Int,
            Attr::String(_) => AttrKind::String,
            Attr::Tensor(_) => AttrKind::Tensor,
            Attr::Graph(_) => AttrKind::Graph,
            Attr::SparseTensor(_) => AttrKind::SparseTensor,
            Attr::Type(_) => AttrKind::Type,
            Attr::Floats(_) => AttrKind::Floats,
            Attr::Ints(_) => AttrKind::Ints,
            Attr::Strings(_) => AttrKind::Strings,
            Attr::Tensors(_) => AttrKind::Tensors,
            Attr::Graphs(_) => AttrKind::Graphs,
            Attr::SparseTensors(_) => AttrKind::SparseTensors,
            Attr::Types(_) => AttrKind::Types,
            Attr::Ref { kind, .. } => *kind,
        }
    }

    /// The sub-graphs this attribute holds.
    pub fn graphs(&self) -> &[Graph] {
        match self {
            Attr::Graph(g) => std::slice::from_ref(g.as_ref()),
            Attr::Graphs(gs) => gs,
            _ => &[],
        }
    }

    pub fn graphs_mut(&mut self) -> &mut [Graph] {
        match self {
            Attr::Graph(g) => std::slice::from_mut(g.as_mut()),
            Attr::Graphs(gs) => gs,
            _ => &mut [],
        }
    }
}

/// One named attribute. `doc` is ONNX's per-attribute doc string.
#[derive(Debug, Clone, PartialEq)]
pub struct AttrEntry {
    pub name: String,
    pub value: Attr,
    pub doc: String,
}

/// The attributes of a node, in source order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Attrs(pub Vec<AttrEntry>);

/// An attribute present with the wrong kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("attribute `{name}` is {found}, expected {expected}")]
pub struct AttrTypeError {
    pub name: String,
    pub expected: &'static str,
    pub found: &'static str,
}

/// An attribute that cannot be read: of the wrong kind, or absent with no default.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AttrError {
    #[error(transparent)]
    Type(#[from] AttrTypeError),
    #[error("{op} has no attribute `{name}` and its schema gives no default")]
    Missing { op: String, name: String },
    #[error(transparent)]
    VersionDependent(#[from] VersionDependentDefault),
}

/// A Rust value an [`AttrDefault`] of the matching kind converts to.
trait FromDefault: Sized {
    fn from_default(d: AttrDefault) -> Option<Self>;
}

impl FromDefault for f32 {
    fn from_default(d: AttrDefault) -> Option<f32> {
        match d {
            AttrDefault::Float(v) => Some(v),
            _ => None,
        }
    }
}

impl FromDefault for i64 {
    fn from_default(d: AttrDefault) -> Option<i64> {
        match d {
            AttrDefault::Int(v) => Some(v),
            _ => None,
        }
    }
}

impl FromDefault for String {
    fn from_default(d: AttrDefault) -> Option<String> {
        match d {
            AttrDefault::String(v) => Some(v.to_string()),
            _ => None,
        }
    }
}

impl FromDefault for Vec<f32> {
    fn from_default(d: AttrDefault) -> Option<Vec<f32>> {
        match d {
            AttrDefault::Floats(v) => Some(v.to_vec()),
            _ => None,
        }
    }
}

impl FromDefault for Vec<i64> {
    fn from_default(d: AttrDefault) -> Option<Vec<i64>> {
        match d {
            AttrDefault::Ints(v) => Some(v.to_vec()),
            _ => None,
        }
    }
}

/// The schema default of `op`'s attribute `name` of `kind`: at opset version `opset`, or
/// (`None`) the one all versions agree on.
fn schema_default<T: FromDefault>(
    op: &Op,
    opset: Option<i64>,
    name: &str,
    kind: AttrKind,
) -> Result<T, AttrError> {
    let default = match op {
        Op::Onnx(o) => match opset {
            Some(v) => o.default_at(name, kind, v),
            None => o.default_any_version(name, kind)?,
        },
        _ => None,
    };
    default
        .and_then(T::from_default)
        .ok_or_else(|| AttrError::Missing {
            op: op.display_name(),
            name: name.to_string(),
        })
}

macro_rules! schema_accessor {
    ($fn:ident, $plain:ident, $kind:ident, $ty:ty) => {
        /// The attribute's value; when absent, the default the ONNX schema of `op` gives it at
        /// opset version `opset` (`None`: the default all versions agree on).
        pub fn $fn(&self, op: &Op, opset: Option<i64>, name: &str) -> Result<$ty, AttrError> {
            if self.get(name).is_none() {
                return schema_default(op, opset, name, AttrKind::$kind);
            }
            Ok(self.$plain(name, Default::default())?)
        }
    };
}

macro_rules! accessor {
    ($fn:ident, $variant:ident, $ty:ty, $kind:literal) => {
        /// The attribute's value, `default` when absent, an error when of another kind.
        pub fn $fn(&self, name: &str, default: $ty) -> Result<$ty, AttrTypeError> {
            match self.get(name) {
                None => Ok(default),
                Some(Attr::$variant(v)) => Ok(v.clone()),
                Some(other) => Err(AttrTypeError {
                    name: name.to_string(),
                    expected: $kind,
                    found: other.kind().name(),
                }),
            }
        }
    };
}

impl Attrs {
    pub fn get(&self, name: &str) -> Option<&Attr> {
        self.0.iter().find(|e| e.name == name).map(|e| &e.value)
    }

    pub fn contains(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// Sets `name`, replacing an existing value in place or appending.
    pub fn set(&mut self, name: &str, value: Attr) {
        match self.0.iter_mut().find(|e| e.name == name) {
            Some(e) => e.value = value,
            None => self.0.push(AttrEntry {
                name: name.to_string(),
                value,
                doc: String::new(),
            }),
        }
    }

    pub fn remove(&mut self, name: &str) -> Option<Attr> {
        let i = self.0.iter().position(|e| e.name == name)?;
        Some(self.0.remove(i).value)
    }

    pub fn iter(&self) -> impl Iterator<Item = &AttrEntry> {
        self.0.iter()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    accessor!(float, Float, f32, "float");
    accessor!(int, Int, i64, "int");
    accessor!(floats, Floats, Vec<f32>, "floats");
    accessor!(ints, Ints, Vec<i64>, "ints");

    schema_accessor!(float_or_default, float, Float, f32);
    schema_accessor!(int_or_default, int, Int, i64);
    schema_accessor!(floats_or_default, floats, Floats, Vec<f32>);
    schema_accessor!(ints_or_default, ints, Ints, Vec<i64>);

    /// A string attribute as UTF-8 text.
    pub fn string(&self, name: &str, default: &str) -> Result<String, AttrTypeError> {
        match self.get(name) {
            None => Ok(default.to_string()),
            Some(Attr::String(b)) => Ok(String::from_utf8_lossy(b).into_owned()),
            Some(other) => Err(AttrTypeError {
                name: name.to_string(),
                expected: "string",
                found: other.kind().name(),
            }),
        }
    }

    /// A string attribute as UTF-8 text; when absent, the schema default (see
    /// [`Attrs::float_or_default`]).
    pub fn string_or_default(
        &self,
        op: &Op,
        opset: Option<i64>,
        name: &str,
    ) -> Result<String, AttrError> {
        if self.get(name).is_none() {
            return schema_default(op, opset, name, AttrKind::String);
        }
        Ok(self.string(name, "")?)
    }
}

impl FromIterator<(String, Attr)> for Attrs {
    fn from_iter<I: IntoIterator<Item = (String, Attr)>>(iter: I) -> Self {
        Attrs(
            iter.into_iter()
                .map(|(name, value)| AttrEntry {
                    name,
                    value,
                    doc: String::new(),
                })
                .collect(),
        )
    }
}
