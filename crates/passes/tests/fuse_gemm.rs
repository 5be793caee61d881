//! `fuse-gemm`: 2-D MatMul with a constant weight plus a constant bias becomes Gemm; MatMuls
//! of other ranks, or of unknown rank, stay; outputs unchanged.

use modelc_passes::check;
use modelc_passes::testing::{input, vals};

#[test]
fn matmul_add_becomes_gemm_only_when_two_dimensional() {
    let text = format!(
        r#"graph main(%a: f32[2,3], %t: f32[2,1,3], %u: f32[2,3,1]) -> (%y1, %y2, %y3, %y4) {{
  %w = const f32[3,4] {w}
  %b = const f32[4] {b}
  %mm1 = MatMul(%a, %w)
  %y1 = Add(%mm1, %b)
  %f = Flatten(%u)
  %mm2 = MatMul(%f, %w)
  %b2 = const f32[1,4] {b2}
  %y2 = Add(%b2, %mm2)
  %mm3 = MatMul(%t, %w)
  %y3 = Add(%mm3, %b)
  %mm4 = MatMul(%a, %w)
  %b4 = const f32[2,4] {b4}
  %y4 = Add(%mm4, %b4)
}}"#,
        w = vals(12, 1),
        b = vals(4, 2),
        b2 = vals(4, 3),
        b4 = vals(8, 4),
    );
    // mm1 (typed 2-D input) and mm2 (after Flatten) fuse; the 3-D mm3 and the full-shape
    // bias of mm4 stay.
    let out = check!("fuse-gemm", &text);
    assert_eq!(out.count("Gemm"), 2);
    assert_eq!(out.count("MatMul"), 2);
    out.assert_same_outputs(
        &[
            ("a", input(&[2, 3], 1, 2.0)),
            ("t", input(&[2, 1, 3], 2, 2.0)),
            ("u", input(&[2, 3, 1], 3, 2.0)),
        ],
        1e-6,
    );
}
