//! The exported program's graph → IR, through the TorchScript frontend's aten translators.
//!
//! Placeholders are bound per the graph signature: user inputs become graph inputs (typed and
//! shaped from `tensor_values`, symbolic sizes as named dims), parameters, buffers and
//! lifted tensor constants become constants (slices of the archive's memory map), constant
//! inputs become Python values. Each `call_function` node on `torch.ops.aten.<op>.<overload>`
//! is handed to `modelc_torchscript::import::ops::aten` with its arguments as the same
//! values the TorchScript evaluator passes (positional and keyword, as the node records
//! them), so both frontends share one translation of every aten op; `_operator.*` on
//! symbolic ints are the evaluator's Python operators. Runtime assertions
//! (`_assert_scalar`, `sym_constrain_range_for_size`, …) are dropped: the model is taken to
//! run on valid inputs, as for TorchScript. Every node that cannot be translated is
//! reported, by node name, at once.
//!
//! Symbolic sizes keep torch's symbol names (`s77`; `Dim` names are not in the archive) and
//! their ranges are recorded in the model's metadata as `pt2.range.<symbol>` = `min..max`.
//! Buffer mutations (BatchNorm statistics in training mode) are not outputs of the IR: one
//! call's results do not depend on them.

use std::collections::HashMap;

use modelc_ir::{
    DType, Dim, Model, OnnxOp, Shape, TensorType, TypeInfo, Value, ValueRef, ValueType,
};
use modelc_passes::Pass;
use modelc_torchscript::import::args::{scalar_code, Args};
use modelc_torchscript::import::builder::Builder;
use modelc_torchscript::import::eval::{Code, Evaluator, Stop};
use modelc_torchscript::import::value::{PyValue, TensorRef};
use modelc_torchscript::import::OPSET;

use crate::archive::Pt2Archive;
use crate::schema::{
    Argument, ConstantValue, ExportedProgram, InputSpec, OptionalTensorArgument, OutputSpec,
    SymBoolArgument, SymFloatArgument, SymInt, SymIntArgument,
};
use crate::{weights, Pt2Error};

/// Targets that only check things at run time: no node in the IR.
const ASSERTIONS: &[&str] = &[
    "_assert_async",
    "_assert_scalar",
    "_assert_tensor_metadata",
    "sym_constrain_range",
    "sym_constrain_range_for_size",
    "_functional_sym_constrain_range",
    "_functional_sym_constrain_range_for_size",
];

/// Reads the archive's program into a model.
pub fn import(a: &mut Pt2Archive) -> Result<Model, Pt2Error> {
    let prog = a.program()?;
    let weights = weights::load(a)?;
    translate(&prog, &weights)
}

/// Translates a parsed program with its weights.
pub fn translate(
    prog: &ExportedProgram,
    weights: &std::collections::BTreeMap<String, modelc_torchscript::pickle::TensorValue>,
) -> Result<Model, Pt2Error> {
    let code = no_code();
    let (mut cx, env) = evaluate(prog, weights, &code)?;
    let mut errors: Vec<String> = Vec::new();
    let gm = &prog.graph_module;
    let mut outs = Vec::new();
    for spec in &gm.signature.output_specs {
        match spec {
            OutputSpec::UserOutput { arg } => match output_value(&cx, &env, arg) {
                Ok(Some((name, v))) => outs.push((name, v)),
                Ok(None) => {}
                Err(e) => errors.push(e),
            },
            OutputSpec::BufferMutation { .. } => {}
            OutputSpec::LossOutput { arg }
            | OutputSpec::GradientToParameter { arg }
            | OutputSpec::GradientToUserInput { arg }
            | OutputSpec::ParameterMutation { arg } => errors.push(format!(
                "output {} is a training output (loss, gradient or parameter update); export the model in eval mode for inference",
                arg.name
            )),
            OutputSpec::UserInputMutation { arg, user_input_name } => errors.push(format!(
                "node {} writes its output {} into the input {user_input_name} in place (a \
                 mutated input, e.g. batch-norm running statistics updated in training \
                 mode), which the IR cannot express",
                producer(&gm.graph, &arg.name),
                arg.name
            )),
            OutputSpec::Token { .. } => {}
        }
    }
    if !errors.is_empty() {
        return Err(Pt2Error::Import(errors.join("; ")));
    }
    let mut used = std::collections::HashSet::new();
    for (name, v) in outs {
        let node = cx.b.g.node(v.node);
        let reuse = !node.op.is_structural()
            && node.outputs.len() > v.slot
            && !cx.b.g.outputs().contains(&v)
            && used.insert(name.clone());
        let v = if reuse {
            v
        } else {
            cx.b.build().op(OnnxOp::Identity, &[v]).value()
        };
        if let (Some(val), true) = (cx.b.g.value_mut(v), reuse) {
            val.name = name;
        }
        cx.b.g.push_output(v);
    }
    let mut graph = cx.b.g;
    modelc_passes::passes::dce::Dce
        .run(&mut graph, &mut modelc_passes::PassContext::default())
        .map_err(|e| Pt2Error::Import(e.to_string()))?;
    let mut model = Model::new(graph, OPSET);
    model.producer_name = "torch.export".into();
    model.producer_version = prog.torch_version.clone();
    for (sym, r) in &prog.range_constraints {
        let bound = |b: Option<i64>| b.map(|v| v.to_string()).unwrap_or_default();
        model.meta.push((
            format!("pt2.range.{sym}"),
            format!("{}..{}", bound(r.min_val), bound(r.max_val)),
        ));
    }
    Ok(model)
}

