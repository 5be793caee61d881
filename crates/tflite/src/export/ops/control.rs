//! Control flow: ONNX `If` → TFLite `IF`, ONNX `Loop` → TFLite `WHILE`, each sub-graph a
//! TFLite subgraph of its own.
//!
//! TFLite subgraphs see nothing of the subgraph that runs them: every value an ONNX
//! sub-graph reads from an enclosing graph (a capture) becomes an explicit input, passed by
//! the `IF` / `WHILE` operator. Captured constants are the exception: they are copied into
//! the subgraph as constants, because kernels such as RESHAPE or FULLY_CONNECTED want
//! constant operands.
//!
//! A `Loop(M, cond, v...)` carries `[iter, M, cond, v..., captures...]` through `WHILE`:
//! the condition subgraph computes `iter < M and cond` (the half whose input is absent is
//! left out), the body subgraph runs the ONNX body and adds one to `iter`; the captures
//! pass through unchanged. A scan output (a value the body stacks across iterations) is a
//! carried tensor too, grown by one row per iteration with CONCATENATION (LiteRT's WHILE lets
//! a carried shape change); its per-iteration shape must be known.

use bytes::Bytes;
use modelc_ir::{Attr, DType, Graph, NodeId, Op, Tensor, ValueRef};

use super::super::builder::Builder;
use super::super::lower::Lower;
use crate::fb::{self, BuiltinOperator, BuiltinOptions};
use crate::import::Quant;
use crate::TfliteError;

/// An input tensor of a nested subgraph, made like the enclosing tensor it receives.
#[derive(Clone)]
struct Slot {
    name: String,
    dtype: DType,
    shape: Vec<i64>,
    quant: Option<Quant>,
}

impl Slot {
    fn of(b: &Builder, t: usize) -> Slot {
        let t = &b.tensors[t];
        Slot {
            name: t.name.to_string(),
            dtype: t.dtype,
            shape: t.shape.to_vec(),
            quant: t.quant.as_deref().cloned(),
        }
    }
}

/// The values a control-flow node captures, split into the constants (copied into each
/// subgraph) and the others (passed as inputs, with their tensors in the enclosing graph).
struct Captures<'g> {
    /// Name → constant.
    consts: Vec<(String, &'g Tensor)>,
    /// Name → tensor in the enclosing subgraph.
    passed: Vec<(String, usize)>,
}

fn captures<'g>(lowering: &mut Lower<'g>, id: NodeId) -> Result<Captures<'g>, TfliteError> {
    let mut caps = Captures {
        consts: Vec::new(),
        passed: Vec::new(),
    };
    for v in lowering.g.captures_of(id) {
        let name = lowering
            .g
            .value(v)
            .map(|x| x.name.clone())
            .unwrap_or_default();
        if let Some(t) = lowering.model.const_of(v) {
            caps.consts.push((name, t));
        } else {
            let t = lowering.tensor(v)?;
            caps.passed.push((name, t));
        }
    }
    Ok(caps)
}

/// The sub-graph attribute `name` of node `id`.
fn subgraph_attr<'g>(g: &'g Graph, id: NodeId, name: &str) -> Result<&'g Graph, TfliteError> {
    match g.node(id).attrs.get(name) {
        Some(Attr::Graph(sub)) => Ok(sub),
        _ => Err(TfliteError::Unsupported(format!(
            "the `{name}` sub-graph is missing"
        ))),
    }
}

/// The inputs of a nested subgraph: its `slots` (input tensors) in order; `bind`, per input
/// of the IR sub-graph, the slot it reads; outer-scope values read the slot of the capture
/// with their name (captures start at slot `cap_slot0`) or are the captured constant.
struct Binding<'s, 'g> {
    slots: &'s [Slot],
    bind: &'s [usize],
    caps: &'s Captures<'g>,
    cap_slot0: usize,
}

