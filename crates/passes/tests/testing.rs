//! The testing helper itself: the checks it makes fail when they should, seeded inputs follow
//! the declared types and the seed, and the pattern walks reach sub-graphs and see either
//! operand order of commutative ops only.

use modelc_interp::Array;
use modelc_ir::{Graph, NodeId, OnnxOp, Op};
use modelc_passes::pattern::{count_nodes, operand_orders, rewrite_nodes};
use modelc_passes::testing::{check_unchanged, run, seeded_inputs, Check};
use modelc_passes::{Changed, Pass, PassContext, PassError};

/// A wrong rewrite, to see the checks fail: every Relu becomes Neg.
struct ReluToNeg;

impl Pass for ReluToNeg {
    fn name(&self) -> &'static str {
        "relu-to-neg"
    }

    fn description(&self) -> &'static str {
        "a wrong rewrite, for the tests"
    }

    fn run(&self, g: &mut Graph, _cx: &mut PassContext) -> Result<Changed, PassError> {
        Ok(Changed::from_bool(rewrite_nodes(
            g,
            &[OnnxOp::Relu],
            |g, id| {
                g.node_mut(id).op = Op::Onnx(OnnxOp::Neg);
                true
            },
        )))
    }
}

const RELU: &str = "graph main(%x: f32[4]) -> (%y) {\n  %y = Relu(%x)\n}";

#[test]
#[should_panic(expected = "output `y` element 0")]
fn same_outputs_catches_a_wrong_rewrite() {
    let out = run(ReluToNeg, RELU);
    let x = Array::F32(ndarray::arr1(&[1.0f32, -2.0, 3.0, -4.0]).into_dyn());
    out.assert_same_outputs(&[("x", x)], 1e-3);
}

#[test]
#[should_panic(expected = "output `y` element")]
fn seeded_inputs_catch_a_wrong_rewrite() {
    run(ReluToNeg, RELU).assert_same_outputs(&[], 1e-3);
}

#[test]
#[should_panic(expected = "the passes changed the graph")]
fn check_unchanged_fails_on_a_change() {
    check_unchanged(ReluToNeg, RELU);
}

#[test]
fn opset_reaches_the_passes() {
    let gelu = "graph main(%x: f32[4]) -> (%y) {\n  %s = const f32[] [1.4142135]\n  %one = const f32[] [1.0]\n  %half = const f32[] [0.5]\n  %d = Div(%x, %s)\n  %e = Erf(%d)\n  %a = Add(%e, %one)\n  %m = Mul(%x, %a)\n  %y = Mul(%m, %half)\n}";
    assert_eq!(
        run(Check::new("fuse-gelu").opset(20), gelu).count("Gelu"),
        1
    );
    let old = check_unchanged(Check::new("fuse-gelu").opset(19), gelu);
    assert_eq!(old.opset, Some(19));
}

#[test]
fn seeded_inputs_follow_types_and_seed() {
    let g = Graph::parse("graph main(%a: f32[N,2], %b: i64[3], %c: bool[2], %d: u8[5]) -> (%a) {}")
        .unwrap();
    let one = seeded_inputs(&g, 7);
    let names: Vec<&str> = one.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["a", "b", "c", "d"]);
    let shapes: Vec<&[usize]> = one.iter().map(|(_, a)| a.shape()).collect();
    assert_eq!(shapes, [&[3, 2][..], &[3], &[2], &[5]]);
    assert!(matches!(
        (&one[0].1, &one[1].1, &one[2].1, &one[3].1),
        (Array::F32(_), Array::I64(_), Array::Bool(_), Array::U8(_))
    ));
    let floats = one[0].1.to_f64_vec().unwrap();
    assert!(floats.iter().all(|v| (-1.0..1.0).contains(v)));
    assert!(one[3]
        .1
        .to_f64_vec()
        .unwrap()
        .iter()
        .all(|v| (0.0..8.0).contains(v)));
    assert_eq!(
        seeded_inputs(&g, 7),
        one,
        "the same seed gives the same inputs"
    );
    assert_ne!(seeded_inputs(&g, 8)[0].1, one[0].1);
}

const NESTED: &str = r#"graph main(%c: bool[], %x: f32[2]) -> (%out, %r) {
  %r = Relu(%x)
  %out = If(%c) {then_branch=graph then() outer(%x) -> (%t) {
    %t = Relu(%x)
  }, else_branch=graph else() outer(%x) -> (%e) {
    %k = Relu(%x)
    %e = Neg(%k)
  }} captures(%x)
}"#;

#[test]
fn rewrites_and_counts_reach_sub_graphs() {
    let mut g = Graph::parse(NESTED).unwrap();
    let is_relu = |g: &Graph, id: NodeId| g.node(id).op == Op::Onnx(OnnxOp::Relu);
    assert_eq!(count_nodes(&g, &[OnnxOp::Relu, OnnxOp::Neg], is_relu), 3);
    let mut seen = 0;
    rewrite_nodes(&mut g, &[OnnxOp::Relu], |_, _| {
        seen += 1;
        false
    });
    assert_eq!(seen, 3);
    let out = run(ReluToNeg, NESTED);
    assert_eq!(count_nodes(&out.after, &[OnnxOp::Relu], |_, _| true), 0);
    assert_eq!(count_nodes(&out.after, &[OnnxOp::Neg], |_, _| true), 4);
}

#[test]
fn commutative_ops_give_both_operand_orders() {
    let g = Graph::parse(
        "graph main(%x: f32[2], %y: f32[2]) -> (%a, %s, %m) {\n  %a = Add(%x, %y)\n  %s = Sub(%x, %y)\n  %m = Max(%x, %y)\n}",
    )
    .unwrap();
    let orders = |name: &str| {
        let v = g.find_value(name).unwrap();
        operand_orders(&g, v.node).len()
    };
    assert_eq!((orders("a"), orders("s"), orders("m")), (2, 1, 2));
}