/// No TorchScript classes or functions: a program's nodes call aten ops only.
pub(crate) fn no_code() -> Code {
    Code {
        classes: HashMap::new(),
        funcs: HashMap::new(),
    }
}

/// Binds the placeholders and translates every node, leaving the evaluator's graph and the
/// value each program name stands for (the writer reads the IR type of each through it).
pub(crate) fn evaluate<'c>(
    prog: &ExportedProgram,
    weights: &std::collections::BTreeMap<String, modelc_torchscript::pickle::TensorValue>,
    code: &'c Code,
) -> Result<(Evaluator<'c>, HashMap<String, PyValue>), Pt2Error> {
    let gm = &prog.graph_module;
    let g = &gm.graph;
    let mut cx = Evaluator::new(Builder::new("main"), code, Vec::new());
    let mut env: HashMap<String, PyValue> = HashMap::new();
    let mut errors: Vec<String> = Vec::new();

    for spec in &gm.signature.input_specs {
        match spec {
            InputSpec::UserInput { arg } => match arg {
                Argument::AsTensor(t) => {
                    let meta = g.tensor_values.get(&t.name).ok_or_else(|| {
                        Pt2Error::Import(format!("input {} has no tensor_values entry", t.name))
                    })?;
                    let dtype = weights::dtype(meta.dtype).ok_or_else(|| {
                        Pt2Error::Import(format!(
                            "input {}: element type code {} is not supported",
                            t.name, meta.dtype
                        ))
                    })?;
                    let shape = Shape(meta.sizes.iter().map(dim).collect());
                    let rank = shape.rank();
                    let ty = TypeInfo::from(ValueType::Tensor(TensorType {
                        dtype: Some(dtype),
                        shape: Some(shape),
                    }));
                    let id = cx.b.g.add_input(Value::typed(t.name.clone(), ty));
                    env.insert(
                        t.name.clone(),
                        PyValue::Tensor(TensorRef::new(ValueRef::new(id, 0), Some(rank), dtype)),
                    );
                }
                Argument::AsInt(_)
                | Argument::AsFloat(_)
                | Argument::AsBool(_)
                | Argument::AsString(_)
                | Argument::AsNone(_) => {
                    // A non-tensor user input torch.export specialized: its value is in the
                    // graph already; nothing reads the placeholder.
                }
                other => errors.push(format!(
                    "user input {} is not a tensor; modelc reads tensor inputs",
                    arg_label(other)
                )),
            },
            InputSpec::Parameter {
                arg,
                parameter_name: n,
            }
            | InputSpec::Buffer {
                arg,
                buffer_name: n,
                ..
            }
            | InputSpec::TensorConstant {
                arg,
                tensor_constant_name: n,
            } => {
                let Some(tv) = weights.get(n) else {
                    errors.push(format!(
                        "{} ({n}) has no entry in the archive's weights or constants",
                        arg.name
                    ));
                    continue;
                };
                match cx.tensor_const(n, tv) {
                    Ok(t) => {
                        env.insert(arg.name.clone(), PyValue::Tensor(t));
                    }
                    Err(e) => errors.push(format!("{n}: {}", stop_text(e))),
                }
            }
            InputSpec::ConstantInput { name, value } => {
                env.insert(
                    name.clone(),
                    match value {
                        ConstantValue::AsNone(_) => PyValue::None,
                        ConstantValue::AsInt(i) => PyValue::Int(*i),
                        ConstantValue::AsFloat(f) => PyValue::Float(f.0),
                        ConstantValue::AsString(s) => PyValue::Str(s.clone()),
                        ConstantValue::AsBool(b) => PyValue::Bool(*b),
                    },
                );
            }
            InputSpec::CustomObj {
                custom_obj_name, ..
            } => errors.push(format!(
                "input {custom_obj_name} is a custom (TorchBind) object, which modelc cannot run"
            )),
            InputSpec::Token { .. } => errors.push(effects_refusal(g)),
        }
    }
    if !errors.is_empty() {
        return Err(Pt2Error::Import(errors.join("; ")));
    }

    for (k, node) in g.nodes.iter().enumerate() {
        let label = node.name.clone().unwrap_or_else(|| format!("#{k}"));
        cx.file = label.clone();
        cx.line = 0;
        let at = cx.at();
        let result = call(&mut cx, &env, node);
        for e in cx.errors.drain(..) {
            let e = e.strip_prefix(&format!("{at}: ")).unwrap_or(&e).to_string();
            errors.push(format!("node {label} ({}): {e}", node.target));
        }
        let value = match result {
            Ok(Some(v)) => v,
            Ok(None) => continue,
            Err(e) => {
                errors.push(format!("node {label} ({}): {e}", node.target));
                // Placeholders keep later nodes translatable, so every problem is listed.
                let n = count_outputs(&node.outputs);
                let outs = cx.b.custom(&node.target, &[], n.max(1));
                let vals: Vec<PyValue> = outs
                    .iter()
                    .map(|v| PyValue::Tensor(TensorRef::new(*v, None, DType::F32)))
                    .collect();
                if n <= 1 {
                    vals.into_iter().next().unwrap_or(PyValue::None)
                } else {
                    PyValue::Tuple(vals)
                }
            }
        };
        if let Err(e) = bind(&mut env, &node.outputs, value) {
            errors.push(format!("node {label} ({}): {e}", node.target));
        }
    }

    if !errors.is_empty() {
        return Err(Pt2Error::Import(errors.join("; ")));
    }
    Ok((cx, env))
}

