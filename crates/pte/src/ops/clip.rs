//! Clip → `aten::clamp.out(self, Scalar? min, Scalar? max, *, out)`, its bounds constants
//! (ReLU6 in MobileNets).

use crate::lower::{Lower, Refusal};

pub(super) fn lower(cx: &mut Lower) -> Result<(), Refusal> {
    let node = cx.g.node(cx.node);
    // Opset < 11: bounds are attributes; from 11: optional constant inputs.
    let bound = |cx: &mut Lower, slot: usize, attr: &str| -> Result<usize, Refusal> {
        if cx.has_input(slot) {
            let t = cx
                .const_input(slot)
                .ok_or_else(|| format!("Clip bound {slot} is not a constant"))?;
            let v = modelc_passes::pattern::FloatConst::from_tensor(t)
                .and_then(|f| f.scalar())
                .or_else(|| modelc_ir::infer::tensor_ints(t)?.first().map(|&i| i as f64))
                .ok_or_else(|| format!("Clip bound {slot} is not a scalar"))?;
            return Ok(cx.p.double(v));
        }
        match node.attrs.get(attr) {
            Some(_) => {
                let v = node.float(attr).map_err(|e| e.to_string())?;
                Ok(cx.p.double(f64::from(v)))
            }
            None => Ok(cx.p.null()),
        }
    };
    let x = cx.input(0)?;
    let lo = bound(cx, 1, "min")?;
    let hi = bound(cx, 2, "max")?;
    let out = cx.output(0)?;
    cx.p.call("aten::clamp", "out", &[x, lo, hi], &[out]);
    Ok(())
}
