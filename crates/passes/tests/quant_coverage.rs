//! Every quantization-transparent op (the traits table's `quant_transparent`) is quantized by
//! the static int8 quantizer with its input's parameters: after a Conv, each is reported as
//! "same parameters as its input". A transparent op without a row here fails the test.

use modelc_interp::{Array, Data};
use modelc_ir::{Graph, Model, OnnxOp};
use modelc_passes::quant::{self, QuantConfig, Sample};
use ndarray::{ArrayD, IxDyn};

/// Each transparent op applied to `%c` (a Conv output `f32[1,4,6,6]`): its constants and
/// the node, whose outputs are the graph's.
const CASES: &[(OnnxOp, &str, &str)] = &[
    (
        OnnxOp::Reshape,
        "%s = const i64[2] [1, 144]",
        "%y = Reshape(%c, %s)",
    ),
    (OnnxOp::Transpose, "", "%y = Transpose(%c) {perm=[0,2,3,1]}"),
    (
        OnnxOp::Squeeze,
        "%a = const i64[1] [0]",
        "%y = Squeeze(%c, %a)",
    ),
    (
        OnnxOp::Unsqueeze,
        "%a = const i64[1] [0]",
        "%y = Unsqueeze(%c, %a)",
    ),
    (OnnxOp::Flatten, "", "%y = Flatten(%c)"),
    (OnnxOp::MaxPool, "", "%y = MaxPool(%c) {kernel_shape=[2,2]}"),
    (
        OnnxOp::AveragePool,
        "",
        "%y = AveragePool(%c) {kernel_shape=[2,2]}",
    ),
    (
        OnnxOp::Slice,
        "%b = const i64[1] [0]\n  %e = const i64[1] [2]\n  %a = const i64[1] [1]",
        "%y = Slice(%c, %b, %e, %a)",
    ),
    (
        OnnxOp::Pad,
        "%p = const i64[8] [0, 0, 1, 1, 0, 0, 1, 1]",
        "%y = Pad(%c, %p)",
    ),
    (
        OnnxOp::Resize,
        "%sc = const f32[4] [1.0, 1.0, 2.0, 2.0]",
        "%y = Resize(%c, _, %sc) {mode=\"nearest\"}",
    ),
    (
        OnnxOp::Split,
        "",
        "%y, %y2 = Split(%c) {axis=1, num_outputs=2}",
    ),
    (
        OnnxOp::Gather,
        "%i = const i64[2] [0, 2]",
        "%y = Gather(%c, %i) {axis=1}",
    ),
    (
        OnnxOp::GatherElements,
        "%i = const i64[1,1,1,1] [3]",
        "%y = GatherElements(%c, %i) {axis=1}",
    ),
    (
        OnnxOp::TopK,
        "%k = const i64[1] [2]",
        "%y, %y2 = TopK(%c, %k)",
    ),
];

fn calibration() -> Vec<Sample> {
    (0..4)
        .map(|s| {
            let v: Vec<f32> = (0..144)
                .map(|i| (((i * 37 + s * 11) % 29) as f32 / 14.0) - 1.0)
                .collect();
            let a = ArrayD::from_shape_vec(IxDyn(&[1, 4, 6, 6]), v).unwrap();
            vec![("x".to_string(), Data::Tensor(Array::F32(a)))]
        })
        .collect()
}

#[test]
fn every_transparent_op_takes_its_input_parameters() {
    for op in OnnxOp::all().filter(|op| op.traits().quant_transparent) {
        assert!(
            CASES.iter().any(|c| c.0 == op),
            "{op} is quantization-transparent but has no case here"
        );
    }
    let cfg = QuantConfig {
        optimize_first: false,
        ..QuantConfig::default()
    };
    for &(op, consts, node) in CASES {
        assert!(op.traits().quant_transparent, "{op} is not transparent");
        let outputs = if node.contains("%y2") {
            "%y, %y2"
        } else {
            "%y"
        };
        let text = format!(
            "graph main(%x: f32[1,4,6,6]) -> ({outputs}) {{
  %w = const f32[4,4,1,1] [1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1]
  %c = Conv(%x, %w) {{kernel_shape=[1,1]}}
  {consts}
  {node}
}}"
        );
        let m = Model::new(
            Graph::parse(&text).unwrap_or_else(|e| panic!("{op}: {e}")),
            18,
        );
        let (_, report) =
            quant::quantize(&m, &cfg, &calibration(), &[]).unwrap_or_else(|e| panic!("{op}: {e}"));
        let layer = report
            .layers
            .iter()
            .find(|l| l.op == op.to_string())
            .unwrap_or_else(|| panic!("{op}: not in the report {:?}", report.layers));
        assert!(
            layer.quantized && layer.note == "same parameters as its input",
            "{op}: {layer:?}"
        );
    }
}
