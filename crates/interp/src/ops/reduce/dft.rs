//! DFT (opsets 17, 20) and STFT (opset 17): discrete Fourier transforms of real
//! (`[..., 1]`) or complex (`[..., 2]`, interleaved real and imaginary) signals.
//!
//! DFT: along `axis` (opset 17: attribute, default 1; opset 20: optional input 2, default
//! −2; never the last, complex axis) with length `dft_length` (optional input 1; the
//! signal is zero-padded or truncated to it; default the axis length, or `2 (n − 1)` for
//! an inverse one-sided transform). `inverse` (0) computes the inverse transform (scaled
//! by 1/length); `onesided` (0) keeps the first `length/2 + 1` bins of a forward transform,
//! and for an inverse one makes it a real inverse (numpy `irfft`: Hermitian input,
//! real output `[..., 1]`). Output complex `[..., 2]` otherwise.
//!
//! STFT: `signal [batch, length, 1|2]`, `frame_step` (scalar), optional `window`
//! (`[window_length]`, default ones) and `frame_length` (default the window length, or the
//! signal length); `frames = 1 + (length − frame_length) / frame_step`; each frame,
//! multiplied by the window, is transformed with length `frame_length`; `onesided` (1)
//! keeps `frame_length/2 + 1` bins. Output `[batch, frames, bins, 2]`.
//!
//! Computed in f64 with an exact twiddle table: a radix-2 FFT for power-of-two lengths
//! (from 8), the direct O(n·length) sum otherwise. Float types.

use std::f64::consts::PI;

use ndarray::{ArrayD, Axis, IxDyn};

use crate::ops::elem::{checked_count, float_dispatch, Real};
use crate::ops::util::one;
use crate::{bail, Array, Data, KernelError, OpCtx};

/// The longest transform computed (the direct transform is quadratic in it).
const MAX_DFT_LEN: i64 = 1 << 20;

/// `cos` and `sin` of `2π j / len` for `j in 0..len`.
fn twiddles(len: usize) -> (Vec<f64>, Vec<f64>) {
    (0..len)
        .map(|j| {
            let t = 2.0 * PI * j as f64 / len as f64;
            (t.cos(), t.sin())
        })
        .unzip()
}

/// Lengths from which a power of two is transformed by the radix-2 FFT.
const FFT_MIN: usize = 8;

/// In-place iterative radix-2 FFT of a power-of-two length (`tw` the twiddles of that
/// length); `sign` −1 forward, +1 inverse (unscaled).
fn fft_inplace(re: &mut [f64], im: &mut [f64], tw: &(Vec<f64>, Vec<f64>), sign: f64) {
    let n = re.len();
    let bits = n.trailing_zeros();
    for i in 0..n {
        let j = i.reverse_bits() >> (usize::BITS - bits);
        if j > i {
            re.swap(i, j);
            im.swap(i, j);
        }
    }
    let mut size = 2;
    while size <= n {
        let half = size / 2;
        let step = n / size;
        for start in (0..n).step_by(size) {
            for j in 0..half {
                let (c, s) = (tw.0[j * step], sign * tw.1[j * step]);
                let (a, b) = (start + j, start + j + half);
                let tr = re[b] * c - im[b] * s;
                let ti = re[b] * s + im[b] * c;
                re[b] = re[a] - tr;
                im[b] = im[a] - ti;
                re[a] += tr;
                im[a] += ti;
            }
        }
        size *= 2;
    }
}

fn use_fft(len: usize) -> bool {
    len >= FFT_MIN && len.is_power_of_two()
}

/// The first `bins` coefficients of the length-`len` transform of `(re, im)` (zero-padded
/// or truncated to `len`); the inverse transform divides by `len`.
#[allow(clippy::too_many_arguments)]
fn dft_lane(
    re: &[f64],
    im: &[f64],
    len: usize,
    bins: usize,
    inverse: bool,
    tw: &(Vec<f64>, Vec<f64>),
    out_re: &mut [f64],
    out_im: &mut [f64],
) {
    let n = re.len().min(len);
    let sign = if inverse { 1.0 } else { -1.0 };
    if use_fft(len) {
        let (mut br, mut bi) = (vec![0.0; len], vec![0.0; len]);
        br[..n].copy_from_slice(&re[..n]);
        bi[..n].copy_from_slice(&im[..n]);
        fft_inplace(&mut br, &mut bi, tw, sign);
        let scale = if inverse { 1.0 / len as f64 } else { 1.0 };
        for k in 0..bins {
            out_re[k] = br[k] * scale;
            out_im[k] = bi[k] * scale;
        }
        return;
    }
    for k in 0..bins {
        let (mut sr, mut si) = (0.0, 0.0);
        for t in 0..n {
            let j = ((k as u64 * t as u64) % len as u64) as usize;
            let (c, s) = (tw.0[j], sign * tw.1[j]);
            sr += re[t] * c - im[t] * s;
            si += re[t] * s + im[t] * c;
        }
        if inverse {
            sr /= len as f64;
            si /= len as f64;
        }
        out_re[k] = sr;
        out_im[k] = si;
    }
}

