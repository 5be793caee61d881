//! Einsum (opsets 12): the Einstein summation `equation` over any number of inputs.
//!
//! Supports explicit (`ij,jk->ik`) and implicit (`ij,jk`: the labels that occur once, in
//! alphabetical order, after the ellipsis dimensions) outputs, repeated labels within an
//! operand (diagonals, e.g. `ii->i`, `bii->bi`), `...` (broadcasting the ellipsis
//! dimensions, and size-1 dimensions of a label shared with a larger one), and labels
//! summed away. Operands are reduced pairwise, left to right: each pair is permuted and
//! reshaped to a batched matrix product (the `gemm` crate for floats, a
//! wrapping loop for integers). Every numeric type (f16/bf16 computed in f32).

use std::collections::BTreeMap;

use half::{bf16, f16};
use ndarray::{Array2, ArrayD, ArrayView2, Axis, IxDyn};

use super::common::reduce_groups;
use crate::ops::elem::checked_count;
use crate::ops::util::one;
use crate::{bail, Array, Data, KernelError, OpCtx};

/// Labels: letters are their character code, ellipsis dimension `k` (counted from the
/// left of the broadcast ellipsis) is `1000 + k`.
type Label = u32;

trait EinElem: Copy + Send + Sync + 'static {
    fn zero() -> Self;
    fn add(self, o: Self) -> Self;
    /// `[m, k] x [k, n] -> [m, n]`
    fn matmul(a: ArrayView2<'_, Self>, b: ArrayView2<'_, Self>) -> Array2<Self>;
}

macro_rules! float_ein {
    ($($t:ty),*) => {$(
        impl EinElem for $t {
            fn zero() -> Self {
                0.0
            }
            fn add(self, o: Self) -> Self {
                self + o
            }
            fn matmul(a: ArrayView2<'_, Self>, b: ArrayView2<'_, Self>) -> Array2<Self> {
                let mut c = Array2::<$t>::zeros((a.nrows(), b.ncols()));
                crate::ops::elem::mat_mul(1.0, a, b, 0.0, c.view_mut());
                c
            }
        }
    )*};
}
float_ein!(f32, f64);

macro_rules! int_ein {
    ($($t:ty),*) => {$(
        impl EinElem for $t {
            fn zero() -> Self {
                0
            }
            fn add(self, o: Self) -> Self {
                self.wrapping_add(o)
            }
            fn matmul(a: ArrayView2<'_, Self>, b: ArrayView2<'_, Self>) -> Array2<Self> {
                let (m, k, n) = (a.nrows(), a.ncols(), b.ncols());
                let mut c = Array2::<$t>::zeros((m, n));
                for i in 0..m {
                    for p in 0..k {
                        let av = a[(i, p)];
                        if av == 0 {
                            continue;
                        }
                        for j in 0..n {
                            c[(i, j)] = c[(i, j)].wrapping_add(av.wrapping_mul(b[(p, j)]));
                        }
                    }
                }
                c
            }
        }
    )*};
}
int_ein!(i8, i16, i32, i64, u8, u16, u32, u64);

/// A parsed equation: each input's labels (ellipsis expanded for that input's rank) and
/// the output's labels.
#[derive(Debug, PartialEq)]
struct Equation {
    inputs: Vec<Vec<Label>>,
    output: Vec<Label>,
}

/// Splits one term into labels, with `None` marking the ellipsis.
fn term(s: &str) -> Result<Vec<Option<Label>>, KernelError> {
    let mut out = Vec::new();
    let mut rest = s;
    let mut seen_ellipsis = false;
    while let Some(c) = rest.chars().next() {
        if rest.starts_with("...") {
            if seen_ellipsis {
                bail!("more than one ellipsis in `{s}`");
            }
            seen_ellipsis = true;
            out.push(None);
            rest = &rest[3..];
        } else if c.is_ascii_alphabetic() {
            out.push(Some(c as Label));
            rest = &rest[1..];
        } else {
            bail!("invalid character `{c}` in einsum term `{s}`");
        }
    }
    Ok(out)
}

