//! A weight that reaches an op through data-movement ops from `DequantizeLinear`s of int8 /
//! int4 constants (an LSTM's W and R after `quantize --mode int8-weight` or `compress`, gate
//! reordered by Slice / Concat, as silero VAD's are): its integers and each element's scale
//! in the op's layout, so a decomposition can write the integers again instead of the
//! dequantized floats.
//!
//! How: the data-movement ops are run in the interpreter on element indices (an int64
//! tensor in place of each DequantizeLinear's output, numbering its elements); the result
//! says which source element lands where, which moves the integers and their scales alike.

use std::collections::HashMap;

use modelc_interp::{Data, Interpreter};
use modelc_ir::{DType, Graph, Node, OnnxOp, Op, OpsetImport, Tensor, Value, ValueRef};

/// Ops that only move elements (their first input; all inputs of Concat); their other
/// inputs (starts, axes, shapes) must be constants.
const MOVES: &[OnnxOp] = &[
    OnnxOp::Slice,
    OnnxOp::Concat,
    OnnxOp::Unsqueeze,
    OnnxOp::Squeeze,
    OnnxOp::Reshape,
    OnnxOp::Flatten,
    OnnxOp::Identity,
    OnnxOp::Transpose,
];

/// Most nodes followed back from the weight.
const MAX_NODES: usize = 64;

/// A quantized weight as the op reads it: `dims`, and per element its integer and scale
/// (zero points are zero: symmetric weights only).
#[derive(Debug, Clone)]
pub struct QuantizedWeight {
    pub dims: Vec<u64>,
    pub q: Vec<i32>,
    pub scale: Vec<f32>,
    /// I8, or I4 when every source is int4.
    pub dtype: DType,
}

impl QuantizedWeight {
    /// The values DequantizeLinear gives (`q * scale` in f32, as ONNX computes it).
    pub fn dequantized(&self) -> Vec<f32> {
        self.q
            .iter()
            .zip(&self.scale)
            .map(|(&q, &s)| q as f32 * s)
            .collect()
    }

    /// One scale per row of `row_len` elements, when every row has a single scale.
    pub fn row_scales(&self, row_len: usize) -> Option<Vec<f32>> {
        if row_len == 0 {
            return None;
        }
        self.scale
            .chunks(row_len)
            .map(|row| {
                row.iter()
                    .all(|s| s.to_bits() == row[0].to_bits())
                    .then_some(row[0])
            })
            .collect()
    }
}

/// The DequantizeLinear sources: integers and per-element scales, concatenated.
#[derive(Default)]
struct Sources {
    q: Vec<i32>,
    scale: Vec<f32>,
    all_int4: bool,
}

/// `v` as a quantized weight, when it is computed from DequantizeLinears of symmetric int8 /
/// int4 constants (per tensor or per axis) by data-movement ops only.
pub fn trace(g: &Graph, v: ValueRef, opset: i64) -> Option<QuantizedWeight> {
    let mut mini = Graph::new("trace");
    let mut map = HashMap::new();
    let mut src = Sources {
        all_int4: true,
        ..Sources::default()
    };
    let mut budget = MAX_NODES;
    let out = copy(g, v, &mut mini, &mut map, &mut src, &mut budget)?;
    if src.q.is_empty() {
        return None;
    }
    mini.push_output(out);
    let opsets = [OpsetImport {
        domain: String::new(),
        version: opset,
    }];
    let interp = Interpreter::for_graph(&mini, &opsets).ok()?;
    let (_, Data::Tensor(a)) = interp.run(Vec::new()).ok()?.into_iter().next()? else {
        return None;
    };
    let t = a.to_tensor();
    if t.dtype != DType::I64 {
        return None;
    }
    let idx: Vec<usize> = t
        .raw()?
        .chunks_exact(8)
        .map(|c| usize::try_from(i64::from_le_bytes(c.try_into().ok()?)).ok())
        .collect::<Option<_>>()?;
    Some(QuantizedWeight {
        dims: t.dims.clone(),
        q: idx
            .iter()
            .map(|&i| src.q.get(i).copied())
            .collect::<Option<_>>()?,
        scale: idx
            .iter()
            .map(|&i| src.scale.get(i).copied())
            .collect::<Option<_>>()?,
        dtype: if src.all_int4 { DType::I4 } else { DType::I8 },
    })
}

