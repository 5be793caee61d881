//! Symbolic evaluation of TorchScript code into one IR graph.
//!
//! `forward` of the root module is run with its tensor arguments bound to graph inputs.
//! Python-level values (ints, bools, lists, `self.training`, `is None` tests, …) are computed
//! here, so branches on them disappear; submodule `forward` calls and `__torch__` functions
//! are inlined; aten ops become IR nodes ([`super::ops`]). An `if` on a run-time value whose
//! one branch only raises is resolved to the other branch (the model is assumed to be used
//! on valid inputs, as the tracer assumes). Ops that cannot be translated are recorded with
//! their line and replaced by placeholders so that every problem is reported at once.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use modelc_ir::{element_count, Tensor, ValueRef};

use super::args::Args;
use super::builder::Builder;
use super::value::{Obj, PyValue, TensorRef, View};
use crate::code::{BinOp, ClassDef, Expr, FuncDef, Stmt, StmtKind};
use crate::pickle::{PickleValue, TensorValue};

/// Deepest inlining of calls (module → submodule → function …).
pub const MAX_CALL_DEPTH: usize = 64;
/// Most loop iterations unrolled in all.
pub const MAX_UNROLL: usize = 100_000;

/// Why evaluation stopped.
#[derive(Debug)]
pub enum Stop {
    /// The code raised (`ops.prim.RaiseException`) on a path known at import time.
    Raise(String),
    /// Something the importer cannot continue past.
    Fatal(String),
}

/// The result of evaluating anything: a value, or the reason evaluation stops.
pub type EvalResult<X> = Result<X, Stop>;

fn fatal<X>(msg: impl Into<String>) -> EvalResult<X> {
    Err(Stop::Fatal(msg.into()))
}

enum Flow {
    Next,
    Return(PyValue),
    Break,
    Continue,
}

/// A class or function together with the source file it came from.
pub struct Code {
    pub classes: HashMap<String, (ClassDef, String)>,
    pub funcs: HashMap<String, (FuncDef, String)>,
}

/// Evaluates the archive's `code/` symbolically: Python-level values are computed, tensor
/// operations become graph nodes (through `b`), and what cannot be translated is collected.
pub struct Evaluator<'a> {
    pub b: Builder,
    pub code: &'a Code,
    pub constants: Vec<PickleValue>,
    /// Untranslatable ops, `file:line: message`.
    pub errors: Vec<String>,
    /// Float graph inputs the code uses as indices (they are int64).
    pub index_inputs: Vec<String>,
    /// Views of other tensors, by the view's value.
    pub views: HashMap<ValueRef, View>,
    /// Tensors an in-place op has overwritten, and their new values: a name bound to the
    /// old value reads the new one.
    pub replaced: HashMap<ValueRef, TensorRef>,
    tensors: HashMap<(String, u64, Vec<u64>), ValueRef>,
    depth: usize,
    unrolled: usize,
    /// Where evaluation is, for messages.
    pub file: String,
    pub line: usize,
    /// The source value each variable computes, as modelc recorded it in archives it wrote
    /// (see [`crate::PROVENANCE`]): given to the value first bound to the variable.
    pub provenance: std::collections::BTreeMap<String, String>,
}

type Env = HashMap<String, PyValue>;

