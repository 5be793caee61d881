//! Elementwise ops: unary ops and activations (output = input's type), numpy-broadcasting
//! binary and variadic ops, comparisons and logic (bool results), `Where`, `Cast`/`CastLike`,
//! `Clip`, `Identity`, `Dropout` (with its mask), `IsNaN`/`IsInf`, `SwiGLU`, `BitShift`, `Mod`, `Pow`
//! (result has the base's type), `PRelu`. All opset versions: none of these changed shape
//! rules across versions; inputs that became optional (Clip's min/max) do not matter.

use crate::{DType, Dim, OnnxOp};

use super::ctx::{fail, InferCtx, InferError, Outputs};
use super::dims::{broadcast, SymInt};
use super::InferFn;

pub fn rule(op: OnnxOp) -> Option<InferFn> {
    use OnnxOp::*;
    let traits = op.traits();
    Some(match op {
        Identity => identity,
        Dropout => dropout,
        IsNaN | IsInf => unary_bool,
        Cast => cast,
        CastLike => cast_like,
        Equal | Less | LessOrEqual | Greater | GreaterOrEqual | And | Or | Xor => broadcast_bool,
        Where => where_,
        Scatter | ScatterElements => scatter_elements,
        ScatterND => scatter_nd,
        _ if traits.unary_elementwise => same_as_first,
        _ if traits.broadcasting => broadcast_first_dtype,
        // Not elementwise, but output 0 is input 0's type and shape.
        Hardmax
        | LogSoftmax
        | Softmax
        | LpNormalization
        | MeanVarianceNormalization
        | CumSum
        | CumProd
        | Trilu
        | ReverseSequence
        | LRN
        | InstanceNormalization
        | GroupNormalization
        | RMSNormalization
        | Det
        | TensorScatter
        | RotaryEmbedding
        | SwiGLU => same_as_first,
        _ => return None,
    })
}

/// Whether two dims can be the same size (unknown and symbolic dims can).
fn may_equal(a: &Dim, b: &Dim) -> bool {
    !matches!((a, b), (Dim::Known(x), Dim::Known(y)) if x != y)
}

/// `[5,1,N,?]`: dims as a message shows them.
fn dims_text(dims: &[Dim]) -> String {
    let parts: Vec<String> = dims
        .iter()
        .map(|d| match d {
            Dim::Known(n) => n.to_string(),
            Dim::Sym(s) => s.clone(),
            Dim::Unknown => "?".into(),
        })
        .collect();
    format!("[{}]", parts.join(","))
}

/// ScatterElements (and the old Scatter): the data's type; the indices and the updates have
/// one shape, of the data's rank.
fn scatter_elements(cx: &InferCtx<'_>, out: &mut Outputs) -> Result<(), InferError> {
    if let (Some(i), Some(u)) = (cx.shape(1), cx.shape(2)) {
        if i.len() != u.len() || !i.iter().zip(u).all(|(a, b)| may_equal(a, b)) {
            fail!(
                "the indices {} and the updates {} differ in shape",
                dims_text(i),
                dims_text(u)
            );
        }
    }
    if let (Some(d), Some(i)) = (cx.shape(0), cx.shape(1)) {
        if d.len() != i.len() {
            fail!(
                "the data has rank {} but the indices rank {}",
                d.len(),
                i.len()
            );
        }
    }
    same_as_first(cx, out)
}

/// ScatterND: the data's type; with indices of shape `q[..-1] + [k]`, the updates must have
/// the shape `q[..-1] + data[k..]`.
fn scatter_nd(cx: &InferCtx<'_>, out: &mut Outputs) -> Result<(), InferError> {
    if let (Some(d), Some(i)) = (cx.shape(0), cx.shape(1)) {
        let Some((last, lead)) = i.split_last() else {
            fail!("the indices are 0-d");
        };
        if let Dim::Known(k) = last {
            let k = *k as usize;
            if k > d.len() {
                fail!("the indices address {k} dims of data of rank {}", d.len());
            }
            let want: Vec<Dim> = lead.iter().chain(&d[k..]).cloned().collect();
            if let Some(u) = cx.shape(2) {
                if u.len() != want.len() || !u.iter().zip(&want).all(|(a, b)| may_equal(a, b)) {
                    fail!(
                        "the updates are {} but data {} indexed by {} needs {}",
                        dims_text(u),
                        dims_text(d),
                        dims_text(i),
                        dims_text(&want)
                    );
                }
            }
        }
    }
    same_as_first(cx, out)
}

