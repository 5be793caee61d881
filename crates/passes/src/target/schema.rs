//! The shape of a target file (`targets/*.toml`): what a hardware target accepts, each rule
//! with the vendor document or source file it comes from. serde reads it; [`super::Target`]
//! validates it (op names, ranges, dtypes) before anything uses it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A whole target file.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TargetFile {
    pub target: Meta,
    /// Rules every operator must meet (unless listed in a rule's `except`).
    #[serde(default)]
    pub tensors: TensorRules,
    /// The operators the accelerator runs, each with its own constraints. Ignored when
    /// `target.all_ops` is true.
    #[serde(default)]
    pub ops: BTreeMap<String, OpRule>,
    /// The QDQ form `quantize --target` writes for this target (ONNX targets); absent: the
    /// quantizer's defaults for the output format.
    #[serde(default)]
    pub quantization: Option<QuantScheme>,
}

/// How the target wants a model quantized: what its accelerator accepts as QDQ.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct QuantScheme {
    /// Element type of quantized activations by default: `u8`, `i8`, `u16` or `i16`.
    pub activation: String,
    /// Other activation types the accelerator also takes, which a user may choose with
    /// `quantize --activation-type` (qnn-htp: `u8`, faster and smaller than its default
    /// `u16`); any other choice is refused.
    #[serde(default)]
    pub activation_options: Vec<String>,
    /// Activations with zero point 0 (symmetric ranges).
    #[serde(default)]
    pub symmetric_activations: bool,
    /// Element type of weights (modelc writes symmetric, zero point 0): `i8`.
    pub weight: String,
    /// Weights quantized per output channel (else per tensor).
    pub per_channel: bool,
    /// Biases: `int32` (every Conv / Gemm bias, scale = input scale × weight scale),
    /// `auto` (the quantizer's default) or `float`.
    pub bias: String,
    /// The output of every quantized op is quantized, the graph's last one too (the
    /// accelerator has no integer-in, float-out kernels).
    #[serde(default)]
    pub quantize_outputs: bool,
    /// Where the scheme comes from.
    pub source: String,
}

/// What the target is and what happens to an operator it cannot run.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Meta {
    pub name: String,
    pub description: String,
    /// The file format the target consumes; `check` evaluates the model in this form.
    pub format: Format,
    pub fallback: Fallback,
    /// Every operator runs (the CPU): `ops` is not consulted.
    #[serde(default)]
    pub all_ops: bool,
    /// Where the rules come from (vendor document, tool source, version).
    pub source: String,
    /// The vendor's own tool that judges a model for this target, when one runs offline.
    #[serde(default)]
    pub tool: Option<String>,
    /// ONNX targets that compile QDQ node units (DequantizeLinear → op → QuantizeLinear) as
    /// one quantized operator: the rules see each op's integer inputs and outputs, as the
    /// runtime does (onnxruntime's QNN and NNAPI EPs). Without it each ONNX node is judged on
    /// its own float or integer types (TensorRT's parser).
    #[serde(default)]
    pub qdq_units: bool,
    /// Passes that rewrite ops the target lacks into ops it has (`decompose-flatten`), run
    /// by `convert --target` and `quantize --target` after the target's built-in lowering.
    #[serde(default)]
    pub lowering: Vec<String>,
    /// Passes `quantize --target` runs on the float model before calibrating
    /// (`decompose-layer-norm-rsqrt`): what they create is measured and quantized like the
    /// rest, where a rewrite after quantization would have no ranges for its interior.
    #[serde(default)]
    pub before_quantize: Vec<String>,
    /// ONNX ops `quantize --target` quantizes besides its default set (the ops onnxruntime
    /// has QDQ kernels for): ops the target's integer kernels run (`ReduceMean`, `Sub`,
    /// `Pow` on Ethos-U: MEAN, SUB, RSQRT).
    #[serde(default)]
    pub quantize_ops: Vec<String>,
}

/// The file format a target consumes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// Any format modelc writes (the CPU target).
    Any,
    Tflite,
    Onnx,
}

/// What happens to an operator the accelerator cannot run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Fallback {
    /// Nothing falls back: every operator runs (the CPU target).
    None,
    /// The graph is split; unsupported operators run on the CPU between accelerator
    /// partitions (Vela, TFLite delegates).
    Partition,
    /// The graph is cut at the first unsupported operator; it and everything after it run
    /// on the CPU (Edge TPU compiler).
    Cut,
    /// An unsupported operator is an error: the model does not load or compile (TFLite
    /// Micro without the kernel, TensorRT).
    Error,
}

impl Fallback {
    pub fn name(self) -> &'static str {
        match self {
            Fallback::None => "none",
            Fallback::Partition => "partition",
            Fallback::Cut => "cut",
            Fallback::Error => "error",
        }
    }
}

/// An inclusive numeric range, written `[lo, hi]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
pub struct Range(pub i64, pub i64);

impl Range {
    pub fn contains(self, v: i64) -> bool {
        self.0 <= v && v <= self.1
    }
}

impl std::fmt::Display for Range {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "[{}, {}]", self.0, self.1)
    }
}

/// A generic rule: its value, the operators it does not apply to, and its source.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Rule<T> {
    pub value: T,
    #[serde(default)]
    pub except: Vec<String>,
    pub source: String,
}

impl<T> Rule<T> {
    /// The rule's value for `op`, unless `op` is an exception.
    pub fn for_op(&self, op: &str) -> Option<&T> {
        (!self.except.iter().any(|e| e == op)).then_some(&self.value)
    }
}

