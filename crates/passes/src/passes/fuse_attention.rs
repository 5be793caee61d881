//! `fuse-attention`: scaled dot-product attention spelled as
//! `MatMul(Q, Kᵀ) → (Div|Mul by a scalar)? → (Add mask)? → Softmax(last axis) → MatMul(·, V)`
//! → the opset-23 `Attention(Q, K, V, mask?)` {scale}.
//!
//! `Kᵀ` must be a `Transpose` whose permutation, with its last two axes swapped, gives K in
//! `(B, H, S, D)` order (a new Transpose is written when that is not the identity; torch's
//! `nn.MultiheadAttention` export needs none, hand-written code transposing
//! `(B, S, H, D)` straight to `(B, H, D, S)` needs one). Scalar constant factors on Q and K
//! (torch multiplies both by `scale^½`) and on the scores fold into `scale`. Rank 4 uses
//! the 4-D form; rank 3 (`(B·H, S, D)`) the 3-D form with one head. A mask must be rank ≤ 4
//! (≤ 2 for rank 3, where the fused op's heads axis would otherwise misalign), at least 2,
//! with its last axis known to be the key length (Attention pads a shorter mask axis with
//! masked entries instead of broadcasting it), and, when types tell, must not widen the
//! scores. Every intermediate value is read only inside the
//! pattern. Below opset 23 (no `Attention`) the pattern stays; the pass notes that.

use modelc_ir::{Attr, Attrs, Builder, Dim, Graph, NodeId, OnnxOp, ValueRef};

use crate::pattern::{
    count_nodes, default_opset, note_once, operand_orders, producer, rank_of,
    remove_with_dead_consts, rewrite_nodes, single_use, sole_user_op, with_scalar,
};
use crate::{Changed, Pass, PassContext, PassError};

pub struct FuseAttention;

impl Pass for FuseAttention {
    fn name(&self) -> &'static str {
        "fuse-attention"
    }

    fn description(&self) -> &'static str {
        "turn MatMul-Softmax-MatMul attention into Attention (opset 23+)"
    }

    fn run(&self, g: &mut Graph, cx: &mut PassContext) -> Result<Changed, PassError> {
        let opset = default_opset(cx);
        if opset < 23 {
            let found = count_nodes(g, &[OnnxOp::Softmax], |g, id| {
                match_attention(g, id).is_some()
            });
            if found > 0 {
                let note = format!(
                    "fuse-attention: {found} attention pattern(s) left decomposed: Attention needs opset 23, the model imports {opset} (convert-opset=23 / --opset 23 moves it there)"
                );
                note_once(cx, note);
            }
            return Ok(Changed::No);
        }
        Ok(Changed::from_bool(rewrite_nodes(
            g,
            &[OnnxOp::Softmax],
            |g, id| match_attention(g, id).map(|m| rewrite(g, m)).is_some(),
        )))
    }
}

struct Match {
    q: ValueRef,
    /// K before the transpose, and the permutation that puts it in `(B, H, S, D)` order.
    k_src: ValueRef,
    k_perm: Vec<i64>,
    v: ValueRef,
    mask: Option<ValueRef>,
    scale: f64,
    rank: usize,
    out: ValueRef,
    nodes: Vec<NodeId>,
}

/// When `v` is `Mul(x, k)` with a scalar constant `k` and read only here: `(x, k, node)`.
fn scalar_factor(g: &Graph, v: ValueRef) -> Option<(ValueRef, f64, NodeId)> {
    let mul = producer(g, v, OnnxOp::Mul)?;
    let (x, k) = with_scalar(g, mul)?;
    single_use(g, v).then_some((x, k, mul))
}

fn shape_of(g: &Graph, v: ValueRef) -> Option<&modelc_ir::Shape> {
    g.value(v)?.ty.as_ref()?.ty.as_tensor()?.shape.as_ref()
}

