//! Control flow: ONNX If as a TorchScript `if bool(cond):` / `else:` whose branches are
//! translated like the main graph (values of the enclosing graph they read are bound to
//! its names) and both assign the If's outputs. Loop and Scan are not exported.

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
        if label == "then_branch" {
            infos = branch_infos;
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
    let g = e.g;
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
            .ok_or_else(|| format!("{label} reads `{name}`, which the If does not capture"))?;
        outer.push((ValueRef::new(cid, 0), e.value(v)?, e.info(v)));
    }
    let mut child = e.child(sub);
    for (inner, expr, info) in outer {
        child.bind(inner, expr);
        child.set_info(inner, info);
    }
    let order = sub.topo_order().map_err(|x| x.to_string())?;
    let mut inner_errors = Vec::new();
    emit_nodes(&mut child, &order, &mut inner_errors);
    errors.extend(inner_errors.into_iter().map(|m| format!("{label}: {m}")));
    let mut infos = Vec::new();
    for (i, &v) in sub.outputs().iter().enumerate() {
        let expr = child.value(v)?;
        infos.push(child.info(v));
        child.lines.push(format!("{} = {expr}", outs[i]));
    }
    let body = std::mem::take(&mut child.lines);
    e.absorb(child);
    Ok((body, infos))
}
