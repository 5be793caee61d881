//! A graph as an ONNX target sees it ([`TargetGraph`]): one node per ONNX node modelc writes
//! (constants are initializers, not nodes; `Constant` nodes count as initializers too), named by its op type (`Conv`,
//! `QuantizeLinear`) and its first output, with the element types and shapes the graph
//! carries (inferred where not declared: a value of unknown shape counts as dynamic, as
//! onnxruntime's partitioners count a value without shape information), constness, the
//! quantization of the integer side of each QuantizeLinear / DequantizeLinear, and the
//! attributes the rules test (strides, dilations, kernel, padding, axes).
//!
//! An operator between DequantizeLinear and QuantizeLinear nodes is seen as onnxruntime's
//! QDQ node units see it (and as the QNN and TensorRT builders compile it): its inputs and
//! outputs are the integer tensors with their scales and zero points, so a rule on element
//! types or zero points judges the quantized operator, not its float reference form.

use modelc_ir::{Attr, DType, Dim, Graph, Node, NodeId, OnnxOp, Op, Tensor, ValueRef, ValueType};

use super::view::{Params, QuantView, TargetGraph, TargetNode, TensorView};

/// The constant behind `v`: an initializer, or an ONNX `Constant` node's tensor (onnxruntime
/// turns those into initializers when it loads the graph; no execution provider runs them).
fn const_tensor(g: &Graph, v: ValueRef) -> Option<&Tensor> {
    match &g.node(v.node).op {
        Op::Const(t) => Some(t),
        Op::Onnx(OnnxOp::Constant) => match g.node(v.node).attrs.get("value") {
            Some(Attr::Tensor(t)) => Some(t),
            _ => None,
        },
        _ => None,
    }
}

/// The ONNX nodes of `g` in execution order; `units`: operators inside QDQ units seen as
/// their quantized form (see the module doc).
pub fn onnx_graph(g: &Graph, units: bool) -> TargetGraph {
    let order = g
        .topo_order()
        .unwrap_or_else(|_| g.node_ids().collect::<Vec<_>>());
    let nodes = order
        .into_iter()
        .filter(|&id| {
            let n = g.node(id);
            !n.op.is_structural() && n.op != Op::Onnx(OnnxOp::Constant)
        })
        .map(|id| node(g, id, units))
        .collect();
    TargetGraph { nodes }
}

fn node(g: &Graph, id: NodeId, units: bool) -> TargetNode {
    let n = g.node(id);
    let qdq = !units
        || matches!(
            n.op,
            Op::Onnx(OnnxOp::QuantizeLinear | OnnxOp::DequantizeLinear)
        );
    let inputs: Vec<Option<TensorView>> = (0..n.num_inputs)
        .map(|slot| {
            g.input(id, slot)
                .map(|v| if qdq { tensor(g, v) } else { unit_input(g, v) })
        })
        .collect();
    let outputs: Vec<TensorView> = (0..n.outputs.len())
        .map(|slot| {
            let v = ValueRef::new(id, slot);
            if qdq {
                tensor(g, v)
            } else {
                unit_output(g, v)
            }
        })
        .collect();
    let name = outputs
        .first()
        .map(|t| t.name.clone())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| n.name.clone());
    let op = match &n.op {
        Op::Onnx(o) => o.to_string(),
        other => other.display_name(),
    };
    let rank = inputs
        .first()
        .and_then(Option::as_ref)
        .map_or(0, |t| t.shape.len() as i64);
    TargetNode {
        name,
        op,
        params: params(g, id, n, rank),
        inputs,
        outputs,
    }
}

fn tensor(g: &Graph, v: ValueRef) -> TensorView {
    let value = g.value(v);
    let constant = const_tensor(g, v);
    let (dtype, shape) = match (constant, value.and_then(|x| x.ty.as_ref()).map(|t| &t.ty)) {
        (Some(t), _) => (t.dtype, t.dims.iter().map(|&d| d as i64).collect()),
        (None, Some(ValueType::Tensor(tt))) => (
            tt.dtype.unwrap_or(DType::F32),
            match &tt.shape {
                Some(s) => {
                    s.0.iter()
                        .map(|d| match d {
                            Dim::Known(k) => *k as i64,
                            Dim::Sym(_) | Dim::Unknown => -1,
                        })
                        .collect()
                }
                // Unknown rank: one unknown dimension, so the static-shape rules see it
                // as dynamic and no rank rule fires on a guess.
                None => vec![-1],
            },
        ),
        (None, _) => (DType::F32, vec![-1]),
    };
    TensorView {
        name: value.map(|x| x.name.clone()).unwrap_or_default(),
        dtype,
        shape,
        is_const: constant.is_some(),
        quant: quant(g, v),
    }
}

/// An input of an operator inside a QDQ unit, as the runtimes' QDQ node units see it: a
/// value made by a DequantizeLinear is the integer value it dequantizes (its type, scale
/// and zero point; constant when that is, as a weight is), under the float value's name.
fn unit_input(g: &Graph, v: ValueRef) -> TensorView {
    let plain = tensor(g, v);
    if g.node(v.node).op != Op::Onnx(OnnxOp::DequantizeLinear) {
        return plain;
    }
    match g.input(v.node, 0) {
        Some(q) => TensorView {
            name: plain.name,
            shape: plain.shape,
            ..tensor(g, q)
        },
        None => plain,
    }
}

