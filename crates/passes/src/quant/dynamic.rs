//! `int8-dynamic`: weights stored as int8 (symmetric, per output channel), activations
//! quantized at run time — ONNX Runtime's `quantize_dynamic` form, which its CPU kernels run
//! as integer products:
//!
//! ```text
//! x ─ DynamicQuantizeLinear ─ x_q, x_scale, x_zp
//! MatMulInteger(x_q, W_q, x_zp, 0) / ConvInteger(...) ─ Cast(float) ─ Mul(x_scale · w_scale) ─ Add(bias)
//! ```
//!
//! MatMul with a constant 2-D right operand, Gemm (transA = 0, constant B) and Conv with a
//! constant weight are rewritten.
//!
//! Standard ONNX has no integer recurrent op (onnxruntime's `DynamicQuantizeLSTM` is a
//! `com.microsoft` contrib op, which modelc does not emit), so LSTM, GRU and RNN are
//! quantized weight-only: their constant W and R (inputs 1 and 2, `[num_directions,
//! gates·hidden, input|hidden]`) are stored as int8, symmetric, one scale per gate row
//! (axis 1, shared by the directions), behind a standard per-axis `DequantizeLinear`; the
//! cell computes in float and the biases B stay float:
//!
//! ```text
//! W_i8, W_scale[gates·hidden], zero_i8 ─ DequantizeLinear{axis=1} ─┐
//! R_i8, R_scale[gates·hidden], zero_i8 ─ DequantizeLinear{axis=1} ─ LSTM(X, W, R, B, ...)
//! ```
//!
//! Everything else stays float.

use std::collections::HashMap;

use modelc_ir::{Builder, DType, Graph, Names, NodeId, OnnxOp, Tensor, ValueRef};

use super::calibrate::Stats;
use super::edit::{const_input, label, value_name};
use super::params::{f32_elements, f32_tensor, quantize_weight, zero_point_tensor};
use super::report::Layer;

/// Transposes a 2-D float32 constant.
fn transpose2(t: &Tensor) -> Option<Tensor> {
    let v = f32_elements(t)?;
    let (r, c) = (t.dims[0] as usize, t.dims[1] as usize);
    let mut out = vec![0f32; v.len()];
    for i in 0..r {
        for j in 0..c {
            out[j * r + i] = v[i * c + j];
        }
    }
    Some(f32_tensor(vec![c as u64, r as u64], &out))
}

/// The first opset with per-axis DequantizeLinear, which the recurrent weights need.
pub const RECURRENT_MIN_OPSET: i64 = 13;

/// Rewrites `g` to the dynamic form. `opset` is the model's default-domain opset (`None`:
/// 13 or newer); below 13 there is no per-axis DequantizeLinear, so LSTM/GRU/RNN stay
/// float (and say why) rather than making an invalid model.
pub fn quantize_dynamic(
    g: &mut Graph,
    stats: &Stats,
    excluded: &HashMap<NodeId, String>,
    opset: Option<i64>,
) -> Result<Vec<Layer>, String> {
    let old_opset = opset
        .filter(|&v| v < RECURRENT_MIN_OPSET)
        .map(|v| {
            format!(
                "weight-only int8 needs per-axis DequantizeLinear (opset {RECURRENT_MIN_OPSET}); the model imports opset {v}"
            )
        });
    let order = g.topo_order().map_err(|e| e.to_string())?;
    let mut names = Names::of(g);
    let mut layers = Vec::new();
    let mut recurrent = Recurrent::default();
    for id in order {
        let Some(op) = g.node(id).op.onnx() else {
            continue;
        };
        let is_recurrent = matches!(op, OnnxOp::LSTM | OnnxOp::GRU | OnnxOp::RNN);
        if !is_recurrent && !matches!(op, OnnxOp::MatMul | OnnxOp::Gemm | OnnxOp::Conv) {
            continue;
        }
        let name = label(g, id);
        if let Some(r) = excluded.get(&id) {
            layers.push(Layer::float(op, &name, r));
            continue;
        }
        if is_recurrent {
            if let Some(why) = &old_opset {
                layers.push(Layer::float(op, &name, why));
                continue;
            }
            layers.push(match recurrent.rewrite(g, &mut names, id) {
                Ok(note) => Layer::quantized(op, &name, &note),
                Err(why) => Layer::float(op, &name, why),
            });
            continue;
        }
        match rewrite(g, &mut names, stats, id, op) {
            Ok(()) => layers.push(Layer::quantized(op, &name, "")),
            Err(why) => layers.push(Layer::float(op, &name, why)),
        }
    }
    Ok(layers)
}