/// Lowers `sub` as a nested subgraph with inputs `b`. `outputs` makes the subgraph's output
/// list once the body is lowered (it gets the slot tensors). Returns the subgraph's index in
/// the file.
fn nested<'g>(
    lowering: &mut Lower<'g>,
    sub: &'g Graph,
    name: String,
    b: &Binding<'_, 'g>,
    outputs: impl FnOnce(&mut Lower<'g>, &[usize]) -> Result<Vec<usize>, TfliteError>,
) -> Result<i32, TfliteError> {
    let enclosing = lowering.model.enter(sub);
    let model = std::mem::replace(&mut lowering.model, Builder::new(lowering.g, false));
    let mut inner = Lower::new(sub, model);
    let built = build_nested(&mut inner, sub, b, outputs);
    lowering.model = inner.model;
    let unsupported = std::mem::take(&mut inner.unsupported);
    // What failed inside is the reason (an error after it is only its consequence).
    let built = match (built, unsupported.is_empty()) {
        (Ok(io), true) => Ok(io),
        (Err(e), true) => Err(e),
        (_, false) => Err(TfliteError::Unsupported(format!(
            "in sub-graph `{name}`: {}",
            unsupported.join("; ")
        ))),
    };
    let index = match built {
        Ok((inputs, outs)) => lowering.model.leave(enclosing, name, &inputs, &outs),
        Err(e) => {
            lowering.model.leave(enclosing, name, &[], &[]);
            lowering.model.subgraphs.pop();
            return Err(e);
        }
    };
    Ok(index)
}

type Io = (Vec<usize>, Vec<usize>);

fn build_nested<'g>(
    inner: &mut Lower<'g>,
    sub: &'g Graph,
    b: &Binding<'_, 'g>,
    outputs: impl FnOnce(&mut Lower<'g>, &[usize]) -> Result<Vec<usize>, TfliteError>,
) -> Result<Io, TfliteError> {
    let Binding {
        slots,
        bind,
        caps,
        cap_slot0,
    } = *b;
    let mut inputs = Vec::with_capacity(slots.len());
    for s in slots {
        let t = inner.model.add_tensor(
            s.name.clone(),
            s.dtype,
            s.shape.clone(),
            None,
            s.quant.clone(),
        )?;
        inputs.push(t);
    }
    if sub.inputs().len() != bind.len() {
        return Err(TfliteError::Unsupported(format!(
            "sub-graph `{}` has {} inputs, {} expected",
            sub.name,
            sub.inputs().len(),
            bind.len()
        )));
    }
    for (&id, &slot) in sub.inputs().iter().zip(bind) {
        inner.model.map.insert(ValueRef::new(id, 0), inputs[slot]);
    }
    for id in sub.node_ids() {
        if sub.node(id).op != Op::Outer {
            continue;
        }
        let v = ValueRef::new(id, 0);
        let name = sub.value(v).map(|x| x.name.as_str()).unwrap_or_default();
        if let Some((_, t)) = caps.consts.iter().find(|(n, _)| n == name) {
            inner.model.outer_consts.insert(v, t);
        } else if let Some(k) = caps.passed.iter().position(|(n, _)| n == name) {
            inner.model.map.insert(v, inputs[cap_slot0 + k]);
        } else {
            return Err(TfliteError::Unsupported(format!(
                "outer value `{name}` is not captured by the node"
            )));
        }
    }
    inner.run()?;
    let outs = outputs(inner, &inputs)?;
    Ok((inputs, outs))
}

