//! Control flow: ONNX `If` / `Loop` become TFLite IF / WHILE with subgraphs of their own
//! (captured values passed as explicit inputs, captured constants copied in) and read back
//! as `If` / `Loop`; scan outputs are carried tensors grown by CONCATENATION; an op without
//! a TFLite form in a body is refused naming the Loop and the op; hostile subgraph indices
//! (out of range, a loop whose body is the main graph) give one-line errors. (Numbers
//! against LiteRT and onnxruntime: tests/tflite_control_flow.py.)

use modelc_ir::{Attr, Graph, Model, OnnxOp, Op};
use modelc_tflite::fb;

const IF: &str = r#"graph main(%x: f32[2,3], %c: bool[], %b: f32[3]) -> (%y) {
  %w = const f32[2,3] [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
  %y: f32[2,3] = If(%c) {else_branch=graph else() outer(%x, %b) -> (%y_else) {
    %y_else: f32[2,3] = Sub(%x, %b)
  }, then_branch=graph then() outer(%x, %w) -> (%y_then) {
    %r = Relu(%x)
    %y_then: f32[2,3] = Mul(%r, %w)
  }} captures(%x, %b, %w) name="choose"
}"#;

const LOOP: &str = r#"graph main(%m: i64[], %s0: f32[2,3], %x: f32[2,3]) -> (%s) {
  %c0 = const bool[] [true]
  %s: f32[2,3] = Loop(%m, %c0, %s0) {body=graph body(%i: i64[], %cond_in: bool[], %s_in: f32[2,3]) outer(%x) -> (%cond_out, %s_out) {
    %s_out: f32[2,3] = Add(%s_in, %x)
    %cond_out: bool[] = Identity(%cond_in)
  }} captures(%x) name="repeat"
}"#;

fn write(text: &str) -> Result<Vec<u8>, String> {
    let m = Model::new(Graph::parse(text).unwrap(), 17);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.tflite");
    modelc_tflite::write(&m, &path, &Default::default()).map_err(|e| e.to_string())?;
    Ok(std::fs::read(&path).unwrap())
}

/// The operator names of subgraph `sg`.
pub(crate) fn op_names(m: &fb::Model, sg: usize) -> Vec<String> {
    let codes = m.operator_codes().unwrap();
    let ops = m
        .subgraphs()
        .unwrap()
        .get(sg)
        .operators()
        .unwrap_or_default();
    ops.iter()
        .map(|o| {
            let c = codes.get(o.opcode_index() as usize).builtin_code();
            c.variant_name().unwrap_or("?").to_string()
        })
        .collect()
}

#[test]
fn if_becomes_an_if_with_a_subgraph_per_branch() {
    let bytes = write(IF).unwrap();
    let m = fb::root_as_model(&bytes).unwrap();
    let sgs = m.subgraphs().unwrap();
    assert_eq!(sgs.len(), 3);
    assert_eq!(op_names(&m, 0), ["IF"]);
    let main = sgs.get(0);
    let op = main.operators().unwrap().get(0);
    let o = op.builtin_options_as_if_options().unwrap();
    let (then, els) = (o.then_subgraph_index(), o.else_subgraph_index());
    assert_eq!(
        [then, els]
            .iter()
            .copied()
            .collect::<std::collections::BTreeSet<_>>(),
        [1, 2].into()
    );
    // cond, then the captured non-constants (x, b); the constant w is copied into `then`.
    assert_eq!(op.inputs().unwrap().len(), 3);
    for k in [then, els] {
        let sg = sgs.get(k as usize);
        assert_eq!(sg.inputs().unwrap().len(), 2, "both branches take x and b");
        assert_eq!(sg.outputs().unwrap().len(), 1);
    }
    assert_eq!(op_names(&m, then as usize), ["RELU", "MUL"]);
    assert_eq!(op_names(&m, els as usize), ["SUB"]);
    let then_sg = sgs.get(then as usize);
    let consts = then_sg
        .tensors()
        .unwrap()
        .iter()
        .filter(|t| t.buffer() != 0)
        .count();
    assert_eq!(consts, 1, "w is a constant of the then subgraph");

    // And back: an If whose branches read x and b from the main graph.
    let back = modelc_tflite::decode(bytes.into()).unwrap();
    let g = &back.graph;
    let id = g
        .node_ids()
        .find(|&id| g.node(id).op.onnx() == Some(OnnxOp::If))
        .expect("an If");
    assert_eq!(g.captures_of(id).len(), 2);
    for sub in g.node(id).subgraphs() {
        assert!(sub.inputs().is_empty());
        let outer = sub
            .node_ids()
            .filter(|&n| sub.node(n).op == Op::Outer)
            .count();
        assert_eq!(outer, 2);
    }
    assert!(modelc_ir::validate::validate_graph(g, false).is_ok());
}

