//! Tensor-building and reordering ops: Tile, Range, CumSum (`exclusive`, `reverse`), TopK
//! (`largest`, `sorted`), Trilu (`upper`, optional k), Einsum (`equation`), DepthToSpace
//! (DCR and CRD modes) and SpaceToDepth (`blocksize`, DCR and CRD modes), the last two in NCHW.
//!
//! Counts and scalars (repeats, K, Range's bounds) may be constants, tracked shape
//! arithmetic, or tensors read with `int(...)` / `float(...)` at run time.

use modelc_ir::{DType, NodeId, OnnxOp};

use super::emit::{float_lit, Emitter, Info};
use super::like_input;

pub(crate) fn emit(e: &mut Emitter<'_>, id: NodeId, op: OnnxOp) -> Option<Result<(), String>> {
    use OnnxOp::*;
    Some(match op {
        Tile => tile(e, id),
        Range => range(e, id),
        CumSum => cumsum(e, id),
        TopK => topk(e, id),
        Trilu => trilu(e, id),
        Einsum => einsum(e, id),
        DepthToSpace => depth_to_space(e, id),
        SpaceToDepth => space_to_depth(e, id),
        _ => return None,
    })
}

fn err(x: modelc_ir::AttrTypeError) -> String {
    x.to_string()
}

/// A scalar input as a TorchScript number: a literal, a tracked int expression, or the
/// tensor converted at run time.
fn scalar(e: &mut Emitter<'_>, id: NodeId, slot: usize) -> Result<String, String> {
    let info = e.input_info(id, slot);
    if let Some(t) = e.const_input(id, slot) {
        if t.dtype.is_float() {
            let v = e.floats_input(id, slot).and_then(|v| v.first().copied());
            return v.map(float_lit).ok_or_else(|| "an empty scalar".into());
        }
    }
    if let Some(s) = e.sym_input(id, slot) {
        if s.items.len() == 1 {
            return Ok(s.items[0].clone());
        }
    }
    let t = e.tensor(id, slot)?;
    Ok(match info.dtype {
        Some(d) if d.is_float() => format!("float({t})"),
        _ => format!("int({t})"),
    })
}

fn tile(e: &mut Emitter<'_>, id: NodeId) -> Result<(), String> {
    let reps = e
        .int_exprs_input(id, 1)
        .ok_or("repeats are computed in a way not followed (a constant is needed)")?;
    let x = e.tensor(id, 0)?;
    let info = like_input(e, id, e.input_info(id, 0).rank);
    e.assign(id, format!("torch.tile({x}, [{}])", reps.join(", ")), info);
    Ok(())
}

fn range(e: &mut Emitter<'_>, id: NodeId) -> Result<(), String> {
    let dtype = e
        .input_info(id, 0)
        .dtype
        .ok_or("the element type of start is unknown")?;
    let code = super::emit::scalar_type(dtype).ok_or_else(|| format!("torch has no {dtype}"))?;
    let start = scalar(e, id, 0)?;
    let limit = scalar(e, id, 1)?;
    let delta = scalar(e, id, 2)?;
    e.assign(
        id,
        format!("torch.arange({start}, {limit}, {delta}, dtype={code})"),
        Info {
            rank: Some(1),
            dtype: Some(dtype),
        },
    );
    Ok(())
}

fn cumsum(e: &mut Emitter<'_>, id: NodeId) -> Result<(), String> {
    let attrs = &e.g.node(id).attrs;
    let exclusive = attrs.int("exclusive", 0).map_err(err)? != 0;
    let reverse = attrs.int("reverse", 0).map_err(err)? != 0;
    let axis = e
        .ints_input(id, 1)
        .and_then(|v| v.first().copied())
        .ok_or("the axis is not a constant")?;
    let x = e.tensor(id, 0)?;
    let flip = |t: String| format!("torch.flip({t}, [{axis}])");
    let src = if reverse { flip(x.clone()) } else { x.clone() };
    let mut expr = format!("torch.cumsum({src}, {axis})");
    if exclusive {
        expr = format!("torch.sub({expr}, {src})");
    }
    if reverse {
        expr = flip(expr);
    }
    let info = like_input(e, id, e.input_info(id, 0).rank);
    e.assign(id, expr, info);
    Ok(())
}

fn topk(e: &mut Emitter<'_>, id: NodeId) -> Result<(), String> {
    let attrs = &e.g.node(id).attrs;
    let axis = attrs.int("axis", -1).map_err(err)?;
    let largest = attrs.int("largest", 1).map_err(err)? != 0;
    let sorted = attrs.int("sorted", 1).map_err(err)? != 0;
    let k = scalar(e, id, 1)?;
    let x = e.tensor(id, 0)?;
    let py = |b: bool| if b { "True" } else { "False" };
    let rank = e.input_info(id, 0).rank;
    let infos = [
        like_input(e, id, rank),
        Info {
            rank,
            dtype: Some(DType::I64),
        },
    ];
    e.assign_many(
        id,
        format!(
            "torch.topk({x}, {k}, {axis}, {}, {})",
            py(largest),
            py(sorted)
        ),
        &infos,
    );
    Ok(())
}

