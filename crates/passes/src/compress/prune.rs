//! `prune`: structured pruning. Whole output channels of Conv (group 1), Gemm and MatMul
//! (constant weights) are removed by importance (L1 or L2 norm of the channel's weights), and
//! the removal is carried through everything that reads them, so the result is an ordinary
//! smaller model with no masks and no zeros left behind.
//!
//! The analysis follows each producer's output channels forward: through unary elementwise
//! ops, BatchNormalization, depthwise Conv, pooling, Flatten of `[N, C, 1, ...]`, broadcasting
//! binary ops (a constant operand per channel is sliced with them; two pruned operands, as in a
//! residual `Add`, tie their channels together so both keep the same ones), Concat (channels
//! laid side by side) and Split (channel slices) along the channel axis, to the next layer's
//! input channels (Conv / Gemm / MatMul weights are sliced). A channel is a union of the
//! producer channels tied together; it is kept or removed as one. A channel reaching anything
//! else (a graph output, a Reshape, an op the analysis does not know) is kept, as is at least
//! one channel of every value.

use std::collections::HashMap;

use modelc_ir::{Attr, Dim, Graph, Layout, NodeId, OnnxOp, ValueRef, ValueType};

use crate::pattern::{float_const, float_tensor, onnx_op, rank_of, single_use, FloatConst};
use crate::quant::edit::label;
use crate::{Changed, Pass, PassContext, PassError};

/// How a channel's importance is measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Criterion {
    /// Sum of |w| over the channel's weights (and every layer tied to it).
    L1,
    /// Euclidean norm of the channel's weights (summed over tied layers).
    L2,
}

/// What the pass removes.
#[derive(Debug, Clone, PartialEq)]
pub struct PruneOptions {
    /// Fraction (0..1) of the prunable channels removed in each group of tied layers.
    pub ratio: f64,
    pub criterion: Criterion,
    /// Only these producers (empty: every one); a channel tied to a producer not listed is
    /// kept.
    pub only: Vec<NodeId>,
}

impl Default for PruneOptions {
    fn default() -> Self {
        PruneOptions {
            ratio: 0.25,
            criterion: Criterion::L1,
            only: Vec::new(),
        }
    }
}

/// One pruned layer, for reports.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Pruned {
    pub node: String,
    pub op: String,
    pub channels_before: usize,
    pub channels_after: usize,
}

/// The pruning pass with fixed options. It rewrites once: a pipeline runs its passes to a
/// fixed point, and every run would otherwise shrink the layers again.
pub struct Prune {
    pub opts: PruneOptions,
    ran: std::cell::Cell<bool>,
}

impl Prune {
    pub fn new(opts: PruneOptions) -> Prune {
        Prune {
            opts,
            ran: std::cell::Cell::new(false),
        }
    }
}

impl Pass for Prune {
    fn name(&self) -> &'static str {
        "prune"
    }

    fn description(&self) -> &'static str {
        "remove the least important output channels of Conv/Gemm/MatMul and everything reading them"
    }

    fn run(&self, g: &mut Graph, _cx: &mut PassContext) -> Result<Changed, PassError> {
        if self.ran.replace(true) {
            return Ok(Changed::No);
        }
        Ok(Changed::from_bool(!prune(g, &self.opts).is_empty()))
    }
}

/// Which axis of a weight holds what.
#[derive(Debug, Clone, Copy)]
struct WeightAxes {
    out: usize,
    inp: usize,
}