/// Translates one node; `None` for a node that makes nothing (an assertion).
fn call(
    cx: &mut Evaluator,
    env: &HashMap<String, PyValue>,
    node: &crate::schema::Node,
) -> Result<Option<PyValue>, String> {
    let mut pos = Vec::new();
    let mut kw = Vec::new();
    for a in &node.inputs {
        let v = value(env, &a.arg).map_err(|e| format!("argument `{}`: {e}", a.name))?;
        if a.kind == Some(2) {
            kw.push((a.name.clone(), v));
        } else {
            pos.push(v);
        }
    }
    let args = Args { pos, kw };
    let t = node.target.as_str();
    if let Some(rest) = t.strip_prefix("torch.ops.aten.") {
        let op = rest.split_once('.').map_or(rest, |(op, _overload)| op);
        if ASSERTIONS.contains(&op) {
            return Ok(None);
        }
        let op = match op {
            "sym_size" => "size",
            "sym_numel" => "numel",
            "sym_stride" => "stride",
            "sym_storage_offset" => "storage_offset",
            op => op,
        };
        return cx.aten(op, args).map(Some).map_err(stop_text);
    }
    // Python operators on symbolic ints and floats, as the evaluator computes them.
    let op = match t {
        "_operator.add" => "add",
        "_operator.sub" => "sub",
        "_operator.mul" => "mul",
        "_operator.truediv" => "div",
        "_operator.floordiv" => "floordiv",
        "_operator.mod" => "remainder",
        "_operator.pow" => "pow",
        "_operator.neg" => "neg",
        "_operator.eq" => "eq",
        "_operator.ne" => "ne",
        "_operator.lt" => "lt",
        "_operator.le" => "le",
        "_operator.gt" => "gt",
        "_operator.ge" => "ge",
        "torch.sym_max" => "max",
        "torch.sym_min" => "min",
        "torch._sym_sqrt" | "math.sqrt" => "sqrt",
        "torch.sym_float" => return builtin(cx, "float", args),
        "torch.sym_int" => return builtin(cx, "int", args),
        "torch.sym_not" => "__not__",
        _ => {
            if t.starts_with("torch.ops.") {
                return Err(format!(
                    "{t} is not an aten op (a custom or higher-order op); modelc reads aten graphs"
                ));
            }
            return Err(format!("call target {t} is not supported"));
        }
    };
    cx.aten(op, args).map(Some).map_err(stop_text)
}

