//! Layout-sensitive spatial ops: Conv, ConvInteger, QLinearConv, DeformConv, ConvTranspose,
//! MaxPool (with Indices), MaxUnpool (`output_shape` input or the pool's inverse),
//! AveragePool, LpPool, the Global pools, BatchNormalization (all versions' extra outputs), DepthToSpace, SpaceToDepth, Resize (opset 10's scales-only form,
//! 11+ roi/scales/sizes, 18's `axes` and `keep_aspect_ratio_policy`), Upsample (scales
//! attribute or input), RoiAlign, MaxRoiPool, GridSample.
//!
//! `auto_pad`, `pads`, `strides`, `dilations`, `ceil_mode` follow the ONNX rules (with the
//! rule that a ceil-mode window must start inside the input or its begin pad). A node with
//! `layout=NHWC` follows the convention documented on [`Layout`]: channels-last data
//! (`[N, spatial..., C]`), Conv weights `[M, k..., C/g]`, ConvTranspose weights
//! `[M_out, k..., C_in/g]`, and Resize scales/sizes/axes per axis of the NHWC tensor.

use crate::{DType, Dim, Layout, OnnxOp};

use super::ctx::{fail, InferCtx, InferError, Outputs};
use super::dims::{dim_div, dim_mul};
use super::InferFn;

pub fn rule(op: OnnxOp) -> Option<InferFn> {
    use OnnxOp::*;
    Some(match op {
        Conv | ConvInteger | QLinearConv | DeformConv => conv,
        ConvTranspose => conv_transpose,
        MaxPool | AveragePool | LpPool => pool,
        GlobalAveragePool | GlobalMaxPool | GlobalLpPool => global_pool,
        MaxUnpool => max_unpool,
        BatchNormalization => batch_norm,
        DepthToSpace | SpaceToDepth => depth_space,
        Resize | Upsample => resize,
        RoiAlign | MaxRoiPool => roi,
        GridSample => grid_sample,
        _ => return None,
    })
}

/// The data shape in channels-first order.
fn to_nchw(cx: &InferCtx<'_>, s: &[Dim]) -> Vec<Dim> {
    if cx.layout == Some(Layout::Nhwc) && s.len() >= 2 {
        let mut v = vec![s[0].clone(), s[s.len() - 1].clone()];
        v.extend_from_slice(&s[1..s.len() - 1]);
        v
    } else {
        s.to_vec()
    }
}

/// A channels-first shape back in the node's layout.
fn from_nchw(cx: &InferCtx<'_>, s: Vec<Dim>) -> Vec<Dim> {
    if cx.layout == Some(Layout::Nhwc) && s.len() >= 2 {
        let mut v = vec![s[0].clone()];
        v.extend_from_slice(&s[2..]);
        v.push(s[1].clone());
        v
    } else {
        s
    }
}

/// Per-axis ints attribute with `n` values, `default` each when absent.
fn spatial(cx: &InferCtx<'_>, name: &str, n: usize, default: i64) -> Result<Vec<i64>, InferError> {
    match cx.attr_ints(name)? {
        None => Ok(vec![default; n]),
        Some(v) if v.is_empty() => Ok(vec![default; n]),
        Some(v) if v.len() == n => Ok(v),
        Some(v) => fail!("attribute `{name}` has {} values, expected {n}", v.len()),
    }
}

/// The kernel's spatial sizes: the `kernel_shape` attribute, else the weight's spatial dims
/// (`[M, C/g, k...]`, or `[M, k..., C/g]` for NHWC).
fn kernel_shape(
    cx: &InferCtx<'_>,
    w: Option<&[Dim]>,
    n: usize,
) -> Result<Vec<Option<u64>>, InferError> {
    Ok(match cx.attr_ints("kernel_shape")? {
        Some(k) if k.len() == n => k.iter().map(|&v| u64::try_from(v).ok()).collect(),
        _ => match w {
            Some(w) if w.len() == n + 2 => {
                let sp = if cx.layout == Some(Layout::Nhwc) {
                    &w[1..=n]
                } else {
                    &w[2..]
                };
                sp.iter().map(Dim::known).collect()
            }
            _ => vec![None; n],
        },
    })
}

