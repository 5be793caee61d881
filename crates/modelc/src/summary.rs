//! What `modelc inspect` reports: format, opsets, inputs and outputs, op histogram,
//! parameter count and bytes, and (from [`modelc_ir::cost`]) MACs / FLOPs per op type,
//! weight bytes by element type and the peak activation memory.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use modelc_ir::{Graph, Model, Op, TensorData};
use serde::Serialize;

use crate::Format;

#[derive(Debug, Serialize)]
pub struct Summary {
    pub format: Format,
    pub ir_version: i64,
    pub producer: String,
    pub opsets: BTreeMap<String, i64>,
    pub inputs: Vec<Io>,
    pub outputs: Vec<Io>,
    /// Operation nodes (not inputs or constants), sub-graphs included.
    pub nodes: usize,
    /// Nodes per op, sub-graphs included.
    pub ops: BTreeMap<String, usize>,
    pub functions: Vec<String>,
    /// Elements in constants (weights), sub-graphs included.
    pub parameters: u64,
    pub parameter_bytes: u64,
    pub constants: usize,
    /// Compute and memory, when asked for ([`Summary::add_cost`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cost: Option<Costs>,
}

/// What running the model costs (see [`modelc_ir::cost`] for what is counted).
#[derive(Debug, Serialize)]
pub struct Costs {
    pub macs: u64,
    pub flops: u64,
    /// By op type: nodes, MACs, FLOPs (ops that compute nothing countable have zeros).
    pub ops: BTreeMap<String, OpCosts>,
    /// Constant bytes by element type, named as the text form names it (`f32`, `i8`, ...).
    pub weight_bytes: BTreeMap<String, u64>,
    /// The largest sum of live activations in a liveness plan of the main graph.
    pub peak_activation_bytes: u64,
    /// The node running at that peak.
    pub peak_at: String,
    /// Activations of unknown size (counted as 0; fix sizes with --input-shape / --dim).
    pub unknown_size_values: usize,
    /// Nodes whose cost could not be counted (unknown shapes, custom ops).
    pub uncounted: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct OpCosts {
    pub nodes: usize,
    pub macs: u64,
    pub flops: u64,
}

#[derive(Debug, Serialize)]
pub struct Io {
    pub name: String,
    #[serde(rename = "type")]
    pub ty: String,
}

impl Summary {
    pub fn of(model: &Model, format: Format) -> Summary {
        let mut s = Summary {
            format,
            ir_version: model.ir_version,
            producer: format!("{} {}", model.producer_name, model.producer_version)
                .trim()
                .to_string(),
            opsets: model
                .opset_imports
                .iter()
                .map(|o| {
                    (
                        if o.domain.is_empty() {
                            "ai.onnx".to_string()
                        } else {
                            o.domain.clone()
                        },
                        o.version,
                    )
                })
                .collect(),
            inputs: Vec::new(),
            outputs: Vec::new(),
            nodes: 0,
            ops: BTreeMap::new(),
            functions: model
                .functions
                .iter()
                .map(|f| format!("{}.{}", f.domain, f.name))
                .collect(),
            parameters: 0,
            parameter_bytes: 0,
            constants: 0,
            cost: None,
        };
        let g = &model.graph;
        let io = |v: modelc_ir::ValueRef| {
            let value = g.value(v).expect("outputs are live");
            Io {
                name: value.name.clone(),
                ty: value
                    .ty
                    .as_deref()
                    .map_or_else(|| "?".to_string(), modelc_ir::text::type_to_string),
            }
        };
        s.inputs = g
            .inputs()
            .iter()
            .map(|&id| io(modelc_ir::ValueRef::new(id, 0)))
            .collect();
        s.outputs = g.outputs().iter().map(|&v| io(v)).collect();
        s.count(g);
        s
    }

    /// Adds MACs / FLOPs, weight bytes by dtype and peak activation memory, counted on the
    /// graph with inferred shapes: a model handed over (`Cow::Owned`, as `modelc inspect`
    /// does) has them inferred in place, a borrowed one on a copy (the weights are shared,
    /// not copied; the nodes are, which for a graph of 200,000 nodes was 40% of `inspect`'s
    /// memory).
    pub fn add_cost(&mut self, model: std::borrow::Cow<'_, Model>) {
        let model = model.into_owned();
        let mut g = model.graph;
        modelc_ir::infer::infer_graph(&mut g, &model.opset_imports);
        let c = modelc_ir::cost::graph_cost(&g);
        self.cost = Some(Costs {
            macs: c.total.macs,
            flops: c.total.flops,
            ops: c
                .by_op
                .into_iter()
                .map(|(op, oc)| {
                    (
                        op,
                        OpCosts {
                            nodes: oc.nodes,
                            macs: oc.cost.macs,
                            flops: oc.cost.flops,
                        },
                    )
                })
                .collect(),
            weight_bytes: c
                .weight_bytes
                .into_iter()
                .map(|(d, n)| (d.name().to_string(), n))
                .collect(),
            peak_activation_bytes: c.memory.peak_bytes,
            peak_at: c.memory.peak_at,
            unknown_size_values: c.memory.unknown_values,
            uncounted: c.unknown,
        });
    }

    fn count(&mut self, g: &Graph) {
        for id in g.node_ids() {
            let node = g.node(id);
            let mut tensor = |t: &modelc_ir::Tensor| {
                self.constants += 1;
                self.parameters += t.element_count().unwrap_or(0);
                self.parameter_bytes += match &t.data {
                    TensorData::Raw(b) => b.len() as u64,
                    TensorData::Strings(s) => s.iter().map(|x| x.len() as u64).sum(),
                };
            };
            match &node.op {
                Op::Const(t) | Op::Input { default: Some(t) } => tensor(t),
                Op::SparseConst(sp) => tensor(&sp.values),
                Op::Input { default: None } | Op::Outer => {}
                op => {
                    self.nodes += 1;
                    *self.ops.entry(op.display_name()).or_default() += 1;
                }
            }
            for sub in node.subgraphs() {
                self.count(sub);
            }
        }
    }

