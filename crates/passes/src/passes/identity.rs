//! `identity`: removes nodes that return their input unchanged — `Identity`, and `Dropout`
//! in inference (no `training_mode` input, mask output unused) — by making their users read
//! the input directly. When the result is a graph output, the producer's value takes over
//! the output's name (graph outputs keep their names); when that is not possible (the input
//! is a graph input or constant, or is used elsewhere) the node stays.

use modelc_ir::{Graph, NodeId, OnnxOp, Op, ValueRef};

use crate::util::bypass;
use crate::{Changed, Pass, PassContext, PassError};

pub struct IdentityElim;

impl Pass for IdentityElim {
    fn name(&self) -> &'static str {
        "identity"
    }

    fn description(&self) -> &'static str {
        "remove Identity, and Dropout in inference, rewiring their users to the input"
    }

    fn run(&self, g: &mut Graph, _cx: &mut PassContext) -> Result<Changed, PassError> {
        Ok(Changed::from_bool(eliminate(g)))
    }
}

/// Whether the node passes input 0 through unchanged.
fn is_passthrough(g: &Graph, id: NodeId) -> bool {
    let node = g.node(id);
    match node.op {
        Op::Onnx(OnnxOp::Identity) => true,
        Op::Onnx(OnnxOp::Dropout) => {
            let training = g.inputs_of(id).get(2).copied().flatten().is_some();
            let mask_used = node.outputs.len() > 1
                && !node.outputs[1].is_absent()
                && (!g.users(ValueRef::new(id, 1)).is_empty()
                    || g.outputs().contains(&ValueRef::new(id, 1)));
            !training && !mask_used
        }
        _ => false,
    }
}

fn eliminate(g: &mut Graph) -> bool {
    let mut changed = false;
    let order = g.topo_order().unwrap_or_default();
    for id in order {
        if !is_passthrough(g, id) {
            continue;
        }
        let Some(src) = g.input(id, 0) else { continue };
        if !bypass(g, id, src) {
            continue;
        }
        changed = true;
    }
    let ids: Vec<NodeId> = g.node_ids().collect();
    for id in ids {
        for sub in g.node_mut(id).subgraphs_mut() {
            changed |= eliminate(sub);
        }
    }
    changed
}
