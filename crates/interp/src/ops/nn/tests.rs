//! Unit tests of the nn kernels for semantics the node suite does not pin down.

use modelc_ir::{Attr, OnnxOp};
use ndarray::{ArrayD, IxDyn};

use crate::ops::test_util::run_op;
use crate::{Array, KernelError};

fn run(
    op: OnnxOp,
    attrs: Vec<(&str, Attr)>,
    inputs: Vec<Option<Array>>,
    nout: usize,
) -> Result<Vec<Array>, KernelError> {
    run_op(op, 22, attrs, &inputs, nout, None)
}

fn f32a(shape: &[usize], v: Vec<f32>) -> Array {
    Array::F32(ArrayD::from_shape_vec(IxDyn(shape), v).unwrap())
}

fn vals(a: &Array) -> Vec<f64> {
    a.to_f64_vec().unwrap()
}

#[test]
fn matmul_vectors_and_errors() {
    let a = f32a(&[3], vec![1.0, 2.0, 3.0]);
    let b = f32a(&[3], vec![4.0, 5.0, 6.0]);
    let y = run(OnnxOp::MatMul, vec![], vec![Some(a.clone()), Some(b)], 1).unwrap();
    assert_eq!(y[0].shape(), &[] as &[usize]);
    assert_eq!(vals(&y[0]), vec![32.0]);
    // Inner dimensions differ.
    let c = f32a(&[2], vec![1.0, 2.0]);
    assert!(run(OnnxOp::MatMul, vec![], vec![Some(a), Some(c)], 1).is_err());
    // Integer overflow wraps instead of panicking.
    let i = Array::I32(ArrayD::from_shape_vec(IxDyn(&[1, 1]), vec![i32::MAX]).unwrap());
    let two = Array::I32(ArrayD::from_shape_vec(IxDyn(&[1, 1]), vec![2]).unwrap());
    let y = run(OnnxOp::MatMul, vec![], vec![Some(i), Some(two)], 1).unwrap();
    assert_eq!(y[0].to_i64_vec().unwrap(), vec![-2]);
}

#[test]
fn matmul_batched_broadcast_with_vector() {
    // [2, 2, 3] x [3] -> [2, 2]
    let a = f32a(&[2, 2, 3], (0..12).map(|v| v as f32).collect());
    let b = f32a(&[3], vec![1.0, 0.0, -1.0]);
    let y = run(OnnxOp::MatMul, vec![], vec![Some(a), Some(b)], 1).unwrap();
    assert_eq!(y[0].shape(), &[2, 2]);
    assert_eq!(vals(&y[0]), vec![-2.0, -2.0, -2.0, -2.0]);
}

#[test]
fn gemm_integer_alpha_must_be_integral() {
    let a = Array::I32(ArrayD::from_shape_vec(IxDyn(&[1, 1]), vec![3]).unwrap());
    let y = run(
        OnnxOp::Gemm,
        vec![("alpha", Attr::Float(2.0))],
        vec![Some(a.clone()), Some(a.clone())],
        1,
    )
    .unwrap();
    assert_eq!(y[0].to_i64_vec().unwrap(), vec![18]);
    assert!(run(
        OnnxOp::Gemm,
        vec![("alpha", Attr::Float(0.5))],
        vec![Some(a.clone()), Some(a)],
        1
    )
    .is_err());
}

#[test]
fn conv_depthwise_with_padding_and_dilation() {
    // Two channels, depthwise 3x3 kernel of ones with dilation 2 on a 3x3 image, pads 2.
    let x = f32a(&[1, 2, 3, 3], (1..=18).map(|v| v as f32).collect());
    let w = f32a(&[2, 1, 3, 3], vec![1.0; 18]);
    let y = run(
        OnnxOp::Conv,
        vec![
            ("group", Attr::Int(2)),
            ("dilations", Attr::Ints(vec![2, 2])),
            ("pads", Attr::Ints(vec![2, 2, 2, 2])),
        ],
        vec![Some(x), Some(w), Some(f32a(&[2], vec![0.5, -0.5]))],
        1,
    )
    .unwrap();
    assert_eq!(y[0].shape(), &[1, 2, 3, 3]);
    // Output (1,1): taps at offsets -2, 0, 2 from (1,1); only (1,1) is inside: 5 + 0.5.
    let v = vals(&y[0]);
    assert_eq!(v[4], 5.5);
    // Output (0,0): taps at rows/cols {-2, 0, 2} → (0,0), (0,2), (2,0), (2,2) = 1+3+7+9.
    assert_eq!(v[0], 20.5);
    // Channel 1, output (0,0): 10+12+16+18 - 0.5.
    assert_eq!(v[9], 55.5);
}