impl<'a> Evaluator<'a> {
    pub fn new(b: Builder, code: &'a Code, constants: Vec<PickleValue>) -> Evaluator<'a> {
        Evaluator {
            b,
            code,
            constants,
            errors: Vec::new(),
            index_inputs: Vec::new(),
            views: HashMap::new(),
            replaced: HashMap::new(),
            tensors: HashMap::new(),
            depth: 0,
            unrolled: 0,
            file: String::new(),
            line: 0,
            provenance: Default::default(),
        }
    }

    pub fn at(&self) -> String {
        format!("{}:{}", self.file, self.line)
    }

    /// `v` with the tensors in it that in-place ops overwrote replaced by their new values.
    pub fn current(&self, v: &PyValue) -> PyValue {
        if self.replaced.is_empty() {
            return v.clone();
        }
        match v {
            PyValue::Tensor(t) => {
                let mut t = *t;
                let mut hops = 0;
                while let Some(n) = self.replaced.get(&t.v) {
                    t = *n;
                    hops += 1;
                    if hops > self.replaced.len() {
                        break;
                    }
                }
                PyValue::Tensor(t)
            }
            PyValue::List(items) => PyValue::List(items.iter().map(|x| self.current(x)).collect()),
            PyValue::Tuple(items) => {
                PyValue::Tuple(items.iter().map(|x| self.current(x)).collect())
            }
            v => v.clone(),
        }
    }

    /// Records an untranslatable construct (import continues).
    pub fn report(&mut self, msg: impl std::fmt::Display) {
        let e = format!("{}: {msg}", self.at());
        if !self.errors.contains(&e) {
            self.errors.push(e);
        }
    }

    /// A tensor from a pickle as a graph constant (one node per distinct view).
    pub fn tensor_const(&mut self, name: &str, t: &TensorValue) -> EvalResult<TensorRef> {
        let key = (t.storage.key.clone(), t.offset, t.size.clone());
        let rank = Some(t.size.len());
        let dtype = t.storage.dtype;
        if let Some(v) = self.tensors.get(&key) {
            return Ok(TensorRef::new(*v, rank, dtype));
        }
        let tensor = to_ir_tensor(t).map_err(Stop::Fatal)?;
        let base = if name.is_empty() { "const" } else { name };
        let v = self.b.build().constant(base, tensor);
        self.tensors.insert(key, v);
        Ok(TensorRef::new(v, rank, dtype))
    }

    /// Converts an unpickled value (module attribute or constant) to an evaluation value.
    pub fn from_pickle(&mut self, name: &str, p: &PickleValue) -> EvalResult<PyValue> {
        Ok(match p {
            PickleValue::None => PyValue::None,
            PickleValue::Bool(b) => PyValue::Bool(*b),
            PickleValue::Int(i) => PyValue::Int(*i),
            PickleValue::Float(f) => PyValue::Float(*f),
            PickleValue::Str(s) => PyValue::Str(s.clone()),
            PickleValue::Tensor(t) => PyValue::Tensor(self.tensor_const(name, t)?),
            PickleValue::List(v) | PickleValue::Tuple(v) => {
                let mut out = Vec::with_capacity(v.len());
                for (k, x) in v.iter().enumerate() {
                    out.push(self.from_pickle(&format!("{name}.{k}"), x)?);
                }
                if matches!(p, PickleValue::List(_)) {
                    PyValue::List(out)
                } else {
                    PyValue::Tuple(out)
                }
            }
            PickleValue::Object {
                module,
                name: cls,
                state,
            } => {
                let items = match state.as_ref() {
                    PickleValue::Dict(items) => items
                        .iter()
                        .filter_map(|(k, v)| Some((k.as_str()?.to_string(), v.clone())))
                        .collect(),
                    _ => Vec::new(),
                };
                PyValue::Obj(Rc::new(RefCell::new(Obj {
                    class: format!("{module}.{cls}"),
                    state: items,
                    set: vec![("__name__".into(), PyValue::Str(name.to_string()))],
                })))
            }
            other => return fatal(format!("attribute `{name}` holds an unsupported {other:?}")),
        })
    }

    // ------------------------------------------------------------ functions

    /// Calls `f` (from `file`) with `args`, binding `self` first when given.
    pub fn call_func(
        &mut self,
        f: &FuncDef,
        file: &str,
        this: Option<PyValue>,
        args: Vec<PyValue>,
        kwargs: Vec<(String, PyValue)>,
    ) -> EvalResult<PyValue> {
        if self.depth >= MAX_CALL_DEPTH {
            return fatal(format!("calls nest deeper than {MAX_CALL_DEPTH}"));
        }
        let (saved_file, saved_line) = (
            std::mem::replace(&mut self.file, file.to_string()),
            self.line,
        );
        self.line = f.line;
        let mut env = Env::new();
        let mut pos = this.into_iter().chain(args);
        for p in &f.params {
            let v = match pos.next() {
                Some(v) => v,
                None => match kwargs.iter().find(|(k, _)| *k == p.name) {
                    Some((_, v)) => v.clone(),
                    None => match &p.default {
                        Some(d) => self.expr(&mut Env::new(), d)?,
                        None => {
                            return fatal(format!(
                                "{}: call of {} without argument `{}`",
                                self.at(),
                                f.name,
                                p.name
                            ))
                        }
                    },
                },
            };
            env.insert(p.name.clone(), v);
        }
        self.depth += 1;
        let r = self.block(&mut env, &f.body);
        self.depth -= 1;
        let out = match r? {
            Flow::Return(v) => v,
            _ => PyValue::None,
        };
        self.file = saved_file;
        self.line = saved_line;
        Ok(out)
    }

    fn method(&mut self, obj: &Rc<RefCell<Obj>>, name: &str) -> Option<(&'a FuncDef, &'a str)> {
        let class = obj.borrow().class.clone();
        let (c, file) = self.code.classes.get(&class)?;
        c.methods
            .iter()
            .find(|m| m.name == name)
            .map(|m| (m, file.as_str()))
    }

    /// `obj.name` for a module.
    pub fn getattr(&mut self, obj: &Rc<RefCell<Obj>>, name: &str) -> EvalResult<PyValue> {
        if name == "training" {
            // Import is for inference: modules are in eval mode.
            return Ok(PyValue::Bool(false));
        }
        if let Some((_, v)) = obj.borrow().set.iter().find(|(k, _)| k == name) {
            return Ok(v.clone());
        }
        let p = obj
            .borrow()
            .state
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone());
        let prefix = match obj.borrow().set.iter().find(|(k, _)| k == "__name__") {
            Some((_, PyValue::Str(s))) if !s.is_empty() => format!("{s}."),
            _ => String::new(),
        };
        let v = match p {
            Some(p) => self.from_pickle(&format!("{prefix}{name}"), &p)?,
            None => {
                // Class-level constants (`stride : Final[int] = 2`).
                let class = obj.borrow().class.clone();
                let decl = self
                    .code
                    .classes
                    .get(&class)
                    .and_then(|(c, _)| c.attrs.iter().find(|a| a.0 == name))
                    .and_then(|a| a.2.clone());
                match decl {
                    Some(e) => self.expr(&mut Env::new(), &e)?,
                    None => {
                        return fatal(format!(
                            "{}: module {class} has no attribute `{name}`",
                            self.at()
                        ))
                    }
                }
            }
        };
        obj.borrow_mut().set.push((name.to_string(), v.clone()));
        Ok(v)
    }

