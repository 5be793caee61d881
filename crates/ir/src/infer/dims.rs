//! Dimension arithmetic shared by the inference rules: numpy broadcasting over known and
//! symbolic dims, axis normalization, refining a declared type with an inferred one, merging
//! the types of two branches, and reading small constant tensors as numbers.

use crate::{DType, Dim, Shape, Tensor, TensorData, TensorType, ValueType};

use super::ctx::{fail, InferError};

/// Constants with more elements than this are not read as numbers (they are weights, not
/// shapes or axes).
pub const MAX_READ_ELEMENTS: u64 = 1 << 16;

/// One element of an integer tensor that holds a shape being computed: a number, a
/// symbolic dimension, or unknown.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SymInt {
    Int(i64),
    Sym(String),
    Unknown,
}

impl SymInt {
    pub fn from_dim(d: &Dim) -> SymInt {
        match d {
            Dim::Known(n) => i64::try_from(*n).map_or(SymInt::Unknown, SymInt::Int),
            Dim::Sym(s) => SymInt::Sym(s.clone()),
            Dim::Unknown => SymInt::Unknown,
        }
    }

    /// As a dimension (negative numbers are not sizes: unknown).
    pub fn to_dim(&self) -> Dim {
        match self {
            SymInt::Int(n) if *n >= 0 => Dim::Known(*n as u64),
            SymInt::Sym(s) => Dim::Sym(s.clone()),
            _ => Dim::Unknown,
        }
    }

    pub fn int(&self) -> Option<i64> {
        match self {
            SymInt::Int(n) => Some(*n),
            _ => None,
        }
    }
}

/// Broadcasts two dimensions (numpy rules). Two different known sizes, neither 1, are an
/// error; a symbol against 1 stays the symbol; a symbol against a known size `n > 1` is `n`
/// (the only size that broadcasts); two different symbols give an unknown size.
pub fn broadcast_dim(a: &Dim, b: &Dim) -> Result<Dim, InferError> {
    Ok(match (a, b) {
        (Dim::Known(1), x) | (x, Dim::Known(1)) => x.clone(),
        (Dim::Known(p), Dim::Known(q)) => {
            if p != q {
                fail!("dimensions {p} and {q} do not broadcast");
            }
            Dim::Known(*p)
        }
        (Dim::Known(p), _) | (_, Dim::Known(p)) => Dim::Known(*p),
        (Dim::Sym(x), Dim::Sym(y)) if x == y => Dim::Sym(x.clone()),
        _ => Dim::Unknown,
    })
}

/// Broadcasts shapes (numpy rules: align at the right, missing leading dims are 1).
pub fn broadcast(shapes: &[&[Dim]]) -> Result<Vec<Dim>, InferError> {
    let rank = shapes.iter().map(|s| s.len()).max().unwrap_or(0);
    let mut out = vec![Dim::Known(1); rank];
    for s in shapes {
        let off = rank - s.len();
        for (i, d) in s.iter().enumerate() {
            out[off + i] = broadcast_dim(&out[off + i], d)?;
        }
    }
    Ok(out)
}

/// Normalizes a possibly negative axis against `rank`.
pub fn axis(a: i64, rank: usize) -> Result<usize, InferError> {
    let r = rank as i64;
    if a < -r || a >= r {
        fail!("axis {a} is out of range for rank {rank}");
    }
    Ok(if a < 0 { (a + r) as usize } else { a as usize })
}

/// The product of dims, when all are known.
pub fn product(dims: &[Dim]) -> Option<u64> {
    dims.iter()
        .try_fold(1u64, |acc, d| acc.checked_mul(d.known()?))
}

/// Dimension of the same size in both, else unknown (the merge of two possibilities).
pub fn merge_dim(a: &Dim, b: &Dim) -> Dim {
    if a == b {
        a.clone()
    } else {
        Dim::Unknown
    }
}

/// The most precise type that covers both `a` and `b` (If branches, loop iterations).
pub fn merge_dims(a: &ValueType, b: &ValueType) -> ValueType {
    match (a, b) {
        (ValueType::Tensor(x), ValueType::Tensor(y)) => ValueType::Tensor(TensorType {
            dtype: if x.dtype == y.dtype { x.dtype } else { None },
            shape: match (&x.shape, &y.shape) {
                (Some(p), Some(q)) if p.rank() == q.rank() => Some(Shape(
                    p.0.iter().zip(&q.0).map(|(d, e)| merge_dim(d, e)).collect(),
                )),
                _ => None,
            },
        }),
        (ValueType::Sequence(x), ValueType::Sequence(y)) => {
            ValueType::Sequence(merge_elements(x.as_deref(), y.as_deref()))
        }
        (ValueType::Optional(x), ValueType::Optional(y)) => {
            ValueType::Optional(merge_elements(x.as_deref(), y.as_deref()))
        }
        _ if a == b => a.clone(),
        _ => ValueType::Unspecified,
    }
}

