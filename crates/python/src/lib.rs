//! `modelc._modelc`, the extension module of the `modelc` Python package: the modelc
//! library (load, convert, optimize, quantize, run, verify, save) for Python pipelines.
//! `python/modelc/__init__.py` re-exports it; `_modelc.pyi` types it. The GIL is released
//! while a model is read, transformed, run or written.

mod array;
mod errors;
mod model;
mod options;

use std::path::PathBuf;

use bytes::Bytes;
use modelc::Format;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};

use crate::errors::{ModelcError, OptionError, ReadError};
use crate::model::Model;

/// A serializable value as Python objects (dicts, lists, numbers, strings).
fn json<'py, T: serde::Serialize>(py: Python<'py>, value: &T) -> PyResult<Bound<'py, PyAny>> {
    let text = serde_json::to_string(value).map_err(|e| ModelcError::new_err(e.to_string()))?;
    py.import("json")?.call_method1("loads", (text,))
}

/// The format a `format=` argument names.
fn parse_format(name: &str) -> PyResult<Format> {
    Ok(match name.to_ascii_lowercase().as_str() {
        "onnx" => Format::Onnx,
        "tflite" => Format::Tflite,
        "torchscript" | "pt" => Format::TorchScript,
        "pt2" => Format::Pt2,
        _ => {
            return Err(OptionError::new_err(format!(
                "format=`{name}`: expected onnx, tflite, torchscript or pt2"
            )))
        }
    })
}

/// Reads a model from serialized bytes: ONNX decoded in memory, the others through a
/// temporary file (removed once read; a mapped file stays readable until unmapped).
fn load_bytes(
    bytes: Bytes,
    format: Option<Format>,
) -> Result<(modelc::Model, Format), modelc::Error> {
    let head = &bytes[..bytes.len().min(8)];
    let format = format
        .or_else(|| Format::from_content(head))
        .or_else(|| Format::looks_like_onnx(head).then_some(Format::Onnx))
        .ok_or_else(|| modelc::Error::UnrecognizedModel(PathBuf::from("<bytes>")))?;
    if format == Format::Onnx {
        let model = modelc_onnx::decode(bytes, None).map_err(|source| modelc::Error::Onnx {
            path: PathBuf::from("<bytes>"),
            source,
        })?;
        return Ok((model, format));
    }
    let suffix = match format {
        Format::Tflite => ".tflite",
        Format::Pt2 => ".pt2",
        _ => ".pt",
    };
    let io = |e: std::io::Error| {
        modelc::Error::UnrecognizedModel(PathBuf::from(format!("<bytes> ({e})")))
    };
    let file = tempfile::Builder::new()
        .prefix("modelc-")
        .suffix(suffix)
        .tempfile()
        .map_err(io)?;
    std::fs::write(file.path(), &bytes).map_err(io)?;
    let model = modelc::load(file.path())?;
    Ok((model, format))
}

/// A model from a path, serialized bytes, an ``onnx.ModelProto`` or a ``Model``.
fn model_of(py: Python<'_>, source: &Bound<'_, PyAny>, format: Option<&str>) -> PyResult<Model> {
    if let Ok(m) = source.cast::<Model>() {
        let m = m.get();
        return Ok(Model {
            model: m.model.clone(),
            format: m.format,
        });
    }
    let format = format.map(parse_format).transpose()?;
    let bytes = if let Ok(b) = source.cast::<PyBytes>() {
        Some(Bytes::copy_from_slice(b.as_bytes()))
    } else if source.hasattr("SerializeToString")? {
        let b = source.call_method0("SerializeToString")?;
        Some(Bytes::copy_from_slice(b.cast::<PyBytes>()?.as_bytes()))
    } else {
        None
    };
    if let Some(bytes) = bytes {
        let (model, format) = py
            .detach(|| load_bytes(bytes, format))
            .map_err(|e| errors::from_modelc(&e, None))?;
        return Ok(Model::new(model, format));
    }
    let path: PathBuf = source.extract().map_err(|_| {
        OptionError::new_err("expected a path, bytes, an onnx.ModelProto or a modelc.Model")
    })?;
    let found = modelc::input_format(&path).map_err(|e| errors::from_modelc(&e, None))?;
    if let Some(f) = format {
        if f != found {
            return Err(ReadError::new_err(format!(
                "{}: format={} given, the file is {found}",
                path.display(),
                f.name()
            )));
        }
    }
    let model = py
        .detach(|| modelc::load(&path))
        .map_err(|e| errors::from_modelc(&e, None))?;
    Ok(Model::new(model, found))
}

