//! `.pt2` export: the IR as an `ExportedProgram` archive `torch.export.load` accepts.
//!
//! What each IR op becomes is the TorchScript writer's decision
//! ([`modelc_torchscript::aten_program`]: straight-line `torch.<op>(…)` calls); [`lower`]
//! turns those calls into program nodes on aten overloads, resolved against the pinned
//! torch's schemas ([`overload`]). Constants become parameters (floating point) or buffers
//! (the rest), lifted to placeholders before the user inputs as `torch.export` does.
//!
//! Every value's `tensor_values` entry (element type, sizes, strides) comes from reading the
//! program back with modelc's own `.pt2` reader and inferring shapes: a program modelc
//! cannot read back, or a value whose shape stays unknown, is refused before anything is
//! written. Symbolic input dims are kept as torch symbols (the IR's name where it is an
//! identifier), with their range from the model's `pt2.range.<symbol>` metadata when it has
//! one, else `1..`.

mod archive;
mod lower;
pub mod overload;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use modelc_ir::{DType, Dim, Model, Tensor, ValueRef};
use modelc_torchscript::pickle::{Storage, TensorValue};

use crate::schema::{
    Argument, Device, ExportedProgram, Graph, GraphModule, GraphSignature, InputSpec,
    ModuleCallEntry, ModuleCallSignature, OutputSpec, PayloadConfig, PayloadMeta, RangeConstraint,
    SchemaVersion, SymExpr, SymInt, TensorArgument, TensorMeta,
};
use crate::Pt2Error;
use overload::{schema_dtype, Val};

/// The torch version the archive says wrote it (the one whose schemas the writer uses).
pub const TORCH_VERSION: &str = "2.15.0";

/// Writes `model` as a `.pt2` archive at `path` (a temporary file renamed into place).
pub fn write(model: &Model, path: &Path) -> Result<(), Pt2Error> {
    let (prog, weights) = program(model)?;
    archive::write(path, &prog, &weights)
}

/// A weight entry: its state-dict name, whether it is a parameter, and the tensor.
pub(crate) struct Weight {
    pub name: String,
    pub is_param: bool,
    pub tensor: Tensor,
}

fn refuse(msg: String) -> Pt2Error {
    Pt2Error::Export(msg)
}