fn trilu(e: &mut Emitter<'_>, id: NodeId) -> Result<(), String> {
    let upper = e.g.node(id).attrs.int("upper", 1).map_err(err)? != 0;
    let k = if e.input(id, 1).is_some() {
        scalar(e, id, 1)?
    } else {
        "0".into()
    };
    let x = e.tensor(id, 0)?;
    let f = if upper { "torch.triu" } else { "torch.tril" };
    let info = like_input(e, id, e.input_info(id, 0).rank);
    e.assign(id, format!("{f}({x}, {k})"), info);
    Ok(())
}

fn einsum(e: &mut Emitter<'_>, id: NodeId) -> Result<(), String> {
    let eq =
        e.g.node(id)
            .attrs
            .string("equation", "")
            .map_err(err)?
            .replace(' ', "");
    if eq.is_empty()
        || !eq
            .chars()
            .all(|c| c.is_ascii_alphabetic() || ",->.".contains(c))
    {
        return Err(format!("equation {eq:?}"));
    }
    let mut args = Vec::new();
    for slot in 0..e.g.node(id).num_inputs {
        args.push(e.tensor(id, slot)?);
    }
    let rank = eq
        .split_once("->")
        .map(|(_, out)| out.len())
        .filter(|_| !eq.contains('.'));
    let info = like_input(e, id, rank);
    e.assign(
        id,
        format!("torch.einsum(\"{eq}\", [{}])", args.join(", ")),
        info,
    );
    Ok(())
}

fn blocksize(e: &Emitter<'_>, id: NodeId) -> Result<i64, String> {
    let b = e.g.node(id).attrs.int("blocksize", 0).map_err(err)?;
    if b < 1 {
        return Err(format!("blocksize {b}"));
    }
    if e.input_info(id, 0).rank.is_some_and(|r| r != 4) {
        return Err("input is not 4-D".into());
    }
    Ok(b)
}

fn depth_to_space(e: &mut Emitter<'_>, id: NodeId) -> Result<(), String> {
    let b = blocksize(e, id)?;
    let mode = e.g.node(id).attrs.string("mode", "DCR").map_err(err)?;
    let x = e.tensor(id, 0)?;
    let info = like_input(e, id, Some(4));
    let expr = match mode.as_str() {
        "CRD" => format!("torch.pixel_shuffle({x}, {b})"),
        "DCR" => {
            let (n, c, h, w) = dims(&x);
            let t = format!(
                "torch.reshape({x}, [{n}, {b}, {b}, ({c} // {}), {h}, {w}])",
                b * b
            );
            let t = format!("torch.permute({t}, [0, 3, 4, 1, 5, 2])");
            format!(
                "torch.reshape({t}, [{n}, ({c} // {}), ({h} * {b}), ({w} * {b})])",
                b * b
            )
        }
        other => return Err(format!("mode={other}")),
    };
    e.assign(id, expr, info);
    Ok(())
}

fn space_to_depth(e: &mut Emitter<'_>, id: NodeId) -> Result<(), String> {
    let b = blocksize(e, id)?;
    // `mode` (opset 28; DCR before): CRD is pixel_shuffle's inverse.
    let mode = e.g.node(id).attrs.string("mode", "DCR").map_err(err)?;
    let x = e.tensor(id, 0)?;
    match mode.as_str() {
        "DCR" => {}
        "CRD" => {
            let info = like_input(e, id, Some(4));
            e.assign(id, format!("torch.pixel_unshuffle({x}, {b})"), info);
            return Ok(());
        }
        other => return Err(format!("mode={other}")),
    }
    let (n, c, h, w) = dims(&x);
    let t = format!("torch.reshape({x}, [{n}, {c}, ({h} // {b}), {b}, ({w} // {b}), {b}])");
    let t = format!("torch.permute({t}, [0, 3, 5, 1, 2, 4])");
    let expr = format!(
        "torch.reshape({t}, [{n}, ({c} * {}), ({h} // {b}), ({w} // {b})])",
        b * b
    );
    let info = like_input(e, id, Some(4));
    e.assign(id, expr, info);
    Ok(())
}

/// `torch.size(x, i)` for the four NCHW dimensions.
fn dims(x: &str) -> (String, String, String, String) {
    let d = |i: usize| format!("torch.size({x}, {i})");
    (d(0), d(1), d(2), d(3))
}