    // ----------------------------------------------------------- statements

    fn block(&mut self, env: &mut Env, stmts: &[Stmt]) -> EvalResult<Flow> {
        for s in stmts {
            self.line = s.line;
            match self.stmt(env, s)? {
                Flow::Next => {}
                f => return Ok(f),
            }
        }
        Ok(Flow::Next)
    }

    fn stmt(&mut self, env: &mut Env, s: &Stmt) -> EvalResult<Flow> {
        match &s.kind {
            StmtKind::Pass => Ok(Flow::Next),
            StmtKind::Break => Ok(Flow::Break),
            StmtKind::Continue => Ok(Flow::Continue),
            StmtKind::Return(e) => Ok(Flow::Return(match e {
                Some(e) => self.expr(env, e)?,
                None => PyValue::None,
            })),
            StmtKind::Expr(e) => {
                self.expr(env, e)?;
                Ok(Flow::Next)
            }
            StmtKind::Assign(targets, value) => {
                let v = self.expr(env, value)?;
                if targets.len() == 1 {
                    self.assign(env, &targets[0], v)?;
                } else {
                    self.assign(env, &Expr::Tuple(targets.clone()), v)?;
                }
                Ok(Flow::Next)
            }
            StmtKind::AnnAssign(name, _, value) => {
                if let Some(e) = value {
                    let v = self.expr(env, e)?;
                    env.insert(name.clone(), v);
                }
                Ok(Flow::Next)
            }
            StmtKind::Raise(_) => Err(Stop::Raise(format!("{}: raise", self.at()))),
            StmtKind::Assert(c) => {
                let v = self.expr(env, c)?;
                if v.as_bool() == Some(false) {
                    return Err(Stop::Raise(format!("{}: assertion fails", self.at())));
                }
                Ok(Flow::Next)
            }
            StmtKind::If(c, then, otherwise) => {
                let v = self.expr(env, c)?;
                match v.as_bool() {
                    Some(true) => self.block(env, then),
                    Some(false) => self.block(env, otherwise),
                    None => {
                        // A run-time condition: the branch that only raises is not taken.
                        if raises(then) {
                            self.block(env, otherwise)
                        } else if raises(otherwise) {
                            self.block(env, then)
                        } else {
                            self.select_if(env, v, then, otherwise)
                        }
                    }
                }
            }
            StmtKind::For(targets, iter, body) => {
                let it = self.expr(env, iter)?;
                let items: Vec<PyValue> = match it {
                    PyValue::List(v) | PyValue::Tuple(v) => v,
                    other => {
                        return fatal(format!(
                            "{}: `for` over a run-time {} is not supported",
                            self.at(),
                            other.kind()
                        ))
                    }
                };
                let target = if targets.len() == 1 {
                    targets[0].clone()
                } else {
                    Expr::Tuple(targets.clone())
                };
                for item in items {
                    self.unrolled += 1;
                    if self.unrolled > MAX_UNROLL {
                        return fatal(format!("more than {MAX_UNROLL} loop iterations"));
                    }
                    self.assign(env, &target, item)?;
                    match self.block(env, body)? {
                        Flow::Break => break,
                        Flow::Return(v) => return Ok(Flow::Return(v)),
                        Flow::Next | Flow::Continue => {}
                    }
                }
                Ok(Flow::Next)
            }
            // The context managers torch prints (`no_grad`, `enable_grad`) change gradient
            // recording only, which inference does not do: the body runs as it is. The
            // manager's value is not evaluated (its `__enter__` is not modelled).
            StmtKind::With(_, body) => self.block(env, body),
            StmtKind::While(c, body) => loop {
                self.unrolled += 1;
                if self.unrolled > MAX_UNROLL {
                    return fatal(format!("more than {MAX_UNROLL} loop iterations"));
                }
                let v = self.expr(env, c)?;
                match v.as_bool() {
                    Some(true) => match self.block(env, body)? {
                        Flow::Break => return Ok(Flow::Next),
                        Flow::Return(v) => return Ok(Flow::Return(v)),
                        _ => {}
                    },
                    Some(false) => return Ok(Flow::Next),
                    None => {
                        return fatal(format!(
                            "{}: `while` on a run-time value is not supported",
                            self.at()
                        ))
                    }
                }
            },
        }
    }