/// Output 0 has input 0's type (Det drops the last two dims).
fn same_as_first(cx: &InferCtx<'_>, out: &mut Outputs) -> Result<(), InferError> {
    let mut shape = cx.shape(0).map(<[_]>::to_vec);
    if cx.op == OnnxOp::Det {
        shape = shape.and_then(|s| (s.len() >= 2).then(|| s[..s.len() - 2].to_vec()));
    }
    out.set(0, cx.dtype(0), shape);
    Ok(())
}

fn identity(cx: &InferCtx<'_>, out: &mut Outputs) -> Result<(), InferError> {
    if let Some(ty) = cx.input(0).and_then(|i| i.ty) {
        out.set_type(0, ty.clone());
    }
    if let Some(s) = cx.sym_ints(0) {
        out.set_sym(0, s);
    }
    Ok(())
}

fn dropout(cx: &InferCtx<'_>, out: &mut Outputs) -> Result<(), InferError> {
    let shape = cx.shape(0).map(<[_]>::to_vec);
    out.set(0, cx.dtype(0), shape.clone());
    out.set(1, Some(DType::Bool), shape);
    Ok(())
}

fn unary_bool(cx: &InferCtx<'_>, out: &mut Outputs) -> Result<(), InferError> {
    out.set(0, Some(DType::Bool), cx.shape(0).map(<[_]>::to_vec));
    Ok(())
}

/// The broadcast shape of every present input, `None` when one has unknown rank.
fn broadcast_inputs(
    cx: &InferCtx<'_>,
    range: std::ops::Range<usize>,
) -> Result<Option<Vec<crate::Dim>>, InferError> {
    let mut shapes = Vec::new();
    for i in range {
        if !cx.has(i) {
            continue;
        }
        match cx.shape(i) {
            Some(s) => shapes.push(s),
            None => return Ok(None),
        }
    }
    if shapes.is_empty() {
        return Ok(None);
    }
    broadcast(&shapes).map(Some)
}

fn broadcast_first_dtype(cx: &InferCtx<'_>, out: &mut Outputs) -> Result<(), InferError> {
    let shape = broadcast_inputs(cx, 0..cx.inputs.len())?;
    let dtype = cx.dtype(0).or_else(|| {
        // Pow's exponent may differ in type; the other ops have one type for all inputs.
        (cx.op != OnnxOp::Pow)
            .then(|| (1..cx.inputs.len()).find_map(|i| cx.dtype(i)))
            .flatten()
    });
    out.set(0, dtype, shape.clone());
    // Arithmetic on shape values (`Shape(x)[0] * 2`): numbers combine, and `x * 1`, `x + 0`
    // keep a symbol.
    if cx.inputs.len() == 2
        && matches!(cx.op, OnnxOp::Add | OnnxOp::Sub | OnnxOp::Mul | OnnxOp::Div)
    {
        if let (Some(a), Some(b)) = (cx.sym_ints(0), cx.sym_ints(1)) {
            if let Some(s) = sym_arith(cx.op, &a, &b) {
                if shape.as_ref().is_some_and(|sh| sh.len() <= 1) {
                    out.set_sym(0, s);
                }
            }
        }
    }
    Ok(())
}

fn sym_arith(op: OnnxOp, a: &[SymInt], b: &[SymInt]) -> Option<Vec<SymInt>> {
    zip_sym(a, b, |p, q| match (p, q) {
        (SymInt::Int(x), SymInt::Int(y)) => match op {
            OnnxOp::Add => x.checked_add(*y),
            OnnxOp::Sub => x.checked_sub(*y),
            OnnxOp::Mul => x.checked_mul(*y),
            // Integer Div truncates; for non-negative operands that is floor.
            _ => (*x >= 0 && *y > 0).then(|| x / y),
        }
        .map_or(SymInt::Unknown, SymInt::Int),
        (s, SymInt::Int(1)) if matches!(op, OnnxOp::Mul | OnnxOp::Div) => s.clone(),
        (SymInt::Int(1), s) if op == OnnxOp::Mul => s.clone(),
        (s, SymInt::Int(0)) if matches!(op, OnnxOp::Add | OnnxOp::Sub) => s.clone(),
        (SymInt::Int(0), s) if op == OnnxOp::Add => s.clone(),
        _ => SymInt::Unknown,
    })
}