/// The merged element type of two containers; none (an unspecified element) when the
/// elements are of different kinds or a tensor's element types differ, since a container type
/// with a half-known element (`seq<tensor of unknown dtype>`) cannot be written to ONNX.
fn merge_elements(x: Option<&ValueType>, y: Option<&ValueType>) -> Option<Box<ValueType>> {
    match merge_dims(x?, y?) {
        ValueType::Unspecified => None,
        ValueType::Tensor(TensorType { dtype: None, .. }) => None,
        t => Some(Box::new(t)),
    }
}

/// Combines a declared type with an inferred one: the inferred type fills in what the
/// declared one leaves open (an unknown dtype, rank or dimension; a symbol where the size is
/// now known) and never replaces something declared with something less precise. Returns the
/// combined type and a message for each disagreement (where the declared part is kept).
pub fn refine(declared: &ValueType, inferred: &ValueType) -> (ValueType, Vec<String>) {
    let mut conflicts = Vec::new();
    let ty = match (declared, inferred) {
        (ValueType::Unspecified, x) => x.clone(),
        (x, ValueType::Unspecified) => x.clone(),
        (ValueType::Tensor(d), ValueType::Tensor(i)) => {
            let dtype = match (d.dtype, i.dtype) {
                (Some(a), Some(b)) if a != b => {
                    conflicts.push(format!("declared element type {a}, inferred {b}"));
                    Some(a)
                }
                (a, b) => a.or(b),
            };
            let shape = match (&d.shape, &i.shape) {
                (Some(p), Some(q)) if p.rank() != q.rank() => {
                    conflicts.push(format!(
                        "declared rank {}, inferred rank {}",
                        p.rank(),
                        q.rank()
                    ));
                    Some(p.clone())
                }
                (Some(p), Some(q)) => Some(Shape(
                    p.0.iter()
                        .zip(&q.0)
                        .enumerate()
                        .map(|(k, (a, b))| match (a, b) {
                            (Dim::Known(x), Dim::Known(y)) if x != y => {
                                conflicts
                                    .push(format!("dimension {k}: declared {x}, inferred {y}"));
                                a.clone()
                            }
                            (Dim::Known(_), _) => a.clone(),
                            (Dim::Sym(_), Dim::Known(_)) => b.clone(),
                            (Dim::Sym(_), _) => a.clone(),
                            (Dim::Unknown, _) => b.clone(),
                        })
                        .collect(),
                )),
                (a, b) => a.clone().or_else(|| b.clone()),
            };
            ValueType::Tensor(TensorType { dtype, shape })
        }
        (a, b) if a == b => a.clone(),
        (a, b) => {
            if std::mem::discriminant(a) != std::mem::discriminant(b) {
                conflicts.push("declared and inferred kinds of value differ".to_string());
            }
            a.clone()
        }
    };
    (ty, conflicts)
}

/// The elements of a small integer (or bool) constant, widened to i64.
pub fn tensor_ints(t: &Tensor) -> Option<Vec<i64>> {
    if t.element_count()? > MAX_READ_ELEMENTS {
        return None;
    }
    let TensorData::Raw(b) = &t.data else {
        return None;
    };
    let v: Vec<i64> = match t.dtype {
        DType::I64 => b
            .chunks_exact(8)
            .map(|c| i64::from_le_bytes(c.try_into().expect("8 bytes")))
            .collect(),
        DType::U64 => b
            .chunks_exact(8)
            .map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes")) as i64)
            .collect(),
        DType::I32 => b
            .chunks_exact(4)
            .map(|c| i32::from_le_bytes(c.try_into().expect("4 bytes")) as i64)
            .collect(),
        DType::U32 => b
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes(c.try_into().expect("4 bytes")) as i64)
            .collect(),
        DType::I16 => b
            .chunks_exact(2)
            .map(|c| i16::from_le_bytes(c.try_into().expect("2 bytes")) as i64)
            .collect(),
        DType::U16 => b
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes(c.try_into().expect("2 bytes")) as i64)
            .collect(),
        DType::I8 => b.iter().map(|&x| x as i8 as i64).collect(),
        DType::U8 | DType::Bool => b.iter().map(|&x| x as i64).collect(),
        _ => return None,
    };
    Some(v)
}

