//! Shape and data-movement ops: Reshape (ONNX's `0` = copy the input's size, `allowzero`),
//! Flatten, Transpose, Concat, Split, Slice, Squeeze, Unsqueeze, Gather, Shape, Size,
//! ConstantOfShape, Expand (bidirectional broadcast), Cast/CastLike, Pad.
//!
//! Shapes, axes, pads and split sizes must be constants (initializers or attributes): they
//! are written into the code as literals, as torch's own scripted code has them. Axes
//! became inputs in opset 13 (Squeeze, Unsqueeze, Split, ReduceSum) and Slice's bounds in
//! opset 10; both forms are read.

use modelc_ir::{Attr, DType, NodeId, OnnxOp};

use super::emit::{float_lit, int_list, scalar_type, tensor_ints, Emitter, Info};
use super::like_input;

pub(crate) fn emit(e: &mut Emitter<'_>, id: NodeId, op: OnnxOp) -> Option<Result<(), String>> {
    use OnnxOp::*;
    Some(match op {
        Reshape => reshape(e, id),
        Flatten => flatten(e, id),
        Transpose => transpose(e, id),
        Concat => concat(e, id),
        Split => split(e, id),
        Slice => slice(e, id),
        Squeeze => squeeze(e, id),
        Unsqueeze => unsqueeze(e, id),
        Gather => gather(e, id),
        Shape => shape(e, id),
        Size => size(e, id),
        ConstantOfShape => constant_of_shape(e, id),
        Expand => expand(e, id),
        Cast => cast(e, id, None),
        CastLike => {
            let to = e.input_info(id, 1).dtype;
            match to {
                Some(dt) => cast(e, id, Some(dt)),
                None => Err("the target element type is unknown".into()),
            }
        }
        Pad => pad(e, id),
        Resize | Upsample => super::resize::resize(e, id, op),
        _ => return None,
    })
}

fn err(x: impl std::fmt::Display) -> String {
    x.to_string()
}

/// Axes given as an attribute (older opsets) or as constant input `slot` (newer ones).
fn axes(e: &Emitter<'_>, id: NodeId, slot: usize) -> Result<Option<Vec<i64>>, String> {
    let node = e.g.node(id);
    if node.num_inputs > slot && e.input(id, slot).is_some() {
        return e.ints_input(id, slot).map(Some).ok_or_else(|| {
            "axes are computed at run time (torch takes them as ints written in the code; \
                 a constant, or the main graph's initializer in a branch, is needed)"
                .into()
        });
    }
    match node.attrs.get("axes") {
        Some(Attr::Ints(v)) => Ok(Some(v.clone())),
        _ => Ok(None),
    }
}

fn reshape(e: &mut Emitter<'_>, id: NodeId) -> Result<(), String> {
    let shape = e.int_exprs_input(id, 1).ok_or(
        "the target shape is computed in a way not followed (Shape/Gather/Concat/arithmetic are)",
    )?;
    let allowzero = e.g.node(id).attrs.int("allowzero", 0).map_err(err)? != 0;
    let x = e.tensor(id, 0)?;
    let static_shape = e.input_shape(id, 0);
    let dims: Vec<String> = shape
        .iter()
        .enumerate()
        .map(|(i, d)| match (d.as_str(), allowzero, &static_shape) {
            ("0", false, Some(s)) if i < s.len() => s[i].to_string(),
            ("0", false, _) => format!("torch.size({x}, {i})"),
            _ => d.clone(),
        })
        .collect();
    let info = like_input(e, id, Some(shape.len()));
    e.assign(
        id,
        format!("torch.reshape({x}, [{}])", dims.join(", ")),
        info,
    );
    Ok(())
}

fn flatten(e: &mut Emitter<'_>, id: NodeId) -> Result<(), String> {
    let mut axis = e.g.node(id).attrs.int("axis", 1).map_err(err)?;
    let rank = e.input_info(id, 0).rank;
    if axis < 0 {
        axis += rank.ok_or("negative axis with unknown input rank")? as i64;
    }
    let x = e.tensor(id, 0)?;
    let expr = if axis == 0 {
        format!("torch.reshape({x}, [1, -1])")
    } else if rank == Some(axis as usize) {
        format!("torch.reshape({x}, [-1, 1])")
    } else if axis == 1 {
        format!("torch.flatten({x}, 1)")
    } else {
        format!("torch.flatten(torch.flatten({x}, {axis}), 0, {})", axis - 1)
    };
    let info = like_input(e, id, Some(2));
    e.assign(id, expr, info);
    Ok(())
}

