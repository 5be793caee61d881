//! Runs a graph: nodes in the order of its [`Plan`] (made once per interpreter), each by
//! its kernel; values are dropped after their last use.

use std::collections::{HashMap, HashSet};
use std::time::Instant;

use modelc_ir::{node_label, Graph, Model, NodeId, OnnxOp, Op, OpsetImport, ValueRef};

use crate::ctx::{OpCtx, Slot};
use crate::ops::quant::units::Units;
use crate::ops::{lookup, Kernel};
use crate::plan::{opset_of, Plan};
use crate::pool::Pool;
use crate::profile::{conv_kind, matmul_kind, Profile};
use crate::{Array, Data, InterpError};

/// A callback that sees each computed value (see [`Interpreter::run_observed`]).
pub type Observer<'a> = dyn FnMut(ValueRef, &Data) + 'a;

/// A prepared interpreter for one graph: kernels resolved and constants converted once, so
/// repeated runs only compute.
pub struct Interpreter<'g> {
    graph: &'g Graph,
    opsets: Vec<OpsetImport>,
    consts: Prepared,
    pub(crate) plan: Plan,
}

/// Values a run borrows instead of computing: the graph's constants, converted once, and
/// the results of ONNX `Constant` nodes and of nodes that read only constants (a quantized weight's DequantizeLinear,
/// shape arithmetic on constants), computed once by their own kernels; and the QDQ units
/// a run computes in integers (weights packed once).
struct Prepared {
    values: HashMap<ValueRef, Data>,
    precomputed: HashSet<NodeId>,
    units: Units,
    /// Buffers of dropped f32 and 8-bit values, reused for later outputs (this run's and the
    /// next's).
    pool: Pool,
    /// Whether any kernel takes buffers from the pool (a Conv, float or in a QDQ unit): without one, keeping
    /// dropped buffers only delays their return to the allocator (a transformer encoder
    /// ran 20% slower, with four times the page faults).
    pool_taken: bool,
    /// Per-node prepared state ([`OpCtx::prepared`]): a slot for each computed node whose
    /// inputs after the first are all constants here, filled by its kernel on the first
    /// run (Conv's Winograd weights) and kept for every later run: plan once, run many.
    slots: HashMap<NodeId, Slot>,
}

impl<'g> Interpreter<'g> {
    /// Prepares the model's main graph. Fails listing every op that has no kernel.
    pub fn new(model: &'g Model) -> Result<Interpreter<'g>, InterpError> {
        Interpreter::for_graph(&model.graph, &model.opset_imports)
    }

    /// Prepares a graph whose ops are read at the given opset versions.
    pub fn for_graph(
        graph: &'g Graph,
        opsets: &[OpsetImport],
    ) -> Result<Interpreter<'g>, InterpError> {
        let mut missing = Vec::new();
        unsupported(graph, &mut missing);
        if !missing.is_empty() {
            return Err(InterpError::Unsupported(missing));
        }
        let mut plan = Plan::new(graph)?;
        let mut consts = Prepared {
            values: HashMap::new(),
            precomputed: HashSet::new(),
            units: Units::none(),
            pool: Pool::default(),
            pool_taken: graph
                .node_ids()
                .any(|id| graph.node(id).op == Op::Onnx(OnnxOp::Conv)),
            slots: HashMap::new(),
        };
        for &id in &plan.order {
            if let Some(d) = const_value(graph, id)? {
                consts.values.insert(ValueRef::new(id, 0), d);
            } else if let Some(outputs) = precompute(graph, opsets, id, &consts.values) {
                for (slot, d) in outputs {
                    consts.values.insert(ValueRef::new(id, slot), d);
                }
                consts.precomputed.insert(id);
            }
        }
        for &id in &plan.order {
            let ins = graph.inputs_of(id);
            // An omitted optional input is as constant as an initializer.
            let constant = |v: &Option<ValueRef>| v.is_none_or(|v| consts.values.contains_key(&v));
            if matches!(graph.node(id).op, Op::Onnx(_))
                && !consts.precomputed.contains(&id)
                && ins.len() > 1
                && ins[1..].iter().all(constant)
            {
                consts.slots.insert(id, Slot::new());
            }
        }
        plan.fuse(graph, opsets, &consts.values);
        plan.unfuse(|id| consts.precomputed.contains(&id));
        consts.units = Units::find(graph, &mut plan, &consts.values, &consts.precomputed);
        Ok(Interpreter {
            graph,
            opsets: opsets.to_vec(),
            consts,
            plan,
        })
    }