fn program(model: &Model) -> Result<(ExportedProgram, Vec<Weight>), Pt2Error> {
    let p = modelc_torchscript::aten_program(model).map_err(|e| refuse(e.to_string()))?;
    let g = &p.model.graph;
    let params: Vec<String> = p
        .forward
        .params
        .iter()
        .skip(1)
        .map(|x| x.name.clone())
        .collect();
    if params.len() != g.inputs().len() {
        return Err(refuse(
            "forward's parameters are not the graph's inputs".into(),
        ));
    }

    // Placeholders: lifted weights first (parameters, then buffers), then user inputs.
    let mut buffers = HashMap::new();
    let mut weights = Vec::new();
    for (name, t) in &p.buffers {
        if schema_dtype(t.dtype).is_none() {
            return Err(refuse(format!(
                "constant {name} is {}, which torch has no tensors of",
                t.dtype
            )));
        }
        let is_param = t.dtype.is_float();
        let ph = format!("{}_{name}", if is_param { "p" } else { "b" });
        buffers.insert(name.clone(), ph);
        weights.push(Weight {
            name: name.clone(),
            is_param,
            tensor: t.clone(),
        });
    }
    weights.sort_by_key(|w| !w.is_param);
    let inputs: Vec<(String, String)> = params.iter().map(|n| (n.clone(), n.clone())).collect();
    let lowered = lower::Lowerer::new(&inputs, &buffers)
        .lower(&p.forward)
        .map_err(|errs| {
            let errs: Vec<String> = errs
                .into_iter()
                .map(|(name, msg)| match p.origins.get(&name) {
                    Some(label) => format!("node {label}: {msg}"),
                    None if name.is_empty() => msg,
                    None => format!("`{name}`: {msg}"),
                })
                .collect();
            refuse(format!(
                "{} node(s) cannot be written: {}",
                errs.len(),
                errs.join("; ")
            ))
        })?;
    if lowered.outputs.is_empty() {
        return Err(refuse("the graph has no outputs".into()));
    }

    let mut syms = Symbols::new(model);
    let mut tensor_values = BTreeMap::new();
    let mut input_specs = Vec::new();
    let mut graph_inputs = Vec::new();
    for w in &weights {
        let ph = buffers[&w.name].clone();
        tensor_values.insert(
            ph.clone(),
            meta(
                w.tensor.dtype,
                &known(&w.tensor.dims),
                &mut syms,
                w.is_param,
            )?,
        );
        graph_inputs.push(Argument::AsTensor(TensorArgument { name: ph.clone() }));
        input_specs.push(if w.is_param {
            InputSpec::Parameter {
                arg: TensorArgument { name: ph },
                parameter_name: w.name.clone(),
            }
        } else {
            InputSpec::Buffer {
                arg: TensorArgument { name: ph },
                buffer_name: w.name.clone(),
                persistent: true,
            }
        });
    }
    for (&id, name) in g.inputs().iter().zip(&params) {
        let tt = g
            .value(ValueRef::new(id, 0))
            .and_then(|v| v.ty.as_ref())
            .and_then(|t| t.ty.as_tensor());
        let (Some(dtype), Some(shape)) =
            (tt.and_then(|t| t.dtype), tt.and_then(|t| t.shape.as_ref()))
        else {
            return Err(refuse(format!(
                "input {name}: its element type and rank must be known"
            )));
        };
        tensor_values.insert(name.clone(), meta(dtype, &shape.0, &mut syms, false)?);
        let arg = Argument::AsTensor(TensorArgument { name: name.clone() });
        graph_inputs.push(arg.clone());
        input_specs.push(InputSpec::UserInput { arg });
    }
    let mut outputs = Vec::new();
    for v in &lowered.outputs {
        match v {
            Val::Tensor(n) => outputs.push(Argument::AsTensor(TensorArgument { name: n.clone() })),
            other => {
                return Err(refuse(format!(
                    "an output is the constant {other:?}, not a tensor"
                )))
            }
        }
    }
    let output_specs = outputs
        .iter()
        .map(|a| OutputSpec::UserOutput { arg: a.clone() })
        .collect();
    let leaf = r#"{"type": null, "context": null, "children_spec": []}"#;
    let leaves = |n: usize| vec![leaf; n].join(", ");
    let in_spec = format!(
        r#"[1, {{"type": "builtins.tuple", "context": "null", "children_spec": [{{"type": "builtins.tuple", "context": "null", "children_spec": [{}]}}, {{"type": "builtins.dict", "context": "[]", "children_spec": []}}]}}]"#,
        leaves(params.len())
    );
    let out_spec = if outputs.len() == 1 {
        format!("[1, {leaf}]")
    } else {
        format!(
            r#"[1, {{"type": "builtins.tuple", "context": "null", "children_spec": [{}]}}]"#,
            leaves(outputs.len())
        )
    };
    let mut prog = ExportedProgram {
        graph_module: GraphModule {
            graph: Graph {
                inputs: graph_inputs,
                outputs,
                nodes: lowered.nodes,
                tensor_values,
                sym_int_values: BTreeMap::new(),
                sym_bool_values: BTreeMap::new(),
                is_single_tensor_return: false,
            },
            signature: GraphSignature {
                input_specs,
                output_specs,
            },
            module_call_graph: vec![ModuleCallEntry {
                fqn: String::new(),
                signature: Some(ModuleCallSignature {
                    inputs: Vec::new(),
                    outputs: Vec::new(),
                    in_spec,
                    out_spec,
                    forward_arg_names: Some(params.clone()),
                }),
            }],
            metadata: BTreeMap::new(),
        },
        opset_version: BTreeMap::from([("aten".to_string(), 10)]),
        range_constraints: BTreeMap::new(),
        schema_version: SchemaVersion {
            major: crate::archive::SCHEMA_MAJOR,
            minor: crate::archive::SCHEMA_MINOR_MAX,
        },
        verifiers: Vec::new(),
        torch_version: TORCH_VERSION.into(),
    };
    // A reshape to sizes computed at run time has unknown dims after shape inference; its
    // size arguments give them as expressions of the input symbols. Declared on the read-back
    // graph, they reach the ops after it (a transpose, a matmul) on the next inference round.
    let mut back = ReadBack::new(&prog, &weights)?;
    loop {
        let types = back.types()?;
        let (resolved, errors) = fill_values(&mut prog, &types, &mut syms, &p.origins)?;
        if errors.is_empty() {
            break;
        }
        let mut news = false;
        for (name, sizes) in resolved {
            let dims = sizes
                .into_iter()
                .map(|(e, h)| match e {
                    None => Dim::Known(h.max(0) as u64),
                    Some(e) => Dim::Sym(syms.dim_of_expr(&e, h)),
                })
                .collect();
            news |= back.declare(&name, dims);
        }
        if !news {
            return Err(refuse(errors.join("; ")));
        }
    }
    prog.range_constraints = syms.ranges();
    Ok((prog, weights))
}

