//! TorchScript export: the IR graph becomes one module class `__torch__.Model` whose
//! `forward` is straight-line TorchScript calling aten ops (`torch.*`), with every constant
//! the code reads as a tensor stored as a module buffer in `data.pkl`; constants that are
//! really arguments (shapes, axes, pads) are written inline as literals.
//!
//! One file per op family translates IR (ONNX-vocabulary) nodes; every node that cannot be
//! translated is reported at once, by name, in one error.

mod archive;
mod control;
mod conv;
mod elementwise;
mod emit;
mod linear;
mod norm;
mod quant;
mod resize;
mod rnn;
mod scatter;
mod shape;
mod symbolic;
mod tensor_ops;

use std::path::Path;

use modelc_ir::{node_label, Graph, Layout, Model, OnnxOp, Op, Tensor, ValueRef};

use crate::pickle::write::to_pickle;
use crate::pickle::{PickleValue, Storage, TensorValue};
use crate::{TorchScriptError, WriteOptions};
pub(crate) use emit::tensor_floats;
use emit::{Emitter, Info};

/// The generated module: its class source and its buffers.
pub(crate) struct Generated {
    /// Contents of `code/__torch__.py`.
    pub source: String,
    pub buffers: Vec<(String, Tensor)>,
    /// The code's variable names with the source value each computes (where they differ).
    pub provenance: std::collections::BTreeMap<String, String>,
}

/// The module's class name (`__torch__.Model`).
const CLASS: &str = "Model";

/// Writes `model` as a TorchScript archive at `path`.
pub(crate) fn write(
    model: &Model,
    path: &Path,
    _opts: &WriteOptions,
) -> Result<(), TorchScriptError> {
    let opset = model.opset("").unwrap_or(21);
    let prepared = prepare(model)?;
    let generated = generate(&prepared.graph, opset)?;
    let data = to_pickle(&module_state(&generated.buffers))?;
    let constants = to_pickle(&PickleValue::Tuple(Vec::new()))?;
    archive::write(
        path,
        &archive::Contents {
            code: vec![("__torch__.py".into(), generated.source)],
            data: &data,
            constants: &constants,
            extra: std::iter::once((crate::INPUT_TYPES.to_string(), input_types(&prepared.graph)))
                .chain(
                    modelc_ir::provenance::encode_map(&generated.provenance)
                        .map(|json| (crate::PROVENANCE.to_string(), json)),
                )
                .collect(),
        },
    )
}

/// The model as the straight-line aten calls of the TorchScript writer's `forward`: what
/// each IR op becomes is decided once, here, for both torch writers (`.pt` and `.pt2`).
pub struct AtenProgram {
    /// The graph translated (shapes inferred, constants folded, NCHW): its inputs are
    /// `forward`'s parameters after `self`, in order.
    pub model: Model,
    /// `forward`, parsed back by the TorchScript frontend's parser: `name = torch.<op>(…)`
    /// lines whose arguments name earlier lines, parameters, `self.<buffer>`s and literals.
    pub forward: crate::code::ast::FuncDef,
    /// The module buffers `forward` reads as `self.<name>`.
    pub buffers: Vec<(String, Tensor)>,
    /// The node (its label, for messages) whose output a `forward` name was made from.
    pub origins: std::collections::HashMap<String, String>,
}

/// Translates `model` into [`AtenProgram`]; every node without a translation is reported at
/// once, by name.
pub fn aten_program(model: &Model) -> Result<AtenProgram, TorchScriptError> {
    let opset = model.opset("").unwrap_or(21);
    let prepared = prepare(model)?;
    let generated = generate(&prepared.graph, opset)?;
    let items = crate::code::parse_source(&generated.source).map_err(|e| {
        TorchScriptError::Unsupported(format!("generated code, line {}: {}", e.line, e.msg))
    })?;
    let forward = items
        .into_iter()
        .find_map(|i| match i {
            crate::code::ast::Item::Class(c) => c.methods.into_iter().find(|m| m.name == "forward"),
            _ => None,
        })
        .ok_or_else(|| TorchScriptError::Unsupported("generated code has no forward".into()))?;
    let g = &prepared.graph;
    let origins = g
        .node_ids()
        .flat_map(|id| {
            let n = g.node(id);
            n.outputs
                .iter()
                .map(move |o| (emit::sanitize(&o.name), node_label(n)))
        })
        .collect();
    Ok(AtenProgram {
        origins,
        model: prepared,
        forward,
        buffers: generated.buffers,
    })
}

