//! `quantize-bias`: float biases of QDQ Conv / ConvTranspose / Gemm become int32 with scale
//! = input scale × weight scale; ops whose input or weight scales do not give that scale
//! keep their float bias; outputs move by at most half a bias step.

use modelc_interp::Data;
use modelc_ir::Graph;
use modelc_passes::check;
use modelc_passes::passes::quantize_bias::{quantize_biases, BiasScope};
use modelc_passes::testing::{input, interpret};

/// A QDQ Conv (per-channel weight scales, axis 0), a ConvTranspose (per channel, axis 1)
/// and a Gemm (transB, beta 0.5, per-tensor weight scale), all with float biases.
const QDQ: &str = r#"graph main(%x: f32[1,2,3,3], %a: f32[2,3]) -> (%y1, %y2, %y3) {
  %sx = const f32[] [0.05]
  %zx = const u8[] [128]
  %xq = QuantizeLinear(%x, %sx, %zx)
  %xd = DequantizeLinear(%xq, %sx, %zx)
  %w1 = const i8[3,2,1,1] [10, -20, 30, -40, 50, -60]
  %s1 = const f32[3] [0.01, 0.02, 0.04]
  %z1 = const i8[3] [0, 0, 0]
  %w1d = DequantizeLinear(%w1, %s1, %z1) {axis=0}
  %b1 = const f32[3] [0.1, -0.2, 0.3001]
  %y1 = Conv(%xd, %w1d, %b1) {kernel_shape=[1,1]}
  %w2 = const i8[2,3,1,1] [1, 2, 3, 4, 5, 6]
  %s2 = const f32[3] [0.5, 0.25, 0.125]
  %w2d = DequantizeLinear(%w2, %s2) {axis=1}
  %b2 = const f32[3] [1.0, 2.0, -3.0]
  %y2 = ConvTranspose(%xd, %w2d, %b2) {kernel_shape=[1,1]}
  %sa = const f32[] [0.1]
  %aq = QuantizeLinear(%a, %sa)
  %ad = DequantizeLinear(%aq, %sa)
  %w3 = const i8[2,3] [7, -7, 3, -3, 1, -1]
  %s3 = const f32[] [0.2]
  %w3d = DequantizeLinear(%w3, %s3)
  %b3 = const f32[2] [0.33, -0.71]
  %y3 = Gemm(%ad, %w3d, %b3) {transB=1, beta=0.5}
}"#;

fn outputs(g: &Graph) -> Vec<Vec<f64>> {
    let inputs = [
        ("x", input(&[1, 2, 3, 3], 1, 3.0)),
        ("a", input(&[2, 3], 2, 3.0)),
    ];
    interpret(g, &inputs, None)
        .iter()
        .map(|(_, d)| match d {
            Data::Tensor(t) => t.to_f64_vec().unwrap(),
            _ => panic!("tensor output expected"),
        })
        .collect()
}

/// The int32 values and the scale constant the DequantizeLinear feeding `bias` of the
/// printed graph reads.
fn int32_bias(printed: &str, bias: &str) -> (String, String) {
    let def = |name: &str| {
        printed
            .lines()
            .find_map(|l| l.trim().strip_prefix(&format!("%{name} = const ")))
            .unwrap_or_else(|| panic!("no constant {name} in\n{printed}"))
            .to_string()
    };
    (def(&format!("{bias}_i32")), def(&format!("{bias}_s")))
}

