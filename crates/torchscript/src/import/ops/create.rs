//! Tensors made from sizes and values: `arange` (end / start, end / start, end, step; bounds
//! known at import time become a constant, others a Range of the run-time values; int64
//! when every bound is an int, else float32, unless `dtype` says), `new_zeros` / `new_ones` /
//! `new_full` / `new_empty` (the receiver's element type unless `dtype` says), `empty` /
//! `empty_like` (zeros: the contents are unspecified), `fill_` / `zero_` (a tensor of the
//! receiver's shape and type holding the value; a tensor value is broadcast), `copy_`
//! (the source broadcast to the receiver's shape and type), `tensor` of Python numbers (a
//! constant).

use modelc_ir::{Attr, Attrs, DType, OnnxOp, Tensor};

use super::super::args::{scalar_type, Args};
use super::super::builder::attrs;
use super::super::eval::{EvalResult, Evaluator, Stop};
use super::super::value::{PyValue, TensorRef};
use super::{arg, known_f64, operand};

pub fn call(cx: &mut Evaluator, op: &str, a: &Args) -> Option<EvalResult<PyValue>> {
    Some(match op {
        "arange" => arange(cx, a),
        "tensor" => tensor(cx, a)?,
        "new_zeros" | "new_ones" | "new_empty" | "new_full" => (|| -> EvalResult<PyValue> {
            let x = arg(op, a.t(0, "self"))?;
            let (value, dpos) = match op {
                "new_full" => (arg(op, a.f64(2, "fill_value", None))?, 3),
                "new_ones" => (1.0, 2),
                _ => (0.0, 2),
            };
            let dt = dtype_arg(a, dpos).unwrap_or(x.dtype);
            let sizes = a.get(1, "size").cloned().unwrap_or(PyValue::None);
            let (shape, n) = super::shape::shape_tensor(cx, op, &sizes)?;
            filled(cx, op, shape, Some(n), value, dt)
        })(),
        "empty" => (|| -> EvalResult<PyValue> {
            let sizes = a.get(0, "size").cloned().unwrap_or(PyValue::None);
            let (shape, n) = super::shape::shape_tensor(cx, op, &sizes)?;
            let dt = dtype_arg(a, 1).unwrap_or(DType::F32);
            filled(cx, op, shape, Some(n), 0.0, dt)
        })(),
        // copy_(self, src): src broadcast to self's shape, in self's type.
        "copy" => {
            let (Some(PyValue::Tensor(x)), Some(src)) = (a.get(0, "self"), a.get(1, "src")) else {
                return None;
            };
            let x = *x;
            (|| -> EvalResult<PyValue> {
                let src = arg(op, operand(cx, src, Some(x)))?;
                let mut v = src.v;
                if src.dtype != x.dtype {
                    v = cx.b.cast(v, x.dtype);
                }
                let shape = cx.b.op(OnnxOp::Shape, &[x.v], Attrs::default());
                let v = cx.b.op(OnnxOp::Expand, &[v, shape], Attrs::default());
                Ok(PyValue::Tensor(x.with(v)))
            })()
        }
        "empty_like" | "zero" | "fill" => {
            if !matches!(a.get(0, "self"), Some(PyValue::Tensor(_))) {
                return None;
            }
            (|| -> EvalResult<PyValue> {
                let x = arg(op, a.t(0, "self"))?;
                let shape = cx.b.op(OnnxOp::Shape, &[x.v], Attrs::default());
                let dt = if op == "empty_like" {
                    dtype_arg(a, 1).unwrap_or(x.dtype)
                } else {
                    x.dtype
                };
                match a.get(1, "value") {
                    Some(PyValue::Tensor(t)) if op == "fill" => {
                        let v = if t.dtype == dt {
                            t.v
                        } else {
                            cx.b.cast(t.v, dt)
                        };
                        let v = cx.b.op(OnnxOp::Expand, &[v, shape], Attrs::default());
                        Ok(PyValue::Tensor(TensorRef::new(v, x.rank, dt)))
                    }
                    Some(v) if op == "fill" => {
                        let value = known_f64(cx, v).ok_or_else(|| {
                            Stop::Fatal(format!("aten::fill_: value is a {}", v.kind()))
                        })?;
                        filled(cx, op, shape, x.rank, value, dt)
                    }
                    _ => filled(cx, op, shape, x.rank, 0.0, dt),
                }
            })()
        }
        _ => return None,
    })
}

/// `torch.tensor(data, dtype=…)` of Python numbers (a number or a flat list of them): a
/// constant, int64 for ints, float32 for floats, bool for bools unless `dtype` says.
fn tensor(cx: &mut Evaluator, a: &Args) -> Option<EvalResult<PyValue>> {
    let data = a.get(0, "data")?;
    let (items, dims): (Vec<&PyValue>, Vec<u64>) = match data {
        PyValue::List(l) => (l.iter().collect(), vec![l.len() as u64]),
        v @ (PyValue::Int(_) | PyValue::Float(_) | PyValue::Bool(_)) => (vec![v], vec![]),
        _ => return None,
    };
    let natural = if items.iter().all(|v| matches!(v, PyValue::Bool(_))) && !items.is_empty() {
        DType::Bool
    } else if items
        .iter()
        .all(|v| matches!(v, PyValue::Int(_) | PyValue::Bool(_)))
    {
        DType::I64
    } else {
        DType::F32
    };
    let vals: Option<Vec<f64>> = items.iter().map(|v| v.as_f64()).collect();
    let vals = vals?;
    let dt = dtype_arg(a, 1).unwrap_or(natural);
    let scalars: Vec<Tensor> = vals
        .iter()
        .map(|&v| modelc_ir::build::scalar_tensor(dt, v))
        .collect();
    let mut bytes = Vec::new();
    for t in &scalars {
        bytes.extend_from_slice(t.raw()?);
    }
    let t = Tensor::from_raw(dt, dims.clone(), bytes::Bytes::from(bytes)).ok()?;
    let v = cx.b.constant("tensor", t);
    Some(Ok(PyValue::Tensor(TensorRef::new(v, Some(dims.len()), dt))))
}