/// Output spatial sizes of a convolution or pool over `input` with `kernel` (ONNX rules).
fn spatial_out(
    cx: &InferCtx<'_>,
    input: &[Dim],
    kernel: &[Option<u64>],
    ceil_mode: bool,
) -> Result<Vec<Dim>, InferError> {
    let n = input.len();
    let strides = spatial(cx, "strides", n, 1)?;
    let dilations = spatial(cx, "dilations", n, 1)?;
    let pads = spatial(cx, "pads", 2 * n, 0)?;
    let auto_pad = cx.attr_string("auto_pad", "NOTSET")?;
    if strides.iter().chain(&dilations).any(|&s| s < 1) || pads.iter().any(|&p| p < 0) {
        fail!("strides and dilations must be positive, pads non-negative");
    }
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let s = strides[i] as u64;
        let Dim::Known(x) = input[i] else {
            out.push(Dim::Unknown);
            continue;
        };
        out.push(match auto_pad.as_str() {
            "SAME_UPPER" | "SAME_LOWER" => Dim::Known(x.div_ceil(s)),
            "VALID" | "NOTSET" | "" => {
                let Some(k) = kernel[i] else {
                    out.push(Dim::Unknown);
                    continue;
                };
                let (pb, pe) = if auto_pad == "VALID" {
                    (0, 0)
                } else {
                    (pads[i] as u64, pads[i + n] as u64)
                };
                // u128: sizes and attributes come from files and must not overflow.
                let ek = (k.max(1) as u128 - 1) * dilations[i] as u128 + 1;
                let padded = x as u128 + pb as u128 + pe as u128;
                if padded < ek {
                    fail!("kernel extent {ek} is larger than the padded input {padded} on spatial axis {i}");
                }
                let (span, s) = (padded - ek, s as u128);
                let mut o = if ceil_mode { span.div_ceil(s) + 1 } else { span / s + 1 };
                if ceil_mode && (o - 1) * s >= x as u128 + pb as u128 {
                    o -= 1;
                }
                u64::try_from(o).map_or(Dim::Unknown, Dim::Known)
            }
            other => fail!("unknown auto_pad `{other}`"),
        });
    }
    Ok(out)
}

fn conv(cx: &InferCtx<'_>, out: &mut Outputs) -> Result<(), InferError> {
    // QLinearConv: x, x_scale, x_zp, w, w_scale, w_zp, y_scale, y_zp[, B].
    let (w_slot, dtype) = match cx.op {
        OnnxOp::QLinearConv => (3, cx.dtype(7).or(Some(DType::U8))),
        OnnxOp::ConvInteger => (1, Some(DType::I32)),
        _ => (1, cx.dtype(0)),
    };
    let Some(x) = cx.shape(0) else {
        out.set(0, dtype, None);
        return Ok(());
    };
    if x.len() < 3 {
        fail!(
            "convolution input has rank {}, expected at least 3",
            x.len()
        );
    }
    let x = to_nchw(cx, x);
    let n = x.len() - 2;
    let w = cx.shape(w_slot);
    let kernel = kernel_shape(cx, w, n)?;
    let channels = w.and_then(|w| w.first().cloned()).unwrap_or(Dim::Unknown);
    let mut shape = vec![x[0].clone(), channels];
    shape.extend(spatial_out(cx, &x[2..], &kernel, false)?);
    out.set(0, dtype, Some(from_nchw(cx, shape)));
    Ok(())
}

