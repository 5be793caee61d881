//! Helpers for the control family: sub-graph attributes, scalar inputs, and stacking /
//! concatenating / slicing arrays of any element type along an axis.

use modelc_ir::{Attr, Graph, ValueType};
use ndarray::{ArrayD, ArrayViewD, Axis, IxDyn, Slice};

use crate::{bail, Array, Data, KernelError, OpCtx};

/// The sub-graph attribute `name` of the node.
pub fn graph_attr<'a>(ctx: &OpCtx<'a>, name: &str) -> Result<&'a Graph, KernelError> {
    match ctx.attrs().get(name) {
        Some(Attr::Graph(g)) => Ok(g),
        Some(_) => bail!("attribute `{name}` is not a graph"),
        None => bail!("missing graph attribute `{name}`"),
    }
}

/// A one-element bool tensor's value.
pub fn bool_scalar(d: &Data, what: &str) -> Result<bool, KernelError> {
    match d {
        Data::Tensor(Array::Bool(a)) if a.len() == 1 => {
            Ok(a.iter().next().copied().unwrap_or(false))
        }
        _ => bail!("{what} must be a one-element bool tensor"),
    }
}

/// A one-element integer tensor's value.
pub fn int_scalar(a: &Array, what: &str) -> Result<i64, KernelError> {
    let v = a.to_i64_vec()?;
    if v.len() != 1 {
        bail!("{what} must have one element, has {}", v.len());
    }
    Ok(v[0])
}

pub fn i64_scalar(v: i64) -> Array {
    Array::I64(ArrayD::from_elem(IxDyn(&[]), v))
}

pub fn bool_array(v: bool) -> Array {
    Array::Bool(ArrayD::from_elem(IxDyn(&[]), v))
}

