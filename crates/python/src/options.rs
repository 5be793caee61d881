//! Keyword arguments as the command line's options: `keep_io_layout=True` is
//! `--keep-io-layout`, `opset=13` is `--opset 13`, `exclude=["Softmax", "Add"]` repeats
//! `--exclude`, `level=2` is `-O2`, and the maps `input_shapes={"x": [1, 3, 224, 224]}`,
//! `dims={"batch": 1}` and `input_types={"ids": "int64"}` are `--input-shape x:1,3,224,224`,
//! `--dim batch=1` and `--input-type ids:int64`. The command line's parser then reads them,
//! so Python takes exactly the CLI's options, with its defaults and its checks.

use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyList, PyString, PyTuple};

use crate::errors::OptionError;

/// The options `kwargs` name, as command-line arguments.
pub fn flags(kwargs: Option<&Bound<'_, PyDict>>) -> PyResult<Vec<String>> {
    let mut out = Vec::new();
    let Some(kwargs) = kwargs else {
        return Ok(out);
    };
    for (key, value) in kwargs.iter() {
        let key: String = key.extract()?;
        if value.is_none() {
            continue;
        }
        match key.as_str() {
            "input_shapes" => {
                for (name, dims) in map(&key, &value)? {
                    out.push("--input-shape".into());
                    out.push(format!("{name}:{}", dims_spec(&dims)?));
                }
            }
            "dims" => {
                for (name, size) in map(&key, &value)? {
                    out.push("--dim".into());
                    out.push(format!("{name}={}", size.str()?));
                }
            }
            "input_types" => {
                for (name, ty) in map(&key, &value)? {
                    out.push("--input-type".into());
                    out.push(format!("{name}:{}", ty.str()?));
                }
            }
            "level" => out.push(format!("-O{}", value.str()?)),
            _ => {
                let flag = format!("--{}", key.replace('_', "-"));
                if let Ok(b) = value.cast::<PyBool>() {
                    if b.is_true() {
                        out.push(flag);
                    }
                } else if value.is_instance_of::<PyList>() || value.is_instance_of::<PyTuple>() {
                    for item in value.try_iter()? {
                        out.push(flag.clone());
                        out.push(item?.str()?.to_string());
                    }
                } else {
                    out.push(flag);
                    out.push(value.str()?.to_string());
                }
            }
        }
    }
    Ok(out)
}

/// A dict option's items.
fn map<'py>(key: &str, value: &Bound<'py, PyAny>) -> PyResult<Vec<(String, Bound<'py, PyAny>)>> {
    let dict = value
        .cast::<PyDict>()
        .map_err(|_| OptionError::new_err(format!("{key}: expected a dict")))?;
    dict.iter()
        .map(|(k, v)| Ok((k.extract::<String>()?, v)))
        .collect()
}

/// `[1, 3, "h", 224]` (or the string `"1,3,h,224"`) as `1,3,h,224`.
pub fn dims_spec(dims: &Bound<'_, PyAny>) -> PyResult<String> {
    if let Ok(s) = dims.cast::<PyString>() {
        return Ok(s.to_string());
    }
    let parts: Vec<String> = dims
        .try_iter()?
        .map(|d| Ok(d?.str()?.to_string()))
        .collect::<PyResult<_>>()?;
    Ok(parts.join(","))
}

/// `input_shapes` and `dims` as the library's `InputShapes`.
pub fn input_shapes(
    input_shapes: Option<&Bound<'_, PyDict>>,
    dims: Option<&Bound<'_, PyDict>>,
) -> PyResult<modelc::InputShapes> {
    let mut shapes = Vec::new();
    if let Some(d) = input_shapes {
        for (name, v) in d.iter() {
            shapes.push(format!("{}:{}", name.str()?, dims_spec(&v)?));
        }
    }
    let mut sizes = Vec::new();
    if let Some(d) = dims {
        for (name, v) in d.iter() {
            sizes.push(format!("{}={}", name.str()?, v.str()?));
        }
    }
    modelc::InputShapes::parse(&shapes, &sizes)
        .map_err(|e| OptionError::new_err(modelc::error_line(&e)))
}