fn conv_transpose(cx: &InferCtx<'_>, out: &mut Outputs) -> Result<(), InferError> {
    let dtype = cx.dtype(0);
    let Some(x) = cx.shape(0) else {
        out.set(0, dtype, None);
        return Ok(());
    };
    if x.len() < 3 {
        fail!(
            "ConvTranspose input has rank {}, expected at least 3",
            x.len()
        );
    }
    let x = to_nchw(cx, x);
    let n = x.len() - 2;
    let w = cx.shape(1);
    let group = cx.attr_int("group", 1)?.max(1) as u64;
    let kernel = kernel_shape(cx, w, n)?;
    // ONNX weight [C_in, M_out/g, k...]; NHWC weight [M_out, k..., C_in/g].
    let channels = match (w, cx.layout) {
        (Some(w), Some(Layout::Nhwc)) => w.first().cloned().unwrap_or(Dim::Unknown),
        (Some(w), _) => w.get(1).map_or(Dim::Unknown, |d| dim_mul(d, group)),
        (None, _) => Dim::Unknown,
    };
    let mut shape = vec![x[0].clone(), channels];
    if let Some(os) = cx.attr_ints("output_shape")?.filter(|v| !v.is_empty()) {
        // `output_shape` may list only the spatial dims or all of them.
        let sp = if os.len() == n + 2 { &os[2..] } else { &os[..] };
        if sp.len() != n {
            fail!("output_shape has {} values for {n} spatial axes", os.len());
        }
        shape.extend(
            sp.iter()
                .map(|&v| u64::try_from(v).map_or(Dim::Unknown, Dim::Known)),
        );
    } else {
        let strides = spatial(cx, "strides", n, 1)?;
        let dilations = spatial(cx, "dilations", n, 1)?;
        let pads = spatial(cx, "pads", 2 * n, 0)?;
        let opad = spatial(cx, "output_padding", n, 0)?;
        let auto_pad = cx.attr_string("auto_pad", "NOTSET")?;
        for i in 0..n {
            let (Dim::Known(xi), Some(k)) = (&x[2 + i], kernel[i]) else {
                shape.push(Dim::Unknown);
                continue;
            };
            // i128: sizes and attributes come from files and must not overflow.
            let (s, xi, k) = (strides[i] as i128, *xi as i128, k as i128);
            let full = s * (xi - 1) + opad[i] as i128 + (k - 1) * dilations[i] as i128 + 1;
            let o = match auto_pad.as_str() {
                "SAME_UPPER" | "SAME_LOWER" => xi * s,
                "VALID" => full,
                _ => full - pads[i] as i128 - pads[i + n] as i128,
            };
            if o < 0 {
                fail!("ConvTranspose output size {o} on spatial axis {i}");
            }
            shape.push(u64::try_from(o).map_or(Dim::Unknown, Dim::Known));
        }
    }
    out.set(0, dtype, Some(from_nchw(cx, shape)));
    Ok(())
}

fn pool(cx: &InferCtx<'_>, out: &mut Outputs) -> Result<(), InferError> {
    let dtype = cx.dtype(0);
    let Some(x) = cx.shape(0) else {
        out.set(0, dtype, None);
        out.set(1, Some(DType::I64), None);
        return Ok(());
    };
    if x.len() < 3 {
        fail!("pooling input has rank {}, expected at least 3", x.len());
    }
    let x = to_nchw(cx, x);
    let n = x.len() - 2;
    let kernel: Vec<Option<u64>> = match cx.attr_ints("kernel_shape")? {
        Some(k) if k.len() == n => k.iter().map(|&v| u64::try_from(v).ok()).collect(),
        Some(k) => fail!("kernel_shape has {} values for {n} spatial axes", k.len()),
        None => fail!("pooling without kernel_shape"),
    };
    let ceil = cx.attr_int("ceil_mode", 0)? != 0;
    let mut shape = vec![x[0].clone(), x[1].clone()];
    shape.extend(spatial_out(cx, &x[2..], &kernel, ceil)?);
    let shape = from_nchw(cx, shape);
    out.set(0, dtype, Some(shape.clone()));
    out.set(1, Some(DType::I64), Some(shape));
    Ok(())
}

fn global_pool(cx: &InferCtx<'_>, out: &mut Outputs) -> Result<(), InferError> {
    let shape = cx.shape(0).map(|x| {
        let x = to_nchw(cx, x);
        let mut s: Vec<Dim> = x.iter().take(2).cloned().collect();
        s.extend(std::iter::repeat_n(
            Dim::Known(1),
            x.len().saturating_sub(2),
        ));
        from_nchw(cx, s)
    });
    out.set(0, cx.dtype(0), shape);
    Ok(())
}

fn batch_norm(cx: &InferCtx<'_>, out: &mut Outputs) -> Result<(), InferError> {
    out.set(0, cx.dtype(0), cx.shape(0).map(<[_]>::to_vec));
    // Training-mode outputs (running mean/var; before opset 9 also saved mean/var) have the
    // per-channel parameters' shape.
    for i in 1..cx.num_outputs {
        out.set(
            i,
            cx.dtype(3).or(cx.dtype(0)),
            cx.shape(3).map(<[_]>::to_vec),
        );
    }
    Ok(())
}

