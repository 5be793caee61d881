//! Element-wise ops.
//! - every op with a row in [`crate::table`] (Add … Sign): the row's builtin, options and
//!   version ([`row`]; int64 Div and float64 operands refused: LiteRT has no such kernels);
//! - `Mod` (fmod 0) → FLOOR_MOD;
//! - `Clip` (constant bounds) → RELU6 / RELU_N1_TO_1 / RELU_0_TO_1 / RELU, else MAXIMUM +
//!   MINIMUM (with run-time bounds too: clamp_min/clamp_max of a tensor), `Reciprocal` → DIV(1, x), `Pow(x, −0.5)` → RSQRT (the exponent a constant,
//!   also int8 behind a DequantizeLinear: Ethos-U runs RSQRT, not POW), `Cast` (float16 constant → float: DEQUANTIZE, as
//!   TFLite's fp16 models do);
//! - `QuantizeLinear` not absorbed by a quantized op → QUANTIZE (requantizing when its input
//!   is itself a dequantized tensor).

use modelc_ir::{DType, NodeId, OnnxOp};

use crate::export::lower::{attr_i, Lower};
use crate::fb::{self, BuiltinOperator as B, BuiltinOptions};
use crate::table::Row;
use crate::TfliteError;

fn unsupported(m: impl Into<String>) -> TfliteError {
    TfliteError::Unsupported(m.into())
}

/// A table form: the row's builtin on the node's inputs, with the options the node's
/// attributes (and fused activation) give; a variadic op's further inputs by a chain of it.
pub(crate) fn row(lowering: &mut Lower, id: NodeId, row: &Row) -> Result<(), TfliteError> {
    let n = lowering.g.node(id).num_inputs;
    let chained = row.variadic && !lowering.quantized;
    if n > row.inputs && !chained {
        return Err(unsupported(format!(
            "{n} inputs; {} takes {}",
            row.code.variant_name().unwrap_or("the builtin"),
            row.inputs
        )));
    }
    let mut inputs = Vec::with_capacity(row.inputs);
    for i in 0..row.inputs {
        inputs.push(Some(lowering.req(id, i)?));
    }
    // LiteRT's DIV refuses int64 when the model is prepared ("Div only supports FLOAT32,
    // INT32 and quantized ..."). FLOOR_DIV is no way round: besides rounding the other way
    // for quotients of mixed signs, its reference kernel divides in double precision
    // (`std::floor(double(a) / double(b))`), silently inexact past 2^53.
    if row.code == B::DIV
        && inputs
            .iter()
            .flatten()
            .any(|&t| lowering.model.tensors[t].dtype == DType::I64)
    {
        return Err(unsupported(
            "int64 Div (LiteRT's DIV has no int64 kernel; FLOOR_DIV divides in double \
             precision, inexact past 2^53)",
        ));
    }
    // LiteRT's element-wise kernels have no float64 form: the file would fail to prepare
    // ("Unsupported data type FLOAT64").
    if inputs
        .iter()
        .flatten()
        .any(|&t| lowering.model.tensors[t].dtype == DType::F64)
    {
        return Err(unsupported(format!(
            "float64 {} (LiteRT's kernel has no float64 form)",
            row.code.variant_name().unwrap_or("builtin")
        )));
    }
    let rank = inputs[0].map_or(0, |t| lowering.model.tensors[t].shape.len());
    let options = row
        .options
        .write(
            &mut lowering.model.fbb,
            lowering.g.node(id),
            lowering.act,
            rank,
        )
        .map_err(unsupported)?;
    let out = lowering.output(0)?;
    let version = row.version(lowering.quantized);
    if n > row.inputs {
        return chain(lowering, id, row, inputs, out);
    }
    let dst = fixed_range_output(lowering, row.op, out)?;
    lowering
        .model
        .emit(row.code, version, &inputs, &[dst], options);
    requantize(lowering, dst, out);
    Ok(())
}

/// A variadic op (float, no options) as a chain of its binary builtin: the first two inputs,
/// then the result with each further one; the last writes `out`.
fn chain(
    lowering: &mut Lower,
    id: NodeId,
    row: &Row,
    first: Vec<Option<usize>>,
    out: usize,
) -> Result<(), TfliteError> {
    let n = lowering.g.node(id).num_inputs;
    let mut acc = first;
    for i in row.inputs..n {
        let shape = broadcast(
            &acc.iter()
                .flatten()
                .map(|&t| lowering.model.tensors[t].shape.to_vec())
                .collect::<Vec<_>>(),
        );
        let name = format!("{}/{i}", lowering.model.tensors[out].name);
        let dtype = lowering.model.tensors[out].dtype;
        let t = lowering.model.add_tensor(name, dtype, shape, None, None)?;
        lowering
            .model
            .emit(row.code, row.float_version, &acc, &[t], None);
        acc = vec![Some(t), Some(lowering.req(id, i)?)];
    }
    lowering
        .model
        .emit(row.code, row.float_version, &acc, &[out], None);
    Ok(())
}

