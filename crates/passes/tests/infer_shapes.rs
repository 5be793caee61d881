//! Shape inference: snapshots of the inferred types on small CNN and transformer graphs
//! (symbolic batch and sequence dims), declared types refined but never overridden, and
//! folding of the Shape→Gather→Unsqueeze→Concat→Reshape chain torch's classic exporter emits
//! for `x.view(x.size(0), -1)`, checked numerically through the interpreter.

use modelc_interp::Array;
use modelc_ir::{infer, DType, Dim, Graph};
use modelc_passes::check;
use modelc_passes::registry::pipeline;
use modelc_passes::testing::{assert_same_outputs, run};

const CNN: &str = r#"graph main(%x: f32[N,3,32,32]) -> (%y) {
  %w = const f32[8,3,3,3] #0
  %b = const f32[8] #1
  %c = Conv(%x, %w, %b) {strides=[2,2], pads=[1,1,1,1]}
  %r = Relu(%c)
  %p = MaxPool(%r) {kernel_shape=[3,3], strides=[2,2], ceil_mode=1}
  %q = AveragePool(%p) {kernel_shape=[2,2], auto_pad="SAME_UPPER", strides=[2,2]}
  %g = GlobalAveragePool(%q)
  %f = Flatten(%g)
  %fw = const f32[10,8] #2
  %fb = const f32[10] #3
  %y = Gemm(%f, %fw, %fb) {transB=1}
}"#;