fn transpose(e: &mut Emitter<'_>, id: NodeId) -> Result<(), String> {
    let perm = match e.g.node(id).attrs.get("perm") {
        Some(Attr::Ints(p)) => p.clone(),
        _ => {
            let r = e.input_rank(id, 0)?;
            (0..r as i64).rev().collect()
        }
    };
    let x = e.tensor(id, 0)?;
    let info = like_input(e, id, Some(perm.len()));
    e.assign(id, format!("torch.permute({x}, {})", int_list(&perm)), info);
    Ok(())
}

fn concat(e: &mut Emitter<'_>, id: NodeId) -> Result<(), String> {
    let axis = e.g.node(id).attrs.int("axis", 0).map_err(err)?;
    let mut parts = Vec::new();
    let mut rank = None;
    for slot in 0..e.g.node(id).num_inputs {
        if e.input(id, slot).is_some() {
            rank = rank.or(e.input_info(id, slot).rank);
            parts.push(e.tensor(id, slot)?);
        }
    }
    let info = like_input(e, id, rank);
    e.assign(
        id,
        format!("torch.cat([{}], {axis})", parts.join(", ")),
        info,
    );
    Ok(())
}

fn split(e: &mut Emitter<'_>, id: NodeId) -> Result<(), String> {
    let node = e.g.node(id);
    let axis = node.attrs.int("axis", 0).map_err(err)?;
    let n = node.outputs.len();
    let sizes = if node.num_inputs > 1 && e.input(id, 1).is_some() {
        Some(
            e.ints_input(id, 1)
                .ok_or("split sizes are computed at run time")?,
        )
    } else {
        match node.attrs.get("split") {
            Some(Attr::Ints(v)) => Some(v.clone()),
            _ => None,
        }
    };
    let x = e.tensor(id, 0)?;
    let expr = match sizes {
        Some(s) => format!("torch.split_with_sizes({x}, {}, {axis})", int_list(&s)),
        // An even split: torch.chunk uses the same ceil-sized pieces as ONNX.
        None => format!("torch.chunk({x}, {n}, {axis})"),
    };
    let info = like_input(e, id, e.input_info(id, 0).rank);
    if n == 1 {
        e.assign(id, format!("({expr})[0]"), info);
    } else {
        e.assign_many(id, expr, &vec![info; n]);
    }
    Ok(())
}

fn slice(e: &mut Emitter<'_>, id: NodeId) -> Result<(), String> {
    let node = e.g.node(id);
    let (starts, ends, axes, steps) = if e.opset < 10 || node.num_inputs < 3 {
        let a = &node.attrs;
        let text = |v: Vec<i64>| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        let starts = text(a.ints("starts", Vec::new()).map_err(err)?);
        let ends = text(a.ints("ends", Vec::new()).map_err(err)?);
        let axes = a
            .ints("axes", (0..starts.len() as i64).collect())
            .map_err(err)?;
        let steps = vec![1; starts.len()];
        (starts, ends, axes, steps)
    } else {
        let need = |slot: usize, what: &str| {
            e.ints_input(id, slot)
                .ok_or_else(|| format!("{what} are computed at run time (a constant is needed)"))
        };
        let exprs = |slot: usize, what: &str| {
            e.int_exprs_input(id, slot).ok_or_else(|| {
                format!("{what} are computed in a way not followed (Shape/Gather/arithmetic are)")
            })
        };
        let starts = exprs(1, "starts")?;
        let ends = exprs(2, "ends")?;
        let axes = if e.input(id, 3).is_some() {
            need(3, "axes")?
        } else {
            (0..starts.len() as i64).collect()
        };
        let steps = if node.num_inputs > 4 && e.input(id, 4).is_some() {
            need(4, "steps")?
        } else {
            vec![1; starts.len()]
        };
        (starts, ends, axes, steps)
    };
    if ends.len() != starts.len() || axes.len() != starts.len() || steps.len() != starts.len() {
        return Err("starts, ends, axes and steps differ in length".into());
    }
    let mut expr = e.tensor(id, 0)?;
    for i in 0..starts.len() {
        let (s, en, a, st) = (&starts[i], &ends[i], axes[i], steps[i]);
        let (sn, enn) = (s.parse::<i64>().ok(), en.parse::<i64>().ok());
        if st > 0 {
            expr = format!("torch.slice({expr}, {a}, {s}, {en}, {st})");
        } else if st == -1
            && sn.is_some_and(|s| s == -1 || s >= i64::MAX / 2)
            && enn.is_some_and(|en| en <= i64::MIN / 2)
        {
            // The whole axis reversed: torch slices only forwards.
            expr = format!("torch.flip({expr}, [{a}])");
        } else {
            return Err(format!("step {st} (torch slices only forwards)"));
        }
    }
    let info = like_input(e, id, e.input_info(id, 0).rank);
    e.assign(id, expr, info);
    Ok(())
}