/// A copy of the model (tensor bytes shared) made ready for translation: shapes inferred,
/// constant sub-computations folded (exporters compute shape constants with small ONNX
/// graphs that torch wants as literals), dead nodes dropped, and an NHWC graph moved to
/// NCHW when the layout pass is available.
fn prepare(model: &Model) -> Result<Model, TorchScriptError> {
    let mut m = model.clone();
    let nhwc = m
        .graph
        .node_ids()
        .any(|id| m.graph.node(id).layout == Some(Layout::Nhwc));
    let mut names = vec!["infer-shapes", "fold", "dce"];
    if nhwc {
        names.insert(0, "to-nchw");
    }
    // A pass this build lacks is skipped: translation then reports what it cannot take.
    let passes = names
        .iter()
        .filter_map(|n| modelc_passes::registry::get(n).ok())
        .collect();
    let opsets = m.opset_imports.clone();
    modelc_passes::PassManager::new(passes)
        .run(&mut m)
        .map_err(|e| TorchScriptError::Unsupported(format!("preparing the graph: {e}")))?;
    fold_bodies(&mut m.graph, &opsets)?;
    Ok(m)
}

/// `fold` and `dce` inside If / Loop bodies too: exporters compute a branch's pads and
/// shapes there from constants of the branch (silero-vad's STFT padding: ConstantOfShape,
/// Concat, Reshape, Slice, Transpose), which torch wants as literals. A body reads its
/// enclosing graph, so it is validated with it, not on its own.
fn fold_bodies(g: &mut Graph, opsets: &[modelc_ir::OpsetImport]) -> Result<(), TorchScriptError> {
    let owners: Vec<modelc_ir::NodeId> = g
        .node_ids()
        .filter(|&id| g.node(id).subgraphs().next().is_some())
        .collect();
    for id in owners {
        for body in g.node_mut(id).subgraphs_mut() {
            let passes = ["fold", "dce"]
                .iter()
                .filter_map(|n| modelc_passes::registry::get(n).ok())
                .collect();
            let mut pm = modelc_passes::PassManager::new(passes);
            pm.validate = false;
            let mut inner = Model::new(std::mem::take(body), 0);
            inner.opset_imports = opsets.to_vec();
            let run = pm.run(&mut inner);
            *body = inner.graph;
            run.map_err(|e| TorchScriptError::Unsupported(format!("preparing a sub-graph: {e}")))?;
            fold_bodies(body, opsets)?;
        }
    }
    Ok(())
}

/// The graph inputs' element types and shapes, one line per `forward` argument in order:
/// `f32 N,3,?,224` (`?` an unknown size; `-` for an unknown shape or type). TorchScript code
/// declares only `Tensor`, so without this a reader would have to guess them.
fn input_types(g: &Graph) -> String {
    let mut out = String::new();
    for &id in g.inputs() {
        let tt = g
            .value(ValueRef::new(id, 0))
            .and_then(|v| v.ty.as_ref())
            .and_then(|t| t.ty.as_tensor());
        let dtype = tt
            .and_then(|t| t.dtype)
            .map_or("-".to_string(), |d| d.to_string());
        let dims = match tt.and_then(|t| t.shape.as_ref()) {
            None => "-".to_string(),
            Some(s) => {
                s.0.iter()
                    .map(|d| match d {
                        modelc_ir::Dim::Known(n) => n.to_string(),
                        modelc_ir::Dim::Sym(name)
                            if !name.is_empty()
                                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                                && !name.starts_with(|c: char| c.is_ascii_digit()) =>
                        {
                            name.clone()
                        }
                        _ => "?".to_string(),
                    })
                    .collect::<Vec<_>>()
                    .join(",")
            }
        };
        out.push_str(&format!("{dtype} {dims}\n"));
    }
    out
}

