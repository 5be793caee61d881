//! Selection along an axis:
//! - `ArgMax` / `ArgMin` (axis, keepdims; `select_last_index` 0: the first of equal values,
//!   as TFLite's kernels) → ARG_MAX / ARG_MIN with int64 output (int32 when a
//!   `Cast(to=INT32)` alone reads it: `int64-to-int32`), a RESHAPE restoring the axis for
//!   keepdims;
//! - `TopK` (constant `k`, sorted) → TOPK_V2 on the last axis (another axis TRANSPOSEd there
//!   and back; `largest` 0 as the largest of the negated input, negated back), int32 indices
//!   cast to int64;
//! - `CumSum` (constant axis, `exclusive`, `reverse`) → CUMSUM.

use modelc_ir::{DType, Graph, NodeId, OnnxOp, ValueRef};

use super::shape::{norm_axis, reshape, transpose};
use crate::export::builder::tensor_type;
use crate::export::lower::{attr_i, Lower};
use crate::fb::{self, BuiltinOperator as B, BuiltinOptions};
use crate::TfliteError;

fn unsupported(m: impl Into<String>) -> TfliteError {
    TfliteError::Unsupported(m.into())
}

pub(crate) fn arg_extreme(lowering: &mut Lower, id: NodeId, op: OnnxOp) -> Result<(), TfliteError> {
    if attr_i(lowering.g, id, "select_last_index", 0) != 0 {
        return Err(unsupported("ArgMax/ArgMin with select_last_index"));
    }
    let a = lowering.req(id, 0)?;
    let shape = lowering.model.tensors[a].shape.to_vec();
    let axis = norm_axis(attr_i(lowering.g, id, "axis", 0), shape.len())?;
    let keep = attr_i(lowering.g, id, "keepdims", 1) != 0;
    // ARG_MAX / ARG_MIN write int32 or int64: a `Cast(to=INT32)` reading the result
    // (`int64-to-int32`) is this op's own output type.
    let out = match int32_cast(lowering.g, id) {
        Some(cast) => lowering.model.value_tensor(ValueRef::new(cast, 0), None)?,
        None => lowering.output(0)?,
    };
    let out_type = match lowering.model.tensors[out].dtype {
        DType::I32 => DType::I32,
        _ => DType::I64,
    };
    let at = lowering.model.const_i32("axis", &[axis as i32], vec![1])?;
    let reduced = if keep {
        let mut s = shape.clone();
        s.remove(axis as usize);
        let name = format!("{}/reduced", lowering.model.tensors[out].name);
        lowering.model.add_tensor(name, out_type, s, None, None)?
    } else {
        out
    };
    let (code, opts) = if op == OnnxOp::ArgMax {
        let o = fb::ArgMaxOptions::create(
            &mut lowering.model.fbb,
            &fb::ArgMaxOptionsArgs {
                output_type: tensor_type(out_type),
            },
        );
        (
            B::ARG_MAX,
            (BuiltinOptions::ArgMaxOptions, o.as_union_value()),
        )
    } else {
        let o = fb::ArgMinOptions::create(
            &mut lowering.model.fbb,
            &fb::ArgMinOptionsArgs {
                output_type: tensor_type(out_type),
            },
        );
        (
            B::ARG_MIN,
            (BuiltinOptions::ArgMinOptions, o.as_union_value()),
        )
    };
    lowering
        .model
        .emit(code, 1, &[Some(a), Some(at)], &[reduced], Some(opts));
    if keep {
        let mut s = shape;
        s[axis as usize] = 1;
        reshape(lowering, reduced, out, &s)?;
    }
    Ok(())
}

/// The `Cast(to=INT32)` that alone reads ArgMax / ArgMin `id`'s result (not a graph output),
/// which the op's int32 `output_type` replaces.
pub(crate) fn int32_cast(g: &Graph, id: NodeId) -> Option<NodeId> {
    let v = ValueRef::new(id, 0);
    let users = g.users(v);
    let [(cast, 0)] = users[..] else {
        return None;
    };
    let n = g.node(cast);
    (n.op.onnx() == Some(OnnxOp::Cast)
        && n.attrs.int("to", 0).ok() == Some(DType::I32.onnx_code() as i64)
        && !g.outputs().contains(&v))
    .then_some(cast)
}

/// Whether Cast `id` is folded into the ArgMax / ArgMin it reads (see [`int32_cast`]).
pub(crate) fn folded_cast(g: &Graph, id: NodeId) -> bool {
    g.input(id, 0).is_some_and(|v| {
        matches!(
            g.node(v.node).op.onnx(),
            Some(OnnxOp::ArgMax | OnnxOp::ArgMin)
        ) && int32_cast(g, v.node) == Some(id)
    })
}

