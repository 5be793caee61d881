//! `decompose-grouped-conv-transpose`: grouped `ConvTranspose` (FCN-style learned upsampling
//! is one group per channel) with constant float weights → per group a `Slice` of the input
//! channels and a `ConvTranspose` with that group's weights and bias, then `Concat`. From
//! opset 10.

use modelc_ir::{Builder, DType, Layout, NodeId, OnnxOp};

use super::{base_name, Decompose};
use crate::pattern::const_tensor;

pub const PASS: Decompose = Decompose {
    name: "decompose-grouped-conv-transpose",
    description:
        "grouped ConvTranspose with constant weights → Slice, one ConvTranspose per group, Concat",
    ops: &[OnnxOp::ConvTranspose],
    opsets: 10..=i64::MAX,
    rewrite: |g, id, _, _| grouped_conv_transpose(g, id),
};

/// Grouped `ConvTranspose` → one per group (see the module docs).
fn grouped_conv_transpose(g: &mut Builder<'_>, id: NodeId) -> bool {
    let node = g.node(id);
    let Ok(groups) = node.attrs.int("group", 1) else {
        return false;
    };
    if !(2..=4096).contains(&groups) || !matches!(node.layout, None | Some(Layout::Nchw)) {
        return false;
    }
    let groups = groups as u64;
    let (Some(x), Some(wv)) = (g.input(id, 0), g.input(id, 1)) else {
        return false;
    };
    let bias = g.input(id, 2);
    let Some(w) = const_tensor(g, wv).filter(|t| matches!(t.dtype, DType::F32 | DType::F16)) else {
        return false;
    };
    // W is [C_in, C_out / groups, k...]: group i's filters are rows [i·C_in/g, (i+1)·C_in/g).
    let Some(&c_in) = w.dims.first() else {
        return false;
    };
    if w.dims.len() < 3 || c_in % groups != 0 {
        return false;
    }
    let Some(w_raw) = w.raw() else { return false };
    let per_group = c_in / groups;
    let w_bytes = w_raw.len() / groups as usize;
    let mut w_dims = w.dims.clone();
    w_dims[0] = per_group;
    let (w_dtype, c_out_g) = (w.dtype, w.dims[1]);
    let b = match bias {
        Some(b) => match const_tensor(g, b) {
            Some(t)
                if Some(t.dims.as_slice())
                    == c_out_g
                        .checked_mul(groups)
                        .as_ref()
                        .map(std::slice::from_ref)
                    && t.raw().is_some() =>
            {
                Some(t.clone())
            }
            _ => return false,
        },
        None => None,
    };
    let w_raw = w_raw.clone();
    let node = g.node(id);
    let name = base_name(g, id);
    let mut attrs = node.attrs.clone();
    attrs.remove("group");
    let axis = g.const_i64s(&format!("{name}_channels"), &[1]);
    let mut parts = Vec::with_capacity(groups as usize);
    for i in 0..groups {
        let lo = (i * per_group) as i64;
        let starts = g.const_i64s(&format!("{name}_g{i}_start"), &[lo]);
        let ends = g.const_i64s(&format!("{name}_g{i}_end"), &[lo + per_group as i64]);
        let xi = g
            .op(OnnxOp::Slice, &[x, starts, ends, axis])
            .out(format!("{name}_g{i}_in"))
            .value();
        let at = i as usize * w_bytes;
        let wi =
            modelc_ir::Tensor::from_raw(w_dtype, w_dims.clone(), w_raw.slice(at..at + w_bytes))
                .expect("a whole group's rows");
        let mut inputs = vec![xi, g.constant(&format!("{name}_g{i}_weight"), wi)];
        if let Some(b) = &b {
            let raw = b.raw().expect("checked");
            let n = raw.len() / groups as usize;
            let bi = modelc_ir::Tensor::from_raw(
                b.dtype,
                vec![c_out_g],
                raw.slice(i as usize * n..(i as usize + 1) * n),
            )
            .expect("a whole group's biases");
            inputs.push(g.constant(&format!("{name}_g{i}_bias"), bi));
        }
        parts.push(
            g.op(OnnxOp::ConvTranspose, &inputs)
                .out(format!("{name}_g{i}"))
                .attrs(attrs.clone())
                .value(),
        );
    }
    let y = g
        .op(OnnxOp::Concat, &parts)
        .out(name.as_str())
        .int("axis", 1)
        .value();
    g.replace_node(id, y);
    true
}
