//! `fuse-bias`: constant per-channel Adds folded into Conv / ConvTranspose / Gemm biases;
//! Adds that broadcast differently stay; outputs unchanged.

use modelc_passes::check;
use modelc_passes::testing::{check_unchanged, input, vals};

#[test]
fn folds_per_channel_adds_into_biases() {
    let text = format!(
        r#"graph main(%x: f32[1,2,4,4], %h: f32[1,4,4,2], %a: f32[2,3]) -> (%y1, %y2, %y3, %y4, %y5) {{
  %w1 = const f32[3,2,1,1] {w1}
  %conv1 = Conv(%x, %w1) layout=NCHW
  %k1 = const f32[1,3,1,1] {k1}
  %y1 = Add(%conv1, %k1)
  %w2 = const f32[3,2,1,1] {w2}
  %b2 = const f32[3] {b2}
  %conv2 = Conv(%x, %w2, %b2) layout=NCHW
  %k2 = const f32[3,1,1] {k2}
  %y2 = Add(%k2, %conv2)
  %w3 = const f32[2,3,2,2] {w3}
  %deconv = ConvTranspose(%x, %w3) layout=NCHW
  %k3 = const f32[] [0.5]
  %y3 = Add(%deconv, %k3)
  %w4 = const f32[3,1,1,2] {w4}
  %conv4 = Conv(%h, %w4) layout=NHWC
  %k4 = const f32[3] {k4}
  %y4 = Add(%conv4, %k4)
  %w5 = const f32[3,4] {w5}
  %c5 = const f32[1,4] {c5}
  %gemm = Gemm(%a, %w5, %c5) {{beta=2.0}}
  %k5 = const f32[4] {k5}
  %y5 = Add(%gemm, %k5)
}}"#,
        w1 = vals(6, 1),
        k1 = vals(3, 2),
        w2 = vals(6, 3),
        b2 = vals(3, 4),
        k2 = vals(3, 5),
        w3 = vals(24, 6),
        w4 = vals(6, 7),
        k4 = vals(3, 8),
        w5 = vals(12, 9),
        c5 = vals(4, 10),
        k5 = vals(4, 11),
    );
    let out = check!("fuse-bias", &text);
    assert_eq!(out.count("Add"), 0);
    out.assert_same_outputs(
        &[
            ("x", input(&[1, 2, 4, 4], 1, 2.0)),
            ("h", input(&[1, 4, 4, 2], 2, 2.0)),
            ("a", input(&[2, 3], 3, 2.0)),
        ],
        1e-5,
    );
}

#[test]
fn leaves_adds_that_are_not_per_channel_bias() {
    let text = format!(
        r#"graph main(%x: f32[1,2,4,4], %z: f32[1,3,4,4]) -> (%y1, %y2, %y3, %y4) {{
  %w1 = const f32[3,2,1,1] {w1}
  %conv1 = Conv(%x, %w1) layout=NCHW
  %k1 = const f32[1,1,1,4] {k1}
  %y1 = Add(%conv1, %k1)
  %conv2 = Conv(%x, %w1) layout=NCHW
  %k2 = const f32[1,1,3,1,1] {k2}
  %y2 = Add(%conv2, %k2)
  %conv3 = Conv(%x, %w1) layout=NCHW
  %y3 = Add(%conv3, %z)
  %k4 = const f32[3,1,1] {k4}
  %y4 = Add(%conv3, %k4)
}}"#,
        w1 = vals(6, 1),
        k1 = vals(4, 2),
        k2 = vals(3, 3),
        k4 = vals(3, 4),
    );
    // A per-width add, an add that raises the rank, a non-constant add, and a conv result
    // read twice all stay.
    let out = check_unchanged("fuse-bias", &text);
    assert_eq!(out.count("Add"), 4);
}

#[test]
fn shared_bias_constants_are_reused_not_copied() {
    let text = format!(
        r#"graph main(%x: f32[1,2,4,4]) -> (%y1, %y2, %y3, %y4) {{
  %w1 = const f32[3,2,1,1] {w1}
  %w2 = const f32[3,2,1,1] {w2}
  %flat = const f32[3,1,1] {k}
  %conv1 = Conv(%x, %w1) layout=NCHW
  %y1 = Add(%conv1, %flat)
  %conv2 = Conv(%x, %w2) layout=NCHW
  %y2 = Add(%conv2, %flat)
  %k = const f32[3] {k}
  %h = Transpose(%x) {{perm=[0,2,3,1]}}
  %w3 = const f32[3,1,1,2] {w1}
  %conv3 = Conv(%h, %w3) layout=NHWC
  %y3 = Add(%conv3, %k)
  %w4 = const f32[3,1,1,2] {w2}
  %conv4 = Conv(%h, %w4) layout=NHWC
  %y4 = Add(%k, %conv4)
}}"#,
        w1 = vals(6, 1),
        w2 = vals(6, 2),
        k = vals(3, 3),
    );
    // A shared [3,1,1] constant would need a new [3] copy per conv: those Adds stay. A
    // shared [3] constant is already a bias: both convs read it.
    let out = check!("fuse-bias,dce", &text);
    assert_eq!(out.count("Add"), 2);
    let printed = &out.printed;
    assert!(printed.contains("Conv(%h, %w3, %k)") && printed.contains("Conv(%h, %w4, %k)"));
    out.assert_same_outputs(&[("x", input(&[1, 2, 4, 4], 1, 2.0))], 1e-6);
}
