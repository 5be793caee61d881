//! What a graph costs to run: multiply-accumulates and floating-point operations per op type,
//! weight bytes by element type, and the peak activation memory of a liveness plan.
//!
//! Counts need shapes: run [`infer_graph`](crate::infer::infer_graph) first (and fix symbolic
//! sizes, as `modelc inspect --dim` does). A node whose cost depends on a size that is not
//! known is listed in [`GraphCost::unknown`] rather than counted as zero silently.
//!
//! Conventions (those of the published figures, e.g. torchvision's "GFLOPS", which are MACs):
//! - **MACs** count the multiply-accumulates of the contracting ops only: Conv (grouped and
//!   depthwise included: `out · C_in/group · k`), ConvTranspose (`in · C_out/group · k`),
//!   MatMul / Gemm (batched: `out · K`), Einsum (the product of every index size), the
//!   attention products (`Q·Kᵀ` and `P·V`) and the recurrent cells (LSTM / GRU / RNN:
//!   `steps · (|W| + |R|)`), integer and QLinear forms alike.
//! - **FLOPs** are `2 · MACs` plus one per output element for a bias, and for the other ops:
//!   one per output element for elementwise ops (a transcendental counts as one), one per
//!   input element for reductions and global pooling, one per output element and window
//!   position for pooling, 2 per element for BatchNormalization, 5 for the other
//!   normalizations, 3 for Softmax-like ops. Data movement (Reshape, Transpose, Gather,
//!   Concat, ...) is 0.
//! - **Peak activation memory** walks the nodes in the graph's deterministic topological
//!   order, allocates each node's outputs (and the graph inputs) and frees a value after its
//!   last reader; graph outputs live to the end, constants are weights and not counted, no
//!   buffer is reused in place. The peak is the largest sum of live values, reached while the
//!   node named by [`Memory::peak_at`] runs (its inputs and outputs both live).
//! - Sub-graphs (If branches, Loop and Scan bodies) count once each.

use std::collections::{BTreeMap, HashMap};

use crate::{node_label, DType, Graph, Layout, NodeId, OnnxOp, Op, TensorData, ValueRef};

/// The compute of one node or a sum of them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Cost {
    pub macs: u64,
    pub flops: u64,
}

impl std::ops::AddAssign for Cost {
    fn add_assign(&mut self, o: Cost) {
        self.macs = self.macs.saturating_add(o.macs);
        self.flops = self.flops.saturating_add(o.flops);
    }
}

/// Nodes of one op type and what they cost together.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OpCost {
    pub nodes: usize,
    pub cost: Cost,
}

/// The peak of the liveness plan.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Memory {
    /// Bytes live at the peak.
    pub peak_bytes: u64,
    /// The node running at the peak (its label), empty for a graph with no nodes.
    pub peak_at: String,
    /// Values whose size is not known (counted as 0).
    pub unknown_values: usize,
}

/// The whole graph's cost (see the module doc for what is counted).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GraphCost {
    pub total: Cost,
    /// By op display name (`Conv`, `com.example.Foo`).
    pub by_op: BTreeMap<String, OpCost>,
    /// Bytes of constants by element type (sparse constants: their values).
    pub weight_bytes: BTreeMap<DType, u64>,
    /// Nodes that may compute something but whose cost could not be counted (a needed shape
    /// is unknown, or the op is not in the tables: custom ops), by label.
    pub unknown: Vec<String>,
    /// The main graph's liveness plan.
    pub memory: Memory,
}

/// Counts `g` (its types should be inferred first; see the module doc).
pub fn graph_cost(g: &Graph) -> GraphCost {
    let mut out = GraphCost::default();
    add_compute(g, &mut out);
    out.memory = peak_memory(g);
    out
}

fn add_compute(g: &Graph, out: &mut GraphCost) {
    let order = g
        .topo_order()
        .unwrap_or_else(|_| g.node_ids().collect::<Vec<_>>());
    for id in order {
        let node = g.node(id);
        let mut weight = |dtype: DType, bytes: u64| {
            *out.weight_bytes.entry(dtype).or_default() += bytes;
        };
        match &node.op {
            Op::Const(t) | Op::Input { default: Some(t) } => weight(t.dtype, tensor_bytes(t)),
            Op::SparseConst(sp) => weight(sp.values.dtype, tensor_bytes(&sp.values)),
            Op::Input { default: None } | Op::Outer => {}
            op => {
                let entry = out.by_op.entry(op.display_name()).or_default();
                entry.nodes += 1;
                match node_cost(g, id) {
                    Some(c) => {
                        entry.cost += c;
                        out.total += c;
                    }
                    None => out.unknown.push(node_label(node)),
                }
            }
        }
        for sub in node.subgraphs() {
            add_compute(sub, out);
        }
    }
}

