//! Sizes unknown until run time stay unknown in the written file: their tensors carry
//! `shape_signature` -1, and the ops whose options would need the size read a shape tensor
//! computed in the file from SHAPE instead (RESHAPE, RESIZE_*, TRANSPOSE_CONV); pinning the
//! size with `--dim` (here: a graph with the size known) writes no SHAPE at all. Forms that
//! cannot be expressed are refused by node name; a dense layer over unknown batch and length
//! reads back. Also the forms of a static int8 transformer block (per-channel [I, O] weights,
//! a QDQ GELU). (Numbers against LiteRT at several sizes and for int8 transformers:
//! tests/tflite_dynamic.py.)

use modelc_ir::{Graph, Model};
use modelc_tflite::fb;

/// The written file's operators (builtin names) and its input's shape signature.
fn write(text: &str) -> Result<(Vec<String>, Vec<i32>), String> {
    let g = Graph::parse(text).unwrap_or_else(|e| panic!("{e}"));
    let model = Model::new(g, 17);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.tflite");
    modelc_tflite::write(&model, &path, &Default::default()).map_err(|e| e.to_string())?;
    let bytes = std::fs::read(&path).unwrap();
    let m = fb::root_as_model(&bytes).unwrap();
    let codes = m.operator_codes().unwrap();
    let sg = m.subgraphs().unwrap().get(0);
    let ops = sg
        .operators()
        .unwrap()
        .iter()
        .map(|op| {
            let code = codes.get(op.opcode_index() as usize).builtin_code();
            code.variant_name().unwrap().to_string()
        })
        .collect();
    let input = sg
        .tensors()
        .unwrap()
        .get(sg.inputs().unwrap().get(0) as usize);
    let sig = input
        .shape_signature()
        .map(|s| s.iter().collect())
        .unwrap_or_else(|| input.shape().unwrap().iter().collect());
    Ok((ops, sig))
}

fn count(ops: &[String], name: &str) -> usize {
    ops.iter().filter(|o| *o == name).count()
}

#[test]
fn reshape_of_two_unknown_sizes_reads_a_computed_shape() {
    let text = r#"graph main(%x: f32[batch,seq,8]) -> (%y) {
  %s = const i64[4] [0, -1, 2, 4]
  %y = Reshape(%x, %s)
}"#;
    let (ops, sig) = write(text).unwrap();
    assert_eq!(sig, [-1, -1, 8]);
    assert_eq!(count(&ops, "SHAPE"), 1, "{ops:?}");
    assert_eq!(count(&ops, "RESHAPE"), 1, "{ops:?}");
}

#[test]
fn detector_ops_of_unknown_height_and_width() {
    let text = r#"graph main(%x: f32[1,3,h,w]) -> (%y) {
  %wc = const f32[4,3,3,3] [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]
  %c = Conv(%x, %wc) {pads=[1,1,1,1], strides=[2,2]}
  %sc = const f32[4] [1.0, 1.0, 2.0, 2.0]
  %r = Resize(%c, _, %sc) {mode="linear", coordinate_transformation_mode="half_pixel"}
  %wt = const f32[4,1,2,2] [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]
  %y = ConvTranspose(%r, %wt) {strides=[2,2], pads=[1,1,0,0]}
}"#;
    let (ops, sig) = write(text).unwrap();
    assert_eq!(
        sig,
        [1, -1, -1, 3],
        "channels last, height and width unknown"
    );
    let want = [
        // Stride 2 over an unknown size: explicit pads.
        "PAD",
        "CONV_2D",
        // size = SHAPE[1:3] · 2
        "SHAPE",
        "STRIDED_SLICE",
        "MUL",
        "RESIZE_BILINEAR",
        // output_shape = [SHAPE[0:1], SHAPE[1:3] · s + (k - s), M]
        "SHAPE",
        "STRIDED_SLICE",
        "STRIDED_SLICE",
        "MUL",
        "ADD",
        "CONCATENATION",
        "TRANSPOSE_CONV",
        // ONNX's leading pads cropped.
        "STRIDED_SLICE",
    ];
    assert_eq!(ops, want);

    // The same sizes pinned: constant shapes, no SHAPE.
    let pinned = text.replace("f32[1,3,h,w]", "f32[1,3,16,24]");
    let (ops, sig) = write(&pinned).unwrap();
    assert_eq!(sig, [1, 16, 24, 3]);
    assert_eq!(count(&ops, "SHAPE"), 0, "{ops:?}");
}

