//! Quantization parameters and quantized constants: activation scale/zero point from a
//! range (ONNX Runtime's `compute_scale_zp`: the range always contains 0), symmetric
//! per-channel / per-tensor int8 weights, int32 biases, block-wise int4 weights.

use bytes::Bytes;
use modelc_ir::{DType, Tensor};

use super::calibrate::Range;

/// Scale and zero point of a per-tensor quantized activation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QParams {
    pub scale: f32,
    pub zero_point: i32,
    pub dtype: DType,
}

/// The integer range of a quantized type.
pub fn qrange(dtype: DType) -> (i32, i32) {
    match dtype {
        DType::U8 => (0, 255),
        DType::I8 => (-128, 127),
        DType::U16 => (0, 65535),
        DType::I16 => (-32768, 32767),
        DType::I4 => (-8, 7),
        DType::U4 => (0, 15),
        _ => (-128, 127),
    }
}

/// Asymmetric (or symmetric) activation parameters covering `range` and 0.
pub fn activation_params(range: Range, dtype: DType, symmetric: bool) -> QParams {
    let (qmin, qmax) = qrange(dtype);
    let (mut lo, mut hi) = (range.min.min(0.0) as f64, range.max.max(0.0) as f64);
    if symmetric {
        let m = lo.abs().max(hi.abs());
        (lo, hi) = (-m, m);
    }
    let scale = (hi - lo) / (qmax - qmin) as f64;
    // NaN or below the smallest normal f32: not a usable scale.
    if scale.is_nan() || (scale as f32) < f32::MIN_POSITIVE {
        return QParams {
            scale: 1.0,
            zero_point: if symmetric { (qmin + qmax + 1) / 2 } else { 0 }.clamp(qmin, qmax),
            dtype,
        };
    }
    let zero_point = if symmetric {
        // numpy's round (half to even), as onnxruntime's compute_scale_zp: 0 for int8
        // (-0.5), 128 for uint8 (127.5).
        ((qmin + qmax) as f64 / 2.0).round_ties_even() as i32
    } else {
        (qmin as f64 - lo / scale).round() as i32
    };
    QParams {
        scale: scale as f32,
        zero_point: zero_point.clamp(qmin, qmax),
        dtype,
    }
}

/// A scalar (rank 0) tensor holding one zero point of `dtype`.
pub fn zero_point_tensor(dtype: DType, dims: Vec<u64>, values: &[i32]) -> Tensor {
    let bytes: Vec<u8> = match dtype {
        DType::U8 => values.iter().map(|&v| v as u8).collect(),
        DType::I8 => values.iter().map(|&v| v as i8 as u8).collect(),
        DType::I32 => values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        DType::I4 | DType::U4 => pack4(values),
        _ => values
            .iter()
            .flat_map(|&v| (v as i16).to_le_bytes())
            .collect(),
    };
    Tensor::from_raw(dtype, dims, Bytes::from(bytes)).expect("sizes match")
}

/// Packs 4-bit values two per byte, the first in the low nibble (ONNX's layout).
pub fn pack4(values: &[i32]) -> Vec<u8> {
    values
        .chunks(2)
        .map(|c| (c[0] as u8 & 0x0f) | ((c.get(1).copied().unwrap_or(0) as u8 & 0x0f) << 4))
        .collect()
}

/// The f32 elements of a float32 constant.
pub fn f32_elements(t: &Tensor) -> Option<Vec<f32>> {
    if t.dtype != DType::F32 {
        return None;
    }
    let raw = t.raw()?;
    Some(
        raw.chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect(),
    )
}

/// A weight quantized symmetrically to int8 (range ±127), per channel along `axis` or
/// per tensor (`axis` = None).
pub struct QuantWeight {
    pub data: Tensor,
    /// One scale per channel (or one).
    pub scales: Vec<f32>,
    pub axis: Option<usize>,
}

