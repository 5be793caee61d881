//! `sparsify`: magnitude pruning of individual weights (the tensors keep their shapes; the
//! zeros are what a sparse storage format or a sparse kernel then exploits).
//!
//! - N:M semi-structured (2:4 is what sparse tensor cores run): in every group of M
//!   consecutive weights along the input-channel axis, the N of largest |w| are kept;
//! - blocks of B along the input-channel axis (TFLite's block-sparse FULLY_CONNECTED reads
//!   1×4 blocks): the given fraction of blocks with the smallest L2 norm is zeroed;
//! - unstructured: the given fraction of each layer's weights with the smallest |w|.
//!
//! Layers: `MatMul` with a constant 2-D right operand (`[I, O]`: axis 0), `Gemm` with a
//! constant B (axis 1 with `transB`, else 0), `Conv` (`[O, C, k...]` NCHW: axis 1;
//! `[O, k..., C]` NHWC: the last). Grouped patterns need the axis to be a multiple of the
//! group (a layer where it is not is left alone and not reported); a grouped Conv's input axis
//! counts channels of one group, which is still the reduction axis.

use modelc_ir::{Graph, Layout, NodeId, OnnxOp};

use crate::pattern::{float_const, float_tensor, onnx_op, set_const_if_unshared};
use crate::quant::edit::label;
use crate::{Changed, Pass, PassContext, PassError};

/// Which weights are zeroed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Pattern {
    /// Keep `n` of every `m` consecutive weights along the input axis (2:4).
    NOfM { n: usize, m: usize },
    /// Zero this fraction (0..1) of the blocks of `size` consecutive input-axis weights.
    Blocks { ratio: f64, size: usize },
    /// Zero this fraction (0..1) of the weights.
    Unstructured { ratio: f64 },
}

impl std::fmt::Display for Pattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Pattern::NOfM { n, m } => write!(f, "{n}:{m}"),
            Pattern::Blocks { ratio, size } => write!(f, "{ratio} of 1x{size} blocks"),
            Pattern::Unstructured { ratio } => write!(f, "{ratio} unstructured"),
        }
    }
}

/// One sparsified layer, for reports.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Sparsified {
    pub node: String,
    pub op: String,
    pub pattern: String,
    pub elements: u64,
    pub zeros_before: u64,
    pub zeros_after: u64,
}

/// The pass with a fixed pattern (as a pipeline step, e.g. in tests). It rewrites once, as
/// `prune` and `low-rank` do: a pipeline runs to a fixed point.
pub struct Sparsify {
    pub pattern: Pattern,
    ran: std::cell::Cell<bool>,
}

impl Sparsify {
    pub fn new(pattern: Pattern) -> Sparsify {
        Sparsify {
            pattern,
            ran: std::cell::Cell::new(false),
        }
    }
}

impl Pass for Sparsify {
    fn name(&self) -> &'static str {
        "sparsify"
    }

    fn description(&self) -> &'static str {
        "zero the smallest MatMul/Gemm/Conv weights (2:4, 1xB blocks or unstructured)"
    }

    fn run(&self, g: &mut Graph, _cx: &mut PassContext) -> Result<Changed, PassError> {
        if self.ran.replace(true) {
            return Ok(Changed::No);
        }
        let done = sparsify(g, self.pattern);
        Ok(Changed::from_bool(
            done.iter().any(|s| s.zeros_after != s.zeros_before),
        ))
    }
}

/// A layer's constant weight and the axis its groups run along.
struct Weight {
    op: OnnxOp,
    dims: Vec<usize>,
    axis: usize,
    values: Vec<f64>,
    dtype: modelc_ir::DType,
}

/// The layers `sparsify` can change (a constant f32/f64 weight read by nothing else), in
/// topological order.
pub fn candidates(g: &Graph) -> Vec<NodeId> {
    g.topo_order()
        .unwrap_or_default()
        .into_iter()
        .filter(|&id| weight(g, id).is_some())
        .collect()
}

/// Sparsifies every candidate layer of `g` with `pattern`; what was done, in order.
pub fn sparsify(g: &mut Graph, pattern: Pattern) -> Vec<Sparsified> {
    candidates(g)
        .into_iter()
        .filter_map(|id| sparsify_node(g, id, pattern))
        .collect()
}

