//! `sparsify`: snapshots of a MatMul, a Gemm (`transB`) and an NHWC Conv made 2:4 along their
//! input axis; every group of four keeps its two largest |w| and nothing else changes; a model
//! already 2:4 computes the same after the pass; blocks and unstructured zero the asked
//! fraction; an input axis not a multiple of the group leaves the layer alone.

use modelc_ir::{Graph, Op};
use modelc_passes::check;
use modelc_passes::compress::sparsity::{self, Pattern, Sparsify};
use modelc_passes::testing::{assert_same_outputs, input, run, vals};

const TWO_FOUR: Pattern = Pattern::NOfM { n: 2, m: 4 };

fn small() -> &'static str {
    r#"graph main(%x: f32[1,4], %h: f32[1,1,1,4]) -> (%y1, %y2, %y3) {
  %w1 = const f32[4,2] [0.1, -0.8, 0.5, 0.2, -0.3, 0.9, 0.7, -0.1]
  %y1 = MatMul(%x, %w1)
  %w2 = const f32[2,4] [0.4, -0.6, 0.05, 0.3, -0.2, 0.1, 0.8, -0.7]
  %y2 = Gemm(%x, %w2) {transB=1}
  %w3 = const f32[2,1,1,4] [1.0, 2.0, -3.0, 0.5, -0.25, 0.0, 0.75, 0.5]
  %y3 = Conv(%h, %w3) {kernel_shape=[1,1]} layout=NHWC
}"#
}

#[test]
fn two_of_four_along_the_input_axis() {
    check!(Sparsify::new(TWO_FOUR), small(), @r"
    graph main(%x: f32[1,4], %h: f32[1,1,1,4]) -> (%y1, %y2, %y3) {
      %w1 = const f32[4,2] [0.0, -0.8, 0.5, 0.0, 0.0, 0.9, 0.7, 0.0]
      %y1 = MatMul(%x, %w1)
      %w2 = const f32[2,4] [0.4, -0.6, 0.0, 0.0, 0.0, 0.0, 0.8, -0.7]
      %y2 = Gemm(%x, %w2) {transB=1}
      %w3 = const f32[2,1,1,4] [0.0, 2.0, -3.0, 0.0, 0.0, 0.0, 0.75, 0.5]
      %y3 = Conv(%h, %w3) {kernel_shape=[1,1]} layout=NHWC
    }
    ");
}

fn weights(g: &Graph) -> Vec<Vec<f64>> {
    g.topo_order()
        .unwrap()
        .into_iter()
        .filter_map(|id| match &g.node(id).op {
            Op::Const(t) => Some(
                modelc_interp::Array::from_tensor(t)
                    .unwrap()
                    .to_f64_vec()
                    .unwrap(),
            ),
            _ => None,
        })
        .collect()
}

fn conv_net() -> String {
    format!(
        r#"graph main(%x: f32[1,8,5,5]) -> (%y) {{
  %w1 = const f32[16,8,3,3] {w1}
  %c1 = Conv(%x, %w1) {{kernel_shape=[3,3], pads=[1,1,1,1]}} layout=NCHW
  %r = Relu(%c1)
  %g = GlobalAveragePool(%r) layout=NCHW
  %f = Flatten(%g) {{axis=1}}
  %w2 = const f32[16,12] {w2}
  %y = MatMul(%f, %w2)
}}"#,
        w1 = vals(16 * 8 * 9, 1),
        w2 = vals(16 * 12, 2),
    )
}

#[test]
fn each_group_of_four_keeps_its_two_largest() {
    let out = run(Sparsify::new(TWO_FOUR), &conv_net());
    let (before, after) = (weights(&out.before), weights(&out.after));
    // Conv [16, 8, 3, 3]: groups run along axis 1 (stride 9); MatMul [16, 12]: along axis 0
    // (stride 12).
    for ((b, a), (outer, len, inner)) in before.iter().zip(&after).zip([(16, 8, 9), (1, 16, 12)]) {
        for o in 0..outer {
            for i in 0..inner {
                for s in (0..len).step_by(4) {
                    let idx: Vec<usize> = (s..s + 4).map(|k| (o * len + k) * inner + i).collect();
                    let mut mags: Vec<f64> = idx.iter().map(|&k| b[k].abs()).collect();
                    mags.sort_by(|x, y| y.total_cmp(x));
                    let kept: Vec<usize> = idx.iter().copied().filter(|&k| a[k] != 0.0).collect();
                    assert_eq!(kept.len(), 2, "group {idx:?}: {:?}", &a);
                    for &k in &kept {
                        assert_eq!(a[k], b[k]);
                        assert!(b[k].abs() >= mags[1]);
                    }
                }
            }
        }
    }
}

#[test]
fn a_model_already_two_of_four_computes_the_same() {
    let mut once = Graph::parse(&conv_net()).unwrap();
    sparsity::sparsify(&mut once, TWO_FOUR);
    let mut twice = once.clone();
    let r = sparsity::sparsify(&mut twice, TWO_FOUR);
    assert!(r.iter().all(|s| s.zeros_before == s.zeros_after), "{r:?}");
    assert_eq!(weights(&once), weights(&twice));
    assert_same_outputs(&once, &twice, &[("x", input(&[1, 8, 5, 5], 3, 1.0))], 0.0);
}

#[test]
fn blocks_and_unstructured_zero_the_asked_fraction() {
    let mut g = Graph::parse(&conv_net()).unwrap();
    let r = sparsity::sparsify(
        &mut g,
        Pattern::Blocks {
            ratio: 0.75,
            size: 4,
        },
    );
    assert_eq!(r.len(), 2);
    for s in &r {
        assert_eq!(s.zeros_after, s.elements * 3 / 4, "{s:?}");
    }
    let w = weights(&g);
    // MatMul [16, 12]: a block is 4 rows of one column, all zero or none.
    for col in 0..12 {
        for s in (0..16).step_by(4) {
            let z = (s..s + 4).filter(|&k| w[1][k * 12 + col] == 0.0).count();
            assert!(z == 0 || z == 4, "column {col} block {s}: {z} zeros");
        }
    }
    let mut g = Graph::parse(&conv_net()).unwrap();
    let r = sparsity::sparsify(&mut g, Pattern::Unstructured { ratio: 0.9 });
    assert_eq!(r[0].zeros_after, (0.9f64 * 1152.0).round() as u64);
    assert_eq!(r[1].zeros_after, (0.9f64 * 192.0).round() as u64);
}

#[test]
fn an_axis_not_divisible_into_groups_is_left_alone() {
    let text = format!(
        "graph main(%x: f32[1,6]) -> (%y) {{\n  %w = const f32[6,3] {}\n  %y = MatMul(%x, %w)\n}}",
        vals(18, 4)
    );
    let mut g = Graph::parse(&text).unwrap();
    assert!(sparsity::sparsify(&mut g, TWO_FOUR).is_empty());
    assert_eq!(g.to_string(), Graph::parse(&text).unwrap().to_string());
}