/// An empty tensor for a graph output whose value never got computed (a Loop scan output
/// after zero iterations): its declared element type and shape with a leading 0.
pub fn empty_like_output(graph: &Graph, slot: usize) -> Array {
    let ty = graph
        .outputs()
        .get(slot)
        .and_then(|v| graph.value(*v))
        .and_then(|v| v.ty.as_ref());
    let (dtype, mut shape) = match ty.map(|t| &t.ty) {
        Some(ValueType::Tensor(tt)) => (
            tt.dtype,
            tt.shape
                .as_ref()
                .map(|s| {
                    s.0.iter()
                        .map(|d| d.known().unwrap_or(0) as usize)
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default(),
        ),
        _ => (None, vec![]),
    };
    shape.insert(0, 0);
    let shape = IxDyn(&shape);
    use modelc_ir::DType as D;
    match dtype.unwrap_or(D::F32) {
        D::F64 => Array::F64(ArrayD::zeros(shape)),
        D::F16 => Array::F16(ArrayD::from_elem(shape, half::f16::ZERO)),
        D::BF16 => Array::BF16(ArrayD::from_elem(shape, half::bf16::ZERO)),
        D::I8 => Array::I8(ArrayD::zeros(shape)),
        D::I16 => Array::I16(ArrayD::zeros(shape)),
        D::I32 => Array::I32(ArrayD::zeros(shape)),
        D::I64 => Array::I64(ArrayD::zeros(shape)),
        D::U8 => Array::U8(ArrayD::zeros(shape)),
        D::U16 => Array::U16(ArrayD::zeros(shape)),
        D::U32 => Array::U32(ArrayD::zeros(shape)),
        D::U64 => Array::U64(ArrayD::zeros(shape)),
        D::Bool => Array::Bool(ArrayD::from_elem(shape, false)),
        D::Str => Array::Str(ArrayD::from_elem(shape, String::new())),
        _ => Array::F32(ArrayD::zeros(shape)),
    }
}

macro_rules! list_arm {
    ($arrs:expr, $first:expr, $V:ident, $v:ident, $body:expr) => {{
        let $v: Vec<ArrayViewD<'_, _>> = $arrs
            .iter()
            .map(|a| match a {
                Array::$V(x) => Ok(x.view()),
                o => Err(KernelError::new(format!(
                    "mixed element types {} and {}",
                    $first.dtype(),
                    o.dtype()
                ))),
            })
            .collect::<Result<_, _>>()?;
        Array::$V($body)
    }};
}

/// Applies `$body` (an expression producing an `ArrayD`) to the typed views of a non-empty
/// list of arrays that must share one element type.
macro_rules! typed_list {
    ($arrs:expr, |$v:ident| $body:expr) => {{
        let arrs: &[Array] = $arrs;
        let Some(first) = arrs.first() else {
            bail!("empty list of tensors");
        };
        match first {
            Array::F32(_) => list_arm!(arrs, first, F32, $v, $body),
            Array::F64(_) => list_arm!(arrs, first, F64, $v, $body),
            Array::F16(_) => list_arm!(arrs, first, F16, $v, $body),
            Array::BF16(_) => list_arm!(arrs, first, BF16, $v, $body),
            Array::I8(_) => list_arm!(arrs, first, I8, $v, $body),
            Array::I16(_) => list_arm!(arrs, first, I16, $v, $body),
            Array::I32(_) => list_arm!(arrs, first, I32, $v, $body),
            Array::I64(_) => list_arm!(arrs, first, I64, $v, $body),
            Array::U8(_) => list_arm!(arrs, first, U8, $v, $body),
            Array::U16(_) => list_arm!(arrs, first, U16, $v, $body),
            Array::U32(_) => list_arm!(arrs, first, U32, $v, $body),
            Array::U64(_) => list_arm!(arrs, first, U64, $v, $body),
            Array::Bool(_) => list_arm!(arrs, first, Bool, $v, $body),
            Array::Str(_) => list_arm!(arrs, first, Str, $v, $body),
            Array::Packed { dtype, .. } => bail!("element type {dtype} is not supported here"),
        }
    }};
}

/// Stacks arrays of one shape along a new `axis` (0..=rank).
pub fn stack(arrs: &[Array], axis: usize) -> Result<Array, KernelError> {
    if let Some(f) = arrs.first() {
        if axis > f.shape().len() {
            bail!(
                "stack axis {axis} is out of range for rank {}",
                f.shape().len()
            );
        }
        if arrs.iter().any(|a| a.shape() != f.shape()) {
            bail!("cannot stack tensors of different shapes");
        }
    }
    Ok(typed_list!(arrs, |v| ndarray::stack(Axis(axis), &v)?))
}

/// Concatenates arrays along an existing `axis`.
pub fn concat(arrs: &[Array], axis: usize) -> Result<Array, KernelError> {
    if let Some(f) = arrs.first() {
        let r = f.shape().len();
        if axis >= r {
            bail!("concat axis {axis} is out of range for rank {r}");
        }
        for a in arrs {
            let s = a.shape();
            if s.len() != r || (0..r).any(|i| i != axis && s[i] != f.shape()[i]) {
                bail!(
                    "cannot concatenate shapes {:?} and {s:?} on axis {axis}",
                    f.shape()
                );
            }
        }
    }
    Ok(typed_list!(arrs, |v| ndarray::concatenate(Axis(axis), &v)?))
}

/// The sub-array at `index` along `axis` (the axis removed).
pub fn index_axis(a: &Array, axis: usize, index: usize) -> Result<Array, KernelError> {
    let s = a.shape();
    if axis >= s.len() || index >= s[axis] {
        bail!("index {index} on axis {axis} is out of range for shape {s:?}");
    }
    crate::map_array!(a, x => x.index_axis(Axis(axis), index).to_owned())
}

/// Elements `start..end` along `axis`.
pub fn slice_axis(a: &Array, axis: usize, start: usize, end: usize) -> Result<Array, KernelError> {
    let s = a.shape();
    if axis >= s.len() || start > end || end > s[axis] {
        bail!("range {start}..{end} on axis {axis} is out of range for shape {s:?}");
    }
    crate::map_array!(a, x => x.slice_axis(Axis(axis), Slice::from(start..end)).to_owned())
}

/// Moves axis 0 of `a` to position `to`.
pub fn move_first_axis(a: Array, to: usize) -> Result<Array, KernelError> {
    if to == 0 {
        return Ok(a);
    }
    let r = a.shape().len();
    if to >= r {
        bail!("axis {to} is out of range for rank {r}");
    }
    let mut perm: Vec<usize> = (1..r).collect();
    perm.insert(to, 0);
    crate::map_array!(a, x => x.permuted_axes(IxDyn(&perm)).as_standard_layout().into_owned())
}

/// The tensor inside a value, or an error naming `what`.
pub fn tensor<'a>(d: &'a Data, what: &str) -> Result<&'a Array, KernelError> {
    match d {
        Data::Tensor(a) => Ok(a),
        _ => bail!("{what} is not a tensor"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(v: &[f32], s: &[usize]) -> Array {
        Array::F32(ArrayD::from_shape_vec(IxDyn(s), v.to_vec()).unwrap())
    }

    #[test]
    fn stack_concat_index() {
        let a = f(&[1., 2.], &[2]);
        let b = f(&[3., 4.], &[2]);
        assert_eq!(
            stack(&[a.clone(), b.clone()], 1).unwrap(),
            f(&[1., 3., 2., 4.], &[2, 2])
        );
        assert_eq!(
            concat(&[a.clone(), b], 0).unwrap(),
            f(&[1., 2., 3., 4.], &[4])
        );
        assert!(concat(&[a.clone(), Array::scalar_f32(1.0)], 0).is_err());
        assert!(stack(&[a.clone(), Array::I64(ArrayD::zeros(IxDyn(&[2])))], 0).is_err());
        assert!(index_axis(&a, 0, 2).is_err());
        assert_eq!(index_axis(&a, 0, 1).unwrap(), Array::scalar_f32(2.0));
        let m = f(&[1., 2., 3., 4., 5., 6.], &[2, 3]);
        assert_eq!(
            move_first_axis(m, 1).unwrap(),
            f(&[1., 4., 2., 5., 3., 6.], &[3, 2])
        );
    }
}
