//! Resize (opsets 10, 11, 13, 18, 19) and Upsample (opsets 7, 9).
//!
//! Resize: inputs X, roi, scales, sizes (opset 10: X, scales). Attributes `mode`
//! (nearest / linear / cubic), `coordinate_transformation_mode` (half_pixel,
//! half_pixel_symmetric, pytorch_half_pixel, align_corners, asymmetric,
//! tf_crop_and_resize, tf_half_pixel_for_nn), `nearest_mode` (round_prefer_floor,
//! round_prefer_ceil, floor, ceil), `cubic_coeff_a` (-0.75), `exclude_outside`,
//! `extrapolation_value`, `antialias` (linear/cubic, 18+), `axes` and
//! `keep_aspect_ratio_policy` (stretch / not_larger / not_smaller, 18+). Opset 10 behaves
//! as asymmetric with floor rounding for nearest.
//!
//! Upsample: `mode` (nearest / linear / bilinear), scales as attribute (7) or input (9);
//! asymmetric coordinates, floor for nearest, output sizes `floor(in * scale)`.
//!
//! Interpolation is separable: one 1-D pass per resized axis, computed in f64 (as the ONNX
//! reference does) and cast back to the input type (integers round to nearest, saturating).

use ndarray::{ArrayD, IxDyn};

use crate::ops::elem::checked_count;
use crate::ops::util::{normalize_axis, one};
use crate::{bail, Array, Data, KernelError, OpCtx};

