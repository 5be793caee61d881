//! Pad: `pads` and the constant `value` went from attributes to inputs at 11, an `axes`
//! input came at 18 and the `wrap` mode at 19.

use modelc_ir::build::scalar_tensor;
use modelc_ir::{Attr, Builder, NodeId, OnnxOp, Tensor};

use super::{
    computed, const_f64s, const_input, const_ints, ints_attr_to_input, ints_input_to_attr,
    set_input, take_input, Adapter, Cx,
};

pub(crate) const ADAPTERS: &[Adapter] = &[
    Adapter {
        op: OnnxOp::Pad,
        version: 11,
        up: inputs_up,
        down: inputs_down,
    },
    Adapter {
        op: OnnxOp::Pad,
        version: 18,
        up: |_, id, _| Ok(id),
        down: axes_down,
    },
    Adapter {
        op: OnnxOp::Pad,
        version: 19,
        up: |_, id, _| Ok(id),
        down: |b, id, cx| {
            if b.node(id).attrs.string("mode", "constant").ok().as_deref() == Some("wrap") {
                return Err(format!("mode `wrap` has no form in opset {}", cx.to));
            }
            Ok(id)
        },
    },
];

fn inputs_up(b: &mut Builder<'_>, id: NodeId, cx: &Cx) -> Result<NodeId, String> {
    ints_attr_to_input(b, id, "pads", 1);
    if let Some(Attr::Float(v)) = b.node_mut(id).attrs.remove("value") {
        if v != 0.0 {
            let x = b.input(id, 0).ok_or("no data input")?;
            let dtype = cx
                .dtype(b, x)
                .ok_or("the data's element type is unknown, and the pad value must have it")?;
            let c = const_input(b, id, "value", scalar_tensor(dtype, f64::from(v)));
            set_input(b, id, 2, c);
        }
    }
    Ok(id)
}

fn inputs_down(b: &mut Builder<'_>, id: NodeId, cx: &Cx) -> Result<NodeId, String> {
    if let Some(v) = b.input(id, 2) {
        let value = match const_f64s(b, v).as_deref() {
            Some([x]) => *x,
            Some([]) => 0.0,
            _ => return Err(computed("constant_value", cx)),
        };
        b.node_mut(id).attrs.set("value", Attr::Float(value as f32));
        take_input(b, id, 2);
    }
    ints_input_to_attr(b, id, 1, "pads", cx)?;
    Ok(id)
}

/// `axes`: pads for the named axes only → pads for every axis (zeros elsewhere).
fn axes_down(b: &mut Builder<'_>, id: NodeId, cx: &Cx) -> Result<NodeId, String> {
    let Some(axes_v) = b.input(id, 3) else {
        return Ok(id);
    };
    let axes = const_ints(b, axes_v).ok_or_else(|| computed("axes", cx))?;
    let pads_v = b.input(id, 1).ok_or("no pads")?;
    let pads = const_ints(b, pads_v).ok_or_else(|| computed("pads", cx))?;
    let rank = b
        .input(id, 0)
        .and_then(|x| cx.rank(b, x))
        .ok_or("pads for some axes need the data's rank, which is unknown")?;
    if pads.len() != 2 * axes.len() {
        return Err("pads and axes disagree in length".into());
    }
    let mut full = vec![0i64; 2 * rank];
    for (i, &a) in axes.iter().enumerate() {
        let a = if a < 0 { a + rank as i64 } else { a };
        let a = usize::try_from(a)
            .ok()
            .filter(|&a| a < rank)
            .ok_or("an axis is out of range")?;
        full[a] = pads[i];
        full[rank + a] = pads[axes.len() + i];
    }
    take_input(b, id, 3);
    take_input(b, id, 1);
    let t = Tensor::from_i64(vec![full.len() as u64], &full).expect("1-D");
    let c = const_input(b, id, "pads", t);
    set_input(b, id, 1, c);
    Ok(id)
}