/// ONNX `If` → `IF(cond, captures...)` with one subgraph per branch.
pub(crate) fn if_op(lowering: &mut Lower, id: NodeId) -> Result<(), TfliteError> {
    let g = lowering.g;
    let cond = lowering.req(id, 0)?;
    let caps = captures(lowering, id)?;
    let slots: Vec<Slot> = caps
        .passed
        .iter()
        .map(|&(_, t)| Slot::of(&lowering.model, t))
        .collect();
    let node_name = g.node(id).name.clone();
    let mut index = [0; 2];
    for (k, attr) in ["then_branch", "else_branch"].into_iter().enumerate() {
        let sub = subgraph_attr(g, id, attr)?;
        let binding = Binding {
            slots: &slots,
            bind: &[],
            caps: &caps,
            cap_slot0: 0,
        };
        index[k] = nested(
            lowering,
            sub,
            format!("{node_name}/{attr}"),
            &binding,
            |inner, _| {
                Ok(inner
                    .graph_output_tensors()?
                    .into_iter()
                    .map(|o| o.1)
                    .collect())
            },
        )?;
    }
    let n_out = g.node(id).outputs.len();
    let mut outs = Vec::with_capacity(n_out);
    for slot in 0..n_out {
        outs.push(lowering.output(slot)?);
    }
    let mut inputs = vec![Some(cond)];
    inputs.extend(caps.passed.iter().map(|&(_, t)| Some(t)));
    let o = fb::IfOptions::create(
        &mut lowering.model.fbb,
        &fb::IfOptionsArgs {
            then_subgraph_index: index[0],
            else_subgraph_index: index[1],
        },
    );
    lowering.model.emit(
        BuiltinOperator::IF,
        1,
        &inputs,
        &outs,
        Some((BuiltinOptions::IfOptions, o.as_union_value())),
    );
    Ok(())
}

/// A scalar constant of `dtype` with these little-endian bytes.
fn scalar(b: &mut Builder, name: &str, dtype: DType, bytes: Vec<u8>) -> Result<usize, TfliteError> {
    let name = format!("{name}_{}", b.tensors.len());
    b.add_tensor(name, dtype, Vec::new(), Some(&Bytes::from(bytes)), None)
}

/// A zero tensor of `shape`, made by FILL.
fn zeros(b: &mut Builder, name: &str, dtype: DType, shape: Vec<i64>) -> Result<usize, TfliteError> {
    let dims: Vec<i32> = shape.iter().map(|&d| d as i32).collect();
    let dims = b.const_i32(&format!("{name}/shape"), &dims, vec![shape.len() as i64])?;
    let zero = dtype
        .storage_bytes(1)
        .ok_or_else(|| TfliteError::Unsupported(format!("an empty {dtype} tensor")))?;
    let value = scalar(b, &format!("{name}/value"), dtype, vec![0; zero as usize])?;
    let t = b.add_tensor(name.to_string(), dtype, shape, None, None)?;
    b.emit(
        BuiltinOperator::FILL,
        1,
        &[Some(dims), Some(value)],
        &[t],
        None,
    );
    Ok(t)
}

/// ADD of int64 tensors is version 4.
const ADD_I64_VERSION: i32 = 4;

