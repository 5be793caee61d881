//! What `modelc inspect` reports: format, opsets, inputs and outputs, op histogram,
//! parameter count and bytes.

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
        };
        let g = &model.graph;
        let io = |v: modelc_ir::ValueRef| {
            let value = g.value(v).expect("outputs are live");
            Io {
                name: value.name.clone(),
                ty: value
                    .ty
                    .as_ref()
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
        out
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
    }
}
