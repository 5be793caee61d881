//! Converting a model file to another: read it, fix its input shapes, run a pipeline of
//! passes, write it in the format the destination's extension names. What `modelc convert`
//! and `modelc optimize` do, for pipelines that call modelc as a library.

use std::path::Path;
use std::sync::Arc;

use modelc_ir::{Graph, Model};
use modelc_passes::passes::infer_shapes::InputShapes;
use modelc_passes::{PassManager, Report};

use crate::summary::Summary;
use crate::{
    check_distinct, format_of, input_format, load_with, save_owned, Error, InputTypes, SaveOptions,
};

/// Which passes run between reading and writing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Passes {
    /// An optimization level, 0 to 3 (`-O<N>`; 0 runs nothing).
    Level(u8),
    /// Exactly these passes, comma-separated (`identity,fold,dce`; `modelc passes` lists
    /// them).
    List(String),
}

impl Default for Passes {
    fn default() -> Passes {
        Passes::Level(0)
    }
}

/// What [`ConvertOptions::print_after`] calls with the graph (shared: the options are
/// borrowed, and each conversion hands the pass manager its own handle).
pub type GraphHook = Arc<dyn Fn(&Graph) + Send + Sync>;

/// How to convert. `ConvertOptions::default()` copies the model as it is.
#[derive(Default)]
pub struct ConvertOptions {
    /// Input shapes and symbolic dimension sizes fixed right after reading.
    pub input_shapes: InputShapes,
    /// Input element types a format does not record (TorchScript), used when reading.
    pub input_types: InputTypes,
    /// The default-domain ONNX opset to convert the model to before the passes run (so
    /// fusions into newer ops see it), with the version adapters of `convert-opset`.
    pub opset: Option<i64>,
    /// The passes run to a fixed point before writing.
    pub passes: Passes,
    /// Stop after this many pass steps (to bisect a bad rewrite).
    pub stop_after: Option<usize>,
    /// A pass name and what to call with the graph after every run of that pass.
    pub print_after: Option<(String, GraphHook)>,
    /// How the destination is written.
    pub save: SaveOptions,
    /// Lowering passes for a hardware target (`Target::lowering`), run after `passes`.
    pub lowering: Vec<String>,
}

/// What a conversion did.
#[derive(Debug)]
pub struct Converted {
    /// The model as read (after its input shapes were fixed).
    pub before: Summary,
    /// The model as written.
    pub after: Summary,
    /// The passes' steps and notes.
    pub report: Report,
}

/// The stage a conversion is in, for a progress display ([`convert_with`]).
#[derive(Debug, Clone, Copy)]
pub enum Stage<'a> {
    /// Reading the source file.
    Reading(&'a Path),
    /// Fixing input shapes and running the passes.
    Transforming,
    /// Writing the destination file.
    Writing(&'a Path),
}

/// Converts the model in `src` into `dst`; the formats come from the extensions. Refuses to
/// overwrite `src`; a failure leaves no `dst` behind.
///
/// ```no_run
/// use std::path::Path;
///
/// let opts = modelc::ConvertOptions {
///     passes: modelc::Passes::Level(2),
///     ..Default::default()
/// };
/// let done = modelc::convert(Path::new("model.onnx"), Path::new("model.tflite"), &opts)?;
/// println!("{} nodes before, {} after", done.before.nodes, done.after.nodes);
/// # Ok::<(), modelc::Error>(())
/// ```
pub fn convert(src: &Path, dst: &Path, opts: &ConvertOptions) -> Result<Converted, Error> {
    convert_with(src, dst, opts, &mut |_| {})
}

/// [`convert`], calling `on_stage` as each stage begins (the CLI shows a spinner).
pub fn convert_with(
    src: &Path,
    dst: &Path,
    opts: &ConvertOptions,
    on_stage: &mut dyn FnMut(Stage<'_>),
) -> Result<Converted, Error> {
    check_distinct(src, dst)?;
    let dst_format = format_of(dst)?;
    on_stage(Stage::Reading(src));
    let mut model = load_with(src, &opts.input_shapes, &opts.input_types)?;
    on_stage(Stage::Transforming);
    opts.input_shapes.apply(&mut model.graph)?;
    let before = Summary::of(&model, input_format(src)?);
    let report = run_passes(&mut model, opts)?;
    let after = Summary::of(&model, dst_format);
    on_stage(Stage::Writing(dst));
    save_owned(model, dst, &opts.save)?;
    Ok(Converted {
        before,
        after,
        report,
    })
}

/// What [`convert`] does between reading and writing, on a model in memory: fixes the input
/// shapes, moves the model to `opts.opset` and runs `opts.passes` (`opts.input_types` and
/// `opts.save` are for reading and writing files and are not used). `Model.optimize` in
/// Python is this.
pub fn transform(model: &mut Model, opts: &ConvertOptions) -> Result<Report, Error> {
    opts.input_shapes.apply(&mut model.graph)?;
    run_passes(model, opts)
}

/// [`transform`] after the input shapes are fixed: the opset conversion and the passes.
fn run_passes(model: &mut Model, opts: &ConvertOptions) -> Result<Report, Error> {
    if let Some(target) = opts.opset {
        modelc_passes::opset::convert_model(model, target)?;
    }
    let passes = match &opts.passes {
        Passes::Level(level) => modelc_passes::registry::level(*level),
        Passes::List(spec) => modelc_passes::registry::pipeline(spec)?,
    };
    let mut pm = PassManager::new(passes);
    pm.stop_after = opts.stop_after;
    if let Some((name, print)) = &opts.print_after {
        modelc_passes::registry::get(name)?;
        let print = Arc::clone(print);
        pm.print_after = Some((name.clone(), Box::new(move |g: &Graph| print(g))));
    }
    let mut report = pm.run(model)?;
    if !opts.lowering.is_empty() {
        let lowering = modelc_passes::registry::pipeline(&opts.lowering.join(","))?;
        let lowered = PassManager::new(lowering).run(model)?;
        report.notes.extend(lowered.notes);
    }
    Ok(report)
}