    /// The QDQ units runs compute in integers.
    #[cfg(test)]
    pub(crate) fn units(&self) -> &Units {
        &self.consts.units
    }

    /// Names of the graph inputs, in order.
    pub fn input_names(&self) -> Vec<String> {
        self.graph
            .inputs()
            .iter()
            .map(|&id| self.graph.node(id).outputs[0].name.clone())
            .collect()
    }

    /// Names of the graph outputs, in order.
    pub fn output_names(&self) -> Vec<String> {
        self.graph
            .outputs()
            .iter()
            .map(|&v| {
                self.graph
                    .value(v)
                    .map_or_else(String::new, |x| x.name.clone())
            })
            .collect()
    }

    /// Runs the graph on named inputs; returns the outputs with their names, in order.
    /// Inputs with a default value may be left out.
    pub fn run(&self, inputs: Vec<(String, Data)>) -> Result<Vec<(String, Data)>, InterpError> {
        self.run_inner(inputs, None)
    }

    /// Like [`Interpreter::run`], and calls `observer` with every value of the main graph as
    /// soon as it is computed (graph inputs included, constants not), before it can be
    /// dropped: calibration and debugging see intermediate values without keeping them all.
    pub fn run_observed(
        &self,
        inputs: Vec<(String, Data)>,
        observer: &mut Observer<'_>,
    ) -> Result<Vec<(String, Data)>, InterpError> {
        self.run_inner(inputs, Some(observer))
    }

    /// Runs the graph as [`Interpreter::run`] does (fused, unobserved), adding each
    /// kernel's wall time to `profile` under its op type.
    pub fn run_profiled(
        &self,
        inputs: Vec<(String, Data)>,
        profile: &mut Profile,
    ) -> Result<Vec<(String, Data)>, InterpError> {
        self.run_with(inputs, None, Some(profile))
    }

    fn run_inner(
        &self,
        inputs: Vec<(String, Data)>,
        observer: Option<&mut Observer<'_>>,
    ) -> Result<Vec<(String, Data)>, InterpError> {
        self.run_with(inputs, observer, None)
    }

    fn run_with(
        &self,
        inputs: Vec<(String, Data)>,
        observer: Option<&mut Observer<'_>>,
        profile: Option<&mut Profile>,
    ) -> Result<Vec<(String, Data)>, InterpError> {
        let names = self.input_names();
        let mut positional: Vec<Option<Data>> = vec![None; names.len()];
        for (name, data) in inputs {
            let i = names
                .iter()
                .position(|n| *n == name)
                .ok_or_else(|| InterpError::UnknownInput(name.clone()))?;
            positional[i] = Some(data);
        }
        let _awake = crate::awake::Awake::start();
        let outputs = execute(
            self.graph,
            &self.opsets,
            &self.plan,
            positional,
            &[],
            Some(&self.consts),
            Watch { observer, profile },
        )?;
        Ok(self.output_names().into_iter().zip(outputs).collect())
    }
}

/// Runs a (sub-)graph on positional inputs with outer values by name: the entry point for
/// control-flow kernels.
pub(crate) fn run_graph(
    graph: &Graph,
    opsets: &[OpsetImport],
    inputs: Vec<Data>,
    captures: &[(&str, &Data)],
) -> Result<Vec<Data>, InterpError> {
    execute(
        graph,
        opsets,
        &Plan::new(graph)?,
        inputs.into_iter().map(Some).collect(),
        captures,
        None,
        Watch::default(),
    )
}

fn unsupported(graph: &Graph, missing: &mut Vec<String>) {
    for id in graph.node_ids() {
        let node = graph.node(id);
        let supported = match &node.op {
            Op::Onnx(op) => lookup(*op).is_some(),
            Op::Custom(_) => false,
            _ => true,
        };
        if !supported {
            missing.push(node_label(node));
        }
        for sub in node.subgraphs() {
            unsupported(sub, missing);
        }
    }
}