fn builtin(cx: &mut Evaluator, name: &str, args: Args) -> Result<Option<PyValue>, String> {
    modelc_torchscript::import::ops::builtin(cx, name, args)
        .map(Some)
        .map_err(stop_text)
}

fn stop_text(e: Stop) -> String {
    match e {
        Stop::Raise(m) | Stop::Fatal(m) => m,
    }
}

/// A node argument as the value the aten translators take.
fn value(env: &HashMap<String, PyValue>, a: &Argument) -> Result<PyValue, String> {
    let named = |n: &str| -> Result<PyValue, String> {
        env.get(n)
            .cloned()
            .ok_or_else(|| format!("refers to {n}, which no earlier node or input defines"))
    };
    let sym_int = |s: &SymIntArgument| match s {
        SymIntArgument::AsName(n) => named(n),
        SymIntArgument::AsInt(i) => Ok(PyValue::Int(*i)),
    };
    let opt = |o: &OptionalTensorArgument| match o {
        OptionalTensorArgument::AsTensor(t) => named(&t.name),
        OptionalTensorArgument::AsNone(_) => Ok(PyValue::None),
    };
    Ok(match a {
        Argument::AsNone(_) => PyValue::None,
        Argument::AsTensor(t) => named(&t.name)?,
        Argument::AsTensors(ts) => PyValue::List(
            ts.iter()
                .map(|t| named(&t.name))
                .collect::<Result<_, _>>()?,
        ),
        Argument::AsInt(i) => PyValue::Int(*i),
        Argument::AsInts(v) => PyValue::List(v.iter().map(|i| PyValue::Int(*i)).collect()),
        Argument::AsFloat(f) => PyValue::Float(f.0),
        Argument::AsFloats(v) => PyValue::List(v.iter().map(|f| PyValue::Float(f.0)).collect()),
        Argument::AsString(s) => PyValue::Str(s.clone()),
        Argument::AsStrings(v) => {
            PyValue::List(v.iter().map(|s| PyValue::Str(s.clone())).collect())
        }
        Argument::AsSymInt(s) => sym_int(s)?,
        Argument::AsSymInts(v) => PyValue::List(v.iter().map(sym_int).collect::<Result<_, _>>()?),
        Argument::AsScalarType(code) => {
            let d = weights::dtype(*code)
                .ok_or_else(|| format!("element type code {code} is not supported"))?;
            PyValue::Int(scalar_code(d))
        }
        // c10's MemoryFormat numbering (contiguous 0, preserve 1, channels_last 2, 3d 3).
        Argument::AsMemoryFormat(m) => PyValue::Int(match m {
            1 => 0,
            2 => 2,
            3 => 3,
            _ => 1,
        }),
        // c10's Layout: strided is 0.
        Argument::AsLayout(l) => PyValue::Int(if *l == 7 { 0 } else { *l }),
        Argument::AsDevice(d) => PyValue::Device(match d.index {
            Some(i) => format!("{}:{i}", d.kind),
            None => d.kind.clone(),
        }),
        Argument::AsBool(b) => PyValue::Bool(*b),
        Argument::AsBools(v) => PyValue::List(v.iter().map(|b| PyValue::Bool(*b)).collect()),
        Argument::AsSymBool(SymBoolArgument::AsName(n)) => named(n)?,
        Argument::AsSymBool(SymBoolArgument::AsBool(b)) => PyValue::Bool(*b),
        Argument::AsSymBools(v) => PyValue::List(
            v.iter()
                .map(|b| match b {
                    SymBoolArgument::AsName(n) => named(n),
                    SymBoolArgument::AsBool(b) => Ok(PyValue::Bool(*b)),
                })
                .collect::<Result<_, _>>()?,
        ),
        Argument::AsOptionalTensors(v) => {
            PyValue::List(v.iter().map(opt).collect::<Result<_, _>>()?)
        }
        Argument::AsOptionalTensor(o) => opt(o)?,
        Argument::AsSymFloat(SymFloatArgument::AsName(n)) => named(n)?,
        Argument::AsSymFloat(SymFloatArgument::AsFloat(f)) => PyValue::Float(f.0),
        Argument::AsSymFloats(v) => PyValue::List(
            v.iter()
                .map(|f| match f {
                    SymFloatArgument::AsName(n) => named(n),
                    SymFloatArgument::AsFloat(f) => Ok(PyValue::Float(f.0)),
                })
                .collect::<Result<_, _>>()?,
        ),
        Argument::AsIntLists(v) => PyValue::List(
            v.iter()
                .map(|l| PyValue::List(l.iter().map(|i| PyValue::Int(*i)).collect()))
                .collect(),
        ),
        Argument::AsFloatLists(v) => PyValue::List(
            v.iter()
                .map(|l| PyValue::List(l.iter().map(|f| PyValue::Float(f.0)).collect()))
                .collect(),
        ),
        Argument::Other(j) => {
            return Err(format!(
                "is a {} argument, which modelc does not read",
                arg_label(&Argument::Other(j.clone()))
            ))
        }
    })
}

