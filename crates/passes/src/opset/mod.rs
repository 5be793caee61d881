//! `convert-opset`: moves a model to another version of the default ONNX domain, both ways.
//!
//! Most operator versions only widened the element types an op accepts; a node of such an op
//! is valid at the new version as it is. The ops whose *form* changed (an attribute became
//! an input, an output went away, an attribute was added whose non-default values an older
//! version cannot express, an op was replaced by another) have an [`Adapter`] each, one file
//! per op family: `axes` (Squeeze / Unsqueeze / Reduce*), `split`, `resize` (Upsample and
//! Resize), `clip`, `pad`, `norm` (BatchNormalization, Dropout, GroupNormalization),
//! `select` (TopK, Slice, Shape), `softmax` (Softmax / LogSoftmax / Hardmax) and `attrs`
//! (the table of attributes added at a version, which a downgrade can drop only at their
//! default).
//!
//! Converting from opset `a` to `b`, every node runs the adapters of its op whose version
//! lies between them, in order (up: ascending, each one's `up`; down: descending, each one's
//! `down`); an adapter may replace the node by another op (Upsample → Resize), whose
//! adapters then continue the chain. Defaults that changed between `a` and `b` (Softmax's
//! `axis`) are written out first, at their value in `a`. Finally every op must exist at `b`
//! (the schemas' first version; Upsample and Scatter are gone from 10 and 11).
//!
//! What `b` cannot express is refused by node name with the reason, every such node at
//! once, and the graph is left as it was. Sub-graphs (If / Loop / Scan bodies) are converted
//! with their node; model-local functions keep the opsets they import.

mod attrs;
mod axes;
mod clip;
mod norm;
mod pad;
mod resize;
mod select;
mod softmax;
mod split;

use std::collections::HashMap;

use modelc_interp::Array;
use modelc_ir::build::remove_with_dead_consts;
use modelc_ir::{
    infer, Attr, Builder, DType, Graph, Model, NodeId, OnnxOp, Op, OpsetImport, Tensor, TensorType,
    TypeInfo, ValueRef,
};

/// What values an adapter adds are named after: the node's name, else its first output's.
pub(crate) use crate::passes::decompose::base_name;
use crate::pattern::default_opset;
use crate::{Changed, Pass, PassContext, PassError};

/// The oldest default-domain opset the adapters start from or go to (ONNX 1.2; before it
/// elementwise ops broadcast through a `broadcast` attribute and carried `consumed_inputs`).
pub const OLDEST: i64 = 7;
/// The newest default-domain opset the schemas know.
pub const NEWEST: i64 = 28;

/// One node the target opset cannot express, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub node: String,
    pub op: String,
    pub reason: String,
}

/// Why a model could not be converted to another opset.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpsetError {
    #[error("opset {0} is outside the range modelc converts between ({OLDEST} to {NEWEST})")]
    OutOfRange(i64),
    #[error("cannot convert from opset {from} to {to}: {}", list(.refusals))]
    Refused {
        from: i64,
        to: i64,
        refusals: Vec<Refusal>,
    },
}

fn list(refusals: &[Refusal]) -> String {
    refusals
        .iter()
        .map(|r| format!("node `{}` ({}): {}", r.node, r.op, r.reason))
        .collect::<Vec<_>>()
        .join("; ")
}

/// A change of form of `op` at opset `version`: `up` rewrites a node of the form before it
/// into the form from it, `down` the other way (or says why it cannot). Both return the node
/// that now computes the op's results (the same one unless the adapter replaced it).
pub(crate) struct Adapter {
    pub op: OnnxOp,
    pub version: i64,
    pub up: AdaptFn,
    pub down: AdaptFn,
}

pub(crate) type AdaptFn = fn(&mut Builder<'_>, NodeId, &Cx) -> Result<NodeId, String>;

/// What an adapter knows besides the node: the value types inferred on the graph as it was
/// read, by value name (an adapter that replaces a node keeps its outputs' names; values it
/// adds have none), and the two opsets.
pub(crate) struct Cx {
    pub types: HashMap<String, TypeInfo>,
    pub from: i64,
    pub to: i64,
}

impl Cx {
    fn tensor<'a>(&'a self, g: &Graph, v: ValueRef) -> Option<&'a TensorType> {
        self.types.get(&g.value(v)?.name)?.ty.as_tensor()
    }

    pub fn dtype(&self, g: &Graph, v: ValueRef) -> Option<DType> {
        self.tensor(g, v)?.dtype
    }

    pub fn rank(&self, g: &Graph, v: ValueRef) -> Option<usize> {
        Some(self.tensor(g, v)?.shape.as_ref()?.rank())
    }

    pub fn dims(&self, g: &Graph, v: ValueRef) -> Option<Vec<Option<u64>>> {
        let shape = self.tensor(g, v)?.shape.as_ref()?;
        Some(shape.0.iter().map(|d| d.known()).collect())
    }
}

