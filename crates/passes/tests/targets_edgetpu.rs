//! The `edgetpu` target against hand-made operator graphs (no Edge TPU compiler runs here):
//! a small int8 CNN that lands whole, and graphs that each break one published requirement
//! of the Coral compiler, where the check must name that requirement and cut the graph at
//! the first operator it breaks (everything after runs on the CPU).

use modelc_ir::DType;
use modelc_passes::target::{
    check, Params, QuantView, Target, TargetGraph, TargetNode, TensorView, BUILTIN,
};

fn edgetpu() -> Target {
    let text = BUILTIN
        .iter()
        .find(|(name, _)| *name == "edgetpu")
        .expect("edgetpu is built in")
        .1;
    // Op names are checked against TFLite's vocabulary by the CLI (`modelc targets`).
    Target::parse(text, "built-in targets/edgetpu.toml", &|_, _| true).expect("valid")
}

fn t(name: &str, dtype: DType, shape: &[i64]) -> TensorView {
    TensorView {
        name: name.into(),
        dtype,
        shape: shape.to_vec(),
        is_const: false,
        quant: Some(QuantView {
            scales: vec![0.05],
            zero_points: vec![0],
        }),
    }
}

fn konst(mut x: TensorView) -> TensorView {
    x.is_const = true;
    x
}

fn node(op: &str, inputs: Vec<TensorView>, out: TensorView) -> TargetNode {
    TargetNode {
        name: out.name.clone(),
        op: op.into(),
        inputs: inputs.into_iter().map(Some).collect(),
        outputs: vec![out],
        params: Params::default(),
    }
}

/// conv (int8 weights, int32 bias) → relu → mean → fully connected → softmax.
fn cnn() -> Vec<TargetNode> {
    use DType::*;
    vec![
        node(
            "CONV_2D",
            vec![
                t("x", I8, &[1, 8, 8, 3]),
                konst(t("w", I8, &[16, 3, 3, 3])),
                konst(t("b", I32, &[16])),
            ],
            t("c", I8, &[1, 8, 8, 16]),
        ),
        node(
            "RELU",
            vec![t("c", I8, &[1, 8, 8, 16])],
            t("r", I8, &[1, 8, 8, 16]),
        ),
        node(
            "MEAN",
            vec![t("r", I8, &[1, 8, 8, 16]), konst(t("axes", I32, &[2]))],
            t("m", I8, &[1, 16]),
        ),
        node(
            "FULLY_CONNECTED",
            vec![
                t("m", I8, &[1, 16]),
                konst(t("fw", I8, &[10, 16])),
                konst(t("fb", I32, &[10])),
            ],
            t("f", I8, &[1, 10]),
        ),
        node("SOFTMAX", vec![t("f", I8, &[1, 10])], t("y", I8, &[1, 10])),
    ]
}

fn run(nodes: Vec<TargetNode>) -> modelc_passes::target::Report {
    check(&edgetpu(), &TargetGraph { nodes })
}

#[test]
fn an_int8_cnn_lands_whole() {
    let r = run(cnn());
    assert!(r.all_on_accelerator(), "{:?}", r.nodes);
    assert_eq!(r.partitions, 1);
}

/// Breaks one rule at node `at` of the CNN; the check must fall back there with `reason`
/// and cut everything after it.
fn assert_breaks(at: usize, edit: impl FnOnce(&mut TargetNode), reason: &str) {
    let mut nodes = cnn();
    edit(&mut nodes[at]);
    let r = run(nodes);
    assert!(r.nodes[..at].iter().all(|p| p.accelerator), "{:?}", r.nodes);
    let why = r.nodes[at].reason.clone().unwrap_or_default();
    assert!(
        why.contains(reason),
        "node {at}: `{why}` does not say `{reason}`"
    );
    for p in &r.nodes[at + 1..] {
        let why = p.reason.as_deref().unwrap_or_default();
        assert!(why.contains("after the first unsupported op"), "{p:?}");
    }
    assert_eq!(r.accelerated, at);
}

#[test]
fn float_feature_maps_are_refused() {
    assert_breaks(
        1,
        |n| n.outputs[0].dtype = DType::F32,
        "f32 tensor `r` (accepted: i8, u8)",
    );
}

