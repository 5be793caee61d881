//! `int64-to-int32`: int64 inputs, ArgMax results and Casts to int64 become int32 and so do
//! the ops they feed; ONNX's int64-only slots (Reshape's shape) read a Cast back; a constant
//! outside int32 is refused by node name.

use modelc_ir::{DType, OnnxOp, Op};
use modelc_passes::testing::run;
use modelc_passes::{registry, PassContext};

fn dtype_of(g: &modelc_ir::Graph, name: &str) -> Option<DType> {
    let v = g.find_value(name)?;
    if let Op::Const(t) = &g.node(v.node).op {
        return Some(t.dtype);
    }
    match &g.value(v)?.ty.as_ref()?.ty {
        modelc_ir::ValueType::Tensor(t) => t.dtype,
        _ => None,
    }
}

#[test]
fn int64_inputs_and_what_they_feed_become_int32() {
    let out = run(
        "int64-to-int32",
        r#"graph main(%ids: i64[2,3], %x: f32[2,3]) -> (%sum, %r, %picked, %idx) {
  %one = const i64[] [1]
  %sum = Add(%ids, %one)
  %shape = const i64[1] [6]
  %r = Reshape(%sum, %shape)
  %table = const f32[8,4] [0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31]
  %picked = Gather(%table, %r)
  %idx = ArgMax(%x) {axis=1}
}"#,
    );
    let g = &out.after;
    for name in ["ids", "sum", "r", "idx"] {
        assert_eq!(
            dtype_of(g, name),
            Some(DType::I32),
            "{name}: {}",
            out.printed
        );
    }
    // The Add's constant is narrowed; Reshape's shape stays int64 (ONNX requires it); the
    // gathered table is float as before.
    let add = g.find_value("sum").unwrap().node;
    let one = g.input(add, 1).unwrap();
    assert!(
        matches!(&g.node(one.node).op, Op::Const(t) if t.dtype == DType::I32),
        "{}",
        out.printed
    );
    let reshape = g.find_value("r").unwrap().node;
    assert_eq!(
        dtype_of(g, &g.value(g.input(reshape, 1).unwrap()).unwrap().name),
        Some(DType::I64)
    );
    assert_ne!(dtype_of(g, "picked"), Some(DType::I32));
    // ArgMax keeps its int64 result, read by a Cast to int32 that took over its name.
    let idx = g.find_value("idx").unwrap();
    let cast = g.node(idx.node);
    assert_eq!(cast.op.onnx(), Some(OnnxOp::Cast), "{}", out.printed);
    let arg = g.input(idx.node, 0).unwrap();
    assert_eq!(g.node(arg.node).op.onnx(), Some(OnnxOp::ArgMax));
    assert_ne!(g.value(arg).unwrap().name, "idx");
    assert_eq!(out.count("Cast"), 1, "{}", out.printed);
}

#[test]
fn a_cast_to_int64_casts_to_int32_and_a_shape_slot_reads_a_cast_back() {
    let out = run(
        "int64-to-int32",
        r#"graph main(%x: f32[4]) -> (%y) {
  %n = Cast(%x) {to=7}
  %k = const i64[1] [2]
  %s: i64[1] = Mul(%n, %k)
  %z = const f32[1] [0.0]
  %y = Expand(%z, %s)
}"#,
    );
    let g = &out.after;
    assert_eq!(dtype_of(g, "n"), Some(DType::I32), "{}", out.printed);
    assert_eq!(dtype_of(g, "s"), Some(DType::I32), "{}", out.printed);
    // Expand's shape is int64 in ONNX: it reads the int32 product through a Cast.
    let expand = g.find_value("y").unwrap().node;
    let shape = g.input(expand, 1).unwrap();
    assert_eq!(
        g.node(shape.node).op.onnx(),
        Some(OnnxOp::Cast),
        "{}",
        out.printed
    );
    assert_eq!(g.node(shape.node).attrs.int("to", 0).unwrap(), 7);
    assert_eq!(out.count("Cast"), 2, "{}", out.printed);
}

#[test]
fn a_graph_without_int64_is_unchanged() {
    modelc_passes::testing::check_unchanged(
        "int64-to-int32",
        r#"graph main(%x: f32[2,3]) -> (%y) {
  %y = Relu(%x)
}"#,
    );
}

#[test]
fn a_constant_outside_int32_is_refused_by_node() {
    let mut g = modelc_ir::text::parse_graph(
        r#"graph main(%ids: i64[2]) -> (%sum) {
  %big = const i64[1] [4294967296]
  %sum = Add(%ids, %big)
}"#,
        None,
    )
    .unwrap();
    let pass = registry::get("int64-to-int32").unwrap();
    let err = pass.run(&mut g, &mut PassContext::default()).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("outside int32") && msg.contains("big"),
        "{msg}"
    );
}

#[test]
fn a_second_run_changes_nothing() {
    let out = run(
        "int64-to-int32,int64-to-int32",
        r#"graph main(%x: f32[2,5], %ids: i64[2]) -> (%idx, %s) {
  %idx = ArgMax(%x) {axis=1, keepdims=0}
  %one = const i64[] [1]
  %s = Add(%ids, %one)
}"#,
    );
    assert_eq!(out.count("Cast"), 1, "{}", out.printed);
}
