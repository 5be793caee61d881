//! `quantize-bias`: gives the float bias of a quantized Conv, ConvTranspose or Gemm its
//! int32 form, `DequantizeLinear(round(b / (sx·sw)), sx·sw)`: sx is the scale of the
//! DequantizeLinear the op's input comes from, sw its weight's (per tensor or per output
//! channel). That is the bias integer kernels add to their int32 accumulators
//! (onnxruntime's QLinearConv / QGemm, TFLite's int8 CONV_2D / FULLY_CONNECTED), so a QDQ
//! model that leaves its biases float (NNCF's, or `modelc quantize`'s Conv biases, see
//! [`BiasScope`]) becomes one those kernels take as it is.
//!
//! It applies when input 0 comes from a DequantizeLinear with a constant one-element scale;
//! input 1 from a DequantizeLinear with a constant scale that has one element or one per
//! output channel along the weight's channel axis (Conv 0, ConvTranspose 1, Gemm 0 with
//! `transB`, else 1), without `block_size`; and the bias is a constant float32 of shape
//! `[M]`. Gemm needs `alpha` = 1 (the accumulator's scale would be alpha·sx·sw); its `beta`
//! is folded into the bias and set to 1.

use modelc_ir::{Attr, Builder, DType, Graph, NodeId, OnnxOp, ValueRef};

use crate::pattern::{const_tensor, for_each_graph};
use crate::quant::params::{f32_elements, f32_tensor, quantize_bias};
use crate::{Changed, Pass, PassContext, PassError};

/// Which biases the pass quantizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BiasScope {
    /// Every bias it applies to (what TFLite's integer kernels need).
    #[default]
    All,
    /// All but Conv biases with per-tensor or axis-0 weight scales: onnxruntime (checked with
    /// 1.32) quantizes those itself when it loads the model (its WeightBiasQuantization
    /// rewrite) and still runs QLinearConv, so the file need not store their int32 values
    /// and scales (8 bytes per output channel). It does not for Gemm: a QDQ Gemm with a
    /// float bias stays a float Gemm there (MobileNetV2's classifier: +0.3 ms of 1.7).
    ExceptConv,
}

#[derive(Default)]
pub struct QuantizeBias {
    pub scope: BiasScope,
}

impl Pass for QuantizeBias {
    fn name(&self) -> &'static str {
        "quantize-bias"
    }

    fn description(&self) -> &'static str {
        "int32 biases (scale = input scale x weight scale) for QDQ Conv, ConvTranspose and Gemm"
    }

    fn run(&self, g: &mut Graph, _cx: &mut PassContext) -> Result<Changed, PassError> {
        Ok(Changed::from_bool(quantize_biases(g, self.scope) > 0))
    }
}

/// Quantizes the biases in `scope` in `g` and its sub-graphs; returns how many.
pub fn quantize_biases(g: &mut Graph, scope: BiasScope) -> usize {
    let mut count = 0;
    for_each_graph(g, &mut |g| {
        let ids: Vec<NodeId> = g.topo_order().unwrap_or_default();
        let before = count;
        for id in ids {
            if quantize_one(g, id, scope) {
                count += 1;
            }
        }
        count > before
    });
    count
}

/// The one-element constant scale of the DequantizeLinear producing `v`.
fn input_scale(g: &Graph, v: ValueRef) -> Option<f32> {
    let dq = dequantize_of(g, v)?;
    let s = f32_elements(const_tensor(g, g.input(dq, 1)?)?)?;
    (s.len() == 1).then(|| s[0])
}

fn dequantize_of(g: &Graph, v: ValueRef) -> Option<NodeId> {
    (g.node(v.node).op.onnx() == Some(OnnxOp::DequantizeLinear)).then_some(v.node)
}

fn quantize_one(g: &mut Graph, id: NodeId, scope: BiasScope) -> bool {
    let Some(op) = g.node(id).op.onnx() else {
        return false;
    };
    if !matches!(op, OnnxOp::Conv | OnnxOp::ConvTranspose | OnnxOp::Gemm) {
        return false;
    }
    let node = g.node(id);
    let attrs = &node.attrs;
    if op == OnnxOp::Gemm && node.float("alpha").unwrap_or(0.0) != 1.0 {
        return false;
    }
    let beta = if op == OnnxOp::Gemm {
        node.float("beta").unwrap_or(1.0)
    } else {
        1.0
    };
    let axis = match op {
        OnnxOp::Conv => 0,
        OnnxOp::ConvTranspose => 1,
        _ if attrs.int("transB", 0).unwrap_or(0) != 0 => 0,
        _ => 1,
    };
    let (Some(x), Some(w), Some(b)) = (g.input(id, 0), g.input(id, 1), g.input(id, 2)) else {
        return false;
    };
    let Some(sx) = input_scale(g, x) else {
        return false;
    };
    let Some(bias) = const_tensor(g, b).filter(|t| t.dtype == DType::F32 && t.dims.len() == 1)
    else {
        return false;
    };
    let channels = bias.dims[0] as usize;
    let Some(wdq) = dequantize_of(g, w) else {
        return false;
    };
    let wattrs = &g.node(wdq).attrs;
    if wattrs.int("block_size", 0).unwrap_or(1) != 0 {
        return false;
    }
    let Some(sw) = g
        .input(wdq, 1)
        .and_then(|s| const_tensor(g, s))
        .and_then(f32_elements)
    else {
        return false;
    };
    let per_channel = sw.len() > 1;
    if per_channel {
        let rank = const_tensor(g, g.input(wdq, 0).unwrap_or(w)).map(|t| t.dims.len());
        let mut dq_axis = wattrs.int("axis", 1).unwrap_or(1);
        if dq_axis < 0 {
            dq_axis += rank.unwrap_or(0) as i64;
        }
        if sw.len() != channels || dq_axis != axis {
            return false;
        }
    }
    if scope == BiasScope::ExceptConv && op == OnnxOp::Conv {
        return false;
    }
    let Some(values) = f32_elements(bias) else {
        return false;
    };
    let scaled: Vec<f32> = values.iter().map(|v| v * beta).collect();
    let scales: Vec<f32> = sw.iter().map(|s| s * sx).collect();
    let Some(data) = quantize_bias(&f32_tensor(vec![channels as u64], &scaled), &scales) else {
        return false;
    };
    let base = g.value(b).map(|v| v.name.clone()).unwrap_or_default();
    let mut build = Builder::new(g);
    let data = build.constant(&format!("{base}_i32"), data);
    let dims = if per_channel {
        vec![channels as u64]
    } else {
        vec![]
    };
    let scale = build.constant(&format!("{base}_s"), f32_tensor(dims, &scales));
    // The zero point is 0, the optional input's default: left out (int32 zeros cost 4
    // bytes per channel, and no runtime needs them given).
    let mut dq = build
        .op(OnnxOp::DequantizeLinear, &[data, scale])
        .name("")
        .out(format!("{base}_DQ"));
    if per_channel {
        dq = dq.int("axis", 0);
    }
    let dq = dq.value();
    g.connect(dq, id, 2);
    if op == OnnxOp::Gemm && beta != 1.0 {
        g.node_mut(id).attrs.set("beta", Attr::Float(1.0));
    }
    if g.users(b).is_empty() && !g.outputs().contains(&b) {
        g.remove_node(b.node);
    }
    true
}
