//! QuantizeLinear (opsets 10–25), DequantizeLinear (opsets 10–25) and DynamicQuantizeLinear
//! (opset 11).
//!
//! Quantize: `y = saturate(round_half_even(x / scale) + zero_point)` for the integer types
//! (u8 i8 u16 i16 u4 i4 u2 i2), `y = cast(x / scale)` for float8 (attribute `saturate`,
//! zero point must be 0) and `cast(x / scale + zero_point)` for float4e2m1. The output type
//! is the zero point's, else `output_dtype` (opset 21), else u8. Dequantize:
//! `y = (x - zero_point) * scale` in the scale's type (or `output_dtype`, opset 23).
//! Scale and zero point are per tensor (scalar or one element), per axis (1-D along `axis`,
//! default 1) or blocked (opset 21: same rank as x, `block_size` elements of x per scale
//! along `axis`). `precision` (opset 25) sets the type the division is done in.

use half::{bf16, f16};
use modelc_ir::DType;
use ndarray::{ArrayD, IxDyn};

use super::convert::{decode, encode, Opts, Vals};
use crate::ops::util::normalize_axis;
use crate::{bail, Array, Data, KernelError, OpCtx};

/// Maps an element of x (flat index) to the index of its scale / zero point.
pub struct ParamIndex {
    axis_len: usize,
    inner: usize,
    mode: Mode,
}

enum Mode {
    PerTensor,
    PerAxis,
    Blocked { block: usize, blocks: usize },
}

impl ParamIndex {
    /// Works out the quantization granularity from the scale's shape.
    pub fn new(
        x_shape: &[usize],
        p_shape: &[usize],
        axis: i64,
        block_size: i64,
    ) -> Result<ParamIndex, KernelError> {
        let p_len: usize = p_shape.iter().product();
        let per_tensor = ParamIndex {
            axis_len: 1,
            inner: 1,
            mode: Mode::PerTensor,
        };
        if p_shape.is_empty() || (p_len == 1 && block_size <= 0) {
            return Ok(per_tensor);
        }
        let ax = normalize_axis(axis, x_shape.len())?;
        let axis_len = x_shape[ax];
        let inner: usize = x_shape[ax + 1..].iter().product();
        if block_size <= 0 {
            if p_shape.len() != 1 || p_len != axis_len {
                bail!(
                    "scale of shape {p_shape:?} does not match axis {axis} of input shape {x_shape:?}"
                );
            }
            return Ok(ParamIndex {
                axis_len,
                inner,
                mode: Mode::PerAxis,
            });
        }
        let block = block_size as usize;
        let blocks = axis_len.div_ceil(block);
        let ok = p_shape.len() == x_shape.len()
            && p_shape
                .iter()
                .zip(x_shape)
                .enumerate()
                .all(|(i, (&p, &x))| if i == ax { p == blocks } else { p == x });
        if !ok {
            bail!(
                "blocked quantization: scale shape {p_shape:?} does not match input shape {x_shape:?} with block_size {block_size} on axis {axis}"
            );
        }
        Ok(ParamIndex {
            axis_len,
            inner,
            mode: Mode::Blocked { block, blocks },
        })
    }

    #[inline]
    pub fn index(&self, i: usize) -> usize {
        match self.mode {
            Mode::PerTensor => 0,
            Mode::PerAxis => (i / self.inner) % self.axis_len,
            Mode::Blocked { block, blocks } => {
                let o = i / (self.inner * self.axis_len);
                let a = (i / self.inner) % self.axis_len;
                (o * blocks + a / block) * self.inner + i % self.inner
            }
        }
    }
}

/// `f(x, parameter index)` over `xs` (x's elements in row-major order), walking per-axis
/// parameters a contiguous run at a time instead of dividing per element.
fn map_params<T: Copy, U>(xs: &[T], idx: &ParamIndex, mut f: impl FnMut(T, usize) -> U) -> Vec<U> {
    match idx.mode {
        Mode::PerTensor => xs.iter().map(|&v| f(v, 0)).collect(),
        Mode::PerAxis => {
            let mut out = Vec::with_capacity(xs.len());
            for (run, chunk) in xs.chunks(idx.inner.max(1)).enumerate() {
                let p = run % idx.axis_len.max(1);
                out.extend(chunk.iter().map(|&v| f(v, p)));
            }
            out
        }
        Mode::Blocked { .. } => xs
            .iter()
            .enumerate()
            .map(|(i, &v)| f(v, idx.index(i)))
            .collect(),
    }
}

