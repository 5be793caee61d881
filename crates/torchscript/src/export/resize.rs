//! Resize (opsets 10-19) and Upsample: nearest, linear and cubic interpolation of the spatial
//! dimensions of an NCHW tensor, with constant `scales` or `sizes`.
//!
//! Only the ONNX modes whose coordinate rules are torch's own are taken: nearest with
//! `asymmetric` + `floor` (`upsample_nearest*d`), nearest with `half_pixel` +
//! `round_prefer_ceil` (`_upsample_nearest_exact*d`; `round_prefer_floor` too when the scales
//! are whole numbers, where the two never differ), linear/cubic with `half_pixel` or
//! `pytorch_half_pixel` (`align_corners=False`) or `align_corners`. Anything else
//! (`antialias`, `axes`, `keep_aspect_ratio_policy`, `tf_crop_and_resize`, other cubic
//! coefficients) is reported.

use modelc_ir::{NodeId, OnnxOp};

use super::emit::{float_lit, int_list, Emitter};
use super::like_input;

pub(crate) fn resize(e: &mut Emitter<'_>, id: NodeId, op: OnnxOp) -> Result<(), String> {
    let node = e.g.node(id);
    let a = &node.attrs;
    let err = |x: modelc_ir::AttrTypeError| x.to_string();
    let mode = a.string("mode", "nearest").map_err(err)?;
    let default_ctm = if op == OnnxOp::Upsample || e.opset < 11 {
        "asymmetric"
    } else {
        "half_pixel"
    };
    let ctm = a
        .string("coordinate_transformation_mode", default_ctm)
        .map_err(err)?;
    // Upsample and Resize-10 have no nearest_mode: they take the floor.
    let default_nearest = if default_ctm == "asymmetric" {
        "floor"
    } else {
        "round_prefer_floor"
    };
    let nearest_mode = a.string("nearest_mode", default_nearest).map_err(err)?;
    if a.int("antialias", 0).map_err(err)? != 0 {
        return Err("antialias=1".into());
    }
    if a.contains("axes") {
        return Err("axes".into());
    }
    if a.string("keep_aspect_ratio_policy", "stretch")
        .map_err(err)?
        != "stretch"
    {
        return Err("keep_aspect_ratio_policy".into());
    }
    if a.int("exclude_outside", 0).map_err(err)? != 0 {
        return Err("exclude_outside=1".into());
    }
    if a.float("cubic_coeff_a", -0.75).map_err(err)? != -0.75 {
        return Err("cubic_coeff_a other than torch's -0.75".into());
    }
    // Where scales and sizes are: Upsample and Resize-10 have (X, scales); later Resize has
    // (X, roi, scales, sizes).
    let (scales_slot, sizes_slot) = if op == OnnxOp::Upsample || e.opset < 11 {
        (1, None)
    } else {
        (2, Some(3))
    };
    // Upsample before opset 9 has its scales as an attribute.
    let attr_scales = match e.g.node(id).attrs.get("scales") {
        Some(modelc_ir::Attr::Floats(v)) => Some(v.iter().map(|&x| x as f64).collect()),
        _ => None,
    };
    let scales = match e.input(id, scales_slot) {
        _ if attr_scales.is_some() => attr_scales,
        Some(_) => Some(
            e.floats_input(id, scales_slot)
                .ok_or("scales are computed at run time (a constant is needed)")?,
        ),
        None => None,
    }
    .filter(|s| !s.is_empty());
    let sizes = match sizes_slot.and_then(|s| e.input(id, s).map(|_| s)) {
        Some(slot) => Some(
            e.ints_input(id, slot)
                .ok_or("sizes are computed at run time (a constant is needed)")?,
        ),
        None => None,
    }
    .filter(|s| !s.is_empty());
    let rank = match (&scales, &sizes) {
        (Some(s), _) => s.len(),
        (None, Some(s)) => s.len(),
        _ => return Err("neither scales nor sizes are given".into()),
    };
    if !(3..=5).contains(&rank) {
        return Err(format!(
            "rank {rank} (torch resizes 1-3 spatial dimensions)"
        ));
    }
    let k = rank - 2;
    let x = e.tensor(id, 0)?;
    let (out_size, scale_factors) = match (&sizes, &scales) {
        (Some(s), _) => {
            // Batch and channels keep their size (checked when the input shape is known).
            if let Some(shape) = e.input_shape(id, 0) {
                if shape.len() != rank || s[0] != shape[0] as i64 || s[1] != shape[1] as i64 {
                    return Err("sizes change the batch or channel dimension".into());
                }
            }
            (int_list(&s[2..]), "None".to_string())
        }
        (None, Some(s)) => {
            if s[0] != 1.0 || s[1] != 1.0 {
                return Err("scales change the batch or channel dimension".into());
            }
            let items: Vec<String> = s[2..].iter().map(|&v| float_lit(v)).collect();
            ("None".to_string(), format!("[{}]", items.join(", ")))
        }
        (None, None) => return Err("neither scales nor sizes are given".into()),
    };
    let whole_scales = scales
        .as_ref()
        .is_some_and(|s| s[2..].iter().all(|&v| v >= 1.0 && v.fract() == 0.0));
    let expr = match (mode.as_str(), ctm.as_str()) {
        ("nearest", "asymmetric") if nearest_mode == "floor" => {
            format!("torch.upsample_nearest{k}d({x}, {out_size}, {scale_factors})")
        }
        ("nearest", "half_pixel")
            if nearest_mode == "round_prefer_ceil"
                || (nearest_mode == "round_prefer_floor" && whole_scales) =>
        {
            format!("torch._upsample_nearest_exact{k}d({x}, {out_size}, {scale_factors})")
        }
        ("linear" | "cubic", "half_pixel" | "pytorch_half_pixel" | "align_corners") => {
            let f = match (mode.as_str(), k) {
                ("linear", 1) => "upsample_linear1d",
                ("linear", 2) => "upsample_bilinear2d",
                ("linear", 3) => "upsample_trilinear3d",
                ("cubic", 2) => "upsample_bicubic2d",
                _ => return Err(format!("{mode} interpolation in {k} dimensions")),
            };
            let align = if ctm == "align_corners" {
                "True"
            } else {
                "False"
            };
            format!("torch.{f}({x}, {out_size}, {align}, {scale_factors})")
        }
        _ => {
            return Err(format!(
                "mode={mode} with coordinate_transformation_mode={ctm}, nearest_mode={nearest_mode}"
            ))
        }
    };
    let info = like_input(e, id, Some(rank));
    e.assign(id, expr, info);
    Ok(())
}
