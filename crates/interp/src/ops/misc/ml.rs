//! Small `ai.onnx.ml` ops:
//! - LabelEncoder (ml opsets 1, 2, 4): maps keys to values. Opset 1 uses
//!   `classes_strings` (string → index, index → string); later opsets take
//!   `keys_{floats,int64s,strings}` / `values_{floats,int64s,strings}`, and opset 4 also
//!   `keys_tensor` / `values_tensor` / `default_tensor`. Unmatched inputs get the default
//!   (`default_tensor`, else `default_string` "_Unused", `default_int64` -1 or
//!   `default_float` -0.0, by the output type). Float keys match NaN to NaN.
//! - Binarizer (ml opset 1): `x > threshold ? 1 : 0` (attribute `threshold`, default 0),
//!   same type as the input.
//! - ArrayFeatureExtractor (ml opset 1): selects the entries `Y` (int64) of the last axis
//!   of `X`; output `[..., len(Y)]` (`[1, len(Y)]` for a `[1, C]` input).

use std::collections::HashMap;

use half::{bf16, f16};
use modelc_ir::DType;
use ndarray::{ArrayD, IxDyn};

use crate::ops::util::one;
use crate::{bail, map_array, Array, Data, KernelError, OpCtx};

use super::common::{float_array, float_values, strings, tensor_attr};

#[derive(Clone, PartialEq, Eq, Hash)]
enum Key {
    Int(i64),
    /// f64 bits, with -0.0 folded into 0.0 and every NaN into one.
    Float(u64),
    Str(String),
}

fn float_key(v: f64) -> Key {
    if v.is_nan() {
        Key::Float(f64::NAN.to_bits())
    } else if v == 0.0 {
        Key::Float(0)
    } else {
        Key::Float(v.to_bits())
    }
}

fn keys_of(a: &Array) -> Result<Vec<Key>, KernelError> {
    Ok(match a {
        Array::Str(s) => s.iter().cloned().map(Key::Str).collect(),
        Array::F32(_) | Array::F64(_) | Array::F16(_) | Array::BF16(_) => {
            float_values(a)?.into_iter().map(float_key).collect()
        }
        other => other.to_i64_vec()?.into_iter().map(Key::Int).collect(),
    })
}

fn vec_array<T>(v: Vec<T>) -> ArrayD<T> {
    let n = v.len();
    ArrayD::from_shape_vec(IxDyn(&[n]), v).expect("1-D of its own length")
}

/// A one-element array of `dtype` holding the default for that type.
fn default_for(dtype: DType, i: i64, f: f32, s: &str) -> Result<Array, KernelError> {
    let sh = IxDyn(&[1]);
    Ok(match dtype {
        DType::Str => Array::Str(ArrayD::from_elem(sh, s.to_string())),
        DType::F32 => Array::F32(ArrayD::from_elem(sh, f)),
        DType::F64 => Array::F64(ArrayD::from_elem(sh, f as f64)),
        DType::F16 => Array::F16(ArrayD::from_elem(sh, f16::from_f32(f))),
        DType::BF16 => Array::BF16(ArrayD::from_elem(sh, bf16::from_f32(f))),
        DType::I8 => Array::I8(ArrayD::from_elem(sh, i as i8)),
        DType::I16 => Array::I16(ArrayD::from_elem(sh, i as i16)),
        DType::I32 => Array::I32(ArrayD::from_elem(sh, i as i32)),
        DType::I64 => Array::I64(ArrayD::from_elem(sh, i)),
        DType::U8 => Array::U8(ArrayD::from_elem(sh, i as u8)),
        DType::U16 => Array::U16(ArrayD::from_elem(sh, i as u16)),
        DType::U32 => Array::U32(ArrayD::from_elem(sh, i as u32)),
        DType::U64 => Array::U64(ArrayD::from_elem(sh, i as u64)),
        other => bail!("unsupported LabelEncoder value type {other}"),
    })
}

/// `values[idx]` (or `default[0]` for `None`) for every index, shaped `shape`.
fn take(
    values: &Array,
    default: &Array,
    idx: &[Option<usize>],
    shape: &[usize],
) -> Result<Array, KernelError> {
    macro_rules! arms {
        ($($v:ident),*) => {
            match (values, default) {
                $((Array::$v(v), Array::$v(d)) => {
                    let vs: Vec<_> = v.iter().cloned().collect();
                    let Some(dv) = d.iter().next().cloned() else {
                        bail!("the default value is empty");
                    };
                    let out = idx
                        .iter()
                        .map(|i| i.map_or_else(|| dv.clone(), |k| vs[k].clone()))
                        .collect();
                    Array::$v(ArrayD::from_shape_vec(IxDyn(shape), out)?)
                })*
                _ => bail!(
                    "default value type {} does not match values type {}",
                    default.dtype(),
                    values.dtype()
                ),
            }
        };
    }
    Ok(arms!(
        F32, F64, F16, BF16, I8, I16, I32, I64, U8, U16, U32, U64, Bool, Str
    ))
}

