//! `modelc targets` and `modelc check`: the hardware targets (`targets/*.toml`, built in,
//! `MODELC_TARGETS_DIR`, or a user's `--target-file`) and where each operator of a model
//! lands on one of them. The model is judged in the form the target consumes: a TFLite
//! target sees the `.tflite` operators (the file itself, or what modelc writes for a model
//! in another format, read back), exactly what the vendor's compiler will see.

use std::path::{Path, PathBuf};

use modelc_ir::OnnxOp;
use modelc_passes::target::{
    self, Format as TargetFormat, Report, Target, TargetError, TargetGraph,
};

use crate::{Error, Format, InputShapes, Model};

/// The environment variable naming a directory of target files that add to (or replace)
/// the built-in ones.
pub const TARGETS_DIR_ENV: &str = "MODELC_TARGETS_DIR";

/// Whether `name` is an operator of `format`'s vocabulary: a TFLite builtin, an ONNX op.
pub fn known_op(format: TargetFormat, name: &str) -> bool {
    match format {
        TargetFormat::Any => true,
        TargetFormat::Tflite => modelc_tflite::fb::BuiltinOperator::ENUM_VALUES
            .iter()
            .any(|b| b.variant_name() == Some(name)),
        TargetFormat::Onnx => OnnxOp::all().any(|o| o.to_string() == name),
    }
}

fn targets_dir() -> Option<PathBuf> {
    std::env::var_os(TARGETS_DIR_ENV).map(PathBuf::from)
}

/// Every available target, sorted by name.
pub fn targets() -> Result<Vec<Target>, TargetError> {
    target::all(targets_dir().as_deref(), &known_op)
}

/// The target to check against: a user's file, or one of [`targets`] by name.
pub fn resolve(name: Option<&str>, file: Option<&Path>) -> Result<Target, TargetError> {
    match (file, name) {
        (Some(f), _) => Target::read(f, &known_op),
        (None, Some(n)) => target::find(n, targets_dir().as_deref(), &known_op),
        (None, None) => target::find("cpu", targets_dir().as_deref(), &known_op),
    }
}

/// Why a model could not be checked.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    #[error(transparent)]
    Load(#[from] Error),
    #[error("{}: writing it as TFLite for {target} failed", path.display())]
    Write {
        path: PathBuf,
        target: String,
        #[source]
        source: modelc_tflite::TfliteError,
    },
    #[error("{}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: modelc_tflite::TfliteError,
    },
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Places every operator of the model at `path` on `target`.
pub fn check(path: &Path, target: &Target, shapes: &InputShapes) -> Result<Report, CheckError> {
    let graph = match target.file.target.format {
        TargetFormat::Tflite => tflite_view(path, target, shapes)?,
        TargetFormat::Any | TargetFormat::Onnx => {
            let mut model = crate::load_with(path, shapes, &Default::default())?;
            shapes.apply(&mut model.graph).map_err(Error::from)?;
            // Element types and shapes of the values between nodes, as onnxruntime's
            // partitioners see them after its own shape inference.
            let infer = modelc_passes::registry::pipeline("infer-shapes").map_err(Error::from)?;
            modelc_passes::PassManager::new(infer)
                .run(&mut model)
                .map_err(Error::from)?;
            ir_view(&model, target)
        }
    };
    Ok(target::check(target, &graph))
}

/// The TFLite operators of the model: the file itself when it is TFLite (and no shape is
/// to be fixed), else what modelc writes for it, read back.
fn tflite_view(
    path: &Path,
    target: &Target,
    shapes: &InputShapes,
) -> Result<TargetGraph, CheckError> {
    let read_back = |p: &Path| -> Result<TargetGraph, CheckError> {
        let file = std::fs::File::open(p).map_err(|source| CheckError::Io {
            path: p.to_path_buf(),
            source,
        })?;
        let bytes = modelc_ir::map_file(&file).map_err(|source| CheckError::Io {
            path: p.to_path_buf(),
            source,
        })?;
        modelc_tflite::target_graph(bytes).map_err(|source| CheckError::Read {
            path: path.to_path_buf(),
            source,
        })
    };
    if crate::input_format(path)? == Format::Tflite && shapes.is_empty() {
        return read_back(path);
    }
    let mut model = crate::load_with(path, shapes, &Default::default())?;
    shapes.apply(&mut model.graph).map_err(Error::from)?;
    let dir = tempfile::tempdir().map_err(|source| CheckError::Io {
        path: std::env::temp_dir(),
        source,
    })?;
    let written = dir.path().join("model.tflite");
    modelc_tflite::write(&model, &written, &Default::default()).map_err(|source| {
        CheckError::Write {
            path: path.to_path_buf(),
            target: target.name().to_string(),
            source,
        }
    })?;
    read_back(&written)
}

/// The ONNX nodes of the model (what modelc writes as ONNX), for targets that consume any
/// format or ONNX.
fn ir_view(model: &Model, target: &Target) -> TargetGraph {
    target::onnx_graph(&model.graph, target.file.target.qdq_units)
}

/// Runs the target's lowering passes ([`Target::lowering`]) on `model`; returns what they
/// did, one line each.
pub fn lower(model: &mut Model, target: &Target) -> Result<Vec<String>, modelc_passes::PassError> {
    let passes = modelc_passes::registry::pipeline(&target.lowering().join(","))?;
    let report = modelc_passes::PassManager::new(passes).run(model)?;
    Ok(report.notes)
}

/// The operators that do not land on the accelerator, one line each with the reason, then
/// the summary line.
pub fn render_fallbacks(report: &Report) -> String {
    let mut out = String::new();
    for p in report.nodes.iter().filter(|p| !p.accelerator) {
        let why = p.reason.as_deref().unwrap_or_default();
        out.push_str(&format!("  {} `{}`: {why}\n", p.op, p.node));
    }
    out.push_str(&report.summary());
    out.push('\n');
    out
}
