//! Tensors: element type, shape and shared bytes.
//!
//! The bytes are a [`bytes::Bytes`], so a tensor can point into a memory-mapped model file
//! or into the buffer it was decoded from: converting a 2 GB model copies no weights.

use bytes::Bytes;

use crate::DType;

/// The elements of a tensor.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum TensorData {
    /// Fixed-size elements, little-endian, densely packed in row-major order; sub-byte types
    /// (4- and 2-bit) pack the first element in the low bits, as ONNX does.
    Raw(Bytes),
    /// String elements (arbitrary bytes each).
    Strings(Vec<Bytes>),
}

/// A constant tensor.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Tensor {
    pub dtype: DType,
    pub dims: Vec<u64>,
    pub data: TensorData,
}

/// Why tensor contents do not agree with its declared type and shape.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TensorError {
    #[error("element count of shape {0:?} overflows")]
    Overflow(Vec<u64>),
    #[error("{dtype} tensor of shape {dims:?} needs {expected} bytes, has {actual}")]
    ByteLength {
        dtype: DType,
        dims: Vec<u64>,
        expected: u64,
        actual: u64,
    },
    #[error("string tensor of shape {dims:?} needs {expected} elements, has {actual}")]
    StringCount {
        dims: Vec<u64>,
        expected: u64,
        actual: u64,
    },
    #[error("{0} tensor holds strings")]
    StringsForNonString(DType),
    #[error("string tensor holds raw bytes")]
    RawForString,
}

/// Number of elements of a shape, `None` on overflow.
pub fn element_count(dims: &[u64]) -> Option<u64> {
    dims.iter().try_fold(1u64, |acc, &d| acc.checked_mul(d))
}

impl Tensor {
    /// A tensor from raw little-endian bytes, checked against dtype and shape.
    pub fn from_raw(dtype: DType, dims: Vec<u64>, bytes: Bytes) -> Result<Tensor, TensorError> {
        let t = Tensor {
            dtype,
            dims,
            data: TensorData::Raw(bytes),
        };
        t.check()?;
        Ok(t)
    }

    /// A scalar or shaped f32 tensor from values (used by tests and passes).
    pub fn from_f32(dims: Vec<u64>, values: &[f32]) -> Result<Tensor, TensorError> {
        let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        Tensor::from_raw(DType::F32, dims, Bytes::from(bytes))
    }

    /// An i64 tensor from values.
    pub fn from_i64(dims: Vec<u64>, values: &[i64]) -> Result<Tensor, TensorError> {
        let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        Tensor::from_raw(DType::I64, dims, Bytes::from(bytes))
    }

    pub fn element_count(&self) -> Option<u64> {
        element_count(&self.dims)
    }

    /// Size of the data in bytes (strings: the sum of their lengths).
    pub fn byte_len(&self) -> u64 {
        match &self.data {
            TensorData::Raw(b) => b.len() as u64,
            TensorData::Strings(s) => s.iter().map(|x| x.len() as u64).sum(),
        }
    }

    /// The raw bytes, for non-string tensors.
    pub fn raw(&self) -> Option<&Bytes> {
        match &self.data {
            TensorData::Raw(b) => Some(b),
            TensorData::Strings(_) => None,
        }
    }

    /// Checks that the data matches the declared element type and shape.
    pub fn check(&self) -> Result<(), TensorError> {
        let count = self
            .element_count()
            .ok_or_else(|| TensorError::Overflow(self.dims.clone()))?;
        match (&self.data, self.dtype) {
            (TensorData::Strings(s), DType::Str) => {
                if s.len() as u64 != count {
                    return Err(TensorError::StringCount {
                        dims: self.dims.clone(),
                        expected: count,
                        actual: s.len() as u64,
                    });
                }
            }
            (TensorData::Strings(_), dt) => return Err(TensorError::StringsForNonString(dt)),
            (TensorData::Raw(_), DType::Str) => return Err(TensorError::RawForString),
            (TensorData::Raw(b), dt) => {
                let expected = dt
                    .storage_bytes(count)
                    .ok_or_else(|| TensorError::Overflow(self.dims.clone()))?;
                if b.len() as u64 != expected {
                    return Err(TensorError::ByteLength {
                        dtype: dt,
                        dims: self.dims.clone(),
                        expected,
                        actual: b.len() as u64,
                    });
                }
            }
        }
        Ok(())
    }

    /// A 64-bit FNV-1a hash of dtype, shape and contents: names a constant in the text form.
    pub fn content_hash(&self) -> u64 {
        let mut h = Fnv::default();
        h.write(&self.dtype.onnx_code().to_le_bytes());
        for d in &self.dims {
            h.write(&d.to_le_bytes());
        }
        match &self.data {
            TensorData::Raw(b) => h.write(b),
            TensorData::Strings(items) => {
                for s in items {
                    h.write(&(s.len() as u64).to_le_bytes());
                    h.write(s);
                }
            }
        }
        h.0
    }
}

struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= b as u64;
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
}

/// A sparse tensor in ONNX's COO form: `values` (1-D) at `indices` ([NNZ, rank] or linearized
/// [NNZ]) of a dense tensor of shape `dims`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SparseTensor {
    pub values: Tensor,
    pub indices: Tensor,
    pub dims: Vec<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_catches_wrong_lengths() {
        assert!(Tensor::from_f32(vec![2, 2], &[1.0, 2.0, 3.0, 4.0]).is_ok());
        let err = Tensor::from_raw(DType::F32, vec![2, 2], Bytes::from(vec![0u8; 15])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "f32 tensor of shape [2, 2] needs 16 bytes, has 15"
        );
        let err = Tensor::from_raw(DType::I4, vec![u64::MAX, 4], Bytes::new()).unwrap_err();
        assert!(matches!(err, TensorError::Overflow(_)));
        assert!(Tensor::from_raw(DType::I4, vec![3], Bytes::from(vec![0u8; 2])).is_ok());
    }

    #[test]
    fn hash_depends_on_shape_and_data() {
        let a = Tensor::from_f32(vec![4], &[1.0, 2.0, 3.0, 4.0]).unwrap();
        let b = Tensor::from_f32(vec![2, 2], &[1.0, 2.0, 3.0, 4.0]).unwrap();
        let c = Tensor::from_f32(vec![4], &[1.0, 2.0, 3.0, 5.0]).unwrap();
        assert_ne!(a.content_hash(), b.content_hash());
        assert_ne!(a.content_hash(), c.content_hash());
        assert_eq!(a.content_hash(), a.clone().content_hash());
    }
}