/// ONNX `Loop` → `WHILE` over `[iter, M, cond, v..., captures...]` (see the module doc).
pub(crate) fn loop_op(lowering: &mut Lower, id: NodeId) -> Result<(), TfliteError> {
    let g = lowering.g;
    let node = g.node(id);
    let body = subgraph_attr(g, id, "body")?;
    let n_carried = node.num_inputs.saturating_sub(2);
    let n_scan = body.outputs().len().saturating_sub(1 + n_carried);
    // Per scan output: its element type and the (known) shape of one iteration's value.
    let mut scans = Vec::with_capacity(n_scan);
    for &v in &body.outputs()[1 + n_carried..] {
        let name = body.value(v).map(|x| x.name.clone()).unwrap_or_default();
        let (Some(dtype), Some(dims)) = (
            body.dtype_of(v),
            body.shape_of(v).and_then(|s| s.as_known()),
        ) else {
            return Err(TfliteError::Unsupported(format!(
                "scan output `{name}` needs a known type and shape per iteration (it is \
                 stacked by concatenating onto a carried tensor)"
            )));
        };
        scans.push((dtype, dims.iter().map(|&d| d as i64).collect::<Vec<i64>>()));
    }
    let trip = lowering.input(id, 0)?;
    let cond0 = lowering.input(id, 1)?;
    if trip.is_none() && cond0.is_none() {
        return Err(TfliteError::Unsupported(
            "neither a trip count nor a condition: the loop never ends".into(),
        ));
    }
    let mut carried = Vec::with_capacity(n_carried);
    for k in 0..n_carried {
        carried.push(lowering.req(id, 2 + k)?);
    }
    let caps = captures(lowering, id)?;
    let node_name = node.name.clone();

    // The carried tensors of the enclosing graph: [iter, M?, cond, v..., captures...].
    let b = &mut lowering.model;
    let iter0 = scalar(
        b,
        &format!("{node_name}/iter"),
        DType::I64,
        0i64.to_le_bytes().to_vec(),
    )?;
    let cond0 = match cond0 {
        Some(c) => c,
        None => scalar(b, &format!("{node_name}/cond"), DType::Bool, vec![1])?,
    };
    let mut init = vec![iter0];
    init.extend(trip);
    let cond_at = init.len();
    init.push(cond0);
    let v_at = init.len();
    init.extend(&carried);
    // Scan outputs: carried tensors that grow by one row per iteration (CONCATENATION),
    // which LiteRT's WHILE allows (a dynamic carried shape). They start with one row of
    // zeros, sliced off after the loop: LiteRT refuses an empty tensor as a WHILE input
    // ("lacks data").
    let acc_at = init.len();
    for (j, (dtype, dims)) in scans.iter().enumerate() {
        let mut shape = vec![1];
        shape.extend(dims);
        init.push(zeros(
            b,
            &format!("{node_name}/scan{j}_seed"),
            *dtype,
            shape,
        )?);
    }
    let cap_at = init.len();
    init.extend(caps.passed.iter().map(|&(_, t)| t));
    let mut slots: Vec<Slot> = init.iter().map(|&t| Slot::of(b, t)).collect();
    // A carried value may change shape between iterations: the subgraphs take the
    // loop output's (merged) shape.
    for k in 0..n_carried {
        if let Some(s) = b.shape_of(ValueRef::new(id, k)) {
            slots[v_at + k].shape = s;
        }
    }
    for j in 0..n_scan {
        slots[acc_at + j].shape[0] = -1;
    }

    let mut bind = vec![0, cond_at];
    bind.extend(v_at..acc_at);
    let binding = Binding {
        slots: &slots,
        bind: &bind,
        caps: &caps,
        cap_slot0: cap_at,
    };
    let body_index = nested(
        lowering,
        body,
        format!("{node_name}/body"),
        &binding,
        |inner, ins| {
            let outs: Vec<usize> = inner
                .graph_output_tensors()?
                .into_iter()
                .map(|o| o.1)
                .collect();
            let b = &mut inner.model;
            let one = scalar(b, "one", DType::I64, 1i64.to_le_bytes().to_vec())?;
            let next = b.add_tensor(
                format!("{node_name}/iter_next"),
                DType::I64,
                Vec::new(),
                None,
                None,
            )?;
            b.emit(
                BuiltinOperator::ADD,
                ADD_I64_VERSION,
                &[Some(ins[0]), Some(one)],
                &[next],
                None,
            );
            let mut list = vec![next];
            list.extend(ins[1..cond_at].iter().copied());
            list.extend(&outs[..1 + n_carried]);
            for (j, (dtype, dims)) in scans.iter().enumerate() {
                let mut row = vec![1];
                row.extend(dims);
                let mut grown = row.clone();
                grown[0] = -1;
                let b = &mut inner.model;
                let r = b.add_tensor(
                    format!("{node_name}/scan{j}_row"),
                    *dtype,
                    row.clone(),
                    None,
                    None,
                )?;
                let t = b.add_tensor(
                    format!("{node_name}/scan{j}_stacked"),
                    *dtype,
                    grown,
                    None,
                    None,
                )?;
                super::shape::reshape(inner, outs[1 + n_carried + j], r, &row)?;
                let o = fb::ConcatenationOptions::create(
                    &mut inner.model.fbb,
                    &fb::ConcatenationOptionsArgs {
                        axis: 0,
                        fused_activation_function: fb::ActivationFunctionType::NONE,
                    },
                )
                .as_union_value();
                inner.model.emit(
                    BuiltinOperator::CONCATENATION,
                    1,
                    &[Some(ins[acc_at + j]), Some(r)],
                    &[t],
                    Some((BuiltinOptions::ConcatenationOptions, o)),
                );
                list.push(t);
            }
            list.extend(ins[cap_at..].iter().copied());
            Ok(list)
        },
    )?;
    let cond_index = condition(lowering, body, &node_name, &slots, trip.is_some(), cond_at)?;

    let mut outs = Vec::with_capacity(init.len());
    for (k, s) in slots.iter().enumerate() {
        if (v_at..acc_at).contains(&k) {
            outs.push(lowering.output(k - v_at)?);
        } else {
            let t = lowering.model.add_tensor(
                format!("{node_name}/out{k}"),
                s.dtype,
                s.shape.clone(),
                None,
                None,
            )?;
            outs.push(t);
        }
    }
    let inputs: Vec<Option<usize>> = init.iter().map(|&t| Some(t)).collect();
    let o = fb::WhileOptions::create(
        &mut lowering.model.fbb,
        &fb::WhileOptionsArgs {
            cond_subgraph_index: cond_index,
            body_subgraph_index: body_index,
        },
    );
    lowering.model.emit(
        BuiltinOperator::WHILE,
        1,
        &inputs,
        &outs,
        Some((BuiltinOptions::WhileOptions, o.as_union_value())),
    );
    // The stacked scan outputs without their seed row.
    for (j, (_, dims)) in scans.iter().enumerate() {
        let y = lowering.output(n_carried + j)?;
        let rank = dims.len() + 1;
        let mut begin = vec![0; rank];
        begin[0] = 1;
        let b = &mut lowering.model;
        let begin = b.const_i32("begin", &begin, vec![rank as i64])?;
        let size = b.const_i32("size", &vec![-1; rank], vec![rank as i64])?;
        b.emit(
            BuiltinOperator::SLICE,
            1,
            &[Some(outs[acc_at + j]), Some(begin), Some(size)],
            &[y],
            None,
        );
    }
    Ok(())
}

