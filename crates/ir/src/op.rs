//! The op vocabulary: ONNX's operators (generated from the ONNX schemas), the structural
//! nodes of a graph (inputs, constants, values of an enclosing graph) and `Custom` for
//! anything else, which round-trips through its own format unchanged.

use std::fmt;
use std::str::FromStr;

use crate::{AttrKind, SparseTensor, Tensor};

mod defaults;
#[rustfmt::skip]
mod onnx_ops;
mod traits;

pub use defaults::{AttrDefault, VersionDependentDefault};
pub use onnx_ops::OnnxOp;

pub use traits::{LayoutRoles, OpTraits, Randomness};

/// Arity and attributes of an ONNX operator, merged over all its opset versions.
#[derive(Debug)]
pub struct OpSchema {
    pub op: OnnxOp,
    pub name: &'static str,
    /// `ai.onnx`, `ai.onnx.ml`, `ai.onnx.preview.training` or `ai.onnx.preview`.
    pub domain: &'static str,
    /// Opset versions in which the operator's definition changed.
    pub since_versions: &'static [i32],
    /// Inclusive (min, max) count of inputs; `usize::MAX` when variadic.
    pub inputs: (usize, usize),
    pub outputs: (usize, usize),
    /// Attributes any version defines; a name may appear with several kinds across versions.
    pub attrs: &'static [AttrSchema],
    /// Per version (`since_version`, masks): the types each formal input accepts, as a mask
    /// of [`type_bit`]s (0: no type the mask can express, e.g. maps; not checked). A
    /// variadic last input's mask covers every actual input from it on.
    pub input_types: &'static [(i32, &'static [u64])],
}

/// The bit of a value type in [`OpSchema::input_types`] masks: a tensor of element type T is
/// bit `T.onnx_code()`, a sequence of such tensors bit 32 + code, any optional bit 63;
/// `None` for types the masks do not describe (maps, sparse tensors, unknown element types).
pub fn type_bit(ty: &crate::ValueType) -> Option<u32> {
    use crate::ValueType as V;
    let code = |t: &crate::TensorType| {
        let c = t.dtype?.onnx_code();
        u32::try_from(c).ok().filter(|&c| c < 32)
    };
    match ty {
        V::Tensor(t) => code(t),
        V::Sequence(Some(inner)) => match inner.as_ref() {
            V::Tensor(t) => code(t).map(|c| 32 + c),
            _ => None,
        },
        V::Optional(_) => Some(63),
        _ => None,
    }
}

#[derive(Debug)]
pub struct AttrSchema {
    pub name: &'static str,
    pub kind: AttrKind,
    pub required: bool,
    /// The schema default as `(since_version, default)` at each opset version where it
    /// changes (`None`: no default from that version on); no default before the first step.
    pub defaults: &'static [(i32, Option<AttrDefault>)],
}

impl OnnxOp {
    pub fn schema(self) -> &'static OpSchema {
        &onnx_ops::SCHEMAS[self as usize]
    }

    pub fn name(self) -> &'static str {
        self.schema().name
    }

    pub fn domain(self) -> &'static str {
        self.schema().domain
    }

    /// The operator `name` of `domain` (`""` and `ai.onnx` are the same domain).
    pub fn lookup(domain: &str, name: &str) -> Option<OnnxOp> {
        let domain = if domain.is_empty() { "ai.onnx" } else { domain };
        onnx_ops::SCHEMAS
            .iter()
            .find(|s| s.domain == domain && s.name == name)
            .map(|s| s.op)
    }

    /// The input type masks of the version in effect at opset `opset` of the op's domain
    /// (`None` before the op existed).
    pub fn input_types_at(self, opset: i64) -> Option<&'static [u64]> {
        self.schema()
            .input_types
            .iter()
            .take_while(|(since, _)| i64::from(*since) <= opset)
            .last()
            .map(|(_, masks)| *masks)
    }

    /// Every known operator.
    pub fn all() -> impl Iterator<Item = OnnxOp> {
        onnx_ops::SCHEMAS.iter().map(|s| s.op)
    }
}

impl fmt::Display for OnnxOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.domain() {
            "ai.onnx" => f.write_str(self.name()),
            d => write!(f, "{d}.{}", self.name()),
        }
    }
}

/// Where the channel dimension of a layout-sensitive op's data is.
///
/// [`Node::layout`](crate::Node::layout) is set on layout-sensitive ops
/// ([`OnnxOp::is_layout_sensitive`]): `Nchw` (ONNX's default) or `Nhwc`. With `Nhwc`:
///
/// - Data inputs and outputs are channels-last: `[N, spatial..., C]`. Attributes that are
///   per spatial axis (`kernel_shape`, `strides`, `pads`, `dilations`, `output_padding`,
///   `output_shape`) keep their ONNX meaning and order (spatial axes in order, `pads` =
///   `[begins..., ends...]`).
/// - Conv: the weight is `[M, k_spatial..., C/group]` ("OHWI", TFLite `CONV_2D` order); bias
///   `[M]`. A depthwise conv (`group == C`) follows the same rule: weight `[M, kH, kW, 1]`.
///   (TFLite's `DEPTHWISE_CONV_2D` weight is `[1, kH, kW, M]`; the TFLite reader transposes
///   it to `[M, kH, kW, 1]`, the writer transposes back.) ConvInteger, QLinearConv and
///   DeformConv weights follow Conv.
/// - ConvTranspose: the weight is `[M_out, k_spatial..., C_in/group]` (TFLite
///   `TRANSPOSE_CONV` order `[out, kH, kW, in]` for group 1); bias `[M_out]`.
/// - BatchNormalization / InstanceNormalization / GroupNormalization / LRN: the channel axis
///   is the last.
/// - MaxPool / AveragePool / LpPool / Global*Pool: only the data layout changes (MaxPool's
///   Indices are flat row-major indices into the NHWC input).
/// - DepthToSpace / SpaceToDepth: blocks are taken from / put into the last (channel) axis;
///   the DCR/CRD `mode` keeps its ONNX meaning relative to the channel axis (TF's
///   `depth_to_space` is DCR).
/// - Resize / Upsample: the `roi`, `scales` and `sizes` inputs (and Resize's `axes`) are per
///   axis of the actual (NHWC) tensor.
/// - Quantized ops with per-axis scales (QuantizeLinear / DequantizeLinear) are not
///   layout-sensitive: their `axis` attribute names the real axis (e.g. axis 0 for OHWI conv
///   weights per output channel, axis 3 for per-channel NHWC activations).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Layout {
    /// Channels first (`[N, C, spatial...]`): ONNX's and PyTorch's layout.
    Nchw,
    /// Channels last (`[N, spatial..., C]`): TFLite's layout.
    Nhwc,
}

