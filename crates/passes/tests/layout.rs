//! `to-nhwc` / `to-nchw`: snapshots of the text form before and after on small graphs, and
//! the interpreter's outputs unchanged (inputs and outputs transposed where the pass changed
//! the graph's I/O layout). The NHWC kernels are the verified NCHW ones behind a layout
//! wrapper, so equal outputs mean the rewritten graph computes the same function.

use modelc_interp::{Array, Data};
use modelc_ir::text::print_graph;
use modelc_ir::{Graph, Layout};
use modelc_passes::passes::layout::{to_nchw, LayoutOptions, ToNchw, ToNhwc};
use modelc_passes::registry::pipeline;
use modelc_passes::testing::{
    assert_same_outputs, before_and_after, count_ops, input, interpret, pos_vals, run, vals,
};
use modelc_passes::{Changed, PassManager};

/// Runs `to-nhwc` on `text` (to a fixed point, validating: a second run must change nothing)
/// and returns the graphs before and after and the result printed, renumbered.
fn convert(text: &str, keep_io_layout: bool) -> (Graph, Graph, String) {
    let out = run(ToNhwc { keep_io_layout }, text);
    assert!(out.report.steps[0].changed, "to-nhwc changed nothing");
    let mut after = out.after;
    after.renumber().unwrap();
    let printed = print_graph(&after, &Default::default());
    (out.before, after, printed)
}

fn nhwc(a: &Array) -> Array {
    permute(a, &[0, 2, 3, 1])
}

fn permute(a: &Array, p: &[usize]) -> Array {
    let Array::F32(x) = a else {
        panic!("f32 expected")
    };
    Array::F32(
        x.view()
            .permuted_axes(ndarray::IxDyn(p))
            .as_standard_layout()
            .into_owned(),
    )
}

fn tensor_outputs(g: &Graph, inputs: &[(&str, Array)]) -> Vec<(String, Array)> {
    interpret(g, inputs, None)
        .into_iter()
        .map(|(n, d)| match d {
            Data::Tensor(a) => (n, a),
            other => panic!("not a tensor: {other:?}"),
        })
        .collect()
}

/// Compares outputs of `before` on `x` with those of `after` on `x` in NHWC; outputs named
/// in `nhwc_outputs` are compared after transposing `before`'s to NHWC.
fn assert_same_nhwc(before: &Graph, after: &Graph, x: &(&str, Array), nhwc_outputs: &[&str]) {
    let a = tensor_outputs(before, std::slice::from_ref(x));
    let b = tensor_outputs(after, &[(x.0, nhwc(&x.1))]);
    assert_eq!(a.len(), b.len());
    for ((na, va), (nb, vb)) in a.iter().zip(&b) {
        assert_eq!(na, nb);
        let want = if nhwc_outputs.contains(&na.as_str()) {
            nhwc(va)
        } else {
            va.clone()
        };
        assert_eq!(want.shape(), vb.shape(), "output {na}");
        let (p, q) = (want.to_f64_vec().unwrap(), vb.to_f64_vec().unwrap());
        for (i, (u, v)) in p.iter().zip(&q).enumerate() {
            assert!(
                (u - v).abs() <= 1e-5 * u.abs().max(1.0),
                "output {na} element {i}: {u} vs {v}"
            );
        }
    }
}

fn layouts(g: &Graph) -> Vec<Layout> {
    g.node_ids().filter_map(|id| g.node(id).layout).collect()
}