#[test]
fn resize_forms_unknown_sizes_cannot_give_are_refused_by_name() {
    let text = r#"graph main(%x: f32[1,3,h,w]) -> (%y, %z) {
  %s = const f32[4] [1.0, 1.0, 1.5, 1.5]
  %y = Resize(%x, _, %s) {mode="linear"} name="by_one_and_a_half"
  %t = const f32[4] [1.0, 1.0, 2.0, 2.0]
  %z = Resize(%x, _, %t) {mode="cubic"} name="cubic"
}"#;
    let err = write(text).unwrap_err();
    assert!(
        err.contains("by_one_and_a_half") && err.contains("not whole numbers"),
        "{err}"
    );
    assert!(err.contains("cubic"), "{err}");
}

/// Scales given at run time: ONNX maps coordinates by them, TFLite by output / input size,
/// which differ when the scale does not give the size exactly (2 × 4 by 0.6 is 1 × 2, read
/// at 1 / 0.6, not 2): refused even with the output size known, in every coordinate mode.
#[test]
fn resize_by_scales_computed_at_run_time_is_refused() {
    for coord in ["half_pixel", "align_corners", "asymmetric"] {
        let text = format!(
            r#"graph main(%x: f32[1,1,2,4], %scales: f32[4]) -> (%y) {{
  %y: f32[1,1,1,2] = Resize(%x, _, %scales) {{mode="linear", coordinate_transformation_mode="{coord}"}} name="down"
}}"#
        );
        let err = write(&text).unwrap_err();
        assert!(
            err.contains("down") && err.contains("scales computed at run time"),
            "{coord}: {err}"
        );
    }
}

/// Pads computed at run time (a TRANSPOSE_CONV of a run-time output_shape reads back with
/// one): ONNX's [begins, ends] clamped to int32, GATHERed into (begin, end) pairs, RESHAPEd
/// to PAD's [rank, 2]. (Numbers in LiteRT: tests/tflite_dynamic.py, read_back.)
#[test]
fn pad_by_pads_computed_at_run_time() {
    let text = r#"graph main(%x: f32[2,3], %p: i64[4]) -> (%y) {
  %y = Pad(%x, %p)
}"#;
    let (ops, _) = write(text).unwrap();
    assert_eq!(
        ops,
        ["MINIMUM", "MAXIMUM", "CAST", "GATHER", "RESHAPE", "PAD"],
        "{ops:?}"
    );
    let wrong_length = text.replace("i64[4]", "i64[3]");
    let err = write(&wrong_length).unwrap_err();
    assert!(err.contains("twice the input's rank"), "{err}");
}

#[test]
fn a_dense_layer_of_unknown_batch_and_length_reads_back() {
    let w: Vec<String> = (0..24)
        .map(|i| format!("{:.2}", i as f32 / 24.0 - 0.5))
        .collect();
    let text = format!(
        r#"graph main(%x: f32[batch,seq,8]) -> (%y) {{
  %w = const f32[8,3] [{}]
  %y = MatMul(%x, %w)
}}"#,
        w.join(", ")
    );
    let g = Graph::parse(&text).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dense.tflite");
    modelc_tflite::write(&Model::new(g, 17), &path, &Default::default()).unwrap();
    // FULLY_CONNECTED keep_num_dims over two unknown sizes: a MatMul on import (a flatten
    // and reshape back would need the sizes).
    let back = modelc_tflite::read(&path).unwrap_or_else(|e| panic!("{e}"));
    let ops: Vec<String> = back
        .graph
        .node_ids()
        .filter_map(|id| back.graph.node(id).op.onnx().map(|o| o.name().to_string()))
        .collect();
    assert!(ops.contains(&"MatMul".to_string()), "{ops:?}");
    assert!(!ops.contains(&"Reshape".to_string()), "{ops:?}");
}

