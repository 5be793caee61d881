//! Channels-last (NHWC) execution of every layout-sensitive op, by one shared wrapper.
//!
//! The kernels compute channels-first (ONNX's layout). A node with `layout=NHWC` is run by
//! permuting its data inputs to channels-first (and its weights from the IR's NHWC order to
//! ONNX's), running the same kernel on a copy of the node marked NCHW, and permuting the
//! results back. The per-op knowledge is only *which* inputs and outputs are data, weights or
//! per-axis lists ([`roles`]); the convention itself is documented on [`modelc_ir::Layout`]:
//!
//! - data `[N, spatial..., C]` ↔ `[N, C, spatial...]`;
//! - Conv / ConvInteger / QLinearConv / DeformConv weight `[M, k..., C/g]` ↔ `[M, C/g, k...]`;
//! - ConvTranspose weight `[M_out, k..., C_in/g]` ↔ ONNX `[C_in, M_out/g, k...]`;
//! - Resize / Upsample `roi`, `scales`, `sizes` (and the `axes` attribute) are per axis of
//!   the NHWC tensor and are reordered to the NCHW axes;
//! - MaxPool's Indices output is the flat row-major index into the NHWC input.
//!
//! MaxUnpool and Col2Im have no channels-last meaning here and report an error.

use modelc_ir::{Attr, Layout, Node, OnnxOp};

use crate::ops::movement::{reshape, transpose_array};
use crate::ops::Kernel;
use crate::{bail, Array, Data, KernelError, OpCtx};

/// What one input or output slot holds, for the layout conversion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    /// Layout-independent (bias, scales, zero points, RoIs, ...).
    Keep,
    /// A data tensor: channels-last ↔ channels-first.
    Data,
    /// A Conv-style weight `[M, k..., C/g]` ↔ `[M, C/g, k...]`.
    ConvWeight,
    /// A ConvTranspose weight `[M_out, k..., C_in/g]` ↔ `[C_in, M_out/g, k...]`.
    ConvTransposeWeight,
    /// One value per axis of the data tensor (Resize `scales`/`sizes`, Upsample `scales`).
    PerAxis,
    /// Resize `roi`: starts then ends, one per axis.
    Roi,
    /// MaxPool Indices: flat index into the data input.
    Indices,
}

/// The roles of the input and output slots of `op` (slots past the lists are [`Role::Keep`]).
fn roles(node: &Node, opset: i64) -> Result<(Vec<Role>, Vec<Role>), KernelError> {
    use OnnxOp::*;
    use Role::*;
    let Some(op) = node.op.onnx() else {
        bail!("not an ONNX op");
    };
    let resize_axes = node.attrs.contains("axes");
    Ok(match op {
        Conv | ConvInteger => (vec![Data, ConvWeight], vec![Data]),
        QLinearConv => (vec![Data, Keep, Keep, ConvWeight], vec![Data]),
        DeformConv => (vec![Data, ConvWeight, Data, Keep, Data], vec![Data]),
        ConvTranspose => (vec![Data, ConvTransposeWeight], vec![Data]),
        MaxPool => (vec![Data], vec![Data, Indices]),
        AveragePool | LpPool | GlobalAveragePool | GlobalMaxPool | GlobalLpPool => {
            (vec![Data], vec![Data])
        }
        // Training-mode running statistics (outputs 1, 2) are per channel: unchanged.
        BatchNormalization | InstanceNormalization | GroupNormalization | LRN => {
            (vec![Data], vec![Data])
        }
        DepthToSpace | SpaceToDepth | GridSample | RoiAlign | MaxRoiPool => {
            (vec![Data], vec![Data])
        }
        // With an `axes` attribute the lists follow the attribute, which is remapped instead.
        Resize if opset >= 11 && resize_axes => (vec![Data], vec![Data]),
        Resize if opset >= 11 => (vec![Data, Roi, PerAxis, PerAxis], vec![Data]),
        Resize | Upsample => (vec![Data, PerAxis], vec![Data]),
        MaxUnpool | Col2Im => bail!("{op} has no channels-last (NHWC) form"),
        _ => bail!("{op} is not layout-sensitive but the node says layout=NHWC"),
    })
}

