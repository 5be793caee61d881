//! NumPy `.npy` files: read (checked against the file length before allocating) and write.
//! Element types are those of the IR that NumPy names: bool, ints, uints, f16, f32, f64.

use std::path::Path;

use bytes::Bytes;
use modelc_ir::{element_count, DType, Tensor, TensorData};

/// Why an `.npy` file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum NpyError {
    #[error("{}: cannot read: {source}", path.display())]
    Io {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: not a valid .npy file: {message}", path.display())]
    Invalid {
        path: std::path::PathBuf,
        message: String,
    },
}

const MAGIC: &[u8] = b"\x93NUMPY";

fn descr(dtype: DType) -> Option<&'static str> {
    Some(match dtype {
        DType::Bool => "|b1",
        DType::I8 => "|i1",
        DType::U8 => "|u1",
        DType::I16 => "<i2",
        DType::U16 => "<u2",
        DType::I32 => "<i4",
        DType::U32 => "<u4",
        DType::I64 => "<i8",
        DType::U64 => "<u8",
        DType::F16 => "<f2",
        DType::F32 => "<f4",
        DType::F64 => "<f8",
        _ => return None,
    })
}

fn dtype_of(descr: &str) -> Option<DType> {
    // Byte order: '<' little, '|' not applicable, '=' native (little on the machines we run).
    let d = descr.trim_start_matches(['<', '|', '=']);
    Some(match d {
        "b1" => DType::Bool,
        "i1" => DType::I8,
        "u1" => DType::U8,
        "i2" => DType::I16,
        "u2" => DType::U16,
        "i4" => DType::I32,
        "u4" => DType::U32,
        "i8" => DType::I64,
        "u8" => DType::U64,
        "f2" => DType::F16,
        "f4" => DType::F32,
        "f8" => DType::F64,
        _ => return None,
    })
}

/// Reads an `.npy` file as a tensor.
pub fn read(path: &Path) -> Result<Tensor, NpyError> {
    let bytes = std::fs::read(path).map_err(|source| NpyError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    parse(&bytes).map_err(|message| NpyError::Invalid {
        path: path.to_path_buf(),
        message,
    })
}

/// Parses `.npy` bytes.
pub fn parse(bytes: &[u8]) -> Result<Tensor, String> {
    if !bytes.starts_with(MAGIC) || bytes.len() < 10 {
        return Err("missing the \\x93NUMPY header".into());
    }
    let major = bytes[6];
    let (header_len, start): (usize, usize) = match major {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 => {
            if bytes.len() < 12 {
                return Err("truncated header".into());
            }
            (
                u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
                12,
            )
        }
        v => return Err(format!("unsupported format version {v}")),
    };
    let end = start
        .checked_add(header_len)
        .filter(|&e| e <= bytes.len())
        .ok_or("truncated header")?;
    let header = std::str::from_utf8(&bytes[start..end]).map_err(|_| "header is not text")?;
    let field = |key: &str| -> Result<&str, String> {
        let k = format!("'{key}':");
        let at = header
            .find(&k)
            .ok_or_else(|| format!("header lacks '{key}'"))?
            + k.len();
        Ok(header[at..].trim_start())
    };
    let descr_str = field("descr")?;
    let descr_str = descr_str
        .strip_prefix('\'')
        .and_then(|s| s.split('\'').next())
        .ok_or("bad 'descr'")?;
    let dtype =
        dtype_of(descr_str).ok_or_else(|| format!("unsupported element type '{descr_str}'"))?;
    if descr_str.starts_with('>') {
        return Err("big-endian data is not supported".into());
    }
    if field("fortran_order")?.starts_with("True") {
        return Err("Fortran-order arrays are not supported".into());
    }
    let shape_str = field("shape")?;
    let inner = shape_str
        .strip_prefix('(')
        .and_then(|s| s.split(')').next())
        .ok_or("bad 'shape'")?;
    let dims: Vec<u64> = inner
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse::<u64>().map_err(|_| format!("bad dimension '{s}'")))
        .collect::<Result<_, _>>()?;
    let count = element_count(&dims).ok_or("element count overflows")?;
    let need = dtype
        .storage_bytes(count)
        .ok_or("element count overflows")?;
    let data = &bytes[end..];
    if data.len() as u64 != need {
        return Err(format!(
            "shape {dims:?} of {dtype} needs {need} data bytes, the file has {}",
            data.len()
        ));
    }
    let tensor = Tensor {
        dtype,
        dims,
        data: TensorData::Raw(Bytes::copy_from_slice(data)),
    };
    tensor.check().map_err(|e| e.to_string())?;
    Ok(tensor)
}

/// Encodes a tensor as `.npy` bytes (format version 1.0).
pub fn encode(t: &Tensor) -> Result<Vec<u8>, String> {
    let d =
        descr(t.dtype).ok_or_else(|| format!("{} tensors cannot be stored as .npy", t.dtype))?;
    let raw = t.raw().ok_or("string tensors cannot be stored as .npy")?;
    let shape = match t.dims.len() {
        1 => format!("({},)", t.dims[0]),
        _ => format!(
            "({})",
            t.dims
                .iter()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let mut header = format!("{{'descr': '{d}', 'fortran_order': False, 'shape': {shape}, }}");
    // Pad so that the data starts on a 64-byte boundary, ending the header with '\n'.
    let total = MAGIC.len() + 2 + 2 + header.len() + 1;
    header.push_str(&" ".repeat(total.next_multiple_of(64) - total));
    header.push('\n');
    let mut out = Vec::with_capacity(10 + header.len() + raw.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&[1, 0]);
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(raw);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_header_layout() {
        let t = Tensor::from_f32(vec![2, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]).unwrap();
        let bytes = encode(&t).unwrap();
        assert_eq!((bytes.len() - 24) % 64, 0, "data is 64-byte aligned");
        assert_eq!(&bytes[..6], MAGIC);
        assert_eq!(parse(&bytes).unwrap(), t);
        let scalar = Tensor::from_i64(vec![], &[7]).unwrap();
        assert_eq!(parse(&encode(&scalar).unwrap()).unwrap(), scalar);
    }

    #[test]
    fn bad_files_are_errors() {
        let t = Tensor::from_f32(vec![4], &[1.0; 4]).unwrap();
        let bytes = encode(&t).unwrap();
        assert!(parse(&bytes[..bytes.len() - 1])
            .unwrap_err()
            .contains("needs 16 data bytes"));
        for len in 0..bytes.len() {
            let _ = parse(&bytes[..len]);
        }
        let huge = String::from_utf8_lossy(&bytes).replace("(4,)", "(99999999999999,)");
        assert!(parse(huge.as_bytes()).is_err());
    }
}
