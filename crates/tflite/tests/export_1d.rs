//! 1-D convolution and pooling export as TensorFlow writes `conv1d`: a unit height added once
//! (RESHAPE), 2-D ops throughout, and removed once at the end. A chain of them never goes
//! back to 3-D between ops, activations still fuse into the convolution, and a quantized
//! chain stays int8. (Numbers against LiteRT and onnxruntime: tests/tflite_interop.py,
//! layout forms `*-1d`.)

use modelc_ir::{Graph, Model};
use modelc_tflite::fb;

/// Text-form values in [-0.5, 0.5) (deterministic; the structure is what is checked).
fn vals(n: usize) -> String {
    let v: Vec<String> = (0..n)
        .map(|i| format!("{:.3}", ((i * 37 % 101) as f32 / 101.0) - 0.5))
        .collect();
    format!("[{}]", v.join(", "))
}

/// The builtin op of each operator of the written file, and its fused activation if any.
fn ops(model: &Model) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.tflite");
    modelc_tflite::write(model, &path, &Default::default()).unwrap_or_else(|e| panic!("{e}"));
    let bytes = std::fs::read(&path).unwrap();
    let m = fb::root_as_model(&bytes).unwrap();
    let codes = m.operator_codes().unwrap();
    let sg = m.subgraphs().unwrap().get(0);
    sg.operators()
        .unwrap()
        .iter()
        .map(|op| {
            let code = codes.get(op.opcode_index() as usize).builtin_code();
            let act = op
                .builtin_options_as_conv_2_doptions()
                .map(|o| o.fused_activation_function())
                .filter(|a| *a != fb::ActivationFunctionType::NONE);
            match act {
                Some(a) => format!(
                    "{}+{}",
                    code.variant_name().unwrap(),
                    a.variant_name().unwrap()
                ),
                None => code.variant_name().unwrap().to_string(),
            }
        })
        .collect()
}

fn model(text: &str) -> Model {
    let g = Graph::parse(text).unwrap_or_else(|e| panic!("{e}"));
    Model::new(g, 17)
}

#[test]
fn a_chain_of_1d_ops_stays_2d_between_them() {
    let text = format!(
        r#"graph main(%x: f32[1,3,30]) -> (%y) {{
  %w1 = const f32[6,3,3] {}
  %b1 = const f32[6] {}
  %c1 = Conv(%x, %w1, %b1) {{pads=[1,1]}}
  %r1 = Relu(%c1)
  %w2 = const f32[6,1,5] {}
  %c2 = Conv(%r1, %w2) {{group=6, pads=[2,2]}}
  %p = MaxPool(%c2) {{kernel_shape=[3], strides=[3]}}
  %a = AveragePool(%p) {{kernel_shape=[2], strides=[1]}}
  %wt = const f32[6,4,4] {}
  %y = ConvTranspose(%a, %wt) {{strides=[2], pads=[1,1]}}
}}"#,
        vals(54),
        vals(6),
        vals(30),
        vals(96)
    );
    assert_eq!(
        ops(&model(&text)),
        [
            "RESHAPE",
            "CONV_2D+RELU",
            "DEPTHWISE_CONV_2D",
            "MAX_POOL_2D",
            "AVERAGE_POOL_2D",
            "TRANSPOSE_CONV",
            "RESHAPE"
        ]
    );
}

#[test]
fn a_quantized_1d_conv_stays_int8() {
    let weights: Vec<String> = (0..36i32).map(|i| (i * 7 % 21 - 10).to_string()).collect();
    let text = format!(
        r#"graph main(%x: f32[1,3,16]) -> (%y) {{
  %s = const f32[] [0.05]
  %z = const i8[] [0]
  %xq = QuantizeLinear(%x, %s, %z)
  %xd = DequantizeLinear(%xq, %s, %z)
  %wq = const i8[4,3,3] [{}]
  %ws = const f32[4] [0.01, 0.02, 0.03, 0.04]
  %wz = const i8[4] [0, 0, 0, 0]
  %wd = DequantizeLinear(%wq, %ws, %wz) {{axis=0}}
  %c = Conv(%xd, %wd) {{pads=[1,1]}}
  %cq = QuantizeLinear(%c, %s, %z)
  %cd = DequantizeLinear(%cq, %s, %z)
  %r = Relu(%cd)
  %rq = QuantizeLinear(%r, %s, %z)
  %y = DequantizeLinear(%rq, %s, %z)
}}"#,
        weights.join(", ")
    );
    let ops = ops(&model(&text));
    assert!(
        ops.iter().any(|o| o.starts_with("CONV_2D")),
        "no CONV_2D: {ops:?}"
    );
    // The int8 convolution reads the quantized input: the one RESHAPE to 4-D is before or
    // after QUANTIZE, never between a DEQUANTIZE and the convolution (which would make it a
    // float convolution).
    assert_eq!(ops.iter().filter(|o| *o == "RESHAPE").count(), 2, "{ops:?}");
    assert_eq!(
        ops.iter().filter(|o| *o == "DEQUANTIZE").count(),
        1,
        "{ops:?}"
    );
}