/// A layer whose weight is a constant float read by it alone.
fn weight_axes(g: &Graph, id: NodeId) -> Option<(OnnxOp, WeightAxes, FloatConst)> {
    let op = onnx_op(g, id)?;
    let w = g.input(id, 1)?;
    if !single_use(g, w) {
        return None;
    }
    let c = float_const(g, w)?;
    let node = g.node(id);
    let rank = c.dims.len();
    let axes = match op {
        OnnxOp::Conv => {
            if rank < 3 {
                return None;
            }
            let inp = match node.layout.unwrap_or(Layout::Nchw) {
                Layout::Nhwc => rank - 1,
                _ => 1,
            };
            WeightAxes { out: 0, inp }
        }
        OnnxOp::Gemm => {
            if rank != 2 || node.attrs.int("transA", 0).ok()? != 0 {
                return None;
            }
            if node.attrs.int("transB", 0).ok()? != 0 {
                WeightAxes { out: 0, inp: 1 }
            } else {
                WeightAxes { out: 1, inp: 0 }
            }
        }
        OnnxOp::MatMul if rank == 2 => WeightAxes { out: 1, inp: 0 },
        _ => return None,
    };
    Some((op, axes, c))
}

/// Where a conv-like node's channel axis is, counted from the end of its data.
fn channel_from_end(g: &Graph, id: NodeId, data_rank: usize) -> usize {
    match g.node(id).layout.unwrap_or(Layout::Nchw) {
        Layout::Nhwc => 0,
        _ => data_rank.saturating_sub(2),
    }
}

/// The channels a value carries: the element (producer channel) at each position along the
/// axis `from_end` places from the last.
#[derive(Debug, Clone)]
struct Chans {
    elems: Vec<usize>,
    from_end: usize,
}

/// What the rewrite does to one node.
#[derive(Debug, Clone)]
enum Edit {
    /// Slice a constant input along `axis` by the kept channels of value `by`.
    SliceConst {
        slot: usize,
        axis: usize,
        by: ValueRef,
    },
    /// Depthwise conv: `group` becomes the kept count of `by`.
    Group { by: ValueRef },
    /// Split along channels: its sizes follow its outputs' kept counts.
    SplitSizes,
}

struct Union(Vec<usize>);

impl Union {
    fn find(&mut self, mut e: usize) -> usize {
        while self.0[e] != e {
            self.0[e] = self.0[self.0[e]];
            e = self.0[e];
        }
        e
    }
    fn union(&mut self, a: usize, b: usize) {
        let (a, b) = (self.find(a), self.find(b));
        if a != b {
            self.0[b.max(a)] = a.min(b);
        }
    }
}

struct Analysis {
    chans: HashMap<ValueRef, Chans>,
    /// Producer of each element and its channel there.
    owner: Vec<(NodeId, usize)>,
    importance: Vec<f64>,
    uf: Union,
    blocked: Vec<usize>,
    edits: Vec<(NodeId, Edit)>,
    producers: Vec<(NodeId, usize)>,
}

impl Analysis {
    fn block(&mut self, v: ValueRef) {
        if let Some(c) = self.chans.get(&v) {
            self.blocked.extend(c.elems.iter().copied());
        }
    }
}

/// Prunes `g` as `opts` says; the layers whose output channels shrank.
pub fn prune(g: &mut Graph, opts: &PruneOptions) -> Vec<Pruned> {
    let Ok(order) = g.topo_order() else {
        return Vec::new();
    };
    let mut a = Analysis {
        chans: HashMap::new(),
        owner: Vec::new(),
        importance: Vec::new(),
        uf: Union(Vec::new()),
        blocked: Vec::new(),
        edits: Vec::new(),
        producers: Vec::new(),
    };
    for &id in &order {
        follow(g, id, &mut a, opts);
    }
    // What reaches a graph output or a sub-graph stays.
    for v in g.outputs().to_vec() {
        a.block(v);
    }
    for id in order.iter().copied() {
        if g.node(id).subgraphs().next().is_some() {
            for v in g.captures_of(id) {
                a.block(v);
            }
        }
    }
    let pruned = choose(&mut a, opts);
    if pruned.iter().all(|p| !p) {
        return Vec::new();
    }
    rewrite(g, &mut a, &pruned)
}

