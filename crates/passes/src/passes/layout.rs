//! `to-nhwc` and `to-nchw`: move a whole graph between channels-first (ONNX) and
//! channels-last (TFLite) layout, the way an exporter needs it: every layout-sensitive node
//! switches its [`Layout`](modelc_ir::Layout) (weights of Conv/ConvTranspose become new
//! constants in the convention documented on `Layout`; BatchNormalization parameters stay),
//! and the permutation is carried through layout-agnostic ops (elementwise ops with their
//! constants permuted, Concat/Split/Pad/Reduce*/Softmax/Slice/Squeeze/Unsqueeze with their
//! axes remapped, QDQ with its per-axis `axis` remapped, Flatten/Reshape where only unit axes
//! or whole runs of axes move), so Transposes appear only where a region of one layout meets
//! the other and are then merged and cancelled by the [`transpose`](super::transpose)
//! rewrites. A model's own Transpose is absorbed when the permutation makes it the identity,
//! or when it turns channels-last data into the converted layout on its way to a conv
//! (ConvNeXt's blocks, TF-exported graphs with NHWC inputs).
//!
//! Measured (crates/passes/tests/layout_cnn.rs and the same check on more torchvision
//! models): ResNet-18/50, MobileNetV2/V3-Small, EfficientNet-B0, DenseNet-121 and
//! ConvNeXt-T come out with no Transpose (one at the input with `keep_io_layout`) and the
//! interpreter's outputs match onnxruntime's on the original.
//!
//! Graph inputs and outputs: by default a rank-3..5 image input (one that reaches a
//! layout-sensitive op through layout-agnostic ops) and an output left in the data layout
//! change layout, keeping their names, with their declared types updated. With
//! [`LayoutOptions::keep_io_layout`] they keep their layout and a Transpose sits at the
//! boundary.
//!
//! The engine is in `layout/engine.rs`, the per-op rules in `layout/rules.rs` (with
//! `rules/sensitive.rs` and `rules/axes.rs`), shape facts in `layout/facts.rs`,
//! permutations and constant transposes in `layout/perm.rs`.

mod engine;
mod facts;
pub mod perm;
mod rules;

use std::collections::{HashMap, HashSet};

use modelc_ir::{Graph, NodeId, Op, Tensor, ValueRef};

use crate::pattern::default_opset;
use crate::{Changed, Pass, PassContext, PassError};

pub(crate) use engine::permute_type;
pub use engine::Direction;
pub(crate) use facts::declared_dims;

/// Options of the layout passes.
#[derive(Debug, Clone, Default)]
pub struct LayoutOptions {
    /// Keep the graph's inputs and outputs in their current layout (a Transpose at the
    /// boundary) instead of switching image inputs/outputs to the new layout.
    pub keep_io_layout: bool,
    /// Version of the default ONNX domain the graph is read at (`None`: the newest); it
    /// decides e.g. whether Softmax's `axis` is a single axis (opset 13+).
    pub opset: Option<i64>,
}

/// Converts an NCHW graph to NHWC (see the module docs).
pub fn to_nhwc(g: &mut Graph, opts: &LayoutOptions) -> Result<Changed, PassError> {
    convert(g, opts, Direction::ToNhwc, "to-nhwc").map(|(c, _)| c)
}

/// [`to_nhwc`], also returning the names of the graph inputs and outputs that are now
/// channels last (the TFLite exporter records them in the file, so a comparison with the
/// source model need not guess layouts from shapes).
pub fn to_nhwc_io(
    g: &mut Graph,
    opts: &LayoutOptions,
) -> Result<(Changed, Vec<String>), PassError> {
    convert(g, opts, Direction::ToNhwc, "to-nhwc")
}

/// Converts an NHWC graph (e.g. one imported from TFLite) to NCHW, for ONNX or TorchScript.
pub fn to_nchw(g: &mut Graph, opts: &LayoutOptions) -> Result<Changed, PassError> {
    convert(g, opts, Direction::ToNchw, "to-nchw").map(|(c, _)| c)
}

fn convert(
    g: &mut Graph,
    opts: &LayoutOptions,
    dir: Direction,
    pass: &'static str,
) -> Result<(Changed, Vec<String>), PassError> {
    let mut changed = convert_subgraphs(g, opts, dir, pass)?;
    let mut engine = engine::Engine::new(g, dir, opts.opset.unwrap_or(i64::MAX));
    engine
        .run(opts.keep_io_layout)
        .map_err(|message| PassError::Failed { pass, message })?;
    changed |= engine.changed;
    let switched_io = std::mem::take(&mut engine.switched_io);
    let dims = engine.physical_dims();
    let known =
        |g: &Graph, v: modelc_ir::ValueRef| dims.get(&v).cloned().or_else(|| declared_dims(g, v));
    changed |= super::transpose::optimize_with(g, &known);
    Ok((Changed::from_bool(changed), switched_io))
}

