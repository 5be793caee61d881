//! Quantization modes on small text-form graphs: where QDQ goes (snapshots), and the
//! quantized graphs computing close to the float ones in the interpreter.

use modelc_interp::{Array, Data, Interpreter};
use modelc_ir::text::{print_graph, PrintOptions};
use modelc_ir::{DType, Graph, Model};
use modelc_passes::quant::params::f32_elements;
use modelc_passes::quant::{self, Method, Metric, Mode, QuantConfig, QuantError, Sample};
use modelc_passes::testing::{count_ops, Lcg};
use ndarray::{ArrayD, IxDyn};

/// Conv (+bias) → Relu → MaxPool → Reshape → Gemm, and a residual Add.
const CNN: &str = r#"graph main(%x: f32[1,2,4,4]) -> (%y) {
  %w = const f32[3,2,1,1] [0.5, -0.25, 1.0, 0.75, -0.5, 0.125]
  %b = const f32[3] [0.1, -0.2, 0.3]
  %c = Conv(%x, %w, %b) {kernel_shape=[1,1]}
  %r = Relu(%c)
  %w2 = const f32[3,3,1,1] [0.2, 0.1, -0.3, 0.4, 0.5, 0.6, -0.7, 0.8, 0.9]
  %c2 = Conv(%r, %w2) {kernel_shape=[1,1]}
  %a = Add(%c2, %r)
  %p = MaxPool(%a) {kernel_shape=[2,2], strides=[2,2]}
  %s = const i64[2] [1, 12]
  %f = Reshape(%p, %s)
  %gw = const f32[4,12] [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.1, 1.2, -0.1, -0.2, -0.3, -0.4, -0.5, -0.6, -0.7, -0.8, -0.9, -1.0, -1.1, -1.2, 0.3, -0.3, 0.3, -0.3, 0.3, -0.3, 0.3, -0.3, 0.3, -0.3, 0.3, -0.3, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0]
  %gb = const f32[4] [0.01, 0.02, 0.03, 0.04]
  %y = Gemm(%f, %gw, %gb) {transB=1}
}"#;

fn model(text: &str, opset: i64) -> Model {
    Model::new(Graph::parse(text).unwrap(), opset)
}

/// Seeded pseudo-random f32 values in [-1, 1).
fn values(n: usize, seed: u64) -> Vec<f32> {
    let mut r = Lcg::new(seed);
    (0..n).map(|_| r.next_f32()).collect()
}

fn samples(name: &str, shape: &[usize], n: usize, seed: u64) -> Vec<Sample> {
    let count: usize = shape.iter().product();
    (0..n)
        .map(|i| {
            let a = ArrayD::from_shape_vec(IxDyn(shape), values(count, seed + i as u64)).unwrap();
            vec![(name.to_string(), Data::Tensor(Array::F32(a)))]
        })
        .collect()
}

fn printed(m: &Model) -> String {
    print_graph(&m.graph, &PrintOptions::default())
}

/// Mean cosine similarity of the first output of two models over `inputs`, computed in the
/// interpreter.
fn cosine(a: &Model, b: &Model, inputs: &[Sample]) -> f64 {
    let (ia, ib) = (Interpreter::new(a).unwrap(), Interpreter::new(b).unwrap());
    let mut sum = 0.0;
    for s in inputs {
        let ra = ia.run(s.clone()).unwrap();
        let rb = ib.run(s.clone()).unwrap();
        let (Data::Tensor(x), Data::Tensor(y)) = (&ra[0].1, &rb[0].1) else {
            panic!()
        };
        let (mut dot, mut na, mut nb) = (0.0, 0.0, 0.0);
        for (p, q) in x.to_f64_vec().unwrap().iter().zip(y.to_f64_vec().unwrap()) {
            dot += p * q;
            na += p * p;
            nb += q * q;
        }
        sum += dot / (na.sqrt() * nb.sqrt());
    }
    // The mean over inputs, as the report and --max-error measure it.
    sum / inputs.len() as f64
}