fn const_value(graph: &Graph, id: NodeId) -> Result<Option<Data>, InterpError> {
    let node = graph.node(id);
    let tensor = match &node.op {
        Op::Const(t) => t,
        Op::SparseConst(_) => {
            return Err(InterpError::Graph(format!(
                "{}: sparse constants are not supported by the interpreter",
                node_label(node)
            )))
        }
        _ => return Ok(None),
    };
    let a = Array::from_tensor(tensor).map_err(|source| InterpError::Kernel {
        node: node_label(node),
        source,
    })?;
    // The interpreter reads its own converted copy from now on: the source bytes (usually a
    // mapped file) need not stay resident beside it.
    if let modelc_ir::TensorData::Raw(raw) = &tensor.data {
        modelc_ir::release_resident(raw);
    }
    Ok(Some(Data::Tensor(a)))
}

fn check_input(
    name: &str,
    declared: Option<&modelc_ir::TypeInfo>,
    data: &Data,
) -> Result<(), InterpError> {
    let (Some(modelc_ir::ValueType::Tensor(tt)), Data::Tensor(a)) = (declared.map(|t| &t.ty), data)
    else {
        return Ok(());
    };
    let err = |message: String| InterpError::Input {
        name: name.to_string(),
        message,
    };
    if let Some(dt) = tt.dtype {
        if dt != a.dtype() {
            return Err(err(format!("expected {dt}, given {}", a.dtype())));
        }
    }
    if let Some(shape) = &tt.shape {
        let given = a.shape();
        let matches = shape.rank() == given.len()
            && shape
                .0
                .iter()
                .zip(given)
                .all(|(d, &g)| d.known().is_none_or(|k| k == g as u64));
        if !matches {
            return Err(err(format!(
                "expected shape {}, given {given:?}",
                modelc_ir::text::type_to_string(&modelc_ir::ValueType::Tensor(tt.clone()).into())
            )));
        }
    }
    Ok(())
}

/// What a run reports besides its outputs: every value it computes (to an observer) and
/// the time of each kernel (to a profile).
#[derive(Default)]
struct Watch<'o, 'f> {
    observer: Option<&'o mut Observer<'f>>,
    profile: Option<&'o mut Profile>,
}