pub(crate) fn top_k(lowering: &mut Lower, id: NodeId) -> Result<(), TfliteError> {
    let a = lowering.req(id, 0)?;
    let shape = lowering.model.tensors[a].shape.to_vec();
    let rank = shape.len();
    let axis = norm_axis(attr_i(lowering.g, id, "axis", -1), rank)? as usize;
    if attr_i(lowering.g, id, "sorted", 1) == 0 {
        return Err(unsupported("unsorted TopK"));
    }
    let k = lowering
        .g
        .input(id, 1)
        .and_then(|v| lowering.model.const_ints(v))
        .and_then(|k| (k.len() == 1).then(|| k[0]))
        .filter(|&k| (0..1 << 31).contains(&k))
        .ok_or_else(|| unsupported("TopK needs a constant k"))?;
    let largest = attr_i(lowering.g, id, "largest", 1) != 0;
    let dtype = lowering.model.tensors[a].dtype;
    if !largest && !dtype.is_float() {
        return Err(unsupported("smallest-first TopK of integers"));
    }
    let (values, indices) = (lowering.output(0)?, lowering.output(1)?);
    let base = lowering.model.tensors[values].name.clone();
    // TOPK_V2 works on the last axis: another axis is transposed there and back.
    let perm: Vec<i64> = (0..rank as i64)
        .filter(|&i| i != axis as i64)
        .chain([axis as i64])
        .collect();
    let mut inverse = vec![0i64; rank];
    for (i, &p) in perm.iter().enumerate() {
        inverse[p as usize] = i as i64;
    }
    let last = axis == rank - 1;
    let in_shape: Vec<i64> = perm.iter().map(|&p| shape[p as usize]).collect();
    let mut out_shape = in_shape.clone();
    out_shape[rank - 1] = k;
    let temp = |lowering: &mut Lower, what: &str, dtype: DType, shape: &[i64]| {
        lowering
            .model
            .add_tensor(format!("{base}/{what}"), dtype, shape.to_vec(), None, None)
    };
    let mut input = a;
    if !last {
        let t = temp(lowering, "axis_last", dtype, &in_shape)?;
        transpose(lowering, input, &perm, t, 1)?;
        input = t;
    }
    // Smallest first: the largest of the negated input, negated back.
    if !largest {
        let t = temp(lowering, "negated_input", dtype, &in_shape)?;
        lowering.model.emit(B::NEG, 1, &[Some(input)], &[t], None);
        input = t;
    }
    let kt = lowering.model.const_i32("k", &[k as i32], vec![])?;
    let direct = largest && last;
    let raw_values = if direct {
        values
    } else {
        temp(lowering, "top_values", dtype, &out_shape)?
    };
    let idx32 = temp(lowering, "indices_i32", DType::I32, &out_shape)?;
    lowering.model.emit(
        B::TOPK_V2,
        1,
        &[Some(input), Some(kt)],
        &[raw_values, idx32],
        None,
    );
    let mut vals = raw_values;
    if !largest {
        let t = if last {
            values
        } else {
            temp(lowering, "top_values_back", dtype, &out_shape)?
        };
        lowering.model.emit(B::NEG, 1, &[Some(vals)], &[t], None);
        vals = t;
    }
    let idx64 = if last {
        indices
    } else {
        temp(lowering, "indices_axis_last", DType::I64, &out_shape)?
    };
    let o = fb::CastOptions::create(
        &mut lowering.model.fbb,
        &fb::CastOptionsArgs {
            in_data_type: tensor_type(DType::I32),
            out_data_type: tensor_type(DType::I64),
        },
    )
    .as_union_value();
    lowering.model.emit(
        B::CAST,
        1,
        &[Some(idx32)],
        &[idx64],
        Some((BuiltinOptions::CastOptions, o)),
    );
    if !last {
        transpose(lowering, vals, &inverse, values, 1)?;
        transpose(lowering, idx64, &inverse, indices, 1)?;
    }
    Ok(())
}

pub(crate) fn cumsum(lowering: &mut Lower, id: NodeId) -> Result<(), TfliteError> {
    let a = lowering.req(id, 0)?;
    let rank = lowering.model.tensors[a].shape.len();
    let axis = lowering
        .g
        .input(id, 1)
        .and_then(|v| lowering.model.const_ints(v))
        .and_then(|v| (v.len() == 1).then(|| v[0]))
        .ok_or_else(|| unsupported("CumSum needs a constant axis"))?;
    let axis = norm_axis(axis, rank)?;
    let at = lowering.model.const_i32("axis", &[axis as i32], vec![])?;
    let out = lowering.output(0)?;
    let o = fb::CumsumOptions::create(
        &mut lowering.model.fbb,
        &fb::CumsumOptionsArgs {
            exclusive: attr_i(lowering.g, id, "exclusive", 0) != 0,
            reverse: attr_i(lowering.g, id, "reverse", 0) != 0,
        },
    )
    .as_union_value();
    lowering.model.emit(
        B::CUMSUM,
        1,
        &[Some(a), Some(at)],
        &[out],
        Some((BuiltinOptions::CumsumOptions, o)),
    );
    Ok(())
}

