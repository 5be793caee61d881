//! What a kernel sees: its node, its inputs, the opset, and a way to run sub-graphs.

use std::cell::Cell;

use modelc_ir::{Attrs, Graph, Node};

use crate::interpreter::run_graph;
use crate::plan::{Act, Affine};
use crate::pool::Pool;
use crate::{Array, Data, KernelError};

/// The context of one kernel call.
pub struct OpCtx<'a> {
    pub node: &'a Node,
    /// Explicit inputs; `None` for an omitted optional input.
    pub inputs: Vec<Option<&'a Data>>,
    /// Values the node's sub-graphs read from enclosing graphs, by name.
    pub captures: Vec<(&'a str, &'a Data)>,
    /// The version of the node's operator-set domain the model imports.
    pub opset: i64,
    pub(crate) opsets: &'a [modelc_ir::OpsetImport],
    /// The activation the plan fused after this node (f32 results only): a kernel may
    /// apply it to its output while still in cache, and then sets `epilogue_done` so the
    /// interpreter does not apply it again.
    pub(crate) epilogue: Option<Act>,
    /// A BatchNormalization the plan fused after this node (a Conv), applied before
    /// `epilogue`; `epilogue_done` covers both.
    pub(crate) affine: Option<&'a Affine>,
    /// A bias the plan fused after this node (a MatMul's `Add`), one value per column of
    /// the product, applied before `epilogue`; `epilogue_done` covers it too.
    pub(crate) col_bias: Option<&'a [f32]>,
    pub(crate) epilogue_done: Cell<bool>,
    /// Buffers of dropped values, for outputs the kernel overwrites entirely.
    pub(crate) pool: Option<&'a Pool>,
    /// The node's prepared-state slot (see [`OpCtx::prepared`]): present when every input
    /// after the first is a constant of the interpreter.
    pub(crate) slot: Option<&'a Slot>,
}

/// State a kernel derives from its node's constant inputs once per interpreter (weights
/// transformed or packed for its inner loops), kept for every later run.
pub(crate) type Slot = std::sync::OnceLock<Box<dyn std::any::Any + Send + Sync>>;

impl<'a> OpCtx<'a> {
    /// A context for calling a kernel directly (unit tests, benchmarks): `inputs` in slot
    /// order (`None` for an omitted optional input), no captures, the given opset.
    pub fn for_test(node: &'a Node, inputs: &'a [Option<Data>], opset: i64) -> OpCtx<'a> {
        OpCtx {
            node,
            inputs: inputs.iter().map(|d| d.as_ref()).collect(),
            captures: vec![],
            opset,
            opsets: &[],
            epilogue: None,
            affine: None,
            col_bias: None,
            epilogue_done: Cell::new(false),
            pool: None,
            slot: None,
        }
    }

    /// An output buffer of `len` elements with unspecified contents (a dropped value's,
    /// when the run has one of that length): only for outputs the kernel writes entirely.
    pub(crate) fn out_buffer<T: Clone + num_traits::Zero + 'static>(&self, len: usize) -> Vec<T> {
        Pool::take(self.pool, len)
    }

    /// State derived from the node's constant inputs (every input after the first), made
    /// by `make` on the first run of an interpreter and kept for its later runs: `None`
    /// when the interpreter gives the node no slot (an input after the first is computed,
    /// or the kernel is called directly), and the caller then derives it itself. `make`
    /// must depend on those inputs only, and the kernel must compute the same bits either
    /// way.
    pub(crate) fn prepared<S: std::any::Any + Send + Sync>(
        &self,
        make: impl FnOnce() -> S,
    ) -> Option<&'a S> {
        let slot = self.slot?;
        slot.get_or_init(|| Box::new(make())).downcast_ref::<S>()
    }

    /// [`OpCtx::prepared`], or, when the node has no slot, `make()` kept in `owned` (the
    /// caller's, for this run only).
    pub(crate) fn prepared_or<'s, S: std::any::Any + Send + Sync>(
        &'s self,
        owned: &'s mut Option<S>,
        make: impl Fn() -> S,
    ) -> &'s S {
        match self.prepared(&make) {
            Some(s) => s,
            None => owned.insert(make()),
        }
    }

    pub fn attrs(&self) -> &'a Attrs {
        &self.node.attrs
    }

    /// Attribute `name` as a float; when absent, the ONNX schema's default for the node's op
    /// at this opset (an error when the schema has none).
    pub fn float(&self, name: &str) -> Result<f32, KernelError> {
        Ok(self
            .attrs()
            .float_or_default(&self.node.op, Some(self.opset), name)?)
    }

    /// Attribute `name` as an int, with the schema default (see [`OpCtx::float`]).
    pub fn int(&self, name: &str) -> Result<i64, KernelError> {
        Ok(self
            .attrs()
            .int_or_default(&self.node.op, Some(self.opset), name)?)
    }

    /// Attribute `name` as UTF-8 text, with the schema default (see [`OpCtx::float`]).
    pub fn string(&self, name: &str) -> Result<String, KernelError> {
        Ok(self
            .attrs()
            .string_or_default(&self.node.op, Some(self.opset), name)?)
    }

    /// Number of explicit input slots (including omitted optional ones).
    pub fn num_inputs(&self) -> usize {
        self.inputs.len()
    }

    /// Input `i`, which must be present and a tensor.
    pub fn input(&self, i: usize) -> Result<&'a Array, KernelError> {
        match self.inputs.get(i).copied().flatten() {
            Some(Data::Tensor(a)) => Ok(a),
            Some(_) => Err(KernelError::new(format!("input {i} is not a tensor"))),
            None => Err(KernelError::new(format!("input {i} is missing"))),
        }
    }

    /// Input `i` if present (optional inputs); an error if present but not a tensor.
    pub fn opt_input(&self, i: usize) -> Result<Option<&'a Array>, KernelError> {
        match self.inputs.get(i).copied().flatten() {
            Some(Data::Tensor(a)) => Ok(Some(a)),
            Some(_) => Err(KernelError::new(format!("input {i} is not a tensor"))),
            None => Ok(None),
        }
    }

    /// Input `i` as any value (sequences, optionals).
    pub fn data(&self, i: usize) -> Option<&'a Data> {
        self.inputs.get(i).copied().flatten()
    }

    /// Runs a sub-graph of this node on `inputs`, with the node's captures as its outer
    /// values; returns the sub-graph's outputs in order.
    pub fn run_subgraph(&self, graph: &Graph, inputs: Vec<Data>) -> Result<Vec<Data>, KernelError> {
        run_graph(graph, self.opsets, inputs, &self.captures)
            .map_err(|e| KernelError::new(e.to_string()))
    }
}
