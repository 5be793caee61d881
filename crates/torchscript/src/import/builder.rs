//! Graph building helpers for the importer: nodes and constants through the IR's graph
//! builder (one naming scheme, constants shared by content), and the few shape idioms
//! (Shape → Gather, Unsqueeze/Concat of scalars) many ops share.

use std::collections::HashMap;

use modelc_ir::{Attr, Attrs, DType, Graph, Names, OnnxOp, Op, Tensor, ValueRef};

/// The graph under construction.
pub struct Builder {
    pub g: Graph,
    names: Names,
    /// Constants by content, so a weight read twice is one node.
    consts: HashMap<(u64, String), ValueRef>,
}

/// Attribute list shorthand.
pub fn attrs(items: Vec<(&str, Attr)>) -> Attrs {
    items.into_iter().collect()
}

impl Builder {
    pub fn new(name: &str) -> Builder {
        Builder {
            g: Graph::new(name),
            names: Names::default(),
            consts: HashMap::new(),
        }
    }

    /// The IR builder over the graph, with the names the whole import shares.
    pub fn build(&mut self) -> modelc_ir::Builder<'_> {
        modelc_ir::Builder::with_names(&mut self.g, &mut self.names)
    }

    /// A node with `n_out` outputs; returns its output refs. The outputs are typed as
    /// shape inference gives them from the inputs' types, so ranks, element types and the
    /// dims that are known follow every op without input shapes being given.
    pub fn node(
        &mut self,
        op: OnnxOp,
        inputs: &[Option<ValueRef>],
        a: Attrs,
        n_out: usize,
    ) -> Vec<ValueRef> {
        if let Some(consts) = self.fold(op, inputs, &a, n_out) {
            return consts;
        }
        let outs = self
            .build()
            .op_opt(op, inputs)
            .attrs(a)
            .outs(n_out)
            .values();
        if let Some(first) = outs.first() {
            self.infer(first.node);
        }
        outs
    }

    /// The outputs of `op` as constants when every input is a small constant (sizes and
    /// the arithmetic traced code does on them): computed by the interpreter's kernel, so
    /// sizes known at import time stay numbers (split sizes, output sizes, pads).
    fn fold(
        &mut self,
        op: OnnxOp,
        inputs: &[Option<ValueRef>],
        a: &Attrs,
        n_out: usize,
    ) -> Option<Vec<ValueRef>> {
        /// Most elements of all inputs of a node folded at import (shape arithmetic, not
        /// weights: folding those would copy them).
        const MAX_FOLD_ELEMENTS: u64 = 4096;
        if op.traits().randomness != modelc_ir::Randomness::Deterministic
            || op.has_subgraphs()
            || inputs.iter().all(Option::is_none)
        {
            return None;
        }
        if op == OnnxOp::Shape {
            // The shape of a value whose dims shape inference knows.
            let dims = self.g.known_dims(inputs.first().copied().flatten()?)?;
            let r = dims.len() as i64;
            let clamp = |v: i64| (if v < 0 { v + r } else { v }).clamp(0, r) as usize;
            let int = |n: &str, d: i64| match a.get(n) {
                Some(Attr::Int(v)) => *v,
                _ => d,
            };
            let start = clamp(int("start", 0));
            let end = clamp(int("end", r));
            let vals: Vec<i64> = dims
                .get(start..end.max(start))?
                .iter()
                .map(|&d| d as i64)
                .collect();
            return Some(vec![self.ints(&vals)]);
        }
        let kernel = modelc_interp::ops::lookup(op)?;
        let mut data = Vec::with_capacity(inputs.len());
        let mut total = 0u64;
        for v in inputs {
            let Some(v) = v else {
                data.push(None);
                continue;
            };
            let modelc_ir::Op::Const(t) = &self.g.node(v.node).op else {
                return None;
            };
            total += t.element_count()?;
            if total > MAX_FOLD_ELEMENTS {
                return None;
            }
            data.push(Some(modelc_interp::Data::Tensor(
                modelc_interp::Array::from_tensor(t).ok()?,
            )));
        }
        if !small_output(op, &data) {
            return None;
        }
        let node = modelc_ir::Node::new(
            Op::Onnx(op),
            inputs.len(),
            vec![modelc_ir::Value::default(); n_out],
        )
        .with_attrs(a.clone());
        let ctx = modelc_interp::OpCtx::for_test(&node, &data, super::OPSET);
        let outs = kernel(&ctx).ok()?;
        if outs.len() != n_out {
            return None;
        }
        let mut refs = Vec::with_capacity(n_out);
        for d in outs {
            let modelc_interp::Data::Tensor(arr) = d else {
                return None;
            };
            refs.push(arr.to_tensor());
        }
        // Each folded value is a node of its own (not shared by content): an in-place op
        // may overwrite it.
        Some(
            refs.into_iter()
                .map(|t| self.build().constant("const", t))
                .collect(),
        )
    }

    /// Types the outputs of `id` from its inputs' types (nothing when inference has no rule
    /// or finds the node inconsistent: the value then stays untyped).
    fn infer(&mut self, id: modelc_ir::NodeId) {
        let opsets = [modelc_ir::OpsetImport {
            domain: String::new(),
            version: super::OPSET,
        }];
        let Ok(Some(types)) = modelc_ir::infer::infer_node(&self.g, id, &opsets) else {
            return;
        };
        for (slot, ty) in types.into_iter().enumerate() {
            // Only types with an element type: a value typed without one would be written
            // as an invalid ONNX value_info.
            let Some(
                ty @ modelc_ir::ValueType::Tensor(modelc_ir::TensorType { dtype: Some(_), .. }),
            ) = ty
            else {
                continue;
            };
            if let Some(v) = self.g.value_mut(ValueRef::new(id, slot)) {
                if v.ty.is_none() {
                    v.ty = Some(ty.into());
                }
            }
        }
    }

    /// The rank of `v` when shape inference knows it.
    pub fn rank_of(&self, v: ValueRef) -> Option<usize> {
        self.g.shape_of(v).map(|s| s.rank())
    }

    /// The size of dimension `d` (negative: from the end) of `v` when it is a known number.
    pub fn static_dim(&self, v: ValueRef, d: i64) -> Option<u64> {
        let s = self.g.shape_of(v)?;
        let r = s.rank() as i64;
        let d = if d < 0 { d + r } else { d };
        if !(0..r).contains(&d) {
            return None;
        }
        match &s.0[d as usize] {
            modelc_ir::Dim::Known(n) => Some(*n),
            _ => None,
        }
    }

    /// A one-output node.
    pub fn op(&mut self, op: OnnxOp, inputs: &[ValueRef], a: Attrs) -> ValueRef {
        let ins: Vec<Option<ValueRef>> = inputs.iter().copied().map(Some).collect();
        self.node(op, &ins, a, 1)[0]
    }

    /// A placeholder for an op that could not be translated, so import can continue and
    /// report every problem at once.
    pub fn custom(&mut self, name: &str, inputs: &[ValueRef], n_out: usize) -> Vec<ValueRef> {
        let op = Op::custom("aten", name);
        self.build().op(op, inputs).out(name).outs(n_out).values()
    }

    pub fn constant(&mut self, hint: &str, t: Tensor) -> ValueRef {
        let key = (t.content_hash(), format!("{:?}{:?}", t.dtype, t.dims));
        if let Some(v) = self.consts.get(&key) {
            return *v;
        }
        let v = self
            .build()
            .constant(if hint.is_empty() { "const" } else { hint }, t);
        self.consts.insert(key, v);
        v
    }

    pub fn const_i64(&mut self, dims: &[u64], vals: &[i64]) -> ValueRef {
        let t = Tensor::from_i64(dims.to_vec(), vals).expect("dims match the values");
        self.constant("", t)
    }

    /// A 1-D int64 constant.
    pub fn ints(&mut self, vals: &[i64]) -> ValueRef {
        self.const_i64(&[vals.len() as u64], vals)
    }

    pub fn scalar_f32(&mut self, v: f32) -> ValueRef {
        let t = Tensor::from_f32(vec![], &[v]).expect("scalar");
        self.constant("", t)
    }

    pub fn scalar_i64(&mut self, v: i64) -> ValueRef {
        self.const_i64(&[], &[v])
    }

    /// A scalar of `dtype` (see [`modelc_ir::build::scalar_tensor`]).
    pub fn scalar(&mut self, dtype: DType, v: f64) -> ValueRef {
        self.constant("", modelc_ir::build::scalar_tensor(dtype, v))
    }

    /// `Shape(x)[i]` as an int64 scalar.
    pub fn dim(&mut self, x: ValueRef, i: i64) -> ValueRef {
        let s = self.op(OnnxOp::Shape, &[x], Attrs::default());
        let idx = self.scalar_i64(i);
        self.op(
            OnnxOp::Gather,
            &[s, idx],
            attrs(vec![("axis", Attr::Int(0))]),
        )
    }

    /// Unsqueezes int64 scalars and concatenates them into a 1-D shape tensor.
    pub fn concat_scalars(&mut self, parts: &[ValueRef]) -> ValueRef {
        let axes = self.ints(&[0]);
        let ones: Vec<ValueRef> = parts
            .iter()
            .map(|&p| self.op(OnnxOp::Unsqueeze, &[p, axes], Attrs::default()))
            .collect();
        if ones.len() == 1 {
            return ones[0];
        }
        self.op(OnnxOp::Concat, &ones, attrs(vec![("axis", Attr::Int(0))]))
    }

    pub fn cast(&mut self, x: ValueRef, to: DType) -> ValueRef {
        self.op(
            OnnxOp::Cast,
            &[x],
            attrs(vec![("to", Attr::Int(to.onnx_code() as i64))]),
        )
    }
}

