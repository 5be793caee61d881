//! Testing passes, ours and users' (cargo feature `testing`): parse a graph from the text form
//! (`Graph::parse`), run a pass or a pipeline at an opset, compare the printed result with an
//! insta snapshot ([`check!`](crate::check): inline, `@"..."`, or in a file) or with the input
//! itself ([`check_unchanged`]), then check that the interpreter gives the same outputs before
//! and after on seeded pseudo-random inputs ([`Outcome::assert_same_outputs`]).
//!
//! ```
//! use modelc_passes::testing::{check_unchanged, run, Check};
//! let text = "graph main(%x: f32[2,3]) -> (%y) {\n  %i = Identity(%x)\n  %y = Relu(%i)\n}";
//! let out = run("identity,dce", text);
//! assert_eq!(out.printed, "graph main(%x: f32[2,3]) -> (%y) {\n  %y = Relu(%x)\n}\n");
//! out.assert_same_outputs(&[], 0.0);
//! // No GELU to fuse: fuse-gelu, run as in a model importing opset 17, changes nothing.
//! check_unchanged(Check::new("fuse-gelu").opset(17), text);
//! ```
//!
//! In a test, `check!(passes, before, @"after")` does the same as `run` and asserts the
//! printed result against the inline snapshot (`cargo insta review` fills it in).

use modelc_interp::{Array, Data, Interpreter};
use modelc_ir::text::{print_graph, PrintOptions};
use modelc_ir::{DType, Dim, Graph, Model, OpsetImport};
use ndarray::{ArrayD, IxDyn};

use crate::{registry, Pass, PassManager, Report};

/// For [`check!`](crate::check): the snapshot macros, from the insta this crate was built with.
#[doc(hidden)]
pub use insta;

/// Runs `passes` on `before` (the text form) and asserts the printed result against an insta
/// snapshot: inline with `check!(passes, before, @"after")`, or in a file named after the test
/// with `check!(passes, before)`. `passes` is anything [`IntoCheck`] takes: a pipeline
/// (`"fuse-gelu,dce"`), a pass value, or a [`Check`] with an opset. Returns the [`Outcome`],
/// for counts and the numeric check.
#[macro_export]
macro_rules! check {
    ($passes:expr, $before:expr, @$after:literal $(,)?) => {{
        let outcome = $crate::testing::run($passes, $before);
        $crate::testing::insta::assert_snapshot!(outcome.printed, @$after);
        outcome
    }};
    ($passes:expr, $before:expr $(,)?) => {{
        let outcome = $crate::testing::run($passes, $before);
        $crate::testing::insta::assert_snapshot!(outcome.printed);
        outcome
    }};
}

/// Passes to test and the opset they run at.
pub struct Check {
    passes: Vec<Box<dyn Pass>>,
    opset: Option<i64>,
}

impl Check {
    /// `passes` at the newest opset (a graph without opset imports).
    pub fn new(passes: impl IntoCheck) -> Check {
        passes.into_check()
    }

    /// Runs the passes (and the interpreter) as in a model importing the default ONNX domain
    /// at `version`: passes that need a newer op leave their patterns alone.
    pub fn opset(mut self, version: i64) -> Check {
        self.opset = Some(version);
        self
    }

    /// Parses `before`, runs the passes to a fixed point validating after every step, and
    /// returns both graphs. Panics with the cause on a parse, pass or validation error, or
    /// when the printed result does not parse back.
    pub fn run(self, before: &str) -> Outcome {
        let before =
            Graph::parse(before).unwrap_or_else(|e| panic!("test graph does not parse: {e}"));
        let mut pm = PassManager::new(self.passes);
        pm.validate = true;
        let (after, report, opset_after) = match self.opset {
            None => {
                let mut g = before.clone();
                let report = pm.run_graph(&mut g);
                (g, report, None)
            }
            Some(version) => {
                let mut model = Model::new(before.clone(), version);
                let report = pm.run(&mut model);
                // A pass may have moved the model to another opset (`convert-opset`).
                let after = model.opset("").or(Some(version));
                (model.graph, report, after)
            }
        };
        let report = report.unwrap_or_else(|e| panic!("{e}"));
        // With every constant written out, the text form of the result stands alone.
        let full = print_graph(
            &after,
            &PrintOptions {
                inline_limit: usize::MAX,
            },
        );
        if let Err(e) = Graph::parse(&full) {
            panic!("the result does not parse back: {e}\n{full}");
        }
        let printed = print_graph(&after, &PrintOptions::default());
        Outcome {
            printed,
            before,
            after,
            report,
            opset: self.opset,
            opset_after,
        }
    }
}

