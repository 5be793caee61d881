//! Convolutions and pooling (NCHW, 1-3 spatial dimensions): Conv, ConvTranspose, MaxPool,
//! AveragePool, GlobalAveragePool, GlobalMaxPool.
//!
//! Attributes: `kernel_shape`, `strides`, `pads`, `dilations`, `group`, `auto_pad` (SAME_*
//! needs the input's static spatial size), `ceil_mode`, `count_include_pad` (with asymmetric
//! pads: the padded windows' mean over the mean of ones padded the same way),
//! `output_padding`. torch pads symmetrically, so asymmetric `pads` become an explicit
//! `torch.constant_pad_nd` before the op (zeros for conv, -inf for max pooling).

use modelc_ir::{NodeId, OnnxOp};

use super::emit::{float_lit, int_list, Emitter};
use super::like_input;

pub(crate) fn emit(e: &mut Emitter<'_>, id: NodeId, op: OnnxOp) -> Option<Result<(), String>> {
    Some(match op {
        OnnxOp::Conv => conv(e, id),
        OnnxOp::ConvTranspose => conv_transpose(e, id),
        OnnxOp::MaxPool => pool(e, id, true),
        OnnxOp::AveragePool => pool(e, id, false),
        OnnxOp::GlobalAveragePool => global_pool(e, id, "torch.mean"),
        OnnxOp::GlobalMaxPool => global_pool(e, id, "torch.amax"),
        _ => return None,
    })
}

/// Spatial geometry of a conv or pool node.
struct Geometry {
    kernel: Vec<i64>,
    strides: Vec<i64>,
    dilations: Vec<i64>,
    /// `[begin..., end...]`, after resolving `auto_pad`.
    pads: Vec<i64>,
}

impl Geometry {
    fn symmetric(&self) -> Option<Vec<i64>> {
        let k = self.kernel.len();
        (self.pads[..k] == self.pads[k..]).then(|| self.pads[..k].to_vec())
    }

    /// torch's pad list (last dimension first) for the spatial dimensions.
    fn torch_pads(&self) -> Vec<i64> {
        let k = self.kernel.len();
        (0..k)
            .rev()
            .flat_map(|i| [self.pads[i], self.pads[k + i]])
            .collect()
    }
}

fn ints(e: &Emitter<'_>, id: NodeId, name: &str, default: Vec<i64>) -> Result<Vec<i64>, String> {
    e.g.node(id)
        .attrs
        .ints(name, default)
        .map_err(|x| x.to_string())
}

fn geometry(e: &Emitter<'_>, id: NodeId, kernel: Vec<i64>) -> Result<Geometry, String> {
    let k = kernel.len();
    if !(1..=3).contains(&k) {
        return Err(format!("{k} spatial dimensions (torch has 1-3)"));
    }
    let strides = ints(e, id, "strides", vec![1; k])?;
    let dilations = ints(e, id, "dilations", vec![1; k])?;
    let mut pads = ints(e, id, "pads", vec![0; 2 * k])?;
    if strides.len() != k || dilations.len() != k || pads.len() != 2 * k {
        return Err("strides, dilations or pads do not match the kernel's rank".into());
    }
    let auto_pad =
        e.g.node(id)
            .attrs
            .string("auto_pad", "NOTSET")
            .map_err(|x| x.to_string())?;
    match auto_pad.as_str() {
        "NOTSET" => {}
        "VALID" => pads = vec![0; 2 * k],
        "SAME_UPPER" | "SAME_LOWER" => {
            let shape = e
                .input_dims(id, 0)
                .ok_or("auto_pad SAME needs the input's static spatial size")?;
            if shape.len() != k + 2 {
                return Err("input rank does not match the kernel".into());
            }
            if kernel.contains(&-1) {
                return Err("auto_pad SAME needs the kernel's size".into());
            }
            for i in 0..k {
                let size = shape[i + 2]
                    .ok_or("auto_pad SAME needs the input's static spatial size")?
                    as i64;
                let out = (size + strides[i] - 1) / strides[i];
                let total =
                    ((out - 1) * strides[i] + (kernel[i] - 1) * dilations[i] + 1 - size).max(0);
                let small = total / 2;
                let (b, end) = if auto_pad == "SAME_UPPER" {
                    (small, total - small)
                } else {
                    (total - small, small)
                };
                pads[i] = b;
                pads[k + i] = end;
            }
        }
        other => return Err(format!("auto_pad={other}")),
    }
    Ok(Geometry {
        kernel,
        strides,
        dilations,
        pads,
    })
}

