//! Value producers: Constant (`value`, `sparse_value`, `value_float(s)`, `value_int(s)`,
//! `value_string(s)`), ConstantOfShape (`value`, default f32 0), Range (numeric scalars;
//! count `max(ceil((limit - start) / delta), 0)`), EyeLike (`dtype`, `k`) and OneHot
//! (`axis`, default -1; negative indices count from `depth`, out-of-range ones give an
//! all-off row).

use modelc_ir::{Attr, DType, SparseTensor, Tensor};
use ndarray::{ArrayD, IxDyn};

use crate::ops::util::one;
use crate::{bail, Array, Data, KernelError, OpCtx};

use super::common::{dims_usize, from_f64_vec, from_i64_vec, take, FILL};
use crate::ops::elem::{checked_count, strides_of};

fn tensor(t: &Tensor) -> Result<Array, KernelError> {
    Array::from_tensor(t)
}

fn sparse(s: &SparseTensor) -> Result<Array, KernelError> {
    let values = tensor(&s.values)?;
    let indices = tensor(&s.indices)?.to_i64_vec()?;
    let dims: Vec<usize> = s
        .dims
        .iter()
        .map(|&d| usize::try_from(d).map_err(|_| KernelError::new("dimension too large")))
        .collect::<Result<_, _>>()?;
    let n = checked_count(&dims)?;
    let nnz = values.len();
    let st = strides_of(&dims);
    let lin: Vec<usize> = if indices.len() == nnz {
        indices
            .iter()
            .map(|&i| usize::try_from(i).ok().filter(|&i| i < n))
            .collect::<Option<_>>()
            .ok_or_else(|| KernelError::new("sparse index out of range"))?
    } else if indices.len() == nnz * dims.len() {
        let mut v = Vec::with_capacity(nnz);
        for c in indices.chunks(dims.len().max(1)) {
            let mut o = 0;
            for (k, &i) in c.iter().enumerate() {
                match usize::try_from(i) {
                    Ok(i) if i < dims[k] => o += i * st[k],
                    _ => bail!("sparse index out of range"),
                }
            }
            v.push(o);
        }
        v
    } else {
        bail!("sparse indices do not match the values");
    };
    let mut offs = vec![FILL; n];
    for (j, &o) in lin.iter().enumerate() {
        offs[o] = j;
    }
    let zero = super::common::zero_like(&values)?;
    take(&values, &offs, &dims, Some(&zero))
}

fn str_array(v: Vec<String>, shape: &[usize]) -> Result<Array, KernelError> {
    Ok(Array::Str(ArrayD::from_shape_vec(IxDyn(shape), v)?))
}

pub fn constant(ctx: &OpCtx<'_>) -> Result<Vec<Data>, KernelError> {
    let Some(entry) = ctx.attrs().iter().next() else {
        bail!("Constant needs a value attribute");
    };
    let a = match (entry.name.as_str(), &entry.value) {
        ("value", Attr::Tensor(t)) => tensor(t)?,
        ("sparse_value", Attr::SparseTensor(s)) => sparse(s)?,
        ("value_float", Attr::Float(f)) => Array::scalar_f32(*f),
        ("value_floats", Attr::Floats(f)) => {
            Array::F32(ArrayD::from_shape_vec(IxDyn(&[f.len()]), f.clone())?)
        }
        ("value_int", Attr::Int(i)) => Array::I64(ArrayD::from_elem(IxDyn(&[]), *i)),
        ("value_ints", Attr::Ints(i)) => {
            Array::I64(ArrayD::from_shape_vec(IxDyn(&[i.len()]), i.clone())?)
        }
        ("value_string", Attr::String(s)) => {
            str_array(vec![String::from_utf8_lossy(s).into_owned()], &[])?
        }
        ("value_strings", Attr::Strings(s)) => str_array(
            s.iter()
                .map(|b| String::from_utf8_lossy(b).into_owned())
                .collect(),
            &[s.len()],
        )?,
        (name, _) => bail!("unsupported Constant attribute `{name}`"),
    };
    one(a)
}

pub fn constant_of_shape(ctx: &OpCtx<'_>) -> Result<Vec<Data>, KernelError> {
    let shape = dims_usize(&ctx.input(0)?.to_i64_vec()?)?;
    let n = checked_count(&shape)?;
    let value = match ctx.attrs().get("value") {
        Some(Attr::Tensor(t)) => tensor(t)?,
        Some(_) => bail!("attribute `value` must be a tensor"),
        None => Array::scalar_f32(0.0),
    };
    if value.len() != 1 {
        bail!("ConstantOfShape value must have one element");
    }
    one(take(&value, &vec![0; n], &shape, None)?)
}