impl fmt::Display for Layout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Layout::Nchw => "NCHW",
            Layout::Nhwc => "NHWC",
        })
    }
}

impl FromStr for Layout {
    type Err = String;
    fn from_str(s: &str) -> Result<Layout, String> {
        match s {
            "NCHW" => Ok(Layout::Nchw),
            "NHWC" => Ok(Layout::Nhwc),
            _ => Err(format!("unknown layout `{s}` (expected NCHW or NHWC)")),
        }
    }
}

/// What a node does.
#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    /// A graph input. `default` is an initializer that also appears as an input (ONNX: an
    /// overridable default value).
    Input { default: Option<Box<Tensor>> },
    /// A constant (an ONNX initializer). Boxed, as every large variant is: an `Op` is in
    /// every node, and a tensor inline made each node of a 200,000-node graph 56 bytes wider.
    Const(Box<Tensor>),
    /// A sparse constant (an ONNX sparse initializer; boxed: rare, and it would double the
    /// size of every node).
    SparseConst(Box<SparseTensor>),
    /// In a sub-graph: a value of an enclosing graph, referenced by the name of its single
    /// output. The node that owns the sub-graph receives that value as a capture input.
    Outer,
    /// An ONNX operator.
    Onnx(OnnxOp),
    /// An operator the IR does not know, kept with its domain and name (boxed: rare).
    Custom(Box<CustomOp>),
}

/// An operator the IR does not know: its domain and name as the source model spells them.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CustomOp {
    pub domain: String,
    pub name: String,
}

impl Op {
    /// A custom operator `domain.name`.
    pub fn custom(domain: impl Into<String>, name: impl Into<String>) -> Op {
        Op::Custom(Box::new(CustomOp {
            domain: domain.into(),
            name: name.into(),
        }))
    }
}

impl Op {
    /// The ONNX operator, if this is one.
    pub fn onnx(&self) -> Option<OnnxOp> {
        match self {
            Op::Onnx(op) => Some(*op),
            _ => None,
        }
    }

    /// Whether this is a structural node (input, constant, outer value) rather than a computation.
    pub fn is_structural(&self) -> bool {
        matches!(
            self,
            Op::Input { .. } | Op::Const(_) | Op::SparseConst(_) | Op::Outer
        )
    }

    /// A short name for messages and histograms: `Conv`, `ai.onnx.ml.Scaler`, `com.example.Foo`.
    pub fn display_name(&self) -> String {
        match self {
            Op::Input { .. } => "input".into(),
            Op::Const(_) => "const".into(),
            Op::SparseConst(_) => "sparse_const".into(),
            Op::Outer => "outer".into(),
            Op::Onnx(op) => op.to_string(),
            Op::Custom(c) if c.domain.is_empty() => c.name.clone(),
            Op::Custom(c) => format!("{}.{}", c.domain, c.name),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_table_is_indexed_by_variant() {
        for op in OnnxOp::all() {
            assert_eq!(op.schema().op, op);
            assert_eq!(OnnxOp::lookup(op.domain(), op.name()), Some(op));
        }
        assert_eq!(OnnxOp::lookup("", "Conv"), Some(OnnxOp::Conv));
        assert_eq!(OnnxOp::lookup("ai.onnx", "Conv"), Some(OnnxOp::Conv));
        assert_eq!(OnnxOp::lookup("com.example", "Conv"), None);
        assert_eq!(OnnxOp::Conv.schema().inputs, (2, 3));
        assert_eq!(OnnxOp::Concat.schema().inputs.1, usize::MAX);
    }

    #[test]
    fn input_types_are_read_per_version() {
        let int8 = type_bit(&crate::ValueType::tensor(crate::DType::I8, &[2])).unwrap();
        let f32 = type_bit(&crate::ValueType::tensor(crate::DType::F32, &[2])).unwrap();
        let add13 = OnnxOp::Add.input_types_at(13).unwrap();
        let add14 = OnnxOp::Add.input_types_at(14).unwrap();
        assert_eq!(add13[0] & (1 << int8), 0);
        assert_ne!(add14[0] & (1 << int8), 0);
        assert_ne!(add13[1] & (1 << f32), 0);
        assert_eq!(OnnxOp::Gelu.input_types_at(17), None);
        let seq = crate::ValueType::Sequence(Some(Box::new(crate::ValueType::tensor(
            crate::DType::F32,
            &[1],
        ))));
        assert_eq!(type_bit(&seq), Some(32 + f32));
    }
}
