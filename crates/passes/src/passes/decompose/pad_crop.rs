//! `decompose-pad-crop`: `Pad` with negative pads (torch's cropping `F.pad`) of known shape →
//! a `Slice` of the cropped sides, then the `Pad` of the positive ones, if any. From opset 11
//! (pads an input).

use modelc_ir::{Builder, NodeId, OnnxOp};

use super::{base_name, pad_operands, Decompose, PadOperands};

pub const PASS: Decompose = Decompose {
    name: "decompose-pad-crop",
    description: "Pad with negative pads → Slice (then Pad of the positive ones) (opset 11+)",
    ops: &[OnnxOp::Pad],
    opsets: 11..=i64::MAX,
    rewrite: |g, id, _, _| crop_negative_pads(g, id),
};

/// Negative pads → a crop first (see the module docs); whether anything changed.
fn crop_negative_pads(g: &mut Builder<'_>, id: NodeId) -> bool {
    let Some(PadOperands { x, dims, pads }) = pad_operands(g, id) else {
        return false;
    };
    let rank = dims.len();
    if pads.iter().all(|&p| p >= 0) {
        return false;
    }
    let (mut axes, mut starts, mut ends) = (Vec::new(), Vec::new(), Vec::new());
    for (axis, &d) in dims.iter().enumerate() {
        let (b, e) = (pads[axis].min(0), pads[axis + rank].min(0));
        if b == 0 && e == 0 {
            continue;
        }
        // Cropping more than the axis holds is refused (ONNX leaves that undefined).
        if b.saturating_neg().saturating_add(e.saturating_neg()) > d as i64 {
            return false;
        }
        axes.push(axis as i64);
        starts.push(-b);
        ends.push(d as i64 + e);
    }
    let name = base_name(g, id);
    let (st, en, ax) = (
        g.const_i64s(&format!("{name}_crop_starts"), &starts),
        g.const_i64s(&format!("{name}_crop_ends"), &ends),
        g.const_i64s(&format!("{name}_crop_axes"), &axes),
    );
    let cropped = g
        .op(OnnxOp::Slice, &[x, st, en, ax])
        .out(format!("{name}_crop"))
        .value();
    if pads.iter().all(|&p| p <= 0) {
        g.replace_node(id, cropped);
        return true;
    }
    // The positive pads stay with the Pad, now reading the cropped input.
    let rest: Vec<i64> = pads.iter().map(|&p| p.max(0)).collect();
    let rest = g.const_i64s(&format!("{name}_pads"), &rest);
    g.connect(cropped, id, 0);
    g.connect(rest, id, 1);
    // The crop's type, so the edge-mode rewrite can read its shape.
    let mut cropped_dims = dims.clone();
    for ((&a, &s), &e) in axes.iter().zip(&starts).zip(&ends) {
        cropped_dims[a as usize] = (e - s) as u64;
    }
    if let Some(dtype) = g.dtype_of(x) {
        let ty = modelc_ir::TypeInfo::from(modelc_ir::ValueType::tensor(dtype, &cropped_dims));
        if let Some(v) = g.value_mut(cropped) {
            v.ty = Some(std::sync::Arc::new(ty));
        }
    }
    true
}
