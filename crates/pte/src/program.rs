//! The execution plan being built: its values (EValues: tensors, scalars, lists), operators
//! and kernel calls, before it is laid out as a flatbuffer ([`crate::file`]).

use std::collections::HashMap;

use bytes::Bytes;
use modelc_ir::DType;

/// Where a tensor's bytes are.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Storage {
    /// In the memory arena, live over instruction steps `first..=last` (the liveness plan's
    /// node positions; `usize::MAX`: to the end, a graph output).
    Planned { first: usize, last: usize },
    /// Constant data: index into [`Program::constants`] (the segment's buffer `index + 1`;
    /// buffer 0 is the format's empty placeholder).
    Const(usize),
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct TensorValue {
    pub dtype: DType,
    pub sizes: Vec<u64>,
    pub storage: Storage,
}

/// One EValue of the plan.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum EValue {
    Null,
    Int(i64),
    Bool(bool),
    Double(f64),
    /// EValue indices of `Int` values.
    IntList(Vec<i64>),
    /// EValue indices of tensors.
    TensorList(Vec<usize>),
    Tensor(TensorValue),
}

/// A kernel call: operator index and its arguments in schema order, the `out` tensors
/// included, then the return (the `out` tensor again, or a tensor list of several), as exir
/// emits them.
#[derive(Debug, Clone)]
pub(crate) struct Call {
    pub op: usize,
    pub args: Vec<usize>,
}

#[derive(Debug, Default)]
pub(crate) struct Program {
    pub values: Vec<EValue>,
    /// (name, overload): `("aten::add", "out")`.
    pub operators: Vec<(String, String)>,
    op_index: HashMap<(String, String), usize>,
    pub calls: Vec<Call>,
    /// Constant tensors' bytes (little-endian, dense, as the IR holds them).
    pub constants: Vec<Bytes>,
    pub inputs: Vec<usize>,
    pub outputs: Vec<usize>,
}

impl Program {
    fn push(&mut self, v: EValue) -> usize {
        self.values.push(v);
        self.values.len() - 1
    }

    pub fn null(&mut self) -> usize {
        self.push(EValue::Null)
    }
    pub fn int(&mut self, v: i64) -> usize {
        self.push(EValue::Int(v))
    }
    pub fn bool(&mut self, v: bool) -> usize {
        self.push(EValue::Bool(v))
    }
    pub fn double(&mut self, v: f64) -> usize {
        self.push(EValue::Double(v))
    }
    /// An int list: the runtime reads its items as EValue indices of `Int` values (so that
    /// an item can be a symbolic size computed at run time), so each item is one first.
    pub fn ints(&mut self, v: Vec<i64>) -> usize {
        let items = v.into_iter().map(|x| self.int(x) as i64).collect();
        self.push(EValue::IntList(items))
    }
    pub fn tensors(&mut self, v: Vec<usize>) -> usize {
        self.push(EValue::TensorList(v))
    }

    /// A tensor in the arena, live over steps `first..=last`.
    pub fn planned(&mut self, dtype: DType, sizes: Vec<u64>, first: usize, last: usize) -> usize {
        self.push(EValue::Tensor(TensorValue {
            dtype,
            sizes,
            storage: Storage::Planned { first, last },
        }))
    }

    /// A constant tensor holding `data`.
    pub fn constant(&mut self, dtype: DType, sizes: Vec<u64>, data: Bytes) -> usize {
        self.constants.push(data);
        let index = self.constants.len() - 1;
        self.push(EValue::Tensor(TensorValue {
            dtype,
            sizes,
            storage: Storage::Const(index),
        }))
    }

    pub fn tensor(&self, v: usize) -> Option<&TensorValue> {
        match self.values.get(v) {
            Some(EValue::Tensor(t)) => Some(t),
            _ => None,
        }
    }

    /// Appends a call of `name.overload`: `args` are the schema's arguments before the `out`
    /// tensors, `outs` the out tensors (also the call's returns).
    pub fn call(&mut self, name: &str, overload: &str, args: &[usize], outs: &[usize]) {
        let key = (name.to_string(), overload.to_string());
        let op = match self.op_index.get(&key) {
            Some(&i) => i,
            None => {
                self.operators.push(key.clone());
                self.op_index.insert(key, self.operators.len() - 1);
                self.operators.len() - 1
            }
        };
        let mut all = args.to_vec();
        all.extend_from_slice(outs);
        // The return: the out tensor, or a tuple of them as one tensor list.
        if let [one] = outs {
            all.push(*one);
        } else {
            let list = self.tensors(outs.to_vec());
            all.push(list);
        }
        self.calls.push(Call { op, args: all });
    }
}
