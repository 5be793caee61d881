//! Tensor literals: element type, dimensions and values (inline, hex bytes or a content
//! hash), and sparse tensors.

use bytes::Bytes;
use nom::bytes::complete::take_while_m_n;

use super::token::{
    expect, float, hex_bytes, int, items, keyword, segment, string_bytes, u64_lit, ws,
};
use super::{fail, PErr, PResult, Parser};
use crate::text::syntax::FloatKind;
use crate::{element_count, DType, SparseTensor, Tensor, TensorData};

pub(super) fn r_starts_hex(rest: &str) -> bool {
    rest.starts_with(|c: char| c.is_ascii_hexdigit())
}

pub(super) fn keyword_sparse(i: &str) -> bool {
    keyword(i, "sparse").is_some_and(|r| r.starts_with('['))
}

/// A raw tensor whose byte length is right by construction.
pub(super) fn raw(dtype: DType, dims: Vec<u64>, bytes: Vec<u8>) -> Tensor {
    Tensor {
        dtype,
        dims,
        data: TensorData::Raw(Bytes::from(bytes)),
    }
}

pub(super) fn int_range(dtype: DType) -> Option<(i128, i128)> {
    Some(match dtype {
        DType::I8 => (i8::MIN as i128, i8::MAX as i128),
        DType::U8 => (0, u8::MAX as i128),
        DType::I16 => (i16::MIN as i128, i16::MAX as i128),
        DType::U16 => (0, u16::MAX as i128),
        DType::I32 => (i32::MIN as i128, i32::MAX as i128),
        DType::U32 => (0, u32::MAX as i128),
        DType::I64 => (i64::MIN as i128, i64::MAX as i128),
        DType::U64 => (0, u64::MAX as i128),
        DType::I4 => (-8, 7),
        DType::U4 => (0, 15),
        DType::I2 => (-2, 1),
        DType::U2 => (0, 3),
        _ => return None,
    })
}

/// `[64,3,7,7]`: a tensor literal's dimensions.
pub(super) fn dims(i: &str) -> PResult<'_, Vec<u64>> {
    let Some(rest) = i.strip_prefix('[') else {
        return fail(
            i,
            "expected `[` and the dimensions right after the element type",
        );
    };
    items(rest, ']', "in the dimensions", u64_lit)
}

pub(super) fn show_dims(dims: &[u64]) -> String {
    let dims: Vec<String> = dims.iter().map(u64::to_string).collect();
    format!("[{}]", dims.join(","))
}

