//! Data-movement and reduction ops.
//! - `Reshape` / `Flatten` / `Squeeze` / `Unsqueeze` → RESHAPE to the (inferred) output shape;
//! - `Transpose` → TRANSPOSE; `Concat` → CONCATENATION; `Pad` (constant pads; constant /
//!   reflect mode) → PAD / PADV2 / MIRROR_PAD;
//! - `ReduceMean`/`Sum`/`Max`/`Min`/`Prod` (constant axes) → MEAN / SUM / REDUCE_*;
//! - `Slice` (constant starts/ends/axes/steps) → STRIDED_SLICE; `Gather` → GATHER;
//!   `Split` → SPLIT / SPLIT_V;
//! - `Resize` (NHWC, 2-D) → RESIZE_BILINEAR / RESIZE_NEAREST_NEIGHBOR;
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
    x: &mut Lower,
    input: usize,
    perm: &[i64],
    out: usize,
    version: i32,
) -> Result<(), TfliteError> {
    let pt =
        x.b.const_i32("perm", &i32s(perm), vec![perm.len() as i64])?;
    let o =
        fb::TransposeOptions::create(&mut x.b.fbb, &fb::TransposeOptionsArgs {}).as_union_value();
    x.b.emit(
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
    x: &mut Lower,
    input: usize,
    out: usize,
    shape: &[i64],
) -> Result<(), TfliteError> {
    let s = i32s(shape);
    let (inputs, option) = if s.is_empty() {
        (vec![Some(input)], vec![0])
    } else {
        let st = x.b.const_i32("shape", &s, vec![s.len() as i64])?;
        (vec![Some(input), Some(st)], s)
    };
    let ns = x.b.fbb.create_vector(&option);
    let o = fb::ReshapeOptions::create(
        &mut x.b.fbb,
        &fb::ReshapeOptionsArgs {
            new_shape: Some(ns),
        },
    )
    .as_union_value();
    x.b.emit(
        B::RESHAPE,
        1,
        &inputs,
        &[out],
        Some((BuiltinOptions::ReshapeOptions, o)),
    );
    Ok(())
}

/// Emits STRIDED_SLICE (op version `version`) of tensor `input` into `out`: `window` is
/// [begin, end, strides] per axis; a set bit of the (begin, end) masks takes that end of the
/// axis's whole range.
pub(crate) fn strided_slice(
    x: &mut Lower,
    version: i32,
    input: usize,
    out: usize,
    window: &[Vec<i32>; 3],
    (begin_mask, end_mask): (i32, i32),
) -> Result<(), TfliteError> {
    let rank = window[0].len() as i64;
    let (bt, et, st) = (
        x.b.const_i32("begin", &window[0], vec![rank])?,
        x.b.const_i32("end", &window[1], vec![rank])?,
        x.b.const_i32("strides", &window[2], vec![rank])?,
    );
    let o = fb::StridedSliceOptions::create(
        &mut x.b.fbb,
        &fb::StridedSliceOptionsArgs {
            begin_mask,
            end_mask,
            ..Default::default()
        },
    )
    .as_union_value();
    x.b.emit(
        B::STRIDED_SLICE,
        version,
        &[Some(input), Some(bt), Some(et), Some(st)],
        &[out],
        Some((BuiltinOptions::StridedSliceOptions, o)),
    );
    Ok(())
}

pub(crate) fn lower(x: &mut Lower, id: NodeId, op: OnnxOp) -> Result<(), TfliteError> {
    let v = if x.quantized { 2 } else { 1 };
    match op {
        OnnxOp::Reshape | OnnxOp::Flatten | OnnxOp::Squeeze | OnnxOp::Unsqueeze => {
            let shape = x
                .out_shape(0)
                .ok_or_else(|| unsupported("output shape unknown"))?;
            if shape.iter().filter(|&&d| d < 0).count() > 1 {
                return Err(unsupported("more than one unknown dimension"));
            }
            let a = x.req(id, 0)?;
            let out = x.output(0)?;
            reshape(x, a, out, &shape)?;
        }
        OnnxOp::Transpose => {
            let a = x.req(id, 0)?;
            let rank = x.b.tensors[a].shape.len() as i64;
            let perm = attr_ints(x.g, id, "perm").unwrap_or_else(|| (0..rank).rev().collect());
            let out = x.output(0)?;
            transpose(x, a, &perm, out, v)?;
        }
        OnnxOp::Concat => {
            let n = x.g.node(id).num_inputs;
            let mut ins = Vec::new();
            for i in 0..n {
                ins.push(Some(x.req(id, i)?));
            }
            let out = x.output(0)?;
            // Integer inputs quantized unlike the output are requantized to it first, as
            // TensorFlow's converter arranges: XNNPACK refuses to prepare a CONCATENATION
            // whose inputs and output differ (LiteRT's own kernel rescales).
            if x.quantized {
                let q_out = x.b.tensors[out].quant.clone();
                for t in ins.iter_mut() {
                    let src = t.expect("every input is given");
                    if x.b.tensors[src].quant == q_out {
                        continue;
                    }
                    let st = &x.b.tensors[src];
                    let (name, dtype, shape) = (
                        format!("{}/requantized", st.name),
                        st.dtype,
                        st.shape.clone(),
                    );
                    let r = x.b.add_tensor(name, dtype, shape, None, q_out.clone())?;
                    x.b.emit(B::QUANTIZE, 2, &[Some(src)], &[r], None);
                    *t = Some(r);
                }
            }
            let rank = x.b.tensors[out].shape.len();
            let axis = norm_axis(attr_i(x.g, id, "axis", 0), rank)? as i32;
            let o = fb::ConcatenationOptions::create(
                &mut x.b.fbb,
                &fb::ConcatenationOptionsArgs {
                    axis,
                    fused_activation_function: x.act,
                },
            )
            .as_union_value();
            x.b.emit(
                B::CONCATENATION,
                v,
                &ins,
                &[out],
                Some((BuiltinOptions::ConcatenationOptions, o)),
            );
        }
        OnnxOp::Pad => {
            let ins = x.g.inputs_of(id);
            if ins.get(3).copied().flatten().is_some() {
                return Err(unsupported("Pad with axes"));
            }
            let pads = ins
                .get(1)
                .copied()
                .flatten()
                .and_then(|p| x.b.const_ints(p))
                .ok_or_else(|| unsupported("pads must be constant"))?;
            if pads.iter().any(|&p| p < 0) {
                return Err(unsupported("Pad with negative pads (cropping)"));
            }
            let r = pads.len() / 2;
            let mut p = Vec::with_capacity(pads.len());
            for i in 0..r {
                p.push(pads[i]);
                p.push(pads[i + r]);
            }
            let a = x.req(id, 0)?;
            let pt = x.b.const_i32("paddings", &i32s(&p), vec![r as i64, 2])?;
            let mode = attr_s(x.g, id, "mode", "constant");
            let value = match mode.as_str() {
                "constant" => x.input(id, 2)?,
                "reflect" => None,
                other => return Err(unsupported(format!("Pad mode {other}"))),
            };
            let out = x.output(0)?;
            if mode == "reflect" {
                let o = fb::MirrorPadOptions::create(
                    &mut x.b.fbb,
                    &fb::MirrorPadOptionsArgs {
                        mode: MirrorPadMode::REFLECT,
                    },
                )
                .as_union_value();
                x.b.emit(
                    B::MIRROR_PAD,
                    1,
                    &[Some(a), Some(pt)],
                    &[out],
                    Some((BuiltinOptions::MirrorPadOptions, o)),
                );
            } else if let Some(val) = value {
                let o = fb::PadV2Options::create(&mut x.b.fbb, &fb::PadV2OptionsArgs {})
                    .as_union_value();
                x.b.emit(
                    B::PADV2,
                    1,
                    &[Some(a), Some(pt), Some(val)],
                    &[out],
                    Some((BuiltinOptions::PadV2Options, o)),
                );
            } else {
                let o =
                    fb::PadOptions::create(&mut x.b.fbb, &fb::PadOptionsArgs {}).as_union_value();
                x.b.emit(
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
            let a = x.req(id, 0)?;
            let rank = x.b.tensors[a].shape.len();
            let axes = match x.g.input(id, 1) {
                Some(av) => {
                    x.b.const_ints(av)
                        .ok_or_else(|| unsupported("axes must be constant"))?
                }
                None => attr_ints(x.g, id, "axes").unwrap_or_default(),
            };
            // No axes: every axis, or (noop_with_empty_axes) none, which is the input itself.
            let axes = if axes.is_empty() {
                if attr_i(x.g, id, "noop_with_empty_axes", 0) != 0 {
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
            let at =
                x.b.const_i32("axes", &i32s(&axes), vec![axes.len() as i64])?;
            let keep = attr_i(x.g, id, "keepdims", 1) != 0;
            let out = x.output(0)?;
            let code = match op {
                OnnxOp::ReduceMean => B::MEAN,
                OnnxOp::ReduceSum => B::SUM,
                OnnxOp::ReduceMax => B::REDUCE_MAX,
                OnnxOp::ReduceMin => B::REDUCE_MIN,
                _ => B::REDUCE_PROD,
            };
            let o = fb::ReducerOptions::create(
                &mut x.b.fbb,
                &fb::ReducerOptionsArgs { keep_dims: keep },
            )
            .as_union_value();
            x.b.emit(
                code,
                v,
                &[Some(a), Some(at)],
                &[out],
                Some((BuiltinOptions::ReducerOptions, o)),
            );
        }
        OnnxOp::Slice => {
            let ins = x.g.inputs_of(id);
            let get = |i: usize| ins.get(i).copied().flatten().map(|v| x.b.const_ints(v));
            let starts = get(1)
                .flatten()
                .ok_or_else(|| unsupported("starts must be constant"))?;
            let ends = get(2)
                .flatten()
                .ok_or_else(|| unsupported("ends must be constant"))?;
            let axes_in = get(3);
            let steps_in = get(4);
            let a = x.req(id, 0)?;
            let rank = x.b.tensors[a].shape.len();
            let axes = match axes_in {
                Some(Some(v)) => v,
                Some(None) => return Err(unsupported("axes must be constant")),
                None => (0..starts.len() as i64).collect(),
            };
            let steps = match steps_in {
                Some(Some(v)) => v,
                Some(None) => return Err(unsupported("steps must be constant")),
                None => vec![1; starts.len()],
            };
            let (mut b, mut e, mut s) = (vec![0i64; rank], vec![0i64; rank], vec![1i64; rank]);
            let (mut bm, mut em) = ((1i32 << rank) - 1, (1i32 << rank) - 1);
            for (k, &ax) in axes.iter().enumerate() {
                let ax = norm_axis(ax, rank)? as usize;
                let bit = 1 << ax;
                s[ax] = steps[k];
                let big = |v: i64| v >= i32::MAX as i64 || v <= i32::MIN as i64;
                if !big(starts[k]) {
                    b[ax] = starts[k];
                    bm &= !bit;
                }
                if !big(ends[k]) {
                    e[ax] = ends[k];
                    em &= !bit;
                }
            }
            let out = x.output(0)?;
            let window = [i32s(&b), i32s(&e), i32s(&s)];
            strided_slice(x, v, a, out, &window, (bm, em))?;
        }
        OnnxOp::Gather => {
            let a = x.req(id, 0)?;
            let rank = x.b.tensors[a].shape.len();
            let axis = norm_axis(attr_i(x.g, id, "axis", 0), rank)? as i32;
            let i = gather_indices(x, id, x.b.tensors[a].shape[axis as usize])?;
            let out = x.output(0)?;
            let o = fb::GatherOptions::create(
                &mut x.b.fbb,
                &fb::GatherOptionsArgs {
                    axis,
                    batch_dims: 0,
                },
            )
            .as_union_value();
            x.b.emit(
                B::GATHER,
                v,
                &[Some(a), Some(i)],
                &[out],
                Some((BuiltinOptions::GatherOptions, o)),
            );
        }
        OnnxOp::Split => {
            let a = x.req(id, 0)?;
            let rank = x.b.tensors[a].shape.len();
            let axis = norm_axis(attr_i(x.g, id, "axis", 0), rank)?;
            let n = x.outs.len();
            let mut outs = Vec::new();
            for s in 0..n {
                outs.push(x.output(s)?);
            }
            let at = x.b.const_i32("axis", &[axis as i32], vec![])?;
            let sizes: Vec<i64> = outs
                .iter()
                .map(|&t| x.b.tensors[t].shape[axis as usize])
                .collect();
            if sizes.windows(2).all(|w| w[0] == w[1]) {
                let o = fb::SplitOptions::create(
                    &mut x.b.fbb,
                    &fb::SplitOptionsArgs {
                        num_splits: n as i32,
                    },
                )
                .as_union_value();
                x.b.emit(
                    B::SPLIT,
                    v,
                    &[Some(at), Some(a)],
                    &outs,
                    Some((BuiltinOptions::SplitOptions, o)),
                );
            } else {
                let szt =
                    x.b.const_i32("size_splits", &i32s(&sizes), vec![n as i64])?;
                let o = fb::SplitVOptions::create(
                    &mut x.b.fbb,
                    &fb::SplitVOptionsArgs {
                        num_splits: n as i32,
                    },
                )
                .as_union_value();
                x.b.emit(
                    B::SPLIT_V,
                    v,
                    &[Some(a), Some(szt), Some(at)],
                    &outs,
                    Some((BuiltinOptions::SplitVOptions, o)),
                );
            }
        }
        OnnxOp::Resize => {
            if x.g.node(id).layout != Some(Layout::Nhwc) {
                return Err(unsupported("layout is NCHW"));
            }
            let shape = x
                .out_shape(0)
                .ok_or_else(|| unsupported("output shape unknown"))?;
            if shape.len() != 4 || shape[1] < 0 || shape[2] < 0 {
                return Err(unsupported("only 2-D resizes of known size"));
            }
            let mode = attr_s(x.g, id, "mode", "nearest");
            let coord = attr_s(x.g, id, "coordinate_transformation_mode", "half_pixel");
            let nearest = attr_s(x.g, id, "nearest_mode", "round_prefer_floor");
            let (align, half) = resize_flags(x, id, &shape, &mode, &coord, &nearest)?;
            let a = x.req(id, 0)?;
            let size =
                x.b.const_i32("size", &[shape[1] as i32, shape[2] as i32], vec![2])?;
            let out = x.output(0)?;
            if mode == "linear" {
                let o = fb::ResizeBilinearOptions::create(
                    &mut x.b.fbb,
                    &fb::ResizeBilinearOptionsArgs {
                        align_corners: align,
                        half_pixel_centers: half,
                    },
                )
                .as_union_value();
                x.b.emit(
                    B::RESIZE_BILINEAR,
                    3,
                    &[Some(a), Some(size)],
                    &[out],
                    Some((BuiltinOptions::ResizeBilinearOptions, o)),
                );
            } else {
                let o = fb::ResizeNearestNeighborOptions::create(
                    &mut x.b.fbb,
                    &fb::ResizeNearestNeighborOptionsArgs {
                        align_corners: align,
                        half_pixel_centers: half,
                    },
                )
                .as_union_value();
                x.b.emit(
                    B::RESIZE_NEAREST_NEIGHBOR,
                    3,
                    &[Some(a), Some(size)],
                    &[out],
                    Some((BuiltinOptions::ResizeNearestNeighborOptions, o)),
                );
            }
        }
        OnnxOp::DepthToSpace | OnnxOp::SpaceToDepth => {
            if x.g.node(id).layout != Some(Layout::Nhwc) {
                return Err(unsupported("layout is NCHW"));
            }
            if op == OnnxOp::DepthToSpace && attr_s(x.g, id, "mode", "DCR") != "DCR" {
                return Err(unsupported("DepthToSpace CRD mode"));
            }
            let a = x.req(id, 0)?;
            let out = x.output(0)?;
            let block_size = attr_i(x.g, id, "blocksize", 1) as i32;
            if op == OnnxOp::DepthToSpace {
                let o = fb::DepthToSpaceOptions::create(
                    &mut x.b.fbb,
                    &fb::DepthToSpaceOptionsArgs { block_size },
                )
                .as_union_value();
                x.b.emit(
                    B::DEPTH_TO_SPACE,
                    v,
                    &[Some(a)],
                    &[out],
                    Some((BuiltinOptions::DepthToSpaceOptions, o)),
                );
            } else {
                let o = fb::SpaceToDepthOptions::create(
                    &mut x.b.fbb,
                    &fb::SpaceToDepthOptionsArgs { block_size },
                )
                .as_union_value();
                x.b.emit(
                    B::SPACE_TO_DEPTH,
                    v,
                    &[Some(a)],
                    &[out],
                    Some((BuiltinOptions::SpaceToDepthOptions, o)),
                );
            }
        }
        OnnxOp::Expand | OnnxOp::Tile => {
            let a = x.req(id, 0)?;
            // BROADCAST_TO takes the output's shape; ONNX's Expand shape is only broadcast
            // with the input's (`[1, 4, 1, 1]` expands [2, 1, 8, 8] to [2, 4, 8, 8]).
            let s = match x.out_shape(0) {
                Some(d) if op == OnnxOp::Expand && d.iter().all(|&v| (0..1 << 31).contains(&v)) => {
                    let d32: Vec<i32> = d.iter().map(|&v| v as i32).collect();
                    x.b.const_i32("shape", &d32, vec![d.len() as i64])?
                }
                _ => x.req(id, 1)?,
            };
            let out = x.output(0)?;
            let code = if op == OnnxOp::Expand {
                B::BROADCAST_TO
            } else {
                B::TILE
            };
            x.b.emit(
                code,
                if op == OnnxOp::Expand { 2 } else { 1 },
                &[Some(a), Some(s)],
                &[out],
                None,
            );
        }
        OnnxOp::Shape => {
            let a = x.req(id, 0)?;
            let out = x.output(0)?;
            let o = fb::ShapeOptions::create(
                &mut x.b.fbb,
                &fb::ShapeOptionsArgs {
                    out_type: crate::export::builder::tensor_type(DType::I64),
                },
            )
            .as_union_value();
            x.b.emit(
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
    x: &Lower,
    id: NodeId,
    shape: &[i64],
    mode: &str,
    coord: &str,
    nearest: &str,
) -> Result<(bool, bool), TfliteError> {
    let input = x
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
    let scales_slot = if x.g.node(id).num_inputs == 2 { 1 } else { 2 };
    // With `axes` (opset 18) the scales list only those axes (NHWC positions by now).
    let given =
        x.g.input(id, scales_slot)
            .and_then(|v| x.b.const_floats(v))
            .filter(|s| !s.is_empty())
            .and_then(|s| match attr_ints(x.g, id, "axes") {
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
            if attr_i(x.g, id, "antialias", 0) != 0 && (0..2).any(|a| out_hw[a] < in_hw[a]) {
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
            let x = o as f32;
            let src = match coord {
                "half_pixel" => (x + 0.5) / scale - 0.5,
                "pytorch_half_pixel" if n_out > 1 => (x + 0.5) / scale - 0.5,
                "pytorch_half_pixel" => 0.0,
                "align_corners" if n_out > 1 => x * (n_in - 1) as f32 / (n_out - 1) as f32,
                "align_corners" => 0.0,
                "asymmetric" => x / scale,
                "tf_half_pixel_for_nn" => (x + 0.5) / scale,
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
fn gather_indices(x: &mut Lower, id: NodeId, n: i64) -> Result<usize, TfliteError> {
    let iv = x.g.input(id, 1).ok_or_else(|| unsupported("no indices"))?;
    let Some(values) = x.b.const_ints(iv) else {
        return x.req(id, 1);
    };
    if values.iter().all(|&v| v >= 0) {
        return x.req(id, 1);
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
    let dims = x.b.const_of(iv).map(|t| t.dims.clone()).unwrap_or_default();
    let shape: Vec<i64> = dims.iter().map(|&d| d as i64).collect();
    let name = format!("{}/nonneg", x.b.value_name(iv));
    x.b.const_i32(&name, &i32s(&fixed), shape)
}