#[test]
fn loop_becomes_a_while_carrying_iteration_trip_count_and_condition() {
    let bytes = write(LOOP).unwrap();
    let m = fb::root_as_model(&bytes).unwrap();
    let sgs = m.subgraphs().unwrap();
    assert_eq!(sgs.len(), 3);
    assert_eq!(op_names(&m, 0), ["WHILE"]);
    let op = sgs.get(0).operators().unwrap().get(0);
    let o = op.builtin_options_as_while_options().unwrap();
    // [iter, M, cond, s, x].
    assert_eq!(op.inputs().unwrap().len(), 5);
    assert_eq!(op.outputs().unwrap().len(), 5);
    let cond = o.cond_subgraph_index() as usize;
    let body = o.body_subgraph_index() as usize;
    assert_eq!(op_names(&m, cond), ["LESS", "LOGICAL_AND"]);
    assert_eq!(op_names(&m, body), ["ADD", "ADD"]);
    assert_eq!(sgs.get(cond).outputs().unwrap().len(), 1);
    assert_eq!(sgs.get(body).inputs().unwrap().len(), 5);
    assert_eq!(sgs.get(body).outputs().unwrap().len(), 5);

    // And back: a Loop whose initial condition is the condition subgraph on the initial
    // values (computed in the main graph), every WHILE tensor carried.
    let back = modelc_tflite::decode(bytes.into()).unwrap();
    let g = &back.graph;
    let id = g
        .node_ids()
        .find(|&id| g.node(id).op.onnx() == Some(OnnxOp::Loop))
        .expect("a Loop");
    assert!(g.input(id, 0).is_none(), "no trip count");
    let c0 = g.input(id, 1).unwrap();
    assert_eq!(g.node(c0.node).op.onnx(), Some(OnnxOp::And));
    let Some(Attr::Graph(b)) = g.node(id).attrs.get("body") else {
        panic!("no body")
    };
    assert_eq!(b.inputs().len(), 2 + 5);
    assert_eq!(b.outputs().len(), 1 + 5);
    assert!(modelc_ir::validate::validate_graph(g, false).is_ok());
}

#[test]
fn scan_outputs_are_carried_tensors_grown_by_concatenation() {
    let text = r#"graph main(%x: f32[3]) -> (%s, %stacked) {
  %m = const i64[] [4]
  %s: f32[3], %stacked: f32[4,3] = Loop(%m, _, %x) {body=graph body(%i: i64[], %cond_in: bool[], %s_in: f32[3]) -> (%cond_out, %s_out, %scan) {
    %s_out: f32[3] = Add(%s_in, %s_in)
    %scan: f32[3] = Identity(%s_out)
    %cond_out: bool[] = Identity(%cond_in)
  }} name="stacker"
}"#;
    let bytes = write(text).unwrap();
    let m = fb::root_as_model(&bytes).unwrap();
    // The seed row (FILL), the loop, the seed row sliced off.
    assert_eq!(op_names(&m, 0), ["FILL", "WHILE", "SLICE"]);
    let op = m.subgraphs().unwrap().get(0).operators().unwrap().get(1);
    // [iter, M, cond, s, stacked].
    assert_eq!(op.inputs().unwrap().len(), 5);
    let body = op
        .builtin_options_as_while_options()
        .unwrap()
        .body_subgraph_index() as usize;
    assert_eq!(
        op_names(&m, body),
        ["ADD", "ADD", "RESHAPE", "CONCATENATION"]
    );
}

#[test]
fn an_op_without_a_form_in_a_body_is_refused_naming_the_loop_and_the_op() {
    let text = r#"graph main(%x: f32[3,3]) -> (%s) {
  %m = const i64[] [2]
  %s: f32[3,3] = Loop(%m, _, %x) {body=graph body(%i: i64[], %cond_in: bool[], %s_in: f32[3,3]) -> (%cond_out, %s_out) {
    %d = Det(%s_in) name="determinant"
    %s_out: f32[3,3] = Mul(%s_in, %d)
    %cond_out: bool[] = Identity(%cond_in)
  }} name="scaler"
}"#;
    let e = write(text).unwrap_err();
    assert!(!e.contains('\n'), "{e}");
    assert!(
        e.contains("Loop \"scaler\"") && e.contains("Det \"determinant\""),
        "{e}"
    );
}

