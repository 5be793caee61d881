//! What an inference function sees of its node ([`InferCtx`]) and what it produces
//! ([`Outputs`]).

use crate::{Attrs, DType, Dim, Layout, OnnxOp, Shape, Tensor, TensorType, ValueType};

use super::dims::{tensor_floats, tensor_ints, SymInt};

/// An inconsistency found while inferring (e.g. shapes that do not broadcast). The walker
/// reports it with the node's name; the node's outputs stay as they were.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InferError(pub String);

/// Returns early with an [`InferError`] built like `format!`.
macro_rules! fail {
    ($($t:tt)*) => { return Err($crate::infer::InferError(format!($($t)*))) };
}
pub(crate) use fail;

/// One present input of a node.
#[derive(Debug, Clone, Copy, Default)]
pub struct InputInfo<'a> {
    /// Its type, when known.
    pub ty: Option<&'a ValueType>,
    /// Its value, when it is a constant.
    pub value: Option<&'a Tensor>,
    /// Its elements as symbolic integers, when it is a small integer tensor whose elements
    /// are (partly) known: a shape being computed.
    pub sym: Option<&'a [SymInt]>,
}

/// A node as inference sees it.
#[derive(Debug)]
pub struct InferCtx<'a> {
    pub op: OnnxOp,
    pub attrs: &'a Attrs,
    pub layout: Option<Layout>,
    /// The version of the op's domain the model imports.
    pub opset: i64,
    /// One entry per input slot; `None` for an omitted optional input.
    pub inputs: Vec<Option<InputInfo<'a>>>,
    pub num_outputs: usize,
}

impl<'a> InferCtx<'a> {
    pub fn input(&self, i: usize) -> Option<&InputInfo<'a>> {
        self.inputs.get(i)?.as_ref()
    }

    /// Whether input `i` is present.
    pub fn has(&self, i: usize) -> bool {
        self.input(i).is_some()
    }

    pub fn tensor(&self, i: usize) -> Option<&'a TensorType> {
        match self.input(i)?.ty? {
            ValueType::Tensor(t) => Some(t),
            _ => None,
        }
    }

    pub fn dtype(&self, i: usize) -> Option<DType> {
        self.tensor(i)?.dtype
    }

    /// The dimensions of input `i`, when its rank is known.
    pub fn shape(&self, i: usize) -> Option<&'a [Dim]> {
        Some(&self.tensor(i)?.shape.as_ref()?.0)
    }

    pub fn rank(&self, i: usize) -> Option<usize> {
        self.shape(i).map(<[Dim]>::len)
    }

    /// The constant value of input `i`.
    pub fn value(&self, i: usize) -> Option<&'a Tensor> {
        self.input(i)?.value
    }

    /// A constant integer input's elements (from a constant, or tracked through a shape
    /// computation when every element is known).
    pub fn ints(&self, i: usize) -> Option<Vec<i64>> {
        match self.value(i) {
            Some(t) => tensor_ints(t),
            None => self.input(i)?.sym?.iter().map(SymInt::int).collect(),
        }
    }

    /// A constant float (or integer) input's elements.
    pub fn floats(&self, i: usize) -> Option<Vec<f64>> {
        tensor_floats(self.value(i)?)
    }

    /// Input `i`'s elements as symbolic integers: from a constant, or as tracked through
    /// shape computations.
    pub fn sym_ints(&self, i: usize) -> Option<Vec<SymInt>> {
        let input = self.input(i)?;
        if let Some(t) = input.value {
            return Some(tensor_ints(t)?.into_iter().map(SymInt::Int).collect());
        }
        input.sym.map(<[SymInt]>::to_vec)
    }

    pub fn attr_int(&self, name: &str, default: i64) -> Result<i64, InferError> {
        self.attrs
            .int(name, default)
            .map_err(|e| InferError(e.to_string()))
    }

    pub fn attr_ints(&self, name: &str) -> Result<Option<Vec<i64>>, InferError> {
        if !self.attrs.contains(name) {
            return Ok(None);
        }
        self.attrs
            .ints(name, Vec::new())
            .map(Some)
            .map_err(|e| InferError(e.to_string()))
    }

    pub fn attr_float(&self, name: &str, default: f32) -> Result<f32, InferError> {
        self.attrs
            .float(name, default)
            .map_err(|e| InferError(e.to_string()))
    }

    pub fn attr_string(&self, name: &str, default: &str) -> Result<String, InferError> {
        self.attrs
            .string(name, default)
            .map_err(|e| InferError(e.to_string()))
    }

    /// An element-type attribute (`to`, `dtype`, `output_dtype`), when set and valid.
    pub fn attr_dtype(&self, name: &str) -> Result<Option<DType>, InferError> {
        if !self.attrs.contains(name) {
            return Ok(None);
        }
        let code = self.attr_int(name, 0)?;
        match DType::from_onnx_code(code as i32) {
            Some(d) => Ok(Some(d)),
            None if code == 0 => Ok(None),
            None => fail!("attribute `{name}` is not an element type code: {code}"),
        }
    }
}

/// The inferred types (and symbolic integer values) of a node's outputs.
#[derive(Debug, Clone, Default)]
pub struct Outputs {
    pub types: Vec<Option<ValueType>>,
    pub syms: Vec<Option<Vec<SymInt>>>,
}

impl Outputs {
    pub fn new(n: usize) -> Outputs {
        Outputs {
            types: vec![None; n],
            syms: vec![None; n],
        }
    }

    /// Sets output `i` to a tensor of `dtype` (unknown when `None`) and `shape` (unknown rank
    /// when `None`). Out-of-range outputs are ignored (the node declares fewer).
    pub fn set(&mut self, i: usize, dtype: Option<DType>, shape: Option<Vec<Dim>>) {
        if let Some(slot) = self.types.get_mut(i) {
            *slot = Some(ValueType::Tensor(TensorType {
                dtype,
                shape: shape.map(Shape),
            }));
        }
    }

    /// Sets output `i`'s symbolic integer elements.
    pub fn set_sym(&mut self, i: usize, sym: Vec<SymInt>) {
        if let Some(slot) = self.syms.get_mut(i) {
            *slot = Some(sym);
        }
    }

    pub fn set_type(&mut self, i: usize, ty: ValueType) {
        if let Some(slot) = self.types.get_mut(i) {
            *slot = Some(ty);
        }
    }
}
