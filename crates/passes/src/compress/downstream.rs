//! A model cut in two at a layer, so a change to that layer is measured by running only what
//! follows it: the values live at the cut (the cut's *frontier*) become the inputs of a graph
//! of the rest, and the frontier itself moves from layer to layer along the topological
//! order by running only the nodes between two cuts. Each input's values at the cut are
//! computed once; candidates for the layer then start from them. Exact: the nodes before the
//! cut are the original model's, so their values are the ones every candidate would compute.

use std::collections::{HashMap, HashSet};

use modelc_interp::{Data, Interpreter};
use modelc_ir::{Graph, Model, NodeId, Op, Value, ValueRef};

use crate::quant::calibrate::Sample;
use crate::quant::metrics::{Accumulator, Metric};
use crate::quant::{each, QuantError};

/// The values computed before position `pos` of `order` (graph inputs included, constants
/// and nodes reading only constants left out: a cut graph keeps those) that a node at or
/// after `pos` reads, or that are graph outputs; in a deterministic order.
pub fn frontier(g: &Graph, order: &[NodeId], pos: usize) -> Vec<ValueRef> {
    let before: HashSet<NodeId> = order[..pos].iter().copied().collect();
    let constant = constant_nodes(g, order);
    let mut out: Vec<ValueRef> = Vec::new();
    let mut seen = HashSet::new();
    let mut add = |v: ValueRef, out: &mut Vec<ValueRef>| {
        if before.contains(&v.node) && !constant.contains(&v.node) && seen.insert(v) {
            out.push(v);
        }
    };
    for &id in &order[pos..] {
        for v in g
            .inputs_of(id)
            .into_iter()
            .flatten()
            .chain(g.captures_of(id))
        {
            add(v, &mut out);
        }
    }
    for &v in g.outputs() {
        add(v, &mut out);
    }
    out
}

/// Nodes whose value is the same on every run: constants and ops reading only them.
fn constant_nodes(g: &Graph, order: &[NodeId]) -> HashSet<NodeId> {
    let mut constant = HashSet::new();
    for &id in order {
        let node = g.node(id);
        let is_const = match &node.op {
            Op::Const(_) | Op::SparseConst(_) => true,
            Op::Onnx(op) => {
                let ins = g.inputs_of(id);
                op.traits().randomness != modelc_ir::Randomness::Always
                    && node.subgraphs().next().is_none()
                    && g.captures_of(id).is_empty()
                    && ins.iter().flatten().next().is_some()
                    && ins.iter().flatten().all(|v| constant.contains(&v.node))
            }
            _ => false,
        };
        if is_const {
            constant.insert(id);
        }
    }
    constant
}

/// `g` with each of `inputs` made a graph input (of its name and type) and `outputs` its
/// outputs; only what those outputs need from the new inputs (and constants) is kept.
pub fn cut(g: &Graph, inputs: &[ValueRef], outputs: &[ValueRef]) -> Graph {
    let mut c = g.clone();
    let mut renamed: HashMap<ValueRef, ValueRef> = HashMap::new();
    let mut new_inputs = Vec::new();
    let mut used = HashSet::new();
    for (i, &v) in inputs.iter().enumerate() {
        // The value's own name (sub-graphs capture outer values by name), unless it is
        // empty or taken: runs give the inputs by position.
        let own = c.value(v).map(|x| x.name.clone()).unwrap_or_default();
        let name = if !own.is_empty() && used.insert(own.clone()) {
            own
        } else {
            format!("cut:{i}")
        };
        let fresh = Value {
            ty: c.value(v).and_then(|x| x.ty.clone()),
            ..Value::named(name)
        };
        let id = c.add_node(modelc_ir::Node::new(
            Op::Input { default: None },
            0,
            vec![fresh],
        ));
        let nv = ValueRef::new(id, 0);
        c.replace_uses(v, nv);
        renamed.insert(v, nv);
        new_inputs.push(id);
    }
    let outs: Vec<ValueRef> = outputs
        .iter()
        .map(|v| *renamed.get(v).unwrap_or(v))
        .collect();
    c.set_inputs(new_inputs.clone());
    c.set_outputs(outs.clone());
    // Keep what the outputs need, stopping at the new inputs.
    let mut keep: HashSet<NodeId> = new_inputs.iter().copied().collect();
    let mut stack: Vec<NodeId> = outs.iter().map(|v| v.node).collect();
    while let Some(id) = stack.pop() {
        if !keep.insert(id) {
            continue;
        }
        for v in c
            .inputs_of(id)
            .into_iter()
            .flatten()
            .chain(c.captures_of(id))
        {
            if !keep.contains(&v.node) {
                stack.push(v.node);
            }
        }
    }
    let dead: Vec<NodeId> = c.node_ids().filter(|id| !keep.contains(id)).collect();
    for id in dead {
        c.remove_node(id);
    }
    c.set_inputs(new_inputs);
    c.set_outputs(outs);
    c
}

