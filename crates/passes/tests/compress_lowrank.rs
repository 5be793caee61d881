//! `low-rank`: snapshots of MatMul, Gemm (both `transB`) and Conv (NCHW 3×3, NHWC 1×1)
//! factorized; at full rank the result computes what the original does; below it, the error is
//! exactly the discarded singular directions' (a weight built with known singular values).

use modelc_interp::Array;
use modelc_passes::check;
use modelc_passes::compress::lowrank::{self, LowRank, LowRankOptions, Rank};
use modelc_passes::testing::{input, interpret, run, vals, Check};

fn layers() -> String {
    format!(
        r#"graph main(%x: f32[2,6], %i: f32[1,3,5,5], %h: f32[1,4,4,5]) -> (%y1, %y2, %y3, %y4, %y5) {{
  %w1 = const f32[6,5] {w1}
  %y1 = MatMul(%x, %w1)
  %w2 = const f32[5,6] {w2}
  %b2 = const f32[5] {b2}
  %y2 = Gemm(%x, %w2, %b2) {{transB=1, alpha=0.5, beta=2.0}}
  %w3 = const f32[6,5] {w3}
  %y3 = Gemm(%x, %w3)
  %w4 = const f32[4,3,3,3] {w4}
  %b4 = const f32[4] {b4}
  %y4 = Conv(%i, %w4, %b4) {{kernel_shape=[3,3], pads=[1,1,1,1], strides=[2,2]}} layout=NCHW
  %w5 = const f32[6,1,1,5] {w5}
  %y5 = Conv(%h, %w5) {{kernel_shape=[1,1]}} layout=NHWC
}}"#,
        w1 = vals(30, 1),
        w2 = vals(30, 2),
        b2 = vals(5, 3),
        w3 = vals(30, 4),
        w4 = vals(108, 5),
        b4 = vals(4, 6),
        w5 = vals(30, 7),
    )
}

fn inputs() -> Vec<(&'static str, Array)> {
    vec![
        ("x", input(&[2, 6], 11, 1.0)),
        ("i", input(&[1, 3, 5, 5], 12, 1.0)),
        ("h", input(&[1, 4, 4, 5], 13, 1.0)),
    ]
}

/// Every output of `a` and `b` on `inputs` within `rel` of the largest |element| of `a`'s.
fn assert_close(a: &modelc_ir::Graph, b: &modelc_ir::Graph, inputs: &[(&str, Array)], rel: f64) {
    let (ra, rb) = (interpret(a, inputs, None), interpret(b, inputs, None));
    for ((name, da), (_, db)) in ra.iter().zip(&rb) {
        let (modelc_interp::Data::Tensor(x), modelc_interp::Data::Tensor(y)) = (da, db) else {
            panic!("{name}: not tensors");
        };
        assert_eq!(x.shape(), y.shape(), "{name}");
        let (x, y) = (x.to_f64_vec().unwrap(), y.to_f64_vec().unwrap());
        let scale = x.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        let diff = x
            .iter()
            .zip(&y)
            .fold(0.0f64, |m, (p, q)| m.max((p - q).abs()));
        assert!(
            diff <= rel * scale,
            "{name}: max diff {diff} of scale {scale}"
        );
    }
}

#[test]
fn factorizes_matmul_gemm_and_conv_at_a_given_rank() {
    let opts = LowRankOptions {
        rank: Rank::Fixed(2),
        only_if_smaller: true,
    };
    let out = check!(LowRank::new(opts), &layers());
    // Each layer became two of its kind; 2·(m+n) < m·n holds for all five.
    assert_eq!(out.count("MatMul"), 2);
    assert_eq!(out.count("Gemm"), 4);
    assert_eq!(out.count("Conv"), 4);
}

#[test]
fn full_rank_computes_what_the_original_does() {
    let opts = LowRankOptions {
        rank: Rank::Fixed(usize::MAX),
        only_if_smaller: false,
    };
    let out = run(LowRank::new(opts), &layers());
    assert_eq!(out.count("Conv"), 4, "{}", out.printed);
    assert_eq!(out.count("Gemm"), 4);
    assert_close(&out.before, &out.after, &inputs(), 1e-5);
}

