//! Unit tests of the attention kernels through a hand-built [`OpCtx`], with values
//! computed by hand, for semantics the node suite does not cover (errors, fully masked
//! rows, GQA head mapping).

use modelc_ir::{Attr, OnnxOp};
use ndarray::{ArrayD, IxDyn};

use crate::ops::test_util::{f32s, run_op};
use crate::{Array, KernelError};

fn vals(a: &Array) -> Vec<f32> {
    match a {
        Array::F32(x) => x.iter().copied().collect(),
        other => panic!("not f32: {other:?}"),
    }
}

fn run(
    op: OnnxOp,
    attrs: Vec<(&str, Attr)>,
    inputs: &[Option<Array>],
    outputs: usize,
) -> Result<Vec<Array>, KernelError> {
    run_op(op, 24, attrs, inputs, outputs, None)
}

fn close(a: &[f32], b: &[f32]) {
    assert_eq!(a.len(), b.len(), "{a:?} vs {b:?}");
    for (x, y) in a.iter().zip(b) {
        assert!((x - y).abs() < 1e-5, "{a:?} vs {b:?}");
    }
}

#[test]
fn attention_softmax_weights_values() {
    // scores [0, ln 3] → weights [1/4, 3/4] → Y = 1/4 * 1 + 3/4 * 5 = 4.
    let q = f32s(&[1, 1, 1, 1], &[1.0]);
    let k = f32s(&[1, 1, 2, 1], &[0.0, 3f32.ln()]);
    let v = f32s(&[1, 1, 2, 1], &[1.0, 5.0]);
    let out = run(
        OnnxOp::Attention,
        vec![
            ("scale", Attr::Float(1.0)),
            ("qk_matmul_output_mode", Attr::Int(3)),
        ],
        &[Some(q), Some(k), Some(v)],
        4,
    )
    .unwrap();
    close(&vals(&out[0]), &[4.0]);
    close(&vals(&out[3]), &[0.25, 0.75]);
}

#[test]
fn attention_fully_masked_row_is_zero_and_causal_row_sees_first_key() {
    // Sq = Skv = 2, causal; the bool mask hides everything from query 1.
    let q = f32s(&[1, 1, 2, 1], &[1.0, 1.0]);
    let k = f32s(&[1, 1, 2, 1], &[1.0, 2.0]);
    let v = f32s(&[1, 1, 2, 1], &[7.0, 9.0]);
    let mask = Array::Bool(
        ArrayD::from_shape_vec(IxDyn(&[2, 2]), vec![true, true, false, false]).unwrap(),
    );
    let out = run(
        OnnxOp::Attention,
        vec![
            ("is_causal", Attr::Int(1)),
            ("qk_matmul_output_mode", Attr::Int(3)),
        ],
        &[Some(q), Some(k), Some(v), Some(mask)],
        4,
    )
    .unwrap();
    close(&vals(&out[0]), &[7.0, 0.0]);
    close(&vals(&out[3]), &[1.0, 0.0, 0.0, 0.0]);
}

#[test]
fn attention_gqa_uses_contiguous_head_groups_and_rejects_bad_counts() {
    // 2 query heads share the single KV head... and 4 query heads on 2 KV heads map
    // heads 0,1 → kv 0 and 2,3 → kv 1.
    let q = f32s(&[1, 4, 1, 1], &[1.0; 4]);
    let k = f32s(&[1, 2, 1, 1], &[1.0, 1.0]);
    let v = f32s(&[1, 2, 1, 1], &[10.0, 20.0]);
    let out = run(
        OnnxOp::Attention,
        vec![],
        &[Some(q), Some(k.clone()), Some(v.clone())],
        1,
    )
    .unwrap();
    close(&vals(&out[0]), &[10.0, 10.0, 20.0, 20.0]);
    let q3 = f32s(&[1, 3, 1, 1], &[1.0; 3]);
    assert!(run(OnnxOp::Attention, vec![], &[Some(q3), Some(k), Some(v)], 1).is_err());
}