/// The numpy broadcast of `shapes` (-1: unknown).
fn broadcast(shapes: &[Vec<i64>]) -> Vec<i64> {
    let rank = shapes.iter().map(Vec::len).max().unwrap_or(0);
    (0..rank)
        .map(|i| {
            let dims = shapes
                .iter()
                .filter_map(|s| s.len().checked_sub(rank - i).map(|j| s[j]));
            dims.fold(1, |d, e| match (d, e) {
                (1, e) => e,
                (d, 1) => d,
                (-1, _) | (_, -1) => -1,
                (d, _) => d,
            })
        })
        .collect()
}

/// ONNX `Mod` with fmod 0 takes the divisor's sign, as FLOOR_MOD does; C's fmod has no
/// builtin (the legalization rewrites it first).
pub(crate) fn floor_mod(lowering: &mut Lower, id: NodeId) -> Result<(), TfliteError> {
    let a = lowering.req(id, 0)?;
    let b = lowering.req(id, 1)?;
    if attr_i(lowering.g, id, "fmod", 0) != 0 {
        return Err(unsupported("Mod with fmod 1"));
    }
    if lowering.act != fb::ActivationFunctionType::NONE {
        return Err(unsupported("fused activation"));
    }
    let v = if lowering.quantized { 2 } else { 1 };
    let out = lowering.output(0)?;
    lowering
        .model
        .emit(B::FLOOR_MOD, v, &[Some(a), Some(b)], &[out], None);
    Ok(())
}

pub(crate) fn clip(lowering: &mut Lower, id: NodeId) -> Result<(), TfliteError> {
    let v = if lowering.quantized { 2 } else { 1 };
    let ins = lowering.g.inputs_of(id);
    // A bound: absent, a constant scalar, or a value computed at run time (torch's
    // clamp_min/clamp_max with a tensor bound: MAXIMUM / MINIMUM with that tensor).
    let bound = |i: usize| -> Option<Result<f32, ()>> {
        let b = ins.get(i).copied().flatten()?;
        Some(match lowering.model.const_floats(b).as_deref() {
            Some([v]) => Ok(*v),
            _ => Err(()),
        })
    };
    let (lo, hi) = (bound(1), bound(2));
    let code = match (lo, hi) {
        (Some(Ok(l)), Some(Ok(h))) if l == 0.0 && h == 6.0 => Some(B::RELU6),
        (Some(Ok(l)), Some(Ok(h))) if l == -1.0 && h == 1.0 => Some(B::RELU_N1_TO_1),
        (Some(Ok(l)), Some(Ok(h))) if l == 0.0 && h == 1.0 => Some(B::RELU_0_TO_1),
        (Some(Ok(0.0)), None) => Some(B::RELU),
        _ => None,
    };
    let a = lowering.req(id, 0)?;
    let out = lowering.output(0)?;
    if let Some(code) = code {
        lowering.model.emit(code, v, &[Some(a)], &[out], None);
        return Ok(());
    }
    if lowering.quantized {
        return Err(unsupported("quantized Clip with general bounds"));
    }
    if lowering.model.tensors[a].dtype != DType::F32
        && [lo, hi].iter().any(|b| matches!(b, Some(Ok(_))))
    {
        return Err(unsupported(
            "Clip of a non-float32 input with constant bounds",
        ));
    }
    let shape = lowering.model.tensors[out].shape.to_vec();
    let dtype = lowering.model.tensors[out].dtype;
    let mut cur = a;
    if let Some(l) = lo {
        let lt = match l {
            Ok(l) => lowering.model.const_f32("clip_min", &[l], vec![])?,
            Err(()) => lowering.req(id, 1)?,
        };
        let t = if hi.is_some() {
            lowering.model.add_tensor(
                format!("{}/max", lowering.model.tensors[out].name),
                dtype,
                shape,
                None,
                None,
            )?
        } else {
            out
        };
        lowering
            .model
            .emit(B::MAXIMUM, 1, &[Some(cur), Some(lt)], &[t], None);
        cur = t;
    }
    match hi {
        Some(h) => {
            let ht = match h {
                Ok(h) => lowering.model.const_f32("clip_max", &[h], vec![])?,
                Err(()) => lowering.req(id, 2)?,
            };
            lowering
                .model
                .emit(B::MINIMUM, 1, &[Some(cur), Some(ht)], &[out], None);
        }
        None if lo.is_none() => {
            return Err(unsupported("Clip without bounds"));
        }
        None => {}
    }
    Ok(())
}

pub(crate) fn reciprocal(lowering: &mut Lower, id: NodeId) -> Result<(), TfliteError> {
    let a = lowering.req(id, 0)?;
    let one = lowering.model.const_f32("one", &[1.0], vec![])?;
    let out = lowering.output(0)?;
    let o = fb::DivOptions::create(&mut lowering.model.fbb, &fb::DivOptionsArgs::default())
        .as_union_value();
    lowering.model.emit(
        B::DIV,
        1,
        &[Some(one), Some(a)],
        &[out],
        Some((BuiltinOptions::DivOptions, o)),
    );
    Ok(())
}

