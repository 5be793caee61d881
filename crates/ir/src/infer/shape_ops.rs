//! Shape and data-movement ops: Reshape (`0`, `-1`, `allowzero`; opset 1's `shape`
//! attribute), Flatten, Transpose, Concat, Split (sizes as input from 13, attribute before,
//! `num_outputs` from 18), Slice (attributes before 10, inputs after), Squeeze / Unsqueeze
//! (attribute axes before 13, input after), Gather, GatherElements, GatherND, Shape
//! (`start`/`end` from 15), Size, Constant, ConstantOfShape, Expand, Pad (attribute pads
//! before 11, input after, `axes` from 18), Tile, Range, OneHot, EyeLike, NonZero, Compress,
//! Unique, NonMaxSuppression, the Random* generators, Bernoulli, Multinomial and the
//! window functions.
//!
//! Shape, Size, Gather, Concat, Slice, Squeeze, Unsqueeze, Constant and ConstantOfShape also
//! track the elements of small integer results symbolically ([`SymInt`]), so a shape computed
//! from `Shape(x)` feeds Reshape/Expand/ConstantOfShape/Tile inference.

use crate::{Attr, DType, Dim, OnnxOp, Tensor};

use super::ctx::{fail, InferCtx, InferError, Outputs};
use super::dims::{axis, broadcast, dim_add, dim_mul, reshape_dims, tensor_ints, SymInt};
use super::InferFn;

/// Symbolic element lists longer than this are not tracked (they are data, not shapes).
const MAX_SYM: usize = 64;

pub fn rule(op: OnnxOp) -> Option<InferFn> {
    use OnnxOp::*;
    Some(match op {
        Reshape => reshape,
        Flatten => flatten,
        Transpose => transpose,
        Concat => concat,
        Split => split,
        Slice => slice,
        Squeeze => squeeze,
        Unsqueeze => unsqueeze,
        Gather => gather,
        GatherElements => gather_elements,
        GatherND => gather_nd,
        Shape => shape,
        Size => size,
        Constant => constant,
        ConstantOfShape => constant_of_shape,
        Expand => expand,
        Pad => pad,
        Tile => tile,
        Range => range,
        OneHot => one_hot,
        EyeLike => eye_like,
        NonZero => non_zero,
        Compress => compress,
        Unique => unique,
        NonMaxSuppression => nms,
        RandomNormal | RandomUniform => random,
        RandomNormalLike | RandomUniformLike | Bernoulli => random_like,
        Multinomial => multinomial,
        BlackmanWindow | HammingWindow | HannWindow => window,
        _ => return None,
    })
}

/// The product of dims: known when all are; a single symbol times ones stays the symbol.
fn dims_product(dims: &[Dim]) -> Dim {
    let mut n = 1u64;
    let mut sym = None;
    for d in dims {
        match d {
            Dim::Known(k) => match n.checked_mul(*k) {
                Some(v) => n = v,
                None => return Dim::Unknown,
            },
            Dim::Sym(s) if sym.is_none() => sym = Some(s.clone()),
            _ => return Dim::Unknown,
        }
    }
    match sym {
        None => Dim::Known(n),
        Some(s) if n == 1 => Dim::Sym(s),
        Some(_) if n == 0 => Dim::Known(0),
        Some(_) => Dim::Unknown,
    }
}

/// The known length of a 1-D input (a shape, axes, pads): from its value or its type.
fn len_1d(cx: &InferCtx<'_>, i: usize) -> Option<usize> {
    if let Some(s) = cx.sym_ints(i) {
        return Some(s.len());
    }
    match cx.shape(i)? {
        [Dim::Known(n)] => usize::try_from(*n).ok(),
        _ => None,
    }
}

fn reshape(cx: &InferCtx<'_>, out: &mut Outputs) -> Result<(), InferError> {
    let dtype = cx.dtype(0);
    let target: Option<Vec<SymInt>> = if cx.has(1) {
        cx.sym_ints(1)
    } else {
        cx.attr_ints("shape")?
            .map(|v| v.into_iter().map(SymInt::Int).collect())
    };
    let allowzero = cx.attr_int("allowzero", 0)? != 0;
    let shape = match target {
        Some(t) => Some(reshape_dims(cx.shape(0), &t, allowzero)?),
        None => len_1d(cx, 1).map(|n| vec![Dim::Unknown; n]),
    };
    // Reshaping a tracked shape (e.g. to a 1-element vector) keeps its elements.
    if let (Some(s), Some(sh)) = (cx.sym_ints(0), &shape) {
        if sh.len() <= 1 {
            out.set_sym(0, s);
        }
    }
    out.set(0, dtype, shape);
    Ok(())
}

