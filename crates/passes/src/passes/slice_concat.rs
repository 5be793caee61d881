//! `slice-concat`: a `Slice` that takes a range of one input of a `Concat` reads that input
//! directly, moving through a `Transpose` between them. An unrolled LSTM (`decompose-lstm`)
//! stacks every step's hidden state with a `Concat` of one input per step, and a classifier
//! reading only the last step (`y[:, -1]`: Transpose, then a Slice of one step) makes
//! the whole stack for nothing; TFLite Micro refuses a CONCATENATION of more than ten inputs
//! (kernels/concatenation.cc, `kMaxInputNum`), so such a model does not even load. After the
//! rewrite the Concat and the other steps' stacking ops are unread and go.
//!
//! Rewrites, each on constant `starts` / `ends` / `axes` / `steps` (opset 10+):
//! - `Slice(Transpose(x, perm))` whose Transpose has no other reader →
//!   `Transpose(Slice(x), perm)` with each sliced axis `a` moved to `perm[a]`;
//! - `Slice(Concat(x0..xn, axis a))` slicing axis `a` only, step 1, within one input `xi`
//!   (the dimensions along `a` known) → `Slice(xi)` shifted by `xi`'s offset, or `xi` itself
//!   when the range is the whole of it.

use modelc_ir::{Builder, Graph, NodeId, OnnxOp, ValueRef};

use crate::pattern::{for_each_graph, onnx_op};
use crate::util::{bypass, const_ints};
use crate::{Changed, Pass, PassContext, PassError};

pub struct SliceConcat;

impl Pass for SliceConcat {
    fn name(&self) -> &'static str {
        "slice-concat"
    }

    fn description(&self) -> &'static str {
        "a Slice within one input of a Concat (through a Transpose) reads that input (the last \
         step of an unrolled LSTM without its stacked sequence)"
    }

    fn run(&self, g: &mut Graph, _cx: &mut PassContext) -> Result<Changed, PassError> {
        Ok(Changed::from_bool(for_each_graph(g, &mut |g| {
            let mut changed = false;
            // Each rewrite moves a Slice one op up; a few rounds reach the Concat.
            for _ in 0..8 {
                let mut round = false;
                for id in g.topo_order().unwrap_or_default() {
                    if g.try_node(id).is_some() && onnx_op(g, id) == Some(OnnxOp::Slice) {
                        round |= through_transpose(g, id) || into_concat(g, id);
                    }
                }
                changed |= round;
                if !round {
                    break;
                }
            }
            changed
        })))
    }
}

/// A Slice's constant parameters: (starts, ends, axes, steps), axes made non-negative.
struct SliceParams {
    starts: Vec<i64>,
    ends: Vec<i64>,
    axes: Vec<i64>,
    steps: Vec<i64>,
}

fn params(g: &Graph, id: NodeId, rank: usize) -> Option<SliceParams> {
    if g.node(id).num_inputs < 3 {
        return None;
    }
    let starts = const_ints(g, g.input(id, 1)?)?;
    let ends = const_ints(g, g.input(id, 2)?)?;
    let axes = match g.input(id, 3) {
        Some(v) => const_ints(g, v)?,
        None => (0..starts.len() as i64).collect(),
    };
    let steps = match g.input(id, 4) {
        Some(v) => const_ints(g, v)?,
        None => vec![1; starts.len()],
    };
    if starts.len() != ends.len() || axes.len() != starts.len() || steps.len() != starts.len() {
        return None;
    }
    let r = rank as i64;
    let axes = axes
        .into_iter()
        .map(|a| if a < 0 { a + r } else { a })
        .collect::<Vec<_>>();
    axes.iter()
        .all(|&a| (0..r).contains(&a))
        .then_some(SliceParams {
            starts,
            ends,
            axes,
            steps,
        })
}