/// Round half to even for f32 without a libm call: adding and subtracting 1.5 * 2^23 rounds
/// in the current (nearest-even) mode; values this far out are integers already or saturate
/// any 8-bit range. NaN stays NaN.
#[inline]
pub(crate) fn round_even_f32(v: f32) -> f32 {
    const MAGIC: f32 = 12_582_912.0;
    if v.abs() < 4_194_304.0 {
        (v + MAGIC) - MAGIC
    } else {
        v
    }
}

/// Rounds an f64 to the precision of float type `dt` (others: unchanged).
pub fn round_to(dt: DType, v: f64) -> f64 {
    match dt {
        DType::F32 => v as f32 as f64,
        DType::F16 => f16::from_f64(v).to_f64(),
        DType::BF16 => bf16::from_f64(v).to_f64(),
        _ => v,
    }
}

/// The type numpy computes `a op b` in, for the float / int types the QDQ ops take.
pub fn promote(a: DType, b: DType) -> DType {
    let rank = |d: DType| match d {
        DType::F16 | DType::BF16 => 1,
        DType::F32 => 2,
        _ => 3,
    };
    if a == b && a.is_float() {
        a
    } else if !a.is_float() || !b.is_float() {
        DType::F64
    } else if rank(a) >= rank(b) && rank(a) > 1 {
        a
    } else if rank(b) > 1 {
        b
    } else {
        DType::F32
    }
}

/// The representable range of an integer quantized type.
pub fn int_range(dt: DType) -> Option<(i128, i128)> {
    Some(match dt {
        DType::U8 => (0, 255),
        DType::I8 => (-128, 127),
        DType::U16 => (0, 65535),
        DType::I16 => (-32768, 32767),
        DType::I32 => (i32::MIN as i128, i32::MAX as i128),
        DType::U4 => (0, 15),
        DType::I4 => (-8, 7),
        DType::U2 => (0, 3),
        DType::I2 => (-2, 1),
        _ => return None,
    })
}

/// Rounds half to even and clamps into `(lo, hi)`; NaN becomes `lo`.
pub fn saturate_int(v: f64, (lo, hi): (i128, i128)) -> i128 {
    if v.is_nan() {
        return lo;
    }
    (v.round_ties_even() as i128).clamp(lo, hi)
}

fn dtype_attr(ctx: &OpCtx<'_>, name: &str) -> Result<Option<DType>, KernelError> {
    let code = ctx.attrs().int(name, 0)?;
    if code == 0 {
        return Ok(None);
    }
    match i32::try_from(code).ok().and_then(DType::from_onnx_code) {
        Some(d) => Ok(Some(d)),
        None => bail!("`{name}` = {code} is not an element type"),
    }
}

fn is_float8(dt: DType) -> bool {
    matches!(
        dt,
        DType::F8E4M3FN | DType::F8E4M3FNUZ | DType::F8E5M2 | DType::F8E5M2FNUZ
    )
}

