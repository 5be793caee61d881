//! TopK (`k` an input at 10) and Slice (`starts`, `ends`, `axes` inputs and `steps` at 10).

use modelc_ir::{Attr, Builder, NodeId, OnnxOp, Tensor};

use super::{
    computed, const_input, const_ints, ints_attr_to_input, ints_input_to_attr, set_input,
    take_input, Adapter, Cx,
};

pub(crate) const ADAPTERS: &[Adapter] = &[
    Adapter {
        op: OnnxOp::TopK,
        version: 10,
        up: |b, id, _| {
            if let Some(Attr::Int(k)) = b.node_mut(id).attrs.remove("k") {
                let t = Tensor::from_i64(vec![1], &[k]).expect("1-D");
                let c = const_input(b, id, "k", t);
                set_input(b, id, 1, c);
            }
            Ok(id)
        },
        down: |b, id, cx| {
            let v = b.input(id, 1).ok_or("no k")?;
            match const_ints(b, v).as_deref() {
                Some([k]) => {
                    let k = *k;
                    b.node_mut(id).attrs.set("k", Attr::Int(k));
                    take_input(b, id, 1);
                    Ok(id)
                }
                _ => Err(computed("k", cx)),
            }
        },
    },
    Adapter {
        op: OnnxOp::Slice,
        version: 10,
        up: slice_up,
        down: slice_down,
    },
];

fn slice_up(b: &mut Builder<'_>, id: NodeId, _: &Cx<'_>) -> Result<NodeId, String> {
    ints_attr_to_input(b, id, "starts", 1);
    ints_attr_to_input(b, id, "ends", 2);
    ints_attr_to_input(b, id, "axes", 3);
    Ok(id)
}

fn slice_down(b: &mut Builder<'_>, id: NodeId, cx: &Cx<'_>) -> Result<NodeId, String> {
    if let Some(v) = b.input(id, 4) {
        let steps = const_ints(b, v).ok_or_else(|| computed("steps", cx))?;
        if steps.iter().any(|&s| s != 1) {
            return Err(format!(
                "steps other than 1 have no form in opset {}",
                cx.to
            ));
        }
        take_input(b, id, 4);
    }
    for (slot, name) in [(3, "axes"), (2, "ends"), (1, "starts")] {
        ints_input_to_attr(b, id, slot, name, cx)?;
    }
    Ok(id)
}