/// A small CNN: conv, relu, pool, depthwise conv, residual add, per-channel scale, batch
/// norm, global pool, flatten, gemm.
fn cnn() -> String {
    format!(
        r#"graph main(%x: f32[1,3,8,8]) -> (%y) {{
  %w1 = const f32[4,3,3,3] {}
  %b1 = const f32[4] {}
  %c1 = Conv(%x, %w1, %b1) {{pads=[1,1,1,1]}}
  %r1 = Relu(%c1)
  %p1 = MaxPool(%r1) {{kernel_shape=[2,2], strides=[2,2]}}
  %w2 = const f32[4,1,3,3] {}
  %c2 = Conv(%p1, %w2) {{group=4, pads=[1,1,1,1]}}
  %a = Add(%c2, %p1)
  %s = const f32[4,1,1] [0.5, 1.0, 1.5, 2.0]
  %m = Mul(%a, %s)
  %g = const f32[4] {}
  %be = const f32[4] {}
  %mu = const f32[4] {}
  %var = const f32[4] {}
  %bn = BatchNormalization(%m, %g, %be, %mu, %var)
  %lo = const f32[] [0.0]
  %hi = const f32[] [6.0]
  %clip = Clip(%bn, %lo, %hi)
  %gap = GlobalAveragePool(%clip)
  %f = Flatten(%gap) {{axis=1}}
  %fw = const f32[5,4] {}
  %fb = const f32[5] {}
  %y = Gemm(%f, %fw, %fb) {{transB=1}}
}}"#,
        vals(108, 1),
        vals(4, 2),
        vals(36, 3),
        pos_vals(4, 4),
        vals(4, 5),
        vals(4, 6),
        pos_vals(4, 7),
        vals(20, 8),
        vals(5, 9)
    )
}

#[test]
fn cnn_to_nhwc_has_no_transposes() {
    let text = cnn();
    let (before, after, printed) = convert(&text, false);
    insta::assert_snapshot!(before_and_after(&before, &printed));
    assert_eq!(count_ops(&after, "Transpose"), 0);
    assert!(layouts(&after).iter().all(|&l| l == Layout::Nhwc));
    assert!(printed.contains("graph main(%x: f32[1,8,8,3]) -> (%y)"));
    let x = ("x", input(&[1, 3, 8, 8], 11, 1.0));
    assert_same_nhwc(&before, &after, &x, &[]);
}

#[test]
fn cnn_keep_io_layout_transposes_at_the_input_only() {
    let text = cnn();
    let (before, after, printed) = convert(&text, true);
    insta::assert_snapshot!(printed);
    assert_eq!(count_ops(&after, "Transpose"), 1);
    assert!(printed.contains("graph main(%x: f32[1,3,8,8]) -> (%y)"));
    let x = input(&[1, 3, 8, 8], 12, 1.0);
    assert_same_outputs(&before, &after, &[("x", x)], 1e-5);
}

/// Axis-bearing ops remap their axes; a Reshape that really moves data keeps one
/// Transpose before it; image outputs become NHWC, others keep their layout.
#[test]
fn axis_ops_are_remapped() {
    let text = format!(
        r#"graph main(%x: f32[1,2,6,6]) -> (%img, %vec, %flat, %parts0) {{
  %w = const f32[3,2,1,1] {}
  %c = Conv(%x, %w)
  %r = Relu(%c)
  %cat = Concat(%c, %r) {{axis=1}}
  %pads = const i64[8] [0, 0, 1, 0, 0, 0, 0, 2]
  %pad = Pad(%cat, %pads)
  %sl_s = const i64[1] [1]
  %sl_e = const i64[1] [5]
  %sl_a = const i64[1] [1]
  %sl = Slice(%pad, %sl_s, %sl_e, %sl_a)
  %sm = Softmax(%sl) {{axis=1}}
  %img = Sigmoid(%sm)
  %ax = const i64[2] [2, 3]
  %mean = ReduceMean(%sm, %ax) {{keepdims=0}}
  %vec = Neg(%mean)
  %shape = const i64[3] [1, 4, 56]
  %flat = Reshape(%sl, %shape)
  %parts0, %parts1 = Split(%cat) {{axis=1, num_outputs=2}}
}}"#,
        vals(6, 21)
    );
    let (before, after, printed) = convert(&text, false);
    insta::assert_snapshot!(before_and_after(&before, &printed));
    // Only the data-moving Reshape needs its input back in NCHW.
    assert_eq!(count_ops(&after, "Transpose"), 1);
    let x = ("x", input(&[1, 2, 6, 6], 22, 1.0));
    assert_same_nhwc(&before, &after, &x, &["img", "parts0"]);
}