fn parse(eq: &str, ranks: &[usize]) -> Result<Equation, KernelError> {
    let eq: String = eq.chars().filter(|c| !c.is_whitespace()).collect();
    let (lhs, rhs) = match eq.split_once("->") {
        Some((l, r)) => (l, Some(r)),
        None => (eq.as_str(), None),
    };
    let terms: Vec<&str> = lhs.split(',').collect();
    if terms.len() != ranks.len() {
        bail!(
            "equation has {} operands, {} inputs given",
            terms.len(),
            ranks.len()
        );
    }
    let mut ell_rank = 0;
    let mut raw = Vec::new();
    for (t, &r) in terms.iter().zip(ranks) {
        let labels = term(t)?;
        let letters = labels.iter().filter(|l| l.is_some()).count();
        let has_ell = labels.len() != letters;
        if letters > r || (!has_ell && letters != r) {
            bail!("einsum term `{t}` does not match an input of rank {r}");
        }
        if has_ell {
            ell_rank = ell_rank.max(r - letters);
        }
        raw.push((labels, r - letters));
    }
    let mut inputs = Vec::new();
    for (labels, e) in &raw {
        let mut v = Vec::new();
        for l in labels {
            match l {
                Some(c) => v.push(*c),
                None => v.extend((ell_rank - e..ell_rank).map(|k| 1000 + k as Label)),
            }
        }
        inputs.push(v);
    }
    let output = match rhs {
        Some(r) => {
            let mut v = Vec::new();
            for l in term(r)? {
                match l {
                    Some(c) => {
                        if v.contains(&c) {
                            bail!("label `{}` repeated in the output", c as u8 as char);
                        }
                        if !inputs.iter().any(|i| i.contains(&c)) {
                            bail!("output label `{}` is not in any input", c as u8 as char);
                        }
                        v.push(c)
                    }
                    None => v.extend((0..ell_rank).map(|k| 1000 + k as Label)),
                }
            }
            v
        }
        None => {
            let mut counts: BTreeMap<Label, usize> = BTreeMap::new();
            for i in &inputs {
                for &l in i {
                    if l < 1000 {
                        *counts.entry(l).or_default() += 1;
                    }
                }
            }
            let mut v: Vec<Label> = (0..ell_rank).map(|k| 1000 + k as Label).collect();
            v.extend(counts.into_iter().filter(|&(_, n)| n == 1).map(|(l, _)| l));
            v
        }
    };
    Ok(Equation { inputs, output })
}

/// An operand during evaluation: its array and one label per axis (all distinct).
struct Operand<T> {
    a: ArrayD<T>,
    labels: Vec<Label>,
}

/// Takes the diagonal over repeated labels so that every label occurs once.
fn dedupe<T: EinElem>(a: ArrayD<T>, labels: &[Label]) -> Result<Operand<T>, KernelError> {
    let mut uniq: Vec<Label> = Vec::new();
    let mut src_axis_of: Vec<usize> = Vec::new(); // for each source axis, its unique index
    for &l in labels {
        match uniq.iter().position(|&u| u == l) {
            Some(p) => src_axis_of.push(p),
            None => {
                uniq.push(l);
                src_axis_of.push(uniq.len() - 1);
            }
        }
    }
    if uniq.len() == labels.len() {
        return Ok(Operand {
            a,
            labels: labels.to_vec(),
        });
    }
    let mut shape = vec![0usize; uniq.len()];
    for (ax, &u) in src_axis_of.iter().enumerate() {
        let d = a.shape()[ax];
        if shape[u] != 0 && shape[u] != d {
            bail!("repeated label with different sizes {} and {d}", shape[u]);
        }
        shape[u] = d;
    }
    checked_count(&shape)?;
    let mut idx = vec![0usize; labels.len()];
    let out = ArrayD::from_shape_fn(IxDyn(&shape), |u| {
        for (ax, &p) in src_axis_of.iter().enumerate() {
            idx[ax] = u[p];
        }
        a[IxDyn(&idx)]
    });
    Ok(Operand {
        a: out,
        labels: uniq,
    })
}

/// Sums away the axes whose labels `keep` rejects.
fn sum_out<T: EinElem>(
    op: Operand<T>,
    keep: impl Fn(Label) -> bool,
) -> Result<Operand<T>, KernelError> {
    let mask: Vec<bool> = op.labels.iter().map(|&l| !keep(l)).collect();
    if !mask.iter().any(|&m| m) {
        return Ok(op);
    }
    let a = reduce_groups(op.a.view(), &mask, |xs| {
        xs.iter().fold(T::zero(), |s, &v| s.add(v))
    })?;
    let labels = op
        .labels
        .iter()
        .zip(&mask)
        .filter(|(_, &m)| !m)
        .map(|(&l, _)| l)
        .collect();
    Ok(Operand { a, labels })
}

/// `op` permuted to the label order `order` and reshaped to `dims`, contiguous.
fn arrange<T: EinElem>(
    op: &Operand<T>,
    order: &[Label],
    dims: &[usize],
) -> Result<ArrayD<T>, KernelError> {
    let perm: Vec<usize> = order
        .iter()
        .map(|l| op.labels.iter().position(|x| x == l))
        .collect::<Option<_>>()
        .ok_or_else(|| KernelError::new("internal: label missing"))?;
    let v = op.a.view().permuted_axes(IxDyn(&perm));
    let v = v.as_standard_layout().into_owned();
    Ok(v.into_shape_with_order(IxDyn(dims))?)
}

