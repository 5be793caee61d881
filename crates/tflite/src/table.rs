//! The two-way table of TFLite builtins ↔ IR ops: one row per one-to-one form, read by the
//! reader (builtin → op) and by the writer (op → builtin), organised per op family.
//!
//! A row says which builtin is which op, how many tensor inputs it takes, how the builtin's
//! options map to the op's attributes (and fused activation), the operator version to
//! write for float and for quantized tensors, and whether LiteRT computes what the ONNX op
//! computes (the table test runs those rows in LiteRT and onnxruntime). Forms that are not
//! one-to-one (RSQRT → `Sqrt` + `Reciprocal`, `Clip` → RELU6 / MAXIMUM + MINIMUM, SOFTMAX
//! with beta ≠ 1, …) are code in their op family's file; the dispatch of either side tries
//! this table first.
//!
//! Adding an op with a one-to-one builtin is one row here.

use flatbuffers::{FlatBufferBuilder, UnionWIPOffset, WIPOffset};
use modelc_ir::{Attr, Node, OnnxOp};

use crate::fb::{self, ActivationFunctionType, BuiltinOperator as B, BuiltinOptions};

/// One builtin ↔ op form.
#[derive(Debug, Clone, Copy)]
pub struct Row {
    pub code: B,
    pub op: OnnxOp,
    /// Tensor inputs, all required.
    pub inputs: usize,
    /// The op takes more inputs than the builtin (ONNX's variadic Max / Min): the writer
    /// chains the builtin over them (in float).
    pub variadic: bool,
    pub options: Options,
    /// Operator version written for float tensors.
    pub float_version: i32,
    /// Operator version written when the op runs on quantized tensors.
    pub quantized_version: i32,
    /// LiteRT computes what onnxruntime computes for the ONNX op (up to float rounding), so
    /// the form round-trips through the real runtimes exactly.
    pub exact: bool,
}

/// How a builtin's options (and fused activation) map to the op's attributes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Options {
    /// No options, no attributes.
    None,
    /// AddOptions (`pot_scale_int16` written true): the fused activation only.
    Add,
    /// SubOptions (`pot_scale_int16` written true): the fused activation only.
    Sub,
    /// MulOptions: the fused activation only.
    Mul,
    /// DivOptions: the fused activation only.
    Div,
    /// No options; `alpha` is 1 (ELU's only slope; the reader leaves the default out).
    UnitAlpha,
    /// LeakyReluOptions.alpha ↔ `alpha` (0.2 when a file has no options).
    LeakyRelu,
    /// GeluOptions.approximate ↔ `approximate` = `"tanh"` / `"none"`.
    Gelu,
    /// SoftmaxOptions.beta = 1 ↔ `axis` = the last (-1 on read). A beta other than 1 is
    /// not this form: the activation family scales the input first.
    Softmax,
    /// LogSoftmaxOptions ↔ `axis` = the last (-1 on read).
    LogSoftmax,
    /// L2NormOptions (no fused activation) ↔ `p` = 2, `axis` = the last (-1 on read).
    L2Norm,
}