/// The kind of an argument, for messages.
fn arg_label(a: &Argument) -> String {
    match a {
        Argument::Other(serde_json::Value::Object(m)) => m.keys().next().map_or_else(
            || "empty".to_string(),
            |k| k.trim_start_matches("as_").to_string(),
        ),
        Argument::Other(_) => "malformed".into(),
        other => format!("{other:?}")
            .split('(')
            .next()
            .unwrap_or("")
            .to_string(),
    }
}

/// The name of the node whose outputs include the tensor `name` (`name` itself if none).
fn producer<'a>(g: &'a crate::schema::Graph, name: &'a str) -> &'a str {
    let makes = |a: &Argument| match a {
        Argument::AsTensor(t) => t.name == name,
        Argument::AsTensors(ts) => ts.iter().any(|t| t.name == name),
        _ => false,
    };
    g.nodes
        .iter()
        .find(|n| n.outputs.iter().any(makes))
        .and_then(|n| n.name.as_deref())
        .unwrap_or(name)
}

fn count_outputs(outs: &[Argument]) -> usize {
    match outs {
        [Argument::AsTensors(ts)] => ts.len(),
        outs => outs.len(),
    }
}

/// Binds a node's result to the names its outputs declare.
fn bind(env: &mut HashMap<String, PyValue>, outs: &[Argument], v: PyValue) -> Result<(), String> {
    match outs {
        [] => Ok(()),
        [one] => bind_one(env, one, v),
        many => {
            let items = match v {
                PyValue::Tuple(items) | PyValue::List(items) => items,
                other => {
                    return Err(format!(
                        "returns a {}, the node declares {} outputs",
                        other.kind(),
                        many.len()
                    ))
                }
            };
            if items.len() < many.len() {
                return Err(format!(
                    "returns {} values, the node declares {}",
                    items.len(),
                    many.len()
                ));
            }
            for (o, v) in many.iter().zip(items) {
                bind_one(env, o, v)?;
            }
            Ok(())
        }
    }
}

fn bind_one(env: &mut HashMap<String, PyValue>, out: &Argument, v: PyValue) -> Result<(), String> {
    match out {
        Argument::AsTensor(t) => {
            // One declared tensor for a one-element tuple (ops returning `Tensor[]` of one).
            let v = match v {
                PyValue::Tuple(mut items) if items.len() == 1 => items.remove(0),
                v => v,
            };
            env.insert(t.name.clone(), v);
        }
        Argument::AsTensors(ts) => {
            let items = match v {
                PyValue::Tuple(items) | PyValue::List(items) => items,
                other => {
                    return Err(format!(
                        "returns a {}, the node declares a list of {}",
                        other.kind(),
                        ts.len()
                    ))
                }
            };
            if items.len() != ts.len() {
                return Err(format!(
                    "returns {} tensors, the node declares {}",
                    items.len(),
                    ts.len()
                ));
            }
            for (t, v) in ts.iter().zip(items) {
                env.insert(t.name.clone(), v);
            }
        }
        Argument::AsSymInt(SymIntArgument::AsName(n))
        | Argument::AsSymFloat(SymFloatArgument::AsName(n))
        | Argument::AsSymBool(SymBoolArgument::AsName(n)) => {
            env.insert(n.clone(), v);
        }
        Argument::AsOptionalTensor(OptionalTensorArgument::AsTensor(t)) => {
            env.insert(t.name.clone(), v);
        }
        _ => {}
    }
    Ok(())
}