    /// An `if` on a run-time value whose branches compute values without side effects:
    /// both branches are evaluated and every name they bind differently is merged with
    /// `Where(cond, then, else)`. (An IR `If` with sub-graphs would compute only one branch;
    /// the select form is what the printed code of torch modules needs and is exact for
    /// branches that cannot fail.) Branches that return must both return.
    fn select_if(
        &mut self,
        env: &mut Env,
        cond: PyValue,
        then: &[Stmt],
        otherwise: &[Stmt],
    ) -> EvalResult<Flow> {
        let c = match &cond {
            PyValue::Tensor(t) if t.dtype == modelc_ir::DType::Bool => t.v,
            PyValue::Tensor(t) => self.b.cast(t.v, modelc_ir::DType::Bool),
            other => {
                self.report(format!(
                    "`if` on a run-time {} is not supported",
                    other.kind()
                ));
                return self.block(env, otherwise);
            }
        };
        // `bool(t)` needs one element; as a scalar, the condition cannot add dimensions to
        // the merged values by broadcasting.
        let c = if self.b.rank_of(c) == Some(0) {
            c
        } else {
            let scalar = self.b.ints(&[]);
            self.b
                .op(modelc_ir::OnnxOp::Reshape, &[c, scalar], Default::default())
        };
        let line = self.line;
        let mut env_then = env.clone();
        let r1 = self.block(&mut env_then, then);
        let mut env_else = env.clone();
        let r2 = self.block(&mut env_else, otherwise);
        self.line = line;
        // A branch that raises for the shapes at hand (torch would) is not the one taken,
        // as a branch that only raises is not (an ONNX `If` written as TorchScript computes
        // both of silero-vad's sample-rate branches here, and the 8 kHz one cannot run on
        // 16 kHz chunks).
        let (f1, f2) = match (r1, r2) {
            (Err(Stop::Raise(_)), Ok(f)) => {
                *env = env_else;
                return Ok(f);
            }
            (Ok(f), Err(Stop::Raise(_))) => {
                *env = env_then;
                return Ok(f);
            }
            (Err(e), _) | (_, Err(e)) => return Err(e),
            (Ok(f1), Ok(f2)) => (f1, f2),
        };
        match (f1, f2) {
            (Flow::Next, Flow::Next) => {
                let mut names: Vec<&String> = env_then.keys().chain(env_else.keys()).collect();
                names.sort();
                names.dedup();
                let mut merged = Vec::new();
                for n in names {
                    let v = match (env_then.get(n), env_else.get(n)) {
                        (Some(a), Some(b)) => self.select(c, n, a, b),
                        (Some(a), None) | (None, Some(a)) => Some(a.clone()),
                        (None, None) => None,
                    };
                    if let Some(v) = v {
                        merged.push((n.clone(), v));
                    }
                }
                env.extend(merged);
                Ok(Flow::Next)
            }
            (Flow::Return(a), Flow::Return(b)) => {
                let v = self
                    .select(c, "the returned value", &a, &b)
                    .unwrap_or(PyValue::None);
                Ok(Flow::Return(v))
            }
            _ => {
                self.report("`if` on a run-time value where only one branch returns or breaks");
                Ok(Flow::Next)
            }
        }
    }

    /// `Where(c, a, b)` for values that differ; the value itself when both are the same.
    fn select(&mut self, c: ValueRef, name: &str, a: &PyValue, b: &PyValue) -> Option<PyValue> {
        if same_value(a, b) {
            return Some(a.clone());
        }
        match (a, b) {
            (PyValue::Uninit, x) | (x, PyValue::Uninit) => Some(x.clone()),
            (PyValue::Tensor(x), PyValue::Tensor(y)) => {
                if let Some(why) = self.merge_problem(x, y) {
                    self.report(format!(
                        "`if` on a run-time value makes `{name}` {why}: merging the branches \
                         elementwise would broadcast and change values (give the input shapes, \
                         --input-shape, so that the condition is known at import)"
                    ));
                    // Import goes on with one branch's value, to report every problem.
                    return Some(a.clone());
                }
                let mut yv = y.v;
                if x.dtype != y.dtype {
                    yv = self.b.cast(y.v, x.dtype);
                }
                let v = self.b.op(
                    modelc_ir::OnnxOp::Where,
                    &[c, x.v, yv],
                    modelc_ir::Attrs::default(),
                );
                let rank = if x.rank == y.rank { x.rank } else { None };
                Some(PyValue::Tensor(TensorRef::new(v, rank, x.dtype)))
            }
            (PyValue::Tuple(x), PyValue::Tuple(y)) | (PyValue::List(x), PyValue::List(y))
                if x.len() == y.len() =>
            {
                let items: Option<Vec<PyValue>> = x
                    .iter()
                    .zip(y)
                    .map(|(p, q)| self.select(c, name, p, q))
                    .collect();
                let items = items?;
                Some(if matches!(a, PyValue::Tuple(_)) {
                    PyValue::Tuple(items)
                } else {
                    PyValue::List(items)
                })
            }
            _ => {
                self.report(format!(
                    "`if` on a run-time value makes `{name}` a {} or a {}",
                    a.kind(),
                    b.kind()
                ));
                None
            }
        }
    }

    /// Why `Where(c, x, y)` would not be exactly the branch taken, if it would not: the
    /// two values must have the same rank and no dimension that is 1 in one and possibly
    /// larger in the other (broadcasting would stretch it). `None` when the merge is exact
    /// as far as the known shapes tell.
    fn merge_problem(&self, x: &TensorRef, y: &TensorRef) -> Option<String> {
        let shape = |t: &TensorRef| self.b.g.shape_of(t.v).cloned();
        let (sx, sy) = (shape(x), shape(y));
        let rank = |t: &TensorRef, s: &Option<modelc_ir::Shape>| {
            t.rank.or_else(|| s.as_ref().map(|s| s.rank()))
        };
        // Both computed elementwise from one value: the same shape, whatever it is.
        if self.shape_source(x.v) == self.shape_source(y.v) {
            return None;
        }
        let (rx, ry) = match (rank(x, &sx), rank(y, &sy)) {
            (Some(a), Some(b)) => (a, b),
            _ => return Some("a tensor of unknown rank in a branch".into()),
        };
        if rx != ry {
            return Some(format!(
                "rank {rx} in one branch and rank {ry} in the other"
            ));
        }
        let (Some(sx), Some(sy)) = (sx, sy) else {
            return None;
        };
        use modelc_ir::Dim;
        for (d, (a, b)) in sx.0.iter().zip(&sy.0).enumerate() {
            let differs = match (a, b) {
                (Dim::Known(p), Dim::Known(q)) => p != q,
                (Dim::Known(1), o) | (o, Dim::Known(1)) => *o != Dim::Known(1),
                _ => false,
            };
            if differs {
                return Some(format!(
                    "of shape [{}] in one branch and [{}] in the other (dimension {d})",
                    dims_text(&sx),
                    dims_text(&sy)
                ));
            }
        }
        None
    }

