//! Element conversions shared by the quant family: decoding any [`Array`] (including the
//! packed float8 / float4 / e8m0 / 4- and 2-bit integer types) into wide values, and
//! encoding wide values into any element type with ONNX's Cast rules (round to nearest
//! even for floats, truncation and two's-complement wrap-around for integers, `saturate`
//! for float8).

use bytes::Bytes;
use half::{bf16, f16};
use modelc_ir::DType;
use ndarray::{ArrayD, IxDyn};

use crate::{bail, Array, KernelError};

/// Values of any element type, widened: floats to f64, integers to i128.
#[derive(Debug, Clone, PartialEq)]
pub enum Vals {
    F(Vec<f64>),
    I(Vec<i128>),
    B(Vec<bool>),
    S(Vec<String>),
}

impl Vals {
    pub fn len(&self) -> usize {
        match self {
            Vals::F(v) => v.len(),
            Vals::I(v) => v.len(),
            Vals::B(v) => v.len(),
            Vals::S(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The values as f64 (strings are parsed).
    pub fn into_f64(self) -> Result<Vec<f64>, KernelError> {
        Ok(match self {
            Vals::F(v) => v,
            Vals::I(v) => v.into_iter().map(|x| x as f64).collect(),
            Vals::B(v) => v.into_iter().map(|x| x as u8 as f64).collect(),
            Vals::S(v) => v.iter().map(|s| parse_f64(s)).collect::<Result<_, _>>()?,
        })
    }
}

/// How a small float format encodes its special values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Special {
    /// IEEE-like: all-ones exponent is inf (mantissa 0) or NaN (float8e5m2).
    Ieee,
    /// "Finite": only all-ones exponent and mantissa is NaN (float8e4m3fn).
    Fn,
    /// "Finite, unsigned zero": 0x80 is NaN, no negative zero (the *fnuz types).
    Fnuz,
    /// No inf nor NaN (float4e2m1).
    None,
}

#[derive(Debug, Clone, Copy)]
struct Mini {
    ebits: u32,
    mbits: u32,
    bias: i32,
    special: Special,
}

fn mini(dtype: DType) -> Option<Mini> {
    let (ebits, mbits, bias, special) = match dtype {
        DType::F8E4M3FN => (4, 3, 7, Special::Fn),
        DType::F8E4M3FNUZ => (4, 3, 8, Special::Fnuz),
        DType::F8E5M2 => (5, 2, 15, Special::Ieee),
        DType::F8E5M2FNUZ => (5, 2, 16, Special::Fnuz),
        DType::F4E2M1 => (2, 1, 1, Special::None),
        _ => return None,
    };
    Some(Mini {
        ebits,
        mbits,
        bias,
        special,
    })
}

fn pow2(k: i32) -> f64 {
    // k is always within the normal f64 exponent range here.
    f64::from_bits(((k + 1023) as u64) << 52)
}

fn mini_to_f64(code: u8, m: Mini) -> f64 {
    let sign_bit = 1u8 << (m.ebits + m.mbits);
    let neg = code & sign_bit != 0;
    let mag = code & (sign_bit - 1);
    let emask = (1u8 << m.ebits) - 1;
    let mmask = (1u8 << m.mbits) - 1;
    let e = mag >> m.mbits;
    let f = mag & mmask;
    match m.special {
        Special::Fnuz if neg && mag == 0 => return f64::NAN,
        Special::Fn if mag == sign_bit - 1 => return if neg { -f64::NAN } else { f64::NAN },
        Special::Ieee if e == emask => {
            let v = if f == 0 { f64::INFINITY } else { f64::NAN };
            return if neg { -v } else { v };
        }
        _ => {}
    }
    let v = if e == 0 {
        f as f64 * pow2(1 - m.bias - m.mbits as i32)
    } else {
        ((1u32 << m.mbits) + f as u32) as f64 * pow2(e as i32 - m.bias - m.mbits as i32)
    };
    if neg {
        -v
    } else {
        v
    }
}

fn f64_to_mini(x: f64, m: Mini, saturate: bool) -> u8 {
    let sign_bit = 1u8 << (m.ebits + m.mbits);
    let emask = (1u64 << m.ebits) - 1;
    let mmask = (1u64 << m.mbits) - 1;
    let neg = x.is_sign_negative();
    let sign = if neg { sign_bit } else { 0 };
    let max_code: u64 = match m.special {
        Special::Ieee => ((emask - 1) << m.mbits) | mmask,
        Special::Fn => (sign_bit - 2) as u64,
        Special::Fnuz | Special::None => (sign_bit - 1) as u64,
    };
    let nan = |neg: bool| -> u8 {
        match m.special {
            Special::Ieee => {
                (emask << m.mbits) as u8 | (1 << (m.mbits - 1)) | if neg { sign_bit } else { 0 }
            }
            Special::Fn => (sign_bit - 1) | if neg { sign_bit } else { 0 },
            Special::Fnuz => sign_bit,
            // No NaN: follows ml_dtypes (the reference), which gives -0 for +NaN.
            Special::None => {
                if neg {
                    0
                } else {
                    sign_bit
                }
            }
        }
    };
    let overflow = || -> u8 {
        match m.special {
            Special::Ieee => (emask << m.mbits) as u8 | sign,
            Special::Fn => (sign_bit - 1) | sign,
            Special::Fnuz => sign_bit,
            Special::None => max_code as u8 | sign,
        }
    };
    if x.is_nan() {
        return nan(neg);
    }
    let a = x.abs();
    if a.is_infinite() {
        return if saturate || m.special == Special::None {
            max_code as u8 | sign
        } else {
            overflow()
        };
    }
    if a == 0.0 {
        return if m.special == Special::Fnuz { 0 } else { sign };
    }
    let emin = 1 - m.bias;
    let biased = ((a.to_bits() >> 52) & 0x7ff) as i32;
    let e = if biased == 0 { -1075 } else { biased - 1023 };
    let ee = e.max(emin);
    let qe = ee - m.mbits as i32;
    let n = (a * pow2(-qe)).round_ties_even() as u64;
    let code = if e < emin {
        n
    } else {
        (((ee - emin + 1) as u64) << m.mbits) + n - (1u64 << m.mbits)
    };
    if code > max_code {
        return if saturate || m.special == Special::None {
            max_code as u8 | sign
        } else {
            overflow()
        };
    }
    if code == 0 && m.special == Special::Fnuz {
        return 0;
    }
    code as u8 | sign
}

/// float8e8m0 from f32, as the ONNX reference does (`round_mode` is up, down or nearest).
fn f32_to_e8m0(x: f32, saturate: bool, round_mode: &str) -> u8 {
    let bits = x.to_bits();
    let exponent = (bits >> 23) & 0xff;
    if exponent == 0xff {
        return 0xff;
    }
    let round_up = match round_mode {
        "nearest" => {
            let g = bits & 0x40_0000 != 0;
            let r = bits & 0x20_0000 != 0;
            let s = bits & 0x1f_ffff != 0;
            let lsb = exponent > 0;
            g && (r || s || lsb)
        }
        "down" => false,
        _ => bits & 0x7f_ffff != 0,
    };
    let round_up = round_up && !(saturate && exponent == 0xfe);
    (exponent + round_up as u32) as u8
}

fn e8m0_to_f64(code: u8) -> f64 {
    if code == 0xff {
        f64::NAN
    } else {
        pow2(code as i32 - 127)
    }
}

/// Bits per element of a packed integer or float type (8 for the float8 types).
fn packed_bits(dtype: DType) -> Result<u32, KernelError> {
    match dtype {
        DType::C64 | DType::C128 => bail!("complex element type {dtype} is not supported"),
        _ if dtype.bits() == 0 || dtype.bits() > 8 => bail!("{dtype} is not a packed type"),
        _ => Ok(dtype.bits()),
    }
}

/// The element codes of a packed array (one byte per element, low bits first).
pub fn unpack(dtype: DType, count: usize, bytes: &[u8]) -> Result<Vec<u8>, KernelError> {
    let bits = packed_bits(dtype)? as usize;
    let per = 8 / bits;
    if bytes.len() < count.div_ceil(per) {
        bail!(
            "{dtype} data has {} bytes for {count} elements",
            bytes.len()
        );
    }
    let mask = ((1u16 << bits) - 1) as u8;
    Ok((0..count)
        .map(|i| (bytes[i / per] >> ((i % per) * bits)) & mask)
        .collect())
}

/// Packs element codes (one per byte) into the IR's layout for `dtype`.
pub fn pack(dtype: DType, shape: &[usize], codes: &[u8]) -> Result<Array, KernelError> {
    let bits = packed_bits(dtype)? as usize;
    let per = 8 / bits;
    let mask = ((1u16 << bits) - 1) as u8;
    let mut out = vec![0u8; codes.len().div_ceil(per)];
    for (i, &c) in codes.iter().enumerate() {
        out[i / per] |= (c & mask) << ((i % per) * bits);
    }
    Ok(Array::Packed {
        dtype,
        shape: shape.to_vec(),
        bytes: Bytes::from(out),
    })
}

/// Decodes any array into wide values.
pub fn decode(a: &Array) -> Result<Vals, KernelError> {
    Ok(match a {
        Array::F32(x) => Vals::F(x.iter().map(|&v| v as f64).collect()),
        Array::F64(x) => Vals::F(x.iter().copied().collect()),
        Array::F16(x) => Vals::F(x.iter().map(|v| v.to_f64()).collect()),
        Array::BF16(x) => Vals::F(x.iter().map(|v| v.to_f64()).collect()),
        Array::I8(x) => Vals::I(x.iter().map(|&v| v as i128).collect()),
        Array::I16(x) => Vals::I(x.iter().map(|&v| v as i128).collect()),
        Array::I32(x) => Vals::I(x.iter().map(|&v| v as i128).collect()),
        Array::I64(x) => Vals::I(x.iter().map(|&v| v as i128).collect()),
        Array::U8(x) => Vals::I(x.iter().map(|&v| v as i128).collect()),
        Array::U16(x) => Vals::I(x.iter().map(|&v| v as i128).collect()),
        Array::U32(x) => Vals::I(x.iter().map(|&v| v as i128).collect()),
        Array::U64(x) => Vals::I(x.iter().map(|&v| v as i128).collect()),
        Array::Bool(x) => Vals::B(x.iter().copied().collect()),
        Array::Str(x) => Vals::S(x.iter().cloned().collect()),
        Array::Packed {
            dtype,
            shape,
            bytes,
        } => {
            let count = shape.iter().product();
            let codes = unpack(*dtype, count, bytes)?;
            match *dtype {
                DType::F8E8M0 => Vals::F(codes.into_iter().map(e8m0_to_f64).collect()),
                DType::I4 => Vals::I(codes.into_iter().map(|c| sign_extend(c, 4)).collect()),
                DType::I2 => Vals::I(codes.into_iter().map(|c| sign_extend(c, 2)).collect()),
                DType::U4 | DType::U2 => Vals::I(codes.into_iter().map(|c| c as i128).collect()),
                dt => match mini(dt) {
                    Some(m) => Vals::F(codes.into_iter().map(|c| mini_to_f64(c, m)).collect()),
                    None => bail!("element type {dt} is not supported"),
                },
            }
        }
    })
}

fn sign_extend(c: u8, bits: u32) -> i128 {
    let v = c as i128;
    if v >= 1 << (bits - 1) {
        v - (1 << bits)
    } else {
        v
    }
}

/// Parses a number the way ONNX's Cast from string does (numpy's float parsing).
pub fn parse_f64(s: &str) -> Result<f64, KernelError> {
    let t = s.trim();
    if let Ok(v) = t.parse::<f64>() {
        return Ok(v);
    }
    let lower = t.to_ascii_lowercase();
    let (neg, body) = match lower.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, lower.strip_prefix('+').unwrap_or(&lower)),
    };
    let v = match body {
        "inf" | "infinity" => f64::INFINITY,
        "nan" => f64::NAN,
        _ => bail!("cannot parse `{s}` as a number"),
    };
    Ok(if neg { -v } else { v })
}

