//! Data-movement operators. RESHAPE (shape input, or ReshapeOptions.new_shape), SQUEEZE
//! (SqueezeOptions.squeeze_dims), EXPAND_DIMS (axis input), TRANSPOSE (perm input),
//! CONCATENATION (ConcatenationOptions: axis, fused activation), PACK / UNPACK
//! (Pack/UnpackOptions: axis; → Unsqueeze + Concat / Split + Squeeze), SPLIT (axis input,
//! SplitOptions.num_splits), SPLIT_V (size_splits and axis inputs), PAD / PADV2 / MIRROR_PAD
//! (paddings [rank, 2], constant or computed at run time; PADV2's constant;
//! MirrorPadOptions.mode REFLECT → `Pad` reflect, SYMMETRIC (constant paddings), which ONNX's Pad lacks, → per padded axis the mirrored edge slices (`Slice`
//! with step -1) concatenated around the input), TILE,
//! BROADCAST_TO (→ `Expand`), SHAPE (ShapeOptions.out_type), FILL (→ `Expand` of the
//! value), RANGE (→ `Range`), SPACE_TO_DEPTH / DEPTH_TO_SPACE (block_size; `layout = NHWC`, DCR order).

use bytes::Bytes;
use modelc_ir::{Attr, DType, NodeId, OnnxOp, Op, ValueRef};

use super::{Ctx, OpIn};
use crate::fb::{ActivationFunctionType, BuiltinOperator as B, MirrorPadMode};
use crate::TfliteError;

/// Normalizes a possibly negative axis against `rank`.
fn axis(op: &OpIn, a: i64, rank: usize) -> Result<i64, TfliteError> {
    let r = rank as i64;
    if a < -r || a >= r {
        return Err(TfliteError::invalid(
            op.label(),
            format!("axis {a} out of range for rank {rank}"),
        ));
    }
    Ok(if a < 0 { a + r } else { a })
}

/// SYMMETRIC mirror padding ([[b0, e0], [b1, e1], ...]): along each padded axis, the first
/// `b` elements reversed, the input, the last `e` elements reversed (edges repeated).
fn symmetric_pad(cx: &mut Ctx, x: ValueRef, p: &[i64]) -> ValueRef {
    let mut y = x;
    for (axis, pair) in p.chunks_exact(2).enumerate() {
        let (b, e) = (pair[0], pair[1]);
        if b <= 0 && e <= 0 {
            continue;
        }
        let slice = |cx: &mut Ctx, start: i64, end: i64| {
            let starts = cx.const_1d(&[start]);
            let ends = cx.const_1d(&[end]);
            let axes = cx.const_1d(&[axis as i64]);
            let steps = cx.const_1d(&[-1]);
            cx.op(
                OnnxOp::Slice,
                &[Some(y), Some(starts), Some(ends), Some(axes), Some(steps)],
                vec![],
            )
        };
        let mut parts = Vec::new();
        if b > 0 {
            parts.push(Some(slice(cx, b - 1, i64::MIN)));
        }
        parts.push(Some(y));
        if e > 0 {
            parts.push(Some(slice(cx, -1, -e - 1)));
        }
        y = cx.op(
            OnnxOp::Concat,
            &parts,
            vec![("axis", Attr::Int(axis as i64))],
        );
    }
    y
}

fn define_outputs(cx: &mut Ctx, op: &OpIn, id: NodeId, n: usize) -> Result<(), TfliteError> {
    for i in 0..n {
        let t = cx.out_tensor(op, i)?;
        cx.define(t, ValueRef::new(id, i))?;
    }
    Ok(())
}