/// The elements of a small float (or integer) constant as f64.
pub fn tensor_floats(t: &Tensor) -> Option<Vec<f64>> {
    if t.element_count()? > MAX_READ_ELEMENTS {
        return None;
    }
    let TensorData::Raw(b) = &t.data else {
        return None;
    };
    Some(match t.dtype {
        DType::F32 => b
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes")) as f64)
            .collect(),
        DType::F64 => b
            .chunks_exact(8)
            .map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes")))
            .collect(),
        DType::F16 => b
            .chunks_exact(2)
            .map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f64())
            .collect(),
        DType::BF16 => b
            .chunks_exact(2)
            .map(|c| half::bf16::from_le_bytes([c[0], c[1]]).to_f64())
            .collect(),
        _ => tensor_ints(t)?.into_iter().map(|x| x as f64).collect(),
    })
}

/// Reshape's `-1` and `0` against the input dims: the output dims, cancelling symbols that
/// appear on both sides so `[N,3,4] -> [N,-1]` gives `[N,12]`.
pub fn reshape_dims(
    input: Option<&[Dim]>,
    target: &[SymInt],
    allowzero: bool,
) -> Result<Vec<Dim>, InferError> {
    let mut out: Vec<Dim> = Vec::with_capacity(target.len());
    let mut infer_at = None;
    for (i, t) in target.iter().enumerate() {
        out.push(match t {
            SymInt::Int(-1) => {
                if infer_at.replace(i).is_some() {
                    fail!("Reshape shape has more than one -1");
                }
                Dim::Unknown
            }
            SymInt::Int(0) if !allowzero => match input {
                Some(s) => match s.get(i) {
                    Some(d) => d.clone(),
                    None => fail!(
                        "Reshape shape copies dimension {i} of a rank-{} input",
                        s.len()
                    ),
                },
                None => Dim::Unknown,
            },
            SymInt::Int(n) if *n < 0 => fail!("Reshape shape has a negative size {n}"),
            other => other.to_dim(),
        });
    }
    let (Some(at), Some(input)) = (infer_at, input) else {
        if let (None, Some(input)) = (infer_at, input) {
            if let (Some(a), Some(b)) = (product(input), product(&out)) {
                if a != b {
                    fail!("Reshape from {a} elements to {b}");
                }
            }
        }
        return Ok(out);
    };
    // Cancel factors: known sizes multiply, symbols cancel by name.
    let mut num = 1u64;
    let mut syms: Vec<&str> = Vec::new();
    for d in input {
        match d {
            Dim::Known(n) => num = num.saturating_mul(*n),
            Dim::Sym(s) => syms.push(s),
            Dim::Unknown => return Ok(out),
        }
    }
    let mut den = 1u64;
    for (i, d) in out.iter().enumerate() {
        if i == at {
            continue;
        }
        match d {
            Dim::Known(n) => den = den.saturating_mul(*n),
            Dim::Sym(s) => match syms.iter().position(|x| x == s) {
                Some(p) => {
                    syms.remove(p);
                }
                None => return Ok(out),
            },
            Dim::Unknown => return Ok(out),
        }
    }
    if den == 0 {
        return Ok(out);
    }
    if !num.is_multiple_of(den) {
        fail!("Reshape cannot split {num} elements into parts of {den}");
    }
    out[at] = match syms.as_slice() {
        [] => Dim::Known(num / den),
        [s] if num == den => Dim::Sym(s.to_string()),
        _ => Dim::Unknown,
    };
    Ok(out)
}

/// `d * k` when `d` is known (or `k` is 1), else unknown.
pub fn dim_mul(d: &Dim, k: u64) -> Dim {
    match d {
        _ if k == 1 => d.clone(),
        Dim::Known(n) => n.checked_mul(k).map_or(Dim::Unknown, Dim::Known),
        _ => Dim::Unknown,
    }
}

/// `d / k` when `d` is known and divisible (or `k` is 1), else unknown.
pub fn dim_div(d: &Dim, k: u64) -> Dim {
    match d {
        _ if k == 1 => d.clone(),
        Dim::Known(n) if k != 0 && n % k == 0 => Dim::Known(n / k),
        _ => Dim::Unknown,
    }
}

