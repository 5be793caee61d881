//! What each ONNX operator is, beyond its schema: elementwise, same-shape, broadcasting,
//! commutative, axis-reducing, layout-sensitive (and which inputs are data or weights), how
//! quantization treats it, whether it is a fusable activation, whether it draws random numbers.
//!
//! The ONNX schemas do not carry these facts, so they are written here, one row per op, and
//! every pass, writer and shape-inference rule reads them instead of keeping its own list
//! (coverage tests in each crate check that whoever relies on a trait handles every op that
//! has it). Whether an op has sub-graphs is in its schema ([`OnnxOp::has_subgraphs`]). An op
//! without a row has no traits.

use super::OnnxOp;
use crate::AttrKind;

/// The traits of one operator (see [`OnnxOp::traits`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpTraits {
    /// Output 0 is computed element by element from input 0 alone (other inputs, if any, are
    /// scalar parameters, as Clip's bounds). Implies `same_shape`.
    pub unary_elementwise: bool,
    /// Output 0 has input 0's shape, and the other inputs are scalars or per-channel
    /// parameters (QuantizeLinear/DequantizeLinear: per `axis`): a transpose of input 0
    /// passes through.
    pub same_shape: bool,
    /// Elementwise over all inputs with multidirectional (numpy) broadcasting.
    pub broadcasting: bool,
    /// The result does not depend on the order of the inputs.
    pub commutative: bool,
    /// Reduces input 0 over the axes named by an `axes` attribute or input (or `axis` for
    /// ArgMax/ArgMin), keeping them as ones with `keepdims`.
    pub reduce: bool,
    /// Layout-sensitive: the meaning depends on where the channel axis is, so the node carries
    /// a [`Layout`](crate::Layout). `None` for every other op.
    pub layout: Option<LayoutRoles>,
    /// Output values lie within input 0's range (elements moved, selected, or averaged):
    /// quantized, the output takes input 0's scale and zero point.
    pub quant_transparent: bool,
    /// Input 1 is a weight (quantized per output channel) and input 2, if any, a bias.
    pub weighted: bool,
    /// Common runtimes (LiteRT, onnxruntime) have integer kernels for it in QDQ form, so the
    /// static quantizer quantizes it. Implied by `weighted` and `quant_transparent`.
    pub quantizable: bool,
    /// An activation a producing op can absorb as its output clamp (TFLite's
    /// `fused_activation_function`, onnxruntime's fused Conv activations).
    pub fusable_activation: bool,
    pub randomness: Randomness,
}

/// Which inputs of a layout-sensitive op are in its data layout, and where its weight is
/// (see [`Layout`](crate::Layout) for the weight conventions of each layout).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LayoutRoles {
    pub data: &'static [usize],
    pub weight: Option<usize>,
}

/// Whether an op's results are random.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Randomness {
    /// The same inputs always give the same outputs.
    Deterministic,
    /// Every run draws new random numbers.
    Always,
    /// Random only when its `training_mode` input is true (Dropout); otherwise the identity.
    InTraining,
}

const NONE: OpTraits = OpTraits {
    unary_elementwise: false,
    same_shape: false,
    broadcasting: false,
    commutative: false,
    reduce: false,
    layout: None,
    quant_transparent: false,
    weighted: false,
    quantizable: false,
    fusable_activation: false,
    randomness: Randomness::Deterministic,
};

const UNARY: OpTraits = OpTraits {
    unary_elementwise: true,
    same_shape: true,
    ..NONE
};

const SAME_SHAPE: OpTraits = OpTraits {
    same_shape: true,
    ..NONE
};

const BROADCAST: OpTraits = OpTraits {
    broadcasting: true,
    ..NONE
};

const COMMUTATIVE: OpTraits = OpTraits {
    commutative: true,
    ..BROADCAST
};

const REDUCE: OpTraits = OpTraits {
    reduce: true,
    ..NONE
};

const RANDOM: OpTraits = OpTraits {
    randomness: Randomness::Always,
    ..NONE
};

/// Moves or selects elements: quantized like its input.
const TRANSPARENT: OpTraits = OpTraits {
    quant_transparent: true,
    quantizable: true,
    ..NONE
};

/// Layout-sensitive with data input 0 and no weight.
const LAYOUT: OpTraits = OpTraits {
    layout: Some(LayoutRoles {
        data: &[0],
        weight: None,
    }),
    ..NONE
};

/// Layout-sensitive with data input 0 and weight input 1 (and bias input 2).
const CONV: OpTraits = OpTraits {
    layout: Some(LayoutRoles {
        data: &[0],
        weight: Some(1),
    }),
    ..NONE
};

impl OpTraits {
    const fn quantizable(self) -> OpTraits {
        OpTraits {
            quantizable: true,
            ..self
        }
    }

    const fn weighted(self) -> OpTraits {
        OpTraits {
            weighted: true,
            quantizable: true,
            ..self
        }
    }

    const fn transparent(self) -> OpTraits {
        OpTraits {
            quant_transparent: true,
            quantizable: true,
            ..self
        }
    }

    const fn fusable_activation(self) -> OpTraits {
        OpTraits {
            fusable_activation: true,
            ..self
        }
    }
}

