//! `modelc draw`: a picture of a model's graph, laid out here (no Graphviz) as a
//! layered DAG in the Sugiyama style, written as SVG or as one self-contained HTML page
//! (inline SVG, zoom with the wheel, pan by dragging, search by name or op).
//!
//! Layout: every operation node and graph input gets a layer one below its deepest
//! producer (longest path; constants are left out and show as the count of weights a node
//! reads; a node computed from constants alone sits just above its first reader); an edge spanning several layers passes through one dummy point per layer; the
//! order within each layer is improved by barycenter sweeps (down, then up, repeated), which
//! reduces crossings; coordinates place each layer's nodes side by side, centred. The
//! sub-graphs of a node (If branches, Loop and Scan bodies) are laid out the same way and
//! drawn inside it as clusters; the node's box grows to hold them.

use std::collections::HashMap;
use std::fmt::Write as _;

use modelc_ir::{Graph, NodeId, Op, ValueRef};

use crate::overlay::{Mark, Overlay};

const NODE_W: f64 = 180.0;
const NODE_H: f64 = 44.0;
const GAP_X: f64 = 30.0;
const GAP_Y: f64 = 46.0;

/// One box of the picture.
#[derive(Debug, Clone)]
pub struct Placed {
    pub id: NodeId,
    pub title: String,
    pub detail: String,
    pub x: f64,
    pub y: f64,
    pub is_input: bool,
    /// Box size: [`NODE_W`] × [`NODE_H`], larger for a node holding sub-graphs.
    pub w: f64,
    pub h: f64,
    /// The sub-graphs of an If / Loop / Scan, laid out on their own and drawn inside the
    /// node's box side by side (attribute order), each with its attribute name.
    pub subgraphs: Vec<(String, Layout)>,
    /// An overlay's colour and note ([`crate::overlay`]).
    pub mark: Option<Mark>,
}

/// A laid-out graph: boxes and edges as polylines (box centres and dummy points).
#[derive(Debug, Clone)]
pub struct Layout {
    pub nodes: Vec<Placed>,
    pub edges: Vec<Vec<(f64, f64)>>,
    /// Per edge: half the height of its producer's and its consumer's box (where the line
    /// leaves and enters).
    pub ends: Vec<(f64, f64)>,
    pub width: f64,
    pub height: f64,
    /// What an overlay's colours mean (empty without one).
    pub legend: String,
}

impl Layout {
    /// Puts `o`'s marks on the nodes they name.
    pub fn apply(&mut self, o: &Overlay) {
        for n in &mut self.nodes {
            n.mark = o.marks.get(&n.id).cloned();
        }
        self.legend = o.legend.clone();
    }
}

/// A vertex of the layered graph: a real node or a dummy point on a long edge.
#[derive(Clone, Copy, PartialEq)]
enum Vertex {
    Real(usize),
    Dummy(usize),
}

