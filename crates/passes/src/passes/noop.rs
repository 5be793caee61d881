//! `noop`: removes nodes whose result provably equals their first input (same element
//! type, shape and elements), making their readers read that input:
//!
//! - `Cast` / `CastLike` to the input's own element type;
//! - `Reshape`, `Flatten`, `Squeeze`, `Unsqueeze`, `Expand` whose result has the input's
//!   shape (from the shape constant, or from the known types of input and output: these ops
//!   never reorder elements);
//! - `Pad` with all-zero pads (attribute before opset 11, input after);
//! - `Slice` that keeps every element (start 0, end past the dimension, step 1);
//! - `Concat` of a single input, `Split` into a single output;
//! - `Dropout` whose `training_mode` is a constant false (and whose mask is unused);
//! - `Add`/`Sub` of zero, `Mul`/`Div`/`Pow` by one, when the constant does not broadcast
//!   the other operand to a bigger shape (`x + 0` turns `-0.0` into `+0.0`, which compares
//!   equal; every other case is bit-exact).
//!
//! Types come from declarations and the `infer-shapes` pass; a node whose types are not
//! known stays. Identity and Dropout are the `identity` pass's; Transpose with the identity
//! permutation is the transpose pass's. A graph output keeps its name (see
//! [`bypass`](crate::util::bypass)).

use modelc_interp::Array;
use modelc_ir::{Attr, DType, Dim, Graph, NodeId, OnnxOp, ValueRef};

use crate::pattern::{const_tensor, extra_outputs_unused, for_each_graph, operand_orders};
use crate::util::{bypass, const_ints};
use crate::{Changed, Pass, PassContext, PassError};

pub struct NoopElim;

impl Pass for NoopElim {
    fn name(&self) -> &'static str {
        "noop"
    }

    fn description(&self) -> &'static str {
        "remove Cast/Reshape/Pad/Slice/Expand/Concat/Split/Add 0/Mul 1 nodes that return their input"
    }

    fn run(&self, g: &mut Graph, _cx: &mut PassContext) -> Result<Changed, PassError> {
        Ok(Changed::from_bool(for_each_graph(g, &mut eliminate)))
    }
}

fn eliminate(g: &mut Graph) -> bool {
    let mut changed = false;
    for id in g.topo_order().unwrap_or_default() {
        if let Some(src) = same_as_input(g, id) {
            if extra_outputs_unused(g, id) && bypass(g, id, src) {
                changed = true;
            }
        }
    }
    changed
}

/// The input node `id`'s first output is equal to, if it is a no-op.
fn same_as_input(g: &Graph, id: NodeId) -> Option<ValueRef> {
    use OnnxOp::*;
    let node = g.node(id);
    let op = node.op.onnx()?;
    let x = g.input(id, 0)?;
    let out = ValueRef::new(id, 0);
    let attrs = &node.attrs;
    let noop = match op {
        Cast => {
            let to = DType::from_onnx_code(i32::try_from(attrs.int("to", -1).ok()?).ok()?)?;
            g.dtype_of(x)? == to
        }
        CastLike => g.dtype_of(x)? == g.dtype_of(g.input(id, 1)?)?,
        Reshape | Flatten | Squeeze | Unsqueeze | Expand => {
            same_known_shape(g, x, out) || reshape_like_keeps_shape(g, id, op, x).unwrap_or(false)
        }
        Pad => ints_arg(g, id, "pads", 1)?.iter().all(|&p| p == 0),
        Slice => slice_keeps_all(g, id, x)?,
        Concat => g.inputs_of(id).iter().flatten().count() == 1,
        Split => node.outputs.len() == 1,
        // Without training_mode it is the `identity` pass's; a constant false is inference.
        Dropout => const_ints(g, g.input(id, 2)?)? == [0],
        Add | Sub | Mul | Div | Pow => return arithmetic_identity(g, id, op),
        _ => false,
    };
    noop.then_some(x)
}

/// Whether the declared or inferred types of `a` and `b` are the same fully known shape and
/// element type.
fn same_known_shape(g: &Graph, a: ValueRef, b: ValueRef) -> bool {
    let (Some(da), Some(db)) = (g.known_dims(a), g.known_dims(b)) else {
        return false;
    };
    da == db && g.dtype_of(a).is_some() && g.dtype_of(a) == g.dtype_of(b)
}

/// An ints argument given as attribute `attr` (older opsets) or as the constant input `slot`.
fn ints_arg(g: &Graph, id: NodeId, attr: &str, slot: usize) -> Option<Vec<i64>> {
    match g.node(id).attrs.get(attr) {
        Some(Attr::Ints(v)) => Some(v.clone()),
        Some(_) => None,
        None => const_ints(g, g.input(id, slot)?),
    }
}