/// Reads a model: ONNX, TFLite or TorchScript, recognized by its content.
///
/// source: a path (str or os.PathLike), the serialized model as bytes, or an
///     ``onnx.ModelProto`` (serialized with its ``SerializeToString``).
/// format: "onnx", "tflite" or "torchscript", to insist on one (a path must then hold
///     that format; bytes are read as it).
///
/// Raises ``modelc.ReadError`` (a ``ModelcError``) with the CLI's one-line message for an
/// unreadable, invalid or hostile file.
///
/// >>> model = modelc.load("model.onnx")
/// >>> model = modelc.load(onnx_model.SerializeToString())
/// >>> model = modelc.load(onnx_model)   # an onnx.ModelProto
#[pyfunction]
#[pyo3(signature = (source, format=None))]
fn load(py: Python<'_>, source: &Bound<'_, PyAny>, format: Option<&str>) -> PyResult<Model> {
    model_of(py, source, format)
}

/// Converts the model in ``src`` to ``dst``, in the format ``dst``'s extension names
/// (.onnx, .tflite, .pt): exactly ``modelc convert src dst [options]``.
///
/// Every option of ``modelc convert`` is a keyword argument (``modelc convert --help``
/// explains them):
///
/// level: optimize on the way, 0 (none, the default) to 3 (``-O2``).
/// opset: move the model to this ONNX opset, up or down.
/// keep_io_layout: keep NCHW at the inputs and outputs of a TFLite file (a Transpose at
///     the boundary instead of NHWC inputs).
/// external_data: "auto", "always" or "never" (ONNX tensor data in ``dst.data``).
/// input_shapes: {input name: [dims]} fixed first, e.g. {"x": [1, 3, 224, 224]}.
/// dims: {symbolic dim: size}, e.g. {"batch": 1}.
/// input_types: {input name: element type} for TorchScript, e.g. {"ids": "int64"}.
///
/// Refuses to overwrite ``src``; a failure leaves no ``dst`` and raises a ``ModelcError``
/// subclass (``ReadError``, ``WriteError``, ``OptionError``, ``TransformError``) with the
/// CLI's one-line message.
///
/// >>> modelc.convert("model.onnx", "model.tflite")
/// >>> modelc.convert("traced.pt", "model.onnx", level=2)
/// >>> modelc.convert("scripted.pt", "m.tflite", input_shapes={"x": [1, 3, 224, 224]})
#[pyfunction]
#[pyo3(signature = (src, dst, **options))]
fn convert(
    py: Python<'_>,
    src: PathBuf,
    dst: PathBuf,
    options: Option<&Bound<'_, PyDict>>,
) -> PyResult<()> {
    let mut argv: Vec<std::ffi::OsString> = vec![
        "modelc".into(),
        "convert".into(),
        src.into(),
        dst.clone().into(),
    ];
    argv.extend(options::flags(options)?.into_iter().map(Into::into));
    py.detach(|| modelc::cli::execute(argv).map_err(|e| errors::classify(e.as_ref(), Some(&dst))))
        .map_err(|(kind, msg)| errors::make(kind, msg))
}

/// Runs models ``a`` and ``b`` on the same inputs and compares every output, as
/// ``modelc verify`` does. Returns a dict: "ok" (every element within
/// ``|b - a| <= atol + rtol * |a|``), "outputs" (per output: "name", "max_abs", "max_rel",
/// "cosine", "within", "note"), "inputs" (what was done to the inputs for B, e.g. a layout
/// transpose), "rtol", "atol". Differences are reported, not raised.
///
/// a, b: models, paths, bytes or onnx.ModelProto (as ``load`` takes).
/// inputs: {A's input name: numpy array}; by default seeded random inputs (``seed``) of
///     the declared shapes (``dims`` sizes symbolic dimensions).
///
/// >>> report = modelc.verify("model.onnx", "model.tflite")
/// >>> report["ok"], report["outputs"][0]["max_abs"]
/// (True, 2.384185791015625e-07)
#[pyfunction]
#[pyo3(signature = (a, b, inputs=None, rtol=1e-4, atol=1e-5, seed=0, dims=None))]
#[allow(clippy::too_many_arguments)]
fn verify<'py>(
    py: Python<'py>,
    a: &Bound<'py, PyAny>,
    b: &Bound<'py, PyAny>,
    inputs: Option<&Bound<'py, PyDict>>,
    rtol: f64,
    atol: f64,
    seed: u64,
    dims: Option<&Bound<'py, PyDict>>,
) -> PyResult<Bound<'py, PyAny>> {
    let a = model_of(py, a, None)?;
    let b = model_of(py, b, None)?;
    let given = match inputs {
        Some(d) => model::tensors(py, d, "input")?,
        None => {
            let dims = options::input_shapes(None, dims)?
                .dims
                .into_iter()
                .collect();
            modelc::run::random_inputs(&a.model, seed, &dims)
                .map_err(|e| OptionError::new_err(modelc::error_line(&e)))?
        }
    };
    let verified = py
        .detach(|| modelc::verify::verify(&a.model, &b.model, b.format, &given, rtol, atol))
        .map_err(|e| errors::RunError::new_err(modelc::error_line(&e)))?;
    json(py, &verified)
}

