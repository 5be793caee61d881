//! Upsampling → ONNX Resize over the spatial axes (`axes` = 2.., opset 18), by output size
//! or by scale factors (torch maps coordinates with the given scales, as Resize does):
//! - `upsample_nearest1d/2d/3d`: nearest, `asymmetric` + `floor` (torch's
//!   `src = floor(dst · in / out)`);
//! - `_upsample_nearest_exact1d/2d/3d`: nearest, `half_pixel` + `round_prefer_ceil`
//!   (`src = floor((dst + 0.5) · in / out)`);
//! - `upsample_linear1d`, `upsample_bilinear2d`, `upsample_trilinear3d`: linear,
//!   `align_corners` or `pytorch_half_pixel`; `upsample_bicubic2d`: cubic the same way, with
//!   torch's coefficient -0.75.
//!
//! - `_upsample_bilinear2d_aa`, `_upsample_bicubic2d_aa` (`antialias=True`, torchvision's
//!   resizing): the same with Resize's `antialias` (opset 18), which widens the kernel by the
//!   downscale factor as torch does; bicubic with PIL's coefficient -0.5 and the weights of
//!   taps outside the input dropped (`exclude_outside`), as torch's antialiased kernels have
//!   (with `align_corners` they are reported: no coordinate mode places torch's taps).
//!
//! Arguments as traced code passes them: `(input, output_size, [align_corners,]
//! scale_factors)`, either list possibly None.

use modelc_ir::{Attr, OnnxOp, Tensor};

use super::super::args::Args;
use super::super::builder::attrs;
use super::super::eval::{EvalResult, Evaluator};
use super::super::value::PyValue;
use super::{arg, known_f64, known_ints, operand};

pub fn call(cx: &mut Evaluator, op: &str, a: &Args) -> Option<EvalResult<PyValue>> {
    let antialias = op.ends_with("_aa");
    let (mode, n) = match op {
        "_upsample_bilinear2d_aa" => ("linear", 2),
        "_upsample_bicubic2d_aa" => ("cubic", 2),
        "upsample_nearest1d" => ("nearest", 1),
        "upsample_nearest2d" => ("nearest", 2),
        "upsample_nearest3d" => ("nearest", 3),
        "_upsample_nearest_exact1d" => ("nearest-exact", 1),
        "_upsample_nearest_exact2d" => ("nearest-exact", 2),
        "_upsample_nearest_exact3d" => ("nearest-exact", 3),
        "upsample_linear1d" => ("linear", 1),
        "upsample_bilinear2d" => ("linear", 2),
        "upsample_trilinear3d" => ("linear", 3),
        "upsample_bicubic2d" => ("cubic", 2),
        _ => return None,
    };
    Some((|| -> EvalResult<PyValue> {
        let x = arg(
            op,
            operand(cx, a.get(0, "input").unwrap_or(&PyValue::None), None),
        )?;
        if !x.dtype.is_float() {
            return arg(op, Err(format!("{} input", x.dtype)));
        }
        // Linear and cubic take align_corners before the scales.
        let linear = mode == "linear" || mode == "cubic";
        let align = linear && arg(op, a.bool(2, "align_corners", false))?;
        if antialias && align {
            // torch then centres taps at (i + 0.5)·(in − 1)/(out − 1): no Resize coordinate
            // mode gives that at the requested size.
            return Err(super::super::eval::Stop::Fatal(format!(
                "aten::{op}: antialias with align_corners is not supported"
            )));
        }
        let scale_slot = if linear { 3 } else { 2 };
        // Output sizes known at import time, or computed at run time (`size=y.shape[-2:]`
        // of a module traced or scripted with unknown sizes).
        let (sizes, run_time_sizes) = match a.some(1, "output_size") {
            None | Some(PyValue::None) => (None, None),
            Some(v) => match known_ints(cx, v) {
                Some(s) => (Some(s), None),
                None if v.as_list().is_some_and(|l| l.len() == n) => {
                    let (t, _) = super::shape::shape_tensor(cx, op, v)?;
                    (None, Some(t))
                }
                None => {
                    return arg(
                        op,
                        Err(format!("output_size is a {} of unknown length", v.kind())),
                    )
                }
            },
        };
        let scales: Option<Vec<f64>> = match a.some(scale_slot, "scale_factors") {
            None | Some(PyValue::None) => None,
            Some(v) => Some(arg(
                op,
                v.as_list()
                    .and_then(|l| l.iter().map(|x| known_f64(cx, x)).collect())
                    .ok_or_else(|| {
                        format!("scale_factors must be a constant list, is {}", v.kind())
                    }),
            )?),
        };
        let (coord, nearest) = match (mode, align) {
            ("nearest", _) => ("asymmetric", "floor"),
            ("nearest-exact", _) => ("half_pixel", "round_prefer_ceil"),
            (_, true) => ("align_corners", "floor"),
            (_, false) => ("pytorch_half_pixel", "floor"),
        };
        let axes: Vec<i64> = (2..2 + n as i64).collect();
        let mut at = attrs(vec![
            (
                "mode",
                Attr::String(
                    if mode == "nearest-exact" {
                        "nearest"
                    } else {
                        mode
                    }
                    .into(),
                ),
            ),
            ("coordinate_transformation_mode", Attr::String(coord.into())),
            ("axes", Attr::Ints(axes)),
        ]);
        if !linear {
            at.set("nearest_mode", Attr::String(nearest.into()));
        }
        if antialias {
            at.set("antialias", Attr::Int(1));
            at.set("exclude_outside", Attr::Int(1));
        }
        if mode == "cubic" && antialias {
            at.set("cubic_coeff_a", Attr::Float(-0.5));
        } else if mode == "cubic" {
            // torch's bicubic kernel (A = -0.75), taps past the border clamped to it.
            at.set("cubic_coeff_a", Attr::Float(-0.75));
        }
        let inputs = match (sizes, scales) {
            _ if run_time_sizes.is_some() => vec![Some(x.v), None, None, run_time_sizes],
            (Some(s), _) if s.len() == n => {
                vec![Some(x.v), None, None, Some(cx.b.ints(&s))]
            }
            (_, Some(f)) if f.len() == n => {
                let vals: Vec<f32> = f.iter().map(|&v| v as f32).collect();
                let t = Tensor::from_f32(vec![n as u64], &vals).expect("sizes match");
                vec![Some(x.v), None, Some(cx.b.constant("scales", t))]
            }
            _ => {
                return arg(
                    op,
                    Err(format!("needs {n} output sizes or {n} scale factors")),
                )
            }
        };
        let v = cx.b.node(OnnxOp::Resize, &inputs, at, 1)[0];
        Ok(PyValue::Tensor(x.with(v)))
    })())
}
