//! Contractions: MatMul (batched, numpy-broadcast batch dims, 1-D operands), MatMulInteger,
//! QLinearMatMul, Gemm (transA/transB), Einsum (explicit and implicit outputs, `...`), and
//! the opset-23 Attention op (3-D and 4-D forms, present key/value, qk output).

use std::collections::HashMap;

use crate::{DType, Dim, OnnxOp};

use super::ctx::{fail, InferCtx, InferError, Outputs};
use super::dims::{broadcast, broadcast_dim, dim_add, dim_div, dim_mul};
use super::InferFn;

pub fn rule(op: OnnxOp) -> Option<InferFn> {
    use OnnxOp::*;
    Some(match op {
        MatMul | MatMulInteger | QLinearMatMul => matmul,
        Gemm => gemm,
        Einsum => einsum,
        Attention => attention,
        _ => return None,
    })
}

/// The shape of `a @ b` (numpy matmul rules).
pub fn matmul_shape(a: &[Dim], b: &[Dim]) -> Result<Vec<Dim>, InferError> {
    if a.is_empty() || b.is_empty() {
        fail!("MatMul of a scalar");
    }
    let a2: Vec<Dim> = if a.len() == 1 {
        vec![Dim::Known(1), a[0].clone()]
    } else {
        a.to_vec()
    };
    let b2: Vec<Dim> = if b.len() == 1 {
        vec![b[0].clone(), Dim::Known(1)]
    } else {
        b.to_vec()
    };
    let (ra, rb) = (a2.len(), b2.len());
    let (k1, k2) = (&a2[ra - 1], &b2[rb - 2]);
    if let (Dim::Known(p), Dim::Known(q)) = (k1, k2) {
        if p != q {
            fail!("MatMul contracts {p} with {q}");
        }
    }
    let mut out = broadcast(&[&a2[..ra - 2], &b2[..rb - 2]])?;
    if a.len() != 1 {
        out.push(a2[ra - 2].clone());
    }
    if b.len() != 1 {
        out.push(b2[rb - 1].clone());
    }
    Ok(out)
}

fn matmul(cx: &InferCtx<'_>, out: &mut Outputs) -> Result<(), InferError> {
    let (a, b, dtype) = match cx.op {
        OnnxOp::MatMulInteger => (0, 1, Some(DType::I32)),
        OnnxOp::QLinearMatMul => (0, 3, cx.dtype(7)),
        _ => (0, 1, cx.dtype(0).or(cx.dtype(1))),
    };
    let shape = match (cx.shape(a), cx.shape(b)) {
        (Some(x), Some(y)) => Some(matmul_shape(x, y)?),
        _ => None,
    };
    out.set(0, dtype, shape);
    Ok(())
}

fn gemm(cx: &InferCtx<'_>, out: &mut Outputs) -> Result<(), InferError> {
    let ta = cx.attr_int("transA", 0)? != 0;
    let tb = cx.attr_int("transB", 0)? != 0;
    let shape = match (cx.shape(0), cx.shape(1)) {
        (Some(a), Some(b)) if a.len() == 2 && b.len() == 2 => {
            let (m, k1) = if ta { (&a[1], &a[0]) } else { (&a[0], &a[1]) };
            let (k2, n) = if tb { (&b[1], &b[0]) } else { (&b[0], &b[1]) };
            broadcast_dim(k1, k2)
                .map_err(|_| InferError(format!("Gemm contracts {k1:?} with {k2:?}")))?;
            Some(vec![m.clone(), n.clone()])
        }
        (Some(a), Some(b)) => fail!(
            "Gemm operands have ranks {} and {}, expected 2",
            a.len(),
            b.len()
        ),
        _ => None,
    };
    out.set(0, cx.dtype(0).or(cx.dtype(1)), shape);
    Ok(())
}

/// One operand of an Einsum equation: its letters, with `...` at `ellipsis`.
struct Term {
    letters: Vec<char>,
    ellipsis: Option<usize>,
}

fn parse_term(s: &str) -> Result<Term, InferError> {
    let s = s.trim();
    let mut letters = Vec::new();
    let mut ellipsis = None;
    let mut rest = s;
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix("...") {
            if ellipsis.replace(letters.len()).is_some() {
                fail!("Einsum term `{s}` has two ellipses");
            }
            rest = r;
            continue;
        }
        let c = rest.chars().next().expect("non-empty");
        if !c.is_ascii_alphabetic() {
            fail!("Einsum term `{s}` has `{c}`");
        }
        letters.push(c);
        rest = &rest[1..];
    }
    Ok(Term { letters, ellipsis })
}

