//! Unit tests of movement kernels through a hand-built [`OpCtx`], for semantics the node
//! suite does not cover (errors, tie-breaking, clamping, opset differences).

use modelc_ir::{Attr, OnnxOp};

use crate::ops::test_util::{f32s, i64s, run_op};
use crate::{Array, KernelError};

fn run(
    op: OnnxOp,
    opset: i64,
    attrs: Vec<(&str, Attr)>,
    inputs: &[Option<Array>],
    outputs: usize,
) -> Result<Vec<Array>, KernelError> {
    run_op(op, opset, attrs, inputs, outputs, None)
}

#[test]
fn gather_rejects_out_of_range_indices() {
    let x = f32s(&[3], &[1.0, 2.0, 3.0]);
    let ok = run(
        OnnxOp::Gather,
        13,
        vec![],
        &[Some(x.clone()), Some(i64s(&[2], &[-1, 0]))],
        1,
    )
    .unwrap();
    assert_eq!(ok[0], f32s(&[2], &[3.0, 1.0]));
    assert!(run(
        OnnxOp::Gather,
        13,
        vec![],
        &[Some(x.clone()), Some(i64s(&[1], &[3]))],
        1
    )
    .is_err());
    assert!(run(
        OnnxOp::Gather,
        13,
        vec![],
        &[Some(x), Some(i64s(&[1], &[-4]))],
        1
    )
    .is_err());
}

#[test]
fn scatter_nd_applies_duplicates_in_order_and_checks_range() {
    let data = f32s(&[4], &[1.0, 1.0, 1.0, 1.0]);
    let idx = i64s(&[3, 1], &[1, 1, -1]);
    let upd = f32s(&[3], &[2.0, 3.0, 5.0]);
    let y = run(
        OnnxOp::ScatterND,
        18,
        vec![("reduction", Attr::String("mul".into()))],
        &[Some(data.clone()), Some(idx), Some(upd.clone())],
        1,
    )
    .unwrap();
    assert_eq!(y[0], f32s(&[4], &[1.0, 6.0, 1.0, 5.0]));
    let bad = i64s(&[3, 1], &[0, 4, 0]);
    assert!(run(
        OnnxOp::ScatterND,
        18,
        vec![],
        &[Some(data), Some(bad), Some(upd)],
        1
    )
    .is_err());
}

#[test]
fn top_k_breaks_ties_by_lower_index() {
    let x = f32s(&[5], &[1.0, 3.0, 3.0, f32::NAN, 1.0]);
    let y = run(
        OnnxOp::TopK,
        11,
        vec![],
        &[Some(x.clone()), Some(i64s(&[1], &[3]))],
        2,
    )
    .unwrap();
    assert_eq!(y[1], i64s(&[3], &[3, 1, 2]));
    let y = run(
        OnnxOp::TopK,
        11,
        vec![("largest", Attr::Int(0))],
        &[Some(x.clone()), Some(i64s(&[1], &[2]))],
        2,
    )
    .unwrap();
    assert_eq!(y[1], i64s(&[2], &[0, 4]));
    assert!(run(
        OnnxOp::TopK,
        11,
        vec![],
        &[Some(x), Some(i64s(&[1], &[6]))],
        2
    )
    .is_err());
}

#[test]
fn split_by_num_outputs_makes_the_last_part_smaller() {
    let x = i64s(&[5], &[1, 2, 3, 4, 5]);
    let y = run(
        OnnxOp::Split,
        18,
        vec![("num_outputs", Attr::Int(2))],
        &[Some(x.clone())],
        2,
    )
    .unwrap();
    assert_eq!(y, vec![i64s(&[3], &[1, 2, 3]), i64s(&[2], &[4, 5])]);
    // Before opset 18 equal parts are required.
    assert!(run(OnnxOp::Split, 13, vec![], &[Some(x)], 2).is_err());
}

#[test]
fn range_counts_and_limits() {
    let s = |v: i64| Some(i64s(&[], &[v]));
    let y = run(OnnxOp::Range, 11, vec![], &[s(10), s(4), s(-3)], 1).unwrap();
    assert_eq!(y[0], i64s(&[2], &[10, 7]));
    assert!(run(OnnxOp::Range, 11, vec![], &[s(0), s(4), s(0)], 1).is_err());
    assert!(run(OnnxOp::Range, 11, vec![], &[s(0), s(i64::MAX), s(1)], 1).is_err());
}