fn execute(
    graph: &Graph,
    opsets: &[OpsetImport],
    plan: &Plan,
    mut inputs: Vec<Option<Data>>,
    captures: &[(&str, &Data)],
    consts: Option<&Prepared>,
    watch: Watch<'_, '_>,
) -> Result<Vec<Data>, InterpError> {
    let Watch {
        mut observer,
        mut profile,
    } = watch;
    if inputs.len() > graph.inputs().len() {
        return Err(InterpError::Graph(format!(
            "graph `{}` takes {} inputs, {} given",
            graph.name,
            graph.inputs().len(),
            inputs.len()
        )));
    }
    inputs.resize(graph.inputs().len(), None);
    // An observer sees every value, so fused activations are computed on their own then.
    let fuse = observer.is_none();
    // Producers whose result was not f32 after all: their activations run as nodes.
    let mut declined: HashSet<NodeId> = HashSet::new();
    let mut uses = plan.uses.clone();
    let pool = consts.filter(|c| c.pool_taken).map(|c| &c.pool);
    if !fuse {
        if let Some(c) = consts {
            c.units.uncount(&mut uses);
        }
    }

    // Constants prepared once (and captured outer values) are borrowed, not copied: a run
    // must not duplicate a model's weights.
    let mut values: HashMap<ValueRef, std::borrow::Cow<'_, Data>> = HashMap::new();
    let input_pos = &plan.input_pos;
    for &id in &plan.order {
        let node = graph.node(id);
        let here = ValueRef::new(id, 0);
        match &node.op {
            Op::Input { default } => {
                let name = &node.outputs[0].name;
                let data = match (inputs[input_pos[&id]].take(), default) {
                    (Some(d), _) => d,
                    (None, Some(t)) => {
                        Data::Tensor(Array::from_tensor(t).map_err(|e| InterpError::Input {
                            name: name.clone(),
                            message: e.to_string(),
                        })?)
                    }
                    (None, None) => return Err(InterpError::MissingInput(name.clone())),
                };
                check_input(name, node.outputs[0].ty.as_deref(), &data)?;
                if let Some(obs) = observer.as_mut() {
                    obs(here, &data);
                }
                values.insert(here, std::borrow::Cow::Owned(data));
            }
            Op::Const(_) | Op::SparseConst(_) => {
                let data = match consts.and_then(|c| c.values.get(&here)) {
                    Some(d) => std::borrow::Cow::Borrowed(d),
                    None => std::borrow::Cow::Owned(const_value(graph, id)?.expect("a constant")),
                };
                values.insert(here, data);
            }
            Op::Outer => {
                let name = &node.outputs[0].name;
                let data = captures
                    .iter()
                    .find(|(n, _)| n == name)
                    .map(|(_, d)| std::borrow::Cow::Borrowed(*d))
                    .ok_or_else(|| {
                        InterpError::Graph(format!("outer value `{name}` was not captured"))
                    })?;
                values.insert(here, data);
            }
            Op::Onnx(op) => {
                let input_refs = graph.inputs_of(id);
                let capture_refs = graph.captures_of(id);
                let units = consts.map(|c| &c.units).filter(|_| fuse);
                if units.is_some_and(|u| u.skip.contains(&id)) {
                    for v in input_refs.into_iter().flatten().chain(capture_refs) {
                        release(&mut uses, &mut values, pool, v);
                    }
                    continue;
                }
                if let Some((unit, kernel)) = units.and_then(|u| Some((u.at.get(&id)?, u.kernel))) {
                    let started = profile.is_some().then(Instant::now);
                    let label = || node_label(graph.node(unit.node));
                    let xs = unit
                        .inputs
                        .iter()
                        .map(|v| match values.get(v).map(|d| d.as_ref()) {
                            Some(Data::Tensor(a)) => Ok(a),
                            _ => Err(InterpError::Graph(format!(
                                "{}: an input was not computed",
                                label()
                            ))),
                        })
                        .collect::<Result<Vec<_>, _>>()?;
                    let y = unit
                        .run(&xs, kernel, pool)
                        .map_err(|source| InterpError::Kernel {
                            node: label(),
                            source,
                        })?;
                    values.insert(here, std::borrow::Cow::Owned(Data::Tensor(y)));
                    if let (Some(p), Some(t)) = (profile.as_mut(), started) {
                        p.add(unit.name(), t.elapsed());
                    }
                    for &v in &unit.inputs {
                        release(&mut uses, &mut values, pool, v);
                    }
                    for v in input_refs.into_iter().flatten().chain(capture_refs) {
                        release(&mut uses, &mut values, pool, v);
                    }
                    continue;
                }
                if let Some(c) = consts.filter(|c| c.precomputed.contains(&id)) {
                    for slot in 0..node.outputs.len() {
                        let v = ValueRef::new(id, slot);
                        if let Some(d) = c.values.get(&v) {
                            if let Some(obs) = observer.as_mut() {
                                obs(v, d);
                            }
                            values.insert(v, std::borrow::Cow::Borrowed(d));
                        }
                    }
                    for v in input_refs.into_iter().flatten().chain(capture_refs) {
                        release(&mut uses, &mut values, pool, v);
                    }
                    continue;
                }
                let computed_by_producer = fuse
                    && plan
                        .absorbed
                        .get(&id)
                        .is_some_and(|p| !declined.contains(p));
                if computed_by_producer {
                    for v in input_refs.into_iter().flatten().chain(capture_refs) {
                        release(&mut uses, &mut values, pool, v);
                    }
                    continue;
                }
                let kernel: Kernel = lookup(*op).expect("kernels were checked");
                let started = profile.is_some().then(Instant::now);
                let mut fused_act = None;
                let fused_here = plan.fused.get(&id).filter(|_| fuse);
                let epilogue = fused_here.and_then(|f| f.act);
                let affine = fused_here.and_then(|f| f.affine.as_deref());
                let col_bias = fused_here.and_then(|f| f.col_bias.as_deref());
                let epilogue_done;
                let outputs = {
                    let get = |v: &ValueRef| {
                        values.get(v).map(|d| d.as_ref()).ok_or_else(|| {
                            InterpError::Graph(format!(
                                "{}: an input was not computed",
                                node_label(node)
                            ))
                        })
                    };
                    let ins = input_refs
                        .iter()
                        .map(|v| v.as_ref().map(get).transpose())
                        .collect::<Result<Vec<_>, _>>()?;
                    let caps = capture_refs
                        .iter()
                        .map(|v| Ok((graph.value(*v).map_or("", |x| x.name.as_str()), get(v)?)))
                        .collect::<Result<Vec<_>, InterpError>>()?;
                    let opset = opset_of(*op, opsets);
                    let ctx = OpCtx {
                        node,
                        inputs: ins,
                        captures: caps,
                        opset,
                        opsets,
                        epilogue,
                        affine,
                        col_bias: col_bias.map(|b| &b.0[..]),
                        epilogue_done: std::cell::Cell::new(false),
                        pool,
                        slot: consts.and_then(|c| c.slots.get(&id)),
                    };
                    let outputs = crate::ops::nn::layout::call(kernel, &ctx).map_err(|source| {
                        InterpError::Kernel {
                            node: node_label(node),
                            source,
                        }
                    })?;
                    epilogue_done = ctx.epilogue_done.get();
                    outputs
                };
                let mut outputs = outputs.into_iter();
                for (slot, value) in node.outputs.iter().enumerate() {
                    let produced = outputs.next();
                    if value.is_absent() {
                        continue;
                    }
                    let data = produced.ok_or_else(|| InterpError::Kernel {
                        node: node_label(node),
                        source: crate::KernelError::new(format!(
                            "kernel produced no output {slot}"
                        )),
                    })?;
                    if let Some(obs) = observer.as_mut() {
                        obs(ValueRef::new(id, slot), &data);
                    }
                    let fused = plan.fused.get(&id).filter(|_| fuse && slot == 0);
                    match (fused, data) {
                        (Some(f), Data::Tensor(Array::F32(mut a))) => {
                            if !epilogue_done {
                                if let Some(bias) = &f.col_bias {
                                    if !bias.apply(&mut a) {
                                        a = bias.broadcast_add(&a).map_err(|source| {
                                            InterpError::Kernel {
                                                node: node_label(graph.node(f.into.node)),
                                                source,
                                            }
                                        })?;
                                    }
                                }
                                if let Some(affine) = &f.affine {
                                    if !affine.apply(&mut a) {
                                        return Err(InterpError::Kernel {
                                            node: node_label(graph.node(f.into.node)),
                                            source: crate::KernelError::new(format!(
                                                "BatchNormalization has {} parameters per \
                                                 channel for an input of shape {:?}",
                                                affine.a.len(),
                                                a.shape()
                                            )),
                                        });
                                    }
                                }
                                if let Some(act) = f.act {
                                    act.apply(&mut a);
                                }
                            }
                            fused_act = Some(f.names());
                            values.insert(f.into, std::borrow::Cow::Owned(Array::F32(a).into()));
                        }
                        (f, data) => {
                            if f.is_some() {
                                declined.insert(id);
                            }
                            values.insert(ValueRef::new(id, slot), std::borrow::Cow::Owned(data));
                        }
                    }
                }
                if let (Some(p), Some(t)) = (profile.as_mut(), started) {
                    let shape = |slot: usize| {
                        let v = input_refs.get(slot).copied().flatten()?;
                        match values.get(&v)?.as_ref() {
                            Data::Tensor(a) => Some(a.shape().to_vec()),
                            _ => None,
                        }
                    };
                    let kind = match *op {
                        OnnxOp::Conv => shape(1).map(|w| conv_kind(node, &w)),
                        OnnxOp::MatMul => shape(0).zip(shape(1)).map(|(a, b)| matmul_kind(&a, &b)),
                        _ => None,
                    };
                    let name = kind.as_deref().unwrap_or(op.name());
                    match fused_act {
                        None => p.add(name, t.elapsed()),
                        Some(names) => p.add(&format!("{name}{names}"), t.elapsed()),
                    }
                }
                for v in input_refs.into_iter().flatten().chain(capture_refs) {
                    release(&mut uses, &mut values, pool, v);
                }
            }
            Op::Custom(_) => unreachable!("custom ops were rejected"),
        }
    }
    graph
        .outputs()
        .iter()
        .map(|v| {
            let left = uses.get_mut(v).expect("counted");
            *left -= 1;
            let data = if *left == 0 {
                values.remove(v).map(std::borrow::Cow::into_owned)
            } else {
                values.get(v).map(|d| d.as_ref().clone())
            };
            data.ok_or_else(|| InterpError::Graph("a graph output was not computed".into()))
        })
        .collect()
}

