//! Element-wise ops.
//! - binary: `Add`/`Sub`/`Mul`/`Div` → ADD/SUB/MUL/DIV (with fused activation), `Max`/`Min`
//!   → MAXIMUM/MINIMUM, `Pow`, comparisons, `And`/`Or`, `Where` → SELECT_V2, `PRelu`,
//!   `Mod` (fmod 0) → FLOOR_MOD;
//! - unary: `Relu` → RELU, `Clip` (constant bounds) → RELU6 / RELU_N1_TO_1 / RELU_0_TO_1 or
//!   MAXIMUM + MINIMUM, `Tanh`, `Sigmoid` → LOGISTIC, `HardSwish`, `LeakyRelu`, `Elu`,
//!   `Gelu`, math functions, `Reciprocal` → DIV(1, x), `Softmax`/`LogSoftmax` over the
//!   last axis, `Cast` (float16 constant → float: DEQUANTIZE, as TFLite's fp16 models do);
//! - `QuantizeLinear` not absorbed by a quantized op → QUANTIZE (requantizing when its input
//!   is itself a dequantized tensor).

use modelc_ir::{DType, NodeId, OnnxOp};

use crate::export::lower::{attr_f, attr_i, attr_s, Lower};
use crate::fb::{self, BuiltinOperator as B, BuiltinOptions};
use crate::TfliteError;

fn unsupported(m: impl Into<String>) -> TfliteError {
    TfliteError::Unsupported(m.into())
}

pub(crate) fn binary(x: &mut Lower, id: NodeId, op: OnnxOp) -> Result<(), TfliteError> {
    let a = x.req(id, 0)?;
    let b = x.req(id, 1)?;
    let act = x.act;
    let fbb = &mut x.b.fbb;
    let (code, opts) = match op {
        OnnxOp::Add => (
            B::ADD,
            Some((
                BuiltinOptions::AddOptions,
                fb::AddOptions::create(
                    fbb,
                    &fb::AddOptionsArgs {
                        fused_activation_function: act,
                        pot_scale_int16: true,
                    },
                )
                .as_union_value(),
            )),
        ),
        OnnxOp::Sub => (
            B::SUB,
            Some((
                BuiltinOptions::SubOptions,
                fb::SubOptions::create(
                    fbb,
                    &fb::SubOptionsArgs {
                        fused_activation_function: act,
                        pot_scale_int16: true,
                    },
                )
                .as_union_value(),
            )),
        ),
        OnnxOp::Mul => (
            B::MUL,
            Some((
                BuiltinOptions::MulOptions,
                fb::MulOptions::create(
                    fbb,
                    &fb::MulOptionsArgs {
                        fused_activation_function: act,
                    },
                )
                .as_union_value(),
            )),
        ),
        OnnxOp::Div => (
            B::DIV,
            Some((
                BuiltinOptions::DivOptions,
                fb::DivOptions::create(
                    fbb,
                    &fb::DivOptionsArgs {
                        fused_activation_function: act,
                    },
                )
                .as_union_value(),
            )),
        ),
        OnnxOp::Max => (B::MAXIMUM, None),
        OnnxOp::Min => (B::MINIMUM, None),
        OnnxOp::Pow => (B::POW, None),
        OnnxOp::Equal => (B::EQUAL, None),
        OnnxOp::Less => (B::LESS, None),
        OnnxOp::LessOrEqual => (B::LESS_EQUAL, None),
        OnnxOp::Greater => (B::GREATER, None),
        OnnxOp::GreaterOrEqual => (B::GREATER_EQUAL, None),
        OnnxOp::And => (B::LOGICAL_AND, None),
        OnnxOp::Or => (B::LOGICAL_OR, None),
        OnnxOp::PRelu => (B::PRELU, None),
        // ONNX Mod with fmod 0 takes the divisor's sign, as FLOOR_MOD does; C's fmod has no
        // builtin.
        OnnxOp::Mod if attr_i(x.g, id, "fmod", 0) == 0 => (B::FLOOR_MOD, None),
        OnnxOp::Mod => return Err(unsupported("Mod with fmod 1")),
        OnnxOp::Where => {
            let c = x.req(id, 2)?;
            let out = x.output(0)?;
            x.b.emit(B::SELECT_V2, 1, &[Some(a), Some(b), Some(c)], &[out], None);
            return Ok(());
        }
        _ => return Err(unsupported("binary op")),
    };
    if opts.is_none() && act != fb::ActivationFunctionType::NONE {
        return Err(unsupported("fused activation"));
    }
    // Quantized ADD/SUB/MUL need version 2 (int8), broadcasting ADD version 4 is not needed.
    let v = if x.quantized { 2 } else { 1 };
    let out = x.output(0)?;
    x.b.emit(code, v, &[Some(a), Some(b)], &[out], opts);
    Ok(())
}

