//! Helpers shared by the nn kernels: the spatial geometry of convolutions and pools
//! (output sizes, pads, `auto_pad`).

use crate::{bail, KernelError, OpCtx};

/// The `auto_pad` attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AutoPad {
    NotSet,
    SameUpper,
    SameLower,
    Valid,
}

pub fn auto_pad(ctx: &OpCtx<'_>) -> Result<AutoPad, KernelError> {
    Ok(match ctx.attrs().string("auto_pad", "NOTSET")?.as_str() {
        "NOTSET" | "" => AutoPad::NotSet,
        "SAME_UPPER" => AutoPad::SameUpper,
        "SAME_LOWER" => AutoPad::SameLower,
        "VALID" => AutoPad::Valid,
        other => bail!("unknown auto_pad `{other}`"),
    })
}

/// An `ints` attribute of `n` non-negative values (`default` each when absent).
pub fn spatial_ints(
    ctx: &OpCtx<'_>,
    name: &str,
    n: usize,
    default: usize,
    min: usize,
) -> Result<Vec<usize>, KernelError> {
    let v = ctx.attrs().ints(name, vec![])?;
    if v.is_empty() {
        return Ok(vec![default; n]);
    }
    if v.len() != n {
        bail!("attribute `{name}` has {} values, expected {n}", v.len());
    }
    v.iter()
        .map(|&x| {
            if x < min as i64 || x > (1 << 30) {
                bail!("attribute `{name}` value {x} is out of range")
            }
            Ok(x as usize)
        })
        .collect()
}

/// The spatial geometry of a convolution or pool.
#[derive(Debug, Clone)]
pub struct Geometry {
    pub kernel: Vec<usize>,
    pub strides: Vec<usize>,
    pub dilations: Vec<usize>,
    pub pads_begin: Vec<usize>,
    pub pads_end: Vec<usize>,
    pub out: Vec<usize>,
}

/// Computes output sizes and pads for input spatial sizes `input` (ONNX conv/pool rules).
pub fn geometry(
    ctx: &OpCtx<'_>,
    input: &[usize],
    kernel: Vec<usize>,
    ceil_mode: bool,
) -> Result<Geometry, KernelError> {
    let n = input.len();
    let strides = spatial_ints(ctx, "strides", n, 1, 1)?;
    let dilations = spatial_ints(ctx, "dilations", n, 1, 1)?;
    let pads = spatial_ints(ctx, "pads", 2 * n, 0, 0)?;
    let ap = auto_pad(ctx)?;
    let mut pads_begin = pads[..n].to_vec();
    let mut pads_end = pads[n..].to_vec();
    let mut out = vec![0; n];
    for i in 0..n {
        let ek = (kernel[i].max(1) - 1) * dilations[i] + 1;
        match ap {
            AutoPad::SameUpper | AutoPad::SameLower => {
                let o = input[i].div_ceil(strides[i]);
                let total = ((o.max(1) - 1) * strides[i] + ek).saturating_sub(input[i]);
                let small = total / 2;
                if ap == AutoPad::SameUpper {
                    pads_begin[i] = small;
                    pads_end[i] = total - small;
                } else {
                    pads_end[i] = small;
                    pads_begin[i] = total - small;
                }
                out[i] = o;
            }
            AutoPad::Valid | AutoPad::NotSet => {
                if ap == AutoPad::Valid {
                    pads_begin[i] = 0;
                    pads_end[i] = 0;
                }
                let padded = input[i] + pads_begin[i] + pads_end[i];
                if padded < ek {
                    bail!(
                        "kernel extent {ek} is larger than the padded input {padded} on spatial axis {i}"
                    );
                }
                let span = padded - ek;
                let mut o = if ceil_mode {
                    span.div_ceil(strides[i]) + 1
                } else {
                    span / strides[i] + 1
                };
                // The last window must start inside the input or the begin pad.
                if ceil_mode && (o - 1) * strides[i] >= input[i] + pads_begin[i] {
                    o -= 1;
                }
                out[i] = o;
            }
        }
    }
    Ok(Geometry {
        kernel,
        strides,
        dilations,
        pads_begin,
        pads_end,
        out,
    })
}

/// Layout-sensitive kernels compute channels-first; the interpreter converts NHWC nodes in
/// `layout::call` before they get here, so an NHWC node here was called around it.
pub fn check_nchw(ctx: &OpCtx<'_>) -> Result<(), KernelError> {
    if ctx.node.layout == Some(modelc_ir::Layout::Nhwc) {
        bail!("NHWC layout is not supported by this kernel (channels-first only)");
    }
    Ok(())
}
