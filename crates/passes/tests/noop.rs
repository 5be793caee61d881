//! `noop`: nodes that return their input unchanged go (types from `infer-shapes`), nodes
//! that only look like it (a broadcasting Add of zeros, a Slice that drops an element, a
//! Reshape to another shape, a Cast to another type) stay; a graph output keeps its name.
//! Each case: a snapshot of the result and the interpreter's outputs unchanged.

use modelc_passes::check;
use modelc_passes::testing::input;

const NOOPS: &str = r#"graph main(%x: f32[2,4], %s: f32[N,4]) -> (%y, %kept, %sy) {
  %shape = const i64[2] [2, -1]
  %shape0 = const i64[2] [0, 4]
  %pads = const i64[4] [0, 0, 0, 0]
  %starts = const i64[1] [0]
  %ends = const i64[1] [9223372036854775807]
  %axes = const i64[1] [1]
  %ex = const i64[2] [1, 4]
  %zero = const f32[] [0.0]
  %ones = const f32[4] [1.0, 1.0, 1.0, 1.0]
  %one = const f32[1,1] [1.0]
  %c = Cast(%x) {to=1}
  %r = Reshape(%c, %shape)
  %f = Flatten(%r) {axis=1}
  %p = Pad(%f, %pads)
  %sl = Slice(%p, %starts, %ends, %axes)
  %e = Expand(%sl, %ex)
  %cc = Concat(%e) {axis=0}
  %sp = Split(%cc) {axis=1}
  %a = Add(%zero, %sp)
  %m = Mul(%a, %ones)
  %d = Div(%m, %one)
  %q = Squeeze(%d)
  %ratio = const f32[] [0.5]
  %train = const bool[] [false]
  %dr, %mask = Dropout(%q, %ratio, %train)
  %t = Tanh(%dr)
  %y = Reshape(%t, %shape0)
  %sr = Reshape(%s, %shape0)
  %ss = Slice(%sr, %starts, %ends, %axes)
  %sm = Mul(%ss, %ones)
  %sy = Relu(%sm)
  %big = const f32[3,1,1] [0.0, 0.0, 0.0]
  %b = Add(%x, %big)
  %ends3 = const i64[1] [1]
  %cut = Slice(%b, %starts, %ends3, %axes)
  %half = Cast(%cut) {to=10}
  %back = Cast(%half) {to=1}
  %other = const i64[2] [4, 3]
  %kept = Reshape(%back, %other)
}"#;

#[test]
fn removes_no_ops_and_keeps_look_alikes() {
    let out = check!("infer-shapes,noop,dce", NOOPS);
    let printed = &out.printed;
    // The whole %x chain is Tanh; %y keeps its name on it. The symbolic-batch chain (%s)
    // goes too: Reshape [0,4] and a full Slice need no known batch size.
    assert_eq!(out.count("Tanh"), 1);
    for op in [
        "Flatten", "Pad", "Expand", "Concat", "Split", "Div", "Squeeze", "Dropout",
    ] {
        assert_eq!(out.count(op), 0, "{op} is a no-op here");
    }
    assert!(printed.contains("%y: f32[2,4] = Tanh(%x)"), "{printed}");
    assert!(printed.contains("%sy: f32[N,4] = Relu(%s)"), "{printed}");
    // Broadcast to [3,2,4], a cut Slice, two real Casts and a real Reshape stay.
    assert_eq!(out.count("Add"), 1);
    assert_eq!(out.count("Slice"), 1);
    assert_eq!(out.count("Cast"), 2);
    assert_eq!(out.count("Reshape"), 1);
    out.assert_same_outputs(
        &[("x", input(&[2, 4], 3, 2.0)), ("s", input(&[3, 4], 4, 2.0))],
        0.0,
    );
}

/// Without types (no `infer-shapes`, nothing declared) a shape-dependent no-op cannot be
/// proven and stays; Concat of one input needs no types.
#[test]
fn unknown_types_keep_nodes() {
    let text = r#"graph main(%x) -> (%y) {
  %shape = const i64[2] [0, 4]
  %r = Reshape(%x, %shape)
  %c = Concat(%r) {axis=0}
  %y = Relu(%c)
}"#;
    let out = check!("noop,dce", text, @r"
    graph main(%x) -> (%y) {
      %shape = const i64[2] [0, 4]
      %r = Reshape(%x, %shape)
      %y = Relu(%r)
    }
    ");
    assert_eq!(out.count("Reshape"), 1);
    assert_eq!(out.count("Concat"), 0);
    out.assert_same_outputs(&[("x", input(&[2, 4], 5, 1.0))], 0.0);
}