pub(crate) fn unary(x: &mut Lower, id: NodeId, op: OnnxOp) -> Result<(), TfliteError> {
    let v = if x.quantized { 2 } else { 1 };
    let simple = match op {
        OnnxOp::Relu => Some(B::RELU),
        OnnxOp::Tanh => Some(B::TANH),
        OnnxOp::Sigmoid => Some(B::LOGISTIC),
        OnnxOp::HardSwish => Some(B::HARD_SWISH),
        OnnxOp::Elu => Some(B::ELU),
        OnnxOp::Exp => Some(B::EXP),
        OnnxOp::Log => Some(B::LOG),
        OnnxOp::Sqrt => Some(B::SQRT),
        OnnxOp::Abs => Some(B::ABS),
        OnnxOp::Neg => Some(B::NEG),
        OnnxOp::Floor => Some(B::FLOOR),
        OnnxOp::Ceil => Some(B::CEIL),
        OnnxOp::Round => Some(B::ROUND),
        OnnxOp::Sin => Some(B::SIN),
        OnnxOp::Cos => Some(B::COS),
        OnnxOp::Not => Some(B::LOGICAL_NOT),
        OnnxOp::Sign => Some(B::SIGN),
        _ => None,
    };
    if let Some(code) = simple {
        if op == OnnxOp::Elu && attr_f(x.g, id, "alpha", 1.0) != 1.0 {
            return Err(unsupported("Elu alpha other than 1"));
        }
        let a = x.req(id, 0)?;
        let out = x.output(0)?;
        let dst = fixed_range_output(x, op, out)?;
        x.b.emit(code, v, &[Some(a)], &[dst], None);
        requantize(x, dst, out);
        return Ok(());
    }
    match op {
        OnnxOp::Clip => {
            let ins = x.g.inputs_of(id);
            let bound = |i: usize| -> Result<Option<f32>, TfliteError> {
                match ins.get(i).copied().flatten() {
                    None => Ok(None),
                    Some(b) => match x.b.const_floats(b).as_deref() {
                        Some([v]) => Ok(Some(*v)),
                        _ => Err(unsupported("Clip bounds must be constant scalars")),
                    },
                }
            };
            let (lo, hi) = (bound(1)?, bound(2)?);
            let code = match (lo, hi) {
                (Some(l), Some(h)) if l == 0.0 && h == 6.0 => Some(B::RELU6),
                (Some(l), Some(h)) if l == -1.0 && h == 1.0 => Some(B::RELU_N1_TO_1),
                (Some(l), Some(h)) if l == 0.0 && h == 1.0 => Some(B::RELU_0_TO_1),
                (Some(0.0), None) => Some(B::RELU),
                _ => None,
            };
            let a = x.req(id, 0)?;
            let out = x.output(0)?;
            if let Some(code) = code {
                x.b.emit(code, v, &[Some(a)], &[out], None);
                return Ok(());
            }
            if x.quantized {
                return Err(unsupported("quantized Clip with general bounds"));
            }
            let shape = x.b.tensors[out].shape.clone();
            let mut cur = a;
            if let Some(l) = lo {
                let lt = x.b.const_f32("clip_min", &[l], vec![])?;
                let t = if hi.is_some() {
                    x.b.add_tensor(
                        format!("{}/max", x.b.tensors[out].name),
                        DType::F32,
                        shape,
                        None,
                        None,
                    )?
                } else {
                    out
                };
                x.b.emit(B::MAXIMUM, 1, &[Some(cur), Some(lt)], &[t], None);
                cur = t;
            }
            match hi {
                Some(h) => {
                    let ht = x.b.const_f32("clip_max", &[h], vec![])?;
                    x.b.emit(B::MINIMUM, 1, &[Some(cur), Some(ht)], &[out], None);
                }
                None if lo.is_none() => {
                    return Err(unsupported("Clip without bounds"));
                }
                None => {}
            }
            Ok(())
        }
        OnnxOp::LeakyRelu => {
            let a = x.req(id, 0)?;
            let out = x.output(0)?;
            let alpha = attr_f(x.g, id, "alpha", 0.01);
            let o = fb::LeakyReluOptions::create(&mut x.b.fbb, &fb::LeakyReluOptionsArgs { alpha })
                .as_union_value();
            x.b.emit(
                B::LEAKY_RELU,
                v,
                &[Some(a)],
                &[out],
                Some((BuiltinOptions::LeakyReluOptions, o)),
            );
            Ok(())
        }
        OnnxOp::Gelu => {
            let a = x.req(id, 0)?;
            let out = x.output(0)?;
            let approximate = attr_s(x.g, id, "approximate", "none") == "tanh";
            let o = fb::GeluOptions::create(&mut x.b.fbb, &fb::GeluOptionsArgs { approximate })
                .as_union_value();
            x.b.emit(
                B::GELU,
                1,
                &[Some(a)],
                &[out],
                Some((BuiltinOptions::GeluOptions, o)),
            );
            Ok(())
        }
        OnnxOp::Reciprocal => {
            let a = x.req(id, 0)?;
            let one = x.b.const_f32("one", &[1.0], vec![])?;
            let out = x.output(0)?;
            let o = fb::DivOptions::create(&mut x.b.fbb, &fb::DivOptionsArgs::default())
                .as_union_value();
            x.b.emit(
                B::DIV,
                1,
                &[Some(one), Some(a)],
                &[out],
                Some((BuiltinOptions::DivOptions, o)),
            );
            Ok(())
        }
        OnnxOp::Softmax | OnnxOp::LogSoftmax => {
            let a = x.req(id, 0)?;
            let rank = x.b.tensors[a].shape.len() as i64;
            let axis = attr_i(x.g, id, "axis", -1);
            if axis != -1 && axis != rank - 1 {
                return Err(unsupported("softmax over an axis other than the last"));
            }
            let out = x.output(0)?;
            if op == OnnxOp::Softmax {
                let o =
                    fb::SoftmaxOptions::create(&mut x.b.fbb, &fb::SoftmaxOptionsArgs { beta: 1.0 })
                        .as_union_value();
                let dst = fixed_range_output(x, op, out)?;
                x.b.emit(
                    B::SOFTMAX,
                    v,
                    &[Some(a)],
                    &[dst],
                    Some((BuiltinOptions::SoftmaxOptions, o)),
                );
                requantize(x, dst, out);
            } else {
                let o = fb::LogSoftmaxOptions::create(&mut x.b.fbb, &fb::LogSoftmaxOptionsArgs {})
                    .as_union_value();
                x.b.emit(
                    B::LOG_SOFTMAX,
                    v,
                    &[Some(a)],
                    &[out],
                    Some((BuiltinOptions::LogSoftmaxOptions, o)),
                );
            }
            Ok(())
        }
        OnnxOp::Cast => {
            let a = x.req(id, 0)?;
            let out = x.output(0)?;
            let (from, to) = (x.b.tensors[a].dtype, x.b.tensors[out].dtype);
            if from == DType::F16 && to == DType::F32 && x.b.tensors[a].buffer != 0 {
                x.b.emit(B::DEQUANTIZE, 3, &[Some(a)], &[out], None);
            } else {
                x.b.emit(B::CAST, 1, &[Some(a)], &[out], None);
            }
            Ok(())
        }
        _ => Err(unsupported("unary op")),
    }
}

