//! Data-movement and reduction ops.
//! - `Reshape` / `Flatten` / `Squeeze` / `Unsqueeze` → RESHAPE to the (inferred) output shape,
//!   or, with more than one size unknown until run time, to a shape tensor computed in the
//!   file (the input's SHAPE for Reshape's `0`s and the sizes Squeeze / Unsqueeze keep; a
//!   shape the graph computes, as int32);
//! - `Transpose` → TRANSPOSE; `Concat` → CONCATENATION; `Pad` (pads constant or computed
//!   at run time, then GATHERed into pairs; constant / reflect mode) → PAD / PADV2 /
//!   MIRROR_PAD;
//! - `ReduceMean`/`Sum`/`Max`/`Min`/`Prod` (constant axes) → MEAN / SUM / REDUCE_*;
//! - `Slice` (constant starts/ends/axes/steps) → STRIDED_SLICE; `Gather` → GATHER;
//!   `Split` → SPLIT / SPLIT_V;
//! - `Resize` (NHWC, 2-D) → RESIZE_BILINEAR / RESIZE_NEAREST_NEIGHBOR, the size a constant
//!   or, for sizes unknown until run time, SHAPE × whole-number scales or the graph's computed
//!   `sizes`;
//!   `DepthToSpace` (DCR) / `SpaceToDepth` (NHWC) → DEPTH_TO_SPACE / SPACE_TO_DEPTH;
//! - `Expand` → BROADCAST_TO, `Tile` → TILE, `Shape` → SHAPE.

use modelc_ir::{DType, Layout, NodeId, OnnxOp};

use crate::export::lower::{attr_i, attr_ints, attr_s, Lower};
use crate::fb::{self, BuiltinOperator as B, BuiltinOptions, MirrorPadMode};
use crate::TfliteError;

fn unsupported(m: impl Into<String>) -> TfliteError {
    TfliteError::Unsupported(m.into())
}

pub(crate) fn norm_axis(a: i64, rank: usize) -> Result<i64, TfliteError> {
    let r = rank as i64;
    if a < -r || a >= r {
        return Err(unsupported(format!(
            "axis {a} out of range for rank {rank}"
        )));
    }
    Ok(if a < 0 { a + r } else { a })
}

fn i32s(v: &[i64]) -> Vec<i32> {
    v.iter()
        .map(|&d| d.clamp(i32::MIN as i64, i32::MAX as i64) as i32)
        .collect()
}

/// TRANSPOSE (op version `version`) of tensor `input` by `perm` into `out`.
pub(crate) fn transpose(
    lowering: &mut Lower,
    input: usize,
    perm: &[i64],
    out: usize,
    version: i32,
) -> Result<(), TfliteError> {
    let pt = lowering
        .model
        .const_i32("perm", &i32s(perm), vec![perm.len() as i64])?;
    let o = fb::TransposeOptions::create(&mut lowering.model.fbb, &fb::TransposeOptionsArgs {})
        .as_union_value();
    lowering.model.emit(
        B::TRANSPOSE,
        version,
        &[Some(input), Some(pt)],
        &[out],
        Some((BuiltinOptions::TransposeOptions, o)),
    );
    Ok(())
}

/// RESHAPE of tensor `input` into `out` of `shape` (every op that needs one emits it here).
/// A scalar result has no shape tensor and `new_shape` [0], the form LiteRT reads as rank
/// 0 (an empty shape tensor has no data, which it refuses to prepare).
pub(crate) fn reshape(
    lowering: &mut Lower,
    input: usize,
    out: usize,
    shape: &[i64],
) -> Result<(), TfliteError> {
    let s = i32s(shape);
    let (inputs, option) = if s.is_empty() {
        (vec![Some(input)], vec![0])
    } else {
        let st = lowering
            .model
            .const_i32("shape", &s, vec![s.len() as i64])?;
        (vec![Some(input), Some(st)], s)
    };
    let ns = lowering.model.fbb.create_vector(&option);
    let o = fb::ReshapeOptions::create(
        &mut lowering.model.fbb,
        &fb::ReshapeOptionsArgs {
            new_shape: Some(ns),
        },
    )
    .as_union_value();
    lowering.model.emit(
        B::RESHAPE,
        1,
        &inputs,
        &[out],
        Some((BuiltinOptions::ReshapeOptions, o)),
    );
    Ok(())
}

/// RESHAPE of tensor `input` into `out` by the int32 shape tensor `shape` computed at run
/// time (no `new_shape` option: LiteRT then reads the tensor).
pub(crate) fn reshape_to(
    lowering: &mut Lower,
    input: usize,
    out: usize,
    shape: usize,
) -> Result<(), TfliteError> {
    let o = fb::ReshapeOptions::create(
        &mut lowering.model.fbb,
        &fb::ReshapeOptionsArgs { new_shape: None },
    )
    .as_union_value();
    lowering.model.emit(
        B::RESHAPE,
        1,
        &[Some(input), Some(shape)],
        &[out],
        Some((BuiltinOptions::ReshapeOptions, o)),
    );
    Ok(())
}

