//! Resize of the spatial axes of an NCHW (or NCL, through a view) tensor to its static
//! output size:
//! nearest with `asymmetric` coordinates and `floor` rounding → `aten::upsample_nearest2d
//! .vec_out`; linear with `align_corners`, `half_pixel` or `pytorch_half_pixel` coordinates
//! → `aten::upsample_bilinear2d.vec_out` (align_corners true / false). Other modes and
//! coordinate transforms have no portable kernel with their arithmetic.

use modelc_ir::ValueRef;

use super::attr_int;
use super::gemm::{view, view_into};
use crate::lower::{Lower, Refusal};

pub(super) fn lower(cx: &mut Lower) -> Result<(), Refusal> {
    let id = cx.dims(cx.input_ref(0)?)?;
    let od = cx.dims(ValueRef::new(cx.node, 0))?;
    let rank = id.len();
    if !(rank == 3 || rank == 4) || od.len() != rank || id[..2] != od[..2] {
        return Err("Resize other than of the spatial axes of a rank-3 or rank-4 tensor".into());
    }
    let node = cx.g.node(cx.node);
    let text = |name: &str, default: &str| node.string(name).unwrap_or_else(|_| default.into());
    let mode = text("mode", "nearest");
    let coords = text("coordinate_transformation_mode", "half_pixel");
    if attr_int(cx, "antialias").unwrap_or(0) != 0
        || attr_int(cx, "exclude_outside").unwrap_or(0) != 0
    {
        return Err("antialias or exclude_outside".into());
    }
    if node.attrs.get("axes").is_some() {
        return Err("Resize with axes".into());
    }
    // The kernels scale by input/output size; ONNX by the `scales` input when it is given.
    if cx.has_input(2) && !cx.has_input(3) {
        let scales = cx
            .const_input(2)
            .and_then(modelc_passes::pattern::FloatConst::from_tensor)
            .ok_or("scales that are not a constant")?;
        let exact = scales.values.len() == rank
            && (0..rank).all(|i| scales.values[i] as f32 == od[i] as f32 / id[i] as f32);
        if !exact {
            return Err("scales that are not the output/input size ratio".into());
        }
    }
    let dtype = cx.dtype(ValueRef::new(cx.node, 0))?;
    let mut x = cx.input(0)?;
    let out = cx.output(0)?;
    // A rank-3 tensor is resized as [N, C, 1, L] (there is no 1-D kernel) and viewed back.
    let (id4, od4) = if rank == 3 {
        (vec![id[0], id[1], 1, id[2]], vec![od[0], od[1], 1, od[2]])
    } else {
        (id.clone(), od.clone())
    };
    let dst = if rank == 3 {
        x = view(cx, x, dtype, id4);
        cx.temp(dtype, od4.clone())
    } else {
        out
    };
    let size = cx.p.ints(od4[2..].iter().map(|&d| d as i64).collect());
    let scales = cx.p.null();
    match (mode.as_str(), coords.as_str()) {
        ("nearest", "asymmetric") if text("nearest_mode", "round_prefer_floor") == "floor" => {
            cx.p.call(
                "aten::upsample_nearest2d",
                "vec_out",
                &[x, size, scales],
                &[dst],
            );
        }
        ("linear", "align_corners" | "half_pixel" | "pytorch_half_pixel") => {
            if coords == "pytorch_half_pixel" && od[2..].contains(&1) {
                // pytorch_half_pixel samples the start for a size-1 output, the kernel the
                // middle.
                return Err("linear pytorch_half_pixel Resize to a size of 1".into());
            }
            let align = cx.p.bool(coords == "align_corners");
            cx.p.call(
                "aten::upsample_bilinear2d",
                "vec_out",
                &[x, size, align, scales],
                &[dst],
            );
        }
        _ => {
            return Err(format!(
                "Resize mode {mode} with {coords} coordinates (nearest/asymmetric/floor or linear)"
            ))
        }
    }
    if rank == 3 {
        view_into(cx, dst, &od, out);
    }
    Ok(())
}