fn flatten(cx: &InferCtx<'_>, out: &mut Outputs) -> Result<(), InferError> {
    let shape = match cx.shape(0) {
        Some(s) => {
            let a = cx.attr_int("axis", 1)?;
            let r = s.len() as i64;
            if a < -r || a > r {
                fail!("Flatten axis {a} is out of range for rank {r}");
            }
            let a = if a < 0 { a + r } else { a } as usize;
            Some(vec![dims_product(&s[..a]), dims_product(&s[a..])])
        }
        None => Some(vec![Dim::Unknown, Dim::Unknown]),
    };
    out.set(0, cx.dtype(0), shape);
    Ok(())
}

fn transpose(cx: &InferCtx<'_>, out: &mut Outputs) -> Result<(), InferError> {
    let shape = match cx.shape(0) {
        Some(s) => {
            let perm: Vec<usize> = match cx.attr_ints("perm")? {
                Some(p) if !p.is_empty() || s.is_empty() => {
                    if p.len() != s.len() {
                        fail!(
                            "Transpose perm has {} entries for rank {}",
                            p.len(),
                            s.len()
                        );
                    }
                    // Unlike most axis attributes, ONNX's perm has no negative form
                    // (onnxruntime refuses the model): torch.onnx.export writes
                    // `permute(0, -2, -1, 1)` as given, with output dims read out of range.
                    if let Some(&a) = p.iter().find(|&&a| a < 0 || a >= s.len() as i64) {
                        fail!("Transpose perm {p:?} has axis {a}, outside 0..{}", s.len());
                    }
                    let p: Vec<usize> = p.iter().map(|&a| a as usize).collect();
                    let mut seen = vec![false; s.len()];
                    for &a in &p {
                        if std::mem::replace(&mut seen[a], true) {
                            fail!("Transpose perm repeats axis {a}");
                        }
                    }
                    p
                }
                _ => (0..s.len()).rev().collect(),
            };
            Some(perm.iter().map(|&a| s[a].clone()).collect())
        }
        None => None,
    };
    out.set(0, cx.dtype(0), shape);
    Ok(())
}

/// Two dims that must be equal: the more precise one (or an error when both are known and
/// differ).
fn unify(a: &Dim, b: &Dim, what: &str) -> Result<Dim, InferError> {
    Ok(match (a, b) {
        (Dim::Known(x), Dim::Known(y)) if x != y => fail!("{what}: dimensions {x} and {y} differ"),
        (Dim::Known(_), _) => a.clone(),
        (_, Dim::Known(_)) => b.clone(),
        (Dim::Sym(_), _) => a.clone(),
        _ => b.clone(),
    })
}

fn concat(cx: &InferCtx<'_>, out: &mut Outputs) -> Result<(), InferError> {
    let dtype = (0..cx.inputs.len()).find_map(|i| cx.dtype(i));
    let shapes: Option<Vec<&[Dim]>> = (0..cx.inputs.len())
        .filter(|&i| cx.has(i))
        .map(|i| cx.shape(i))
        .collect();
    let Some(shapes) = shapes.filter(|s| !s.is_empty()) else {
        let rank = (0..cx.inputs.len()).find_map(|i| cx.rank(i));
        out.set(0, dtype, rank.map(|r| vec![Dim::Unknown; r]));
        return Ok(());
    };
    let r = shapes[0].len();
    if shapes.iter().any(|s| s.len() != r) {
        fail!("Concat inputs have different ranks");
    }
    let a = axis(cx.attr_int("axis", 0)?, r)?;
    let mut shape = shapes[0].to_vec();
    for s in &shapes[1..] {
        for (k, d) in s.iter().enumerate() {
            shape[k] = if k == a {
                dim_add(&shape[k], d)
            } else {
                unify(&shape[k], d, "Concat")?
            };
        }
    }
    out.set(0, dtype, Some(shape));
    // Concatenating shape vectors.
    if r == 1 {
        let parts: Option<Vec<Vec<SymInt>>> = (0..cx.inputs.len())
            .filter(|&i| cx.has(i))
            .map(|i| cx.sym_ints(i))
            .collect();
        if let Some(parts) = parts {
            let all: Vec<SymInt> = parts.concat();
            if all.len() <= MAX_SYM {
                out.set_sym(0, all);
            }
        }
    }
    Ok(())
}

