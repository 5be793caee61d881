//! The `decompose-*` passes: each rewrites its op into the ops the printed result shows, keeps
//! the forms it cannot take, and computes what the op computed (the interpreter runs both on
//! the same seeded inputs).

use modelc_interp::Array;
use modelc_passes::check;
use modelc_passes::testing::{check_unchanged, input, vals, Check};

#[test]
fn batch_norm_becomes_mul_add() {
    let text = r#"graph main(%x: f32[1,3,4,4]) -> (%y) {
  %s = const f32[3] [0.5, 1.0, 1.5]
  %b = const f32[3] [0.1, -0.2, 0.3]
  %m = const f32[3] [0.0, 0.5, -0.5]
  %v = const f32[3] [1.0, 0.25, 2.0]
  %y = BatchNormalization(%x, %s, %b, %m, %v) {epsilon=0.001}
}"#;
    let out = check!("decompose-batch-norm", text);
    assert_eq!(out.count("BatchNormalization"), 0);
    out.assert_same_outputs(&[("x", input(&[1, 3, 4, 4], 1, 2.0))], 1e-5);
}

#[test]
fn hard_sigmoid_becomes_add_relu6_mul() {
    // Clip(0, 6), the fused RELU6 of an ADD, not Clip(0, 1): RELU_0_TO_1 is no op of the
    // TFLite GPU delegate.
    let text = r#"graph main(%x: f32[2,5]) -> (%y, %z) {
  %y = HardSigmoid(%x) {alpha=0.25, beta=0.4}
  %z = HardSigmoid(%x) {alpha=0.16666667, beta=0.5}
}"#;
    let out = check!("decompose-hard-sigmoid", text);
    assert_eq!(out.count("HardSigmoid"), 0);
    assert_eq!(out.count("Clip"), 2);
    // 6α = 1 needs no Mul before the Add: Mul by 6α once, by 1/6 twice.
    assert_eq!(out.count("Mul"), 3);
    out.assert_same_outputs(&[("x", input(&[2, 5], 2, 4.0))], 1e-6);
}

/// A HardSigmoid between a DequantizeLinear and a QuantizeLinear (what `modelc quantize`
/// makes of MobileNetV3's squeeze-excitation gate) at activation parameters `zp` / `dtype`.
fn qdq_hard_sigmoid(dtype: &str, zp: i32, out_scale: &str) -> String {
    let zx = if dtype == "u8" { 128 } else { 0 };
    format!(
        r#"graph main(%x: f32[4,16]) -> (%y) {{
  %s = const f32[] [0.0371]
  %z = const {dtype}[] [{zx}]
  %so = const f32[] [{out_scale}]
  %zo = const {dtype}[] [{zp}]
  %xq = QuantizeLinear(%x, %s, %z)
  %xd = DequantizeLinear(%xq, %s, %z)
  %h = HardSigmoid(%xd) {{alpha=0.16666667, beta=0.5}}
  %y = QuantizeLinear(%h, %so, %zo)
}}"#
    )
}

#[test]
fn quantized_hard_sigmoid_becomes_integer_add_and_mul() {
    // Output scale 1/255 with zero point -128 (range [0, 1], what calibration gives), and
    // symmetric int8 (zero point 0, range [-1, 1]: the clamp at 0 is the fused Relu's) and
    // uint8; a scale for [0, 0.5] (the clamp at 1 is the grid's).
    for (dtype, zp, scale) in [
        ("i8", -128, "0.003921569"),
        ("i8", 0, "0.007874016"),
        ("u8", 0, "0.003921569"),
        ("i8", -128, "0.0019607844"),
    ] {
        let out = modelc_passes::testing::run(
            "decompose-hard-sigmoid",
            &qdq_hard_sigmoid(dtype, zp, scale),
        );
        assert_eq!(out.count("HardSigmoid"), 0, "{}", out.printed);
        assert_eq!(out.count("Relu") + out.count("Clip"), 2, "{}", out.printed);
        // Every float op reads DequantizeLinear outputs only and its result (through the
        // fused activation) goes to a QuantizeLinear: the writer emits integer ADD and MUL.
        assert_eq!(out.count("QuantizeLinear"), 3, "{}", out.printed);
        let x = input(&[4, 16], 11, 5.0);
        let run = |g| modelc_passes::testing::interpret(g, &[("x", x.clone())], None);
        let (want, got) = (run(&out.before), run(&out.after));
        let ints = |d: &modelc_interp::Data| match d {
            modelc_interp::Data::Tensor(a) => a.to_f64_vec().expect("numeric"),
            other => panic!("not a tensor: {other:?}"),
        };
        let (want, got) = (ints(&want[0].1), ints(&got[0].1));
        // Integers within one step (a tie may round either way after the relabelling; the
        // input scale is chosen not to put the output on ties), nearly all identical.
        let off: Vec<f64> = want.iter().zip(&got).map(|(a, b)| (a - b).abs()).collect();
        assert!(
            off.iter().all(|&d| d <= 1.0),
            "{dtype} zp {zp}: {want:?} vs {got:?}"
        );
        let same = off.iter().filter(|&&d| d == 0.0).count();
        assert!(
            same * 10 >= off.len() * 9,
            "{dtype} zp {zp}: {same} of {} equal",
            off.len()
        );
    }
}

