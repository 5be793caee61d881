//! `fp16-weights`: Conv / MatMul / Gemm weights become float16 constants widened by a Cast;
//! a grouped (depthwise) filter, a constant another op also reads, biases and scalars stay
//! float32; the outputs move by float16 rounding only.

use modelc_ir::{DType, Op};
use modelc_passes::testing::{run, vals};

#[test]
fn weights_are_stored_in_float16() {
    let text = format!(
        r#"graph main(%x: f32[1,2,4,4], %m: f32[3,4]) -> (%y, %z, %u) {{
  %w = const f32[2,2,3,3] {w}
  %b = const f32[2] [0.5, -0.25]
  %dw = const f32[2,1,3,3] {dw}
  %c = Conv(%x, %w, %b) {{pads=[1,1,1,1]}}
  %y = Conv(%c, %dw) {{group=2, pads=[1,1,1,1]}}
  %k = const f32[4,5] {k}
  %z = MatMul(%m, %k)
  %s = const f32[3,4] {s}
  %g = Gemm(%m, %s) {{transB=1}}
  %s2 = const f32[3,3] {s2}
  %u = Add(%g, %s2)
}}"#,
        w = vals(36, 1),
        dw = vals(18, 2),
        k = vals(20, 3),
        s = vals(12, 4),
        s2 = vals(9, 5),
    );
    let out = run("fp16-weights", &text);
    let g = &out.after;
    let halves: Vec<_> = g
        .node_ids()
        .filter_map(|id| match &g.node(id).op {
            Op::Const(t) if t.dtype == DType::F16 => Some(t.dims.clone()),
            _ => None,
        })
        .collect();
    // The Conv filter, the MatMul and Gemm weights; not the depthwise filter, the bias, or
    // the Add's constant.
    assert_eq!(halves.len(), 3, "{}", out.printed);
    assert!(halves.contains(&vec![2, 2, 3, 3]), "{halves:?}");
    assert!(halves.contains(&vec![4, 5]), "{halves:?}");
    assert!(halves.contains(&vec![3, 4]), "{halves:?}");
    assert_eq!(out.count("Cast"), 3, "{}", out.printed);
    out.assert_same_outputs(&[], 2e-2);
}

#[test]
fn a_constant_another_op_reads_stays_float32() {
    let text = format!(
        r#"graph main(%m: f32[4,4]) -> (%z, %a) {{
  %k = const f32[4,4] {k}
  %z = MatMul(%m, %k)
  %a = Add(%m, %k)
}}"#,
        k = vals(16, 6),
    );
    let out = run("fp16-weights", &text);
    assert_eq!(out.count("Cast"), 0, "{}", out.printed);
}