    /// The value `v` has the shape of: followed back through ops whose output has their
    /// first input's shape (unary elementwise ops, casts, elementwise ops with scalars).
    fn shape_source(&self, mut v: ValueRef) -> ValueRef {
        let g = &self.b.g;
        let scalar =
            |u: &Option<ValueRef>| u.and_then(|u| g.shape_of(u)).map(|s| s.rank()) == Some(0);
        for _ in 0..10_000 {
            let modelc_ir::Op::Onnx(op) = g.node(v.node).op else {
                break;
            };
            let ins = g.inputs_of(v.node);
            let traits = op.traits();
            let next = if traits.same_shape && v.slot == 0 {
                ins.first().copied().flatten()
            } else if traits.broadcasting {
                // The one input that is not a scalar.
                let mut rest = ins.iter().filter(|u| !scalar(u));
                match (rest.next(), rest.next()) {
                    (Some(u), None) => *u,
                    _ => None,
                }
            } else {
                None
            };
            match next {
                Some(n) => v = n,
                None => break,
            }
        }
        v
    }

    fn assign(&mut self, env: &mut Env, target: &Expr, v: PyValue) -> EvalResult<()> {
        match target {
            Expr::Name(n) => {
                if let (PyValue::Tensor(t), Some(src)) = (&v, self.provenance.get(n)) {
                    if let Some(val) = self.b.g.value_mut(t.v) {
                        val.origin.get_or_insert_with(|| src.as_str().into());
                    }
                }
                env.insert(n.clone(), v);
                Ok(())
            }
            Expr::Tuple(ts) | Expr::List(ts) => {
                let items = match v {
                    PyValue::Tuple(x) | PyValue::List(x) if x.len() == ts.len() => x,
                    // Python raises for a sequence of another length (a size list of an
                    // input rank the code does not take, when ranks are being tried).
                    PyValue::Tuple(x) | PyValue::List(x) => {
                        return Err(Stop::Raise(format!(
                            "{}: the model raises: cannot unpack {} values into {} names",
                            self.at(),
                            x.len(),
                            ts.len()
                        )))
                    }
                    other => {
                        return fatal(format!(
                            "{}: cannot unpack a {} into {} names",
                            self.at(),
                            other.kind(),
                            ts.len()
                        ))
                    }
                };
                for (t, x) in ts.iter().zip(items) {
                    self.assign(env, t, x)?;
                }
                Ok(())
            }
            Expr::Attr(o, name) => match self.expr(env, o)? {
                PyValue::Obj(obj) => {
                    let mut o = obj.borrow_mut();
                    o.set.retain(|(k, _)| k != name);
                    o.set.push((name.clone(), v));
                    Ok(())
                }
                other => fatal(format!(
                    "{}: attribute assignment on a {}",
                    self.at(),
                    other.kind()
                )),
            },
            _ => fatal(format!("{}: unsupported assignment target", self.at())),
        }
    }

    // ---------------------------------------------------------- expressions