#[test]
fn hard_sigmoid_with_a_float_output_stays_float() {
    // Read by a graph output (no QuantizeLinear after it): the float form.
    let text = r#"graph main(%x: f32[2,5]) -> (%h) {
  %s = const f32[] [0.04]
  %z = const i8[] [0]
  %xq = QuantizeLinear(%x, %s, %z)
  %xd = DequantizeLinear(%xq, %s, %z)
  %h = HardSigmoid(%xd) {alpha=0.16666667, beta=0.5}
}"#;
    let out = modelc_passes::testing::run("decompose-hard-sigmoid", text);
    assert_eq!(out.count("QuantizeLinear"), 1, "{}", out.printed);
    assert_eq!(out.count("Relu"), 0, "{}", out.printed);
    out.assert_same_outputs(&[("x", input(&[2, 5], 2, 4.0))], 1e-6);
}

#[test]
fn softplus_and_mish_become_elementwise_ops() {
    let text = r#"graph main(%x: f32[2,6]) -> (%a, %b) {
  %a = Softplus(%x)
  %b = Mish(%x)
}"#;
    let out = check!("decompose-softplus", text);
    assert_eq!(out.count("Softplus") + out.count("Mish"), 0);
    // 1 + e^-|x| is rounded to float32 near 1, so for very negative x the decomposed form
    // (TensorFlow's too) keeps fewer correct digits: within 5e-4 relative down to x = -8.
    out.assert_same_outputs(&[("x", input(&[2, 6], 3, 8.0))], 5e-4);
}

#[test]
fn elu_with_alpha_decomposes_and_plain_elu_stays() {
    let text = r#"graph main(%x: f32[2,6]) -> (%y, %z) {
  %y = Elu(%x) {alpha=0.5}
  %z = Elu(%x)
}"#;
    let out = check!("decompose-elu", text);
    assert_eq!(out.count("Elu"), 1);
    out.assert_same_outputs(&[("x", input(&[2, 6], 4, 3.0))], 1e-5);
}

#[test]
fn layer_norm_becomes_reductions() {
    let text = format!(
        r#"graph main(%x: f32[2,3,4]) -> (%y) {{
  %s = const f32[4] {}
  %b = const f32[4] {}
  %y = LayerNormalization(%x, %s, %b) {{axis=-1, epsilon=0.00001}}
}}"#,
        vals(4, 5),
        vals(4, 6)
    );
    let out = check!("decompose-layer-norm", &text);
    assert_eq!(out.count("LayerNormalization"), 0);
    out.assert_same_outputs(&[("x", input(&[2, 3, 4], 7, 2.0))], 1e-4);
}

#[test]
fn fmod_becomes_floor_mod_with_a_sign_fix() {
    let text = r#"graph main(%a: f32[8], %b: f32[8]) -> (%y) {
  %y = Mod(%a, %b) {fmod=1}
}"#;
    let out = check!("decompose-fmod", text);
    let a = input(&[8], 8, 10.0);
    // Divisors away from zero, of both signs.
    let b = Array::F32(
        ndarray::ArrayD::from_shape_vec(
            ndarray::IxDyn(&[8]),
            vec![3.0, -3.0, 2.5, -2.5, 1.5, -1.5, 4.0, -4.0],
        )
        .unwrap(),
    );
    out.assert_same_outputs(&[("a", a), ("b", b)], 1e-5);
}