/// numpy `irfft`: the real length-`len` signal whose one-sided spectrum is `(re, im)`.
fn irfft_lane(re: &[f64], im: &[f64], len: usize, tw: &(Vec<f64>, Vec<f64>), out: &mut [f64]) {
    let half = len / 2;
    let get = |k: usize| -> (f64, f64) {
        if k < re.len() {
            (re[k], im[k])
        } else {
            (0.0, 0.0)
        }
    };
    if use_fft(len) {
        // The Hermitian extension (imaginary parts of bins 0 and len/2 ignored, as numpy
        // does), transformed back.
        let (mut br, mut bi) = (vec![0.0; len], vec![0.0; len]);
        for k in 0..=half {
            let (xr, xi) = get(k);
            br[k] = xr;
            bi[k] = if k == 0 || k == half { 0.0 } else { xi };
            if k > 0 && k < half {
                br[len - k] = xr;
                bi[len - k] = -xi;
            }
        }
        fft_inplace(&mut br, &mut bi, tw, 1.0);
        for (o, v) in out.iter_mut().zip(&br) {
            *o = v / len as f64;
        }
        return;
    }
    for (t, o) in out.iter_mut().enumerate().take(len) {
        let mut s = get(0).0;
        for k in 1..=half {
            let (xr, xi) = get(k);
            let j = ((k as u64 * t as u64) % len as u64) as usize;
            let (c, sn) = (tw.0[j], tw.1[j]);
            let v = xr * c - xi * sn;
            if len.is_multiple_of(2) && k == half {
                s += xr * c;
            } else {
                s += 2.0 * v;
            }
        }
        *o = s / len as f64;
    }
}

/// Splits `[..., 1|2]` into real and imaginary parts of shape `[...]`.
fn split_complex<T: Real>(x: &Array) -> Result<(ArrayD<f64>, ArrayD<f64>), KernelError> {
    let x = T::cow(x)?;
    let r = x.ndim();
    if r < 2 {
        bail!("signal must have rank at least 2, got {r}");
    }
    let c = x.shape()[r - 1];
    let re = x.index_axis(Axis(r - 1), 0).mapv(|v| v.as_f64());
    let im = match c {
        1 => ArrayD::zeros(re.raw_dim()),
        2 => x.index_axis(Axis(r - 1), 1).mapv(|v| v.as_f64()),
        _ => bail!("the last dimension of the signal must be 1 or 2, got {c}"),
    };
    Ok((re, im))
}

/// Stacks real (and imaginary) parts into `[..., 1]` or `[..., 2]`.
fn join<T: Real>(
    re: ArrayD<f64>,
    im: Option<ArrayD<f64>>,
    dtype: modelc_ir::DType,
) -> Result<Array, KernelError> {
    let r = re.ndim();
    let mut parts = vec![re.insert_axis(Axis(r))];
    if let Some(im) = im {
        parts.push(im.insert_axis(Axis(r)));
    }
    let views: Vec<_> = parts.iter().map(|p| p.view()).collect();
    let last = views[0].ndim() - 1;
    let out = ndarray::concatenate(Axis(last), &views)?;
    let out = out.mapv(T::c).as_standard_layout().into_owned();
    T::wrap(out, dtype)
}

/// Applies `f(re_lane, im_lane, out_re_lane, out_im_lane)` along `axis`, whose length
/// becomes `m`.
fn lanes(
    re: &ArrayD<f64>,
    im: &ArrayD<f64>,
    axis: usize,
    m: usize,
    mut f: impl FnMut(&[f64], &[f64], &mut [f64], &mut [f64]),
) -> Result<(ArrayD<f64>, ArrayD<f64>), KernelError> {
    let rank = re.ndim();
    let mut perm: Vec<usize> = (0..rank).filter(|&i| i != axis).collect();
    perm.push(axis);
    let mut inv = vec![0; rank];
    for (i, &p) in perm.iter().enumerate() {
        inv[p] = i;
    }
    let pr = re.view().permuted_axes(IxDyn(&perm));
    let pr = pr.as_standard_layout();
    let pi = im.view().permuted_axes(IxDyn(&perm));
    let pi = pi.as_standard_layout();
    let n = re.shape()[axis];
    let mut out_shape: Vec<usize> = perm.iter().map(|&p| re.shape()[p]).collect();
    out_shape[rank - 1] = m;
    let count = checked_count(&out_shape)?;
    let outer = count.checked_div(m).unwrap_or(0);
    let mut or = vec![0.0; count];
    let mut oi = vec![0.0; count];
    let (sr, si) = match (pr.as_slice(), pi.as_slice()) {
        (Some(a), Some(b)) => (a, b),
        _ => bail!("internal: array not contiguous"),
    };
    for o in 0..outer {
        let (a, b) = if n == 0 {
            (&[][..], &[][..])
        } else {
            (&sr[o * n..(o + 1) * n], &si[o * n..(o + 1) * n])
        };
        let (x, y) = (&mut or[o * m..(o + 1) * m], &mut oi[o * m..(o + 1) * m]);
        f(a, b, x, y);
    }
    let or = ArrayD::from_shape_vec(IxDyn(&out_shape), or)?.permuted_axes(IxDyn(&inv));
    let oi = ArrayD::from_shape_vec(IxDyn(&out_shape), oi)?.permuted_axes(IxDyn(&inv));
    Ok((or, oi))
}

