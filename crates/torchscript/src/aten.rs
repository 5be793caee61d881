//! The two-way table of aten ops ↔ IR ops: one row per one-to-one element-wise form, read
//! by the reader (`aten::NAME` / `torch.NAME` → op) and by the writer (op →
//! `torch.NAME(…)`, the row's name being the torch function the writer calls), with the
//! float attributes that are the call's arguments (LeakyRelu's `alpha` = `negative_slope`).
//!
//! Forms that are not one-to-one (`add`/`sub` with `alpha` ≠ 1, `div` rounding modes,
//! `rsqrt`, `ne`, `clamp`, `gelu`, Selu, Clip, …) are code in their op family's files; the
//! reader and the writer try this table first.
//!
//! Adding an op with a one-to-one aten counterpart is one row here.

use modelc_ir::OnnxOp;

/// How a form takes its operands and what element type it gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// One tensor in, its element type out.
    Unary,
    /// One tensor in, bool out.
    UnaryPredicate,
    /// Two operands (tensors or Python numbers, promoted as torch does), the promoted type
    /// out; numpy broadcasting in both.
    Binary,
    /// Two operands, bool out.
    Compare,
}

/// A float attribute of the IR op that is a positional argument of the aten op (after
/// `self`, in the order of the row's `params`).
#[derive(Debug, Clone, Copy)]
pub struct Param {
    /// The IR attribute.
    pub attr: &'static str,
    /// The aten argument's name.
    pub arg: &'static str,
    /// The attribute's value when the node does not set it (ONNX's default).
    pub ir_default: f32,
    /// The argument's value when the call does not pass it (torch's default).
    pub aten_default: f64,
}

/// One aten ↔ op form.
#[derive(Debug, Clone, Copy)]
pub struct Row {
    /// The aten op's name; the writer calls `torch.<name>`.
    pub aten: &'static str,
    /// Other names the reader takes for the same op (Python's operators, bitwise forms).
    pub aliases: &'static [&'static str],
    pub op: OnnxOp,
    pub kind: Kind,
    /// Attributes passed as arguments (unary forms).
    pub params: &'static [Param],
    /// Takes torch's `alpha` (other scaled by it): the form is one-to-one when alpha is 1.
    pub alpha: bool,
}

const fn row(aten: &'static str, op: OnnxOp, kind: Kind) -> Row {
    Row {
        aten,
        aliases: &[],
        op,
        kind,
        params: &[],
        alpha: false,
    }
}

/// `alpha`, the same argument with the same default in both.
const ALPHA_1: &[Param] = &[Param {
    attr: "alpha",
    arg: "alpha",
    ir_default: 1.0,
    aten_default: 1.0,
}];

const fn unary(aten: &'static str, op: OnnxOp) -> Row {
    row(aten, op, Kind::Unary)
}

const fn binary(aten: &'static str, op: OnnxOp) -> Row {
    row(aten, op, Kind::Binary)
}

const fn compare(aten: &'static str, op: OnnxOp) -> Row {
    row(aten, op, Kind::Compare)
}

/// Unary math.
const UNARY: &[Row] = &[
    unary("neg", OnnxOp::Neg),
    unary("sqrt", OnnxOp::Sqrt),
    unary("exp", OnnxOp::Exp),
    unary("log", OnnxOp::Log),
    unary("abs", OnnxOp::Abs),
    unary("erf", OnnxOp::Erf),
    unary("floor", OnnxOp::Floor),
    unary("ceil", OnnxOp::Ceil),
    unary("round", OnnxOp::Round),
    unary("sin", OnnxOp::Sin),
    unary("cos", OnnxOp::Cos),
    unary("tan", OnnxOp::Tan),
    unary("asin", OnnxOp::Asin),
    unary("acos", OnnxOp::Acos),
    unary("atan", OnnxOp::Atan),
    unary("sinh", OnnxOp::Sinh),
    unary("cosh", OnnxOp::Cosh),
    unary("asinh", OnnxOp::Asinh),
    unary("acosh", OnnxOp::Acosh),
    unary("atanh", OnnxOp::Atanh),
    unary("reciprocal", OnnxOp::Reciprocal),
    unary("sign", OnnxOp::Sign),
    Row {
        aliases: &["__not__", "bitwise_not"],
        ..row("logical_not", OnnxOp::Not, Kind::UnaryPredicate)
    },
    row("isnan", OnnxOp::IsNaN, Kind::UnaryPredicate),
    row("isinf", OnnxOp::IsInf, Kind::UnaryPredicate),
];

/// Activations.
const ACTIVATION: &[Row] = &[
    unary("relu", OnnxOp::Relu),
    unary("sigmoid", OnnxOp::Sigmoid),
    unary("tanh", OnnxOp::Tanh),
    unary("hardswish", OnnxOp::HardSwish),
    unary("mish", OnnxOp::Mish),
    Row {
        params: &[Param {
            attr: "alpha",
            arg: "negative_slope",
            ir_default: 0.01,
            aten_default: 0.01,
        }],
        ..unary("leaky_relu", OnnxOp::LeakyRelu)
    },
    Row {
        params: ALPHA_1,
        ..unary("elu", OnnxOp::Elu)
    },
    Row {
        params: ALPHA_1,
        ..unary("celu", OnnxOp::Celu)
    },
];

/// Binary arithmetic.
const BINARY: &[Row] = &[
    Row {
        alpha: true,
        ..binary("add", OnnxOp::Add)
    },
    Row {
        alpha: true,
        ..binary("sub", OnnxOp::Sub)
    },
    binary("mul", OnnxOp::Mul),
    binary("pow", OnnxOp::Pow),
];

/// Comparisons and logical connectives.
const COMPARE: &[Row] = &[
    compare("eq", OnnxOp::Equal),
    compare("lt", OnnxOp::Less),
    compare("le", OnnxOp::LessOrEqual),
    compare("gt", OnnxOp::Greater),
    compare("ge", OnnxOp::GreaterOrEqual),
    Row {
        aliases: &["__and__", "bitwise_and"],
        ..compare("logical_and", OnnxOp::And)
    },
    Row {
        aliases: &["__or__", "bitwise_or"],
        ..compare("logical_or", OnnxOp::Or)
    },
    Row {
        aliases: &["__xor__"],
        ..compare("logical_xor", OnnxOp::Xor)
    },
];

const FAMILIES: &[&[Row]] = &[UNARY, ACTIVATION, BINARY, COMPARE];

/// Every row, family by family.
pub fn rows() -> impl Iterator<Item = &'static Row> {
    FAMILIES.iter().flat_map(|f| f.iter())
}

/// The row the reader uses for aten op `name` (its own name or an alias).
pub(crate) fn by_name(name: &str) -> Option<&'static Row> {
    rows().find(|r| r.aten == name || r.aliases.contains(&name))
}

/// The row the writer uses for an IR op.
pub(crate) fn by_op(op: OnnxOp) -> Option<&'static Row> {
    rows().find(|r| r.op == op)
}

impl Kind {
    /// Whether the result is bool whatever the operands are.
    pub fn is_predicate(self) -> bool {
        matches!(self, Kind::UnaryPredicate | Kind::Compare)
    }

    /// Tensor operands.
    pub fn arity(self) -> usize {
        match self {
            Kind::Unary | Kind::UnaryPredicate => 1,
            Kind::Binary | Kind::Compare => 2,
        }
    }
}