/// What a builtin's options say in IR terms.
pub(crate) struct ReadOptions {
    pub attrs: Vec<(&'static str, Attr)>,
    pub activation: ActivationFunctionType,
}

/// Options as written: the union's type and offset, or none.
pub(crate) type WrittenOptions = Option<(BuiltinOptions, WIPOffset<UnionWIPOffset>)>;

const fn row(code: B, op: OnnxOp, inputs: usize, options: Options) -> Row {
    Row {
        code,
        op,
        inputs,
        variadic: false,
        options,
        float_version: 1,
        quantized_version: 2,
        exact: true,
    }
}

const fn unary(code: B, op: OnnxOp) -> Row {
    row(code, op, 1, Options::None)
}

const fn binary(code: B, op: OnnxOp) -> Row {
    row(code, op, 2, Options::None)
}

/// Binary arithmetic with a fused activation.
const ARITHMETIC: &[Row] = &[
    row(B::ADD, OnnxOp::Add, 2, Options::Add),
    row(B::SUB, OnnxOp::Sub, 2, Options::Sub),
    row(B::MUL, OnnxOp::Mul, 2, Options::Mul),
    row(B::DIV, OnnxOp::Div, 2, Options::Div),
];

/// Binary element-wise ops without options (numpy broadcasting in both).
const BINARY: &[Row] = &[
    Row {
        variadic: true,
        ..binary(B::MAXIMUM, OnnxOp::Max)
    },
    Row {
        variadic: true,
        ..binary(B::MINIMUM, OnnxOp::Min)
    },
    binary(B::POW, OnnxOp::Pow),
    binary(B::LESS, OnnxOp::Less),
    binary(B::LESS_EQUAL, OnnxOp::LessOrEqual),
    binary(B::GREATER, OnnxOp::Greater),
    binary(B::GREATER_EQUAL, OnnxOp::GreaterOrEqual),
    binary(B::EQUAL, OnnxOp::Equal),
    binary(B::LOGICAL_AND, OnnxOp::And),
    binary(B::LOGICAL_OR, OnnxOp::Or),
    binary(B::PRELU, OnnxOp::PRelu),
    Row {
        quantized_version: 1,
        ..row(B::SELECT_V2, OnnxOp::Where, 3, Options::None)
    },
];

/// Activations.
const ACTIVATION: &[Row] = &[
    unary(B::RELU, OnnxOp::Relu),
    unary(B::LOGISTIC, OnnxOp::Sigmoid),
    unary(B::TANH, OnnxOp::Tanh),
    // LiteRT registers HARD_SWISH version 1 only, int8 included (register.cc); version 2
    // is refused ("Didn't find op for builtin opcode 'HARD_SWISH' version '2'").
    Row {
        quantized_version: 1,
        ..unary(B::HARD_SWISH, OnnxOp::HardSwish)
    },
    row(B::ELU, OnnxOp::Elu, 1, Options::UnitAlpha),
    row(B::LEAKY_RELU, OnnxOp::LeakyRelu, 1, Options::LeakyRelu),
    Row {
        quantized_version: 1,
        ..row(B::GELU, OnnxOp::Gelu, 1, Options::Gelu)
    },
    row(B::SOFTMAX, OnnxOp::Softmax, 1, Options::Softmax),
    row(B::LOG_SOFTMAX, OnnxOp::LogSoftmax, 1, Options::LogSoftmax),
];

/// Unary math (ROUND is banker's rounding in both).
const UNARY: &[Row] = &[
    unary(B::EXP, OnnxOp::Exp),
    unary(B::LOG, OnnxOp::Log),
    unary(B::SQRT, OnnxOp::Sqrt),
    unary(B::ABS, OnnxOp::Abs),
    unary(B::NEG, OnnxOp::Neg),
    unary(B::FLOOR, OnnxOp::Floor),
    unary(B::CEIL, OnnxOp::Ceil),
    unary(B::ROUND, OnnxOp::Round),
    unary(B::SIN, OnnxOp::Sin),
    unary(B::COS, OnnxOp::Cos),
    unary(B::LOGICAL_NOT, OnnxOp::Not),
    unary(B::SIGN, OnnxOp::Sign),
    Row {
        quantized_version: 1,
        ..row(
            B::L2_NORMALIZATION,
            OnnxOp::LpNormalization,
            1,
            Options::L2Norm,
        )
    },
];

const FAMILIES: &[&[Row]] = &[ARITHMETIC, BINARY, ACTIVATION, UNARY];

/// Every row, family by family.
pub fn rows() -> impl Iterator<Item = &'static Row> {
    FAMILIES.iter().flat_map(|f| f.iter())
}

/// The row of a builtin, if its form is in the table.
pub(crate) fn by_code(code: B) -> Option<&'static Row> {
    rows().find(|r| r.code == code)
}

/// The row of an IR op, if its form is in the table.
pub(crate) fn by_op(op: OnnxOp) -> Option<&'static Row> {
    rows().find(|r| r.op == op)
}

impl Row {
    pub(crate) fn version(&self, quantized: bool) -> i32 {
        if quantized {
            self.quantized_version
        } else {
            self.float_version
        }
    }
}

impl Options {
    /// Whether the options carry a fused activation.
    pub fn fuses_activation(self) -> bool {
        matches!(
            self,
            Options::Add | Options::Sub | Options::Mul | Options::Div
        )
    }