/// The inferred types of `g`'s values by name.
fn types_by_name(g: &Graph) -> HashMap<String, TypeInfo> {
    let mut out = HashMap::new();
    for id in g.node_ids() {
        for v in &g.node(id).outputs {
            if let (false, Some(ty)) = (v.name.is_empty(), &v.ty) {
                out.insert(v.name.clone(), (**ty).clone());
            }
        }
    }
    out
}

/// Every adapter, from every family file.
fn adapters() -> impl Iterator<Item = &'static Adapter> {
    [
        axes::ADAPTERS,
        axes::DFT,
        split::ADAPTERS,
        resize::ADAPTERS,
        clip::ADAPTERS,
        pad::ADAPTERS,
        norm::ADAPTERS,
        select::ADAPTERS,
        softmax::ADAPTERS,
        attrs::ADAPTERS,
    ]
    .into_iter()
    .flatten()
}

/// The pass: converts the graph to default-domain opset `target` and records the new
/// version in the run's opsets (which [`crate::PassManager::run`] writes back to the model).
pub struct ConvertOpset {
    pub target: i64,
}

impl Pass for ConvertOpset {
    fn name(&self) -> &'static str {
        "convert-opset"
    }

    fn description(&self) -> &'static str {
        "move the model to another ONNX opset (convert-opset=N), refusing what N cannot express"
    }

    fn run(&self, g: &mut Graph, cx: &mut PassContext) -> Result<Changed, PassError> {
        let from = default_opset(cx);
        if from == self.target {
            return Ok(Changed::No);
        }
        convert_graph(g, from, self.target).map_err(|e| PassError::Failed {
            pass: "convert-opset",
            message: e.to_string(),
        })?;
        set_default_opset(&mut cx.opsets, self.target);
        Ok(Changed::Yes)
    }
}

/// Converts `model` to default-domain opset `target` (a model importing none is taken to
/// import `target` already). Returns the opset it had.
pub fn convert_model(model: &mut Model, target: i64) -> Result<i64, OpsetError> {
    let Some(from) = model.opset("") else {
        set_default_opset(&mut model.opset_imports, target);
        return Ok(target);
    };
    if from != target {
        convert_graph(&mut model.graph, from, target)?;
        set_default_opset(&mut model.opset_imports, target);
    }
    Ok(from)
}

/// Converts `g` (and its sub-graphs) from default-domain opset `from` to `to`; on a refusal
/// `g` is unchanged.
pub fn convert_graph(g: &mut Graph, from: i64, to: i64) -> Result<(), OpsetError> {
    for v in [from, to] {
        if !(OLDEST..=NEWEST).contains(&v) {
            return Err(OpsetError::OutOfRange(v));
        }
    }
    let mut types = g.clone();
    infer::infer_graph(
        &mut types,
        &[OpsetImport {
            domain: String::new(),
            version: from,
        }],
    );
    let mut out = g.clone();
    let mut refusals = Vec::new();
    convert_in(&mut out, &types, from, to, &mut refusals);
    if !refusals.is_empty() {
        return Err(OpsetError::Refused { from, to, refusals });
    }
    *g = out;
    Ok(())
}

fn convert_in(g: &mut Graph, types: &Graph, from: i64, to: i64, refusals: &mut Vec<Refusal>) {
    let cx = Cx {
        types: types_by_name(types),
        from,
        to,
    };
    let ids: Vec<NodeId> = g.topo_order().unwrap_or_else(|_| g.node_ids().collect());
    let mut b = Builder::new(g);
    for id in ids {
        if b.try_node(id).is_none() {
            continue;
        }
        // Sub-graphs first, each against its inferred twin.
        let n_sub = b.node(id).subgraphs().count();
        for i in 0..n_sub {
            let twin = types
                .try_node(id)
                .and_then(|n| n.subgraphs().nth(i))
                .cloned()
                .unwrap_or_default();
            if let Some(sub) = b.node_mut(id).subgraphs_mut().nth(i) {
                convert_in(sub, &twin, from, to, refusals);
            }
        }
        let result = convert_node(&mut b, id, &cx).and_then(|()| {
            // The node's results, as inferred on the graph read, must have types the
            // target opset has.
            let n = types.try_node(id).map_or(0, |n| n.outputs.len());
            (0..n).try_for_each(|slot| match types.dtype_of(ValueRef::new(id, slot)) {
                Some(dt) => dtype_exists_at(dt, to),
                None => Ok(()),
            })
        });
        if let Err(reason) = result {
            // Named as read (an adapter may have replaced the node before refusing).
            let Some(node) = types.try_node(id).or(b.try_node(id)) else {
                continue;
            };
            let name = match (node.name.as_str(), node.outputs.first()) {
                ("", Some(v)) => format!("(unnamed) -> {}", v.name),
                (n, _) => n.to_string(),
            };
            refusals.push(Refusal {
                node: name,
                op: node.op.display_name(),
                reason,
            });
        }
    }
}