/// `text` with each `const f32[dims] #k` placeholder written out as small values, so it
/// parses and runs.
fn fill_consts(text: &str) -> String {
    text.lines()
        .map(|line| {
            let Some((head, _hash)) = line.split_once(" #") else {
                return line.to_string();
            };
            let dims = head.rsplit_once('[').unwrap().1.trim_end_matches(']');
            let n: usize = dims
                .split(',')
                .map(|d| d.trim().parse::<usize>().unwrap())
                .product();
            let vals: Vec<String> = (0..n)
                .map(|i| format!("{:.3}", ((i * 7 % 13) as f32 - 6.0) / 10.0))
                .collect();
            format!("{head} [{}]", vals.join(", "))
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn cnn_text() -> String {
    fill_consts(CNN)
}

fn infer_text(text: &str) -> (Graph, infer::InferReport) {
    let mut g = Graph::parse(&fill_consts(text)).unwrap();
    let report = infer::infer_graph(&mut g, &[]);
    (g, report)
}

/// `%name`'s type as the text form prints it.
fn ty(g: &Graph, name: &str) -> String {
    for id in g.node_ids() {
        for v in &g.node(id).outputs {
            if v.name == name {
                return v
                    .ty
                    .as_deref()
                    .map_or("_".into(), modelc_ir::text::type_to_string);
            }
        }
    }
    panic!("no value `{name}`")
}

#[test]
fn cnn_with_symbolic_batch() {
    let (g, report) = infer_text(&cnn_text());
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    assert_eq!(ty(&g, "c"), "f32[N,8,16,16]");
    // ceil_mode: (16 - 3) / 2 rounded up + 1 = 8.
    assert_eq!(ty(&g, "p"), "f32[N,8,8,8]");
    assert_eq!(ty(&g, "q"), "f32[N,8,4,4]");
    assert_eq!(ty(&g, "g"), "f32[N,8,1,1]");
    assert_eq!(ty(&g, "f"), "f32[N,8]");
    assert_eq!(ty(&g, "y"), "f32[N,10]");
    let after = run("infer-shapes", &cnn_text()).printed;
    let lines: Vec<&str> = after.lines().filter(|l| !l.contains("const")).collect();
    insta::assert_snapshot!(lines.join("\n"));
}

const TRANSFORMER: &str = r#"graph main(%x: f32[B,S,16], %mask: bool[B,1,1,S]) -> (%out) {
  %wq = const f32[16,16] #0
  %q = MatMul(%x, %wq)
  %shape = Shape(%x)
  %i0 = const i64[] [0]
  %i1 = const i64[] [1]
  %b = Gather(%shape, %i0)
  %s = Gather(%shape, %i1)
  %ub = Unsqueeze(%b, %i0)
  %us = Unsqueeze(%s, %i0)
  %heads = const i64[2] [2, -1]
  %cat = Concat(%ub, %us, %heads) {axis=0}
  %q4 = Reshape(%q, %cat)
  %qt = Transpose(%q4) {perm=[0,2,1,3]}
  %kt = Transpose(%q4) {perm=[0,2,3,1]}
  %att = MatMul(%qt, %kt)
  %scale = const f32[] [0.35]
  %sc = Mul(%att, %scale)
  %neg = const f32[] [-10000.0]
  %masked = Where(%mask, %sc, %neg)
  %sm = Softmax(%masked) {axis=-1}
  %ctx = MatMul(%sm, %qt)
  %back = Transpose(%ctx) {perm=[0,2,1,3]}
  %flat = const i64[3] [0, 0, -1]
  %merged = Reshape(%back, %flat)
  %g = const f32[16] #1
  %be = const f32[16] #2
  %ln, %mean, %inv = LayerNormalization(%merged, %g, %be) {axis=-1}
  %axes = const i64[1] [-1]
  %red = ReduceMean(%ln, %axes) {keepdims=0}
  %cast = Cast(%red) {to=10}
  %out = Unsqueeze(%cast, %axes)
}"#;

#[test]
fn transformer_block_with_symbolic_batch_and_sequence() {
    let (g, report) = infer_text(TRANSFORMER);
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    assert_eq!(ty(&g, "q"), "f32[B,S,16]");
    assert_eq!(ty(&g, "shape"), "i64[3]");
    assert_eq!(ty(&g, "cat"), "i64[4]");
    // The shape computed from Shape(x) is tracked: [B, S, 2, -1] with -1 = 16 / 2.
    assert_eq!(ty(&g, "q4"), "f32[B,S,2,8]");
    assert_eq!(ty(&g, "att"), "f32[B,2,S,S]");
    assert_eq!(ty(&g, "masked"), "f32[B,2,S,S]");
    assert_eq!(ty(&g, "ctx"), "f32[B,2,S,8]");
    // [0, 0, -1] copies B and S and cancels them against the input: -1 = 16.
    assert_eq!(ty(&g, "merged"), "f32[B,S,16]");
    assert_eq!(ty(&g, "mean"), "f32[B,S,1]");
    assert_eq!(ty(&g, "red"), "f32[B,S]");
    assert_eq!(ty(&g, "out"), "f16[B,S,1]");
    assert_eq!(report.shaped, report.values);
}

#[test]
fn declared_types_are_refined_never_overridden() {
    let text = r#"graph main(%x: f32[2,3]) -> (%z) {
  %y: f32[?,N] = Relu(%x)
  %z: f32[2,4] = Exp(%y)
}"#;
    let (g, report) = infer_text(text);
    // Unknown and symbolic dims become the known sizes.
    assert_eq!(ty(&g, "y"), "f32[2,3]");
    // A declared size that disagrees stays and is reported.
    assert_eq!(ty(&g, "z"), "f32[2,4]");
    assert_eq!(report.problems.len(), 1, "{:?}", report.problems);
    assert!(
        report.problems[0].contains("dimension 1: declared 4, inferred 3"),
        "{}",
        report.problems[0]
    );
    // A second run changes nothing (the pass reaches a fixed point).
    let mut g2 = g.clone();
    assert_eq!(infer::infer_graph(&mut g2, &[]).refined, 0);
}

#[test]
fn broadcasting_errors_are_reported_not_fatal() {
    let (g, report) = infer_text(
        "graph main(%a: f32[2,3], %b: f32[4,3]) -> (%c, %d) { %c = Add(%a, %b)  %d = Neg(%a) }",
    );
    assert_eq!(ty(&g, "c"), "_");
    assert_eq!(ty(&g, "d"), "f32[2,3]");
    assert!(
        report.problems[0].contains("dimensions 2 and 4 do not broadcast"),
        "{:?}",
        report.problems
    );
}

#[test]
fn if_branches_merge_and_loop_scan_outputs_stack() {
    let text = r#"graph main(%c: bool[], %x: f32[4,5], %n: i64[]) -> (%r, %final, %scan) {
  %r = If(%c) {
    then_branch=graph then() outer(%x) -> (%t) { %t = Relu(%x) },
    else_branch=graph else() outer(%x) -> (%e) { %k = const i64[2] [5, 4]  %e = Reshape(%x, %k) }
  } captures(%x)
  %true = const bool[] [true]
  %final, %scan = Loop(%n, %true, %x) {
    body=graph body(%i, %cond, %acc) -> (%cond, %acc2, %row) {
      %acc2 = Add(%acc, %acc)
      %i0 = const i64[1] [0]
      %row = ReduceSum(%acc, %i0) {keepdims=0}
    }
  }
}"#;
    let (g, report) = infer_text(text);
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    // [4,5] and [5,4] merge to two unknown dims.
    assert_eq!(ty(&g, "r"), "f32[?,?]");
    assert_eq!(ty(&g, "final"), "f32[4,5]");
    assert_eq!(ty(&g, "scan"), "f32[?,5]");
    check!("infer-shapes", text);
}

