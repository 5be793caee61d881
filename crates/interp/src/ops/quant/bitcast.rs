//! BitCast (opset 26): reinterprets each element's bits as another type of the same bit
//! width (attribute `to`); the shape is unchanged. Strings are not allowed.

use modelc_ir::{DType, Tensor, TensorData};

use crate::ops::util::one;
use crate::{bail, Array, Data, KernelError, OpCtx};

/// Reinterprets the bytes of `x` as elements of `to`.
pub fn bitcast_array(x: &Array, to: DType) -> Result<Array, KernelError> {
    let from = x.dtype();
    if from == DType::Str || to == DType::Str {
        bail!("BitCast does not take strings");
    }
    if from.bits() != to.bits() {
        bail!(
            "BitCast needs types of one bit width: {from} has {}, {to} has {}",
            from.bits(),
            to.bits()
        );
    }
    let t = x.to_tensor();
    let TensorData::Raw(bytes) = t.data else {
        bail!("BitCast: {from} has no raw bytes");
    };
    let t = Tensor::from_raw(to, t.dims, bytes).map_err(|e| KernelError::new(e.to_string()))?;
    Array::from_tensor(&t)
}

pub fn bitcast(ctx: &OpCtx<'_>) -> Result<Vec<Data>, KernelError> {
    let code = ctx.attrs().int("to", 0)?;
    let Some(to) = i32::try_from(code).ok().and_then(DType::from_onnx_code) else {
        bail!("BitCast: `to` = {code} is not an element type");
    };
    one(bitcast_array(ctx.input(0)?, to)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{ArrayD, IxDyn};

    #[test]
    fn reinterprets_bits_and_checks_width() {
        let x = Array::F32(ArrayD::from_elem(IxDyn(&[1]), 1.0));
        let y = bitcast_array(&x, DType::I32).unwrap();
        assert_eq!(y, Array::I32(ArrayD::from_elem(IxDyn(&[1]), 0x3f80_0000)));
        assert!(bitcast_array(&x, DType::I64).is_err());
    }
}