/// Whether Pow `id` raises to a constant −0.5 (read through its DequantizeLinear when the
/// quantizer made the exponent an int8 constant).
pub(crate) fn is_rsqrt(lowering: &Lower, id: NodeId) -> bool {
    let Some(e) = lowering.g.input(id, 1) else {
        return false;
    };
    let value = match lowering.dq_source(e) {
        Some(dq) => {
            let (Some(q), Some(t)) = (
                lowering.qdq_params(dq),
                lowering
                    .g
                    .input(dq, 0)
                    .and_then(|v| lowering.model.const_of(v)),
            ) else {
                return false;
            };
            let int = match (t.dtype, t.raw().map(|b| b.to_vec()).as_deref()) {
                (DType::I8, Some([b])) => *b as i8 as i64,
                (DType::U8, Some([b])) => *b as i64,
                _ => return false,
            };
            match (q.scale.as_slice(), q.zero_point.as_slice()) {
                ([s], [z]) => (int - z) as f32 * s,
                _ => return false,
            }
        }
        None => match lowering.model.const_floats(e).as_deref() {
            Some([v]) => *v,
            _ => return false,
        },
    };
    (value + 0.5).abs() <= 1e-6
}

/// `Pow(x, −0.5)` → RSQRT (version 2 for int8, 3 for int16).
pub(crate) fn rsqrt(lowering: &mut Lower, id: NodeId) -> Result<(), TfliteError> {
    let a = lowering.req(id, 0)?;
    let out = lowering.output(0)?;
    let version = match lowering.model.tensors[a].dtype {
        DType::I8 => 2,
        DType::I16 => 3,
        _ => 1,
    };
    lowering
        .model
        .emit(B::RSQRT, version, &[Some(a)], &[out], None);
    Ok(())
}

pub(crate) fn cast(lowering: &mut Lower, id: NodeId) -> Result<(), TfliteError> {
    let a = lowering.req(id, 0)?;
    let out = lowering.output(0)?;
    let (from, to) = (
        lowering.model.tensors[a].dtype,
        lowering.model.tensors[out].dtype,
    );
    if from == DType::F16 && to == DType::F32 && lowering.model.tensors[a].buffer != 0 {
        lowering
            .model
            .emit(B::DEQUANTIZE, 3, &[Some(a)], &[out], None);
    } else {
        lowering.model.emit(B::CAST, 1, &[Some(a)], &[out], None);
    }
    Ok(())
}

/// LiteRT's integer LOGISTIC and SOFTMAX write only outputs with scale 1/256 (zero point
/// -128 for int8, 0 for uint8) and TANH only 1/128 (0, 128), and refuse to prepare others.
/// When the model asks for other output parameters (a calibrated [0, 1] range gives 1/255),
/// the op writes a tensor with the fixed ones, which [`requantize`] then brings to the
/// model's. Returns the tensor the op should write.
fn fixed_range_output(lowering: &mut Lower, op: OnnxOp, out: usize) -> Result<usize, TfliteError> {
    if !lowering.quantized {
        return Ok(out);
    }
    let t = &lowering.model.tensors[out];
    let (scale, zero_point) = match (op, t.dtype) {
        (OnnxOp::Sigmoid | OnnxOp::Softmax, DType::I8) => (1.0 / 256.0, -128),
        (OnnxOp::Sigmoid | OnnxOp::Softmax, DType::U8) => (1.0 / 256.0, 0),
        (OnnxOp::Tanh, DType::I8) => (1.0 / 128.0, 0),
        (OnnxOp::Tanh, DType::U8) => (1.0 / 128.0, 128),
        _ => return Ok(out),
    };
    if t.quant
        .as_ref()
        .is_some_and(|q| q.scale == [scale] && q.zero_point == [zero_point])
    {
        return Ok(out);
    }
    let (name, dtype, shape) = (format!("{}/fixed_range", t.name), t.dtype, t.shape.to_vec());
    let quant = crate::import::Quant {
        scale: vec![scale],
        zero_point: vec![zero_point],
        axis: 0,
    };
    lowering
        .model
        .add_tensor(name, dtype, shape, None, Some(quant))
}

/// QUANTIZE from `src` to `dst` (integer to integer: a requantization) when they differ.
fn requantize(lowering: &mut Lower, src: usize, dst: usize) {
    if src != dst {
        lowering
            .model
            .emit(B::QUANTIZE, 2, &[Some(src)], &[dst], None);
    }
}

pub(crate) fn quantize(lowering: &mut Lower, id: NodeId) -> Result<(), TfliteError> {
    let v = lowering
        .g
        .input(id, 0)
        .ok_or_else(|| unsupported("no input"))?;
    let input = match lowering.qtensor(v)? {
        Some(t) => t,
        None => lowering.tensor(v)?,
    };
    let q = lowering
        .qdq_params(id)
        .ok_or_else(|| unsupported("non-constant or blocked scales"))?;
    let out = lowering
        .model
        .value_tensor(modelc_ir::ValueRef::new(id, 0), Some(q))?;
    let version = if lowering.model.tensors[out].dtype == DType::I16 {
        4
    } else {
        2
    };
    lowering
        .model
        .emit(B::QUANTIZE, version, &[Some(input)], &[out], None);
    Ok(())
}
