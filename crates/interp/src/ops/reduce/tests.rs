//! Unit tests of reduce-family kernels through a hand-built [`OpCtx`], for semantics the
//! node suite does not cover (opset differences, empty axes, layouts, errors).

use modelc_ir::{Attr, Layout, OnnxOp};
use ndarray::{ArrayD, IxDyn};

use crate::ops::test_util::{f32s, i64s, run_op};
use crate::{Array, KernelError};

fn run(
    op: OnnxOp,
    opset: i64,
    attrs: Vec<(&str, Attr)>,
    inputs: &[Option<Array>],
    outputs: usize,
) -> Result<Vec<Array>, KernelError> {
    run_op(op, opset, attrs, inputs, outputs, None)
}

fn close(a: &Array, want: &[f32]) {
    let got = a.to_f64_vec().unwrap();
    assert_eq!(got.len(), want.len(), "{got:?} vs {want:?}");
    for (g, w) in got.iter().zip(want) {
        assert!((g - *w as f64).abs() < 1e-5, "{got:?} vs {want:?}");
    }
}

#[test]
fn reduce_axes_attribute_then_input() {
    let x = f32s(&[2, 2], &[1.0, 2.0, 3.0, 4.0]);
    // Opset 11: axes is an attribute.
    let y = run(
        OnnxOp::ReduceSum,
        11,
        vec![("axes", Attr::Ints(vec![1])), ("keepdims", Attr::Int(0))],
        &[Some(x.clone())],
        1,
    )
    .unwrap();
    assert_eq!(y[0], f32s(&[2], &[3.0, 7.0]));
    // Opset 13: axes is the second input; absent means every axis.
    let y = run(OnnxOp::ReduceSum, 13, vec![], &[Some(x.clone())], 1).unwrap();
    assert_eq!(y[0], f32s(&[1, 1], &[10.0]));
    let y = run(
        OnnxOp::ReduceSum,
        13,
        vec![],
        &[Some(x.clone()), Some(i64s(&[1], &[-2]))],
        1,
    )
    .unwrap();
    assert_eq!(y[0], f32s(&[1, 2], &[4.0, 6.0]));
    // Out-of-range and repeated axes are errors.
    assert!(run(
        OnnxOp::ReduceSum,
        13,
        vec![],
        &[Some(x.clone()), Some(i64s(&[1], &[2]))],
        1
    )
    .is_err());
    assert!(run(
        OnnxOp::ReduceMean,
        18,
        vec![],
        &[Some(x.clone()), Some(i64s(&[2], &[0, -2]))],
        1
    )
    .is_err());
    // noop_with_empty_axes: ReduceSum is the identity, ReduceSumSquare squares.
    let noop = || vec![("noop_with_empty_axes", Attr::Int(1))];
    let empty = Some(i64s(&[0], &[]));
    let y = run(
        OnnxOp::ReduceSum,
        13,
        noop(),
        &[Some(x.clone()), empty.clone()],
        1,
    )
    .unwrap();
    assert_eq!(y[0], x);
    let y = run(OnnxOp::ReduceSumSquare, 18, noop(), &[Some(x), empty], 1).unwrap();
    assert_eq!(y[0], f32s(&[2, 2], &[1.0, 4.0, 9.0, 16.0]));
}

#[test]
fn reduce_empty_sets_and_types() {
    let eb = Array::Bool(ArrayD::from_shape_vec(IxDyn(&[0]), vec![]).unwrap());
    let y = run(OnnxOp::ReduceMax, 20, vec![], &[Some(eb.clone())], 1).unwrap();
    assert_eq!(y[0], Array::Bool(ArrayD::from_elem(IxDyn(&[1]), false)));
    let y = run(OnnxOp::ReduceMin, 20, vec![], &[Some(eb.clone())], 1).unwrap();
    assert_eq!(y[0], Array::Bool(ArrayD::from_elem(IxDyn(&[1]), true)));
    assert!(run(OnnxOp::ReduceSum, 13, vec![], &[Some(eb)], 1).is_err());
    let ei = Array::I32(ArrayD::from_shape_vec(IxDyn(&[2, 0]), vec![]).unwrap());
    let y = run(OnnxOp::ReduceMin, 18, vec![], &[Some(ei.clone())], 1).unwrap();
    assert_eq!(
        y[0],
        Array::I32(ArrayD::from_elem(IxDyn(&[1, 1]), i32::MAX))
    );
    let y = run(OnnxOp::ReduceProd, 18, vec![], &[Some(ei)], 1).unwrap();
    assert_eq!(y[0], Array::I32(ArrayD::from_elem(IxDyn(&[1, 1]), 1)));
    let ef = f32s(&[0], &[]);
    let y = run(OnnxOp::ReduceLogSum, 18, vec![], &[Some(ef)], 1).unwrap();
    assert_eq!(y[0], f32s(&[1], &[f32::NEG_INFINITY]));
}