/// Lays out `g`'s operation nodes and inputs (see the module doc).
pub fn layout(g: &Graph) -> Layout {
    let order = g.topo_order().unwrap_or_else(|_| g.node_ids().collect());
    let shown: Vec<NodeId> = order
        .iter()
        .copied()
        .filter(|&id| {
            !matches!(
                g.node(id).op,
                Op::Const(_)
                    | Op::SparseConst(_)
                    | Op::Outer
                    | Op::Onnx(modelc_ir::OnnxOp::Constant)
            )
        })
        .collect();
    let index: HashMap<NodeId, usize> = shown.iter().enumerate().map(|(i, &id)| (id, i)).collect();
    // Edges between shown nodes (one per producer-consumer pair).
    let mut edges: Vec<(usize, usize)> = Vec::new();
    let mut weights = vec![0usize; shown.len()];
    for (i, &id) in shown.iter().enumerate() {
        for v in g
            .inputs_of(id)
            .into_iter()
            .flatten()
            .chain(g.captures_of(id))
        {
            match index.get(&v.node) {
                Some(&p) if !edges.contains(&(p, i)) => edges.push((p, i)),
                Some(_) => {}
                // A sub-graph's reads of its enclosing graph are not weights.
                None if g.node(v.node).op == Op::Outer => {}
                None => weights[i] += 1,
            }
        }
    }
    // Layering: longest path. Edges are listed consumer by consumer in topological order,
    // so a producer's layer is final before its consumers read it.
    let mut layer = vec![0usize; shown.len()];
    for &(p, c) in &edges {
        layer[c] = layer[c].max(layer[p] + 1);
    }
    // A node computed from constants alone (an exporter's Identity on a shared weight, a
    // shape computation) moves down to just above its first reader, instead of sitting in
    // the top layer with a long edge down.
    let mut consumers: Vec<Vec<usize>> = vec![Vec::new(); shown.len()];
    let mut from_input: Vec<bool> = shown
        .iter()
        .map(|&id| matches!(g.node(id).op, Op::Input { .. }))
        .collect();
    for &(p, c) in &edges {
        consumers[p].push(c);
        if from_input[p] {
            from_input[c] = true;
        }
    }
    for i in (0..shown.len()).rev() {
        if !from_input[i] {
            if let Some(first) = consumers[i].iter().map(|&c| layer[c]).min() {
                layer[i] = first.saturating_sub(1);
            }
        }
    }
    let depth = layer.iter().copied().max().map_or(0, |m| m + 1);
    let mut layers: Vec<Vec<Vertex>> = vec![Vec::new(); depth];
    for (i, &l) in layer.iter().enumerate() {
        layers[l].push(Vertex::Real(i));
    }
    // Long edges through dummies: each edge becomes a chain of vertices.
    let mut chains: Vec<Vec<Vertex>> = Vec::new();
    let mut dummies = 0;
    for &(p, c) in &edges {
        let mut chain = vec![Vertex::Real(p)];
        for layer_vertices in &mut layers[layer[p] + 1..layer[c]] {
            let d = Vertex::Dummy(dummies);
            dummies += 1;
            layer_vertices.push(d);
            chain.push(d);
        }
        chain.push(Vertex::Real(c));
        chains.push(chain);
    }
    // Neighbours of each vertex in the layer above and below.
    let key = |v: Vertex| match v {
        Vertex::Real(i) => i,
        Vertex::Dummy(d) => shown.len() + d,
    };
    let total = shown.len() + dummies;
    let mut up: Vec<Vec<Vertex>> = vec![Vec::new(); total];
    let mut down: Vec<Vec<Vertex>> = vec![Vec::new(); total];
    for chain in &chains {
        for w in chain.windows(2) {
            down[key(w[0])].push(w[1]);
            up[key(w[1])].push(w[0]);
        }
    }
    // Crossing reduction: barycenter sweeps.
    let mut pos = vec![0f64; total];
    let renumber = |layers: &Vec<Vec<Vertex>>, pos: &mut Vec<f64>| {
        for l in layers {
            for (i, &v) in l.iter().enumerate() {
                pos[key(v)] = i as f64;
            }
        }
    };
    renumber(&layers, &mut pos);
    for sweep in 0..8 {
        let downward = sweep % 2 == 0;
        let range: Vec<usize> = if downward {
            (1..depth).collect()
        } else {
            (0..depth.saturating_sub(1)).rev().collect()
        };
        for l in range {
            let bary: Vec<(f64, usize)> = layers[l]
                .iter()
                .enumerate()
                .map(|(i, &v)| {
                    let ns = if downward { &up[key(v)] } else { &down[key(v)] };
                    if ns.is_empty() {
                        (pos[key(v)], i)
                    } else {
                        (
                            ns.iter().map(|&n| pos[key(n)]).sum::<f64>() / ns.len() as f64,
                            i,
                        )
                    }
                })
                .collect();
            let mut sorted = bary.clone();
            sorted.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            let old = layers[l].clone();
            layers[l] = sorted.iter().map(|&(_, i)| old[i]).collect();
            for (i, &v) in layers[l].iter().enumerate() {
                pos[key(v)] = i as f64;
            }
        }
    }
    // Sub-graphs drawn inside their node, which grows to hold them.
    let nested: Vec<Vec<(String, Layout)>> = shown
        .iter()
        .map(|&id| {
            g.node(id)
                .attrs
                .iter()
                .flat_map(|e| {
                    e.value
                        .graphs()
                        .iter()
                        .map(move |sub| (e.name.to_string(), layout(sub)))
                })
                .collect()
        })
        .collect();
    let sizes: Vec<(f64, f64)> = nested
        .iter()
        .map(|subs| {
            if subs.is_empty() {
                return (NODE_W, NODE_H);
            }
            let w: f64 = subs.iter().map(|(_, l)| l.width).sum::<f64>() + GAP_X;
            let h = subs.iter().map(|(_, l)| l.height).fold(0.0, f64::max);
            (w.max(NODE_W), NODE_H + h + GAP_X)
        })
        .collect();
    // Coordinates: each layer centred, as tall as its tallest box; dummies take a narrow
    // slot.
    let slot = |v: Vertex| match v {
        Vertex::Real(i) => sizes[i].0 + GAP_X,
        Vertex::Dummy(_) => GAP_X,
    };
    let widths: Vec<f64> = layers
        .iter()
        .map(|l| l.iter().map(|&v| slot(v)).sum())
        .collect();
    let heights: Vec<f64> = layers
        .iter()
        .map(|l| {
            l.iter()
                .map(|&v| match v {
                    Vertex::Real(i) => sizes[i].1,
                    Vertex::Dummy(_) => NODE_H,
                })
                .fold(NODE_H, f64::max)
        })
        .collect();
    let width = widths.iter().copied().fold(NODE_W, f64::max) + 2.0 * GAP_X;
    let mut xy = vec![(0f64, 0f64); total];
    let mut top = GAP_Y;
    for (l, vs) in layers.iter().enumerate() {
        let mut x = (width - widths[l]) / 2.0;
        let y = top + heights[l] / 2.0;
        top += heights[l] + GAP_Y;
        for &v in vs {
            let w = slot(v);
            xy[key(v)] = (x + w / 2.0, y);
            x += w;
        }
    }
    let nodes = shown
        .iter()
        .enumerate()
        .map(|(i, &id)| {
            let node = g.node(id);
            let (title, is_input) = match &node.op {
                Op::Input { .. } => (format!("input {}", node.outputs[0].name), true),
                op => (op.display_name(), false),
            };
            let out = ValueRef::new(id, 0);
            let ty = g
                .value(out)
                .and_then(|v| v.ty.as_deref())
                .map(modelc_ir::text::type_to_string)
                .unwrap_or_default();
            let mut detail = if is_input {
                ty
            } else {
                let name = if node.name.is_empty() {
                    node.outputs
                        .first()
                        .map(|v| v.name.clone())
                        .unwrap_or_default()
                } else {
                    node.name.clone()
                };
                format!("{name} {ty}").trim_end().to_string()
            };
            if weights[i] > 0 {
                let _ = write!(detail, " +{}w", weights[i]);
            }
            Placed {
                id,
                title,
                detail,
                x: xy[i].0,
                y: xy[i].1,
                is_input,
                w: sizes[i].0,
                h: sizes[i].1,
                subgraphs: Vec::new(),
                mark: None,
            }
        })
        .collect::<Vec<_>>();
    let mut nodes = nodes;
    for (n, subs) in nodes.iter_mut().zip(nested) {
        n.subgraphs = subs;
    }
    let ends = edges
        .iter()
        .map(|&(p, c)| (sizes[p].1 / 2.0, sizes[c].1 / 2.0))
        .collect();
    let edges = chains
        .iter()
        .map(|c| c.iter().map(|&v| xy[key(v)]).collect())
        .collect();
    Layout {
        nodes,
        edges,
        ends,
        width,
        height: top,
        legend: String::new(),
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Shortens a label to `n` characters, keeping its end (names differ at the end).
fn clip(s: &str, n: usize) -> String {
    let chars: Vec<char> = s.chars().collect();
    if chars.len() <= n {
        s.to_string()
    } else {
        format!(
            "…{}",
            chars[chars.len() - (n - 1)..].iter().collect::<String>()
        )
    }
}

/// The picture as an SVG document; each node is a `<g class="node">` with its full label in
/// a `<title>` and `data-label`.
pub fn svg(l: &Layout) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" id="graph" width="{:.0}" height="{:.0}" viewBox="0 0 {:.0} {:.0}" font-family="sans-serif" font-size="12">"#,
        l.width, l.height, l.width, l.height
    );
    body(&mut out, l, "node");
    out.push_str("</svg>\n");
    out
}