fn tensor_bytes(t: &crate::Tensor) -> u64 {
    match &t.data {
        TensorData::Raw(b) => b.len() as u64,
        TensorData::Strings(s) => s.iter().map(|x| x.len() as u64).sum(),
    }
}

/// Element count of a value, when its shape is known.
fn elems(g: &Graph, v: ValueRef) -> Option<u64> {
    crate::element_count(&g.known_dims(v)?)
}

/// Bytes of a value, when its shape and element type are known.
pub fn value_bytes(g: &Graph, v: ValueRef) -> Option<u64> {
    g.dtype_of(v)?.storage_bytes(elems(g, v)?)
}

/// The cost of one node; `None` when a size it needs is unknown or the op is not counted by
/// the tables (custom ops).
pub fn node_cost(g: &Graph, id: NodeId) -> Option<Cost> {
    let node = g.node(id);
    let Op::Onnx(op) = node.op else {
        return None;
    };
    let ins = g.inputs_of(id);
    let input = |i: usize| ins.get(i).copied().flatten();
    let dims = |i: usize| input(i).and_then(|v| g.known_dims(v));
    let in_elems = |i: usize| input(i).and_then(|v| elems(g, v));
    let out = || elems(g, ValueRef::new(id, 0));
    let has = |i: usize| input(i).is_some();
    let flops = |n: u64| Some(Cost { macs: 0, flops: n });
    // A contraction of `macs` with `bias` output elements added.
    let mac = |macs: u64, bias: bool| -> Option<Cost> {
        let bias_flops = if bias { out()? } else { 0 };
        Some(Cost {
            macs,
            flops: macs.checked_mul(2)?.checked_add(bias_flops)?,
        })
    };
    use OnnxOp::*;
    match op {
        Conv | ConvInteger | QLinearConv | DeformConv => {
            let w = match op {
                QLinearConv => 3,
                _ => 1,
            };
            let wd = dims(w)?;
            let per_out = crate::element_count(&wd)? / (*wd.first()?).max(1);
            let bias = match op {
                Conv | DeformConv => has(2),
                QLinearConv => has(8),
                _ => false,
            };
            mac(out()?.checked_mul(per_out)?, bias)
        }
        ConvTranspose => {
            let x = dims(0)?;
            let c_in = match node.layout {
                Some(Layout::Nhwc) => *x.last()?,
                _ => *x.get(1)?,
            };
            let per_in = crate::element_count(&dims(1)?)? / c_in.max(1);
            mac(in_elems(0)?.checked_mul(per_in)?, has(2))
        }
        MatMul | MatMulInteger | QLinearMatMul => {
            let a = dims(0)?;
            let k = *a.last()?;
            mac(out()?.checked_mul(k)?, false)
        }
        Gemm => {
            let a = dims(0)?;
            let k = if node.int("transA").ok()? != 0 {
                *a.first()?
            } else {
                *a.get(1)?
            };
            mac(out()?.checked_mul(k)?, has(2))
        }
        Einsum => mac(einsum_macs(node, &ins, g)?, false),
        LSTM | GRU | RNN => {
            let x = dims(0)?;
            let steps = crate::element_count(&x)? / (*x.last()?).max(1);
            let weights = crate::element_count(&dims(1)?)? + crate::element_count(&dims(2)?)?;
            mac(steps.checked_mul(weights)?, has(3))
        }
        Attention => {
            let (q, k, v) = (dims(0)?, dims(1)?, dims(2)?);
            let macs = if q.len() == 4 {
                // [B, H, S, D]: Q·Kᵀ is B·Hq·Sq·Skv·D, P·V is B·Hq·Sq·Skv·Dv.
                let rows = q[0] * q[1] * q[2];
                rows * k[2] * q[3] + rows * k[2] * v[3]
            } else {
                // [B, S, H·D] with the head counts as attributes.
                let hq = node.int("q_num_heads").ok()?.max(1) as u64;
                let hkv = node.int("kv_num_heads").ok()?.max(1) as u64;
                let rows = q[0] * q[1];
                rows * k[1] * q[2] + rows * k[1] * (v[2] / hkv) * hq
            };
            mac(macs, false)
        }
        MaxPool | AveragePool | LpPool | MaxRoiPool => {
            let k = node.ints("kernel_shape").ok()?;
            let window = k
                .iter()
                .try_fold(1u64, |a, &d| a.checked_mul(d.max(0) as u64))?;
            flops(out()?.checked_mul(window)?)
        }
        GlobalAveragePool | GlobalMaxPool | GlobalLpPool => flops(in_elems(0)?),
        BatchNormalization => flops(out()?.checked_mul(2)?),
        LayerNormalization
        | InstanceNormalization
        | GroupNormalization
        | RMSNormalization
        | LpNormalization
        | MeanVarianceNormalization
        | LRN => flops(out()?.checked_mul(5)?),
        Softmax | LogSoftmax | Hardmax => flops(out()?.checked_mul(3)?),
        Identity => flops(0),
        _ => {
            let t = op.traits();
            if t.reduce {
                flops(in_elems(0)?)
            } else if t.unary_elementwise || t.broadcasting {
                flops(out()?)
            } else {
                // Data movement, shape arithmetic, quantization steps: no arithmetic counted.
                flops(0)
            }
        }
    }
}