pub fn quantize_linear(ctx: &OpCtx<'_>) -> Result<Vec<Data>, KernelError> {
    let x = ctx.input(0)?;
    let scale = ctx.input(1)?;
    let zp = ctx.opt_input(2)?;
    let axis = ctx.attrs().int("axis", 1)?;
    let saturate = ctx.attrs().int("saturate", 1)? != 0;
    let block_size = ctx.attrs().int("block_size", 0)?;
    let output_dtype = dtype_attr(ctx, "output_dtype")?;
    let precision = dtype_attr(ctx, "precision")?;
    let out_dt = match (zp, output_dtype) {
        (Some(z), Some(o)) if z.dtype() != o => {
            bail!(
                "output_dtype {o} differs from the zero point's type {}",
                z.dtype()
            )
        }
        (Some(z), _) => z.dtype(),
        (None, Some(o)) => o,
        (None, None) => DType::U8,
    };
    if !matches!(
        x.dtype(),
        DType::F32 | DType::F16 | DType::BF16 | DType::F64 | DType::I32
    ) {
        bail!("QuantizeLinear does not take {} input", x.dtype());
    }
    let idx = ParamIndex::new(x.shape(), scale.shape(), axis, block_size)?;
    if let Some(z) = zp {
        if z.shape() != scale.shape() && z.len() != scale.len() {
            bail!(
                "zero point shape {:?} differs from scale shape {:?}",
                z.shape(),
                scale.shape()
            );
        }
    }
    if precision.is_none() {
        if let Some(y) = quantize_f32_to_8bit(x, scale, zp, out_dt, &idx) {
            return Ok(vec![Data::Tensor(y)]);
        }
    }
    let xs = decode(x)?.into_f64()?;
    let ss = decode(scale)?.into_f64()?;
    let calc = precision.unwrap_or_else(|| promote(x.dtype(), scale.dtype()));
    let q: Vec<f64> = xs
        .iter()
        .enumerate()
        .map(|(i, &v)| {
            let s = ss[idx.index(i)];
            match precision {
                Some(p) => round_to(p, round_to(p, v) / round_to(p, s)),
                None => round_to(calc, v / s),
            }
        })
        .collect();
    let shape = x.shape();
    if let Some(range) = int_range(out_dt) {
        let zs: Vec<i128> = match zp {
            Some(z) => match decode(z)? {
                Vals::I(v) => v,
                _ => bail!("zero point of type {} is not an integer", z.dtype()),
            },
            None => vec![0],
        };
        let out: Vec<i128> = q
            .iter()
            .enumerate()
            .map(|(i, &v)| {
                let z = if zp.is_some() { zs[idx.index(i)] } else { 0 };
                saturate_int(v, (i32::MIN as i128, i32::MAX as i128))
                    .saturating_add(z)
                    .clamp(range.0, range.1)
            })
            .collect();
        return Ok(vec![Data::Tensor(encode(
            Vals::I(out),
            out_dt,
            shape,
            Opts::default(),
        )?)]);
    }
    if is_float8(out_dt) {
        let opts = Opts {
            saturate,
            round_mode: "up",
        };
        return Ok(vec![Data::Tensor(encode(Vals::F(q), out_dt, shape, opts)?)]);
    }
    if out_dt == DType::F4E2M1 {
        let q = match zp {
            Some(z) => {
                let zs = decode(z)?.into_f64()?;
                q.iter()
                    .enumerate()
                    .map(|(i, &v)| v + zs[idx.index(i)])
                    .collect()
            }
            None => q,
        };
        return Ok(vec![Data::Tensor(encode(
            Vals::F(q),
            out_dt,
            shape,
            Opts::default(),
        )?)]);
    }
    bail!("QuantizeLinear cannot produce {out_dt}")
}

pub fn dequantize_linear(ctx: &OpCtx<'_>) -> Result<Vec<Data>, KernelError> {
    let x = ctx.input(0)?;
    let scale = ctx.input(1)?;
    let zp = ctx.opt_input(2)?;
    let axis = ctx.attrs().int("axis", 1)?;
    let block_size = ctx.attrs().int("block_size", 0)?;
    let out_dt = dtype_attr(ctx, "output_dtype")?.unwrap_or(scale.dtype());
    if !matches!(out_dt, DType::F32 | DType::F16 | DType::BF16 | DType::F64) {
        bail!("DequantizeLinear cannot produce {out_dt}");
    }
    let idx = ParamIndex::new(x.shape(), scale.shape(), axis, block_size)?;
    if out_dt == DType::F32 {
        if let Some(y) = dequantize_int_to_f32(x, scale, zp, &idx) {
            return Ok(vec![Data::Tensor(y)]);
        }
    }
    let xs: Vec<f64> = match decode(x)? {
        // The reference converts x to float32 first.
        Vals::I(v) => v.into_iter().map(|i| i as f32 as f64).collect(),
        Vals::F(v) => v,
        _ => bail!("DequantizeLinear does not take {} input", x.dtype()),
    };
    let ss = decode(scale)?.into_f64()?;
    let float_x = x.dtype().is_float();
    let zs: Option<Vec<f64>> = match zp {
        Some(z) if !float_x => {
            if z.dtype() != x.dtype() {
                bail!(
                    "zero point type {} differs from input type {}",
                    z.dtype(),
                    x.dtype()
                );
            }
            if z.len() != scale.len() {
                bail!(
                    "zero point shape {:?} differs from scale shape {:?}",
                    z.shape(),
                    scale.shape()
                );
            }
            Some(decode(z)?.into_f64()?)
        }
        Some(z) => {
            if decode(z)?.into_f64()?.iter().any(|&v| v != 0.0) {
                bail!("the zero point of a float input must be 0");
            }
            None
        }
        None => None,
    };
    let y: Vec<f64> = xs
        .iter()
        .enumerate()
        .map(|(i, &v)| {
            let p = idx.index(i);
            let d = match &zs {
                Some(z) => v - z[p],
                None => v,
            };
            let y = d * ss[p];
            if out_dt == DType::F64 {
                y
            } else {
                y as f32 as f64
            }
        })
        .collect();
    Ok(vec![Data::Tensor(encode(
        Vals::F(y),
        out_dt,
        x.shape(),
        Opts::default(),
    )?)])
}