fn split(cx: &InferCtx<'_>, out: &mut Outputs) -> Result<(), InferError> {
    let dtype = cx.dtype(0);
    let n = cx.num_outputs;
    let Some(s) = cx.shape(0) else {
        for i in 0..n {
            out.set(i, dtype, None);
        }
        return Ok(());
    };
    let a = axis(cx.attr_int("axis", 0)?, s.len())?;
    let sizes: Option<Vec<i64>> = if cx.has(1) {
        cx.ints(1)
    } else {
        cx.attr_ints("split")?.filter(|v| !v.is_empty())
    };
    let parts: Vec<Dim> = match (sizes, &s[a]) {
        // Sizes computed at run time.
        (None, _) if cx.has(1) => vec![Dim::Unknown; n],
        (Some(sizes), d) => {
            if sizes.len() != n {
                fail!("Split has {} sizes for {n} outputs", sizes.len());
            }
            if let Dim::Known(total) = d {
                if sizes.iter().try_fold(0i64, |a, &b| a.checked_add(b)) != Some(*total as i64) {
                    fail!("Split sizes {sizes:?} do not add up to {total}");
                }
            }
            sizes
                .iter()
                .map(|&v| u64::try_from(v).map_or(Dim::Unknown, Dim::Known))
                .collect()
        }
        (None, Dim::Known(total)) if n > 0 => {
            let n64 = n as u64;
            if cx.attrs.contains("num_outputs") {
                // Opset 18: chunks of ceil(total / n), the last one smaller.
                let chunk = total.div_ceil(n64);
                (0..n64)
                    .map(|i| Dim::Known(chunk.min(total.saturating_sub(i * chunk))))
                    .collect()
            } else {
                if !total.is_multiple_of(n64) {
                    fail!("Split of {total} into {n} equal parts");
                }
                vec![Dim::Known(total / n64); n]
            }
        }
        _ => vec![Dim::Unknown; n],
    };
    for (i, p) in parts.into_iter().enumerate() {
        let mut sh = s.to_vec();
        sh[a] = p;
        out.set(i, dtype, Some(sh));
    }
    Ok(())
}

/// The first index and the length of `x[start:end:step]` along a dim of size `d` (ONNX
/// Slice clamping rules; `step` is not 0).
fn slice_range(d: i64, start: i64, end: i64, step: i64) -> (i64, i64) {
    let wrap = |v: i64| if v < 0 { v.saturating_add(d) } else { v };
    let (s, e) = if step > 0 {
        (wrap(start).clamp(0, d), wrap(end).clamp(0, d))
    } else {
        // Start in [0, d-1] (nothing to take from an empty dim), end in [-1, d-1].
        let s = if d == 0 {
            -1
        } else {
            wrap(start).clamp(0, d - 1)
        };
        (s, wrap(end).clamp(-1, d - 1))
    };
    // In i128: steps near i64::MAX must not overflow.
    let (span, step) = (
        (e as i128 - s as i128) * step.signum() as i128,
        step.unsigned_abs() as i128,
    );
    let len = if span <= 0 {
        0
    } else {
        (span + step - 1) / step
    };
    (s, len as i64)
}