fn match_attention(g: &Graph, sm: NodeId) -> Option<Match> {
    let mut nodes = vec![sm];
    let p = ValueRef::new(sm, 0);
    let mm2 = sole_user_op(g, p, OnnxOp::MatMul)?;
    if g.input(mm2, 0)? != p {
        return None;
    }
    let v = g.input(mm2, 1)?;
    nodes.push(mm2);
    let mut scores = g.input(sm, 0)?;
    if !single_use(g, scores) {
        return None;
    }
    // Optional mask, added after scaling.
    let mut mask = None;
    if let Some(add) = producer(g, scores, OnnxOp::Add) {
        let is_scores = |x: ValueRef| {
            single_use(g, x)
                && matches!(
                    g.node(x.node).op.onnx(),
                    Some(OnnxOp::MatMul | OnnxOp::Div | OnnxOp::Mul)
                )
        };
        let (s, m) = operand_orders(g, add)
            .into_iter()
            .find(|&(s, _)| is_scores(s))?;
        if let (Some(before), Some(after)) = (shape_of(g, s), shape_of(g, scores)) {
            if before != after {
                return None;
            }
        }
        mask = Some(m);
        nodes.push(add);
        scores = s;
    }
    // Optional scaling of the scores.
    let mut scale = 1.0;
    let node = scores.node;
    match g.node(node).op.onnx()? {
        OnnxOp::Div => {
            let (x, k) = with_scalar(g, node)?;
            if g.input(node, 0)? != x || k == 0.0 || !single_use(g, x) {
                return None;
            }
            scale /= k;
            nodes.push(node);
            scores = x;
        }
        OnnxOp::Mul => {
            let (x, k, n) = scalar_factor(g, scores)?;
            if !single_use(g, x) {
                return None;
            }
            scale *= k;
            nodes.push(n);
            scores = x;
        }
        _ => {}
    }
    let mm1 = producer(g, scores, OnnxOp::MatMul)?;
    nodes.push(mm1);
    let (mut q, mut kt) = (g.input(mm1, 0)?, g.input(mm1, 1)?);
    if let Some((x, k, n)) = scalar_factor(g, q) {
        scale *= k;
        nodes.push(n);
        q = x;
    }
    if let Some((x, k, n)) = scalar_factor(g, kt) {
        scale *= k;
        nodes.push(n);
        kt = x;
    }
    let t = producer(g, kt, OnnxOp::Transpose)?;
    if !single_use(g, kt) {
        return None;
    }
    nodes.push(t);
    let mut k_src = g.input(t, 0)?;
    if let Some((x, k, n)) = scalar_factor(g, k_src) {
        scale *= k;
        nodes.push(n);
        k_src = x;
    }
    let perm = match g.node(t).attrs.get("perm")? {
        Attr::Ints(p) => p.clone(),
        _ => return None,
    };
    let rank = perm.len();
    if !(rank == 3 || rank == 4) || rank_of(g, q) != Some(rank) || rank_of(g, v) != Some(rank) {
        return None;
    }
    let mut k_perm = perm;
    k_perm.swap(rank - 2, rank - 1);
    let axis = g.node(sm).attrs.int("axis", -1).ok()?;
    if axis != -1 && axis != rank as i64 - 1 {
        return None;
    }
    if let Some(m) = mask {
        // Attention pads a mask's last axis up to the key length with masked entries rather
        // than broadcasting it, so that axis must already be the key length.
        let max_rank = if rank == 4 { 4 } else { 2 };
        let mask_shape = shape_of(g, m)?;
        let keys = shape_of(g, v)?.0.get(rank - 2)?;
        let last = mask_shape.0.last()?;
        let same_len = match (last, keys) {
            (Dim::Known(a), Dim::Known(b)) => a == b,
            (Dim::Sym(a), Dim::Sym(b)) => a == b,
            _ => false,
        };
        if !(2..=max_rank).contains(&mask_shape.rank()) || !same_len {
            return None;
        }
    }
    Some(Match {
        q,
        k_src,
        k_perm,
        v,
        mask,
        scale,
        rank,
        out: ValueRef::new(mm2, 0),
        nodes,
    })
}

fn rewrite(g: &mut Graph, m: Match) {
    let name = g.node(m.out.node).name.clone();
    let identity = m.k_perm.iter().enumerate().all(|(i, &a)| a == i as i64);
    let k = if identity {
        m.k_src
    } else {
        let mut attrs = Attrs::default();
        attrs.set("perm", Attr::Ints(m.k_perm.clone()));
        let t_name = if name.is_empty() {
            String::new()
        } else {
            format!("{name}_k")
        };
        let base = g.value(m.out).map(|v| v.name.clone()).unwrap_or_default();
        Builder::new(g)
            .op(OnnxOp::Transpose, &[m.k_src])
            .name(t_name)
            .out(format!("{base}_k"))
            .attrs(attrs)
            .value()
    };
    let mut attrs = Attrs::default();
    if m.rank == 3 {
        attrs.set("q_num_heads", Attr::Int(1));
        attrs.set("kv_num_heads", Attr::Int(1));
    }
    attrs.set("scale", Attr::Float(m.scale as f32));
    let mut inputs = vec![m.q, k, m.v];
    if let Some(mask) = m.mask {
        inputs.push(mask);
    }
    Builder::new(g)
        .op(OnnxOp::Attention, &inputs)
        .name(name)
        .attrs(attrs)
        .take_over(m.out);
    remove_with_dead_consts(g, &m.nodes);
}
