//! `TensorProto` ↔ [`Tensor`]: raw data (zero-copy slices of the decoded buffer), the typed
//! data fields, and external data in files beside the model.

use std::collections::HashMap;
use std::fs::File;
use std::path::{Component, Path, PathBuf};

use bytes::Bytes;
use modelc_ir::{element_count, DType, SparseTensor, Tensor, TensorData};

use crate::proto::{self, tensor_proto::DataLocation};
use crate::OnnxError;

/// Resolves external-data references of one model: the files must be inside the model's
/// directory, and each is memory-mapped once.
#[derive(Default)]
pub(crate) struct ExternalFiles {
    /// The model file's directory; `None` when the model came from memory, which makes any
    /// external reference an error.
    base: Option<PathBuf>,
    maps: HashMap<PathBuf, Bytes>,
}

impl ExternalFiles {
    pub(crate) fn new(base: Option<PathBuf>) -> ExternalFiles {
        ExternalFiles {
            base,
            maps: HashMap::new(),
        }
    }

    /// `length` bytes at `offset` of `location`, checked to stay in the model's directory and
    /// in the file.
    fn slice(
        &mut self,
        tensor: &str,
        location: &str,
        offset: u64,
        length: Option<u64>,
    ) -> Result<Bytes, OnnxError> {
        let err = |message: String| OnnxError::ExternalData {
            tensor: modelc_ir::one_line(tensor),
            message: modelc_ir::one_line(&message),
        };
        let base = self.base.as_ref().ok_or_else(|| {
            err(format!(
                "`{location}` cannot be resolved for a model read from memory"
            ))
        })?;
        let rel = Path::new(location);
        if location.is_empty()
            || rel.is_absolute()
            || rel.components().any(|c| !matches!(c, Component::Normal(_)))
        {
            return Err(err(format!(
                "path `{location}` leaves the model's directory"
            )));
        }
        let path = base.join(rel);
        let canonical = path
            .canonicalize()
            .map_err(|e| err(format!("file `{location}` cannot be opened: {e}")))?;
        let canonical_base = base
            .canonicalize()
            .map_err(|e| err(format!("model directory cannot be resolved: {e}")))?;
        if !canonical.starts_with(&canonical_base) {
            return Err(err(format!(
                "path `{location}` leaves the model's directory (through a link)"
            )));
        }
        let data = match self.maps.get(&canonical) {
            Some(d) => d.clone(),
            None => {
                let file = File::open(&canonical)
                    .map_err(|e| err(format!("file `{location}` cannot be opened: {e}")))?;
                let data = modelc_ir::map_file(&file)
                    .map_err(|e| err(format!("file `{location}` cannot be read: {e}")))?;
                self.maps.insert(canonical, data.clone());
                data
            }
        };
        let size = data.len() as u64;
        let length = length.unwrap_or(size.saturating_sub(offset));
        let end = offset
            .checked_add(length)
            .filter(|&end| end <= size)
            .ok_or_else(|| {
                err(format!(
                    "range {offset}+{length} lies outside `{location}` ({size} bytes)"
                ))
            })?;
        Ok(data.slice(offset as usize..end as usize))
    }
}

fn dims_of(t: &proto::TensorProto, name: &str) -> Result<Vec<u64>, OnnxError> {
    t.dims
        .iter()
        .map(|&d| {
            u64::try_from(d).map_err(|_| {
                OnnxError::invalid(
                    format!("tensor `{name}`"),
                    format!("negative dimension {d}"),
                )
            })
        })
        .collect()
}

/// Imports a tensor; `what` names it in errors (its name, or the attribute it belongs to).
pub(crate) fn import_tensor(
    t: &proto::TensorProto,
    what: &str,
    ext: &mut ExternalFiles,
) -> Result<Tensor, OnnxError> {
    let name = if t.name().is_empty() { what } else { t.name() };
    let ctx = || format!("tensor `{name}`");
    let dtype = DType::from_onnx_code(t.data_type()).ok_or_else(|| {
        OnnxError::invalid(
            ctx(),
            format!("unknown or undefined element type code {}", t.data_type()),
        )
    })?;
    let dims = dims_of(t, name)?;
    let count =
        element_count(&dims).ok_or_else(|| OnnxError::invalid(ctx(), "element count overflows"))?;
    let data = if t.data_location() == DataLocation::External {
        let mut location = None;
        let mut offset = 0u64;
        let mut length = None;
        for kv in &t.external_data {
            let parse = |v: &str| {
                v.parse::<u64>().map_err(|_| {
                    OnnxError::invalid(
                        ctx(),
                        format!("external data `{}` is not a number: `{v}`", kv.key()),
                    )
                })
            };
            match kv.key() {
                "location" => location = Some(kv.value().to_string()),
                "offset" => offset = parse(kv.value())?,
                "length" => length = Some(parse(kv.value())?),
                _ => {}
            }
        }
        let location = location
            .ok_or_else(|| OnnxError::invalid(ctx(), "external data without a location"))?;
        if dtype == DType::Str {
            return Err(OnnxError::invalid(
                ctx(),
                "string tensors cannot be stored externally",
            ));
        }
        TensorData::Raw(ext.slice(name, &location, offset, length)?)
    } else if let Some(raw) = &t.raw_data {
        if dtype == DType::Str {
            return Err(OnnxError::invalid(ctx(), "string tensor with raw_data"));
        }
        TensorData::Raw(raw.clone())
    } else {
        typed_data(t, dtype, count).map_err(|m| OnnxError::invalid(ctx(), m))?
    };
    let tensor = Tensor { dtype, dims, data };
    tensor
        .check()
        .map_err(|e| OnnxError::invalid(ctx(), e.to_string()))?;
    Ok(tensor)
}

