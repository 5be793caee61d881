//! `compress::budget::search`: when every weight stored int8 (`quantize --mode int8-weight`)
//! keeps the output within the bound, the search's model is never larger than that one —
//! it starts from the int8 point and goes beyond it.

use modelc_interp::Data;
use modelc_ir::text::parse_graph;
use modelc_ir::Model;
use modelc_passes::compress::budget::{search, BudgetOptions, Goal};
use modelc_passes::quant::{self, evaluate, weight_bytes, Metric, Mode, QuantConfig};
use modelc_passes::testing::{input, vals};

/// Near-low-rank weights (a smooth rank-2 pattern plus small noise), as trained
/// projections are: low-rank and int4 options compete with int8 on them.
fn smooth(m: usize, n: usize, seed: u64) -> String {
    let noise: Vec<f32> = vals(m * n, seed)
        .trim_matches(|c| c == '[' || c == ']')
        .split(',')
        .map(|v| v.trim().parse::<f32>().unwrap())
        .collect();
    let v: Vec<String> = (0..m * n)
        .map(|k| {
            let (i, j) = ((k / n) as f32, (k % n) as f32);
            let s = (i * 0.37 + seed as f32).sin() * (j * 0.11).cos()
                + 0.5 * (i * 0.05).cos() * (j * 0.29 + seed as f32).sin();
            format!("{:.6}", s + 0.05 * noise[k])
        })
        .collect();
    format!("[{}]", v.join(", "))
}

/// Two outputs (the error is the worst of them, so errors of layers on different outputs do
/// not add up), five layers.
fn net() -> Model {
    let src = format!(
        "graph main(%x: f32[1,32]) -> (%y, %z) {{
  %a = const f32[32,48] {a}
  %h = MatMul(%x, %a)
  %r = Relu(%h)
  %b = const f32[48,48] {b}
  %g = MatMul(%r, %b)
  %s = Relu(%g)
  %c = const f32[48,16] {c}
  %y = MatMul(%s, %c)
  %d = const f32[32,32] {d}
  %k = MatMul(%x, %d)
  %t = Tanh(%k)
  %e = const f32[32,16] {e}
  %z = MatMul(%t, %e)
}}",
        a = smooth(32, 48, 1),
        b = vals(48 * 48, 2),
        c = smooth(48, 16, 3),
        d = vals(32 * 32, 4),
        e = smooth(32, 16, 5)
    );
    // Opset 21: int4 weights are an option too.
    Model::new(parse_graph(&src, None).unwrap(), 21)
}

fn samples(n: u64, seed: u64) -> Vec<Vec<(String, Data)>> {
    (0..n)
        .map(|s| {
            vec![(
                "x".to_string(),
                Data::Tensor(input(&[1, 32], seed + s, 1.0)),
            )]
        })
        .collect()
}

fn worst(a: &Model, b: &Model, s: &[Vec<(String, Data)>], metric: Metric) -> f64 {
    evaluate(a, b, s)
        .unwrap()
        .iter()
        .map(|e| e.error(metric))
        .fold(0.0, f64::max)
}

#[test]
fn within_a_bound_int8_everywhere_meets_the_result_is_not_larger_than_int8() {
    let m = net();
    let (on, held) = (samples(12, 100), samples(4, 200));
    let cfg = QuantConfig {
        mode: Mode::Int8Weight,
        ..QuantConfig::default()
    };
    let (int8, _) = quant::quantize(&m, &cfg, &on, &[]).unwrap();
    let int8_bytes = weight_bytes(&int8.graph);
    assert!(int8_bytes * 3 < weight_bytes(&m.graph));
    let mut checked = 0;
    // Cosine: errors of small independent changes add, so a layer's int8 alone is within a
    // bound int8 everywhere meets. (Max-rel does not add: a layer's int8 alone can be over a
    // bound the whole int8 model meets — errors cancel — and that layer then stays float.)
    for metric in [Metric::Cosine] {
        let int8_error = worst(&m, &int8, &on, metric).max(worst(&m, &int8, &held, metric));
        assert!(int8_error > 0.0);
        // From just above what int8 everywhere gives to well above it.
        for scale in [1.05, 1.5, 3.0, 10.0] {
            let bound = int8_error * scale;
            let opts = BudgetOptions {
                metric,
                goal: Goal::MaxError(bound),
                sparse_storage: false,
                int8: true,
                int4: true,
                blocks: true,
                unowned: true,
            };
            let (small, report) = search(&m, &on, &held, &opts).unwrap();
            let bytes = weight_bytes(&small.graph);
            assert!(
                bytes <= int8_bytes,
                "{metric:?} bound {bound:.3e}: {bytes} bytes vs int8 everywhere {int8_bytes}: {report:#?}"
            );
            assert!(report.held_out_error <= bound, "{report:#?}");
            // The model written is what the report says, and within the bound as measured
            // here.
            assert!(worst(&m, &small, &held, metric) <= bound);
            assert!(worst(&m, &small, &on, metric) <= bound);
            checked += 1;
        }
    }
    assert_eq!(checked, 4);
}
