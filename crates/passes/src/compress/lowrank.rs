//! `low-rank`: a weight W (m outputs × n inputs) replaced by two thinner layers from its
//! truncated SVD, W ≈ A·B with A = U_r·√S_r (m×r) and B = √S_r·V_rᵀ (r×n), when the two
//! factors hold fewer numbers than W (r·(m+n) < m·n).
//!
//! - `MatMul(x, W[n,m])` (2-D constant right operand) → `MatMul(MatMul(x, Bᵀ), Aᵀ)`;
//! - `Gemm(x, W, C)` → `Gemm(Gemm(x, B'), A', C)`, each factor stored in W's orientation
//!   (`transB`), `alpha` on the first, `beta` and the bias on the second;
//! - `Conv` (group 1, any kernel size, NCHW or NHWC): W `[m, n/k, k...]` seen as m × (n/k·k)
//!   → a Conv with r output channels and W's kernel, strides, pads and dilations, then a
//!   1×1 Conv with the m outputs and the bias.
//!
//! The rank is given or chosen by retained energy (the smallest r whose leading singular
//! values hold that fraction of Σσ²). Splitting √S over both factors keeps their ranges alike,
//! which matters when they are quantized later. Arithmetic is f64, rounded once to the
//! weight's dtype (f32 or f64).

use modelc_ir::{Attr, Attrs, Builder, Graph, Layout, NodeId, OnnxOp, ValueRef};
use nalgebra::DMatrix;

use crate::pattern::{float_const, float_tensor, onnx_op, remove_with_dead_consts, single_use};
use crate::quant::edit::label;
use crate::{Changed, Pass, PassContext, PassError};

/// How the rank of a factorization is chosen.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Rank {
    /// The smallest rank keeping this fraction (0..=1) of the squared singular values.
    Energy(f64),
    /// This rank (at most min(m, n)).
    Fixed(usize),
}

/// What the pass factorizes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LowRankOptions {
    pub rank: Rank,
    /// Factorize only when the two factors are smaller than the weight (false: always, for
    /// analysis and tests).
    pub only_if_smaller: bool,
}

impl Default for LowRankOptions {
    fn default() -> Self {
        LowRankOptions {
            rank: Rank::Energy(0.99),
            only_if_smaller: true,
        }
    }
}

/// One factorized layer, for reports.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Factorized {
    pub node: String,
    pub op: String,
    /// Output and input sizes of the weight matrix.
    pub m: usize,
    pub n: usize,
    pub rank: usize,
    /// Fraction of Σσ² kept.
    pub energy: f64,
    /// Weight elements before (m·n) and after (r·(m+n)).
    pub params_before: u64,
    pub params_after: u64,
}

/// The low-rank pass with fixed options (as a pipeline step, e.g. in tests). It rewrites once: a pipeline runs its passes to a
/// fixed point, and every run would otherwise shrink the layers again.
pub struct LowRank {
    pub opts: LowRankOptions,
    ran: std::cell::Cell<bool>,
}

impl LowRank {
    pub fn new(opts: LowRankOptions) -> LowRank {
        LowRank {
            opts,
            ran: std::cell::Cell::new(false),
        }
    }
}

impl Pass for LowRank {
    fn name(&self) -> &'static str {
        "low-rank"
    }

    fn description(&self) -> &'static str {
        "replace MatMul/Gemm/Conv weights by two thinner layers from a truncated SVD"
    }

    fn run(&self, g: &mut Graph, _cx: &mut PassContext) -> Result<Changed, PassError> {
        if self.ran.replace(true) {
            return Ok(Changed::No);
        }
        Ok(Changed::from_bool(!factorize(g, &self.opts).is_empty()))
    }
}

/// Factorizes every candidate layer of `g` that `opts` accepts; what was done, in order.
pub fn factorize(g: &mut Graph, opts: &LowRankOptions) -> Vec<Factorized> {
    candidates(g)
        .into_iter()
        .filter_map(|id| factorize_node(g, id, opts))
        .collect()
}

