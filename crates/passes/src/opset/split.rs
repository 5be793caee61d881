//! Split: the sizes went from the `split` attribute to an optional int64 input at 13;
//! `num_outputs` (required when no sizes are given; the last part may be smaller) came at 18.

use modelc_ir::{Attr, Builder, NodeId, OnnxOp, Tensor};

use super::{
    const_input, int_attr, ints_attr_to_input, ints_input_to_attr, set_input, Adapter, Cx,
};

pub(crate) const ADAPTERS: &[Adapter] = &[
    Adapter {
        op: OnnxOp::Split,
        version: 13,
        up: |b, id, _| {
            ints_attr_to_input(b, id, "split", 1);
            Ok(id)
        },
        down: |b, id, cx| {
            ints_input_to_attr(b, id, 1, "split", cx)?;
            Ok(id)
        },
    },
    Adapter {
        op: OnnxOp::Split,
        version: 18,
        up: num_outputs_up,
        down: num_outputs_down,
    },
];

/// Equal parts: say how many.
fn num_outputs_up(b: &mut Builder<'_>, id: NodeId, _: &Cx) -> Result<NodeId, String> {
    if b.input(id, 1).is_none() && !b.node(id).attrs.contains("num_outputs") {
        let n = b.node(id).outputs.len() as i64;
        b.node_mut(id).attrs.set("num_outputs", Attr::Int(n));
    }
    Ok(id)
}

/// `num_outputs`: equal parts when the axis divides (or is unknown: the older op then fails
/// at run time on what does not divide), explicit sizes when its length is known.
fn num_outputs_down(b: &mut Builder<'_>, id: NodeId, cx: &Cx) -> Result<NodeId, String> {
    let Some(Attr::Int(n)) = b.node_mut(id).attrs.remove("num_outputs") else {
        return Ok(id);
    };
    let Some(x) = b.input(id, 0) else {
        return Ok(id);
    };
    let axis = int_attr(b, id, "axis", 0);
    let len = cx.dims(b, x).and_then(|d| {
        let a = if axis < 0 {
            axis + d.len() as i64
        } else {
            axis
        };
        d.get(usize::try_from(a).ok()?).copied().flatten()
    });
    if let Some(len) = len {
        let n = n.max(1) as u64;
        if len % n != 0 {
            let chunk = len.div_ceil(n);
            let sizes: Vec<i64> = (0..n)
                .map(|i| chunk.min(len.saturating_sub(i * chunk)) as i64)
                .collect();
            let t = Tensor::from_i64(vec![sizes.len() as u64], &sizes).expect("1-D");
            let c = const_input(b, id, "split", t);
            set_input(b, id, 1, c);
        }
    }
    Ok(id)
}
