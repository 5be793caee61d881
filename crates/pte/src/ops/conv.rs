//! Conv (1-D, 2-D, 3-D; groups, dilation) → `aten::convolution.out(input, weight, bias?,
//! stride, padding, dilation, transposed=false, output_padding, groups, *, out)`. Padding
//! that differs between the two sides of an axis goes first through
//! `aten::constant_pad_nd.out` (its extra part), as the convolution pads symmetrically.

use super::{attr_int, attr_ints};
use crate::lower::{Lower, Refusal};

pub(super) fn lower(cx: &mut Lower) -> Result<(), Refusal> {
    let x_ref = cx.input_ref(0)?;
    let dims = cx.dims(x_ref)?;
    let n = dims.len().saturating_sub(2);
    if n == 0 {
        return Err("Conv input has no spatial axes".into());
    }
    let pads = spatial_pads(cx, n)?;
    let strides = attr_ints(cx, "strides").unwrap_or_else(|| vec![1; n]);
    let dilations = attr_ints(cx, "dilations").unwrap_or_else(|| vec![1; n]);
    let groups = attr_int(cx, "group")?;
    if strides.len() != n || dilations.len() != n {
        return Err(format!(
            "strides / dilations not one per spatial axis ({n})"
        ));
    }
    let mut x = cx.input(0)?;
    let (sym, extra) = split_pads(&pads, n);
    if extra.iter().any(|&p| p != 0) {
        x = pad_input(cx, x, &dims, &extra)?;
    }
    let w = cx.input(1)?;
    let bias = if cx.has_input(2) {
        cx.input(2)?
    } else {
        cx.p.null()
    };
    let out = cx.output(0)?;
    let stride = cx.p.ints(strides);
    let padding = cx.p.ints(sym);
    let dilation = cx.p.ints(dilations);
    let transposed = cx.p.bool(false);
    let output_padding = cx.p.ints(vec![0; n]);
    let groups = cx.p.int(groups);
    cx.p.call(
        "aten::convolution",
        "out",
        &[
            x,
            w,
            bias,
            stride,
            padding,
            dilation,
            transposed,
            output_padding,
            groups,
        ],
        &[out],
    );
    Ok(())
}

/// The ONNX `pads` ([begin..., end...]) of the node being lowered, `auto_pad` NOTSET or
/// VALID (SAME_* is refused: torch exports write explicit pads).
pub(super) fn spatial_pads(cx: &Lower, n: usize) -> Result<Vec<i64>, Refusal> {
    let node = cx.g.node(cx.node);
    let auto = node.string("auto_pad").unwrap_or_else(|_| "NOTSET".into());
    let pads = match auto.as_str() {
        "NOTSET" => attr_ints(cx, "pads").unwrap_or_else(|| vec![0; 2 * n]),
        "VALID" => vec![0; 2 * n],
        other => return Err(format!("auto_pad {other} (only explicit pads)")),
    };
    if pads.len() != 2 * n {
        return Err(format!("{} pads for {n} spatial axes", pads.len()));
    }
    Ok(pads)
}

/// Symmetric padding per axis (the smaller side) and what each side needs more, as
/// begin, end per axis.
pub(super) fn split_pads(pads: &[i64], n: usize) -> (Vec<i64>, Vec<i64>) {
    let mut sym = Vec::with_capacity(n);
    let mut extra = Vec::with_capacity(n);
    for i in 0..n {
        let (b, e) = (pads[i], pads[i + n]);
        let s = b.min(e);
        sym.push(s);
        extra.push(b - s);
        extra.push(e - s);
    }
    (sym, extra)
}

/// `aten::constant_pad_nd.out` of `x` (sizes `dims`) by `extra` zeros ((begin, end) per
/// spatial axis, flattened), into a temporary.
pub(super) fn pad_input(
    cx: &mut Lower,
    x: usize,
    dims: &[u64],
    extra: &[i64],
) -> Result<usize, Refusal> {
    let n = extra.len() / 2;
    let mut padded = dims.to_vec();
    // aten's pad list runs from the last axis backwards: [last_begin, last_end, ...].
    let mut pad = Vec::with_capacity(2 * n);
    for i in (0..n).rev() {
        pad.push(extra[2 * i]);
        pad.push(extra[2 * i + 1]);
    }
    for i in 0..n {
        let d = &mut padded[2 + i];
        *d += (extra[2 * i] + extra[2 * i + 1]) as u64;
    }
    let dtype =
        cx.p.tensor(x)
            .map(|t| t.dtype)
            .ok_or("padding a non-tensor")?;
    let tmp = cx.temp(dtype, padded);
    let pad = cx.p.ints(pad);
    let zero = cx.p.double(0.0);
    cx.p.call("aten::constant_pad_nd", "out", &[x, pad, zero], &[tmp]);
    Ok(tmp)
}