/// The layers the pass can factorize (a constant float weight read by nothing else), in
/// topological order; not the factors it wrote itself (a pipeline runs to a fixed point).
pub fn candidates(g: &Graph) -> Vec<NodeId> {
    g.topo_order()
        .unwrap_or_default()
        .into_iter()
        .filter(|&id| {
            let name = &g.node(id).name;
            !name.ends_with("/lowrank_a") && !name.ends_with("/lowrank_b")
        })
        .filter(|&id| weight_matrix(g, id).is_some())
        .collect()
}

/// The singular values of the weight of layer `id` (descending), if it is a candidate.
pub fn singular_values(g: &Graph, id: NodeId) -> Option<Vec<f64>> {
    let w = weight_matrix(g, id)?;
    Some(svd(&w).1)
}

/// The weight of layer `id` as an m×n matrix (rows: outputs) and its SVD, if it is a
/// candidate: what the ranks an option would choose, and whether its factors would be
/// smaller (`r·(m + n) < m·n`), are known before factorizing.
pub fn spectrum(g: &Graph, id: NodeId) -> Option<(usize, usize, Factors)> {
    let w = weight_matrix(g, id)?;
    let (u, s, vt) = svd(&w);
    Some((w.m, w.n, Factors { u, s, vt }))
}

/// The rank `rank` picks for singular values `s` (descending), at least 1.
pub fn choose_rank(s: &[f64], rank: Rank) -> usize {
    let max = s.len().max(1);
    match rank {
        Rank::Fixed(r) => r.clamp(1, max),
        Rank::Energy(e) => {
            let total: f64 = s.iter().map(|x| x * x).sum();
            let mut acc = 0.0;
            for (i, x) in s.iter().enumerate() {
                acc += x * x;
                if acc >= e * total * (1.0 - 1e-12) {
                    return i + 1;
                }
            }
            max
        }
    }
}

/// A layer's weight as an m×n matrix (rows: outputs), with how to put factors back.
struct WeightMatrix {
    op: OnnxOp,
    m: usize,
    n: usize,
    /// Row-major m×n.
    values: Vec<f64>,
    dtype: modelc_ir::DType,
    /// Conv: the weight's dims and layout.
    dims: Vec<u64>,
    layout: Layout,
}

fn weight_matrix(g: &Graph, id: NodeId) -> Option<WeightMatrix> {
    let op = onnx_op(g, id)?;
    if !matches!(op, OnnxOp::MatMul | OnnxOp::Gemm | OnnxOp::Conv) {
        return None;
    }
    let w = g.input(id, 1)?;
    if !single_use(g, w) || g.input(id, 0).is_none() {
        return None;
    }
    let c = float_const(g, w)?;
    let node = g.node(id);
    let layout = node.layout.unwrap_or(Layout::Nchw);
    let dims: Vec<usize> = c.dims.iter().map(|&d| d as usize).collect();
    let (m, n, values) = match op {
        OnnxOp::MatMul | OnnxOp::Gemm => {
            if dims.len() != 2 {
                return None;
            }
            let trans_b = op == OnnxOp::Gemm && node.attrs.int("transB", 0).ok()? != 0;
            if trans_b {
                // Stored [m, n] already.
                (dims[0], dims[1], c.values)
            } else {
                // Stored [n, m]: transpose.
                let (n, m) = (dims[0], dims[1]);
                let mut t = vec![0.0; m * n];
                for i in 0..n {
                    for j in 0..m {
                        t[j * n + i] = c.values[i * m + j];
                    }
                }
                (m, n, t)
            }
        }
        _ => {
            if dims.len() < 3 || node.attrs.int("group", 1).ok()? != 1 || node.num_inputs > 3 {
                return None;
            }
            // Both layouts keep the output channel first ([m, C, k...] or [m, k..., C]).
            let m = dims[0];
            (m, c.values.len() / m.max(1), c.values)
        }
    };
    if m == 0 || n == 0 {
        return None;
    }
    Some(WeightMatrix {
        op,
        m,
        n,
        values,
        dtype: c.dtype,
        dims: c.dims,
        layout,
    })
}

