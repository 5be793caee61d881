//! BatchNormalization (`spatial` gone at 9; at 14 `training_mode`, and the statistics outputs
//! only in training) and Dropout (`ratio` an input and `training_mode` at 12).

use modelc_ir::build::scalar_tensor;
use modelc_ir::{Attr, Builder, DType, NodeId, OnnxOp, ValueRef};

use super::{computed, const_f64s, const_input, int_attr, set_input, take_input, Adapter, Cx};

pub(crate) const ADAPTERS: &[Adapter] = &[
    Adapter {
        op: OnnxOp::BatchNormalization,
        version: 9,
        up: |b, id, cx| {
            if int_attr(b, id, "spatial", 1) != 1 {
                return Err(format!(
                    "spatial=0 (statistics per element) has no form in opset {}",
                    cx.to
                ));
            }
            b.node_mut(id).attrs.remove("spatial");
            Ok(id)
        },
        down: |_, id, _| Ok(id),
    },
    Adapter {
        op: OnnxOp::BatchNormalization,
        version: 14,
        up: bn_statistics,
        down: |b, id, cx| {
            if int_attr(b, id, "training_mode", 0) != 0 {
                return Err(format!("training_mode=1 has no form in opset {}", cx.to));
            }
            b.node_mut(id).attrs.remove("training_mode");
            bn_statistics(b, id, cx)
        },
    },
    Adapter {
        op: OnnxOp::Dropout,
        version: 12,
        up: dropout_up,
        down: dropout_down,
    },
];

/// Inference-mode BatchNormalization computes only `Y`: unused statistics outputs go, used
/// ones are training, which the other version writes differently.
fn bn_statistics(b: &mut Builder<'_>, id: NodeId, cx: &Cx) -> Result<NodeId, String> {
    let n = b.node(id).outputs.len();
    for slot in 1..n {
        let v = ValueRef::new(id, slot);
        if !b.users(v).is_empty() || b.outputs().contains(&v) {
            return Err(format!(
                "the running statistics (training) are read; opset {} computes them differently",
                cx.to
            ));
        }
    }
    b.node_mut(id).outputs.truncate(1);
    Ok(id)
}

fn dropout_up(b: &mut Builder<'_>, id: NodeId, _: &Cx) -> Result<NodeId, String> {
    b.node_mut(id).attrs.remove("is_test");
    if let Some(Attr::Float(r)) = b.node_mut(id).attrs.remove("ratio") {
        let c = const_input(b, id, "ratio", scalar_tensor(DType::F32, f64::from(r)));
        set_input(b, id, 1, c);
    }
    Ok(id)
}

fn dropout_down(b: &mut Builder<'_>, id: NodeId, cx: &Cx) -> Result<NodeId, String> {
    if let Some(t) = b.input(id, 2) {
        match const_f64s(b, t).as_deref() {
            Some([x]) if *x == 0.0 => {}
            Some(_) => return Err(format!("training_mode=true has no form in opset {}", cx.to)),
            None => return Err(computed("training_mode", cx)),
        }
        take_input(b, id, 2);
    }
    if let Some(r) = b.input(id, 1) {
        let ratio = match const_f64s(b, r).as_deref() {
            Some([x]) => *x,
            _ => return Err(computed("ratio", cx)),
        };
        b.node_mut(id).attrs.set("ratio", Attr::Float(ratio as f32));
        take_input(b, id, 1);
    }
    Ok(id)
}