/// Most elements an op that makes its output's size from its input values (ConstantOfShape,
/// Expand, Tile, Range) may make when folded at import: a file cannot make the import
/// allocate more than this through them.
const MAX_FOLD_OUTPUT: f64 = 65536.0;

/// Whether folding `op` on `data` gives outputs of a bounded size: ops whose output size
/// follows from the input sizes (at most their broadcast product) always do; the ones whose
/// output size is an input's value are checked; others are not folded.
fn small_output(op: OnnxOp, data: &[Option<modelc_interp::Data>]) -> bool {
    use OnnxOp::*;
    let vals = |i: usize| -> Option<Vec<f64>> {
        match data.get(i)? {
            Some(modelc_interp::Data::Tensor(a)) => a.to_f64_vec().ok(),
            _ => None,
        }
    };
    let len = |i: usize| -> f64 {
        match data.get(i) {
            Some(Some(modelc_interp::Data::Tensor(a))) => a.len() as f64,
            _ => 0.0,
        }
    };
    let within = |n: Option<f64>| n.is_some_and(|n| n.is_finite() && n <= MAX_FOLD_OUTPUT);
    match op {
        ConstantOfShape => within(vals(0).map(|s| s.iter().product())),
        Expand => within(vals(1).map(|s| s.iter().map(|d| d.max(1.0)).product::<f64>() * len(0))),
        Tile => within(vals(1).map(|r| r.iter().product::<f64>() * len(0))),
        Range => within(vals(0).zip(vals(1)).zip(vals(2)).and_then(|((s, e), d)| {
            let (s, e, d) = (*s.first()?, *e.first()?, *d.first()?);
            (d != 0.0).then(|| ((e - s) / d).ceil().max(0.0))
        })),
        _ => !matches!(
            op,
            Pad | Resize | Upsample | OneHot | EyeLike | Col2Im | ConvTranspose | Loop | Scan | If
        ),
    }
}