/// What [`check!`](crate::check), [`run`] and [`check_unchanged`] test: a pipeline spec
/// (`"identity,dce"`, names from `modelc passes`), one pass, a list of passes, or a [`Check`].
pub trait IntoCheck {
    fn into_check(self) -> Check;
}

impl IntoCheck for Check {
    fn into_check(self) -> Check {
        self
    }
}

impl IntoCheck for &str {
    fn into_check(self) -> Check {
        let passes = registry::pipeline(self).unwrap_or_else(|e| panic!("{e}"));
        passes.into_check()
    }
}

impl IntoCheck for Vec<Box<dyn Pass>> {
    fn into_check(self) -> Check {
        Check {
            passes: self,
            opset: None,
        }
    }
}

impl<P: Pass + 'static> IntoCheck for P {
    fn into_check(self) -> Check {
        vec![Box::new(self) as Box<dyn Pass>].into_check()
    }
}

/// Runs `passes` on the text-form graph `before` (see [`Check::run`]).
pub fn run(passes: impl IntoCheck, before: &str) -> Outcome {
    passes.into_check().run(before)
}

/// Runs `passes` on `before` and asserts they left it as it was: printed the same, and no step
/// reporting a change.
pub fn check_unchanged(passes: impl IntoCheck, before: &str) -> Outcome {
    let outcome = run(passes, before);
    assert_eq!(
        outcome.printed,
        print_graph(&outcome.before, &PrintOptions::default()),
        "the passes changed the graph"
    );
    assert!(
        !outcome.report.changed(),
        "a pass said it changed the graph, which prints the same: {:?}",
        outcome.report.steps
    );
    outcome
}

/// A graph before and after passes.
pub struct Outcome {
    pub before: Graph,
    pub after: Graph,
    /// `after` in the text form.
    pub printed: String,
    pub report: Report,
    /// The opset the passes ran at (`None`: the newest).
    pub opset: Option<i64>,
    /// The opset the passes left the model at (`convert-opset` changes it); `after` is
    /// interpreted at it.
    pub opset_after: Option<i64>,
}

impl Outcome {
    /// How many nodes of op `name` (as printed: `Conv`, `const`) the result has.
    pub fn count(&self, name: &str) -> usize {
        count_ops(&self.after, name)
    }

    /// Both graphs in the text form, under `// before` and `// after`.
    pub fn before_and_after(&self) -> String {
        before_and_after(&self.before, &self.printed)
    }

    /// Asserts the interpreter gives the same outputs before and after on `inputs` (by name),
    /// every element within `tolerance` relative (`0.0`: bit-exact); inputs left out get
    /// [`seeded_inputs`] with seed 1.
    pub fn assert_same_outputs(&self, inputs: &[(&str, Array)], tolerance: f64) {
        let g = &self.before;
        let mut all: Vec<(String, Array)> = (g.inputs().iter().enumerate())
            .map(|(i, &id)| (i, &g.node(id).outputs[0].name))
            .filter(|(_, name)| !inputs.iter().any(|(given, _)| given == name))
            .map(|(i, name)| (name.clone(), seeded_input(g, i, 1 + i as u64)))
            .collect();
        all.extend(inputs.iter().map(|(n, a)| (n.to_string(), a.clone())));
        let all: Vec<(&str, Array)> = all.iter().map(|(n, a)| (n.as_str(), a.clone())).collect();
        compare_outputs(
            &self.before,
            &self.after,
            &all,
            tolerance,
            (self.opset, self.opset_after),
        );
    }
}

