//! Validation: structural consistency of a graph (edges, slots, cycles, outputs) and the
//! arity and attribute kinds of ONNX ops against their schemas. Passes run it after every
//! rewrite in debug builds; importers run it on what they built.

use std::fmt;

use petgraph::visit::EdgeRef;
use petgraph::Direction;

use crate::{node_label, Attr, Graph, Model, Op};

/// One problem found by validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Path of graph names from the model's main graph down to the graph with the problem.
    pub graph: String,
    /// The node concerned, as [`node_label`] renders it, if any.
    pub node: Option<String>,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.node {
            Some(n) => write!(f, "graph `{}`, node {}: {}", self.graph, n, self.message),
            None => write!(f, "graph `{}`: {}", self.graph, self.message),
        }
    }
}

/// Every problem validation found (never empty).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ValidationError(pub Vec<Problem>);

impl fmt::Display for ValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0[0])?;
        if self.0.len() > 1 {
            write!(f, " (and {} more problems)", self.0.len() - 1)?;
        }
        Ok(())
    }
}

/// Validates a model's main graph and function bodies.
pub fn validate_model(model: &Model) -> Result<(), ValidationError> {
    let mut problems = Vec::new();
    check_graph(&model.graph, &model.graph.name, false, &mut problems);
    for f in &model.functions {
        check_graph(
            &f.body,
            &format!("function {}.{}", f.domain, f.name),
            false,
            &mut problems,
        );
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(ValidationError(problems))
    }
}

/// Validates one graph (and its sub-graphs); `nested` allows [`Op::Outer`] nodes.
pub fn validate_graph(graph: &Graph, nested: bool) -> Result<(), ValidationError> {
    let mut problems = Vec::new();
    check_graph(graph, &graph.name, nested, &mut problems);
    if problems.is_empty() {
        Ok(())
    } else {
        Err(ValidationError(problems))
    }
}

