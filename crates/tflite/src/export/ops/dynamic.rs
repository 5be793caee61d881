//! Run-time shape arithmetic for dimensions unknown until the model runs (`shape_signature`
//! -1): the int32 shape tensors that RESHAPE, RESIZE_* and TRANSPOSE_CONV read, computed in
//! the file from SHAPE of a tensor with STRIDED_SLICE, GATHER, MUL, ADD and CONCATENATION,
//! the forms TensorFlow's converter emits for a model saved with unknown sizes.

use modelc_ir::DType;

use crate::export::lower::Lower;
use crate::fb::{self, ActivationFunctionType, BuiltinOperator as B, BuiltinOptions};
use crate::TfliteError;

/// One element of a shape computed at run time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Piece {
    /// A size known now (or -1: RESHAPE's one inferred dimension).
    Const(i64),
    /// The size of the input's axis at run time.
    InDim(usize),
}

/// An int32 tensor of `shape` (no data), named after `base`.
fn i32_tensor(lowering: &mut Lower, base: &str, shape: Vec<i64>) -> Result<usize, TfliteError> {
    let name = format!("{base}_{}", lowering.model.tensors.len());
    lowering
        .model
        .add_tensor(name, DType::I32, shape, None, None)
}

/// SHAPE of tensor `t` as int32 (the type RESHAPE, RESIZE_* and TRANSPOSE_CONV read).
pub(crate) fn shape_of(lowering: &mut Lower, t: usize) -> Result<usize, TfliteError> {
    let rank = lowering.model.tensors[t].shape.len() as i64;
    let base = format!("{}/shape", lowering.model.tensors[t].name);
    let out = i32_tensor(lowering, &base, vec![rank])?;
    let o = fb::ShapeOptions::create(
        &mut lowering.model.fbb,
        &fb::ShapeOptionsArgs {
            out_type: fb::TensorType::INT32,
        },
    )
    .as_union_value();
    lowering.model.emit(
        B::SHAPE,
        1,
        &[Some(t)],
        &[out],
        Some((BuiltinOptions::ShapeOptions, o)),
    );
    Ok(out)
}

/// Elements `begin..end` of the 1-D int32 tensor `v`.
pub(crate) fn slice(
    lowering: &mut Lower,
    v: usize,
    begin: i64,
    end: i64,
) -> Result<usize, TfliteError> {
    let base = format!("{}/slice", lowering.model.tensors[v].name);
    let out = i32_tensor(lowering, &base, vec![end - begin])?;
    let window = [vec![begin as i32], vec![end as i32], vec![1]];
    super::shape::strided_slice(lowering, 1, v, out, &window, (0, 0))?;
    Ok(out)
}

/// `a ⊙ b` element-wise (MUL or ADD) of int32 tensors, `b` a constant of `a`'s length.
pub(crate) fn arith(
    lowering: &mut Lower,
    code: B,
    a: usize,
    b: &[i32],
) -> Result<usize, TfliteError> {
    let n = b.len() as i64;
    let bt = lowering.model.const_i32("operand", b, vec![n])?;
    let base = format!("{}/arith", lowering.model.tensors[a].name);
    let out = i32_tensor(lowering, &base, vec![n])?;
    let act = ActivationFunctionType::NONE;
    let options = if code == B::MUL {
        let o = fb::MulOptions::create(
            &mut lowering.model.fbb,
            &fb::MulOptionsArgs {
                fused_activation_function: act,
            },
        );
        (BuiltinOptions::MulOptions, o.as_union_value())
    } else {
        let o = fb::AddOptions::create(
            &mut lowering.model.fbb,
            &fb::AddOptionsArgs {
                fused_activation_function: act,
                pot_scale_int16: true,
            },
        );
        (BuiltinOptions::AddOptions, o.as_union_value())
    };
    lowering
        .model
        .emit(code, 1, &[Some(a), Some(bt)], &[out], Some(options));
    Ok(out)
}

/// CONCATENATION of 1-D int32 tensors.
pub(crate) fn concat(lowering: &mut Lower, parts: &[usize]) -> Result<usize, TfliteError> {
    let len: i64 = parts
        .iter()
        .map(|&p| {
            lowering.model.tensors[p]
                .shape
                .first()
                .copied()
                .unwrap_or(1)
        })
        .sum();
    let out = i32_tensor(lowering, "shape", vec![len])?;
    concat_into(lowering, parts, out, 0)?;
    Ok(out)
}