    pub fn expr(&mut self, env: &mut Env, e: &Expr) -> EvalResult<PyValue> {
        Ok(match e {
            Expr::Int(i) => PyValue::Int(*i),
            Expr::Float(f) => PyValue::Float(*f),
            Expr::Str(s) => PyValue::Str(s.clone()),
            Expr::Bool(b) => PyValue::Bool(*b),
            Expr::None => PyValue::None,
            Expr::Ellipsis => PyValue::None,
            Expr::Name(n) => match env.get(n) {
                Some(v) => self.current(v),
                None => match n.as_str() {
                    "inf" => PyValue::Float(f64::INFINITY),
                    "nan" => PyValue::Float(f64::NAN),
                    _ => PyValue::Path(n.clone()),
                },
            },
            Expr::Attr(o, a) => {
                let base = self.expr(env, o)?;
                match base {
                    PyValue::Obj(obj) => self.getattr(&obj, a)?,
                    PyValue::Path(p) if p == "CONSTANTS" => {
                        let i: usize = a
                            .strip_prefix('c')
                            .and_then(|n| n.parse().ok())
                            .ok_or_else(|| {
                                Stop::Fatal(format!("{}: bad constant {a}", self.at()))
                            })?;
                        let p = self.constants.get(i).cloned().ok_or_else(|| {
                            Stop::Fatal(format!("{}: constants.pkl has no c{i}", self.at()))
                        })?;
                        self.from_pickle(&format!("CONSTANTS.c{i}"), &p)?
                    }
                    PyValue::Path(p) => PyValue::Path(format!("{p}.{a}")),
                    other => {
                        return fatal(format!(
                            "{}: attribute `{a}` of a {}",
                            self.at(),
                            other.kind()
                        ))
                    }
                }
            }
            Expr::Tuple(items) | Expr::List(items) => {
                let mut v = Vec::with_capacity(items.len());
                for x in items {
                    v.push(self.expr(env, x)?);
                }
                if matches!(e, Expr::Tuple(_)) {
                    PyValue::Tuple(v)
                } else {
                    PyValue::List(v)
                }
            }
            Expr::Dict(items) => {
                // Only empty dicts occur (annotated `{}` whose length is taken); pairs are
                // kept as tuples so `len` works.
                let mut v = Vec::with_capacity(items.len());
                for (k, x) in items {
                    let kv = self.expr(env, k)?;
                    let xv = self.expr(env, x)?;
                    v.push(PyValue::Tuple(vec![kv, xv]));
                }
                PyValue::List(v)
            }
            Expr::Not(x) => {
                let v = self.expr(env, x)?;
                self.aten(
                    "__not__",
                    Args {
                        pos: vec![v],
                        kw: vec![],
                    },
                )?
            }
            Expr::Neg(x) => {
                let v = self.expr(env, x)?;
                self.aten(
                    "neg",
                    Args {
                        pos: vec![v],
                        kw: vec![],
                    },
                )?
            }
            Expr::IfExp(c, a, b) => {
                let cv = self.expr(env, c)?;
                match cv.as_bool() {
                    Some(true) => self.expr(env, a)?,
                    Some(false) => self.expr(env, b)?,
                    None => {
                        let (av, bv) = (self.expr(env, a)?, self.expr(env, b)?);
                        self.aten(
                            "where",
                            Args {
                                pos: vec![cv, av, bv],
                                kw: vec![],
                            },
                        )?
                    }
                }
            }
            Expr::Bin(op, l, r) => {
                // `and`/`or` short-circuit on values known at import time.
                if matches!(op, BinOp::And | BinOp::Or) {
                    let lv = self.expr(env, l)?;
                    match (op, lv.as_bool()) {
                        (BinOp::And, Some(false)) | (BinOp::Or, Some(true)) => return Ok(lv),
                        (_, Some(_)) => return self.expr(env, r),
                        _ => {
                            let rv = self.expr(env, r)?;
                            let name = if *op == BinOp::And {
                                "__and__"
                            } else {
                                "__or__"
                            };
                            return self.aten(
                                name,
                                Args {
                                    pos: vec![lv, rv],
                                    kw: vec![],
                                },
                            );
                        }
                    }
                }
                let lv = self.expr(env, l)?;
                let rv = self.expr(env, r)?;
                let name = match op {
                    BinOp::Add => "add",
                    BinOp::Sub => "sub",
                    BinOp::Mul => "mul",
                    BinOp::Div => "div",
                    BinOp::FloorDiv => "floordiv",
                    BinOp::Mod => "remainder",
                    BinOp::Pow => "pow",
                    BinOp::Eq => "eq",
                    BinOp::Ne => "ne",
                    BinOp::Lt => "lt",
                    BinOp::Le => "le",
                    BinOp::Gt => "gt",
                    BinOp::Ge => "ge",
                    BinOp::Is => "__is__",
                    BinOp::IsNot => "__isnot__",
                    BinOp::In => "__contains__",
                    BinOp::NotIn => {
                        let v = self.aten(
                            "__contains__",
                            Args {
                                pos: vec![rv, lv],
                                kw: vec![],
                            },
                        )?;
                        return self.aten(
                            "__not__",
                            Args {
                                pos: vec![v],
                                kw: vec![],
                            },
                        );
                    }
                    BinOp::And | BinOp::Or => unreachable!("handled above"),
                };
                let pos = if *op == BinOp::In {
                    vec![rv, lv]
                } else {
                    vec![lv, rv]
                };
                self.aten(name, Args { pos, kw: vec![] })?
            }
            Expr::Index(o, i) => {
                let ov = self.expr(env, o)?;
                if let PyValue::Path(p) = &ov {
                    // A type expression (`List[int]` in `annotate(List[int], [])`).
                    return Ok(PyValue::Path(format!("{p}[]")));
                }
                if let Expr::Slice(start, end, step) = i.as_ref() {
                    return self.slice(env, ov, [start, end, step]);
                }
                let iv = self.expr(env, i)?;
                match (&ov, &iv) {
                    (PyValue::List(v) | PyValue::Tuple(v), PyValue::Int(k)) => {
                        let n = v.len() as i64;
                        let k = if *k < 0 { k + n } else { *k };
                        v.get(k as usize).cloned().ok_or_else(|| {
                            Stop::Raise(format!("{}: index {k} out of range", self.at()))
                        })?
                    }
                    _ => self.aten(
                        "__getitem__",
                        Args {
                            pos: vec![ov, iv],
                            kw: vec![],
                        },
                    )?,
                }
            }
            Expr::Slice(..) => return fatal(format!("{}: a slice outside a subscript", self.at())),
            Expr::Call(f, args, kwargs) => {
                let mut pos = Vec::with_capacity(args.len());
                for a in args {
                    pos.push(self.expr(env, a)?);
                }
                let mut kw = Vec::with_capacity(kwargs.len());
                for (k, a) in kwargs {
                    kw.push((k.clone(), self.expr(env, a)?));
                }
                // Method call on a module: `(conv1).forward(x)`, `self._conv_forward(…)`.
                if let Expr::Attr(recv, m) = f.as_ref() {
                    let r = self.expr(env, recv)?;
                    match r {
                        PyValue::Obj(obj) => {
                            let (func, file) = self.method(&obj, m).ok_or_else(|| {
                                Stop::Fatal(format!(
                                    "{}: module {} has no method `{m}`",
                                    self.at(),
                                    obj.borrow().class
                                ))
                            })?;
                            return self.call_func(func, file, Some(PyValue::Obj(obj)), pos, kw);
                        }
                        PyValue::Tensor(_) => {
                            let mut all = vec![r];
                            all.extend(pos);
                            return self.aten(m, Args { pos: all, kw });
                        }
                        // `items.append(x)`: lists are values here, so the name is rebound
                        // to the longer list (as for `torch.append(items, x)`).
                        PyValue::List(_) if m == "append" => {
                            let mut all = vec![r];
                            all.extend(pos);
                            let longer = self.aten(m, Args { pos: all, kw })?;
                            if let Expr::Name(n) = recv.as_ref() {
                                env.insert(n.clone(), longer);
                            }
                            return Ok(PyValue::None);
                        }
                        PyValue::Path(p) => {
                            let p = format!("{p}.{m}");
                            let r = self.call_path(&p, pos, kw)?;
                            rebind_mutated(env, &p, args.first(), &r);
                            return Ok(r);
                        }
                        other => {
                            return fatal(format!(
                                "{}: method `{m}` of a {}",
                                self.at(),
                                other.kind()
                            ))
                        }
                    }
                }
                let r = match self.expr(env, f)? {
                    PyValue::Path(p) => {
                        let r = self.call_path(&p, pos, kw)?;
                        rebind_mutated(env, &p, args.first(), &r);
                        r
                    }
                    other => return fatal(format!("{}: call of a {}", self.at(), other.kind())),
                };
                r
            }
        })
    }

