//! Softmax, LogSoftmax and Hardmax: before 13 they flatten the input to 2-D at `axis` and
//! normalize each row over every axis from `axis` on; from 13 they normalize along `axis`
//! alone (and its default went from 1 to -1, which the converter writes out first). The two
//! agree when `axis` is the last axis. Otherwise, going up, the old meaning is kept by a
//! Flatten to 2-D and a Reshape back (the `decompose-legacy-softmax` rewrite); going down,
//! Transposes move `axis` last and back.

use modelc_ir::{Attr, Builder, NodeId, OnnxOp, ValueRef};

use super::{int_attr, Adapter, Cx};

macro_rules! normalizers {
    ($($op:ident),*) => { &[$(Adapter { op: OnnxOp::$op, version: 13, up, down }),*] };
}

pub(crate) const ADAPTERS: &[Adapter] = normalizers![Softmax, LogSoftmax, Hardmax];

/// The axis as a non-negative index, when the rank is known.
fn axis_of(b: &Builder<'_>, id: NodeId, cx: &Cx) -> (i64, Option<usize>) {
    let axis = int_attr(b, id, "axis", 1);
    let rank = b.input(id, 0).and_then(|x| cx.rank(b, x));
    (axis, rank)
}

fn up(b: &mut Builder<'_>, id: NodeId, cx: &Cx) -> Result<NodeId, String> {
    let (axis, rank) = axis_of(b, id, cx);
    if axis == -1 || rank.is_some_and(|r| axis == r as i64 - 1) {
        return Ok(id);
    }
    let x = b.input(id, 0).ok_or("no input")?;
    let op = b.node(id).op.onnx().ok_or("not an ONNX op")?;
    let name = b.node(id).name.clone();
    let base = super::base_name(b, id);
    let flat = b
        .op(OnnxOp::Flatten, &[x])
        .int("axis", axis)
        .out(format!("{base}_2d"))
        .value();
    let shape = b
        .op(OnnxOp::Shape, &[x])
        .out(format!("{base}_shape"))
        .value();
    let y = b
        .op(op, &[flat])
        .int("axis", -1)
        .out(format!("{base}_rows"))
        .value();
    let out = b.op(OnnxOp::Reshape, &[y, shape]).value();
    b.replace_node(id, out);
    b.node_mut(out.node).name = name;
    Ok(out.node)
}

fn down(b: &mut Builder<'_>, id: NodeId, cx: &Cx) -> Result<NodeId, String> {
    let (axis, rank) = axis_of(b, id, cx);
    // Negative axes exist from opset 11; older ones need the rank.
    if axis == -1 && cx.to >= 11 {
        return Ok(id);
    }
    let Some(rank) = rank else {
        return Err(format!(
            "axis {axis} of an input of unknown rank has no form in opset {}",
            cx.to
        ));
    };
    let a = if axis < 0 { axis + rank as i64 } else { axis };
    if a == rank as i64 - 1 {
        b.node_mut(id).attrs.set("axis", Attr::Int(a));
        return Ok(id);
    }
    // Move `axis` last, normalize the last axis, move it back.
    let x = b.input(id, 0).ok_or("no input")?;
    let mut perm: Vec<i64> = (0..rank as i64).collect();
    perm.swap(a as usize, rank - 1);
    let name = b.node(id).name.clone();
    let base = super::base_name(b, id);
    let op = b.node(id).op.onnx().ok_or("not an ONNX op")?;
    let t = b
        .op(OnnxOp::Transpose, &[x])
        .ints("perm", perm.clone())
        .out(format!("{base}_last"))
        .value();
    let y = b
        .op(op, &[t])
        .int("axis", rank as i64 - 1)
        .out(format!("{base}_t"))
        .value();
    let out: ValueRef = b.op(OnnxOp::Transpose, &[y]).ints("perm", perm).value();
    b.replace_node(id, out);
    b.node_mut(out.node).name = name;
    Ok(out.node)
}
