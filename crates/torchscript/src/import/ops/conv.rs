//! Convolutions: `_convolution` (what tracing records; `_convolution_mode` for string
//! padding), `conv1d/2d/3d` (scripting),
//! `conv_transpose1d/2d/3d` → ONNX Conv / ConvTranspose (NCHW). Attributes: stride,
//! padding (ints or `"valid"` / `"same"`), dilation, groups, output_padding. The spatial
//! rank comes from the weight (rank − 2).

use modelc_ir::{Attr, Attrs, DType, OnnxOp};

use super::super::args::Args;
use super::super::builder::attrs;
use super::super::eval::{EvalResult, Evaluator, Stop};
use super::super::value::PyValue;
use super::{arg, operand};

/// A per-dim argument given once (`stride=2`), repeated for each of the `n` spatial dims
/// (conv and pool).
pub fn expand(v: Vec<i64>, n: usize) -> Vec<i64> {
    if v.len() == 1 {
        vec![v[0]; n]
    } else {
        v
    }
}

pub fn call(cx: &mut Evaluator, op: &str, a: &Args) -> Option<EvalResult<PyValue>> {
    let transposed_op = op.starts_with("conv_transpose");
    if !(op == "_convolution"
        || op == "convolution"
        || matches!(op, "conv1d" | "conv2d" | "conv3d" | "_convolution_mode")
        || transposed_op)
    {
        return None;
    }
    Some((|| -> EvalResult<PyValue> {
        let x = arg(
            op,
            operand(cx, a.get(0, "input").unwrap_or(&PyValue::None), None),
        )?;
        let w = arg(op, a.t(1, "weight"))?;
        let bias = arg(op, a.opt_t(2, "bias"))?;
        let n = w
            .rank
            .ok_or_else(|| Stop::Fatal(format!("aten::{op}: weight rank unknown")))?
            .checked_sub(2)
            .filter(|&n| n > 0)
            .ok_or_else(|| Stop::Fatal(format!("aten::{op}: weight of rank {:?}", w.rank)))?;
        let stride = expand(arg(op, a.ints(3, "stride", Some(&[1])))?, n);
        let (pads, auto_pad) = match a.some(4, "padding") {
            Some(PyValue::Str(s)) if s == "valid" => (vec![0; 2 * n], None),
            Some(PyValue::Str(s)) if s == "same" => (vec![0; 2 * n], Some("SAME_UPPER")),
            _ => {
                let p = expand(arg(op, a.ints(4, "padding", Some(&[0])))?, n);
                (p.iter().chain(&p).copied().collect(), None)
            }
        };
        let (dilation, transposed, out_pad, groups) = if op == "_convolution" || op == "convolution"
        {
            (
                expand(arg(op, a.ints(5, "dilation", Some(&[1])))?, n),
                arg(op, a.bool(6, "transposed", false))?,
                expand(arg(op, a.ints(7, "output_padding", Some(&[0])))?, n),
                arg(op, a.int(8, "groups", Some(1)))?,
            )
        } else if transposed_op {
            // conv_transpose2d(input, weight, bias, stride, padding, output_padding, groups, dilation)
            (
                expand(arg(op, a.ints(7, "dilation", Some(&[1])))?, n),
                true,
                expand(arg(op, a.ints(5, "output_padding", Some(&[0])))?, n),
                arg(op, a.int(6, "groups", Some(1)))?,
            )
        } else {
            (
                expand(arg(op, a.ints(5, "dilation", Some(&[1])))?, n),
                false,
                vec![0; n],
                arg(op, a.int(6, "groups", Some(1)))?,
            )
        };
        // "same" (stride 1): d·(k − 1) in all, the odd one at the end. Spelled out when the
        // weight's size is known: onnxruntime runs no dilated SAME_UPPER convolution.
        let (pads, auto_pad) = match (auto_pad, super::const_dims(cx, w)) {
            (Some(_), Some(wd)) if wd.len() == n + 2 && !transposed => {
                let total: Vec<i64> = (0..n)
                    .map(|i| dilation[i] * (wd[i + 2] as i64 - 1))
                    .collect();
                let begins = total.iter().map(|t| t / 2);
                let ends = total.iter().map(|t| t - t / 2);
                (begins.chain(ends).collect(), None)
            }
            other => (pads, other.0),
        };
        // torch takes an output_padding below the stride or the dilation; ONNX (and
        // onnxruntime, which refuses the file) only below the stride. The output rows it
        // adds are the full transposed convolution's rows the end padding would have
        // cropped, so it first shrinks the end padding; what is left past the stride is
        // rows beyond the full result (bias only): zeros padded after, the bias added then.
        let mut pads = pads;
        let mut out_pad = out_pad;
        let mut tail = vec![0i64; n];
        if transposed && auto_pad.is_none() && pads.len() == 2 * n {
            for i in 0..n {
                if out_pad[i] >= stride[i] {
                    let take = out_pad[i].min(pads[n + i]);
                    pads[n + i] -= take;
                    out_pad[i] -= take;
                    if out_pad[i] >= stride[i] {
                        tail[i] = std::mem::take(&mut out_pad[i]);
                    }
                }
            }
        }
        let tail_bias = tail.iter().any(|&t| t > 0);
        let mut at = vec![
            ("strides", Attr::Ints(stride)),
            ("dilations", Attr::Ints(dilation)),
            ("group", Attr::Int(groups)),
        ];
        match auto_pad {
            Some(p) => at.push(("auto_pad", Attr::String(p.into()))),
            None => at.push(("pads", Attr::Ints(pads))),
        }
        if transposed && out_pad.iter().any(|&p| p != 0) {
            at.push(("output_padding", Attr::Ints(out_pad)));
        }
        if w.dtype != x.dtype && x.dtype != DType::F32 {
            return Err(Stop::Fatal(format!(
                "aten::{op}: input and weight types differ"
            )));
        }
        let onnx = if transposed {
            OnnxOp::ConvTranspose
        } else {
            OnnxOp::Conv
        };
        let direct_bias = if tail_bias { None } else { bias.map(|b| b.v) };
        let mut v =
            cx.b.node(onnx, &[Some(x.v), Some(w.v), direct_bias], attrs(at), 1)[0];
        if tail_bias {
            let zeros: Vec<i64> = vec![0; n + 2];
            let ends: Vec<i64> = [0, 0].iter().chain(&tail).copied().collect();
            let p = cx.b.ints(&[zeros, ends].concat());
            let zero = cx.b.scalar(x.dtype, 0.0);
            v = cx.b.op(OnnxOp::Pad, &[v, p, zero], Attrs::default());
            if let Some(b) = bias {
                // [C] → [C, 1, ...]: broadcast over the spatial axes.
                let axes = cx.b.ints(&(1..=n as i64).collect::<Vec<_>>());
                let b = cx.b.op(OnnxOp::Unsqueeze, &[b.v, axes], Attrs::default());
                v = cx.b.op(OnnxOp::Add, &[v, b], Attrs::default());
            }
        }
        Ok(PyValue::Tensor(x.with(v)))
    })())
}