    /// `v[start:end:step]`: a list or tuple sliced as Python does (the bounds must be
    /// known at import time), a tensor sliced along its first dimension (`aten::slice`).
    fn slice(
        &mut self,
        env: &mut Env,
        v: PyValue,
        bounds: [&Option<Box<Expr>>; 3],
    ) -> EvalResult<PyValue> {
        let mut vals = Vec::with_capacity(3);
        for b in bounds {
            vals.push(match b {
                Some(e) => self.expr(env, e)?,
                None => PyValue::None,
            });
        }
        let step = match &vals[2] {
            PyValue::None => 1,
            PyValue::Int(0) => return fatal(format!("{}: slice step 0", self.at())),
            PyValue::Int(k) => *k,
            other => {
                return fatal(format!(
                    "{}: a slice step that is a {}",
                    self.at(),
                    other.kind()
                ))
            }
        };
        match v {
            PyValue::List(items) | PyValue::Tuple(items) => {
                let n = items.len() as i64;
                let bound = |b: &PyValue, default: i64| -> EvalResult<i64> {
                    let k = match b {
                        PyValue::None => return Ok(default),
                        PyValue::Int(k) => *k,
                        other => {
                            return fatal(format!(
                                "{}: slicing a list with a bound that is a {}",
                                self.at(),
                                other.kind()
                            ))
                        }
                    };
                    let k = if k < 0 { k.saturating_add(n) } else { k };
                    Ok(if step > 0 {
                        k.clamp(0, n)
                    } else {
                        k.clamp(-1, n - 1)
                    })
                };
                let (lo, hi) = if step > 0 { (0, n) } else { (n - 1, -1) };
                let start = bound(&vals[0], lo)?;
                let end = bound(&vals[1], hi)?;
                let mut out = Vec::new();
                let mut k = start;
                while (step > 0 && k < end) || (step < 0 && k > end) {
                    out.push(items[k as usize].clone());
                    k += step;
                }
                Ok(PyValue::List(out))
            }
            t @ PyValue::Tensor(_) => {
                let mut vals = vals.into_iter();
                let start = match vals.next().unwrap_or(PyValue::None) {
                    PyValue::None => PyValue::Int(0),
                    x => x,
                };
                let end = match vals.next().unwrap_or(PyValue::None) {
                    PyValue::None => PyValue::Int(i64::MAX),
                    x => x,
                };
                self.aten(
                    "slice",
                    Args {
                        pos: vec![t, PyValue::Int(0), start, end, PyValue::Int(step)],
                        kw: vec![],
                    },
                )
            }
            other => fatal(format!("{}: slicing a {}", self.at(), other.kind())),
        }
    }

    /// Calls a dotted name: aten/prim ops, `__torch__` functions, builtins.
    fn call_path(
        &mut self,
        p: &str,
        pos: Vec<PyValue>,
        kw: Vec<(String, PyValue)>,
    ) -> EvalResult<PyValue> {
        if let Some((func, file)) = self.code.funcs.get(p) {
            return self.call_func(func, file, None, pos, kw);
        }
        let args = Args { pos, kw };
        if let Some(op) = p.strip_prefix("ops.aten.") {
            return self.aten(op, args);
        }
        if let Some(op) = p.strip_prefix("ops.prim.") {
            return self.prim(op, args);
        }
        if let Some(op) = p.strip_prefix("torch.") {
            return self.aten(op, args);
        }
        if p.starts_with("__torch__.") {
            return fatal(format!("{}: unknown function {p}", self.at()));
        }
        self.builtin(p, args)
    }

