//! `decompose-einsum`: `Einsum` (no TFLite builtin) of one or two operands of known shape, explicit output (`->`),
//! no ellipsis and no repeated letter within a term, as the ops TFLite has:
//! - letters of one operand that neither the other operand nor the output has are summed
//!   first (`ReduceSum`, SUM);
//! - one operand: then a `Transpose` to the output's order;
//! - two operands: the letters both have and the output keeps are batch axes, those both
//!   have and the output drops are contracted, the rest belong to one side. Each operand is
//!   transposed to [batch, own, contracted] (resp. [batch, contracted, own]) and reshaped to
//!   3-D, one `MatMul` (BATCH_MATMUL) multiplies them, and a `Reshape` + `Transpose` give the
//!   output's axes: the decomposition TensorFlow's own einsum uses.
//!
//! Transposes and reshapes that would not move anything are left out. Other forms stay
//! Einsum and are reported by the lowering.

use modelc_ir::{Builder, NodeId, OnnxOp, ValueRef};

use super::{base_name, Decompose};

pub const PASS: Decompose = Decompose {
    name: "decompose-einsum",
    description:
        "Einsum of one or two operands of known shape → ReduceSum, Transpose, Reshape, MatMul",
    ops: &[OnnxOp::Einsum],
    opsets: 0..=i64::MAX,
    rewrite: |g, id, _, opset| einsum(g, id, opset),
};

/// One operand: its value, letters and dims.
struct Term {
    v: ValueRef,
    letters: Vec<u8>,
    dims: Vec<u64>,
}