fn squeeze(e: &mut Emitter<'_>, id: NodeId) -> Result<(), String> {
    let axes = axes(e, id, 1)?;
    let rank = e.input_info(id, 0).rank;
    let x = e.tensor(id, 0)?;
    let (expr, out_rank) = match axes {
        Some(a) if !a.is_empty() => (
            format!("torch.squeeze({x}, {})", int_list(&a)),
            rank.and_then(|r| r.checked_sub(a.len())),
        ),
        _ => {
            let ones = e
                .input_shape(id, 0)
                .map(|s| s.iter().filter(|&&d| d == 1).count());
            (
                format!("torch.squeeze({x})"),
                rank.zip(ones).map(|(r, o)| r - o),
            )
        }
    };
    let info = like_input(e, id, out_rank);
    e.assign(id, expr, info);
    Ok(())
}

fn unsqueeze(e: &mut Emitter<'_>, id: NodeId) -> Result<(), String> {
    let axes = axes(e, id, 1)?.ok_or("axes are missing")?;
    let rank = e.input_info(id, 0).rank;
    // Negative axes count from the end of the output. With the output rank known they are
    // normalized and inserted in ascending order; without it, axes of one sign still work
    // (ascending from the front, or from the back inwards).
    let order: Vec<i64> = match rank {
        Some(r) => {
            let out = (r + axes.len()) as i64;
            let mut a: Vec<i64> = axes
                .iter()
                .map(|&x| if x < 0 { x + out } else { x })
                .collect();
            a.sort_unstable();
            a
        }
        None if axes.iter().all(|&x| x >= 0) => {
            let mut a = axes.clone();
            a.sort_unstable();
            a
        }
        None if axes.iter().all(|&x| x < 0) => {
            let mut a = axes.clone();
            a.sort_unstable_by(|x, y| y.cmp(x));
            a
        }
        None => return Err("axes of both signs with unknown input rank".into()),
    };
    let mut expr = e.tensor(id, 0)?;
    for a in order {
        expr = format!("torch.unsqueeze({expr}, {a})");
    }
    let info = like_input(e, id, rank.map(|r| r + axes.len()));
    e.assign(id, expr, info);
    Ok(())
}

fn gather(e: &mut Emitter<'_>, id: NodeId) -> Result<(), String> {
    let axis = e.g.node(id).attrs.int("axis", 0).map_err(err)?;
    let x_rank = e.input_info(id, 0).rank;
    let idx_info = e.input_info(id, 1);
    let const_idx = e.const_input(id, 1).and_then(|t| tensor_ints(&t));
    let x = e.tensor(id, 0)?;
    let out_rank = x_rank
        .zip(idx_info.rank)
        .and_then(|(a, b)| (a + b).checked_sub(1));
    let info = like_input(e, id, out_rank);
    let idx_rank = idx_info.rank.ok_or("the rank of the indices is unknown")?;
    if idx_rank == 0 {
        if let Some(i) = const_idx.as_ref().and_then(|v| v.first()) {
            e.assign(id, format!("torch.select({x}, {axis}, {i})"), info);
            return Ok(());
        }
    }
    let idx = e.tensor(id, 1)?;
    // torch indexes only with non-negative indices; ONNX allows counting from the end.
    let idx = match &const_idx {
        Some(v) if v.iter().all(|&i| i >= 0) => idx,
        _ => format!("torch.remainder({idx}, torch.size({x}, {axis}))"),
    };
    let expr = match idx_rank {
        0 => format!(
            "torch.squeeze(torch.index_select({x}, {axis}, torch.reshape({idx}, [1])), {axis})"
        ),
        1 => format!("torch.index_select({x}, {axis}, {idx})"),
        _ => {
            let r = x_rank.ok_or("the data's rank is unknown")? as i64;
            let axis = if axis < 0 { axis + r } else { axis };
            format!(
                "torch.reshape(torch.index_select({x}, {axis}, torch.flatten({idx})), \
                 torch.size({x})[:{axis}] + torch.size({idx}) + torch.size({x})[{}:])",
                axis + 1
            )
        }
    };
    e.assign(id, expr, info);
    Ok(())
}