    pub fn aten(&mut self, op: &str, args: Args) -> EvalResult<PyValue> {
        super::ops::aten(self, op, args)
    }

    fn prim(&mut self, op: &str, args: Args) -> EvalResult<PyValue> {
        super::ops::prim(self, op, args)
    }

    fn builtin(&mut self, name: &str, args: Args) -> EvalResult<PyValue> {
        super::ops::builtin(self, name, args)
    }
}

/// In-place ops (`torch.append(l, x)`, `torch.add_(t, 1)`) mutate their first argument:
/// the name it was read from is rebound to the result (SSA form). (Tensors overwritten
/// through other names or views are followed by [`Evaluator::current`].)
fn rebind_mutated(env: &mut Env, path: &str, first: Option<&Expr>, result: &PyValue) {
    let mutates = matches!(
        path,
        "torch.append" | "torch.extend" | "torch.insert" | "torch._set_item"
    ) || (path.starts_with("torch.") && path.ends_with('_') && !path.ends_with("__"));
    if let (true, Some(Expr::Name(n))) = (mutates, first) {
        if env.contains_key(n) {
            env.insert(n.clone(), result.clone());
        }
    }
}

/// `2,?,seq` for messages.
fn dims_text(s: &modelc_ir::Shape) -> String {
    let dims: Vec<String> =
        s.0.iter()
            .map(|d| match d {
                modelc_ir::Dim::Known(n) => n.to_string(),
                modelc_ir::Dim::Sym(n) => n.clone(),
                modelc_ir::Dim::Unknown => "?".into(),
            })
            .collect();
    dims.join(",")
}

/// Whether two evaluation values are the same (same graph value, equal constants).
fn same_value(a: &PyValue, b: &PyValue) -> bool {
    match (a, b) {
        (PyValue::None, PyValue::None) | (PyValue::Uninit, PyValue::Uninit) => true,
        (PyValue::Bool(x), PyValue::Bool(y)) => x == y,
        (PyValue::Int(x), PyValue::Int(y)) => x == y,
        (PyValue::Float(x), PyValue::Float(y)) => x.to_bits() == y.to_bits(),
        (PyValue::Str(x), PyValue::Str(y))
        | (PyValue::Path(x), PyValue::Path(y))
        | (PyValue::Device(x), PyValue::Device(y)) => x == y,
        (PyValue::Tensor(x), PyValue::Tensor(y)) => x.v == y.v,
        (PyValue::SymInt(x), PyValue::SymInt(y)) => x == y,
        (PyValue::List(x), PyValue::List(y)) | (PyValue::Tuple(x), PyValue::Tuple(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| same_value(p, q))
        }
        (PyValue::Obj(x), PyValue::Obj(y)) => Rc::ptr_eq(x, y),
        _ => false,
    }
}

/// Whether a branch raises unconditionally at its top level.
fn raises(stmts: &[Stmt]) -> bool {
    stmts.iter().any(|s| match &s.kind {
        StmtKind::Raise(_) => true,
        StmtKind::Expr(Expr::Call(f, _, _)) => {
            f.dotted().as_deref() == Some("ops.prim.RaiseException")
        }
        _ => false,
    })
}

/// A strided pickle tensor → contiguous IR tensor; zero-copy when already contiguous.
pub fn to_ir_tensor(t: &TensorValue) -> Result<Tensor, String> {
    let es = (t.storage.dtype.bits() / 8).max(1) as u64;
    let n = element_count(&t.size).ok_or("tensor size overflows")?;
    let mut contiguous = true;
    let mut expect = 1u64;
    for (&d, &s) in t.size.iter().zip(&t.stride).rev() {
        if d != 1 && s != expect {
            contiguous = false;
        }
        expect = expect.saturating_mul(d);
    }
    let data = &t.storage.data;
    let bytes = if n == 0 {
        bytes::Bytes::new()
    } else if contiguous {
        let start = (t.offset * es) as usize;
        let end = start + (n * es) as usize;
        if end > data.len() {
            return Err(format!("tensor reaches past storage {}", t.storage.key));
        }
        data.slice(start..end)
    } else {
        // Strided views (e.g. a transposed weight) are gathered into a new buffer.
        let mut out = Vec::with_capacity((n * es) as usize);
        let rank = t.size.len();
        let mut idx = vec![0u64; rank];
        for _ in 0..n {
            let off = t.offset + idx.iter().zip(&t.stride).map(|(i, s)| i * s).sum::<u64>();
            let s = (off * es) as usize;
            out.extend_from_slice(
                data.get(s..s + es as usize)
                    .ok_or("tensor view out of range")?,
            );
            for k in (0..rank).rev() {
                idx[k] += 1;
                if idx[k] < t.size[k] {
                    break;
                }
                idx[k] = 0;
            }
        }
        bytes::Bytes::from(out)
    };
    Tensor::from_raw(t.storage.dtype, t.size.clone(), bytes).map_err(|e| e.to_string())
}
