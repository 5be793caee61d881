//! Walks the (NHWC) graph in topological order and emits TFLite operators.
//!
//! Per node it decides two things before the op file for the node's op runs:
//! - **fusion**: a Relu / Clip(0,6) / Clip(-1,1) that is the only reader of an op TFLite can
//!   fuse it into becomes that op's `fused_activation_function` (not Tanh: TFLite kernels
//!   apply fused activations as a clamp and silently ignore TANH);
//! - **quantized or float**: when every float input comes from a DequantizeLinear and every
//!   output only feeds one QuantizeLinear, the op is emitted on the quantized tensors (with
//!   the QDQ scales) and the Q/DQ nodes disappear; otherwise it runs in float, a
//!   DequantizeLinear it reads becomes a DEQUANTIZE op and a QuantizeLinear a QUANTIZE op.

use std::collections::HashSet;

use modelc_ir::{node_label, Attr, DType, Graph, NodeId, OnnxOp, Op, ValueRef};

use super::builder::Builder;
use super::ops;
use crate::fb::{ActivationFunctionType, BuiltinOperator};
use crate::import::Quant;
use crate::TfliteError;

pub(crate) struct Lower<'g> {
    pub model: Builder<'g>,
    pub g: &'g Graph,
    /// Nodes folded into another (fused activations, absorbed Q nodes, skipped reshapes).
    pub absorbed: HashSet<NodeId>,
    /// Nodes that cannot be exported, with the reason.
    pub unsupported: Vec<String>,
    /// The current node's mode and fused activation.
    pub quantized: bool,
    pub act: ActivationFunctionType,
    /// The value each output slot of the current node really produces (after fusion).
    pub outs: Vec<ValueRef>,
    graph_outputs: HashSet<ValueRef>,
    /// Nodes that could not be exported; readers of their values fail quietly (only the
    /// first failure of a chain is reported).
    failed: HashSet<NodeId>,
}

/// The message of a failure caused by an earlier one (not reported again).
const CASCADE: &str = "reads the output of a node that failed";

/// An activation TFLite can fuse, and the value it produces.
fn fusable_activation(g: &Graph, b: &Builder, id: NodeId) -> Option<ActivationFunctionType> {
    let node = g.node(id);
    let op = node.op.onnx().filter(|op| op.traits().fusable_activation)?;
    // Which fusable activations TFLite's enum can say, and how.
    match op {
        OnnxOp::Relu => Some(ActivationFunctionType::RELU),
        OnnxOp::Clip => {
            let ins = g.inputs_of(id);
            let lo = ins
                .get(1)
                .copied()
                .flatten()
                .and_then(|v| b.const_floats(v))?;
            let hi = ins
                .get(2)
                .copied()
                .flatten()
                .and_then(|v| b.const_floats(v))?;
            match (lo.as_slice(), hi.as_slice()) {
                ([l], [h]) if *l == 0.0 && *h == 6.0 => Some(ActivationFunctionType::RELU6),
                ([l], [h]) if *l == -1.0 && *h == 1.0 => Some(ActivationFunctionType::RELU_N1_TO_1),
                _ => None,
            }
        }
        _ => None,
    }
}

/// Ops whose TFLite form has a fused activation: a fact of TFLite's builtins (which options
/// tables carry `fused_activation_function`), so it stays with the TFLite writer.
fn can_fuse(op: OnnxOp) -> bool {
    use OnnxOp::*;
    matches!(
        op,
        Conv | ConvTranspose
            | Add
            | Sub
            | Mul
            | Div
            | Gemm
            | MatMul
            | Concat
            | MaxPool
            | AveragePool
    )
}

