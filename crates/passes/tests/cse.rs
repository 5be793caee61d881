//! `cse`: duplicated computations and constants merge (whole chains in one run, also in
//! sub-graphs); random ops, nodes with other attributes, and graph outputs stay apart. Each
//! case: a snapshot of the result and the interpreter's outputs unchanged.

use modelc_interp::Array;
use modelc_passes::check;
use modelc_passes::registry::pipeline;
use modelc_passes::testing::{assert_same_outputs, input, run};

const DUPLICATES: &str = r#"graph main(%x: f32[2,4]) -> (%y, %z, %r2, %o) {
  %w1 = const f32[4] [0.5, -1.0, 2.0, 0.25]
  %w2 = const f32[4] [0.5, -1.0, 2.0, 0.25]
  %w3 = const f32[4] [0.5, -1.0, 2.0, 0.5]
  %a1 = Add(%x, %w1)
  %a2 = Add(%x, %w2)
  %m1 = Relu(%a1)
  %m2 = Relu(%a2)
  %s1 = Softmax(%m1) {axis=1}
  %s2 = Softmax(%m2) {axis=0}
  %a3 = Add(%x, %w3)
  %y = Mul(%s1, %s2)
  %z = Sub(%m2, %a3)
  %r1 = Relu(%x)
  %r2 = Relu(%x)
  %o = Add(%r1, %r2)
}"#;

#[test]
fn merges_duplicate_chains_and_constants() {
    let out = check!("cse,dce", DUPLICATES);
    // w1/w2 and the Add→Relu chains merge; different axis and different constant do not;
    // %r2 is a graph output, so it stays and the earlier %r1 merges into it.
    assert_eq!(out.count("Add"), 3);
    assert_eq!(out.count("Relu"), 2);
    assert_eq!(out.count("Softmax"), 2);
    assert_eq!(out.count("const"), 2);
    out.assert_same_outputs(&[("x", input(&[2, 4], 1, 2.0))], 0.0);
}

#[test]
fn random_ops_and_sub_graphs() {
    let text = r#"graph main(%c: bool[], %x: f32[3]) -> (%y, %out) {
  %n1 = RandomNormalLike(%x) {seed=1.0}
  %n2 = RandomNormalLike(%x) {seed=1.0}
  %y = Sub(%n1, %n2)
  %out = If(%c) {then_branch=graph then() outer(%x) -> (%t) {
    %k1 = Neg(%x)
    %k2 = Neg(%x)
    %t = Add(%k1, %k2)
  }, else_branch=graph else() outer(%x) -> (%e) {
    %e = Abs(%x)
  }} captures(%x)
}"#;
    let out = check!("cse,dce", text);
    assert_eq!(out.count("RandomNormalLike"), 2);
    assert!(
        !out.printed.contains("%k2"),
        "the sub-graph's duplicate Neg merges"
    );
    let x = input(&[3], 7, 1.0);
    for c in [true, false] {
        let cond = Array::Bool(ndarray::ArrayD::from_elem(ndarray::IxDyn(&[]), c));
        // Only the If output (the interpreter has no random kernels; dce drops them).
        let only_if = |g: &modelc_ir::Graph| {
            let mut g = g.clone();
            let out = g.outputs()[1];
            g.set_outputs(vec![out]);
            let pm = modelc_passes::PassManager::new(pipeline("dce").unwrap());
            pm.run_graph(&mut g).unwrap();
            g
        };
        assert_same_outputs(
            &only_if(&out.before),
            &only_if(&out.after),
            &[("c", cond), ("x", x.clone())],
            0.0,
        );
    }
}

/// Constants are bucketed by a sample of their bytes, then compared in full: two 512-element
/// constants that differ only in a byte the sample skips (1.0 vs 1.0000305, byte 1 of
/// element 0) stay apart, and equal ones merge.
#[test]
fn constants_compared_in_full() {
    let mut values: Vec<String> = (0..512).map(|i| format!("{}.0", i % 7)).collect();
    values[0] = "1.0".into();
    let a = values.join(", ");
    values[0] = "1.0000305".into();
    let b = values.join(", ");
    let text = format!(
        "graph main(%x: f32[512]) -> (%y) {{\n  %a = const f32[512] [{a}]\n  %b = const f32[512] [{b}]\n  %a2 = const f32[512] [{a}]\n  %p = Add(%x, %a)\n  %q = Add(%x, %b)\n  %r = Add(%x, %a2)\n  %s = Sum(%p, %q, %r)\n  %y = Identity(%s)\n}}"
    );
    let out = run("cse,dce", &text);
    assert_eq!(out.count("const"), 2, "%a2 merges into %a, %b stays");
    assert_eq!(out.count("Add"), 2);
    out.assert_same_outputs(&[("x", input(&[512], 9, 1.0))], 0.0);
}