fn slice(cx: &InferCtx<'_>, out: &mut Outputs) -> Result<(), InferError> {
    let dtype = cx.dtype(0);
    let Some(s) = cx.shape(0) else {
        out.set(0, dtype, None);
        return Ok(());
    };
    let r = s.len();
    let from_inputs = cx.has(1) || cx.opset >= 10 && !cx.attrs.contains("starts");
    let (starts, ends, axes, steps) = if from_inputs {
        let axes = if cx.has(3) {
            cx.ints(3).map(Some)
        } else {
            Some(None)
        };
        let steps = if cx.has(4) {
            cx.ints(4).map(Some)
        } else {
            Some(None)
        };
        (cx.ints(1), cx.ints(2), axes, steps)
    } else {
        (
            cx.attr_ints("starts")?,
            cx.attr_ints("ends")?,
            Some(cx.attr_ints("axes")?),
            Some(None),
        )
    };
    let (Some(starts), Some(ends), Some(axes), Some(steps)) = (starts, ends, axes, steps) else {
        // Parameters not constant: the rank stays, the sliced dims are unknown (all of them
        // when the axes are not known).
        let mut sh = s.to_vec();
        let known_axes = if from_inputs && cx.has(3) {
            cx.ints(3)
        } else {
            None
        };
        match known_axes {
            Some(ax) => {
                for a in ax {
                    sh[axis(a, r)?] = Dim::Unknown;
                }
            }
            None => sh.iter_mut().for_each(|d| *d = Dim::Unknown),
        }
        out.set(0, dtype, Some(sh));
        return Ok(());
    };
    let axes: Vec<i64> = axes.unwrap_or_else(|| (0..starts.len() as i64).collect());
    let steps = steps.unwrap_or_else(|| vec![1; starts.len()]);
    if ends.len() != starts.len() || axes.len() != starts.len() || steps.len() != starts.len() {
        fail!("Slice starts, ends, axes and steps differ in length");
    }
    let mut sh = s.to_vec();
    let mut sym = cx.sym_ints(0).filter(|_| r == 1);
    for i in 0..starts.len() {
        let a = axis(axes[i], r)?;
        if steps[i] == 0 {
            fail!("Slice step is 0");
        }
        sh[a] = match &s[a] {
            Dim::Known(d) => match i64::try_from(*d) {
                Ok(d) => Dim::Known(slice_range(d, starts[i], ends[i], steps[i]).1 as u64),
                Err(_) => Dim::Unknown,
            },
            // Everything along an axis of unknown size: the same size.
            d if starts[i] == 0 && steps[i] == 1 && ends[i] >= i32::MAX as i64 => d.clone(),
            _ => Dim::Unknown,
        };
        if let Some(v) = sym.take() {
            let (first, len) = slice_range(v.len() as i64, starts[i], ends[i], steps[i]);
            let picked: Option<Vec<SymInt>> = (0..len)
                .map(|k| {
                    let at = first.checked_add(k.checked_mul(steps[i])?)?;
                    v.get(usize::try_from(at).ok()?).cloned()
                })
                .collect();
            sym = picked;
        }
    }
    out.set(0, dtype, Some(sh));
    if let Some(v) = sym {
        out.set_sym(0, v);
    }
    Ok(())
}

/// Axes from input 1 (opset 13+) or the `axes` attribute; `Ok(None)` when given but not
/// constant, `Ok(Some(empty))` when absent.
fn axes_arg(cx: &InferCtx<'_>) -> Result<Option<Vec<i64>>, InferError> {
    if cx.has(1) {
        return Ok(cx.ints(1));
    }
    Ok(Some(cx.attr_ints("axes")?.unwrap_or_default()))
}

fn squeeze(cx: &InferCtx<'_>, out: &mut Outputs) -> Result<(), InferError> {
    let dtype = cx.dtype(0);
    let shape = match (cx.shape(0), axes_arg(cx)?) {
        (Some(s), Some(axes)) if axes.is_empty() => {
            if s.iter().all(|d| d.known().is_some()) {
                Some(s.iter().filter(|d| **d != Dim::Known(1)).cloned().collect())
            } else {
                None
            }
        }
        (Some(s), Some(axes)) => {
            let axes: Vec<usize> = axes
                .iter()
                .map(|&a| axis(a, s.len()))
                .collect::<Result<_, _>>()?;
            for &a in &axes {
                if let Dim::Known(n) = s[a] {
                    if n != 1 {
                        fail!("Squeeze of axis {a} of size {n}");
                    }
                }
            }
            Some(
                s.iter()
                    .enumerate()
                    .filter(|(k, _)| !axes.contains(k))
                    .map(|(_, d)| d.clone())
                    .collect(),
            )
        }
        (Some(s), None) => len_1d(cx, 1).map(|n| vec![Dim::Unknown; s.len().saturating_sub(n)]),
        (None, _) => None,
    };
    out.set(0, dtype, shape);
    if let Some(s) = cx.sym_ints(0) {
        out.set_sym(0, s);
    }
    Ok(())
}

