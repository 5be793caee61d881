//! `fill-omitted-inputs`: an optional input left out between given ones (ONNX's empty input
//! name) becomes the constant that means the same, for targets whose tool counts an omitted
//! input as a tensor without a fixed shape (onnxruntime's mobile usability checker:
//! `_is_fixed_shape_value("")` is false, so a torch-exported `Resize(x, "", scales)` — the
//! nearest upsampling of every FPN / YOLO head — leaves the partition). Resize's `roi` (opset
//! 11+): an empty float tensor, which the ONNX spec and onnxruntime's kernels read as no
//! region of interest (it only counts for `tf_crop_and_resize`), and which the CoreML and
//! NNAPI EPs skip (`AddInitializersToSkip`).

use modelc_ir::{Builder, NodeId, OnnxOp, Tensor};

use crate::passes::decompose::{base_name, Decompose};

pub const PASS: Decompose = Decompose {
    name: "fill-omitted-inputs",
    description: "an omitted optional input between given ones → the constant meaning the same \
                  (Resize's roi → an empty tensor); run by --target nnapi/coreml, whose \
                  checker counts an omitted input as dynamic",
    ops: &[OnnxOp::Resize],
    // roi is an input from opset 11 (opset 10's Resize is (X, scales)).
    opsets: 11..=i64::MAX,
    rewrite: |g, id, _, _| resize_roi(g, id),
};

fn resize_roi(g: &mut Builder<'_>, id: NodeId) -> bool {
    let n = g.node(id);
    let given_after = (2..n.num_inputs).any(|slot| g.input(id, slot).is_some());
    if g.input(id, 1).is_some() || !given_after {
        return false;
    }
    let name = base_name(g, id);
    let empty = Tensor::from_f32(vec![0], &[]).expect("an empty tensor");
    let roi = g.constant(&format!("{name}_roi"), empty);
    g.connect(roi, id, 1);
    true
}