/// The edges and boxes of `l`; the boxes are `<g class="{class}">` (`subnode` inside a
/// sub-graph, so that `.node` counts the main graph's nodes).
fn body(out: &mut String, l: &Layout, class: &str) {
    let id = |what: &str| {
        if class == "node" {
            format!(r#" id="{what}""#)
        } else {
            String::new()
        }
    };
    let _ = write!(
        out,
        r##"<g{} fill="none" stroke="#888" stroke-width="1.2">"##,
        id("edges")
    );
    out.push('\n');
    for (e, &(from, to)) in l.edges.iter().zip(&l.ends) {
        let pts: Vec<String> = e
            .iter()
            .enumerate()
            .map(|(i, &(x, y))| {
                // From the bottom of the producer to the top of the consumer.
                let y = if i == 0 {
                    y + from
                } else if i == e.len() - 1 {
                    y - to
                } else {
                    y
                };
                format!("{x:.0},{y:.0}")
            })
            .collect();
        let _ = writeln!(out, r#"<polyline points="{}"/>"#, pts.join(" "));
    }
    let _ = writeln!(out, "</g>\n<g{}>", id("nodes"));
    for n in &l.nodes {
        let mut label = format!("{} {}", n.title, n.detail).trim_end().to_string();
        // An overlay: its colour, its note in the tooltip and `data-note`, a red outline.
        let (fill, note, stroke) = match &n.mark {
            Some(m) => {
                label = format!("{label} — {}", m.note);
                (
                    m.fill,
                    format!(r#" data-note="{}""#, escape(&m.note)),
                    if m.strong {
                        r##"stroke="#c00" stroke-width="3""##
                    } else {
                        r##"stroke="#335""##
                    },
                )
            }
            None => (
                if n.is_input { "#dfe" } else { "#eef" },
                String::new(),
                r##"stroke="#335""##,
            ),
        };
        let _ = write!(
            out,
            r##"<g class="{class}" data-label="{}"{note} transform="translate({:.0},{:.0})"><title>{}</title><rect x="{:.0}" y="{:.0}" width="{:.0}" height="{:.0}" rx="6" fill="{fill}" {stroke}/><text x="0" y="{:.0}" text-anchor="middle" font-weight="bold">{}</text><text x="0" y="{:.0}" text-anchor="middle" fill="#444" font-size="10">{}</text>"##,
            escape(&label),
            n.x,
            n.y,
            escape(&label),
            -n.w / 2.0,
            -n.h / 2.0,
            n.w,
            n.h,
            -n.h / 2.0 + 18.0,
            escape(&clip(&n.title, 26)),
            -n.h / 2.0 + 34.0,
            escape(&clip(&n.detail, 32)),
        );
        // Sub-graphs side by side below the node's labels, each a cluster with its
        // attribute's name.
        let mut x = -n.w / 2.0 + GAP_X / 2.0;
        for (name, sub) in &n.subgraphs {
            let _ = write!(
                out,
                r##"
<g class="subgraph" data-attr="{}" transform="translate({x:.0},{:.0})"><rect x="0" y="0" width="{:.0}" height="{:.0}" rx="4" fill="#fff" stroke="#99a" stroke-dasharray="4 3"/><text x="6" y="14" fill="#667" font-size="10">{}</text>
"##,
                escape(name),
                -n.h / 2.0 + NODE_H,
                sub.width,
                sub.height,
                escape(name),
            );
            body(out, sub, "subnode");
            out.push_str("</g>");
            x += sub.width;
        }
        out.push_str("</g>\n");
    }
    out.push_str("</g>\n");
}

/// One self-contained HTML page: the SVG inline, wheel zoom, drag pan, and a search box
/// that highlights the nodes whose label contains the text. `<body data-nodes="N">` gives
/// the node count for tools.
pub fn html(l: &Layout, title: &str) -> String {
    format!(
        r#"<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ margin: 0; font-family: sans-serif; overflow: hidden; }}
#bar {{ position: fixed; top: 0; left: 0; right: 0; padding: 6px; background: #f4f4f8; border-bottom: 1px solid #ccc; z-index: 1; }}
#view {{ position: absolute; top: 40px; left: 0; right: 0; bottom: 0; cursor: grab; }}
.node.hit rect {{ fill: #ffd54f; stroke: #c60; stroke-width: 2; }}
</style></head>
<body data-nodes="{count}">
<div id="bar"><b>{title}</b> — {count} nodes &nbsp; <input id="q" placeholder="search op or name" size="30"> <span id="found"></span> &nbsp; wheel: zoom, drag: pan{legend}</div>
<div id="view">{svg}</div>
<script>
(function () {{
  const svg = document.getElementById('graph');
  const view = document.getElementById('view');
  const box = svg.viewBox.baseVal;
  const full = {{x: box.x, y: box.y, w: box.width, h: box.height}};
  svg.setAttribute('width', '100%');
  svg.setAttribute('height', '100%');
  // Start with the top of the graph at a readable scale.
  const start = Math.min(full.w, view.clientWidth * 1.5);
  box.width = start; box.height = start * view.clientHeight / Math.max(1, view.clientWidth);
  box.x = (full.w - box.width) / 2;
  view.addEventListener('wheel', e => {{
    e.preventDefault();
    const k = e.deltaY > 0 ? 1.2 : 1 / 1.2;
    const r = svg.getBoundingClientRect();
    const px = box.x + (e.clientX - r.left) / r.width * box.width;
    const py = box.y + (e.clientY - r.top) / r.height * box.height;
    box.width *= k; box.height *= k;
    box.x = px - (px - box.x) * k; box.y = py - (py - box.y) * k;
  }}, {{passive: false}});
  let drag = null;
  view.addEventListener('mousedown', e => {{ drag = {{x: e.clientX, y: e.clientY}}; }});
  window.addEventListener('mouseup', () => {{ drag = null; }});
  window.addEventListener('mousemove', e => {{
    if (!drag) return;
    const r = svg.getBoundingClientRect();
    box.x -= (e.clientX - drag.x) / r.width * box.width;
    box.y -= (e.clientY - drag.y) / r.height * box.height;
    drag = {{x: e.clientX, y: e.clientY}};
  }});
  // For headless checks: how many node boxes the browser actually laid out.
  document.body.dataset.rendered = Array.from(document.querySelectorAll('.node'))
    .filter(g => g.getBBox().width > 0).length;
  document.getElementById('q').addEventListener('input', e => {{
    const q = e.target.value.toLowerCase();
    let first = null, n = 0;
    for (const g of document.querySelectorAll('.node')) {{
      const hit = q !== '' && g.dataset.label.toLowerCase().includes(q);
      g.classList.toggle('hit', hit);
      if (hit) {{ n++; if (!first) first = g; }}
    }}
    document.getElementById('found').textContent = q ? n + ' found' : '';
    if (first) {{
      const m = first.transform.baseVal.consolidate().matrix;
      box.x = m.e - box.width / 2; box.y = m.f - box.height / 2;
    }}
  }});
}})();
</script>
</body></html>
"#,
        title = escape(title),
        count = l.nodes.len(),
        svg = svg(l),
        legend = if l.legend.is_empty() {
            String::new()
        } else {
            format!(" &nbsp; <span id=\"legend\">{}</span>", escape(&l.legend))
        },
    )
}

/// How many edges cross between consecutive layers (to check the ordering helps).
pub fn crossings(l: &Layout) -> usize {
    let mut segs: Vec<((f64, f64), (f64, f64))> = Vec::new();
    for e in &l.edges {
        for w in e.windows(2) {
            segs.push((w[0], w[1]));
        }
    }
    let mut n = 0;
    for (i, a) in segs.iter().enumerate() {
        for b in &segs[i + 1..] {
            if a.0 .1 == b.0 .1 && a.1 .1 == b.1 .1 && (a.0 .0 - b.0 .0) * (a.1 .0 - b.1 .0) < 0.0 {
                n += 1;
            }
        }
    }
    n
}