/// Symmetric int8 quantization of `w` (scale = max|w| / 127 per channel).
pub fn quantize_weight(w: &Tensor, axis: Option<usize>) -> Option<QuantWeight> {
    let values = f32_elements(w)?;
    let dims: Vec<usize> = w.dims.iter().map(|&d| d as usize).collect();
    let (channels, inner) = match axis {
        Some(a) if a < dims.len() => (dims[a], dims[a + 1..].iter().product::<usize>()),
        Some(_) => return None,
        None => (1, values.len().max(1)),
    };
    let channel_of = |i: usize| (i / inner) % channels.max(1);
    let mut absmax = vec![0f32; channels];
    for (i, &v) in values.iter().enumerate() {
        let c = channel_of(i);
        absmax[c] = absmax[c].max(v.abs());
    }
    let scales: Vec<f32> = absmax
        .iter()
        .map(|&m| {
            let s = m / 127.0;
            if s >= f32::MIN_POSITIVE && s.is_finite() {
                s
            } else {
                1.0
            }
        })
        .collect();
    let q: Vec<u8> = values
        .iter()
        .enumerate()
        .map(|(i, &v)| round_half_even(v / scales[channel_of(i)]).clamp(-127.0, 127.0) as i8 as u8)
        .collect();
    Some(QuantWeight {
        data: Tensor::from_raw(DType::I8, w.dims.clone(), Bytes::from(q)).ok()?,
        scales,
        axis,
    })
}

/// Round half to even, as QuantizeLinear does.
pub fn round_half_even(x: f32) -> f32 {
    let r = x.round();
    if (x - x.trunc()).abs() == 0.5 {
        2.0 * (x / 2.0).round()
    } else {
        r
    }
}

/// A float bias quantized to int32 with per-channel scales `scales` (input scale times
/// weight scale); `None` when the bias does not have one value per channel.
pub fn quantize_bias(b: &Tensor, scales: &[f32]) -> Option<Tensor> {
    let values = f32_elements(b)?;
    if values.len() != scales.len() && scales.len() != 1 {
        return None;
    }
    let q: Vec<i32> = values
        .iter()
        .enumerate()
        .map(|(i, &v)| {
            let s = scales[if scales.len() == 1 { 0 } else { i }];
            (v as f64 / s as f64)
                .round()
                .clamp(i32::MIN as f64, i32::MAX as f64) as i32
        })
        .collect();
    Some(zero_point_tensor(DType::I32, b.dims.clone(), &q))
}

/// A float32 tensor from values.
pub fn f32_tensor(dims: Vec<u64>, values: &[f32]) -> Tensor {
    Tensor::from_f32(dims, values).expect("sizes match")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn activation_params_match_onnxruntime() {
        // onnxruntime.quantization.quant_utils.compute_scale_zp(-1.0, 3.0, 0, 255)
        // gives scale 4/255 and zero point round(255/4) = 64.
        let p = activation_params(
            Range {
                min: -1.0,
                max: 3.0,
            },
            DType::U8,
            false,
        );
        assert!((p.scale - 4.0 / 255.0).abs() < 1e-9);
        assert_eq!(p.zero_point, 64);
        // A range above 0 is widened to include 0.
        let p = activation_params(Range { min: 2.0, max: 6.0 }, DType::I8, false);
        assert_eq!(p.zero_point, -128);
        assert!((p.scale - 6.0 / 255.0).abs() < 1e-9);
        // Symmetric: zero point 0 for int8 (TensorRT needs it), 128 for uint8, as
        // compute_scale_zp(-2.0, 1.0, -128, 127, symmetric=True) gives.
        let p = activation_params(
            Range {
                min: -2.0,
                max: 1.0,
            },
            DType::I8,
            true,
        );
        assert_eq!(p.zero_point, 0);
        assert!((p.scale - 4.0 / 255.0).abs() < 1e-9);
        let p = activation_params(
            Range {
                min: -2.0,
                max: 1.0,
            },
            DType::U8,
            true,
        );
        assert_eq!(p.zero_point, 128);
        // An empty range gets scale 1.
        let p = activation_params(Range { min: 0.0, max: 0.0 }, DType::U8, false);
        assert_eq!((p.scale, p.zero_point), (1.0, 0));
    }

    #[test]
    fn per_channel_weights_are_symmetric() {
        let w = f32_tensor(vec![2, 2], &[1.0, -0.5, 0.0, 0.25]);
        let q = quantize_weight(&w, Some(0)).unwrap();
        assert_eq!(q.scales, vec![1.0 / 127.0, 0.25 / 127.0]);
        let bytes: Vec<i8> = q.data.raw().unwrap().iter().map(|&b| b as i8).collect();
        assert_eq!(bytes, vec![127, -64, 0, 127]);
        assert_eq!(pack4(&[1, -1, 7]), vec![0xf1, 0x07]);
    }
}
