//! Run-time values: typed n-dimensional arrays ([`Array`]) and the non-tensor values ONNX
//! ops pass around (sequences, optionals) as [`Data`]; conversions from and to IR tensors.

use bytes::Bytes;
use half::{bf16, f16};
use modelc_ir::{DType, Tensor, TensorData};
use ndarray::{ArrayD, IxDyn};

use crate::KernelError;

/// A tensor at run time. Element types without arithmetic here (float8, 4- and 2-bit,
/// complex) are kept packed as in the IR; only the ops that convert them (Cast, the QDQ
/// ops, data movement) accept them.
#[derive(Debug, Clone, PartialEq)]
pub enum Array {
    F32(ArrayD<f32>),
    F64(ArrayD<f64>),
    F16(ArrayD<f16>),
    BF16(ArrayD<bf16>),
    I8(ArrayD<i8>),
    I16(ArrayD<i16>),
    I32(ArrayD<i32>),
    I64(ArrayD<i64>),
    U8(ArrayD<u8>),
    U16(ArrayD<u16>),
    U32(ArrayD<u32>),
    U64(ArrayD<u64>),
    Bool(ArrayD<bool>),
    Str(ArrayD<String>),
    /// Packed elements of a type with no arithmetic here, in the IR's byte layout.
    Packed {
        dtype: DType,
        shape: Vec<usize>,
        bytes: Bytes,
    },
}

/// Any value an edge can carry at run time.
#[derive(Debug, Clone, PartialEq)]
pub enum Data {
    Tensor(Array),
    Sequence(Vec<Array>),
    /// An optional value; `None` is an empty optional.
    Optional(Option<Box<Data>>),
}

impl From<Array> for Data {
    fn from(a: Array) -> Data {
        Data::Tensor(a)
    }
}

/// Applies `$body` to the typed array inside an [`Array`] for every numeric and bool type,
/// binding it as `$a`; `$other` handles strings and packed types.
#[macro_export]
macro_rules! with_array {
    ($arr:expr, $a:ident => $body:expr, $other:pat => $fallback:expr) => {
        match $arr {
            $crate::Array::F32($a) => $body,
            $crate::Array::F64($a) => $body,
            $crate::Array::F16($a) => $body,
            $crate::Array::BF16($a) => $body,
            $crate::Array::I8($a) => $body,
            $crate::Array::I16($a) => $body,
            $crate::Array::I32($a) => $body,
            $crate::Array::I64($a) => $body,
            $crate::Array::U8($a) => $body,
            $crate::Array::U16($a) => $body,
            $crate::Array::U32($a) => $body,
            $crate::Array::U64($a) => $body,
            $crate::Array::Bool($a) => $body,
            $other => $fallback,
        }
    };
}

/// Like [`with_array!`] but also rebuilds an `Array` of the same variant from `$body`'s
/// result (an `ArrayD` of the same element type); works for strings too.
#[macro_export]
macro_rules! map_array {
    ($arr:expr, $a:ident => $body:expr) => {
        match $arr {
            $crate::Array::F32($a) => Ok($crate::Array::F32($body)),
            $crate::Array::F64($a) => Ok($crate::Array::F64($body)),
            $crate::Array::F16($a) => Ok($crate::Array::F16($body)),
            $crate::Array::BF16($a) => Ok($crate::Array::BF16($body)),
            $crate::Array::I8($a) => Ok($crate::Array::I8($body)),
            $crate::Array::I16($a) => Ok($crate::Array::I16($body)),
            $crate::Array::I32($a) => Ok($crate::Array::I32($body)),
            $crate::Array::I64($a) => Ok($crate::Array::I64($body)),
            $crate::Array::U8($a) => Ok($crate::Array::U8($body)),
            $crate::Array::U16($a) => Ok($crate::Array::U16($body)),
            $crate::Array::U32($a) => Ok($crate::Array::U32($body)),
            $crate::Array::U64($a) => Ok($crate::Array::U64($body)),
            $crate::Array::Bool($a) => Ok($crate::Array::Bool($body)),
            $crate::Array::Str($a) => Ok($crate::Array::Str($body)),
            $crate::Array::Packed { dtype, .. } => Err($crate::KernelError::new(format!(
                "element type {dtype} is not supported by this op"
            ))),
        }
    };
}