impl Parser<'_> {
    /// `sparse[10,10] values=f32[3] [...] indices=i64[3] [...]`.
    pub(super) fn sparse<'a>(&mut self, i: &'a str) -> PResult<'a, SparseTensor> {
        let at = ws(i);
        let Some(rest) = keyword(at, "sparse") else {
            return fail(at, "expected `sparse[dims] values=... indices=...`");
        };
        let (rest, dims) = dims(rest)?;
        let (rest, ()) = expect(rest, "values=", "in a sparse tensor")?;
        let (rest, values) = self.tensor(rest)?;
        let (rest, ()) = expect(rest, "indices=", "in a sparse tensor")?;
        let (rest, indices) = self.tensor(rest)?;
        Ok((
            rest,
            SparseTensor {
                values,
                indices,
                dims,
            },
        ))
    }

    /// `f32[2] [1.0, 2.0]`, `f32[1000] #0123456789abcdef` or `f8e4m3fn[2] x"3840"`.
    pub(super) fn tensor<'a>(&mut self, i: &'a str) -> PResult<'a, Tensor> {
        let at = ws(i);
        let (rest, dtype) = match segment(at)
            .ok()
            .and_then(|(r, w)| Some((r, w.parse::<DType>().ok()?)))
        {
            Some(ok) => ok,
            None => return fail(at, "expected a tensor (`f32[2] [1.0, 2.0]`)"),
        };
        let (rest, dims) = dims(rest)?;
        let data_at = ws(rest);
        let shown = || format!("{dtype}{}", show_dims(&dims));
        if let Some(hex) = data_at.strip_prefix('#') {
            let (r, digits) =
                match take_while_m_n::<_, _, PErr>(1, 16, |c: char| c.is_ascii_hexdigit())(hex) {
                    Ok(ok) if !r_starts_hex(ok.0) => ok,
                    _ => {
                        return fail(
                            data_at,
                            "expected 16 hex digits of a constant's hash after `#`",
                        )
                    }
                };
            let h = u64::from_str_radix(digits, 16).unwrap_or(0);
            let Some(consts) = self.consts else {
                return fail(
                    data_at,
                    format!("constant #{h:016x} is printed by its hash; parse with the model's constants"),
                );
            };
            let Some(t) = consts.get(&h) else {
                return fail(data_at, format!("unknown constant #{h:016x}"));
            };
            if t.dtype != dtype || t.dims != dims {
                return fail(
                    data_at,
                    format!(
                        "constant #{h:016x} is {}{}, not {}",
                        t.dtype,
                        show_dims(&t.dims),
                        shown()
                    ),
                );
            }
            return Ok((r, t.clone()));
        }
        if data_at.starts_with("x\"") {
            let (r, bytes) = hex_bytes(data_at)?;
            return match Tensor::from_raw(dtype, dims, Bytes::from(bytes)) {
                Ok(t) => Ok((r, t)),
                Err(e) => fail(data_at, e.to_string()),
            };
        }
        let Some(list) = data_at.strip_prefix('[') else {
            return fail(
                data_at,
                "expected the tensor's data: `[...]`, `x\"...\"` or `#hash`",
            );
        };
        let Some(count) = element_count(&dims) else {
            return fail(
                data_at,
                format!("the element count of {} overflows", shown()),
            );
        };
        let check = |n: usize, r: &'a str| -> PResult<'a, ()> {
            if n as u64 != count {
                return fail(
                    data_at,
                    format!("{} needs {count} elements, found {n}", shown()),
                );
            }
            Ok((r, ()))
        };
        let kind = match dtype {
            DType::F32 => Some(FloatKind::F32),
            DType::F64 => Some(FloatKind::F64),
            DType::F16 => Some(FloatKind::F16),
            DType::BF16 => Some(FloatKind::BF16),
            _ => None,
        };
        if let Some(kind) = kind {
            let (r, v) = items(list, ']', "in the tensor's data", |i| float(i, kind))?;
            check(v.len(), r)?;
            let width = (kind.bits() / 8) as usize;
            let mut bytes = Vec::with_capacity(v.len() * width);
            for b in v {
                bytes.extend_from_slice(&b.to_le_bytes()[..width]);
            }
            return Ok((r, raw(dtype, dims, bytes)));
        }
        match dtype {
            DType::Str => {
                let (r, v) = items(list, ']', "in the tensor's data", string_bytes)?;
                check(v.len(), r)?;
                let t = Tensor {
                    dtype,
                    dims,
                    data: TensorData::Strings(v.into_iter().map(Bytes::from).collect()),
                };
                Ok((r, t))
            }
            DType::Bool => {
                let (r, v) = items(list, ']', "in the tensor's data", |i| {
                    let at = ws(i);
                    if let Some(r) = keyword(at, "true") {
                        Ok((r, 1u8))
                    } else if let Some(r) = keyword(at, "false") {
                        Ok((r, 0u8))
                    } else {
                        fail(at, "expected `true` or `false`")
                    }
                })?;
                check(v.len(), r)?;
                Ok((r, raw(dtype, dims, v)))
            }
            _ => {
                let Some((min, max)) = int_range(dtype) else {
                    return fail(
                        data_at,
                        format!("{dtype} data is written as raw bytes: `x\"...\"`"),
                    );
                };
                let (r, v) = items(list, ']', "in the tensor's data", |i| int(i, min, max))?;
                check(v.len(), r)?;
                let bits = dtype.bits() as usize;
                let bytes = if bits >= 8 {
                    let mut bytes = Vec::with_capacity(v.len() * bits / 8);
                    for x in v {
                        bytes.extend_from_slice(&(x as u64).to_le_bytes()[..bits / 8]);
                    }
                    bytes
                } else {
                    let mut bytes = vec![0u8; (v.len() * bits).div_ceil(8)];
                    let mask = (1u8 << bits) - 1;
                    for (k, &x) in v.iter().enumerate() {
                        let bit = k * bits;
                        bytes[bit / 8] |= ((x as u8) & mask) << (bit % 8);
                    }
                    bytes
                };
                Ok((r, raw(dtype, dims, bytes)))
            }
        }
    }
}