/// QDQ weights (per output channel), ConvTranspose with groups, Resize with constant
/// scales, DepthToSpace, InstanceNormalization.
#[test]
fn qdq_conv_transpose_resize_depth_to_space() {
    let wq: Vec<String> = (0..4 * 2 * 3 * 3i32)
        .map(|i| (i * 37 % 255 - 127).to_string())
        .collect();
    let text = format!(
        r#"graph main(%x: f32[1,2,5,5]) -> (%y) {{
  %xs = const f32[] [0.02]
  %xz = const i8[] [0]
  %xq = QuantizeLinear(%x, %xs, %xz)
  %xd = DequantizeLinear(%xq, %xs, %xz)
  %wq = const i8[4,2,3,3] [{}]
  %ws = const f32[4] [0.01, 0.02, 0.015, 0.005]
  %wz = const i8[4] [0, 0, 0, 0]
  %wd = DequantizeLinear(%wq, %ws, %wz) {{axis=0}}
  %c = Conv(%xd, %wd) {{pads=[1,1,1,1]}}
  %tw = const f32[4,4,2,2] {}
  %t = ConvTranspose(%c, %tw) {{group=2, strides=[2,2]}}
  %scales = const f32[4] [1.0, 1.0, 2.0, 2.0]
  %rs = Resize(%t, _, %scales) {{mode="linear"}}
  %d2s = DepthToSpace(%rs) {{blocksize=2, mode="CRD"}}
  %is = const f32[2] [1.5, 0.5]
  %ib = const f32[2] [0.25, -0.5]
  %y = InstanceNormalization(%d2s, %is, %ib)
}}"#,
        wq.join(", "),
        vals(64, 31)
    );
    let (before, after, printed) = convert(&text, false);
    insta::assert_snapshot!(before_and_after(&before, &printed));
    assert_eq!(count_ops(&after, "Transpose"), 0);
    // The quantized weight is transposed in place (OHWI), its per-channel axis stays 0.
    assert!(printed.contains("%wq = const i8[4,3,3,2]"));
    let x = ("x", input(&[1, 2, 5, 5], 32, 1.0));
    assert_same_nhwc(&before, &after, &x, &["y"]);
}

/// `to-nchw` undoes `to-nhwc`: the same results, no transposes, NCHW layouts again.
#[test]
fn to_nchw_round_trip() {
    let text = cnn();
    let (before, nhwc_graph, _) = convert(&text, false);
    let mut back = nhwc_graph.clone();
    let opts = LayoutOptions::default();
    assert_eq!(to_nchw(&mut back, &opts).unwrap(), Changed::Yes);
    back.renumber().unwrap();
    let printed = print_graph(&back, &Default::default());
    insta::assert_snapshot!(printed);
    assert_eq!(count_ops(&back, "Transpose"), 0);
    assert!(layouts(&back).iter().all(|&l| l == Layout::Nchw));
    assert!(printed.contains("graph main(%x: f32[1,3,8,8]) -> (%y)"));
    let x = input(&[1, 3, 8, 8], 13, 1.0);
    assert_same_outputs(&before, &back, &[("x", x)], 1e-5);
}

/// The pass through the registry, as `modelc optimize -p to-nhwc` runs it: a second run
/// changes nothing.
#[test]
fn registered_and_idempotent() {
    let mut g = Graph::parse(&cnn()).unwrap();
    let pm = PassManager::new(pipeline("to-nhwc").unwrap());
    assert!(pm.run_graph(&mut g).unwrap().changed());
    let report = PassManager::new(pipeline("to-nhwc").unwrap())
        .run_graph(&mut g)
        .unwrap();
    assert!(!report.changed());
    assert_eq!(count_ops(&g, "Transpose"), 0);
}