pub fn label_encoder(ctx: &OpCtx<'_>) -> Result<Vec<Data>, KernelError> {
    let at = ctx.attrs();
    let x = ctx.input(0)?;
    let default_int = at.int("default_int64", -1)?;
    let default_str = at.string("default_string", "_Unused")?;
    // The schema default from ai.onnx.ml 2, spelled out: LabelEncoder-1 has no such attribute.
    let default_float = at.float("default_float", -0.0)?;
    let (keys, values) = if let Some(classes) = strings(at, "classes_strings")? {
        // Opset 1.
        let n = classes.len();
        if matches!(x, Array::Str(_)) {
            let keys: Vec<Key> = classes.into_iter().map(Key::Str).collect();
            (keys, Array::I64(vec_array((0..n as i64).collect())))
        } else {
            let keys: Vec<Key> = (0..n as i64).map(Key::Int).collect();
            (keys, Array::Str(vec_array(classes)))
        }
    } else {
        let keys = if let Some(t) = tensor_attr(at, "keys_tensor")? {
            keys_of(&t)?
        } else if let Some(s) = strings(at, "keys_strings")? {
            s.into_iter().map(Key::Str).collect()
        } else if at.contains("keys_int64s") {
            at.ints("keys_int64s", vec![])?
                .into_iter()
                .map(Key::Int)
                .collect()
        } else if at.contains("keys_floats") {
            let f = at.floats("keys_floats", vec![])?;
            f.into_iter().map(|v| float_key(v as f64)).collect()
        } else {
            bail!("LabelEncoder has no keys");
        };
        let values = if let Some(t) = tensor_attr(at, "values_tensor")? {
            t
        } else if let Some(s) = strings(at, "values_strings")? {
            Array::Str(vec_array(s))
        } else if at.contains("values_int64s") {
            Array::I64(vec_array(at.ints("values_int64s", vec![])?))
        } else if at.contains("values_floats") {
            Array::F32(vec_array(at.floats("values_floats", vec![])?))
        } else {
            bail!("LabelEncoder has no values");
        };
        (keys, values)
    };
    if keys.len() != values.len() {
        bail!("{} keys but {} values", keys.len(), values.len());
    }
    let default = match tensor_attr(at, "default_tensor")? {
        Some(t) => t,
        None => default_for(values.dtype(), default_int, default_float, &default_str)?,
    };
    let mut map = HashMap::with_capacity(keys.len());
    for (i, k) in keys.into_iter().enumerate() {
        map.entry(k).or_insert(i);
    }
    let idx: Vec<Option<usize>> = keys_of(x)?.iter().map(|k| map.get(k).copied()).collect();
    one(take(&values, &default, &idx, x.shape())?)
}

pub fn binarizer(ctx: &OpCtx<'_>) -> Result<Vec<Data>, KernelError> {
    let x = ctx.input(0)?;
    let th = ctx.float("threshold")? as f64;
    match x {
        Array::I32(a) => one(Array::I32(a.mapv(|v| (v as f64 > th) as i32))),
        Array::I64(a) => one(Array::I64(a.mapv(|v| (v as f64 > th) as i64))),
        _ => {
            let v = float_values(x)?
                .into_iter()
                .map(|v| if v > th { 1.0 } else { 0.0 })
                .collect();
            one(float_array(x.dtype(), x.shape(), v)?)
        }
    }
}

fn take_last<T: Clone>(
    a: &ArrayD<T>,
    idx: &[usize],
    shape: &[usize],
) -> Result<ArrayD<T>, KernelError> {
    let c = a.shape().last().copied().unwrap_or(1);
    let flat: Vec<&T> = a.iter().collect();
    let rows = flat.len().checked_div(c).unwrap_or(0);
    let mut out = Vec::with_capacity(rows * idx.len());
    for r in 0..rows {
        for &i in idx {
            out.push(flat[r * c + i].clone());
        }
    }
    Ok(ArrayD::from_shape_vec(IxDyn(shape), out)?)
}

pub fn array_feature_extractor(ctx: &OpCtx<'_>) -> Result<Vec<Data>, KernelError> {
    let x = ctx.input(0)?;
    let y = ctx.input(1)?.to_i64_vec()?;
    let xs = x.shape();
    let Some(&c) = xs.last() else {
        bail!("input must have rank >= 1");
    };
    let idx: Vec<usize> = y
        .iter()
        .map(|&i| {
            if i < 0 || i as u64 >= c as u64 {
                bail!("index {i} is out of range for {c} features");
            }
            Ok(i as usize)
        })
        .collect::<Result<_, _>>()?;
    let mut shape = xs[..xs.len() - 1].to_vec();
    shape.push(idx.len());
    map_array!(x, a => take_last(a, &idx, &shape)?).and_then(one)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn take_last_selects_columns() {
        let a = ArrayD::from_shape_vec(IxDyn(&[2, 3]), vec![1, 2, 3, 4, 5, 6]).unwrap();
        let out = take_last(&a, &[2, 0, 2], &[2, 3]).unwrap();
        assert_eq!(
            out.iter().copied().collect::<Vec<_>>(),
            vec![3, 1, 3, 6, 4, 6]
        );
    }

    #[test]
    fn float_keys_fold_zero_and_nan() {
        assert!(float_key(-0.0) == float_key(0.0));
        assert!(float_key(f64::NAN) == float_key(-f64::NAN));
    }
}