fn parse_int(s: &str) -> Result<i128, KernelError> {
    let t = s.trim();
    if let Ok(v) = t.parse::<i128>() {
        return Ok(v);
    }
    let f = parse_f64(t)?;
    if !f.is_finite() {
        bail!("cannot convert `{s}` to an integer");
    }
    Ok(f.trunc() as i128)
}

/// Options of a conversion to a float8 / e8m0 type.
#[derive(Debug, Clone, Copy)]
pub struct Opts<'a> {
    pub saturate: bool,
    pub round_mode: &'a str,
}

impl Default for Opts<'_> {
    fn default() -> Self {
        Opts {
            saturate: true,
            round_mode: "up",
        }
    }
}

fn float_to_int(x: f64) -> i128 {
    // NaN becomes 0; out-of-range values saturate at i128 then wrap to the target width.
    x.trunc() as i128
}

/// Encodes wide values as an array of `dtype` and `shape`.
pub fn encode(
    v: Vals,
    dtype: DType,
    shape: &[usize],
    opts: Opts<'_>,
) -> Result<Array, KernelError> {
    let n: usize = shape.iter().product();
    if v.len() != n {
        bail!("internal: {} values for shape {shape:?}", v.len());
    }
    macro_rules! ints {
        ($t:ty, $variant:ident) => {{
            let out: Vec<$t> = match v {
                Vals::F(x) => x.into_iter().map(|f| float_to_int(f) as $t).collect(),
                Vals::I(x) => x.into_iter().map(|i| i as $t).collect(),
                Vals::B(x) => x.into_iter().map(|b| b as u8 as $t).collect(),
                Vals::S(x) => x
                    .iter()
                    .map(|s| parse_int(s).map(|i| i as $t))
                    .collect::<Result<_, _>>()?,
            };
            Array::$variant(ArrayD::from_shape_vec(IxDyn(shape), out)?)
        }};
    }
    macro_rules! floats {
        ($t:ty, $variant:ident, $from:expr, $from_int:expr) => {{
            let out: Vec<$t> = match v {
                Vals::F(x) => x.into_iter().map($from).collect(),
                Vals::I(x) => x.into_iter().map($from_int).collect(),
                Vals::B(x) => x.into_iter().map(|b| ($from)(b as u8 as f64)).collect(),
                Vals::S(x) => x
                    .iter()
                    .map(|s| parse_f64(s).map($from))
                    .collect::<Result<_, _>>()?,
            };
            Array::$variant(ArrayD::from_shape_vec(IxDyn(shape), out)?)
        }};
    }
    Ok(match dtype {
        DType::F32 => floats!(f32, F32, |f: f64| f as f32, |i: i128| i as f32),
        DType::F64 => floats!(f64, F64, |f: f64| f, |i: i128| i as f64),
        DType::F16 => floats!(f16, F16, f16::from_f64, |i: i128| f16::from_f64(i as f64)),
        DType::BF16 => floats!(bf16, BF16, bf16::from_f64, |i: i128| bf16::from_f64(
            i as f64
        )),
        DType::I8 => ints!(i8, I8),
        DType::I16 => ints!(i16, I16),
        DType::I32 => ints!(i32, I32),
        DType::I64 => ints!(i64, I64),
        DType::U8 => ints!(u8, U8),
        DType::U16 => ints!(u16, U16),
        DType::U32 => ints!(u32, U32),
        DType::U64 => ints!(u64, U64),
        DType::Bool => {
            let out: Vec<bool> = match v {
                Vals::F(x) => x.into_iter().map(|f| f != 0.0).collect(),
                Vals::I(x) => x.into_iter().map(|i| i != 0).collect(),
                Vals::B(x) => x,
                Vals::S(x) => x
                    .iter()
                    .map(|s| match s.trim() {
                        "True" | "true" => Ok(true),
                        "False" | "false" | "" => Ok(false),
                        t => parse_f64(t).map(|f| f != 0.0),
                    })
                    .collect::<Result<_, _>>()?,
            };
            Array::Bool(ArrayD::from_shape_vec(IxDyn(shape), out)?)
        }
        DType::Str => {
            let out: Vec<String> = match v {
                Vals::F(x) => x.into_iter().map(format_f64).collect(),
                Vals::I(x) => x.into_iter().map(|i| i.to_string()).collect(),
                Vals::B(x) => x
                    .into_iter()
                    .map(|b| if b { "True" } else { "False" }.to_string())
                    .collect(),
                Vals::S(x) => x,
            };
            Array::Str(ArrayD::from_shape_vec(IxDyn(shape), out)?)
        }
        DType::I4 | DType::U4 | DType::I2 | DType::U2 => {
            let codes: Vec<u8> = match v {
                Vals::F(x) => x.into_iter().map(|f| float_to_int(f) as u8).collect(),
                Vals::I(x) => x.into_iter().map(|i| i as u8).collect(),
                Vals::B(x) => x.into_iter().map(|b| b as u8).collect(),
                Vals::S(x) => x
                    .iter()
                    .map(|s| parse_int(s).map(|i| i as u8))
                    .collect::<Result<_, _>>()?,
            };
            pack(dtype, shape, &codes)?
        }
        DType::F8E8M0 => {
            let f = v.into_f64()?;
            let codes: Vec<u8> = f
                .into_iter()
                .map(|x| f32_to_e8m0(x as f32, opts.saturate, opts.round_mode))
                .collect();
            pack(dtype, shape, &codes)?
        }
        dt => match mini(dt) {
            Some(m) => {
                let f = v.into_f64()?;
                let codes: Vec<u8> = f
                    .into_iter()
                    .map(|x| f64_to_mini(x, m, opts.saturate))
                    .collect();
                pack(dtype, shape, &codes)?
            }
            None => bail!("element type {dt} is not supported"),
        },
    })
}

