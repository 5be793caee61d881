//! What the IR says about each op, held against the interpreter's kernels: every op with a
//! kernel has a shape-inference rule; every op with the same-shape trait has a kernel and
//! infers output 0 with input 0's shape; and the same-shape trait says exactly which
//! one-input kernels commute with a transpose (the fact the layout passes rely on), so a
//! new elementwise op without its traits row, or a row without a kernel, fails here.

use modelc_interp::{Data, Interpreter};
use modelc_ir::infer::{infer_graph, rule};
use modelc_ir::{Graph, OnnxOp, Tensor, ValueRef};

/// Ops with a kernel and no shape-inference rule, and why none can exist.
const NO_INFERENCE: &[(OnnxOp, &str)] = &[
    (
        OnnxOp::If,
        "its outputs come from its branches, which the walker infers (infer/control.rs)",
    ),
    (
        OnnxOp::Loop,
        "its outputs come from its body, which the walker infers (infer/control.rs)",
    ),
    (
        OnnxOp::Scan,
        "its outputs come from its body, which the walker infers (infer/control.rs)",
    ),
];

#[test]
fn every_op_with_a_kernel_has_shape_inference() {
    let missing: Vec<String> = OnnxOp::all()
        .filter(|&op| modelc_interp::ops::lookup(op).is_some() && rule(op).is_none())
        .filter(|op| !NO_INFERENCE.iter().any(|(o, _)| o == op))
        .map(|op| op.to_string())
        .collect();
    assert!(
        missing.is_empty(),
        "ops with a kernel but no shape-inference rule: {}",
        missing.join(", ")
    );
    for (op, why) in NO_INFERENCE {
        assert!(
            rule(*op).is_none(),
            "{op} has an inference rule now: remove it from NO_INFERENCE ({why})"
        );
    }
}

/// The element type of the test input for `op` (ops on bools or integers only), and the
/// extra inputs it needs.
fn input_for(op: OnnxOp) -> (&'static str, &'static str) {
    match op {
        OnnxOp::Not => ("bool", ""),
        OnnxOp::BitwiseNot => ("i32", ""),
        OnnxOp::QuantizeLinear => ("f32", ", %s"),
        OnnxOp::DequantizeLinear => ("i8", ", %s"),
        _ => ("f32", ""),
    }
}

fn attrs_for(op: OnnxOp) -> &'static str {
    match op {
        OnnxOp::Cast => " {to=1}",
        _ => "",
    }
}

/// A constant of `dtype` and shape [2,3,4,5] with values that differ along every axis.
fn data(dtype: &str) -> String {
    let values: Vec<String> = (0..120)
        .map(|i| match dtype {
            "bool" => (i % 3 == 0).to_string(),
            "i32" | "i8" => ((i * 7) % 23 - 11).to_string(),
            _ => format!("{:.3}", ((i * 37) % 101) as f32 / 50.0 - 1.0),
        })
        .collect();
    format!("const {dtype}[2,3,4,5] [{}]", values.join(", "))
}

/// `op` applied to a [2,3,4,5] value (`%y`), and to its NCHW→NHWC transpose (`%a`), with
/// `%y` transposed the same way (`%b`): the op commutes with the transpose when `%a == %b`.
fn commute_graph(op: OnnxOp, dtype: &str) -> String {
    let (_, extra) = input_for(op);
    let attrs = attrs_for(op);
    format!(
        "graph main() -> (%y, %a, %b) {{
  %x = {}
  %s = const f32[] [0.25]
  %y = {op}(%x{extra}){attrs}
  %t = Transpose(%x) {{perm=[0,2,3,1]}}
  %a = {op}(%t{extra}){attrs}
  %b = Transpose(%y) {{perm=[0,2,3,1]}}
}}",
        data(dtype)
    )
}

/// Whether `op`'s kernel on a [2,3,4,5] input keeps the shape and commutes with a transpose;
/// `None` when the kernel does not run on that input.
fn commutes(op: OnnxOp, dtype: &str) -> Option<bool> {
    let g = Graph::parse(&commute_graph(op, dtype)).ok()?;
    let out = Interpreter::for_graph(&g, &[]).ok()?.run(vec![]).ok()?;
    let tensor = |i: usize| match &out.get(i)?.1 {
        Data::Tensor(a) => Some(a.to_tensor()),
        _ => None,
    };
    let (y, a, b): (Tensor, Tensor, Tensor) = (tensor(0)?, tensor(1)?, tensor(2)?);
    Some(y.dims == [2, 3, 4, 5] && a == b)
}

#[test]
fn same_shape_ops_have_kernels_and_infer_their_input_shape() {
    for op in OnnxOp::all().filter(|op| op.traits().same_shape) {
        assert!(
            modelc_interp::ops::lookup(op).is_some(),
            "{op} is same-shape but has no kernel"
        );
        let (dtype, extra) = input_for(op);
        let text = format!(
            "graph main(%x: {dtype}[N,3,H,W]) -> (%y) {{
  %s = const f32[] [0.25]
  %y = {op}(%x{extra}){}
}}",
            attrs_for(op)
        );
        let mut g = Graph::parse(&text).unwrap_or_else(|e| panic!("{op}: {e}"));
        let report = infer_graph(&mut g, &[]);
        let y = g.outputs()[0];
        let shape = g
            .tensor_type(y)
            .and_then(|t| t.shape.clone())
            .unwrap_or_else(|| panic!("{op}: no shape inferred ({report:?})"));
        let x = ValueRef::new(g.inputs()[0], 0);
        assert_eq!(
            Some(shape),
            g.tensor_type(x).and_then(|t| t.shape.clone()),
            "{op}: output shape differs from the input's"
        );
    }
}