#[test]
fn gemm_a_dense_layer_cannot_take_becomes_matmul() {
    let text = format!(
        r#"graph main(%a: f32[3,4], %b: f32[5,4]) -> (%y, %z) {{
  %c = const f32[5] {}
  %y = Gemm(%a, %b, %c) {{transB=1, alpha=0.5, beta=2.0}}
  %w = const f32[4,5] {}
  %z = Gemm(%a, %w, %c)
}}"#,
        vals(5, 9),
        vals(20, 10)
    );
    let out = check!("decompose-gemm", &text);
    assert_eq!(out.count("Gemm"), 1, "the dense-layer Gemm stays");
    let inputs = [
        ("a", input(&[3, 4], 11, 1.0)),
        ("b", input(&[5, 4], 12, 1.0)),
    ];
    out.assert_same_outputs(&inputs, 1e-5);
}

#[test]
fn vector_matmul_becomes_matrix_matmul() {
    let text = r#"graph main(%v: f32[4], %m: f32[4,3], %n: f32[2,4]) -> (%y, %z) {
  %y = MatMul(%v, %m)
  %z = MatMul(%n, %v)
}"#;
    let out = check!("decompose-vector-matmul", text);
    assert_eq!(out.count("Squeeze"), 2);
    let inputs = [
        ("v", input(&[4], 13, 1.0)),
        ("m", input(&[4, 3], 14, 1.0)),
        ("n", input(&[2, 4], 15, 1.0)),
    ];
    out.assert_same_outputs(&inputs, 1e-5);
}

#[test]
fn negative_pads_crop_first() {
    let text = r#"graph main(%x: f32[1,2,5,5]) -> (%y, %z) {
  %p = const i64[8] [0, 0, -1, 1, 0, 0, 1, -2]
  %y = Pad(%x, %p)
  %q = const i64[8] [0, 0, -1, 0, 0, 0, 0, -2]
  %z = Pad(%x, %q)
}"#;
    let out = check!("decompose-pad-crop", text);
    assert_eq!(out.count("Pad"), 1, "the all-negative Pad is only a Slice");
    out.assert_same_outputs(&[("x", input(&[1, 2, 5, 5], 16, 1.0))], 0.0);
}

#[test]
fn edge_pad_becomes_slices_expands_and_concats() {
    let text = r#"graph main(%x: f32[1,2,3,4]) -> (%y) {
  %p = const i64[8] [0, 0, 1, 2, 0, 0, 2, 0]
  %y = Pad(%x, %p) {mode="edge"}
}"#;
    let out = check!("decompose-pad-edge", text);
    assert_eq!(out.count("Pad"), 0);
    out.assert_same_outputs(&[("x", input(&[1, 2, 3, 4], 17, 1.0))], 0.0);
}

#[test]
fn legacy_softmax_flattens_below_opset_13() {
    let text = r#"graph main(%x: f32[2,3,4]) -> (%y, %z) {
  %y = Softmax(%x)
  %z = LogSoftmax(%x) {axis=2}
}"#;
    let out = check!(Check::new("decompose-legacy-softmax").opset(12), text);
    assert!(out.report.converged, "the pass reached a fixed point");
    // The interpreter runs opset 12's softmax on both sides.
    out.assert_same_outputs(&[("x", input(&[2, 3, 4], 18, 3.0))], 1e-6);
    // From opset 13 on, Softmax normalizes one axis: nothing to do.
    check_unchanged(Check::new("decompose-legacy-softmax").opset(13), text);
}

#[test]
fn grouped_conv_transpose_becomes_one_per_group() {
    let text = format!(
        r#"graph main(%x: f32[1,4,3,3]) -> (%y) {{
  %w = const f32[4,1,2,2] {}
  %b = const f32[2] [0.25, -0.5]
  %y = ConvTranspose(%x, %w, %b) {{group=2, strides=[2,2]}}
}}"#,
        vals(16, 19)
    );
    let out = check!("decompose-grouped-conv-transpose", &text);
    assert_eq!(out.count("ConvTranspose"), 2);
    out.assert_same_outputs(&[("x", input(&[1, 4, 3, 3], 20, 1.0))], 1e-5);
}