fn scalar_int(a: &Array, what: &str) -> Result<i64, KernelError> {
    match a.to_i64_vec()?.as_slice() {
        [v] => Ok(*v),
        _ => bail!("{what} must be a scalar"),
    }
}

fn dft_run<T: Real>(ctx: &OpCtx<'_>) -> Result<Vec<Data>, KernelError> {
    let x_in = ctx.input(0)?;
    let rank = x_in.shape().len() as i64;
    let attrs = ctx.attrs();
    let inverse = attrs.int("inverse", 0)? != 0;
    let onesided = attrs.int("onesided", 0)? != 0;
    let axis = if ctx.opset >= 20 {
        match ctx.opt_input(2)? {
            Some(a) => scalar_int(a, "axis")?,
            None => -2,
        }
    } else {
        attrs.int("axis", 1)?
    };
    if axis < -rank || axis >= rank - 1 || (axis < 0 && axis + rank >= rank - 1) {
        bail!("axis {axis} is out of range for a signal of rank {rank}");
    }
    let axis = if axis < 0 { axis + rank } else { axis } as usize;
    let (re, im) = split_complex::<T>(x_in)?;
    let n = re.shape()[axis];
    let len = match ctx.opt_input(1)? {
        Some(l) => {
            let l = scalar_int(l, "dft_length")?;
            if l <= 0 || l > MAX_DFT_LEN {
                bail!("dft_length {l} is out of range (1..={MAX_DFT_LEN})");
            }
            l as usize
        }
        None if inverse && onesided => {
            if n == 0 {
                bail!("an inverse one-sided DFT needs at least one bin");
            }
            2 * (n - 1)
        }
        None => n,
    };
    if len as u64 > MAX_DFT_LEN as u64 {
        bail!("DFT length {len} exceeds {MAX_DFT_LEN}");
    }
    if len == 0 {
        bail!("the DFT length is 0");
    }
    let tw = twiddles(len);
    let dtype = x_in.dtype();
    if inverse && onesided {
        let (y, _) = lanes(&re, &im, axis, len, |a, b, o, _| {
            let keep = (len / 2 + 1).min(a.len());
            irfft_lane(&a[..keep], &b[..keep], len, &tw, o)
        })?;
        return one(join::<T>(y, None, dtype)?);
    }
    let bins = if onesided && !inverse {
        len / 2 + 1
    } else {
        len
    };
    let (yr, yi) = lanes(&re, &im, axis, bins, |a, b, o, p| {
        dft_lane(a, b, len, bins, inverse, &tw, o, p)
    })?;
    one(join::<T>(yr, Some(yi), dtype)?)
}

pub fn dft(ctx: &OpCtx<'_>) -> Result<Vec<Data>, KernelError> {
    float_dispatch!(ctx.input(0)?.dtype(), dft_run(ctx))
}