/// modelc's own reading of the program: the IR graph and which value each program tensor is.
struct ReadBack {
    model: Model,
    names: HashMap<String, ValueRef>,
    order: Vec<String>,
}

impl ReadBack {
    fn new(prog: &ExportedProgram, weights: &[Weight]) -> Result<ReadBack, Pt2Error> {
        let tv: BTreeMap<String, TensorValue> = weights
            .iter()
            .map(|w| (w.name.clone(), tensor_value(&w.tensor)))
            .collect();
        let code = crate::import::no_code();
        let (cx, env) = crate::import::evaluate(prog, &tv, &code)
            .map_err(|e| refuse(format!("modelc cannot read the program back: {e}")))?;
        let (mut names, mut order) = (HashMap::new(), Vec::new());
        for n in &prog.graph_module.graph.nodes {
            for o in &n.outputs {
                let outs = match o {
                    Argument::AsTensor(t) => vec![t.name.clone()],
                    Argument::AsTensors(ts) => ts.iter().map(|t| t.name.clone()).collect(),
                    _ => vec![],
                };
                for name in outs {
                    match env.get(&name).map(|v| cx.current(v)) {
                        Some(modelc_torchscript::import::value::PyValue::Tensor(t)) => {
                            names.insert(name.clone(), t.v);
                            order.push(name);
                        }
                        _ => {
                            return Err(refuse(format!(
                                "{name}: read back as something other than a tensor"
                            )))
                        }
                    }
                }
            }
        }
        Ok(ReadBack {
            model: Model::new(cx.b.g, modelc_torchscript::import::OPSET),
            names,
            order,
        })
    }

    /// The element type and dims of every node output after shape inference (dims may be
    /// unknown).
    fn types(&mut self) -> Result<HashMap<String, (DType, Vec<Dim>)>, Pt2Error> {
        let pass =
            modelc_passes::registry::get("infer-shapes").map_err(|e| refuse(e.to_string()))?;
        let mut pm = modelc_passes::PassManager::new(vec![pass]);
        pm.validate = false;
        pm.run(&mut self.model)
            .map_err(|e| refuse(format!("inferring shapes: {e}")))?;
        let mut types = HashMap::new();
        for name in &self.order {
            let tt = self
                .model
                .graph
                .value(self.names[name])
                .and_then(|x| x.ty.as_ref())
                .and_then(|t| t.ty.as_tensor());
            if let (Some(d), Some(shape)) =
                (tt.and_then(|t| t.dtype), tt.and_then(|t| t.shape.as_ref()))
            {
                types.insert(name.clone(), (d, shape.0.clone()));
            }
        }
        Ok(types)
    }