#[test]
fn depth_to_space_crd_becomes_dcr() {
    let text = format!(
        r#"graph main(%x: f32[1,8,2,2]) -> (%y1, %y2) {{
  %w = const f32[8,8,1,1] {}
  %b = const f32[8] {}
  %c: f32[1,8,2,2] = Conv(%x, %w, %b) {{kernel_shape=[1,1]}}
  %y1 = DepthToSpace(%c) {{blocksize=2, mode="CRD"}}
  %y2 = DepthToSpace(%x) {{blocksize=2, mode="CRD"}}
}}"#,
        vals(64, 21),
        vals(8, 22)
    );
    let out = check!("decompose-depth-to-space", &text);
    assert_eq!(
        out.count("Gather"),
        1,
        "the conv's filters are permuted instead"
    );
    out.assert_same_outputs(&[("x", input(&[1, 8, 2, 2], 23, 1.0))], 1e-5);
}

#[test]
fn einsum_becomes_transposes_reshapes_and_matmul() {
    let text = r#"graph main(%a: f32[2,3,4], %b: f32[2,4,5]) -> (%y, %z) {
  %y = Einsum(%a, %b) {equation="bij,bjk->bik"}
  %z = Einsum(%a) {equation="bij->jb"}
}"#;
    let out = check!("decompose-einsum", text);
    assert_eq!(out.count("Einsum"), 0);
    let inputs = [
        ("a", input(&[2, 3, 4], 24, 1.0)),
        ("b", input(&[2, 4, 5], 25, 1.0)),
    ];
    out.assert_same_outputs(&inputs, 1e-5);
}

#[test]
fn instance_norm_becomes_reductions_over_the_spatial_axes() {
    let text = r#"graph main(%x: f32[2,3,4,5], %s: f32[3]) -> (%y, %z) {
  %sc = const f32[3] [0.5, 1.0, -1.5]
  %b = const f32[3] [0.1, -0.2, 0.3]
  %y = InstanceNormalization(%x, %sc, %b) {epsilon=0.001}
  %z = InstanceNormalization(%x, %s, %b)
}"#;
    let out = check!("decompose-instance-norm", text);
    assert_eq!(out.count("InstanceNormalization"), 0);
    let inputs = [
        ("x", input(&[2, 3, 4, 5], 30, 2.0)),
        ("s", input(&[3], 31, 1.0)),
    ];
    out.assert_same_outputs(&inputs, 1e-5);
}

#[test]
fn reduce_l2_becomes_sqrt_of_sum_of_squares() {
    let text = r#"graph main(%x: f32[2,3,4]) -> (%y, %z) {
  %y = ReduceL2(%x) {axes=[1, -1], keepdims=0}
  %z = ReduceL2(%x)
}"#;
    // Opset 13: ReduceL2 still takes the axes as an attribute, ReduceSum as an input.
    let out = check!(Check::new("decompose-reduce-l2").opset(13), text);
    assert_eq!(out.count("ReduceL2"), 0);
    out.assert_same_outputs(&[("x", input(&[2, 3, 4], 32, 2.0))], 1e-6);
}

#[test]
fn gather_elements_becomes_gather_nd() {
    let text = r#"graph main(%x: f32[2,3,4], %i: i64[2,3,2]) -> (%y, %z) {
  %c = const i64[2,1,2] [3, -1, 0, 2]
  %y = GatherElements(%x, %c) {axis=2}
  %z = GatherElements(%x, %i) {axis=-1}
}"#;
    let out = check!("decompose-gather-elements", text);
    assert_eq!(out.count("GatherElements"), 0);
    assert_eq!(out.count("GatherND"), 2);
    let idx = Array::I64(
        ndarray::ArrayD::from_shape_vec(
            ndarray::IxDyn(&[2, 3, 2]),
            vec![0, 3, -1, 2, 1, 1, -4, 0, 3, 2, 2, -2],
        )
        .unwrap(),
    );
    let inputs = [("x", input(&[2, 3, 4], 33, 2.0)), ("i", idx)];
    out.assert_same_outputs(&inputs, 0.0);
}