fn unsqueeze(cx: &InferCtx<'_>, out: &mut Outputs) -> Result<(), InferError> {
    let dtype = cx.dtype(0);
    let shape = match (cx.shape(0), axes_arg(cx)?) {
        (Some(s), Some(axes)) => {
            let r = s.len() + axes.len();
            let mut axes: Vec<usize> =
                axes.iter().map(|&a| axis(a, r)).collect::<Result<_, _>>()?;
            axes.sort_unstable();
            if axes.windows(2).any(|w| w[0] == w[1]) {
                fail!("Unsqueeze repeats an axis");
            }
            let mut it = s.iter();
            Some(
                (0..r)
                    .map(|k| {
                        if axes.contains(&k) {
                            Dim::Known(1)
                        } else {
                            it.next().cloned().unwrap_or(Dim::Unknown)
                        }
                    })
                    .collect(),
            )
        }
        (Some(s), None) => len_1d(cx, 1).map(|n| vec![Dim::Unknown; s.len() + n]),
        (None, _) => None,
    };
    out.set(0, dtype, shape);
    if let Some(s) = cx.sym_ints(0) {
        out.set_sym(0, s);
    }
    Ok(())
}

fn gather(cx: &InferCtx<'_>, out: &mut Outputs) -> Result<(), InferError> {
    let dtype = cx.dtype(0);
    let shape = match (cx.shape(0), cx.shape(1)) {
        (Some(d), Some(i)) => {
            if d.is_empty() {
                fail!("Gather from a scalar");
            }
            let a = axis(cx.attr_int("axis", 0)?, d.len())?;
            let mut s = d[..a].to_vec();
            s.extend_from_slice(i);
            s.extend_from_slice(&d[a + 1..]);
            Some(s)
        }
        _ => None,
    };
    out.set(0, dtype, shape);
    // Picking elements of a shape vector.
    if let (Some(data), Some(idx), Some(1)) = (cx.sym_ints(0), cx.ints(1), cx.rank(0)) {
        let n = data.len() as i64;
        let picked: Option<Vec<SymInt>> = idx
            .iter()
            .map(|&k| {
                let k = if k < 0 { k + n } else { k };
                (0..n).contains(&k).then(|| data[k as usize].clone())
            })
            .collect();
        match picked {
            Some(p) if p.len() <= MAX_SYM => out.set_sym(0, p),
            Some(_) => {}
            None => fail!("Gather index out of range for {n} elements"),
        }
    }
    Ok(())
}

fn gather_elements(cx: &InferCtx<'_>, out: &mut Outputs) -> Result<(), InferError> {
    out.set(0, cx.dtype(0), cx.shape(1).map(<[_]>::to_vec));
    Ok(())
}

fn gather_nd(cx: &InferCtx<'_>, out: &mut Outputs) -> Result<(), InferError> {
    let b = cx.attr_int("batch_dims", 0)?.max(0) as usize;
    let shape = match (cx.shape(0), cx.shape(1)) {
        (Some(d), Some(i)) if !i.is_empty() => match i[i.len() - 1] {
            Dim::Known(k) if b + k as usize <= d.len() => {
                let mut s = i[..i.len() - 1].to_vec();
                s.extend_from_slice(&d[b + k as usize..]);
                Some(s)
            }
            Dim::Known(k) => fail!("GatherND index depth {k} exceeds rank {}", d.len()),
            _ => None,
        },
        _ => None,
    };
    out.set(0, cx.dtype(0), shape);
    Ok(())
}

fn shape(cx: &InferCtx<'_>, out: &mut Outputs) -> Result<(), InferError> {
    let Some(s) = cx.shape(0) else {
        out.set(0, Some(DType::I64), Some(vec![Dim::Unknown]));
        return Ok(());
    };
    let r = s.len() as i64;
    let norm = |v: i64| if v < 0 { v.saturating_add(r).max(0) } else { v.min(r) } as usize;
    let start = norm(cx.attr_int("start", 0)?);
    let end = norm(cx.attr_int("end", r)?);
    let dims: &[Dim] = if start < end { &s[start..end] } else { &[] };
    out.set(
        0,
        Some(DType::I64),
        Some(vec![Dim::Known(dims.len() as u64)]),
    );
    out.set_sym(0, dims.iter().map(SymInt::from_dim).collect());
    Ok(())
}