/// Runs the adapter chain of one node.
fn convert_node(b: &mut Builder<'_>, id: NodeId, cx: &Cx) -> Result<(), String> {
    let Some(op) = b.node(id).op.onnx() else {
        return Ok(());
    };
    if op.domain() != "ai.onnx" {
        return Ok(());
    }
    write_changed_defaults(b.node_mut(id), op, cx.from, cx.to);
    let (mut id, mut op) = (id, op);
    if cx.to > cx.from {
        let mut at = cx.from;
        while let Some(a) = adapters()
            .filter(|a| a.op == op && a.version > at && a.version <= cx.to)
            .min_by_key(|a| a.version)
        {
            id = (a.up)(b, id, cx)?;
            at = a.version;
            op = match b.node(id).op.onnx() {
                Some(o) => o,
                None => return Ok(()),
            };
        }
    } else {
        let mut at = cx.from;
        while let Some(a) = adapters()
            .filter(|a| a.op == op && a.version <= at && a.version > cx.to)
            .max_by_key(|a| a.version)
        {
            id = (a.down)(b, id, cx)?;
            at = a.version - 1;
            op = match b.node(id).op.onnx() {
                Some(o) => o,
                None => return Ok(()),
            };
        }
        attrs::drop_added(b, id, op, cx)?;
    }
    let missing = exists_at(op, cx.to).and_then(|()| input_types_exist(b, id, op, cx));
    if missing.is_err() && cx.to < cx.from {
        // An op newer than the target whose decomposition exists (LayerNormalization, Mish)
        // becomes the older ops, written in the target's forms.
        let rewrite = crate::passes::decompose::all()
            .into_iter()
            .find(|d| d.ops.contains(&op) && d.opsets.contains(&cx.to));
        // The rewrites read their inputs' types: give them the inferred ones.
        for v in b.inputs_of(id).into_iter().flatten() {
            let known = b.value(v).is_some_and(|val| val.ty.is_some());
            let inferred = b.value(v).and_then(|val| cx.types.get(&val.name)).cloned();
            if let (false, Some(ty)) = (known, inferred) {
                if let Some(val) = b.value_mut(v) {
                    val.ty = Some(std::sync::Arc::new(ty));
                }
            }
        }
        if rewrite.is_some_and(|d| (d.rewrite)(b, id, op, cx.to)) {
            return Ok(());
        }
    }
    missing
}

/// Whether the version of `op` in effect at the target takes the types of node `id`'s
/// inputs (Add of int8 came with 14, Celu of float16 with 22, ...).
fn input_types_exist(b: &Builder<'_>, id: NodeId, op: OnnxOp, cx: &Cx) -> Result<(), String> {
    let Some(masks) = op.input_types_at(cx.to) else {
        return Ok(());
    };
    for (slot, v) in b.inputs_of(id).into_iter().enumerate() {
        let Some(v) = v else { continue };
        let Some(&mask) = masks.get(slot).or(masks.last()) else {
            continue;
        };
        let ty = b
            .value(v)
            .and_then(|val| cx.types.get(&val.name).or(val.ty.as_deref()));
        let Some(bit) = ty.and_then(|t| modelc_ir::type_bit(&t.ty)) else {
            continue;
        };
        if mask != 0 && mask & (1u64 << bit) == 0 {
            let since = op
                .schema()
                .input_types
                .iter()
                .find(|(since, m)| {
                    i64::from(*since) > cx.to
                        && m.get(slot)
                            .or(m.last())
                            .is_some_and(|m| m & (1u64 << bit) != 0)
                })
                .map(|(since, _)| format!(" (from opset {since} on)"))
                .unwrap_or_default();
            let shown = ty.map(|t| type_name(&t.ty)).unwrap_or_default();
            return Err(format!(
                "input {slot} is {shown}, which {op} does not take in opset {}{since}",
                cx.to
            ));
        }
    }
    Ok(())
}

