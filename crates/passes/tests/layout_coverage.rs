//! Every layout-sensitive op (the traits table's `layout` row) has a rule in the layout pass:
//! `to-nhwc` switches a lone NCHW node of each to NHWC instead of leaving it behind
//! transposes. A layout-sensitive op without a row here fails the test, so a new one comes
//! with its check.

use modelc_ir::{Graph, Layout, OnnxOp};
use modelc_passes::passes::layout::{to_nhwc, LayoutOptions};

/// Layout-sensitive ops the pass leaves in NCHW behind transposes, and why.
const NO_RULE: &[(OnnxOp, &str)] = &[
    (
        OnnxOp::MaxUnpool,
        "its indices input holds flat positions in the NCHW tensor",
    ),
    (
        OnnxOp::Col2Im,
        "its input is [N, C*k, L] columns, not a spatial tensor",
    ),
];

/// Each layout-sensitive op with a rule: its graph inputs (besides `%x: f32[1,4,6,6]`), and
/// the node (`%y`).
const CASES: &[(OnnxOp, &str, &str)] = &[
    (OnnxOp::Conv, "%w: f32[2,4,3,3]", "Conv(%x, %w)"),
    (OnnxOp::ConvTranspose, "%w: f32[4,2,3,3]", "ConvTranspose(%x, %w)"),
    (
        OnnxOp::ConvInteger,
        "%xu: u8[1,4,6,6], %wu: u8[2,4,3,3]",
        "ConvInteger(%xu, %wu)",
    ),
    (
        OnnxOp::QLinearConv,
        "%xu: u8[1,4,6,6], %xs: f32[], %xz: u8[], %wu: u8[2,4,3,3], %ws: f32[], %wz: u8[], %ys: f32[], %yz: u8[]",
        "QLinearConv(%xu, %xs, %xz, %wu, %ws, %wz, %ys, %yz)",
    ),
    (
        OnnxOp::DeformConv,
        "%w: f32[2,4,3,3], %off: f32[1,18,4,4]",
        "DeformConv(%x, %w, %off)",
    ),
    (OnnxOp::MaxPool, "", "MaxPool(%x) {kernel_shape=[2,2]}"),
    (OnnxOp::AveragePool, "", "AveragePool(%x) {kernel_shape=[2,2]}"),
    (OnnxOp::LpPool, "", "LpPool(%x) {kernel_shape=[2,2]}"),
    (OnnxOp::GlobalAveragePool, "", "GlobalAveragePool(%x)"),
    (OnnxOp::GlobalMaxPool, "", "GlobalMaxPool(%x)"),
    (OnnxOp::GlobalLpPool, "", "GlobalLpPool(%x)"),
    (
        OnnxOp::MaxRoiPool,
        "%rois: f32[2,5]",
        "MaxRoiPool(%x, %rois) {pooled_shape=[2,2]}",
    ),
    (
        OnnxOp::RoiAlign,
        "%rois: f32[2,4], %bi: i64[2]",
        "RoiAlign(%x, %rois, %bi)",
    ),
    (
        OnnxOp::BatchNormalization,
        "%s: f32[4], %b: f32[4], %m: f32[4], %v: f32[4]",
        "BatchNormalization(%x, %s, %b, %m, %v)",
    ),
    (
        OnnxOp::InstanceNormalization,
        "%s: f32[4], %b: f32[4]",
        "InstanceNormalization(%x, %s, %b)",
    ),
    (
        OnnxOp::GroupNormalization,
        "%s: f32[4], %b: f32[4]",
        "GroupNormalization(%x, %s, %b) {num_groups=2}",
    ),
    (OnnxOp::LRN, "", "LRN(%x) {size=3}"),
    (OnnxOp::Resize, "", "Resize(%x, _, %sc) {mode=\"nearest\"}"),
    (OnnxOp::Upsample, "", "Upsample(%x, %sc) {mode=\"nearest\"}"),
    (OnnxOp::DepthToSpace, "", "DepthToSpace(%x) {blocksize=2}"),
    (OnnxOp::SpaceToDepth, "", "SpaceToDepth(%x) {blocksize=2}"),
    (
        OnnxOp::GridSample,
        "%grid: f32[1,5,5,2]",
        "GridSample(%x, %grid)",
    ),
];

#[test]
fn every_layout_sensitive_op_has_a_layout_rule() {
    let sensitive: Vec<OnnxOp> = OnnxOp::all()
        .filter(|op| op.is_layout_sensitive())
        .collect();
    for op in &sensitive {
        let covered = CASES.iter().any(|c| c.0 == *op) || NO_RULE.iter().any(|c| c.0 == *op);
        assert!(covered, "{op} is layout-sensitive but has no case here");
    }
    for &(op, inputs, node) in CASES {
        assert!(sensitive.contains(&op), "{op} is not layout-sensitive");
        let inputs = if inputs.is_empty() {
            String::new()
        } else {
            format!(", {inputs}")
        };
        let text = format!(
            "graph main(%x: f32[1,4,6,6]{inputs}) -> (%y) {{
  %sc = const f32[4] [1.0, 1.0, 2.0, 2.0]
  %y = {node}
}}"
        );
        let mut g = Graph::parse(&text).unwrap_or_else(|e| panic!("{op}: {e}"));
        let opts = LayoutOptions {
            keep_io_layout: true,
            opset: None,
        };
        to_nhwc(&mut g, &opts).unwrap_or_else(|e| panic!("{op}: {e}"));
        let layouts: Vec<Option<Layout>> = g
            .node_ids()
            .filter(|&id| g.node(id).op.onnx() == Some(op))
            .map(|id| g.node(id).layout)
            .collect();
        assert_eq!(
            layouts,
            [Some(Layout::Nhwc)],
            "{op}: the layout pass left it in NCHW"
        );
    }
    for &(op, why) in NO_RULE {
        assert!(
            op.is_layout_sensitive(),
            "{op} ({why}) is not layout-sensitive"
        );
    }
}