/// Single-input ops whose kernel commutes with a transpose of a [2,3,4,5] input without
/// being same-shape ops, and why.
const COMMUTE_WITHOUT_TRAIT: &[(OnnxOp, &str)] = &[
    (
        OnnxOp::Split,
        "with one output it is the identity; in general its outputs are parts of the input",
    ),
    (
        OnnxOp::Squeeze,
        "without axes on a shape with no ones it is the identity; in general it drops axes",
    ),
    (
        OnnxOp::OptionalGetElement,
        "on a tensor it is the identity; it unwraps optionals, a type change, not a computation",
    ),
];

#[test]
fn the_same_shape_trait_matches_the_kernels() {
    for op in OnnxOp::all().filter(|op| op.traits().same_shape) {
        let (dtype, _) = input_for(op);
        assert_eq!(
            commutes(op, dtype),
            Some(true),
            "{op} has the same-shape trait but its kernel does not commute with a transpose"
        );
    }
    let untraited: Vec<String> = OnnxOp::all()
        .filter(|op| !op.traits().same_shape && !op.traits().broadcasting)
        .filter(|op| modelc_interp::ops::lookup(*op).is_some())
        .filter(|op| {
            let s = op.schema();
            s.inputs.0 <= 1 && s.inputs.1 >= 1 && !s.attrs.iter().any(|a| a.required)
        })
        .filter(|op| !COMMUTE_WITHOUT_TRAIT.iter().any(|(o, _)| o == op))
        .filter(|&op| commutes(op, "f32") == Some(true))
        .map(|op| op.to_string())
        .collect();
    assert!(
        untraited.is_empty(),
        "kernels that commute with a transpose but lack the same-shape trait: {}",
        untraited.join(", ")
    );
}

/// Graphs whose inferred output types must be what the kernels produce: one per inference
/// rule whose result depends on constant inputs or attributes.
const INFERRED_LIKE_KERNEL: &[&str] = &[
    "graph main() -> (%y) {
  %theta = const f32[2,2,3] [1, 0, 0, 0, 1, 0, 1, 0, 0, 0, 1, 0]
  %size = const i64[4] [2, 3, 5, 6]
  %y = AffineGrid(%theta, %size)
}",
    "graph main() -> (%y) {
  %x = const f32[1,8,9] [FILL72]
  %image = const i64[2] [4, 4]
  %block = const i64[2] [2, 2]
  %y = Col2Im(%x, %image, %block)
}",
    "graph main() -> (%y) {
  %x = const f32[4,5,3] [FILL60]
  %shape = const i64[2] [3, 7]
  %y = CenterCropPad(%x, %shape) {axes=[0,1]}
}",
    "graph main() -> (%y) {
  %signal = const f32[1,16,1] [FILL16]
  %step = const i64[] [4]
  %length = const i64[] [8]
  %y = STFT(%signal, %step, _, %length)
}",
    "graph main() -> (%y) {
  %bins = const i64[] [8]
  %dft = const i64[] [16]
  %rate = const i64[] [8000]
  %lo = const f32[] [0.0]
  %hi = const f32[] [4000.0]
  %y = MelWeightMatrix(%bins, %dft, %rate, %lo, %hi)
}",
    "graph main() -> (%y) {
  %x = const i64[2,3] [1, 2, 3, 1, 2, 3]
  %y = ai.onnx.ml.LabelEncoder(%x) {keys_int64s=[1,2], values_floats=[0.5, 1.5]}
}",
    "graph main() -> (%y) {
  %x = const f32[2,4] [1, 2, 3, 4, 5, 6, 7, 8]
  %i = const i64[2] [0, 3]
  %y = ai.onnx.ml.ArrayFeatureExtractor(%x, %i)
}",
    "graph main() -> (%y) {
  %x = const i64[2,4] [2, 3, 2, 5, 3, 3, 1, 1]
  %y = TfIdfVectorizer(%x) {mode=\"TF\", min_gram_length=1, max_gram_length=1, max_skip_count=0, ngram_counts=[0], ngram_indexes=[0,1], pool_int64s=[2,3]}
}",
    "graph main() -> (%y) {
  %x = const f32[2,3] [-1, 0, 1, 2, -2, 0.5]
  %y = ai.onnx.ml.Binarizer(%x) {threshold=0.5}
}",
];

#[test]
fn inferred_types_are_what_the_kernels_produce() {
    for text in INFERRED_LIKE_KERNEL {
        let fill = |n: usize| {
            (0..n)
                .map(|i| format!("{}.0", i % 7))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let text = text
            .replace("FILL72", &fill(72))
            .replace("FILL60", &fill(60))
            .replace("FILL16", &fill(16));
        let mut g = Graph::parse(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        let report = infer_graph(&mut g, &[]);
        let out = Interpreter::for_graph(&g, &[])
            .and_then(|i| i.run(vec![]))
            .unwrap_or_else(|e| panic!("{e}\n{text}"));
        let Data::Tensor(y) = &out[0].1 else {
            panic!("not a tensor\n{text}")
        };
        let y = y.to_tensor();
        let inferred = g
            .tensor_type(g.outputs()[0])
            .cloned()
            .unwrap_or_else(|| panic!("nothing inferred ({report:?})\n{text}"));
        assert_eq!(inferred.dtype, Some(y.dtype), "{text}");
        let dims: Option<Vec<u64>> = inferred.shape.as_ref().map(|s| {
            s.0.iter()
                .map(|d| match d {
                    modelc_ir::Dim::Known(k) => *k,
                    other => panic!("dim {other:?} not inferred\n{text}"),
                })
                .collect()
        });
        assert_eq!(dims.as_deref(), Some(&y.dims[..]), "{text}");
    }
}