    /// Declares the dims of a tensor whose shape inference left unknown; whether that told
    /// the graph anything new.
    fn declare(&mut self, name: &str, dims: Vec<Dim>) -> bool {
        let Some(&v) = self.names.get(name) else {
            return false;
        };
        let Some(value) = self.model.graph.value_mut(v) else {
            return false;
        };
        let Some(modelc_ir::ValueType::Tensor(t)) = value
            .ty
            .as_mut()
            .map(|t| &mut std::sync::Arc::make_mut(t).ty)
        else {
            return false;
        };
        let before = t.shape.as_ref().map(|s| s.0.clone());
        match &mut t.shape {
            Some(s) if s.0.len() == dims.len() => {
                for (d, new) in s.0.iter_mut().zip(dims) {
                    if matches!(d, Dim::Unknown) {
                        *d = new;
                    }
                }
            }
            Some(_) => return false,
            None => t.shape = Some(modelc_ir::Shape(dims)),
        }
        before != t.shape.as_ref().map(|s| s.0.clone())
    }
}

/// `tensor_values` and `sym_int_values` of the node outputs, in program order: a tensor's
/// from the read-back types, or (where shape inference left a dim unknown) a reshape's from
/// its size arguments; a size of a tensor is its `tensor_values` entry's; `_operator`
/// arithmetic combines expressions (and hints). Returns the tensors whose sizes came from a
/// reshape's arguments (shape inference left them unknown), for the caller to declare on the
/// read-back graph, and every value that stays unknown.
#[allow(clippy::type_complexity)]
fn fill_values(
    prog: &mut ExportedProgram,
    types: &HashMap<String, (DType, Vec<Dim>)>,
    syms: &mut Symbols,
    origins: &HashMap<String, String>,
) -> Result<(Vec<(String, Vec<(Option<String>, i64)>)>, Vec<String>), Pt2Error> {
    let label = |name: &str| match origins.get(name) {
        Some(l) => format!("node {l}"),
        None => format!("`{name}`"),
    };
    use crate::schema::SymIntArgument;
    let g = &mut prog.graph_module.graph;
    g.tensor_values.retain(|k, _| {
        g.inputs
            .iter()
            .any(|a| matches!(a, Argument::AsTensor(t) if t.name == *k))
    });
    g.sym_int_values.clear();
    let mut known: HashMap<String, SymInt> = HashMap::new();
    let mut resolved = Vec::new();
    let parts = |s: &SymInt| -> (Option<String>, i64) {
        match s {
            SymInt::AsInt(v) => (None, *v),
            SymInt::AsExpr(e) => (
                Some(e.expr_str.clone()),
                e.hint
                    .as_ref()
                    .and_then(|h| h.get("as_int"))
                    .and_then(|v| v.as_i64())
                    .unwrap_or(1),
            ),
        }
    };
    let mut errors = Vec::new();
    // Sizes of tensors already reported unknown: their own failure says nothing new.
    let mut later = Vec::new();
    for n in &g.nodes {
        let tensors: Vec<&str> = n
            .outputs
            .iter()
            .flat_map(|o| match o {
                Argument::AsTensor(t) => vec![t.name.as_str()],
                Argument::AsTensors(ts) => ts.iter().map(|t| t.name.as_str()).collect(),
                _ => vec![],
            })
            .collect();
        for name in tensors {
            let Some((dtype, dims)) = types.get(name) else {
                errors.push(format!(
                    "{}: its element type is not known after reading back",
                    label(name)
                ));
                continue;
            };
            let m = if dims.iter().all(|d| !matches!(d, Dim::Unknown)) {
                meta(*dtype, dims, syms, false)?
            } else {
                match reshaped(n, &known, &parts) {
                    Some(sizes) if sizes.len() == dims.len() => {
                        let code = schema_dtype(*dtype)
                            .ok_or_else(|| refuse(format!("torch has no {dtype} tensors")))?;
                        let m = meta_sized(code, &sizes, false);
                        resolved.push((name.to_string(), sizes));
                        m
                    }
                    _ => {
                        errors.push(format!(
                            "{}: its shape is not known after shape inference (a size computed at run time)",
                            label(name)
                        ));
                        continue;
                    }
                }
            };
            g.tensor_values.insert(name.to_string(), m);
        }
        let Some(Argument::AsSymInt(SymIntArgument::AsName(out))) = n.outputs.first() else {
            continue;
        };
        let value = if n.target == "torch.ops.aten.sym_size.int" {
            let (Some(Argument::AsTensor(x)), Some(Argument::AsInt(d))) = (
                n.inputs.first().map(|a| &a.arg),
                n.inputs.get(1).map(|a| &a.arg),
            ) else {
                return Err(refuse(format!("{out}: a malformed sym_size")));
            };
            let Some(meta) = g.tensor_values.get(&x.name) else {
                later.push(format!("{out}: {} has no type", x.name));
                continue;
            };
            let sizes = &meta.sizes;
            let i = if *d < 0 { *d + sizes.len() as i64 } else { *d };
            sizes
                .get(i as usize)
                .cloned()
                .ok_or_else(|| refuse(format!("{out}: dim {d} of a rank-{} tensor", sizes.len())))?
        } else {
            let operand = |k: usize| -> Result<Option<(Option<String>, i64)>, Pt2Error> {
                match n.inputs.get(k).map(|a| &a.arg) {
                    Some(Argument::AsInt(v)) => Ok(Some((None, *v))),
                    Some(Argument::AsSymInt(SymIntArgument::AsName(m))) => {
                        Ok(known.get(m).map(parts))
                    }
                    _ => Err(refuse(format!("{out}: a malformed {}", n.target))),
                }
            };
            let (Some((ea, ha)), Some((eb, hb))) = (operand(0)?, operand(1)?) else {
                later.push(format!("{out}: an operand is not a known size"));
                continue;
            };
            let text = |e: Option<String>, h: i64| e.map_or(h.to_string(), |e| format!("({e})"));
            let (expr, hint) = match n.target.as_str() {
                "_operator.add" => (format!("{} + {}", text(ea, ha), text(eb, hb)), ha + hb),
                "_operator.sub" => (format!("{} - {}", text(ea, ha), text(eb, hb)), ha - hb),
                "_operator.mul" => (format!("{}*{}", text(ea, ha), text(eb, hb)), ha * hb),
                "_operator.floordiv" if hb != 0 => (
                    format!("floor({}/{})", text(ea, ha), text(eb, hb)),
                    ha.div_euclid(hb),
                ),
                t => return Err(refuse(format!("{out}: {t} on sizes"))),
            };
            SymInt::AsExpr(SymExpr {
                expr_str: expr,
                hint: Some(serde_json::json!({ "as_int": hint })),
            })
        };
        known.insert(out.clone(), value.clone());
        g.sym_int_values.insert(out.clone(), value);
    }
    if errors.is_empty() {
        errors = later;
    }
    Ok((resolved, errors))
}

