//! Indexing operators. STRIDED_SLICE (StridedSliceOptions: begin/end masks and
//! shrink_axis_mask; constant strides, begin/end constant or computed at run time; ellipsis
//! and new-axis masks and `offset` are not translated) → `Slice` (+ `Squeeze` for shrunk
//! axes); SLICE (begin, size; size -1 =
//! to the end; constant or computed at run time) → `Slice`; GATHER (GatherOptions: axis; batch_dims 0) → `Gather`;
//! GATHER_ND → `GatherND`.

use bytes::Bytes;
use modelc_ir::{Attr, DType, OnnxOp, Tensor, ValueRef};

use super::{Ctx, OpIn};
use crate::fb::BuiltinOperator as B;
use crate::TfliteError;

pub(crate) fn slice_op(cx: &mut Ctx, op: &OpIn) -> Result<bool, TfliteError> {
    let yt = cx.out_tensor(op, 0)?;
    let y = match op.code {
        B::STRIDED_SLICE => {
            let Some(o) = op.raw.builtin_options_as_strided_slice_options() else {
                return Ok(false);
            };
            if o.ellipsis_mask() != 0 || o.new_axis_mask() != 0 || o.offset() {
                return Ok(false);
            }
            let Some(strides) = cx.const_ints(op, 3)? else {
                return Ok(false);
            };
            let (Some(begin), Some(end)) = (cx.const_ints(op, 1)?, cx.const_ints(op, 2)?) else {
                return run_time_strided_slice(cx, op, yt, &o, &strides);
            };
            if begin.len() != end.len() || begin.len() != strides.len() {
                return Err(TfliteError::invalid(
                    op.label(),
                    "begin, end and strides differ in length",
                ));
            }
            let (mut starts, mut ends, mut shrink) = (Vec::new(), Vec::new(), Vec::new());
            for i in 0..begin.len() {
                let bit = 1i32 << i.min(31);
                let step = strides[i];
                if step == 0 {
                    return Err(TfliteError::invalid(op.label(), "stride 0"));
                }
                let (lo, hi) = if step > 0 {
                    (0, i64::MAX)
                } else {
                    (-1, i64::MIN)
                };
                let s = if o.begin_mask() & bit != 0 {
                    lo
                } else {
                    begin[i]
                };
                let mut e = if o.end_mask() & bit != 0 { hi } else { end[i] };
                if o.shrink_axis_mask() & bit != 0 {
                    // One element at `begin`; -1 + 1 would be 0, so run to the end instead.
                    e = if begin[i] == -1 {
                        i64::MAX
                    } else {
                        begin[i] + 1
                    };
                    shrink.push(i as i64);
                    starts.push(begin[i]);
                    ends.push(e);
                    continue;
                }
                starts.push(s);
                ends.push(e);
            }
            let x = cx.req(op, 0)?;
            let axes: Vec<i64> = (0..begin.len() as i64).collect();
            let (s, e, a, st) = (
                cx.const_1d(&starts),
                cx.const_1d(&ends),
                cx.const_1d(&axes),
                cx.const_1d(&strides),
            );
            let y = cx.op(
                OnnxOp::Slice,
                &[Some(x), Some(s), Some(e), Some(a), Some(st)],
                vec![],
            );
            if shrink.is_empty() {
                y
            } else {
                let a = cx.const_1d(&shrink);
                cx.op(OnnxOp::Squeeze, &[Some(y), Some(a)], vec![])
            }
        }
        B::SLICE => {
            let (Some(begin), Some(size)) = (cx.const_ints(op, 1)?, cx.const_ints(op, 2)?) else {
                return run_time_slice(cx, op, yt);
            };
            if begin.len() != size.len() {
                return Err(TfliteError::invalid(
                    op.label(),
                    "begin and size differ in length",
                ));
            }
            let ends: Vec<i64> = begin
                .iter()
                .zip(&size)
                .map(|(&b, &s)| if s < 0 { i64::MAX } else { b + s })
                .collect();
            let x = cx.req(op, 0)?;
            let axes: Vec<i64> = (0..begin.len() as i64).collect();
            let (s, e, a) = (cx.const_1d(&begin), cx.const_1d(&ends), cx.const_1d(&axes));
            cx.op(OnnxOp::Slice, &[Some(x), Some(s), Some(e), Some(a)], vec![])
        }
        B::GATHER => {
            let o = op.raw.builtin_options_as_gather_options();
            if o.is_some_and(|o| o.batch_dims() != 0) {
                return Ok(false);
            }
            let x = cx.req(op, 0)?;
            let i = cx.req(op, 1)?;
            let a = o.map_or(0, |o| o.axis() as i64);
            cx.op(
                OnnxOp::Gather,
                &[Some(x), Some(i)],
                vec![("axis", Attr::Int(a))],
            )
        }
        B::GATHER_ND => {
            let x = cx.req(op, 0)?;
            let i = cx.input_i64(op, 1)?;
            cx.op(OnnxOp::GatherND, &[Some(x), Some(i)], vec![])
        }
        _ => return Ok(false),
    };
    cx.define(yt, y)?;
    Ok(true)
}