impl OnnxOp {
    /// What this op is: one row of the traits table.
    pub const fn traits(self) -> OpTraits {
        use OnnxOp::*;
        match self {
            // Activations and other unary elementwise functions.
            Relu => UNARY.quantizable().fusable_activation(),
            Clip => UNARY.quantizable().fusable_activation(),
            LeakyRelu | Sigmoid => UNARY.quantizable(),
            HardSigmoid | HardSwish | Tanh | Elu | Selu | Celu | Gelu | Mish | Swish | Softplus
            | Softsign | ThresholdedRelu | Shrink => UNARY,
            Abs | Neg | Exp | Log | Sqrt | Reciprocal | Floor | Ceil | Round | Sign | Erf => UNARY,
            Sin | Cos | Tan | Asin | Acos | Atan | Sinh | Cosh | Asinh | Acosh | Atanh => UNARY,
            Not | BitwiseNot | IsNaN | IsInf | Cast | Identity | MlBinarizer => UNARY,

            // Same shape, not a function of input 0 alone.
            Dropout => OpTraits {
                randomness: Randomness::InTraining,
                ..SAME_SHAPE
            },
            // DynamicQuantizeLinear: its scale and zero point (outputs 1, 2) are scalars.
            QuantizeLinear | DequantizeLinear | DynamicQuantizeLinear => SAME_SHAPE,

            // Numpy-broadcasting elementwise ops.
            Add | Mul => COMMUTATIVE.quantizable(),
            Max | Min | Sum | Mean | Equal | And | Or | Xor | BitwiseAnd | BitwiseOr
            | BitwiseXor => COMMUTATIVE,
            Where => BROADCAST.quantizable(),
            Sub | Div | Pow | PRelu | Greater | Less | GreaterOrEqual | LessOrEqual | Mod
            | BitShift => BROADCAST,

            // Axis reductions.
            ArgMax => REDUCE.quantizable(),
            ReduceMean | ReduceSum | ReduceMax | ReduceMin | ReduceProd | ReduceL1 | ReduceL2
            | ReduceLogSum | ReduceLogSumExp | ReduceSumSquare | ArgMin => REDUCE,

            // Layout-sensitive ops.
            Conv | ConvTranspose => CONV.weighted(),
            ConvInteger => CONV,
            QLinearConv => OpTraits {
                layout: Some(LayoutRoles {
                    data: &[0],
                    weight: Some(3),
                }),
                ..NONE
            },
            DeformConv => OpTraits {
                layout: Some(LayoutRoles {
                    data: &[0, 2, 4],
                    weight: Some(1),
                }),
                ..NONE
            },
            MaxPool | AveragePool => LAYOUT.transparent(),
            GlobalAveragePool | InstanceNormalization | BatchNormalization => LAYOUT.quantizable(),
            Resize => LAYOUT.transparent(),
            // MaxUnpool: input 1 holds flat indices into input 0's layout.
            MaxUnpool => OpTraits {
                layout: Some(LayoutRoles {
                    data: &[0, 1],
                    weight: None,
                }),
                ..NONE
            },
            LpPool | GlobalMaxPool | GlobalLpPool | MaxRoiPool | RoiAlign | GroupNormalization
            | LRN | Upsample | DepthToSpace | SpaceToDepth | GridSample | Col2Im => LAYOUT,

            // Data movement and selection.
            Reshape | Transpose | Squeeze | Unsqueeze | Flatten | Slice | Pad | Split | Gather
            | GatherElements | TopK => TRANSPARENT,

            // Other ops with integer kernels.
            Gemm | MatMul => NONE.weighted(),
            Concat | Softmax | LayerNormalization => NONE.quantizable(),

            RandomNormal | RandomNormalLike | RandomUniform | RandomUniformLike | Multinomial
            | Bernoulli => RANDOM,

            _ => NONE,
        }
    }

    /// Whether the op's meaning depends on where the channel dimension is, so that it
    /// carries a [`Layout`](crate::Layout).
    pub const fn is_layout_sensitive(self) -> bool {
        self.traits().layout.is_some()
    }

    /// Whether any version of the op's schema has a graph attribute (If, Loop, Scan, ...).
    pub fn has_subgraphs(self) -> bool {
        self.schema()
            .attrs
            .iter()
            .any(|a| matches!(a.kind, AttrKind::Graph | AttrKind::Graphs))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The traits that imply others hold together for every op.
    #[test]
    fn traits_are_consistent() {
        for op in OnnxOp::all() {
            let t = op.traits();
            if t.unary_elementwise {
                assert!(t.same_shape, "{op}: unary elementwise but not same-shape");
            }
            assert!(
                !(t.same_shape && t.broadcasting),
                "{op}: same-shape ops have scalar or per-channel parameters, not broadcast operands"
            );
            if t.commutative {
                assert!(t.broadcasting, "{op}: commutative ops here are elementwise");
            }
            if t.weighted || t.quant_transparent {
                assert!(
                    t.quantizable,
                    "{op}: weighted and transparent ops are quantizable"
                );
            }
            if t.fusable_activation {
                assert!(t.unary_elementwise, "{op}: a fusable activation is unary");
            }
            if let Some(roles) = t.layout {
                assert!(
                    !roles.data.is_empty(),
                    "{op}: a layout-sensitive op has data"
                );
                let (min_in, max_in) = op.schema().inputs;
                for i in roles.data.iter().chain(&roles.weight) {
                    assert!(*i < max_in, "{op}: role input {i} beyond its arity");
                }
                assert!(
                    roles.data[0] < min_in.max(1),
                    "{op}: data input 0 is optional"
                );
            }
            if t.randomness == Randomness::Always {
                assert!(!t.quantizable && !t.same_shape, "{op}: a random op");
            }
        }
    }

    #[test]
    fn sub_graphs_come_from_the_schema() {
        let with: Vec<OnnxOp> = OnnxOp::all().filter(|op| op.has_subgraphs()).collect();
        for op in [OnnxOp::If, OnnxOp::Loop, OnnxOp::Scan] {
            assert!(with.contains(&op), "{op}");
        }
        assert!(!OnnxOp::Conv.has_subgraphs());
    }
}
