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

    /// A node with `n_out` outputs; returns its output refs.
    pub fn node(
        &mut self,
        op: OnnxOp,
        inputs: &[Option<ValueRef>],
        a: Attrs,
        n_out: usize,
    ) -> Vec<ValueRef> {
        self.build()
            .op_opt(op, inputs)
            .attrs(a)
            .outs(n_out)
            .values()
    }

    /// A one-output node.
    pub fn op(&mut self, op: OnnxOp, inputs: &[ValueRef], a: Attrs) -> ValueRef {
        let ins: Vec<Option<ValueRef>> = inputs.iter().copied().map(Some).collect();
        self.node(op, &ins, a, 1)[0]
    }

    /// A placeholder for an op that could not be translated, so import can continue and
    /// report every problem at once.
    pub fn custom(&mut self, name: &str, inputs: &[ValueRef], n_out: usize) -> Vec<ValueRef> {
        let op = Op::Custom {
            domain: "aten".into(),
            name: name.into(),
        };
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