pub(crate) fn shape_op(cx: &mut Ctx, op: &OpIn) -> Result<bool, TfliteError> {
    let yt = cx.out_tensor(op, 0)?;
    let y = match op.code {
        B::RESHAPE => {
            let x = cx.req(op, 0)?;
            let shape = if op.inputs.get(1).copied().flatten().is_some() {
                cx.input_i64(op, 1)?
            } else {
                let s: Vec<i64> = op
                    .raw
                    .builtin_options_as_reshape_options()
                    .and_then(|o| o.new_shape())
                    .map(|v| v.iter().map(i64::from).collect())
                    .ok_or_else(|| TfliteError::invalid(op.label(), "has no target shape"))?;
                cx.const_1d(&s)
            };
            cx.op(OnnxOp::Reshape, &[Some(x), Some(shape)], vec![])
        }
        B::SQUEEZE => {
            let x = cx.req(op, 0)?;
            let dims: Vec<i64> = op
                .raw
                .builtin_options_as_squeeze_options()
                .and_then(|o| o.squeeze_dims())
                .map(|v| v.iter().map(i64::from).collect())
                .unwrap_or_default();
            if dims.is_empty() {
                cx.op(OnnxOp::Squeeze, &[Some(x)], vec![])
            } else {
                let a = cx.const_1d(&dims);
                cx.op(OnnxOp::Squeeze, &[Some(x), Some(a)], vec![])
            }
        }
        B::EXPAND_DIMS => {
            let x = cx.req(op, 0)?;
            let a = match cx.const_ints(op, 1)? {
                Some(a) => cx.const_1d(&a),
                None => {
                    // ONNX wants a 1-D axes list; TFLite gives a scalar or [1].
                    let a = cx.input_i64(op, 1)?;
                    let one = cx.const_1d(&[-1]);
                    cx.op(OnnxOp::Reshape, &[Some(a), Some(one)], vec![])
                }
            };
            cx.op(OnnxOp::Unsqueeze, &[Some(x), Some(a)], vec![])
        }
        B::TRANSPOSE => {
            let x = cx.req(op, 0)?;
            let Some(perm) = cx.const_ints(op, 1)? else {
                return Ok(false);
            };
            cx.op(
                OnnxOp::Transpose,
                &[Some(x)],
                vec![("perm", Attr::Ints(perm))],
            )
        }
        B::CONCATENATION => {
            let o = op.raw.builtin_options_as_concatenation_options();
            let mut xs = Vec::new();
            for i in 0..op.inputs.len() {
                xs.push(Some(cx.req(op, i)?));
            }
            let rank = cx.rank(yt).unwrap_or(0);
            let a = axis(op, o.map_or(0, |o| o.axis() as i64), rank)?;
            let y = cx.op(OnnxOp::Concat, &xs, vec![("axis", Attr::Int(a))]);
            let act = o.map_or(ActivationFunctionType::NONE, |o| {
                o.fused_activation_function()
            });
            cx.activation(y, act, op)?
        }
        B::PACK => {
            let o = op.raw.builtin_options_as_pack_options();
            let rank = cx.rank(yt).unwrap_or(0);
            let a = axis(op, o.map_or(0, |o| o.axis() as i64), rank)?;
            let ax = cx.const_1d(&[a]);
            let mut xs = Vec::new();
            for i in 0..op.inputs.len() {
                let x = cx.req(op, i)?;
                xs.push(Some(cx.op(OnnxOp::Unsqueeze, &[Some(x), Some(ax)], vec![])));
            }
            cx.op(OnnxOp::Concat, &xs, vec![("axis", Attr::Int(a))])
        }
        B::UNPACK => {
            let o = op.raw.builtin_options_as_unpack_options();
            let xt = cx.in_tensor(op, 0)?;
            let rank = cx.rank(xt).unwrap_or(0);
            let a = axis(op, o.map_or(0, |o| o.axis() as i64), rank)?;
            let n = op.outputs.len();
            let x = cx.req(op, 0)?;
            let split = cx.node(
                Op::Onnx(OnnxOp::Split),
                &[Some(x)],
                vec![("axis", Attr::Int(a)), ("num_outputs", Attr::Int(n as i64))],
                n,
            );
            let ax = cx.const_1d(&[a]);
            for i in 0..n {
                let s = cx.op(
                    OnnxOp::Squeeze,
                    &[Some(ValueRef::new(split, i)), Some(ax)],
                    vec![],
                );
                cx.define(cx.out_tensor(op, i)?, s)?;
            }
            return Ok(true);
        }
        B::SPLIT | B::SPLIT_V => {
            let (data, axis_in) = if op.code == B::SPLIT { (1, 0) } else { (0, 2) };
            let Some(a) = cx.const_ints(op, axis_in)?.and_then(|v| v.first().copied()) else {
                return Ok(false);
            };
            let xt = cx.in_tensor(op, data)?;
            let a = axis(op, a, cx.rank(xt).unwrap_or(0))?;
            let x = cx.req(op, data)?;
            let n = op.outputs.len();
            let id = if op.code == B::SPLIT {
                cx.node(
                    Op::Onnx(OnnxOp::Split),
                    &[Some(x)],
                    vec![("axis", Attr::Int(a)), ("num_outputs", Attr::Int(n as i64))],
                    n,
                )
            } else {
                let Some(mut sizes) = cx.const_ints(op, 1)? else {
                    return Ok(false);
                };
                // One size may be -1: the rest of the axis.
                if let Some(pos) = sizes.iter().position(|&s| s < 0) {
                    let total = cx.info(xt).shape.get(a as usize).copied().unwrap_or(-1);
                    if total < 0 {
                        return Ok(false);
                    }
                    let known: i64 = sizes.iter().filter(|&&s| s >= 0).sum();
                    sizes[pos] = total - known;
                }
                let s = cx.const_1d(&sizes);
                cx.node(
                    Op::Onnx(OnnxOp::Split),
                    &[Some(x), Some(s)],
                    vec![("axis", Attr::Int(a))],
                    n,
                )
            };
            define_outputs(cx, op, id, n)?;
            return Ok(true);
        }
        B::PAD | B::PADV2 | B::MIRROR_PAD => {
            let p = cx.const_ints(op, 1)?;
            let mode: &'static [u8] = if op.code == B::MIRROR_PAD {
                let m = op
                    .raw
                    .builtin_options_as_mirror_pad_options()
                    .map(|o| o.mode());
                if m == Some(MirrorPadMode::SYMMETRIC) {
                    let Some(p) = p else {
                        return Ok(false);
                    };
                    let x = cx.req(op, 0)?;
                    let y = symmetric_pad(cx, x, &p);
                    cx.define(yt, y)?;
                    return Ok(true);
                }
                if m != Some(MirrorPadMode::REFLECT) {
                    return Ok(false);
                }
                b"reflect"
            } else {
                b"constant"
            };
            // [[b0, e0], [b1, e1], ...] → [b0, b1, ..., e0, e1, ...]
            let pads = match p {
                Some(p) => {
                    let pads: Vec<i64> = p
                        .iter()
                        .step_by(2)
                        .chain(p.iter().skip(1).step_by(2))
                        .copied()
                        .collect();
                    cx.const_1d(&pads)
                }
                // Computed at run time: transposed and flattened.
                None => {
                    let p = cx.input_i64(op, 1)?;
                    let t = cx.op(
                        OnnxOp::Transpose,
                        &[Some(p)],
                        vec![("perm", Attr::Ints(vec![1, 0]))],
                    );
                    let flat = cx.const_1d(&[-1]);
                    cx.op(OnnxOp::Reshape, &[Some(t), Some(flat)], vec![])
                }
            };
            let x = cx.req(op, 0)?;
            let value = if op.code == B::PADV2 {
                cx.input(op, 2)?
            } else {
                None
            };
            cx.op(
                OnnxOp::Pad,
                &[Some(x), Some(pads), value],
                vec![("mode", Attr::String(Bytes::from_static(mode)))],
            )
        }
        B::TILE | B::BROADCAST_TO => {
            let x = cx.req(op, 0)?;
            let m = cx.input_i64(op, 1)?;
            let kind = if op.code == B::TILE {
                OnnxOp::Tile
            } else {
                OnnxOp::Expand
            };
            cx.op(kind, &[Some(x), Some(m)], vec![])
        }
        B::FILL => {
            let shape = cx.input_i64(op, 0)?;
            let v = cx.req(op, 1)?;
            cx.op(OnnxOp::Expand, &[Some(v), Some(shape)], vec![])
        }
        B::RANGE => {
            let (start, limit, delta) = (cx.req(op, 0)?, cx.req(op, 1)?, cx.req(op, 2)?);
            cx.op(
                OnnxOp::Range,
                &[Some(start), Some(limit), Some(delta)],
                vec![],
            )
        }
        B::SHAPE => {
            let x = cx.req(op, 0)?;
            let s = cx.op(OnnxOp::Shape, &[Some(x)], vec![]);
            let to = cx.info(yt).dtype;
            if to == DType::I64 {
                s
            } else {
                cx.op(
                    OnnxOp::Cast,
                    &[Some(s)],
                    vec![("to", Attr::Int(to.onnx_code() as i64))],
                )
            }
        }
        B::SPACE_TO_DEPTH | B::DEPTH_TO_SPACE => {
            let x = cx.req(op, 0)?;
            let (kind, bs) = if op.code == B::SPACE_TO_DEPTH {
                (
                    OnnxOp::SpaceToDepth,
                    op.raw
                        .builtin_options_as_space_to_depth_options()
                        .map(|o| o.block_size()),
                )
            } else {
                (
                    OnnxOp::DepthToSpace,
                    op.raw
                        .builtin_options_as_depth_to_space_options()
                        .map(|o| o.block_size()),
                )
            };
            let bs = bs.ok_or_else(|| TfliteError::invalid(op.label(), "has no block size"))?;
            let mut attrs = vec![("blocksize", Attr::Int(bs as i64))];
            if kind == OnnxOp::DepthToSpace {
                attrs.push(("mode", Attr::String(Bytes::from_static(b"DCR"))));
            }
            cx.op_nhwc(kind, &[Some(x)], attrs)
        }
        _ => return Ok(false),
    };
    cx.define(yt, y)?;
    Ok(true)
}