fn check_graph(g: &Graph, path: &str, nested: bool, problems: &mut Vec<Problem>) {
    let mut found = Vec::new();
    let mut report = |node: Option<String>, message: String| {
        found.push(Problem {
            graph: path.to_string(),
            node,
            message,
        })
    };
    let mut nested_graphs = Vec::new();
    if let Err(e) = g.topo_order() {
        report(Some(e.node), "is on a cycle".into());
    }
    for &id in g.inputs() {
        match g.try_node(id) {
            Some(n) if matches!(n.op, Op::Input { .. }) => {}
            Some(n) => report(
                Some(node_label(n)),
                "is listed as a graph input but is not an input node".into(),
            ),
            None => report(None, "graph input list names a removed node".into()),
        }
    }
    for (i, out) in g.outputs().iter().enumerate() {
        match g.value(*out) {
            Some(v) if !v.is_absent() => {}
            Some(_) => report(
                None,
                format!("output {i} refers to an absent optional value"),
            ),
            None => report(
                None,
                format!("output {i} refers to a value that does not exist"),
            ),
        }
    }
    for id in g.node_ids() {
        let node = g.node(id);
        let label = || Some(node_label(node));
        // Edges: every source slot exists and is produced; every target slot is fed once.
        let mut fed = std::collections::HashSet::new();
        let mut captures = 0usize;
        for e in g.dag().edges_directed(id, Direction::Incoming) {
            let w = e.weight();
            match g.node(e.source()).outputs.get(w.src_slot()) {
                None => report(
                    label(),
                    format!(
                        "input slot {} reads output {} of {}, which has no such output",
                        w.dst_slot(),
                        w.src_slot(),
                        node_label(g.node(e.source()))
                    ),
                ),
                Some(v) if v.is_absent() => report(
                    label(),
                    format!(
                        "input slot {} reads an absent optional output of {}",
                        w.dst_slot(),
                        node_label(g.node(e.source()))
                    ),
                ),
                Some(_) => {}
            }
            if !fed.insert(w.dst_slot()) {
                report(label(), format!("input slot {} is fed twice", w.dst_slot()));
            }
            if w.dst_slot() >= node.num_inputs {
                captures += 1;
            }
        }
        if captures > 0 && node.subgraphs().next().is_none() {
            report(
                label(),
                format!("has {captures} capture inputs but no sub-graph"),
            );
        }
        match &node.op {
            Op::Input { default } => {
                if let Some(t) = default {
                    if let Err(e) = t.check() {
                        report(label(), format!("default value: {e}"));
                    }
                }
            }
            Op::Const(t) => {
                if let Err(e) = t.check() {
                    report(label(), e.to_string());
                }
            }
            Op::SparseConst(s) => {
                for t in [&s.values, &s.indices] {
                    if let Err(e) = t.check() {
                        report(label(), e.to_string());
                    }
                }
            }
            Op::Outer => {
                if !nested {
                    report(
                        label(),
                        "reads an enclosing graph, but this graph is not nested".into(),
                    );
                }
            }
            Op::Onnx(op) => {
                match (op.is_layout_sensitive(), node.layout) {
                    (true, None) => report(label(), format!("{op} needs a layout (NCHW or NHWC)")),
                    (false, Some(l)) => report(
                        label(),
                        format!("{op} does not depend on layout, yet has layout {l}"),
                    ),
                    _ => {}
                }
                let schema = op.schema();
                let (lo, hi) = schema.inputs;
                if node.num_inputs < lo || node.num_inputs > hi {
                    report(
                        label(),
                        format!(
                            "has {} inputs, {} takes {}",
                            node.num_inputs,
                            op,
                            range(lo, hi)
                        ),
                    );
                }
                let (lo, hi) = schema.outputs;
                if node.outputs.len() < lo || node.outputs.len() > hi {
                    report(
                        label(),
                        format!(
                            "has {} outputs, {} produces {}",
                            node.outputs.len(),
                            op,
                            range(lo, hi)
                        ),
                    );
                }
                for a in schema.attrs.iter().filter(|a| a.required) {
                    if !node.attrs.contains(a.name) {
                        report(label(), format!("lacks required attribute `{}`", a.name));
                    }
                }
                for entry in node.attrs.iter() {
                    let kinds: Vec<_> = schema
                        .attrs
                        .iter()
                        .filter(|a| a.name == entry.name)
                        .map(|a| a.kind)
                        .collect();
                    let kind = entry.value.kind();
                    if kinds.is_empty() {
                        report(
                            label(),
                            format!(
                                "has attribute `{}`, which {} does not define",
                                entry.name, op
                            ),
                        );
                    } else if !kinds.contains(&kind) && !matches!(entry.value, Attr::Ref { .. }) {
                        report(
                            label(),
                            format!(
                                "attribute `{}` is {}, {} expects {}",
                                entry.name,
                                kind.name(),
                                op,
                                kinds[0].name()
                            ),
                        );
                    }
                }
            }
            Op::Custom(_) => {
                if let Some(l) = node.layout {
                    report(
                        label(),
                        format!(
                            "custom op has layout {l}; only layout-sensitive ONNX ops carry one"
                        ),
                    );
                }
            }
        }
        for (i, sub) in node.subgraphs().enumerate() {
            let name = if sub.name.is_empty() {
                format!("#{i}")
            } else {
                sub.name.clone()
            };
            nested_graphs.push((format!("{path}/{name}"), sub));
        }
    }
    problems.extend(found);
    for (sub_path, sub) in nested_graphs {
        check_graph(sub, &sub_path, true, problems);
    }
}

fn range(lo: usize, hi: usize) -> String {
    match (lo, hi) {
        (lo, usize::MAX) => format!("at least {lo}"),
        (lo, hi) if lo == hi => format!("{lo}"),
        (lo, hi) => format!("{lo} to {hi}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{DType, Node, OnnxOp, Value, ValueRef, ValueType};

    #[test]
    fn reports_arity_attributes_and_dangling_outputs() {
        let mut g = Graph::new("main");
        let x = g.add_input(Value::typed(
            "x",
            ValueType::tensor(DType::F32, &[2]).into(),
        ));
        let mut relu = Node::new(Op::Onnx(OnnxOp::Relu), 2, vec![Value::named("y")]);
        relu.attrs.set("alpha", Attr::Float(1.0));
        let r = g.add_node(relu);
        g.connect(ValueRef::new(x, 0), r, 0);
        g.push_output(ValueRef::new(r, 3));
        let err = validate_graph(&g, false).unwrap_err();
        let msgs: Vec<String> = err.0.iter().map(|p| p.to_string()).collect();
        assert_eq!(
            msgs,
            [
                "graph `main`: output 0 refers to a value that does not exist",
                "graph `main`, node Relu -> y: has 2 inputs, Relu takes 1",
                "graph `main`, node Relu -> y: has attribute `alpha`, which Relu does not define",
            ]
        );
    }
}