/// The type and value of the scale (`which` = 0) or zero point (1) constant that the
/// QuantizeLinear of value `v` reads, from the printed graph.
fn qdq_const(text: &str, v: &str, which: usize) -> String {
    let q = text
        .lines()
        .find(|l| {
            l.trim_start()
                .starts_with(&format!("%{v}_Q = QuantizeLinear(%{v}, "))
        })
        .unwrap_or_else(|| panic!("no QuantizeLinear of {v} in\n{text}"));
    let args = q.split_once('(').unwrap().1.split_once(')').unwrap().0;
    let name = args.split(", ").nth(1 + which).unwrap();
    let def = text
        .lines()
        .find(|l| l.trim_start().starts_with(&format!("{name} = const ")))
        .unwrap();
    def.split_once(" = const ").unwrap().1.to_string()
}

#[test]
fn static_int8_places_qdq_like_onnxruntime() {
    let m = model(CNN, 17);
    let calib = samples("x", &[1, 2, 4, 4], 16, 1);
    let (q, report) = quant::quantize(&m, &QuantConfig::default(), &calib, &[]).unwrap();
    let text = printed(&q);
    insta::assert_snapshot!(text);
    // The Relu is folded into the Conv output's quantization, weights are int8 behind a
    // per-channel DequantizeLinear, the Gemm's bias int32 (the Conv's stays float:
    // onnxruntime quantizes it when it loads the model), the graph output stays float.
    assert_eq!(count_ops(&q.graph, "Relu"), 0);
    assert!(text.contains("%w_i8 = const i8[3,2,1,1]"));
    assert!(text.contains("%gb_i32 = const i32[4]"));
    assert!(text.contains("%b = const f32[3]"));
    assert!(text.contains("DequantizeLinear(%w_i8, %w_s, %zero3_i8) {axis=0}"));
    assert!(text.contains("%y: f32[1,4] = Gemm("));
    // Reshape and MaxPool are quantized with their input's parameters.
    let scale_of = |v: &str| qdq_const(&text, v, 0);
    assert_eq!(scale_of("p"), scale_of("a"));
    assert_eq!(scale_of("f"), scale_of("a"));
    assert!(
        report.layers.iter().all(|l| l.quantized),
        "{:?}",
        report.layers
    );
    // Numerically close to the float model on inputs not used for calibration.
    let held = samples("x", &[1, 2, 4, 4], 8, 100);
    let c = cosine(&m, &q, &held);
    assert!(c > 0.999, "cosine {c}");
    assert!(report.outputs[0].cosine > 0.999);
}

#[test]
fn signed_activations_and_per_tensor_weights() {
    let m = model(CNN, 17);
    let calib = samples("x", &[1, 2, 4, 4], 4, 1);
    let mut cfg = QuantConfig::default();
    cfg.static_opts.activation = DType::I8;
    cfg.static_opts.per_channel = false;
    let (q, _) = quant::quantize(&m, &cfg, &calib, &[]).unwrap();
    let text = printed(&q);
    // The Relu-folded Conv output covers [0, max]: zero point at the bottom of int8.
    assert_eq!(qdq_const(&text, "c", 1), "i8[] [-128]", "{text}");
    assert!(
        text.contains("DequantizeLinear(%w_i8, %w_s, %zero1_i8)\n"),
        "{text}"
    );
    assert!(cosine(&m, &q, &samples("x", &[1, 2, 4, 4], 4, 50)) > 0.999);
}

