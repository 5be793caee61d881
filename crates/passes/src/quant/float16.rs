//! `fp16` / `bf16`: weights and compute in half precision, with numerically sensitive ops
//! (softmax, normalisations, reductions, exp/log/pow, resize and index-producing ops) and
//! the model's inputs and outputs kept in float32; Casts are inserted where a float32
//! value meets a half-precision op and back.
//!
//! Which values are float32 comes from one interpreter run (the calibration stats), so the
//! rewrite does not depend on declared types being present.

use std::collections::{HashMap, HashSet};

use bytes::Bytes;
use half::{bf16, f16};
use modelc_ir::{
    Attr, Builder, DType, Graph, Names, NodeId, OnnxOp, Op, Tensor, ValueRef, ValueType,
};

use super::calibrate::Stats;
use super::edit::label;
use super::params::f32_elements;
use super::report::Layer;

/// Ops kept in float32. This is the fp16 conversion's own precision policy (ops whose half
/// precision results drift: accumulations, exp/log, index-producing ops, random draws), not
/// a fact about the op, so it is not a trait.
fn sensitive(op: OnnxOp) -> bool {
    use OnnxOp::*;
    matches!(
        op,
        Softmax
            | LogSoftmax
            | LayerNormalization
            | GroupNormalization
            | ReduceMean
            | ReduceSum
            | ReduceSumSquare
            | ReduceL1
            | ReduceL2
            | ReduceLogSum
            | ReduceLogSumExp
            | ReduceProd
            | CumSum
            | Exp
            | Log
            | Pow
            | Resize
            | Upsample
            | Range
            | RoiAlign
            | NonMaxSuppression
            | TopK
            | RandomNormal
            | RandomNormalLike
            | RandomUniform
            | RandomUniformLike
            | Multinomial
            | QuantizeLinear
            | DequantizeLinear
            | DynamicQuantizeLinear
    )
}

/// A float32 tensor converted to `dt`.
pub fn to_half(t: &Tensor, dt: DType) -> Option<Tensor> {
    let v = f32_elements(t)?;
    let bytes: Vec<u8> = if dt == DType::F16 {
        v.iter()
            .flat_map(|x| f16::from_f32(*x).to_le_bytes())
            .collect()
    } else {
        v.iter()
            .flat_map(|x| bf16::from_f32(*x).to_le_bytes())
            .collect()
    };
    Tensor::from_raw(dt, t.dims.clone(), Bytes::from(bytes)).ok()
}

fn set_dtype(g: &mut Graph, v: ValueRef, dt: DType) {
    if let Some(ty) = g.value_mut(v).and_then(|x| x.ty.as_mut()) {
        if let ValueType::Tensor(tt) = &mut std::sync::Arc::make_mut(ty).ty {
            if tt.dtype == Some(DType::F32) {
                tt.dtype = Some(dt);
            }
        }
    }
}