#[test]
fn value_ty_is_the_public_query() {
    let (g, _) = infer_text("graph main(%x: u8[1,2,3]) -> (%y) { %y = Cast(%x) {to=1} }");
    let y = g.outputs()[0];
    assert_eq!(g.dtype_of(y), Some(DType::F32));
    assert_eq!(g.known_dims(y), Some(vec![1, 2, 3]));
    assert_eq!(g.shape_of(y).unwrap().0[0], Dim::Known(1));
}

/// torch's classic export of `x.view(x.size(0), -1)`.
const VIEW: &str = r#"graph main(%x: f32[2,3,4,5]) -> (%y) {
  %shape = Shape(%x)
  %zero = const i64[] [0]
  %n = Gather(%shape, %zero) {axis=0}
  %axes = const i64[1] [0]
  %un = Unsqueeze(%n, %axes)
  %minus1 = const i64[1] [-1]
  %cat = Concat(%un, %minus1) {axis=0}
  %y = Reshape(%x, %cat)
}"#;

#[test]
fn shape_chain_folds_once_shapes_are_known() {
    let out = check!("infer-shapes,fold,dce", VIEW, @r"
    graph main(%x: f32[2,3,4,5]) -> (%y) {
      %cat = const i64[2] [2, -1]
      %y: f32[2,60] = Reshape(%x, %cat)
    }
    ");
    let g = &out.after;
    let ops: Vec<String> = g
        .node_ids()
        .map(|id| g.node(id).op.display_name())
        .collect();
    assert_eq!(
        ops.iter()
            .filter(|o| *o != "const" && *o != "input")
            .count(),
        1,
        "{ops:?}"
    );
    let x = ndarray::ArrayD::from_shape_fn(ndarray::IxDyn(&[2, 3, 4, 5]), |i| {
        (i[0] * 60 + i[1] * 20 + i[2] * 5 + i[3]) as f32 * 0.5 - 7.0
    });
    out.assert_same_outputs(&[("x", Array::F32(x))], 0.0);
}

#[test]
fn shape_chain_with_symbolic_batch_keeps_the_batch_computation() {
    let text = VIEW.replace("f32[2,3,4,5]", "f32[N,3,4,5]");
    let out = run("infer-shapes,fold,dce", &text);
    let after = &out.printed;
    // N is only known at run time: the Gather stays, the Reshape is typed [N,60].
    assert!(after.contains("Gather"), "{after}");
    assert!(after.contains("%y: f32[N,60] = Reshape"), "{after}");
    let x = ndarray::ArrayD::from_shape_fn(ndarray::IxDyn(&[3, 3, 4, 5]), |i| {
        (i[1] * 20 + i[3]) as f32
    });
    out.assert_same_outputs(&[("x", Array::F32(x))], 0.0);
}

#[test]
fn partly_known_shapes_fold_the_known_dims() {
    // Shape(x)[1] of x: f32[N,3,4,5] is 3 whatever N is.
    let text = r#"graph main(%x: f32[N,3,4,5]) -> (%y) {
  %shape = Shape(%x)
  %one = const i64[1] [1]
  %c = Gather(%shape, %one)
  %minus1 = const i64[1] [-1]
  %cat = Concat(%minus1, %c) {axis=0}
  %y = Reshape(%x, %cat)
}"#;
    let out = check!("infer-shapes,fold,dce", text, @r"
    graph main(%x: f32[N,3,4,5]) -> (%y) {
      %cat = const i64[2] [-1, 3]
      %y: f32[?,3] = Reshape(%x, %cat)
    }
    ");
    let after = &out.printed;
    assert!(!after.contains("Shape("), "{after}");
    let x =
        ndarray::ArrayD::from_shape_fn(ndarray::IxDyn(&[2, 3, 4, 5]), |i| (i[0] + i[2] * 3) as f32);
    out.assert_same_outputs(&[("x", Array::F32(x))], 0.0);
}

#[test]
fn fixing_input_dims_lets_the_chain_fold() {
    use modelc_passes::passes::infer_shapes::{InputShapeError, InputShapes};
    let text = VIEW.replace("f32[2,3,4,5]", "f32[N,3,4,5]");
    let x =
        ndarray::ArrayD::from_shape_fn(ndarray::IxDyn(&[2, 3, 4, 5]), |i| (i[0] * 5 + i[3]) as f32);
    for (shapes, dims) in [(vec!["x:2,3,4,5"], vec![]), (vec![], vec!["N=2"])] {
        let strings = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let fix = InputShapes::parse(&strings(&shapes), &strings(&dims)).unwrap();
        let mut g = Graph::parse(&text).unwrap();
        fix.apply(&mut g).unwrap();
        let pm = modelc_passes::PassManager::new(pipeline("infer-shapes,fold,dce").unwrap());
        pm.run_graph(&mut g).unwrap();
        let printed = modelc_ir::text::print_graph(&g, &Default::default());
        assert!(
            printed.starts_with("graph main(%x: f32[2,3,4,5])"),
            "{printed}"
        );
        assert!(printed.contains("%cat = const i64[2] [2, -1]"), "{printed}");
        assert!(!printed.contains("Gather"), "{printed}");
        assert_same_outputs(
            &Graph::parse(&text).unwrap(),
            &g,
            &[("x", Array::F32(x.clone()))],
            0.0,
        );
    }
    let strings = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let mut g = Graph::parse(&text).unwrap();
    let err = InputShapes::parse(&strings(&["x:2,4,4,5"]), &[])
        .unwrap()
        .apply(&mut g)
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "input `x` dimension 1 is 3, --input-shape says 4"
    );
    let err = InputShapes::parse(&strings(&["x:2,3"]), &[])
        .unwrap()
        .apply(&mut g)
        .unwrap_err();
    assert!(matches!(
        err,
        InputShapeError::Rank {
            declared: 4,
            given: 2,
            ..
        }
    ));
    let err = InputShapes::parse(&strings(&["y:1"]), &[])
        .unwrap()
        .apply(&mut g)
        .unwrap_err();
    assert_eq!(err.to_string(), "the model has no input `y` (inputs: x)");
    assert!(InputShapes::parse(&[], &strings(&["N=two"])).is_err());
    assert!(InputShapes::parse(&strings(&["x=1,2"]), &[]).is_err());
}