#[derive(Debug, Clone, Copy, PartialEq)]
enum Mode {
    Nearest,
    Linear,
    Cubic,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Coord {
    HalfPixel,
    HalfPixelSymmetric,
    PytorchHalfPixel,
    AlignCorners,
    Asymmetric,
    TfCropAndResize,
    TfHalfPixelForNn,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Nearest {
    RoundPreferFloor,
    RoundPreferCeil,
    Floor,
    Ceil,
}

struct Params {
    mode: Mode,
    coord: Coord,
    nearest: Nearest,
    a: f64,
    exclude_outside: bool,
    extrapolation: f64,
    antialias: bool,
}

/// The taps of one output position along one axis; `None` = extrapolation value.
type Taps = Option<Vec<(usize, f64)>>;

fn coeffs(p: &Params, ratio: f64, scale: f64) -> Vec<f64> {
    match p.mode {
        Mode::Nearest => {
            let right = if ratio == 1.0 {
                true
            } else {
                match p.nearest {
                    Nearest::RoundPreferFloor => ratio > 0.5,
                    Nearest::RoundPreferCeil => ratio >= 0.5,
                    Nearest::Floor => false,
                    Nearest::Ceil => true,
                }
            };
            if right {
                vec![0.0, 1.0]
            } else {
                vec![1.0, 0.0]
            }
        }
        Mode::Linear if p.antialias => {
            let scale = scale.min(1.0);
            let start = (-1.0 / scale).floor() as i64 + 1;
            let footprint = 2 - 2 * start;
            let c: Vec<f64> = (start..start + footprint)
                .map(|i| (1.0 - ((i as f64 - ratio) * scale).abs()).clamp(0.0, 1.0))
                .collect();
            let s: f64 = c.iter().sum();
            c.into_iter().map(|v| v / s).collect()
        }
        Mode::Linear => vec![1.0 - ratio, ratio],
        Mode::Cubic if p.antialias => {
            let a = p.a;
            let scale = scale.min(1.0);
            let cc = |x: f64| {
                let x = x.abs();
                let (x2, x3) = (x * x, x * x * x);
                if x <= 1.0 {
                    (a + 2.0) * x3 - (a + 3.0) * x2 + 1.0
                } else if x < 2.0 {
                    a * x3 - 5.0 * a * x2 + 8.0 * a * x - 4.0 * a
                } else {
                    0.0
                }
            };
            let i_start = (-2.0 / scale).floor() as i64 + 1;
            let i_end = 2 - i_start;
            let c: Vec<f64> = (i_start..i_end)
                .map(|i| cc(scale * (i as f64 - ratio)))
                .collect();
            let s: f64 = c.iter().sum();
            c.into_iter().map(|v| v / s).collect()
        }
        Mode::Cubic => {
            let a = p.a;
            let r = ratio;
            let q = 1.0 - ratio;
            vec![
                ((a * (r + 1.0) - 5.0 * a) * (r + 1.0) + 8.0 * a) * (r + 1.0) - 4.0 * a,
                ((a + 2.0) * r - (a + 3.0)) * r * r + 1.0,
                ((a + 2.0) * q - (a + 3.0)) * q * q + 1.0,
                ((a * (q + 1.0) - 5.0 * a) * (q + 1.0) + 8.0 * a) * (q + 1.0) - 4.0 * a,
            ]
        }
    }
}

/// Taps for every output position of one axis.
fn axis_taps(
    p: &Params,
    in_len: usize,
    out_len: usize,
    scale: f64,
    roi: (f64, f64),
) -> Result<Vec<Taps>, KernelError> {
    let iw = in_len as f64;
    let ow = scale * iw;
    let mut all = Vec::with_capacity(out_len);
    for y in 0..out_len {
        let y = y as f64;
        let x_ori = match p.coord {
            Coord::AlignCorners => {
                if ow == 1.0 {
                    0.0
                } else {
                    y * (iw - 1.0) / (ow - 1.0)
                }
            }
            Coord::Asymmetric => y / scale,
            Coord::TfCropAndResize => {
                let x = if ow == 1.0 {
                    (roi.1 - roi.0) * (iw - 1.0) / 2.0
                } else {
                    y * (roi.1 - roi.0) * (iw - 1.0) / (ow - 1.0)
                } + roi.0 * (iw - 1.0);
                if x < 0.0 || x > iw - 1.0 {
                    all.push(None);
                    continue;
                }
                x
            }
            Coord::PytorchHalfPixel => {
                if ow == 1.0 {
                    -0.5
                } else {
                    (y + 0.5) / scale - 0.5
                }
            }
            Coord::HalfPixel => (y + 0.5) / scale - 0.5,
            Coord::HalfPixelSymmetric => {
                let adj = out_len as f64 / ow;
                let center = iw / 2.0;
                center * (1.0 - adj) + (y + 0.5) / scale - 0.5
            }
            Coord::TfHalfPixelForNn => (y + 0.5) / scale,
        };
        if !x_ori.is_finite() {
            bail!("Resize: non-finite source coordinate");
        }
        let fl = x_ori.floor();
        let ratio = if x_ori == fl { 1.0 } else { x_ori - fl };
        let mut c = coeffs(p, ratio, scale);
        let n = c.len();
        let pad = n.div_ceil(2) as i64;
        let xp = x_ori + pad as f64;
        let pp = xp.floor();
        let frac = xp - pp;
        let pp = pp as i64;
        let off = if n.is_multiple_of(2) {
            if frac == 0.0 {
                -(n as i64 / 2)
            } else {
                -(n as i64 / 2) + 1
            }
        } else {
            let base = -((n as i64 - 1) / 2);
            if frac <= 0.5 {
                base
            } else {
                base + 1
            }
        };
        let start = pp + off - pad;
        let idx: Vec<i64> = (0..n as i64).map(|j| start + j).collect();
        if p.exclude_outside {
            for (cj, &i) in c.iter_mut().zip(&idx) {
                if i < 0 || i >= in_len as i64 {
                    *cj = 0.0;
                }
            }
            let s: f64 = c.iter().sum();
            let s = if s == 0.0 { 1.0 } else { s };
            c.iter_mut().for_each(|v| *v /= s);
        }
        let taps = idx
            .iter()
            .zip(&c)
            .filter(|(_, &w)| w != 0.0)
            .map(|(&i, &w)| (i.clamp(0, in_len as i64 - 1) as usize, w))
            .collect();
        all.push(Some(taps));
    }
    Ok(all)
}

/// One separable pass along `axis` of a standard-layout array.
fn pass(x: &ArrayD<f64>, axis: usize, taps: &[Taps], ev: f64) -> Result<ArrayD<f64>, KernelError> {
    let shape = x.shape();
    let outer: usize = shape[..axis].iter().product();
    let inner: usize = shape[axis + 1..].iter().product();
    let nin = shape[axis];
    let nout = taps.len();
    let mut oshape = shape.to_vec();
    oshape[axis] = nout;
    let total = checked_count(&oshape)?;
    let src = x
        .as_slice()
        .ok_or_else(|| KernelError::new("Resize: input not contiguous"))?;
    let mut out = vec![0.0f64; total];
    for o in 0..outer {
        for (j, t) in taps.iter().enumerate() {
            let dst = &mut out[(o * nout + j) * inner..][..inner];
            match t {
                None => dst.fill(ev),
                Some(t) => {
                    for &(i, w) in t {
                        let s = &src[(o * nin + i) * inner..][..inner];
                        for (d, &v) in dst.iter_mut().zip(s) {
                            *d += w * v;
                        }
                    }
                }
            }
        }
    }
    Ok(ArrayD::from_shape_vec(IxDyn(&oshape), out)?)
}

fn to_f64(a: &Array) -> Result<ArrayD<f64>, KernelError> {
    Ok(match a {
        Array::F64(x) => x.as_standard_layout().into_owned(),
        Array::F32(x) => x.mapv(|v| v as f64),
        Array::F16(x) => x.mapv(f64::from),
        Array::BF16(x) => x.mapv(f64::from),
        Array::I8(x) => x.mapv(|v| v as f64),
        Array::I16(x) => x.mapv(|v| v as f64),
        Array::I32(x) => x.mapv(|v| v as f64),
        Array::I64(x) => x.mapv(|v| v as f64),
        Array::U8(x) => x.mapv(|v| v as f64),
        Array::U16(x) => x.mapv(|v| v as f64),
        Array::U32(x) => x.mapv(|v| v as f64),
        Array::U64(x) => x.mapv(|v| v as f64),
        other => bail!("Resize does not support element type {}", other.dtype()),
    }
    .as_standard_layout()
    .into_owned())
}

fn from_f64(y: ArrayD<f64>, like: &Array) -> Result<Array, KernelError> {
    // `as` casts from f64 saturate (NaN becomes 0).
    Ok(match like {
        Array::F64(_) => Array::F64(y),
        Array::F32(_) => Array::F32(y.mapv(|v| v as f32)),
        Array::F16(_) => Array::F16(y.mapv(half::f16::from_f64)),
        Array::BF16(_) => Array::BF16(y.mapv(half::bf16::from_f64)),
        Array::I8(_) => Array::I8(y.mapv(|v| v.round() as i8)),
        Array::I16(_) => Array::I16(y.mapv(|v| v.round() as i16)),
        Array::I32(_) => Array::I32(y.mapv(|v| v.round() as i32)),
        Array::I64(_) => Array::I64(y.mapv(|v| v.round() as i64)),
        Array::U8(_) => Array::U8(y.mapv(|v| v.round() as u8)),
        Array::U16(_) => Array::U16(y.mapv(|v| v.round() as u16)),
        Array::U32(_) => Array::U32(y.mapv(|v| v.round() as u32)),
        Array::U64(_) => Array::U64(y.mapv(|v| v.round() as u64)),
        other => bail!("Resize does not support element type {}", other.dtype()),
    })
}

/// Resizes `x` with per-axis `scales` and `out` sizes (full rank) and `roi` (2·rank).
fn resize_core(
    x: &Array,
    p: &Params,
    scales: &[f64],
    out: &[usize],
    roi: Option<&[f64]>,
    axes: &[usize],
) -> Result<Array, KernelError> {
    let mut cur = to_f64(x)?;
    let r = cur.ndim();
    checked_count(out)?;
    for &ax in axes {
        let (sc, o) = (scales[ax], out[ax]);
        let rr = roi.map(|v| (v[ax], v[ax + r])).unwrap_or((0.0, 1.0));
        let in_len = cur.shape()[ax];
        if (sc - 1.0).abs() < 1e-9
            && o == in_len
            && (rr.0.abs() < 1e-9 && (rr.1 - 1.0).abs() < 1e-9 || p.coord != Coord::TfCropAndResize)
        {
            continue;
        }
        if in_len == 0 {
            if o != 0 {
                bail!("Resize: cannot resize an empty axis to {o}");
            }
            continue;
        }
        let taps = axis_taps(p, in_len, o, sc, rr)?;
        cur = pass(&cur, ax, &taps, p.extrapolation)?;
    }
    from_f64(cur, x)
}

fn float_list(a: Option<&Array>) -> Result<Vec<f64>, KernelError> {
    match a {
        None => Ok(vec![]),
        Some(a) => a.to_f64_vec(),
    }
}

pub fn resize(ctx: &OpCtx<'_>) -> Result<Vec<Data>, KernelError> {
    let x = ctx.input(0)?;
    let r = x.shape().len();
    let at = ctx.attrs();
    let mode = match at.string("mode", "nearest")?.as_str() {
        "nearest" => Mode::Nearest,
        "linear" | "bilinear" => Mode::Linear,
        "cubic" | "bicubic" => Mode::Cubic,
        m => bail!("Resize: unknown mode `{m}`"),
    };
    let old = ctx.opset < 11;
    let coord = if old {
        Coord::Asymmetric
    } else {
        match at
            .string("coordinate_transformation_mode", "half_pixel")?
            .as_str()
        {
            "half_pixel" => Coord::HalfPixel,
            "half_pixel_symmetric" => Coord::HalfPixelSymmetric,
            "pytorch_half_pixel" => Coord::PytorchHalfPixel,
            "align_corners" => Coord::AlignCorners,
            "asymmetric" => Coord::Asymmetric,
            "tf_crop_and_resize" => Coord::TfCropAndResize,
            "tf_half_pixel_for_nn" => Coord::TfHalfPixelForNn,
            m => bail!("Resize: unknown coordinate_transformation_mode `{m}`"),
        }
    };
    let nearest = if old {
        Nearest::Floor
    } else {
        match at.string("nearest_mode", "round_prefer_floor")?.as_str() {
            "round_prefer_floor" => Nearest::RoundPreferFloor,
            "round_prefer_ceil" => Nearest::RoundPreferCeil,
            "floor" => Nearest::Floor,
            "ceil" => Nearest::Ceil,
            m => bail!("Resize: unknown nearest_mode `{m}`"),
        }
    };
    let p = Params {
        mode,
        coord,
        nearest,
        // Opset 11's schema defaults, spelled out: Resize-10 has neither attribute (and
        // behaves as these values), so the schema gives no default to fall back to there.
        a: at.float("cubic_coeff_a", -0.75)? as f64,
        exclude_outside: at.int("exclude_outside", 0)? != 0,
        extrapolation: at.float("extrapolation_value", 0.0)? as f64,
        antialias: at.int("antialias", 0)? != 0 && mode != Mode::Nearest,
    };
    let axes: Vec<usize> = match at.get("axes") {
        None => (0..r).collect(),
        Some(_) => {
            let v = at.ints("axes", vec![])?;
            let mut out = Vec::new();
            for a in v {
                let a = normalize_axis(a, r)?;
                if out.contains(&a) {
                    bail!("Resize: repeated axis {a}");
                }
                out.push(a);
            }
            out
        }
    };
    let (roi_in, scales_in, sizes_in) = if old {
        (None, ctx.opt_input(1)?, None)
    } else {
        (ctx.opt_input(1)?, ctx.opt_input(2)?, ctx.opt_input(3)?)
    };
    let scales_v = float_list(scales_in)?;
    let sizes_v = match sizes_in {
        Some(s) if !s.is_empty() => s.to_i64_vec()?,
        _ => vec![],
    };
    let roi_v = float_list(roi_in)?;
    let n = axes.len();
    let shape = x.shape();
    let mut scales = vec![1.0f64; r];
    let mut out: Vec<usize> = shape.to_vec();
    if !sizes_v.is_empty() {
        if !scales_v.is_empty() {
            bail!("Resize: only one of scales and sizes may be given");
        }
        if sizes_v.len() != n {
            bail!("Resize: sizes has {} values for {n} axes", sizes_v.len());
        }
        for (i, &ax) in axes.iter().enumerate() {
            if !(0..=1 << 31).contains(&sizes_v[i]) {
                bail!("Resize: bad size {}", sizes_v[i]);
            }
            out[ax] = sizes_v[i] as usize;
            scales[ax] = if shape[ax] == 0 {
                1.0
            } else {
                out[ax] as f64 / shape[ax] as f64
            };
        }
        let policy = at.string("keep_aspect_ratio_policy", "stretch")?;
        if policy != "stretch" {
            let sel = axes.iter().map(|&a| scales[a]);
            let s = match policy.as_str() {
                "not_larger" => sel.fold(f64::INFINITY, f64::min),
                "not_smaller" => sel.fold(f64::NEG_INFINITY, f64::max),
                other => bail!("Resize: unknown keep_aspect_ratio_policy `{other}`"),
            };
            for &ax in &axes {
                scales[ax] = s;
                out[ax] = (s * shape[ax] as f64 + 0.5) as usize;
            }
        }
    } else {
        if scales_v.len() != n {
            bail!("Resize: scales has {} values for {n} axes", scales_v.len());
        }
        for (i, &ax) in axes.iter().enumerate() {
            let s = scales_v[i];
            if !(s > 0.0 && s.is_finite()) {
                bail!("Resize: scale {s} must be positive");
            }
            scales[ax] = s;
            let o = s * shape[ax] as f64;
            if o > (1u64 << 31) as f64 {
                bail!("Resize: output too large");
            }
            out[ax] = o as usize;
        }
    }
    let roi = if coord == Coord::TfCropAndResize {
        let mut full: Vec<f64> = [vec![0.0; r], vec![1.0; r]].concat();
        if roi_v.len() == 2 * n {
            for (i, &ax) in axes.iter().enumerate() {
                full[ax] = roi_v[i];
                full[r + ax] = roi_v[n + i];
            }
        } else if !roi_v.is_empty() {
            bail!("Resize: roi has {} values for {n} axes", roi_v.len());
        }
        Some(full)
    } else {
        None
    };
    one(resize_core(x, &p, &scales, &out, roi.as_deref(), &axes)?)
}

pub fn upsample(ctx: &OpCtx<'_>) -> Result<Vec<Data>, KernelError> {
    let x = ctx.input(0)?;
    let r = x.shape().len();
    let mode = match ctx.attrs().string("mode", "nearest")?.as_str() {
        "nearest" => Mode::Nearest,
        "linear" | "bilinear" => Mode::Linear,
        m => bail!("Upsample: unknown mode `{m}`"),
    };
    let scales: Vec<f64> = match ctx.opt_input(1)? {
        Some(s) => s.to_f64_vec()?,
        None => ctx
            .attrs()
            .floats("scales", vec![])?
            .iter()
            .map(|&v| v as f64)
            .collect(),
    };
    if scales.len() != r {
        bail!("Upsample: {} scales for rank {r}", scales.len());
    }
    let mut out = Vec::with_capacity(r);
    for (i, &s) in scales.iter().enumerate() {
        if !(s >= 1.0 && s.is_finite()) {
            bail!("Upsample: scale {s} must be >= 1");
        }
        let o = s * x.shape()[i] as f64;
        if o > (1u64 << 31) as f64 {
            bail!("Upsample: output too large");
        }
        out.push(o as usize);
    }
    let p = Params {
        mode,
        coord: Coord::Asymmetric,
        nearest: Nearest::Floor,
        a: -0.75,
        exclude_outside: false,
        extrapolation: 0.0,
        antialias: false,
    };
    let axes: Vec<usize> = (0..r).collect();
    one(resize_core(x, &p, &scales, &out, None, &axes)?)
}
