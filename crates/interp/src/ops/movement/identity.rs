//! Identity: the input, unchanged (all opsets; any type, including sequences and optionals).

use crate::{Data, KernelError, OpCtx};

pub fn identity(ctx: &OpCtx<'_>) -> Result<Vec<Data>, KernelError> {
    let d = ctx
        .data(0)
        .ok_or_else(|| KernelError::new("input 0 is missing"))?;
    Ok(vec![d.clone()])
}