/// Number of spatial dimensions from the weight (a constant, or of known rank).
fn weight_kernel(e: &Emitter<'_>, id: NodeId) -> Result<Vec<i64>, String> {
    let attr = ints(e, id, "kernel_shape", Vec::new())?;
    if !attr.is_empty() {
        return Ok(attr);
    }
    if let Some(dims) = e.input_shape(id, 1) {
        return Ok(dims.iter().skip(2).map(|&d| d as i64).collect());
    }
    // Only the number of spatial dimensions is needed, unless padding is SAME (then the
    // -1 sizes are refused there).
    match e.input_info(id, 1).rank {
        Some(r) if r > 2 => Ok(vec![-1; r - 2]),
        _ => Err("kernel_shape is not given and the weight's rank is unknown".into()),
    }
}

/// Pads `x` explicitly when the pads are asymmetric; returns the input and torch's padding.
fn padded_input(x: String, geo: &Geometry, value: &str) -> (String, Vec<i64>) {
    match geo.symmetric() {
        Some(p) => (x, p),
        None => (
            format!(
                "torch.constant_pad_nd({x}, {}, {value})",
                int_list(&geo.torch_pads())
            ),
            vec![0; geo.kernel.len()],
        ),
    }
}

fn conv(e: &mut Emitter<'_>, id: NodeId) -> Result<(), String> {
    let kernel = weight_kernel(e, id)?;
    let geo = geometry(e, id, kernel)?;
    let k = geo.kernel.len();
    let group =
        e.g.node(id)
            .attrs
            .int("group", 1)
            .map_err(|x| x.to_string())?;
    let x = e.tensor(id, 0)?;
    let w = e.tensor(id, 1)?;
    let b = e.opt_tensor(id, 2)?;
    let (x, padding) = padded_input(x, &geo, "0.0");
    let expr = format!(
        "torch.conv{k}d({x}, {w}, {b}, {}, {}, {}, {group})",
        int_list(&geo.strides),
        int_list(&padding),
        int_list(&geo.dilations)
    );
    let info = like_input(e, id, Some(k + 2));
    e.assign(id, expr, info);
    Ok(())
}

fn conv_transpose(e: &mut Emitter<'_>, id: NodeId) -> Result<(), String> {
    let kernel = weight_kernel(e, id)?;
    let node = e.g.node(id);
    if node.attrs.contains("output_shape") {
        return Err("output_shape is not supported (give pads and output_padding)".into());
    }
    let auto_pad = node
        .attrs
        .string("auto_pad", "NOTSET")
        .map_err(|x| x.to_string())?;
    if auto_pad != "NOTSET" && auto_pad != "VALID" {
        return Err(format!("auto_pad={auto_pad}"));
    }
    let geo = geometry(e, id, kernel)?;
    let k = geo.kernel.len();
    let padding = geo
        .symmetric()
        .ok_or("asymmetric pads (torch's conv_transpose pads both sides alike)")?;
    let group =
        e.g.node(id)
            .attrs
            .int("group", 1)
            .map_err(|x| x.to_string())?;
    let output_padding = ints(e, id, "output_padding", vec![0; k])?;
    let x = e.tensor(id, 0)?;
    let w = e.tensor(id, 1)?;
    let b = e.opt_tensor(id, 2)?;
    let expr = format!(
        "torch.conv_transpose{k}d({x}, {w}, {b}, {}, {}, {}, {group}, {})",
        int_list(&geo.strides),
        int_list(&padding),
        int_list(&output_padding),
        int_list(&geo.dilations)
    );
    let info = like_input(e, id, Some(k + 2));
    e.assign(id, expr, info);
    Ok(())
}