/// The hardware targets ``check`` and ``target=`` take (``modelc targets``): one dict per
/// target file (``targets/*.toml``, built in, or in ``$MODELC_TARGETS_DIR``) with its
/// "target" metadata (name, format, fallback behaviour, description, sources), tensor rules
/// and per-op constraints.
///
/// >>> [t["target"]["name"] for t in modelc.targets()]
/// ['cpu', 'ethos-u55-128', 'ethos-u65-256', 'tflm']
#[pyfunction]
fn targets(py: Python<'_>) -> PyResult<Bound<'_, PyAny>> {
    let all = modelc::check::targets().map_err(|e| OptionError::new_err(modelc::error_line(&e)))?;
    let files: Vec<_> = all.iter().map(|t| &t.file).collect();
    json(py, &files)
}

/// Where each operator of a model runs on a hardware target, as ``modelc check --json``:
/// a dict with "target", "nodes" (per operator: "node", "op", "accelerator" and the
/// violated constraint as "reason"), "accelerated", "total", "partitions", and "ok" (every
/// operator on the accelerator) and "summary" (the CLI's summary line). A TFLite target
/// judges the operators of the ``.tflite`` modelc writes for the model (a TFLite file's
/// own operators when it is one), as the vendor's compiler sees them.
///
/// source: a model, path, bytes or onnx.ModelProto (as ``load`` takes).
/// target: a name from ``targets()``; target_file: a target file of your own instead.
/// input_shapes, dims: fix input shapes first, as ``convert`` takes them.
///
/// >>> report = modelc.check("model-int8.tflite", target="ethos-u55-128")
/// >>> report["summary"]
/// '41 of 41 ops on ethos-u55-128 (1 partition)'
#[pyfunction]
#[pyo3(signature = (source, target="cpu", target_file=None, input_shapes=None, dims=None))]
fn check<'py>(
    py: Python<'py>,
    source: &Bound<'py, PyAny>,
    target: &str,
    target_file: Option<PathBuf>,
    input_shapes: Option<&Bound<'py, PyDict>>,
    dims: Option<&Bound<'py, PyDict>>,
) -> PyResult<Bound<'py, PyAny>> {
    let target = modelc::check::resolve(Some(target), target_file.as_deref())
        .map_err(|e| OptionError::new_err(modelc::error_line(&e)))?;
    let shapes = options::input_shapes(input_shapes, dims)?;
    // A path is judged as the CLI judges it; a model in memory through a file of its own
    // format (TFLite) or ONNX, which is what `check` reads.
    let given_path: Option<PathBuf> = if source.cast::<Model>().is_ok()
        || source.cast::<PyBytes>().is_ok()
        || source.hasattr("SerializeToString")?
    {
        None
    } else {
        source.extract().ok()
    };
    let report = match given_path {
        Some(path) => py
            .detach(|| modelc::check::check(&path, &target, &shapes))
            .map_err(|e| errors::classify(&e, None)),
        None => {
            let m = model_of(py, source, None)?;
            py.detach(|| -> Result<_, (errors::Kind, String)> {
                let dir = tempfile::tempdir()
                    .map_err(|e| (errors::Kind::Base, format!("temporary directory: {e}")))?;
                let ext = if m.format == Format::Tflite {
                    "tflite"
                } else {
                    "onnx"
                };
                let path = dir.path().join(format!("model.{ext}"));
                modelc::save(&m.model, &path, &Default::default())
                    .map_err(|e| errors::classify(&e, None))?;
                modelc::check::check(&path, &target, &shapes)
                    .map_err(|e| errors::classify(&e, None))
            })
        }
    }
    .map_err(|(kind, msg)| errors::make(kind, msg))?;
    let out = json(py, &report)?;
    out.set_item("ok", report.all_on_accelerator())?;
    out.set_item("summary", report.summary())?;
    Ok(out)
}