/// The shape tensor of a Reshape / Flatten / Squeeze / Unsqueeze whose output has more than
/// one dimension unknown until run time (`out_shape`, -1 for those), read from the input's
/// run-time shape: Reshape's constant `0` entries copy the input's size, a computed shape
/// input is used as it is (as int32; its 0 entries selected from the input's shape where a
/// constant part has them), Squeeze / Unsqueeze keep the input's sizes around the
/// ones they remove or add.
fn runtime_reshape(
    lowering: &mut Lower,
    id: NodeId,
    op: OnnxOp,
    input: usize,
    out_shape: &[i64],
) -> Result<usize, TfliteError> {
    use super::dynamic::{shape_tensor, to_i32, Piece};
    let in_shape = lowering.model.tensors[input].shape.to_vec();
    let pieces: Vec<Piece> = match op {
        OnnxOp::Reshape => {
            let sv = lowering
                .g
                .input(id, 1)
                .ok_or_else(|| unsupported("no shape"))?;
            let allowzero = attr_i(lowering.g, id, "allowzero", 0) != 0;
            let Some(target) = lowering.model.const_ints(sv) else {
                // Computed in the graph (Shape → Gather → Concat): sizes, which are never 0
                // unless a constant part says so (paddle2onnx writes [0, computed, …]); those
                // copy the input's size.
                let t = lowering.req(id, 1)?;
                let t = to_i32(lowering, t)?;
                if !allowzero && has_const_zero(lowering, sv) {
                    return super::dynamic::copy_zero_sizes(lowering, input, t);
                }
                return Ok(t);
            };
            if target.iter().filter(|&&d| d == -1).count() > 1 || target.iter().any(|&d| d < -1) {
                return Err(unsupported(format!("Reshape to {target:?}")));
            }
            target
                .iter()
                .enumerate()
                .map(|(i, &d)| match d {
                    0 if !allowzero => Piece::InDim(i),
                    d => Piece::Const(d),
                })
                .collect()
        }
        OnnxOp::Squeeze | OnnxOp::Unsqueeze => {
            // Output sizes in order: the input's axes, with 1s removed or inserted. A size
            // known now is taken as it is; the others are matched to input axes in order.
            let mut pieces = Vec::with_capacity(out_shape.len());
            let mut next = 0usize;
            for &d in out_shape {
                if op == OnnxOp::Unsqueeze && d == 1 && in_shape.get(next) != Some(&1) {
                    pieces.push(Piece::Const(1));
                    continue;
                }
                while op == OnnxOp::Squeeze && in_shape.get(next) == Some(&1) && d != 1 {
                    next += 1;
                }
                if next >= in_shape.len() {
                    return Err(unsupported("cannot match the output's axes to the input's"));
                }
                pieces.push(if d >= 0 {
                    Piece::Const(d)
                } else {
                    Piece::InDim(next)
                });
                next += 1;
            }
            pieces
        }
        _ => {
            // Flatten: [prod(head), prod(tail)] with both unknown: a head or tail of one
            // axis is that axis's size, the other side inferred.
            let rank = in_shape.len();
            let a = attr_i(lowering.g, id, "axis", 1);
            let axis = if a < 0 { a + rank as i64 } else { a };
            match axis {
                1 => vec![Piece::InDim(0), Piece::Const(-1)],
                a if a + 1 == rank as i64 => vec![Piece::Const(-1), Piece::InDim(rank - 1)],
                _ => return Err(unsupported("Flatten of unknown sizes on both sides")),
            }
        }
    };
    if pieces.len() != out_shape.len() {
        return Err(unsupported("shape of another rank than the output"));
    }
    shape_tensor(lowering, input, &pieces)
}

/// Whether the computed shape `v` is a Concat with a constant part holding a 0.
fn has_const_zero(lowering: &Lower, v: modelc_ir::ValueRef) -> bool {
    const_part_any(lowering, v, |x| x == 0)
}

/// Whether a constant part of the computed integers `v` (itself, or an input of the Concat
/// making it) holds a value `pred` accepts.
fn const_part_any(lowering: &Lower, v: modelc_ir::ValueRef, pred: impl Fn(i64) -> bool) -> bool {
    let v = lowering.model.resolve(v);
    let parts: Vec<modelc_ir::ValueRef> =
        if lowering.g.node(v.node).op.onnx() == Some(OnnxOp::Concat) {
            lowering.g.inputs_of(v.node).into_iter().flatten().collect()
        } else {
            vec![v]
        };
    parts.into_iter().any(|p| {
        lowering
            .model
            .const_ints(p)
            .is_some_and(|c| c.iter().any(|&x| pred(x)))
    })
}

/// The int32 begin or end tensor (of the input's rank) of a Slice whose input `slot` is
/// computed in the graph: its entry `k` at the axis `positions` gives it, zeros (masked)
/// elsewhere; GATHER from [values, 0].
fn computed_bound(
    lowering: &mut Lower,
    id: NodeId,
    slot: usize,
    positions: &[Option<usize>],
) -> Result<usize, TfliteError> {
    use super::dynamic::concat;
    let t = lowering.req(id, slot)?;
    let t = clamp_to_i32(lowering, t)?;
    let n = lowering.model.tensors[t]
        .shape
        .first()
        .copied()
        .unwrap_or(0);
    let zero = lowering.model.const_i32("zero", &[0], vec![1])?;
    let table = concat(lowering, &[t, zero])?;
    let idx: Vec<i32> = positions
        .iter()
        .map(|p| p.map_or(n as i32, |k| k as i32))
        .collect();
    super::dynamic::pick(lowering, table, &idx)
}

/// An int64 slice bound clamped into int32's range (MINIMUM, MAXIMUM) and CAST: INT64_MAX
/// ("to the end", as TFLite SLICE's size -1 imports) must stay past the end, not wrap to -1;
/// STRIDED_SLICE clamps to the axis itself. An int32 bound as it is.
fn clamp_to_i32(lowering: &mut Lower, t: usize) -> Result<usize, TfliteError> {
    let tt = &lowering.model.tensors[t];
    if tt.dtype != DType::I64 {
        return super::dynamic::to_i32(lowering, t);
    }
    let (name, shape) = (tt.name.clone(), tt.shape.to_vec());
    let mut v = t;
    for (code, bound) in [(B::MINIMUM, i32::MAX as i64), (B::MAXIMUM, i32::MIN as i64)] {
        let c = lowering.model.add_tensor(
            format!("{name}/limit_{}", lowering.model.tensors.len()),
            DType::I64,
            vec![],
            Some(&bytes::Bytes::from(bound.to_le_bytes().to_vec())),
            None,
        )?;
        let out = lowering.model.add_tensor(
            format!("{name}/clamped_{}", lowering.model.tensors.len()),
            DType::I64,
            shape.clone(),
            None,
            None,
        )?;
        lowering
            .model
            .emit(code, 1, &[Some(v), Some(c)], &[out], None);
        v = out;
    }
    super::dynamic::to_i32(lowering, v)
}