/// U (m×k), σ (k, descending), Vᵀ (k×n) with k = min(m, n).
fn svd(w: &WeightMatrix) -> (DMatrix<f64>, Vec<f64>, DMatrix<f64>) {
    let a = DMatrix::from_row_slice(w.m, w.n, &w.values);
    let svd = a.svd(true, true);
    let (u, vt) = (
        svd.u.expect("computed with u"),
        svd.v_t.expect("computed with v_t"),
    );
    let s = svd.singular_values;
    let mut order: Vec<usize> = (0..s.len()).collect();
    order.sort_by(|&i, &j| s[j].total_cmp(&s[i]));
    let u = DMatrix::from_fn(u.nrows(), order.len(), |r, c| u[(r, order[c])]);
    let vt = DMatrix::from_fn(order.len(), vt.ncols(), |r, c| vt[(order[r], c)]);
    let s = order.iter().map(|&i| s[i]).collect();
    (u, s, vt)
}

/// The SVD of layer `id`'s weight, computed once for every rank tried on it (the budget
/// search tries several: one SVD of a 1280×320 weight takes about a second).
pub struct Factors {
    u: DMatrix<f64>,
    s: Vec<f64>,
    vt: DMatrix<f64>,
}

impl Factors {
    /// The singular values, descending.
    pub fn singular_values(&self) -> &[f64] {
        &self.s
    }
}

/// The SVD of the weight of layer `id`, if it is a candidate.
pub fn factors(g: &Graph, id: NodeId) -> Option<Factors> {
    let (u, s, vt) = svd(&weight_matrix(g, id)?);
    Some(Factors { u, s, vt })
}

/// Factorizes layer `id` at the rank `opts` chooses; `None` (graph unchanged) when it is not a
/// candidate or the factors would not be smaller and `opts.only_if_smaller`.
pub fn factorize_node(g: &mut Graph, id: NodeId, opts: &LowRankOptions) -> Option<Factorized> {
    let f = factors(g, id)?;
    factorize_node_with(g, id, opts, &f)
}

/// [`factorize_node`] from `f`, the SVD [`factors`] gave for layer `id` of this graph (or of
/// one whose layer `id` has the same weight).
pub fn factorize_node_with(
    g: &mut Graph,
    id: NodeId,
    opts: &LowRankOptions,
    f: &Factors,
) -> Option<Factorized> {
    let w = weight_matrix(g, id)?;
    let (u, s, vt) = (&f.u, &f.s, &f.vt);
    if u.nrows() != w.m || vt.ncols() != w.n {
        return None;
    }
    let total: f64 = s.iter().map(|x| x * x).sum();
    if total == 0.0 {
        return None;
    }
    let r = choose_rank(s, opts.rank);
    let (m, n) = (w.m, w.n);
    let (before, after) = ((m * n) as u64, (r * (m + n)) as u64);
    if opts.only_if_smaller && after >= before {
        return None;
    }
    // A = U_r √S_r (m×r), B = √S_r V_rᵀ (r×n), both row-major.
    let mut a = vec![0.0; m * r];
    let mut b = vec![0.0; r * n];
    for k in 0..r {
        let sq = s[k].sqrt();
        for i in 0..m {
            a[i * r + k] = u[(i, k)] * sq;
        }
        for j in 0..n {
            b[k * n + j] = vt[(k, j)] * sq;
        }
    }
    let energy = s[..r].iter().map(|x| x * x).sum::<f64>() / total;
    let report = Factorized {
        node: label(g, id),
        op: w.op.name().to_string(),
        m,
        n,
        rank: r,
        energy,
        params_before: before,
        params_after: after,
    };
    rewrite(g, id, &w, r, &a, &b);
    Some(report)
}

