//! Graph passes: the [`Pass`] trait, the [`PassManager`] that runs pipelines of passes to a
//! fixed point (validating the graph after every step in debug builds), and the built-in
//! passes ([`registry`]). With the `testing` feature, `testing` checks passes (ours and
//! users'): snapshots of the text form before → after and the interpreter's outputs unchanged;
//! `examples/custom_pass.rs` writes, runs and tests a pass of its own.
//!
//! ```
//! use modelc_passes::{PassManager, registry};
//! let mut g = modelc_ir::Graph::parse("graph(%x: f32[2]) -> (%y) { %i = Identity(%x)  %y = Relu(%i) }").unwrap();
//! let pm = PassManager::new(registry::pipeline("identity,dce").unwrap());
//! let report = pm.run_graph(&mut g).unwrap();
//! assert!(report.changed());
//! ```

pub mod compress;
pub mod opset;
pub mod passes;
pub mod pattern;
pub mod quant;
pub mod registry;
pub mod target;
#[cfg(feature = "testing")]
pub mod testing;
pub mod util;

use modelc_ir::validate::{validate_graph, ValidationError};
use modelc_ir::{Graph, Model};

/// Whether a pass changed the graph.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Changed {
    Yes,
    No,
}

impl Changed {
    pub fn from_bool(b: bool) -> Changed {
        if b {
            Changed::Yes
        } else {
            Changed::No
        }
    }
}

/// State shared by the passes of one run (room for shape facts, the target, statistics).
#[derive(Debug, Default)]
pub struct PassContext {
    /// The model's operator-set imports (empty: the newest versions), for passes that run
    /// kernels.
    pub opsets: Vec<modelc_ir::OpsetImport>,
    /// Nodes each pass removed or added, for the report.
    pub notes: Vec<String>,
}

/// Why a pass or pipeline failed.
#[derive(Debug, thiserror::Error)]
pub enum PassError {
    #[error("unknown pass `{0}` (`modelc passes` lists them)")]
    UnknownPass(String),
    #[error("pass `{pass}` left an invalid graph: {source}")]
    Invalid {
        pass: &'static str,
        #[source]
        source: ValidationError,
    },
    #[error("pass `{pass}`: {message}")]
    Failed { pass: &'static str, message: String },
}

/// A graph rewrite.
pub trait Pass {
    /// The name pipelines use (`dce`, `fold`, ...).
    fn name(&self) -> &'static str;
    /// One line saying what the pass does (`modelc passes` shows it).
    fn description(&self) -> &'static str;
    /// Rewrites `g` (a main graph; passes recurse into sub-graphs themselves where sound).
    fn run(&self, g: &mut Graph, cx: &mut PassContext) -> Result<Changed, PassError>;
}

/// What one step of a pipeline did.
#[derive(Debug, Clone)]
pub struct Step {
    pub pass: &'static str,
    pub changed: bool,
    pub nodes_before: usize,
    pub nodes_after: usize,
}

/// What a pipeline did, step by step.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub steps: Vec<Step>,
    /// Whether the pipeline reached a fixed point (false when stopped early).
    pub converged: bool,
    /// What the passes noted (e.g. patterns left alone because the opset lacks the fused
    /// op), once each.
    pub notes: Vec<String>,
}

impl Report {
    pub fn changed(&self) -> bool {
        self.steps.iter().any(|s| s.changed)
    }
}

/// A hook that sees the graph after a pass (`--print-after`).
pub type GraphHook = Box<dyn Fn(&Graph)>;

/// Runs a pipeline of passes repeatedly until none changes the graph.
pub struct PassManager {
    passes: Vec<Box<dyn Pass>>,
    /// Bound on full rounds over the pipeline, so a pair of passes that undo each other
    /// cannot loop forever.
    pub max_rounds: usize,
    /// Stop after this many pass steps (to bisect a bad rewrite).
    pub stop_after: Option<usize>,
    /// Validate after every step (on by default in debug builds).
    pub validate: bool,
    /// Called after each step of the named pass with the graph (`--print-after`).
    pub print_after: Option<(String, GraphHook)>,
}

impl PassManager {
    pub fn new(passes: Vec<Box<dyn Pass>>) -> PassManager {
        PassManager {
            passes,
            max_rounds: 16,
            stop_after: None,
            validate: cfg!(debug_assertions),
            print_after: None,
        }
    }

    /// Runs the pipeline on a model's main graph.
    pub fn run(&self, model: &mut Model) -> Result<Report, PassError> {
        let mut cx = PassContext {
            opsets: model.opset_imports.clone(),
            ..PassContext::default()
        };
        let mut report = self.run_with(&mut model.graph, &mut cx)?;
        // A pass may move the model to another opset (`convert-opset`).
        model.opset_imports = cx.opsets;
        report.notes = cx.notes;
        Ok(report)
    }

    /// Runs the pipeline on a graph (ops read at their newest opset versions).
    pub fn run_graph(&self, g: &mut Graph) -> Result<Report, PassError> {
        let mut cx = PassContext::default();
        let mut report = self.run_with(g, &mut cx)?;
        report.notes = cx.notes;
        Ok(report)
    }

    fn run_with(&self, g: &mut Graph, cx: &mut PassContext) -> Result<Report, PassError> {
        let mut report = Report::default();
        for _ in 0..self.max_rounds {
            let mut round_changed = false;
            for pass in &self.passes {
                if self.stop_after.is_some_and(|n| report.steps.len() >= n) {
                    return Ok(report);
                }
                let nodes_before = g.node_count();
                let changed = pass.run(g, cx)? == Changed::Yes;
                if self.validate {
                    validate_graph(g, false).map_err(|source| PassError::Invalid {
                        pass: pass.name(),
                        source,
                    })?;
                }
                if let Some((name, print)) = &self.print_after {
                    if name == pass.name() {
                        print(g);
                    }
                }
                report.steps.push(Step {
                    pass: pass.name(),
                    changed,
                    nodes_before,
                    nodes_after: g.node_count(),
                });
                round_changed |= changed;
            }
            if !round_changed {
                report.converged = true;
                return Ok(report);
            }
        }
        Ok(report)
    }
}