/// The [rank, 2] int32 paddings of a Pad whose pads are computed at run time (as a
/// TRANSPOSE_CONV of a run-time output_shape reads back): ONNX's [begins..., ends...]
/// clamped to int32, reordered to (begin, end) pairs by GATHER, and RESHAPEd. (A negative
/// pad, cropping in ONNX, makes LiteRT stop with an error rather than compute otherwise.)
fn run_time_paddings(lowering: &mut Lower, id: NodeId) -> Result<usize, TfliteError> {
    let rank = match lowering.in_shape(id, 0) {
        Some(s) if !s.is_empty() => s.len(),
        _ => {
            return Err(unsupported(
                "Pad of unknown rank with pads computed at run time",
            ))
        }
    };
    let pads = lowering.req(id, 1)?;
    if *lowering.model.tensors[pads].shape != [2 * rank as i64] {
        return Err(unsupported("pads of other than twice the input's rank"));
    }
    let pads = clamp_to_i32(lowering, pads)?;
    let order: Vec<i32> = (0..rank as i32)
        .flat_map(|i| [i, i + rank as i32])
        .collect();
    let pairs = super::dynamic::pick(lowering, pads, &order)?;
    let name = format!("{}/paddings", lowering.model.tensors[pads].name);
    let out = lowering
        .model
        .add_tensor(name, DType::I32, vec![rank as i64, 2], None, None)?;
    reshape(lowering, pairs, out, &[rank as i64, 2])?;
    Ok(out)
}

/// Emits STRIDED_SLICE (op version `version`) of tensor `input` into `out`: `window` is
/// [begin, end, strides] per axis; a set bit of the (begin, end) masks takes that end of the
/// axis's whole range.
pub(crate) fn strided_slice(
    lowering: &mut Lower,
    version: i32,
    input: usize,
    out: usize,
    window: &[Vec<i32>; 3],
    (begin_mask, end_mask): (i32, i32),
) -> Result<(), TfliteError> {
    let rank = window[0].len() as i64;
    let (bt, et, st) = (
        lowering.model.const_i32("begin", &window[0], vec![rank])?,
        lowering.model.const_i32("end", &window[1], vec![rank])?,
        lowering
            .model
            .const_i32("strides", &window[2], vec![rank])?,
    );
    emit_strided_slice(
        lowering,
        version,
        input,
        out,
        [bt, et, st],
        (begin_mask, end_mask),
    );
    Ok(())
}

/// STRIDED_SLICE of `input` by the int32 [begin, end, strides] tensors.
fn emit_strided_slice(
    lowering: &mut Lower,
    version: i32,
    input: usize,
    out: usize,
    [bt, et, st]: [usize; 3],
    (begin_mask, end_mask): (i32, i32),
) {
    let o = fb::StridedSliceOptions::create(
        &mut lowering.model.fbb,
        &fb::StridedSliceOptionsArgs {
            begin_mask,
            end_mask,
            ..Default::default()
        },
    )
    .as_union_value();
    lowering.model.emit(
        B::STRIDED_SLICE,
        version,
        &[Some(input), Some(bt), Some(et), Some(st)],
        &[out],
        Some((BuiltinOptions::StridedSliceOptions, o)),
    );
}