/// Shape-only ops decided from the input's (possibly symbolic) shape and the op's arguments.
fn reshape_like_keeps_shape(g: &Graph, id: NodeId, op: OnnxOp, x: ValueRef) -> Option<bool> {
    let dims = &g.shape_of(x)?.0;
    let attrs = &g.node(id).attrs;
    Some(match op {
        OnnxOp::Reshape => {
            let target = ints_arg(g, id, "shape", 1)?;
            let allowzero = attrs.int("allowzero", 0).ok()? != 0;
            target.len() == dims.len() && {
                let mut inferred = 0;
                let all = dims.iter().zip(&target).all(|(d, &t)| match t {
                    -1 => {
                        inferred += 1;
                        true
                    }
                    0 if !allowzero => true,
                    t => t > 0 && d.known() == Some(t as u64),
                });
                all && inferred <= 1
            }
        }
        OnnxOp::Flatten => {
            let axis = attrs.int("axis", 1).ok()?;
            dims.len() == 2 && (axis == 1 || axis == -1)
        }
        OnnxOp::Squeeze => {
            let axes = ints_arg(g, id, "axes", 1).unwrap_or_default();
            // No axes squeezes every 1: a no-op when no dimension is (or may be) 1.
            axes.is_empty() && dims.iter().all(|d| d.known().is_some_and(|n| n != 1))
        }
        OnnxOp::Unsqueeze => ints_arg(g, id, "axes", 1)?.is_empty(),
        OnnxOp::Expand => {
            let target = const_ints(g, g.input(id, 1)?)?;
            target.len() <= dims.len()
                && dims[dims.len() - target.len()..]
                    .iter()
                    .zip(&target)
                    .all(|(d, &t)| t == 1 || d.known() == Some(t as u64))
        }
        _ => false,
    })
}

/// Whether a Slice keeps every element of `x`.
fn slice_keeps_all(g: &Graph, id: NodeId, x: ValueRef) -> Option<bool> {
    let starts = ints_arg(g, id, "starts", 1)?;
    let ends = ints_arg(g, id, "ends", 2)?;
    if starts.len() != ends.len() {
        return None;
    }
    let axes = match ints_arg(g, id, "axes", 3) {
        Some(a) => a,
        None if g.node(id).attrs.contains("axes") || g.input(id, 3).is_some() => return None,
        None => (0..starts.len() as i64).collect(),
    };
    let steps = match g.input(id, 4) {
        Some(v) => const_ints(g, v)?,
        None => vec![1; starts.len()],
    };
    if axes.len() != starts.len() || steps.len() != starts.len() {
        return None;
    }
    let shape = g.shape_of(x);
    for i in 0..starts.len() {
        if steps[i] != 1 {
            return Some(false);
        }
        // The dimension, when the axis and its size are known.
        let dim = shape.and_then(|s| {
            let r = s.rank() as i64;
            let a = if axes[i] < 0 { axes[i] + r } else { axes[i] };
            s.0.get(usize::try_from(a).ok()?).and_then(Dim::known)
        });
        let start_is_zero = match (starts[i], dim) {
            (0, _) => true,
            (s, Some(d)) if s < 0 => s.saturating_add(d as i64) <= 0,
            _ => false,
        };
        // Exporters write "to the end" as i64::MAX (or i32::MAX).
        let end_is_past = match (ends[i], dim) {
            (e, _) if e >= i32::MAX as i64 => true,
            (e, Some(d)) => e >= d as i64,
            _ => false,
        };
        if !(start_is_zero && end_is_past) {
            return Some(false);
        }
    }
    Some(true)
}

/// `x + 0`, `0 + x`, `x - 0`, `x * 1`, `1 * x`, `x / 1`, `x ^ 1` where the constant leaves
/// the shape of `x` as it is: the operand that equals the result.
fn arithmetic_identity(g: &Graph, id: NodeId, op: OnnxOp) -> Option<ValueRef> {
    let neutral = match op {
        OnnxOp::Add | OnnxOp::Sub => 0.0,
        OnnxOp::Mul | OnnxOp::Div | OnnxOp::Pow => 1.0,
        _ => return None,
    };
    operand_orders(g, id).into_iter().find_map(|(x, c)| {
        let t = const_tensor(g, c)?;
        if const_tensor(g, x).is_some() {
            return None; // both constant: `fold` computes it
        }
        let xty = g.dtype_of(x)?;
        if xty != t.dtype || g.dtype_of(ValueRef::new(id, 0)).is_some_and(|d| d != xty) {
            return None;
        }
        let keeps_shape = t.dims.is_empty() || {
            let dims = &g.shape_of(x)?.0;
            t.dims.len() <= dims.len()
                && dims[dims.len() - t.dims.len()..]
                    .iter()
                    .zip(&t.dims)
                    .all(|(d, &c)| c == 1 || d.known() == Some(c))
        };
        (keeps_shape && all_equal(t, neutral)).then_some(x)
    })
}

/// Whether every element of a (small) numeric constant equals `v`.
fn all_equal(t: &modelc_ir::Tensor, v: f64) -> bool {
    const MAX_ELEMENTS: u64 = 1 << 16;
    if t.element_count().is_none_or(|n| n > MAX_ELEMENTS)
        || !(t.dtype.is_float() || t.dtype.is_int())
    {
        return false;
    }
    Array::from_tensor(t)
        .and_then(|a| a.to_f64_vec())
        .is_ok_and(|vals| vals.iter().all(|&x| x == v))
}