fn depth_space(cx: &InferCtx<'_>, out: &mut Outputs) -> Result<(), InferError> {
    let b = cx.attr_int("blocksize", 0)?;
    if b < 1 {
        fail!("blocksize must be positive, got {b}");
    }
    let (b, bb) = match (b as u64).checked_mul(b as u64) {
        Some(bb) => (b as u64, bb),
        None => fail!("blocksize {b} is too large"),
    };
    let shape = match cx.shape(0) {
        Some(x) if x.len() == 4 => {
            let x = to_nchw(cx, x);
            let s = if cx.op == OnnxOp::DepthToSpace {
                vec![
                    x[0].clone(),
                    dim_div(&x[1], bb),
                    dim_mul(&x[2], b),
                    dim_mul(&x[3], b),
                ]
            } else {
                vec![
                    x[0].clone(),
                    dim_mul(&x[1], bb),
                    dim_div(&x[2], b),
                    dim_div(&x[3], b),
                ]
            };
            Some(from_nchw(cx, s))
        }
        Some(x) => fail!("{} input has rank {}, expected 4", cx.op, x.len()),
        None => None,
    };
    out.set(0, cx.dtype(0), shape);
    Ok(())
}

fn resize(cx: &InferCtx<'_>, out: &mut Outputs) -> Result<(), InferError> {
    let dtype = cx.dtype(0);
    let Some(x) = cx.shape(0) else {
        out.set(0, dtype, None);
        return Ok(());
    };
    // Scales, sizes and axes are per axis of the tensor as it is, in either layout.
    let x = x.to_vec();
    let r = x.len();
    // Where scales and sizes are: Upsample-7 has a `scales` attribute, Upsample-9 and
    // Resize-10 a scales input at 1, Resize-11+ (X, roi, scales, sizes).
    let (scales, sizes) = if cx.op == OnnxOp::Upsample && cx.attrs.contains("scales") {
        let v = cx
            .attrs
            .floats("scales", vec![])
            .map_err(|e| InferError(e.to_string()))?;
        (Some(v.iter().map(|&f| f as f64).collect::<Vec<_>>()), None)
    } else if cx.op == OnnxOp::Upsample || cx.opset < 11 {
        (cx.floats(1), None)
    } else {
        let scales = cx.floats(2).filter(|s| !s.is_empty());
        let sizes = cx.ints(3).filter(|s| !s.is_empty());
        if scales.is_none() && sizes.is_none() {
            // Sizes known only symbolically (a shape computation) still give the dims.
            if let Some(s) = cx
                .sym_ints(3)
                .filter(|s| s.len() == r && cx.attr_ints("axes").ok().flatten().is_none())
            {
                let dims = s.iter().map(super::dims::SymInt::to_dim).collect();
                out.set(0, dtype, Some(dims));
                return Ok(());
            }
        }
        (scales, sizes)
    };
    let axes: Vec<usize> = match cx.attr_ints("axes")? {
        Some(a) => a
            .iter()
            .map(|&a| super::dims::axis(a, r))
            .collect::<Result<_, _>>()?,
        None => (0..r).collect(),
    };
    let mut shape = x.clone();
    if let Some(sizes) = sizes {
        if sizes.len() != axes.len() {
            fail!(
                "Resize sizes has {} values for {} axes",
                sizes.len(),
                axes.len()
            );
        }
        let policy = cx.attr_string("keep_aspect_ratio_policy", "stretch")?;
        if policy == "stretch" {
            for (&a, &s) in axes.iter().zip(&sizes) {
                shape[a] = u64::try_from(s).map_or(Dim::Unknown, Dim::Known);
            }
        } else {
            let mut scale: Option<f64> = None;
            for (&a, &s) in axes.iter().zip(&sizes) {
                let Dim::Known(xi) = x[a] else {
                    out.set(0, dtype, Some(axes_unknown(&x, &axes)));
                    return Ok(());
                };
                let f = s as f64 / xi as f64;
                scale = Some(match (scale, policy.as_str()) {
                    (None, _) => f,
                    (Some(c), "not_larger") => c.min(f),
                    (Some(c), _) => c.max(f),
                });
            }
            let scale = scale.unwrap_or(1.0);
            for &a in &axes {
                if let Dim::Known(xi) = x[a] {
                    shape[a] = Dim::Known((scale * xi as f64 + 0.5).floor() as u64);
                }
            }
        }
    } else if let Some(scales) = scales {
        if scales.len() != axes.len() {
            fail!(
                "{} scales has {} values for {} axes",
                cx.op,
                scales.len(),
                axes.len()
            );
        }
        for (&a, &s) in axes.iter().zip(&scales) {
            shape[a] = match x[a] {
                _ if s == 1.0 => x[a].clone(),
                Dim::Known(xi) => Dim::Known((xi as f64 * s).floor() as u64),
                _ => Dim::Unknown,
            };
        }
    } else {
        shape = axes_unknown(&x, &axes);
    }
    out.set(0, dtype, Some(shape));
    Ok(())
}

