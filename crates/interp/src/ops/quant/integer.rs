//! Integer matrix products and convolutions: MatMulInteger (opset 10), QLinearMatMul
//! (opsets 10, 21), ConvInteger (opset 10) and QLinearConv (opset 10).
//!
//! MatMulInteger: `(A - a_zero_point) @ (B - b_zero_point)` in int32, numpy matmul
//! broadcasting; zero points per tensor, per row of A (`[M]`) or per column of B (`[N]`).
//! QLinearMatMul: the same product rescaled by `a_scale * b_scale / y_scale`, rounded half to
//! even, plus `y_zero_point`, saturated to the output type (that of `y_zero_point`).
//! ConvInteger / QLinearConv: convolution (attributes `auto_pad`, `dilations`, `group`,
//! `kernel_shape`, `pads`, `strides`) of zero-point-shifted integers; QLinearConv adds the
//! int32 bias `B` and rescales by `x_scale * w_scale / y_scale` (w_scale per output channel
//! or per tensor). Products are computed exactly in f64 GEMMs (exact below 2^53).

use crate::ops::elem::mat_mul;
use modelc_ir::{Attrs, DType};
use ndarray::{ArrayView2, ArrayViewMut2};

use super::convert::{decode, encode, Opts, Vals};
use super::qdq::{int_range, round_to, saturate_int};
use crate::ops::util::{broadcast_shapes, one};
use crate::{bail, Array, Data, KernelError, OpCtx};

use crate::ops::elem::MAX_ELEMS as MAX_ELEMENTS;

fn ints_f64(a: &Array, what: &str) -> Result<Vec<f64>, KernelError> {
    match decode(a)? {
        Vals::I(v) => Ok(v.into_iter().map(|i| i as f64).collect()),
        _ => bail!("{what} must be an integer tensor, not {}", a.dtype()),
    }
}

fn floats(a: &Array) -> Result<Vec<f64>, KernelError> {
    decode(a)?.into_f64()
}

/// numpy `matmul` of f64 buffers; returns the values and the output shape.
pub fn matmul(
    a: &[f64],
    ashape: &[usize],
    b: &[f64],
    bshape: &[usize],
) -> Result<(Vec<f64>, Vec<usize>), KernelError> {
    if ashape.is_empty() || bshape.is_empty() {
        bail!("MatMul inputs must have rank at least 1");
    }
    let a2: Vec<usize> = if ashape.len() == 1 {
        vec![1, ashape[0]]
    } else {
        ashape.to_vec()
    };
    let b2: Vec<usize> = if bshape.len() == 1 {
        vec![bshape[0], 1]
    } else {
        bshape.to_vec()
    };
    let (m, k) = (a2[a2.len() - 2], a2[a2.len() - 1]);
    let (k2, n) = (b2[b2.len() - 2], b2[b2.len() - 1]);
    if k != k2 {
        bail!("MatMul shapes {ashape:?} and {bshape:?} do not match");
    }
    let batch = broadcast_shapes(&a2[..a2.len() - 2], &b2[..b2.len() - 2])?;
    let nb: usize = batch.iter().product();
    let total = nb
        .checked_mul(m)
        .and_then(|v| v.checked_mul(n))
        .filter(|&t| t <= MAX_ELEMENTS)
        .ok_or_else(|| KernelError::new("MatMul output is too large"))?;
    let mut out = vec![0f64; total];
    let abatch = &a2[..a2.len() - 2];
    let bbatch = &b2[..b2.len() - 2];
    let offset = |idx: usize, shape: &[usize]| -> usize {
        // Flat batch index in `batch` to the broadcast source's flat batch index.
        let mut rem = idx;
        let mut src = 0;
        let mut stride = 1;
        for (i, &d) in batch.iter().enumerate().rev() {
            let c = rem % d.max(1);
            rem /= d.max(1);
            let j = i as isize - (batch.len() as isize - shape.len() as isize);
            if j >= 0 {
                let sd = shape[j as usize];
                src += if sd == 1 { 0 } else { c } * stride;
                stride *= sd;
            }
        }
        src
    };
    for bi in 0..nb {
        let ao = offset(bi, abatch) * m * k;
        let bo = offset(bi, bbatch) * k * n;
        let av = ArrayView2::from_shape((m, k), &a[ao..ao + m * k])?;
        let bv = ArrayView2::from_shape((k, n), &b[bo..bo + k * n])?;
        let mut cv = ArrayViewMut2::from_shape((m, n), &mut out[bi * m * n..(bi + 1) * m * n])?;
        mat_mul(1.0, av, bv, 0.0, cv.view_mut());
    }
    let mut shape = batch;
    if ashape.len() > 1 {
        shape.push(m);
    }
    if bshape.len() > 1 {
        shape.push(n);
    }
    Ok((out, shape))
}