/// Shape ops: Squeeze/Unsqueeze carry the permutation, an explicit NHWC Transpose in the
/// source graph is absorbed, ArgMax and a keepdims Reduce remap their axes.
#[test]
fn shape_ops_and_explicit_transposes() {
    let text = format!(
        r#"graph main(%x: f32[1,2,5,5]) -> (%pooled, %idx, %seq) {{
  %w = const f32[4,2,3,3] {}
  %c = Conv(%x, %w) {{pads=[1,1,1,1]}}
  %ax = const i64[1] [1]
  %sum = ReduceSum(%c, %ax) {{keepdims=1}}
  %u = Unsqueeze(%sum, %ax)
  %sq = Squeeze(%u, %ax)
  %pooled = Relu(%sq)
  %idx = ArgMax(%c) {{axis=1, keepdims=0}}
  %t = Transpose(%c) {{perm=[0,2,3,1]}}
  %shape = const i64[3] [1, 25, 4]
  %seq = Reshape(%t, %shape)
}}"#,
        vals(72, 41)
    );
    let (before, after, printed) = convert(&text, false);
    insta::assert_snapshot!(before_and_after(&before, &printed));
    // The graph's own Transpose to NHWC is now the identity and goes.
    assert_eq!(count_ops(&after, "Transpose"), 0);
    let x = ("x", input(&[1, 2, 5, 5], 42, 1.0));
    let a = tensor_outputs(&before, std::slice::from_ref(&x));
    let b = tensor_outputs(&after, &[(x.0, nhwc(&x.1))]);
    // pooled [1,1,5,5] is NHWC now; idx [1,5,5] and seq keep their layout.
    assert_eq!(nhwc(&a[0].1), b[0].1);
    assert_eq!(a[1].1, b[1].1);
    assert_eq!(a[2].1, b[2].1);
}

/// A graph as the TFLite reader produces it (NHWC convolutions with OHWI and [M,kH,kW,1]
/// weights, channel-last Pad/Concat/Mean) converted to NCHW for ONNX: no transposes, the
/// same results on the transposed input.
#[test]
fn tflite_style_graph_to_nchw() {
    let text = format!(
        r#"graph main(%x: f32[1,6,6,3]) -> (%y) {{
  %pads = const i64[8] [0, 1, 1, 0, 0, 1, 1, 0]
  %p = Pad(%x, %pads)
  %w = const f32[4,3,3,3] {}
  %b = const f32[4] {}
  %c = Conv(%p, %w, %b) {{strides=[2,2]}} layout=NHWC
  %r = Relu(%c)
  %dw = const f32[4,3,3,1] {}
  %d = Conv(%r, %dw) {{group=4, pads=[1,1,1,1]}} layout=NHWC
  %cat = Concat(%r, %d) {{axis=3}}
  %ax = const i64[2] [1, 2]
  %m = ReduceMean(%cat, %ax) {{keepdims=1}}
  %shape = const i64[2] [1, 8]
  %flat = Reshape(%m, %shape)
  %fw = const f32[8,5] {}
  %y = MatMul(%flat, %fw)
}}"#,
        vals(108, 51),
        vals(4, 52),
        vals(36, 53),
        vals(40, 54)
    );
    let out = run(ToNchw::default(), &text);
    assert!(out.report.steps[0].changed, "to-nchw changed nothing");
    let (before, mut after) = (out.before, out.after);
    after.renumber().unwrap();
    let printed = print_graph(&after, &Default::default());
    insta::assert_snapshot!(before_and_after(&before, &printed));
    assert_eq!(count_ops(&after, "Transpose"), 0);
    assert!(printed.contains("graph main(%x: f32[1,3,6,6]) -> (%y)"));
    let x = input(&[1, 6, 6, 3], 55, 1.0);
    let a = tensor_outputs(&before, &[("x", x.clone())]);
    let b = tensor_outputs(&after, &[("x", permute(&x, &[0, 3, 1, 2]))]);
    let (p, q) = (a[0].1.to_f64_vec().unwrap(), b[0].1.to_f64_vec().unwrap());
    for (u, v) in p.iter().zip(&q) {
        assert!((u - v).abs() <= 1e-5 * u.abs().max(1.0), "{u} vs {v}");
    }
}