pub fn range(ctx: &OpCtx<'_>) -> Result<Vec<Data>, KernelError> {
    let (s, l, d) = (ctx.input(0)?, ctx.input(1)?, ctx.input(2)?);
    if s.len() != 1 || l.len() != 1 || d.len() != 1 {
        bail!("Range inputs must be scalars");
    }
    let dtype = s.dtype();
    if l.dtype() != dtype || d.dtype() != dtype {
        bail!("Range inputs must have the same type");
    }
    if dtype.is_int() {
        let (s, l, d) = (
            s.to_i64_vec()?[0] as i128,
            l.to_i64_vec()?[0] as i128,
            d.to_i64_vec()?[0] as i128,
        );
        if d == 0 {
            bail!("Range delta cannot be 0");
        }
        let span = l - s;
        let n = if (span > 0) == (d > 0) && span != 0 {
            (span + d - d.signum()) / d
        } else {
            0
        };
        if n > crate::ops::elem::MAX_ELEMS as i128 {
            bail!("Range would produce {n} elements");
        }
        let n = n as usize;
        let v: Vec<i64> = (0..n as i128).map(|i| (s + i * d) as i64).collect();
        return one(from_i64_vec(dtype, &[n], v)?);
    }
    let (s, l, d) = (s.to_f64_vec()?[0], l.to_f64_vec()?[0], d.to_f64_vec()?[0]);
    if d == 0.0 || !d.is_finite() || !s.is_finite() || !l.is_finite() {
        bail!("Range needs finite inputs and a non-zero delta");
    }
    let n = ((l - s) / d).ceil().max(0.0);
    if n > crate::ops::elem::MAX_ELEMS as f64 {
        bail!("Range would produce {n} elements");
    }
    let n = n as usize;
    one(from_f64_vec(
        dtype,
        &[n],
        (0..n).map(|i| s + i as f64 * d).collect(),
    )?)
}

pub fn eye_like(ctx: &OpCtx<'_>) -> Result<Vec<Data>, KernelError> {
    let x = ctx.input(0)?;
    let s = x.shape();
    if s.len() != 2 {
        bail!("EyeLike needs a 2-D input, got {s:?}");
    }
    let dtype = match ctx.attrs().get("dtype") {
        Some(_) => {
            let code = ctx.attrs().int("dtype", 0)?;
            i32::try_from(code)
                .ok()
                .and_then(DType::from_onnx_code)
                .ok_or_else(|| KernelError::new(format!("unknown dtype {code}")))?
        }
        None => x.dtype(),
    };
    let k = ctx.attrs().int("k", 0)?;
    let (r, c) = (s[0], s[1]);
    let mut v = vec![0.0; r * c];
    for i in 0..r {
        let j = i as i64 + k;
        if j >= 0 && (j as usize) < c {
            v[i * c + j as usize] = 1.0;
        }
    }
    one(from_f64_vec(dtype, s, v)?)
}

pub fn one_hot(ctx: &OpCtx<'_>) -> Result<Vec<Data>, KernelError> {
    let ind = ctx.input(0)?;
    let depth = ctx.input(1)?;
    let values = ctx.input(2)?;
    if depth.len() != 1 {
        bail!("OneHot depth must be a scalar");
    }
    if values.len() != 2 {
        bail!("OneHot values must have two elements");
    }
    let depth = depth.to_f64_vec()?[0];
    if !(depth >= 1.0 && depth <= crate::ops::elem::MAX_ELEMS as f64) {
        bail!("invalid OneHot depth {depth}");
    }
    let depth = depth as i64;
    let rank = ind.shape().len() + 1;
    let axis = crate::ops::util::normalize_axis(ctx.attrs().int("axis", -1)?, rank)?;
    let mut shape = ind.shape().to_vec();
    shape.insert(axis, depth as usize);
    checked_count(&shape)?;
    let idx = ind.to_f64_vec()?;
    let outer: usize = ind.shape()[..axis].iter().product();
    let inner: usize = ind.shape()[axis..].iter().product();
    let mut offs = Vec::with_capacity(outer * depth as usize * inner);
    for o in 0..outer {
        for d in 0..depth {
            for i in 0..inner {
                let v = idx[o * inner + i];
                let v = if v.is_finite() { v as i64 } else { i64::MIN };
                let v = if v < 0 && v >= -depth { v + depth } else { v };
                offs.push(usize::from(v == d));
            }
        }
    }
    one(take(values, &offs, &shape, None)?)
}