#[test]
fn exclusions_keep_layers_float() {
    let m = model(CNN, 17);
    let calib = samples("x", &[1, 2, 4, 4], 4, 1);
    let cfg = QuantConfig {
        exclude: vec!["Gemm".into(), "c2*".into()],
        ..QuantConfig::default()
    };
    let (q, report) = quant::quantize(&m, &cfg, &calib, &[]).unwrap();
    let float: Vec<&str> = report
        .layers
        .iter()
        .filter(|l| !l.quantized)
        .map(|l| l.name.as_str())
        .collect();
    assert_eq!(float, vec!["c2", "y"]);
    // The excluded Gemm reads its float weight directly.
    let text = printed(&q);
    assert!(text.contains("= Gemm(%f_DQ, %gw, %gb)"), "{text}");

    let cfg = QuantConfig {
        exclude_first_last: true,
        ..QuantConfig::default()
    };
    let (_, report) = quant::quantize(&m, &cfg, &calib, &[]).unwrap();
    let float: Vec<&str> = report
        .layers
        .iter()
        .filter(|l| !l.quantized)
        .map(|l| l.name.as_str())
        .collect();
    assert_eq!(float, vec!["c", "y"]);
}

#[test]
fn nothing_to_quantize_is_an_error() {
    let m = model("graph main(%x: f32[4]) -> (%y) {\n  %y = Exp(%x)\n}", 17);
    let err =
        quant::quantize(&m, &QuantConfig::default(), &samples("x", &[4], 2, 1), &[]).unwrap_err();
    assert!(matches!(err, QuantError::NothingToQuantize(_)));
    assert_eq!(
        err.to_string(),
        "nothing to quantize: no op the int8 mode quantizes was found (or all were excluded)"
    );
    let err = quant::quantize(&m, &QuantConfig::default(), &[], &[]).unwrap_err();
    assert_eq!(err.to_string(), "calibration: no calibration inputs");
}

#[test]
fn percentile_and_entropy_clip_an_outlier() {
    // One huge value among many small ones: minmax spends the range on it, the histogram
    // methods clip it (so the input's scale is much smaller).
    let text = "graph main(%x: f32[1,1,1,256]) -> (%y) {\n  %w = const f32[1,1,1,1] [1.0]\n  %c = Conv(%x, %w)\n  %y = Relu(%c)\n}";
    let m = model(text, 17);
    let mut calib = samples("x", &[1, 1, 1, 256], 8, 3);
    if let Data::Tensor(Array::F32(a)) = &mut calib[0][0].1 {
        a[[0, 0, 0, 7]] = 1000.0;
    }
    let scale = |method| {
        let cfg = QuantConfig {
            method,
            ..QuantConfig::default()
        };
        let (q, _) = quant::quantize(&m, &cfg, &calib, &[]).unwrap();
        let v = qdq_const(&printed(&q), "x", 0);
        v.trim_start_matches("f32[] [")
            .trim_end_matches(']')
            .parse::<f32>()
            .unwrap()
    };
    let mm = scale(Method::MinMax);
    let pc = scale(Method::Percentile(99.9));
    let en = scale(Method::Entropy);
    assert!((mm - 1001.0 / 255.0).abs() < 0.05, "minmax {mm}");
    assert!(pc < mm / 50.0, "percentile {pc} vs {mm}");
    // The entropy search works on 2048 bins over [0, max|x|], so with a 1000x outlier it
    // can only resolve thresholds in steps of about 0.5: it still clips by more than 10x.
    assert!(en < mm / 10.0, "entropy {en} vs {mm}");
}

const ATTN: &str = r#"graph main(%x: f32[2,8]) -> (%y) {
  %w = const f32[8,8] [0.1, -0.2, 0.3, -0.4, 0.5, -0.6, 0.7, -0.8, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, -0.1, 0.2, -0.3, 0.4, -0.5, 0.6, -0.7, 0.8, 0.25, 0.25, 0.25, 0.25, -0.25, -0.25, -0.25, -0.25, 0.9, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, -0.9, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, -0.5, 0.5, -0.5, 0.5, -0.5, 0.5, -0.5, 0.5, 0.3, 0.3, -0.3, -0.3, 0.3, 0.3, -0.3, -0.3]
  %m = MatMul(%x, %w)
  %b = const f32[8] [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]
  %a = Add(%m, %b)
  %y = Softmax(%a) {axis=-1}
}"#;