/// A ConvNeXt block: the model's own transposes around its channels-last MLP disappear (the
/// first becomes the identity, the second is absorbed because its result feeds a conv).
#[test]
fn convnext_block_transposes_are_absorbed() {
    let text = format!(
        r#"graph main(%x: f32[1,4,6,6]) -> (%y) {{
  %dw = const f32[4,1,3,3] {}
  %d = Conv(%x, %dw) {{group=4, pads=[1,1,1,1]}}
  %t1 = Transpose(%d) {{perm=[0,2,3,1]}}
  %g = const f32[4] {}
  %b = const f32[4] {}
  %ln = LayerNormalization(%t1, %g, %b) {{axis=-1}}
  %w1 = const f32[4,8] {}
  %h = MatMul(%ln, %w1)
  %a = Gelu(%h)
  %w2 = const f32[8,4] {}
  %o = MatMul(%a, %w2)
  %t2 = Transpose(%o) {{perm=[0,3,1,2]}}
  %ls = const f32[4,1,1] [0.5, -1.0, 2.0, 0.25]
  %sc = Mul(%ls, %t2)
  %res = Add(%sc, %x)
  %pw = const f32[2,4,1,1] {}
  %y = Conv(%res, %pw)
}}"#,
        vals(36, 61),
        pos_vals(4, 62),
        vals(4, 63),
        vals(32, 64),
        vals(32, 65),
        vals(8, 66)
    );
    let (before, after, printed) = convert(&text, false);
    insta::assert_snapshot!(before_and_after(&before, &printed));
    assert_eq!(count_ops(&after, "Transpose"), 0);
    let x = ("x", input(&[1, 4, 6, 6], 67, 1.0));
    assert_same_nhwc(&before, &after, &x, &["y"]);
}

/// Per-channel activation QDQ: the `axis` follows the channel axis to the end.
#[test]
fn per_channel_activation_qdq_axis_moves() {
    let text = format!(
        r#"graph main(%x: f32[1,2,4,4]) -> (%y) {{
  %w = const f32[3,2,3,3] {}
  %c = Conv(%x, %w) {{pads=[1,1,1,1]}}
  %s = const f32[3] [0.01, 0.02, 0.03]
  %z = const u8[3] [128, 120, 130]
  %q = QuantizeLinear(%c, %s, %z) {{axis=1}}
  %d = DequantizeLinear(%q, %s, %z) {{axis=1}}
  %y = Relu(%d)
}}"#,
        vals(54, 71)
    );
    let (before, after, printed) = convert(&text, false);
    insta::assert_snapshot!(before_and_after(&before, &printed));
    assert!(printed.contains("QuantizeLinear(%c, %s, %z) {axis=3}"));
    assert!(printed.contains("DequantizeLinear(%q, %s, %z) {axis=3}"));
    let x = ("x", input(&[1, 2, 4, 4], 72, 1.0));
    assert_same_nhwc(&before, &after, &x, &["y"]);
}

/// With `keep_io_layout` an image output gets a Transpose back to NCHW that takes over the
/// output's name; the producer's value is renamed.
#[test]
fn keep_io_layout_image_output_keeps_its_name() {
    let text = format!(
        r#"graph main(%x: f32[1,2,4,4]) -> (%y) {{
  %w = const f32[3,2,3,3] {}
  %c = Conv(%x, %w) {{pads=[1,1,1,1]}}
  %y = Relu(%c)
}}"#,
        vals(54, 81)
    );
    let (before, after, printed) = convert(&text, true);
    insta::assert_snapshot!(printed);
    assert_eq!(count_ops(&after, "Transpose"), 2);
    assert!(printed.contains("-> (%y)"));
    let x = input(&[1, 2, 4, 4], 82, 1.0);
    assert_same_outputs(&before, &after, &[("x", x)], 0.0);
}

/// A ViT patch embedding: the Reshape merging H and W moves as whole runs of axes, so the
/// sequence comes out in the model's own `[N, HW, C]` order and its Transpose goes.
#[test]
fn patch_embedding_reshape_keeps_runs() {
    let text = format!(
        r#"graph main(%x: f32[1,3,8,8]) -> (%y) {{
  %w = const f32[6,3,4,4] {}
  %c = Conv(%x, %w) {{strides=[4,4]}}
  %shape = const i64[3] [1, 6, -1]
  %r = Reshape(%c, %shape)
  %t = Transpose(%r) {{perm=[0,2,1]}}
  %pos = const f32[4,6] {}
  %a = Add(%t, %pos)
  %g = const f32[6] {}
  %b = const f32[6] {}
  %y = LayerNormalization(%a, %g, %b) {{axis=-1}}
}}"#,
        vals(288, 91),
        vals(24, 92),
        pos_vals(6, 93),
        vals(6, 94)
    );
    let (before, after, printed) = convert(&text, false);
    insta::assert_snapshot!(before_and_after(&before, &printed));
    assert_eq!(count_ops(&after, "Transpose"), 0);
    let x = ("x", input(&[1, 3, 8, 8], 95, 1.0));
    assert_same_nhwc(&before, &after, &x, &[]);
}

