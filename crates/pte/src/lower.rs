//! IR graph → [`Program`]: graph inputs and constants become tensor EValues, each node one or
//! more kernel calls ([`crate::ops`]), in the liveness plan's order; every node that cannot
//! be lowered is collected, and all are refused together.

use std::collections::{HashMap, HashSet};

use modelc_ir::cost::Liveness;
use modelc_ir::{node_label, DType, Graph, NodeId, Op, Tensor, TensorData, ValueRef};

use crate::program::{Program, Storage};
use crate::PteError;

/// The lowering state of one node's conversion; ops read their inputs and make their outputs
/// through it.
pub(crate) struct Lower<'g> {
    pub g: &'g Graph,
    pub p: Program,
    live: Liveness,
    /// IR value → its tensor EValue.
    map: HashMap<ValueRef, usize>,
    /// The liveness position of the node being lowered.
    step: usize,
    /// The node being lowered.
    pub node: NodeId,
}

/// A reason a node cannot be lowered.
pub(crate) type Refusal = String;

pub(crate) fn lower(g: &Graph) -> Result<Program, PteError> {
    let live = Liveness::of(g)
        .ok_or_else(|| PteError::Unsupported(vec!["the graph has a cycle".into()]))?;
    let order = live.order.clone();
    let mut cx = Lower {
        g,
        p: Program::default(),
        live,
        map: HashMap::new(),
        step: 0,
        node: NodeId::new(0),
    };
    let mut refused = Vec::new();
    // Nodes refused, and those downstream of them (not reported again: only the cause is).
    let mut failed: HashSet<NodeId> = HashSet::new();
    for &id in g.inputs() {
        let v = ValueRef::new(id, 0);
        match cx.value_tensor(v, 0) {
            Ok(t) => cx.p.inputs.push(t),
            Err(why) => {
                refused.push(format!("input '{}': {why}", g.node(id).outputs[0].name));
                failed.insert(id);
            }
        }
    }
    for (step, &id) in order.iter().enumerate() {
        let node = g.node(id);
        if matches!(node.op, Op::Input { .. } | Op::Const(_)) {
            continue;
        }
        if g.inputs_of(id)
            .into_iter()
            .flatten()
            .any(|v| failed.contains(&v.node))
        {
            failed.insert(id);
            continue;
        }
        cx.step = step;
        cx.node = id;
        if let Err(why) = crate::ops::lower_node(&mut cx, id) {
            refused.push(format!("{}: {why}", node_label(node)));
            failed.insert(id);
        }
    }
    if refused.is_empty() {
        cx.outputs(&mut refused);
    }
    if !refused.is_empty() {
        return Err(PteError::Unsupported(refused));
    }
    Ok(cx.p)
}

