//! NHWC execution: every layout-sensitive op run as an NHWC node on channels-last data must
//! give exactly the NCHW node's result (verified against the ONNX conformance suite),
//! transposed. Inputs in the IR's NHWC convention are built here by index (not by the
//! wrapper's helpers), so a wrong convention in the wrapper fails.

use modelc_ir::{Attr, Layout, OnnxOp};
use ndarray::{ArrayD, IxDyn};

use crate::ops::movement::transpose_array;
use crate::ops::test_util::run_op;
use crate::Array;

/// Deterministic pseudo-random values in [-1, 1).
fn rand(shape: &[usize], seed: u64) -> Array {
    let n: usize = shape.iter().product();
    let mut s = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    let v: Vec<f32> = (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect();
    Array::F32(ArrayD::from_shape_vec(IxDyn(shape), v).unwrap())
}

fn last(r: usize) -> Vec<usize> {
    let mut p = vec![0];
    p.extend(2..r);
    p.push(1);
    p
}

/// A channels-first tensor stored channels-last.
fn nhwc(a: &Array) -> Array {
    transpose_array(a, &last(a.shape().len())).unwrap()
}

fn f32s(a: &[f32]) -> Array {
    Array::F32(ArrayD::from_shape_vec(IxDyn(&[a.len()]), a.to_vec()).unwrap())
}

fn i64s(a: &[i64]) -> Array {
    Array::I64(ArrayD::from_shape_vec(IxDyn(&[a.len()]), a.to_vec()).unwrap())
}

/// Runs `op` as NCHW on `nchw` inputs and as NHWC on `nhwc` inputs; asserts output `i` of the
/// NHWC run equals output `i` of the NCHW run stored channels-last, for every output in
/// `data_outputs`, and the rest are equal as they are.
fn check(
    op: OnnxOp,
    opset: i64,
    attrs: Vec<(&str, Attr)>,
    nchw_in: Vec<Option<Array>>,
    nhwc_in: Vec<Option<Array>>,
    outputs: usize,
    data_outputs: &[usize],
) {
    let a = run_op(
        op,
        opset,
        attrs.clone(),
        &nchw_in,
        outputs,
        Some(Layout::Nchw),
    )
    .unwrap_or_else(|e| panic!("{op} NCHW: {e}"));
    let b = run_op(op, opset, attrs, &nhwc_in, outputs, Some(Layout::Nhwc))
        .unwrap_or_else(|e| panic!("{op} NHWC: {e}"));
    assert_eq!(a.len(), b.len());
    for (i, (x, y)) in a.iter().zip(&b).enumerate() {
        let want = if data_outputs.contains(&i) {
            nhwc(x)
        } else {
            x.clone()
        };
        assert_eq!(want, *y, "{op} output {i} differs");
    }
}

/// ONNX conv weight `[M, C/g, k...]` as the IR's NHWC `[M, k..., C/g]`.
fn ohwi(w: &Array) -> Array {
    nhwc(w)
}

/// ONNX ConvTranspose weight `[C_in, M/g, kh, kw]` as the IR's NHWC `[M, kh, kw, C_in/g]`,
/// element by element.
fn conv_transpose_nhwc(w: &Array, group: usize) -> Array {
    let Array::F32(w) = w else { panic!() };
    let s = w.shape();
    let (cin, mg, kh, kw) = (s[0], s[1], s[2], s[3]);
    let cg = cin / group;
    let mut out = ArrayD::<f32>::zeros(IxDyn(&[mg * group, kh, kw, cg]));
    for g in 0..group {
        for c in 0..cg {
            for m in 0..mg {
                for y in 0..kh {
                    for x in 0..kw {
                        out[[g * mg + m, y, x, c]] = w[[g * cg + c, m, y, x]];
                    }
                }
            }
        }
    }
    Array::F32(out)
}

fn ints(v: &[i64]) -> Attr {
    Attr::Ints(v.to_vec())
}

#[test]
fn conv_nhwc_uses_ohwi_weights() {
    // Plain, grouped with dilation, and depthwise (group == C, weight [M, kh, kw, 1]).
    for (c, m, group, dil) in [(3, 4, 1, 1), (4, 6, 2, 2), (4, 4, 4, 1)] {
        let x = rand(&[2, c, 7, 6], 1);
        let w = rand(&[m, c / group, 3, 3], 2);
        let b = rand(&[m], 3);
        let attrs = vec![
            ("group", Attr::Int(group as i64)),
            ("pads", ints(&[1, 0, 1, 2])),
            ("strides", ints(&[2, 1])),
            ("dilations", ints(&[dil, dil])),
        ];
        check(
            OnnxOp::Conv,
            22,
            attrs,
            vec![Some(x.clone()), Some(w.clone()), Some(b.clone())],
            vec![Some(nhwc(&x)), Some(ohwi(&w)), Some(b)],
            1,
            &[0],
        );
    }
    // 1-D convolution: [N, W, C].
    let x = rand(&[1, 3, 9], 4);
    let w = rand(&[2, 3, 3], 5);
    check(
        OnnxOp::Conv,
        22,
        vec![],
        vec![Some(x.clone()), Some(w.clone())],
        vec![Some(nhwc(&x)), Some(ohwi(&w))],
        1,
        &[0],
    );
}

#[test]
fn conv_transpose_nhwc_weights_are_out_k_in() {
    for (cin, mg, group) in [(3, 4, 1), (4, 3, 2)] {
        let x = rand(&[1, cin, 4, 5], 6);
        let w = rand(&[cin, mg, 3, 2], 7);
        let b = rand(&[mg * group], 8);
        let attrs = vec![
            ("group", Attr::Int(group as i64)),
            ("strides", ints(&[2, 2])),
            ("output_padding", ints(&[1, 0])),
            ("pads", ints(&[1, 0, 0, 1])),
        ];
        check(
            OnnxOp::ConvTranspose,
            22,
            attrs,
            vec![Some(x.clone()), Some(w.clone()), Some(b.clone())],
            vec![
                Some(nhwc(&x)),
                Some(conv_transpose_nhwc(&w, group)),
                Some(b),
            ],
            1,
            &[0],
        );
    }
}

#[test]
fn pools_nhwc() {
    let x = rand(&[2, 3, 7, 8], 9);
    let win = || {
        vec![
            ("kernel_shape", ints(&[3, 2])),
            ("strides", ints(&[2, 2])),
            ("pads", ints(&[1, 0, 1, 1])),
        ]
    };
    for op in [OnnxOp::AveragePool, OnnxOp::LpPool] {
        check(
            op,
            22,
            win(),
            vec![Some(x.clone())],
            vec![Some(nhwc(&x))],
            1,
            &[0],
        );
    }
    for op in [
        OnnxOp::GlobalAveragePool,
        OnnxOp::GlobalMaxPool,
        OnnxOp::GlobalLpPool,
    ] {
        check(
            op,
            22,
            vec![],
            vec![Some(x.clone())],
            vec![Some(nhwc(&x))],
            1,
            &[0],
        );
    }
    // MaxPool values; its Indices are flat indices into the NHWC input.
    check(
        OnnxOp::MaxPool,
        22,
        win(),
        vec![Some(x.clone())],
        vec![Some(nhwc(&x))],
        1,
        &[0],
    );
    let xh = nhwc(&x);
    let y = run_op(
        OnnxOp::MaxPool,
        22,
        win(),
        &[Some(xh.clone())],
        2,
        Some(Layout::Nhwc),
    )
    .unwrap();
    let flat = xh.to_f64_vec().unwrap();
    let picked: Vec<f64> = y[1]
        .to_i64_vec()
        .unwrap()
        .iter()
        .map(|&i| flat[i as usize])
        .collect();
    assert_eq!(picked, y[0].to_f64_vec().unwrap());
}

#[test]
fn norms_nhwc_normalize_the_last_axis() {
    let x = rand(&[2, 4, 3, 5], 10);
    let (s, b, mean, var) = (
        rand(&[4], 11),
        rand(&[4], 12),
        rand(&[4], 13),
        f32s(&[0.5, 1.0, 2.0, 0.25]),
    );
    check(
        OnnxOp::BatchNormalization,
        15,
        vec![],
        vec![
            Some(x.clone()),
            Some(s.clone()),
            Some(b.clone()),
            Some(mean),
            Some(var),
        ],
        vec![
            Some(nhwc(&x)),
            Some(s.clone()),
            Some(b.clone()),
            Some(rand(&[4], 13)),
            Some(f32s(&[0.5, 1.0, 2.0, 0.25])),
        ],
        1,
        &[0],
    );
    check(
        OnnxOp::InstanceNormalization,
        22,
        vec![],
        vec![Some(x.clone()), Some(s.clone()), Some(b.clone())],
        vec![Some(nhwc(&x)), Some(s.clone()), Some(b.clone())],
        1,
        &[0],
    );
    check(
        OnnxOp::GroupNormalization,
        21,
        vec![("num_groups", Attr::Int(2))],
        vec![Some(x.clone()), Some(s.clone()), Some(b.clone())],
        vec![Some(nhwc(&x)), Some(s), Some(b)],
        1,
        &[0],
    );
    check(
        OnnxOp::LRN,
        13,
        vec![("size", Attr::Int(3))],
        vec![Some(x.clone())],
        vec![Some(nhwc(&x))],
        1,
        &[0],
    );
}

#[test]
fn depth_space_nhwc_take_blocks_from_the_channel_axis() {
    let x = rand(&[1, 8, 2, 3], 14);
    for mode in ["DCR", "CRD"] {
        check(
            OnnxOp::DepthToSpace,
            13,
            vec![
                ("blocksize", Attr::Int(2)),
                ("mode", Attr::String(mode.into())),
            ],
            vec![Some(x.clone())],
            vec![Some(nhwc(&x))],
            1,
            &[0],
        );
    }
    let x = rand(&[1, 2, 4, 6], 15);
    check(
        OnnxOp::SpaceToDepth,
        13,
        vec![("blocksize", Attr::Int(2))],
        vec![Some(x.clone())],
        vec![Some(nhwc(&x))],
        1,
        &[0],
    );
}

#[test]
fn resize_nhwc_lists_are_per_nhwc_axis() {
    let x = rand(&[1, 3, 4, 5], 16);
    let linear = || vec![("mode", Attr::String("linear".into()))];
    // scales per axis: NCHW [1, 1, 2, 1.5] is NHWC [1, 2, 1.5, 1].
    check(
        OnnxOp::Resize,
        19,
        linear(),
        vec![Some(x.clone()), None, Some(f32s(&[1.0, 1.0, 2.0, 1.5]))],
        vec![Some(nhwc(&x)), None, Some(f32s(&[1.0, 2.0, 1.5, 1.0]))],
        1,
        &[0],
    );
    // sizes
    check(
        OnnxOp::Resize,
        19,
        vec![],
        vec![Some(x.clone()), None, None, Some(i64s(&[1, 3, 7, 3]))],
        vec![Some(nhwc(&x)), None, None, Some(i64s(&[1, 7, 3, 3]))],
        1,
        &[0],
    );
    // `axes` names NHWC axes: NCHW axes [2, 3] are NHWC axes [1, 2].
    let mut a = linear();
    a.push(("axes", ints(&[2, 3])));
    let mut b = linear();
    b.push(("axes", ints(&[1, 2])));
    let y1 = run_op(
        OnnxOp::Resize,
        19,
        a,
        &[Some(x.clone()), None, Some(f32s(&[2.0, 0.5]))],
        1,
        None,
    )
    .unwrap();
    let y2 = run_op(
        OnnxOp::Resize,
        19,
        b,
        &[Some(nhwc(&x)), None, Some(f32s(&[2.0, 0.5]))],
        1,
        Some(Layout::Nhwc),
    )
    .unwrap();
    assert_eq!(nhwc(&y1[0]), y2[0]);
    // tf_crop_and_resize: roi starts and ends per NHWC axis.
    let crop = || {
        vec![
            (
                "coordinate_transformation_mode",
                Attr::String("tf_crop_and_resize".into()),
            ),
            ("mode", Attr::String("linear".into())),
        ]
    };
    check(
        OnnxOp::Resize,
        19,
        crop(),
        vec![
            Some(x.clone()),
            Some(f32s(&[0.0, 0.0, 0.2, 0.1, 1.0, 1.0, 0.9, 0.7])),
            None,
            Some(i64s(&[1, 3, 3, 3])),
        ],
        vec![
            Some(nhwc(&x)),
            Some(f32s(&[0.0, 0.2, 0.1, 0.0, 1.0, 0.9, 0.7, 1.0])),
            None,
            Some(i64s(&[1, 3, 3, 3])),
        ],
        1,
        &[0],
    );
    // Upsample (opset 9, scales input).
    check(
        OnnxOp::Upsample,
        9,
        vec![],
        vec![Some(x.clone()), Some(f32s(&[1.0, 1.0, 2.0, 3.0]))],
        vec![Some(nhwc(&x)), Some(f32s(&[1.0, 2.0, 3.0, 1.0]))],
        1,
        &[0],
    );
}

#[test]
fn quantized_convs_nhwc() {
    let xq: Vec<u8> = (0..2 * 3 * 5 * 5).map(|i| (i * 37 % 251) as u8).collect();
    let x = Array::U8(ArrayD::from_shape_vec(IxDyn(&[2, 3, 5, 5]), xq).unwrap());
    let wq: Vec<u8> = (0..4 * 3 * 3 * 3).map(|i| (i * 53 % 241) as u8).collect();
    let w = Array::U8(ArrayD::from_shape_vec(IxDyn(&[4, 3, 3, 3]), wq).unwrap());
    let zp = Array::U8(ArrayD::from_elem(IxDyn(&[]), 7));
    check(
        OnnxOp::ConvInteger,
        10,
        vec![("pads", ints(&[1, 1, 1, 1]))],
        vec![Some(x.clone()), Some(w.clone()), Some(zp.clone())],
        vec![Some(nhwc(&x)), Some(ohwi(&w)), Some(zp.clone())],
        1,
        &[0],
    );
    let sc = Array::scalar_f32(0.05);
    let wsc = f32s(&[0.01, 0.02, 0.03, 0.04]);
    let wzp = Array::U8(ArrayD::from_elem(IxDyn(&[4]), 128));
    let ysc = Array::scalar_f32(0.3);
    let yzp = Array::U8(ArrayD::from_elem(IxDyn(&[]), 100));
    let rest = |x: Array, w: Array| {
        vec![
            Some(x),
            Some(sc.clone()),
            Some(zp.clone()),
            Some(w),
            Some(wsc.clone()),
            Some(wzp.clone()),
            Some(ysc.clone()),
            Some(yzp.clone()),
        ]
    };
    check(
        OnnxOp::QLinearConv,
        10,
        vec![("strides", ints(&[2, 2]))],
        rest(x.clone(), w.clone()),
        rest(nhwc(&x), ohwi(&w)),
        1,
        &[0],
    );
}

#[test]
fn sampling_ops_nhwc() {
    let x = rand(&[1, 3, 6, 5], 17);
    let grid = rand(&[1, 4, 3, 2], 18);
    check(
        OnnxOp::GridSample,
        20,
        vec![],
        vec![Some(x.clone()), Some(grid.clone())],
        vec![Some(nhwc(&x)), Some(grid)],
        1,
        &[0],
    );
    let rois = f32s(&[0.0, 0.0, 4.0, 3.0, 1.0, 1.0, 3.0, 5.0]);
    let rois = crate::ops::movement::reshape(&rois, &[2, 4]).unwrap();
    let idx = i64s(&[0, 0]);
    check(
        OnnxOp::RoiAlign,
        16,
        vec![
            ("output_height", Attr::Int(2)),
            ("output_width", Attr::Int(3)),
        ],
        vec![Some(x.clone()), Some(rois.clone()), Some(idx.clone())],
        vec![Some(nhwc(&x)), Some(rois), Some(idx)],
        1,
        &[0],
    );
}

#[test]
fn ops_without_an_nhwc_form_are_errors() {
    let x = rand(&[1, 2, 2, 2], 19);
    let idx = Array::I64(ArrayD::zeros(IxDyn(&[1, 2, 2, 2])));
    let err = run_op(
        OnnxOp::MaxUnpool,
        22,
        vec![("kernel_shape", ints(&[2, 2]))],
        &[Some(x), Some(idx)],
        1,
        Some(Layout::Nhwc),
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "MaxUnpool has no channels-last (NHWC) form"
    );
}