/// Records what node `id` does with the channels of its inputs, and the channels of its
/// outputs.
fn follow(g: &Graph, id: NodeId, a: &mut Analysis, opts: &PruneOptions) {
    let Some(op) = onnx_op(g, id) else {
        for v in g.inputs_of(id).into_iter().flatten() {
            a.block(v);
        }
        return;
    };
    let node = g.node(id);
    let ins = g.inputs_of(id);
    let traced: Vec<(usize, ValueRef)> = ins
        .iter()
        .enumerate()
        .filter_map(|(i, v)| v.filter(|v| a.chans.contains_key(v)).map(|v| (i, v)))
        .collect();
    let out0 = ValueRef::new(id, 0);
    let weighted = weight_axes(g, id);

    // As a reader of pruned channels.
    let mut passes_through: Option<Chans> = None;
    let mut ok = true;
    if !traced.is_empty() {
        let first = a.chans[&traced[0].1].clone();
        let x_rank = rank_of(g, traced[0].1);
        match op {
            OnnxOp::Conv | OnnxOp::Gemm | OnnxOp::MatMul
                if traced.len() == 1 && traced[0].0 == 0 && weighted.is_some() =>
            {
                let (_, axes, w) = weighted.as_ref().expect("checked");
                let group = node.attrs.int("group", 1).unwrap_or(1);
                let c = first.elems.len();
                let want = match op {
                    OnnxOp::Conv => channel_from_end(g, id, w.dims.len()),
                    _ => 0,
                };
                if first.from_end != want {
                    ok = false;
                } else if op == OnnxOp::Conv && group != 1 {
                    // Depthwise: one weight per channel, the channels pass through.
                    let per_group = w.dims[axes.inp] as usize;
                    let bias_ok =
                        node.num_inputs < 3 || ins[2].is_some_and(|b| float_const(g, b).is_some());
                    if group as usize == c && w.dims[0] as usize == c && per_group == 1 && bias_ok {
                        a.edits.push((
                            id,
                            Edit::SliceConst {
                                slot: 1,
                                axis: 0,
                                by: traced[0].1,
                            },
                        ));
                        if node.num_inputs > 2 && ins[2].is_some() {
                            a.edits.push((
                                id,
                                Edit::SliceConst {
                                    slot: 2,
                                    axis: 0,
                                    by: traced[0].1,
                                },
                            ));
                        }
                        a.edits.push((id, Edit::Group { by: traced[0].1 }));
                        passes_through = Some(first.clone());
                    } else {
                        ok = false;
                    }
                } else if w.dims[axes.inp] as usize == c {
                    a.edits.push((
                        id,
                        Edit::SliceConst {
                            slot: 1,
                            axis: axes.inp,
                            by: traced[0].1,
                        },
                    ));
                } else {
                    ok = false;
                }
            }
            OnnxOp::BatchNormalization if traced.len() == 1 && traced[0].0 == 0 => {
                let want = match node.layout.unwrap_or(Layout::Nchw) {
                    Layout::Nhwc => Some(0),
                    _ => x_rank.map(|r| r.saturating_sub(2)),
                };
                let c = first.elems.len() as u64;
                let params_ok = (1..5).all(|i| {
                    ins.get(i)
                        .copied()
                        .flatten()
                        .and_then(|v| float_const(g, v))
                        .is_some_and(|p| p.dims == [c])
                });
                if want == Some(first.from_end)
                    && params_ok
                    && crate::pattern::extra_outputs_unused(g, id)
                {
                    for slot in 1..5 {
                        a.edits.push((
                            id,
                            Edit::SliceConst {
                                slot,
                                axis: 0,
                                by: traced[0].1,
                            },
                        ));
                    }
                    passes_through = Some(first.clone());
                } else {
                    ok = false;
                }
            }
            OnnxOp::MaxPool
            | OnnxOp::AveragePool
            | OnnxOp::GlobalAveragePool
            | OnnxOp::GlobalMaxPool
            | OnnxOp::LpPool
                if traced.len() == 1 && traced[0].0 == 0 =>
            {
                let want = match node.layout.unwrap_or(Layout::Nchw) {
                    Layout::Nhwc => Some(0),
                    _ => x_rank.map(|r| r.saturating_sub(2)),
                };
                if want == Some(first.from_end) && node.outputs.len() == 1 {
                    passes_through = Some(first.clone());
                } else {
                    ok = false;
                }
            }
            _ if op.traits().unary_elementwise && traced.len() == 1 && traced[0].0 == 0 => {
                passes_through = Some(first.clone());
            }
            OnnxOp::PRelu if traced.len() == 1 && traced[0].0 == 0 => {
                match per_channel_operand(g, ins.get(1).copied().flatten(), &first) {
                    Some(None) => passes_through = Some(first.clone()),
                    Some(Some(axis)) => {
                        a.edits.push((
                            id,
                            Edit::SliceConst {
                                slot: 1,
                                axis,
                                by: traced[0].1,
                            },
                        ));
                        passes_through = Some(first.clone());
                    }
                    None => ok = false,
                }
            }
            OnnxOp::Add | OnnxOp::Sub | OnnxOp::Mul | OnnxOp::Div if node.num_inputs == 2 => {
                if traced.len() == 2 {
                    let second = a.chans[&traced[1].1].clone();
                    if second.from_end == first.from_end && second.elems.len() == first.elems.len()
                    {
                        for (&x, &y) in first.elems.iter().zip(&second.elems) {
                            a.uf.union(x, y);
                        }
                        passes_through = Some(first.clone());
                    } else {
                        ok = false;
                    }
                } else {
                    let other_slot = 1 - traced[0].0;
                    match per_channel_operand(g, ins[other_slot], &first) {
                        Some(None) => passes_through = Some(first.clone()),
                        Some(Some(axis)) => {
                            a.edits.push((
                                id,
                                Edit::SliceConst {
                                    slot: other_slot,
                                    axis,
                                    by: traced[0].1,
                                },
                            ));
                            passes_through = Some(first.clone());
                        }
                        None => ok = false,
                    }
                }
            }
            OnnxOp::Concat => {
                let axis = node.attrs.int("axis", 0).unwrap_or(0);
                let all = ins
                    .iter()
                    .all(|v| v.is_some_and(|v| a.chans.contains_key(&v)));
                let from_end = match x_rank {
                    Some(r) if axis >= 0 => (r as i64 - 1 - axis) as usize,
                    _ if axis < 0 => (-axis - 1) as usize,
                    _ => usize::MAX,
                };
                let same = ins
                    .iter()
                    .flatten()
                    .all(|v| a.chans.get(v).is_some_and(|c| c.from_end == from_end));
                if all && same {
                    let elems = ins
                        .iter()
                        .flatten()
                        .flat_map(|v| a.chans[v].elems.clone())
                        .collect();
                    passes_through = Some(Chans { elems, from_end });
                } else {
                    ok = false;
                }
            }
            OnnxOp::Split if traced.len() == 1 && traced[0].0 == 0 => {
                let axis = node.attrs.int("axis", 0).unwrap_or(0);
                let from_end = match x_rank {
                    Some(r) if axis >= 0 => (r as i64 - 1 - axis) as usize,
                    _ if axis < 0 => (-axis - 1) as usize,
                    _ => usize::MAX,
                };
                match split_sizes(g, id) {
                    Some(sizes)
                        if from_end == first.from_end
                            && sizes.iter().sum::<usize>() == first.elems.len()
                            && sizes.len() == node.outputs.len() =>
                    {
                        let mut at = 0;
                        for (i, s) in sizes.iter().enumerate() {
                            a.chans.insert(
                                ValueRef::new(id, i),
                                Chans {
                                    elems: first.elems[at..at + s].to_vec(),
                                    from_end,
                                },
                            );
                            at += s;
                        }
                        a.edits.push((id, Edit::SplitSizes));
                    }
                    _ => ok = false,
                }
            }
            OnnxOp::Flatten if traced.len() == 1 => {
                // [N, C, 1, ...] → [N, C]: only when C is axis 1 and the rest are ones.
                let axis = node.attrs.int("axis", 1).unwrap_or(1);
                let dims = value_dims(g, traced[0].1);
                let fine = dims.as_ref().is_some_and(|d| {
                    axis == 1
                        && d.len() >= 2
                        && first.from_end == d.len() - 2
                        && d[2..].iter().all(|x| *x == Dim::Known(1))
                });
                if fine {
                    passes_through = Some(Chans {
                        elems: first.elems.clone(),
                        from_end: 0,
                    });
                } else {
                    ok = false;
                }
            }
            _ => ok = false,
        }
    }
    if !ok {
        for (_, v) in &traced {
            a.block(*v);
        }
        passes_through = None;
    }
    if let Some(c) = passes_through {
        a.chans.insert(out0, c);
    }

    // As a producer of channels of its own.
    if let Some((op, axes, w)) = weighted {
        let group = node.attrs.int("group", 1).unwrap_or(1);
        let bias_ok = match ins.get(2).copied().flatten() {
            None => true,
            Some(b) => float_const(g, b).is_some_and(|b| {
                b.dims.last().copied() == Some(w.dims[axes.out])
                    && b.dims.iter().rev().skip(1).all(|&d| d == 1)
                    && single_use(g, ins[2].expect("some"))
            }),
        };
        let wanted = opts.only.is_empty() || opts.only.contains(&id);
        if group == 1 && bias_ok && wanted && !a.chans.contains_key(&out0) {
            let m = w.dims[axes.out] as usize;
            let start = a.owner.len();
            for j in 0..m {
                a.owner.push((id, j));
                a.uf.0.push(start + j);
            }
            a.importance
                .extend(channel_norms(&w, axes.out, opts.criterion));
            a.producers.push((id, start));
            let from_end = match op {
                OnnxOp::Conv => channel_from_end(g, id, w.dims.len()),
                _ => 0,
            };
            a.chans.insert(
                out0,
                Chans {
                    elems: (start..start + m).collect(),
                    from_end,
                },
            );
            if ins.get(2).copied().flatten().is_some() {
                let bias = float_const(g, ins[2].expect("some")).expect("checked");
                a.edits.push((
                    id,
                    Edit::SliceConst {
                        slot: 2,
                        axis: bias.dims.len() - 1,
                        by: out0,
                    },
                ));
            }
            a.edits.push((
                id,
                Edit::SliceConst {
                    slot: 1,
                    axis: axes.out,
                    by: out0,
                },
            ));
        }
    }
}