/// The sizes a reshape or view asks for, when they are all given (no `-1`).
fn reshaped(
    n: &crate::schema::Node,
    known: &HashMap<String, SymInt>,
    parts: &dyn Fn(&SymInt) -> (Option<String>, i64),
) -> Option<Vec<(Option<String>, i64)>> {
    use crate::schema::SymIntArgument;
    if !matches!(
        n.target.as_str(),
        "torch.ops.aten.reshape.default" | "torch.ops.aten.view.default"
    ) {
        return None;
    }
    match &n.inputs.get(1)?.arg {
        Argument::AsSymInts(items) => items
            .iter()
            .map(|a| match a {
                SymIntArgument::AsInt(v) if *v >= 0 => Some((None, *v)),
                SymIntArgument::AsName(m) => known.get(m).map(parts),
                _ => None,
            })
            .collect(),
        _ => None,
    }
}

fn known(dims: &[u64]) -> Vec<Dim> {
    dims.iter().map(|&d| Dim::Known(d)).collect()
}

/// A tensor's bytes as the reader's weight view (shared, not copied).
fn tensor_value(t: &Tensor) -> TensorValue {
    let stride = contiguous(&t.dims);
    TensorValue {
        storage: Storage {
            key: "w".into(),
            dtype: t.dtype,
            location: "cpu".into(),
            numel: t.element_count().unwrap_or(0),
            data: t.raw().cloned().unwrap_or_default(),
        },
        offset: 0,
        size: t.dims.clone(),
        stride,
        requires_grad: false,
    }
}