/// Asserts the interpreter gives the same outputs for `before` and `after` on `inputs` (by
/// name) at the newest opset, every element within `tolerance` relative to the value before.
pub fn assert_same_outputs(
    before: &Graph,
    after: &Graph,
    inputs: &[(&str, Array)],
    tolerance: f64,
) {
    compare_outputs(before, after, inputs, tolerance, (None, None));
}

fn compare_outputs(
    before: &Graph,
    after: &Graph,
    inputs: &[(&str, Array)],
    tolerance: f64,
    (opset_before, opset_after): (Option<i64>, Option<i64>),
) {
    let (a, b) = (
        interpret(before, inputs, opset_before),
        interpret(after, inputs, opset_after),
    );
    assert_eq!(a.len(), b.len(), "output count changed");
    for ((na, da), (nb, db)) in a.iter().zip(&b) {
        assert_eq!(na, nb, "output names changed");
        let (Data::Tensor(x), Data::Tensor(y)) = (da, db) else {
            assert_eq!(da, db, "output `{na}` changed");
            continue;
        };
        assert_eq!(x.shape(), y.shape(), "output `{na}` changed shape");
        // Booleans (comparisons, IsNaN) exactly.
        if matches!(x, Array::Bool(_)) || matches!(y, Array::Bool(_)) {
            assert_eq!(x, y, "output `{na}` changed");
            continue;
        }
        let values = |t: &Array| {
            t.to_f64_vec()
                .unwrap_or_else(|e| panic!("output `{na}`: {e}"))
        };
        for (i, (p, q)) in values(x).iter().zip(&values(y)).enumerate() {
            assert!(
                (p - q).abs() <= tolerance * p.abs().max(1e-6),
                "output `{na}` element {i}: {p} vs {q}"
            );
        }
    }
}

/// The interpreter's outputs of `g` on `inputs` (by name), running its ops at `opset` of the
/// default domain (`None`: the newest).
pub fn interpret(g: &Graph, inputs: &[(&str, Array)], opset: Option<i64>) -> Vec<(String, Data)> {
    let opsets: Vec<OpsetImport> = opset
        .map(|version| OpsetImport {
            domain: String::new(),
            version,
        })
        .into_iter()
        .collect();
    let interp = Interpreter::for_graph(g, &opsets).unwrap_or_else(|e| panic!("{e}"));
    let named = inputs
        .iter()
        .map(|(n, a)| (n.to_string(), Data::Tensor(a.clone())))
        .collect();
    interp.run(named).unwrap_or_else(|e| panic!("{e}"))
}

/// A small deterministic generator (64-bit LCG), so tests need no `rand` and their inputs
/// and constants never change between runs.
pub struct Lcg(u64);

impl Lcg {
    pub fn new(seed: u64) -> Lcg {
        Lcg(seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407))
    }

    /// Uniform in [-1, 1).
    pub fn next_f32(&mut self) -> f32 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    }
}

/// An f32 array of `shape` with values in [-scale, scale) from `seed`.
pub fn input(shape: &[usize], seed: u64, scale: f32) -> Array {
    let mut r = Lcg::new(seed);
    let n = shape.iter().product();
    let v: Vec<f32> = (0..n).map(|_| r.next_f32() * scale).collect();
    Array::F32(ArrayD::from_shape_vec(IxDyn(shape), v).expect("length is the shape's product"))
}

/// The size [`seeded_inputs`] gives a symbolic or unknown dimension.
pub const SYMBOLIC_DIM: usize = 3;

/// An input for every graph input of `g`, from its declared type: f32 in [-1, 1), f64 in
/// quarters of [-1, 1), integers in [-4, 4) ([0, 8) unsigned), booleans, all from [`Lcg`]; a symbolic
/// dimension is [`SYMBOLIC_DIM`]. Input `i` uses seed `seed + i`. Panics on an input without a
/// declared dtype and rank, or of a dtype it does not generate: give those explicitly.
pub fn seeded_inputs(g: &Graph, seed: u64) -> Vec<(String, Array)> {
    (0..g.inputs().len())
        .map(|i| {
            let name = g.node(g.inputs()[i]).outputs[0].name.clone();
            (name, seeded_input(g, i, seed + i as u64))
        })
        .collect()
}