/// Converts the bodies of `If` / `Loop` / `Scan` nodes (recursively) with their inputs,
/// captured values and outputs kept in the layout they have: the node that owns a body
/// passes it values in the original layout (a node with sub-graphs is not converted
/// itself), so a body is a graph of its own whose interior changes layout, with
/// transposes at its boundary. The constants a body captures (convolution weights, which
/// change layout with their conv) are first copied into it. (silero-vad's STFT and encoder
/// convolutions sit in an `If` on the sample rate.) Bodies without a node of the source
/// layout are left as they are.
fn convert_subgraphs(
    g: &mut Graph,
    opts: &LayoutOptions,
    dir: Direction,
    pass: &'static str,
) -> Result<bool, PassError> {
    let inner = LayoutOptions {
        keep_io_layout: true,
        ..opts.clone()
    };
    let owners: Vec<NodeId> = g
        .node_ids()
        .filter(|&id| g.node(id).subgraphs().any(|b| has_layout(b, dir.source())))
        .collect();
    let mut changed = false;
    for id in owners {
        let consts: HashMap<String, Tensor> = g
            .captures_of(id)
            .into_iter()
            .filter_map(|v| Some((g.value(v)?.name.clone(), engine::const_of(g, v)?.0)))
            .collect();
        let mut read = HashSet::new();
        for body in g.node_mut(id).subgraphs_mut() {
            if has_layout(body, dir.source()) {
                inline_captured_consts(body, &consts);
                convert(body, &inner, dir, pass)?;
                changed = true;
            }
            read.extend(
                body.node_ids()
                    .filter(|&n| body.node(n).op == Op::Outer)
                    .filter_map(|n| body.value(ValueRef::new(n, 0)).map(|v| v.name.clone())),
            );
        }
        // Captures no body reads any more (the inlined constants) are dropped.
        let caps = g.captures_of(id);
        let name = |g: &Graph, v: ValueRef| g.value(v).map(|x| x.name.clone()).unwrap_or_default();
        if caps.iter().any(|&v| !read.contains(&name(g, v))) {
            let n = g.node(id).num_inputs;
            for k in 0..caps.len() {
                g.disconnect(id, n + k);
            }
            let kept: Vec<ValueRef> = caps
                .into_iter()
                .filter(|&v| read.contains(&name(g, v)))
                .collect();
            for (k, v) in kept.into_iter().enumerate() {
                g.connect(v, id, n + k);
            }
        }
    }
    Ok(changed)
}

/// Whether `g` or a graph nested in it has a node of layout `l`.
fn has_layout(g: &Graph, l: modelc_ir::Layout) -> bool {
    g.node_ids().any(|id| {
        let node = g.node(id);
        node.layout == Some(l) || node.subgraphs().any(|b| has_layout(b, l))
    })
}

/// Replaces the body's reads of enclosing values that are constants (`consts`, by name) with
/// constants of its own, so the layout rules can transpose them with their readers.
fn inline_captured_consts(body: &mut Graph, consts: &HashMap<String, Tensor>) {
    let outer: Vec<NodeId> = body
        .node_ids()
        .filter(|&n| body.node(n).op == Op::Outer)
        .collect();
    for n in outer {
        let v = ValueRef::new(n, 0);
        let Some(t) = body.value(v).and_then(|x| consts.get(&x.name)).cloned() else {
            continue;
        };
        let name = body.value(v).map(|x| x.name.clone()).unwrap_or_default();
        let c = body.add_const(name, t);
        body.replace_uses(v, ValueRef::new(c, 0));
        body.remove_node(n);
    }
}

/// The `to-nhwc` pass (graph I/O switched to NHWC; `ToNhwc::keep_io_layout` keeps it).
#[derive(Debug, Clone, Default)]
pub struct ToNhwc {
    pub keep_io_layout: bool,
}

/// The `to-nchw` pass.
#[derive(Debug, Clone, Default)]
pub struct ToNchw {
    pub keep_io_layout: bool,
}

impl Pass for ToNhwc {
    fn name(&self) -> &'static str {
        "to-nhwc"
    }

    fn description(&self) -> &'static str {
        "convert an NCHW graph to NHWC (TFLite layout), with transposes only at region boundaries"
    }

    fn run(&self, g: &mut Graph, cx: &mut PassContext) -> Result<Changed, PassError> {
        let opts = LayoutOptions {
            keep_io_layout: self.keep_io_layout,
            opset: Some(default_opset(cx)),
        };
        to_nhwc(g, &opts)
    }
}

impl Pass for ToNchw {
    fn name(&self) -> &'static str {
        "to-nchw"
    }

    fn description(&self) -> &'static str {
        "convert an NHWC graph (e.g. from TFLite) to NCHW, with transposes only at region boundaries"
    }

    fn run(&self, g: &mut Graph, cx: &mut PassContext) -> Result<Changed, PassError> {
        let opts = LayoutOptions {
            keep_io_layout: self.keep_io_layout,
            opset: Some(default_opset(cx)),
        };
        to_nchw(g, &opts)
    }
}