/// `Slice(Transpose(x, perm))` → `Transpose(Slice(x, axes through perm), perm)`.
fn through_transpose(g: &mut Graph, id: NodeId) -> bool {
    let Some(t) = g.input(id, 0) else {
        return false;
    };
    if onnx_op(g, t.node) != Some(OnnxOp::Transpose)
        || g.users(t).len() != 1
        || g.outputs().contains(&t)
    {
        return false;
    }
    let Some(x) = g.input(t.node, 0) else {
        return false;
    };
    let Some(rank) = g.shape_of(x).map(|s| s.rank()) else {
        return false;
    };
    let perm = match g.node(t.node).ints("perm") {
        Ok(p) => p,
        Err(_) => (0..rank as i64).rev().collect(),
    };
    if perm.len() != rank {
        return false;
    }
    let Some(p) = params(g, id, rank) else {
        return false;
    };
    let out = ValueRef::new(id, 0);
    if g.outputs().contains(&out) {
        return false;
    }
    let name = g.node(id).name.clone();
    let mut b = Builder::new(g);
    let axes: Vec<i64> = p.axes.iter().map(|&a| perm[a as usize]).collect();
    let starts = b.const_i64s(&format!("{name}_starts"), &p.starts);
    let ends = b.const_i64s(&format!("{name}_ends"), &p.ends);
    let ax = b.const_i64s(&format!("{name}_axes"), &axes);
    let steps = b.const_i64s(&format!("{name}_steps"), &p.steps);
    let sliced = b
        .op(OnnxOp::Slice, &[x, starts, ends, ax, steps])
        .out(format!("{name}_before_transpose"))
        .value();
    b.op(OnnxOp::Transpose, &[sliced])
        .ints("perm", perm)
        .take_over(out);
    modelc_ir::build::remove_with_dead_consts(&mut b, &[id, t.node]);
    true
}

/// `Slice(Concat(..))` within one input → that input (sliced when only part of it).
fn into_concat(g: &mut Graph, id: NodeId) -> bool {
    let Some(c) = g.input(id, 0) else {
        return false;
    };
    if onnx_op(g, c.node) != Some(OnnxOp::Concat) {
        return false;
    }
    let parts: Vec<ValueRef> = g.inputs_of(c.node).into_iter().flatten().collect();
    let Some(rank) = g.shape_of(c).map(|s| s.rank()) else {
        return false;
    };
    let Ok(axis) = g.node(c.node).int("axis") else {
        return false;
    };
    let axis = if axis < 0 { axis + rank as i64 } else { axis };
    let Some(p) = params(g, id, rank) else {
        return false;
    };
    if p.axes != [axis] || p.steps != [1] {
        return false;
    }
    let Some(sizes) = parts
        .iter()
        .map(|&v| g.known_dims(v).and_then(|d| d.get(axis as usize).copied()))
        .collect::<Option<Vec<u64>>>()
    else {
        return false;
    };
    let total: i64 = sizes.iter().sum::<u64>() as i64;
    let clamp = |v: i64| {
        if v < 0 {
            (v + total).max(0)
        } else {
            v.min(total)
        }
    };
    let (start, end) = (clamp(p.starts[0]), clamp(p.ends[0]));
    if start >= end {
        return false;
    }
    let mut offset = 0i64;
    for (&part, &size) in parts.iter().zip(&sizes) {
        let size = size as i64;
        if start >= offset && end <= offset + size {
            let out = ValueRef::new(id, 0);
            if start == offset && end == offset + size {
                return bypass(g, id, part);
            }
            let name = g.node(id).name.clone();
            let mut b = Builder::new(g);
            let starts = b.const_i64s(&format!("{name}_starts"), &[start - offset]);
            let ends = b.const_i64s(&format!("{name}_ends"), &[end - offset]);
            let ax = b.const_i64s(&format!("{name}_axes"), &[axis]);
            b.op(OnnxOp::Slice, &[part, starts, ends, ax])
                .take_over(out);
            modelc_ir::build::remove_with_dead_consts(&mut b, &[id]);
            return true;
        }
        offset += size;
    }
    false
}