/// Compresses the model in ``src`` into ``dst`` as ``modelc compress src dst [options]``
/// does and returns its report (what ``--json`` prints) as a dict; nothing is written when
/// it fails (the error is the CLI's one-line message).
///
/// Every option of ``modelc compress`` is a keyword argument (``modelc compress --help``):
/// prune: remove this fraction of each tied channel group's output channels.
/// rank_energy: factorize weights by truncated SVD keeping this fraction of the energy.
/// sparsity: "2:4", "block:0.75" or "0.9" (a .tflite ``dst`` stores them sparse).
/// max_error: refuse a result past this error (``metric``: "cosine", "max-rel", "top1");
///     alone, a per-layer search chooses what to do within it.
/// calibration: a directory of .npy/.npz inputs the error is measured on
///     (``calibration_random=N``: seeded random ones instead).
///
/// >>> report = modelc.compress("model.onnx", "small.onnx", rank_energy=0.99,
/// ...                          calibration_random=8, max_error=0.01)
/// >>> report["weight_bytes_after"] < report["weight_bytes_before"]
/// True
#[pyfunction]
#[pyo3(signature = (src, dst, **options))]
fn compress<'py>(
    py: Python<'py>,
    src: PathBuf,
    dst: PathBuf,
    options: Option<&Bound<'py, PyDict>>,
) -> PyResult<Bound<'py, PyAny>> {
    let mut argv: Vec<std::ffi::OsString> = vec![src.into(), dst.clone().into()];
    argv.extend(options::flags(options)?.into_iter().map(Into::into));
    let args = modelc::compress::CompressArgs::parse_from(argv).map_err(|e| {
        let text = e.to_string();
        OptionError::new_err(
            text.lines()
                .next()
                .unwrap_or_default()
                .trim_start_matches("error: ")
                .to_string(),
        )
    })?;
    let done = py
        .detach(|| {
            modelc::compress::compress(&args).map_err(|e| errors::classify(e.as_ref(), Some(&dst)))
        })
        .map_err(|(kind, msg)| errors::make(kind, msg))?;
    json(py, &done.report)
}

/// Runs the ``modelc`` command line with ``argv`` (program name first, as ``sys.argv``)
/// and returns its exit status; ``python -m modelc ...`` is this.
///
/// >>> modelc.main(["modelc", "inspect", "model.onnx"])
/// 0
#[pyfunction]
fn main(py: Python<'_>, argv: Vec<String>) -> i32 {
    py.detach(|| modelc::cli::main(argv))
}

/// The graph passes by name, with what each does (``modelc passes``).
#[pyfunction]
fn passes() -> Vec<(&'static str, &'static str)> {
    modelc_passes::registry::all()
        .iter()
        .map(|p| (p.name(), p.description()))
        .collect()
}

#[pymodule]
fn _modelc(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_class::<Model>()?;
    m.add_function(wrap_pyfunction!(load, m)?)?;
    m.add_function(wrap_pyfunction!(convert, m)?)?;
    m.add_function(wrap_pyfunction!(verify, m)?)?;
    m.add_function(wrap_pyfunction!(main, m)?)?;
    m.add_function(wrap_pyfunction!(passes, m)?)?;
    m.add_function(wrap_pyfunction!(targets, m)?)?;
    m.add_function(wrap_pyfunction!(check, m)?)?;
    m.add_function(wrap_pyfunction!(compress, m)?)?;
    m.add("ModelcError", py.get_type::<errors::ModelcError>())?;
    m.add("ReadError", py.get_type::<errors::ReadError>())?;
    m.add("WriteError", py.get_type::<errors::WriteError>())?;
    m.add("OptionError", py.get_type::<errors::OptionError>())?;
    m.add("TransformError", py.get_type::<errors::TransformError>())?;
    m.add("RunError", py.get_type::<errors::RunError>())?;
    Ok(())
}
