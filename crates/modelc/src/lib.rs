//! modelc as a library: what the `modelc` command does, for pipelines to call.
//!
//! - [`convert`] reads a model, fixes its input shapes, runs passes and writes it in the
//!   format the destination's extension names (`modelc convert` and `modelc optimize`);
//! - [`load`] and [`save`] read and write one model in any supported format;
//! - [`summary::Summary`] is what `modelc inspect` reports, [`run`] runs a model on the
//!   reference interpreter and compares outputs (`modelc run`, `modelc verify`), and
//!   [`quantize`] is `modelc quantize`.
//!
//! ```no_run
//! let model = modelc::load(std::path::Path::new("model.onnx"))?;
//! modelc::save(&model, std::path::Path::new("copy.onnx"), &modelc::SaveOptions::default())?;
//! # Ok::<(), modelc::Error>(())
//! ```

// The command line's code names the library `modelc::`, as a user's would.
extern crate self as modelc;

mod args;
pub mod check;
pub mod cli;
pub mod compress;
mod convert;
pub mod diff;
pub mod draw;
mod format;
mod input_types;
pub mod layers;
pub mod npy;
pub mod overlay;
mod progress;
pub mod quantize;
pub mod run;
pub mod summary;
pub mod verify;

use std::borrow::Cow;
use std::path::{Path, PathBuf};

pub use args::{ShapeArgs, TargetArgs};
pub use convert::{
    convert, convert_with, transform, ConvertOptions, Converted, GraphHook, Passes, Stage,
};
pub use format::Format;
pub use input_types::{InputTypeError, InputTypes};
pub use modelc_ir as ir;
pub use modelc_ir::Model;
pub use modelc_onnx::{ExternalData, WriteOptions as OnnxWriteOptions};
pub use modelc_passes::passes::infer_shapes::{InputShapeError, InputShapes};