impl Array {
    pub fn dtype(&self) -> DType {
        match self {
            Array::F32(_) => DType::F32,
            Array::F64(_) => DType::F64,
            Array::F16(_) => DType::F16,
            Array::BF16(_) => DType::BF16,
            Array::I8(_) => DType::I8,
            Array::I16(_) => DType::I16,
            Array::I32(_) => DType::I32,
            Array::I64(_) => DType::I64,
            Array::U8(_) => DType::U8,
            Array::U16(_) => DType::U16,
            Array::U32(_) => DType::U32,
            Array::U64(_) => DType::U64,
            Array::Bool(_) => DType::Bool,
            Array::Str(_) => DType::Str,
            Array::Packed { dtype, .. } => *dtype,
        }
    }

    pub fn shape(&self) -> &[usize] {
        match self {
            Array::Str(a) => a.shape(),
            Array::Packed { shape, .. } => shape,
            other => with_array!(other, a => a.shape(), _ => unreachable!("handled above")),
        }
    }

    pub fn len(&self) -> usize {
        self.shape().iter().product()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A scalar f32 array (for tests and simple kernels).
    pub fn scalar_f32(v: f32) -> Array {
        Array::F32(ArrayD::from_elem(IxDyn(&[]), v))
    }

    /// The values of an integer array as i64 (shape inputs, axes, indices).
    pub fn to_i64_vec(&self) -> Result<Vec<i64>, KernelError> {
        Ok(match self {
            Array::I64(a) => a.iter().copied().collect(),
            Array::I32(a) => a.iter().map(|&v| v as i64).collect(),
            Array::I16(a) => a.iter().map(|&v| v as i64).collect(),
            Array::I8(a) => a.iter().map(|&v| v as i64).collect(),
            Array::U8(a) => a.iter().map(|&v| v as i64).collect(),
            Array::U16(a) => a.iter().map(|&v| v as i64).collect(),
            Array::U32(a) => a.iter().map(|&v| v as i64).collect(),
            Array::U64(a) => a
                .iter()
                .map(|&v| {
                    i64::try_from(v)
                        .map_err(|_| KernelError::new(format!("value {v} does not fit in i64")))
                })
                .collect::<Result<_, _>>()?,
            other => {
                return Err(KernelError::new(format!(
                    "expected an integer tensor, got {}",
                    other.dtype()
                )))
            }
        })
    }

    /// The values of a float array as f64 (attributes-like inputs such as Clip bounds).
    pub fn to_f64_vec(&self) -> Result<Vec<f64>, KernelError> {
        Ok(match self {
            Array::F32(a) => a.iter().map(|&v| v as f64).collect(),
            Array::F64(a) => a.iter().copied().collect(),
            Array::F16(a) => a.iter().map(|v| v.to_f64()).collect(),
            Array::BF16(a) => a.iter().map(|v| v.to_f64()).collect(),
            other => return Ok(other.to_i64_vec()?.into_iter().map(|v| v as f64).collect()),
        })
    }

    /// Converts an IR constant (little-endian bytes) into an array.
    pub fn from_tensor(t: &Tensor) -> Result<Array, KernelError> {
        t.check().map_err(|e| KernelError::new(e.to_string()))?;
        let shape: Vec<usize> = t
            .dims
            .iter()
            .map(|&d| usize::try_from(d).map_err(|_| KernelError::new("dimension too large")))
            .collect::<Result<_, _>>()?;
        let raw = match &t.data {
            TensorData::Strings(s) => {
                let v: Vec<String> = s
                    .iter()
                    .map(|b| String::from_utf8_lossy(b).into_owned())
                    .collect();
                return Ok(Array::Str(
                    ArrayD::from_shape_vec(IxDyn(&shape), v).expect("checked length"),
                ));
            }
            TensorData::Raw(b) => b,
        };
        macro_rules! le {
            ($t:ty, $n:literal, $variant:ident) => {{
                let v: Vec<$t> = raw
                    .chunks_exact($n)
                    .map(|c| <$t>::from_le_bytes(c.try_into().expect("chunk size")))
                    .collect();
                Array::$variant(ArrayD::from_shape_vec(IxDyn(&shape), v).expect("checked length"))
            }};
        }
        Ok(match t.dtype {
            DType::F32 => le!(f32, 4, F32),
            DType::F64 => le!(f64, 8, F64),
            DType::I8 => le!(i8, 1, I8),
            DType::I16 => le!(i16, 2, I16),
            DType::I32 => le!(i32, 4, I32),
            DType::I64 => le!(i64, 8, I64),
            DType::U8 => le!(u8, 1, U8),
            DType::U16 => le!(u16, 2, U16),
            DType::U32 => le!(u32, 4, U32),
            DType::U64 => le!(u64, 8, U64),
            DType::F16 => {
                let v: Vec<f16> = raw
                    .chunks_exact(2)
                    .map(|c| f16::from_le_bytes([c[0], c[1]]))
                    .collect();
                Array::F16(ArrayD::from_shape_vec(IxDyn(&shape), v).expect("checked length"))
            }
            DType::BF16 => {
                let v: Vec<bf16> = raw
                    .chunks_exact(2)
                    .map(|c| bf16::from_le_bytes([c[0], c[1]]))
                    .collect();
                Array::BF16(ArrayD::from_shape_vec(IxDyn(&shape), v).expect("checked length"))
            }
            DType::Bool => {
                let v: Vec<bool> = raw.iter().map(|&b| b != 0).collect();
                Array::Bool(ArrayD::from_shape_vec(IxDyn(&shape), v).expect("checked length"))
            }
            dtype => Array::Packed {
                dtype,
                shape,
                bytes: raw.clone(),
            },
        })
    }

    /// Converts back to an IR tensor (row-major little-endian bytes).
    pub fn to_tensor(&self) -> Tensor {
        let dims: Vec<u64> = self.shape().iter().map(|&d| d as u64).collect();
        macro_rules! le {
            ($a:expr) => {{
                let mut out = Vec::with_capacity(
                    $a.len() * std::mem::size_of_val(&$a.first().copied().unwrap_or_default()),
                );
                for v in $a.iter() {
                    out.extend_from_slice(&v.to_le_bytes());
                }
                out
            }};
        }
        let bytes: Vec<u8> = match self {
            Array::F32(a) => le!(a),
            Array::F64(a) => le!(a),
            Array::F16(a) => le!(a),
            Array::BF16(a) => le!(a),
            Array::I8(a) => le!(a),
            Array::I16(a) => le!(a),
            Array::I32(a) => le!(a),
            Array::I64(a) => le!(a),
            Array::U8(a) => le!(a),
            Array::U16(a) => le!(a),
            Array::U32(a) => le!(a),
            Array::U64(a) => le!(a),
            Array::Bool(a) => a.iter().map(|&b| b as u8).collect(),
            Array::Str(a) => {
                return Tensor {
                    dtype: DType::Str,
                    dims,
                    data: TensorData::Strings(
                        a.iter()
                            .map(|s| Bytes::from(s.clone().into_bytes()))
                            .collect(),
                    ),
                }
            }
            Array::Packed { dtype, bytes, .. } => {
                return Tensor {
                    dtype: *dtype,
                    dims,
                    data: TensorData::Raw(bytes.clone()),
                }
            }
        };
        Tensor {
            dtype: self.dtype(),
            dims,
            data: TensorData::Raw(Bytes::from(bytes)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tensor_round_trip_for_every_type() {
        for dtype in DType::all() {
            let count = 6u64;
            let t = match dtype {
                DType::Str => Tensor {
                    dtype,
                    dims: vec![2, 3],
                    data: TensorData::Strings(
                        (0..count).map(|i| Bytes::from(format!("s{i}"))).collect(),
                    ),
                },
                _ => {
                    let n = dtype.storage_bytes(count).unwrap() as usize;
                    // Bools must be 0/1 to survive; other types take any bytes.
                    let bytes: Vec<u8> = (0..n)
                        .map(|i| {
                            if dtype == DType::Bool {
                                (i % 2) as u8
                            } else {
                                (i * 37 + 1) as u8
                            }
                        })
                        .collect();
                    Tensor::from_raw(dtype, vec![2, 3], Bytes::from(bytes)).unwrap()
                }
            };
            let a = Array::from_tensor(&t).unwrap();
            assert_eq!(a.dtype(), dtype);
            assert_eq!(a.shape(), &[2, 3]);
            assert_eq!(a.to_tensor(), t, "{dtype}");
        }
    }
}
