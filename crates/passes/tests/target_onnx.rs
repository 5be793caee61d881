//! The ONNX view of a graph for ONNX targets: inside a QDQ unit an operator sees the integer
//! tensors (type, scale, zero point) when the target compiles units (QNN, NNAPI), its own
//! float ones otherwise (TensorRT's parser); the rules on whole QDQ units, zero points,
//! static shapes and rank fire on that view; `decompose-flatten` and `static-shapes`.

use modelc_ir::{DType, Graph};
use modelc_passes::check;
use modelc_passes::target::{self, onnx_graph, Format, Target};

/// x -> Q(u8) -> DQ -> Gemm(DQ(i8 w)) -> y (float graph output).
const QDQ_GEMM: &str = r#"graph main(%x: f32[1,4]) -> (%y) {
  %s = const f32[] [0.05]
  %z = const u8[] [128]
  %wq = const i8[2,4] [1, -2, 3, -4, 5, -6, 7, -8]
  %ws = const f32[] [0.02]
  %wz = const i8[] [0]
  %xq = QuantizeLinear(%x, %s, %z)
  %xd = DequantizeLinear(%xq, %s, %z)
  %wd = DequantizeLinear(%wq, %ws, %wz)
  %y = Gemm(%xd, %wd) {transB=1}
}"#;

const RULES: &str = r#"
[target]
name = "t"
description = "test"
format = "onnx"
fallback = "partition"
qdq_units = true
source = "test"

[tensors.static_shape]
value = "all"
source = "test"

[tensors.max_rank]
value = 4
source = "test"

[ops.QuantizeLinear]
source = "test"
zero_point_zero = true

[ops.DequantizeLinear]
source = "test"

[ops.Gemm]
source = "test"
whole_qdq_unit = true

[ops.Relu]
source = "test"
"#;

fn known(_: Format, _: &str) -> bool {
    true
}

/// A partitioning ONNX target named `t` with `rules` (TOML tables) after its header.
fn partition_target(rules: &str) -> Target {
    target(&format!(
        r#"
[target]
name = "t"
description = "test"
format = "onnx"
fallback = "partition"
source = "test"
{rules}"#
    ))
}

fn target(text: &str) -> Target {
    Target::parse(text, "t.toml", &known).unwrap()
}

fn graph(text: &str) -> Graph {
    let mut g = Graph::parse(text).unwrap();
    let mut m = modelc_ir::Model::new(g.clone(), 17);
    modelc_passes::PassManager::new(modelc_passes::registry::pipeline("infer-shapes").unwrap())
        .run(&mut m)
        .unwrap();
    g = m.graph;
    g
}

#[test]
fn a_qdq_unit_is_seen_as_its_integer_tensors() {
    let g = graph(QDQ_GEMM);
    let units = onnx_graph(&g, true);
    let gemm = units.nodes.iter().find(|n| n.op == "Gemm").unwrap();
    let x = gemm.inputs[0].as_ref().unwrap();
    assert_eq!(
        (x.name.as_str(), x.dtype, x.is_const),
        ("xd", DType::U8, false)
    );
    assert_eq!(x.quant.as_ref().unwrap().zero_points, [128]);
    let w = gemm.inputs[1].as_ref().unwrap();
    assert_eq!((w.dtype, w.is_const), (DType::I8, true));
    assert_eq!(gemm.outputs[0].dtype, DType::F32);
    // Each node on its own (TensorRT): the Gemm reads floats.
    let plain = onnx_graph(&g, false);
    let gemm = plain.nodes.iter().find(|n| n.op == "Gemm").unwrap();
    assert_eq!(gemm.inputs[0].as_ref().unwrap().dtype, DType::F32);
    assert_eq!(units.nodes.len(), 4, "constants are not nodes");
}

#[test]
fn rules_fire_on_the_onnx_view() {
    let t = target(RULES);
    let report = target::check(&t, &onnx_graph(&graph(QDQ_GEMM), true));
    let off: Vec<_> = report
        .nodes
        .iter()
        .filter_map(|p| p.reason.clone())
        .collect();
    assert_eq!(
        off,
        [
            "QuantizeLinear: zero point of `xq` is not 0",
            "Gemm: reads quantized `xd` but writes float `y` (the QDQ unit must be quantized throughout)"
        ]
    );
    // A nonzero zero point where the target wants 0; a dynamic batch; rank 5 > 4.
    let g = graph(
        r#"graph main(%x: f32[N,4], %v: f32[1,1,1,2,2]) -> (%y, %w) {
  %s = const f32[] [0.05]
  %z = const u8[] [128]
  %xq = QuantizeLinear(%x, %s, %z)
  %y = DequantizeLinear(%xq, %s, %z)
  %w = Relu(%v)
}"#,
    );
    let report = target::check(&t, &onnx_graph(&g, true));
    let reasons: Vec<_> = report.nodes.iter().map(|p| p.reason.clone()).collect();
    assert_eq!(
        reasons,
        [
            Some("QuantizeLinear: `x` has a dynamic shape [-1, 4]".to_string()),
            Some("DequantizeLinear: `xq` has a dynamic shape [-1, 4]".to_string()),
            Some("Relu: rank 5 > 4 (`v`)".to_string()),
        ]
    );
}