/// The end of MediaPipe's face detector (`face_detection_full_range_sparse.tflite`): a
/// DepthToSpace head whose `[1, H, W, C]` result a Reshape regroups into the `[1, H*W, C]`
/// output. The grouped Reshape leaves the output in state `[0, 2, 1]`, the rank-3 data
/// permutation by coincidence; that is no image, so the output goes back to `[1, H*W, C]`
/// (it once came out `[1, C, H*W]`) while the image input still switches to NCHW.
#[test]
fn regrouped_output_after_depth_to_space_keeps_its_layout() {
    let text = format!(
        r#"graph main(%x: f32[1,8,8,3]) -> (%y) {{
  %w = const f32[16,1,1,3] {}
  %b = const f32[16] {}
  %c: f32[1,8,8,16] = Conv(%x, %w, %b) {{auto_pad="SAME_UPPER"}} layout=NHWC
  %pads = const i64[8] [0, 1, 1, 0, 0, 1, 1, 0]
  %p: f32[1,10,10,16] = Pad(%c, %pads)
  %dw = const f32[1,3,3,16] {}
  %dwt = Transpose(%dw) {{perm=[3,1,2,0]}}
  %d: f32[1,4,4,16] = Conv(%p, %dwt) {{auto_pad="VALID", strides=[2,2], group=16}} layout=NHWC
  %s: f32[1,8,8,4] = DepthToSpace(%d) {{blocksize=2, mode="DCR"}} layout=NHWC
  %shape = const i64[3] [1, -1, 4]
  %y: f32[1,64,4] = Reshape(%s, %shape)
}}"#,
        vals(48, 101),
        vals(16, 102),
        vals(144, 103)
    );
    let out = modelc_passes::check!(ToNchw::default(), &text);
    assert!(out.printed.contains("graph main(%x: f32[1,3,8,8]) -> (%y)"));
    assert!(
        out.printed.contains("%y: f32[1,64,4] = "),
        "{}",
        out.printed
    );
    let x = input(&[1, 8, 8, 3], 104, 1.0);
    let a = tensor_outputs(&out.before, &[("x", x.clone())]);
    let b = tensor_outputs(&out.after, &[("x", permute(&x, &[0, 3, 1, 2]))]);
    assert_eq!(a[0].1.shape(), &[1, 64, 4]);
    assert_eq!(a[0].1.shape(), b[0].1.shape(), "output `y` changed shape");
    let (p, q) = (a[0].1.to_f64_vec().unwrap(), b[0].1.to_f64_vec().unwrap());
    for (u, v) in p.iter().zip(&q) {
        assert!((u - v).abs() <= 1e-5 * u.abs().max(1.0), "{u} vs {v}");
    }
}

/// An image input that reaches the first convolution through Slice, Concat and a
/// channel-picking Gather (YOLOv5's space-to-depth "Focus" stem; a channel reorder before
/// `DepthToSpace`) is converted too: no Transpose anywhere, the ops' axes remapped.
#[test]
fn input_through_slices_concat_and_gather_is_converted() {
    let text = format!(
        r#"graph main(%x: f32[1,3,8,8]) -> (%y) {{
  %s0 = const i64[2] [0, 0]
  %s1 = const i64[2] [1, 0]
  %s2 = const i64[2] [0, 1]
  %e = const i64[2] [8, 8]
  %ax = const i64[2] [2, 3]
  %st = const i64[2] [2, 2]
  %a = Slice(%x, %s0, %e, %ax, %st)
  %b = Slice(%x, %s1, %e, %ax, %st)
  %c = Slice(%x, %s2, %e, %ax, %st)
  %cat = Concat(%a, %b, %c) {{axis=1}}
  %order = const i64[9] [8, 7, 6, 5, 4, 3, 2, 1, 0]
  %g = Gather(%cat, %order) {{axis=1}}
  %w = const f32[4,9,1,1] {}
  %y = Conv(%g, %w)
}}"#,
        vals(36, 71)
    );
    let (before, after, printed) = convert(&text, false);
    insta::assert_snapshot!(before_and_after(&before, &printed));
    assert_eq!(count_ops(&after, "Transpose"), 0);
    assert!(printed.contains("graph main(%x: f32[1,8,8,3]) -> (%y)"));
    let x = ("x", input(&[1, 3, 8, 8], 13, 1.0));
    assert_same_nhwc(&before, &after, &x, &["y"]);
}

