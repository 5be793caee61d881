//! `quantize-io`: makes a QDQ model's float inputs and outputs integer, for targets whose
//! accelerator takes only integer feature maps (Ethos-U, TFLite Micro int8). A float graph
//! input read only by one QuantizeLinear becomes an input of that QuantizeLinear's integer
//! type (the QuantizeLinear goes: the caller quantizes with the same scale and zero point); a
//! graph output made by DequantizeLinear becomes the integer value it dequantizes, under the
//! output's name. In TFLite this removes the float QUANTIZE / DEQUANTIZE operators at the
//! ends, which Vela places on the CPU. The scales stay in the file (the quantized tensors'
//! parameters), so a caller can still convert.
//!
//! A float input that reaches its QuantizeLinear through one data-movement op (an LSTM's
//! batch-first Transpose, a Reshape) is quantized before it instead, with the same
//! parameters, and the op runs on the quantized value between a DequantizeLinear and the
//! QuantizeLinear that was there: exact (moving values commutes with quantizing each), and
//! the movement op becomes an integer operator instead of a float one on the CPU.

use modelc_ir::{Builder, DType, Graph, NodeId, OnnxOp, Op, ValueRef, ValueType};

use crate::{Changed, Pass, PassContext, PassError};

pub struct QuantizeIo;

impl Pass for QuantizeIo {
    fn name(&self) -> &'static str {
        "quantize-io"
    }

    fn description(&self) -> &'static str {
        "integer graph inputs/outputs: drop the QuantizeLinear after a float input and the DequantizeLinear before an output"
    }

    fn run(&self, g: &mut Graph, cx: &mut PassContext) -> Result<Changed, PassError> {
        let mut changed = false;
        for id in g.inputs().to_vec() {
            hoist_quantize(g, id);
            if let Some(note) = quantize_input(g, id) {
                cx.notes.push(note);
                changed = true;
            }
        }
        for slot in 0..g.outputs().len() {
            if let Some(note) = dequantize_output(g, slot) {
                cx.notes.push(note);
                changed = true;
            }
        }
        Ok(Changed::from_bool(changed))
    }
}

fn is(g: &Graph, id: NodeId, op: OnnxOp) -> bool {
    g.node(id).op == Op::Onnx(op)
}

/// The integer type a QuantizeLinear produces: its zero point's (uint8 without one).
fn quantized_type(g: &Graph, q: NodeId) -> Option<DType> {
    if g.node(q).attrs.get("output_dtype").is_some() {
        return None; // opset-21 form: leave it to the writer
    }
    match g.input(q, 2) {
        None => Some(DType::U8),
        Some(zp) => match &g.node(zp.node).op {
            Op::Const(t) => Some(t.dtype),
            _ => None,
        },
    }
}

/// Input `id` → movement op `m` → QuantizeLinear `q` (each the only reader) becomes
/// input → QuantizeLinear → DequantizeLinear → `m` → `q`, with `q`'s per-tensor parameters.
fn hoist_quantize(g: &mut Graph, id: NodeId) {
    const MOVEMENT: [OnnxOp; 5] = [
        OnnxOp::Transpose,
        OnnxOp::Reshape,
        OnnxOp::Squeeze,
        OnnxOp::Unsqueeze,
        OnnxOp::Flatten,
    ];
    let x = ValueRef::new(id, 0);
    let users = g.users(x);
    let [(m, 0)] = users.as_slice() else {
        return;
    };
    let m = *m;
    if !MOVEMENT.iter().any(|&op| is(g, m, op)) || g.outputs().contains(&x) {
        return;
    }
    let moved = ValueRef::new(m, 0);
    let users = g.users(moved);
    let [(q, 0)] = users.as_slice() else {
        return;
    };
    let q = *q;
    if !is(g, q, OnnxOp::QuantizeLinear) || g.outputs().contains(&moved) {
        return;
    }
    let (Some(scale), Some(zp)) = (g.input(q, 1), g.input(q, 2)) else {
        return;
    };
    let per_tensor = |v: ValueRef| match &g.node(v.node).op {
        Op::Const(t) => t.dims.iter().product::<u64>() == 1,
        _ => false,
    };
    if !per_tensor(scale) || !per_tensor(zp) || quantized_type(g, q).is_none() {
        return;
    }
    let Some(name) = g.value(x).map(|v| v.name.clone()) else {
        return;
    };
    let mut b = Builder::new(g);
    let xq = b
        .op(OnnxOp::QuantizeLinear, &[x, scale, zp])
        .out(format!("{name}_Q"))
        .value();
    let xd = b
        .op(OnnxOp::DequantizeLinear, &[xq, scale, zp])
        .out(format!("{name}_DQ"))
        .value();
    drop(b);
    g.connect(xd, m, 0);
}

fn quantize_input(g: &mut Graph, id: NodeId) -> Option<String> {
    let x = ValueRef::new(id, 0);
    let users = g.users(x);
    let [(q, 0)] = users.as_slice() else {
        return None;
    };
    let q = *q;
    if !is(g, q, OnnxOp::QuantizeLinear) || g.outputs().contains(&x) {
        return None;
    }
    let dtype = quantized_type(g, q)?;
    let value = g.value(x)?;
    let Some(ValueType::Tensor(tt)) = value.ty.as_ref().map(|t| &t.ty) else {
        return None;
    };
    if tt.dtype != Some(DType::F32) {
        return None;
    }
    let name = value.name.clone();
    let mut tt = tt.clone();
    tt.dtype = Some(dtype);
    if let Some(v) = g.value_mut(x) {
        v.ty = Some(ValueType::Tensor(tt).into());
    }
    g.replace_uses(ValueRef::new(q, 0), x);
    g.remove_node(q);
    Some(format!(
        "input `{name}` is now {dtype} (its QuantizeLinear removed)"
    ))
}

fn dequantize_output(g: &mut Graph, slot: usize) -> Option<String> {
    let out = g.outputs()[slot];
    if !is(g, out.node, OnnxOp::DequantizeLinear) {
        return None;
    }
    let dq = out.node;
    let src = g.input(dq, 0)?;
    if !g.users(out).is_empty() || g.outputs().iter().filter(|&&o| o == out).count() > 1 {
        return None;
    }
    let name = g.value(out)?.name.clone();
    let mut outputs = g.outputs().to_vec();
    outputs[slot] = src;
    g.set_outputs(outputs);
    g.remove_node(dq);
    // The output keeps its name: the integer value takes it over, unless it is a graph
    // input (then both would need the name) or already an output under its own.
    if !g.inputs().contains(&src.node) && g.outputs().iter().filter(|&&o| o == src).count() == 1 {
        if let Some(v) = g.value_mut(src) {
            v.name = name.clone();
        }
    }
    Some(format!(
        "output `{name}` is now the quantized value (its DequantizeLinear removed)"
    ))
}
