//! TopK (`k` an input at 10), Slice (`starts`, `ends`, `axes` inputs and `steps` at 10) and
//! Shape (`start` / `end` at 15: a Slice of the whole shape before).

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
    Adapter {
        op: OnnxOp::Shape,
        version: 15,
        up: |_, id, _| Ok(id),
        down: shape_down,
    },
];

/// `Shape {start, end}` → `Slice(Shape(x), start, end)`.
fn shape_down(b: &mut Builder<'_>, id: NodeId, cx: &Cx) -> Result<NodeId, String> {
    let start = b.node_mut(id).attrs.remove("start");
    let end = b.node_mut(id).attrs.remove("end");
    if start.is_none() && end.is_none() {
        return Ok(id);
    }
    let int = |a: Option<Attr>, default: i64| match a {
        Some(Attr::Int(v)) => v,
        _ => default,
    };
    let (start, end) = (int(start, 0), int(end, i64::MAX));
    let x = b.input(id, 0).ok_or("no input")?;
    let base = super::base_name(b, id);
    let whole = b.op(OnnxOp::Shape, &[x]).out(format!("{base}_all")).value();
    let slice = if cx.to >= 10 {
        let s = b.const_i64s(&format!("{base}_start"), &[start]);
        let e = b.const_i64s(&format!("{base}_end"), &[end]);
        b.op(OnnxOp::Slice, &[whole, s, e]).value()
    } else {
        b.op(OnnxOp::Slice, &[whole])
            .ints("starts", vec![start])
            .ints("ends", vec![end])
            .value()
    };
    let name = b.node(id).name.clone();
    b.replace_node(id, slice);
    b.node_mut(slice.node).name = name;
    Ok(slice.node)
}

fn slice_up(b: &mut Builder<'_>, id: NodeId, _: &Cx) -> Result<NodeId, String> {
    ints_attr_to_input(b, id, "starts", 1);
    ints_attr_to_input(b, id, "ends", 2);
    ints_attr_to_input(b, id, "axes", 3);
    Ok(id)
}

fn slice_down(b: &mut Builder<'_>, id: NodeId, cx: &Cx) -> Result<NodeId, String> {
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