/// The seeded array for graph input number `index` of `g` (see [`seeded_inputs`]).
fn seeded_input(g: &Graph, index: usize, seed: u64) -> Array {
    let value = &g.node(g.inputs()[index]).outputs[0];
    let tensor = value.ty.as_ref().and_then(|t| t.ty.as_tensor());
    let (Some(dtype), Some(shape)) = (
        tensor.and_then(|t| t.dtype),
        tensor.and_then(|t| t.shape.as_ref()),
    ) else {
        panic!(
            "input `{}` has no declared dtype and rank: give it explicitly",
            value.name
        )
    };
    let dims: Vec<usize> = shape
        .0
        .iter()
        .map(|d| match d {
            Dim::Known(n) => *n as usize,
            _ => SYMBOLIC_DIM,
        })
        .collect();
    seeded_array(dtype, &dims, seed, &value.name)
}

fn seeded_array(dtype: DType, dims: &[usize], seed: u64, name: &str) -> Array {
    let mut r = Lcg::new(seed);
    let n: usize = dims.iter().product();
    let shape = IxDyn(dims);
    // Integers in [-4, 4), or [0, 8) with `offset` 1.
    let mut ints = |offset: f32| -> Vec<i64> {
        (0..n)
            .map(|_| ((r.next_f32() + offset) * 4.0).floor() as i64)
            .collect()
    };
    fn array<T>(shape: IxDyn, v: Vec<T>) -> ArrayD<T> {
        ArrayD::from_shape_vec(shape, v).expect("length is the shape's product")
    }
    match dtype {
        DType::F32 => input(dims, seed, 1.0),
        DType::F64 => Array::F64(array(
            shape,
            ints(0.0).iter().map(|&v| v as f64 / 4.0).collect(),
        )),
        DType::I64 => Array::I64(array(shape, ints(0.0))),
        DType::I32 => Array::I32(array(shape, ints(0.0).iter().map(|&v| v as i32).collect())),
        DType::I8 => Array::I8(array(shape, ints(0.0).iter().map(|&v| v as i8).collect())),
        DType::U8 => Array::U8(array(shape, ints(1.0).iter().map(|&v| v as u8).collect())),
        DType::Bool => Array::Bool(array(shape, ints(0.0).iter().map(|&v| v >= 0).collect())),
        other => panic!("input `{name}` is {other:?}: give it explicitly"),
    }
}

/// A text-form list of `n` values in [-1, 1) with 3 decimals (`[0.123, -0.5, ...]`), for
/// constants in test graphs.
pub fn vals(n: usize, seed: u64) -> String {
    list(n, seed, |v| v)
}

/// A text-form list of `n` values in [0.5, 1.5) (variances, scales).
pub fn pos_vals(n: usize, seed: u64) -> String {
    list(n, seed, |v| 1.0 + v / 2.0)
}

fn list(n: usize, seed: u64, f: impl Fn(f32) -> f32) -> String {
    let mut r = Lcg::new(seed);
    let items: Vec<String> = (0..n)
        .map(|_| format!("{:.3}", f(r.next_f32())))
        .map(|s| if s == "-0.000" { "0.0".into() } else { s })
        .collect();
    format!("[{}]", items.join(", "))
}

/// How many nodes of op `name` (as printed: `Conv`, `BatchNormalization`, `const`) `g` has.
pub fn count_ops(g: &Graph, name: &str) -> usize {
    g.node_ids()
        .filter(|&id| g.node(id).op.display_name() == name)
        .count()
}

/// `before` printed and `after` (already printed), under `// before` and `// after`: one
/// snapshot that shows the rewrite.
pub fn before_and_after(before: &Graph, after: &str) -> String {
    format!(
        "// before\n{}\n// after\n{after}",
        print_graph(before, &PrintOptions::default())
    )
}