#[test]
fn a_target_file_names_its_mistakes() {
    let bad = RULES.replace(
        "qdq_units = true",
        "qdq_units = true\nlowering = [\"decompose-nothing\"]",
    );
    let e = Target::parse(&bad, "t.toml", &known)
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        "t.toml: `target.lowering`: `decompose-nothing` is not a pass (`modelc passes` lists them)"
    );
    // 16-bit activations are a scheme (qnn-htp's a16w8); 4-bit ones are not.
    let scheme = |activation: &str, options: &str| {
        format!(
            "{RULES}\n[quantization]\nactivation = \"{activation}\"\nactivation_options = [{options}]\nweight = \"i8\"\nper_channel = true\nbias = \"int32\"\nsource = \"x\"\n"
        )
    };
    Target::parse(&scheme("u16", "\"u8\""), "t.toml", &known).unwrap();
    let e = Target::parse(&scheme("u4", ""), "t.toml", &known)
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        "t.toml: `quantization.activation`: `u4` is not one of u8, i8, u16, i16"
    );
    let e = Target::parse(&scheme("u16", "\"f16\""), "t.toml", &known)
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        "t.toml: `quantization.activation_options`: `f16` is not one of u8, i8, u16, i16"
    );
}

#[test]
fn static_shapes_names_every_dynamic_input() {
    let mut m = modelc_ir::Model::new(
        Graph::parse(
            r#"graph main(%a: f32[N,3], %b: f32[2,3], %c: f32[1,T]) -> (%y) {
  %s = Add(%a, %b)
  %y = Add(%s, %c)
}"#,
        )
        .unwrap(),
        17,
    );
    let passes = modelc_passes::registry::pipeline("static-shapes").unwrap();
    let e = modelc_passes::PassManager::new(passes)
        .run(&mut m)
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        "pass `static-shapes`: the target needs static shapes; inputs `a` [N,3], `c` [1,T] have unknown dimensions: fix them with --input-shape NAME:D1,D2,..."
    );
}

#[test]
fn flatten_becomes_reshape_when_the_leading_dims_are_known() {
    check!("decompose-flatten", r#"graph main(%x: f32[2,3,4,5]) -> (%y) {
  %y = Flatten(%x) {axis=2}
}"#, @r#"
    graph main(%x: f32[2,3,4,5]) -> (%y) {
      %y_shape = const i64[2] [6, -1]
      %y = Reshape(%x, %y_shape) name="y_reshape"
    }
    "#);
    // An unknown leading dimension: the Flatten stays (the target check names it).
    check!("decompose-flatten", r#"graph main(%x: f32[N,3,4]) -> (%y) {
  %y = Flatten(%x)
}"#, @r"
    graph main(%x: f32[N,3,4]) -> (%y) {
      %y = Flatten(%x)
    }
    ");
}

#[test]
fn an_omitted_input_counts_as_dynamic_until_filled() {
    // onnxruntime's mobile usability checker: an omitted optional input (torch's
    // Resize(x, "", scales) for nn.Upsample) is no fixed-size tensor, so the node leaves the
    // partition; `fill-omitted-inputs` gives Resize an empty roi, which means the same.
    let t = partition_target(
        r#"
[tensors.omitted_inputs_dynamic]
value = true
source = "test"

[ops.Resize]
source = "test"
"#,
    );
    let text = r#"graph main(%x: f32[1,2,3,3]) -> (%y) {
  %s = const f32[4] [1.0, 1.0, 2.0, 2.0]
  %y = Resize(%x, _, %s) {mode="nearest", coordinate_transformation_mode="asymmetric", nearest_mode="floor"}
}"#;
    let report = target::check(&t, &onnx_graph(&graph(text), false));
    assert_eq!(
        report.nodes[0].reason.as_deref(),
        Some("Resize: input 1 is omitted (an empty name), which counts as a tensor without a fixed shape")
    );
    let out = check!("fill-omitted-inputs", text, @r#"
    graph main(%x: f32[1,2,3,3]) -> (%y) {
      %s = const f32[4] [1.0, 1.0, 2.0, 2.0]
      %y_roi = const f32[0] []
      %y = Resize(%x, %y_roi, %s) {mode="nearest", coordinate_transformation_mode="asymmetric", nearest_mode="floor"} layout=NCHW
    }
    "#);
    out.assert_same_outputs(
        &[("x", modelc_passes::testing::input(&[1, 2, 3, 3], 3, 2.0))],
        0.0,
    );
    let report = target::check(&t, &onnx_graph(&out.after, false));
    assert!(report.all_on_accelerator(), "{:?}", report.nodes);
    // A trailing omitted input is no input at all (ONNX writes none).
    let trailing = r#"graph main(%x: f32[1,2,3,3]) -> (%y) {
  %r = const f32[0] []
  %s = const f32[4] [1.0, 1.0, 2.0, 2.0]
  %y = Resize(%x, %r, %s, _)
}"#;
    assert!(target::check(&t, &onnx_graph(&graph(trailing), false)).all_on_accelerator());
}

#[test]
fn a_runtime_input_must_not_be_constant() {
    // TFLite's GPU delegate: "FullyConnected doesn't support constant input" (input 0).
    let t = partition_target(
        r#"
[ops.Gemm]
source = "test"
runtime_inputs = [0]
"#,
    );
    let g = graph(
        r#"graph main(%x: f32[1,4], %w: f32[3,4]) -> (%y, %z) {
  %h = const f32[1,4] [0.0, 0.0, 0.0, 0.0]
  %y = Gemm(%h, %w) {transB=1}
  %z = Gemm(%x, %w) {transB=1}
}"#,
    );
    let report = target::check(&t, &onnx_graph(&g, false));
    let reasons: Vec<_> = report.nodes.iter().map(|p| p.reason.clone()).collect();
    assert_eq!(
        reasons,
        [Some("Gemm: input 0 `h` is constant".to_string()), None]
    );
}