/// Converts `g` to half precision `dt` (F16 or BF16).
pub fn convert(
    g: &mut Graph,
    stats: &Stats,
    dt: DType,
    excluded: &HashMap<NodeId, String>,
) -> Result<Vec<Layer>, String> {
    let order = g.topo_order().map_err(|e| e.to_string())?;
    let is_f32 = |g: &Graph, v: ValueRef| match &g.node(v.node).op {
        Op::Const(t) => t.dtype == DType::F32,
        _ => stats.dtypes.get(&v) == Some(&DType::F32),
    };
    let mut half: HashSet<NodeId> = HashSet::new();
    let mut layers = Vec::new();
    for &id in &order {
        let n = g.node(id);
        let Some(op) = n.op.onnx() else { continue };
        let touches_f32 = g.inputs_of(id).iter().flatten().any(|&v| is_f32(g, v))
            || (0..n.outputs.len()).any(|s| is_f32(g, ValueRef::new(id, s)));
        if !touches_f32 {
            continue;
        }
        let name = label(g, id);
        if let Some(r) = excluded.get(&id) {
            layers.push(Layer::float(op, &name, r));
        } else if sensitive(op) {
            layers.push(Layer::float(op, &name, "numerically sensitive"));
        } else if n.subgraphs().next().is_some() {
            layers.push(Layer::float(op, &name, "has sub-graphs"));
        } else {
            half.insert(id);
            layers.push(Layer::quantized(op, &name, ""));
        }
    }
    let mut names = Names::of(g);
    let outputs: Vec<ValueRef> = g.outputs().to_vec();
    // Values produced by half nodes: their f32 readers (float nodes) get a Cast back.
    let mut to_f32: HashMap<ValueRef, ValueRef> = HashMap::new();
    let mut to_h: HashMap<ValueRef, ValueRef> = HashMap::new();
    let mut const_h: HashMap<NodeId, ValueRef> = HashMap::new();
    let cast_op = |g: &mut Graph, names: &mut Names, v: ValueRef, to: DType| {
        let base = format!("{}_to_{}", super::edit::value_name(g, v), to.name());
        let c = Builder::with_names(g, names)
            .op(OnnxOp::Cast, &[v])
            .out(&base)
            .int("to", to.onnx_code() as i64)
            .add();
        ValueRef::new(c, 0)
    };
    // Edges into half nodes.
    for &id in &order {
        if !half.contains(&id) {
            continue;
        }
        for (slot, v) in g.inputs_of(id).into_iter().enumerate() {
            let Some(v) = v else { continue };
            if !is_f32(g, v) || half.contains(&v.node) {
                continue;
            }
            let new = match &g.node(v.node).op {
                Op::Const(t) => match const_h.get(&v.node) {
                    Some(c) => *c,
                    None => {
                        let t = to_half(t, dt).ok_or("cannot convert a constant")?;
                        let base = format!("{}_{}", super::edit::value_name(g, v), dt.name());
                        let c = Builder::with_names(g, &mut names).constant(&base, t);
                        const_h.insert(v.node, c);
                        c
                    }
                },
                _ => match to_h.get(&v) {
                    Some(c) => *c,
                    None => {
                        let c = cast_op(g, &mut names, v, dt);
                        to_h.insert(v, c);
                        c
                    }
                },
            };
            g.connect(new, id, slot);
        }
        // Attributes that name float32 as a result type.
        let node = g.node_mut(id);
        let f32_code = DType::F32.onnx_code() as i64;
        match node.op.onnx() {
            Some(OnnxOp::Cast) if node.attrs.int("to", 0) == Ok(f32_code) => {
                node.attrs.set("to", Attr::Int(dt.onnx_code() as i64));
            }
            Some(OnnxOp::EyeLike) if node.attrs.int("dtype", 0) == Ok(f32_code) => {
                node.attrs.set("dtype", Attr::Int(dt.onnx_code() as i64));
            }
            Some(OnnxOp::ConstantOfShape | OnnxOp::Constant) => {
                if let Some(Attr::Tensor(t)) = node.attrs.get("value") {
                    if let Some(h) = to_half(t, dt) {
                        node.attrs.set("value", Attr::Tensor(h));
                    }
                }
            }
            _ => {}
        }
        for s in 0..g.node(id).outputs.len() {
            let o = ValueRef::new(id, s);
            if is_f32(g, o) {
                set_dtype(g, o, dt);
            }
        }
    }
    // Edges out of half nodes into float32 nodes, and graph outputs.
    for &id in &order {
        if half.contains(&id) || g.try_node(id).is_none() {
            continue;
        }
        for (slot, v) in g.inputs_of(id).into_iter().enumerate() {
            let Some(v) = v else { continue };
            if !half.contains(&v.node) || !is_f32(g, v) {
                continue;
            }
            let c = match to_f32.get(&v) {
                Some(c) => *c,
                None => {
                    let c = cast_op(g, &mut names, v, DType::F32);
                    to_f32.insert(v, c);
                    c
                }
            };
            g.connect(c, id, slot);
        }
    }
    let mut new_outputs = Vec::new();
    for v in outputs {
        if half.contains(&v.node) && is_f32(g, v) {
            let c = cast_op(g, &mut names, v, DType::F32);
            // The output keeps its name and type; the half value is renamed.
            let old = g.value(v).cloned().unwrap_or_default();
            Builder::with_names(g, &mut names).rename(v, &format!("{}_{}", old.name, dt.name()));
            let cv = g.value_mut(c).expect("new");
            cv.name = old.name;
            cv.ty = old.ty.map(|mut t| {
                if let ValueType::Tensor(tt) = &mut std::sync::Arc::make_mut(&mut t).ty {
                    tt.dtype = Some(DType::F32);
                }
                t
            });
            new_outputs.push(c);
        } else {
            new_outputs.push(v);
        }
    }
    g.set_outputs(new_outputs);
    Ok(layers)
}
