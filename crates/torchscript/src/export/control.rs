//! Control flow: ONNX If as a TorchScript `if bool(cond):` / `else:` whose branches are
//! translated like the main graph (values of the enclosing graph they read are bound to
//! its names) and both assign the If's outputs; Loop as a `while` loop. Scan is not
//! exported.

use modelc_ir::{Attr, Graph, NodeId, Op, ValueRef};

use super::emit::{Emitter, Info};
use super::emit_nodes;

pub(crate) fn emit_if(
    e: &mut Emitter<'_>,
    id: NodeId,
    errors: &mut Vec<String>,
) -> Result<(), String> {
    let g = e.g;
    let node = g.node(id);
    let branch = |name: &str| match node.attrs.get(name) {
        Some(Attr::Graph(b)) => Ok(b.as_ref()),
        _ => Err(format!("the {name} is missing")),
    };
    let (then_g, else_g) = (branch("then_branch")?, branch("else_branch")?);
    let n = node.outputs.len();
    if then_g.outputs().len() != n || else_g.outputs().len() != n {
        return Err("a branch's outputs do not match the If's".into());
    }
    let cond = e.tensor(id, 0)?;
    let outs: Vec<String> = node
        .outputs
        .iter()
        .map(|o| {
            if o.is_absent() {
                "t".to_string()
            } else {
                o.name.clone()
            }
        })
        .map(|h| e.fresh(&h))
        .collect();
    let mut infos = vec![Info::default(); n];
    let mut lines = vec![format!("if bool({cond}):")];
    for (label, sub) in [("then_branch", then_g), ("else_branch", else_g)] {
        if label == "else_branch" {
            lines.push("else:".into());
        }
        let (body, branch_infos) = emit_branch(e, id, sub, &outs, label, errors)?;
        lines.extend(body.into_iter().map(|l| format!("  {l}")));
        // What holds for both branches is known of the If's outputs (scripted code picks
        // a branch by a run-time shape, e.g. squeezing a last axis of size 1 or not).
        if label == "then_branch" {
            infos = branch_infos;
        } else {
            for (known, other) in infos.iter_mut().zip(branch_infos) {
                if known.rank != other.rank {
                    known.rank = None;
                }
                if known.dtype != other.dtype {
                    known.dtype = None;
                }
            }
        }
    }
    e.lines.extend(lines);
    for (slot, name) in outs.into_iter().enumerate() {
        e.bind(ValueRef::new(id, slot), name);
        e.set_info(ValueRef::new(id, slot), infos[slot]);
    }
    Ok(())
}

/// The lines of one branch, ending with the assignments of the If's outputs, and what is
/// known about those outputs.
fn emit_branch<'g>(
    e: &mut Emitter<'g>,
    id: NodeId,
    sub: &'g Graph,
    outs: &[String],
    label: &str,
    errors: &mut Vec<String>,
) -> Result<(Vec<String>, Vec<Info>), String> {
    let (mut body, exprs, infos) = emit_subgraph(e, id, sub, &[], label, errors)?;
    for (out, expr) in outs.iter().zip(exprs) {
        body.push(format!("{out} = {expr}"));
    }
    Ok((body, infos))
}

/// A translated sub-graph: its lines, its outputs' expressions, what is known of them.
type Translated = (Vec<String>, Vec<String>, Vec<Info>);

/// Translates sub-graph `sub` of node `id`: its inputs bound to `inputs`, the enclosing
/// graph's values it reads bound to their names there. Returns its lines, the
/// expressions of its outputs and what is known about them.
fn emit_subgraph<'g>(
    e: &mut Emitter<'g>,
    id: NodeId,
    sub: &'g Graph,
    inputs: &[(String, Info)],
    label: &str,
    errors: &mut Vec<String>,
) -> Result<Translated, String> {
    let g = e.g;
    if sub.inputs().len() != inputs.len() {
        return Err(format!(
            "{label} has {} inputs, expected {}",
            sub.inputs().len(),
            inputs.len()
        ));
    }
    // Outer values: the enclosing graph's captures of this node, by name. Resolved before
    // the child exists, so buffers they create are known to it.
    let captures = g.captures_of(id);
    let mut outer = Vec::new();
    for cid in sub.node_ids() {
        if !matches!(sub.node(cid).op, Op::Outer) {
            continue;
        }
        let name = sub
            .node(cid)
            .outputs
            .first()
            .map_or("", |o| o.name.as_str());
        let v = captures
            .iter()
            .copied()
            .find(|&v| g.value(v).is_some_and(|x| x.name == name))
            .ok_or_else(|| format!("{label} reads `{name}`, which the node does not capture"))?;
        // Named (and made a buffer if it is a constant) before the child exists, so the
        // child knows the buffer's name is taken.
        e.value(v)?;
        outer.push((cid, v));
    }
    let mut child = e.child(sub);
    for (inner, v) in outer {
        child.bind_outer(inner, e, v)?;
    }
    for (&input, (expr, info)) in sub.inputs().iter().zip(inputs) {
        child.bind(ValueRef::new(input, 0), expr.clone());
        child.set_info(ValueRef::new(input, 0), *info);
    }
    let order = sub.topo_order().map_err(|x| x.to_string())?;
    let mut inner_errors = Vec::new();
    emit_nodes(&mut child, &order, &mut inner_errors);
    errors.extend(inner_errors.into_iter().map(|m| format!("{label}: {m}")));
    let mut exprs = Vec::new();
    let mut infos = Vec::new();
    for &v in sub.outputs() {
        exprs.push(child.value(v)?);
        infos.push(child.info(v));
    }
    let body = std::mem::take(&mut child.lines);
    e.absorb(child);
    Ok((body, exprs, infos))
}