#[test]
fn fp16_keeps_softmax_and_io_in_float32() {
    let m = model(ATTN, 17);
    let cfg = QuantConfig {
        mode: Mode::Fp16,
        ..QuantConfig::default()
    };
    let calib = samples("x", &[2, 8], 1, 1);
    let (q, report) = quant::quantize(&m, &cfg, &calib, &[]).unwrap();
    let text = printed(&q);
    insta::assert_snapshot!(text);
    assert!(text.starts_with("graph main(%x: f32[2,8]) -> (%y)"));
    assert!(text.contains("= const f16[8,8]"));
    assert!(report
        .layers
        .iter()
        .any(|l| l.op == "Softmax" && !l.quantized));
    assert!(cosine(&m, &q, &samples("x", &[2, 8], 4, 9)) > 0.9999);

    let cfg = QuantConfig {
        mode: Mode::Bf16,
        ..QuantConfig::default()
    };
    let (q, _) = quant::quantize(&m, &cfg, &calib, &[]).unwrap();
    assert!(printed(&q).contains("= const bf16[8,8]"));
    assert!(cosine(&m, &q, &samples("x", &[2, 8], 4, 9)) > 0.999);
}

#[test]
fn int8_dynamic_uses_integer_matmul() {
    let m = model(ATTN, 17);
    let cfg = QuantConfig {
        mode: Mode::Int8Dynamic,
        ..QuantConfig::default()
    };
    let (q, _) = quant::quantize(&m, &cfg, &samples("x", &[2, 8], 1, 1), &[]).unwrap();
    insta::assert_snapshot!(printed(&q));
    assert_eq!(count_ops(&q.graph, "DynamicQuantizeLinear"), 1);
    assert_eq!(count_ops(&q.graph, "MatMulInteger"), 1);
    assert_eq!(count_ops(&q.graph, "MatMul"), 0);
    assert!(cosine(&m, &q, &samples("x", &[2, 8], 4, 9)) > 0.999);

    // Conv: ConvInteger with the per-channel scale broadcast over channels.
    let m = model(CNN, 17);
    let (q, _) = quant::quantize(&m, &cfg, &samples("x", &[1, 2, 4, 4], 1, 1), &[]).unwrap();
    assert_eq!(count_ops(&q.graph, "ConvInteger"), 2);
    assert_eq!(count_ops(&q.graph, "MatMulInteger"), 1, "the Gemm");
    assert!(cosine(&m, &q, &samples("x", &[1, 2, 4, 4], 4, 9)) > 0.999);
}

#[test]
fn int4_weights_in_blocks() {
    let w = values(64 * 16, 5)
        .iter()
        .map(|v| format!("{v:?}"))
        .collect::<Vec<_>>()
        .join(", ");
    let e = values(10 * 16, 6)
        .iter()
        .map(|v| format!("{v:?}"))
        .collect::<Vec<_>>()
        .join(", ");
    let text = format!(
        "graph main(%x: f32[3,64], %ids: i64[3]) -> (%y, %z) {{\n  %w = const f32[64,16] [{w}]\n  %y = MatMul(%x, %w)\n  %e = const f32[10,16] [{e}]\n  %z = Gather(%e, %ids)\n}}"
    );
    let m = model(&text, 17);
    let ids = Data::Tensor(Array::I64(
        ArrayD::from_shape_vec(IxDyn(&[3]), vec![0, 9, 4]).unwrap(),
    ));
    let mut calib = samples("x", &[3, 64], 2, 1);
    for s in &mut calib {
        s.push(("ids".into(), ids.clone()));
    }
    let cfg = QuantConfig {
        mode: Mode::Int4Weight,
        block_size: 16,
        ..QuantConfig::default()
    };
    let (q, report) = quant::quantize(&m, &cfg, &calib, &[]).unwrap();
    let text = printed(&q);
    assert!(text.contains("%w_int4 = const i4[64,16]"), "{text}");
    assert!(text.contains("%w_scale = const f32[4,16]"), "{text}");
    assert!(text.contains("%e_scale = const f32[10,1]"), "{text}");
    assert!(text.contains("{axis=0, block_size=16}"), "{text}");
    assert_eq!(q.opset(""), Some(21));
    // int4 keeps about 2 significant bits: close, not exact.
    assert!(report.outputs[0].cosine > 0.99, "{:?}", report.outputs);
    assert!(report.outputs[1].cosine > 0.99, "{:?}", report.outputs);
    assert!(report.weight_bytes_after * 5 < report.weight_bytes_before);
}

