//! TorchScript archive → IR [`Model`].
//!
//! 1. `data.pkl` gives the module tree (objects of `__torch__` classes whose attributes are
//!    parameters, buffers, submodules and constants); `constants.pkl` the tensors the code
//!    names `CONSTANTS.cN`.
//! 2. Every `code/**/*.py` is parsed ([`crate::code`]); classes and functions are indexed by
//!    qualified name (`__torch__.torch.nn.modules.conv.Conv2d`).
//! 3. The root module's `forward` is evaluated symbolically ([`eval`]) with its tensor
//!    parameters as graph inputs, inlining every call, into one graph.
//!
//! Input shapes and element types come from the options ([`crate::ReadOptions`],
//! `--input-shape` / `--input-type`), else from modelc's own record
//! (`extra/`[`crate::INPUT_TYPES`]) in archives modelc wrote, else from `traced_inputs.pkl`
//! when torch stored it (traced modules). For scripted modules without shapes, whose code branches on
//! `input.dim()`, the importer tries ranks 4, 3, 2, 1, 5 when the code needs a rank and keeps
//! the first rank the code accepts (does not raise for). An input the code uses as indices
//! is int64 (see [`import_with`]). Every node is typed by shape inference as it is built
//! ([`builder::Builder::node`]), so ranks and known sizes follow every op; small constant
//! computations fold as they are built. The IR uses ONNX opset 18.

pub mod args;
pub mod builder;
pub mod eval;
pub mod ops;
pub mod value;

use std::collections::{BTreeMap, HashMap};

use modelc_ir::{
    DType, Dim, Model, OnnxOp, Shape, TensorType, TypeInfo, Value, ValueRef, ValueType,
};

use crate::archive::Archive;
use crate::code::{parse_source, Expr, Item};
use crate::pickle::read::{unpickle, unpickle_with};
use crate::pickle::PickleValue;
use crate::TorchScriptError;
use builder::Builder;
use eval::{Code, Evaluator, Stop};
use value::{PyValue, TensorRef};

/// The opset of the IR the importer produces.
pub const OPSET: i64 = 18;

fn pickle(
    archive: &mut Archive,
    name: &str,
    need_data: bool,
) -> Result<PickleValue, TorchScriptError> {
    let data = archive.read(name)?;
    let file = name.to_string();
    let mut storages = |key: &str| -> Result<bytes::Bytes, String> {
        // Each pickle's storages live in the directory named after it (data.pkl: data/,
        // constants.pkl: constants/, traced_inputs.pkl: traced_inputs/); archives from
        // older torch versions keep every storage under data/.
        let dir = name.strip_suffix(".pkl").unwrap_or("data");
        let own = format!("{dir}/{key}");
        if dir != "data" && !archive.contains(&own) {
            return archive
                .read(&format!("data/{key}"))
                .map_err(|e| e.to_string());
        }
        archive.read(&own).map_err(|e| e.to_string())
    };
    let r = if need_data {
        unpickle(&data, &mut storages)
    } else {
        unpickle_with(&data, &mut storages, false)
    };
    r.map_err(|e| TorchScriptError::Pickle {
        file,
        msg: e.to_string(),
    })
}

/// Parses every source file under `code/`.
fn load_code(archive: &mut Archive) -> Result<Code, TorchScriptError> {
    let mut code = Code {
        classes: HashMap::new(),
        funcs: HashMap::new(),
    };
    for name in archive.names_under("code/") {
        let Some(module) = name
            .strip_prefix("code/")
            .and_then(|n| n.strip_suffix(".py"))
        else {
            continue;
        };
        let module = module.replace('/', ".");
        let src = archive.read_text(&name)?;
        let items = parse_source(&src).map_err(|e| TorchScriptError::Code {
            file: name.clone(),
            line: e.line,
            msg: e.msg,
        })?;
        for item in items {
            match item {
                Item::Class(c) => {
                    code.classes
                        .insert(format!("{module}.{}", c.name), (c, name.clone()));
                }
                Item::Func(f) => {
                    code.funcs
                        .insert(format!("{module}.{}", f.name), (f, name.clone()));
                }
                Item::Stmt(_) => {}
            }
        }
    }
    Ok(code)
}