fn shape(e: &mut Emitter<'_>, id: NodeId) -> Result<(), String> {
    let attrs = &e.g.node(id).attrs;
    let start = attrs.int("start", 0).map_err(err)?;
    let end = match attrs.get("end") {
        Some(Attr::Int(v)) => Some(*v),
        _ => None,
    };
    let x = e.tensor(id, 0)?;
    let mut expr = format!("torch._shape_as_tensor({x})");
    if start != 0 || end.is_some() {
        let end = end.map_or("None".to_string(), |v| v.to_string());
        expr = format!("torch.slice({expr}, 0, {start}, {end}, 1)");
    }
    e.assign(
        id,
        expr,
        Info {
            rank: Some(1),
            dtype: Some(DType::I64),
        },
    );
    Ok(())
}

/// Size: the element count as a 0-d int64 tensor, the product of the run-time shape (what
/// the importer reads `numel` as).
fn size(e: &mut Emitter<'_>, id: NodeId) -> Result<(), String> {
    let x = e.tensor(id, 0)?;
    e.assign(
        id,
        format!("torch.prod(torch._shape_as_tensor({x}))"),
        Info {
            rank: Some(0),
            dtype: Some(DType::I64),
        },
    );
    Ok(())
}

fn constant_of_shape(e: &mut Emitter<'_>, id: NodeId) -> Result<(), String> {
    let shape = e
        .int_exprs_input(id, 0)
        .ok_or("the shape is computed in a way not followed (Shape/Gather/Concat are)")?;
    let (value, dtype) = match e.g.node(id).attrs.get("value") {
        Some(Attr::Tensor(t)) => {
            let v = super::emit::tensor_floats(t)
                .and_then(|v| v.first().copied())
                .ok_or("the fill value is not a number")?;
            (v, t.dtype)
        }
        _ => (0.0, DType::F32),
    };
    let code = scalar_type(dtype).ok_or_else(|| format!("torch has no {dtype} tensors"))?;
    let lit = if dtype.is_float() {
        float_lit(value)
    } else if dtype == DType::Bool {
        if value != 0.0 { "True" } else { "False" }.to_string()
    } else {
        (value as i64).to_string()
    };
    e.assign(
        id,
        format!("torch.full([{}], {lit}, dtype={code})", shape.join(", ")),
        Info {
            rank: Some(shape.len()),
            dtype: Some(dtype),
        },
    );
    Ok(())
}

fn expand(e: &mut Emitter<'_>, id: NodeId) -> Result<(), String> {
    let Some(shape) = e.ints_input(id, 1) else {
        // A computed shape: its sizes are used as they are, which is right unless one of
        // them is a 1 meant to keep a larger input dimension (ONNX's two-way broadcast).
        let mut items = e.int_exprs_input(id, 1).ok_or(
            "the target shape is computed in a way not followed (Shape/Gather/Concat are)",
        )?;
        // Where the input's size is known and not 1, ONNX's result is that size whatever
        // the target says (it must be 1 or equal): torch's -1.
        if let Some(s) = e.input_shape(id, 0) {
            let n = items.len();
            for (j, &d) in s.iter().enumerate() {
                if let Some(i) = (j + n).checked_sub(s.len()) {
                    if d != 1 {
                        items[i] = "-1".into();
                    }
                }
            }
        }
        let x = e.tensor(id, 0)?;
        let info = like_input(e, id, Some(items.len()));
        e.assign(
            id,
            format!("torch.expand({x}, [{}])", items.join(", ")),
            info,
        );
        return Ok(());
    };
    let rank = e.input_info(id, 0).rank;
    let target: Vec<i64> = if let Some(s) = e.input_shape(id, 0) {
        // Both shapes known: the broadcast result exactly.
        let n = s.len().max(shape.len());
        (0..n)
            .map(|i| {
                let a = (i + s.len()).checked_sub(n).map_or(1, |j| s[j] as i64);
                let b = (i + shape.len()).checked_sub(n).map_or(1, |j| shape[j]);
                if a == 1 {
                    b
                } else {
                    a
                }
            })
            .collect()
    } else {
        // ONNX broadcasts both ways: a 1 in the target keeps the input's size (-1).
        let r = rank.ok_or("the input's rank is unknown")?;
        let n = r.max(shape.len());
        (0..n)
            .map(|i| {
                let has_x = i + r >= n;
                match (i + shape.len()).checked_sub(n).map(|j| shape[j]) {
                    None => -1,
                    Some(1) if has_x => -1,
                    Some(d) => d,
                }
            })
            .collect()
    };
    let x = e.tensor(id, 0)?;
    let info = like_input(e, id, Some(target.len()));
    e.assign(
        id,
        format!("torch.expand({x}, {})", int_list(&target)),
        info,
    );
    Ok(())
}