#[test]
fn float_biases_of_qdq_ops_become_int32() {
    let out = check!("quantize-bias", QDQ);
    let printed = &out.printed;
    // round(b / (sx * sw)), worked out by hand: Conv 0.1/0.0005 = 200, -0.2/0.001 = -200,
    // 0.3001/0.002 = 150.05 -> 150; ConvTranspose 1/0.025 = 40, 2/0.0125 = 160,
    // -3/0.00625 = -480; Gemm (beta 0.5 folded in) 0.165/0.02 = 8.25 -> 8,
    // -0.355/0.02 = -17.75 -> -18.
    assert_eq!(
        int32_bias(printed, "b1"),
        (
            "i32[3] [200, -200, 150]".into(),
            "f32[3] [0.0005, 0.001, 0.002]".into()
        )
    );
    assert_eq!(int32_bias(printed, "b2").0, "i32[3] [40, 160, -480]");
    assert_eq!(int32_bias(printed, "b3").0, "i32[2] [8, -18]");
    assert!(printed.contains("%b1_DQ = DequantizeLinear(%b1_i32, %b1_s) {axis=0}"));
    assert!(printed.contains("%b3_DQ = DequantizeLinear(%b3_i32, %b3_s)\n"));
    assert!(printed.contains("beta=1.0"), "Gemm's beta is folded in");
    // Each output moves by at most half a step of its bias.
    let half_steps = [0.5 * 0.05 * 0.04, 0.5 * 0.05 * 0.5, 0.5 * 0.1 * 0.2];
    for ((b, a), half) in outputs(&out.before)
        .iter()
        .zip(outputs(&out.after))
        .zip(half_steps)
    {
        for (p, q) in b.iter().zip(&a) {
            assert!((p - q).abs() <= half + 1e-6, "{p} vs {q}");
        }
    }
}

#[test]
fn except_conv_leaves_conv_biases_float() {
    let mut g = Graph::parse(QDQ).unwrap();
    assert_eq!(quantize_biases(&mut g, BiasScope::ExceptConv), 2);
    let printed = modelc_ir::text::print_graph(&g, &Default::default());
    assert!(printed.contains("%y1 = Conv(%xd, %w1d, %b1)"), "{printed}");
    assert!(printed.contains("%b2_i32 = const i32[3]"));
    assert!(printed.contains("%b3_i32 = const i32[2]"));
}

#[test]
fn ops_without_a_bias_scale_keep_float_biases() {
    // Input not dequantized; weight scales along the wrong axis; Gemm alpha != 1; a bias
    // that is not a constant; blocked weight scales.
    let text = r#"graph main(%x: f32[1,2,3,3], %a: f32[2,4], %c: f32[3]) -> (%y1, %y2, %y3, %y4, %y5) {
  %w = const i8[3,2,1,1] [1, 2, 3, 4, 5, 6]
  %sw = const f32[3] [0.1, 0.2, 0.3]
  %wd = DequantizeLinear(%w, %sw) {axis=0}
  %b = const f32[3] [0.1, 0.2, 0.3]
  %y1 = Conv(%x, %wd, %b) {kernel_shape=[1,1]}
  %sx = const f32[] [0.05]
  %xq = QuantizeLinear(%x, %sx)
  %xd = DequantizeLinear(%xq, %sx)
  %w2 = const i8[3,3,1,1] [1, 2, 3, 4, 5, 6, 7, 8, 9]
  %w2d = DequantizeLinear(%w2, %sw) {axis=1}
  %y2 = Conv(%xd, %w2d, %b) {kernel_shape=[1,1], pads=[0,0,0,0]}
  %sa = const f32[] [0.1]
  %aq = QuantizeLinear(%a, %sa)
  %ad = DequantizeLinear(%aq, %sa)
  %g = const i8[3,4] [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]
  %gd = DequantizeLinear(%g, %sw) {axis=0}
  %y3 = Gemm(%ad, %gd, %b) {transB=1, alpha=2.0}
  %y4 = Conv(%xd, %wd, %c) {kernel_shape=[1,1]}
  %sb = const f32[3,1] [0.1, 0.2, 0.3]
  %w5d = DequantizeLinear(%g, %sb) {axis=1, block_size=4}
  %y5 = Gemm(%ad, %w5d, %b) {transB=1}
}"#;
    let mut g = Graph::parse(text).unwrap();
    assert_eq!(quantize_biases(&mut g, BiasScope::All), 0);
}
