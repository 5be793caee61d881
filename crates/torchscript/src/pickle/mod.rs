//! The pickle subset TorchScript archives use (`data.pkl`, `constants.pkl`).
//!
//! [`PickleValue`] is the value both sides share: the restricted reader ([`read`]) produces it
//! with torch's rebuild calls already interpreted (tensors, storages, module objects), and the
//! writer turns the same shapes back into opcodes. Nothing in here ever executes a global: a
//! global is only a name that the reader matches against an allowlist.

pub mod read;
pub mod write;

use bytes::Bytes;
use modelc_ir::DType;

/// One unpickled value.
#[derive(Debug, Clone, PartialEq)]
pub enum PickleValue {
    None,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Bytes(Bytes),
    Tuple(Vec<PickleValue>),
    List(Vec<PickleValue>),
    /// Insertion order kept (Python dicts are ordered; attribute order matters for modules).
    Dict(Vec<(PickleValue, PickleValue)>),
    /// A bare `module.name` reference (e.g. a storage class passed as an argument).
    Global {
        module: String,
        name: String,
    },
    /// A tensor storage named by a persistent id `('storage', <Type>Storage, key, location, numel)`.
    Storage(Storage),
    /// `torch._utils._rebuild_tensor_v2` / `_rebuild_parameter` result.
    Tensor(TensorValue),
    /// An instance of a TorchScript class (`__torch__.…`): the class name and its state, which
    /// for modules is a `Dict` of attribute name → value.
    Object {
        module: String,
        name: String,
        state: Box<PickleValue>,
    },
}

/// A storage: `data/<key>` in the archive.
#[derive(Debug, Clone, PartialEq)]
pub struct Storage {
    pub key: String,
    pub dtype: DType,
    /// Device string from the persistent id, e.g. `cpu`.
    pub location: String,
    /// Number of elements.
    pub numel: u64,
    /// The storage bytes (`numel * element size`); when read from an archive entry stored
    /// uncompressed, this points into the memory map.
    pub data: Bytes,
}

/// A strided view of a storage.
#[derive(Debug, Clone, PartialEq)]
pub struct TensorValue {
    pub storage: Storage,
    /// Offset in elements.
    pub offset: u64,
    pub size: Vec<u64>,
    pub stride: Vec<u64>,
    pub requires_grad: bool,
}

/// Storage class name (`torch.FloatStorage`) ↔ element type.
pub const STORAGE_TYPES: &[(&str, DType)] = &[
    ("FloatStorage", DType::F32),
    ("DoubleStorage", DType::F64),
    ("HalfStorage", DType::F16),
    ("BFloat16Storage", DType::BF16),
    ("LongStorage", DType::I64),
    ("IntStorage", DType::I32),
    ("ShortStorage", DType::I16),
    ("CharStorage", DType::I8),
    ("ByteStorage", DType::U8),
    ("BoolStorage", DType::Bool),
];

/// The element type of a `torch.<Name>Storage` class.
pub fn storage_dtype(class: &str) -> Option<DType> {
    STORAGE_TYPES.iter().find(|s| s.0 == class).map(|s| s.1)
}

/// The `torch.<Name>Storage` class of an element type.
pub fn storage_class(dtype: DType) -> Option<&'static str> {
    STORAGE_TYPES.iter().find(|s| s.1 == dtype).map(|s| s.0)
}

impl PickleValue {
    pub fn as_int(&self) -> Option<i64> {
        match self {
            PickleValue::Int(i) => Some(*i),
            PickleValue::Bool(b) => Some(*b as i64),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            PickleValue::Str(s) => Some(s),
            _ => None,
        }
    }

    /// Items of a tuple or list.
    pub fn as_seq(&self) -> Option<&[PickleValue]> {
        match self {
            PickleValue::Tuple(v) | PickleValue::List(v) => Some(v),
            _ => None,
        }
    }

    /// Value for a string key of a dict.
    pub fn get(&self, key: &str) -> Option<&PickleValue> {
        match self {
            PickleValue::Dict(items) => items
                .iter()
                .find(|(k, _)| k.as_str() == Some(key))
                .map(|(_, v)| v),
            _ => None,
        }
    }
}
