//! Parameters, buffers and tensor constants: the payload configs and the raw entries they
//! point to.
//!
//! torch 2.15 writes each storage once, as the raw little-endian bytes of its largest tensor
//! (`_save_raw_tensors`), and describes every state-dict entry as a view of it (sizes,
//! strides, storage offset in `tensor_meta`). Entries are stored uncompressed, so a weight is
//! a slice of the memory map; only strided views are gathered (by the TorchScript
//! frontend's `to_ir_tensor`). Tensor subclasses are `torch.save` pickles (`use_pickle`):
//! refused by name.

use std::collections::BTreeMap;

use modelc_ir::{element_count, DType};
use modelc_torchscript::pickle::{Storage, TensorValue};

use crate::archive::{Pt2Archive, MODEL};
use crate::schema::{PayloadConfig, SymInt, TensorMeta};
use crate::Pt2Error;

/// The state-dict entries (`l.weight`) and constants (`lifted_tensor_0`) by name.
pub fn load(a: &mut Pt2Archive) -> Result<BTreeMap<String, TensorValue>, Pt2Error> {
    let mut out = BTreeMap::new();
    for dir in ["weights", "constants"] {
        let config = format!("data/{dir}/{MODEL}_{dir}_config.json");
        if !a.zip.contains(&config) {
            continue;
        }
        let c: PayloadConfig = a.json(&config)?;
        for (name, meta) in c.config {
            let err = |msg: String| Pt2Error::Weight {
                name: name.clone(),
                msg,
            };
            if meta.use_pickle {
                return Err(err(
                    "is a pickled tensor subclass (quantized or wrapper tensor); modelc reads plain tensors".into(),
                ));
            }
            let tm = meta
                .tensor_meta
                .as_ref()
                .ok_or_else(|| err("has no tensor_meta".into()))?;
            let path = format!("data/{dir}/{}", meta.path_name);
            let data = a.zip.read(&path).map_err(|e| err(e.to_string()))?;
            out.insert(name.clone(), view(&name, &path, tm, data)?);
        }
    }
    Ok(out)
}

/// A view of raw storage bytes as its metadata describes it.
fn view(
    name: &str,
    key: &str,
    tm: &TensorMeta,
    data: bytes::Bytes,
) -> Result<TensorValue, Pt2Error> {
    let err = |msg: String| Pt2Error::Weight {
        name: name.into(),
        msg,
    };
    let dtype = dtype(tm.dtype)
        .ok_or_else(|| err(format!("element type code {} is not supported", tm.dtype)))?;
    if tm.layout.is_some_and(|l| l != 7) {
        return Err(err("is not a strided (dense) tensor".into()));
    }
    let ints = |v: &[SymInt], what: &str| -> Result<Vec<u64>, Pt2Error> {
        v.iter()
            .map(|s| match s {
                SymInt::AsInt(i) if *i >= 0 => Ok(*i as u64),
                _ => Err(err(format!("has a symbolic or negative {what}"))),
            })
            .collect()
    };
    let size = ints(&tm.sizes, "size")?;
    let stride = ints(&tm.strides, "stride")?;
    if stride.len() != size.len() {
        return Err(err(format!(
            "{} sizes but {} strides",
            size.len(),
            stride.len()
        )));
    }
    let offset = match &tm.storage_offset {
        None => 0,
        Some(o) => ints(std::slice::from_ref(o), "storage offset")?[0],
    };
    let es = u64::from((dtype.bits() / 8).max(1));
    let numel = data.len() as u64 / es;
    if !(data.len() as u64).is_multiple_of(es) {
        return Err(err(format!(
            "{} bytes is not a whole number of {dtype} elements",
            data.len()
        )));
    }
    // The furthest element the view reads must lie inside the storage.
    let n = element_count(&size).ok_or_else(|| err("size overflows".into()))?;
    if n > 0 {
        let last = size
            .iter()
            .zip(&stride)
            .try_fold(offset, |acc, (&d, &s)| {
                acc.checked_add((d - 1).checked_mul(s)?)
            })
            .ok_or_else(|| err("view overflows".into()))?;
        if last >= numel {
            return Err(err(format!(
                "view reaches element {last} of a {numel}-element storage {key}"
            )));
        }
    }
    Ok(TensorValue {
        storage: Storage {
            key: key.into(),
            dtype,
            location: "cpu".into(),
            numel,
            data,
        },
        offset,
        size,
        stride,
        requires_grad: false,
    })
}

/// The schema's `ScalarType` codes (not c10's numbering) → element types.
pub fn dtype(code: i64) -> Option<DType> {
    Some(match code {
        1 => DType::U8,
        2 => DType::I8,
        3 => DType::I16,
        4 => DType::I32,
        5 => DType::I64,
        6 => DType::F16,
        7 => DType::F32,
        8 => DType::F64,
        10 => DType::C64,
        11 => DType::C128,
        12 => DType::Bool,
        13 => DType::BF16,
        28 => DType::U16,
        29 => DType::F8E4M3FN,
        30 => DType::F8E5M2,
        31 => DType::F8E4M3FNUZ,
        32 => DType::F8E5M2FNUZ,
        33 => DType::F8E8M0,
        34 => DType::U32,
        35 => DType::U64,
        _ => return None,
    })
}