#[test]
fn max_error_keeps_the_most_sensitive_layers_float() {
    // A small CNN calibrated on data with an outlier: some layers lose precision.
    let m = model(CNN, 17);
    let calib = samples("x", &[1, 2, 4, 4], 8, 1);
    let loose = QuantConfig {
        max_error: Some((Metric::MaxRel, 0.5)),
        ..QuantConfig::default()
    };
    let (_, report) = quant::quantize(&m, &loose, &calib, &[]).unwrap();
    let b = report.budget.unwrap();
    assert!(b.kept_float.is_empty() && b.error_final <= 0.5);

    // A budget below the fully quantized error needs some layers in float (how far below
    // it can go with some layers still quantized depends on the layers' errors).
    let err_all = b.error_all_quantized;
    let (bound, q, report) = [0.9, 0.75, 0.5]
        .iter()
        .find_map(|f| {
            let cfg = QuantConfig {
                max_error: Some((Metric::MaxRel, err_all * f)),
                ..QuantConfig::default()
            };
            let r = quant::quantize(&m, &cfg, &calib, &[]);
            if let Err(e) = &r {
                eprintln!("DBG {f} {e}");
            }
            r.ok().map(|(q, r)| (err_all * f, q, r))
        })
        .expect("some budget below the fully quantized error is met");
    let b = report.budget.clone().unwrap();
    assert!(b.error_all_quantized > bound, "{b:?}");
    assert!(b.error_final <= bound, "{b:?}");
    assert!(!b.kept_float.is_empty());
    assert!(
        report.layers.iter().any(|l| l.quantized),
        "{:?}",
        report.layers
    );
    // The kept layers are float in the result, and the report says why.
    for (name, _) in &b.kept_float {
        let l = report.layers.iter().find(|l| &l.name == name).unwrap();
        assert!(!l.quantized && l.note.contains("--max-error"), "{l:?}");
    }
    // Checked independently: max |q - f| / max |f| over the inputs the budget used.
    let (fi, qi) = (Interpreter::new(&m).unwrap(), Interpreter::new(&q).unwrap());
    let (mut diff, mut big) = (0f64, 0f64);
    for s in &calib {
        let (Data::Tensor(a), Data::Tensor(b)) = (
            &fi.run(s.clone()).unwrap()[0].1,
            &qi.run(s.clone()).unwrap()[0].1,
        ) else {
            panic!()
        };
        for (x, y) in a.to_f64_vec().unwrap().iter().zip(b.to_f64_vec().unwrap()) {
            diff = diff.max((x - y).abs());
            big = big.max(x.abs());
        }
    }
    assert!(diff / big <= bound, "{} > {bound}", diff / big);
}

