//! Squeeze, Unsqueeze and the reductions: `axes` went from an attribute to an optional
//! int64 input (Squeeze, Unsqueeze, ReduceSum at 13; the other Reduce* at 18), and the
//! reductions that take it as an input gained `noop_with_empty_axes`. DFT's `axis` became
//! its third input at 20 (default 1 before, -2 after).

use modelc_ir::{Attr, Builder, NodeId, OnnxOp, Tensor};

use super::{
    computed, const_input, const_ints, int_attr, ints_attr_to_input, ints_input_to_attr, set_input,
    take_input, Adapter, Cx,
};

macro_rules! axes_input_at {
    ($($op:ident @ $v:literal),* $(,)?) => {
        &[$(Adapter { op: OnnxOp::$op, version: $v, up, down }),*]
    };
}

pub(crate) const DFT: &[Adapter] = &[Adapter {
    op: OnnxOp::DFT,
    version: 20,
    up: |b, id, _| {
        let axis = int_attr(b, id, "axis", 1);
        b.node_mut(id).attrs.remove("axis");
        let t = Tensor::from_i64(vec![], &[axis]).expect("scalar");
        let c = const_input(b, id, "axis", t);
        set_input(b, id, 2, c);
        Ok(id)
    },
    down: |b, id, cx| {
        let axis = match b.input(id, 2) {
            None => -2,
            Some(v) => match const_ints(b, v).as_deref() {
                Some([a]) => *a,
                _ => return Err(computed("axis", cx)),
            },
        };
        take_input(b, id, 2);
        b.node_mut(id).attrs.set("axis", Attr::Int(axis));
        Ok(id)
    },
}];

pub(crate) const ADAPTERS: &[Adapter] = axes_input_at![
    Squeeze @ 13,
    Unsqueeze @ 13,
    ReduceSum @ 13,
    ReduceMean @ 18,
    ReduceMax @ 18,
    ReduceMin @ 18,
    ReduceProd @ 18,
    ReduceL1 @ 18,
    ReduceL2 @ 18,
    ReduceLogSum @ 18,
    ReduceLogSumExp @ 18,
    ReduceSumSquare @ 18,
];

fn up(b: &mut Builder<'_>, id: NodeId, _: &Cx) -> Result<NodeId, String> {
    ints_attr_to_input(b, id, "axes", 1);
    Ok(id)
}

fn down(b: &mut Builder<'_>, id: NodeId, cx: &Cx) -> Result<NodeId, String> {
    let reduce = !matches!(
        b.node(id).op.onnx(),
        Some(OnnxOp::Squeeze | OnnxOp::Unsqueeze)
    );
    if reduce {
        // No axes: every axis, unless `noop_with_empty_axes` makes it the identity, which
        // the attribute form cannot say.
        let noop = int_attr(b, id, "noop_with_empty_axes", 0) != 0;
        let axes_empty = match b.input(id, 1) {
            None => true,
            Some(v) => super::const_ints(b, v).is_some_and(|a| a.is_empty()),
        };
        if noop && axes_empty {
            return Err(format!(
                "noop_with_empty_axes=1 with no axes (the identity) has no form in opset {}",
                cx.to
            ));
        }
        if noop
            && b.input(id, 1)
                .is_some_and(|v| super::const_ints(b, v).is_none())
        {
            return Err(super::computed("axes", cx));
        }
        b.node_mut(id).attrs.remove("noop_with_empty_axes");
        // Empty constant axes mean every axis: the attribute form says that by its absence.
        if b.input(id, 1)
            .and_then(|v| super::const_ints(b, v))
            .is_some_and(|a| a.is_empty())
        {
            super::take_input(b, id, 1);
        }
    }
    ints_input_to_attr(b, id, 1, "axes", cx)?;
    Ok(id)
}