/// Why loading, converting or saving failed; a file's error names the file.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{}: cannot tell the format from the extension (expected .onnx, .tflite, .pt, .pt2 or .pte)", .0.display())]
    UnknownFormat(PathBuf),
    #[error("{}: not a model modelc reads (neither a TorchScript or .pt2 zip archive, a TFLite flatbuffer nor, by its extension or first byte, an ONNX protobuf)", .0.display())]
    UnrecognizedModel(PathBuf),
    #[error("{}", path.display())]
    Onnx {
        path: PathBuf,
        #[source]
        source: modelc_onnx::OnnxError,
    },
    #[error("{}", path.display())]
    Tflite {
        path: PathBuf,
        #[source]
        source: modelc_tflite::TfliteError,
    },
    #[error("{}", path.display())]
    TorchScript {
        path: PathBuf,
        #[source]
        source: modelc_torchscript::TorchScriptError,
    },
    #[error("{}", path.display())]
    Pt2 {
        path: PathBuf,
        #[source]
        source: modelc_pt2::Pt2Error,
    },
    /// A format modelc writes but does not read.
    #[error("{}: modelc writes {format} files but does not read them", path.display())]
    CannotRead { path: PathBuf, format: Format },
    #[error("{}", path.display())]
    Pte {
        path: PathBuf,
        #[source]
        source: modelc_pte::PteError,
    },
    #[error("{}: refusing to overwrite the input model", .0.display())]
    OutputIsInput(PathBuf),
    /// An input shape to fix does not fit the model.
    #[error(transparent)]
    InputShapes(#[from] InputShapeError),
    /// An input type to set does not fit the model.
    #[error(transparent)]
    InputTypes(#[from] InputTypeError),
    /// A pass is unknown or failed.
    #[error(transparent)]
    Pass(#[from] modelc_passes::PassError),
    /// The model cannot be moved to the opset asked for.
    #[error(transparent)]
    Opset(#[from] modelc_passes::opset::OpsetError),
}

/// An error and its sources on one line, as the CLI prints them: `a.onnx: not a valid ONNX
/// protobuf: ...`. A source whose text is already on the line (an error that prints its
/// cause and also returns it as its source) is not repeated; control characters (from names
/// in a hostile file) are escaped.
pub fn error_line(e: &dyn std::error::Error) -> String {
    let mut line = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !line.contains(&text) {
            line.push_str(": ");
            line.push_str(&text);
        }
        source = s.source();
    }
    ir::one_line(&line)
}

/// The format an output path names, from its extension (inputs: [`input_format`]).
pub fn format_of(path: &Path) -> Result<Format, Error> {
    Format::from_path(path).ok_or_else(|| Error::UnknownFormat(path.to_path_buf()))
}

/// The format of the model file at `path`, recognized by its content: a zip archive is
/// TorchScript, a flatbuffer with the `TFL3` identifier TFLite (whatever the file is called:
/// `.jit`, `.bin`, `.model`); otherwise the extension says, and a file with neither is ONNX if
/// it starts like an ONNX protobuf. A file that cannot be read is judged by its extension
/// (loading it then reports why it cannot be read).
pub fn input_format(path: &Path) -> Result<Format, Error> {
    let mut head = Vec::with_capacity(8);
    let read = std::fs::File::open(path).and_then(|f| {
        use std::io::Read;
        f.take(8).read_to_end(&mut head)
    });
    let head = head.as_slice();
    if let Some(f) = Format::from_content(head) {
        // Both torch formats are zip archives: a `.pt2` has an `archive_format` entry.
        if f == Format::TorchScript && modelc_pt2::is_pt2(path) {
            return Ok(Format::Pt2);
        }
        return Ok(f);
    }
    if let Some(f) = Format::from_path(path) {
        return Ok(f);
    }
    if read.is_err() {
        return Err(Error::UnknownFormat(path.to_path_buf()));
    }
    if Format::looks_like_onnx(head) {
        return Ok(Format::Onnx);
    }
    Err(Error::UnrecognizedModel(path.to_path_buf()))
}

/// Loads a model; the format is recognized from the content ([`input_format`]).
pub fn load(path: &Path) -> Result<Model, Error> {
    load_with(path, &InputShapes::default(), &InputTypes::default())
}

/// [`load`] with input shapes and element types the file may not record (`--input-shape`,
/// `--input-type`): the TorchScript importer uses them (a scripted module records neither);
/// the types are checked against what the other formats declare. (The shapes are fixed in
/// every format afterwards, by [`InputShapes::apply`].)
pub fn load_with(path: &Path, shapes: &InputShapes, types: &InputTypes) -> Result<Model, Error> {
    let model = load_format(path, shapes, types)?;
    types.check(&model)?;
    Ok(model)
}

fn load_format(path: &Path, shapes: &InputShapes, types: &InputTypes) -> Result<Model, Error> {
    match input_format(path)? {
        Format::Onnx => modelc_onnx::read(path).map_err(|source| Error::Onnx {
            path: path.to_path_buf(),
            source,
        }),
        Format::Tflite => modelc_tflite::read(path).map_err(|source| Error::Tflite {
            path: path.to_path_buf(),
            source,
        }),
        Format::TorchScript => {
            let opts = modelc_torchscript::ReadOptions {
                input_types: types.0.clone(),
                input_shapes: shapes.shapes.clone(),
                // `--dim NAME=VALUE` also gives `forward`'s int arguments (a sample rate).
                int_args: shapes
                    .dims
                    .iter()
                    .map(|(n, v)| (n.clone(), *v as i64))
                    .collect(),
            };
            modelc_torchscript::read_with(path, &opts).map_err(|source| Error::TorchScript {
                path: path.to_path_buf(),
                source,
            })
        }
        Format::Pt2 => modelc_pt2::read(path).map_err(|source| Error::Pt2 {
            path: path.to_path_buf(),
            source,
        }),
        format @ Format::Pte => Err(Error::CannotRead {
            path: path.to_path_buf(),
            format,
        }),
    }
}

/// How to save: each format's writer options (only the destination format's are used).
#[derive(Debug, Clone, Default)]
pub struct SaveOptions {
    /// Where tensor data goes (inline or an external `.data` file), and the layout at the
    /// inputs and outputs of a model with NHWC ops.
    pub onnx: OnnxWriteOptions,
    /// The layout at the graph's inputs and outputs, and the TFLite writer's other choices.
    pub tflite: modelc_tflite::WriteOptions,
    pub torchscript: modelc_torchscript::WriteOptions,
}

/// Saves a model; the format comes from the extension. The file is written under a
/// temporary name and renamed, so a failure leaves nothing behind.
pub fn save(model: &Model, path: &Path, opts: &SaveOptions) -> Result<(), Error> {
    save_model(Cow::Borrowed(model), path, opts)
}

/// [`save`] of a model the caller is done with: a writer that rewrites the model before
/// writing it (TFLite) works on this one instead of a copy.
pub fn save_owned(model: Model, path: &Path, opts: &SaveOptions) -> Result<(), Error> {
    save_model(Cow::Owned(model), path, opts)
}

fn save_model(model: Cow<'_, Model>, path: &Path, opts: &SaveOptions) -> Result<(), Error> {
    match format_of(path)? {
        Format::Onnx => {
            modelc_onnx::write(&model, path, &opts.onnx).map_err(|source| Error::Onnx {
                path: path.to_path_buf(),
                source,
            })
        }
        Format::Tflite => match model {
            Cow::Owned(m) => modelc_tflite::write_owned(m, path, &opts.tflite),
            Cow::Borrowed(m) => modelc_tflite::write(m, path, &opts.tflite),
        }
        .map_err(|source| Error::Tflite {
            path: path.to_path_buf(),
            source,
        }),
        Format::TorchScript => {
            modelc_torchscript::write(&model, path, &opts.torchscript).map_err(|source| {
                Error::TorchScript {
                    path: path.to_path_buf(),
                    source,
                }
            })
        }
        Format::Pt2 => modelc_pt2::write(&model, path).map_err(|source| Error::Pt2 {
            path: path.to_path_buf(),
            source,
        }),
        Format::Pte => modelc_pte::write(&model, path).map_err(|source| Error::Pte {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// Refuses to write over the model being read (the rename would replace it mid-read).
pub fn check_distinct(input: &Path, output: &Path) -> Result<(), Error> {
    if let (Ok(a), Ok(b)) = (input.canonicalize(), output.canonicalize()) {
        if a == b {
            return Err(Error::OutputIsInput(output.to_path_buf()));
        }
    }
    Ok(())
}
