//! Elementwise kernels: broadcasting binary arithmetic, comparisons and logic, variadic
//! Max/Min/Sum/Mean, unary math and activations, Clip.

use modelc_ir::OnnxOp;

use super::Kernel;

mod activation;
mod arith;
mod clip;
pub(crate) mod common;
mod compare;
pub(crate) mod fast;
mod logic;
mod unary;
mod variadic;

pub fn lookup(op: OnnxOp) -> Option<Kernel> {
    use OnnxOp as O;
    Some(match op {
        O::Add => arith::add,
        O::Sub => arith::sub,
        O::Mul => arith::mul,
        O::Div => arith::div,
        O::Mod => arith::modulo,
        O::Pow => arith::pow,
        O::Equal => compare::equal,
        O::Less => compare::less,
        O::LessOrEqual => compare::less_or_equal,
        O::Greater => compare::greater,
        O::GreaterOrEqual => compare::greater_or_equal,
        O::Where => compare::where_,
        O::And => logic::and,
        O::Or => logic::or,
        O::Xor => logic::xor,
        O::Not => logic::not,
        O::BitwiseAnd => logic::bitwise_and,
        O::BitwiseOr => logic::bitwise_or,
        O::BitwiseXor => logic::bitwise_xor,
        O::BitwiseNot => logic::bitwise_not,
        O::BitShift => logic::bit_shift,
        O::Max => variadic::max,
        O::Min => variadic::min,
        O::Sum => variadic::sum,
        O::Mean => variadic::mean,
        O::Abs => unary::abs,
        O::Neg => unary::neg,
        O::Sign => unary::sign,
        O::Reciprocal => unary::reciprocal,
        O::Floor => unary::floor,
        O::Ceil => unary::ceil,
        O::Round => unary::round,
        O::Sqrt => unary::sqrt,
        O::Exp => unary::exp,
        O::Log => unary::log,
        O::Erf => unary::erf_,
        O::Sin => unary::sin,
        O::Cos => unary::cos,
        O::Tan => unary::tan,
        O::Asin => unary::asin,
        O::Acos => unary::acos,
        O::Atan => unary::atan,
        O::Sinh => unary::sinh,
        O::Cosh => unary::cosh,
        O::Asinh => unary::asinh,
        O::Acosh => unary::acosh,
        O::Atanh => unary::atanh,
        O::IsNaN => unary::is_nan,
        O::IsInf => unary::is_inf,
        O::Relu => activation::relu,
        O::LeakyRelu => activation::leaky_relu,
        O::PRelu => activation::prelu,
        O::Elu => activation::elu,
        O::Selu => activation::selu,
        O::Celu => activation::celu,
        O::Sigmoid => activation::sigmoid_op,
        O::HardSigmoid => activation::hard_sigmoid,
        O::HardSwish => activation::hard_swish,
        O::Softplus => activation::softplus_op,
        O::Softsign => activation::softsign,
        O::Tanh => activation::tanh,
        O::Gelu => activation::gelu,
        O::Mish => activation::mish,
        O::ThresholdedRelu => activation::thresholded_relu,
        O::Shrink => activation::shrink,
        O::Swish => activation::swish,
        O::Clip => clip::clip,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use modelc_ir::{text::parse_graph, OpsetImport};
    use ndarray::{ArrayD, IxDyn};

    use crate::{Array, Data, Interpreter};

    /// Runs a one-graph program at `opset` on the given inputs; the first output.
    fn run(src: &str, opset: i64, inputs: Vec<(&str, Array)>) -> Result<Array, String> {
        let g = parse_graph(src, None).map_err(|e| e.to_string())?;
        let opsets = [OpsetImport {
            domain: String::new(),
            version: opset,
        }];
        let interp = Interpreter::for_graph(&g, &opsets).map_err(|e| e.to_string())?;
        let ins = inputs
            .into_iter()
            .map(|(n, a)| (n.to_string(), Data::Tensor(a)))
            .collect();
        match interp
            .run(ins)
            .map_err(|e| e.to_string())?
            .into_iter()
            .next()
        {
            Some((_, Data::Tensor(a))) => Ok(a),
            _ => Err("no tensor output".into()),
        }
    }

    fn f32s(shape: &[usize], v: &[f32]) -> Array {
        Array::F32(ArrayD::from_shape_vec(IxDyn(shape), v.to_vec()).unwrap())
    }

    #[test]
    fn legacy_broadcast_with_axis() {
        // Opset 6: B of shape [2] lines up with A's axis 0 of [2, 3].
        let src = "graph main(%a: f32[2,3], %b: f32[2]) -> (%c) {\n  %c = Add(%a, %b) {broadcast=1, axis=0}\n}";
        let a = f32s(&[2, 3], &[0., 1., 2., 3., 4., 5.]);
        let b = f32s(&[2], &[10., 20.]);
        let c = run(src, 6, vec![("a", a), ("b", b)]).unwrap();
        assert_eq!(c, f32s(&[2, 3], &[10., 11., 12., 23., 24., 25.]));
    }

    #[test]
    fn integer_division_by_zero_is_an_error() {
        let src = "graph main(%a: i32[2], %b: i32[2]) -> (%c) {\n  %c = Div(%a, %b)\n}";
        let a = Array::I32(ArrayD::from_shape_vec(IxDyn(&[2]), vec![7, -7]).unwrap());
        let b = Array::I32(ArrayD::from_shape_vec(IxDyn(&[2]), vec![2, 0]).unwrap());
        let err = run(src, 13, vec![("a", a), ("b", b)]).unwrap_err();
        assert!(err.contains("division by zero"), "{err}");
    }

    #[test]
    fn clip_bounds_by_opset() {
        let x = f32s(&[4], &[-3., -0.5, 0.5, 3.]);
        let src6 = "graph main(%x: f32[4]) -> (%y) {\n  %y = Clip(%x) {min=-1.0, max=2.0}\n}";
        let y = run(src6, 6, vec![("x", x.clone())]).unwrap();
        assert_eq!(y, f32s(&[4], &[-1., -0.5, 0.5, 2.]));
        // Opset 13: only `max` given; min > max gives max.
        let src13 = "graph main(%x: f32[4], %lo: f32[], %hi: f32[]) -> (%y) {\n  %y = Clip(%x, %lo, %hi)\n}";
        let lo = f32s(&[], &[1.0]);
        let hi = f32s(&[], &[0.0]);
        let y = run(src13, 13, vec![("x", x), ("lo", lo), ("hi", hi)]).unwrap();
        assert_eq!(y, f32s(&[4], &[0., 0., 0., 0.]));
    }
}
