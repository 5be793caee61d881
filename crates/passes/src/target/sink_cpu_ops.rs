//! `sink-cpu-ops`: for targets that cut the graph at the first operator they cannot run (the
//! Edge TPU compiler maps operators in file order up to the first unsupported one; it and
//! everything after it run on the CPU), the operators that stay on the CPU are scheduled as
//! late as their readers allow, so the accelerated ones form one prefix where the data flow
//! permits. A quantized model's CPU operators are the float ones: a compute node whose output
//! is not read by exactly one QuantizeLinear (a QDQ unit the writer emits as one integer
//! operator), such as a float post-processing branch or an ArgMax taking int64 out.
//!
//! Exact: only the order of independent operators changes (each moved node is re-added,
//! which gives it the newest creation number; the writers emit a topological order that
//! breaks ties by that number, so a moved node waits until nothing else is ready).

use modelc_ir::{Graph, NodeId, OnnxOp, Op, ValueRef};

use crate::{Changed, Pass, PassContext, PassError};

pub struct SinkCpuOps;

impl Pass for SinkCpuOps {
    fn name(&self) -> &'static str {
        "sink-cpu-ops"
    }

    fn description(&self) -> &'static str {
        "operators a quantized model runs in float (on the CPU) scheduled last where the data \
         flow allows, so a cut-at-first-unsupported target (edgetpu) maps one prefix"
    }

    fn run(&self, g: &mut Graph, cx: &mut PassContext) -> Result<Changed, PassError> {
        let failed = |e: modelc_ir::CycleError| PassError::Failed {
            pass: "sink-cpu-ops",
            message: e.to_string(),
        };
        let before = g.topo_order().map_err(failed)?;
        let cpu: Vec<NodeId> = before
            .iter()
            .copied()
            .filter(|&id| stays_on_cpu(g, id))
            .collect();
        if cpu.is_empty() {
            return Ok(Changed::No);
        }
        // The order as the names of what each node makes (moved nodes get new ids).
        let names = |g: &Graph, order: &[NodeId]| -> Vec<String> {
            order
                .iter()
                .map(|&id| {
                    let n = g.node(id);
                    n.outputs.first().map_or(n.name.clone(), |v| v.name.clone())
                })
                .collect()
        };
        let was = names(g, &before);
        for &id in &cpu {
            move_last(g, id);
        }
        let after = g.topo_order().map_err(failed)?;
        if names(g, &after) == was {
            return Ok(Changed::No);
        }
        cx.notes.push(format!(
            "{} operator(s) that stay on the CPU scheduled after the accelerated ones they do \
             not feed",
            cpu.len()
        ));
        Ok(Changed::Yes)
    }
}

/// A compute node the writer emits as a float (CPU) operator: not a QuantizeLinear /
/// DequantizeLinear, and some output not read by exactly one QuantizeLinear.
fn stays_on_cpu(g: &Graph, id: NodeId) -> bool {
    let Op::Onnx(op) = g.node(id).op else {
        return false;
    };
    if matches!(op, OnnxOp::QuantizeLinear | OnnxOp::DequantizeLinear) {
        return false;
    }
    (0..g.node(id).outputs.len()).any(|slot| {
        let v = ValueRef::new(id, slot);
        if g.node(id).outputs[slot].is_absent() {
            return false;
        }
        match g.users(v).as_slice() {
            [(q, 0)] => g.node(*q).op != Op::Onnx(OnnxOp::QuantizeLinear),
            _ => true,
        }
    })
}

/// Re-adds node `id` (newest creation number), rewired to the same inputs and readers.
fn move_last(g: &mut Graph, id: NodeId) {
    let inputs = g.inputs_of(id);
    let node = g.node(id).clone();
    let slots = node.outputs.len();
    let new = g.add_node(node);
    g.connect_inputs(
        new,
        inputs
            .iter()
            .enumerate()
            .filter_map(|(slot, v)| v.map(|v| (slot, v))),
    );
    for slot in 0..slots {
        g.replace_uses(ValueRef::new(id, slot), ValueRef::new(new, slot));
    }
    g.remove_node(id);
}