/// A static int8 transformer's feed-forward block as `modelc quantize` writes it: weights per
/// output channel given as [I, O], and a QDQ pair between each op of the erf-form GELU. The
/// dense layer is an int8 FULLY_CONNECTED with the scales on the transposed filter's axis 0,
/// and the GELU one GELU builtin (TFLite has no ERF).
#[test]
fn an_int8_feed_forward_block_with_a_quantized_gelu() {
    let wq: Vec<String> = (0..32)
        .map(|i| ((i * 37) % 255 - 127).to_string())
        .collect();
    let text = format!(
        r#"graph main(%x: f32[2,8]) -> (%y) {{
  %s = const f32[] [0.05]
  %z = const i8[] [0]
  %xq = QuantizeLinear(%x, %s, %z)
  %xd = DequantizeLinear(%xq, %s, %z)
  %wq = const i8[8,4] [{}]
  %ws = const f32[4] [0.01, 0.02, 0.03, 0.04]
  %wz = const i8[4] [0, 0, 0, 0]
  %wd = DequantizeLinear(%wq, %ws, %wz) {{axis=1}}
  %m = MatMul(%xd, %wd)
  %mq = QuantizeLinear(%m, %s, %z)
  %md = DequantizeLinear(%mq, %s, %z)
  %r2 = const f32[] [1.4142135]
  %dv = Div(%md, %r2)
  %es = const f32[] [0.007874016]
  %e = Erf(%dv)
  %eq = QuantizeLinear(%e, %es, %z)
  %ed = DequantizeLinear(%eq, %es, %z)
  %oneq = const i8[] [127]
  %oned = DequantizeLinear(%oneq, %es, %z)
  %a = Add(%ed, %oned)
  %aq = QuantizeLinear(%a, %es, %z)
  %ad = DequantizeLinear(%aq, %es, %z)
  %mu = Mul(%md, %ad)
  %muq = QuantizeLinear(%mu, %s, %z)
  %mud = DequantizeLinear(%muq, %s, %z)
  %hs = const f32[] [0.0078125]
  %halfq = const i8[] [64]
  %halfd = DequantizeLinear(%halfq, %hs, %z)
  %g = Mul(%mud, %halfd)
  %gq = QuantizeLinear(%g, %s, %z)
  %y = DequantizeLinear(%gq, %s, %z)
}}"#,
        wq.join(", ")
    );
    let g = Graph::parse(&text).unwrap_or_else(|e| panic!("{e}"));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ffn.tflite");
    modelc_tflite::write(&Model::new(g, 17), &path, &Default::default())
        .unwrap_or_else(|e| panic!("{e}"));
    let bytes = std::fs::read(&path).unwrap();
    let m = fb::root_as_model(&bytes).unwrap();
    let codes = m.operator_codes().unwrap();
    let sg = m.subgraphs().unwrap().get(0);
    let tensors = sg.tensors().unwrap();
    let mut names = Vec::new();
    for op in sg.operators().unwrap() {
        let code = codes.get(op.opcode_index() as usize).builtin_code();
        names.push(code.variant_name().unwrap().to_string());
        if code == fb::BuiltinOperator::FULLY_CONNECTED {
            let x = tensors.get(op.inputs().unwrap().get(0) as usize);
            let w = tensors.get(op.inputs().unwrap().get(1) as usize);
            assert_eq!(x.type_(), fb::TensorType::INT8, "an int8 dense layer");
            assert_eq!(w.shape().unwrap().iter().collect::<Vec<_>>(), [4, 8]);
            let q = w.quantization().unwrap();
            assert_eq!(q.scale().unwrap().len(), 4);
            assert_eq!(q.quantized_dimension(), 0);
        }
    }
    assert_eq!(count(&names, "FULLY_CONNECTED"), 1, "{names:?}");
    assert_eq!(count(&names, "GELU"), 1, "{names:?}");
}

