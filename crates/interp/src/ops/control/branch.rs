//! If (opsets 1–25): runs `then_branch` when the one-element bool input is true, else
//! `else_branch`; the node's outputs are the branch's outputs (tensors, sequences or
//! optionals). Values from enclosing graphs reach the branches as captures.

use super::common::{bool_scalar, graph_attr};
use crate::{bail, Data, KernelError, OpCtx};

pub fn if_op(ctx: &OpCtx<'_>) -> Result<Vec<Data>, KernelError> {
    let Some(cond) = ctx.data(0) else {
        bail!("If: the condition is missing");
    };
    let branch = if bool_scalar(cond, "If condition")? {
        "then_branch"
    } else {
        "else_branch"
    };
    let g = graph_attr(ctx, branch)?;
    ctx.run_subgraph(g, vec![])
}