impl Lower<'_> {
    /// The known sizes of IR value `v`.
    pub fn dims(&self, v: ValueRef) -> Result<Vec<u64>, Refusal> {
        self.g.known_dims(v).ok_or_else(|| {
            format!(
                "'{}' has no known size (ExecuTorch plans memory ahead of time: fix the input \
                 sizes with --input-shape / --dim)",
                self.name(v)
            )
        })
    }

    pub fn dtype(&self, v: ValueRef) -> Result<DType, Refusal> {
        self.g
            .dtype_of(v)
            .ok_or_else(|| format!("'{}' has no known element type", self.name(v)))
    }

    fn name(&self, v: ValueRef) -> String {
        self.g.value(v).map(|x| x.name.clone()).unwrap_or_default()
    }

    /// The IR value feeding input `slot` of the node being lowered.
    pub fn input_ref(&self, slot: usize) -> Result<ValueRef, Refusal> {
        self.g
            .input(self.node, slot)
            .ok_or_else(|| format!("input {slot} is missing"))
    }

    /// Whether input `slot` is connected.
    pub fn has_input(&self, slot: usize) -> bool {
        self.g.input(self.node, slot).is_some()
    }

    /// The constant feeding input `slot`, if it is one.
    pub fn const_input(&self, slot: usize) -> Option<&Tensor> {
        let v = self.g.input(self.node, slot)?;
        match &self.g.node(v.node).op {
            Op::Const(t) => Some(t),
            _ => None,
        }
    }

    /// The small integer constant feeding input `slot` (shapes, axes).
    pub fn const_ints(&self, slot: usize) -> Option<Vec<i64>> {
        modelc_ir::infer::tensor_ints(self.const_input(slot)?)
    }

    /// The tensor EValue of input `slot`.
    pub fn input(&mut self, slot: usize) -> Result<usize, Refusal> {
        let v = self.input_ref(slot)?;
        if let Some(&t) = self.map.get(&v) {
            return Ok(t);
        }
        match &self.g.node(v.node).op {
            Op::Const(t) => {
                let e = self.constant(t)?;
                self.map.insert(v, e);
                Ok(e)
            }
            _ => Err(format!("input '{}' was not computed before", self.name(v))),
        }
    }

    /// A constant tensor EValue holding `t`.
    pub fn constant(&mut self, t: &Tensor) -> Result<usize, Refusal> {
        let TensorData::Raw(bytes) = &t.data else {
            return Err("string tensors have no ExecuTorch form".into());
        };
        if bytes.is_empty() {
            // A program whose constants are all empty has no constant segment for them to
            // index (the runtime refuses it: "Constant segment index 0 invalid").
            return Err("an empty constant (0 elements) has no ExecuTorch form".into());
        }
        crate::file::scalar_type(t.dtype)?;
        Ok(self.p.constant(t.dtype, t.dims.clone(), bytes.clone()))
    }

    /// The planned tensor of the node's output `slot` (its type from the IR).
    pub fn output(&mut self, slot: usize) -> Result<usize, Refusal> {
        let v = ValueRef::new(self.node, slot);
        self.value_tensor(v, self.step)
    }

    fn value_tensor(&mut self, v: ValueRef, made: usize) -> Result<usize, Refusal> {
        let dims = self.dims(v)?;
        let dtype = self.dtype(v)?;
        crate::file::scalar_type(dtype)?;
        let last = self.live.live_until(v, made);
        let t = self.p.planned(dtype, dims, made, last);
        self.map.insert(v, t);
        Ok(t)
    }

    /// A planned tensor that lives only while the node being lowered runs (an intermediate
    /// of a multi-call lowering, an unused second result).
    pub fn temp(&mut self, dtype: DType, dims: Vec<u64>) -> usize {
        self.p.planned(dtype, dims, self.step, self.step)
    }

    /// The plan's outputs: each graph output's tensor; one that is not a distinct planned
    /// tensor made by a kernel (a constant, a graph input, an output listed twice, a
    /// pass-through of one) is copied by `clone.out` into its own.
    fn outputs(&mut self, refused: &mut Vec<String>) {
        let end = self.live.order.len();
        for &v in self.g.outputs() {
            let t = match self.map.get(&v) {
                Some(&t) => t,
                None => {
                    let made = match &self.g.node(v.node).op {
                        Op::Const(c) => self.constant(c),
                        _ => Err("it is not computed".to_string()),
                    };
                    match made {
                        Ok(t) => t,
                        Err(why) => {
                            refused.push(format!("output '{}': {why}", self.name(v)));
                            continue;
                        }
                    }
                }
            };
            self.output_of(t, end);
        }
    }

    fn output_of(&mut self, t: usize, end: usize) {
        let is_input = self.p.inputs.contains(&t);
        let planned = matches!(
            self.p.tensor(t).map(|x| &x.storage),
            Some(Storage::Planned { .. })
        );
        if planned && !is_input && !self.p.outputs.contains(&t) {
            self.p.outputs.push(t);
            return;
        }
        let Some(src) = self.p.tensor(t).cloned() else {
            return;
        };
        let copy = self.p.planned(src.dtype, src.sizes, end, end);
        let memory_format = self.p.null();
        self.p
            .call("aten::clone", "out", &[t, memory_format], &[copy]);
        self.p.outputs.push(copy);
    }
}