pub(crate) fn lower(lowering: &mut Lower, id: NodeId, op: OnnxOp) -> Result<(), TfliteError> {
    let v = if lowering.quantized { 2 } else { 1 };
    match op {
        OnnxOp::Reshape | OnnxOp::Flatten | OnnxOp::Squeeze | OnnxOp::Unsqueeze => {
            let shape = lowering
                .out_shape(0)
                .ok_or_else(|| unsupported("output shape unknown"))?;
            let a = lowering.req(id, 0)?;
            if shape.iter().filter(|&&d| d < 0).count() > 1 {
                let st = runtime_reshape(lowering, id, op, a, &shape)?;
                let out = lowering.output(0)?;
                return reshape_to(lowering, a, out, st);
            }
            let out = lowering.output(0)?;
            reshape(lowering, a, out, &shape)?;
        }
        OnnxOp::Transpose => {
            let a = lowering.req(id, 0)?;
            let rank = lowering.model.tensors[a].shape.len() as i64;
            let perm =
                attr_ints(lowering.g, id, "perm").unwrap_or_else(|| (0..rank).rev().collect());
            let out = lowering.output(0)?;
            transpose(lowering, a, &perm, out, v)?;
        }
        OnnxOp::Concat => {
            let n = lowering.g.node(id).num_inputs;
            let mut ins = Vec::new();
            for i in 0..n {
                ins.push(Some(lowering.req(id, i)?));
            }
            let out = lowering.output(0)?;
            // Integer inputs quantized unlike the output are requantized to it first, as
            // TensorFlow's converter arranges: XNNPACK refuses to prepare a CONCATENATION
            // whose inputs and output differ (LiteRT's own kernel rescales).
            if lowering.quantized {
                let q_out = lowering.model.tensors[out].quant.as_deref().cloned();
                for t in ins.iter_mut() {
                    let src = t.expect("every input is given");
                    if lowering.model.tensors[src].quant.as_deref() == q_out.as_ref() {
                        continue;
                    }
                    let st = &lowering.model.tensors[src];
                    let (name, dtype, shape) = (
                        format!("{}/requantized", st.name),
                        st.dtype,
                        st.shape.to_vec(),
                    );
                    let r = lowering
                        .model
                        .add_tensor(name, dtype, shape, None, q_out.clone())?;
                    lowering
                        .model
                        .emit(B::QUANTIZE, 2, &[Some(src)], &[r], None);
                    *t = Some(r);
                }
            }
            let rank = lowering.model.tensors[out].shape.len();
            let axis = norm_axis(attr_i(lowering.g, id, "axis", 0), rank)? as i32;
            let o = fb::ConcatenationOptions::create(
                &mut lowering.model.fbb,
                &fb::ConcatenationOptionsArgs {
                    axis,
                    fused_activation_function: lowering.act,
                },
            )
            .as_union_value();
            lowering.model.emit(
                B::CONCATENATION,
                v,
                &ins,
                &[out],
                Some((BuiltinOptions::ConcatenationOptions, o)),
            );
        }
        OnnxOp::Pad => {
            let ins = lowering.g.inputs_of(id);
            if ins.get(3).copied().flatten().is_some() {
                return Err(unsupported("Pad with axes"));
            }
            let pads_v = ins
                .get(1)
                .copied()
                .flatten()
                .ok_or_else(|| unsupported("no pads"))?;
            let pt = match lowering.model.const_ints(pads_v) {
                Some(pads) => {
                    if pads.iter().any(|&p| p < 0) {
                        return Err(unsupported("Pad with negative pads (cropping)"));
                    }
                    let r = pads.len() / 2;
                    let mut p = Vec::with_capacity(pads.len());
                    for i in 0..r {
                        p.push(pads[i]);
                        p.push(pads[i + r]);
                    }
                    lowering
                        .model
                        .const_i32("paddings", &i32s(&p), vec![r as i64, 2])?
                }
                None => run_time_paddings(lowering, id)?,
            };
            let a = lowering.req(id, 0)?;
            let mode = attr_s(lowering.g, id, "mode", "constant");
            let value = match mode.as_str() {
                "constant" => lowering.input(id, 2)?,
                "reflect" => None,
                other => return Err(unsupported(format!("Pad mode {other}"))),
            };
            // MIRROR_PAD checks every dimension against size - 1, so one of size 0 fails
            // to prepare even unpadded (reflecting nothing has no meaning either).
            if mode == "reflect" && lowering.model.tensors[a].shape.contains(&0) {
                return Err(unsupported(format!(
                    "reflect Pad of an input of shape {:?}, which has no elements",
                    lowering.model.tensors[a].shape
                )));
            }
            let out = lowering.output(0)?;
            if mode == "reflect" {
                let o = fb::MirrorPadOptions::create(
                    &mut lowering.model.fbb,
                    &fb::MirrorPadOptionsArgs {
                        mode: MirrorPadMode::REFLECT,
                    },
                )
                .as_union_value();
                lowering.model.emit(
                    B::MIRROR_PAD,
                    1,
                    &[Some(a), Some(pt)],
                    &[out],
                    Some((BuiltinOptions::MirrorPadOptions, o)),
                );
            } else if let Some(val) = value {
                let o = fb::PadV2Options::create(&mut lowering.model.fbb, &fb::PadV2OptionsArgs {})
                    .as_union_value();
                lowering.model.emit(
                    B::PADV2,
                    1,
                    &[Some(a), Some(pt), Some(val)],
                    &[out],
                    Some((BuiltinOptions::PadV2Options, o)),
                );
            } else {
                let o = fb::PadOptions::create(&mut lowering.model.fbb, &fb::PadOptionsArgs {})
                    .as_union_value();
                lowering.model.emit(
                    B::PAD,
                    v,
                    &[Some(a), Some(pt)],
                    &[out],
                    Some((BuiltinOptions::PadOptions, o)),
                );
            }
        }
        OnnxOp::ReduceMean
        | OnnxOp::ReduceSum
        | OnnxOp::ReduceMax
        | OnnxOp::ReduceMin
        | OnnxOp::ReduceProd => {
            let a = lowering.req(id, 0)?;
            let rank = lowering.model.tensors[a].shape.len();
            let axes = match lowering.g.input(id, 1) {
                Some(av) => lowering
                    .model
                    .const_ints(av)
                    .ok_or_else(|| unsupported("axes must be constant"))?,
                None => attr_ints(lowering.g, id, "axes").unwrap_or_default(),
            };
            // No axes: every axis, or (noop_with_empty_axes) none, which is the input itself.
            let axes = if axes.is_empty() {
                if attr_i(lowering.g, id, "noop_with_empty_axes", 0) != 0 {
                    return Err(unsupported("Reduce with no axes and noop_with_empty_axes"));
                }
                (0..rank as i64).collect()
            } else {
                axes
            };
            let axes: Vec<i64> = axes
                .iter()
                .map(|&a| norm_axis(a, rank))
                .collect::<Result<_, _>>()?;
            let at = lowering
                .model
                .const_i32("axes", &i32s(&axes), vec![axes.len() as i64])?;
            let keep = attr_i(lowering.g, id, "keepdims", 1) != 0;
            let out = lowering.output(0)?;
            let code = match op {
                OnnxOp::ReduceMean => B::MEAN,
                OnnxOp::ReduceSum => B::SUM,
                OnnxOp::ReduceMax => B::REDUCE_MAX,
                OnnxOp::ReduceMin => B::REDUCE_MIN,
                _ => B::REDUCE_PROD,
            };
            let o = fb::ReducerOptions::create(
                &mut lowering.model.fbb,
                &fb::ReducerOptionsArgs { keep_dims: keep },
            )
            .as_union_value();
            lowering.model.emit(
                code,
                v,
                &[Some(a), Some(at)],
                &[out],
                Some((BuiltinOptions::ReducerOptions, o)),
            );
        }
        OnnxOp::Slice => {
            let ins = lowering.g.inputs_of(id);
            let get = |i: usize| {
                ins.get(i)
                    .copied()
                    .flatten()
                    .map(|v| lowering.model.const_ints(v))
            };
            // Starts and ends computed in the graph (a crop to another tensor's size) are
            // STRIDED_SLICE's begin / end tensors; axes and steps must be constants.
            let starts = get(1).ok_or_else(|| unsupported("no starts"))?;
            let ends = get(2).ok_or_else(|| unsupported("no ends"))?;
            let n = match (&starts, &ends) {
                (Some(s), _) => s.len(),
                (None, Some(e)) => e.len(),
                (None, None) => {
                    let sv = ins[1].ok_or_else(|| unsupported("no starts"))?;
                    match lowering.model.shape_of(sv).as_deref() {
                        Some(&[n]) if n >= 0 => n as usize,
                        _ => return Err(unsupported("starts of unknown length")),
                    }
                }
            };
            let axes_in = get(3);
            let steps_in = get(4);
            let a = lowering.req(id, 0)?;
            let rank = lowering.model.tensors[a].shape.len();
            let axes = match axes_in {
                Some(Some(v)) => v,
                Some(None) => return Err(unsupported("axes must be constant")),
                None => (0..n as i64).collect(),
            };
            let steps = match steps_in {
                Some(Some(v)) => v,
                Some(None) => return Err(unsupported("steps must be constant")),
                None => vec![1; n],
            };
            if axes.len() != n || steps.len() != n {
                return Err(unsupported(
                    "starts, ends, axes and steps of different lengths",
                ));
            }
            let (mut b, mut e, mut s) = (vec![0i64; rank], vec![0i64; rank], vec![1i64; rank]);
            let (mut bm, mut em) = ((1i32 << rank) - 1, (1i32 << rank) - 1);
            let mut positions = vec![None; rank];
            for (k, &ax) in axes.iter().enumerate() {
                let ax = norm_axis(ax, rank)? as usize;
                positions[ax] = Some(k);
                let bit = 1 << ax;
                s[ax] = steps[k];
                let big = |v: i64| v >= i32::MAX as i64 || v <= i32::MIN as i64;
                match &starts {
                    Some(st) if big(st[k]) => {}
                    Some(st) => {
                        b[ax] = st[k];
                        bm &= !bit;
                    }
                    None => bm &= !bit,
                }
                match &ends {
                    Some(en) if big(en[k]) => {}
                    Some(en) => {
                        e[ax] = en[k];
                        em &= !bit;
                    }
                    None => em &= !bit,
                }
            }
            let out = lowering.output(0)?;
            if starts.is_some() && ends.is_some() {
                let window = [i32s(&b), i32s(&e), i32s(&s)];
                strided_slice(lowering, v, a, out, &window, (bm, em))?;
                return Ok(());
            }
            let mut bounds = [0usize; 2];
            for (i, (given, fixed)) in [(&starts, &b), (&ends, &e)].into_iter().enumerate() {
                bounds[i] = match given {
                    Some(_) => {
                        let c = i32s(fixed);
                        lowering.model.const_i32("bound", &c, vec![rank as i64])?
                    }
                    None => computed_bound(lowering, id, 1 + i, &positions)?,
                };
            }
            let st = lowering
                .model
                .const_i32("strides", &i32s(&s), vec![rank as i64])?;
            emit_strided_slice(lowering, v, a, out, [bounds[0], bounds[1], st], (bm, em));
        }
        OnnxOp::Gather => {
            let a = lowering.req(id, 0)?;
            let rank = lowering.model.tensors[a].shape.len();
            let axis = norm_axis(attr_i(lowering.g, id, "axis", 0), rank)? as i32;
            let i = gather_indices(lowering, id, lowering.model.tensors[a].shape[axis as usize])?;
            let out = lowering.output(0)?;
            let o = fb::GatherOptions::create(
                &mut lowering.model.fbb,
                &fb::GatherOptionsArgs {
                    axis,
                    batch_dims: 0,
                },
            )
            .as_union_value();
            lowering.model.emit(
                B::GATHER,
                v,
                &[Some(a), Some(i)],
                &[out],
                Some((BuiltinOptions::GatherOptions, o)),
            );
        }
        OnnxOp::Split => {
            let a = lowering.req(id, 0)?;
            let rank = lowering.model.tensors[a].shape.len();
            let axis = norm_axis(attr_i(lowering.g, id, "axis", 0), rank)?;
            let n = lowering.outs.len();
            let mut outs = Vec::new();
            for s in 0..n {
                outs.push(lowering.output(s)?);
            }
            let at = lowering.model.const_i32("axis", &[axis as i32], vec![])?;
            let sizes: Vec<i64> = outs
                .iter()
                .map(|&t| lowering.model.tensors[t].shape[axis as usize])
                .collect();
            if sizes.windows(2).all(|w| w[0] == w[1]) {
                let o = fb::SplitOptions::create(
                    &mut lowering.model.fbb,
                    &fb::SplitOptionsArgs {
                        num_splits: n as i32,
                    },
                )
                .as_union_value();
                lowering.model.emit(
                    B::SPLIT,
                    v,
                    &[Some(at), Some(a)],
                    &outs,
                    Some((BuiltinOptions::SplitOptions, o)),
                );
            } else {
                let szt = lowering
                    .model
                    .const_i32("size_splits", &i32s(&sizes), vec![n as i64])?;
                let o = fb::SplitVOptions::create(
                    &mut lowering.model.fbb,
                    &fb::SplitVOptionsArgs {
                        num_splits: n as i32,
                    },
                )
                .as_union_value();
                lowering.model.emit(
                    B::SPLIT_V,
                    v,
                    &[Some(a), Some(szt), Some(at)],
                    &outs,
                    Some((BuiltinOptions::SplitVOptions, o)),
                );
            }
        }
        OnnxOp::Resize => {
            if lowering.g.node(id).layout != Some(Layout::Nhwc) {
                return Err(unsupported("layout is NCHW"));
            }
            let shape = lowering
                .out_shape(0)
                .ok_or_else(|| unsupported("output shape unknown"))?;
            if shape.len() != 4 {
                return Err(unsupported("only 2-D resizes"));
            }
            let mode = attr_s(lowering.g, id, "mode", "nearest");
            let coord = attr_s(
                lowering.g,
                id,
                "coordinate_transformation_mode",
                "half_pixel",
            );
            let nearest = attr_s(lowering.g, id, "nearest_mode", "round_prefer_floor");
            let known = shape[1] >= 0 && shape[2] >= 0 && {
                let input = lowering.in_shape(id, 0).unwrap_or_default();
                input.len() == 4 && input[1] >= 0 && input[2] >= 0
            };
            let ((align, half), size) = if known {
                let flags = resize_flags(lowering, id, &shape, &mode, &coord, &nearest)?;
                let hw = [shape[1] as i32, shape[2] as i32];
                (flags, lowering.model.const_i32("size", &hw, vec![2])?)
            } else {
                resize_at_run_time(lowering, id, &mode, &coord, &nearest)?
            };
            let a = lowering.req(id, 0)?;
            let out = lowering.output(0)?;
            if mode == "linear" {
                let o = fb::ResizeBilinearOptions::create(
                    &mut lowering.model.fbb,
                    &fb::ResizeBilinearOptionsArgs {
                        align_corners: align,
                        half_pixel_centers: half,
                    },
                )
                .as_union_value();
                lowering.model.emit(
                    B::RESIZE_BILINEAR,
                    3,
                    &[Some(a), Some(size)],
                    &[out],
                    Some((BuiltinOptions::ResizeBilinearOptions, o)),
                );
            } else {
                let o = fb::ResizeNearestNeighborOptions::create(
                    &mut lowering.model.fbb,
                    &fb::ResizeNearestNeighborOptionsArgs {
                        align_corners: align,
                        half_pixel_centers: half,
                    },
                )
                .as_union_value();
                lowering.model.emit(
                    B::RESIZE_NEAREST_NEIGHBOR,
                    3,
                    &[Some(a), Some(size)],
                    &[out],
                    Some((BuiltinOptions::ResizeNearestNeighborOptions, o)),
                );
            }
        }
        OnnxOp::DepthToSpace | OnnxOp::SpaceToDepth => {
            if lowering.g.node(id).layout != Some(Layout::Nhwc) {
                return Err(unsupported("layout is NCHW"));
            }
            if op == OnnxOp::DepthToSpace && attr_s(lowering.g, id, "mode", "DCR") != "DCR" {
                return Err(unsupported("DepthToSpace CRD mode"));
            }
            let a = lowering.req(id, 0)?;
            let out = lowering.output(0)?;
            let block_size = attr_i(lowering.g, id, "blocksize", 1) as i32;
            if op == OnnxOp::DepthToSpace {
                let o = fb::DepthToSpaceOptions::create(
                    &mut lowering.model.fbb,
                    &fb::DepthToSpaceOptionsArgs { block_size },
                )
                .as_union_value();
                lowering.model.emit(
                    B::DEPTH_TO_SPACE,
                    v,
                    &[Some(a)],
                    &[out],
                    Some((BuiltinOptions::DepthToSpaceOptions, o)),
                );
            } else {
                let o = fb::SpaceToDepthOptions::create(
                    &mut lowering.model.fbb,
                    &fb::SpaceToDepthOptionsArgs { block_size },
                )
                .as_union_value();
                lowering.model.emit(
                    B::SPACE_TO_DEPTH,
                    v,
                    &[Some(a)],
                    &[out],
                    Some((BuiltinOptions::SpaceToDepthOptions, o)),
                );
            }
        }
        OnnxOp::Expand | OnnxOp::Tile => {
            let a = lowering.req(id, 0)?;
            // BROADCAST_TO takes the output's shape; ONNX's Expand shape is only broadcast
            // with the input's (`[1, 4, 1, 1]` expands [2, 1, 8, 8] to [2, 4, 8, 8]).
            let s = match lowering.out_shape(0) {
                Some(d) if op == OnnxOp::Expand && d.iter().all(|&v| (0..1 << 31).contains(&v)) => {
                    let d32: Vec<i32> = d.iter().map(|&v| v as i32).collect();
                    lowering
                        .model
                        .const_i32("shape", &d32, vec![d.len() as i64])?
                }
                _ => lowering.req(id, 1)?,
            };
            let out = lowering.output(0)?;
            let code = if op == OnnxOp::Expand {
                B::BROADCAST_TO
            } else {
                B::TILE
            };
            lowering.model.emit(
                code,
                if op == OnnxOp::Expand { 2 } else { 1 },
                &[Some(a), Some(s)],
                &[out],
                None,
            );
        }
        OnnxOp::Shape => {
            let a = lowering.req(id, 0)?;
            let out = lowering.output(0)?;
            let o = fb::ShapeOptions::create(
                &mut lowering.model.fbb,
                &fb::ShapeOptionsArgs {
                    out_type: crate::export::builder::tensor_type(DType::I64),
                },
            )
            .as_union_value();
            lowering.model.emit(
                B::SHAPE,
                1,
                &[Some(a)],
                &[out],
                Some((BuiltinOptions::ShapeOptions, o)),
            );
        }
        _ => return Err(unsupported("no TFLite translation")),
    }
    Ok(())
}