#[test]
fn scatter_nd_becomes_a_scatter_into_zeros() {
    let text = r#"graph main(%x: f32[3,4], %u: f32[2,4]) -> (%y, %z, %w) {
  %i = const i64[2,1] [2, -3]
  %y = ScatterND(%x, %i, %u)
  %d = const i64[2,1] [1, 1]
  %z = ScatterND(%x, %d, %u) {reduction="add"}
  %w = ScatterND(%x, %d, %u) {reduction="max"}
}"#;
    let out = check!(Check::new("decompose-scatter-nd").opset(18), text);
    assert_eq!(out.count("Where"), 1);
    assert_eq!(
        out.count("ScatterND"),
        4,
        "two scatters for `none`, one for `add`, `max` kept"
    );
    let inputs = [
        ("x", input(&[3, 4], 34, 2.0)),
        ("u", input(&[2, 4], 35, 2.0)),
    ];
    out.assert_same_outputs(&inputs, 0.0);
}

#[test]
fn lstm_with_state_unrolls_over_its_steps() {
    // Streaming form: the state is an input, the new state (Y_h, Y_c) an output. The state's
    // batch may be declared unknown (silero-vad's `[2, ?, 128]`, only the audio pinned): the
    // LSTM's own sizes say what it must be.
    for state in ["f32[1,1,2]", "f32[1,?,2]"] {
        let text = format!(
            r#"graph main(%x: f32[2,1,2], %h0: {state}, %c0: {state}) -> (%y, %yh, %yc) {{
  %w = const f32[1,8,2] {}
  %r = const f32[1,8,2] {}
  %b = const f32[1,16] {}
  %y, %yh, %yc = LSTM(%x, %w, %r, %b, _, %h0, %c0) {{hidden_size=2}}
}}"#,
            vals(16, 1),
            vals(16, 2),
            vals(16, 3)
        );
        let out = if state.contains('?') {
            modelc_passes::testing::run("decompose-lstm-state", &text)
        } else {
            check!("decompose-lstm-state", &text)
        };
        assert_eq!(out.count("LSTM"), 0, "state {state}");
        out.assert_same_outputs(
            &[
                ("x", input(&[2, 1, 2], 4, 2.0)),
                ("h0", input(&[1, 1, 2], 5, 1.0)),
                ("c0", input(&[1, 1, 2], 6, 1.0)),
            ],
            1e-5,
        );
    }
}

#[test]
fn lstm_with_state_and_quantized_weights_unrolls_with_the_integers() {
    // silero VAD after `quantize --mode int8-weight` / `compress`: W and R are integers with
    // one scale per row behind DequantizeLinear, W's gate blocks reordered by Slice / Concat.
    // The products become Gemm (transB = 1) on the integers, not float MatMuls.
    let ints = |n: usize, bound: i64| -> String {
        let v: Vec<String> = (0..n)
            .map(|k| ((k as i64 * 7 + 3) % (2 * bound + 1) - bound).to_string())
            .collect();
        format!("[{}]", v.join(", "))
    };
    for (dtype, bound) in [("i8", 127), ("i4", 7)] {
        let text = format!(
            r#"graph main(%x: f32[3,1,2], %h0: f32[1,1,2], %c0: f32[1,1,2]) -> (%y, %yh, %yc) {{
  %wq = const {dtype}[8,2] {}
  %ws = const f32[8] [0.01, 0.02, 0.03, 0.04, 0.05, 0.06, 0.07, 0.08]
  %wd = DequantizeLinear(%wq, %ws) {{axis=0}}
  %a0 = const i64[1] [0]
  %a2 = const i64[1] [2]
  %a6 = const i64[1] [6]
  %a8 = const i64[1] [8]
  %w_i = Slice(%wd, %a0, %a2)
  %w_o = Slice(%wd, %a6, %a8)
  %w_fc = Slice(%wd, %a2, %a6)
  %w2 = Concat(%w_i, %w_o, %w_fc) {{axis=0}}
  %w = Unsqueeze(%w2, %a0)
  %rq = const {dtype}[1,8,2] {}
  %rs = const f32[8] [0.08, 0.07, 0.06, 0.05, 0.04, 0.03, 0.02, 0.01]
  %r = DequantizeLinear(%rq, %rs) {{axis=1}}
  %b = const f32[1,16] {}
  %y, %yh, %yc = LSTM(%x, %w, %r, %b, _, %h0, %c0) {{hidden_size=2}}
}}"#,
            ints(16, bound),
            ints(16, bound),
            vals(16, 3)
        );
        // dce: the gate-reordering Slices and their DequantizeLinear go with the LSTM.
        let out = modelc_passes::testing::run("decompose-lstm-state,dce", &text);
        assert_eq!(out.count("LSTM"), 0, "{dtype}");
        // x · Wᵀ once, h · Rᵀ per step; W's and R's integers behind one DequantizeLinear each.
        assert_eq!(out.count("Gemm"), 1 + 3, "{dtype}");
        assert_eq!(out.count("MatMul"), 0, "{dtype}");
        assert_eq!(out.count("DequantizeLinear"), 2, "{dtype}");
        assert!(
            out.printed.contains(&format!("const {dtype}[8,2]")),
            "{dtype}"
        );
        out.assert_same_outputs(
            &[
                ("x", input(&[3, 1, 2], 4, 2.0)),
                ("h0", input(&[1, 1, 2], 5, 1.0)),
                ("c0", input(&[1, 1, 2], 6, 1.0)),
            ],
            1e-5,
        );
    }
}

