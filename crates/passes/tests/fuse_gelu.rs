//! `fuse-gelu`: the erf and tanh forms torch, hand-written code and ONNX's own function body
//! (two-input `Sum`) produce become `Gelu`;
//! near misses stay; nothing fuses below opset 20; outputs unchanged.

use modelc_passes::check;
use modelc_passes::passes::fuse_gelu::FuseGelu;
use modelc_passes::testing::{check_unchanged, input, Check};

const FORMS: &str = r#"graph main(%x: f32[2,8]) -> (%y1, %y2, %y3, %y4, %y5) {
  %sqrt2 = const f32[] [1.4142135]
  %one = const f32[] [1.0]
  %half = const f32[] [0.5]
  %d1 = Div(%x, %sqrt2)
  %e1 = Erf(%d1)
  %a1 = Add(%e1, %one)
  %m1 = Mul(%x, %a1)
  %y1 = Mul(%m1, %half)
  %h2 = Mul(%x, %half)
  %isqrt2 = const f32[] [0.70710677]
  %d2 = Mul(%isqrt2, %x)
  %e2 = Erf(%d2)
  %a2 = Sum(%one, %e2)
  %y2 = Mul(%h2, %a2)
  %typed = const f32[1] [1.4142]
  %d3 = Div(%x, %typed)
  %e3 = Erf(%d3)
  %a3 = Add(%e3, %one)
  %m3 = Mul(%a3, %half)
  %y3 = Mul(%m3, %x)
  %sq = Mul(%x, %x)
  %cube = Mul(%x, %sq)
  %k = const f32[] [0.044715]
  %kc = Mul(%k, %cube)
  %in = Add(%x, %kc)
  %c = const f32[] [0.7978846]
  %t = Mul(%c, %in)
  %th = Tanh(%t)
  %a4 = Add(%one, %th)
  %m4 = Mul(%x, %a4)
  %y4 = Mul(%half, %m4)
  %three = const f32[] [3.0]
  %cube5 = Pow(%x, %three)
  %kc5 = Mul(%cube5, %k)
  %in5 = Sum(%kc5, %x)
  %t5 = Mul(%in5, %c)
  %th5 = Tanh(%t5)
  %a5 = Add(%th5, %one)
  %m5 = Mul(%a5, %x)
  %y5 = Mul(%m5, %half)
}"#;

#[test]
fn erf_and_tanh_forms_become_gelu() {
    let out = check!("fuse-gelu,dce", FORMS, @r#"
    graph main(%x: f32[2,8]) -> (%y1, %y2, %y3, %y4, %y5) {
      %y1 = Gelu(%x)
      %y2 = Gelu(%x)
      %y3 = Gelu(%x)
      %y4 = Gelu(%x) {approximate="tanh"}
      %y5 = Gelu(%x) {approximate="tanh"}
    }
    "#);
    assert_eq!(out.count("Gelu"), 5);
    assert_eq!(out.after.node_count(), 6);
    out.assert_same_outputs(&[("x", input(&[2, 8], 1, 2.0))], 2e-4);
}

#[test]
fn near_misses_stay() {
    let text = r#"graph main(%x: f32[2,8]) -> (%y1, %e2, %y2, %y3, %y4) {
  %sqrt2 = const f32[] [1.4142135]
  %one = const f32[] [1.0]
  %two = const f32[] [2.0]
  %half = const f32[] [0.5]
  %d1 = Div(%x, %sqrt2)
  %e1 = Erf(%d1)
  %a1 = Add(%e1, %two)
  %m1 = Mul(%x, %a1)
  %y1 = Mul(%m1, %half)
  %d2 = Div(%x, %sqrt2)
  %e2 = Erf(%d2)
  %a2 = Add(%e2, %one)
  %m2 = Mul(%x, %a2)
  %y2 = Mul(%m2, %half)
  %k = const f32[] [1.5]
  %d3 = Div(%x, %k)
  %e3 = Erf(%d3)
  %a3 = Add(%e3, %one)
  %m3 = Mul(%x, %a3)
  %y3 = Mul(%m3, %half)
  %d4 = Div(%sqrt2, %x)
  %e4 = Erf(%d4)
  %a4 = Add(%e4, %one)
  %m4 = Mul(%x, %a4)
  %y4 = Mul(%m4, %half)
}"#;
    // 1 + erf replaced by 2 + erf; erf's result also a graph output; x / 1.5; √2 / x.
    let out = check_unchanged("fuse-gelu", text);
    assert_eq!(out.count("Gelu"), 0);
}

#[test]
fn nothing_fuses_below_opset_20() {
    // Said once, however often the pass runs, with the count of patterns left.
    let twice = vec![Box::new(FuseGelu) as _, Box::new(FuseGelu) as _];
    let out = check_unchanged(Check::new(twice).opset(17), FORMS);
    assert_eq!(out.report.steps.len(), 2);
    assert_eq!(
        out.report.notes,
        ["fuse-gelu: 5 GELU pattern(s) left decomposed: Gelu needs opset 20, the model imports 17 (convert-opset=20 / --opset 20 moves it there)"]
    );
}