/// Subtracts a zero point: per tensor (one element) or along `dim` of `shape`.
fn sub_zp(
    v: &mut [f64],
    shape: &[usize],
    zp: Option<&Array>,
    dim: usize,
) -> Result<(), KernelError> {
    let Some(z) = zp else { return Ok(()) };
    let zs = ints_f64(z, "zero point")?;
    if zs.len() == 1 {
        v.iter_mut().for_each(|x| *x -= zs[0]);
        return Ok(());
    }
    if shape.len() <= dim || shape[dim] != zs.len() {
        bail!(
            "zero point of shape {:?} does not match input shape {shape:?}",
            z.shape()
        );
    }
    let inner: usize = shape[dim + 1..].iter().product();
    for (i, x) in v.iter_mut().enumerate() {
        *x -= zs[(i / inner.max(1)) % zs.len()];
    }
    Ok(())
}

fn to_i32(v: &[f64], shape: &[usize]) -> Result<Array, KernelError> {
    let ints: Vec<i128> = v.iter().map(|&x| x as i32 as i128).collect();
    if v.iter()
        .any(|&x| x > i32::MAX as f64 || x < i32::MIN as f64)
    {
        bail!("int32 overflow in the integer product");
    }
    encode(Vals::I(ints), DType::I32, shape, Opts::default())
}

fn check_8bit(a: &Array, what: &str) -> Result<(), KernelError> {
    if !matches!(a.dtype(), DType::U8 | DType::I8) {
        bail!("{what} must be u8 or i8, not {}", a.dtype());
    }
    Ok(())
}

pub fn matmul_integer(ctx: &OpCtx<'_>) -> Result<Vec<Data>, KernelError> {
    let a = ctx.input(0)?;
    let b = ctx.input(1)?;
    check_8bit(a, "A")?;
    check_8bit(b, "B")?;
    let mut av = ints_f64(a, "A")?;
    let mut bv = ints_f64(b, "B")?;
    let (ash, bsh) = (a.shape(), b.shape());
    sub_zp(&mut av, ash, ctx.opt_input(2)?, ash.len().saturating_sub(2))?;
    sub_zp(&mut bv, bsh, ctx.opt_input(3)?, bsh.len().saturating_sub(1))?;
    let (out, shape) = matmul(&av, ash, &bv, bsh)?;
    one(to_i32(&out, &shape)?)
}

/// Rescales int32 accumulators with a per-element multiplier and saturates to `out_dt`.
fn requantize(
    acc: &[f64],
    mult: impl Fn(usize) -> f64,
    y_zp: Option<&Array>,
    out_dt: DType,
    shape: &[usize],
) -> Result<Array, KernelError> {
    let range =
        int_range(out_dt).ok_or_else(|| KernelError::new(format!("cannot produce {out_dt}")))?;
    let zp = match y_zp {
        Some(z) => {
            let v = ints_f64(z, "y_zero_point")?;
            if v.len() != 1 {
                bail!("y_zero_point must have one element");
            }
            v[0]
        }
        None => 0.0,
    };
    let out: Vec<i128> = acc
        .iter()
        .enumerate()
        .map(|(i, &c)| saturate_int(c * mult(i) + zp, range))
        .collect();
    encode(Vals::I(out), out_dt, shape, Opts::default())
}

fn scalar(a: &Array, what: &str) -> Result<f64, KernelError> {
    let v = floats(a)?;
    if v.len() != 1 {
        bail!("{what} must have one element, has {}", v.len());
    }
    Ok(v[0])
}