/// `data.pkl`'s root: the module object with its buffers and `training = False`.
fn module_state(buffers: &[(String, Tensor)]) -> PickleValue {
    let mut state: Vec<(PickleValue, PickleValue)> = buffers
        .iter()
        .enumerate()
        .map(|(i, (name, t))| {
            let numel = t.element_count().unwrap_or(0);
            let tensor = TensorValue {
                storage: Storage {
                    key: i.to_string(),
                    dtype: t.dtype,
                    location: "cpu".into(),
                    numel,
                    // Shared, not copied: the archive writer streams these bytes.
                    data: t.raw().cloned().unwrap_or_default(),
                },
                offset: 0,
                size: t.dims.clone(),
                stride: contiguous_strides(&t.dims),
                requires_grad: false,
            };
            (PickleValue::Str(name.clone()), PickleValue::Tensor(tensor))
        })
        .collect();
    state.push((
        PickleValue::Str("training".into()),
        PickleValue::Bool(false),
    ));
    PickleValue::Object {
        module: "__torch__".into(),
        name: CLASS.into(),
        state: Box::new(PickleValue::Dict(state)),
    }
}

fn contiguous_strides(dims: &[u64]) -> Vec<u64> {
    let mut strides = vec![1u64; dims.len()];
    for i in (0..dims.len().saturating_sub(1)).rev() {
        strides[i] = strides[i + 1].saturating_mul(dims[i + 1].max(1));
    }
    strides
}

/// Translates the graph into the module's source and buffers.
pub(crate) fn generate(g: &Graph, opset: i64) -> Result<Generated, TorchScriptError> {
    let order = g
        .topo_order()
        .map_err(|e| TorchScriptError::Unsupported(e.to_string()))?;
    let mut e = Emitter::new(g, opset);
    let mut args = Vec::new();
    for &id in g.inputs() {
        let v = ValueRef::new(id, 0);
        let name = e.fresh(g.value(v).map_or("input", |x| x.name.as_str()));
        e.bind(v, name.clone());
        args.push(name);
    }
    let mut errors = Vec::new();
    emit_nodes(&mut e, &order, &mut errors);
    let mut outs = Vec::new();
    for (i, &v) in g.outputs().iter().enumerate() {
        match e.value(v) {
            Ok(x) => outs.push(x),
            Err(msg) => errors.push(format!("graph output {i}: {msg}")),
        }
    }
    if !errors.is_empty() {
        return Err(TorchScriptError::Unsupported(format!(
            "{} node(s) cannot be exported: {}",
            errors.len(),
            errors.join("; ")
        )));
    }
    let (ret_ty, ret) = match outs.len() {
        0 => {
            return Err(TorchScriptError::Unsupported(
                "the graph has no outputs (forward must return something)".into(),
            ))
        }
        1 => ("Tensor".to_string(), outs[0].clone()),
        n => (
            format!("Tuple[{}]", vec!["Tensor"; n].join(", ")),
            format!("({})", outs.join(", ")),
        ),
    };
    let provenance = e.provenance();
    let (lines, buffers) = drop_dead_lines(&e.lines, &ret, e.buffers);
    let mut src = String::new();
    src.push_str(&format!("class {CLASS}(Module):\n"));
    src.push_str("  __parameters__ = []\n");
    let names: Vec<String> = buffers.iter().map(|b| format!("\"{}\", ", b.0)).collect();
    src.push_str(&format!("  __buffers__ = [{}]\n", names.concat()));
    for (name, _) in &buffers {
        src.push_str(&format!("  {name} : Tensor\n"));
    }
    src.push_str("  training : bool\n");
    src.push_str(&format!("  def forward(self: __torch__.{CLASS}"));
    for a in &args {
        src.push_str(&format!(",\n    {a}: Tensor"));
    }
    src.push_str(&format!(") -> {ret_ty}:\n"));
    for l in &lines {
        src.push_str("    ");
        src.push_str(l);
        src.push('\n');
    }
    src.push_str(&format!("    return {ret}\n"));
    Ok(Generated {
        source: src,
        buffers,
        provenance,
    })
}

