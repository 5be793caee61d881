//! Control flow: TFLite `IF` → ONNX `If`, TFLite `WHILE` → ONNX `Loop`.
//!
//! A TFLite subgraph is closed: it sees only the tensors its operator passes. An ONNX
//! sub-graph has no inputs of its own for `If` and reads enclosing values by name, so an IF
//! branch becomes a graph whose inputs are outer-scope references to the IF's inputs (the
//! `If` node captures them).
//!
//! `WHILE(v...)` runs `cond(v)` before every iteration and `body(v)` while it holds. ONNX's
//! `Loop` checks its condition after the body, so the condition subgraph is imported twice:
//! once in the enclosing graph on the initial values (the loop's initial condition) and
//! once in the loop body on the body's results (the condition the body hands on). The loop
//! has no trip count; every WHILE tensor is a carried value.

use modelc_ir::{
    Attr, DType, Graph, Node, NodeId, OnnxOp, Op, TypeInfo, Value, ValueRef, ValueType,
};

use super::context::{Ctx, OpIn};
use crate::fb;
use crate::TfliteError;

/// Subgraphs nest at most this deep (a file may make them refer to each other in a cycle).
const MAX_DEPTH: usize = 32;

/// The subgraph `index` of the model, checked.
fn subgraph<'a>(cx: &Ctx<'a>, op: &OpIn, index: i32) -> Result<fb::SubGraph<'a>, TfliteError> {
    let subgraphs = cx.model().subgraphs().unwrap_or_default();
    if cx.depth() >= MAX_DEPTH {
        return Err(TfliteError::invalid(
            op.label(),
            format!("subgraphs nest deeper than {MAX_DEPTH}"),
        ));
    }
    usize::try_from(index)
        .ok()
        .filter(|&i| i > 0 && i < subgraphs.len())
        .map(|i| subgraphs.get(i))
        .ok_or_else(|| {
            TfliteError::invalid(
                op.label(),
                format!(
                    "subgraph index {index} names no nested subgraph (the model has {}; 0 is \
                     the main one)",
                    subgraphs.len()
                ),
            )
        })
}

/// Imports subgraph `sg` into graph `g` with its inputs bound to `inputs`; returns the graph
/// and the values of the subgraph's outputs.
fn run_subgraph<'a>(
    cx: &mut Ctx<'a>,
    op: &OpIn,
    sg: fb::SubGraph<'a>,
    g: Graph,
    inputs: &[ValueRef],
) -> Result<(Graph, Vec<ValueRef>), TfliteError> {
    let mut sub = cx.nested(sg, g)?;
    let result = (|| {
        let ins: Vec<i32> = sg.inputs().into_iter().flatten().collect();
        if ins.len() != inputs.len() {
            return Err(TfliteError::invalid(
                op.label(),
                format!(
                    "passes {} tensors to a subgraph with {} inputs",
                    inputs.len(),
                    ins.len()
                ),
            ));
        }
        for (&t, &v) in ins.iter().zip(inputs) {
            let t = sub.tensor_index(t, "subgraph input")?;
            let info = sub.info(t);
            if info.quant.is_some() && !info.dtype.is_float() {
                return Err(TfliteError::Unsupported(format!(
                    "{}: subgraph input `{}` is quantized; quantized control flow is not \
                     supported",
                    op.label(),
                    info.name
                )));
            }
            sub.bind(t, v);
        }
        if let Some(ops) = sg.operators() {
            for (i, raw) in ops.iter().enumerate() {
                let o = sub.operator(i, raw)?;
                super::import_op(&mut sub, &o)?;
            }
        }
        let mut outs = Vec::new();
        for t in sg.outputs().into_iter().flatten() {
            let t = sub.tensor_index(t, "subgraph output")?;
            outs.push(sub.view(t)?);
        }
        Ok(outs)
    })();
    let g = cx.end_nested(sub);
    Ok((g, result?))
}

/// Outputs of a sub-graph that are not computed in it (its inputs, outer values) or that
/// repeat get an Identity of their own: an ONNX graph output is a value the graph defines.
fn own_outputs(g: &mut Graph, cx: &mut Ctx, outs: Vec<ValueRef>) -> Vec<ValueRef> {
    let mut seen = std::collections::HashSet::new();
    let mut result = Vec::with_capacity(outs.len());
    for v in outs {
        let passed = matches!(
            g.node(v.node).op,
            Op::Input { .. } | Op::Outer | Op::Const(_)
        );
        if passed || !seen.insert(v) {
            let name = cx.unique("passed");
            let ty = g.value(v).and_then(|x| x.ty.clone());
            let id = g.add_node(
                Node::new(
                    Op::Onnx(OnnxOp::Identity),
                    1,
                    vec![Value {
                        name: name.clone(),
                        ty,
                        ..Value::default()
                    }],
                )
                .with_name(name),
            );
            g.connect(v, id, 0);
            result.push(ValueRef::new(id, 0));
        } else {
            result.push(v);
        }
    }
    result
}