/// The permutation taking a channels-last tensor of rank `r` to channels-first.
pub fn to_channels_first(r: usize) -> Vec<usize> {
    if r < 2 {
        return (0..r).collect();
    }
    let mut p = vec![0, r - 1];
    p.extend(1..r - 1);
    p
}

/// The permutation taking a channels-first tensor of rank `r` to channels-last.
pub fn to_channels_last(r: usize) -> Vec<usize> {
    if r < 2 {
        return (0..r).collect();
    }
    let mut p = vec![0];
    p.extend(2..r);
    p.push(1);
    p
}

/// Runs `kernel` for the node in `ctx`, converting an NHWC node as described above; an
/// NCHW (or layout-free) node goes straight to the kernel.
pub fn call(kernel: Kernel, ctx: &OpCtx<'_>) -> Result<Vec<Data>, KernelError> {
    if ctx.node.layout != Some(Layout::Nhwc) {
        return kernel(ctx);
    }
    let (ins, outs) = roles(ctx.node, ctx.opset)?;
    let role = |v: &[Role], i: usize| v.get(i).copied().unwrap_or(Role::Keep);
    let data_rank = ctx.input(0)?.shape().len();
    let group = ctx.attrs().int("group", 1)?;

    let mut node = ctx.node.clone();
    node.layout = Some(Layout::Nchw);
    remap_attrs(&mut node, data_rank)?;

    let mut converted: Vec<Option<Data>> = Vec::with_capacity(ctx.inputs.len());
    for (i, d) in ctx.inputs.iter().enumerate() {
        let r = role(&ins, i);
        converted.push(match (d, r) {
            (Some(Data::Tensor(a)), r) if r != Role::Keep => {
                Some(Data::Tensor(input_to_nchw(a, r, data_rank, group)?))
            }
            _ => None,
        });
    }
    let inputs: Vec<Option<&Data>> = ctx
        .inputs
        .iter()
        .zip(&converted)
        .map(|(orig, conv)| conv.as_ref().or(*orig))
        .collect();
    let nchw_in_shape = match inputs.first().copied().flatten() {
        Some(Data::Tensor(a)) => a.shape().to_vec(),
        _ => bail!("input 0 is missing"),
    };
    let inner = OpCtx {
        node: &node,
        inputs,
        captures: ctx.captures.clone(),
        opset: ctx.opset,
        opsets: ctx.opsets,
        epilogue: None,
        affine: None,
        col_bias: None,
        epilogue_done: std::cell::Cell::new(false),
        pool: ctx.pool,
        slot: ctx.slot,
    };
    let results = kernel(&inner)?;
    results
        .into_iter()
        .enumerate()
        .map(|(i, d)| match (d, role(&outs, i)) {
            (Data::Tensor(a), Role::Data) => {
                let r = a.shape().len();
                Ok(Data::Tensor(transpose_array(&a, &to_channels_last(r))?))
            }
            (Data::Tensor(a), Role::Indices) => {
                if ctx.attrs().int("storage_order", 0)? != 0 {
                    bail!("MaxPool Indices with storage_order=1 has no NHWC form");
                }
                let r = a.shape().len();
                let a = transpose_array(&a, &to_channels_last(r))?;
                Ok(Data::Tensor(indices_to_nhwc(&a, &nchw_in_shape)?))
            }
            (d, _) => Ok(d),
        })
        .collect()
}

/// Reorders per-axis attributes that name axes of the NHWC tensor (Resize `axes`, Upsample
/// `scales` in opsets before 9).
fn remap_attrs(node: &mut Node, rank: usize) -> Result<(), KernelError> {
    let to_first = to_channels_first(rank);
    match node.op.onnx() {
        Some(OnnxOp::Resize) if node.attrs.contains("axes") => {
            let axes = node.attrs.ints("axes", vec![])?;
            let mut mapped = Vec::with_capacity(axes.len());
            for a in axes {
                let a = crate::ops::util::normalize_axis(a, rank)?;
                // NHWC axis `a` is NCHW axis `j` where to_first[j] == a.
                let j = to_first.iter().position(|&p| p == a).unwrap_or(a);
                mapped.push(j as i64);
            }
            node.attrs.set("axes", Attr::Ints(mapped));
        }
        Some(OnnxOp::Upsample) if node.attrs.contains("scales") => {
            let s = node.attrs.floats("scales", vec![])?;
            if s.len() == rank {
                let p: Vec<f32> = to_first.iter().map(|&i| s[i]).collect();
                node.attrs.set("scales", Attr::Floats(p));
            }
        }
        _ => {}
    }
    Ok(())
}