pub fn qlinear_matmul(ctx: &OpCtx<'_>) -> Result<Vec<Data>, KernelError> {
    let a = ctx.input(0)?;
    let a_scale = ctx.input(1)?;
    let b = ctx.input(3)?;
    let b_scale = ctx.input(4)?;
    let y_scale = ctx.input(6)?;
    let y_zp = ctx.opt_input(7)?;
    check_8bit(a, "a")?;
    check_8bit(b, "b")?;
    let mut av = ints_f64(a, "a")?;
    let mut bv = ints_f64(b, "b")?;
    let (ash, bsh) = (a.shape(), b.shape());
    sub_zp(&mut av, ash, ctx.opt_input(2)?, ash.len().saturating_sub(2))?;
    sub_zp(&mut bv, bsh, ctx.opt_input(5)?, bsh.len().saturating_sub(1))?;
    let (acc, shape) = matmul(&av, ash, &bv, bsh)?;
    let st = a_scale.dtype();
    let asv = floats(a_scale)?;
    let bsv = floats(b_scale)?;
    let ys = scalar(y_scale, "y_scale")?;
    let m = if ash.len() > 1 { ash[ash.len() - 2] } else { 1 };
    let rows = m;
    let out_cols = if bsh.len() > 1 { bsh[bsh.len() - 1] } else { 1 };
    if asv.len() != 1 && asv.len() != m {
        bail!("a_scale must have 1 or {m} elements");
    }
    if bsv.len() != 1 && bsv.len() != out_cols {
        bail!("b_scale must have 1 or {out_cols} elements");
    }
    let out_dt = y_zp.map_or(a.dtype(), |z| z.dtype());
    let mult = |i: usize| {
        let col = i % out_cols;
        let row = (i / out_cols) % rows;
        let s_a = asv[if asv.len() == 1 { 0 } else { row }];
        let s_b = bsv[if bsv.len() == 1 { 0 } else { col }];
        round_to(st, round_to(st, s_a * s_b) / ys)
    };
    one(requantize(&acc, mult, y_zp, out_dt, &shape)?)
}

/// Convolution geometry from the node's attributes and the input / weight shapes.
pub(crate) struct Conv {
    pub n: usize,
    pub c: usize,
    pub m: usize,
    pub group: usize,
    pub in_sp: Vec<usize>,
    pub k: Vec<usize>,
    pub strides: Vec<usize>,
    pub dil: Vec<usize>,
    pub pad_begin: Vec<usize>,
    pub out_sp: Vec<usize>,
}

fn to_usizes(v: &[i64], what: &str) -> Result<Vec<usize>, KernelError> {
    v.iter()
        .map(|&x| usize::try_from(x).map_err(|_| KernelError::new(format!("negative {what}"))))
        .collect()
}

impl Conv {
    pub(crate) fn new(attrs: &Attrs, xs: &[usize], ws: &[usize]) -> Result<Conv, KernelError> {
        if xs.len() < 3 || ws.len() != xs.len() {
            bail!("Conv input shape {xs:?} and weight shape {ws:?} do not match");
        }
        let nsp = xs.len() - 2;
        let group = attrs.int("group", 1)?;
        if group < 1 {
            bail!("group must be positive");
        }
        let group = group as usize;
        let (n, c, m) = (xs[0], xs[1], ws[0]);
        if c % group != 0 || m % group != 0 || ws[1].checked_mul(group) != Some(c) {
            bail!("channels do not match: input {xs:?}, weight {ws:?}, group {group}");
        }
        let k = ws[2..].to_vec();
        if let Some(ks) = attrs
            .get("kernel_shape")
            .map(|_| attrs.ints("kernel_shape", vec![]))
        {
            if to_usizes(&ks?, "kernel_shape")? != k {
                bail!("kernel_shape does not match the weight shape {ws:?}");
            }
        }
        let ones = vec![1i64; nsp];
        let strides = to_usizes(&attrs.ints("strides", ones.clone())?, "strides")?;
        let dil = to_usizes(&attrs.ints("dilations", ones)?, "dilations")?;
        if strides.len() != nsp || dil.len() != nsp || strides.contains(&0) || dil.contains(&0) {
            bail!("strides / dilations must have {nsp} positive values");
        }
        let in_sp = xs[2..].to_vec();
        let auto_pad = attrs.string("auto_pad", "NOTSET")?;
        let mut pad_begin = vec![0; nsp];
        let mut out_sp = vec![0; nsp];
        let pads = to_usizes(&attrs.ints("pads", vec![0; 2 * nsp])?, "pads")?;
        if pads.len() != 2 * nsp {
            bail!("pads must have {} values", 2 * nsp);
        }
        for i in 0..nsp {
            let ek = (k[i].saturating_sub(1))
                .checked_mul(dil[i])
                .and_then(|v| v.checked_add(1))
                .ok_or_else(|| KernelError::new("kernel too large"))?;
            match auto_pad.as_str() {
                "SAME_UPPER" | "SAME_LOWER" => {
                    let out = in_sp[i].div_ceil(strides[i]);
                    let total = out
                        .saturating_sub(1)
                        .saturating_mul(strides[i])
                        .saturating_add(ek)
                        .saturating_sub(in_sp[i]);
                    pad_begin[i] = if auto_pad == "SAME_UPPER" {
                        total / 2
                    } else {
                        total - total / 2
                    };
                    out_sp[i] = out;
                }
                "VALID" => {
                    if in_sp[i] < ek {
                        bail!("kernel larger than the input");
                    }
                    out_sp[i] = (in_sp[i] - ek) / strides[i] + 1;
                }
                "NOTSET" | "" => {
                    let padded = in_sp[i]
                        .checked_add(pads[i])
                        .and_then(|v| v.checked_add(pads[i + nsp]))
                        .ok_or_else(|| KernelError::new("pads too large"))?;
                    if padded < ek {
                        bail!("kernel larger than the padded input");
                    }
                    pad_begin[i] = pads[i];
                    out_sp[i] = (padded - ek) / strides[i] + 1;
                }
                other => bail!("unknown auto_pad `{other}`"),
            }
        }
        Ok(Conv {
            n,
            c,
            m,
            group,
            in_sp,
            k,
            strides,
            dil,
            pad_begin,
            out_sp,
        })
    }