    /// The human-readable report.
    pub fn render(&self, file: &str) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{file}: {} model, IR version {}, produced by {}",
            self.format,
            self.ir_version,
            if self.producer.is_empty() {
                "(unknown)"
            } else {
                &self.producer
            }
        );
        let opsets: Vec<String> = self
            .opsets
            .iter()
            .map(|(d, v)| format!("{d} {v}"))
            .collect();
        let _ = writeln!(out, "opsets: {}", opsets.join(", "));
        for (title, list) in [("inputs", &self.inputs), ("outputs", &self.outputs)] {
            let _ = writeln!(out, "{title}:");
            for io in list {
                let _ = writeln!(out, "  {}: {}", io.name, io.ty);
            }
        }
        let _ = writeln!(out, "nodes: {}", self.nodes);
        let mut ops: Vec<(&String, &usize)> = self.ops.iter().collect();
        ops.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        for (op, n) in ops {
            let _ = writeln!(out, "  {op:<24} {n}");
        }
        if !self.functions.is_empty() {
            let _ = writeln!(out, "functions: {}", self.functions.join(", "));
        }
        let _ = writeln!(
            out,
            "parameters: {} in {} constants ({})",
            group_digits(self.parameters),
            self.constants,
            human_bytes(self.parameter_bytes)
        );
        if let Some(c) = &self.cost {
            c.render(&mut out);
        }
        out
    }
}

impl Costs {
    fn render(&self, out: &mut String) {
        let _ = writeln!(
            out,
            "compute: {} MACs, {} FLOPs",
            human_count(self.macs),
            human_count(self.flops)
        );
        let mut ops: Vec<(&String, &OpCosts)> =
            self.ops.iter().filter(|(_, c)| c.flops > 0).collect();
        ops.sort_by(|a, b| b.1.flops.cmp(&a.1.flops).then(a.0.cmp(b.0)));
        let _ = writeln!(
            out,
            "  {:<24} {:>6} {:>10} {:>10}",
            "op", "nodes", "MACs", "FLOPs"
        );
        for (op, c) in ops {
            let _ = writeln!(
                out,
                "  {op:<24} {:>6} {:>10} {:>10}",
                c.nodes,
                human_count(c.macs),
                human_count(c.flops)
            );
        }
        if !self.uncounted.is_empty() {
            let shown: Vec<&str> = self.uncounted.iter().take(5).map(String::as_str).collect();
            let _ = writeln!(
                out,
                "  not counted ({}; unknown sizes or custom ops): {}{}",
                self.uncounted.len(),
                shown.join(", "),
                if self.uncounted.len() > shown.len() {
                    ", ..."
                } else {
                    ""
                }
            );
        }
        let weights: Vec<String> = self
            .weight_bytes
            .iter()
            .map(|(d, n)| format!("{d} {}", human_bytes(*n)))
            .collect();
        let _ = writeln!(out, "weights by type: {}", weights.join(", "));
        let _ = writeln!(
            out,
            "peak activation memory: {} (while {} runs){}",
            human_bytes(self.peak_activation_bytes),
            self.peak_at,
            if self.unknown_size_values > 0 {
                format!(
                    "; {} values of unknown size not counted (--input-shape / --dim fix them)",
                    self.unknown_size_values
                )
            } else {
                String::new()
            }
        );
    }
}

/// `4.11 G`-style counts (powers of 1000).
pub fn human_count(n: u64) -> String {
    const UNITS: [&str; 5] = ["", " K", " M", " G", " T"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1000.0 && unit < UNITS.len() - 1 {
        v /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        n.to_string()
    } else {
        format!("{v:.2}{}", UNITS[unit])
    }
}

/// Nodes per op type and bytes, before → after (what `modelc optimize` prints).
pub fn compare(before: &Summary, after: &Summary) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{:<24} {:>8} {:>8}", "op", "before", "after");
    let ops: std::collections::BTreeSet<&String> =
        before.ops.keys().chain(after.ops.keys()).collect();
    for op in ops {
        let (b, a) = (
            before.ops.get(op).copied().unwrap_or(0),
            after.ops.get(op).copied().unwrap_or(0),
        );
        let _ = writeln!(
            out,
            "{op:<24} {b:>8} {a:>8}{}",
            if a != b { "  *" } else { "" }
        );
    }
    let _ = writeln!(
        out,
        "{:<24} {:>8} {:>8}",
        "nodes", before.nodes, after.nodes
    );
    let _ = writeln!(
        out,
        "{:<24} {:>8} {:>8}",
        "weights",
        human_bytes(before.parameter_bytes),
        human_bytes(after.parameter_bytes)
    );
    let (b, a) = (before.opsets.get("ai.onnx"), after.opsets.get("ai.onnx"));
    if b != a {
        let show = |v: Option<&i64>| v.map_or("-".to_string(), |v| v.to_string());
        let _ = writeln!(out, "{:<24} {:>8} {:>8}  *", "opset", show(b), show(a));
    }
    out
}

fn group_digits(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `1.5 MiB`-style sizes.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_numbers() {
        assert_eq!(group_digits(25557032), "25,557,032");
        assert_eq!(group_digits(999), "999");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(12), "12 B");
        assert_eq!(human_count(4_111_514_624), "4.11 G");
        assert_eq!(human_count(999), "999");
    }
}