/// torch's export of `x.expand(y.size(0), -1, -1)`: the shape goes through
/// `Where(Equal(shape, -1), ConstantOfShape(1s), shape)`.
const EXPAND: &str = r#"graph main(%x: f32[1,3,4], %y: f32[B,7]) -> (%z) {
  %shape = Shape(%y)
  %zero = const i64[] [0]
  %b = Gather(%shape, %zero) {axis=0}
  %axes = const i64[1] [0]
  %ub = Unsqueeze(%b, %axes)
  %rest = const i64[2] [-1, -1]
  %cat = Concat(%ub, %rest) {axis=0}
  %three = const i64[1] [3]
  %ones = ConstantOfShape(%three) {value=i64[1] [1]}
  %minus1 = const i64[] [-1]
  %eq = Equal(%cat, %minus1)
  %target = Where(%eq, %ones, %cat)
  %z = Expand(%x, %target)
}"#;

#[test]
fn torch_expand_pattern_is_tracked_and_folds() {
    let (g, report) = infer_text(EXPAND);
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    assert_eq!(ty(&g, "z"), "f32[B,3,4]");
    let fixed = EXPAND.replace("f32[B,7]", "f32[2,7]");
    let out = check!("infer-shapes,fold,dce", &fixed, @r"
    graph main(%x: f32[1,3,4], %y: f32[2,7]) -> (%z) {
      %target = const i64[3] [2, 1, 1]
      %z: f32[2,3,4] = Expand(%x, %target)
    }
    ");
    let x =
        ndarray::ArrayD::from_shape_fn(ndarray::IxDyn(&[1, 3, 4]), |i| (i[1] * 4 + i[2]) as f32);
    let y = ndarray::ArrayD::<f32>::zeros(ndarray::IxDyn(&[2, 7]));
    out.assert_same_outputs(&[("x", Array::F32(x)), ("y", Array::F32(y))], 0.0);
}

/// Channels-last nodes, in the convention documented on `modelc_ir::Layout`.
const NHWC: &str = r#"graph main(%x: f32[1,9,9,4]) -> (%c, %ct, %p, %g, %r, %s) {
  %w = const f32[6,3,3,4] #0
  %c = Conv(%x, %w) {strides=[2,2], pads=[1,1,1,1]} layout=NHWC
  %wt = const f32[5,2,2,4] #1
  %ct = ConvTranspose(%x, %wt) {strides=[2,2]} layout=NHWC
  %p = MaxPool(%x) {kernel_shape=[2,2], strides=[2,2], ceil_mode=1} layout=NHWC
  %g = GlobalAveragePool(%x) layout=NHWC
  %scales = const f32[4] [1.0, 2.0, 2.0, 1.0]
  %r = Resize(%x, _, %scales) {mode="nearest"} layout=NHWC
  %s = SpaceToDepth(%c) {blocksize=5} layout=NHWC
}"#;