/// Copies the node producing `v` (and what it reads) into `mini`, a DequantizeLinear as the
/// indices of its elements; the value standing for `v` there.
fn copy(
    g: &Graph,
    v: ValueRef,
    mini: &mut Graph,
    map: &mut HashMap<ValueRef, ValueRef>,
    src: &mut Sources,
    budget: &mut usize,
) -> Option<ValueRef> {
    if let Some(&m) = map.get(&v) {
        return Some(m);
    }
    *budget = budget.checked_sub(1)?;
    let node = g.node(v.node);
    let m = match node.op.onnx()? {
        OnnxOp::DequantizeLinear => {
            let base = src.q.len();
            let dims = dequantize_source(g, v.node, src)?;
            let n = src.q.len() - base;
            let idx: Vec<i64> = (base..base + n).map(|i| i as i64).collect();
            let c = mini.add_const(format!("dq{base}"), Tensor::from_i64(dims, &idx).ok()?);
            ValueRef::new(c, 0)
        }
        op if MOVES.contains(&op) => {
            let mut ins = Vec::new();
            for (slot, i) in g.inputs_of(v.node).into_iter().enumerate() {
                let Some(i) = i else {
                    ins.push(None);
                    continue;
                };
                let m = if op == OnnxOp::Concat || slot == 0 {
                    copy(g, i, mini, map, src, budget)?
                } else {
                    let Op::Const(t) = &g.node(i.node).op else {
                        return None;
                    };
                    let c = mini.add_const(format!("k{}", mini.node_count()), (**t).clone());
                    ValueRef::new(c, 0)
                };
                ins.push(Some(m));
            }
            let outputs = node
                .outputs
                .iter()
                .enumerate()
                .map(|(k, _)| Value::named(format!("n{}_{k}", mini.node_count())))
                .collect();
            let mut n = Node::new(node.op.clone(), node.num_inputs, outputs);
            n.attrs = node.attrs.clone();
            let n = mini.add_node(n);
            for (slot, i) in ins.into_iter().enumerate() {
                if let Some(i) = i {
                    mini.connect(i, n, slot);
                }
            }
            ValueRef::new(n, v.slot)
        }
        _ => return None,
    };
    map.insert(v, m);
    Some(m)
}

/// What DequantizeLinear `dq` computes, with its dims, when it reads a symmetric int8 / int4
/// constant (per tensor or per axis) — the float weights of a writer that has no quantized
/// form for them.
pub fn dequantize(g: &Graph, dq: modelc_ir::NodeId) -> Option<(Vec<f32>, Vec<u64>)> {
    if g.node(dq).op.onnx() != Some(OnnxOp::DequantizeLinear) {
        return None;
    }
    let mut src = Sources::default();
    let dims = dequantize_source(g, dq, &mut src)?;
    let w = QuantizedWeight {
        dims: dims.clone(),
        q: src.q,
        scale: src.scale,
        dtype: DType::I8,
    };
    Some((w.dequantized(), dims))
}

/// Appends DequantizeLinear `dq`'s integers and per-element scales to `src`; its dims.
/// Symmetric (zero points absent or zero), int8 or int4, per tensor or per axis.
fn dequantize_source(g: &Graph, dq: modelc_ir::NodeId, src: &mut Sources) -> Option<Vec<u64>> {
    let node = g.node(dq);
    if node.attrs.int("block_size", 0).ok()? != 0 {
        return None;
    }
    let konst = |slot: usize| match g.input(dq, slot).map(|v| &g.node(v.node).op) {
        Some(Op::Const(t)) => Some(t),
        _ => None,
    };
    let q = konst(0)?;
    let values = int_values(q)?;
    if let Some(zp) = g.input(dq, 2) {
        let Op::Const(z) = &g.node(zp.node).op else {
            return None;
        };
        if z.raw()?.iter().any(|&b| b != 0) {
            return None;
        }
    }
    let s = konst(1)?;
    let scales = crate::quant::params::f32_elements(s)?;
    let rank = q.dims.len() as i64;
    let axis = node.attrs.int("axis", 1).ok()?;
    let axis = if axis < 0 { axis + rank } else { axis };
    let per_element: Vec<f32> = match scales.as_slice() {
        [one] => vec![*one; values.len()],
        _ => {
            let axis = usize::try_from(axis).ok().filter(|&a| a < q.dims.len())?;
            let channels = q.dims[axis] as usize;
            if channels != scales.len() {
                return None;
            }
            let inner: usize = q.dims[axis + 1..].iter().product::<u64>() as usize;
            (0..values.len())
                .map(|i| scales[(i / inner.max(1)) % channels])
                .collect()
        }
    };
    src.all_int4 &= q.dtype == DType::I4;
    src.q.extend(values);
    src.scale.extend(per_element);
    Some(q.dims.clone())
}

/// The integers of an int8 or int4 (two per byte, low nibble first) tensor.
fn int_values(t: &Tensor) -> Option<Vec<i32>> {
    let raw = t.raw()?;
    let n = t.element_count()? as usize;
    match t.dtype {
        DType::I8 => Some(raw.iter().map(|&b| b as i8 as i32).collect()),
        DType::I4 => Some(
            (0..n)
                .map(|i| {
                    let b = raw.get(i / 2).copied().unwrap_or(0);
                    let nib = if i % 2 == 0 { b & 0x0f } else { b >> 4 };
                    // Sign-extend the nibble.
                    ((nib << 4) as i8 >> 4) as i32
                })
                .collect(),
        ),
        _ => None,
    }
}