/// A user output's name and graph value (`None` for a constant output torch folded).
fn output_value(
    cx: &Evaluator,
    env: &HashMap<String, PyValue>,
    a: &Argument,
) -> Result<Option<(String, ValueRef)>, String> {
    let (name, v) = match a {
        Argument::AsTensor(t) => (t.name.clone(), env.get(&t.name)),
        Argument::AsSymInt(SymIntArgument::AsName(n)) => (n.clone(), env.get(n)),
        Argument::AsNone(_) => return Ok(None),
        other => {
            return Err(format!(
                "output of kind {} is not a tensor; modelc writes tensor outputs",
                arg_label(other)
            ))
        }
    };
    match v {
        Some(PyValue::Tensor(t)) => Ok(Some((
            name,
            cx.current(&PyValue::Tensor(*t))
                .as_tensor()
                .map_or(t.v, |t| t.v),
        ))),
        Some(PyValue::SymInt(s)) => Ok(Some((name, *s))),
        Some(other) => Err(format!("output {name} is a {}, not a tensor", other.kind())),
        None => Err(format!("output {name} is not defined by any node")),
    }
}

/// A size as an IR dim: a number, a plain symbol (`s77`) by name, else unknown.
fn dim(s: &SymInt) -> Dim {
    match s {
        SymInt::AsInt(i) if *i >= 0 => Dim::Known(*i as u64),
        SymInt::AsInt(_) => Dim::Unknown,
        SymInt::AsExpr(e) => symbol(&e.expr_str).map_or(Dim::Unknown, Dim::Sym),
    }
}

/// The symbol an expression is, if it is one: `s77` or `Symbol('s77', positive=True, …)`.
pub fn symbol(expr: &str) -> Option<String> {
    let e = expr.trim();
    let name = match e.strip_prefix("Symbol(") {
        Some(rest) => {
            let rest = rest.trim_start();
            let q = rest.chars().next().filter(|c| *c == '\'' || *c == '"')?;
            let body = &rest[1..];
            &body[..body.find(q)?]
        }
        None => e,
    };
    let ok = !name.is_empty()
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    ok.then(|| name.to_string())
}

/// The refusal of a program with effect tokens, naming the nodes that carry them: each
/// `with_effects` call and the side-effecting operator it wraps (linalg's
/// `aten::_linalg_check_errors`, prints, asserts), so the refusal says which op it is.
fn effects_refusal(g: &crate::schema::Graph) -> String {
    let calls: Vec<String> = g
        .nodes
        .iter()
        .enumerate()
        .filter(|(_, n)| n.target == "torch.ops.higher_order.with_effects")
        .map(|(k, n)| {
            let label = n.name.clone().unwrap_or_else(|| format!("#{k}"));
            let op = n
                .inputs
                .iter()
                .find_map(|a| match &a.arg {
                    crate::schema::Argument::Other(v) => v.get("as_operator")?.as_str(),
                    _ => None,
                })
                .map(aten_name)
                .unwrap_or_else(|| "an operator".to_string());
            format!("node {label} calls {op}")
        })
        .collect();
    if calls.is_empty() {
        return "the program has effect tokens (side-effecting ops), which modelc does not read"
            .into();
    }
    format!(
        "{} with an effect token (a side effect), which modelc does not read",
        calls.join(", ")
    )
}

/// `torch.ops.aten.x.overload` as `aten::x.overload`.
fn aten_name(target: &str) -> String {
    let t = target.strip_prefix("torch.ops.").unwrap_or(target);
    match t.split_once('.') {
        Some((ns, rest)) => format!("{ns}::{rest}"),
        None => t.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_effect_token_refusal_names_the_node_and_its_operator() {
        // The node torch.export writes for linalg.inv's error check.
        let g: crate::schema::Graph = serde_json::from_value(serde_json::json!({
            "inputs": [], "outputs": [], "tensor_values": {},
            "nodes": [{
                "target": "torch.ops.higher_order.with_effects",
                "name": "with_effects",
                "inputs": [
                    {"name": "", "arg": {"as_tensor": {"name": "token"}}, "kind": 1},
                    {"name": "", "arg": {"as_operator": "torch.ops.aten._linalg_check_errors.default"}, "kind": 1}
                ],
                "outputs": [{"as_tensor": {"name": "getitem_2"}}]
            }]
        }))
        .unwrap();
        let msg = effects_refusal(&g);
        assert_eq!(
            msg,
            "node with_effects calls aten::_linalg_check_errors.default with an effect token \
             (a side effect), which modelc does not read"
        );
        assert!(!msg.contains('\n'));
    }
}