/// TFLite's `(align_corners, half_pixel_centers)` computing exactly what the ONNX Resize
/// `id` computes (NHWC output `shape`), or why none does. Bilinear: the coordinate modes
/// map one to one (`pytorch_half_pixel` is `half_pixel` unless an axis resizes to 1), and
/// the scales must give the sizes exactly (ONNX maps coordinates with the given scales,
/// TFLite with output / input size). Nearest: the flags whose source index for every
/// output position equals ONNX's (both computed here, in f32 as the runtimes do). That
/// covers the exact correspondences (`half_pixel` with `round_prefer_ceil`, `align_corners`
/// with `round_prefer_ceil`, `asymmetric` with `floor`) and the shapes where other modes
/// agree (integer upscales with `half_pixel` and either round-half mode, as PyTorch's
/// `nearest-exact` writes them).
fn resize_flags(
    lowering: &Lower,
    id: NodeId,
    shape: &[i64],
    mode: &str,
    coord: &str,
    nearest: &str,
) -> Result<(bool, bool), TfliteError> {
    let input = lowering
        .in_shape(id, 0)
        .ok_or_else(|| unsupported("input shape unknown"))?;
    if input.len() != 4 || input[0] != shape[0] || input[3] != shape[3] {
        return Err(unsupported("Resize of axes other than height and width"));
    }
    let (in_hw, out_hw) = ([input[1], input[2]], [shape[1], shape[2]]);
    if in_hw.iter().any(|&d| d < 1) {
        return Err(unsupported("Resize of an empty or unknown input size"));
    }
    // The flag search below maps every output row and column: a hostile size must not make
    // that (or the tensor) unbounded.
    if in_hw
        .iter()
        .chain(&out_hw)
        .any(|&d| !(1..=1 << 24).contains(&d))
    {
        return Err(unsupported("Resize sizes out of range"));
    }
    // The scales ONNX maps coordinates with: the given ones, else output / input.
    let scales_slot = if lowering.g.node(id).num_inputs == 2 {
        1
    } else {
        2
    };
    // Scales computed at run time may not give the sizes exactly (0.6 of 4 rows is 2 rows,
    // mapped by 1 / 0.6, where TFLite maps by 4 / 2): there is no telling here.
    if lowering.g.input(id, 3).is_none() {
        if let Some(v) = lowering.g.input(id, scales_slot) {
            if lowering.model.const_floats(v).is_none() {
                return Err(unsupported(
                    "Resize by scales computed at run time (ONNX maps coordinates by the \
                     scales, TFLite by output / input size)",
                ));
            }
        }
    }
    // With `axes` (opset 18) the scales list only those axes (NHWC positions by now).
    let given = lowering
        .g
        .input(id, scales_slot)
        .and_then(|v| lowering.model.const_floats(v))
        .filter(|s| !s.is_empty())
        .and_then(|s| match attr_ints(lowering.g, id, "axes") {
            None => (s.len() == 4).then_some(s),
            Some(axes) if axes.len() == s.len() => {
                let mut full = vec![1.0f32; 4];
                for (&a, &v) in axes.iter().zip(&s) {
                    *full.get_mut(if a < 0 { a + 4 } else { a } as usize)? = v;
                }
                Some(full)
            }
            Some(_) => None,
        });
    let scale: [f32; 2] = match &given {
        Some(s) => [s[1], s[2]],
        None => [0, 1].map(|a| out_hw[a] as f32 / in_hw[a] as f32),
    };
    let fail = || unsupported(format!("Resize {mode}/{coord}/{nearest}"));
    match mode {
        "linear" => {
            if attr_i(lowering.g, id, "antialias", 0) != 0 && (0..2).any(|a| out_hw[a] < in_hw[a]) {
                return Err(unsupported("antialiased downscaling Resize"));
            }
            // (An axis of size 1 kept so — a lifted 1-D resize's — reads its one row either
            // way.)
            if coord == "pytorch_half_pixel" && (0..2).any(|a| out_hw[a] == 1 && in_hw[a] != 1) {
                return Err(unsupported("pytorch_half_pixel Resize to size 1"));
            }
            for a in 0..2 {
                let exact = out_hw[a] as f64 / in_hw[a] as f64;
                if (scale[a] as f64 - exact).abs() > 1e-6 * exact {
                    return Err(unsupported(format!(
                        "Resize scale {} does not give the output size exactly ({} -> {})",
                        scale[a], in_hw[a], out_hw[a]
                    )));
                }
            }
            match coord {
                "align_corners" => Ok((true, false)),
                "half_pixel" | "pytorch_half_pixel" => Ok((false, true)),
                "asymmetric" => Ok((false, false)),
                _ => Err(fail()),
            }
        }
        "nearest" => {
            let onnx: Vec<Vec<i64>> = (0..2)
                .map(|a| onnx_nearest_indices(coord, nearest, scale[a], in_hw[a], out_hw[a]))
                .collect::<Option<_>>()
                .ok_or_else(fail)?;
            [(false, false), (false, true), (true, false)]
                .into_iter()
                .find(|&(align, half)| {
                    (0..2).all(|a| {
                        tflite_nearest_indices(align, half, in_hw[a], out_hw[a]) == onnx[a]
                    })
                })
                .ok_or_else(fail)
        }
        _ => Err(fail()),
    }
}

