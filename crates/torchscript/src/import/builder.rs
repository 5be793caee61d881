//! Graph building helpers for the importer: nodes with fresh names, constants, and the few
//! shape idioms (Shape → Gather, Unsqueeze/Concat of scalars) many ops share.

use std::collections::HashMap;

use bytes::Bytes;
use modelc_ir::{Attr, Attrs, DType, Graph, Node, OnnxOp, Op, Tensor, Value, ValueRef};

/// The graph under construction.
pub struct Builder {
    pub g: Graph,
    next: usize,
    /// Constants by content, so a weight read twice is one node.
    consts: HashMap<(u64, String), ValueRef>,
}

/// Attribute list shorthand.
pub fn attrs(items: Vec<(&str, Attr)>) -> Attrs {
    let mut a = Attrs::default();
    for (k, v) in items {
        a.set(k, v);
    }
    a
}

impl Builder {
    pub fn new(name: &str) -> Builder {
        Builder {
            g: Graph::new(name),
            next: 0,
            consts: HashMap::new(),
        }
    }

    pub fn fresh(&mut self, hint: &str) -> String {
        self.next += 1;
        format!("{hint}_{}", self.next)
    }

    /// A node with `n_out` outputs; returns its output refs.
    pub fn node(
        &mut self,
        op: OnnxOp,
        inputs: &[Option<ValueRef>],
        a: Attrs,
        n_out: usize,
    ) -> Vec<ValueRef> {
        let base = self.fresh(op.name());
        let outputs = (0..n_out)
            .map(|k| {
                Value::named(if n_out == 1 {
                    base.clone()
                } else {
                    format!("{base}_{k}")
                })
            })
            .collect();
        let id = self.g.add_node(
            Node::new(Op::Onnx(op), inputs.len(), outputs)
                .with_attrs(a)
                .with_name(base),
        );
        for (slot, v) in inputs.iter().enumerate() {
            if let Some(v) = v {
                self.g.connect(*v, id, slot);
            }
        }
        (0..n_out).map(|k| ValueRef::new(id, k)).collect()
    }

    /// A one-output node.
    pub fn op(&mut self, op: OnnxOp, inputs: &[ValueRef], a: Attrs) -> ValueRef {
        let ins: Vec<Option<ValueRef>> = inputs.iter().copied().map(Some).collect();
        self.node(op, &ins, a, 1)[0]
    }

    /// A placeholder for an op that could not be translated, so import can continue and
    /// report every problem at once.
    pub fn custom(&mut self, name: &str, inputs: &[ValueRef], n_out: usize) -> Vec<ValueRef> {
        let base = self.fresh(name);
        let outputs = (0..n_out)
            .map(|k| Value::named(format!("{base}_{k}")))
            .collect();
        let id = self.g.add_node(Node::new(
            Op::Custom {
                domain: "aten".into(),
                name: name.into(),
            },
            inputs.len(),
            outputs,
        ));
        for (slot, v) in inputs.iter().enumerate() {
            self.g.connect(*v, id, slot);
        }
        (0..n_out).map(|k| ValueRef::new(id, k)).collect()
    }

    pub fn constant(&mut self, hint: &str, t: Tensor) -> ValueRef {
        let key = (t.content_hash(), format!("{:?}{:?}", t.dtype, t.dims));
        if let Some(v) = self.consts.get(&key) {
            return *v;
        }
        let name = if hint.is_empty() {
            self.fresh("const")
        } else if self.g.find_value(hint).is_some() {
            self.fresh(hint)
        } else {
            hint.to_string()
        };
        let v = ValueRef::new(self.g.add_const(name, t), 0);
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

    pub fn scalar(&mut self, dtype: DType, v: f64) -> ValueRef {
        let bytes: Vec<u8> = match dtype {
            DType::F64 => v.to_le_bytes().to_vec(),
            DType::I64 => (v as i64).to_le_bytes().to_vec(),
            DType::I32 => (v as i32).to_le_bytes().to_vec(),
            DType::Bool => vec![(v != 0.0) as u8],
            DType::F16 => half::f16::from_f64(v).to_le_bytes().to_vec(),
            DType::BF16 => half::bf16::from_f64(v).to_le_bytes().to_vec(),
            _ => (v as f32).to_le_bytes().to_vec(),
        };
        let t = Tensor::from_raw(dtype, vec![], Bytes::from(bytes)).expect("scalar");
        self.constant("", t)
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