/// `a + b` when both are known (a symbol plus 0 stays the symbol).
pub fn dim_add(a: &Dim, b: &Dim) -> Dim {
    match (a, b) {
        (Dim::Known(x), Dim::Known(y)) => x.checked_add(*y).map_or(Dim::Unknown, Dim::Known),
        (x, Dim::Known(0)) | (Dim::Known(0), x) => x.clone(),
        _ => Dim::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Vec<Dim> {
        s.split(',')
            .filter(|x| !x.is_empty())
            .map(|x| match x.parse::<u64>() {
                Ok(n) => Dim::Known(n),
                Err(_) if x == "?" => Dim::Unknown,
                Err(_) => Dim::Sym(x.to_string()),
            })
            .collect()
    }

    #[test]
    fn broadcasting_known_and_symbolic_dims() {
        assert_eq!(broadcast(&[&d("N,1,5"), &d("3,1")]).unwrap(), d("N,3,5"));
        assert_eq!(broadcast(&[&d("N,4"), &d("1,4")]).unwrap(), d("N,4"));
        // A symbol against a size > 1 must be that size.
        assert_eq!(broadcast(&[&d("N"), &d("7")]).unwrap(), d("7"));
        assert_eq!(broadcast(&[&d("N"), &d("M")]).unwrap(), d("?"));
        assert_eq!(broadcast(&[&d("N"), &d("N")]).unwrap(), d("N"));
        assert_eq!(broadcast(&[&d(""), &d("2,3")]).unwrap(), d("2,3"));
        assert!(broadcast(&[&d("2"), &d("3")]).is_err());
    }

    #[test]
    fn reshape_cancels_symbols_for_minus_one() {
        let s = |v: &[i64]| v.iter().map(|&x| SymInt::Int(x)).collect::<Vec<_>>();
        assert_eq!(
            reshape_dims(Some(&d("N,3,4")), &s(&[0, -1]), false).unwrap(),
            d("N,12")
        );
        assert_eq!(
            reshape_dims(Some(&d("2,3,4")), &s(&[-1, 6]), false).unwrap(),
            d("4,6")
        );
        assert_eq!(
            reshape_dims(Some(&d("N,12")), &[SymInt::Int(-1), SymInt::Int(12)], false).unwrap(),
            d("N,12")
        );
        // N*3*4 / 3 is not a product we can name.
        assert_eq!(
            reshape_dims(Some(&d("N,3,4")), &s(&[-1, 3]), false).unwrap(),
            d("?,3")
        );
        // allowzero keeps a literal 0.
        assert_eq!(
            reshape_dims(Some(&d("0,3")), &s(&[0, 3]), true).unwrap(),
            d("0,3")
        );
        assert!(reshape_dims(Some(&d("2,3")), &s(&[4, -1]), false).is_err());
        assert!(reshape_dims(Some(&d("2,3")), &s(&[5]), false).is_err());
        assert!(reshape_dims(Some(&d("2,3")), &s(&[-1, -1]), false).is_err());
    }

    #[test]
    fn refine_fills_gaps_and_reports_conflicts() {
        let t = |s: &str| {
            ValueType::Tensor(TensorType {
                dtype: Some(DType::F32),
                shape: Some(Shape(d(s))),
            })
        };
        assert_eq!(refine(&t("?,N,3"), &t("2,5,M")), (t("2,5,3"), vec![]));
        let (ty, conflicts) = refine(&t("2,3"), &t("2,4"));
        assert_eq!(ty, t("2,3"));
        assert_eq!(conflicts, ["dimension 1: declared 3, inferred 4"]);
        assert_eq!(
            refine(&t("2,3"), &t("2")).1,
            ["declared rank 2, inferred rank 1"]
        );
        assert_eq!(merge_dims(&t("2,N"), &t("3,N")), t("?,N"));
        // Sequences merge their elements (an If whose branches build sequences of scalars
        // and of vectors gives a sequence of f32 tensors of unknown rank).
        let seq = |x: ValueType| ValueType::Sequence(Some(Box::new(x)));
        let f32_any = ValueType::Tensor(TensorType {
            dtype: Some(DType::F32),
            shape: None,
        });
        assert_eq!(merge_dims(&seq(t("")), &seq(t("3"))), seq(f32_any));
        let i64_scalar = ValueType::Tensor(TensorType {
            dtype: Some(DType::I64),
            shape: Some(Shape(vec![])),
        });
        assert_eq!(
            merge_dims(&seq(t("")), &seq(i64_scalar)),
            ValueType::Sequence(None)
        );
    }
}