/// LiteRT's integer LOGISTIC and SOFTMAX write only outputs with scale 1/256 (zero point
/// -128 for int8, 0 for uint8) and TANH only 1/128 (0, 128), and refuse to prepare others.
/// When the model asks for other output parameters (a calibrated [0, 1] range gives 1/255),
/// the op writes a tensor with the fixed ones, which [`requantize`] then brings to the
/// model's. Returns the tensor the op should write.
fn fixed_range_output(x: &mut Lower, op: OnnxOp, out: usize) -> Result<usize, TfliteError> {
    if !x.quantized {
        return Ok(out);
    }
    let t = &x.b.tensors[out];
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
    let (name, dtype, shape) = (format!("{}/fixed_range", t.name), t.dtype, t.shape.clone());
    let quant = crate::import::Quant {
        scale: vec![scale],
        zero_point: vec![zero_point],
        axis: 0,
    };
    x.b.add_tensor(name, dtype, shape, None, Some(quant))
}

/// QUANTIZE from `src` to `dst` (integer to integer: a requantization) when they differ.
fn requantize(x: &mut Lower, src: usize, dst: usize) {
    if src != dst {
        x.b.emit(B::QUANTIZE, 2, &[Some(src)], &[dst], None);
    }
}

pub(crate) fn quantize(x: &mut Lower, id: NodeId) -> Result<(), TfliteError> {
    let v = x.g.input(id, 0).ok_or_else(|| unsupported("no input"))?;
    let input = match x.qtensor(v)? {
        Some(t) => t,
        None => x.tensor(v)?,
    };
    let q = x
        .qdq_params(id)
        .ok_or_else(|| unsupported("non-constant or blocked scales"))?;
    let out = x.b.value_tensor(modelc_ir::ValueRef::new(id, 0), Some(q))?;
    let version = if x.b.tensors[out].dtype == DType::I16 {
        4
    } else {
        2
    };
    x.b.emit(B::QUANTIZE, version, &[Some(input)], &[out], None);
    Ok(())
}