/// ONNX Loop as a TorchScript `while` over the trip count and the condition: carried
/// values are reassigned each iteration (through temporaries, since a body output may be
/// another carried value), scan outputs are appended to lists and stacked at the end.
pub(crate) fn emit_loop(
    e: &mut Emitter<'_>,
    id: NodeId,
    errors: &mut Vec<String>,
) -> Result<(), String> {
    let g = e.g;
    let node = g.node(id);
    let Some(Attr::Graph(body_g)) = node.attrs.get("body") else {
        return Err("the body is missing".into());
    };
    let body_g: &Graph = body_g.as_ref();
    let carried = node.num_inputs.saturating_sub(2);
    let n_scan = node
        .outputs
        .len()
        .checked_sub(carried)
        .ok_or("fewer outputs than carried values")?;
    if body_g.outputs().len() != 1 + carried + n_scan {
        return Err("the body's outputs do not match the Loop's".into());
    }
    let trip = match e.input(id, 0) {
        Some(_) => Some(format!("int({})", e.tensor(id, 0)?)),
        None => None,
    };
    let cond0 = match e.input(id, 1) {
        Some(_) => format!("bool({})", e.tensor(id, 1)?),
        None => "True".into(),
    };
    let hint = |slot: usize| {
        let o = &node.outputs[slot];
        if o.is_absent() {
            "t".to_string()
        } else {
            o.name.clone()
        }
    };
    let i = e.fresh("i");
    let c = e.fresh("cond");
    let mut lines = vec![format!("{i} = 0"), format!("{c} = {cond0}")];
    let mut vars = Vec::new();
    let mut inputs = vec![
        (
            // `full` rather than `tensor`: the same 0-D tensor, in a form modelc's reader
            // also takes.
            format!("torch.full(annotate(List[int], []), {i}, dtype=4)"),
            Info {
                rank: Some(0),
                dtype: Some(modelc_ir::DType::I64),
            },
        ),
        (
            format!("torch.full(annotate(List[int], []), int({c}), dtype=11)"),
            Info {
                rank: Some(0),
                dtype: Some(modelc_ir::DType::Bool),
            },
        ),
    ];
    for k in 0..carried {
        let init = e.tensor(id, 2 + k)?;
        let info = e.input_info(id, 2 + k);
        let v = e.fresh(&hint(k));
        lines.push(format!("{v} = {init}"));
        inputs.push((v.clone(), info));
        vars.push(v);
    }
    let lists: Vec<String> = (0..n_scan)
        .map(|k| e.fresh(&format!("{}_items", hint(carried + k))))
        .collect();
    for l in &lists {
        lines.push(format!("{l} = annotate(List[Tensor], [])"));
    }
    lines.push(match &trip {
        Some(m) => format!("while {c} and {i} < {m}:"),
        None => format!("while {c}:"),
    });
    let cond_in = inputs[1].0.clone();
    let (body, exprs, infos) = emit_subgraph(e, id, body_g, &inputs, "body", errors)?;
    let mut inner = body;
    // A body passing its condition through leaves it as it is.
    if exprs[0] != cond_in {
        inner.push(format!("{c} = bool({})", exprs[0]));
    }
    let temps: Vec<String> = (0..carried)
        .map(|k| e.fresh(&format!("{}_next", hint(k))))
        .collect();
    for k in 0..carried {
        inner.push(format!("{} = {}", temps[k], exprs[1 + k]));
    }
    for k in 0..carried {
        inner.push(format!("{} = {}", vars[k], temps[k]));
    }
    for (k, l) in lists.iter().enumerate() {
        inner.push(format!("{l}.append({})", exprs[1 + carried + k]));
    }
    inner.push(format!("{i} = {i} + 1"));
    lines.extend(inner.into_iter().map(|l| format!("  {l}")));
    let mut outs = vars.clone();
    for (k, l) in lists.iter().enumerate() {
        let s = e.fresh(&hint(carried + k));
        lines.push(format!("{s} = torch.stack({l})"));
        outs.push(s);
    }
    e.lines.extend(lines);
    for (slot, name) in outs.into_iter().enumerate() {
        let mut info = infos.get(1 + slot).copied().unwrap_or_default();
        if slot >= carried {
            info.rank = info.rank.map(|r| r + 1);
        }
        e.bind(ValueRef::new(id, slot), name);
        e.set_info(ValueRef::new(id, slot), info);
    }
    Ok(())
}