/// For a binary op's other operand next to channels `c`: `Some(None)` when it broadcasts over
/// the channel axis (size 1 or missing there, known shape), `Some(Some(axis))` when it is a
/// float constant with one value per channel along its `axis`, `None` otherwise.
fn per_channel_operand(g: &Graph, v: Option<ValueRef>, c: &Chans) -> Option<Option<usize>> {
    let v = v?;
    let dims: Vec<Dim> = match float_const(g, v) {
        Some(k) => k.dims.iter().map(|&d| Dim::Known(d)).collect(),
        None => value_dims(g, v)?,
    };
    if dims.len() <= c.from_end {
        return Some(None);
    }
    let axis = dims.len() - 1 - c.from_end;
    match dims[axis] {
        Dim::Known(1) => Some(None),
        Dim::Known(n) if n as usize == c.elems.len() && float_const(g, v).is_some() => {
            Some(Some(axis))
        }
        _ => None,
    }
}

fn value_dims(g: &Graph, v: ValueRef) -> Option<Vec<Dim>> {
    let ty = g.value(v)?.ty.as_ref()?;
    Some(ty.ty.as_tensor()?.shape.as_ref()?.0.clone())
}

/// Split's sizes from its `split` input or attribute.
fn split_sizes(g: &Graph, id: NodeId) -> Option<Vec<usize>> {
    let node = g.node(id);
    let sizes: Vec<i64> = if let Some(v) = g.input(id, 1) {
        let t = crate::pattern::const_tensor(g, v)?;
        modelc_interp::Array::from_tensor(t)
            .ok()?
            .to_f64_vec()
            .ok()?
            .into_iter()
            .map(|x| x as i64)
            .collect()
    } else {
        node.ints("split").ok()?
    };
    sizes.into_iter().map(|s| usize::try_from(s).ok()).collect()
}