fn broadcast_bool(cx: &InferCtx<'_>, out: &mut Outputs) -> Result<(), InferError> {
    let shape = broadcast_inputs(cx, 0..cx.inputs.len())?;
    // torch's `expand` exports `Where(Equal(shape, -1), ones, shape)`: compare shape values.
    if cx.op == OnnxOp::Equal && shape.as_ref().is_some_and(|s| s.len() <= 1) {
        if let (Some(a), Some(b)) = (cx.sym_ints(0), cx.sym_ints(1)) {
            if let Some(v) = zip_sym(&a, &b, |x, y| match (x, y) {
                (SymInt::Int(p), SymInt::Int(q)) => SymInt::Int((p == q) as i64),
                (SymInt::Sym(p), SymInt::Sym(q)) if p == q => SymInt::Int(1),
                // A dimension is never negative.
                (SymInt::Sym(_), SymInt::Int(n)) | (SymInt::Int(n), SymInt::Sym(_)) if *n < 0 => {
                    SymInt::Int(0)
                }
                _ => SymInt::Unknown,
            }) {
                out.set_sym(0, v);
            }
        }
    }
    out.set(0, Some(DType::Bool), shape);
    Ok(())
}

/// Element `i` of a shape value that broadcasts (length 1 or the full length).
fn pick(v: &[SymInt], i: usize) -> &SymInt {
    &v[if v.len() == 1 { 0 } else { i }]
}

/// Elementwise `f` over two shape values of equal length (or one of length 1).
fn zip_sym(
    a: &[SymInt],
    b: &[SymInt],
    f: impl Fn(&SymInt, &SymInt) -> SymInt,
) -> Option<Vec<SymInt>> {
    let n = a.len().max(b.len());
    if !(a.len() == n || a.len() == 1) || !(b.len() == n || b.len() == 1) {
        return None;
    }
    Some((0..n).map(|i| f(pick(a, i), pick(b, i))).collect())
}

fn where_(cx: &InferCtx<'_>, out: &mut Outputs) -> Result<(), InferError> {
    let shape = broadcast_inputs(cx, 0..3)?;
    if shape.as_ref().is_some_and(|s| s.len() <= 1) {
        if let (Some(c), Some(x), Some(y)) = (cx.sym_ints(0), cx.sym_ints(1), cx.sym_ints(2)) {
            let n = c.len().max(x.len()).max(y.len());
            if [&c, &x, &y].iter().all(|v| v.len() == n || v.len() == 1) {
                let v = (0..n)
                    .map(|i| match pick(&c, i) {
                        SymInt::Int(0) => pick(&y, i).clone(),
                        SymInt::Int(_) => pick(&x, i).clone(),
                        _ => SymInt::Unknown,
                    })
                    .collect();
                out.set_sym(0, v);
            }
        }
    }
    out.set(0, cx.dtype(1).or_else(|| cx.dtype(2)), shape);
    Ok(())
}

fn cast(cx: &InferCtx<'_>, out: &mut Outputs) -> Result<(), InferError> {
    let to = cx.attr_dtype("to")?;
    out.set(0, to, cx.shape(0).map(<[_]>::to_vec));
    // Casting a shape between integer types keeps its elements.
    if to.is_some_and(|d| d.is_int()) && cx.dtype(0).is_some_and(|d| d.is_int()) {
        if let Some(s) = cx.sym_ints(0) {
            out.set_sym(0, s);
        }
    }
    Ok(())
}

fn cast_like(cx: &InferCtx<'_>, out: &mut Outputs) -> Result<(), InferError> {
    out.set(0, cx.dtype(1), cx.shape(0).map(<[_]>::to_vec));
    Ok(())
}