/// Counts one read of `v` done, and drops the value after its last read (an f32 or 8-bit tensor the
/// run owns leaves its buffer to `pool`).
fn release(
    uses: &mut HashMap<ValueRef, usize>,
    values: &mut HashMap<ValueRef, std::borrow::Cow<'_, Data>>,
    pool: Option<&Pool>,
    v: ValueRef,
) {
    if let Some(left) = uses.get_mut(&v) {
        *left -= 1;
        if *left == 0 {
            let gone = values.remove(&v);
            if let (Some(p), Some(std::borrow::Cow::Owned(Data::Tensor(a)))) = (pool, gone) {
                match a {
                    Array::F32(a) => p.give(a),
                    Array::U8(a) => p.give(a),
                    Array::I8(a) => p.give(a),
                    _ => {}
                }
            }
        }
    }
}

/// The outputs of node `id` (by slot) when every input it reads is already in `consts` and
/// it computes the same on every run (no random ops, no sub-graphs); `None` otherwise, or
/// when its kernel fails (a run then reports the error).
fn precompute(
    graph: &Graph,
    opsets: &[OpsetImport],
    id: NodeId,
    consts: &HashMap<ValueRef, Data>,
) -> Option<Vec<(usize, Data)>> {
    let node = graph.node(id);
    let Op::Onnx(op) = node.op else { return None };
    let input_refs = graph.inputs_of(id);
    if op.traits().randomness == modelc_ir::Randomness::Always
        || node.subgraphs().next().is_some()
        || !graph.captures_of(id).is_empty()
        || (input_refs.iter().flatten().next().is_none() && op != modelc_ir::OnnxOp::Constant)
    {
        return None;
    }
    let ins = input_refs
        .iter()
        .map(|v| {
            v.as_ref()
                .map(|v| consts.get(v))
                .map(|d| d.ok_or(()))
                .transpose()
        })
        .collect::<Result<Vec<_>, ()>>()
        .ok()?;
    let ctx = OpCtx {
        node,
        inputs: ins,
        captures: Vec::new(),
        opset: opset_of(op, opsets),
        opsets,
        epilogue: None,
        affine: None,
        col_bias: None,
        epilogue_done: std::cell::Cell::new(false),
        pool: None,
        slot: None,
    };
    let outputs = crate::ops::nn::layout::call(lookup(op)?, &ctx).ok()?;
    let produced: Vec<(usize, Data)> = outputs
        .into_iter()
        .enumerate()
        .filter(|(slot, _)| node.outputs.get(*slot).is_some_and(|v| !v.is_absent()))
        .collect();
    let wanted = node.outputs.iter().filter(|v| !v.is_absent()).count();
    (produced.len() == wanted).then_some(produced)
}