/// The flags and the int32 [height, width] size tensor of an NHWC Resize whose sizes are
/// known only at run time: constant integer scales (the size is SHAPE(input)[1:3] times
/// them, and TFLite's output / input ratio is then ONNX's scale exactly), or a `sizes` input
/// computed in the graph (ONNX's scale is then output / input as TFLite's). Bilinear: every
/// coordinate mode TFLite has (`pytorch_half_pixel` only with scales, which never resize to 1
/// from more). Nearest: with integer scales the flags whose source indices equal ONNX's for
/// every input size up to a period of the scale; with computed sizes only `asymmetric` with
/// `floor` (both read `floor(o · in / out)`).
fn resize_at_run_time(
    lowering: &mut Lower,
    id: NodeId,
    mode: &str,
    coord: &str,
    nearest: &str,
) -> Result<((bool, bool), usize), TfliteError> {
    use super::dynamic::{arith, shape_of, slice, to_i32};
    let input = lowering
        .in_shape(id, 0)
        .ok_or_else(|| unsupported("input shape unknown"))?;
    let output = lowering.out_shape(0).unwrap_or_default();
    if input.len() != 4 || output.len() != 4 || input[3] != output[3] {
        return Err(unsupported("Resize of axes other than height and width"));
    }
    let fail = || {
        unsupported(format!(
            "Resize {mode}/{coord}/{nearest} of a size unknown until run time"
        ))
    };
    if attr_ints(lowering.g, id, "axes").is_some() {
        return Err(unsupported(
            "Resize with axes of a size unknown until run time",
        ));
    }
    let node_inputs = lowering.g.node(id).num_inputs;
    let scales_slot = if node_inputs == 2 { 1 } else { 2 };
    let scales = lowering
        .g
        .input(id, scales_slot)
        .and_then(|v| lowering.model.const_floats(v))
        .filter(|s| !s.is_empty());
    let sizes = lowering.g.input(id, 3).filter(|_| scales.is_none());
    if let Some(sc) = scales {
        if sc.len() != 4 || sc[0] != 1.0 || sc[3] != 1.0 {
            return Err(unsupported("Resize scaling the batch or channels"));
        }
        let factor = [sc[1], sc[2]];
        if factor
            .iter()
            .any(|&f| f.fract() != 0.0 || !(1.0..=1024.0).contains(&f))
        {
            return Err(unsupported(format!(
                "Resize by scales {factor:?} (not whole numbers) of a size unknown until run time"
            )));
        }
        let f = factor.map(|f| f as i64);
        let flags = match mode {
            "linear" => {
                if attr_i(lowering.g, id, "antialias", 0) != 0 && f.contains(&1) {
                    return Err(unsupported("antialiased Resize by 1"));
                }
                match coord {
                    "align_corners" => (true, false),
                    "half_pixel" | "pytorch_half_pixel" => (false, true),
                    "asymmetric" => (false, false),
                    _ => return Err(fail()),
                }
            }
            // The index pattern of an integer upscale repeats every input row: sizes up to
            // 64 cover it.
            "nearest" => [(false, false), (false, true), (true, false)]
                .into_iter()
                .find(|&(align, half)| {
                    (1..=64).all(|n: i64| {
                        (0..2).all(|a| {
                            let want =
                                onnx_nearest_indices(coord, nearest, f[a] as f32, n, n * f[a]);
                            want.is_some_and(|w| {
                                tflite_nearest_indices(align, half, n, n * f[a]) == w
                            })
                        })
                    })
                })
                .ok_or_else(fail)?,
            _ => return Err(fail()),
        };
        let x = lowering.req(id, 0)?;
        let dims = shape_of(lowering, x)?;
        let hw = slice(lowering, dims, 1, 3)?;
        let size = if f == [1, 1] {
            hw
        } else {
            arith(lowering, B::MUL, hw, &[f[0] as i32, f[1] as i32])?
        };
        return Ok((flags, size));
    }
    let Some(sv) = sizes else {
        return Err(unsupported("Resize without scales or sizes"));
    };
    let flags = match (mode, coord, nearest) {
        ("linear", "align_corners", _) => (true, false),
        ("linear", "half_pixel", _) => (false, true),
        ("linear", "asymmetric", _) => (false, false),
        ("nearest", "asymmetric", "floor") => (false, false),
        _ => return Err(fail()),
    };
    // NHWC by now (the layout pass reorders a computed list too): [N, H, W, C].
    let st = lowering.input_value(sv)?;
    if *lowering.model.tensors[st].shape != [4] {
        return Err(unsupported("Resize sizes of other than 4 entries"));
    }
    let st = to_i32(lowering, st)?;
    let size = slice(lowering, st, 1, 3)?;
    Ok((flags, size))
}