impl<'g> Lower<'g> {
    pub fn new(g: &'g Graph, model: Builder<'g>) -> Lower<'g> {
        Lower {
            model,
            g,
            absorbed: HashSet::new(),
            unsupported: Vec::new(),
            quantized: false,
            act: ActivationFunctionType::NONE,
            outs: Vec::new(),
            graph_outputs: g.outputs().iter().copied().collect(),
            failed: HashSet::new(),
        }
    }

    fn op_of(&self, v: ValueRef) -> Option<OnnxOp> {
        self.g.node(v.node).op.onnx()
    }

    /// The only reader of `v`, when there is exactly one and `v` is not a graph output.
    fn only_user(&self, v: ValueRef) -> Option<(NodeId, usize)> {
        if self.graph_outputs.contains(&v) {
            return None;
        }
        match self.g.users(v).as_slice() {
            [u] => Some(*u),
            _ => None,
        }
    }

    /// Quantization parameters of a QuantizeLinear / DequantizeLinear node.
    pub fn qdq_params(&self, id: NodeId) -> Option<Quant> {
        let ins = self.g.inputs_of(id);
        let scale = self.model.const_floats(ins.get(1).copied().flatten()?)?;
        let zero_point = match ins.get(2).copied().flatten() {
            Some(z) => self.model.const_ints(z).or_else(|| {
                let t = self.model.const_of(z)?;
                let raw = t.raw()?;
                Some(match t.dtype {
                    DType::I8 => raw.iter().map(|&x| x as i8 as i64).collect(),
                    DType::U8 => raw.iter().map(|&x| x as i64).collect(),
                    DType::I16 => raw
                        .chunks_exact(2)
                        .map(|c| i16::from_le_bytes([c[0], c[1]]) as i64)
                        .collect(),
                    _ => return None,
                })
            })?,
            None => vec![0; scale.len()],
        };
        let node = self.g.node(id);
        let mut axis = node.attrs.int("axis", 1).ok()?;
        if scale.len() <= 1 {
            axis = 0;
        } else {
            // Per-axis: one scale (and zero point) per element of an existing axis, else the
            // file would say something its readers refuse.
            let x = ins.first().copied().flatten()?;
            let shape = self.model.shape_of(x)?;
            if axis < 0 {
                axis += shape.len() as i64;
            }
            let size = usize::try_from(axis)
                .ok()
                .and_then(|a| shape.get(a))
                .copied();
            if size != Some(scale.len() as i64) || zero_point.len() != scale.len() {
                return None;
            }
        }
        if node.attrs.int("block_size", 0).ok()? != 0 {
            return None;
        }
        Some(Quant {
            scale,
            zero_point,
            axis: axis as usize,
        })
    }

    /// The DequantizeLinear node producing `v` (through aliases), if any.
    pub fn dq_source(&self, v: ValueRef) -> Option<NodeId> {
        let v = self.model.resolve(v);
        (self.op_of(v) == Some(OnnxOp::DequantizeLinear)).then_some(v.node)
    }

    /// The tensor holding the integers behind DequantizeLinear output `v`, carrying the
    /// DQ's scales.
    pub fn qtensor(&mut self, v: ValueRef) -> Result<Option<usize>, TfliteError> {
        let Some(dq) = self.dq_source(v) else {
            return Ok(None);
        };
        let Some(q) = self.qdq_params(dq) else {
            return Ok(None);
        };
        let Some(x) = self.g.input(dq, 0) else {
            return Ok(None);
        };
        let x = self.model.resolve(x);
        if let Some(t) = self.model.map.get(x) {
            if self.model.tensors[t].quant.is_none() {
                self.model.tensors[t].quant = Some(Box::new(q));
            }
            return Ok(Some(t));
        }
        if let Some(c) = self.model.const_of(x) {
            let name = self.model.value_name(x);
            let t = self.model.const_tensor(name, c, Some(q))?;
            self.model.map.insert(x, t);
            return Ok(Some(t));
        }
        Ok(None)
    }

    /// The tensor holding value `v` as it is (float for float values).
    pub fn tensor(&mut self, v: ValueRef) -> Result<usize, TfliteError> {
        let v = self.model.resolve(v);
        if let Some(t) = self.model.map.get(v) {
            return Ok(t);
        }
        if self.reads_failed(v) {
            return Err(TfliteError::Unsupported(CASCADE.into()));
        }
        if let Some(c) = self.model.const_of(v) {
            let name = self.model.value_name(v);
            let t = self.model.const_tensor(name, c, None)?;
            self.model.map.insert(v, t);
            return Ok(t);
        }
        if self.op_of(v) == Some(OnnxOp::DequantizeLinear) {
            if let Some(q) = self.qtensor(v)? {
                let out = self.model.value_tensor(v, None)?;
                self.model.emit(
                    BuiltinOperator::DEQUANTIZE,
                    dq_version(&self.model, q),
                    &[Some(q)],
                    &[out],
                    None,
                );
                return Ok(out);
            }
        }
        if let Some(c) = self.f16_source(v) {
            // fp16 weights: stored in half precision, DEQUANTIZE to float on load.
            let name = self
                .model
                .value_name(ValueRef::new(self.g.input(v.node, 0).unwrap_or(v).node, 0));
            let h = self.model.const_tensor(name, c, None)?;
            let out = self.model.value_tensor(v, None)?;
            self.model
                .emit(BuiltinOperator::DEQUANTIZE, 3, &[Some(h)], &[out], None);
            return Ok(out);
        }
        Err(TfliteError::Unsupported(format!(
            "value `{}` is read before it is produced",
            self.model.value_name(v)
        )))
    }

    /// Whether `v` is the output of a node that failed, directly or through the
    /// QuantizeLinear / DequantizeLinear pair a quantized op's output passes (those are made
    /// on demand, so they never fail themselves).
    fn reads_failed(&self, v: ValueRef) -> bool {
        let mut v = self.model.resolve(v);
        for _ in 0..3 {
            if self.failed.contains(&v.node) {
                return true;
            }
            match self.op_of(v) {
                Some(OnnxOp::DequantizeLinear | OnnxOp::QuantizeLinear) => {
                    match self.g.input(v.node, 0) {
                        Some(x) => v = self.model.resolve(x),
                        None => return false,
                    }
                }
                _ => return false,
            }
        }
        false
    }

    /// The float16 constant a `Cast` to float producing `v` reads (fp16 models), if any.
    pub fn f16_source(&self, v: ValueRef) -> Option<&'g modelc_ir::Tensor> {
        let v = self.model.resolve(v);
        if self.op_of(v) != Some(OnnxOp::Cast) {
            return None;
        }
        let c = self.model.const_of(self.g.input(v.node, 0)?)?;
        (c.dtype == DType::F16 && self.model.dtype_of(v) == Some(DType::F32)).then_some(c)
    }

    /// Input `i` of node `id` in the current mode; `None` when omitted.
    pub fn input(&mut self, id: NodeId, i: usize) -> Result<Option<usize>, TfliteError> {
        let Some(v) = self.g.input(id, i) else {
            return Ok(None);
        };
        self.input_value(v).map(Some)
    }

    /// The tensor for value `v` read by the current node, in its mode.
    pub fn input_value(&mut self, v: ValueRef) -> Result<usize, TfliteError> {
        if self.quantized {
            if let Some(t) = self.qtensor(v)? {
                return Ok(t);
            }
        }
        self.tensor(v)
    }

    /// The bias for a quantized op on `input`: int16 activations take int64 biases, which the
    /// importer narrowed to int32 for ONNX; widen them back.
    pub fn bias(
        &mut self,
        id: NodeId,
        i: usize,
        input: usize,
    ) -> Result<Option<usize>, TfliteError> {
        let Some(b) = self.input(id, i)? else {
            return Ok(None);
        };
        let (bt, it) = (&self.model.tensors[b], &self.model.tensors[input]);
        if !(self.quantized && it.dtype == DType::I16 && bt.dtype == DType::I32 && bt.buffer != 0) {
            return Ok(Some(b));
        }
        let Some(bv) = self.g.input(id, i) else {
            return Ok(Some(b));
        };
        let src = self.dq_source(bv).and_then(|dq| self.g.input(dq, 0));
        let Some(c) = src.and_then(|s| self.model.const_of(s)) else {
            return Ok(Some(b));
        };
        let Some(raw) = c.raw() else {
            return Ok(Some(b));
        };
        let wide: Vec<u8> = raw
            .chunks_exact(4)
            .flat_map(|w| (i32::from_le_bytes([w[0], w[1], w[2], w[3]]) as i64).to_le_bytes())
            .collect();
        let (name, shape, quant) = (
            format!("{}/i64", bt.name),
            bt.shape.to_vec(),
            bt.quant.as_deref().cloned(),
        );
        let t = self.model.add_tensor(
            name,
            DType::I64,
            shape,
            Some(&bytes::Bytes::from(wide)),
            quant,
        )?;
        Ok(Some(t))
    }

    pub fn req(&mut self, id: NodeId, i: usize) -> Result<usize, TfliteError> {
        self.input(id, i)?.ok_or_else(|| {
            TfliteError::Unsupported(format!(
                "{}: input {i} is missing",
                node_label(self.g.node(id))
            ))
        })
    }

    /// The output tensor for slot `slot` of the current node.
    pub fn output(&mut self, slot: usize) -> Result<usize, TfliteError> {
        let v = self.outs[slot];
        if self.quantized {
            let (q, _) = self.g.users(v)[0];
            let qv = ValueRef::new(q, 0);
            let params = self.qdq_params(q);
            let t = self.model.value_tensor(qv, params)?;
            self.model.map.insert(v, t);
            return Ok(t);
        }
        let quant = self.moved_quantization(v);
        self.model.value_tensor(v, quant)
    }

    /// The quantization of the integer tensor a data-movement op (Transpose, Reshape, …)
    /// moves, for its output: a quantized model's integer output (`quantize-io`) transposed
    /// back to NCHW keeps its scale (an int8 tensor without one is refused by LiteRT's
    /// XNNPACK: "unsupported quantization type 0").
    fn moved_quantization(&self, v: ValueRef) -> Option<Quant> {
        let op = self.g.node(v.node).op.onnx()?;
        if !matches!(
            op,
            OnnxOp::Transpose
                | OnnxOp::Reshape
                | OnnxOp::Squeeze
                | OnnxOp::Unsqueeze
                | OnnxOp::Flatten
        ) {
            return None;
        }
        let x = self.g.input(v.node, 0)?;
        let t = &self.model.tensors[self.model.map.get(self.model.resolve(x))?];
        let same_int = !t.dtype.is_float() && self.model.dtype_of(v) == Some(t.dtype);
        same_int.then(|| t.quant.as_deref().cloned()).flatten()
    }

    /// Shape of input `i` of node `id`.
    pub fn in_shape(&self, id: NodeId, i: usize) -> Option<Vec<i64>> {
        self.model.shape_of(self.g.input(id, i)?)
    }

    pub fn out_shape(&self, slot: usize) -> Option<Vec<i64>> {
        self.model.shape_of(self.outs[slot])
    }

    pub fn unsupported(&mut self, id: NodeId, why: impl std::fmt::Display) {
        self.unsupported
            .push(format!("{} ({why})", node_label(self.g.node(id))));
    }

    /// Marks Reshape/Flatten nodes whose only reader is a Gemm's data input: FULLY_CONNECTED
    /// flattens its input itself, so they need no op (ResNet's Flatten before the classifier).
    fn skip_flatten_before_fc(&mut self, order: &[NodeId]) {
        for &id in order {
            let op = self.g.node(id).op.onnx();
            if !matches!(op, Some(OnnxOp::Reshape | OnnxOp::Flatten)) {
                continue;
            }
            let out = ValueRef::new(id, 0);
            let Some((user, 0)) = self.only_user(out) else {
                continue;
            };
            if self.g.node(user).op.onnx() != Some(OnnxOp::Gemm)
                || self.g.node(user).attrs.int("transA", 0).unwrap_or(0) != 0
                || self
                    .model
                    .shape_of(out)
                    .is_none_or(|s| s.len() != 2 || s[1] < 0)
            {
                continue;
            }
            let Some(src) = self.g.input(id, 0) else {
                continue;
            };
            if self.model.dtype_of(src).is_some_and(|d| d.is_float()) {
                self.model.alias.insert(out, src);
                self.absorbed.insert(id);
            }
        }
    }

    /// Marks Transpose(perm [3, 1, 2, 0]) nodes that only feed a depthwise Conv's filter:
    /// the importer made them from a TFLite filter, which the depthwise lowering uses as is.
    fn skip_depthwise_filter_transposes(&mut self, order: &[NodeId]) {
        for &id in order {
            if self.g.node(id).op.onnx() != Some(OnnxOp::Transpose)
                || attr_ints(self.g, id, "perm").as_deref() != Some(&[3, 1, 2, 0])
            {
                continue;
            }
            let Some((user, 1)) = self.only_user(ValueRef::new(id, 0)) else {
                continue;
            };
            if self.g.node(user).op.onnx() == Some(OnnxOp::Conv)
                && attr_i(self.g, user, "group", 1) > 1
            {
                self.absorbed.insert(id);
            }
        }
    }

    pub fn run(&mut self) -> Result<(), TfliteError> {
        let order = self
            .g
            .topo_order()
            .map_err(|e| TfliteError::Unsupported(e.to_string()))?;
        for &id in self.g.inputs() {
            // A nested subgraph's inputs are made by its control-flow op (`ops::control`).
            if !self.model.map.contains_key(ValueRef::new(id, 0)) {
                self.model.value_tensor(ValueRef::new(id, 0), None)?;
            }
        }
        self.skip_flatten_before_fc(&order);
        self.skip_depthwise_filter_transposes(&order);
        // LSTM zero initial states (TFLite's variable tensors) and batch_first Transposes.
        ops::lstm::prepare(self, &order);
        for id in order {
            if self.absorbed.contains(&id) {
                continue;
            }
            let node = self.g.node(id);
            match &node.op {
                // Outer-scope values are bound by the control-flow op owning the subgraph.
                Op::Input { .. } | Op::Const(_) | Op::Outer => {}
                Op::Custom(c) if c.domain == crate::import::DOMAIN => {
                    self.prepare(id, None);
                    let r = ops::custom::lower(self, id);
                    self.fail_on(id, r)?;
                }
                Op::Onnx(op) => {
                    let op = *op;
                    self.prepare(id, Some(op));
                    let r = self.lower_onnx(id, op);
                    self.fail_on(id, r)?;
                }
                _ => {
                    self.failed.insert(id);
                    self.unsupported(id, "no TFLite equivalent");
                }
            }
        }
        Ok(())
    }

    /// Records a node that could not be lowered (and the activation fused into it).
    fn fail_on(&mut self, id: NodeId, r: Result<(), TfliteError>) -> Result<(), TfliteError> {
        match r {
            Ok(()) => Ok(()),
            Err(TfliteError::Unsupported(m)) => {
                self.failed.insert(id);
                for v in self.outs.clone() {
                    self.failed.insert(v.node);
                }
                if m != CASCADE {
                    self.unsupported(id, m);
                }
                Ok(())
            }
            Err(other) => Err(other),
        }
    }

    fn lower_onnx(&mut self, id: NodeId, op: OnnxOp) -> Result<(), TfliteError> {
        if let Some((src, shape)) = self.empty_source(id, op) {
            let input = self.tensor(src)?;
            let out = self.output(0)?;
            return ops::shape::reshape(self, input, out, &shape);
        }
        match op {
            // Identities: readers see the input.
            OnnxOp::Identity | OnnxOp::Dropout => {
                let src = self
                    .g
                    .input(id, 0)
                    .ok_or_else(|| TfliteError::Unsupported("no input".into()))?;
                self.model.alias.insert(ValueRef::new(id, 0), src);
                Ok(())
            }
            // A reduction, transpose or broadcast of a 0-d value to a 0-d value is that
            // value: written as an op it would need an empty axes / perm / shape constant,
            // which TFLite cannot hold (a buffer without bytes is a run-time tensor).
            _ if self.scalar_passthrough(id, op) => {
                let src = self
                    .g
                    .input(id, 0)
                    .ok_or_else(|| TfliteError::Unsupported("no input".into()))?;
                self.model.alias.insert(ValueRef::new(id, 0), src);
                Ok(())
            }
            // Made on demand by readers (see `tensor` / `qtensor`).
            OnnxOp::DequantizeLinear => Ok(()),
            OnnxOp::Cast if self.f16_source(ValueRef::new(id, 0)).is_some() => Ok(()),
            // Written by the ArgMax / ArgMin it reads, as its output type.
            OnnxOp::Cast if ops::select::folded_cast(self.g, id) => Ok(()),
            _ => ops::lower(self, id, op),
        }
    }

    /// For a node whose one result has no elements (a static shape with a 0) and which reads
    /// a value of the result's element type that has none either: that value and the result's
    /// shape. The node is then written as a RESHAPE of that value: there is nothing to compute,
    /// and some LiteRT kernels fail on empty operands at run time (GATHER_ND of empty params:
    /// "NumElements(params) > 0 was not true").
    fn empty_source(&self, id: NodeId, op: OnnxOp) -> Option<(ValueRef, Vec<i64>)> {
        use OnnxOp::*;
        if self.quantized
            || self.outs.len() != 1
            || matches!(
                op,
                If | Loop | Scan | Identity | Dropout | QuantizeLinear | DequantizeLinear
            )
        {
            return None;
        }
        let out = ValueRef::new(id, 0);
        let shape = self.model.shape_of(out)?;
        if !shape.contains(&0) || shape.iter().any(|&d| d < 0) {
            return None;
        }
        let dtype = self.model.dtype_of(out)?;
        let src = self.g.inputs_of(id).into_iter().flatten().find(|&v| {
            self.model.const_of(v).is_none()
                && self.model.dtype_of(v) == Some(dtype)
                && self.model.shape_of(v).is_some_and(|s| s.contains(&0))
        })?;
        Some((src, shape))
    }

    /// Whether node `id` maps a 0-d value to itself: ReduceSum/Mean/Max/Min/Prod (over no
    /// axis or every axis), Transpose, Expand or Tile of a 0-d input with a 0-d result of
    /// the same element type.
    fn scalar_passthrough(&self, id: NodeId, op: OnnxOp) -> bool {
        use OnnxOp::*;
        if self.quantized
            || !matches!(
                op,
                ReduceSum
                    | ReduceMean
                    | ReduceMax
                    | ReduceMin
                    | ReduceProd
                    | Transpose
                    | Expand
                    | Tile
            )
            || self.g.node(id).outputs.len() != 1
        {
            return false;
        }
        let (Some(x), out) = (self.g.input(id, 0), ValueRef::new(id, 0)) else {
            return false;
        };
        let rank0 = |v| self.model.shape_of(v).is_some_and(|s| s.is_empty());
        rank0(x)
            && rank0(out)
            && self.model.dtype_of(x).is_some()
            && self.model.dtype_of(x) == self.model.dtype_of(out)
    }

    /// Decides fusion and mode for node `id` and sets `outs`.
    fn prepare(&mut self, id: NodeId, op: Option<OnnxOp>) {
        let n_out = self.g.node(id).outputs.len();
        self.outs = (0..n_out).map(|s| ValueRef::new(id, s)).collect();
        self.act = ActivationFunctionType::NONE;
        self.quantized = false;
        let Some(op) = op else { return };
        if can_fuse(op) && n_out == 1 {
            if let Some((user, _)) = self.only_user(self.outs[0]) {
                if let Some(act) = fusable_activation(self.g, &self.model, user) {
                    self.act = act;
                    self.outs[0] = ValueRef::new(user, 0);
                    self.absorbed.insert(user);
                }
            }
        }
        if matches!(
            op,
            OnnxOp::QuantizeLinear | OnnxOp::DequantizeLinear | OnnxOp::Identity | OnnxOp::Dropout
        ) {
            return;
        }
        let ins = self.g.inputs_of(id);
        // Resize's roi and scales are parameters (a float constant), not data.
        let data = if op == OnnxOp::Resize {
            &ins[..1]
        } else {
            &ins[..]
        };
        let float_inputs: Vec<ValueRef> = data
            .iter()
            .flatten()
            .copied()
            .filter(|&v| {
                self.model
                    .dtype_of(self.model.resolve(v))
                    .is_some_and(|d| d.is_float())
            })
            .collect();
        let all_dq = !float_inputs.is_empty()
            && float_inputs.iter().all(|&v| {
                self.dq_source(v)
                    .is_some_and(|dq| self.qdq_params(dq).is_some())
            });
        let all_q = self.outs.iter().all(|&v| {
            self.only_user(v).is_some_and(|(u, _)| {
                self.g.node(u).op.onnx() == Some(OnnxOp::QuantizeLinear)
                    && self.qdq_params(u).is_some()
            })
        });
        if all_dq && all_q {
            self.quantized = true;
            for &v in &self.outs.clone() {
                let (q, _) = self.g.users(v)[0];
                self.absorbed.insert(q);
            }
            // A quantized op's output tensor is the QuantizeLinear's output.
            for v in self.outs.clone() {
                let (q, _) = self.g.users(v)[0];
                self.model.alias.insert(ValueRef::new(q, 0), v);
            }
        }
    }

    /// The TFLite tensors of the graph outputs.
    pub fn graph_output_tensors(&mut self) -> Result<Vec<(String, usize)>, TfliteError> {
        let mut out = Vec::new();
        let mut failed = None;
        for v in self.g.outputs().to_vec() {
            // An output no node writes (a constant the file cannot hold) is refused by the
            // node that makes it, with the others.
            let t = match self.tensor(v) {
                Ok(t) => t,
                Err(TfliteError::Unsupported(m)) => {
                    if m != CASCADE {
                        self.unsupported(v.node, &m);
                    }
                    failed = Some(TfliteError::Unsupported(m));
                    continue;
                }
                Err(e) => return Err(e),
            };
            // The signature names the tensor by the IR output's name.
            out.push((self.model.value_name(v), t));
        }
        match failed {
            Some(e) => Err(e),
            None => Ok(out),
        }
    }
}

/// DEQUANTIZE version by input type (int8 needs version 2, float16 version 3).
fn dq_version(b: &Builder, t: usize) -> i32 {
    match b.tensors[t].dtype {
        DType::F16 => 3,
        DType::I8 => 2,
        DType::I16 => 4,
        _ => 1,
    }
}

/// The float attribute or default; for the ops files.
pub(crate) fn attr_f(g: &Graph, id: NodeId, name: &str, default: f32) -> f32 {
    g.node(id).attrs.float(name, default).unwrap_or(default)
}

pub(crate) fn attr_i(g: &Graph, id: NodeId, name: &str, default: i64) -> i64 {
    g.node(id).attrs.int(name, default).unwrap_or(default)
}

pub(crate) fn attr_ints(g: &Graph, id: NodeId, name: &str) -> Option<Vec<i64>> {
    match g.node(id).attrs.get(name) {
        Some(Attr::Ints(v)) => Some(v.clone()),
        _ => None,
    }
}

pub(crate) fn attr_s(g: &Graph, id: NodeId, name: &str, default: &str) -> String {
    g.node(id)
        .attrs
        .string(name, default)
        .unwrap_or_else(|_| default.to_string())
}