fn einsum(g: &mut Builder<'_>, id: NodeId, opset: i64) -> bool {
    let Some(eq) = g.node(id).attrs.string("equation", "").ok() else {
        return false;
    };
    let eq: String = eq.chars().filter(|c| !c.is_whitespace()).collect();
    let Some((lhs, out)) = eq.split_once("->") else {
        return false;
    };
    let ins: Vec<ValueRef> = g.inputs_of(id).into_iter().flatten().collect();
    let terms: Vec<&str> = lhs.split(',').collect();
    if !(1..=2).contains(&ins.len()) || terms.len() != ins.len() {
        return false;
    }
    let mut ops = Vec::new();
    for (&v, t) in ins.iter().zip(&terms) {
        let Some(dims) = g.shape_of(v).and_then(|s| s.as_known()) else {
            return false;
        };
        let letters = t.as_bytes().to_vec();
        if letters.len() != dims.len() || !distinct_letters(&letters) {
            return false;
        }
        ops.push(Term { v, letters, dims });
    }
    let out = out.as_bytes().to_vec();
    if !distinct_letters(&out)
        || out
            .iter()
            .any(|c| !ops.iter().any(|t| t.letters.contains(c)))
    {
        return false;
    }
    // Every letter has one size.
    let mut sizes = [None::<u64>; 128];
    for t in &ops {
        for (&c, &d) in t.letters.iter().zip(&t.dims) {
            match sizes[c as usize] {
                Some(prev) if prev != d => return false,
                _ => sizes[c as usize] = Some(d),
            }
        }
    }
    let size = |c: u8| sizes[c as usize].unwrap_or(1);
    let name = base_name(g, id);
    // Sum away letters only one operand has and the output drops.
    for k in 0..ops.len() {
        let others: Vec<u8> = ops
            .iter()
            .enumerate()
            .filter(|&(j, _)| j != k)
            .flat_map(|(_, t)| t.letters.clone())
            .collect();
        let t = &ops[k];
        let drop: Vec<usize> = (0..t.letters.len())
            .filter(|&i| !out.contains(&t.letters[i]) && !others.contains(&t.letters[i]))
            .collect();
        if drop.is_empty() {
            continue;
        }
        let axes: Vec<i64> = drop.iter().map(|&i| i as i64).collect();
        let v = g
            .op(OnnxOp::ReduceSum, &[t.v])
            .out(format!("{name}_sum{k}"))
            .int("keepdims", 0)
            .axes(&axes, opset >= 13)
            .value();
        let t = &mut ops[k];
        t.v = v;
        for &i in drop.iter().rev() {
            t.letters.remove(i);
            t.dims.remove(i);
        }
    }
    let y = if ops.len() == 1 {
        let t = &ops[0];
        if t.letters.len() != out.len() {
            return false; // Only a letter the output repeats could differ: refused above.
        }
        transpose_to(g, t.v, &t.letters, &out, &format!("{name}_out"))
    } else {
        let (a, b) = (&ops[0], &ops[1]);
        let batch: Vec<u8> = out
            .iter()
            .copied()
            .filter(|c| a.letters.contains(c) && b.letters.contains(c))
            .collect();
        let left: Vec<u8> = out
            .iter()
            .copied()
            .filter(|c| a.letters.contains(c) && !b.letters.contains(c))
            .collect();
        let right: Vec<u8> = out
            .iter()
            .copied()
            .filter(|c| b.letters.contains(c) && !a.letters.contains(c))
            .collect();
        let contract: Vec<u8> = a
            .letters
            .iter()
            .copied()
            .filter(|c| b.letters.contains(c) && !out.contains(c))
            .collect();
        // Bounded: a hostile declared shape must not overflow the reshape sizes.
        let prod = |cs: &[u8]| {
            cs.iter()
                .try_fold(1u64, |p, &c| p.checked_mul(size(c)))
                .filter(|&p| p < 1 << 62)
        };
        let (Some(nb), Some(nl), Some(nr), Some(nk)) =
            (prod(&batch), prod(&left), prod(&right), prod(&contract))
        else {
            return false;
        };
        let a_order = [batch.clone(), left.clone(), contract.clone()].concat();
        let b_order = [batch.clone(), contract.clone(), right.clone()].concat();
        let a3 = transpose_to(g, a.v, &a.letters, &a_order, &format!("{name}_lhs"));
        let a3 = reshape_to(g, a3, &[nb, nl, nk], &format!("{name}_lhs_3d"));
        let b3 = transpose_to(g, b.v, &b.letters, &b_order, &format!("{name}_rhs"));
        let b3 = reshape_to(g, b3, &[nb, nk, nr], &format!("{name}_rhs_3d"));
        let c = g
            .op(OnnxOp::MatMul, &[a3, b3])
            .out(format!("{name}_matmul"))
            .value();
        let c_order = [batch, left, right].concat();
        let c_dims: Vec<u64> = c_order.iter().map(|&l| size(l)).collect();
        let c = reshape_to(g, c, &c_dims, &format!("{name}_nd"));
        transpose_to(g, c, &c_order, &out, &format!("{name}_out"))
    };
    g.replace_node(id, y);
    true
}

fn distinct_letters(t: &[u8]) -> bool {
    t.iter().all(u8::is_ascii_alphabetic) && t.iter().enumerate().all(|(i, c)| !t[..i].contains(c))
}

/// `v` (axes labelled `from`) transposed to the order `to` (the same letters).
fn transpose_to(g: &mut Builder<'_>, v: ValueRef, from: &[u8], to: &[u8], name: &str) -> ValueRef {
    let perm: Vec<i64> = to
        .iter()
        .map(|c| from.iter().position(|x| x == c).unwrap_or(0) as i64)
        .collect();
    if perm.iter().enumerate().all(|(i, &p)| p == i as i64) {
        return v;
    }
    g.op(OnnxOp::Transpose, &[v])
        .out(name)
        .ints("perm", perm)
        .value()
}

/// `v` reshaped to `dims` (left as it is when its shape already is that).
fn reshape_to(g: &mut Builder<'_>, v: ValueRef, dims: &[u64], name: &str) -> ValueRef {
    if g.shape_of(v).and_then(|s| s.as_known()).as_deref() == Some(dims) {
        return v;
    }
    let d: Vec<i64> = dims.iter().map(|&x| x as i64).collect();
    let shape = g.const_i64s(&format!("{name}_shape"), &d);
    g.op(OnnxOp::Reshape, &[v, shape]).out(name).value()
}