#[test]
fn conv_rejects_mismatched_channels() {
    let x = f32a(&[1, 3, 2, 2], vec![0.0; 12]);
    let w = f32a(&[1, 2, 1, 1], vec![0.0; 2]);
    assert!(run(OnnxOp::Conv, vec![], vec![Some(x), Some(w)], 1).is_err());
}

#[test]
fn maxpool_indices_column_major() {
    let x = f32a(&[1, 1, 2, 3], vec![1.0, 2.0, 9.0, 3.0, 4.0, 8.0]);
    let y = run(
        OnnxOp::MaxPool,
        vec![
            ("kernel_shape", Attr::Ints(vec![2, 2])),
            ("storage_order", Attr::Int(1)),
        ],
        vec![Some(x)],
        2,
    )
    .unwrap();
    assert_eq!(vals(&y[0]), vec![4.0, 9.0]);
    // 4 is at (1,1): column-major index 1*2 + 1 = 3; 9 is at (0,2): 2*2 + 0 = 4.
    assert_eq!(y[1].to_i64_vec().unwrap(), vec![3, 4]);
}

#[test]
fn average_pool_count_include_pad() {
    let x = f32a(&[1, 1, 2, 2], vec![4.0; 4]);
    let attrs = |inc: i64| {
        vec![
            ("kernel_shape", Attr::Ints(vec![2, 2])),
            ("pads", Attr::Ints(vec![1, 1, 0, 0])),
            ("count_include_pad", Attr::Int(inc)),
        ]
    };
    let y = run(OnnxOp::AveragePool, attrs(0), vec![Some(x.clone())], 1).unwrap();
    assert_eq!(vals(&y[0]), vec![4.0, 4.0, 4.0, 4.0]);
    let y = run(OnnxOp::AveragePool, attrs(1), vec![Some(x)], 1).unwrap();
    assert_eq!(vals(&y[0]), vec![1.0, 2.0, 2.0, 4.0]);
}

#[test]
fn max_unpool_rejects_out_of_range_index() {
    let x = f32a(&[1, 1, 1, 1], vec![1.0]);
    let i = Array::I64(ArrayD::from_shape_vec(IxDyn(&[1, 1, 1, 1]), vec![4]).unwrap());
    let r = run(
        OnnxOp::MaxUnpool,
        vec![("kernel_shape", Attr::Ints(vec![2, 2]))],
        vec![Some(x), Some(i)],
        1,
    );
    assert!(r.is_err());
}

#[test]
fn resize_nearest_and_huge_scale() {
    let x = f32a(&[1, 2], vec![1.0, 2.0]);
    let scales = f32a(&[2], vec![1.0, 2.0]);
    let y = run(
        OnnxOp::Resize,
        vec![
            ("mode", Attr::String("nearest".into())),
            (
                "coordinate_transformation_mode",
                Attr::String("asymmetric".into()),
            ),
        ],
        vec![Some(x.clone()), None, Some(scales)],
        1,
    )
    .unwrap();
    assert_eq!(vals(&y[0]), vec![1.0, 1.0, 2.0, 2.0]);
    let huge = f32a(&[2], vec![1e9, 1e9]);
    assert!(run(OnnxOp::Resize, vec![], vec![Some(x), None, Some(huge)], 1).is_err());
}

#[test]
fn rnn_relu_hand_computed() {
    // One step, hidden 1: h = relu(x*w + h0*r + wb + rb) = relu(2*3 + 1*(-1) + 0.5 + 0.5) = 6.
    let x = f32a(&[1, 1, 1], vec![2.0]);
    let w = f32a(&[1, 1, 1], vec![3.0]);
    let r = f32a(&[1, 1, 1], vec![-1.0]);
    let b = f32a(&[1, 2], vec![0.5, 0.5]);
    let h0 = f32a(&[1, 1, 1], vec![1.0]);
    let y = run(
        OnnxOp::RNN,
        vec![("activations", Attr::Strings(vec!["Relu".into()]))],
        vec![Some(x), Some(w), Some(r), Some(b), None, Some(h0)],
        2,
    )
    .unwrap();
    assert_eq!(vals(&y[0]), vec![6.0]);
    assert_eq!(vals(&y[1]), vec![6.0]);
}