/// SLICE with a begin or size computed at run time (TensorFlow writes TensorList updates in
/// WHILE bodies so): `Slice(x, begin, ends)` on every axis, where `ends` is `begin + size`,
/// or the end of the axis where size is -1.
fn run_time_slice(cx: &mut Ctx, op: &OpIn, yt: usize) -> Result<bool, TfliteError> {
    let x = cx.req(op, 0)?;
    let begin = cx.input_i64(op, 1)?;
    let size = cx.input_i64(op, 2)?;
    // One begin and size per axis of x: the length of begin, known from its shape.
    let begin_len = cx.info(cx.in_tensor(op, 1)?).shape.clone();
    let [rank] = begin_len.as_slice() else {
        return Ok(false);
    };
    if *rank < 0 {
        return Ok(false);
    }
    let rank = *rank;
    let sum = cx.op(OnnxOp::Add, &[Some(begin), Some(size)], vec![]);
    let minus_one = cx.const_i64(&[-1], &[]);
    let to_end = cx.op(OnnxOp::Equal, &[Some(size), Some(minus_one)], vec![]);
    let big = cx.const_i64(&[i64::MAX], &[]);
    let ends = cx.op(OnnxOp::Where, &[Some(to_end), Some(big), Some(sum)], vec![]);
    let axes: Vec<i64> = (0..rank).collect();
    let a = cx.const_1d(&axes);
    let y = cx.op(
        OnnxOp::Slice,
        &[Some(x), Some(begin), Some(ends), Some(a)],
        vec![],
    );
    cx.define(yt, y)?;
    Ok(true)
}

/// STRIDED_SLICE whose begin or end is computed at run time (the crops modelc writes for a
/// Slice with computed starts / ends): the same `Slice` as the constant form, each masked
/// bound replaced by the whole axis's end with `Where` on the constant masks, and a shrunk
/// axis ending one past its begin (past the end for -1).
fn run_time_strided_slice(
    cx: &mut Ctx,
    op: &OpIn,
    yt: usize,
    o: &crate::fb::StridedSliceOptions<'_>,
    strides: &[i64],
) -> Result<bool, TfliteError> {
    let n = strides.len();
    // One begin and end per sliced axis: their lengths, where known, must say so.
    for i in [1, 2] {
        let info = cx.info(cx.in_tensor(op, i)?);
        if info.has_shape
            && info.shape.len() == 1
            && info.shape[0] >= 0
            && info.shape[0] != n as i64
        {
            return Err(TfliteError::invalid(
                op.label(),
                "begin, end and strides differ in length",
            ));
        }
    }
    if n > 31 || strides.contains(&0) {
        return Err(TfliteError::invalid(op.label(), "stride 0 or over 31 axes"));
    }
    let bits = |mask: i32| -> Vec<bool> { (0..n).map(|i| mask & (1 << i) != 0).collect() };
    let (begin_masked, end_masked, shrunk) = (
        bits(o.begin_mask()),
        bits(o.end_mask()),
        bits(o.shrink_axis_mask()),
    );
    // The whole axis's first and last positions in the stride's direction.
    let lo: Vec<i64> = strides
        .iter()
        .map(|&s| if s > 0 { 0 } else { -1 })
        .collect();
    let hi: Vec<i64> = strides
        .iter()
        .map(|&s| if s > 0 { i64::MAX } else { i64::MIN })
        .collect();
    let begin = cx.input_i64(op, 1)?;
    let end = cx.input_i64(op, 2)?;
    let starts = choose(cx, &begin_masked, &lo, begin);
    let ends = choose(cx, &end_masked, &hi, end);
    let shrink: Vec<i64> = (0..n as i64).filter(|&i| shrunk[i as usize]).collect();
    let ends = if shrink.is_empty() {
        ends
    } else {
        // One element at the start: start + 1, or to the end where that is -1 (+1 is 0).
        let one = cx.const_i64(&[1], &[]);
        let next = cx.op(OnnxOp::Add, &[Some(starts), Some(one)], vec![]);
        let minus_one = cx.const_i64(&[-1], &[]);
        let last = cx.op(OnnxOp::Equal, &[Some(starts), Some(minus_one)], vec![]);
        let big = cx.const_i64(&[i64::MAX], &[]);
        let one_past = cx.op(OnnxOp::Where, &[Some(last), Some(big), Some(next)], vec![]);
        let m = bool_mask(cx, &shrunk);
        cx.op(
            OnnxOp::Where,
            &[Some(m), Some(one_past), Some(ends)],
            vec![],
        )
    };
    let x = cx.req(op, 0)?;
    let axes: Vec<i64> = (0..n as i64).collect();
    let (a, st) = (cx.const_1d(&axes), cx.const_1d(strides));
    let y = cx.op(
        OnnxOp::Slice,
        &[Some(x), Some(starts), Some(ends), Some(a), Some(st)],
        vec![],
    );
    let y = if shrink.is_empty() {
        y
    } else {
        let a = cx.const_1d(&shrink);
        cx.op(OnnxOp::Squeeze, &[Some(y), Some(a)], vec![])
    };
    cx.define(yt, y)?;
    Ok(true)
}

/// `bound` with the positions `masked` marks replaced by `whole` (a constant), by `Where`;
/// `bound` itself when none is.
fn choose(cx: &mut Ctx, masked: &[bool], whole: &[i64], bound: ValueRef) -> ValueRef {
    if !masked.contains(&true) {
        return bound;
    }
    let m = bool_mask(cx, masked);
    let w = cx.const_1d(whole);
    cx.op(OnnxOp::Where, &[Some(m), Some(w), Some(bound)], vec![])
}

/// A 1-D bool constant.
fn bool_mask(cx: &mut Ctx, bits: &[bool]) -> ValueRef {
    let bytes: Vec<u8> = bits.iter().map(|&b| b as u8).collect();
    let t = Tensor::from_raw(DType::Bool, vec![bits.len() as u64], Bytes::from(bytes))
        .expect("one byte per element");
    cx.constant("mask", t)
}