fn size(cx: &InferCtx<'_>, out: &mut Outputs) -> Result<(), InferError> {
    out.set(0, Some(DType::I64), Some(vec![]));
    if let Some(s) = cx.shape(0) {
        let p = dims_product(s);
        out.set_sym(0, vec![SymInt::from_dim(&p)]);
    }
    Ok(())
}

fn constant(cx: &InferCtx<'_>, out: &mut Outputs) -> Result<(), InferError> {
    let Some(e) = cx.attrs.iter().next() else {
        fail!("Constant without a value");
    };
    match &e.value {
        Attr::Tensor(t) => {
            set_tensor(out, t);
        }
        Attr::SparseTensor(t) => out.set(
            0,
            Some(t.values.dtype),
            Some(t.dims.iter().map(|&d| Dim::Known(d)).collect()),
        ),
        Attr::Int(v) => {
            out.set(0, Some(DType::I64), Some(vec![]));
            out.set_sym(0, vec![SymInt::Int(*v)]);
        }
        Attr::Ints(v) => {
            out.set(0, Some(DType::I64), Some(vec![Dim::Known(v.len() as u64)]));
            if v.len() <= MAX_SYM {
                out.set_sym(0, v.iter().map(|&x| SymInt::Int(x)).collect());
            }
        }
        Attr::Float(_) => out.set(0, Some(DType::F32), Some(vec![])),
        Attr::Floats(v) => out.set(0, Some(DType::F32), Some(vec![Dim::Known(v.len() as u64)])),
        Attr::String(_) => out.set(0, Some(DType::Str), Some(vec![])),
        Attr::Strings(v) => out.set(0, Some(DType::Str), Some(vec![Dim::Known(v.len() as u64)])),
        _ => {}
    }
    Ok(())
}

fn set_tensor(out: &mut Outputs, t: &Tensor) {
    out.set(
        0,
        Some(t.dtype),
        Some(t.dims.iter().map(|&d| Dim::Known(d)).collect()),
    );
    if t.dims.len() <= 1 {
        if let Some(v) = tensor_ints(t).filter(|v| v.len() <= MAX_SYM) {
            out.set_sym(0, v.into_iter().map(SymInt::Int).collect());
        }
    }
}

/// Dims from a shape input (ConstantOfShape, Expand, ...): its tracked elements, else as
/// many unknown dims as its length says.
fn dims_from_shape_input(cx: &InferCtx<'_>, i: usize) -> Option<Vec<Dim>> {
    match cx.sym_ints(i) {
        Some(s) => Some(s.iter().map(SymInt::to_dim).collect()),
        None => len_1d(cx, i).map(|n| vec![Dim::Unknown; n]),
    }
}

fn constant_of_shape(cx: &InferCtx<'_>, out: &mut Outputs) -> Result<(), InferError> {
    let value = match cx.attrs.get("value") {
        Some(Attr::Tensor(t)) => Some(t),
        _ => None,
    };
    let dtype = value.map_or(DType::F32, |t| t.dtype);
    let dims = dims_from_shape_input(cx, 0);
    if let (Some(d), Some(v)) = (&dims, value.and_then(tensor_ints)) {
        // A small integer fill (torch's `ones(len(shape))` in Expand patterns).
        if let (Some(n), [x]) = (super::dims::product(d), v.as_slice()) {
            if d.len() <= 1 && n as usize <= MAX_SYM {
                out.set_sym(0, vec![SymInt::Int(*x); n as usize]);
            }
        }
    }
    out.set(0, Some(dtype), dims);
    Ok(())
}

fn expand(cx: &InferCtx<'_>, out: &mut Outputs) -> Result<(), InferError> {
    let dtype = cx.dtype(0);
    let shape = match (cx.shape(0), dims_from_shape_input(cx, 1)) {
        // An unknown target dim (1 or the input's size) broadcasts to the input's size when
        // that is known and not 1.
        (Some(s), Some(t)) => Some(broadcast(&[s, &t])?),
        _ => None,
    };
    out.set(0, dtype, shape);
    Ok(())
}