fn type_name(ty: &modelc_ir::ValueType) -> String {
    use modelc_ir::ValueType as V;
    match ty {
        V::Tensor(t) => t.dtype.map_or("a tensor".into(), |d| format!("{d}")),
        V::Sequence(Some(inner)) => format!("a sequence of {}", type_name(inner)),
        V::Optional(_) => "an optional".into(),
        _ => "of another type".into(),
    }
}

/// Whether element type `dt` exists at opset `v` (bfloat16 came with 13, the float8 types
/// with 19, the 4-bit integers with 21, float4 with 23, float8e8m0 with 24, the 2-bit
/// integers with 25).
fn dtype_exists_at(dt: DType, v: i64) -> Result<(), String> {
    let since = match dt {
        DType::BF16 => 13,
        DType::F8E4M3FN | DType::F8E4M3FNUZ | DType::F8E5M2 | DType::F8E5M2FNUZ => 19,
        DType::U4 | DType::I4 => 21,
        DType::F4E2M1 => 23,
        DType::F8E8M0 => 24,
        DType::U2 | DType::I2 => 25,
        _ => return Ok(()),
    };
    if v < since {
        return Err(format!(
            "its result is {dt}, which exists from opset {since} on"
        ));
    }
    Ok(())
}

/// Whether `op` has a version at opset `v` (it was introduced by then and not removed).
fn exists_at(op: OnnxOp, v: i64) -> Result<(), String> {
    let first = op.schema().since_versions.first().copied().unwrap_or(1);
    if i64::from(first) > v {
        return Err(format!("{op} exists from opset {first} on"));
    }
    let removed = match op {
        OnnxOp::Upsample => Some(10),
        OnnxOp::Scatter => Some(11),
        _ => None,
    };
    match removed {
        Some(r) if v >= r => Err(format!("{op} was removed in opset {r}")),
        _ => Ok(()),
    }
}

/// Writes out, at their value in `from`, the absent attributes whose default differs in `to`
/// (Softmax's `axis`: 1 before 13, -1 from 13), so the node keeps its meaning.
fn write_changed_defaults(node: &mut modelc_ir::Node, op: OnnxOp, from: i64, to: i64) {
    for a in op.schema().attrs {
        if node.attrs.contains(a.name) {
            continue;
        }
        let (Some(was), Some(will)) = (op.default_at(a.name, a.kind, from), a.default_at(to))
        else {
            continue;
        };
        if was != will {
            if let Some(v) = attr_of_default(was) {
                node.attrs.set(a.name, v);
            }
        }
    }
}

pub(crate) fn attr_of_default(d: modelc_ir::AttrDefault) -> Option<Attr> {
    use modelc_ir::AttrDefault as D;
    Some(match d {
        D::Float(f) => Attr::Float(f),
        D::Int(i) => Attr::Int(i),
        D::String(s) => Attr::String(s.as_bytes().to_vec().into()),
        D::Floats(f) => Attr::Floats(f.to_vec()),
        D::Ints(i) => Attr::Ints(i.to_vec()),
        D::Strings(_) => return None,
    })
}

/// Sets the default domain's version in `opsets` (adding the import when missing).
pub fn set_default_opset(opsets: &mut Vec<OpsetImport>, version: i64) {
    match opsets
        .iter_mut()
        .find(|o| o.domain.is_empty() || o.domain == "ai.onnx")
    {
        Some(o) => o.version = version,
        None => opsets.push(OpsetImport {
            domain: String::new(),
            version,
        }),
    }
}

// ---- helpers the adapters share ----

/// The constant behind `v`: a `Const` node or a `Constant` op holding a tensor.
pub(crate) fn const_of(g: &Graph, v: ValueRef) -> Option<Tensor> {
    let node = g.node(v.node);
    match &node.op {
        Op::Const(t) => Some((**t).clone()),
        Op::Onnx(OnnxOp::Constant) => match node.attrs.get("value")? {
            Attr::Tensor(t) => Some(t.clone()),
            _ => None,
        },
        _ => None,
    }
}

/// The integers of the constant behind `v`.
pub(crate) fn const_ints(g: &Graph, v: ValueRef) -> Option<Vec<i64>> {
    infer::tensor_ints(&const_of(g, v)?)
}

/// The numbers of the constant behind `v`, widened to f64.
pub(crate) fn const_f64s(g: &Graph, v: ValueRef) -> Option<Vec<f64>> {
    Array::from_tensor(&const_of(g, v)?).ok()?.to_f64_vec().ok()
}