fn contract<T: EinElem>(
    a: Operand<T>,
    b: Operand<T>,
    needed: &dyn Fn(Label) -> bool,
    size: &BTreeMap<Label, usize>,
) -> Result<Operand<T>, KernelError> {
    let in_b = |l: &Label| b.labels.contains(l);
    let batch: Vec<Label> = a
        .labels
        .iter()
        .copied()
        .filter(|l| in_b(l) && needed(*l))
        .collect();
    let contracted: Vec<Label> = a
        .labels
        .iter()
        .copied()
        .filter(|l| in_b(l) && !needed(*l))
        .collect();
    let a_free: Vec<Label> = a.labels.iter().copied().filter(|l| !in_b(l)).collect();
    let b_free: Vec<Label> = b
        .labels
        .iter()
        .copied()
        .filter(|l| !a.labels.contains(l))
        .collect();
    let prod = |ls: &[Label]| -> usize { ls.iter().map(|l| size[l]).product() };
    let (nb, nc, na, nf) = (
        prod(&batch),
        prod(&contracted),
        prod(&a_free),
        prod(&b_free),
    );
    checked_count(&[nb, na, nf])?;
    let order_a: Vec<Label> = batch
        .iter()
        .chain(&a_free)
        .chain(&contracted)
        .copied()
        .collect();
    let order_b: Vec<Label> = batch
        .iter()
        .chain(&contracted)
        .chain(&b_free)
        .copied()
        .collect();
    let am = arrange(&a, &order_a, &[nb, na, nc])?;
    let bm = arrange(&b, &order_b, &[nb, nc, nf])?;
    let mut out = Vec::with_capacity(nb * na * nf);
    for i in 0..nb {
        let x = am
            .index_axis(Axis(0), i)
            .into_dimensionality::<ndarray::Ix2>()?;
        let y = bm
            .index_axis(Axis(0), i)
            .into_dimensionality::<ndarray::Ix2>()?;
        let c = T::matmul(x, y);
        out.extend(c.iter().copied());
    }
    let labels: Vec<Label> = batch
        .iter()
        .chain(&a_free)
        .chain(&b_free)
        .copied()
        .collect();
    let shape: Vec<usize> = labels.iter().map(|l| size[l]).collect();
    Ok(Operand {
        a: ArrayD::from_shape_vec(IxDyn(&shape), out)?,
        labels,
    })
}

fn einsum_typed<T: EinElem>(
    eq: &Equation,
    arrays: Vec<ArrayD<T>>,
) -> Result<ArrayD<T>, KernelError> {
    // Diagonals first, then the size of every label (size-1 dimensions broadcast).
    let mut ops: Vec<Operand<T>> = arrays
        .into_iter()
        .zip(&eq.inputs)
        .map(|(a, l)| dedupe(a, l))
        .collect::<Result<_, _>>()?;
    let mut size: BTreeMap<Label, usize> = BTreeMap::new();
    for op in &ops {
        for (&l, &d) in op.labels.iter().zip(op.a.shape()) {
            let e = size.entry(l).or_insert(d);
            if *e != d {
                if *e == 1 {
                    *e = d;
                } else if d != 1 {
                    bail!("label dimension sizes {} and {d} do not match", *e);
                }
            }
        }
    }
    for op in &mut ops {
        let full: Vec<usize> = op.labels.iter().map(|l| size[l]).collect();
        if full != op.a.shape() {
            checked_count(&full)?;
            let b =
                op.a.broadcast(IxDyn(&full))
                    .ok_or_else(|| KernelError::new("operand does not broadcast"))?
                    .to_owned();
            op.a = b;
        }
    }
    // Labels still needed after operand `i`: the output's and those of later operands.
    let needed_after = |i: usize, ops_labels: &[Vec<Label>]| -> Vec<Label> {
        let mut v = eq.output.clone();
        for l in &ops_labels[i + 1..] {
            v.extend(l);
        }
        v
    };
    let all_labels: Vec<Vec<Label>> = ops.iter().map(|o| o.labels.clone()).collect();
    let mut iter = ops.into_iter().enumerate();
    let (_, first) = iter
        .next()
        .ok_or_else(|| KernelError::new("Einsum needs at least one input"))?;
    let first_needed = {
        let mut v = needed_after(0, &all_labels);
        // Labels shared with later operands are kept; the others are summed now.
        v.sort_unstable();
        v
    };
    let mut acc = sum_out(first, |l| first_needed.binary_search(&l).is_ok())?;
    for (i, op) in iter {
        let mut needed = needed_after(i, &all_labels);
        needed.sort_unstable();
        let shared_or_needed =
            |l: Label| needed.binary_search(&l).is_ok() || acc.labels.contains(&l);
        let op = sum_out(op, shared_or_needed)?;
        let is_needed = |l: Label| needed.binary_search(&l).is_ok();
        // Labels only in `acc` that are not needed any more are summed before contracting.
        let op_labels = op.labels.clone();
        acc = sum_out(acc, |l| is_needed(l) || op_labels.contains(&l))?;
        acc = contract(acc, op, &is_needed, &size)?;
    }
    let out_labels = eq.output.clone();
    let acc = sum_out(acc, |l| out_labels.contains(&l))?;
    let shape: Vec<usize> = eq.output.iter().map(|l| size[l]).collect();
    arrange(&acc, &eq.output, &shape)
}

