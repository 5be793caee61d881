//! `fuse-layernorm`: decomposed LayerNorm and RMSNorm (the spellings torch and hand-written
//! code produce) become LayerNormalization / RMSNormalization; near misses stay; the opset
//! gates; outputs unchanged.

use modelc_passes::check;
use modelc_passes::passes::fuse_layernorm::FuseLayerNorm;
use modelc_passes::testing::{check_unchanged, input, pos_vals, run, vals, Check};

fn forms() -> String {
    format!(
        r#"graph main(%x: f32[2,3,8]) -> (%y1, %y2, %y3, %y4) {{
  %axes = const i64[1] [-1]
  %two = const f32[] [2.0]
  %eps = const f32[] [1e-5]
  %one = const f32[] [1.0]
  %gamma = const f32[8] {gamma}
  %beta = const f32[8] {beta}
  %mu = ReduceMean(%x, %axes)
  %d = Sub(%x, %mu)
  %p = Pow(%d, %two)
  %var = ReduceMean(%p, %axes)
  %ve = Add(%var, %eps)
  %s = Sqrt(%ve)
  %n = Div(%d, %s)
  %g1 = Mul(%n, %gamma)
  %y1 = Add(%g1, %beta)
  %axis2 = const i64[1] [2]
  %mu2 = ReduceMean(%x, %axis2)
  %d2 = Sub(%x, %mu2)
  %p2 = Mul(%d2, %d2)
  %var2 = ReduceMean(%p2, %axes)
  %ve2 = Add(%eps, %var2)
  %s2 = Sqrt(%ve2)
  %r2 = Reciprocal(%s2)
  %y2 = Mul(%r2, %d2)
  %p3 = Pow(%x, %two)
  %ms3 = ReduceMean(%p3, %axes)
  %ve3 = Add(%ms3, %eps)
  %s3 = Sqrt(%ve3)
  %r3 = Div(%one, %s3)
  %n3 = Mul(%x, %r3)
  %y3 = Mul(%n3, %gamma)
  %p4 = Mul(%x, %x)
  %ms4 = ReduceMean(%p4, %axes)
  %ve4 = Add(%ms4, %eps)
  %s4 = Sqrt(%ve4)
  %y4 = Div(%x, %s4)
}}"#,
        gamma = pos_vals(8, 1),
        beta = vals(8, 2),
    )
}

fn inputs() -> Vec<(&'static str, modelc_interp::Array)> {
    vec![("x", input(&[2, 3, 8], 1, 3.0))]
}

#[test]
fn layernorm_and_rmsnorm_forms_fuse() {
    let out = check!("fuse-layernorm,dce", &forms(), @r"
    graph main(%x: f32[2,3,8]) -> (%y1, %y2, %y3, %y4) {
      %gamma = const f32[8] [1.009, 1.148, 0.883, 1.295, 1.001, 1.054, 0.565, 1.34]
      %beta = const f32[8] [0.834, 0.383, -0.271, -0.585, -0.12, -0.942, 0.55, -0.607]
      %y1 = LayerNormalization(%x, %gamma, %beta) {axis=-1, epsilon=1e-5}
      %y2_scale = const f32[8] [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]
      %y2 = LayerNormalization(%x, %y2_scale) {axis=-1, epsilon=1e-5}
      %y3 = RMSNormalization(%x, %gamma) {axis=-1, epsilon=1e-5}
      %y4_scale = const f32[8] [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]
      %y4 = RMSNormalization(%x, %y4_scale) {axis=-1, epsilon=1e-5}
    }
    ");
    assert_eq!(out.count("LayerNormalization"), 2);
    assert_eq!(out.count("RMSNormalization"), 2);
    assert_eq!(out.count("ReduceMean"), 0);
    out.assert_same_outputs(&inputs(), 1e-4);
}

#[test]
fn opset_gates_each_form() {
    // Opset 17..22: LayerNormalization exists, RMSNormalization does not.
    let out = run(Check::new(FuseLayerNorm).opset(20), &forms());
    assert_eq!(out.count("LayerNormalization"), 2);
    assert_eq!(out.count("RMSNormalization"), 0);
    assert_eq!(
        out.report.notes,
        ["fuse-layernorm: 2 pattern(s) left decomposed: RMSNormalization needs opset 23, the model imports 20 (convert-opset=23 / --opset 23 moves it there)"]
    );
    out.assert_same_outputs(&inputs(), 1e-4);
    // Below 17 nothing changes.
    check_unchanged(Check::new(FuseLayerNorm).opset(16), &forms());
}

#[test]
fn near_misses_stay() {
    let text = r#"graph main(%x: f32[2,3,8], %e: f32[]) -> (%y1, %y2, %y3, %y4, %d4) {
  %axes = const i64[1] [-1]
  %mid = const i64[1] [1]
  %two = const f32[] [2.0]
  %three = const f32[] [3.0]
  %eps = const f32[] [1e-5]
  %mu = ReduceMean(%x, %mid)
  %d = Sub(%x, %mu)
  %p = Pow(%d, %two)
  %var = ReduceMean(%p, %mid)
  %ve = Add(%var, %eps)
  %s = Sqrt(%ve)
  %y1 = Div(%d, %s)
  %p2 = Pow(%x, %three)
  %ms2 = ReduceMean(%p2, %axes)
  %ve2 = Add(%ms2, %eps)
  %s2 = Sqrt(%ve2)
  %y2 = Div(%x, %s2)
  %p3 = Pow(%x, %two)
  %ms3 = ReduceMean(%p3, %axes)
  %ve3 = Add(%ms3, %e)
  %s3 = Sqrt(%ve3)
  %y3 = Div(%x, %s3)
  %mu4 = ReduceMean(%x, %axes)
  %d4 = Sub(%x, %mu4)
  %p4 = Pow(%d4, %two)
  %var4 = ReduceMean(%p4, %axes)
  %ve4 = Add(%var4, %eps)
  %s4 = Sqrt(%ve4)
  %y4 = Div(%d4, %s4)
}"#;
    // Middle axis; cube; eps not a constant; the centred value is also a graph output.
    let out = check_unchanged("fuse-layernorm", text);
    assert_eq!(out.count("LayerNormalization"), 0);
    assert_eq!(out.count("RMSNormalization"), 0);
}
