//! The model as a target sees it: one node per operator of the written file (a TFLite
//! operator, an ONNX node), with its op name in that format's vocabulary and the facts the
//! rules test (element types, shapes, quantization, strides, kernels, axes). A format crate
//! builds it from the file it wrote or read, so the check judges exactly what the vendor's
//! tool will see.

use modelc_ir::DType;

/// The operators of one graph, in execution order.
#[derive(Debug, Clone, Default)]
pub struct TargetGraph {
    pub nodes: Vec<TargetNode>,
}

/// One operator.
#[derive(Debug, Clone)]
pub struct TargetNode {
    /// The name of its first output tensor (what Vela and the runtimes call it).
    pub name: String,
    /// The op in the target format's vocabulary (`CONV_2D`, `Conv`).
    pub op: String,
    /// Inputs in order; `None` for an omitted optional input.
    pub inputs: Vec<Option<TensorView>>,
    pub outputs: Vec<TensorView>,
    pub params: Params,
}

/// What a rule needs to know about one tensor.
#[derive(Debug, Clone)]
pub struct TensorView {
    pub name: String,
    pub dtype: DType,
    /// Dimensions; -1 where unknown until run time.
    pub shape: Vec<i64>,
    /// Constant data (weights, parameters).
    pub is_const: bool,
    pub quant: Option<QuantView>,
}

/// A tensor's quantization parameters.
#[derive(Debug, Clone)]
pub struct QuantView {
    pub scales: Vec<f32>,
    pub zero_points: Vec<i64>,
}

impl QuantView {
    pub fn per_axis(&self) -> bool {
        self.scales.len() > 1
    }
}

/// Operator parameters the rules test, where the operator has them.
#[derive(Debug, Clone, Default)]
pub struct Params {
    /// (height, width)
    pub stride: Option<[i64; 2]>,
    pub dilation: Option<[i64; 2]>,
    /// (height, width) of the kernel or pooling window.
    pub kernel: Option<[i64; 2]>,
    /// `Some(true)` for VALID padding, `Some(false)` for SAME.
    pub padding_valid: Option<bool>,
    /// Axes the operator works along (normalized to non-negative), when constant.
    pub axes: Option<Vec<i64>>,
    /// A depthwise convolution's depth multiplier.
    pub depth_multiplier: Option<i64>,
    /// Options set on the operator that some target refuses, by name (`shrink_axis_mask`,
    /// `mode SYMMETRIC`).
    pub options: Vec<String>,
}