#[test]
fn channels_last_nodes() {
    let (g, report) = infer_text(NHWC);
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    assert_eq!(ty(&g, "c"), "f32[1,5,5,6]");
    assert_eq!(ty(&g, "ct"), "f32[1,18,18,5]");
    assert_eq!(ty(&g, "p"), "f32[1,5,5,4]");
    assert_eq!(ty(&g, "g"), "f32[1,1,1,4]");
    assert_eq!(ty(&g, "r"), "f32[1,18,18,4]");
    assert_eq!(ty(&g, "s"), "f32[1,1,1,150]");
    // The interpreter (its own NHWC wrapper) computes tensors of those shapes.
    let interp = modelc_interp::Interpreter::for_graph(&g, &[]).unwrap();
    let x = ndarray::ArrayD::from_shape_fn(ndarray::IxDyn(&[1, 9, 9, 4]), |i| (i[1] + i[3]) as f32);
    let outs = interp
        .run(vec![(
            "x".into(),
            modelc_interp::Data::Tensor(Array::F32(x)),
        )])
        .unwrap();
    for (name, data) in outs {
        let modelc_interp::Data::Tensor(a) = data else {
            panic!("{name} is not a tensor")
        };
        let want = g.known_dims(
            g.outputs()[["c", "ct", "p", "g", "r", "s"]
                .iter()
                .position(|n| *n == name)
                .unwrap()],
        );
        let got: Vec<u64> = a.shape().iter().map(|&d| d as u64).collect();
        assert_eq!(Some(got), want, "{name}");
    }
}