/// Each output channel's importance: the norm of its weights.
fn channel_norms(w: &FloatConst, axis: usize, criterion: Criterion) -> Vec<f64> {
    let m = w.dims[axis] as usize;
    let inner: usize = w.dims[axis + 1..].iter().product::<u64>() as usize;
    let mut acc = vec![0.0; m];
    for (i, v) in w.values.iter().enumerate() {
        let c = (i / inner) % m;
        acc[c] += match criterion {
            Criterion::L1 => v.abs(),
            Criterion::L2 => v * v,
        };
    }
    if criterion == Criterion::L2 {
        acc.iter_mut().for_each(|x| *x = x.sqrt());
    }
    acc
}

/// Which channel classes (by root element) go: in each group of tied producers, the `ratio`
/// least important of the prunable classes, keeping at least one channel of every value.
fn choose(a: &mut Analysis, opts: &PruneOptions) -> Vec<bool> {
    let n = a.owner.len();
    let mut blocked = vec![false; n];
    for e in a.blocked.clone() {
        let r = a.uf.find(e);
        blocked[r] = true;
    }
    let mut score = vec![0.0; n];
    for e in 0..n {
        let r = a.uf.find(e);
        score[r] += a.importance[e];
    }
    // Producers tied by a shared class form one group.
    let mut group = Union((0..a.producers.len()).collect());
    let producer_of: HashMap<NodeId, usize> = a
        .producers
        .iter()
        .enumerate()
        .map(|(i, (id, _))| (*id, i))
        .collect();
    for e in 0..n {
        let r = a.uf.find(e);
        group.union(producer_of[&a.owner[e].0], producer_of[&a.owner[r].0]);
    }
    let mut classes: HashMap<usize, Vec<usize>> = HashMap::new();
    for e in 0..n {
        let r = a.uf.find(e);
        if r == e && !blocked[r] {
            let gid = group.find(producer_of[&a.owner[e].0]);
            classes.entry(gid).or_default().push(r);
        }
    }
    let mut pruned = vec![false; n];
    let mut groups: Vec<_> = classes.into_iter().collect();
    groups.sort();
    for (_, mut cls) in groups {
        cls.sort_by(|&x, &y| score[x].total_cmp(&score[y]).then(x.cmp(&y)));
        let k = ((cls.len() as f64) * opts.ratio).floor() as usize;
        for &c in &cls[..k.min(cls.len())] {
            pruned[c] = true;
        }
    }
    // Every value keeps a channel: its most important one comes back when all would go.
    let values: Vec<Vec<usize>> = a.chans.values().map(|c| c.elems.clone()).collect();
    for elems in values {
        let roots: Vec<usize> = elems.iter().map(|&e| a.uf.find(e)).collect();
        if !roots.is_empty() && roots.iter().all(|&r| pruned[r]) {
            let best = roots
                .iter()
                .copied()
                .max_by(|&x, &y| score[x].total_cmp(&score[y]))
                .expect("not empty");
            pruned[best] = false;
        }
    }
    pruned
}