/// A bidirectional LSTM, a GRU and an RNN on one input, and a second LSTM that the tests
/// exclude; random weights (seeded).
fn recurrent_graph() -> String {
    let list = |n: usize, seed: u64, scale: f32| {
        values(n, seed)
            .iter()
            .map(|v| format!("{:?}", v * scale))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let (i, h) = (4, 3);
    format!(
        r#"graph main(%x: f32[5,1,{i}]) -> (%y, %gy, %ry, %y2h) {{
  %lw = const f32[2,{g4},{i}] [{lw}]
  %lr = const f32[2,{g4},{h}] [{lr}]
  %lb = const f32[2,{b4}] [{lb}]
  %y, %yh, %yc = LSTM(%x, %lw, %lr, %lb) {{hidden_size={h}, direction="bidirectional"}}
  %gw = const f32[1,{g3},{i}] [{gw}]
  %gr = const f32[1,{g3},{h}] [{gr}]
  %gb = const f32[1,{b3}] [{gb}]
  %gy, %gyh = GRU(%x, %gw, %gr, %gb) {{hidden_size={h}, linear_before_reset=1}}
  %rw = const f32[1,{h},{i}] [{rw}]
  %rr = const f32[1,{h},{h}] [{rr}]
  %ry, %ryh = RNN(%x, %rw, %rr) {{hidden_size={h}}}
  %lw2 = const f32[1,{g4},{i}] [{lw2}]
  %lr2 = const f32[1,{g4},{h}] [{lr2}]
  %y2, %y2h = LSTM(%x, %lw2, %lr2) {{hidden_size={h}}}
}}"#,
        g4 = 4 * h,
        b4 = 8 * h,
        g3 = 3 * h,
        b3 = 6 * h,
        lw = list(2 * 4 * h * i, 11, 1.0),
        lr = list(2 * 4 * h * h, 12, 1.0),
        lb = list(2 * 8 * h, 13, 0.5),
        gw = list(3 * h * i, 14, 1.0),
        gr = list(3 * h * h, 15, 1.0),
        gb = list(6 * h, 16, 0.5),
        rw = list(h * i, 17, 1.0),
        rr = list(h * h, 18, 1.0),
        lw2 = list(4 * h * i, 19, 1.0),
        lr2 = list(4 * h * h, 20, 1.0),
    )
}

/// The constant named `name` in `m`.
fn constant<'a>(m: &'a Model, name: &str) -> &'a modelc_ir::Tensor {
    let v = m
        .graph
        .find_value(name)
        .unwrap_or_else(|| panic!("no value {name}"));
    match &m.graph.node(v.node).op {
        modelc_ir::Op::Const(t) => t,
        other => panic!("{name} is {other:?}, not a constant"),
    }
}