fn pad(cx: &InferCtx<'_>, out: &mut Outputs) -> Result<(), InferError> {
    let dtype = cx.dtype(0);
    let Some(s) = cx.shape(0) else {
        out.set(0, dtype, None);
        return Ok(());
    };
    let r = s.len();
    let pads = if cx.has(1) {
        cx.ints(1)
    } else {
        cx.attr_ints("paddings")?.or(cx.attr_ints("pads")?)
    };
    let axes: Option<Vec<usize>> = if cx.has(3) {
        cx.ints(3)
            .map(|a| a.iter().map(|&x| axis(x, r)).collect::<Result<_, _>>())
            .transpose()?
    } else {
        Some((0..r).collect())
    };
    let shape = match (pads, axes) {
        (Some(p), Some(axes)) => {
            if p.len() != 2 * axes.len() {
                fail!("Pad has {} pads for {} axes", p.len(), axes.len());
            }
            let n = axes.len();
            let mut sh = s.to_vec();
            for (k, &a) in axes.iter().enumerate() {
                let total = p[k] as i128 + p[k + n] as i128;
                sh[a] = match &s[a] {
                    Dim::Known(d) => {
                        let v = *d as i128 + total;
                        if v < 0 {
                            fail!("Pad makes axis {a} negative");
                        }
                        u64::try_from(v).map_or(Dim::Unknown, Dim::Known)
                    }
                    d if total == 0 => d.clone(),
                    _ => Dim::Unknown,
                };
            }
            sh
        }
        (_, Some(axes)) => {
            let mut sh = s.to_vec();
            for a in axes {
                sh[a] = Dim::Unknown;
            }
            sh
        }
        _ => vec![Dim::Unknown; r],
    };
    out.set(0, dtype, Some(shape));
    Ok(())
}

fn tile(cx: &InferCtx<'_>, out: &mut Outputs) -> Result<(), InferError> {
    let dtype = cx.dtype(0);
    let shape = match (cx.shape(0), cx.sym_ints(1)) {
        (Some(s), Some(rep)) => {
            if rep.len() != s.len() {
                fail!("Tile has {} repeats for rank {}", rep.len(), s.len());
            }
            Some(
                s.iter()
                    .zip(&rep)
                    .map(|(d, r)| match r {
                        SymInt::Int(k) if *k >= 0 => dim_mul(d, *k as u64),
                        _ => Dim::Unknown,
                    })
                    .collect(),
            )
        }
        (Some(s), None) => Some(vec![Dim::Unknown; s.len()]),
        _ => None,
    };
    out.set(0, dtype, shape);
    Ok(())
}

fn range(cx: &InferCtx<'_>, out: &mut Outputs) -> Result<(), InferError> {
    let dtype = cx.dtype(0).or(cx.dtype(1)).or(cx.dtype(2));
    let n = match (cx.floats(0), cx.floats(1), cx.floats(2)) {
        (Some(s), Some(l), Some(d)) if s.len() == 1 && l.len() == 1 && d.len() == 1 => {
            if d[0] == 0.0 {
                fail!("Range with delta 0");
            }
            let n = ((l[0] - s[0]) / d[0]).ceil().max(0.0);
            if n > u32::MAX as f64 {
                Dim::Unknown
            } else {
                Dim::Known(n as u64)
            }
        }
        _ => Dim::Unknown,
    };
    out.set(0, dtype, Some(vec![n]));
    Ok(())
}

fn one_hot(cx: &InferCtx<'_>, out: &mut Outputs) -> Result<(), InferError> {
    let dtype = cx.dtype(2);
    let shape = cx.shape(0).map(|s| -> Result<Vec<Dim>, InferError> {
        let r = s.len() + 1;
        let a = axis(cx.attr_int("axis", -1)?, r)?;
        let depth = cx
            .floats(1)
            .filter(|v| v.len() == 1)
            .map_or(Dim::Unknown, |v| Dim::Known(v[0].max(0.0) as u64));
        let mut sh = s.to_vec();
        sh.insert(a, depth);
        Ok(sh)
    });
    out.set(0, dtype, shape.transpose()?);
    Ok(())
}