fn rewrite(g: &mut Graph, a: &mut Analysis, pruned_root: &[bool]) -> Vec<Pruned> {
    let mut kept: HashMap<ValueRef, Vec<usize>> = HashMap::new();
    let chans: Vec<(ValueRef, Chans)> = a.chans.iter().map(|(v, c)| (*v, c.clone())).collect();
    for (v, c) in &chans {
        let k: Vec<usize> = (0..c.elems.len())
            .filter(|&i| !pruned_root[a.uf.find(c.elems[i])])
            .collect();
        kept.insert(*v, k);
    }
    // Slicing edits, grouped per (node, slot) so a weight sliced on two axes is written once.
    let mut slices: HashMap<(NodeId, usize), Vec<(usize, ValueRef)>> = HashMap::new();
    let mut order: Vec<(NodeId, usize)> = Vec::new();
    for (id, e) in &a.edits {
        match e {
            Edit::SliceConst { slot, axis, by } => {
                let key = (*id, *slot);
                if !slices.contains_key(&key) {
                    order.push(key);
                }
                slices.entry(key).or_default().push((*axis, *by));
            }
            Edit::Group { by } => {
                let n = kept[by].len() as i64;
                g.node_mut(*id).attrs.set("group", Attr::Int(n));
            }
            Edit::SplitSizes => {
                let outs = g.node(*id).outputs.len();
                let sizes: Vec<i64> = (0..outs)
                    .map(|i| kept[&ValueRef::new(*id, i)].len() as i64)
                    .collect();
                if let Some(v) = g.input(*id, 1) {
                    let name = format!(
                        "{}_pruned",
                        g.value(v).map(|x| x.name.clone()).unwrap_or_default()
                    );
                    let mut b = modelc_ir::Builder::new(g);
                    let c = b.const_i64s(&name, &sizes);
                    g.connect(c, *id, 1);
                    if g.users(v).is_empty() && !g.outputs().contains(&v) {
                        g.remove_node(v.node);
                    }
                } else {
                    g.node_mut(*id).attrs.set("split", Attr::Ints(sizes));
                }
            }
        }
    }
    for key in order {
        let (id, slot) = key;
        let Some(v) = g.input(id, slot) else { continue };
        let Some(mut c) = float_const(g, v) else {
            continue;
        };
        let mut changed = false;
        for (axis, by) in &slices[&key] {
            let keep = &kept[by];
            if keep.len() != c.dims[*axis] as usize {
                c = slice_axis(&c, *axis, keep);
                changed = true;
            }
        }
        if changed {
            let name = format!(
                "{}_pruned",
                g.value(v).map(|x| x.name.clone()).unwrap_or_default()
            );
            let t = float_tensor(c.dtype, c.dims.clone(), &c.values);
            let mut b = modelc_ir::Builder::new(g);
            let nv = b.constant(&name, t);
            g.connect(nv, id, slot);
            if g.users(v).is_empty() && !g.outputs().contains(&v) {
                g.remove_node(v.node);
            }
        }
    }
    // Value types follow the new channel counts.
    for (v, c) in &chans {
        let n = kept[v].len() as u64;
        if let Some(ValueType::Tensor(t)) = g
            .value_mut(*v)
            .and_then(|x| x.ty.as_mut().map(|t| &mut std::sync::Arc::make_mut(t).ty))
        {
            if let Some(shape) = t.shape.as_mut() {
                if let Some(i) = shape.0.len().checked_sub(1 + c.from_end) {
                    shape.0[i] = Dim::Known(n);
                }
            }
        }
    }
    let mut out = Vec::new();
    for &(id, start) in &a.producers {
        let v = ValueRef::new(id, 0);
        let before = a.owner[start..].iter().take_while(|o| o.0 == id).count();
        let after = kept.get(&v).map_or(before, Vec::len);
        if after < before {
            out.push(Pruned {
                node: label(g, id),
                op: g.node(id).op.display_name(),
                channels_before: before,
                channels_after: after,
            });
        }
    }
    out
}

/// `c` keeping only the indices `keep` along `axis`.
fn slice_axis(c: &FloatConst, axis: usize, keep: &[usize]) -> FloatConst {
    let dims = &c.dims;
    let outer: usize = dims[..axis].iter().product::<u64>() as usize;
    let m = dims[axis] as usize;
    let inner: usize = dims[axis + 1..].iter().product::<u64>() as usize;
    let mut values = Vec::with_capacity(outer * keep.len() * inner);
    for o in 0..outer {
        for &k in keep {
            let at = (o * m + k) * inner;
            values.extend_from_slice(&c.values[at..at + inner]);
        }
    }
    let mut nd = dims.clone();
    nd[axis] = keep.len() as u64;
    FloatConst {
        dtype: c.dtype,
        dims: nd,
        values,
    }
}