fn value_type(cx: &Ctx, v: ValueRef) -> Option<TypeInfo> {
    cx.graph().value(v).and_then(|x| x.ty.as_deref().cloned())
}

/// The value `v` as a bool (TFLite conditions may be numbers: non-zero is true).
fn as_bool(cx: &mut Ctx, v: ValueRef) -> ValueRef {
    if cx.graph().dtype_of(v) == Some(DType::Bool) {
        return v;
    }
    cx.op(
        OnnxOp::Cast,
        &[Some(v)],
        vec![("to", Attr::Int(DType::Bool.onnx_code() as i64))],
    )
}

/// `IF(cond, x...)` → `If(cond)` whose branches read `x...` from the enclosing graph.
pub(super) fn if_op(cx: &mut Ctx, op: &OpIn) -> Result<bool, TfliteError> {
    let Some(o) = op.raw.builtin_options_as_if_options() else {
        return Err(TfliteError::invalid(op.label(), "has no IfOptions"));
    };
    let cond = cx.req(op, 0)?;
    let mut passed = Vec::new();
    for i in 1..op.inputs.len() {
        passed.push(cx.req(op, i)?);
    }
    let mut branches = Vec::with_capacity(2);
    for (index, name) in [
        (o.then_subgraph_index(), "then"),
        (o.else_subgraph_index(), "else"),
    ] {
        let sg = subgraph(cx, op, index)?;
        let gname = cx.unique(&format!("{}/{name}", op_name(cx, op)));
        let mut g = Graph::new(gname);
        // One outer-scope reference per distinct value the IF passes.
        let mut refs: Vec<(ValueRef, ValueRef)> = Vec::new();
        let mut inputs = Vec::with_capacity(passed.len());
        for &v in &passed {
            let r = match refs.iter().find(|(o, _)| *o == v) {
                Some(&(_, r)) => r,
                None => {
                    let name = cx
                        .graph()
                        .value(v)
                        .map(|x| x.name.clone())
                        .unwrap_or_default();
                    let ty = value_type(cx, v);
                    let id = g.add_node(Node::new(
                        Op::Outer,
                        0,
                        vec![Value {
                            name,
                            ty: ty.map(std::sync::Arc::new),
                            ..Value::default()
                        }],
                    ));
                    refs.push((v, ValueRef::new(id, 0)));
                    ValueRef::new(id, 0)
                }
            };
            inputs.push(r);
        }
        let (mut g, outs) = run_subgraph(cx, op, sg, g, &inputs)?;
        let outs = own_outputs(&mut g, cx, outs);
        g.set_outputs(outs);
        branches.push(g);
    }
    let else_branch = branches.pop().expect("two branches");
    let then_branch = branches.pop().expect("two branches");
    let cond = as_bool(cx, cond);
    let id = cx.node(
        Op::Onnx(OnnxOp::If),
        &[Some(cond)],
        vec![
            ("then_branch", Attr::Graph(Box::new(then_branch))),
            ("else_branch", Attr::Graph(Box::new(else_branch))),
        ],
        op.outputs.len(),
    );
    capture(cx.graph_mut(), id, &passed);
    define_outputs(cx, op, id)
}

/// Connects the distinct `values` as captures of `id` (after its explicit inputs).
fn capture(g: &mut Graph, id: NodeId, values: &[ValueRef]) {
    let n = g.node(id).num_inputs;
    let mut seen = Vec::new();
    for &v in values {
        if !seen.contains(&v) {
            seen.push(v);
        }
    }
    g.connect_inputs(id, seen.into_iter().enumerate().map(|(k, v)| (n + k, v)));
}

fn define_outputs(cx: &mut Ctx, op: &OpIn, id: NodeId) -> Result<bool, TfliteError> {
    for (k, &t) in op.outputs.iter().enumerate() {
        let info = cx.info(t);
        if info.quant.is_some() && !info.dtype.is_float() {
            return Err(TfliteError::Unsupported(format!(
                "{}: output `{}` is quantized; quantized control flow is not supported",
                op.label(),
                info.name
            )));
        }
        cx.define(t, ValueRef::new(id, k))?;
    }
    Ok(true)
}