/// An output of an operator inside a QDQ unit: a value read only by QuantizeLinear nodes
/// (and not a graph output) is the first one's integer result.
fn unit_output(g: &Graph, v: ValueRef) -> TensorView {
    let plain = tensor(g, v);
    let users = g.users(v);
    let quantized = !users.is_empty()
        && !g.outputs().contains(&v)
        && users
            .iter()
            .all(|&(u, slot)| slot == 0 && g.node(u).op == Op::Onnx(OnnxOp::QuantizeLinear));
    if !quantized {
        return plain;
    }
    let q = tensor(g, ValueRef::new(users[0].0, 0));
    TensorView {
        name: plain.name,
        shape: plain.shape,
        is_const: false,
        ..q
    }
}

/// The scale and zero point of `v` when it is the integer side of a QDQ pair: the output of
/// a QuantizeLinear or the input of a DequantizeLinear.
fn quant(g: &Graph, v: ValueRef) -> Option<QuantView> {
    let of = |node: NodeId| -> Option<QuantView> {
        let scale = const_tensor(g, g.input(node, 1)?)?;
        let scales = modelc_ir::infer::tensor_floats(scale)?;
        let zero_points = match g.input(node, 2) {
            Some(z) => modelc_ir::infer::tensor_ints(const_tensor(g, z)?)?,
            None => vec![0; scales.len()],
        };
        Some(QuantView {
            scales: scales.into_iter().map(|s| s as f32).collect(),
            zero_points,
        })
    };
    let is = |id: NodeId, op: OnnxOp| g.node(id).op == Op::Onnx(op);
    if is(v.node, OnnxOp::QuantizeLinear) {
        return of(v.node);
    }
    g.users(v)
        .into_iter()
        .find(|&(u, slot)| slot == 0 && is(u, OnnxOp::DequantizeLinear))
        .and_then(|(u, _)| of(u))
}

fn ints(n: &Node, name: &str) -> Option<Vec<i64>> {
    match n.attrs.get(name) {
        Some(Attr::Ints(v)) => Some(v.clone()),
        _ => None,
    }
}

fn pair(v: &[i64]) -> Option<[i64; 2]> {
    match v {
        [h, w] => Some([*h, *w]),
        _ => None,
    }
}

fn params(g: &Graph, id: NodeId, n: &Node, rank: i64) -> Params {
    let kernel = ints(n, "kernel_shape").or_else(|| {
        // Conv without kernel_shape: the weight's spatial dimensions.
        let w = const_tensor(g, g.input(id, 1)?)?;
        (matches!(n.op, Op::Onnx(OnnxOp::Conv | OnnxOp::ConvTranspose)) && w.dims.len() > 2)
            .then(|| w.dims[2..].iter().map(|&d| d as i64).collect())
    });
    let spatial = kernel.as_ref().map(Vec::len);
    let ones = |len: Option<usize>| len.map(|l| vec![1; l]);
    let stride = ints(n, "strides").or_else(|| ones(spatial));
    let dilation = ints(n, "dilations").or_else(|| ones(spatial));
    let padding_valid = kernel.as_ref().map(|_| {
        let auto = match n.attrs.get("auto_pad") {
            Some(Attr::String(s)) => String::from_utf8_lossy(s).into_owned(),
            _ => "NOTSET".into(),
        };
        match auto.as_str() {
            "VALID" => true,
            "SAME_UPPER" | "SAME_LOWER" => false,
            _ => ints(n, "pads").is_none_or(|p| p.iter().all(|&x| x == 0)),
        }
    });
    let norm = |a: i64| if a < 0 { a + rank } else { a };
    let axes = match n.attrs.get("axis") {
        Some(Attr::Int(a)) => Some(vec![norm(*a)]),
        _ => ints(n, "axes")
            .or_else(|| {
                let axes_input = match n.op {
                    Op::Onnx(OnnxOp::Slice) => 3,
                    _ => 1,
                };
                reduce_like(n)
                    .then(|| g.input(id, axes_input))
                    .flatten()
                    .and_then(|v| modelc_ir::infer::tensor_ints(const_tensor(g, v)?))
            })
            .map(|a| a.into_iter().map(norm).collect()),
    };
    Params {
        stride: stride.as_deref().and_then(pair),
        dilation: dilation.as_deref().and_then(pair),
        kernel: kernel.as_deref().and_then(pair),
        padding_valid,
        axes,
        ..Default::default()
    }
}

/// Ops whose axes are an input (opset 13+ / 18+), not an attribute.
fn reduce_like(n: &Node) -> bool {
    matches!(
        n.op,
        Op::Onnx(
            OnnxOp::ReduceMean
                | OnnxOp::ReduceSum
                | OnnxOp::ReduceMax
                | OnnxOp::ReduceMin
                | OnnxOp::ReduceProd
                | OnnxOp::Squeeze
                | OnnxOp::Unsqueeze
                | OnnxOp::Slice
        )
    )
}
