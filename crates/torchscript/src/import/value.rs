//! Values of the symbolic evaluation: Python-level constants are computed at import time,
//! tensors are IR values (with rank and element type where known), modules are the objects
//! `data.pkl` describes.

use std::cell::RefCell;
use std::rc::Rc;

use modelc_ir::{DType, ValueRef};

use crate::pickle::PickleValue;

/// A tensor in the graph.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct T {
    pub v: ValueRef,
    pub rank: Option<usize>,
    pub dtype: DType,
}

impl T {
    pub fn new(v: ValueRef, rank: Option<usize>, dtype: DType) -> T {
        T { v, rank, dtype }
    }

    /// Same type, other value.
    pub fn with(self, v: ValueRef) -> T {
        T { v, ..self }
    }
}

/// A module instance from `data.pkl`.
#[derive(Debug)]
pub struct Obj {
    /// Qualified class name, e.g. `__torch__.torch.nn.modules.conv.Conv2d`.
    pub class: String,
    /// Attributes as unpickled; converted to [`V`] when read.
    pub state: Vec<(String, PickleValue)>,
    /// Attributes assigned during evaluation (`self.x = …`) or already converted.
    pub set: Vec<(String, V)>,
}

#[derive(Debug, Clone)]
pub enum V {
    None,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Tensor(T),
    /// An int only known at run time (a size), as an int64 scalar tensor.
    SymInt(ValueRef),
    List(Vec<V>),
    Tuple(Vec<V>),
    Obj(Rc<RefCell<Obj>>),
    /// A dotted module path (`torch`, `ops.aten`, `__torch__.torch.nn.functional.relu`).
    Path(String),
    /// `torch.device(...)` and dtype names fold to strings / ints; this is the device.
    Device(String),
    /// `uninitialized(T)`: a value on a path that raises.
    Uninit,
}

impl V {
    pub fn kind(&self) -> &'static str {
        match self {
            V::None => "None",
            V::Bool(_) => "bool",
            V::Int(_) => "int",
            V::Float(_) => "float",
            V::Str(_) => "str",
            V::Tensor(_) => "Tensor",
            V::SymInt(_) => "int (dynamic)",
            V::List(_) => "list",
            V::Tuple(_) => "tuple",
            V::Obj(_) => "module",
            V::Path(_) => "name",
            V::Device(_) => "device",
            V::Uninit => "uninitialized",
        }
    }

    pub fn as_int(&self) -> Option<i64> {
        match self {
            V::Int(i) => Some(*i),
            V::Bool(b) => Some(*b as i64),
            _ => None,
        }
    }

    pub fn as_f64(&self) -> Option<f64> {
        match self {
            V::Int(i) => Some(*i as f64),
            V::Float(f) => Some(*f),
            V::Bool(b) => Some(*b as i64 as f64),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self {
            V::Bool(b) => Some(*b),
            V::Int(i) => Some(*i != 0),
            V::Float(f) => Some(*f != 0.0),
            V::None => Some(false),
            V::Str(s) => Some(!s.is_empty()),
            V::List(l) | V::Tuple(l) => Some(!l.is_empty()),
            _ => None,
        }
    }

    pub fn as_tensor(&self) -> Option<T> {
        match self {
            V::Tensor(t) => Some(*t),
            _ => None,
        }
    }

    pub fn as_list(&self) -> Option<&[V]> {
        match self {
            V::List(v) | V::Tuple(v) => Some(v),
            _ => None,
        }
    }

    /// A list of static ints (an int alone counts as a one-element list, as torch's
    /// `int[2]` arguments allow).
    pub fn as_ints(&self) -> Option<Vec<i64>> {
        match self {
            V::Int(i) => Some(vec![*i]),
            V::List(v) | V::Tuple(v) => v.iter().map(V::as_int).collect(),
            _ => None,
        }
    }
}