#[test]
fn softmax_opset_semantics() {
    let x = f32s(&[2, 2], &[0.0, 0.0, 0.0, 0.0]);
    // Opset 11 with axis 0 coerces to one row of 4.
    let y = run(
        OnnxOp::Softmax,
        11,
        vec![("axis", Attr::Int(0))],
        &[Some(x.clone())],
        1,
    )
    .unwrap();
    close(&y[0], &[0.25; 4]);
    let y = run(
        OnnxOp::Softmax,
        13,
        vec![("axis", Attr::Int(0))],
        &[Some(x.clone())],
        1,
    )
    .unwrap();
    close(&y[0], &[0.5; 4]);
    let y = run(OnnxOp::LogSoftmax, 13, vec![], &[Some(x.clone())], 1).unwrap();
    close(&y[0], &[-(2f32.ln()); 4]);
    let ints = i64s(&[2], &[1, 2]);
    assert!(run(OnnxOp::Softmax, 13, vec![], &[Some(ints)], 1).is_err());
    // Without `axis`, the schema default of the opset: 1 before 13 (one row of 4 for a
    // [1, 2, 2] input), -1 from 13 (rows of 2).
    let x3 = f32s(&[1, 2, 2], &[0.0; 4]);
    let y = run(OnnxOp::Softmax, 11, vec![], &[Some(x3.clone())], 1).unwrap();
    close(&y[0], &[0.25; 4]);
    let y = run(OnnxOp::Softmax, 13, vec![], &[Some(x3)], 1).unwrap();
    close(&y[0], &[0.5; 4]);
}

#[test]
fn layer_norm_statistics() {
    let x = f32s(&[2, 2], &[1.0, 3.0, 2.0, 2.0]);
    let s = f32s(&[2], &[1.0, 1.0]);
    let y = run(
        OnnxOp::LayerNormalization,
        17,
        vec![("epsilon", Attr::Float(0.0))],
        &[Some(x), Some(s), None],
        3,
    )
    .unwrap();
    let v = y[0].to_f64_vec().unwrap();
    assert_eq!(&v[..2], &[-1.0, 1.0]);
    // 0 * inf, as numpy computes it.
    assert!(v[2].is_nan() && v[3].is_nan());
    assert_eq!(y[1], f32s(&[2, 1], &[2.0, 2.0]));
    assert_eq!(y[2].shape(), &[2, 1]);
    // A zero-variance row with epsilon 0 has an infinite inverse deviation.
    assert_eq!(y[2].to_f64_vec().unwrap()[1], f64::INFINITY);
}

#[test]
fn batch_norm_nhwc_and_bad_params() {
    // NHWC [1, 1, 2, 2]: channels last.
    let x = f32s(&[1, 1, 2, 2], &[1.0, 10.0, 2.0, 20.0]);
    let scale = f32s(&[2], &[1.0, 2.0]);
    let bias = f32s(&[2], &[0.0, 1.0]);
    let mean = f32s(&[2], &[1.0, 10.0]);
    let var = f32s(&[2], &[1.0, 4.0]);
    let y = run_op(
        OnnxOp::BatchNormalization,
        15,
        vec![("epsilon", Attr::Float(0.0))],
        &[
            Some(x.clone()),
            Some(scale.clone()),
            Some(bias.clone()),
            Some(mean.clone()),
            Some(var.clone()),
        ],
        1,
        Some(Layout::Nhwc),
    )
    .unwrap();
    close(&y[0], &[0.0, 1.0, 1.0, 11.0]);
    let short = f32s(&[1], &[1.0]);
    assert!(run(
        OnnxOp::BatchNormalization,
        15,
        vec![],
        &[Some(x), Some(short), Some(bias), Some(mean), Some(var)],
        1
    )
    .is_err());
}