    /// The attributes and fused activation `op`'s options give; `None` when they make the
    /// operator another form than the row's.
    pub(crate) fn read(self, op: &fb::Operator<'_>) -> Option<ReadOptions> {
        let mut attrs = Vec::new();
        let mut activation = None;
        match self {
            Options::None | Options::UnitAlpha => {}
            Options::Add => {
                activation = op
                    .builtin_options_as_add_options()
                    .map(|o| o.fused_activation_function())
            }
            Options::Sub => {
                activation = op
                    .builtin_options_as_sub_options()
                    .map(|o| o.fused_activation_function())
            }
            Options::Mul => {
                activation = op
                    .builtin_options_as_mul_options()
                    .map(|o| o.fused_activation_function())
            }
            Options::Div => {
                activation = op
                    .builtin_options_as_div_options()
                    .map(|o| o.fused_activation_function())
            }
            Options::LeakyRelu => {
                let alpha = op
                    .builtin_options_as_leaky_relu_options()
                    .map_or(0.2, |o| o.alpha());
                attrs.push(("alpha", Attr::Float(alpha)));
            }
            Options::Gelu => {
                let approx = op
                    .builtin_options_as_gelu_options()
                    .is_some_and(|o| o.approximate());
                let mode: &'static [u8] = if approx { b"tanh" } else { b"none" };
                attrs.push(("approximate", Attr::String(bytes::Bytes::from_static(mode))));
            }
            Options::Softmax => {
                let beta = op
                    .builtin_options_as_softmax_options()
                    .map_or(1.0, |o| o.beta());
                if beta != 1.0 {
                    return None;
                }
                attrs.push(("axis", Attr::Int(-1)));
            }
            Options::LogSoftmax => attrs.push(("axis", Attr::Int(-1))),
            Options::L2Norm => {
                attrs.push(("axis", Attr::Int(-1)));
                attrs.push(("p", Attr::Int(2)));
            }
        }
        Some(ReadOptions {
            attrs,
            activation: activation.unwrap_or(ActivationFunctionType::NONE),
        })
    }

    /// The options for `node` with fused activation `act`, whose input 0 has rank `rank`;
    /// `Err` says why the node is not this form.
    pub(crate) fn write(
        self,
        fbb: &mut FlatBufferBuilder<'static>,
        node: &Node,
        act: ActivationFunctionType,
        rank: usize,
    ) -> Result<WrittenOptions, String> {
        if !self.fuses_activation() && act != ActivationFunctionType::NONE {
            return Err("fused activation".into());
        }
        // A float attribute, or the ONNX schema's default for the op.
        let float = |name: &str| node.float(name).map_err(|e| e.to_string());
        let last_axis = || {
            let axis = node.attrs.int("axis", -1).unwrap_or(-1);
            if axis != -1 && axis != rank as i64 - 1 {
                return Err(format!(
                    "{} over an axis other than the last",
                    node.op.display_name()
                ));
            }
            Ok(())
        };
        use fb::*;
        let written = match self {
            Options::None => None,
            Options::UnitAlpha => {
                if float("alpha")? != 1.0 {
                    return Err(format!("{} alpha other than 1", node.op.display_name()));
                }
                None
            }
            Options::Add => {
                let args = AddOptionsArgs {
                    fused_activation_function: act,
                    pot_scale_int16: true,
                };
                let o = AddOptions::create(fbb, &args).as_union_value();
                Some((BuiltinOptions::AddOptions, o))
            }
            Options::Sub => {
                let args = SubOptionsArgs {
                    fused_activation_function: act,
                    pot_scale_int16: true,
                };
                let o = SubOptions::create(fbb, &args).as_union_value();
                Some((BuiltinOptions::SubOptions, o))
            }
            Options::Mul => {
                let args = MulOptionsArgs {
                    fused_activation_function: act,
                };
                let o = MulOptions::create(fbb, &args).as_union_value();
                Some((BuiltinOptions::MulOptions, o))
            }
            Options::Div => {
                let args = DivOptionsArgs {
                    fused_activation_function: act,
                };
                let o = DivOptions::create(fbb, &args).as_union_value();
                Some((BuiltinOptions::DivOptions, o))
            }
            Options::LeakyRelu => {
                let alpha = float("alpha")?;
                let o = LeakyReluOptions::create(fbb, &LeakyReluOptionsArgs { alpha });
                Some((BuiltinOptions::LeakyReluOptions, o.as_union_value()))
            }
            Options::Gelu => {
                let mode = node.attrs.string("approximate", "none");
                let approximate = mode.is_ok_and(|m| m == "tanh");
                let o = GeluOptions::create(fbb, &GeluOptionsArgs { approximate });
                Some((BuiltinOptions::GeluOptions, o.as_union_value()))
            }
            Options::Softmax => {
                last_axis()?;
                let o = SoftmaxOptions::create(fbb, &SoftmaxOptionsArgs { beta: 1.0 });
                Some((BuiltinOptions::SoftmaxOptions, o.as_union_value()))
            }
            Options::LogSoftmax => {
                last_axis()?;
                let o = LogSoftmaxOptions::create(fbb, &LogSoftmaxOptionsArgs {});
                Some((BuiltinOptions::LogSoftmaxOptions, o.as_union_value()))
            }
            Options::L2Norm => {
                last_axis()?;
                if node.attrs.int("p", 2).unwrap_or(2) != 2 {
                    return Err("LpNormalization with p other than 2".into());
                }
                let o = L2NormOptions::create(fbb, &L2NormOptionsArgs::default());
                Some((BuiltinOptions::L2NormOptions, o.as_union_value()))
            }
        };
        Ok(written)
    }
}