/// Sparsifies layer `id`; `None` (graph unchanged) when it is not a candidate or its input
/// axis does not divide into the pattern's groups.
pub fn sparsify_node(g: &mut Graph, id: NodeId, pattern: Pattern) -> Option<Sparsified> {
    let w = weight(g, id)?;
    let zeros = |v: &[f64]| v.iter().filter(|x| **x == 0.0).count() as u64;
    let zeros_before = zeros(&w.values);
    let mut values = w.values.clone();
    match pattern {
        Pattern::NOfM { n, m } => {
            let groups = groups(&w.dims, w.axis, m)?;
            for group in groups {
                let mut order: Vec<usize> = group.clone();
                order.sort_by(|&a, &b| values[b].abs().total_cmp(&values[a].abs()));
                for &i in order.iter().skip(n) {
                    values[i] = 0.0;
                }
            }
        }
        Pattern::Blocks { ratio, size } => {
            let groups = groups(&w.dims, w.axis, size)?;
            let norm = |grp: &Vec<usize>| grp.iter().map(|&i| values[i] * values[i]).sum::<f64>();
            let mut order: Vec<(f64, usize)> = groups
                .iter()
                .enumerate()
                .map(|(k, grp)| (norm(grp), k))
                .collect();
            order.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            let drop = (ratio * groups.len() as f64).round() as usize;
            for &(_, k) in order.iter().take(drop) {
                for &i in &groups[k] {
                    values[i] = 0.0;
                }
            }
        }
        Pattern::Unstructured { ratio } => {
            let mut order: Vec<usize> = (0..values.len()).collect();
            order.sort_by(|&a, &b| values[a].abs().total_cmp(&values[b].abs()).then(a.cmp(&b)));
            let drop = (ratio * values.len() as f64).round() as usize;
            for &i in order.iter().take(drop) {
                values[i] = 0.0;
            }
        }
    }
    let report = Sparsified {
        node: label(g, id),
        op: w.op.name().to_string(),
        pattern: pattern.to_string(),
        elements: values.len() as u64,
        zeros_before,
        zeros_after: zeros(&values),
    };
    let dims = w.dims.iter().map(|&d| d as u64).collect();
    let wv = g.input(id, 1)?;
    set_const_if_unshared(g, wv, float_tensor(w.dtype, dims, &values)).then_some(report)
}

/// The flat indices of each group of `size` consecutive elements along `axis` of a row-major
/// tensor of `dims`; `None` when the axis is not a multiple of `size`.
fn groups(dims: &[usize], axis: usize, size: usize) -> Option<Vec<Vec<usize>>> {
    let len = dims[axis];
    if size == 0 || !len.is_multiple_of(size) {
        return None;
    }
    let inner: usize = dims[axis + 1..].iter().product();
    let outer: usize = dims[..axis].iter().product();
    let mut out = Vec::with_capacity(outer * inner * len / size);
    for o in 0..outer {
        for i in 0..inner {
            for start in (0..len).step_by(size) {
                out.push(
                    (start..start + size)
                        .map(|a| (o * len + a) * inner + i)
                        .collect(),
                );
            }
        }
    }
    Some(out)
}

fn weight(g: &Graph, id: NodeId) -> Option<Weight> {
    let op = onnx_op(g, id)?;
    let wv = g.input(id, 1)?;
    if g.input(id, 0).is_none() || !crate::pattern::single_use(g, wv) {
        return None;
    }
    let c = float_const(g, wv)?;
    let node = g.node(id);
    let dims: Vec<usize> = c.dims.iter().map(|&d| d as usize).collect();
    let axis = match op {
        OnnxOp::MatMul if dims.len() == 2 => 0,
        OnnxOp::Gemm if dims.len() == 2 => usize::from(node.attrs.int("transB", 0).ok()? != 0),
        OnnxOp::Conv if dims.len() >= 3 => match node.layout {
            Some(Layout::Nhwc) => dims.len() - 1,
            _ => 1,
        },
        _ => return None,
    };
    if dims.contains(&0) {
        return None;
    }
    Some(Weight {
        op,
        dims,
        axis,
        values: c.values,
        dtype: c.dtype,
    })
}