/// Data stored in the typed fields (`float_data`, `int32_data`, ...), re-encoded as raw
/// little-endian bytes. The field length is checked against the element count before any
/// allocation.
fn typed_data(t: &proto::TensorProto, dtype: DType, count: u64) -> Result<TensorData, String> {
    use DType::*;
    let want = |have: usize, per_element: u64| -> Result<(), String> {
        let expected = count
            .checked_mul(per_element)
            .ok_or("element count overflows")?;
        if have as u64 == expected {
            Ok(())
        } else {
            Err(format!(
                "{dtype} tensor of {count} elements has {have} data values, expected {expected}"
            ))
        }
    };
    let raw: Vec<u8> = match dtype {
        Str => {
            want(t.string_data.len(), 1)?;
            return Ok(TensorData::Strings(t.string_data.clone()));
        }
        F32 | C64 => {
            want(t.float_data.len(), if dtype == C64 { 2 } else { 1 })?;
            t.float_data.iter().flat_map(|v| v.to_le_bytes()).collect()
        }
        F64 | C128 => {
            want(t.double_data.len(), if dtype == C128 { 2 } else { 1 })?;
            t.double_data.iter().flat_map(|v| v.to_le_bytes()).collect()
        }
        I64 => {
            want(t.int64_data.len(), 1)?;
            t.int64_data.iter().flat_map(|v| v.to_le_bytes()).collect()
        }
        U32 => {
            want(t.uint64_data.len(), 1)?;
            t.uint64_data
                .iter()
                .flat_map(|&v| (v as u32).to_le_bytes())
                .collect()
        }
        U64 => {
            want(t.uint64_data.len(), 1)?;
            t.uint64_data.iter().flat_map(|v| v.to_le_bytes()).collect()
        }
        I32 => {
            want(t.int32_data.len(), 1)?;
            t.int32_data.iter().flat_map(|v| v.to_le_bytes()).collect()
        }
        I16 | U16 | F16 | BF16 => {
            want(t.int32_data.len(), 1)?;
            t.int32_data
                .iter()
                .flat_map(|&v| (v as u16).to_le_bytes())
                .collect()
        }
        I8 | U8 | Bool | F8E4M3FN | F8E4M3FNUZ | F8E5M2 | F8E5M2FNUZ | F8E8M0 => {
            want(t.int32_data.len(), 1)?;
            t.int32_data.iter().map(|&v| v as u8).collect()
        }
        U4 | I4 | F4E2M1 | U2 | I2 => {
            // Sub-byte types: each int32 holds one packed byte.
            let bytes = dtype
                .storage_bytes(count)
                .ok_or("element count overflows")?;
            if t.int32_data.len() as u64 != bytes {
                return Err(format!(
                    "{dtype} tensor of {count} elements has {} packed data values, expected {bytes}",
                    t.int32_data.len()
                ));
            }
            t.int32_data.iter().map(|&v| v as u8).collect()
        }
    };
    Ok(TensorData::Raw(Bytes::from(raw)))
}

pub(crate) fn export_tensor(t: &Tensor, name: &str) -> proto::TensorProto {
    let mut tp = proto::TensorProto {
        dims: t.dims.iter().map(|&d| d as i64).collect(),
        data_type: Some(t.dtype.onnx_code()),
        ..Default::default()
    };
    if !name.is_empty() {
        tp.name = Some(name.to_string());
    }
    match &t.data {
        TensorData::Raw(b) => tp.raw_data = Some(b.clone()),
        TensorData::Strings(s) => tp.string_data = s.clone(),
    }
    tp
}

pub(crate) fn import_sparse(
    s: &proto::SparseTensorProto,
    what: &str,
    ext: &mut ExternalFiles,
) -> Result<SparseTensor, OnnxError> {
    let values = s
        .values
        .as_ref()
        .ok_or_else(|| OnnxError::invalid(format!("sparse tensor `{what}`"), "has no values"))?;
    let indices = s
        .indices
        .as_ref()
        .ok_or_else(|| OnnxError::invalid(format!("sparse tensor `{what}`"), "has no indices"))?;
    let dims = s
        .dims
        .iter()
        .map(|&d| {
            u64::try_from(d).map_err(|_| {
                OnnxError::invalid(
                    format!("sparse tensor `{what}`"),
                    format!("negative dimension {d}"),
                )
            })
        })
        .collect::<Result<_, _>>()?;
    Ok(SparseTensor {
        values: import_tensor(values, what, ext)?,
        indices: import_tensor(indices, &format!("{what}.indices"), ext)?,
        dims,
    })
}

/// The name a sparse tensor's values carry (ONNX names a sparse initializer by its values).
pub(crate) fn sparse_name(s: &proto::SparseTensorProto) -> &str {
    s.values.as_ref().map_or("", |v| v.name())
}

pub(crate) fn export_sparse(s: &SparseTensor, name: &str) -> proto::SparseTensorProto {
    proto::SparseTensorProto {
        values: Some(export_tensor(&s.values, name)),
        indices: Some(export_tensor(&s.indices, "")),
        dims: s.dims.iter().map(|&d| d as i64).collect(),
    }
}