/// Weight-only int8 for the recurrent ops, with what is shared between them: one
/// DequantizeLinear per constant, one all-zero zero point per row count.
#[derive(Default)]
struct Recurrent {
    done: HashMap<NodeId, ValueRef>,
    zeros: HashMap<u64, ValueRef>,
}

impl Recurrent {
    /// Puts the constant float32 W (slot 1) and R (slot 2) of the LSTM/GRU/RNN `id` behind
    /// a DequantizeLinear of int8 values; returns the report's note.
    fn rewrite(
        &mut self,
        g: &mut Graph,
        names: &mut Names,
        id: NodeId,
    ) -> Result<String, &'static str> {
        let mut done = Vec::new();
        let mut why = "W and R are not constants";
        for (slot, which) in [(1, "W"), (2, "R")] {
            let Some((cid, t)) = const_input(g, id, slot) else {
                continue;
            };
            if t.dtype != DType::F32 || t.dims.len() != 3 {
                why = "W and R are not 3-D float32 constants";
                continue;
            }
            let dq = match self.done.get(&cid) {
                Some(&dq) => dq,
                None => {
                    let qw = quantize_weight(t, Some(1)).ok_or("cannot quantize the weights")?;
                    let rows = qw.scales.len() as u64;
                    let base = value_name(g, ValueRef::new(cid, 0));
                    let data = Builder::with_names(g, names)
                        .constant(&format!("{base}_quantized"), qw.data);
                    let scale = Builder::with_names(g, names)
                        .constant(&format!("{base}_scale"), f32_tensor(vec![rows], &qw.scales));
                    // Explicit all-zero int8 zero points, as the other weights have.
                    let zp = *self.zeros.entry(rows).or_insert_with(|| {
                        Builder::with_names(g, names).constant(
                            &format!("zero{rows}_i8"),
                            zero_point_tensor(DType::I8, vec![rows], &vec![0; rows as usize]),
                        )
                    });
                    let n = Builder::with_names(g, names)
                        .op_opt(
                            OnnxOp::DequantizeLinear,
                            &[Some(data), Some(scale), Some(zp)],
                        )
                        .out(format!("{base}_DequantizeLinear"))
                        .int("axis", 1)
                        .add();
                    let dq = ValueRef::new(n, 0);
                    self.done.insert(cid, dq);
                    dq
                }
            };
            g.connect(dq, id, slot);
            done.push(which);
        }
        if done.is_empty() {
            return Err(why);
        }
        Ok(format!(
            "weight-only int8 ({} per gate row, DequantizeLinear), float compute",
            done.join(", ")
        ))
    }
}

