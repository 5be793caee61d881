//! The `transpose` cleanup pass: snapshots of the text form before and after, the node count
//! never growing, and the interpreter's outputs unchanged.

use modelc_passes::testing::{input, run, vals, Outcome};

/// Runs `transpose,dce`, checks the outputs and that no node was added.
fn transpose_dce(text: &str, inputs: &[(&str, modelc_interp::Array)]) -> Outcome {
    let out = run("transpose,dce", text);
    assert!(out.after.node_count() <= out.before.node_count());
    out.assert_same_outputs(inputs, 0.0);
    out
}

#[test]
fn chains_merge_and_identities_go() {
    let text = r#"graph main(%x: f32[1,2,3,4]) -> (%y, %z) {
  %t1 = Transpose(%x) {perm=[0,2,3,1]}
  %t2 = Transpose(%t1) {perm=[0,3,1,2]}
  %r = Relu(%t2)
  %t3 = Transpose(%r) {perm=[1,0,2,3]}
  %t4 = Transpose(%t3) {perm=[0,1,3,2]}
  %y = Transpose(%t4) {perm=[0,1,2,3]}
  %z = Neg(%x)
}"#;
    let out = transpose_dce(text, &[("x", input(&[1, 2, 3, 4], 1, 1.0))]);
    insta::assert_snapshot!(out.before_and_after());
    // t1·t2 cancel; t3·t4 merge into one; the identity goes (its result name kept).
    assert_eq!(out.count("Transpose"), 1);
}

#[test]
fn constants_fold_and_shared_ones_stay() {
    let text = r#"graph main(%x: f32[3,2]) -> (%y, %z) {
  %c = const f32[2,3] [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
  %ct = Transpose(%c) {perm=[1,0]}
  %y = Add(%x, %ct)
  %s = const f32[2,3] [1.0, 0.5, 0.25, 2.0, 4.0, 8.0]
  %st = Transpose(%s) {perm=[1,0]}
  %m = Mul(%x, %st)
  %z = Add(%m, %s2)
  %s2 = Identity(%s)
}"#
    .replace(
        "  %z = Add(%m, %s2)\n  %s2 = Identity(%s)\n",
        "  %s2 = Identity(%s)\n  %sum = ReduceSum(%s2)\n  %z = Add(%m, %sum)\n",
    );
    let out = transpose_dce(&text, &[("x", input(&[3, 2], 2, 1.0))]);
    insta::assert_snapshot!(out.before_and_after());
    // %c folds; %s is read elsewhere, so its transpose stays (a copy would add a node).
    assert_eq!(out.count("Transpose"), 1);
}

/// Transposes sink through activations and broadcasting ops (constants permuted) and
/// cancel against the inverse below.
#[test]
fn sinking_cancels_pairs() {
    let text = format!(
        r#"graph main(%a: f32[1,3,4,5], %b: f32[1,3,4,5], %e: f32[1,3,4,5]) -> (%y) {{
  %ta = Transpose(%a) {{perm=[0,2,3,1]}}
  %tb = Transpose(%b) {{perm=[0,2,3,1]}}
  %r = Relu(%ta)
  %s = Add(%r, %tb)
  %k = const f32[3] {}
  %m = Mul(%s, %k)
  %lo = const f32[] [0.0]
  %hi = const f32[] [0.5]
  %c = Clip(%m, %lo, %hi)
  %te = Transpose(%e) {{perm=[0,2,3,1]}}
  %cat = Concat(%c, %te) {{axis=3}}
  %y = Transpose(%cat) {{perm=[0,3,1,2]}}
}}"#,
        vals(3, 3)
    );
    let inputs = [
        ("a", input(&[1, 3, 4, 5], 4, 1.0)),
        ("b", input(&[1, 3, 4, 5], 5, 1.0)),
        ("e", input(&[1, 3, 4, 5], 7, 1.0)),
    ];
    let out = transpose_dce(&text, &inputs);
    insta::assert_snapshot!(out.before_and_after());
    assert_eq!(out.count("Transpose"), 0);
}

/// A Transpose of a dequantized constant weight transposes the quantized tensor and moves
/// the per-channel axis.
#[test]
fn dequantized_constants_fold() {
    let q: Vec<String> = (0..24).map(|i| (i * 7 % 31 - 15).to_string()).collect();
    let text = format!(
        r#"graph main(%x: f32[3,2,4]) -> (%y) {{
  %q = const i8[2,3,4] [{}]
  %s = const f32[2] [0.5, 0.25]
  %z = const i8[2] [1, -1]
  %d = DequantizeLinear(%q, %s, %z) {{axis=0}}
  %t = Transpose(%d) {{perm=[1,0,2]}}
  %y = Add(%x, %t)
}}"#,
        q.join(", ")
    );
    let out = transpose_dce(&text, &[("x", input(&[3, 2, 4], 6, 1.0))]);
    insta::assert_snapshot!(out.before_and_after());
    assert_eq!(out.count("Transpose"), 0);
    assert!(out
        .printed
        .contains("DequantizeLinear(%q, %s, %z) {axis=1}"));
}

/// A Transpose that only moves unit axes does not reorder elements: a Flatten or Reshape
/// after it reads its input directly (Flatten's axis adjusted).
#[test]
fn unit_axis_transposes_before_reshapes_go() {
    let text = r#"graph main(%x: f32[2,1,1,3]) -> (%f, %r) {
  %t = Transpose(%x) {perm=[0,3,1,2]}
  %f = Flatten(%t) {axis=1}
  %shape = const i64[2] [3, 2]
  %r = Reshape(%t, %shape)
}"#;
    let out = transpose_dce(text, &[("x", input(&[2, 1, 1, 3], 8, 1.0))]);
    insta::assert_snapshot!(out.before_and_after());
    assert_eq!(out.count("Transpose"), 0);
}