/// torch's pooling refuses a padding over half the (dilated) kernel, where ONNX's takes it.
fn pads_within_half_kernel(
    padding: &[i64],
    kernel: &[i64],
    dilations: &[i64],
) -> Result<(), String> {
    for (i, (&p, &k)) in padding.iter().zip(kernel).enumerate() {
        let eff = (k - 1) * dilations.get(i).copied().unwrap_or(1) + 1;
        if p > eff / 2 {
            return Err(format!(
                "pad {p} is over half the kernel ({eff}), which torch's pooling refuses"
            ));
        }
    }
    Ok(())
}

fn pool(e: &mut Emitter<'_>, id: NodeId, max: bool) -> Result<(), String> {
    let node = e.g.node(id);
    if node.outputs.len() > 1
        && !node.outputs[1].is_absent()
        && !e.g.users(modelc_ir::ValueRef::new(id, 1)).is_empty()
    {
        return Err("the Indices output is used".into());
    }
    let kernel = ints(e, id, "kernel_shape", Vec::new())?;
    if kernel.is_empty() {
        return Err("kernel_shape is missing".into());
    }
    let geo = geometry(e, id, kernel)?;
    let k = geo.kernel.len();
    let attrs = &e.g.node(id).attrs;
    let ceil = attrs.int("ceil_mode", 0).map_err(|x| x.to_string())? != 0;
    let include_pad = attrs
        .int("count_include_pad", 0)
        .map_err(|x| x.to_string())?
        != 0;
    let py = |b: bool| if b { "True" } else { "False" };
    let x = e.tensor(id, 0)?;
    let expr = if max {
        let (x, padding) = padded_input(x, &geo, &float_lit(f64::NEG_INFINITY));
        pads_within_half_kernel(&padding, &geo.kernel, &geo.dilations)?;
        format!(
            "torch.max_pool{k}d({x}, {}, {}, {}, {}, {})",
            int_list(&geo.kernel),
            int_list(&geo.strides),
            int_list(&padding),
            int_list(&geo.dilations),
            py(ceil)
        )
    } else {
        if geo.dilations.iter().any(|&d| d != 1) {
            return Err("dilated AveragePool (torch's avg_pool has no dilation)".into());
        }
        let (_, padding) = padded_input(String::new(), &geo, "0.0");
        pads_within_half_kernel(&padding, &geo.kernel, &geo.dilations)?;
        let avg = |x: String, include: bool| {
            let (x, padding) = padded_input(x, &geo, "0.0");
            format!(
                "torch.avg_pool{k}d({x}, {}, {}, {}, {}, {})",
                int_list(&geo.kernel),
                int_list(&geo.strides),
                int_list(&padding),
                py(ceil),
                py(include)
            )
        };
        if geo.symmetric().is_none() && !include_pad {
            // Asymmetric pads are explicit zeros, which torch would count: the windows'
            // sums over the count of real elements, both as means over the padded input.
            if ceil {
                return Err("asymmetric pads with count_include_pad=0 and ceil_mode=1".into());
            }
            let ones = format!("torch.ones_like({x})");
            format!("torch.div({}, {})", avg(x.clone(), true), avg(ones, true))
        } else {
            avg(x, include_pad)
        }
    };
    let info = like_input(e, id, Some(k + 2));
    e.assign(id, expr, info);
    Ok(())
}

fn global_pool(e: &mut Emitter<'_>, id: NodeId, f: &str) -> Result<(), String> {
    let rank = e.input_rank(id, 0)?;
    let dims: Vec<i64> = (2..rank as i64).collect();
    let x = e.tensor(id, 0)?;
    let info = like_input(e, id, Some(rank));
    e.assign(id, format!("{f}({x}, {}, True)", int_list(&dims)), info);
    Ok(())
}