#[test]
fn bidirectional_lstm_with_peepholes_clip_and_batch_major_layout_unrolls() {
    let text = format!(
        r#"graph main(%x: f32[2,3,4], %h0: f32[2,2,3], %c0: f32[2,2,3]) -> (%y, %yh, %yc) {{
  %w = const f32[2,12,4] {}
  %r = const f32[2,12,3] {}
  %b = const f32[2,24] {}
  %p = const f32[2,9] {}
  %y, %yh, %yc = LSTM(%x, %w, %r, %b, _, %h0, %c0, %p) {{hidden_size=3, direction="bidirectional", clip=0.75, layout=1}}
}}"#,
        vals(96, 1),
        vals(72, 2),
        vals(48, 3),
        vals(18, 4)
    );
    let out = modelc_passes::testing::run("decompose-lstm-state", &text);
    assert_eq!(out.count("LSTM"), 0);
    assert_eq!(out.count("Clip"), 2 * 3 * 4);
    out.assert_same_outputs(
        &[
            ("x", input(&[2, 3, 4], 5, 2.0)),
            ("h0", input(&[2, 2, 3], 6, 1.0)),
            ("c0", input(&[2, 2, 3], 7, 1.0)),
        ],
        1e-5,
    );
}

#[test]
fn lstm_without_state_unrolls_for_runtimes_without_an_lstm_kernel() {
    // decompose-lstm (ExecuTorch's portable kernels have no LSTM): zero state, Y_c unread.
    let zero_state = format!(
        r#"graph main(%x: f32[2,1,2]) -> (%y, %yh) {{
  %w = const f32[1,8,2] {}
  %r = const f32[1,8,2] {}
  %h0 = const f32[1,1,2] [0.0, 0.0]
  %y, %yh, %yc = LSTM(%x, %w, %r, _, _, %h0) {{hidden_size=2}}
}}"#,
        vals(16, 1),
        vals(16, 2)
    );
    let out = check!("decompose-lstm", &zero_state);
    assert_eq!(out.count("LSTM"), 0);
    out.assert_same_outputs(&[("x", input(&[2, 1, 2], 8, 2.0))], 1e-5);
}

#[test]
fn gemm_on_float16_weights_stays_a_fully_connected_layer() {
    // fp16-weights' form: a float16 constant cast to float32 is a constant weight to the
    // TFLite writer (float16 buffer + DEQUANTIZE → FULLY_CONNECTED), so the Gemm stays.
    let text = r#"graph main(%x: f32[1,4]) -> (%y) {
  %wh = const f16[3,4] [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]
  %w = Cast(%wh) {to=1}
  %b = const f32[3] [0.5, -0.5, 1.0]
  %y = Gemm(%x, %w, %b) {transB=1}
}"#;
    check_unchanged("decompose-gemm", text);
}

