//! Clip: `min` / `max` went from float attributes to optional scalar inputs of the data's
//! type at 11 (integer data came at 12).

use modelc_ir::build::scalar_tensor;
use modelc_ir::{Attr, Builder, NodeId, OnnxOp};

use super::{computed, const_f64s, const_input, set_input, take_input, Adapter, Cx};

pub(crate) const ADAPTERS: &[Adapter] = &[Adapter {
    op: OnnxOp::Clip,
    version: 11,
    up,
    down,
}];

fn up(b: &mut Builder<'_>, id: NodeId, cx: &Cx) -> Result<NodeId, String> {
    let bounds: Vec<(usize, &str, Option<Attr>)> = ["min", "max"]
        .into_iter()
        .enumerate()
        .map(|(i, name)| (i + 1, name, b.node(id).attrs.get(name).cloned()))
        .collect();
    if bounds.iter().all(|(_, _, a)| a.is_none()) {
        return Ok(id);
    }
    let x = b.input(id, 0).ok_or("no data input")?;
    let dtype = cx
        .dtype(b, x)
        .ok_or("the data's element type is unknown, and the bounds must have it")?;
    for (slot, name, attr) in bounds {
        b.node_mut(id).attrs.remove(name);
        if let Some(Attr::Float(v)) = attr {
            let c = const_input(b, id, name, scalar_tensor(dtype, f64::from(v)));
            set_input(b, id, slot, c);
        }
    }
    Ok(id)
}

fn down(b: &mut Builder<'_>, id: NodeId, cx: &Cx) -> Result<NodeId, String> {
    if let Some(dt) = b.input(id, 0).and_then(|x| cx.dtype(b, x)) {
        if !dt.is_float() {
            return Err(format!("Clip of {dt} exists from opset 12 on"));
        }
    }
    for (slot, name) in [(1, "min"), (2, "max")] {
        let Some(v) = b.input(id, slot) else {
            continue;
        };
        let value = match const_f64s(b, v).as_deref() {
            Some([x]) => *x,
            _ => return Err(computed(name, cx)),
        };
        b.node_mut(id).attrs.set(name, Attr::Float(value as f32));
    }
    take_input(b, id, 2);
    take_input(b, id, 1);
    Ok(id)
}
