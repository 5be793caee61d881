//! What the ONNX writer does to a model before serializing it: ONNX has no NHWC ops, so a
//! model that has some (imported from TFLite) is moved to NCHW by the layout pass, its
//! inputs and outputs too unless [`WriteOptions::keep_io_layout`] keeps them channels-last
//! behind a Transpose.

use modelc_ir::{infer, Layout, Model, ValueType};
use modelc_passes::passes::layout::{to_nchw, LayoutOptions};

use crate::WriteOptions;

/// The model to serialize instead of `model`, if it needs preparing. `None` when there is
/// nothing to move, or when the move fails (serialization then names the NHWC node it
/// cannot write).
pub(crate) fn prepare(model: &Model, opts: &WriteOptions) -> Option<Model> {
    let g = &model.graph;
    if !g
        .node_ids()
        .any(|id| g.node(id).layout == Some(Layout::Nhwc))
    {
        return None;
    }
    let mut m = model.clone();
    infer::infer_graph(&mut m.graph, &m.opset_imports);
    let layout = LayoutOptions {
        keep_io_layout: opts.keep_io_layout,
        opset: m.opset(""),
    };
    to_nchw(&mut m.graph, &layout).ok()?;
    infer::infer_graph(&mut m.graph, &m.opset_imports);
    // A type that says nothing (no element type, no shape) is not a valid ONNX type.
    let ids: Vec<_> = m.graph.node_ids().collect();
    for id in ids {
        for v in &mut m.graph.node_mut(id).outputs {
            let empty = matches!(&v.ty, Some(t) if matches!(&t.ty,
                ValueType::Tensor(tt) if tt.dtype.is_none() && tt.shape.is_none()));
            if empty {
                v.ty = None;
            }
        }
    }
    Some(m)
}
