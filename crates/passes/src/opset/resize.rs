//! Upsample and Resize: Upsample's `scales` became an input at 9 and Upsample became Resize
//! at 10; Resize gained `roi` and `sizes` inputs and the coordinate modes at 11 (opset 10's
//! Resize and Upsample are its `asymmetric` form, `floor` for nearest), made `roi` and
//! `scales` optional at 13, added `antialias`, `axes` and `keep_aspect_ratio_policy` at 18
//! and the `half_pixel_symmetric` mode at 19.

use modelc_ir::{Attr, Builder, NodeId, OnnxOp, Tensor};

use super::{computed, const_f64s, const_input, replace_op, set_input, take_input, Adapter, Cx};

pub(crate) const ADAPTERS: &[Adapter] = &[
    Adapter {
        op: OnnxOp::Upsample,
        version: 9,
        up: scales_attr_to_input,
        down: scales_input_to_attr,
    },
    Adapter {
        op: OnnxOp::Upsample,
        version: 10,
        up: |b, id, _| Ok(replace_op(b, id, OnnxOp::Resize)),
        down: |_, id, _| Ok(id),
    },
    Adapter {
        op: OnnxOp::Resize,
        version: 10,
        up: |_, id, _| Ok(id),
        down: |b, id, _| Ok(replace_op(b, id, OnnxOp::Upsample)),
    },
    Adapter {
        op: OnnxOp::Resize,
        version: 11,
        up: up_11,
        down: down_11,
    },
    Adapter {
        op: OnnxOp::Resize,
        version: 13,
        up: |_, id, _| Ok(id),
        down: down_13,
    },
    Adapter {
        op: OnnxOp::Resize,
        version: 18,
        up: |_, id, _| Ok(id),
        down: down_18,
    },
    Adapter {
        op: OnnxOp::Resize,
        version: 19,
        up: |_, id, _| Ok(id),
        down: |b, id, cx| {
            if string_attr(b, id, "coordinate_transformation_mode") == "half_pixel_symmetric" {
                return Err(format!(
                    "coordinate_transformation_mode `half_pixel_symmetric` has no form in opset {}",
                    cx.to
                ));
            }
            Ok(id)
        },
    },
];

fn string_attr(b: &Builder<'_>, id: NodeId, name: &str) -> String {
    let default = match name {
        "mode" => "nearest",
        "coordinate_transformation_mode" => "half_pixel",
        "nearest_mode" => "round_prefer_floor",
        "keep_aspect_ratio_policy" => "stretch",
        _ => "",
    };
    b.node(id)
        .attrs
        .string(name, default)
        .unwrap_or_else(|_| default.to_string())
}

fn scales_attr_to_input(b: &mut Builder<'_>, id: NodeId, _: &Cx) -> Result<NodeId, String> {
    if let Some(Attr::Floats(s)) = b.node_mut(id).attrs.remove("scales") {
        let t = Tensor::from_f32(vec![s.len() as u64], &s).expect("1-D");
        let c = const_input(b, id, "scales", t);
        set_input(b, id, 1, c);
    }
    Ok(id)
}

fn scales_input_to_attr(b: &mut Builder<'_>, id: NodeId, cx: &Cx) -> Result<NodeId, String> {
    let v = b.input(id, 1).ok_or("no scales")?;
    let s = const_f64s(b, v).ok_or_else(|| computed("scales", cx))?;
    let s: Vec<f32> = s.into_iter().map(|x| x as f32).collect();
    b.node_mut(id).attrs.set("scales", Attr::Floats(s));
    take_input(b, id, 1);
    Ok(id)
}

fn empty_f32() -> Tensor {
    Tensor::from_f32(vec![0], &[]).expect("empty")
}

/// `(X, scales)` → `(X, roi, scales)` with the asymmetric coordinates opset 10 used.
fn up_11(b: &mut Builder<'_>, id: NodeId, _: &Cx) -> Result<NodeId, String> {
    let scales = b.input(id, 1).ok_or("no scales")?;
    let roi = const_input(b, id, "roi", empty_f32());
    set_input(b, id, 1, roi);
    set_input(b, id, 2, scales);
    let attrs = &mut b.node_mut(id).attrs;
    attrs.set(
        "coordinate_transformation_mode",
        Attr::String(b"asymmetric".to_vec().into()),
    );
    if string_attr(b, id, "mode") == "nearest" {
        b.node_mut(id)
            .attrs
            .set("nearest_mode", Attr::String(b"floor".to_vec().into()));
    }
    Ok(id)
}