#[test]
fn lstm_without_state_or_with_unknown_length_stays() {
    // Zero initial state and Y_c unread: TFLite's fused kernel is its form.
    let zero_state = format!(
        r#"graph main(%x: f32[2,1,2]) -> (%y, %yh) {{
  %w = const f32[1,8,2] {}
  %r = const f32[1,8,2] {}
  %h0 = const f32[1,1,2] [0.0, 0.0]
  %y, %yh, %yc = LSTM(%x, %w, %r, _, _, %h0) {{hidden_size=2}}
}}"#,
        vals(16, 1),
        vals(16, 2)
    );
    check_unchanged("decompose-lstm-state", &zero_state);
    // A state input but no known sequence length: nothing to unroll over.
    let unknown_length = format!(
        r#"graph main(%x: f32[T,1,2], %h0: f32[1,1,2]) -> (%y) {{
  %w = const f32[1,8,2] {}
  %r = const f32[1,8,2] {}
  %y, %yh, %yc = LSTM(%x, %w, %r, _, _, %h0) {{hidden_size=2}}
}}"#,
        vals(16, 1),
        vals(16, 2)
    );
    check_unchanged("decompose-lstm-state", &unknown_length);
}

#[test]
fn hard_swish_becomes_x_times_hard_sigmoid() {
    let text = r#"graph main(%x: f32[2,6]) -> (%y) {
  %y = HardSwish(%x)
}"#;
    let out = check!("decompose-hard-swish", text);
    assert_eq!(out.count("HardSwish"), 0);
    out.assert_same_outputs(&[("x", input(&[2, 6], 7, 5.0))], 1e-6);
}

#[test]
fn is_nan_and_is_inf_become_comparisons() {
    let text = r#"graph main(%x: f32[2,3]) -> (%n, %i, %p, %m) {
  %n = IsNaN(%x)
  %i = IsInf(%x)
  %p = IsInf(%x) {detect_negative=0}
  %m = IsInf(%x) {detect_positive=0}
}"#;
    let out = check!("decompose-nan-inf", text);
    assert_eq!(out.count("IsNaN") + out.count("IsInf"), 0);
    let x = Array::F32(
        ndarray::ArrayD::from_shape_vec(
            ndarray::IxDyn(&[2, 3]),
            vec![
                1.0,
                f32::NAN,
                -0.0,
                f32::INFINITY,
                f32::NEG_INFINITY,
                f32::NAN,
            ],
        )
        .unwrap(),
    );
    out.assert_same_outputs(&[("x", x)], 0.0);
}

#[test]
fn scalar_gather_becomes_slice_and_reshape() {
    // A transformer's q/k/v split: Gather with a rank-0 constant index, also negative; a
    // 1-D index (which the GPU delegate takes) stays.
    let text = r#"graph main(%x: f32[3,4,1,5]) -> (%q, %v, %w) {
  %i = const i64[] [0]
  %j = const i64[] [-1]
  %k = const i64[1] [1]
  %q = Gather(%x, %i) {axis=0}
  %v = Gather(%x, %j) {axis=0}
  %w = Gather(%x, %k) {axis=1}
}"#;
    let out = modelc_passes::testing::run("infer-shapes,decompose-scalar-gather", text);
    assert_eq!(out.count("Gather"), 1, "{}", out.printed);
    assert_eq!(out.count("Slice"), 2, "{}", out.printed);
    out.assert_same_outputs(&[("x", input(&[3, 4, 1, 5], 5, 2.0))], 0.0);
}

#[test]
fn layer_norm_rsqrt_becomes_integer_npu_ops() {
    // Ethos-U's form: no Div, no Sqrt; the reciprocal square root is Pow(·, −½) (RSQRT).
    let text = format!(
        r#"graph main(%x: f32[2,3,8]) -> (%y) {{
  %s = const f32[8] {}
  %b = const f32[8] {}
  %y = LayerNormalization(%x, %s, %b) {{axis=-1, epsilon=0.00001}}
}}"#,
        vals(8, 5),
        vals(8, 6)
    );
    let out = modelc_passes::testing::run("decompose-layer-norm-rsqrt", &text);
    assert_eq!(out.count("LayerNormalization"), 0, "{}", out.printed);
    assert_eq!(out.count("Div"), 0, "{}", out.printed);
    assert_eq!(out.count("Sqrt"), 0, "{}", out.printed);
    assert_eq!(out.count("Pow"), 1, "{}", out.printed);
    assert_eq!(out.count("ReduceMean"), 2, "{}", out.printed);
    out.assert_same_outputs(&[("x", input(&[2, 3, 8], 7, 2.0))], 1e-4);
}