/// `GatherND` (batch_dims 0) → GATHER_ND (indices as they are: LiteRT takes int32 and int64).
pub(crate) fn gather_nd(lowering: &mut Lower, id: NodeId) -> Result<(), TfliteError> {
    if attr_i(lowering.g, id, "batch_dims", 0) != 0 {
        return Err(unsupported("GatherND with batch_dims"));
    }
    let data = lowering.req(id, 0)?;
    let idx = lowering.req(id, 1)?;
    let out = lowering.output(0)?;
    lowering
        .model
        .emit(B::GATHER_ND, 1, &[Some(data), Some(idx)], &[out], None);
    Ok(())
}

/// The `ConstantOfShape` of zeros producing `v`, if that is what it is.
fn zeros_of_shape(lowering: &Lower, v: modelc_ir::ValueRef) -> Option<NodeId> {
    let v = lowering.model.resolve(v);
    let node = lowering.g.node(v.node);
    if node.op.onnx() != Some(OnnxOp::ConstantOfShape) {
        return None;
    }
    let zero = match node.attrs.get("value") {
        None => true,
        Some(modelc_ir::Attr::Tensor(t)) => t.raw().is_some_and(|r| r.iter().all(|&b| b == 0)),
        Some(_) => false,
    };
    zero.then_some(v.node)
}

/// A `ConstantOfShape` of zeros read only as a `ScatterND`'s data needs no operator: SCATTER_ND
/// starts from zeros itself.
pub(crate) fn only_scatter_base(lowering: &Lower, id: NodeId) -> bool {
    let v = modelc_ir::ValueRef::new(id, 0);
    zeros_of_shape(lowering, v).is_some()
        && !lowering.g.outputs().contains(&v)
        && lowering
            .g
            .users(v)
            .iter()
            .all(|&(u, slot)| slot == 0 && lowering.g.node(u).op.onnx() == Some(OnnxOp::ScatterND))
}

/// `ScatterND(ConstantOfShape(shape) of zeros, indices, updates, reduction="add")` → SCATTER_ND
/// (indices, updates, shape), which writes the updates (summing repeated indices) into zeros;
/// `decompose-scatter-nd` brings every ScatterND it can to this form.
pub(crate) fn scatter_nd(lowering: &mut Lower, id: NodeId) -> Result<(), TfliteError> {
    let base = lowering
        .g
        .input(id, 0)
        .and_then(|v| zeros_of_shape(lowering, v))
        .filter(|_| super::super::lower::attr_s(lowering.g, id, "reduction", "none") == "add")
        .ok_or_else(|| {
            unsupported("ScatterND other than the sum into zeros decompose-scatter-nd makes")
        })?;
    let shape_v = lowering
        .g
        .input(base, 0)
        .ok_or_else(|| unsupported("ConstantOfShape without a shape"))?;
    let shape = match lowering.model.const_ints(shape_v) {
        Some(s) => {
            let s32: Vec<i32> = s
                .iter()
                .map(|&d| i32::try_from(d).map_err(|_| unsupported("shape past int32")))
                .collect::<Result<_, _>>()?;
            lowering
                .model
                .const_i32("shape", &s32, vec![s32.len() as i64])?
        }
        None => {
            let t = lowering.input_value(shape_v)?;
            super::dynamic::to_i32(lowering, t)?
        }
    };
    let iv = lowering
        .g
        .input(id, 1)
        .ok_or_else(|| unsupported("no indices"))?;
    // SCATTER_ND reads int32 indices: constants written so, others CAST.
    let idx = match (lowering.model.const_ints(iv), lowering.model.const_of(iv)) {
        (Some(values), Some(c)) if values.iter().all(|&v| i32::try_from(v).is_ok()) => {
            let dims = c.dims.iter().map(|&d| d as i64).collect();
            let v32: Vec<i32> = values.iter().map(|&v| v as i32).collect();
            lowering.model.const_i32("indices", &v32, dims)?
        }
        _ => {
            let idx = lowering.req(id, 1)?;
            super::dynamic::to_i32(lowering, idx)?
        }
    };
    let upd = lowering.req(id, 2)?;
    let out = lowering.output(0)?;
    lowering.model.emit(
        B::SCATTER_ND,
        1,
        &[Some(idx), Some(upd), Some(shape)],
        &[out],
        None,
    );
    Ok(())
}