/// Drops the assignments nothing reads (tensor code for shape computations that were
/// written as int expressions instead, in the main body and in branches) and the buffers
/// only they used. Each line is `names = expr` or a statement kept whole (control-flow
/// headers, `items.append(x)`); liveness flows back from the return expression, repeated
/// until it settles (a loop's header reads what the end of its body assigns). A block left
/// empty gets a `pass`.
fn drop_dead_lines(
    lines: &[String],
    ret: &str,
    buffers: Vec<(String, Tensor)>,
) -> (Vec<String>, Vec<(String, Tensor)>) {
    fn idents(text: &str) -> impl Iterator<Item = &str> {
        text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.'))
            .filter(|t| !t.is_empty())
    }
    let mut live: std::collections::HashSet<&str> = idents(ret).collect();
    let mut keep = vec![false; lines.len()];
    loop {
        let before = (live.len(), keep.iter().filter(|&&k| k).count());
        for (i, line) in lines.iter().enumerate().rev() {
            let Some((lhs, rhs)) = line.trim_start().split_once(" = ") else {
                keep[i] = true;
                live.extend(idents(line));
                continue;
            };
            if lhs.split(", ").any(|n| live.contains(n.trim())) {
                keep[i] = true;
                live.extend(idents(rhs));
            }
        }
        if before == (live.len(), keep.iter().filter(|&&k| k).count()) {
            break;
        }
    }
    let indent = |l: &str| l.len() - l.trim_start().len();
    let kept: Vec<&String> = lines
        .iter()
        .zip(&keep)
        .filter(|(_, &k)| k)
        .map(|(l, _)| l)
        .collect();
    let mut out = Vec::with_capacity(kept.len());
    for (i, line) in kept.iter().enumerate() {
        out.push((*line).clone());
        let opens = line.ends_with(':');
        let body_follows = kept
            .get(i + 1)
            .is_some_and(|next| indent(next) > indent(line));
        if opens && !body_follows {
            out.push(format!("{}  pass", " ".repeat(indent(line))));
        }
    }
    let buffers = buffers
        .into_iter()
        .filter(|(name, _)| live.contains(format!("self.{name}").as_str()))
        .collect();
    (out, buffers)
}

/// Translates the nodes of a graph (the main one or a branch) in `order`, collecting one
/// message per node that cannot be translated.
pub(crate) fn emit_nodes(
    e: &mut Emitter<'_>,
    order: &[modelc_ir::NodeId],
    errors: &mut Vec<String>,
) {
    let g = e.g;
    for &id in order {
        let node = g.node(id);
        let result = match &node.op {
            Op::Input { .. } if g.inputs().contains(&id) => continue,
            // Constants become buffers or literals where they are used; outer values are
            // bound by the branch's owner.
            Op::Const(_) | Op::Onnx(OnnxOp::Constant) | Op::Outer => continue,
            Op::Onnx(_) if node.layout == Some(Layout::Nhwc) => Err(
                "NHWC layout; TorchScript ops are channels-first (convert the graph to NCHW first)"
                    .to_string(),
            ),
            Op::Onnx(OnnxOp::If) => control::emit_if(e, id, errors),
            Op::Onnx(OnnxOp::Loop) => control::emit_loop(e, id, errors),
            Op::Onnx(_) if node.subgraphs().next().is_some() => {
                Err("sub-graphs other than If and Loop bodies are not exported".to_string())
            }
            Op::Onnx(op) => emit_op(e, id, *op).map(|()| symbolic::propagate(e, id, *op)),
            Op::Custom(_) => Err("custom op, no TorchScript translation".to_string()),
            _ => Err("no TorchScript form".to_string()),
        };
        if let Err(msg) = result {
            errors.push(format!("{}: {msg}", node_label(node)));
            // Later nodes still get translated (and report their own problems) against a
            // placeholder for this node's outputs.
            for slot in 0..node.outputs.len() {
                let name = e.fresh("unexported");
                e.bind(ValueRef::new(id, slot), name);
            }
        }
    }
}

/// An op family's translator: `None` when the op is not of that family.
type Family = fn(&mut Emitter<'_>, modelc_ir::NodeId, OnnxOp) -> Option<Result<(), String>>;

/// Translates one node, trying each op family.
fn emit_op(e: &mut Emitter<'_>, id: modelc_ir::NodeId, op: OnnxOp) -> Result<(), String> {
    let families: [Family; 9] = [
        elementwise::emit,
        conv::emit,
        linear::emit,
        norm::emit,
        shape::emit,
        rnn::emit,
        tensor_ops::emit,
        scatter::emit,
        quant::emit,
    ];
    for f in families {
        if let Some(r) = f(e, id, op) {
            return r;
        }
    }
    Err("no TorchScript translation".to_string())
}

/// Info for an output with the given rank and the element type of input 0.
pub(crate) fn like_input(e: &Emitter<'_>, id: modelc_ir::NodeId, rank: Option<usize>) -> Info {
    Info {
        rank,
        dtype: e.input_info(id, 0).dtype,
    }
}