/// The common static-quantization case without the general path's i128/f64 detour: f32
/// input and scale, u8 or i8 output. Bit-identical to the general path: an f32 division
/// equals the f64 division of the same operands rounded to f32, and for an 8-bit range
/// clamping before or after adding the zero point gives the same result.
fn quantize_f32_to_8bit(
    x: &Array,
    scale: &Array,
    zp: Option<&Array>,
    out_dt: DType,
    idx: &ParamIndex,
) -> Option<Array> {
    let (Array::F32(xa), Array::F32(sa)) = (x, scale) else {
        return None;
    };
    let ss: Vec<f32> = sa.iter().copied().collect();
    let zs: Vec<f32> = match zp {
        None => vec![0.0; ss.len()],
        Some(Array::U8(z)) if out_dt == DType::U8 => z.iter().map(|&v| v as f32).collect(),
        Some(Array::I8(z)) if out_dt == DType::I8 => z.iter().map(|&v| v as f32).collect(),
        Some(_) => return None,
    };
    if zs.len() != ss.len() {
        return None;
    }
    let (lo, hi) = match out_dt {
        DType::U8 => (0f32, 255f32),
        DType::I8 => (-128f32, 127f32),
        _ => return None,
    };
    let xc = xa.as_standard_layout();
    let xs = xc.as_slice()?;
    let q = |v: f32, p: usize| -> f32 {
        let r = round_even_f32(v / ss[p]);
        // NaN saturates to the low end, as in the general path.
        if r.is_nan() {
            lo
        } else {
            (r + zs[p]).clamp(lo, hi)
        }
    };
    let shape = IxDyn(xa.shape());
    if matches!(idx.mode, Mode::PerTensor) {
        // One scale: the loop the compiler vectorizes (activations between QDQ pairs,
        // quantized on every run of a QDQ model).
        let mut out = vec![0u8; xs.len()];
        quantize_per_tensor(xs, ss[0], zs[0], lo, hi, &mut out);
        return Some(match out_dt {
            DType::U8 => Array::U8(ArrayD::from_shape_vec(shape, out).ok()?),
            _ => Array::I8(
                ArrayD::from_shape_vec(shape, out.into_iter().map(|b| b as i8).collect()).ok()?,
            ),
        });
    }
    Some(match out_dt {
        DType::U8 => Array::U8(
            ArrayD::from_shape_vec(shape, map_params(xs, idx, |v, p| q(v, p) as u8)).ok()?,
        ),
        _ => Array::I8(
            ArrayD::from_shape_vec(shape, map_params(xs, idx, |v, p| q(v, p) as i8)).ok()?,
        ),
    })
}

/// Elements per parallel task of [`quantize_per_tensor`].
const QUANTIZE_CHUNK: usize = 1 << 15;

/// `x / scale`, rounded half to even, plus `zp`, clamped to `[lo, hi]` (NaN: `lo`), as the
/// byte of that integer (u8 or i8 two's complement): the same expressions as the per-axis
/// path, without bounds checks, branches or a saturating float-to-int cast, compiled for
/// AVX-512F and AVX2 as well as the baseline (no fused multiply-add is formed, so each
/// gives the same bits). Split over the rayon pool in fixed chunks.
fn quantize_per_tensor(xs: &[f32], scale: f32, zp: f32, lo: f32, hi: f32, out: &mut [u8]) {
    use rayon::prelude::*;
    if xs.len() <= QUANTIZE_CHUNK {
        quantize_serial(xs, scale, zp, lo, hi, out);
    } else {
        xs.par_chunks(QUANTIZE_CHUNK)
            .zip(out.par_chunks_mut(QUANTIZE_CHUNK))
            .for_each(|(x, o)| quantize_serial(x, scale, zp, lo, hi, o));
    }
}