fn stft_run<T: Real>(ctx: &OpCtx<'_>) -> Result<Vec<Data>, KernelError> {
    let x_in = ctx.input(0)?;
    if x_in.shape().len() != 3 {
        bail!(
            "signal must be [batch, length, 1|2], got {:?}",
            x_in.shape()
        );
    }
    let (re, im) = split_complex::<T>(x_in)?;
    let (batch, length) = (re.shape()[0], re.shape()[1]);
    let step = scalar_int(ctx.input(1)?, "frame_step")?;
    if step <= 0 {
        bail!("frame_step must be positive, got {step}");
    }
    let step = step as usize;
    let window: Option<Vec<f64>> = match ctx.opt_input(2)? {
        Some(w) => {
            if w.shape().len() != 1 {
                bail!("window must be 1-D");
            }
            Some(T::cow(w)?.iter().map(|v| v.as_f64()).collect())
        }
        None => None,
    };
    let frame_length = match ctx.opt_input(3)? {
        Some(f) => {
            let f = scalar_int(f, "frame_length")?;
            if f <= 0 || f > MAX_DFT_LEN {
                bail!("frame_length {f} is out of range (1..={MAX_DFT_LEN})");
            }
            f as usize
        }
        None => window.as_ref().map_or(length, |w| w.len()),
    };
    if frame_length as u64 > MAX_DFT_LEN as u64 {
        bail!("frame length {frame_length} exceeds {MAX_DFT_LEN}");
    }
    if frame_length > length {
        bail!("frame_length {frame_length} exceeds the signal length {length}");
    }
    let window = window.unwrap_or_else(|| vec![1.0; frame_length]);
    let wlen = window.len();
    let frames = 1 + (length - frame_length) / step;
    let onesided = ctx.attrs().int("onesided", 1)? != 0;
    let bins = if onesided {
        frame_length / 2 + 1
    } else {
        frame_length
    };
    let count = checked_count(&[batch, frames, bins, 2])?;
    let tw = twiddles(frame_length);
    let mut out = Vec::with_capacity(count);
    let (mut fr, mut fi) = (vec![0.0; wlen], vec![0.0; wlen]);
    let (mut or, mut oi) = (vec![0.0; bins], vec![0.0; bins]);
    for b in 0..batch {
        for f in 0..frames {
            for (k, w) in window.iter().enumerate() {
                let t = f * step + k;
                (fr[k], fi[k]) = if t < length {
                    (re[[b, t]] * w, im[[b, t]] * w)
                } else {
                    (0.0, 0.0)
                };
            }
            dft_lane(&fr, &fi, frame_length, bins, false, &tw, &mut or, &mut oi);
            for k in 0..bins {
                out.push(T::c(or[k]));
                out.push(T::c(oi[k]));
            }
        }
    }
    let y = ArrayD::from_shape_vec(IxDyn(&[batch, frames, bins, 2]), out)?;
    one(T::wrap(y, x_in.dtype())?)
}

pub fn stft(ctx: &OpCtx<'_>) -> Result<Vec<Data>, KernelError> {
    float_dispatch!(ctx.input(0)?.dtype(), stft_run(ctx))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fft_matches_direct_transform() {
        let len = 16;
        let tw = twiddles(len);
        let re: Vec<f64> = (0..11).map(|i| (i as f64 * 0.7).sin() + i as f64).collect();
        let im: Vec<f64> = (0..11).map(|i| (i as f64 * 0.3).cos()).collect();
        for inverse in [false, true] {
            let (mut fr, mut fi) = (vec![0.0; len], vec![0.0; len]);
            dft_lane(&re, &im, len, len, inverse, &tw, &mut fr, &mut fi);
            // The direct sum, written out.
            let sign = if inverse { 1.0 } else { -1.0 };
            for k in 0..len {
                let (mut sr, mut si) = (0.0, 0.0);
                for t in 0..re.len() {
                    let a = sign * 2.0 * PI * (k * t) as f64 / len as f64;
                    sr += re[t] * a.cos() - im[t] * a.sin();
                    si += re[t] * a.sin() + im[t] * a.cos();
                }
                let d = if inverse { len as f64 } else { 1.0 };
                assert!((fr[k] - sr / d).abs() < 1e-9 && (fi[k] - si / d).abs() < 1e-9);
            }
        }
        // irfft of an rfft gives the signal back.
        let sig: Vec<f64> = (0..len).map(|i| (i * i % 7) as f64).collect();
        let (mut fr, mut fi) = (vec![0.0; len], vec![0.0; len]);
        dft_lane(
            &sig,
            &vec![0.0; len],
            len,
            len / 2 + 1,
            false,
            &tw,
            &mut fr,
            &mut fi,
        );
        let mut back = vec![0.0; len];
        irfft_lane(&fr[..len / 2 + 1], &fi[..len / 2 + 1], len, &tw, &mut back);
        for t in 0..len {
            assert!((back[t] - sig[t]).abs() < 1e-9);
        }
    }

    #[test]
    fn forward_inverse_and_real_inverse() {
        let re = [1.0, 2.0, 3.0, 4.0];
        let im = [0.0; 4];
        let tw = twiddles(4);
        let (mut r, mut i) = ([0.0; 4], [0.0; 4]);
        dft_lane(&re, &im, 4, 4, false, &tw, &mut r, &mut i);
        // [10, -2+2i, -2, -2-2i]
        let want = [(10.0, 0.0), (-2.0, 2.0), (-2.0, 0.0), (-2.0, -2.0)];
        for k in 0..4 {
            assert!((r[k] - want[k].0).abs() < 1e-12 && (i[k] - want[k].1).abs() < 1e-12);
        }
        let mut back = [0.0; 4];
        irfft_lane(&r[..3], &i[..3], 4, &tw, &mut back);
        for t in 0..4 {
            assert!((back[t] - re[t]).abs() < 1e-12);
        }
    }
}
