//! The exceptions `modelc` raises: `ModelcError` and one subclass per kind of failure, each
//! carrying the one-line message the `modelc` command prints for the same error.

use std::error::Error;
use std::path::Path;

use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::PyErr;

create_exception!(
    modelc,
    ModelcError,
    PyException,
    "Base class of every error modelc raises; str(e) is the one-line message the modelc command prints."
);
create_exception!(
    modelc,
    ReadError,
    ModelcError,
    "A model could not be read: unknown format, invalid, truncated or hostile file, or ops a frontend cannot translate (all named)."
);
create_exception!(
    modelc,
    WriteError,
    ModelcError,
    "A model could not be written in the format asked for (the refused nodes are named), or the output would overwrite the input."
);
create_exception!(
    modelc,
    OptionError,
    ModelcError,
    "An option is invalid: an unknown keyword, pass, mode or metric, or input shapes, types or arrays that do not fit the model."
);
create_exception!(
    modelc,
    TransformError,
    ModelcError,
    "A pass, an opset conversion or the quantizer failed."
);
create_exception!(
    modelc,
    RunError,
    ModelcError,
    "The reference interpreter could not run the model on the inputs given."
);

/// Which exception an error raises.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    Base,
    Read,
    Write,
    Option,
    Transform,
    Run,
}

/// The exception of `kind` with `msg`.
pub fn make(kind: Kind, msg: String) -> PyErr {
    match kind {
        Kind::Base => ModelcError::new_err(msg),
        Kind::Read => ReadError::new_err(msg),
        Kind::Write => WriteError::new_err(msg),
        Kind::Option => OptionError::new_err(msg),
        Kind::Transform => TransformError::new_err(msg),
        Kind::Run => RunError::new_err(msg),
    }
}

/// A `modelc::Error` as the exception for it. `written`: the file being written, if any, so
/// that a format error about it is a `WriteError` and one about another file a `ReadError`.
pub fn from_modelc(e: &modelc::Error, written: Option<&Path>) -> PyErr {
    let (kind, msg) = classify(e, written);
    make(kind, msg)
}

/// The kind of any error of the library or the command line, and its one-line message (an
/// error is not `Send`: it is classified before it leaves a thread without the GIL).
pub fn classify(e: &(dyn Error + 'static), written: Option<&Path>) -> (Kind, String) {
    use modelc::Error as E;
    let msg = modelc::error_line(e);
    let kind = if let Some(e) = e.downcast_ref::<modelc::Error>() {
        let path = match e {
            E::UnknownFormat(p) | E::UnrecognizedModel(p) => Some(p),
            E::Onnx { path, .. } | E::Tflite { path, .. } | E::TorchScript { path, .. } => {
                Some(path)
            }
            _ => None,
        };
        match e {
            E::OutputIsInput(_) => Kind::Write,
            E::InputShapes(_) | E::InputTypes(_) => Kind::Option,
            E::Pass(_) | E::Opset(_) => Kind::Transform,
            _ if path.is_some_and(|p| Some(p.as_path()) == written) => Kind::Write,
            _ if path.is_some() => Kind::Read,
            _ => Kind::Base,
        }
    } else if e.downcast_ref::<modelc::run::RunError>().is_some()
        || e.downcast_ref::<modelc::verify::VerifyError>().is_some()
    {
        Kind::Run
    } else if e
        .downcast_ref::<modelc_passes::quant::QuantError>()
        .is_some()
        || e.downcast_ref::<modelc_passes::opset::OpsetError>()
            .is_some()
    {
        Kind::Transform
    } else if e.downcast_ref::<modelc::quantize::InputError>().is_some()
        || e.downcast_ref::<modelc::InputShapeError>().is_some()
        || e.downcast_ref::<modelc::InputTypeError>().is_some()
        || e.downcast_ref::<modelc::cli::UsageError>().is_some()
    {
        Kind::Option
    } else {
        Kind::Base
    };
    (kind, msg)
}
