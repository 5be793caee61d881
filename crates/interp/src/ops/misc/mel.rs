//! MelWeightMatrix (opset 17): the `[dft_length / 2 + 1, num_mel_bins]` matrix of
//! triangular mel filters between `lower_edge_hertz` and `upper_edge_hertz` for a
//! `sample_rate`, as the reference implementation computes it (mel = 2595 log10(1 + f /
//! 700), `num_mel_bins + 2` band edges spaced `(high - low) / (num_mel_bins + 2)` apart,
//! each mapped to the bin `floor((dft_length + 1) * hz / sample_rate)`). Attribute
//! `output_datatype` (default 1 = float) selects the floating-point output type.

use modelc_ir::DType;

use crate::ops::util::one;
use crate::{bail, Array, Data, KernelError, OpCtx};

use super::common::float_array;

fn scalar_i64(a: &Array, what: &str) -> Result<i64, KernelError> {
    match a.to_i64_vec()?.as_slice() {
        [v] => Ok(*v),
        _ => bail!("{what} must be a scalar"),
    }
}

fn mel(hz: f64) -> f64 {
    2595.0 * (1.0 + hz / 700.0).log10()
}

pub fn mel_weight_matrix(ctx: &OpCtx<'_>) -> Result<Vec<Data>, KernelError> {
    let bins = scalar_i64(ctx.input(0)?, "num_mel_bins")?;
    let dft = scalar_i64(ctx.input(1)?, "dft_length")?;
    let rate = scalar_i64(ctx.input(2)?, "sample_rate")?;
    let lo_in = ctx.input(3)?;
    let hi_in = ctx.input(4)?;
    let (lo, hi) = match (
        lo_in.to_f64_vec()?.as_slice(),
        hi_in.to_f64_vec()?.as_slice(),
    ) {
        ([l], [h]) => (*l, *h),
        _ => bail!("lower_edge_hertz and upper_edge_hertz must be scalars"),
    };
    if bins <= 0 || dft <= 0 || rate <= 0 {
        bail!("num_mel_bins, dft_length and sample_rate must be positive");
    }
    let spec_bins = dft / 2 + 1;
    if bins.checked_mul(spec_bins).is_none_or(|n| n > 1 << 31) {
        bail!("output too large");
    }
    let (bins, spec_bins) = (bins as usize, spec_bins as usize);
    let edges_count = bins + 2;
    // The reference computes the mel edges and step in the edges' own precision.
    let single = lo_in.dtype() != DType::F64 && hi_in.dtype() != DType::F64;
    let (lo_mel, step) = if single {
        let l = mel(lo as f32 as f64) as f32;
        let h = mel(hi as f32 as f64) as f32;
        (l as f64, ((h - l) / edges_count as f32) as f64)
    } else {
        let (l, h) = (mel(lo), mel(hi));
        (l, (h - l) / edges_count as f64)
    };
    let edges: Vec<i64> = (0..edges_count)
        .map(|k| {
            let m = k as f64 * step + lo_mel;
            let hz = 700.0 * (10f64.powf(m / 2595.0) - 1.0);
            ((dft + 1) as f64 * hz / rate as f64).floor() as i64
        })
        .collect();
    if edges.iter().any(|e| e.unsigned_abs() > 1 << 40) {
        bail!("mel band edges out of range");
    }
    let mut out = vec![0.0f64; spec_bins * bins];
    let mut set = |j: i64, i: usize, v: f64| -> Result<(), KernelError> {
        if j < 0 || j as u64 >= spec_bins as u64 {
            bail!("mel band edge {j} is outside the {spec_bins} spectrogram bins");
        }
        out[j as usize * bins + i] = v;
        Ok(())
    };
    for i in 0..bins {
        let (l, c, h) = (edges[i], edges[i + 1], edges[i + 2]);
        let up = c - l;
        if up == 0 {
            set(c, i, 1.0)?;
        } else {
            for j in l..=c {
                set(j, i, (j - l) as f64 / up as f64)?;
            }
        }
        let down = h - c;
        if down > 0 {
            for j in c..h {
                set(j, i, (h - j) as f64 / down as f64)?;
            }
        }
    }
    let code = ctx.attrs().int("output_datatype", 1)?;
    let Some(dtype) = i32::try_from(code).ok().and_then(DType::from_onnx_code) else {
        bail!("unknown output_datatype {code}");
    };
    one(float_array(dtype, &[spec_bins, bins], out)?)
}