/// Shapes and element types of the example inputs torch stored for a traced module.
fn traced_inputs(archive: &mut Archive) -> Option<Vec<(Vec<u64>, DType)>> {
    if !archive.contains("traced_inputs.pkl") {
        return None;
    }
    let v = pickle(archive, "traced_inputs.pkl", false).ok()?;
    let list = v.get("forward")?.as_seq()?;
    list.iter()
        .map(|t| match t {
            PickleValue::Tensor(t) => Some((t.size.clone(), t.storage.dtype)),
            _ => None,
        })
        .collect()
}

/// Most arguments and dimensions a type record may list (it describes `forward`'s
/// arguments; anything larger is not one modelc wrote).
const MAX_RECORDED: usize = 4096;

/// The provenance modelc recorded when it wrote the archive (see [`crate::PROVENANCE`]):
/// `None` without one, or when it is not a JSON object of strings (it is advice; the model
/// reads the same without it).
fn recorded_provenance(archive: &mut Archive) -> Option<BTreeMap<String, String>> {
    let name = format!("extra/{}", crate::PROVENANCE);
    if !archive.contains(&name) {
        return None;
    }
    modelc_ir::provenance::decode_map(&archive.read_text(&name).ok()?).ok()
}

/// The argument types modelc recorded when it wrote the archive (see
/// `export::input_types`): `None` when there is no record, an error when it is malformed.
fn recorded_types(
    archive: &mut Archive,
) -> Result<Option<Vec<Option<TensorType>>>, TorchScriptError> {
    let name = format!("extra/{}", crate::INPUT_TYPES);
    if !archive.contains(&name) {
        return Ok(None);
    }
    let text = archive.read_text(&name)?;
    let bad =
        |line: usize, why: &str| TorchScriptError::Import(format!("{name}:{}: {why}", line + 1));
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if i >= MAX_RECORDED {
            return Err(bad(i, "too many arguments"));
        }
        let (dtype, dims) = line
            .split_once(' ')
            .ok_or_else(|| bad(i, "expected `TYPE DIMS`"))?;
        let dtype = match dtype {
            "-" => None,
            d => Some(d.parse::<DType>().map_err(|e| bad(i, &e))?),
        };
        let shape = match dims {
            "-" => None,
            "" => Some(Shape(Vec::new())),
            d => {
                let parts: Vec<&str> = d.split(',').collect();
                if parts.len() > MAX_RECORDED {
                    return Err(bad(i, "too many dimensions"));
                }
                let dims = parts
                    .into_iter()
                    .map(|p| match p {
                        "?" => Ok(Dim::Unknown),
                        p if p.starts_with(|c: char| c.is_ascii_digit()) => p
                            .parse::<u64>()
                            .map(Dim::Known)
                            .map_err(|_| bad(i, &format!("bad size `{p}`"))),
                        p => Ok(Dim::Sym(p.to_string())),
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                Some(Shape(dims))
            }
        };
        out.push((dtype.is_some() || shape.is_some()).then_some(TensorType { dtype, shape }));
    }
    Ok(Some(out))
}

/// The names of the root module's `forward` tensor arguments (see [`crate::forward_inputs`]).
pub fn forward_inputs(archive: &mut Archive) -> Result<Vec<String>, TorchScriptError> {
    let root = pickle(archive, "data.pkl", false)?;
    let code = load_code(archive)?;
    let PickleValue::Object { module, name, .. } = &root else {
        return Err(TorchScriptError::Import(
            "data.pkl does not hold a module".into(),
        ));
    };
    let qual = format!("{module}.{name}");
    let forward = code
        .classes
        .get(&qual)
        .and_then(|(c, _)| c.methods.iter().find(|m| m.name == "forward"))
        .ok_or_else(|| TorchScriptError::Import(format!("{qual} has no forward method")))?;
    Ok(forward
        .params
        .iter()
        .skip(1)
        .filter(|p| matches!(&p.ty, Some(Expr::Name(n)) if n == "Tensor"))
        .map(|p| p.name.clone())
        .collect())
}

/// Reads the archive into a model.
pub fn import(archive: &mut Archive) -> Result<Model, TorchScriptError> {
    import_with(archive, &crate::ReadOptions::default())
}

/// Reads the archive into a model with the given options.
///
/// Input shapes: the ones `opts` names, else the traced inputs' (else ranks are tried).
/// Input element types: the ones `opts` names, else the ones of the inputs a traced module
/// was traced with, else float32 — except that an input the code uses as indices
/// (embedding, index_select, gather, tensor indexing) is int64: the import runs again with
/// it typed so when the first run finds such a use.
pub fn import_with(
    archive: &mut Archive,
    opts: &crate::ReadOptions,
) -> Result<Model, TorchScriptError> {
    let traced = traced_inputs(archive);
    let shapes: Option<Vec<Vec<u64>>> = traced
        .as_ref()
        .map(|t| t.iter().map(|(s, _)| s.clone()).collect());
    let mut types: HashMap<String, DType> = opts.input_types.iter().cloned().collect();
    let given: HashMap<String, Vec<u64>> = opts.input_shapes.iter().cloned().collect();
    let ints: HashMap<String, i64> = opts.int_args.iter().cloned().collect();
    // Inputs whose shapes the options give: no rank needs guessing for them.
    let shapes = shapes.or_else(|| (!given.is_empty()).then(Vec::new));
    let mut found = Vec::new();
    let r = import_typed(
        archive,
        shapes.as_deref(),
        traced.as_deref(),
        &types,
        &given,
        &ints,
        &mut found,
    );
    let new: Vec<String> = found
        .into_iter()
        .filter(|n| !types.contains_key(n))
        .collect();
    if new.is_empty() {
        return r;
    }
    for n in new {
        types.insert(n, DType::I64);
    }
    import_typed(
        archive,
        shapes.as_deref(),
        traced.as_deref(),
        &types,
        &given,
        &ints,
        &mut Vec::new(),
    )
}

/// One import with the input types fixed: `types` by name, then the traced inputs' types.
/// Inputs the code uses as indices while float are added to `index_inputs`.
fn import_typed(
    archive: &mut Archive,
    shapes: Option<&[Vec<u64>]>,
    traced: Option<&[(Vec<u64>, DType)]>,
    types: &HashMap<String, DType>,
    given_shapes: &HashMap<String, Vec<u64>>,
    int_args: &HashMap<String, i64>,
    index_inputs: &mut Vec<String>,
) -> Result<Model, TorchScriptError> {
    let root = pickle(archive, "data.pkl", true)?;
    let constants = if archive.contains("constants.pkl") {
        match pickle(archive, "constants.pkl", true)? {
            PickleValue::Tuple(v) | PickleValue::List(v) => v,
            _ => Vec::new(),
        }
    } else {
        Vec::new()
    };
    let code = load_code(archive)?;
    let (module, class) = match &root {
        PickleValue::Object { module, name, .. } => (module.clone(), name.clone()),
        _ => {
            return Err(TorchScriptError::Import(
                "data.pkl does not hold a module".into(),
            ))
        }
    };
    let qual = format!("{module}.{class}");
    let (cdef, _) = code
        .classes
        .get(&qual)
        .ok_or_else(|| TorchScriptError::Import(format!("no code for the root class {qual}")))?;
    if !cdef.methods.iter().any(|m| m.name == "forward") {
        return Err(TorchScriptError::Import(format!(
            "{qual} has no forward method"
        )));
    }
    let n_inputs = cdef
        .methods
        .iter()
        .find(|m| m.name == "forward")
        .map_or(0, |f| f.params.len().saturating_sub(1));
    let recorded = recorded_types(archive)?;
    let provenance = recorded_provenance(archive);
    let dtypes = InputTypes {
        recorded: recorded.as_deref(),
        provenance: provenance.as_ref(),
        shapes,
        by_name: types,
        traced,
        shapes_by_name: given_shapes,
        int_args,
    };
    let first = run(&code, &root, &constants, &qual, None, &dtypes, index_inputs);
    let result = match (&first, &shapes) {
        (Err(Attempt::NeedsRank(_)), None) => {
            // Scripted code that branches on the input rank: try the usual ranks.
            // Report the attempt that got furthest: one that failed for another reason than
            // the code raising for the rank tried.
            let mut last = first;
            let mut best: Option<Result<Model, Attempt>> = None;
            for rank in [4usize, 3, 2, 1, 5] {
                let ranks = vec![rank; n_inputs];
                let without_shapes = InputTypes {
                    shapes: None,
                    recorded: None,
                    ..dtypes
                };
                let r = run(
                    &code,
                    &root,
                    &constants,
                    &qual,
                    Some(&ranks),
                    &without_shapes,
                    index_inputs,
                );
                let ok = r.is_ok();
                let raised = matches!(&r, Err(Attempt::NeedsRank(e) | Attempt::Failed(e)) if e.to_string().contains("the model raises"));
                if ok {
                    last = r;
                    best = None;
                    break;
                }
                if !raised && best.is_none() {
                    best = Some(r);
                } else {
                    last = r;
                }
            }
            best.unwrap_or(last)
        }
        _ => first,
    };
    match result {
        Ok(m) => Ok(m),
        Err(Attempt::NeedsRank(e)) | Err(Attempt::Failed(e)) => Err(e),
    }
}

/// Where input element types come from.
#[derive(Clone, Copy)]
struct InputTypes<'t> {
    /// modelc's own record of the argument types, in archives it wrote.
    recorded: Option<&'t [Option<TensorType>]>,
    /// modelc's record of the source value each variable computes, in archives it wrote.
    provenance: Option<&'t BTreeMap<String, String>>,
    /// Shapes by input position (traced inputs).
    shapes: Option<&'t [Vec<u64>]>,
    by_name: &'t HashMap<String, DType>,
    traced: Option<&'t [(Vec<u64>, DType)]>,
    /// Shapes the options give (they win over the traced ones).
    shapes_by_name: &'t HashMap<String, Vec<u64>>,
    /// Values of `int` arguments the options give.
    int_args: &'t HashMap<String, i64>,
}