fn contiguous(dims: &[u64]) -> Vec<u64> {
    let mut s = vec![1u64; dims.len()];
    for i in (0..dims.len().saturating_sub(1)).rev() {
        s[i] = s[i + 1].saturating_mul(dims[i + 1]);
    }
    s
}

/// The IR's symbolic dims as torch symbols, with their ranges.
struct Symbols {
    names: BTreeMap<String, String>,
    declared: BTreeMap<String, (i64, Option<i64>)>,
    /// IR dim names that stand for a torch size expression (the name is the expression),
    /// with its hint: sizes a reshape computed, declared on the read-back graph.
    exprs: BTreeMap<String, i64>,
}

impl Symbols {
    fn new(model: &Model) -> Symbols {
        let mut declared = BTreeMap::new();
        for (k, v) in &model.meta {
            if let (Some(sym), Some((lo, hi))) = (k.strip_prefix("pt2.range."), v.split_once(".."))
            {
                declared.insert(
                    sym.to_string(),
                    (lo.parse().unwrap_or(1).max(1), hi.parse().ok()),
                );
            }
        }
        Symbols {
            names: BTreeMap::new(),
            declared,
            exprs: BTreeMap::new(),
        }
    }

    /// The IR dim name of a torch size expression: the IR name of its symbol when it is one,
    /// else the expression itself.
    fn dim_of_expr(&mut self, expr: &str, hint: i64) -> String {
        for (ir, s) in &self.names {
            if expr == symbol_expr(s) || expr == s {
                return ir.clone();
            }
        }
        self.exprs.insert(expr.to_string(), hint);
        expr.to_string()
    }

    /// The torch symbol of an IR dim name (`s<k>` when it is not an identifier).
    fn symbol(&mut self, dim: &str) -> String {
        if let Some(s) = self.names.get(dim) {
            return s.clone();
        }
        let ident = !dim.is_empty()
            && dim.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            && !dim.starts_with(|c: char| c.is_ascii_digit());
        let s = if ident {
            dim.to_string()
        } else {
            format!("s{}", self.names.len())
        };
        self.names.insert(dim.to_string(), s.clone());
        s
    }

    /// A hint inside the symbol's range (torch makes backed symbols from hints).
    fn hint(&self, sym: &str) -> i64 {
        let (lo, hi) = self.declared.get(sym).copied().unwrap_or((1, None));
        let h = lo.max(2);
        hi.map_or(h, |hi| h.min(hi))
    }

    fn ranges(&self) -> BTreeMap<String, RangeConstraint> {
        self.names
            .values()
            .map(|s| {
                let (lo, hi) = self.declared.get(s).copied().unwrap_or((1, None));
                (
                    s.clone(),
                    RangeConstraint {
                        min_val: Some(lo),
                        max_val: hi,
                    },
                )
            })
            .collect()
    }
}

