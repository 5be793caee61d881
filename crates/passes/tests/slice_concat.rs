//! `slice-concat`: a Slice within one input of a Concat reads that input, through a Transpose
//! (an unrolled LSTM's last step without the stacked sequence); a Slice across two inputs, or
//! with a step, stays.

use modelc_passes::testing::{check_unchanged, run, vals};

#[test]
fn the_last_step_through_a_transpose_reads_its_part() {
    let text = format!(
        r#"graph main(%a: f32[1,1,4], %b: f32[1,1,4], %c: f32[1,1,4]) -> (%y) {{
  %s = Concat(%a, %b, %c) {{axis=0}}
  %t = Transpose(%s) {{perm=[1,0,2]}}
  %st = const i64[1] [-1]
  %en = const i64[1] [9223372036854775807]
  %ax = const i64[1] [1]
  %l = Slice(%t, %st, %en, %ax)
  %w = const f32[4,2] {w}
  %y = MatMul(%l, %w)
}}"#,
        w = vals(8, 1)
    );
    let out = run("infer-shapes,slice-concat,dce", &text);
    assert_eq!(out.count("Concat"), 0, "{}", out.before_and_after());
    assert_eq!(
        out.count("Slice"),
        0,
        "the whole last part: {}",
        out.printed
    );
    out.assert_same_outputs(&[], 0.0);
}

#[test]
fn part_of_one_input_is_a_slice_of_it() {
    let out = run(
        "infer-shapes,slice-concat,dce",
        r#"graph main(%a: f32[2,3], %b: f32[4,3]) -> (%y) {
  %s = Concat(%a, %b) {axis=0}
  %st = const i64[1] [3]
  %en = const i64[1] [5]
  %ax = const i64[1] [0]
  %y = Slice(%s, %st, %en, %ax)
}"#,
    );
    assert_eq!(out.count("Concat"), 0, "{}", out.before_and_after());
    assert_eq!(out.count("Slice"), 1, "{}", out.printed);
    out.assert_same_outputs(&[], 0.0);
}

#[test]
fn a_slice_across_two_inputs_stays() {
    check_unchanged(
        "slice-concat",
        r#"graph main(%a: f32[2,3], %b: f32[4,3]) -> (%y) {
  %s = Concat(%a, %b) {axis=0}
  %st = const i64[1] [1]
  %en = const i64[1] [3]
  %ax = const i64[1] [0]
  %y = Slice(%s, %st, %en, %ax)
}"#,
    );
}