/// Multiply-accumulates of an Einsum: the product of the sizes of every index letter.
fn einsum_macs(node: &crate::Node, ins: &[Option<ValueRef>], g: &Graph) -> Option<u64> {
    let eq = node.string("equation").ok()?;
    let lhs = eq.split("->").next()?;
    if lhs.contains("...") {
        return None;
    }
    let mut sizes: HashMap<char, u64> = HashMap::new();
    for (term, v) in lhs.split(',').zip(ins) {
        let d = g.known_dims((*v)?)?;
        let letters: Vec<char> = term.trim().chars().collect();
        if letters.len() != d.len() {
            return None;
        }
        for (c, n) in letters.into_iter().zip(d) {
            sizes.insert(c, n);
        }
    }
    sizes.values().try_fold(1u64, |a, &n| a.checked_mul(n))
}

/// The liveness plan's schedule: the main graph's nodes in order, and where each value is
/// read last. The peak of [`peak_memory`] and the ExecuTorch writer's memory plan (tensor
/// offsets in one arena) both come from it.
#[derive(Debug, Clone, Default)]
pub struct Liveness {
    /// The nodes in execution order.
    pub order: Vec<NodeId>,
    /// Position in `order` of each value's last reader; graph outputs: `usize::MAX` (live
    /// past the end). A value nobody reads has no entry (it dies with its producer).
    pub last_use: HashMap<ValueRef, usize>,
}

impl Liveness {
    /// The schedule of `g`; `None` for a graph with a cycle.
    pub fn of(g: &Graph) -> Option<Liveness> {
        let order = g.topo_order().ok()?;
        let pos: HashMap<NodeId, usize> =
            order.iter().enumerate().map(|(i, &id)| (id, i)).collect();
        let mut last_use: HashMap<ValueRef, usize> = HashMap::new();
        for &id in &order {
            for v in g
                .inputs_of(id)
                .into_iter()
                .flatten()
                .chain(g.captures_of(id))
            {
                let p = last_use.entry(v).or_default();
                *p = (*p).max(pos[&id]);
            }
        }
        for &v in g.outputs() {
            last_use.insert(v, usize::MAX);
        }
        Some(Liveness { order, last_use })
    }

    /// The last position at which `v`, made at position `made`, is live.
    pub fn live_until(&self, v: ValueRef, made: usize) -> usize {
        self.last_use.get(&v).copied().unwrap_or(made)
    }
}

