//! Index-addressed reads and writes: GatherElements (`torch.gather`), ScatterElements
//! (`torch.scatter` / `scatter_add` / `scatter_reduce`) and ScatterND (`torch.index_put`
//! with one index tensor per addressed dimension; `mul`/`max`/`min` reductions through
//! `torch.index_reduce` over flat row indices).
//!
//! ONNX indices may count from the end; torch's may not, so indices that are not constants
//! known to be non-negative are wrapped with `torch.remainder` by the addressed dimension's
//! size. ONNX leaves duplicate indices without reduction undefined; torch's result is one of
//! the written values, as onnxruntime's is.

use modelc_ir::{NodeId, OnnxOp};

use super::emit::Emitter;
use super::like_input;

pub(crate) fn emit(e: &mut Emitter<'_>, id: NodeId, op: OnnxOp) -> Option<Result<(), String>> {
    Some(match op {
        OnnxOp::GatherElements => gather_elements(e, id),
        OnnxOp::ScatterElements => scatter_elements(e, id),
        OnnxOp::ScatterND => scatter_nd(e, id),
        _ => return None,
    })
}

fn err(x: modelc_ir::AttrTypeError) -> String {
    x.to_string()
}

/// Indices at input `slot` addressing dimension `dim` of `data`: as they are when they are
/// constants all ≥ 0, else wrapped into `[0, size)`.
fn non_negative(
    e: &mut Emitter<'_>,
    id: NodeId,
    slot: usize,
    data: &str,
    dim: i64,
) -> Result<String, String> {
    let known = e
        .ints_input(id, slot)
        .is_some_and(|v| v.iter().all(|&i| i >= 0));
    let idx = e.tensor(id, slot)?;
    Ok(if known {
        idx
    } else {
        format!("torch.remainder({idx}, torch.size({data}, {dim}))")
    })
}

fn gather_elements(e: &mut Emitter<'_>, id: NodeId) -> Result<(), String> {
    let axis = e.g.node(id).attrs.int("axis", 0).map_err(err)?;
    let x = e.tensor(id, 0)?;
    let idx = non_negative(e, id, 1, &x, axis)?;
    let info = like_input(e, id, e.input_info(id, 1).rank);
    e.assign(id, format!("torch.gather({x}, {axis}, {idx})"), info);
    Ok(())
}

/// torch's `scatter_reduce`/`index_reduce` name of an ONNX `reduction` other than none/add.
fn reduce_name(reduction: &str) -> Result<&'static str, String> {
    match reduction {
        "mul" => Ok("prod"),
        "max" => Ok("amax"),
        "min" => Ok("amin"),
        other => Err(format!("reduction={other}")),
    }
}

fn scatter_elements(e: &mut Emitter<'_>, id: NodeId) -> Result<(), String> {
    let attrs = &e.g.node(id).attrs;
    let axis = attrs.int("axis", 0).map_err(err)?;
    let reduction = attrs.string("reduction", "none").map_err(err)?;
    let x = e.tensor(id, 0)?;
    let idx = non_negative(e, id, 1, &x, axis)?;
    let upd = e.tensor(id, 2)?;
    let expr = match reduction.as_str() {
        "none" => format!("torch.scatter({x}, {axis}, {idx}, {upd})"),
        "add" => format!("torch.scatter_add({x}, {axis}, {idx}, {upd})"),
        r => format!(
            "torch.scatter_reduce({x}, {axis}, {idx}, {upd}, \"{}\")",
            reduce_name(r)?
        ),
    };
    let info = like_input(e, id, e.input_info(id, 0).rank);
    e.assign(id, expr, info);
    Ok(())
}

fn scatter_nd(e: &mut Emitter<'_>, id: NodeId) -> Result<(), String> {
    let reduction =
        e.g.node(id)
            .attrs
            .string("reduction", "none")
            .map_err(err)?;
    let idx_shape = e
        .input_shape(id, 1)
        .ok_or("the shape of the indices is unknown (their last dimension is needed)")?;
    let k = *idx_shape.last().ok_or("scalar indices")? as i64;
    let idx_rank = idx_shape.len();
    let rank = e.input_info(id, 0).rank;
    if rank.is_some_and(|r| k as usize > r) || k < 1 {
        return Err(format!("indices address {k} dimensions"));
    }
    let x = e.tensor(id, 0)?;
    let known = e
        .ints_input(id, 1)
        .is_some_and(|v| v.iter().all(|&i| i >= 0));
    let idx = e.tensor(id, 1)?;
    // One index tensor per addressed dimension, of the indices' batch shape.
    let per_dim: Vec<String> = (0..k)
        .map(|j| {
            let i = format!("torch.select({idx}, -1, {j})");
            if known {
                i
            } else {
                format!("torch.remainder({i}, torch.size({x}, {j}))")
            }
        })
        .collect();
    let upd = e.tensor(id, 2)?;
    let expr = match reduction.as_str() {
        "none" | "add" => format!(
            "torch.index_put({x}, annotate(List[Optional[Tensor]], [{}]), {upd}, {})",
            per_dim.join(", "),
            if reduction == "add" { "True" } else { "False" }
        ),
        r => {
            // Rows of the data flattened over the addressed dimensions, reduced into by
            // flat row index (row-major over those dimensions).
            let how = reduce_name(r)?;
            let mut flat = per_dim[0].clone();
            for (j, i) in per_dim.iter().enumerate().skip(1) {
                flat = format!("torch.add(torch.mul({flat}, torch.size({x}, {j})), {i})");
            }
            let (flat, rows) = if idx_rank == 1 {
                (
                    format!("torch.reshape({flat}, [1])"),
                    format!("torch.unsqueeze({upd}, 0)"),
                )
            } else {
                (
                    format!("torch.flatten({flat})"),
                    format!("torch.flatten({upd}, 0, {})", idx_rank - 2),
                )
            };
            format!(
                "torch.reshape(torch.index_reduce(torch.flatten({x}, 0, {}), 0, {flat}, {rows}, \"{how}\"), torch.size({x}))",
                k - 1
            )
        }
    };
    let info = like_input(e, id, rank);
    e.assign(id, expr, info);
    Ok(())
}