#[test]
fn attention_rejects_too_long_mask_and_half_cache() {
    let q = f32s(&[1, 1, 1, 1], &[1.0]);
    let k = f32s(&[1, 1, 2, 1], &[1.0, 2.0]);
    let v = f32s(&[1, 1, 2, 1], &[1.0, 2.0]);
    let mask = f32s(&[1, 3], &[0.0; 3]);
    let r = run(
        OnnxOp::Attention,
        vec![],
        &[
            Some(q.clone()),
            Some(k.clone()),
            Some(v.clone()),
            Some(mask),
        ],
        1,
    );
    assert!(r.is_err());
    let past = f32s(&[1, 1, 1, 1], &[0.0]);
    let r = run(
        OnnxOp::Attention,
        vec![],
        &[Some(q), Some(k), Some(v), None, Some(past)],
        1,
    );
    assert!(r.is_err());
}

#[test]
fn rotary_rotates_pairs_and_checks_positions() {
    // x = (1, 0) rotated by 90°: cos 0, sin 1 → (0, 1).
    let x = f32s(&[1, 1, 1, 2], &[1.0, 0.0]);
    let cos = f32s(&[2, 1], &[1.0, 0.0]);
    let sin = f32s(&[2, 1], &[0.0, 1.0]);
    let pos = Array::I64(ArrayD::from_shape_vec(IxDyn(&[1, 1]), vec![1]).unwrap());
    let out = run(
        OnnxOp::RotaryEmbedding,
        vec![],
        &[
            Some(x.clone()),
            Some(cos.clone()),
            Some(sin.clone()),
            Some(pos),
        ],
        1,
    )
    .unwrap();
    close(&vals(&out[0]), &[0.0, 1.0]);
    let bad = Array::I64(ArrayD::from_shape_vec(IxDyn(&[1, 1]), vec![2]).unwrap());
    let r = run(
        OnnxOp::RotaryEmbedding,
        vec![],
        &[Some(x), Some(cos), Some(sin), Some(bad)],
        1,
    );
    assert!(r.is_err());
}

#[test]
fn swiglu_values_and_shape_check() {
    // 1 * sigmoid(1) * 2 = 2 / (1 + e^-1).
    let a = f32s(&[2], &[0.0, 1.0]);
    let b = f32s(&[2], &[3.0, 2.0]);
    let out = run(OnnxOp::SwiGLU, vec![], &[Some(a.clone()), Some(b)], 1).unwrap();
    close(&vals(&out[0]), &[0.0, 2.0 / (1.0 + (-1f32).exp())]);
    let b1 = f32s(&[1], &[3.0]);
    assert!(run(OnnxOp::SwiGLU, vec![], &[Some(a), Some(b1)], 1).is_err());
}

#[test]
fn linear_attention_linear_rule_accumulates_state() {
    // q = 1, k = (1, 2), v = (3, 4): S1 = 3, S2 = 3 + 2 * 4 = 11.
    let q = f32s(&[1, 2, 1], &[1.0, 1.0]);
    let k = f32s(&[1, 2, 1], &[1.0, 2.0]);
    let v = f32s(&[1, 2, 1], &[3.0, 4.0]);
    let attrs = || {
        vec![
            ("update_rule", Attr::String(b"linear".to_vec().into())),
            ("q_num_heads", Attr::Int(1)),
            ("kv_num_heads", Attr::Int(1)),
            ("scale", Attr::Float(1.0)),
        ]
    };
    let out = run(
        OnnxOp::LinearAttention,
        attrs(),
        &[Some(q.clone()), Some(k.clone()), Some(v.clone())],
        2,
    )
    .unwrap();
    close(&vals(&out[0]), &[3.0, 11.0]);
    close(&vals(&out[1]), &[11.0]);
    // A beta input is forbidden for the linear rule.
    let beta = f32s(&[1, 2, 1], &[1.0, 1.0]);
    let r = run(
        OnnxOp::LinearAttention,
        attrs(),
        &[Some(q), Some(k), Some(v), None, None, Some(beta)],
        2,
    );
    assert!(r.is_err());
}
