//! Values of the symbolic evaluation: Python-level constants are computed at import time,
//! tensors are IR values (with rank and element type where known), modules are the objects
//! `data.pkl` describes.

use std::cell::RefCell;
use std::rc::Rc;

use modelc_ir::{DType, ValueRef};

use crate::pickle::PickleValue;

/// A tensor in the graph.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TensorRef {
    pub v: ValueRef,
    pub rank: Option<usize>,
    pub dtype: DType,
}

impl TensorRef {
    pub fn new(v: ValueRef, rank: Option<usize>, dtype: DType) -> TensorRef {
        TensorRef { v, rank, dtype }
    }

    /// Same type, other value.
    pub fn with(self, v: ValueRef) -> TensorRef {
        TensorRef { v, ..self }
    }
}

/// How a tensor is a view of another (`slice` / `select` with bounds known at import
/// time), so that an in-place write to it (`x[a:b] = v`, traced as `fill_(slice(x, …))`)
/// updates the tensor it views.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct View {
    pub base: TensorRef,
    pub dim: i64,
    pub kind: ViewKind,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ViewKind {
    /// Elements `start .. end` (torch's bounds: negative from the end, clamped), step 1.
    Slice { start: i64, end: i64 },
    /// Index `index` (negative from the end); the dim is gone in the view.
    Select { index: i64 },
}

/// A module instance from `data.pkl`.
#[derive(Debug)]
pub struct Obj {
    /// Qualified class name, e.g. `__torch__.torch.nn.modules.conv.Conv2d`.
    pub class: String,
    /// Attributes as unpickled; converted to [`PyValue`] when read.
    pub state: Vec<(String, PickleValue)>,
    /// Attributes assigned during evaluation (`self.x = …`) or already converted.
    pub set: Vec<(String, PyValue)>,
}

/// A value of the TorchScript code being evaluated: a Python constant known at import time,
/// a tensor of the graph, a module, a name.
#[derive(Debug, Clone)]
pub enum PyValue {
    None,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Tensor(TensorRef),
    /// An int only known at run time (a size), as an int64 scalar tensor.
    SymInt(ValueRef),
    List(Vec<PyValue>),
    Tuple(Vec<PyValue>),
    Obj(Rc<RefCell<Obj>>),
    /// A dotted module path (`torch`, `ops.aten`, `__torch__.torch.nn.functional.relu`).
    Path(String),
    /// `torch.device(...)` and dtype names fold to strings / ints; this is the device.
    Device(String),
    /// `uninitialized(<type>)`: a value on a path that raises.
    Uninit,
}

impl PyValue {
    pub fn kind(&self) -> &'static str {
        match self {
            PyValue::None => "None",
            PyValue::Bool(_) => "bool",
            PyValue::Int(_) => "int",
            PyValue::Float(_) => "float",
            PyValue::Str(_) => "str",
            PyValue::Tensor(_) => "Tensor",
            PyValue::SymInt(_) => "int (dynamic)",
            PyValue::List(_) => "list",
            PyValue::Tuple(_) => "tuple",
            PyValue::Obj(_) => "module",
            PyValue::Path(_) => "name",
            PyValue::Device(_) => "device",
            PyValue::Uninit => "uninitialized",
        }
    }

    pub fn as_int(&self) -> Option<i64> {
        match self {
            PyValue::Int(i) => Some(*i),
            PyValue::Bool(b) => Some(*b as i64),
            _ => None,
        }
    }

    pub fn as_f64(&self) -> Option<f64> {
        match self {
            PyValue::Int(i) => Some(*i as f64),
            PyValue::Float(f) => Some(*f),
            PyValue::Bool(b) => Some(*b as i64 as f64),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self {
            PyValue::Bool(b) => Some(*b),
            PyValue::Int(i) => Some(*i != 0),
            PyValue::Float(f) => Some(*f != 0.0),
            PyValue::None => Some(false),
            PyValue::Str(s) => Some(!s.is_empty()),
            PyValue::List(l) | PyValue::Tuple(l) => Some(!l.is_empty()),
            _ => None,
        }
    }

    pub fn as_tensor(&self) -> Option<TensorRef> {
        match self {
            PyValue::Tensor(t) => Some(*t),
            _ => None,
        }
    }

    pub fn as_list(&self) -> Option<&[PyValue]> {
        match self {
            PyValue::List(v) | PyValue::Tuple(v) => Some(v),
            _ => None,
        }
    }

    /// A list of static ints (an int alone counts as a one-element list, as torch's
    /// `int[2]` arguments allow).
    pub fn as_ints(&self) -> Option<Vec<i64>> {
        match self {
            PyValue::Int(i) => Some(vec![*i]),
            PyValue::List(v) | PyValue::Tuple(v) => v.iter().map(PyValue::as_int).collect(),
            _ => None,
        }
    }
}