/// Sizes read from a converted tensor (a crop to the input's size, a resize to a computed
/// size): Shape measures the channels-last tensor and a Gather puts its sizes back in NCHW
/// order, and a computed Resize `sizes` list is gathered into NHWC order; no Transpose.
#[test]
fn shapes_and_computed_sizes_of_converted_tensors() {
    let text = format!(
        r#"graph main(%x: f32[1,2,h,w]) -> (%y) {{
  %w = const f32[2,2,3,3] {}
  %c = Conv(%x, %w) {{pads=[1,1,1,1]}}
  %s = Shape(%c)
  %hw_start = const i64[1] [2]
  %hw_end = const i64[1] [4]
  %hw = Slice(%s, %hw_start, %hw_end)
  %nc = const i64[2] [1, 2]
  %sizes = Concat(%nc, %hw) {{axis=0}}
  %r = Resize(%c, _, _, %sizes) {{mode="linear"}}
  %y = Relu(%r)
}}"#,
        vals(36, 41)
    );
    let (before, after, printed) = convert(&text, false);
    insta::assert_snapshot!(before_and_after(&before, &printed));
    assert_eq!(count_ops(&after, "Transpose"), 0);
    let x = ("x", input(&[1, 2, 5, 7], 42, 1.0));
    assert_same_nhwc(&before, &after, &x, &["y"]);
}

/// A convolution inside an `If` branch (silero-vad's STFT and encoder sit in an `If` on the
/// sample rate): the branch converts on its own, its captured weight copied in as a constant
/// (transposed with its conv), its captured input and its output kept in the layout the
/// enclosing graph passes (a Transpose at each end of the branch), the capture of the
/// weight dropped; the else branch, with nothing layout-sensitive, is left as it was.
#[test]
fn conv_inside_an_if_branch_is_converted() {
    let w = vals(2 * 2 * 3 * 3, 3);
    let text = format!(
        r#"graph main(%x: f32[1,2,5,5], %c: bool[]) -> (%y) {{
  %w = const f32[2,2,3,3] {w}
  %y: f32[1,2,5,5] = If(%c) {{else_branch=graph else() outer(%x) -> (%y_else) {{
    %y_else: f32[1,2,5,5] = Relu(%x)
  }}, then_branch=graph then() outer(%x, %w) -> (%y_then) {{
    %y_then: f32[1,2,5,5] = Conv(%x, %w) {{pads=[1,1,1,1]}} layout=NCHW
  }}}} captures(%x, %w) name="choose"
}}"#
    );
    let (before, after, printed) = convert(&text, false);
    insta::assert_snapshot!(before_and_after(&before, &printed));
    let if_node = after
        .node_ids()
        .find(|&id| after.node(id).name == "choose")
        .unwrap();
    assert_eq!(after.captures_of(if_node).len(), 1, "only %x is captured");
    let then = after.node(if_node).subgraphs().nth(1).unwrap();
    assert_eq!(layouts(then), [Layout::Nhwc]);
    assert_eq!(count_ops(then, "Transpose"), 2);
    for taken in [true, false] {
        let x = input(&[1, 2, 5, 5], 21, 1.0);
        let c = Array::Bool(ndarray::ArrayD::from_elem(ndarray::IxDyn(&[]), taken));
        assert_same_outputs(&before, &after, &[("x", x), ("c", c)], 1e-5);
    }
}