fn input_to_nchw(
    a: &Array,
    role: Role,
    data_rank: usize,
    group: i64,
) -> Result<Array, KernelError> {
    let r = a.shape().len();
    match role {
        Role::Keep | Role::Indices => Ok(a.clone()),
        Role::Data | Role::ConvWeight => transpose_array(a, &to_channels_first(r)),
        Role::ConvTransposeWeight => conv_transpose_weight(a, group),
        Role::PerAxis | Role::Roi => {
            // Empty lists mean "not given".
            if a.is_empty() {
                return Ok(a.clone());
            }
            let halves = if role == Role::Roi { 2 } else { 1 };
            if r != 1 || a.len() != halves * data_rank {
                bail!(
                    "expected {} values (per axis of the rank-{data_rank} input), got shape {:?}",
                    halves * data_rank,
                    a.shape()
                );
            }
            let p = to_channels_first(data_rank);
            let idx: Vec<usize> = (0..halves)
                .flat_map(|h| p.iter().map(move |&i| h * data_rank + i))
                .collect();
            let table = vec![idx];
            crate::ops::movement::gather_tables(a, &table, None)
        }
    }
}

/// `[M_out, k..., C_in/g]` (IR NHWC) → ONNX `[C_in, M_out/g, k...]`: split M_out into
/// `[g, M_out/g]`, move `C_in/g` in front of `M_out/g`, merge `[g, C_in/g]`.
fn conv_transpose_weight(w: &Array, group: i64) -> Result<Array, KernelError> {
    let s = w.shape().to_vec();
    let r = s.len();
    if r < 3 {
        bail!("ConvTranspose weight of shape {s:?} has rank < 3");
    }
    if group < 1 || !s[0].is_multiple_of(group as usize) {
        bail!("ConvTranspose weight {s:?} does not split into {group} groups");
    }
    let g = group as usize;
    let (mg, cg) = (s[0] / g, s[r - 1]);
    let k = &s[1..r - 1];
    let mut split = vec![g, mg];
    split.extend_from_slice(k);
    split.push(cg);
    let t = reshape(w, &split)?;
    // [g, mg, k..., cg] -> [g, cg, mg, k...]
    let rs = split.len();
    let mut perm = vec![0, rs - 1, 1];
    perm.extend(2..rs - 1);
    let t = transpose_array(&t, &perm)?;
    let mut out = vec![g * cg, mg];
    out.extend_from_slice(k);
    reshape(&t, &out)
}

/// Rewrites flat row-major indices into an NCHW tensor of `shape` as flat indices into the
/// same tensor stored NHWC.
fn indices_to_nhwc(idx: &Array, shape: &[usize]) -> Result<Array, KernelError> {
    let r = shape.len();
    let total: usize = shape.iter().product();
    let nhwc_shape: Vec<usize> = to_channels_last(r).iter().map(|&i| shape[i]).collect();
    let v = idx.to_i64_vec()?;
    let mut out = Vec::with_capacity(v.len());
    for &f in &v {
        let Ok(mut f) = usize::try_from(f) else {
            bail!("index {f} is negative")
        };
        if f >= total {
            bail!("index {f} is out of range");
        }
        // NCHW coordinates, then NHWC order.
        let mut coord = vec![0; r];
        for ax in (0..r).rev() {
            coord[ax] = f % shape[ax];
            f /= shape[ax];
        }
        let mut flat = 0usize;
        for (ax, &src) in to_channels_last(r).iter().enumerate() {
            flat = flat * nhwc_shape[ax] + coord[src];
        }
        out.push(flat as i64);
    }
    crate::ops::movement::from_i64_vec(modelc_ir::DType::I64, idx.shape(), out)
}