/// Feeds input slot `slot` of `id` from `v`, growing its slot count as needed.
pub(crate) fn set_input(g: &mut Graph, id: NodeId, slot: usize, v: ValueRef) {
    let node = g.node_mut(id);
    node.num_inputs = node.num_inputs.max(slot + 1);
    g.connect(v, id, slot);
}

/// Removes input slot `slot` of `id` (trailing empty slots go too); a constant read by
/// nothing else goes with it. Returns what fed it.
pub(crate) fn take_input(g: &mut Graph, id: NodeId, slot: usize) -> Option<ValueRef> {
    let v = g.input(id, slot);
    g.disconnect(id, slot);
    let n = g.node(id).num_inputs;
    let mut keep = n;
    while keep > 0 && g.input(id, keep - 1).is_none() {
        keep -= 1;
    }
    g.node_mut(id).num_inputs = keep;
    if let Some(v) = v {
        let unused = g.users(v).is_empty() && !g.outputs().contains(&v);
        let constant = matches!(g.node(v.node).op, Op::Const(_) | Op::Onnx(OnnxOp::Constant));
        if unused && constant {
            remove_with_dead_consts(g, &[v.node]);
        }
    }
    v
}

/// A constant input named after the node: `<node>_<what>`.
pub(crate) fn const_input(b: &mut Builder<'_>, id: NodeId, what: &str, t: Tensor) -> ValueRef {
    let base = format!("{}_{what}", base_name(b, id));
    b.constant(&base, t)
}

/// Moves ints attribute `attr` into input slot `slot` as an int64 constant (absent: the slot
/// stays empty).
pub(crate) fn ints_attr_to_input(b: &mut Builder<'_>, id: NodeId, attr: &str, slot: usize) {
    let Some(Attr::Ints(v)) = b.node_mut(id).attrs.remove(attr) else {
        return;
    };
    let t = Tensor::from_i64(vec![v.len() as u64], &v).expect("1-D");
    let c = const_input(b, id, attr, t);
    set_input(b, id, slot, c);
}

/// Moves the constant in input slot `slot` into ints attribute `attr` (an empty slot leaves
/// the attribute absent); refuses a value computed at run time.
pub(crate) fn ints_input_to_attr(
    g: &mut Graph,
    id: NodeId,
    slot: usize,
    attr: &str,
    cx: &Cx,
) -> Result<(), String> {
    let Some(v) = g.input(id, slot) else {
        return Ok(());
    };
    let ints = const_ints(g, v).ok_or_else(|| computed(attr, cx))?;
    g.node_mut(id).attrs.set(attr, Attr::Ints(ints));
    take_input(g, id, slot);
    Ok(())
}

/// The refusal of an argument that became an attribute below the version.
pub(crate) fn computed(what: &str, cx: &Cx) -> String {
    format!(
        "`{what}` is computed at run time; opset {} takes it as a constant attribute",
        cx.to
    )
}

/// An int attribute, with `default` when absent.
pub(crate) fn int_attr(g: &Graph, id: NodeId, name: &str, default: i64) -> i64 {
    g.node(id).attrs.int(name, default).unwrap_or(default)
}

/// Replaces node `id` by a node of `op` with the same name, attributes, outputs (values keep
/// their names, types and readers) and inputs; returns the new node.
pub(crate) fn replace_op(b: &mut Builder<'_>, id: NodeId, op: OnnxOp) -> NodeId {
    let inputs = b.inputs_of(id);
    let old = b.node(id).clone();
    let mut node = modelc_ir::Node::new(Op::Onnx(op), old.num_inputs, old.outputs.clone())
        .with_name(old.name.clone())
        .with_attrs(old.attrs.clone());
    node.doc = old.doc.clone();
    node.meta = old.meta.clone();
    node.layout = if op.is_layout_sensitive() {
        old.layout.or(Some(modelc_ir::Layout::Nchw))
    } else {
        None
    };
    let new = b.add_node(node);
    for (slot, v) in inputs.into_iter().enumerate() {
        if let Some(v) = v {
            b.connect(v, new, slot);
        }
    }
    for slot in 0..old.outputs.len() {
        let (o, n) = (ValueRef::new(id, slot), ValueRef::new(new, slot));
        let outputs: Vec<ValueRef> = b
            .outputs()
            .iter()
            .map(|&x| if x == o { n } else { x })
            .collect();
        b.set_outputs(outputs);
        b.replace_uses(o, n);
    }
    b.remove_node(id);
    new
}