#[test]
fn hostile_attributes_give_errors_or_unknowns_never_panics() {
    let text = r#"graph main(%x: f32[1,2,8,8], %v: f32[4]) -> (%a, %b, %c, %d, %e, %f, %g, %h, %i) {
  %w = const f32[2,2,1,1] [1.0, 0.0, 0.0, 1.0]
  %a = Conv(%x, %w) {strides=[9223372036854775807,9223372036854775807], pads=[9223372036854775807,0,9223372036854775807,0], dilations=[9223372036854775807,9223372036854775807]}
  %b = ConvTranspose(%x, %w) {strides=[9223372036854775807,9223372036854775807], output_padding=[9223372036854775807,9223372036854775807]}
  %st = const i64[1] [-9223372036854775808]
  %en = const i64[1] [9223372036854775807]
  %ax = const i64[1] [0]
  %sp = const i64[1] [-9223372036854775808]
  %c = Slice(%v, %st, %en, %ax, %sp)
  %pads = const i64[8] [9223372036854775807, 0, 0, 0, 9223372036854775807, 0, 0, 0]
  %d = Pad(%x, %pads)
  %e = SpaceToDepth(%x) {blocksize=9223372036854775807} layout=NCHW
  %sz = const i64[2] [9223372036854775807, 9223372036854775807]
  %f, %f2 = Split(%v, %sz)
  %g = Shape(%x) {start=-9223372036854775808, end=9223372036854775807}
  %h = MaxPool(%x) {kernel_shape=[9223372036854775807,1], ceil_mode=1}
  %big = const i64[2] [-1, -1]
  %i = Reshape(%x, %big)
}"#;
    let (g, report) = infer_text(text);
    // Each bad node is reported by name; the others get types.
    let labels: Vec<&str> = report
        .problems
        .iter()
        .map(|p| p.split(':').next().unwrap())
        .collect();
    assert_eq!(
        labels,
        [
            "SpaceToDepth -> e",
            "Split -> f",
            "MaxPool -> h",
            "Reshape -> i"
        ],
        "{:?}",
        report.problems
    );
    assert_eq!(ty(&g, "g"), "i64[4]");
    assert_eq!(ty(&g, "c"), "f32[0]");
}

#[test]
fn infer_node_types_one_new_node() {
    let mut g = Graph::parse("graph main(%x: f32[N,6]) -> (%y) { %y = Relu(%x) }").unwrap();
    let x = modelc_ir::ValueRef::new(g.inputs()[0], 0);
    let shape = g.add_const(
        "s",
        modelc_ir::Tensor::from_i64(vec![3], &[0, 2, 3]).unwrap(),
    );
    let r = g.add_node(modelc_ir::Node::new(
        modelc_ir::Op::Onnx(modelc_ir::OnnxOp::Reshape),
        2,
        vec![modelc_ir::Value::named("r")],
    ));
    g.connect(x, r, 0);
    g.connect(modelc_ir::ValueRef::new(shape, 0), r, 1);
    let types = infer::infer_node(&g, r, &[]).unwrap().unwrap();
    let t = modelc_ir::text::type_to_string(&types[0].clone().unwrap().into());
    assert_eq!(t, "f32[N,2,3]");
    // The graph itself is unchanged.
    assert!(g.node(r).outputs[0].ty.is_none());
}

#[test]
fn dim_naming_a_one_integer_input_makes_it_a_constant() {
    use modelc_passes::passes::infer_shapes::InputShapes;
    // silero-vad's ONNX `sr`: an int64 scalar input its Ifs compare; `--dim sr=...` pins it.
    let text = r#"graph main(%x: f32[2], %sr: i64[], %n: i64[2]) -> (%y, %m) {
  %sixteen = const i64[] [16000]
  %is16 = Equal(%sr, %sixteen)
  %y = Where(%is16, %x, %x)
  %m = Identity(%n)
}"#;
    let strings = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let mut g = Graph::parse(text).unwrap();
    InputShapes::parse(&[], &strings(&["sr=16000", "n=2"]))
        .unwrap()
        .apply(&mut g)
        .unwrap();
    let printed = modelc_ir::text::print_graph(&g, &Default::default());
    // `sr` is the constant now; `n` holds two integers, so it stays an input.
    assert!(
        printed.starts_with("graph main(%x: f32[2], %n: i64[2])"),
        "{printed}"
    );
    assert!(printed.contains("%sr = const i64[] [16000]"), "{printed}");
}