#[test]
fn full_rank_is_not_smaller_so_the_default_leaves_the_layers() {
    let opts = LowRankOptions {
        rank: Rank::Fixed(usize::MAX),
        only_if_smaller: true,
    };
    modelc_passes::testing::check_unchanged(Check::new(LowRank::new(opts)), &layers());
}

/// The 8×8 Sylvester Hadamard matrix (orthogonal up to √8).
fn hadamard8(i: usize, j: usize) -> f64 {
    if (i & j).count_ones().is_multiple_of(2) {
        1.0
    } else {
        -1.0
    }
}

/// W = H·diag(s)·Hᵀ/8, whose singular values are `s`; and its best rank-`r` approximation.
fn known_spectrum(s: &[f64; 8], r: usize) -> (Vec<f64>, Vec<f64>) {
    let w = |keep: usize| -> Vec<f64> {
        let mut w = vec![0.0; 64];
        for i in 0..8 {
            for j in 0..8 {
                w[i * 8 + j] = (0..keep)
                    .map(|k| hadamard8(i, k) * s[k] * hadamard8(j, k))
                    .sum::<f64>()
                    / 8.0;
            }
        }
        w
    };
    (w(8), w(r))
}

#[test]
fn below_full_rank_the_error_is_the_discarded_singular_values() {
    let s = [8.0, 4.0, 2.0, 1.0, 0.5, 0.25, 0.1, 0.05];
    let (w, w3) = known_spectrum(&s, 3);
    let text = |w: &[f64]| {
        let items: Vec<String> = w.iter().map(|v| format!("{}", *v as f32)).collect();
        format!(
            "graph main(%x: f32[4,8]) -> (%y) {{\n  %w = const f32[8,8] [{}]\n  %y = MatMul(%x, %w)\n}}",
            items.join(", ")
        )
    };
    // Energy 0.95: σ² = 64, 16, 4, 1, ...; the first three hold 84 of 85.325.
    let g = modelc_ir::Graph::parse(&text(&w)).unwrap();
    let id = lowrank::candidates(&g)[0];
    let sv = lowrank::singular_values(&g, id).unwrap();
    for (got, want) in sv.iter().zip(&s) {
        assert!((got - want).abs() < 1e-5, "{sv:?}");
    }
    let mut after = g.clone();
    let done = lowrank::factorize(
        &mut after,
        &LowRankOptions {
            rank: Rank::Energy(0.95),
            only_if_smaller: true,
        },
    );
    assert_eq!(done.len(), 1);
    assert_eq!(done[0].rank, 3);
    assert!(
        (done[0].energy - 84.0 / 85.325).abs() < 1e-6,
        "{}",
        done[0].energy
    );
    assert_eq!((done[0].params_before, done[0].params_after), (64, 48));

    // The factorized model computes x·W₃, the best rank-3 weight, to float precision ...
    let g3 = modelc_ir::Graph::parse(&text(&w3)).unwrap();
    assert_close(&g3, &after, &[("x", input(&[4, 8], 21, 1.0))], 1e-5);
    // ... so its error against x·W is bounded by ‖x‖·σ₄ (here σ₄ = 1).
    let x = input(&[4, 8], 21, 1.0);
    let run_y = |g: &modelc_ir::Graph| match &interpret(g, &[("x", x.clone())], None)[0].1 {
        modelc_interp::Data::Tensor(t) => t.to_f64_vec().unwrap(),
        _ => unreachable!(),
    };
    let (y, y3) = (run_y(&g), run_y(&after));
    let xs = x.to_f64_vec().unwrap();
    for row in 0..4 {
        let xn = (0..8).map(|j| xs[row * 8 + j].powi(2)).sum::<f64>().sqrt();
        let dn = (0..8)
            .map(|j| (y[row * 8 + j] - y3[row * 8 + j]).powi(2))
            .sum::<f64>()
            .sqrt();
        assert!(dn <= xn * s[3] * (1.0 + 1e-5), "row {row}: {dn} > {xn}");
    }
}