/// A float as text, like Python's `repr` (shortest round-trip digits).
pub fn format_f64(x: f64) -> String {
    format_float(x, format!("{x:e}"))
}

/// An f32 as text, like numpy's `str` of a float32 (shortest round-trip digits).
pub fn format_f32(x: f32) -> String {
    format_float(x as f64, format!("{x:e}"))
}

fn format_float(x: f64, sci: String) -> String {
    if x.is_nan() {
        return "nan".into();
    }
    if x.is_infinite() {
        return if x > 0.0 { "inf".into() } else { "-inf".into() };
    }
    // `sci` is like "-1.2345e-7" or "3e2".
    let (mant, exp) = match sci.split_once('e') {
        Some((m, e)) => (m, e.parse::<i32>().unwrap_or(0)),
        None => (sci.as_str(), 0),
    };
    let (neg, mant) = match mant.strip_prefix('-') {
        Some(m) => (true, m),
        None => (false, mant),
    };
    let digits: String = mant.chars().filter(|c| c.is_ascii_digit()).collect();
    let sign = if neg { "-" } else { "" };
    if (-4..16).contains(&exp) {
        let n = digits.len() as i32;
        let body = if exp < 0 {
            format!("0.{}{}", "0".repeat((-exp - 1) as usize), digits)
        } else if exp + 1 >= n {
            format!("{}{}.0", digits, "0".repeat((exp + 1 - n) as usize))
        } else {
            let (a, b) = digits.split_at((exp + 1) as usize);
            format!("{a}.{b}")
        };
        format!("{sign}{body}")
    } else {
        let (first, rest) = digits.split_at(1);
        let m = if rest.is_empty() {
            first.to_string()
        } else {
            format!("{first}.{rest}")
        };
        let es = if exp < 0 { "-" } else { "+" };
        format!("{sign}{m}e{es}{:02}", exp.abs())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn float8_round_trip_and_rounding() {
        for dt in [
            DType::F8E4M3FN,
            DType::F8E4M3FNUZ,
            DType::F8E5M2,
            DType::F8E5M2FNUZ,
            DType::F4E2M1,
        ] {
            let m = mini(dt).unwrap();
            let n = 1u16 << (1 + m.ebits + m.mbits);
            for c in 0..n {
                let v = mini_to_f64(c as u8, m);
                if v.is_nan() {
                    continue;
                }
                let back = f64_to_mini(v, m, false);
                assert_eq!(mini_to_f64(back, m).to_bits(), v.to_bits(), "{dt} {c}");
            }
        }
        let e4 = mini(DType::F8E4M3FN).unwrap();
        assert_eq!(f64_to_mini(464.0, e4, false), 0x7e); // tie to even: 448
        assert_eq!(f64_to_mini(470.0, e4, false), 0x7f); // NaN
        assert_eq!(f64_to_mini(470.0, e4, true), 0x7e);
        assert_eq!(f64_to_mini(f64::NEG_INFINITY, e4, true), 0xfe);
        let f4 = mini(DType::F4E2M1).unwrap();
        assert_eq!(f64_to_mini(0.25, f4, true), 0); // tie to even: 0
        assert_eq!(f64_to_mini(-3.5, f4, true), 0xe); // -4
        assert_eq!(f64_to_mini(1e6, f4, false), 0x7);
    }

    #[test]
    fn python_like_float_text() {
        assert_eq!(format_f64(1.0), "1.0");
        assert_eq!(format_f64(1e-7), "1e-07");
        assert_eq!(format_f64(0.25), "0.25");
        assert_eq!(format_f64(-123.5), "-123.5");
        assert_eq!(format_f64(1e16), "1e+16");
        assert_eq!(format_f32(0.1), "0.1");
    }

    #[test]
    fn int4_wraps_and_packs_low_first() {
        let a = encode(Vals::I(vec![-9, 8, 1]), DType::I4, &[3], Opts::default()).unwrap();
        let Array::Packed { bytes, .. } = &a else {
            panic!()
        };
        assert_eq!(&bytes[..], &[0x87, 0x01]);
        assert_eq!(decode(&a).unwrap(), Vals::I(vec![7, -8, 1]));
    }
}