#[cfg(test)]
mod tests {
    use modelc_ir::text::parse_graph;
    use ndarray::{ArrayD, IxDyn};

    use super::*;

    #[test]
    fn nodes_of_constants_are_computed_once_and_still_observed() {
        let src = "graph main(%x: f32[3]) -> (%y) {
  %w = const i8[3] [1, -2, 3]
  %s = const f32[] [0.5]
  %z = const i8[] [1]
  %d = DequantizeLinear(%w, %s, %z)
  %y = Add(%x, %d)
}";
        let g = parse_graph(src, None).unwrap();
        let interp = Interpreter::for_graph(&g, &[]).unwrap();
        assert_eq!(interp.consts.precomputed.len(), 1);
        let x = ArrayD::from_shape_vec(IxDyn(&[3]), vec![10.0f32, 20.0, 30.0]).unwrap();
        let mut seen = Vec::new();
        let out = interp
            .run_observed(
                vec![("x".into(), Data::Tensor(Array::F32(x)))],
                &mut |v, _| seen.push(g.value(v).map(|x| x.name.clone())),
            )
            .unwrap();
        let Data::Tensor(Array::F32(y)) = &out[0].1 else {
            panic!("{out:?}")
        };
        assert_eq!(
            y.iter().copied().collect::<Vec<_>>(),
            vec![10.0, 18.5, 31.0]
        );
        assert!(seen.contains(&Some("d".to_string())), "{seen:?}");
    }
}
