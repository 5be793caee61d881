//! `compress::downstream`: a change measured from the activations at its layer gives the
//! error a whole-model run gives (a residual graph: the skip value crosses the cut), and the
//! unchanged model measures exactly 0.

use modelc_interp::Data;
use modelc_ir::text::parse_graph;
use modelc_ir::{Model, OnnxOp};
use modelc_passes::compress::downstream::{cut, frontier, Activations};
use modelc_passes::compress::lowrank::{self, LowRankOptions, Rank};
use modelc_passes::quant::{evaluate, Metric};
use modelc_passes::testing::{input, vals};

fn residual() -> Model {
    let src = format!(
        "graph main(%x: f32[2,6]) -> (%y) {{
  %a = const f32[6,6] {a}
  %h = MatMul(%x, %a)
  %r = Relu(%h)
  %b = const f32[6,6] {b}
  %g = MatMul(%r, %b)
  %s = Add(%g, %h)
  %c = const f32[6,4] {c}
  %y = MatMul(%s, %c)
}}",
        a = vals(36, 1),
        b = vals(36, 2),
        c = vals(24, 3)
    );
    Model::new(parse_graph(&src, None).unwrap(), 17)
}

fn samples() -> Vec<Vec<(String, Data)>> {
    (0..3)
        .map(|s| vec![("x".to_string(), Data::Tensor(input(&[2, 6], 20 + s, 1.0)))])
        .collect()
}

fn matmuls(m: &Model) -> Vec<modelc_ir::NodeId> {
    m.graph
        .topo_order()
        .unwrap()
        .into_iter()
        .filter(|&id| m.graph.node(id).op.onnx() == Some(OnnxOp::MatMul))
        .collect()
}

#[test]
fn the_skip_value_crosses_the_cut() {
    let m = residual();
    let order = m.graph.topo_order().unwrap();
    let second = matmuls(&m)[1];
    let pos = order.iter().position(|&id| id == second).unwrap();
    let names: Vec<String> = frontier(&m.graph, &order, pos)
        .into_iter()
        .map(|v| m.graph.value(v).unwrap().name.clone())
        .collect();
    assert_eq!(names, ["r", "h"]);
    let v = frontier(&m.graph, &order, pos);
    let rest = cut(&m.graph, &v, m.graph.outputs());
    assert_eq!(rest.inputs().len(), 2);
    let ops = rest
        .node_ids()
        .filter(|&id| rest.node(id).op.onnx().is_some())
        .count();
    assert_eq!(ops, 3, "MatMul, Add, MatMul");
}

#[test]
fn a_change_measured_from_its_layer_is_the_whole_model_error() {
    let m = residual();
    let samples = samples();
    let mut acts = Activations::new(&m, &samples).unwrap();
    for (k, &id) in matmuls(&m).iter().enumerate() {
        acts.advance_to(id).unwrap();
        assert_eq!(acts.error(&m, Metric::Cosine).unwrap(), 0.0);
        assert_eq!(acts.error(&m, Metric::MaxRel).unwrap(), 0.0);
        let mut changed = m.clone();
        lowrank::factorize_node(
            &mut changed.graph,
            id,
            &LowRankOptions {
                rank: Rank::Fixed(2),
                only_if_smaller: false,
            },
        )
        .unwrap();
        let whole = evaluate(&m, &changed, &samples).unwrap();
        for metric in [Metric::Cosine, Metric::MaxRel] {
            let cut_error = acts.error(&changed, metric).unwrap();
            let whole_error = whole[0].error(metric);
            assert!(whole_error > 1e-4, "layer {k}: rank 2 changes the output");
            assert!(
                (cut_error - whole_error).abs() <= 1e-9 * whole_error.max(1.0),
                "layer {k} {metric:?}: {cut_error} vs {whole_error}"
            );
        }
    }
}

/// An `If` whose branches read an outer weight `%w` ([32, 16]) by name, as silero VAD's LSTM
/// reads its weights: the layers reading it are inside the sub-graphs.
fn captured() -> Model {
    let src = format!(
        "graph main(%c: bool[], %x: f32[2,32]) -> (%y) {{
  %w = const f32[32,16] {w}
  %y = If(%c) {{then_branch=graph then() outer(%x, %w) -> (%t) {{
    %t = MatMul(%x, %w)
  }}, else_branch=graph else() outer(%x, %w) -> (%e) {{
    %m = MatMul(%x, %w)
    %e = Relu(%m)
  }}}} captures(%x, %w)
}}",
        w = vals(512, 4)
    );
    Model::new(parse_graph(&src, None).unwrap(), 17)
}

fn captured_samples(c: bool) -> Vec<Vec<(String, Data)>> {
    (0..4)
        .map(|s| {
            let cond =
                modelc_interp::Array::Bool(ndarray::ArrayD::from_elem(ndarray::IxDyn(&[]), c));
            vec![
                ("c".to_string(), Data::Tensor(cond)),
                ("x".to_string(), Data::Tensor(input(&[2, 32], 30 + s, 1.0))),
            ]
        })
        .collect()
}

/// A weight a sub-graph captures is stored int8 as a constant of its own (behind a
/// DequantizeLinear that keeps its name), measured from a cut before the `If` exactly as a
/// whole-model run measures it, and chosen by the budget search.
#[test]
fn a_weight_a_sub_graph_captures_is_measured_and_stored_int8() {
    use modelc_passes::compress::budget::{search, BudgetOptions, Goal};
    use modelc_passes::compress::weights::{constant_layer, quantize_constant, Precision};
    let m = captured();
    let w = m
        .graph
        .node_ids()
        .find(|&id| constant_layer(&m.graph, id))
        .expect("the captured weight");
    let iff = m
        .graph
        .node_ids()
        .find(|&id| m.graph.node(id).op.onnx() == Some(OnnxOp::If))
        .unwrap();
    let mut changed = m.clone();
    assert!(quantize_constant(&mut changed.graph, w, Precision::Int8));
    for c in [true, false] {
        let samples = captured_samples(c);
        let mut acts = Activations::new(&m, &samples).unwrap();
        acts.advance_to(iff).unwrap();
        assert_eq!(acts.error(&m, Metric::Cosine).unwrap(), 0.0);
        let whole = evaluate(&m, &changed, &samples).unwrap()[0].error(Metric::MaxRel);
        let at_cut = acts.error(&changed, Metric::MaxRel).unwrap();
        assert!(
            whole > 0.0 && whole < 0.05,
            "int8 changes a little: {whole}"
        );
        assert!((at_cut - whole).abs() <= 1e-12, "{c}: {at_cut} vs {whole}");
    }
    let samples = captured_samples(false);
    let opts = BudgetOptions {
        metric: Metric::Cosine,
        goal: Goal::MaxError(1e-3),
        sparse_storage: false,
        int8: true,
        int4: false,
        blocks: true,
        unowned: true,
    };
    let (small, report) = search(&m, &samples[..3], &samples[3..], &opts).unwrap();
    let layer = report
        .layers
        .iter()
        .find(|l| l.op == "constant")
        .expect("the constant is a layer");
    assert_eq!(layer.choice, "int8 weights", "{report:?}");
    assert!(
        report.weight_bytes_after < report.weight_bytes_before / 3,
        "{report:?}"
    );
    // The written model still computes what the float one does, on both branches.
    for c in [true, false] {
        let e = evaluate(&m, &small, &captured_samples(c)).unwrap()[0].error(Metric::Cosine);
        assert!(e <= 1e-3, "{c}: {e}");
    }
}