/// The WHILE condition subgraph: `iter < M and cond`, or `cond` alone without a trip count.
fn condition<'g>(
    lowering: &mut Lower<'g>,
    body: &'g Graph,
    node_name: &str,
    slots: &[Slot],
    has_trip: bool,
    cond_at: usize,
) -> Result<i32, TfliteError> {
    // The condition is no IR graph: it is built from operators directly (`body` only
    // stands in as the graph the builder names values from).
    let enclosing = lowering.model.enter(body);
    let b = &mut lowering.model;
    let mut made = || -> Result<Io, TfliteError> {
        let mut inputs = Vec::with_capacity(slots.len());
        for s in slots {
            inputs.push(b.add_tensor(
                s.name.clone(),
                s.dtype,
                s.shape.clone(),
                None,
                s.quant.clone(),
            )?);
        }
        if !has_trip {
            return Ok((inputs.clone(), vec![inputs[cond_at]]));
        }
        let below = b.add_tensor(
            format!("{node_name}/below_trip_count"),
            DType::Bool,
            Vec::new(),
            None,
            None,
        )?;
        b.emit(
            BuiltinOperator::LESS,
            1,
            &[Some(inputs[0]), Some(inputs[1])],
            &[below],
            None,
        );
        let shape = slots[cond_at].shape.clone();
        let go = b.add_tensor(
            format!("{node_name}/continue"),
            DType::Bool,
            shape,
            None,
            None,
        )?;
        b.emit(
            BuiltinOperator::LOGICAL_AND,
            1,
            &[Some(below), Some(inputs[cond_at])],
            &[go],
            None,
        );
        Ok((inputs, vec![go]))
    };
    let made = made();
    let name = format!("{node_name}/cond");
    match made {
        Ok((ins, outs)) => Ok(lowering.model.leave(enclosing, name, &ins, &outs)),
        Err(e) => {
            lowering.model.leave(enclosing, name, &[], &[]);
            lowering.model.subgraphs.pop();
            Err(e)
        }
    }
}