#[test]
fn dropout_modes() {
    let x = f32s(&[4], &[1.0, 2.0, 3.0, 4.0]);
    let t = Array::Bool(ArrayD::from_elem(IxDyn(&[]), true));
    // Inference: identity and an all-true mask.
    let y = run(OnnxOp::Dropout, 13, vec![], &[Some(x.clone())], 2).unwrap();
    assert_eq!(y[0], x);
    assert_eq!(y[1], Array::Bool(ArrayD::from_elem(IxDyn(&[4]), true)));
    // Training with seed 0 and ratio 0.5: numpy RandomState(0) draws
    // [0.549, 0.715, 0.603, 0.545], all >= 0.5, so everything is kept and doubled.
    let r = f32s(&[], &[0.5]);
    let y = run(
        OnnxOp::Dropout,
        13,
        vec![("seed", Attr::Int(0))],
        &[Some(x.clone()), Some(r), Some(t.clone())],
        2,
    )
    .unwrap();
    assert_eq!(y[0], f32s(&[4], &[2.0, 4.0, 6.0, 8.0]));
    let bad = f32s(&[], &[1.5]);
    assert!(run(
        OnnxOp::Dropout,
        13,
        vec![],
        &[Some(x), Some(bad), Some(t)],
        2
    )
    .is_err());
}

#[test]
fn windows_and_dft_errors() {
    let n = i64s(&[], &[4]);
    let y = run(
        OnnxOp::HannWindow,
        17,
        vec![("periodic", Attr::Int(0))],
        &[Some(n.clone())],
        1,
    )
    .unwrap();
    close(&y[0], &[0.0, 0.75, 0.75, 0.0]);
    let y = run(
        OnnxOp::HannWindow,
        17,
        vec![("output_datatype", Attr::Int(11))],
        &[Some(n)],
        1,
    )
    .unwrap();
    assert_eq!(y[0].dtype(), modelc_ir::DType::F64);
    assert!(run(OnnxOp::HannWindow, 17, vec![], &[Some(i64s(&[], &[-1]))], 1).is_err());
    // The DFT axis cannot be the complex dimension.
    let x = f32s(&[1, 4, 1], &[1.0, 2.0, 3.0, 4.0]);
    assert!(run(
        OnnxOp::DFT,
        17,
        vec![("axis", Attr::Int(2))],
        &[Some(x.clone())],
        1
    )
    .is_err());
    let y = run(OnnxOp::DFT, 17, vec![], &[Some(x)], 1).unwrap();
    close(&y[0], &[10.0, 0.0, -2.0, 2.0, -2.0, 0.0, -2.0, -2.0]);
}

#[test]
fn det_and_einsum() {
    let m = f32s(&[2, 2, 2], &[1.0, 2.0, 3.0, 4.0, 2.0, 0.0, 0.0, 2.0]);
    let y = run(OnnxOp::Det, 11, vec![], &[Some(m.clone())], 1).unwrap();
    close(&y[0], &[-2.0, 4.0]);
    assert!(run(
        OnnxOp::Det,
        11,
        vec![],
        &[Some(f32s(&[2, 3], &[0.0; 6]))],
        1
    )
    .is_err());
    let eq = |s: &str| vec![("equation", Attr::String(s.as_bytes().to_vec().into()))];
    let y = run(OnnxOp::Einsum, 12, eq("bii->b"), &[Some(m.clone())], 1).unwrap();
    close(&y[0], &[5.0, 4.0]);
    assert!(run(OnnxOp::Einsum, 12, eq("ij->i"), &[Some(m)], 1).is_err());
}

fn f16s(shape: &[usize], v: &[f64]) -> Array {
    Array::F16(
        ArrayD::from_shape_vec(
            IxDyn(shape),
            v.iter().map(|&x| half::f16::from_f64(x)).collect(),
        )
        .unwrap(),
    )
}

#[test]
fn f16_rounds_like_the_reference() {
    // Expected values from the ONNX reference (numpy float16 arithmetic).
    let x = f16s(&[1, 2, 3], &[0.1, 1.7, -2.3, 3.3, 0.77, -0.41]);
    let p = |a: f64, b: f64| Some(f16s(&[2], &[a, b]));
    let y = run(
        OnnxOp::BatchNormalization,
        15,
        vec![],
        &[
            Some(x.clone()),
            p(1.3, -0.7),
            p(0.2, 0.11),
            p(0.3, -0.2),
            p(1.9, 0.6),
        ],
        1,
    )
    .unwrap();
    let want = [
        0.0113525390625,
        1.5205078125,
        -2.251953125,
        -3.0546875,
        -0.7666015625,
        0.2998046875,
    ];
    assert_eq!(y[0], f16s(&[1, 2, 3], &want));
    let y = run(OnnxOp::Softmax, 13, vec![], &[Some(x)], 1).unwrap();
    let want = [
        0.1654052734375,
        0.81982421875,
        0.0150146484375,
        0.9052734375,
        0.07208251953125,
        0.0221405029296875,
    ];
    assert_eq!(y[0], f16s(&[1, 2, 3], &want));
}