impl InputTypes<'_> {
    fn of(&self, k: usize, name: &str) -> DType {
        self.by_name
            .get(name)
            .copied()
            .or_else(|| self.traced.and_then(|t| t.get(k)).map(|(_, d)| *d))
            .unwrap_or(DType::F32)
    }
}

enum Attempt {
    /// Failed because an input's rank was needed (or the code raised for the rank tried).
    NeedsRank(TorchScriptError),
    Failed(TorchScriptError),
}

fn run(
    code: &Code,
    root: &PickleValue,
    constants: &[PickleValue],
    qual: &str,
    ranks: Option<&[usize]>,
    dtypes: &InputTypes<'_>,
    index_inputs: &mut Vec<String>,
) -> Result<Model, Attempt> {
    let shapes = dtypes.shapes;
    let (cdef, file) = &code.classes[qual];
    let forward = cdef
        .methods
        .iter()
        .find(|m| m.name == "forward")
        .expect("checked by the caller");
    let mut cx = Evaluator::new(Builder::new("main"), code, constants.to_vec());
    cx.file = file.clone();
    if let Some(p) = dtypes.provenance {
        cx.provenance = p.clone();
    }
    let this = cx
        .from_pickle("", root)
        .map_err(|e| Attempt::Failed(stop_error(e)))?;
    let mut args = Vec::new();
    for (k, p) in forward.params.iter().skip(1).enumerate() {
        let is_tensor = matches!(&p.ty, Some(Expr::Name(n)) if n == "Tensor");
        let is_int = matches!(&p.ty, Some(Expr::Name(n)) if n == "int");
        if let (true, Some(&v)) = (is_int, dtypes.int_args.get(&p.name)) {
            args.push(PyValue::Int(v));
            continue;
        }
        if is_int && p.default.is_none() {
            return Err(Attempt::Failed(TorchScriptError::Import(format!(
                "{file}:{}: forward argument `{}` is an int, which a graph input cannot be: \
                 give its value with --dim {}=VALUE",
                forward.line, p.name, p.name
            ))));
        }
        if !is_tensor {
            // Optional arguments (masks, states) keep their defaults.
            match &p.default {
                Some(_) => break,
                None => {
                    return Err(Attempt::Failed(TorchScriptError::Import(format!(
                        "{file}:{}: forward argument `{}` is not a Tensor",
                        forward.line, p.name
                    ))))
                }
            }
        }
        let shape = dtypes
            .shapes_by_name
            .get(&p.name)
            .or_else(|| shapes.and_then(|s| s.get(k)));
        let rank = shape
            .map(|s| s.len())
            .or_else(|| ranks.and_then(|r| r.get(k).copied()));
        let dtype = dtypes.of(k, &p.name);
        let ty = TypeInfo::from(ValueType::Tensor(TensorType {
            dtype: Some(dtype),
            shape: match (shape, rank) {
                (Some(s), _) => Some(Shape::known(s)),
                (None, Some(r)) => Some(Shape(
                    (0..r)
                        .map(|d| Dim::Sym(format!("{}_{d}", p.name)))
                        .collect(),
                )),
                _ => None,
            },
        }));
        // modelc's own record of the argument's type, when it wrote the archive (types and
        // shapes the options name still win).
        let recorded = dtypes
            .recorded
            .and_then(|r| r.get(k))
            .and_then(|t| t.as_ref());
        let (ty, rank, dtype) = match recorded {
            Some(tt) => {
                let dtype = match dtypes.by_name.get(&p.name) {
                    Some(d) => *d,
                    None => tt.dtype.unwrap_or(DType::F32),
                };
                let shape = match dtypes.shapes_by_name.get(&p.name) {
                    Some(s) => Some(Shape::known(s)),
                    None => tt.shape.clone(),
                };
                let rank = shape.as_ref().map(|s| s.rank()).or(rank);
                let tt = TensorType {
                    dtype: Some(dtype),
                    shape,
                };
                (TypeInfo::from(ValueType::Tensor(tt)), rank, dtype)
            }
            None => (ty, rank, dtype),
        };
        let id = cx.b.g.add_input(Value::typed(p.name.clone(), ty));
        args.push(PyValue::Tensor(TensorRef::new(
            ValueRef::new(id, 0),
            rank,
            dtype,
        )));
    }
    let out = cx.call_func(forward, file, Some(this), args, Vec::new());
    for n in std::mem::take(&mut cx.index_inputs) {
        if !index_inputs.contains(&n) {
            index_inputs.push(n);
        }
    }
    let out = match out {
        Ok(v) => v,
        Err(e) => {
            let rank_problem = cx.errors.iter().any(|m| m.contains("rank is unknown"));
            let needs = ranks.is_some() || rank_problem || matches!(&e, Stop::Raise(_));
            // Problems recorded before the one that stopped evaluation come first.
            let err = match (stop_error(e), cx.errors.is_empty()) {
                (TorchScriptError::Import(m), false) => {
                    TorchScriptError::Import(format!("{}; {m}", cx.errors.join("; ")))
                }
                (e, _) => e,
            };
            return Err(if needs {
                Attempt::NeedsRank(err)
            } else {
                Attempt::Failed(err)
            });
        }
    };
    if !cx.errors.is_empty() {
        let needs_rank = cx
            .errors
            .iter()
            .any(|e| e.contains("rank is unknown") || e.contains("needs the input's rank"));
        let err = TorchScriptError::Import(cx.errors.join("; "));
        return Err(if needs_rank && shapes.is_none() {
            Attempt::NeedsRank(err)
        } else {
            Attempt::Failed(err)
        });
    }
    let mut outs = Vec::new();
    flatten_outputs(&out, &mut outs).map_err(|m| Attempt::Failed(TorchScriptError::Import(m)))?;
    let n = outs.len();
    for (i, v) in outs.into_iter().enumerate() {
        let name = if n == 1 {
            "output".to_string()
        } else {
            format!("output_{i}")
        };
        // Outputs get their own names; an input or constant returned as is goes through
        // Identity so that names stay unique.
        let node = cx.b.g.node(v.node);
        let reuse = !node.op.is_structural()
            && node.outputs.len() > v.slot
            && !cx.b.g.outputs().contains(&v);
        let v = if reuse {
            v
        } else {
            cx.b.build().op(OnnxOp::Identity, &[v]).value()
        };
        if let Some(val) = cx.b.g.value_mut(v) {
            val.name = name;
        }
        cx.b.g.push_output(v);
    }
    // Checks of the printed code (sizes compared before a raise that is never taken) leave
    // nodes nothing uses.
    let mut g = cx.b.g;
    use modelc_passes::Pass;
    modelc_passes::passes::dce::Dce
        .run(&mut g, &mut modelc_passes::PassContext::default())
        .map_err(|e| Attempt::Failed(TorchScriptError::Import(e.to_string())))?;
    Ok(Model::new(g, OPSET))
}

fn flatten_outputs(v: &PyValue, out: &mut Vec<ValueRef>) -> Result<(), String> {
    match v {
        PyValue::Tensor(t) => out.push(t.v),
        PyValue::SymInt(s) => out.push(*s),
        PyValue::Tuple(items) | PyValue::List(items) => {
            for it in items {
                flatten_outputs(it, out)?;
            }
        }
        other => return Err(format!("forward returns a {}, not tensors", other.kind())),
    }
    Ok(())
}

fn stop_error(e: Stop) -> TorchScriptError {
    match e {
        Stop::Raise(m) | Stop::Fatal(m) => TorchScriptError::Import(m),
    }
}
