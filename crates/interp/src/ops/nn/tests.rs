//! Unit tests of the nn kernels for semantics the node suite does not pin down, and an
//! ignored timing of ResNet-50's convolutions (`cargo test --release -p modelc-interp
//! --lib nn::tests::bench_resnet50_convs -- --ignored --nocapture`).

use modelc_ir::{Attr, Attrs, Node, OnnxOp, Op, Value};
use ndarray::{ArrayD, IxDyn};

use crate::{Array, Data, KernelError, OpCtx};

fn run(
    op: OnnxOp,
    attrs: Vec<(&str, Attr)>,
    inputs: Vec<Option<Array>>,
    nout: usize,
) -> Result<Vec<Array>, KernelError> {
    let outs = (0..nout).map(|i| Value::named(format!("y{i}"))).collect();
    let node = Node::new(Op::Onnx(op), inputs.len(), outs).with_attrs(
        attrs
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect::<Attrs>(),
    );
    let data: Vec<Option<Data>> = inputs.into_iter().map(|a| a.map(Data::Tensor)).collect();
    let ctx = OpCtx {
        node: &node,
        inputs: data.iter().map(|d| d.as_ref()).collect(),
        captures: vec![],
        opset: 22,
        opsets: &[],
    };
    let kernel = super::lookup(op).expect("kernel");
    kernel(&ctx)?
        .into_iter()
        .map(|d| match d {
            Data::Tensor(a) => Ok(a),
            _ => Err(KernelError::new("not a tensor")),
        })
        .collect()
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

#[test]
#[ignore]
fn bench_resnet50_convs() {
    // (cin, cout, kernel, stride, pad, input size, count) for ResNet-50 v1.5, batch 1.
    let layers: &[(usize, usize, usize, usize, usize, usize, usize)] = &[
        (3, 64, 7, 2, 3, 224, 1),
        (64, 64, 1, 1, 0, 56, 1),
        (64, 64, 3, 1, 1, 56, 3),
        (64, 256, 1, 1, 0, 56, 4),
        (256, 64, 1, 1, 0, 56, 2),
        (256, 128, 1, 1, 0, 56, 1),
        (128, 128, 3, 2, 1, 56, 1),
        (256, 512, 1, 2, 0, 56, 1),
        (128, 512, 1, 1, 0, 28, 4),
        (512, 128, 1, 1, 0, 28, 3),
        (128, 128, 3, 1, 1, 28, 3),
        (512, 256, 1, 1, 0, 28, 1),
        (256, 256, 3, 2, 1, 28, 1),
        (512, 1024, 1, 2, 0, 28, 1),
        (256, 1024, 1, 1, 0, 14, 6),
        (1024, 256, 1, 1, 0, 14, 5),
        (256, 256, 3, 1, 1, 14, 5),
        (1024, 512, 1, 1, 0, 14, 1),
        (512, 512, 3, 2, 1, 14, 1),
        (1024, 2048, 1, 2, 0, 14, 1),
        (512, 2048, 1, 1, 0, 7, 3),
        (2048, 512, 1, 1, 0, 7, 2),
        (512, 512, 3, 1, 1, 7, 2),
    ];
    let mut total = 0.0;
    let mut flops = 0.0;
    for &(ci, co, k, s, p, hw, count) in layers {
        let x = f32a(
            &[1, ci, hw, hw],
            (0..ci * hw * hw).map(|i| (i % 7) as f32 * 0.1).collect(),
        );
        let w = f32a(
            &[co, ci, k, k],
            (0..co * ci * k * k)
                .map(|i| (i % 5) as f32 * 0.01)
                .collect(),
        );
        let attrs = || {
            vec![
                ("strides", Attr::Ints(vec![s as i64; 2])),
                ("pads", Attr::Ints(vec![p as i64; 4])),
            ]
        };
        let mut best = f64::INFINITY;
        let mut y = vec![];
        for _ in 0..3 {
            let t = std::time::Instant::now();
            y = run(
                OnnxOp::Conv,
                attrs(),
                vec![Some(x.clone()), Some(w.clone())],
                1,
            )
            .unwrap();
            best = best.min(t.elapsed().as_secs_f64());
        }
        let dt = best * count as f64;
        let o = y[0].shape()[2];
        let f = 2.0 * (co * ci * k * k * o * o) as f64 * count as f64;
        println!(
            "{ci:>5}->{co:<5} k{k} s{s} {hw:>3}: {:>7.2} ms  {:>6.1} GFLOP/s",
            dt * 1e3,
            f / dt / 1e9
        );
        total += dt;
        flops += f;
    }
    println!(
        "total {:.1} ms, {:.1} GFLOP/s",
        total * 1e3,
        flops / total / 1e9
    );
}

#[test]
#[ignore]
fn bench_resnet50_model() {
    // End to end on target/testdata/resnet50.onnx (made by `cargo xtask bench`), batch 1.
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/testdata/resnet50.onnx");
    let Ok(model) = modelc_onnx::read(&path) else {
        println!("no model at {}", path.display());
        return;
    };
    let interp = crate::Interpreter::new(&model).unwrap();
    let name = interp.input_names()[0].clone();
    let x = f32a(&[1, 3, 224, 224], (0..3 * 224 * 224).map(|i| ((i % 17) as f32 - 8.0) * 0.1).collect());
    let mut times = vec![];
    for _ in 0..4 {
        let t = std::time::Instant::now();
        interp.run(vec![(name.clone(), Data::Tensor(x.clone()))]).unwrap();
        times.push(t.elapsed().as_secs_f64() * 1e3);
    }
    println!("resnet50 batch 1: {times:.1?} ms");
}

#[test]
#[ignore]
fn bench_other_families_on_resnet_shapes() {
    // Times the non-nn kernels ResNet-50 runs, on the stem's activation size.
    let shape = [1usize, 64, 112, 112];
    let n: usize = shape.iter().product();
    let x = f32a(&shape, (0..n).map(|i| (i % 13) as f32 - 6.0).collect());
    let c = |v: f32| f32a(&[64], vec![v; 64]);
    let cases: Vec<(OnnxOp, Vec<Option<Array>>)> = vec![
        (OnnxOp::BatchNormalization, vec![Some(x.clone()), Some(c(1.0)), Some(c(0.0)), Some(c(0.0)), Some(c(1.0))]),
        (OnnxOp::Relu, vec![Some(x.clone())]),
        (OnnxOp::Add, vec![Some(x.clone()), Some(x.clone())]),
    ];
    for (op, inputs) in cases {
        let outs = vec![Value::named("y")];
        let node = Node::new(Op::Onnx(op), inputs.len(), outs);
        let data: Vec<Option<Data>> = inputs.into_iter().map(|a| a.map(Data::Tensor)).collect();
        let ctx = OpCtx { node: &node, inputs: data.iter().map(|d| d.as_ref()).collect(), captures: vec![], opset: 15, opsets: &[] };
        let Some(k) = crate::ops::lookup(op) else { continue };
        let mut best = f64::INFINITY;
        for _ in 0..3 {
            let t = std::time::Instant::now();
            let _ = k(&ctx);
            best = best.min(t.elapsed().as_secs_f64() * 1e3);
        }
        println!("{op:?} on {shape:?}: {best:.2} ms");
    }
}