/// Which dimensions may be unknown until run time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum StaticShape {
    /// Every dimension is known.
    All,
    /// Only the first (batch) dimension may be dynamic.
    AllButFirst,
}

/// Rules on every operator's tensors.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TensorRules {
    /// Element types of feature maps (non-constant inputs and outputs), e.g. `["i8", "i16"]`.
    pub feature_dtypes: Option<Rule<Vec<String>>>,
    /// Largest rank of any tensor an operator reads or writes.
    pub max_rank: Option<Rule<u32>>,
    /// Range of every dimension of every feature map.
    pub dim_range: Option<Rule<Range>>,
    /// Which dimensions may be dynamic.
    pub static_shape: Option<Rule<StaticShape>>,
    /// Only this many innermost dimensions of a feature map may exceed 1 (Edge TPU: 3).
    pub innermost_dims: Option<Rule<u32>>,
    /// Integer feature maps and weights must carry quantization parameters.
    pub quantized: Option<Rule<bool>>,
    /// Per-axis (per-channel) quantization is accepted on these operators only.
    pub per_axis_ops: Option<Rule<Vec<String>>>,
    /// Zero points of int32 tensors must be 0 and those of unsigned tensors non-negative.
    pub zero_points: Option<Rule<bool>>,
    /// An optional input left out before a given one (ONNX's empty input name) counts as a
    /// tensor without a fixed shape: the operator is not supported (onnxruntime's mobile
    /// usability checker; `fill-omitted-inputs` fills what it can).
    pub omitted_inputs_dynamic: Option<Rule<bool>>,
}

/// One operator's constraints. Every field is optional; the checker reports the first
/// violated one per operator, in the order of this struct.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct OpRule {
    /// Where this operator's constraints come from.
    pub source: String,
    /// Feature-map element types for this operator (replaces the generic list).
    pub feature_dtypes: Option<Vec<String>>,
    /// Largest rank of this operator's tensors (replaces the generic one).
    pub max_rank: Option<u32>,
    /// Inputs (by index) that must be constant: weights, bias, parameter tensors.
    #[serde(default)]
    pub const_inputs: Vec<usize>,
    /// Inputs (by index) that must not be constant (the GPU delegate's FULLY_CONNECTED: "doesn't
    /// support constant input").
    #[serde(default)]
    pub runtime_inputs: Vec<usize>,
    /// Element types of the weights (input 1).
    pub weight_dtypes: Option<Vec<String>>,
    /// Element types of the bias (input 2).
    pub bias_dtypes: Option<Vec<String>>,
    /// Stride in each spatial dimension.
    pub stride: Option<Range>,
    /// Stride accepted when padding is VALID and dilation is 1 (wider than `stride`).
    pub stride_valid_padding: Option<Range>,
    /// Dilation in each spatial dimension.
    pub dilation: Option<Range>,
    /// Kernel size in each spatial dimension.
    pub kernel: Option<Range>,
    /// Kernel height.
    pub kernel_h: Option<Range>,
    /// Kernel height × width.
    pub kernel_area: Option<Range>,
    /// Kernel size in each spatial dimension when padding is SAME.
    pub kernel_same_padding: Option<Range>,
    /// Depth (last dimension) of input 0.
    pub depth: Option<Range>,
    /// Batch (first dimension) of input 0.
    pub batch: Option<Range>,
    /// Height × width of input 0 (rank 4: dims 1 and 2; rank 3: dims 0 and 1).
    pub hw_product: Option<Range>,
    /// The operator works along the last axis only.
    #[serde(default)]
    pub last_axis_only: bool,
    /// Product of the reduced dimensions.
    pub reduced_elements: Option<Range>,
    /// Each reduced dimension.
    pub reduced_axis: Option<Range>,
    /// Input 0 and output 0 have the same element type.
    #[serde(default)]
    pub same_io_dtype: bool,
    /// Inputs and output have the same quantization parameters.
    #[serde(default)]
    pub same_quantization: bool,
    /// The scale of input 0, when it is 8-bit quantized, must be above this (TFLite
    /// Micro's int8 SOFTMAX needs input scale × beta × 2^26 > 1; beta is taken as 1, what
    /// modelc and TensorFlow's converter write).
    pub min_input_scale: Option<f64>,
    /// When the operator reads a quantized feature map, its outputs must be quantized too (a
    /// QDQ unit quantized throughout: the target has no integer-in, float-out kernel).
    #[serde(default)]
    pub whole_qdq_unit: bool,
    /// Zero points of every quantized tensor the operator reads or writes must be 0
    /// (symmetric quantization).
    #[serde(default)]
    pub zero_point_zero: bool,
    /// A depthwise convolution's depth multiplier when its input depth is above 1 (the TFLite
    /// GPU delegate takes any multiplier on a depth-1 input).
    pub depth_multiplier: Option<Range>,
    /// Operator options the target refuses, as the view names them (`shrink_axis_mask`,
    /// `mode SYMMETRIC`).
    #[serde(default)]
    pub refused_options: Vec<String>,
    /// Allowed rank of input `i` (by index, written as a string key: `input_ranks = { "1" =
    /// [1, 1] }`), constant or not (GPU delegate: GATHER's indices 1-D, SLICE's input 3-D
    /// or 4-D).
    #[serde(default)]
    pub input_ranks: BTreeMap<String, Range>,
    /// How many tensor inputs the operator takes (TFLite Micro's CONCATENATION: at most 10).
    pub input_count: Option<Range>,
    /// Documented constraints modelc does not evaluate (listed by `modelc targets --json`
    /// so nobody mistakes the file for the whole truth).
    #[serde(default)]
    pub unchecked: Vec<String>,
}