/// The `dtype` argument (keyword, or at position `pos`), when it names a type.
pub fn dtype_arg(a: &Args, pos: usize) -> Option<DType> {
    match a.some(pos, "dtype") {
        Some(PyValue::Int(c)) => scalar_type(*c),
        _ => None,
    }
}

/// A one-element tensor of `dtype` holding `value` (ConstantOfShape's `value`).
pub fn fill_value(dtype: DType, value: f64) -> Tensor {
    let mut t = modelc_ir::build::scalar_tensor(dtype, value);
    t.dims = vec![1];
    t
}

/// A tensor of shape `shape` (a 1-D int64 value) filled with `value`.
pub fn filled(
    cx: &mut Evaluator,
    op: &str,
    shape: modelc_ir::ValueRef,
    rank: Option<usize>,
    value: f64,
    dtype: DType,
) -> EvalResult<PyValue> {
    if !(dtype.is_float() || dtype.is_int() || dtype == DType::Bool) {
        return arg(op, Err(format!("dtype {dtype} is not supported")));
    }
    let v = cx.b.op(
        OnnxOp::ConstantOfShape,
        &[shape],
        attrs(vec![("value", Attr::Tensor(fill_value(dtype, value)))]),
    );
    Ok(PyValue::Tensor(TensorRef::new(v, rank, dtype)))
}

/// Most elements of an `arange` made a constant at import time.
const MAX_CONST_ARANGE: f64 = (1 << 20) as f64;

fn arange(cx: &mut Evaluator, a: &Args) -> EvalResult<PyValue> {
    let op = "arange";
    // The bounds: the leading positional numbers (TorchScript prints dtype and the rest as
    // keywords), or start / end / step keywords.
    let is_num = |v: &PyValue| {
        matches!(
            v,
            PyValue::Int(_) | PyValue::Float(_) | PyValue::SymInt(_) | PyValue::Tensor(_)
        )
    };
    let mut nums: Vec<PyValue> = a.pos.iter().take_while(|v| is_num(v)).cloned().collect();
    let mut dpos = nums.len();
    if nums.is_empty() {
        for k in ["start", "end", "step"] {
            if let Some((_, v)) = a.kw.iter().find(|(n, _)| n == k) {
                nums.push(v.clone());
            }
        }
        dpos = usize::MAX;
    }
    let (start, end, step) = match nums.as_slice() {
        [e] => (PyValue::Int(0), e.clone(), PyValue::Int(1)),
        [s, e] => (s.clone(), e.clone(), PyValue::Int(1)),
        [s, e, st] => (s.clone(), e.clone(), st.clone()),
        _ => return arg(op, Err(format!("{} bounds", nums.len()))),
    };
    let ints = [&start, &end, &step].iter().all(|v| match v {
        PyValue::Int(_) | PyValue::SymInt(_) => true,
        PyValue::Tensor(t) => !t.dtype.is_float(),
        _ => false,
    });
    let dt = dtype_arg(a, dpos).unwrap_or(if ints { DType::I64 } else { DType::F32 });
    let known = (
        known_f64(cx, &start),
        known_f64(cx, &end),
        known_f64(cx, &step),
    );
    if let (Some(s), Some(e), Some(st)) = known {
        if st == 0.0 {
            return arg(op, Err("step 0".to_string()));
        }
        let n = ((e - s) / st).ceil().max(0.0);
        if n <= MAX_CONST_ARANGE {
            let n = n as usize;
            let t = if dt.is_float() {
                // torch computes start + i·step in double precision, then rounds.
                let vals: Vec<f64> = (0..n).map(|i| s + i as f64 * st).collect();
                let ft = Tensor::from_f32(
                    vec![n as u64],
                    &vals.iter().map(|&v| v as f32).collect::<Vec<_>>(),
                )
                .map_err(|e| Stop::Fatal(e.to_string()))?;
                if dt == DType::F32 {
                    cx.b.constant("arange", ft)
                } else {
                    let c = cx.b.constant("arange", ft);
                    cx.b.cast(c, dt)
                }
            } else {
                let vals: Vec<i64> = (0..n).map(|i| s as i64 + i as i64 * st as i64).collect();
                let c = cx.b.ints(&vals);
                if dt == DType::I64 {
                    c
                } else {
                    cx.b.cast(c, dt)
                }
            };
            return Ok(PyValue::Tensor(TensorRef::new(t, Some(1), dt)));
        }
    }
    // Run-time bounds: Range over scalars of the result's type.
    let like = TensorRef::new(cx.b.scalar(dt, 0.0), Some(0), dt);
    let mut bound = |v: &PyValue| -> EvalResult<modelc_ir::ValueRef> {
        let t = arg(op, operand(cx, v, Some(like)))?;
        let mut x = t.v;
        if t.dtype != dt {
            x = cx.b.cast(x, dt);
        }
        if t.rank != Some(0) {
            let scalar = cx.b.ints(&[]);
            x = cx.b.op(OnnxOp::Reshape, &[x, scalar], Attrs::default());
        }
        Ok(x)
    };
    let (s, e, st) = (bound(&start)?, bound(&end)?, bound(&step)?);
    let v = cx.b.op(OnnxOp::Range, &[s, e, st], Attrs::default());
    Ok(PyValue::Tensor(TensorRef::new(v, Some(1), dt)))
}