/// Each sample's values at a cut, moved forward cut by cut (one run of the nodes between two
/// cuts per sample), with the model's outputs on each sample as the reference.
pub struct Activations<'m> {
    model: &'m Model,
    order: Vec<NodeId>,
    /// Position in `order` of the current cut.
    pos: usize,
    frontier: Vec<ValueRef>,
    /// Per sample, the frontier's values in its order.
    values: Vec<Vec<Data>>,
    /// Per sample, the model's outputs by name.
    reference: Vec<Vec<(String, Data)>>,
}

impl<'m> Activations<'m> {
    /// Cut before the first node: the frontier is the graph inputs the samples give.
    pub fn new(model: &'m Model, samples: &[Sample]) -> Result<Activations<'m>, QuantError> {
        let g = &model.graph;
        let order = g
            .topo_order()
            .map_err(|e| QuantError::Unsupported(e.to_string()))?;
        let reference = {
            let interp = Interpreter::new(model)?;
            each(samples, |s| Ok(interp.run(s.clone())?))?
        };
        // Position 0 with the inputs "computed": the frontier at the first non-input node.
        let first = order
            .iter()
            .position(|&id| !matches!(g.node(id).op, Op::Input { .. }))
            .unwrap_or(order.len());
        let frontier = frontier(g, &order, first);
        let mut values = Vec::with_capacity(samples.len());
        for s in samples {
            let mut row = Vec::with_capacity(frontier.len());
            for v in &frontier {
                let name = g.value(*v).map_or("", |x| x.name.as_str());
                let d = s
                    .iter()
                    .find(|(n, _)| n == name)
                    .map(|(_, d)| d.clone())
                    .or_else(|| match &g.node(v.node).op {
                        Op::Input { default: Some(t) } => {
                            modelc_interp::Array::from_tensor(t).ok().map(Data::Tensor)
                        }
                        _ => None,
                    })
                    .ok_or_else(|| {
                        QuantError::Calibration(format!("a sample does not give input `{name}`"))
                    })?;
                row.push(d);
            }
            values.push(row);
        }
        Ok(Activations {
            model,
            order,
            pos: first,
            frontier,
            values,
            reference,
        })
    }

    /// The model's nodes in the order cuts move along.
    pub fn order(&self) -> &[NodeId] {
        &self.order
    }

    /// The model's outputs on each sample (as [`crate::quant::reference`] gives them).
    pub fn reference(&self) -> &[Vec<(String, Data)>] {
        &self.reference
    }

    /// Moves the cut forward to just before node `id` (no move when it is at or past it).
    pub fn advance_to(&mut self, id: NodeId) -> Result<(), QuantError> {
        let Some(pos) = self.order.iter().position(|&n| n == id) else {
            return Ok(());
        };
        if pos <= self.pos {
            return Ok(());
        }
        let g = &self.model.graph;
        let next = frontier(g, &self.order, pos);
        let computed: Vec<ValueRef> = next
            .iter()
            .filter(|v| !self.frontier.contains(v))
            .copied()
            .collect();
        let segment = cut(g, &self.frontier, &computed);
        let interp = Interpreter::for_graph(&segment, &self.model.opset_imports)?;
        let names = interp.input_names();
        let computed_outs = each(&self.values, |row| {
            if computed.is_empty() {
                return Ok(Vec::new());
            }
            let ins = names.iter().cloned().zip(row.iter().cloned()).collect();
            Ok(interp.run(ins)?)
        })?;
        for (row, outs) in self.values.iter_mut().zip(computed_outs) {
            let mut moved = Vec::with_capacity(next.len());
            for v in &next {
                if let Some(i) = self.frontier.iter().position(|f| f == v) {
                    moved.push(row[i].clone());
                } else {
                    let i = computed.iter().position(|c| c == v).expect("computed");
                    moved.push(outs[i].1.clone());
                }
            }
            *row = moved;
        }
        self.frontier = next;
        self.pos = pos;
        Ok(())
    }

    /// The error (in `metric`, the largest over outputs) of `changed` against the model on
    /// every sample, running only what follows the current cut. `changed` must be the model
    /// with only nodes at or after the cut changed (ids of the others kept).
    pub fn error(&self, changed: &Model, metric: Metric) -> Result<f64, QuantError> {
        let rest = cut(&changed.graph, &self.frontier, changed.graph.outputs());
        let interp = Interpreter::for_graph(&rest, &changed.opset_imports)?;
        let names = interp.input_names();
        let mut acc: Vec<Accumulator> = self.reference.first().map_or(Vec::new(), |r| {
            r.iter().map(|_| Accumulator::default()).collect()
        });
        let runs = each(&self.values, |row| {
            let ins = names.iter().cloned().zip(row.iter().cloned()).collect();
            Ok(interp.run(ins)?)
        })?;
        for (outs, reference) in runs.iter().zip(&self.reference) {
            for (i, ((_, a), (_, b))) in reference.iter().zip(outs.iter()).enumerate() {
                if let (Data::Tensor(x), Data::Tensor(y)) = (a, b) {
                    if let (Ok(xv), Ok(yv)) = (x.to_f64_vec(), y.to_f64_vec()) {
                        acc[i].add(&xv, &yv, x.shape());
                    }
                }
            }
        }
        Ok(acc
            .iter()
            .map(|a| a.finish("").error(metric))
            .fold(0.0, f64::max))
    }
}