/// ONNX Resize's nearest source index for each output position along one axis.
fn onnx_nearest_indices(
    coord: &str,
    rounding: &str,
    scale: f32,
    n_in: i64,
    n_out: i64,
) -> Option<Vec<i64>> {
    (0..n_out)
        .map(|o| {
            let lowering = o as f32;
            let src = match coord {
                "half_pixel" => (lowering + 0.5) / scale - 0.5,
                "pytorch_half_pixel" if n_out > 1 => (lowering + 0.5) / scale - 0.5,
                "pytorch_half_pixel" => 0.0,
                "align_corners" if n_out > 1 => lowering * (n_in - 1) as f32 / (n_out - 1) as f32,
                "align_corners" => 0.0,
                "asymmetric" => lowering / scale,
                "tf_half_pixel_for_nn" => (lowering + 0.5) / scale,
                _ => return None,
            };
            let i = match rounding {
                "round_prefer_floor" if src.fract().abs() == 0.5 => src.floor(),
                "round_prefer_ceil" if src.fract().abs() == 0.5 => src.ceil(),
                "round_prefer_floor" | "round_prefer_ceil" => src.round(),
                "floor" => src.floor(),
                "ceil" => src.ceil(),
                _ => return None,
            };
            Some((i as i64).clamp(0, n_in - 1))
        })
        .collect()
}

