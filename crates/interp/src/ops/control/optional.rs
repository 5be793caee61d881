//! The optional ops: Optional (opset 15; wraps its input, or is empty when the input is
//! omitted — attribute `type` then only names the type), OptionalHasElement (opsets 15, 18:
//! false for an empty optional or an omitted input, true otherwise) and OptionalGetElement
//! (opsets 15, 18: the value inside; a tensor or sequence input is returned as it is;
//! an empty optional is an error).

use super::common::bool_array;
use crate::{bail, Data, KernelError, OpCtx};

pub fn optional(ctx: &OpCtx<'_>) -> Result<Vec<Data>, KernelError> {
    Ok(vec![Data::Optional(
        ctx.data(0).map(|d| Box::new(d.clone())),
    )])
}

pub fn optional_has_element(ctx: &OpCtx<'_>) -> Result<Vec<Data>, KernelError> {
    let has = match ctx.data(0) {
        None | Some(Data::Optional(None)) => false,
        Some(_) => true,
    };
    Ok(vec![Data::Tensor(bool_array(has))])
}

pub fn optional_get_element(ctx: &OpCtx<'_>) -> Result<Vec<Data>, KernelError> {
    match ctx.data(0) {
        Some(Data::Optional(Some(d))) => Ok(vec![(**d).clone()]),
        Some(Data::Optional(None)) => bail!("OptionalGetElement of an empty optional"),
        Some(d) => Ok(vec![d.clone()]),
        None => bail!("input 0 is missing"),
    }
}
