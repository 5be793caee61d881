//! Tensors as numpy arrays and back. A tensor's bytes become a read-only array that views
//! them without a copy (a memory-mapped weight stays in the map); the array keeps the bytes
//! alive through its base object. Arrays given to modelc are copied into a tensor once.

use std::os::raw::{c_int, c_void};

use bytes::Bytes;
use modelc_ir::{DType, Tensor};
use numpy::npyffi::{self, npy_intp, PY_ARRAY_API};
use numpy::{PyArrayDescr, PyArrayDescrMethods, PyUntypedArray, PyUntypedArrayMethods};
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::errors::{ModelcError, OptionError};

/// The bytes a numpy array views: its base object, so they live as long as the array.
#[pyclass(frozen, module = "modelc")]
struct TensorBytes(Bytes);

/// numpy's name for an element type, where numpy has the type.
pub fn numpy_name(dt: DType) -> Option<&'static str> {
    Some(match dt {
        DType::F32 => "float32",
        DType::F64 => "float64",
        DType::F16 => "float16",
        DType::I8 => "int8",
        DType::I16 => "int16",
        DType::I32 => "int32",
        DType::I64 => "int64",
        DType::U8 => "uint8",
        DType::U16 => "uint16",
        DType::U32 => "uint32",
        DType::U64 => "uint64",
        DType::Bool => "bool",
        DType::C64 => "complex64",
        DType::C128 => "complex128",
        _ => return None,
    })
}

/// The name of an element type for Python: numpy's, else modelc's (`bf16`, `f8e4m3fn`, ...).
pub fn dtype_name(dt: DType) -> &'static str {
    numpy_name(dt).unwrap_or(dt.name())
}

/// A read-only numpy array over the tensor's bytes, without copying them. String tensors
/// become arrays of Python `bytes` (a copy); element types numpy lacks (bfloat16, the 8-,
/// 4- and 2-bit floats and integers) are refused by name.
pub fn to_numpy<'py>(py: Python<'py>, t: &Tensor, what: &str) -> PyResult<Bound<'py, PyAny>> {
    if let modelc_ir::TensorData::Strings(items) = &t.data {
        let list: Vec<Bound<'py, PyBytes>> = items.iter().map(|b| PyBytes::new(py, b)).collect();
        let np = py.import("numpy")?;
        let arr = np.call_method1("array", (list, "object"))?;
        let dims: Vec<u64> = t.dims.clone();
        return arr.call_method1("reshape", (dims,));
    }
    let name = numpy_name(t.dtype).ok_or_else(|| {
        ModelcError::new_err(format!(
            "{what}: numpy has no {} element type (convert it to float32 first)",
            t.dtype
        ))
    })?;
    t.check()
        .map_err(|e| ModelcError::new_err(format!("{what}: {e}")))?;
    let Some(bytes) = t.raw() else {
        return Err(ModelcError::new_err(format!("{what}: no data")));
    };
    let mut dims = t
        .dims
        .iter()
        .map(|&d| npy_intp::try_from(d))
        .collect::<Result<Vec<npy_intp>, _>>()
        .map_err(|_| ModelcError::new_err(format!("{what}: dims {:?} too large", t.dims)))?;
    let ndim = c_int::try_from(dims.len())
        .map_err(|_| ModelcError::new_err(format!("{what}: rank {} too large", dims.len())))?;
    let descr = PyArrayDescr::new(py, name)?;
    let owner = Bound::new(py, TensorBytes(bytes.clone()))?;
    let data = owner.get().0.as_ptr();
    view(py, descr, ndim, &mut dims, data, owner.into_any())
}

/// A read-only, C-ordered numpy array of `descr` elements and `dims` at `data`, with `owner`
/// as its base object.
#[allow(unsafe_code)]
fn view<'py>(
    py: Python<'py>,
    descr: Bound<'py, PyArrayDescr>,
    ndim: c_int,
    dims: &mut [npy_intp],
    data: *const u8,
    owner: Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyAny>> {
    // SAFETY: `data` points to the bytes `owner` holds (a `Bytes`, never reallocated or
    // mutated: the array is created without NPY_ARRAY_WRITEABLE, so numpy refuses writes),
    // and the caller checked that they are exactly dims × itemsize long. numpy computes
    // C-contiguous strides (strides NULL) and the ALIGNED flag itself (bytes in a mapped
    // file may be unaligned; numpy handles that). NewFromDescr steals the reference to
    // `descr`, SetBaseObject the one to `owner` (also on failure), so nothing leaks; the
    // array owns the only reference returned.
    unsafe {
        let arr = PY_ARRAY_API.PyArray_NewFromDescr(
            py,
            npyffi::get_type_object(py, npyffi::NpyTypes::PyArray_Type),
            descr.into_dtype_ptr(),
            ndim,
            dims.as_mut_ptr(),
            std::ptr::null_mut(),
            data as *mut c_void,
            0,
            std::ptr::null_mut(),
        );
        if arr.is_null() {
            return Err(PyErr::fetch(py));
        }
        let arr = Bound::from_owned_ptr(py, arr);
        if PY_ARRAY_API.PyArray_SetBaseObject(
            py,
            arr.as_ptr() as *mut npyffi::PyArrayObject,
            owner.into_ptr(),
        ) < 0
        {
            return Err(PyErr::fetch(py));
        }
        Ok(arr)
    }
}

/// A tensor of `value`: a numpy array (or anything `numpy.asarray` takes), copied once.
pub fn from_numpy(py: Python<'_>, value: &Bound<'_, PyAny>, what: &str) -> PyResult<Tensor> {
    let np = py.import("numpy")?;
    let arr = np.call_method1("ascontiguousarray", (value,))?;
    let arr = arr
        .cast::<PyUntypedArray>()
        .map_err(|_| OptionError::new_err(format!("{what}: not convertible to a numpy array")))?;
    let descr = arr.dtype();
    let dtype = match (descr.kind(), descr.itemsize()) {
        (b'f', 4) => DType::F32,
        (b'f', 8) => DType::F64,
        (b'f', 2) => DType::F16,
        (b'i', 1) => DType::I8,
        (b'i', 2) => DType::I16,
        (b'i', 4) => DType::I32,
        (b'i', 8) => DType::I64,
        (b'u', 1) => DType::U8,
        (b'u', 2) => DType::U16,
        (b'u', 4) => DType::U32,
        (b'u', 8) => DType::U64,
        (b'b', 1) => DType::Bool,
        (b'c', 8) => DType::C64,
        (b'c', 16) => DType::C128,
        _ => {
            return Err(OptionError::new_err(format!(
                "{what}: numpy dtype {} has no modelc element type",
                descr.str()?
            )))
        }
    };
    if descr.byteorder() == b'>' {
        return Err(OptionError::new_err(format!(
            "{what}: big-endian arrays are not supported (use .astype('<{}'))",
            char::from(descr.kind())
        )));
    }
    let dims: Vec<u64> = arr.shape().iter().map(|&d| d as u64).collect();
    let raw = arr.call_method0("tobytes")?;
    let raw = raw.cast::<PyBytes>()?;
    Tensor::from_raw(dtype, dims, Bytes::copy_from_slice(raw.as_bytes()))
        .map_err(|e| OptionError::new_err(format!("{what}: {e}")))
}
