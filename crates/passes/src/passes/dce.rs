//! `dce`: dead-code elimination. Removes every node none of whose outputs reaches a graph
//! output, in the main graph and in sub-graphs. Graph inputs, outer-value nodes and custom
//! ops (whose side effects the IR cannot know) are kept.

use std::collections::HashSet;

use modelc_ir::{Graph, NodeId, Op};

use crate::{Changed, Pass, PassContext, PassError};

pub struct Dce;

impl Pass for Dce {
    fn name(&self) -> &'static str {
        "dce"
    }

    fn description(&self) -> &'static str {
        "remove nodes whose results no graph output uses"
    }

    fn run(&self, g: &mut Graph, _cx: &mut PassContext) -> Result<Changed, PassError> {
        Ok(Changed::from_bool(eliminate(g)))
    }
}

fn eliminate(g: &mut Graph) -> bool {
    let mut live: HashSet<NodeId> = HashSet::new();
    let mut stack: Vec<NodeId> = g.outputs().iter().map(|v| v.node).collect();
    // Nodes kept for their own sake are roots of liveness too.
    stack.extend(g.node_ids().filter(|&id| keep_anyway(&g.node(id).op)));
    while let Some(id) = stack.pop() {
        if !live.insert(id) {
            continue;
        }
        for v in g
            .inputs_of(id)
            .into_iter()
            .flatten()
            .chain(g.captures_of(id))
        {
            stack.push(v.node);
        }
    }
    let dead: Vec<NodeId> = g.node_ids().filter(|id| !live.contains(id)).collect();
    let mut changed = !dead.is_empty();
    for id in dead {
        g.remove_node(id);
    }
    let live_ids: Vec<NodeId> = g.node_ids().collect();
    for id in live_ids {
        for sub in g.node_mut(id).subgraphs_mut() {
            changed |= eliminate(sub);
        }
    }
    changed
}

fn keep_anyway(op: &Op) -> bool {
    matches!(op, Op::Input { .. } | Op::Outer | Op::Custom(_))
}