#[test]
fn int8_dynamic_stores_recurrent_weights_as_int8() {
    let m = model(&recurrent_graph(), 17);
    let cfg = QuantConfig {
        mode: Mode::Int8Dynamic,
        exclude: vec!["y2*".into()],
        ..QuantConfig::default()
    };
    let calib = samples("x", &[5, 1, 4], 1, 1);
    let (q, report) = quant::quantize(&m, &cfg, &calib, &[]).unwrap();
    let text = printed(&q);
    // W and R of the LSTM, GRU and RNN: six int8 weights, each behind a per-row
    // DequantizeLinear with an explicit int8 zero point; no vendor op, no integer compute.
    assert_eq!(count_ops(&q.graph, "DequantizeLinear"), 6, "{text}");
    assert_eq!(count_ops(&q.graph, "DynamicQuantizeLinear"), 0, "{text}");
    for (w, dims, rows) in [
        ("lw", "2,12,4", 12),
        ("lr", "2,12,3", 12),
        ("gw", "1,9,4", 9),
        ("gr", "1,9,3", 9),
        ("rw", "1,3,4", 3),
        ("rr", "1,3,3", 3),
    ] {
        assert!(
            text.contains(&format!("%{w}_quantized = const i8[{dims}]")),
            "{w}: {text}"
        );
        assert!(
            text.contains(&format!(
                "%{w}_DequantizeLinear = DequantizeLinear(%{w}_quantized, %{w}_scale, %zero{rows}_i8) {{axis=1}}"
            )),
            "{w}: {text}"
        );
        assert!(
            text.contains(&format!("%{w}_scale = const f32[{rows}]")),
            "{text}"
        );
    }
    assert!(text.contains("%zero12_i8 = const i8[12] [0, 0,"), "{text}");
    assert!(
        text.contains("= LSTM(%x, %lw_DequantizeLinear, %lr_DequantizeLinear, %lb)"),
        "{text}"
    );
    assert!(
        text.contains("= GRU(%x, %gw_DequantizeLinear, %gr_DequantizeLinear, %gb)"),
        "{text}"
    );
    // Biases stay float; the excluded LSTM reads its float weights.
    assert!(text.contains("%lb = const f32[2,24]"), "{text}");
    assert!(text.contains("= LSTM(%x, %lw2, %lr2)"), "{text}");
    assert!(text.contains("%lw2 = const f32[1,12,4]"), "{text}");

    // Symmetric per gate row, the scale shared by both directions: every value within half
    // a step of the float weight, and each row's largest |w| (over both directions) at ±127.
    let f = f32_elements(constant(&m, "lw")).unwrap();
    let qi: Vec<i8> = constant(&q, "lw_quantized")
        .raw()
        .unwrap()
        .iter()
        .map(|&b| b as i8)
        .collect();
    let s = f32_elements(constant(&q, "lw_scale")).unwrap();
    assert_eq!(s.len(), 12);
    for (row, &scale) in s.iter().enumerate() {
        let idx: Vec<usize> = (0..2)
            .flat_map(|d| (0..4).map(move |k| d * 48 + row * 4 + k))
            .collect();
        assert_eq!(idx.iter().map(|&j| qi[j].unsigned_abs()).max(), Some(127));
        let absmax = idx.iter().map(|&j| f[j].abs()).fold(0f32, f32::max);
        assert!((scale - absmax / 127.0).abs() <= 1e-6 * absmax, "row {row}");
        for &j in &idx {
            assert!((qi[j] as f32 * scale - f[j]).abs() <= scale * 0.5001);
        }
    }

    // The report: weight-only for the recurrent layers, the excluded one in float.
    let layer = |n: &str| report.layers.iter().find(|l| l.name == n).unwrap();
    for (n, op) in [("y", "LSTM"), ("gy", "GRU"), ("ry", "RNN")] {
        let l = layer(n);
        assert!(
            l.quantized && l.op == op && l.note.contains("weight-only"),
            "{l:?}"
        );
    }
    let l = layer("y2");
    assert!(!l.quantized && l.note.contains("--exclude y2*"), "{l:?}");
    // Six int8 weights instead of float32 ones (+ scales and zero points).
    let w8: u64 = [96 + 72, 36 + 27, 12 + 9].iter().sum();
    let float_left: u64 = (48 + 36) * 4 + (48 + 18) * 4; // lw2, lr2; lb, gb
    let scales = (12 + 12 + 9 + 9 + 3 + 3) * 4 + 12 + 9 + 3;
    assert_eq!(report.weight_bytes_after, w8 + float_left + scales);

    // Computes like the float model (in the interpreter; tests/quant_cli.rs checks
    // onnxruntime on torch-exported models).
    let held = samples("x", &[5, 1, 4], 4, 40);
    let (fi, qi) = (Interpreter::new(&m).unwrap(), Interpreter::new(&q).unwrap());
    for s in &held {
        let (a, b) = (fi.run(s.clone()).unwrap(), qi.run(s.clone()).unwrap());
        for ((name, x), (_, y)) in a.iter().zip(&b) {
            let (Data::Tensor(x), Data::Tensor(y)) = (x, y) else {
                panic!()
            };
            let (x, y) = (x.to_f64_vec().unwrap(), y.to_f64_vec().unwrap());
            let dot: f64 = x.iter().zip(&y).map(|(p, q)| p * q).sum();
            let n = |v: &[f64]| v.iter().map(|p| p * p).sum::<f64>().sqrt();
            let c = dot / (n(&x) * n(&y));
            assert!(c > 0.999, "{name}: cosine {c}");
            // Quantized weights change the numbers a little; the excluded LSTM's not at all.
            assert_eq!(x == y, name == "y2h", "{name}");
        }
    }
}