fn cast(e: &mut Emitter<'_>, id: NodeId, to: Option<DType>) -> Result<(), String> {
    let to = match to {
        Some(t) => t,
        None => {
            let code = e.g.node(id).attrs.int("to", 0).map_err(err)?;
            DType::from_onnx_code(code as i32).ok_or_else(|| format!("to={code}"))?
        }
    };
    let code = scalar_type(to).ok_or_else(|| format!("torch has no {to} tensors"))?;
    let x = e.tensor(id, 0)?;
    let info = Info {
        rank: e.input_info(id, 0).rank,
        dtype: Some(to),
    };
    e.assign(id, format!("torch.to({x}, {code})"), info);
    Ok(())
}

fn pad(e: &mut Emitter<'_>, id: NodeId) -> Result<(), String> {
    let node = e.g.node(id);
    let mode = node.attrs.string("mode", "constant").map_err(err)?;
    let pads = if e.opset < 11 {
        node.attrs.ints("pads", Vec::new()).map_err(err)?
    } else {
        e.ints_input(id, 1)
            .ok_or("pads are computed at run time (a constant is needed)")?
    };
    let value = if e.opset < 11 {
        node.float("value").map_err(err)? as f64
    } else if e.input(id, 2).is_some() {
        e.floats_input(id, 2)
            .and_then(|v| v.first().copied())
            .ok_or("the pad value is computed at run time")?
    } else {
        0.0
    };
    let n = pads.len() / 2;
    let axes: Vec<i64> = match axes(e, id, 3)? {
        Some(a) if e.opset >= 18 => a,
        _ => (0..n as i64).collect(),
    };
    if axes.len() != n || pads.len() != 2 * n {
        return Err("pads do not match the axes".into());
    }
    let rank = e.input_info(id, 0).rank;
    let r = match rank {
        Some(r) => r,
        None if axes.iter().all(|&a| a >= 0) => n,
        None => return Err("negative axes with unknown input rank".into()),
    };
    // torch's list runs from the last dimension backwards: [begin, end] per dimension.
    let mut per_dim = vec![(0i64, 0i64); r];
    for (i, &a) in axes.iter().enumerate() {
        let a = if a < 0 { a + r as i64 } else { a };
        let slot = per_dim
            .get_mut(a as usize)
            .ok_or_else(|| format!("axis {a} out of range"))?;
        *slot = (pads[i], pads[n + i]);
    }
    // Leading unpadded dimensions are left out (reflect and replicate only pad trailing ones).
    let first = per_dim.iter().position(|&p| p != (0, 0)).unwrap_or(r);
    let list: Vec<i64> = per_dim[first..]
        .iter()
        .rev()
        .flat_map(|&(b, en)| [b, en])
        .collect();
    let torch_mode = match mode.as_str() {
        "constant" => "constant",
        "reflect" => "reflect",
        "edge" => "replicate",
        "wrap" => "circular",
        other => return Err(format!("mode={other}")),
    };
    let x = e.tensor(id, 0)?;
    let expr = if torch_mode == "constant" {
        format!(
            "torch.constant_pad_nd({x}, {}, {})",
            int_list(&list),
            float_lit(value)
        )
    } else {
        format!("torch.pad({x}, {}, \"{torch_mode}\")", int_list(&list))
    };
    let info = like_input(e, id, rank);
    e.assign(id, expr, info);
    Ok(())
}
