//! `prune`: channels whose weights are all zero are removed through a residual block (ReLU,
//! depthwise Conv, a tied `Add`, MaxPool, GlobalAveragePool, Flatten) without changing any
//! output; BatchNormalization, Concat, Split and Gemm/MatMul readers shrink with their
//! producers; channels reaching a graph output or an unknown reader stay.

use modelc_passes::check;
use modelc_passes::compress::prune::{self, Criterion, Prune, PruneOptions};
use modelc_passes::registry;
use modelc_passes::testing::{input, pos_vals, vals, Check, Lcg};

/// `n` values from `seed` as a text-form list, with the output channels `zero` (of `m`
/// channels, `inner` values each along axis 0) all zero.
fn zeroed(m: usize, inner: usize, zero: &[usize], seed: u64) -> String {
    let mut r = Lcg::new(seed);
    let items: Vec<String> = (0..m * inner)
        .map(|i| {
            let v = r.next_f32();
            if zero.contains(&(i / inner)) {
                "0.0".to_string()
            } else {
                format!("{v:.3}")
            }
        })
        .collect();
    format!("[{}]", items.join(", "))
}

fn residual_block() -> String {
    let zero = [2, 5];
    format!(
        r#"graph main(%x: f32[1,3,6,6]) -> (%y, %z) {{
  %w1 = const f32[8,3,3,3] {w1}
  %b1 = const f32[8] {b1}
  %c1 = Conv(%x, %w1, %b1) {{kernel_shape=[3,3], pads=[1,1,1,1]}} layout=NCHW
  %r1 = Relu(%c1)
  %wd = const f32[8,1,3,3] {wd}
  %bd = const f32[8] {bd}
  %d1 = Conv(%r1, %wd, %bd) {{group=8, kernel_shape=[3,3], pads=[1,1,1,1]}} layout=NCHW
  %w2 = const f32[8,8,1,1] {w2}
  %b2 = const f32[8] {b2}
  %c2 = Conv(%d1, %w2, %b2) {{kernel_shape=[1,1]}} layout=NCHW
  %s = Add(%c2, %r1)
  %m = MaxPool(%s) {{kernel_shape=[2,2], strides=[2,2]}} layout=NCHW
  %w3 = const f32[4,8,1,1] {w3}
  %y = Conv(%m, %w3) {{kernel_shape=[1,1]}} layout=NCHW
  %p = GlobalAveragePool(%m) layout=NCHW
  %f = Flatten(%p) {{axis=1}}
  %w4 = const f32[5,8] {w4}
  %b4 = const f32[5] {b4}
  %z = Gemm(%f, %w4, %b4) {{transB=1}}
}}"#,
        w1 = zeroed(8, 27, &zero, 1),
        b1 = zeroed(8, 1, &zero, 2),
        wd = vals(72, 3),
        bd = zeroed(8, 1, &zero, 4),
        w2 = zeroed(8, 8, &zero, 5),
        b2 = zeroed(8, 1, &zero, 6),
        w3 = vals(32, 7),
        w4 = vals(40, 8),
        b4 = vals(5, 9),
    )
}

fn with_shapes(opts: PruneOptions) -> Check {
    Check::new(vec![
        registry::get("infer-shapes").unwrap(),
        Box::new(Prune::new(opts)) as Box<dyn modelc_passes::Pass>,
    ])
}

#[test]
fn pruning_all_zero_channels_changes_nothing() {
    let out = check!(
        with_shapes(PruneOptions {
            ratio: 0.25,
            criterion: Criterion::L1,
            only: Vec::new(),
        }),
        &residual_block()
    );
    // c1 and c2 are tied by the Add: the two channels zero in both go from every layer.
    for (name, dims) in [
        ("w1_pruned", "f32[6,3,3,3]"),
        ("wd_pruned", "f32[6,1,3,3]"),
        ("w2_pruned", "f32[6,6,1,1]"),
        ("w3_pruned", "f32[4,6,1,1]"),
        ("w4_pruned", "f32[5,6]"),
    ] {
        assert!(
            out.printed.contains(&format!("%{name} = const {dims}")),
            "{name}: {}",
            out.printed
        );
    }
    assert!(out.printed.contains("group=6"), "{}", out.printed);
    // The convolutions give bit-identical results (x + 0 = x); the Gemm's kernel sums its K
    // products in SIMD lanes whose grouping depends on K (8 → 6), so `z` may move by an ulp.
    out.assert_same_outputs(&[("x", input(&[1, 3, 6, 6], 1, 1.0))], 1e-6);
}