/// Only the asymmetric form (nearest: `floor`) of nearest and linear resizes by scales has an
/// opset-10 form; sizes become scales when both shapes are known.
fn down_11(b: &mut Builder<'_>, id: NodeId, cx: &Cx) -> Result<NodeId, String> {
    let mode = string_attr(b, id, "mode");
    let coord = string_attr(b, id, "coordinate_transformation_mode");
    if mode == "cubic" {
        return Err(format!("cubic mode has no form in opset {}", cx.to));
    }
    if coord != "asymmetric" {
        return Err(format!(
            "coordinate_transformation_mode `{coord}` has no form in opset {} (only `asymmetric`)",
            cx.to
        ));
    }
    if mode == "nearest" && string_attr(b, id, "nearest_mode") != "floor" {
        return Err(format!(
            "nearest_mode `{}` has no form in opset {} (only `floor`)",
            string_attr(b, id, "nearest_mode"),
            cx.to
        ));
    }
    let has_scales = b
        .input(id, 2)
        .is_some_and(|v| const_f64s(b, v).is_none_or(|s| !s.is_empty()));
    let scales = if has_scales {
        b.input(id, 2).ok_or("no scales")?
    } else {
        let x = b.input(id, 0).ok_or("no data input")?;
        let out = cx.dims(b, modelc_ir::ValueRef::new(id, 0));
        let (Some(inp), Some(out)) = (cx.dims(b, x), out) else {
            return Err(format!(
                "a resize to sizes has no form in opset {} unless both shapes are known",
                cx.to
            ));
        };
        let s: Option<Vec<f32>> = inp
            .iter()
            .zip(&out)
            .map(|(i, o)| scale_for((*i)?, (*o)?))
            .collect();
        let s = s.ok_or(format!(
            "a resize to sizes has no form in opset {} unless both shapes are known",
            cx.to
        ))?;
        let t = Tensor::from_f32(vec![s.len() as u64], &s).expect("1-D");
        const_input(b, id, "scales", t)
    };
    // `(X, roi, scales, sizes)` → `(X, scales)`: the scales move to slot 1 first, so the
    // constants left unread (roi, sizes, empty scales) go and the scales stay.
    let roi = b.input(id, 1);
    set_input(b, id, 1, scales);
    take_input(b, id, 3);
    take_input(b, id, 2);
    if let Some(roi) = roi {
        if b.users(roi).is_empty() && !b.outputs().contains(&roi) {
            modelc_ir::build::remove_with_dead_consts(b, &[roi.node]);
        }
    }
    b.node_mut(id).num_inputs = 2;
    for a in [
        "coordinate_transformation_mode",
        "nearest_mode",
        "cubic_coeff_a",
        "exclude_outside",
        "extrapolation_value",
    ] {
        b.node_mut(id).attrs.remove(a);
    }
    Ok(id)
}

/// Opsets 11 and 12 require `roi` and `scales` (empty when unused).
fn down_13(b: &mut Builder<'_>, id: NodeId, _: &Cx) -> Result<NodeId, String> {
    for (slot, what) in [(1, "roi"), (2, "scales")] {
        if b.input(id, slot).is_none() {
            let c = const_input(b, id, what, empty_f32());
            set_input(b, id, slot, c);
        }
    }
    Ok(id)
}

fn down_18(b: &mut Builder<'_>, id: NodeId, cx: &Cx) -> Result<NodeId, String> {
    let attrs = &b.node(id).attrs;
    if attrs.int("antialias", 0).unwrap_or(0) != 0 {
        return Err(format!("antialias=1 has no form in opset {}", cx.to));
    }
    if attrs.contains("axes") {
        return Err(format!("`axes` has no form in opset {}", cx.to));
    }
    let policy = string_attr(b, id, "keep_aspect_ratio_policy");
    if policy != "stretch" {
        return Err(format!(
            "keep_aspect_ratio_policy `{policy}` has no form in opset {}",
            cx.to
        ));
    }
    let attrs = &mut b.node_mut(id).attrs;
    attrs.remove("antialias");
    attrs.remove("keep_aspect_ratio_policy");
    Ok(id)
}

/// The float32 scale that takes a length of `i` to `o` (the output length is
/// `floor(i * scale)`), when there is one.
fn scale_for(i: u64, o: u64) -> Option<f32> {
    if i == 0 {
        return None;
    }
    let s = o as f32 / i as f32;
    [s, f32::from_bits(s.to_bits() + 1)]
        .into_iter()
        .find(|s| (i as f32 * s).floor() as u64 == o)
}