fn einsum(cx: &InferCtx<'_>, out: &mut Outputs) -> Result<(), InferError> {
    let eq: String = cx
        .attr_string("equation", "")?
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    let dtype = cx.dtype(0);
    let (lhs, rhs) = match eq.split_once("->") {
        Some((l, r)) => (l, Some(r)),
        None => (eq.as_str(), None),
    };
    let terms: Vec<Term> = lhs.split(',').map(parse_term).collect::<Result<_, _>>()?;
    if terms.len() != cx.inputs.len() {
        fail!(
            "Einsum equation has {} operands, the node {}",
            terms.len(),
            cx.inputs.len()
        );
    }
    let mut sizes: HashMap<char, Dim> = HashMap::new();
    let mut counts: HashMap<char, usize> = HashMap::new();
    let mut ell: Vec<Dim> = Vec::new();
    let mut all_known = true;
    for (i, t) in terms.iter().enumerate() {
        for &c in &t.letters {
            *counts.entry(c).or_default() += 1;
        }
        let Some(s) = cx.shape(i) else {
            all_known = false;
            continue;
        };
        let n_ell = match t.ellipsis {
            Some(_) if s.len() >= t.letters.len() => s.len() - t.letters.len(),
            None if s.len() == t.letters.len() => 0,
            _ => fail!(
                "Einsum operand {i} has rank {}, the equation says {}",
                s.len(),
                t.letters.len()
            ),
        };
        let at = t.ellipsis.unwrap_or(t.letters.len());
        let mut k = 0;
        for (j, &c) in t.letters.iter().enumerate() {
            if j == at {
                k += n_ell;
            }
            let d = &s[k];
            let e = sizes.entry(c).or_insert(d.clone());
            *e = broadcast_dim(e, d)?;
            k += 1;
        }
        if t.ellipsis.is_some() {
            ell = broadcast(&[&ell, &s[at..at + n_ell]])?;
        }
    }
    if !all_known {
        out.set(0, dtype, None);
        return Ok(());
    }
    let out_term = match rhs {
        Some(r) => parse_term(r)?,
        None => {
            let mut once: Vec<char> = counts
                .iter()
                .filter(|(_, &n)| n == 1)
                .map(|(&c, _)| c)
                .collect();
            once.sort_unstable();
            let any_ell = terms.iter().any(|t| t.ellipsis.is_some());
            Term {
                letters: once,
                ellipsis: any_ell.then_some(0),
            }
        }
    };
    let mut shape = Vec::new();
    for (j, c) in out_term.letters.iter().enumerate() {
        if out_term.ellipsis == Some(j) {
            shape.extend(ell.iter().cloned());
        }
        match sizes.get(c) {
            Some(d) => shape.push(d.clone()),
            None => fail!("Einsum output letter `{c}` is not in any operand"),
        }
    }
    if out_term.ellipsis == Some(out_term.letters.len()) {
        shape.extend(ell.iter().cloned());
    }
    out.set(0, dtype, Some(shape));
    Ok(())
}

/// Attention (opset 23): Q, K, V, attn_mask, past_key, past_value -> Y, present_key,
/// present_value, qk_matmul_output.
fn attention(cx: &InferCtx<'_>, out: &mut Outputs) -> Result<(), InferError> {
    let dtype = cx.dtype(0);
    let (Some(q), Some(k), Some(v)) = (cx.shape(0), cx.shape(1), cx.shape(2)) else {
        out.set(0, dtype, None);
        return Ok(());
    };
    let past_seq = cx.shape(4).and_then(|p| p.get(2).cloned());
    let total = |kv_seq: &Dim| match &past_seq {
        Some(p) => dim_add(p, kv_seq),
        None => kv_seq.clone(),
    };
    match (q.len(), k.len(), v.len()) {
        (4, 4, 4) => {
            out.set(
                0,
                dtype,
                Some(vec![q[0].clone(), q[1].clone(), q[2].clone(), v[3].clone()]),
            );
            let t = total(&k[2]);
            out.set(
                1,
                cx.dtype(1),
                Some(vec![k[0].clone(), k[1].clone(), t.clone(), k[3].clone()]),
            );
            out.set(
                2,
                cx.dtype(2),
                Some(vec![v[0].clone(), v[1].clone(), t.clone(), v[3].clone()]),
            );
            out.set(
                3,
                dtype,
                Some(vec![q[0].clone(), q[1].clone(), q[2].clone(), t]),
            );
        }
        (3, 3, 3) => {
            let qh = cx.attr_int("q_num_heads", 0)?;
            let kvh = cx.attr_int("kv_num_heads", 0)?;
            if qh < 1 || kvh < 1 {
                fail!("3-D Attention needs q_num_heads and kv_num_heads");
            }
            let (qh, kvh) = (qh as u64, kvh as u64);
            let v_head = dim_div(&v[2], kvh);
            out.set(
                0,
                dtype,
                Some(vec![q[0].clone(), q[1].clone(), dim_mul(&v_head, qh)]),
            );
            let t = total(&k[1]);
            out.set(
                1,
                cx.dtype(1),
                Some(vec![
                    k[0].clone(),
                    Dim::Known(kvh),
                    t.clone(),
                    dim_div(&k[2], kvh),
                ]),
            );
            out.set(
                2,
                cx.dtype(2),
                Some(vec![v[0].clone(), Dim::Known(kvh), t.clone(), v_head]),
            );
            out.set(
                3,
                dtype,
                Some(vec![q[0].clone(), Dim::Known(qh), q[1].clone(), t]),
            );
        }
        (a, b, c) => fail!("Attention operands have ranks {a}, {b}, {c}"),
    }
    Ok(())
}
