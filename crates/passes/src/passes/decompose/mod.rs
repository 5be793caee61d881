//! `decompose-*`: rewrites of an op a format or target lacks into ops it has, one pass per
//! rewrite, each choosing the forms TensorFlow's converter emits (the TFLite writer runs
//! them all; see its pipeline). Each keeps the op when its inputs are not what it needs
//! (non-constant statistics, unknown rank or shape), so a writer can report it by name.
//!
//! A pass visits the nodes of its ops in the graph and its sub-graphs once (the nodes it adds
//! are not visited again) with one [`Builder`] per graph, and applies only in the opsets
//! where the op means what the rewrite assumes.

pub mod batch_norm;
pub mod depth_to_space;
pub mod einsum;
pub mod elu;
pub mod flatten;
pub mod fmod;
pub mod gather_elements;
pub mod gemm;
pub mod grouped_conv_transpose;
pub mod hard_sigmoid;
pub mod hard_swish;
pub mod instance_norm;
pub mod layer_norm;
pub mod legacy_softmax;
pub mod lstm_state;
pub mod nan_inf;
pub mod pad_crop;
pub mod pad_edge;
pub mod quantized_weight;
pub mod reduce_l2;
pub mod scatter_nd;
pub mod softplus;
pub mod vector_matmul;

use std::ops::RangeInclusive;

use modelc_ir::{Builder, DType, Graph, NodeId, OnnxOp, ValueRef};

use crate::pattern::{default_opset, for_each_graph};
use crate::{Changed, Pass, PassContext, PassError};

/// A rewrite of one node: the builder over its graph, the node, its op and the default
/// domain's opset; whether it changed the graph.
pub type Rewrite = fn(&mut Builder<'_>, NodeId, OnnxOp, i64) -> bool;

/// A decomposition pass: which ops it rewrites, in which opsets, and how.
pub struct Decompose {
    pub name: &'static str,
    pub description: &'static str,
    pub ops: &'static [OnnxOp],
    /// The default-domain opsets the rewrite applies in (a bare graph: the newest).
    pub opsets: RangeInclusive<i64>,
    pub rewrite: Rewrite,
}

impl Pass for Decompose {
    fn name(&self) -> &'static str {
        self.name
    }

    fn description(&self) -> &'static str {
        self.description
    }

    fn run(&self, g: &mut Graph, cx: &mut PassContext) -> Result<Changed, PassError> {
        let opset = default_opset(cx);
        if !self.opsets.contains(&opset) {
            return Ok(Changed::No);
        }
        let changed = for_each_graph(g, &mut |g| {
            let ids: Vec<NodeId> = g.node_ids().collect();
            let mut b = Builder::new(g);
            let mut changed = false;
            for id in ids {
                let Some(op) = b.try_node(id).and_then(|n| n.op.onnx()) else {
                    continue;
                };
                if self.ops.contains(&op) {
                    changed |= (self.rewrite)(&mut b, id, op, opset);
                }
            }
            changed
        });
        Ok(Changed::from_bool(changed))
    }
}

/// Every decomposition, in the order a writer that wants them all runs them (crop before
/// edge padding: the edge rewrite reads the cropped shape).
pub fn all() -> Vec<Decompose> {
    vec![
        batch_norm::PASS,
        hard_sigmoid::PASS,
        hard_swish::PASS,
        layer_norm::PASS,
        legacy_softmax::PASS,
        lstm_state::PASS,
        depth_to_space::PASS,
        grouped_conv_transpose::PASS,
        softplus::PASS,
        elu::PASS,
        einsum::PASS,
        gemm::PASS,
        pad_crop::PASS,
        pad_edge::PASS,
        fmod::PASS,
        vector_matmul::PASS,
        instance_norm::PASS,
        reduce_l2::PASS,
        gather_elements::PASS,
        scatter_nd::PASS,
        nan_inf::PASS,
        lstm_state::UNROLL_ALL,
    ]
}

/// `(x - mean) / sqrt(var + eps)` over `axes` (kept), the moments by `ReduceMean` (axes an
/// input from opset 18): the normalization LayerNormalization and InstanceNormalization share.
fn normalize(
    g: &mut Builder<'_>,
    x: ValueRef,
    axes: &[i64],
    eps: f32,
    opset: i64,
    name: &str,
) -> ValueRef {
    let axes_const = (opset >= 18).then(|| g.const_i64s(&format!("{name}_axes"), axes));
    let mean_of = |g: &mut Builder<'_>, v: ValueRef, suffix: &str| {
        let mean = g
            .op(OnnxOp::ReduceMean, &[v])
            .out(format!("{name}_{suffix}"))
            .int("keepdims", 1);
        match axes_const {
            Some(a) => mean.input(a),
            None => mean.ints("axes", axes.to_vec()),
        }
        .value()
    };
    let mean = mean_of(g, x, "mean");
    let d = g
        .op(OnnxOp::Sub, &[x, mean])
        .out(format!("{name}_centered"))
        .value();
    let sq = g
        .op(OnnxOp::Mul, &[d, d])
        .out(format!("{name}_square"))
        .value();
    let var = mean_of(g, sq, "variance");
    let e = g.const_f32(&format!("{name}_epsilon"), eps);
    let ve = g
        .op(OnnxOp::Add, &[var, e])
        .out(format!("{name}_add_epsilon"))
        .value();
    let sd = g.op(OnnxOp::Sqrt, &[ve]).out(format!("{name}_std")).value();
    g.op(OnnxOp::Div, &[d, sd])
        .out(format!("{name}_normalized"))
        .value()
}

/// The float32 input of a unary op, when that is what it reads.
fn f32_input(g: &Graph, id: NodeId) -> Option<ValueRef> {
    g.input(id, 0)
        .filter(|&x| g.dtype_of(x) == Some(DType::F32))
}

/// The base of the names a rewrite gives what it adds: the node's name, else its first
/// output's (text-form graphs and some exporters leave nodes unnamed).
pub(crate) fn base_name(g: &Graph, id: NodeId) -> String {
    let node = g.node(id);
    match node.outputs.first() {
        Some(v) if node.name.is_empty() => v.name.clone(),
        _ => node.name.clone(),
    }
}

/// What the Pad rewrites read: the input, its known dims and the constant pads (two per
/// axis).
struct PadOperands {
    x: ValueRef,
    dims: Vec<u64>,
    pads: Vec<i64>,
}

/// The operands of Pad `id` when its input's shape is known and its pads are a constant for
/// every axis (an `axes` input, opset 18, is not handled).
fn pad_operands(g: &Graph, id: NodeId) -> Option<PadOperands> {
    let (x, pv) = (g.input(id, 0)?, g.input(id, 1)?);
    if g.input(id, 3).is_some() {
        return None;
    }
    let dims = g.shape_of(x)?.as_known()?;
    let pads = crate::util::const_ints(g, pv)?;
    (pads.len() == 2 * dims.len()).then_some(PadOperands { x, dims, pads })
}