/// TFLite RESIZE_NEAREST_NEIGHBOR's source index for each output position along one axis
/// (LiteRT's reference kernel).
fn tflite_nearest_indices(align: bool, half: bool, n_in: i64, n_out: i64) -> Vec<i64> {
    let scale = if align && n_out > 1 {
        (n_in - 1) as f32 / (n_out - 1) as f32
    } else {
        n_in as f32 / n_out as f32
    };
    let offset = if half { 0.5 } else { 0.0 };
    (0..n_out)
        .map(|o| {
            let v = (o as f32 + offset) * scale;
            let i = if align { v.round() } else { v.floor() } as i64;
            i.clamp(0, n_in - 1)
        })
        .collect()
}

/// Gather's indices: TFLite's GATHER takes only indices in [0, n); ONNX counts negative
/// ones from the end (`x[:, -1]` exports as a constant -1). Constant indices are made
/// non-negative here; others must already be.
fn gather_indices(lowering: &mut Lower, id: NodeId, n: i64) -> Result<usize, TfliteError> {
    let iv = lowering
        .g
        .input(id, 1)
        .ok_or_else(|| unsupported("no indices"))?;
    let Some(values) = lowering.model.const_ints(iv) else {
        return lowering.req(id, 1);
    };
    if values.iter().all(|&v| v >= 0) {
        return lowering.req(id, 1);
    }
    if n < 0 {
        return Err(unsupported(
            "negative Gather indices on an axis of unknown size",
        ));
    }
    let fixed: Vec<i64> = values
        .iter()
        .map(|&v| if v < 0 { v + n } else { v })
        .collect();
    if fixed.iter().any(|&v| v < 0 || v >= n) {
        return Err(unsupported("Gather index out of range"));
    }
    let dims = lowering
        .model
        .const_of(iv)
        .map(|t| t.dims.clone())
        .unwrap_or_default();
    let shape: Vec<i64> = dims.iter().map(|&d| d as i64).collect();
    let name = format!("{}/nonneg", lowering.model.value_name(iv));
    lowering.model.const_i32(&name, &i32s(&fixed), shape)
}