#[test]
fn recurrent_weights_stay_float_below_opset_13() {
    // Opsets 10 to 12 have DequantizeLinear but not its per-axis form.
    let m = model(&recurrent_graph(), 11);
    let mut g = m.graph.clone();
    let stats =
        quant::calibrate::calibrate(&m, &samples("x", &[5, 1, 4], 1, 1), Method::MinMax).unwrap();
    let layers =
        quant::dynamic::quantize_dynamic(&mut g, &stats, &Default::default(), Some(11)).unwrap();
    assert_eq!(layers.len(), 4);
    for l in &layers {
        assert!(!l.quantized && l.note.contains("opset 11"), "{l:?}");
    }
    assert!(g.same_as(&m.graph), "the graph was changed");
    // At 13 the same call quantizes them.
    let layers =
        quant::dynamic::quantize_dynamic(&mut g, &stats, &Default::default(), Some(13)).unwrap();
    assert!(layers.iter().all(|l| l.quantized), "{layers:?}");
}

#[test]
fn int8_weight_max_error_keeps_the_most_sensitive_weight_float() {
    // %wa has one large value per output channel (column): int8's step is then coarse for
    // the rest of the channel, so storing %wa int8 costs far more than storing %wb int8.
    let wa: Vec<String> = (0..64)
        .map(|i| {
            if i / 8 == 0 {
                "40.0".to_string()
            } else {
                format!("{:.3}", 0.1 + 0.05 * ((i * 7 % 9) as f64) - 0.2)
            }
        })
        .collect();
    let wb: Vec<String> = (0..32)
        .map(|i| format!("{:.3}", 0.3 * (((i * 5 % 11) as f64) - 5.0) / 5.0))
        .collect();
    let text = format!(
        "graph main(%x: f32[1,8]) -> (%y) {{\n  %wa = const f32[8,8] [{}]\n  %h = MatMul(%x, %wa)\n  %wb = const f32[8,4] [{}]\n  %y = MatMul(%h, %wb)\n}}",
        wa.join(", "),
        wb.join(", ")
    );
    let m = model(&text, 17);
    let calib = samples("x", &[1, 8], 8, 3);
    let cfg = |bound| QuantConfig {
        mode: Mode::Int8Weight,
        max_error: Some((Metric::MaxRel, bound)),
        ..QuantConfig::default()
    };
    // Loose: every weight int8, nothing measured one by one.
    let (_, report) = quant::quantize(&m, &cfg(1.0), &calib, &[]).unwrap();
    let b = report.budget.unwrap();
    assert!(b.kept_float.is_empty() && b.sensitivity.is_empty(), "{b:?}");
    let err_all = b.error_all_quantized;
    assert!(err_all > 0.0);
    // Half the all-int8 error: %wa's weight stays float, %wb's is int8, within the bound.
    let bound = err_all * 0.5;
    let (q, report) = quant::quantize(&m, &cfg(bound), &calib, &[]).unwrap();
    let b = report.budget.clone().unwrap();
    assert_eq!(b.kept_float.len(), 1, "{b:?}");
    assert_eq!(b.sensitivity.len(), 2, "{b:?}");
    assert!(b.sensitivity[0].1 > 2.0 * b.sensitivity[1].1, "{b:?}");
    let kept = report.layers.iter().find(|l| !l.quantized).unwrap();
    assert!(
        kept.name.contains('h') && kept.note.contains("--max-error"),
        "{report:?}"
    );
    assert!(report.layers.iter().any(|l| l.quantized), "{report:?}");
    let text = printed(&q);
    assert_eq!(text.matches("DequantizeLinear").count(), 1, "{text}");
    // Checked independently: max |q - f| / max |f| over every calibration input.
    let (fi, qi) = (Interpreter::new(&m).unwrap(), Interpreter::new(&q).unwrap());
    let (mut diff, mut big) = (0f64, 0f64);
    for s in &calib {
        let (Data::Tensor(a), Data::Tensor(b)) = (
            &fi.run(s.clone()).unwrap()[0].1,
            &qi.run(s.clone()).unwrap()[0].1,
        ) else {
            panic!()
        };
        let (a, b) = (a.to_f64_vec().unwrap(), b.to_f64_vec().unwrap());
        for (x, y) in a.iter().zip(&b) {
            diff = diff.max((x - y).abs());
            big = big.max(x.abs());
        }
    }
    assert!(
        diff / big <= bound && diff > 0.0,
        "{diff} / {big} vs {bound}"
    );
}
