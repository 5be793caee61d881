//! `reshape-merge`: a chain of shape-only ops (`Reshape`, `Flatten`, `Squeeze`, `Unsqueeze`)
//! becomes one `Reshape`, since none of them moves an element: only the last one's result
//! shape matters.
//!
//! - A `Reshape` to a constant shape without `0` entries (or with `allowzero=1`) reads the
//!   first op's input directly: its `-1` is resolved from the element count, which the
//!   chain does not change.
//! - Any other last op whose result shape is known (at most one dimension unknown, written
//!   as `-1`; from declarations or `infer-shapes`) becomes a `Reshape` to that shape, when
//!   the op before it has no other reader (so the rewrite removes a node).
//!
//! The last op's node is rewritten in place, so its result keeps its name (a graph output
//! stays one); the earlier op goes when nothing else reads it.

use modelc_ir::{Attrs, Builder, Dim, Graph, NodeId, OnnxOp, Op, ValueRef};

use crate::pattern::{for_each_graph, onnx_op, remove_with_dead_consts, single_use};
use crate::util::const_ints;
use crate::{Changed, Pass, PassContext, PassError};

pub struct ReshapeMerge;

impl Pass for ReshapeMerge {
    fn name(&self) -> &'static str {
        "reshape-merge"
    }

    fn description(&self) -> &'static str {
        "merge chains of Reshape/Flatten/Squeeze/Unsqueeze into one Reshape"
    }

    fn run(&self, g: &mut Graph, _cx: &mut PassContext) -> Result<Changed, PassError> {
        Ok(Changed::from_bool(for_each_graph(g, &mut merge)))
    }
}

fn shape_only(op: Option<OnnxOp>) -> bool {
    matches!(
        op,
        Some(OnnxOp::Reshape | OnnxOp::Flatten | OnnxOp::Squeeze | OnnxOp::Unsqueeze)
    )
}

fn merge(g: &mut Graph) -> bool {
    let mut changed = false;
    for id in g.topo_order().unwrap_or_default() {
        if g.try_node(id).is_none() || !shape_only(onnx_op(g, id)) {
            continue;
        }
        let Some(x) = g.input(id, 0) else { continue };
        if !shape_only(onnx_op(g, x.node)) || x.slot != 0 {
            continue;
        }
        let first = x.node;
        let Some(src) = g.input(first, 0) else {
            continue;
        };
        if reshape_to_fixed_shape(g, id) {
            g.connect(src, id, 0);
        } else if single_use(g, x) {
            let Some(target) = target_shape(g, ValueRef::new(id, 0)) else {
                continue;
            };
            let name = format!("{}_shape", g.node(id).outputs[0].name);
            let shape = Builder::new(g).const_i64s(&name, &target);
            let node = g.node_mut(id);
            node.op = Op::Onnx(OnnxOp::Reshape);
            node.attrs = Attrs::default();
            node.layout = None;
            node.num_inputs = 2;
            g.disconnect(id, 1);
            g.connect(src, id, 0);
            g.connect(shape, id, 1);
        } else {
            continue;
        }
        changed = true;
        let unread = g.users(x).is_empty() && !g.outputs().contains(&x);
        if unread {
            remove_with_dead_consts(g, &[first]);
        }
    }
    changed
}

/// Whether node `id` is a `Reshape` whose target does not depend on its input's shape.
fn reshape_to_fixed_shape(g: &Graph, id: NodeId) -> bool {
    if onnx_op(g, id) != Some(OnnxOp::Reshape) || g.node(id).attrs.contains("shape") {
        return false;
    }
    let allowzero = g.node(id).attrs.int("allowzero", 0).unwrap_or(0) != 0;
    let Some(target) = g.input(id, 1).and_then(|v| const_ints(g, v)) else {
        return false;
    };
    allowzero || !target.contains(&0)
}

/// The shape of `v` as a Reshape target: known dimensions, at most one `-1`; `None` when
/// more is unknown or a dimension is 0 (which a Reshape target would read as "copy").
fn target_shape(g: &Graph, v: ValueRef) -> Option<Vec<i64>> {
    let dims = &g.shape_of(v)?.0;
    let mut unknown = 0;
    let target: Vec<i64> = dims
        .iter()
        .map(|d| match d {
            Dim::Known(n) => i64::try_from(*n).ok().filter(|&n| n > 0),
            _ => {
                unknown += 1;
                Some(-1)
            }
        })
        .collect::<Option<_>>()?;
    (unknown <= 1).then_some(target)
}
