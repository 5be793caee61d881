//! Matrix products: MatMul (numpy semantics, as `torch.matmul`) and Gemm (`transA`, `transB`,
//! `alpha`, `beta`, optional C). The plain dense-layer Gemm (`transB=1`, unit scales, 1-D
//! bias) becomes `torch.linear`, which is what torch's own modules run.

use modelc_ir::{NodeId, OnnxOp};

use super::emit::{float_lit, Emitter};
use super::like_input;

pub(crate) fn emit(e: &mut Emitter<'_>, id: NodeId, op: OnnxOp) -> Option<Result<(), String>> {
    Some(match op {
        OnnxOp::MatMul => matmul(e, id),
        OnnxOp::Gemm => gemm(e, id),
        _ => return None,
    })
}

fn matmul(e: &mut Emitter<'_>, id: NodeId) -> Result<(), String> {
    let ra = e.input_info(id, 0).rank;
    let rb = e.input_info(id, 1).rank;
    let rank = match (ra, rb) {
        (Some(1), Some(1)) => Some(0),
        (Some(1), Some(r)) | (Some(r), Some(1)) => Some(r - 1),
        (Some(a), Some(b)) => Some(a.max(b)),
        _ => None,
    };
    let a = e.tensor(id, 0)?;
    let b = e.tensor(id, 1)?;
    let info = like_input(e, id, rank);
    e.assign(id, format!("torch.matmul({a}, {b})"), info);
    Ok(())
}

fn gemm(e: &mut Emitter<'_>, id: NodeId) -> Result<(), String> {
    let node = e.g.node(id);
    let attrs = &node.attrs;
    let err = |x: modelc_ir::AttrTypeError| x.to_string();
    let alpha = node.float("alpha").map_err(|x| x.to_string())? as f64;
    let beta = node.float("beta").map_err(|x| x.to_string())? as f64;
    let trans_a = attrs.int("transA", 0).map_err(err)? != 0;
    let trans_b = attrs.int("transB", 0).map_err(err)? != 0;
    let has_c = e.input(id, 2).is_some();
    let c_rank = e.input_info(id, 2).rank;
    let a = e.tensor(id, 0)?;
    let b = e.tensor(id, 1)?;
    let expr = if alpha == 1.0
        && beta == 1.0
        && !trans_a
        && trans_b
        && (!has_c || c_rank.is_some_and(|r| r <= 1))
    {
        format!("torch.linear({a}, {b}, {})", e.opt_tensor(id, 2)?)
    } else {
        let a = if trans_a { format!("torch.t({a})") } else { a };
        let b = if trans_b { format!("torch.t({b})") } else { b };
        let mut expr = format!("torch.matmul({a}, {b})");
        if alpha != 1.0 {
            expr = format!("torch.mul({expr}, {})", float_lit(alpha));
        }
        if has_c {
            let c = e.tensor(id, 2)?;
            let c = if beta != 1.0 {
                format!("torch.mul({c}, {})", float_lit(beta))
            } else {
                c
            };
            expr = format!("torch.add({expr}, {c})");
        }
        expr
    };
    let info = like_input(e, id, Some(2));
    e.assign(id, expr, info);
    Ok(())
}
