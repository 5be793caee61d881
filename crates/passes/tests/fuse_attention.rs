//! `fuse-attention`: torch `nn.MultiheadAttention`-style (scale split over Q and K), and
//! hand-written (scores divided, mask added, K transposed from `(B, S, H, D)`) and 3-D
//! attention become `Attention`; near misses stay; nothing below opset 23; outputs unchanged.

use modelc_passes::check;
use modelc_passes::passes::fuse_attention::FuseAttention;
use modelc_passes::testing::{check_unchanged, input, Check};

const FORMS: &str = r#"graph main(%q: f32[2,4,5,8], %k: f32[2,4,6,8], %v: f32[2,4,6,8], %kr: f32[2,6,4,8], %m: f32[2,1,5,6], %q3: f32[8,5,8], %k3: f32[8,6,8], %v3: f32[8,6,8]) -> (%y1, %y2, %y3) {
  %r = const f32[1] [0.59460354]
  %qs = Mul(%q, %r)
  %ks = Mul(%k, %r)
  %kt = Transpose(%ks) {perm=[0,1,3,2]}
  %s = MatMul(%qs, %kt)
  %p = Softmax(%s) {axis=-1}
  %y1 = MatMul(%p, %v)
  %kt2 = Transpose(%kr) {perm=[0,2,3,1]}
  %s2 = MatMul(%q, %kt2)
  %c = const f32[] [2.828427]
  %d2 = Div(%s2, %c)
  %a2 = Add(%m, %d2)
  %p2 = Softmax(%a2) {axis=3}
  %y2 = MatMul(%p2, %v)
  %kt3 = Transpose(%k3) {perm=[0,2,1]}
  %s3 = MatMul(%q3, %kt3)
  %c3 = const f32[] [0.35]
  %sc3 = Mul(%c3, %s3)
  %p3 = Softmax(%sc3) {axis=-1}
  %y3 = MatMul(%p3, %v3)
}"#;

fn inputs() -> Vec<(&'static str, modelc_interp::Array)> {
    vec![
        ("q", input(&[2, 4, 5, 8], 1, 2.0)),
        ("k", input(&[2, 4, 6, 8], 2, 2.0)),
        ("v", input(&[2, 4, 6, 8], 3, 2.0)),
        ("kr", input(&[2, 6, 4, 8], 4, 2.0)),
        ("m", input(&[2, 1, 5, 6], 5, 3.0)),
        ("q3", input(&[8, 5, 8], 6, 2.0)),
        ("k3", input(&[8, 6, 8], 7, 2.0)),
        ("v3", input(&[8, 6, 8], 8, 2.0)),
    ]
}

#[test]
fn attention_forms_fuse() {
    let out = check!("fuse-attention,dce", FORMS, @r"
    graph main(%q: f32[2,4,5,8], %k: f32[2,4,6,8], %v: f32[2,4,6,8], %kr: f32[2,6,4,8], %m: f32[2,1,5,6], %q3: f32[8,5,8], %k3: f32[8,6,8], %v3: f32[8,6,8]) -> (%y1, %y2, %y3) {
      %y1 = Attention(%q, %k, %v) {scale=0.35355335}
      %y2_k = Transpose(%kr) {perm=[0,2,1,3]}
      %y2 = Attention(%q, %y2_k, %v, %m) {scale=0.35355338}
      %y3 = Attention(%q3, %k3, %v3) {q_num_heads=1, kv_num_heads=1, scale=0.35}
    }
    ");
    assert_eq!(out.count("Attention"), 3);
    assert_eq!(out.count("Softmax"), 0);
    assert_eq!(out.count("MatMul"), 0);
    assert!(out.after.node_count() < out.before.node_count());
    // Outputs are weighted sums that partly cancel: the fused kernel's different summation
    // order moves small elements by more than 1e-4 of themselves (1e-7 absolute).
    out.assert_same_outputs(&inputs(), 1e-3);
}

#[test]
fn near_misses_stay() {
    let text = r#"graph main(%q: f32[2,4,5,8], %k: f32[2,4,6,8], %v: f32[2,4,6,8], %m: f32[2,1,5,6], %mb: f32[2,1,5,1]) -> (%y1, %s2, %y2, %y3, %y4, %y5) {
  %kt = Transpose(%k) {perm=[0,1,3,2]}
  %s = MatMul(%q, %kt)
  %p = Softmax(%s) {axis=2}
  %y1 = MatMul(%p, %v)
  %kt2 = Transpose(%k) {perm=[0,1,3,2]}
  %s2 = MatMul(%q, %kt2)
  %p2 = Softmax(%s2) {axis=-1}
  %y2 = MatMul(%p2, %v)
  %kt3 = Transpose(%k) {perm=[0,1,3,2]}
  %s3 = MatMul(%q, %kt3)
  %a3 = Add(%s3, %m)
  %c = const f32[] [2.828427]
  %d3 = Div(%a3, %c)
  %p3 = Softmax(%d3) {axis=-1}
  %y3 = MatMul(%p3, %v)
  %kt4 = Transpose(%k) {perm=[0,1,3,2]}
  %s4 = MatMul(%q, %kt4)
  %p4 = Softmax(%s4) {axis=-1}
  %y4 = MatMul(%v, %p4)
  %kt5 = Transpose(%k) {perm=[0,1,3,2]}
  %s5 = MatMul(%q, %kt5)
  %a5 = Add(%s5, %mb)
  %p5 = Softmax(%a5) {axis=-1}
  %y5 = MatMul(%p5, %v)
}"#;
    // Softmax over another axis; scores also a graph output; mask added before scaling;
    // probabilities on the right of the second MatMul; a mask broadcast along the keys
    // (Attention would pad it with masked entries instead).
    let out = check_unchanged("fuse-attention", text);
    assert_eq!(out.count("Attention"), 0);
}

#[test]
fn nothing_fuses_below_opset_23() {
    let out = check_unchanged(Check::new(FuseAttention).opset(21), FORMS);
    assert_eq!(
        out.report.notes,
        ["fuse-attention: 3 attention pattern(s) left decomposed: Attention needs opset 23, the model imports 21 (convert-opset=23 / --opset 23 moves it there)"]
    );
}