fn transpose(v: &[f64], rows: usize, cols: usize) -> Vec<f64> {
    let mut t = vec![0.0; v.len()];
    for i in 0..rows {
        for j in 0..cols {
            t[j * rows + i] = v[i * cols + j];
        }
    }
    t
}

fn rewrite(g: &mut Graph, id: NodeId, w: &WeightMatrix, r: usize, a: &[f64], b: &[f64]) {
    let (m, n) = (w.m, w.n);
    let node = g.node(id).clone();
    let x = g.input(id, 0).expect("checked by weight_matrix");
    let bias = (node.num_inputs > 2).then(|| g.input(id, 2)).flatten();
    let base = label(g, id);
    let mut bld = Builder::new(g);
    let (first_w, second_w, first_attrs, second_attrs) = match w.op {
        OnnxOp::MatMul => (
            float_tensor(w.dtype, vec![n as u64, r as u64], &transpose(b, r, n)),
            float_tensor(w.dtype, vec![r as u64, m as u64], &transpose(a, m, r)),
            Attrs::default(),
            Attrs::default(),
        ),
        OnnxOp::Gemm => {
            let trans_b = node.attrs.int("transB", 0).unwrap_or(0) != 0;
            let (fw, sw) = if trans_b {
                (
                    float_tensor(w.dtype, vec![r as u64, n as u64], b),
                    float_tensor(w.dtype, vec![m as u64, r as u64], a),
                )
            } else {
                (
                    float_tensor(w.dtype, vec![n as u64, r as u64], &transpose(b, r, n)),
                    float_tensor(w.dtype, vec![r as u64, m as u64], &transpose(a, m, r)),
                )
            };
            let mut fa = Attrs::default();
            let mut sa = Attrs::default();
            for k in ["transA", "alpha"] {
                if let Some(v) = node.attrs.get(k) {
                    fa.set(k, v.clone());
                }
            }
            for k in ["transB"] {
                if let Some(v) = node.attrs.get(k) {
                    fa.set(k, v.clone());
                    sa.set(k, v.clone());
                }
            }
            if let Some(v) = node.attrs.get("beta") {
                sa.set("beta", v.clone());
            }
            (fw, sw, fa, sa)
        }
        _ => {
            let spatial = w.dims.len() - 2;
            let mut fdims = w.dims.clone();
            fdims[0] = r as u64;
            let ones = vec![1u64; spatial];
            let sdims: Vec<u64> = match w.layout {
                Layout::Nhwc => [&[m as u64][..], &ones, &[r as u64]].concat(),
                _ => [&[m as u64, r as u64][..], &ones].concat(),
            };
            let mut sa = Attrs::default();
            if node.attrs.get("kernel_shape").is_some() {
                sa.set("kernel_shape", Attr::Ints(vec![1; spatial]));
            }
            (
                float_tensor(w.dtype, fdims, b),
                float_tensor(w.dtype, sdims, a),
                node.attrs.clone(),
                sa,
            )
        }
    };
    let fw = bld.constant(&format!("{base}_lowrank_b"), first_w);
    let sw = bld.constant(&format!("{base}_lowrank_a"), second_w);
    let mid = bld
        .op(w.op, &[x, fw])
        .attrs(first_attrs)
        .layout(node.layout)
        .name(format!("{base}/lowrank_b"))
        .out(format!("{base}_lowrank"))
        .value();
    let mut second = vec![Some(mid), Some(sw)];
    if node.num_inputs > 2 {
        second.push(bias);
    }
    let out = bld
        .op_opt(w.op, &second)
        .attrs(second_attrs)
        .layout(node.layout)
        .name(format!("{base}/lowrank_a"))
        .value();
    let old = ValueRef::new(id, 0);
    bld.take_over(old, out);
    remove_with_dead_consts(g, &[id]);
}
