//! Snapshot and numeric tests of the cleanup passes: the text form before → after, and the
//! interpreter's outputs unchanged.

use modelc_interp::Array;
use modelc_ir::Graph;
use modelc_passes::check;
use modelc_passes::registry::pipeline;

const CHAIN: &str = r#"graph main(%x: f32[2,3]) -> (%y, %z) {
  %w = const f32[3] [1.0, 2.0, 3.0]
  %unused = const f32[2] [7.0, 8.0]
  %i = Identity(%x)
  %a = Add(%i, %w)
  %d, %mask = Dropout(%a)
  %dead = Mul(%a, %a)
  %dead2 = Relu(%dead)
  %r = Relu(%d)
  %y = Identity(%r)
  %z = Identity(%x)
}"#;

fn input() -> Vec<(&'static str, Array)> {
    let x = ndarray::ArrayD::from_shape_vec(
        ndarray::IxDyn(&[2, 3]),
        vec![-1.0f32, 0.5, 2.0, -3.0, 4.0, 0.0],
    )
    .unwrap();
    vec![("x", Array::F32(x))]
}

#[test]
fn identity_then_dce() {
    let out = check!("identity,dce", CHAIN, @r"
    graph main(%x: f32[2,3]) -> (%y, %z) {
      %w = const f32[3] [1.0, 2.0, 3.0]
      %a = Add(%x, %w)
      %y = Relu(%a)
      %z = Identity(%x)
    }
    ");
    out.assert_same_outputs(&input(), 0.0);
}

#[test]
fn dce_alone_keeps_passthroughs() {
    let out = check!("dce", CHAIN, @r"
    graph main(%x: f32[2,3]) -> (%y, %z) {
      %w = const f32[3] [1.0, 2.0, 3.0]
      %i = Identity(%x)
      %a = Add(%i, %w)
      %d, %mask = Dropout(%a)
      %r = Relu(%d)
      %y = Identity(%r)
      %z = Identity(%x)
    }
    ");
    out.assert_same_outputs(&input(), 0.0);
}

/// Sub-graphs are cleaned too, but a value a sub-graph reads by name is left alone.
#[test]
fn sub_graphs_and_captured_values() {
    let text = r#"graph main(%c: bool[], %x: f32[2]) -> (%out) {
  %x2 = Identity(%x)
  %out = If(%c) {then_branch=graph then() outer(%x2) -> (%t) {
    %k = Identity(%x2)
    %t = Neg(%k)
  }, else_branch=graph else() outer(%x2) -> (%e) {
    %junk = Abs(%x2)
    %e = Relu(%x2)
  }} captures(%x2)
}"#;
    let out = check!("identity,dce", text, @r"
    graph main(%c: bool[], %x: f32[2]) -> (%out) {
      %x2 = Identity(%x)
      %out = If(%c) {then_branch=graph then() outer(%x2) -> (%t) {
        %t = Neg(%x2)
      }, else_branch=graph else() outer(%x2) -> (%e) {
        %e = Relu(%x2)
      }} captures(%x2)
    }
    ");
    let x = ndarray::ArrayD::from_shape_vec(ndarray::IxDyn(&[2]), vec![-1.0f32, 2.0]).unwrap();
    for c in [true, false] {
        let cond = Array::Bool(ndarray::ArrayD::from_elem(ndarray::IxDyn(&[]), c));
        out.assert_same_outputs(&[("c", cond), ("x", Array::F32(x.clone()))], 0.0);
    }
}

#[test]
fn unknown_pass_names_are_errors() {
    let err = pipeline("dce,frobnicate").err().expect("an error");
    assert_eq!(
        err.to_string(),
        "unknown pass `frobnicate` (`modelc passes` lists them)"
    );
}

#[test]
fn stop_after_bisects() {
    let mut g = Graph::parse(CHAIN).unwrap();
    let mut pm = modelc_passes::PassManager::new(pipeline("identity,dce").unwrap());
    pm.stop_after = Some(1);
    let report = pm.run_graph(&mut g).unwrap();
    assert_eq!(report.steps.len(), 1);
    assert_eq!(report.steps[0].pass, "identity");
    assert!(!report.converged);
}
