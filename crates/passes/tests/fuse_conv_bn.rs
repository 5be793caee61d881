//! `fuse-conv-bn`: BatchNormalization folded into Conv (with and without bias, NCHW and
//! NHWC), grouped ConvTranspose, Gemm and 2-D MatMul; the cases that must stay; outputs unchanged.

use modelc_passes::check;
use modelc_passes::testing::{input, pos_vals, vals};

fn bn_params(m: usize, seed: u64) -> String {
    format!(
        "  %s{seed} = const f32[{m}] {}\n  %b{seed} = const f32[{m}] {}\n  %m{seed} = const f32[{m}] {}\n  %v{seed} = const f32[{m}] {}\n",
        pos_vals(m, seed),
        vals(m, seed + 1),
        vals(m, seed + 2),
        pos_vals(m, seed + 3)
    )
}

fn fusable() -> String {
    format!(
        r#"graph main(%x: f32[1,2,5,5], %t: f32[1,4,3,3], %h: f32[1,5,5,2], %a: f32[2,3]) -> (%y1, %y2, %y3, %y4, %y5, %y6) {{
  %w1 = const f32[3,2,2,2] {w1}
  %c1 = const f32[3] {c1}
  %conv1 = Conv(%x, %w1, %c1) {{pads=[1,1,0,0]}} layout=NCHW
{p1}  %y1 = BatchNormalization(%conv1, %s1, %b1, %m1, %v1) {{epsilon=0.001}} layout=NCHW
  %w2 = const f32[4,1,3,3] {w2}
  %conv2 = Conv(%x, %w2) {{group=2}} layout=NCHW
{p2}  %y2 = BatchNormalization(%conv2, %s11, %b11, %m11, %v11) layout=NCHW
  %w3 = const f32[4,2,2,2] {w3}
  %deconv = ConvTranspose(%t, %w3) {{group=2, strides=[2,2]}} layout=NCHW
{p3}  %y3 = BatchNormalization(%deconv, %s21, %b21, %m21, %v21) layout=NCHW
  %w4 = const f32[3,2,2,2] {w4}
  %conv4 = Conv(%h, %w4) layout=NHWC
{p4}  %y4 = BatchNormalization(%conv4, %s31, %b31, %m31, %v31) layout=NHWC
  %w5 = const f32[4,3] {w5}
  %c5 = const f32[4] {c5}
  %gemm = Gemm(%a, %w5, %c5) {{transB=1, beta=0.5}}
{p5}  %y5 = BatchNormalization(%gemm, %s41, %b41, %m41, %v41) layout=NCHW
  %w6 = const f32[3,4] {w6}
  %mm = MatMul(%a, %w6)
{p6}  %y6 = BatchNormalization(%mm, %s51, %b51, %m51, %v51) layout=NCHW
}}"#,
        w1 = vals(24, 100),
        c1 = vals(3, 101),
        p1 = bn_params(3, 1),
        w2 = vals(36, 102),
        p2 = bn_params(4, 11),
        w3 = vals(32, 103),
        p3 = bn_params(4, 21),
        w4 = vals(24, 104),
        p4 = bn_params(3, 31),
        w5 = vals(12, 105),
        c5 = vals(4, 106),
        p5 = bn_params(4, 41),
        w6 = vals(12, 107),
        p6 = bn_params(4, 51),
    )
}

#[test]
fn folds_bn_into_conv_conv_transpose_gemm_and_matmul() {
    let out = check!("fuse-conv-bn", &fusable());
    assert_eq!(out.count("BatchNormalization"), 0);
    assert_eq!(out.count("Conv"), 3);
    assert_eq!(out.count("ConvTranspose"), 1);
    assert_eq!(out.count("Gemm"), 2);
    assert_eq!(out.count("MatMul"), 0);
    out.assert_same_outputs(
        &[
            ("x", input(&[1, 2, 5, 5], 1, 2.0)),
            ("t", input(&[1, 4, 3, 3], 2, 2.0)),
            ("h", input(&[1, 5, 5, 2], 3, 2.0)),
            ("a", input(&[2, 3], 4, 2.0)),
        ],
        1e-5,
    );
}

#[test]
fn leaves_shared_results_shared_weights_and_training_bn() {
    let before = format!(
        r#"graph main(%x: f32[1,2,5,5]) -> (%y1, %r, %y2, %y3, %y4, %y5, %y6) {{
  %w1 = const f32[3,2,2,2] {w1}
  %conv1 = Conv(%x, %w1) layout=NCHW
  %r = Relu(%conv1)
{p1}  %y1 = BatchNormalization(%conv1, %s1, %b1, %m1, %v1) layout=NCHW
  %conv2 = Conv(%x, %w1) layout=NCHW
  %conv3 = Conv(%x, %w1) {{pads=[1,1,0,0]}} layout=NCHW
  %y2 = BatchNormalization(%conv2, %s1, %b1, %m1, %v1) layout=NCHW
  %y3 = Add(%conv3, %conv3)
  %w4 = const f32[3,2,2,2] {w4}
  %conv4 = Conv(%x, %w4) layout=NCHW
  %y4, %rm, %rv = BatchNormalization(%conv4, %s1, %b1, %m1, %v1) {{training_mode=1}} layout=NCHW
  %w5 = const f32[3,2,2,2] {w5}
  %conv5 = Conv(%x, %w5) layout=NCHW
  %y5 = BatchNormalization(%conv5, %s1, %b1, %m1, %v1) layout=NCHW
  %w6 = const f32[3,2,2,2] {w6}
  %c6 = const f32[3] {c6}
  %conv6 = Conv(%x, %w6, %c6) layout=NCHW
  %y6 = BatchNormalization(%conv6, %s1, %b1, %m1, %v1) layout=NCHW
}}"#,
        w1 = vals(24, 100),
        p1 = bn_params(3, 1),
        w4 = vals(24, 104),
        w5 = vals(24, 105),
        w6 = vals(24, 106),
        c6 = vals(3, 107),
    );
    // conv1 is read twice; w1 feeds three convs (folding would copy it); the third BN trains.
    // BNs sharing parameters with others still fold, into a new bias (conv5) or in place
    // (conv6).
    let out = check!("fuse-conv-bn", &before);
    assert_eq!(out.count("BatchNormalization"), 3);
    assert!(out.printed.contains("%y6 = Conv(%x, %w6, %c6)"));
    // Relative 1e-3: an element near zero (3e-3, from cancelling terms) moves by 4e-7 when the
    // BN is folded into the weights, float rounding.
    out.assert_same_outputs(&[("x", input(&[1, 2, 5, 5], 1, 2.0))], 1e-3);
}
