//! Constant folding: snapshots of what folds and what stays, and the interpreter's outputs
//! unchanged.

use modelc_interp::Array;
use modelc_ir::Graph;
use modelc_passes::check;
use modelc_passes::testing::{assert_same_outputs, run};

const GRAPH: &str = r#"graph main(%x: f32[3]) -> (%y, %big, %bad, %k2) {
  %c = const f32[3] [0.0, 1.0, 2.0]
  %e = Exp(%c)
  %y = Add(%x, %e)
  %shape = const i64[1] [1000]
  %big = ConstantOfShape(%shape) {value=f32[1] [1.5]}
  %idx = const i64[1] [7]
  %bad = Gather(%c, %idx)
  %k = Constant() {value=f32[2] [1.0, 2.0]}
  %k2 = Mul(%k, %k)
}"#;

#[test]
fn folds_small_results_and_keeps_growth_and_errors() {
    // Exp and Mul of constants, and the Constant op, become constants; ConstantOfShape
    // (4000 bytes from 8) and the out-of-range Gather stay.
    let out = check!("fold,dce", GRAPH, @r"
    graph main(%x: f32[3]) -> (%y, %big, %bad, %k2) {
      %c = const f32[3] [0.0, 1.0, 2.0]
      %shape = const i64[1] [1000]
      %big = ConstantOfShape(%shape) {value=f32[1] [1.5]}
      %idx = const i64[1] [7]
      %bad = Gather(%c, %idx)
      %e = const f32[3] [1.0, 2.7182817, 7.389056]
      %y = Add(%x, %e)
      %k2 = const f32[2] [1.0, 4.0]
    }
    ");
    assert!(out.count("ConstantOfShape") == 1 && out.count("Gather") == 1);
    assert!(out.count("Exp") == 0 && out.count("Constant") == 0);
}

#[test]
fn folding_keeps_the_results() {
    let after = run("fold,dce", GRAPH).printed;
    // The out-of-range Gather fails at run time either way, so compare a graph without it.
    let strip = |t: &str| {
        t.replace(", %bad, %k2)", ", %k2)")
            .replace("  %bad = Gather(%c, %idx)\n", "")
    };
    let x = ndarray::ArrayD::from_shape_vec(ndarray::IxDyn(&[3]), vec![0.5f32, -1.0, 3.0]).unwrap();
    assert_same_outputs(
        &Graph::parse(&strip(GRAPH)).unwrap(),
        &Graph::parse(&strip(&after)).unwrap(),
        &[("x", Array::F32(x))],
        0.0,
    );
}

/// An `If` on a size (silero-vad's `if x.shape[-1] == 1: squeeze`) whose input shape is
/// known: the condition folds and the If becomes the branch it takes — which here nests
/// another If on a constant, inlined in the next round — with the same results.
#[test]
fn an_if_whose_condition_folds_becomes_its_branch() {
    let text = r#"graph main(%x: f32[2,3,1]) -> (%out) {
  %s = Shape(%x)
  %i = const i64[] [-1]
  %last = Gather(%s, %i) {axis=0}
  %one = const i64[] [1]
  %c = Equal(%last, %one)
  %t = const bool[] [true]
  %out = If(%c) {then_branch=graph then() outer(%x, %t) -> (%r) {
    %ax = const i64[1] [-1]
    %sq = Squeeze(%x, %ax)
    %r = If(%t) {then_branch=graph inner() outer(%sq) -> (%n) {
      %n = Neg(%sq)
    }, else_branch=graph inner_else() outer(%sq) -> (%sq2) {
      %sq2 = Abs(%sq)
    }} captures(%sq)
  }, else_branch=graph else() outer(%x) -> (%e) {
    %e = Abs(%x)
  }} captures(%x, %t)
}"#;
    let out = run("infer-shapes,fold,dce", text);
    assert_eq!(out.count("If"), 0, "{}", out.printed);
    assert_eq!(out.count("Squeeze"), 1, "{}", out.printed);
    assert_eq!(out.count("Neg"), 1, "{}", out.printed);
    assert_eq!(out.count("Abs"), 0, "{}", out.printed);
    let x = modelc_passes::testing::input(&[2, 3, 1], 3, 1.0);
    out.assert_same_outputs(&[("x", x)], 0.0);
}

/// Two unnamed Ifs on constants (as ONNX's function expansions write them) fold without two
/// nodes of the same name (onnxruntime refuses a file with repeated node names); a branch
/// defining a name the graph already has is left as an If.
#[test]
fn inlined_branches_get_unique_node_names_and_never_redefine_a_value() {
    let text = r#"graph main(%x: f32[2]) -> (%a, %b, %c) {
  %t = const bool[] [true]
  %a = If(%t) {then_branch=graph g1() outer(%x) -> (%n1) {
    %n1 = Neg(%x)
  }, else_branch=graph g2() outer(%x) -> (%e1) {
    %e1 = Abs(%x)
  }} captures(%x)
  %b = If(%t) {then_branch=graph g3() outer(%x) -> (%n2) {
    %n2 = Neg(%x)
  }, else_branch=graph g4() outer(%x) -> (%e2) {
    %e2 = Abs(%x)
  }} captures(%x)
  %c = If(%t) {then_branch=graph g5() outer(%x) -> (%a) {
    %a = Exp(%x)
  }, else_branch=graph g6() outer(%x) -> (%e3) {
    %e3 = Abs(%x)
  }} captures(%x)
}"#;
    let out = run("fold", text);
    assert_eq!(out.count("If"), 1, "{}", out.printed);
    let mut names = std::collections::HashSet::new();
    for id in out.after.node_ids() {
        let name = &out.after.node(id).name;
        assert!(
            name.is_empty() || names.insert(name.clone()),
            "`{name}` twice:\n{}",
            out.printed
        );
    }
    let x = modelc_passes::testing::input(&[2], 3, 1.0);
    out.assert_same_outputs(&[("x", x)], 0.0);
}