/// YOLOv8's anchor grid (nudenet): `Range` to a limit cast from a run-time size and a
/// `ConstantOfShape` of a computed shape become RANGE and FILL (with the `value` attribute
/// as FILL's scalar), and read back as `Range` and `Expand` of that value. (Numbers in
/// LiteRT: the corpus's nudenet_320n → tflite.)
#[test]
fn range_and_constant_of_shape_of_run_time_sizes() {
    let text = r#"graph main(%x: f32[1,w]) -> (%y, %z) {
  %s = Shape(%x)
  %one = const i64[] [1]
  %n = Gather(%s, %one) {axis=0}
  %lim = Cast(%n) {to=1}
  %start = const f32[] [0.5]
  %step = const f32[] [1.0]
  %y = Range(%start, %lim, %step) name="anchors"
  %c = ConstantOfShape(%s) {value=f32[1] [0.25]} name="zeros_of_x"
  %z = Add(%c, %x)
}"#;
    let (ops, sig) = write(text).unwrap();
    assert_eq!(sig, [1, -1]);
    assert_eq!(count(&ops, "RANGE"), 1, "{ops:?}");
    assert_eq!(count(&ops, "FILL"), 1, "{ops:?}");

    let g = Graph::parse(text).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("anchors.tflite");
    modelc_tflite::write(&Model::new(g, 17), &path, &Default::default()).unwrap();
    let back = modelc_tflite::read(&path).unwrap_or_else(|e| panic!("{e}"));
    let ops: Vec<&str> = back
        .graph
        .node_ids()
        .filter_map(|id| back.graph.node(id).op.onnx().map(|o| o.name()))
        .collect();
    assert!(ops.contains(&"Range"), "{ops:?}");
    assert!(ops.contains(&"Expand"), "{ops:?}");
    let fill_value = back.graph.node_ids().find_map(|id| {
        let n = back.graph.node(id);
        (n.op.onnx().map(|o| o.name()) == Some("Expand"))
            .then(|| back.graph.input(id, 0))
            .flatten()
    });
    let value = fill_value.and_then(|v| match &back.graph.node(v.node).op {
        modelc_ir::Op::Const(t) => t.raw().cloned(),
        _ => None,
    });
    assert_eq!(value.as_deref(), Some(&0.25f32.to_le_bytes()[..]));

    // A Range of a type LiteRT's kernel lacks is refused by name.
    let f64_range = r#"graph main(%l: f64[]) -> (%y) {
  %s = const f64[] [0.0]
  %d = const f64[] [1.0]
  %y = Range(%s, %l, %d) name="wide"
}"#;
    let err = write(f64_range).unwrap_err();
    assert!(
        err.contains("wide") && err.contains("f64 elements"),
        "{err}"
    );
}

/// PP-OCRv4's recognizer: a 3×2 average pooling by 3×2 without pads over an unknown height
/// and width. Every window lies within the input, so it divides by 6 whatever the size: a
/// VALID AVERAGE_POOL_2D. With pads not counted, the divisor of the edge windows depends on
/// the size: refused by name. (Numbers in LiteRT: the corpus's ocr_rec → tflite.)
#[test]
fn average_pooling_without_pads_over_unknown_sizes() {
    let text = r#"graph main(%x: f32[1,4,h,w]) -> (%y) {
  %y = AveragePool(%x) {kernel_shape=[3,2], strides=[3,2], pads=[0,0,0,0], count_include_pad=0} name="pool"
}"#;
    let (ops, sig) = write(text).unwrap();
    assert_eq!(sig, [1, -1, -1, 4]);
    assert_eq!(ops, ["AVERAGE_POOL_2D"]);
    let padded = text.replace("pads=[0,0,0,0]", "pads=[1,0,1,0]");
    let err = write(&padded).unwrap_err();
    assert!(
        err.contains("pool") && err.contains("known input size"),
        "{err}"
    );
}

/// paddle2onnx's attention reshape: a shape computed as Concat([0], Shape(x)[1:2], [3, 8])
/// whose constant 0 copies the input's size, which TFLite's RESHAPE does not do: the shape
/// tensor's 0 entries are selected from the input's run-time shape (EQUAL + SELECT_V2).
#[test]
fn reshape_to_a_computed_shape_with_copy_entries() {
    let text = r#"graph main(%x: f32[b,w,24]) -> (%y) {
  %s = Shape(%x)
  %one = const i64[1] [1]
  %two = const i64[1] [2]
  %zero_axis = const i64[1] [0]
  %w = Slice(%s, %one, %two, %zero_axis)
  %copy = const i64[1] [0]
  %heads = const i64[2] [3, 8]
  %shape = Concat(%copy, %w, %heads) {axis=0}
  %y = Reshape(%x, %shape) name="split_heads"
}"#;
    let (ops, sig) = write(text).unwrap();
    assert_eq!(sig, [-1, -1, 24]);
    assert_eq!(count(&ops, "EQUAL"), 1, "{ops:?}");
    assert_eq!(count(&ops, "SELECT_V2"), 1, "{ops:?}");
    assert_eq!(ops.last().map(String::as_str), Some("RESHAPE"), "{ops:?}");
}