#[test]
fn unique_unsorted_keeps_first_occurrence_order() {
    let x = i64s(&[6], &[2, 1, 1, 3, 4, 3]);
    let y = run(
        OnnxOp::Unique,
        11,
        vec![("sorted", Attr::Int(0))],
        &[Some(x)],
        4,
    )
    .unwrap();
    assert_eq!(y[0], i64s(&[4], &[2, 1, 3, 4]));
    assert_eq!(y[1], i64s(&[4], &[0, 1, 3, 4]));
    assert_eq!(y[2], i64s(&[6], &[0, 1, 1, 2, 3, 2]));
    assert_eq!(y[3], i64s(&[4], &[1, 2, 2, 1]));
}

#[test]
fn slice_before_opset_10_reads_attributes() {
    let x = i64s(&[2, 3], &[1, 2, 3, 4, 5, 6]);
    let y = run(
        OnnxOp::Slice,
        9,
        vec![
            ("starts", Attr::Ints(vec![0, -2])),
            ("ends", Attr::Ints(vec![1, 1000])),
        ],
        &[Some(x)],
        1,
    )
    .unwrap();
    assert_eq!(y[0], i64s(&[1, 2], &[2, 3]));
}

#[test]
fn huge_outputs_are_errors() {
    let shape = Some(i64s(&[2], &[1 << 20, 1 << 20]));
    assert!(run(
        OnnxOp::ConstantOfShape,
        20,
        vec![],
        std::slice::from_ref(&shape),
        1
    )
    .is_err());
    let x = Some(f32s(&[1, 1], &[0.0]));
    assert!(run(OnnxOp::Expand, 13, vec![], &[x.clone(), shape.clone()], 1).is_err());
    assert!(run(OnnxOp::Tile, 13, vec![], &[x, shape], 1).is_err());
}

#[test]
fn argmin_and_cumsum() {
    let x = f32s(&[2, 3], &[3.0, 1.0, 1.0, 0.0, 5.0, 0.0]);
    let y = run(
        OnnxOp::ArgMin,
        13,
        vec![
            ("axis", Attr::Int(1)),
            ("select_last_index", Attr::Int(1)),
            ("keepdims", Attr::Int(0)),
        ],
        &[Some(x.clone())],
        1,
    )
    .unwrap();
    assert_eq!(y[0], i64s(&[2], &[2, 2]));
    let y = run(
        OnnxOp::CumSum,
        14,
        vec![("exclusive", Attr::Int(1)), ("reverse", Attr::Int(1))],
        &[Some(x), Some(i64s(&[], &[1]))],
        1,
    )
    .unwrap();
    assert_eq!(y[0], f32s(&[2, 3], &[2.0, 1.0, 0.0, 5.0, 0.0, 0.0]));
}

#[test]
fn packed_byte_types_move_as_bytes() {
    let x = Array::Packed {
        dtype: modelc_ir::DType::F8E4M3FN,
        shape: vec![2, 3],
        bytes: bytes::Bytes::from(vec![1u8, 2, 3, 4, 5, 6]),
    };
    let y = run(OnnxOp::Transpose, 13, vec![], &[Some(x.clone())], 1).unwrap();
    assert_eq!(
        y[0],
        Array::Packed {
            dtype: modelc_ir::DType::F8E4M3FN,
            shape: vec![3, 2],
            bytes: bytes::Bytes::from(vec![1u8, 4, 2, 5, 3, 6]),
        }
    );
    let y = run(
        OnnxOp::Gather,
        13,
        vec![("axis", Attr::Int(1))],
        &[Some(x), Some(i64s(&[1], &[2]))],
        1,
    )
    .unwrap();
    assert_eq!(y[0].shape(), &[2, 1]);
    let four_bit = Array::Packed {
        dtype: modelc_ir::DType::I4,
        shape: vec![2],
        bytes: bytes::Bytes::from(vec![0x21u8]),
    };
    assert!(run(OnnxOp::Transpose, 13, vec![], &[Some(four_bit)], 1).is_err());
}

#[test]
fn nms_keeps_best_boxes_per_class() {
    // Two overlapping boxes and a separate one; ties keep the lower index.
    let boxes = f32s(
        &[1, 3, 4],
        &[0.0, 0.0, 1.0, 1.0, 0.0, 0.1, 1.0, 1.1, 0.0, 10.0, 1.0, 11.0],
    );
    let scores = f32s(&[1, 1, 3], &[0.9, 0.9, 0.5]);
    let y = run(
        OnnxOp::NonMaxSuppression,
        11,
        vec![],
        &[
            Some(boxes),
            Some(scores),
            Some(i64s(&[1], &[3])),
            Some(f32s(&[1], &[0.5])),
        ],
        1,
    )
    .unwrap();
    assert_eq!(y[0], i64s(&[2, 3], &[0, 0, 0, 0, 0, 2]));
}