fn rewrite(
    g: &mut Graph,
    names: &mut Names,
    stats: &Stats,
    id: NodeId,
    op: OnnxOp,
) -> Result<(), &'static str> {
    let inputs = g.inputs_of(id);
    let x = inputs[0].ok_or("no input")?;
    if stats.dtypes.get(&x) != Some(&DType::F32) {
        return Err("input is not float32");
    }
    let (_, w) = const_input(g, id, 1).ok_or("weight is not a constant")?;
    if w.dtype != DType::F32 {
        return Err("weight is not float32");
    }
    let attrs = &g.node(id).attrs;
    // The weight in the layout the integer op wants ([K, N] for MatMul) and its channel axis.
    let (w, axis, alpha) = match op {
        OnnxOp::MatMul if w.dims.len() == 2 => (w.clone(), 1, 1.0),
        OnnxOp::Gemm => {
            if attrs.int("transA", 0).unwrap_or(1) != 0 || w.dims.len() != 2 {
                return Err("Gemm with transA is left in float");
            }
            let wt = if attrs.int("transB", 0).unwrap_or(0) != 0 {
                transpose2(w).ok_or("bad weight")?
            } else {
                w.clone()
            };
            (wt, 1, g.node(id).float("alpha").unwrap_or(1.0))
        }
        OnnxOp::Conv if g.node(id).num_inputs >= 2 => (w.clone(), 0, 1.0),
        _ => return Err("weight layout not supported"),
    };
    let beta = attrs.float("beta", 1.0).unwrap_or(1.0);
    let qw = quantize_weight(&w, Some(axis)).ok_or("cannot quantize the weight")?;
    let base = g.node(id).name.clone();
    let base = if base.is_empty() {
        value_name(g, ValueRef::new(id, 0))
    } else {
        base
    };
    let bias = match inputs.get(2).copied().flatten() {
        None => None,
        Some(_) => {
            let (_, t) = const_input(g, id, 2).ok_or("bias is not a constant")?;
            let v = f32_elements(t).ok_or("bias is not float32")?;
            if op == OnnxOp::Conv && t.dims.len() != 1 {
                return Err("bias shape");
            }
            Some((t.dims.clone(), v))
        }
    };
    let out = ValueRef::new(id, 0);
    let users = g.users(out);
    let graph_out = g.outputs().contains(&out);

    let dql = Builder::with_names(g, names)
        .op(OnnxOp::DynamicQuantizeLinear, &[x])
        .name(format!("{base}_DynamicQuantizeLinear"))
        .outs(3)
        .add();
    let (xq, xs, xz) = (
        ValueRef::new(dql, 0),
        ValueRef::new(dql, 1),
        ValueRef::new(dql, 2),
    );
    let wq = Builder::with_names(g, names).constant(&format!("{base}_weight_quantized"), qw.data);
    let wz = Builder::with_names(g, names).constant(
        &format!("{base}_weight_zero_point"),
        zero_point_tensor(DType::I8, vec![], &[0]),
    );
    let integer = if op == OnnxOp::Conv {
        let c = Builder::with_names(g, names)
            .op_opt(
                OnnxOp::ConvInteger,
                &[Some(xq), Some(wq), Some(xz), Some(wz)],
            )
            .out(format!("{base}_ConvInteger"))
            .add();
        g.node_mut(c).attrs = g.node(id).attrs.clone();
        g.node_mut(c).layout = g.node(id).layout;
        c
    } else {
        Builder::with_names(g, names)
            .op_opt(
                OnnxOp::MatMulInteger,
                &[Some(xq), Some(wq), Some(xz), Some(wz)],
            )
            .out(format!("{base}_MatMulInteger"))
            .add()
    };
    let cast = Builder::with_names(g, names)
        .op_opt(OnnxOp::Cast, &[Some(ValueRef::new(integer, 0))])
        .out(format!("{base}_Cast"))
        .int("to", DType::F32.onnx_code() as i64)
        .add();
    // Per-channel weight scale shaped to broadcast over the output's channel axis.
    let c = qw.scales.len() as u64;
    let scale_dims = if op == OnnxOp::Conv {
        let mut d = vec![1u64; w.dims.len()];
        d[1] = c;
        d
    } else {
        vec![c]
    };
    let scales: Vec<f32> = qw.scales.iter().map(|s| s * alpha).collect();
    let ws = Builder::with_names(g, names).constant(
        &format!("{base}_weight_scale"),
        f32_tensor(scale_dims, &scales),
    );
    let prod = Builder::with_names(g, names)
        .op(OnnxOp::Mul, &[xs, ws])
        .out(format!("{base}_scale_product"))
        .add();
    let mul = Builder::with_names(g, names)
        .op_opt(
            OnnxOp::Mul,
            &[Some(ValueRef::new(cast, 0)), Some(ValueRef::new(prod, 0))],
        )
        .out(format!("{base}_rescale"))
        .add();
    let mut result = ValueRef::new(mul, 0);
    if let Some((dims, v)) = bias {
        let dims = if op == OnnxOp::Conv {
            let mut d = vec![1u64; w.dims.len()];
            d[1] = v.len() as u64;
            d
        } else {
            dims
        };
        let v: Vec<f32> = v.iter().map(|b| b * beta).collect();
        let bc =
            Builder::with_names(g, names).constant(&format!("{base}_bias"), f32_tensor(dims, &v));
        let add = Builder::with_names(g, names)
            .op(OnnxOp::Add, &[result, bc])
            .out(format!("{base}_bias_add"))
            .add();
        result = ValueRef::new(add, 0);
    }
    for (n, slot) in users {
        g.connect(result, n, slot);
    }
    // The result takes the original output's name (and type).
    let old = g.value(out).cloned().unwrap_or_default();
    if graph_out {
        let outs: Vec<ValueRef> = g
            .outputs()
            .iter()
            .map(|&o| if o == out { result } else { o })
            .collect();
        g.set_outputs(outs);
    }
    g.remove_node(id);
    let rv = g.value_mut(result).expect("new");
    rv.name = old.name;
    rv.ty = old.ty;
    Ok(())
}