    /// Convolves (im2col + GEMM); returns `[N, M, out...]` values.
    fn run(&self, x: &[f64], w: &[f64]) -> Result<(Vec<f64>, Vec<usize>), KernelError> {
        let cg = self.c / self.group;
        let mg = self.m / self.group;
        let ksz: usize = self.k.iter().product();
        let osz = self
            .out_sp
            .iter()
            .try_fold(1usize, |a, &b| a.checked_mul(b))
            .ok_or_else(|| KernelError::new("Conv output is too large"))?;
        let isz: usize = self.in_sp.iter().product();
        let rows = cg * ksz;
        let total = self
            .n
            .checked_mul(self.m)
            .and_then(|v| v.checked_mul(osz))
            .filter(|&t| t <= MAX_ELEMENTS)
            .ok_or_else(|| KernelError::new("Conv output is too large"))?;
        if rows.checked_mul(osz).is_none_or(|t| t > MAX_ELEMENTS) {
            bail!("Conv is too large");
        }
        let nsp = self.k.len();
        // For each (kernel position, output position): the input offset, or None (padding).
        let mut col = vec![0f64; rows * osz];
        let mut out = vec![0f64; total];
        let mut kidx = vec![0usize; nsp];
        let mut oidx = vec![0usize; nsp];
        let mut offsets: Vec<Option<usize>> = Vec::with_capacity(ksz * osz);
        for kp in 0..ksz {
            unravel(kp, &self.k, &mut kidx);
            for op in 0..osz {
                unravel(op, &self.out_sp, &mut oidx);
                let mut off = 0usize;
                let mut inside = true;
                for d in 0..nsp {
                    let pos = (oidx[d] * self.strides[d] + kidx[d] * self.dil[d]) as isize
                        - self.pad_begin[d] as isize;
                    if pos < 0 || pos as usize >= self.in_sp[d] {
                        inside = false;
                        break;
                    }
                    off = off * self.in_sp[d] + pos as usize;
                }
                offsets.push(inside.then_some(off));
            }
        }
        for b in 0..self.n {
            for g in 0..self.group {
                for ci in 0..cg {
                    let xbase = (b * self.c + g * cg + ci) * isz;
                    for kp in 0..ksz {
                        let row = (ci * ksz + kp) * osz;
                        for op in 0..osz {
                            col[row + op] = match offsets[kp * osz + op] {
                                Some(o) => x[xbase + o],
                                None => 0.0,
                            };
                        }
                    }
                }
                let wv =
                    ArrayView2::from_shape((mg, rows), &w[g * mg * rows..(g + 1) * mg * rows])?;
                let cv = ArrayView2::from_shape((rows, osz), &col[..])?;
                let ob = (b * self.m + g * mg) * osz;
                let mut ov = ArrayViewMut2::from_shape((mg, osz), &mut out[ob..ob + mg * osz])?;
                mat_mul(1.0, wv, cv, 0.0, ov.view_mut());
            }
        }
        let mut shape = vec![self.n, self.m];
        shape.extend_from_slice(&self.out_sp);
        Ok((out, shape))
    }
}