pub fn einsum(ctx: &OpCtx<'_>) -> Result<Vec<Data>, KernelError> {
    let equation = ctx.attrs().string("equation", "")?;
    let inputs: Vec<&Array> = (0..ctx.num_inputs())
        .map(|i| ctx.input(i))
        .collect::<Result<_, _>>()?;
    let Some(first) = inputs.first() else {
        bail!("Einsum needs at least one input");
    };
    let ranks: Vec<usize> = inputs.iter().map(|a| a.shape().len()).collect();
    let eq = parse(&equation, &ranks)?;
    let dtype = first.dtype();
    if inputs.iter().any(|a| a.dtype() != dtype) {
        bail!("Einsum inputs must share one element type");
    }
    macro_rules! typed {
        ($variant:ident, $t:ty) => {{
            let arrays = inputs
                .iter()
                .map(|a| match a {
                    Array::$variant(x) => Ok(x.clone()),
                    _ => bail!("mixed input types"),
                })
                .collect::<Result<Vec<ArrayD<$t>>, KernelError>>()?;
            Array::$variant(einsum_typed(&eq, arrays)?)
        }};
    }
    let out = match first {
        Array::F32(_) => typed!(F32, f32),
        Array::F64(_) => typed!(F64, f64),
        Array::I8(_) => typed!(I8, i8),
        Array::I16(_) => typed!(I16, i16),
        Array::I32(_) => typed!(I32, i32),
        Array::I64(_) => typed!(I64, i64),
        Array::U8(_) => typed!(U8, u8),
        Array::U16(_) => typed!(U16, u16),
        Array::U32(_) => typed!(U32, u32),
        Array::U64(_) => typed!(U64, u64),
        Array::F16(_) | Array::BF16(_) => {
            let arrays = inputs
                .iter()
                .map(|a| match a {
                    Array::F16(x) => Ok(x.mapv(f32::from)),
                    Array::BF16(x) => Ok(x.mapv(f32::from)),
                    _ => bail!("mixed input types"),
                })
                .collect::<Result<Vec<ArrayD<f32>>, KernelError>>()?;
            let r = einsum_typed(&eq, arrays)?;
            if dtype == modelc_ir::DType::F16 {
                Array::F16(r.mapv(f16::from_f32))
            } else {
                Array::BF16(r.mapv(bf16::from_f32))
            }
        }
        other => bail!("Einsum does not accept {} tensors", other.dtype()),
    };
    one(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(eq: &str, arrays: Vec<ArrayD<i64>>) -> Result<ArrayD<i64>, KernelError> {
        let ranks: Vec<usize> = arrays.iter().map(|a| a.ndim()).collect();
        einsum_typed(&parse(eq, &ranks)?, arrays)
    }

    fn arr(shape: &[usize], v: Vec<i64>) -> ArrayD<i64> {
        ArrayD::from_shape_vec(IxDyn(shape), v).unwrap()
    }

    #[test]
    fn equations() {
        let m = arr(&[2, 2], vec![1, 2, 3, 4]);
        assert_eq!(
            run("ii->i", vec![m.clone()]).unwrap(),
            arr(&[2], vec![1, 4])
        );
        assert_eq!(run("ii", vec![m.clone()]).unwrap(), arr(&[], vec![5]));
        assert_eq!(
            run("ij->ji", vec![m.clone()]).unwrap(),
            arr(&[2, 2], vec![1, 3, 2, 4])
        );
        assert_eq!(
            run("ji", vec![m.clone()]).unwrap(),
            arr(&[2, 2], vec![1, 3, 2, 4])
        );
        assert_eq!(
            run("ij,jk", vec![m.clone(), m.clone()]).unwrap(),
            arr(&[2, 2], vec![7, 10, 15, 22])
        );
        assert_eq!(
            run("...j,j->...", vec![m.clone(), arr(&[2], vec![1, 1])]).unwrap(),
            arr(&[2], vec![3, 7])
        );
        assert_eq!(
            run("ij,ij,ij->", vec![m.clone(), m.clone(), m.clone()]).unwrap(),
            arr(&[], vec![1 + 8 + 27 + 64])
        );
        assert!(run("ij,jk", vec![m.clone()]).is_err());
        assert!(run("ijk", vec![m.clone()]).is_err());
        assert!(run("ij->z", vec![m]).is_err());
    }
}