#[allow(unsafe_code)] // calls the loop compiled for a feature only after detecting it
fn quantize_serial(xs: &[f32], scale: f32, zp: f32, lo: f32, hi: f32, out: &mut [u8]) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU has AVX-512F, the only feature the function is compiled for.
            unsafe { quantize_avx512(xs, scale, zp, lo, hi, out) };
            return;
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2, the only feature the function is compiled for.
            unsafe { quantize_avx2(xs, scale, zp, lo, hi, out) };
            return;
        }
    }
    quantize_loop(xs, scale, zp, lo, hi, out);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn quantize_avx512(xs: &[f32], scale: f32, zp: f32, lo: f32, hi: f32, out: &mut [u8]) {
    quantize_loop(xs, scale, zp, lo, hi, out);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn quantize_avx2(xs: &[f32], scale: f32, zp: f32, lo: f32, hi: f32, out: &mut [u8]) {
    quantize_loop(xs, scale, zp, lo, hi, out);
}

#[inline(always)]
fn quantize_loop(xs: &[f32], scale: f32, zp: f32, lo: f32, hi: f32, out: &mut [u8]) {
    // 1.5 · 2^23: an integer y with |y| < 2^22 is y + MAGIC's low mantissa bits.
    const MAGIC: f32 = 12_582_912.0;
    for (o, &v) in out.iter_mut().zip(xs) {
        let r = round_even_f32(v / scale);
        let y = if r.is_nan() {
            lo
        } else {
            (r + zp).clamp(lo, hi)
        };
        *o = (y + MAGIC).to_bits().wrapping_sub(MAGIC.to_bits()) as u8;
    }
}

/// The common dequantization case: u8, i8 or i32 input with an f32 scale and output, in the
/// same f64 arithmetic as the general path (so bit-identical) without its conversions.
fn dequantize_int_to_f32(
    x: &Array,
    scale: &Array,
    zp: Option<&Array>,
    idx: &ParamIndex,
) -> Option<Array> {
    let Array::F32(sa) = scale else {
        return None;
    };
    let ss: Vec<f64> = sa.iter().map(|&v| v as f64).collect();
    fn zeros<T: Copy + Into<f64>>(z: Option<&ArrayD<T>>, n: usize) -> Option<Vec<f64>> {
        match z {
            None => Some(vec![0.0; n]),
            Some(z) if z.len() == n => Some(z.iter().map(|&v| v.into()).collect()),
            Some(_) => None,
        }
    }
    fn run<T: Copy>(
        xa: &ArrayD<T>,
        ss: &[f64],
        zs: &[f64],
        idx: &ParamIndex,
        to_f32: impl Fn(T) -> f32,
    ) -> Option<Array> {
        let xc = xa.as_standard_layout();
        // The reference converts x to float32 first.
        let y = map_params(xc.as_slice()?, idx, |v, p| {
            ((to_f32(v) as f64 - zs[p]) * ss[p]) as f32
        });
        Some(Array::F32(
            ArrayD::from_shape_vec(IxDyn(xa.shape()), y).ok()?,
        ))
    }
    if matches!(idx.mode, Mode::PerTensor) {
        // One scale and 8-bit input: 256 possible results, each computed once by the same
        // expression and then looked up.
        fn table<T: Copy>(
            xa: &ArrayD<T>,
            s: f64,
            z: f64,
            byte: impl Fn(T) -> u8,
            value: impl Fn(u8) -> f32,
        ) -> Option<Array> {
            let t: [f32; 256] = std::array::from_fn(|b| ((value(b as u8) as f64 - z) * s) as f32);
            let xc = xa.as_standard_layout();
            let y: Vec<f32> = xc
                .as_slice()?
                .iter()
                .map(|&v| t[byte(v) as usize])
                .collect();
            ArrayD::from_shape_vec(IxDyn(xa.shape()), y)
                .ok()
                .map(Array::F32)
        }
        let s = *ss.first()?;
        match (x, zp) {
            (Array::U8(xa), Some(Array::U8(z))) => {
                return table(xa, s, zeros(Some(z), 1)?[0], |v| v, |b| b as f32);
            }
            (Array::U8(xa), None) => return table(xa, s, 0.0, |v| v, |b| b as f32),
            (Array::I8(xa), Some(Array::I8(z))) => {
                return table(
                    xa,
                    s,
                    zeros(Some(z), 1)?[0],
                    |v| v as u8,
                    |b| b as i8 as f32,
                );
            }
            (Array::I8(xa), None) => {
                return table(xa, s, 0.0, |v| v as u8, |b| b as i8 as f32);
            }
            _ => {}
        }
    }
    match (x, zp) {
        (Array::U8(xa), Some(Array::U8(z))) => {
            run(xa, &ss, &zeros(Some(z), ss.len())?, idx, |v| v as f32)
        }
        (Array::U8(xa), None) => run(xa, &ss, &zeros::<u8>(None, ss.len())?, idx, |v| v as f32),
        (Array::I8(xa), Some(Array::I8(z))) => {
            run(xa, &ss, &zeros(Some(z), ss.len())?, idx, |v| v as f32)
        }
        (Array::I8(xa), None) => run(xa, &ss, &zeros::<i8>(None, ss.len())?, idx, |v| v as f32),
        (Array::I32(xa), Some(Array::I32(z))) => {
            run(xa, &ss, &zeros(Some(z), ss.len())?, idx, |v| v as f32)
        }
        (Array::I32(xa), None) => run(xa, &ss, &zeros::<i32>(None, ss.len())?, idx, |v| v as f32),
        _ => None,
    }
}

pub fn dynamic_quantize_linear(ctx: &OpCtx<'_>) -> Result<Vec<Data>, KernelError> {
    let x = ctx.input(0)?;
    let Array::F32(xa) = x else {
        bail!("DynamicQuantizeLinear takes f32 input, not {}", x.dtype());
    };
    let max = xa.iter().copied().fold(0f32, f32::max);
    let min = xa.iter().copied().fold(0f32, f32::min);
    let scale = if max == min { 1.0 } else { max - min } / 255f32;
    let zp = (0f32 - min / scale).clamp(0.0, 255.0).round_ties_even();
    let y = xa.mapv(|v| {
        let q = (v / scale).round_ties_even() + zp;
        if q.is_nan() {
            0
        } else {
            q.clamp(0.0, 255.0) as u8
        }
    });
    Ok(vec![
        Data::Tensor(Array::U8(y)),
        Data::Tensor(Array::F32(ArrayD::from_elem(IxDyn(&[]), scale))),
        Data::Tensor(Array::U8(ArrayD::from_elem(IxDyn(&[]), zp as u8))),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The vectorized per-tensor quantizer gives the bytes ONNX's formula gives, computed
    /// here in f64 with `round_ties_even`: ties, negative zero points, NaN, infinities and
    /// values far outside the range, on lengths around every vector width and the chunk.
    #[test]
    fn per_tensor_quantizer_matches_the_formula() {
        let specials = [
            f32::NAN,
            f32::INFINITY,
            f32::NEG_INFINITY,
            1e30,
            -1e30,
            2.5,
            -2.5,
        ];
        for &(scale, zp, lo, hi) in &[(0.5f32, 128f32, 0f32, 255f32), (0.02, -3.0, -128.0, 127.0)] {
            for len in [0usize, 1, 7, 15, 16, 17, 63, 64, 65, QUANTIZE_CHUNK + 3] {
                let xs: Vec<f32> = (0..len)
                    .map(|i| match i % 11 {
                        k @ 0..=6 => specials[k],
                        _ => (i as f32 * 0.37).sin() * 90.0 * scale,
                    })
                    .collect();
                let mut out = vec![0u8; len];
                quantize_per_tensor(&xs, scale, zp, lo, hi, &mut out);
                for (i, (&x, &b)) in xs.iter().zip(&out).enumerate() {
                    let r = ((x / scale) as f64).round_ties_even();
                    let want = if r.is_nan() {
                        lo as f64
                    } else {
                        (r + zp as f64).clamp(lo as f64, hi as f64)
                    };
                    let got = if lo < 0.0 { b as i8 as f64 } else { b as f64 };
                    assert_eq!(got, want, "x = {x} at {i} of {len}");
                }
            }
        }
    }

    #[test]
    fn blocked_index_with_remainder_block() {
        // x: [2, 5], blocks of 2 along axis 1 -> scale [2, 3].
        let idx = ParamIndex::new(&[2, 5], &[2, 3], 1, 2).unwrap();
        let got: Vec<usize> = (0..10).map(|i| idx.index(i)).collect();
        assert_eq!(got, vec![0, 0, 1, 1, 2, 3, 3, 4, 4, 5]);
        assert!(ParamIndex::new(&[2, 5], &[2, 2], 1, 2).is_err());
        assert!(ParamIndex::new(&[2, 5], &[3], 1, 0).is_err());
    }

    #[test]
    fn saturation_and_ties() {
        assert_eq!(saturate_int(2.5, (0, 255)), 2);
        assert_eq!(saturate_int(-3.5, (-8, 7)), -4);
        assert_eq!(saturate_int(1e30, (-8, 7)), 7);
        assert_eq!(saturate_int(f64::NAN, (0, 255)), 0);
    }
}
