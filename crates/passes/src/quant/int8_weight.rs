//! `int8-weight`: weight-only int8. The constant weights of Conv, ConvTranspose, Gemm and
//! MatMul (2-D right operand) are stored as int8 (symmetric, per output channel) behind a
//! DequantizeLinear; activations and compute stay float. A model 4x smaller with the
//! accuracy of float activations: the form TFLite files take when their weights are
//! quantized but their kernels run in float (DEQUANTIZE feeding float ops), and what
//! `int8-dynamic` becomes for TFLite, whose builtins have no ONNX-style integer ops.

use std::collections::HashMap;

use modelc_ir::{Graph, Names, NodeId, OnnxOp, Op};

use super::edit::label;
use super::report::Layer;
use super::static_int8::{dequantized_weights, weight_axis};
use crate::compress::weights::{constant_layer, quantize_constant, Precision};

/// With `unowned`, the float weights no Conv / Gemm / MatMul owns (an LSTM's, or ones an
/// If / Loop body reads by name: `compress::weights::constant_layer`) are stored int8 too,
/// each behind a DequantizeLinear that keeps its name (`compress::weights::quantize_constant`,
/// the storage `compress` gives them).
pub fn quantize_weights(
    g: &mut Graph,
    excluded: &HashMap<NodeId, String>,
    unowned: bool,
) -> Result<Vec<Layer>, String> {
    let order = g.topo_order().map_err(|e| e.to_string())?;
    let mut layers = Vec::new();
    let mut weights = Vec::new();
    for id in order {
        let Some(op) = g.node(id).op.onnx() else {
            continue;
        };
        if !matches!(
            op,
            OnnxOp::Conv | OnnxOp::ConvTranspose | OnnxOp::Gemm | OnnxOp::MatMul
        ) {
            continue;
        }
        let name = label(g, id);
        if let Some(reason) = excluded.get(&id) {
            layers.push(Layer::float(op, &name, reason));
            continue;
        }
        let weight = g.input(id, 1).filter(
            |w| matches!(&g.node(w.node).op, Op::Const(t) if t.dtype == modelc_ir::DType::F32),
        );
        match weight {
            Some(_) => {
                weights.push((id, 1, weight_axis(g, id, op, 1)));
                layers.push(Layer::quantized(op, &name, "int8 weight, float compute"));
            }
            None => layers.push(Layer::float(op, &name, "weight is not a float32 constant")),
        }
    }
    let mut names = Names::of(g);
    dequantized_weights(g, &mut names, &weights);
    if unowned {
        let constants: Vec<NodeId> = g.node_ids().filter(|&id| constant_layer(g, id)).collect();
        for id in constants {
            let name = label(g, id);
            if let Some(reason) = excluded.get(&id) {
                layers.push(Layer {
                    op: "constant".to_string(),
                    name,
                    quantized: false,
                    note: reason.clone(),
                });
                continue;
            }
            if quantize_constant(g, id, Precision::Int8) {
                layers.push(Layer {
                    op: "constant".to_string(),
                    name,
                    quantized: true,
                    note: "int8 weight no Conv/Gemm/MatMul owns (an LSTM's, a sub-graph's), float compute".to_string(),
                });
            }
        }
    }
    Ok(layers)
}

#[cfg(test)]
mod tests {
    use modelc_interp::{Array, Data, Interpreter};
    use modelc_ir::{Graph, Model, OnnxOp};
    use ndarray::{ArrayD, IxDyn};

    use crate::quant::{self, Mode, QuantConfig};

    const NET: &str = r#"graph main(%x: f32[1,2,4,4]) -> (%y) {
  %w = const f32[3,2,1,1] [0.5, -0.25, 1.0, 0.75, -0.5, 0.125]
  %b = const f32[3] [0.1, -0.2, 0.3]
  %c = Conv(%x, %w, %b) {kernel_shape=[1,1]}
  %r = Relu(%c)
  %s = const i64[2] [1, 48]
  %f = Reshape(%r, %s)
  %gw = const f32[48,2] [0.1, -0.3, 0.2, 0.4, -0.5, 0.6, 0.7, -0.8, 0.9, 1.0, -1.1, 0.2, 0.1, -0.3, 0.2, 0.4, -0.5, 0.6, 0.7, -0.8, 0.9, 1.0, -1.1, 0.2, 0.1, -0.3, 0.2, 0.4, -0.5, 0.6, 0.7, -0.8, 0.9, 1.0, -1.1, 0.2, 0.1, -0.3, 0.2, 0.4, -0.5, 0.6, 0.7, -0.8, 0.9, 1.0, -1.1, 0.2, 0.1, -0.3, 0.2, 0.4, -0.5, 0.6, 0.7, -0.8, 0.9, 1.0, -1.1, 0.2, 0.1, -0.3, 0.2, 0.4, -0.5, 0.6, 0.7, -0.8, 0.9, 1.0, -1.1, 0.2, 0.1, -0.3, 0.2, 0.4, -0.5, 0.6, 0.7, -0.8, 0.9, 1.0, -1.1, 0.2, 0.1, -0.3, 0.2, 0.4, -0.5, 0.6, 0.7, -0.8, 0.9, 1.0, -1.1, 0.2]
  %y = MatMul(%f, %gw)
}"#;

    fn run(m: &Model, x: &[f32]) -> Vec<f32> {
        let input = ArrayD::from_shape_vec(IxDyn(&[1, 2, 4, 4]), x.to_vec()).unwrap();
        let out = Interpreter::new(m)
            .unwrap()
            .run(vec![("x".to_string(), Data::Tensor(Array::F32(input)))])
            .unwrap();
        match &out[0].1 {
            Data::Tensor(Array::F32(a)) => a.iter().copied().collect(),
            other => panic!("unexpected output {other:?}"),
        }
    }

    #[test]
    fn weights_become_int8_and_activations_stay_float() {
        let m = Model::new(Graph::parse(NET).unwrap(), 17);
        let x: Vec<f32> = (0..32).map(|i| ((i * 7 % 13) as f32 - 6.0) / 4.0).collect();
        let sample = {
            let a = ArrayD::from_shape_vec(IxDyn(&[1, 2, 4, 4]), x.clone()).unwrap();
            vec![("x".to_string(), Data::Tensor(Array::F32(a)))]
        };
        let cfg = QuantConfig {
            mode: Mode::Int8Weight,
            ..QuantConfig::default()
        };
        let (q, report) = quant::quantize(&m, &cfg, &[sample], &[]).unwrap();
        let count = |op| {
            q.graph
                .node_ids()
                .filter(|&id| q.graph.node(id).op.onnx() == Some(op))
                .count()
        };
        assert_eq!(
            count(OnnxOp::DequantizeLinear),
            2,
            "the Conv's and the MatMul's weights"
        );
        assert_eq!(count(OnnxOp::QuantizeLinear), 0, "activations stay float");
        assert_eq!(report.layers.iter().filter(|l| l.quantized).count(), 2);
        assert!(report.weight_bytes_after < report.weight_bytes_before);
        let (a, b) = (run(&m, &x), run(&q, &x));
        let dot: f32 = a.iter().zip(&b).map(|(p, q)| p * q).sum();
        let norm = |v: &[f32]| v.iter().map(|p| p * p).sum::<f32>().sqrt();
        assert!(dot / (norm(&a) * norm(&b)) > 0.9999, "{a:?} vs {b:?}");
    }
}