#[test]
fn int8_without_quantization_parameters_is_refused() {
    assert_breaks(
        1,
        |n| n.outputs[0].quant = None,
        "`r` has no quantization parameters",
    );
}

#[test]
fn a_dynamic_dimension_is_refused_even_the_batch() {
    assert_breaks(
        0,
        |n| n.inputs[0].as_mut().unwrap().shape[0] = -1,
        "`x` has a dynamic shape",
    );
}

#[test]
fn more_than_three_non_unit_dimensions_are_refused() {
    // Batch 2: four dimensions above 1.
    assert_breaks(
        1,
        |n| {
            n.inputs[0].as_mut().unwrap().shape = vec![2, 8, 8, 16];
            n.outputs[0].shape = vec![2, 8, 8, 16];
        },
        "dimension 2 of `c` [2, 8, 8, 16] is outside the 3 innermost",
    );
}

#[test]
fn a_computed_bias_is_refused() {
    // A computed int32 bias is an int32 feature map: the generic type rule names it first.
    assert_breaks(
        0,
        |n| n.inputs[2].as_mut().unwrap().is_const = false,
        "i32 tensor `b` (accepted: i8, u8)",
    );
    // Computed int8 weights of a dense layer break the constant-parameters rule itself.
    assert_breaks(
        3,
        |n| n.inputs[1].as_mut().unwrap().is_const = false,
        "input 1 `fw` must be constant",
    );
}

#[test]
fn float_weights_are_refused() {
    assert_breaks(
        3,
        |n| {
            let w = n.inputs[1].as_mut().unwrap();
            w.dtype = DType::F32;
            w.quant = None;
        },
        "f32 weights (accepted: i8, u8)",
    );
}

#[test]
fn an_operator_off_the_list_cuts_the_graph() {
    assert_breaks(
        1,
        |n| n.op = "GELU".into(),
        "GELU: not supported by edgetpu",
    );
}

#[test]
fn a_softmax_over_more_than_16000_elements_is_refused() {
    assert_breaks(
        4,
        |n| {
            n.inputs[0].as_mut().unwrap().shape = vec![1, 20000];
            n.outputs[0].shape = vec![1, 20000];
        },
        "depth 20000 > 16000",
    );
}

#[test]
fn sink_cpu_ops_puts_a_float_branch_after_the_accelerated_one() {
    // Two heads on one quantized feature: an ArgMax (int64 out: the Edge TPU has none, a CPU
    // op) written before a second quantized MatMul. Cut at the first unsupported operator,
    // the MatMul would run on the CPU too; moved last, the accelerated part is one prefix.
    let text = r#"graph main(%x: f32[1,8]) -> (%idx, %y) {
  %s = const f32[] [0.05]
  %z = const i8[] [0]
  %xq = QuantizeLinear(%x, %s, %z)
  %xd = DequantizeLinear(%xq, %s, %z)
  %wq = const i8[8,8] [1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4, 5, 6, 7, 8]
  %ws = const f32[] [0.01]
  %wd = DequantizeLinear(%wq, %ws, %z)
  %h = MatMul(%xd, %wd)
  %hq = QuantizeLinear(%h, %s, %z)
  %hd = DequantizeLinear(%hq, %s, %z)
  %idx = ArgMax(%hd) {axis=1}
  %m = MatMul(%hd, %wd)
  %mq = QuantizeLinear(%m, %s, %z)
  %y = DequantizeLinear(%mq, %s, %z)
}"#;
    let out = modelc_passes::testing::run("sink-cpu-ops", text);
    let at = |what: &str| {
        out.printed
            .find(what)
            .unwrap_or_else(|| panic!("no {what}: {}", out.printed))
    };
    assert!(at("ArgMax(") > at("%m = MatMul("), "{}", out.printed);
    out.assert_same_outputs(&[("x", input(&[1, 8]))], 0.0);
}

fn input(shape: &[usize]) -> modelc_interp::Array {
    let n: usize = shape.iter().product();
    let v: Vec<f32> = (0..n).map(|i| (i as f32 * 0.37).sin()).collect();
    modelc_interp::Array::F32(ndarray::ArrayD::from_shape_vec(ndarray::IxDyn(shape), v).unwrap())
}