/// The int32 shape tensor `pieces` describe for `input`: a constant when every piece is known
/// now, else the known sizes and SHAPE(`input`) gathered in order.
pub(crate) fn shape_tensor(
    lowering: &mut Lower,
    input: usize,
    pieces: &[Piece],
) -> Result<usize, TfliteError> {
    let in_shape = lowering.model.tensors[input].shape.to_vec();
    // Sizes the input's tensor already knows are constants.
    let pieces: Vec<Piece> = pieces
        .iter()
        .map(|&p| match p {
            Piece::InDim(a) if in_shape.get(a).is_some_and(|&d| d >= 0) => {
                Piece::Const(in_shape[a])
            }
            p => p,
        })
        .collect();
    let n = pieces.len() as i64;
    let consts: Vec<i32> = pieces
        .iter()
        .filter_map(|p| match p {
            Piece::Const(c) => Some(*c as i32),
            Piece::InDim(_) => None,
        })
        .collect();
    if consts.len() == pieces.len() {
        return lowering.model.const_i32("shape", &consts, vec![n]);
    }
    if pieces.iter().any(|p| match p {
        Piece::Const(c) => !(-1..=i32::MAX as i64).contains(c),
        Piece::InDim(a) => *a >= in_shape.len(),
    }) {
        return Err(TfliteError::Unsupported(
            "shape out of TFLite's int32 range".into(),
        ));
    }
    // GATHER from [SHAPE(input), known sizes...].
    let rank = in_shape.len() as i32;
    let mut next = rank;
    let idx: Vec<i32> = pieces
        .iter()
        .map(|p| match p {
            Piece::InDim(a) => *a as i32,
            Piece::Const(_) => {
                next += 1;
                next - 1
            }
        })
        .collect();
    let dims = shape_of(lowering, input)?;
    let table = if consts.is_empty() {
        dims
    } else {
        let c = lowering
            .model
            .const_i32("sizes", &consts, vec![consts.len() as i64])?;
        concat(lowering, &[dims, c])?
    };
    pick(lowering, table, &idx)
}

/// The elements `idx` of the 1-D int32 tensor `table` (GATHER).
pub(crate) fn pick(lowering: &mut Lower, table: usize, idx: &[i32]) -> Result<usize, TfliteError> {
    let n = idx.len() as i64;
    let it = lowering.model.const_i32("indices", idx, vec![n])?;
    let out = i32_tensor(lowering, "shape", vec![n])?;
    let o = fb::GatherOptions::create(
        &mut lowering.model.fbb,
        &fb::GatherOptionsArgs {
            axis: 0,
            batch_dims: 0,
        },
    )
    .as_union_value();
    lowering.model.emit(
        B::GATHER,
        1,
        &[Some(table), Some(it)],
        &[out],
        Some((BuiltinOptions::GatherOptions, o)),
    );
    Ok(out)
}

/// `v` (a 1-D integer shape tensor) as int32: CAST from int64.
pub(crate) fn to_i32(lowering: &mut Lower, v: usize) -> Result<usize, TfliteError> {
    let t = &lowering.model.tensors[v];
    match t.dtype {
        DType::I32 => Ok(v),
        DType::I64 => {
            let (base, shape) = (format!("{}/i32", t.name), t.shape.to_vec());
            let out = i32_tensor(lowering, &base, shape)?;
            lowering.model.emit(B::CAST, 1, &[Some(v)], &[out], None);
            Ok(out)
        }
        other => Err(TfliteError::Unsupported(format!(
            "a shape of element type {other}"
        ))),
    }
}

/// CONCATENATION of `parts` along `axis` into the existing tensor `out`.
pub(crate) fn concat_into(
    lowering: &mut Lower,
    parts: &[usize],
    out: usize,
    axis: i32,
) -> Result<(), TfliteError> {
    let o = fb::ConcatenationOptions::create(
        &mut lowering.model.fbb,
        &fb::ConcatenationOptionsArgs {
            axis,
            fused_activation_function: ActivationFunctionType::NONE,
        },
    )
    .as_union_value();
    let ins: Vec<Option<usize>> = parts.iter().map(|&p| Some(p)).collect();
    lowering.model.emit(
        B::CONCATENATION,
        1,
        &ins,
        &[out],
        Some((BuiltinOptions::ConcatenationOptions, o)),
    );
    Ok(())
}

/// ONNX Reshape's rule for a shape computed at run time, `0` copies the input's size at
/// that position (without `allowzero`), as TFLite's RESHAPE does not: SELECT_V2(shape == 0,
/// SHAPE(input)[:n], shape) over the int32 shape tensor `shape` of known length n. (A 0 past
/// the input's rank is invalid in ONNX; it stays 0 here and RESHAPE fails at run time.)
pub(crate) fn copy_zero_sizes(
    lowering: &mut Lower,
    input: usize,
    shape: usize,
) -> Result<usize, TfliteError> {
    let n = match &lowering.model.tensors[shape].shape[..] {
        [n] if *n >= 0 => *n,
        _ => {
            return Err(TfliteError::Unsupported(
                "a computed shape of unknown length with 0 (copy) entries".into(),
            ))
        }
    };
    let rank = lowering.model.tensors[input].shape.len() as i64;
    let sizes = shape_of(lowering, input)?;
    let sizes = if rank >= n {
        slice(lowering, sizes, 0, n)?
    } else {
        let zeros = vec![0; (n - rank) as usize];
        let zeros = lowering.model.const_i32("zeros", &zeros, vec![n - rank])?;
        concat(lowering, &[sizes, zeros])?
    };
    let zero = lowering.model.const_i32("zero", &[0], vec![1])?;
    let name = format!("{}/is_copy", lowering.model.tensors[shape].name);
    let is_copy = lowering
        .model
        .add_tensor(name, DType::Bool, vec![n], None, None)?;
    lowering
        .model
        .emit(B::EQUAL, 1, &[Some(shape), Some(zero)], &[is_copy], None);
    let out = i32_tensor(lowering, "shape", vec![n])?;
    lowering.model.emit(
        B::SELECT_V2,
        1,
        &[Some(is_copy), Some(sizes), Some(shape)],
        &[out],
        None,
    );
    Ok(out)
}