fn axes_unknown(x: &[Dim], axes: &[usize]) -> Vec<Dim> {
    let mut s = x.to_vec();
    for &a in axes {
        s[a] = Dim::Unknown;
    }
    s
}

fn roi(cx: &InferCtx<'_>, out: &mut Outputs) -> Result<(), InferError> {
    let rois = cx
        .shape(1)
        .and_then(|s| s.first().cloned())
        .unwrap_or(Dim::Unknown);
    let channels = cx
        .shape(0)
        .map(|x| to_nchw(cx, x))
        .and_then(|x| x.get(1).cloned())
        .unwrap_or(Dim::Unknown);
    let (h, w) = if cx.op == OnnxOp::RoiAlign {
        (
            cx.attr_int("output_height", 1)?,
            cx.attr_int("output_width", 1)?,
        )
    } else {
        match cx.attr_ints("pooled_shape")?.as_deref() {
            Some([h, w]) => (*h, *w),
            _ => fail!("MaxRoiPool needs a two-value pooled_shape"),
        }
    };
    let shape = vec![
        rois,
        channels,
        Dim::Known(h.max(0) as u64),
        Dim::Known(w.max(0) as u64),
    ];
    out.set(0, cx.dtype(0), Some(from_nchw(cx, shape)));
    Ok(())
}

fn grid_sample(cx: &InferCtx<'_>, out: &mut Outputs) -> Result<(), InferError> {
    // X [N, C, D1..Dr], grid [N, O1..Or, r] -> [N, C, O1..Or].
    let shape = match (cx.shape(0), cx.shape(1)) {
        (Some(x), Some(g)) if g.len() >= 2 && x.len() >= 2 => {
            let x = to_nchw(cx, x);
            let mut s = vec![x[0].clone(), x[1].clone()];
            s.extend_from_slice(&g[1..g.len() - 1]);
            Some(from_nchw(cx, s))
        }
        _ => None,
    };
    out.set(0, cx.dtype(0), shape);
    Ok(())
}

fn max_unpool(cx: &InferCtx<'_>, out: &mut Outputs) -> Result<(), InferError> {
    let dtype = cx.dtype(0);
    if cx.has(2) {
        let dims = cx.sym_ints(2).map(|v| {
            v.iter()
                .map(super::dims::SymInt::to_dim)
                .collect::<Vec<_>>()
        });
        out.set(0, dtype, dims.map(|d| from_nchw(cx, d)));
        return Ok(());
    }
    let Some(x) = cx.shape(0) else {
        out.set(0, dtype, None);
        return Ok(());
    };
    if x.len() < 3 {
        fail!("MaxUnpool input has rank {}, expected at least 3", x.len());
    }
    let x = to_nchw(cx, x);
    let n = x.len() - 2;
    let kernel = match cx.attr_ints("kernel_shape")? {
        Some(k) if k.len() == n => k,
        _ => fail!("MaxUnpool needs kernel_shape with {n} values"),
    };
    let strides = spatial(cx, "strides", n, 1)?;
    let pads = spatial(cx, "pads", 2 * n, 0)?;
    let mut shape = vec![x[0].clone(), x[1].clone()];
    for i in 0..n {
        shape.push(match x[2 + i] {
            Dim::Known(d) => {
                let o = (d as i128 - 1) * strides[i] as i128 + kernel[i] as i128
                    - pads[i] as i128
                    - pads[i + n] as i128;
                if o < 0 {
                    fail!("MaxUnpool output size {o}");
                }
                u64::try_from(o).map_or(Dim::Unknown, Dim::Known)
            }
            _ => Dim::Unknown,
        });
    }
    out.set(0, dtype, Some(from_nchw(cx, shape)));
    Ok(())
}
