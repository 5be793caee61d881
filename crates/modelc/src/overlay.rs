//! Overlays for `modelc draw`: a colour and a note on each drawn node, from the per-layer
//! errors of `verify --layers --json` (the blamed node outlined), from `modelc diff`
//! against another model (added and changed nodes), or from `modelc check` on a target
//! (placement). Nodes are found by the names of the
//! values they compute, which is how both reports name them.

use std::collections::HashMap;

use modelc_ir::{Graph, NodeId};

use crate::diff::Diff;

/// How one node is drawn over.
#[derive(Debug, Clone, PartialEq)]
pub struct Mark {
    /// Box fill (an SVG colour).
    pub fill: &'static str,
    /// Shown in the node's tooltip and `data-note`.
    pub note: String,
    /// Outlined in red: the node to look at first (the blamed one).
    pub strong: bool,
}

/// Marks by node, and one line saying what the colours mean.
#[derive(Debug, Clone, Default)]
pub struct Overlay {
    pub marks: HashMap<NodeId, Mark>,
    pub legend: String,
}

const GOOD: &str = "#c8efc0";
const WARN: &str = "#ffe08a";
const BAD: &str = "#f7a1a1";

/// The node computing each value name (main graph).
fn producers(g: &Graph) -> HashMap<&str, NodeId> {
    let mut by = HashMap::new();
    for id in g.node_ids() {
        for v in &g.node(id).outputs {
            if !v.is_absent() {
                by.insert(v.name.as_str(), id);
            }
        }
    }
    by
}

/// From the JSON `verify A B --layers --json` prints (or its `layers` member), drawn on B:
/// each compared node coloured by its relative error — green within the tolerance, yellow
/// within ten times it, red beyond — and the blamed node outlined.
pub fn errors(g: &Graph, report: &serde_json::Value) -> Result<Overlay, String> {
    // The whole output of verify has the report under `layers`; the report itself has
    // the rows there.
    let layers = match report.get("layers") {
        Some(inner) if inner.is_object() => inner,
        _ => report,
    };
    let rows = layers
        .get("layers")
        .and_then(|l| l.as_array())
        .ok_or("not the JSON of `verify --layers --json` (no `layers` list)")?;
    let tolerance = layers
        .get("tolerance")
        .and_then(|t| t.as_f64())
        .unwrap_or(1e-3);
    let blamed = layers.get("blamed").and_then(|b| b.as_u64());
    let by = producers(g);
    let mut o = Overlay::default();
    let mut found = 0;
    for (i, row) in rows.iter().enumerate() {
        let (Some(value), Some(error)) = (
            row.get("value").and_then(|v| v.as_str()),
            row.get("error").and_then(|e| e.as_f64()),
        ) else {
            return Err(format!("layer {i}: no `value` name or `error`"));
        };
        let Some(&id) = by.get(value) else { continue };
        found += 1;
        let jump = row.get("jump").and_then(|j| j.as_f64()).unwrap_or(0.0);
        let strong = blamed == Some(i as u64);
        let fill = if error <= tolerance {
            GOOD
        } else if error <= 10.0 * tolerance {
            WARN
        } else {
            BAD
        };
        let note = format!(
            "{}error {error:.3e}, jump {jump:.3e}",
            if strong { "blamed: " } else { "" }
        );
        // A node with several compared outputs shows its worst.
        let worse = o.marks.get(&id).is_none_or(|m| m.strong <= strong);
        if worse {
            o.marks.insert(id, Mark { fill, note, strong });
        }
    }
    if found == 0 && !rows.is_empty() {
        return Err(
            "none of its values is computed by this model: draw model B of the verify".into(),
        );
    }
    o.legend = format!(
        "error: green ≤ {tolerance:.0e}, yellow ≤ {:.0e}, red above; outlined: blamed",
        10.0 * tolerance
    );
    Ok(o)
}

/// From `diff(other, this)`, drawn on this model: added nodes green, changed ones yellow
/// (the note lists what changed); the legend counts the removed ones, which are not drawn.
pub fn diff(g: &Graph, d: &Diff) -> Overlay {
    let by = producers(g);
    let mut o = Overlay::default();
    let node_of = |outputs: &[String]| outputs.iter().find_map(|v| by.get(v.as_str()).copied());
    for n in &d.added {
        if let Some(id) = node_of(&n.outputs) {
            o.marks.insert(
                id,
                Mark {
                    fill: GOOD,
                    note: "added".into(),
                    strong: false,
                },
            );
        }
    }
    for c in &d.changed {
        if let Some(id) = node_of(&c.b.outputs) {
            let what: Vec<String> = c.changes.iter().map(|ch| ch.render()).collect();
            o.marks.insert(
                id,
                Mark {
                    fill: WARN,
                    note: format!("changed: {}", what.join("; ")),
                    strong: false,
                },
            );
        }
    }
    o.legend = format!(
        "against the other model: green added ({}), yellow changed ({}); {} removed (not drawn)",
        d.added.len(),
        d.changed.len(),
        d.removed.len()
    );
    o
}

/// From `modelc check` on a target: each operator the report places coloured green (on the
/// accelerator) or red (falls back, the note says which rule), found by node name or by
/// the name of a value it computes (TFLite operators are named by their first output).
pub fn placement(g: &Graph, report: &modelc_passes::target::Report) -> Overlay {
    let by = producers(g);
    let by_name: HashMap<&str, NodeId> = g
        .node_ids()
        .filter(|&id| !g.node(id).name.is_empty())
        .map(|id| (g.node(id).name.as_str(), id))
        .collect();
    let mut o = Overlay::default();
    for p in &report.nodes {
        let Some(&id) = by_name
            .get(p.node.as_str())
            .or_else(|| by.get(p.node.as_str()))
        else {
            continue;
        };
        let mark = if p.accelerator {
            Mark {
                fill: GOOD,
                note: format!("{} on {}", p.op, report.target),
                strong: false,
            }
        } else {
            Mark {
                fill: BAD,
                note: format!(
                    "{} falls back: {}",
                    p.op,
                    p.reason.as_deref().unwrap_or("not supported")
                ),
                strong: false,
            }
        };
        o.marks.insert(id, mark);
    }
    o.legend = format!(
        "{}: green on the accelerator, red falls back",
        report.summary()
    );
    o
}