fn eye_like(cx: &InferCtx<'_>, out: &mut Outputs) -> Result<(), InferError> {
    let dtype = cx.attr_dtype("dtype")?.or(cx.dtype(0));
    out.set(0, dtype, cx.shape(0).map(<[_]>::to_vec));
    Ok(())
}

fn non_zero(cx: &InferCtx<'_>, out: &mut Outputs) -> Result<(), InferError> {
    let r = cx.rank(0).map_or(Dim::Unknown, |r| Dim::Known(r as u64));
    out.set(0, Some(DType::I64), Some(vec![r, Dim::Unknown]));
    Ok(())
}

/// The shape of an op that keeps an unknown number of input elements (Compress, Unique): the
/// input's with the `axis` dimension unknown, or a flat vector of unknown length without `axis`.
fn selected_shape(cx: &InferCtx<'_>) -> Result<Option<Vec<Dim>>, InferError> {
    if !cx.attrs.contains("axis") {
        return Ok(Some(vec![Dim::Unknown]));
    }
    let Some(s) = cx.shape(0) else {
        return Ok(None);
    };
    let a = axis(cx.attr_int("axis", 0)?, s.len())?;
    let mut sh = s.to_vec();
    sh[a] = Dim::Unknown;
    Ok(Some(sh))
}

fn compress(cx: &InferCtx<'_>, out: &mut Outputs) -> Result<(), InferError> {
    let shape = selected_shape(cx)?;
    out.set(0, cx.dtype(0), shape);
    Ok(())
}

fn unique(cx: &InferCtx<'_>, out: &mut Outputs) -> Result<(), InferError> {
    let y = selected_shape(cx)?;
    out.set(0, cx.dtype(0), y);
    out.set(1, Some(DType::I64), Some(vec![Dim::Unknown]));
    let n = if cx.attrs.contains("axis") {
        cx.shape(0).and_then(|s| {
            let a = axis(cx.attr_int("axis", 0).ok()?, s.len()).ok()?;
            s.get(a).cloned()
        })
    } else {
        cx.shape(0).map(dims_product)
    };
    out.set(2, Some(DType::I64), Some(vec![n.unwrap_or(Dim::Unknown)]));
    out.set(3, Some(DType::I64), Some(vec![Dim::Unknown]));
    Ok(())
}

fn nms(_cx: &InferCtx<'_>, out: &mut Outputs) -> Result<(), InferError> {
    out.set(0, Some(DType::I64), Some(vec![Dim::Unknown, Dim::Known(3)]));
    Ok(())
}

fn random(cx: &InferCtx<'_>, out: &mut Outputs) -> Result<(), InferError> {
    let dtype = cx.attr_dtype("dtype")?.unwrap_or(DType::F32);
    let shape = cx.attr_ints("shape")?.map(|s| {
        s.iter()
            .map(|&d| u64::try_from(d).map_or(Dim::Unknown, Dim::Known))
            .collect()
    });
    out.set(0, Some(dtype), shape);
    Ok(())
}

fn random_like(cx: &InferCtx<'_>, out: &mut Outputs) -> Result<(), InferError> {
    let dtype = cx.attr_dtype("dtype")?.or(cx.dtype(0));
    out.set(0, dtype, cx.shape(0).map(<[_]>::to_vec));
    Ok(())
}

fn multinomial(cx: &InferCtx<'_>, out: &mut Outputs) -> Result<(), InferError> {
    let dtype = cx.attr_dtype("dtype")?.unwrap_or(DType::I32);
    let n = cx.attr_int("sample_size", 1)?;
    let batch = cx
        .shape(0)
        .and_then(|s| s.first().cloned())
        .unwrap_or(Dim::Unknown);
    out.set(
        0,
        Some(dtype),
        Some(vec![batch, Dim::Known(n.max(0) as u64)]),
    );
    Ok(())
}

fn window(cx: &InferCtx<'_>, out: &mut Outputs) -> Result<(), InferError> {
    let dtype = cx.attr_dtype("output_datatype")?.unwrap_or(DType::F32);
    let n = match cx.ints(0).as_deref() {
        Some([n]) if *n >= 0 => Dim::Known(*n as u64),
        _ => Dim::Unknown,
    };
    out.set(0, Some(dtype), Some(vec![n]));
    Ok(())
}