/// A `tensor_values` entry: contiguous strides, symbolic sizes as `Symbol(…)` expressions.
fn meta(
    dtype: DType,
    dims: &[Dim],
    syms: &mut Symbols,
    requires_grad: bool,
) -> Result<TensorMeta, Pt2Error> {
    let code =
        schema_dtype(dtype).ok_or_else(|| refuse(format!("torch has no {dtype} tensors")))?;
    if matches!(dtype, DType::U16 | DType::U32 | DType::U64) {
        // torch has the types but few CPU kernels for them (no add, no comparisons).
        return Err(refuse(format!(
            "{dtype} tensors: torch's CPU kernels do not cover them"
        )));
    }
    // (expression, hint) per size; products for strides.
    let mut sizes: Vec<(Option<String>, i64)> = Vec::new();
    for d in dims {
        sizes.push(match d {
            Dim::Known(n) => (None, *n as i64),
            Dim::Sym(expr) if syms.exprs.contains_key(expr) => {
                (Some(expr.clone()), syms.exprs[expr])
            }
            Dim::Sym(name) => {
                let s = syms.symbol(name);
                let h = syms.hint(&s);
                (Some(symbol_expr(&s)), h)
            }
            Dim::Unknown => return Err(refuse("a size is unknown".into())),
        });
    }
    Ok(meta_sized(code, &sizes, requires_grad))
}

/// A torch symbol as a size expression.
fn symbol_expr(s: &str) -> String {
    format!("Symbol('{s}', positive=True, integer=True)")
}

/// A `tensor_values` entry of sizes given as (expression or none, value or hint).
fn meta_sized(code: i64, sizes: &[(Option<String>, i64)], requires_grad: bool) -> TensorMeta {
    let sym = |e: &Option<String>, h: i64| match e {
        None => SymInt::AsInt(h),
        Some(expr) => SymInt::AsExpr(SymExpr {
            expr_str: expr.clone(),
            hint: Some(serde_json::json!({ "as_int": h })),
        }),
    };
    // Stride i: the product of the sizes after i (a constant times symbols).
    let mut strides = vec![SymInt::AsInt(1); sizes.len()];
    let (mut konst, mut acc, mut hint) = (1i64, Vec::<String>::new(), 1i64);
    for i in (0..sizes.len()).rev() {
        strides[i] = if acc.is_empty() {
            SymInt::AsInt(konst)
        } else {
            let mut parts = acc.clone();
            if konst != 1 {
                parts.insert(0, konst.to_string());
            }
            sym(&Some(parts.join("*")), hint)
        };
        match &sizes[i].0 {
            None => konst = konst.saturating_mul(sizes[i].1),
            Some(e) => acc.push(format!("({e})")),
        }
        hint = hint.saturating_mul(sizes[i].1);
    }
    TensorMeta {
        dtype: code,
        sizes: sizes.iter().map(|(e, h)| sym(e, *h)).collect(),
        requires_grad,
        device: Device::cpu(),
        strides,
        storage_offset: Some(SymInt::AsInt(0)),
        layout: Some(7),
    }
}

/// The weights config entry of each weight (`weight_<i>`).
pub(crate) fn weights_config(weights: &[Weight]) -> Result<PayloadConfig, Pt2Error> {
    let mut config = BTreeMap::new();
    for (i, w) in weights.iter().enumerate() {
        let mut syms = Symbols {
            names: BTreeMap::new(),
            declared: BTreeMap::new(),
            exprs: BTreeMap::new(),
        };
        config.insert(
            w.name.clone(),
            PayloadMeta {
                path_name: format!("weight_{i}"),
                is_param: w.is_param,
                use_pickle: false,
                tensor_meta: Some(meta(
                    w.tensor.dtype,
                    &known(&w.tensor.dims),
                    &mut syms,
                    w.is_param,
                )?),
            },
        );
    }
    Ok(PayloadConfig { config })
}