fn op_name(cx: &Ctx, op: &OpIn) -> String {
    match op.outputs.first() {
        Some(&t) if !cx.info(t).name.is_empty() => cx.info(t).name.clone(),
        _ => format!("op{}", op.index),
    }
}

/// `WHILE(v...)` → `Loop("", cond(v), v...)` (see the module doc).
pub(super) fn while_op(cx: &mut Ctx, op: &OpIn) -> Result<bool, TfliteError> {
    let Some(o) = op.raw.builtin_options_as_while_options() else {
        return Err(TfliteError::invalid(op.label(), "has no WhileOptions"));
    };
    let cond_sg = subgraph(cx, op, o.cond_subgraph_index())?;
    let body_sg = subgraph(cx, op, o.body_subgraph_index())?;
    let mut init = Vec::with_capacity(op.inputs.len());
    for i in 0..op.inputs.len() {
        init.push(cx.req(op, i)?);
    }
    if op.outputs.len() != init.len() {
        return Err(TfliteError::invalid(
            op.label(),
            format!("has {} inputs but {} outputs", init.len(), op.outputs.len()),
        ));
    }
    let base = op_name(cx, op);

    // The condition on the initial values, in the enclosing graph.
    let enclosing = std::mem::take(cx.graph_mut());
    // (On an error the import stops: the taken graph is not needed back.)
    let (enclosing, c0) = run_subgraph(cx, op, cond_sg, enclosing, &init)?;
    *cx.graph_mut() = enclosing;
    let [c0] = c0.as_slice() else {
        return Err(TfliteError::invalid(
            op.label(),
            "the condition subgraph must have one output",
        ));
    };
    let c0 = as_bool(cx, *c0);

    // The body: v' = body(v); cond' = cond(v').
    let mut body = Graph::new(cx.unique(&format!("{base}/body")));
    let scalar = |d| Some(TypeInfo::from(ValueType::tensor(d, &[])));
    let iter_name = cx.unique(&format!("{base}/iteration"));
    body.add_input(Value {
        name: iter_name,
        ty: scalar(DType::I64).map(std::sync::Arc::new),
        ..Value::default()
    });
    let cond_name = cx.unique(&format!("{base}/cond_in"));
    body.add_input(Value {
        name: cond_name,
        ty: scalar(DType::Bool).map(std::sync::Arc::new),
        ..Value::default()
    });
    let mut carried = Vec::with_capacity(init.len());
    for &v in &init {
        let name = cx
            .graph()
            .value(v)
            .map(|x| x.name.clone())
            .unwrap_or_default();
        let name = cx.unique(&format!("{name}/carried"));
        let ty = value_type(cx, v).map(loosen);
        carried.push(ValueRef::new(
            body.add_input(Value {
                name,
                ty: ty.map(std::sync::Arc::new),
                ..Value::default()
            }),
            0,
        ));
    }
    let (body, next) = run_subgraph(cx, op, body_sg, body, &carried)?;
    let (mut body, c1) = run_subgraph(cx, op, cond_sg, body, &next)?;
    let [c1] = c1.as_slice() else {
        return Err(TfliteError::invalid(
            op.label(),
            "the condition subgraph must have one output",
        ));
    };
    let c1 = *c1;
    let c1 = if body.dtype_of(c1) == Some(DType::Bool) {
        c1
    } else {
        let name = cx.unique(&format!("{base}/cond_out"));
        let id = body.add_node(
            Node::new(Op::Onnx(OnnxOp::Cast), 1, vec![Value::named(name.clone())])
                .with_name(name)
                .with_attrs(
                    [("to".to_string(), Attr::Int(DType::Bool.onnx_code() as i64))]
                        .into_iter()
                        .collect(),
                ),
        );
        body.connect(c1, id, 0);
        ValueRef::new(id, 0)
    };
    let mut outs = vec![c1];
    outs.extend(next);
    let outs = own_outputs(&mut body, cx, outs);
    body.set_outputs(outs);

    let mut inputs = vec![None, Some(c0)];
    inputs.extend(init.iter().map(|&v| Some(v)));
    let id = cx.node(
        Op::Onnx(OnnxOp::Loop),
        &inputs,
        vec![("body", Attr::Graph(Box::new(body)))],
        op.outputs.len(),
    );
    define_outputs(cx, op, id)
}

/// A carried value's type with its dimensions left unknown: a WHILE body may change the
/// shape of what it carries (shape inference merges what it can).
fn loosen(mut t: TypeInfo) -> TypeInfo {
    if let ValueType::Tensor(tt) = &mut t.ty {
        if let Some(s) = &mut tt.shape {
            for d in &mut s.0 {
                *d = modelc_ir::Dim::Unknown;
            }
        }
    }
    t
}