#[test]
fn the_least_important_channels_go_and_the_model_still_runs() {
    let g = modelc_ir::Graph::parse(&residual_block()).unwrap();
    let mut model = modelc_ir::Model::new(g, 17);
    modelc_passes::PassManager::new(registry::pipeline("infer-shapes").unwrap())
        .run(&mut model)
        .unwrap();
    let mut g = model.graph.clone();
    let done = prune::prune(
        &mut g,
        &PruneOptions {
            ratio: 0.5,
            criterion: Criterion::L2,
            only: Vec::new(),
        },
    );
    // c1 and c2 (tied): 8 → 4 channels; y and z (graph outputs) keep theirs.
    let counts: Vec<(String, usize, usize)> = done
        .iter()
        .map(|p| (p.node.clone(), p.channels_before, p.channels_after))
        .collect();
    assert_eq!(
        counts,
        vec![("c1".to_string(), 8, 4), ("c2".to_string(), 8, 4)]
    );
    modelc_ir::validate::validate_graph(&g, false).unwrap();
    let out = modelc_passes::testing::interpret(&g, &[("x", input(&[1, 3, 6, 6], 1, 1.0))], None);
    assert_eq!(out.len(), 2);
}

#[test]
fn batchnorm_concat_split_and_matmul_readers_shrink_with_their_producers() {
    let text = format!(
        r#"graph main(%x: f32[1,2,4,4], %v: f32[3,6]) -> (%y, %u) {{
  %w1 = const f32[4,2,1,1] {w1}
  %c1 = Conv(%x, %w1) {{kernel_shape=[1,1]}} layout=NCHW
  %s = const f32[4] {s}
  %b = const f32[4] {b}
  %mu = const f32[4] {mu}
  %var = const f32[4] {var}
  %n1 = BatchNormalization(%c1, %s, %b, %mu, %var) layout=NCHW
  %w2 = const f32[4,2,1,1] {w2}
  %c2 = Conv(%x, %w2) {{kernel_shape=[1,1]}} layout=NCHW
  %cat = Concat(%n1, %c2) {{axis=1}}
  %sp = const i64[2] [5, 3]
  %p, %q = Split(%cat, %sp) {{axis=1}}
  %k = const f32[1,3,1,1] [0.5, -1.0, 2.0]
  %qk = Mul(%q, %k)
  %w3 = const f32[2,5,1,1] {w3}
  %c3 = Conv(%p, %w3) {{kernel_shape=[1,1]}} layout=NCHW
  %w4 = const f32[2,3,1,1] {w4}
  %c4 = Conv(%qk, %w4) {{kernel_shape=[1,1]}} layout=NCHW
  %y = Add(%c3, %c4)
  %w5 = const f32[6,4] {w5}
  %h = MatMul(%v, %w5)
  %t = Tanh(%h)
  %w6 = const f32[4,2] {w6}
  %u = MatMul(%t, %w6)
}}"#,
        w1 = vals(8, 1),
        s = pos_vals(4, 2),
        b = vals(4, 3),
        mu = vals(4, 4),
        var = pos_vals(4, 5),
        w2 = vals(8, 6),
        w3 = vals(10, 7),
        w4 = vals(6, 8),
        w5 = vals(24, 9),
        w6 = vals(8, 10),
    );
    let out = check!(
        with_shapes(PruneOptions {
            ratio: 0.5,
            criterion: Criterion::L1,
            only: Vec::new(),
        }),
        &text
    );
    // Two of c1's four channels and two of c2's go (tied to nothing, one group each); the
    // split sizes follow; w5's MatMul loses two of four outputs and w6 the matching rows.
    assert!(
        out.printed.contains("%w5_pruned = const f32[6,2]"),
        "{}",
        out.printed
    );
    assert!(
        out.printed.contains("%w6_pruned = const f32[2,2]"),
        "{}",
        out.printed
    );
    assert!(
        out.printed.contains("%s_pruned = const f32[2]"),
        "{}",
        out.printed
    );
    assert!(
        out.printed.contains("%w1_pruned = const f32[2,2,1,1]"),
        "{}",
        out.printed
    );
    assert!(
        out.printed.contains("%w2_pruned = const f32[2,2,1,1]"),
        "{}",
        out.printed
    );
    let g = &out.after;
    let shape_of = |name: &str| {
        let v = g.find_value(name).unwrap();
        format!("{:?}", g.value(v).unwrap().ty)
    };
    assert!(shape_of("cat").contains("Known(4)"), "{}", shape_of("cat"));
    let _ = modelc_passes::testing::interpret(
        g,
        &[
            ("x", input(&[1, 2, 4, 4], 1, 1.0)),
            ("v", input(&[3, 6], 2, 1.0)),
        ],
        None,
    );
}

#[test]
fn channels_reaching_an_output_or_a_reshape_stay() {
    let text = format!(
        r#"graph main(%x: f32[1,2,4,4]) -> (%c1, %y) {{
  %w1 = const f32[4,2,1,1] {w1}
  %c1 = Conv(%x, %w1) {{kernel_shape=[1,1]}} layout=NCHW
  %w2 = const f32[4,2,1,1] {w2}
  %c2 = Conv(%x, %w2) {{kernel_shape=[1,1]}} layout=NCHW
  %shape = const i64[2] [1, 64]
  %y = Reshape(%c2, %shape)
}}"#,
        w1 = vals(8, 1),
        w2 = vals(8, 2),
    );
    modelc_passes::testing::check_unchanged(
        Prune::new(PruneOptions {
            ratio: 0.5,
            criterion: Criterion::L1,
            only: Vec::new(),
        }),
        &text,
    );
}