/// The main graph's liveness plan (see the module doc).
pub fn peak_memory(g: &Graph) -> Memory {
    let mut mem = Memory::default();
    let Some(Liveness { order, last_use }) = Liveness::of(g) else {
        return mem;
    };
    let mut frees: HashMap<usize, Vec<u64>> = HashMap::new();
    let mut live = 0u64;
    for (i, &id) in order.iter().enumerate() {
        let node = g.node(id);
        if matches!(node.op, Op::Const(_) | Op::SparseConst(_) | Op::Outer) {
            continue;
        }
        for (slot, value) in node.outputs.iter().enumerate() {
            if value.is_absent() {
                continue;
            }
            let v = ValueRef::new(id, slot);
            let size = match value_bytes(g, v) {
                Some(s) => s,
                None => {
                    mem.unknown_values += 1;
                    0
                }
            };
            live = live.saturating_add(size);
            // A value nobody reads is freed right after its node.
            let until = last_use.get(&v).copied().unwrap_or(i);
            if until != usize::MAX {
                frees.entry(until).or_default().push(size);
            }
        }
        if live > mem.peak_bytes || mem.peak_at.is_empty() {
            mem.peak_bytes = live;
            mem.peak_at = node_label(node);
        }
        for size in frees.remove(&i).unwrap_or_default() {
            live -= size;
        }
    }
    mem
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The text form with `zeros(N)` standing for N zeros.
    fn costed(text: &str) -> GraphCost {
        let mut text = text.to_string();
        while let Some(at) = text.find("zeros(") {
            let end = at + text[at..].find(')').unwrap();
            let n: usize = text[at + 6..end].parse().unwrap();
            text.replace_range(at..=end, &format!("[{}]", vec!["0.0"; n].join(", ")));
        }
        let mut g = Graph::parse(&text).unwrap();
        crate::infer::infer_graph(&mut g, &[]);
        graph_cost(&g)
    }

    /// Figures worked out by hand for a tiny graph.
    #[test]
    fn tiny_graph_by_hand() {
        // Conv 3->8, 3x3, pads 1: out [1,8,4,4] = 128 elements, each 3*3*3 = 27 MACs.
        // Depthwise conv 8 groups 3x3 pads 1: 128 outputs * 1*3*3 = 9 MACs each.
        // Relu: 128 FLOPs. GlobalAveragePool: 128 FLOPs. Flatten: 0.
        // Gemm [1,8]x[8,10]^T... with bias: 80 MACs, 160 + 10 FLOPs.
        let c = costed(
            "graph(%x: f32[1,3,4,4]) -> (%y) {
              %w = const f32[8,3,3,3] zeros(216)
              %b = const f32[8] zeros(8)
              %dw = const f32[8,1,3,3] zeros(72)
              %fw = const f32[10,8] zeros(80)
              %fb = const f32[10] zeros(10)
              %c = Conv(%x, %w, %b) {pads=[1,1,1,1]}
              %r = Relu(%c)
              %d = Conv(%r, %dw) {pads=[1,1,1,1], group=8}
              %p = GlobalAveragePool(%d)
              %f = Flatten(%p)
              %y = Gemm(%f, %fw, %fb) {transB=1}
            }",
        );
        assert!(c.unknown.is_empty(), "{:?}", c.unknown);
        assert_eq!(c.by_op["Conv"].nodes, 2);
        assert_eq!(c.by_op["Conv"].cost.macs, 128 * 27 + 128 * 9);
        assert_eq!(c.by_op["Conv"].cost.flops, 2 * (128 * 27 + 128 * 9) + 128);
        assert_eq!(
            c.by_op["Relu"].cost,
            Cost {
                macs: 0,
                flops: 128
            }
        );
        assert_eq!(c.by_op["GlobalAveragePool"].cost.flops, 128);
        assert_eq!(c.by_op["Flatten"].cost, Cost::default());
        assert_eq!(
            c.by_op["Gemm"].cost,
            Cost {
                macs: 80,
                flops: 170
            }
        );
        assert_eq!(c.total.macs, 128 * 36 + 80);
        // Weights: (216 + 8 + 72 + 80 + 10) f32.
        assert_eq!(c.weight_bytes[&DType::F32], 386 * 4);
        // Liveness: x (192 B) and c (512 B) live while the first Conv runs (704 B); x is
        // freed, then c and r live while Relu runs (1024 B, the peak); r and d while the
        // depthwise Conv runs are 1024 B too (the first node to reach a peak is named).
        assert_eq!(c.memory.peak_bytes, 1024);
        assert_eq!(c.memory.peak_at, "Relu -> r");
        assert_eq!(c.memory.unknown_values, 0);
    }

    #[test]
    fn batched_matmul_and_unknown_shapes() {
        let c = costed(
            "graph(%a: f32[2,4,5,6], %b: f32[2,4,6,7], %u: f32[N,6]) -> (%y, %z) {
              %y = MatMul(%a, %b)
              %w = const f32[6,3] zeros(18)
              %z = MatMul(%u, %w)
            }",
        );
        // [2,4,5,7] outputs, K = 6.
        assert_eq!(c.by_op["MatMul"].cost.macs, 2 * 4 * 5 * 7 * 6);
        assert_eq!(c.unknown, ["MatMul -> z"]);
        assert_eq!(c.memory.unknown_values, 2);
    }

    #[test]
    fn conv_transpose_counts_per_input_element() {
        // x [1,4,3,3], weight [4, 2, 2, 2] (C_in, C_out/g, k): each input element scatters
        // into 2*2*2 = 8 outputs.
        let c = costed(
            "graph(%x: f32[1,4,3,3]) -> (%y) {
              %w = const f32[4,2,2,2] zeros(32)
              %y = ConvTranspose(%x, %w) {strides=[2,2]}
            }",
        );
        assert_eq!(c.total.macs, 36 * 8);
    }
}