fn unravel(mut i: usize, shape: &[usize], idx: &mut [usize]) {
    for d in (0..shape.len()).rev() {
        idx[d] = i % shape[d];
        i /= shape[d];
    }
}

/// Shifts x by its (scalar) zero point and w by a per-tensor or per-output-channel one.
fn shifted_inputs(
    x: &Array,
    x_zp: Option<&Array>,
    w: &Array,
    w_zp: Option<&Array>,
) -> Result<(Vec<f64>, Vec<f64>), KernelError> {
    check_8bit(x, "x")?;
    check_8bit(w, "w")?;
    let mut xv = ints_f64(x, "x")?;
    let mut wv = ints_f64(w, "w")?;
    if let Some(z) = x_zp {
        if z.len() != 1 {
            bail!("x_zero_point must have one element");
        }
    }
    sub_zp(&mut xv, x.shape(), x_zp, 0)?;
    sub_zp(&mut wv, w.shape(), w_zp, 0)?;
    Ok((xv, wv))
}

pub fn conv_integer(ctx: &OpCtx<'_>) -> Result<Vec<Data>, KernelError> {
    let x = ctx.input(0)?;
    let w = ctx.input(1)?;
    let (xv, wv) = shifted_inputs(x, ctx.opt_input(2)?, w, ctx.opt_input(3)?)?;
    let conv = Conv::new(ctx.attrs(), x.shape(), w.shape())?;
    let (out, shape) = conv.run(&xv, &wv)?;
    one(to_i32(&out, &shape)?)
}

pub fn qlinear_conv(ctx: &OpCtx<'_>) -> Result<Vec<Data>, KernelError> {
    let x = ctx.input(0)?;
    let x_scale = ctx.input(1)?;
    let w = ctx.input(3)?;
    let w_scale = ctx.input(4)?;
    let y_scale = ctx.input(6)?;
    let y_zp = ctx.opt_input(7)?;
    let (xv, wv) = shifted_inputs(x, ctx.opt_input(2)?, w, ctx.opt_input(5)?)?;
    let conv = Conv::new(ctx.attrs(), x.shape(), w.shape())?;
    let (mut acc, shape) = conv.run(&xv, &wv)?;
    let osz: usize = shape[2..].iter().product();
    let m = conv.m;
    if let Some(bias) = ctx.opt_input(8)? {
        let bv = ints_f64(bias, "B")?;
        if bv.len() != m {
            bail!("B must have {m} elements");
        }
        for (i, v) in acc.iter_mut().enumerate() {
            *v += bv[(i / osz.max(1)) % m];
        }
    }
    let st = x_scale.dtype();
    let xs = scalar(x_scale, "x_scale")?;
    let wsv = floats(w_scale)?;
    if wsv.len() != 1 && wsv.len() != m {
        bail!("w_scale must have 1 or {m} elements");
    }
    let ys = scalar(y_scale, "y_scale")?;
    let out_dt = y_zp.map_or(x.dtype(), |z| z.dtype());
    let mult = |i: usize| {
        let ch = (i / osz.max(1)) % m;
        let s_w = wsv[if wsv.len() == 1 { 0 } else { ch }];
        round_to(st, round_to(st, xs * s_w) / ys)
    };
    one(requantize(&acc, mult, y_zp, out_dt, &shape)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broadcast_batched_matmul() {
        // a: [2, 1, 2], b: [2, 1] -> [2, 1, 1]
        let (v, s) = matmul(&[1., 2., 3., 4.], &[2, 1, 2], &[5., 6.], &[2, 1]).unwrap();
        assert_eq!(s, vec![2, 1, 1]);
        assert_eq!(v, vec![17., 39.]);
        let (v, s) = matmul(&[1., 2.], &[2], &[1., 2., 3., 4.], &[2, 2]).unwrap();
        assert_eq!(s, vec![2]);
        assert_eq!(v, vec![7., 10.]);
        assert!(matmul(&[1., 2.], &[2], &[1., 2., 3.], &[3]).is_err());
    }
}
