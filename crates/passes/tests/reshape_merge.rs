//! `reshape-merge`: chains of Reshape/Flatten/Squeeze/Unsqueeze become one Reshape (the graph
//! output keeps its name); a shared middle value and an unknown shape stop it. Each case: a
//! snapshot of the result and the interpreter's outputs unchanged.

use modelc_passes::check;
use modelc_passes::testing::input;

const CHAINS: &str = r#"graph main(%x: f32[N,2,3,4], %z: f32[2,1,6]) -> (%y, %w, %v, %shared, %u) {
  %s1 = const i64[3] [0, 6, 4]
  %s2 = const i64[2] [-1, 4]
  %ax = const i64[1] [1]
  %f = Flatten(%x) {axis=1}
  %r1 = Reshape(%f, %s1)
  %y = Reshape(%r1, %s2)
  %sq = Squeeze(%z, %ax)
  %un = Unsqueeze(%sq, %ax)
  %w = Flatten(%un) {axis=1}
  %t = Transpose(%x) {perm=[0,1,3,2]}
  %s24 = const i64[2] [0, 24]
  %r2 = Reshape(%t, %s24)
  %v = Reshape(%r2, %s1)
  %shared = Reshape(%z, %s2)
  %u = Unsqueeze(%shared, %ax)
}"#;

#[test]
fn merges_chains_into_one_reshape() {
    let out = check!("infer-shapes,reshape-merge,dce", CHAINS);
    let printed = &out.printed;
    // %y: Flatten→Reshape→Reshape is one Reshape of %x; %w: Squeeze→Unsqueeze→Flatten is one
    // Reshape of %z to its known [2,6]; %v reads the Transpose directly (its target has a
    // `0`, so it is rewritten to the known-shape form only because %r2 has no other reader).
    // %shared is a graph output, so it stays and the Unsqueeze after it too (rewriting it
    // would remove no node).
    assert!(printed.contains("= Reshape(%x, %s2)"), "{printed}");
    assert!(printed.contains("= Reshape(%z, "), "{printed}");
    for op in ["Flatten", "Squeeze"] {
        assert_eq!(out.count(op), 0, "{op} merged away");
    }
    assert_eq!(out.count("Unsqueeze"), 1);
    assert_eq!(out.count("Reshape"), 4);
    out.assert_same_outputs(
        &[
            ("x", input(&[3, 2, 3, 4], 1, 1.0)),
            ("z", input(&[2, 1, 6], 2, 1.0)),
        ],
        0.0,
    );
}

/// Without known shapes only the fixed-target Reshape merges.
#[test]
fn unknown_shapes_merge_only_fixed_targets() {
    let text = r#"graph main(%x) -> (%y, %w) {
  %s = const i64[2] [-1, 4]
  %s0 = const i64[2] [0, -1]
  %ax = const i64[1] [0]
  %u = Unsqueeze(%x, %ax)
  %y = Reshape(%u, %s)
  %u2 = Unsqueeze(%x, %ax)
  %w = Reshape(%u2, %s0)
}"#;
    let out = check!("reshape-merge,dce", text, @r"
    graph main(%x) -> (%y, %w) {
      %s = const i64[2] [-1, 4]
      %s0 = const i64[2] [0, -1]
      %ax = const i64[1] [0]
      %y = Reshape(%x, %s)
      %u2 = Unsqueeze(%x, %ax)
      %w = Reshape(%u2, %s0)
    }
    ");
    assert_eq!(out.count("Unsqueeze"), 1);
    out.assert_same_outputs(&[("x", input(&[2, 4], 3, 1.0))], 0.0);
}