/// A Loop inside a Loop's body: the written file has a WHILE in a nested subgraph.
const NESTED: &str = r#"graph main(%m: i64[], %s0: f32[2]) -> (%s) {
  %c0 = const bool[] [true]
  %s: f32[2] = Loop(%m, %c0, %s0) {body=graph outer_body(%i: i64[], %cond_in: bool[], %s_in: f32[2]) -> (%cond_out, %s_out) {
    %two = const i64[] [2]
    %t = const bool[] [true]
    %s_out: f32[2] = Loop(%two, %t, %s_in) {body=graph inner_body(%j: i64[], %c: bool[], %v: f32[2]) -> (%c_out, %v_out) {
      %v_out: f32[2] = Add(%v, %v)
      %c_out: bool[] = Identity(%c)
    }}
    %cond_out: bool[] = Identity(%cond_in)
  }} name="outer"
}"#;

/// `text` written, with the body subgraph index of the WHILE in subgraph `sg` replaced:
/// `index(sg)` gives the new index.
fn with_body_index(text: &str, sg: usize, index: impl Fn(usize) -> i32) -> Vec<u8> {
    let mut bytes = write(text).unwrap();
    let (at, value) = {
        let m = fb::root_as_model(&bytes).unwrap();
        let codes = m.operator_codes().unwrap();
        let ops = m.subgraphs().unwrap().get(sg).operators().unwrap();
        let op = ops
            .iter()
            .find(|o| {
                codes.get(o.opcode_index() as usize).builtin_code() == fb::BuiltinOperator::WHILE
            })
            .expect("a WHILE");
        let o = op.builtin_options_as_while_options().unwrap();
        let field = o
            ._tab
            .vtable()
            .get(fb::WhileOptions::VT_BODY_SUBGRAPH_INDEX) as usize;
        assert_ne!(field, 0);
        (o._tab.loc() + field, index(sg))
    };
    bytes[at..at + 4].copy_from_slice(&value.to_le_bytes());
    bytes
}

fn decode_error(bytes: Vec<u8>) -> String {
    let e = match modelc_tflite::decode(bytes.into()) {
        Ok(_) => panic!("the file read"),
        Err(e) => e.to_string(),
    };
    assert!(!e.contains('\n'), "{e}");
    e
}

#[test]
fn hostile_subgraph_indices_give_one_line_errors() {
    for index in [0, 99, -1] {
        let e = decode_error(with_body_index(LOOP, 0, |_| index));
        assert!(
            e.contains("WHILE") && e.contains(&format!("subgraph index {index}")),
            "{e}"
        );
    }
    // A WHILE whose body is the subgraph holding that WHILE: nesting without end, stopped
    // at the depth limit.
    let bytes = write(NESTED).unwrap();
    let inner = {
        let m = fb::root_as_model(&bytes).unwrap();
        (1..m.subgraphs().unwrap().len())
            .find(|&k| op_names(&m, k).iter().any(|o| o == "WHILE"))
            .expect("a nested WHILE")
    };
    let e = decode_error(with_body_index(NESTED, inner, |sg| sg as i32));
    assert!(e.contains("deeper than"), "{e}");
}

/// A 1-D convolution of a captured weight inside an `If` branch (silero-vad's encoder): the
/// branch converts to channels last on its own and is written as a subgraph with CONV_2D
/// (the 1-D conv lifted to 2-D), the weight copied in as a constant of the subgraph.
#[test]
fn conv_in_an_if_branch_is_written_channels_last() {
    let w: Vec<String> = (0..12).map(|i| format!("{:.1}", i as f32 / 10.0)).collect();
    let text = format!(
        r#"graph main(%x: f32[1,2,8], %c: bool[]) -> (%y) {{
  %w = const f32[2,2,3] [{}]
  %y: f32[1,2,8] = If(%c) {{else_branch=graph else() outer(%x) -> (%y_else) {{
    %y_else: f32[1,2,8] = Relu(%x)
  }}, then_branch=graph then() outer(%x, %w) -> (%y_then) {{
    %y_then: f32[1,2,8] = Conv(%x, %w) {{pads=[1,1]}} layout=NCHW
  }}}} captures(%x, %w) name="encoder"
}}"#,
        w.join(", ")
    );
    let bytes = write(&text).unwrap();
    let m = fb::root_as_model(&bytes).unwrap();
    assert_eq!(op_names(&m, 0), ["IF"]);
    let op = m.subgraphs().unwrap().get(0).operators().unwrap().get(0);
    let o = op.builtin_options_as_if_options().unwrap();
    let then = op_names(&m, o.then_subgraph_index() as usize);
    assert!(then.contains(&"CONV_2D".to_string()), "{then:?}");
    // cond and x: the weight is the subgraph's own constant.
    assert_eq!(op.inputs().unwrap().len(), 2);
}
