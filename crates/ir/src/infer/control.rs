//! Control flow: If (both branches inferred, outputs merged), Loop (body inputs typed from
//! the trip count, condition and initial carried values; a carried value whose shape changes
//! across iterations gets the merge of both), Scan (opset 9+: state variables and scan
//! slices). Other ops with sub-graphs (SequenceMap, ...) are left untyped.

use crate::{Attr, DType, Dim, NodeId, OnnxOp, Shape, TensorType, TypeInfo, ValueRef, ValueType};

use super::dims::{axis, merge_dims, refine};
use super::graph::{infer_in, InferReport, OuterMap, Walk};
use super::Outputs;

pub(super) fn infer(
    w: &mut Walk<'_>,
    id: NodeId,
    op: OnnxOp,
    outer: &OuterMap,
    report: &mut InferReport,
) {
    let inner_outer = w.outer_for(id, outer);
    let node = w.g.node(id);
    let mut attrs = node.attrs.clone();
    let input_types: Vec<Option<ValueType>> =
        w.g.inputs_of(id)
            .into_iter()
            .map(|v| v.and_then(|v| w.ty_of(v).cloned()))
            .collect();
    let mut out = Outputs::new(node.outputs.len());
    match op {
        OnnxOp::If => {
            let mut branches = Vec::new();
            for e in attrs.0.iter_mut() {
                if e.name == "then_branch" || e.name == "else_branch" {
                    if let Attr::Graph(sub) = &mut e.value {
                        branches.push(infer_in(sub, w.opsets, &inner_outer, w.depth + 1, report));
                    }
                }
            }
            if let [a, b] = branches.as_slice() {
                for (i, (x, y)) in a.iter().zip(b).enumerate() {
                    if let (Some(x), Some(y)) = (x, y) {
                        out.set_type(i, merge_dims(x, y));
                    }
                }
            }
        }
        OnnxOp::Loop => {
            if let Some(e) = attrs.0.iter_mut().find(|e| e.name == "body") {
                if let Attr::Graph(body) = &mut e.value {
                    let scalar = |d| Some(ValueType::tensor(d, &[]));
                    let mut body_in: Vec<Option<ValueType>> =
                        vec![scalar(DType::I64), scalar(DType::Bool)];
                    body_in.extend(input_types.iter().skip(2).cloned());
                    let n_carried = body_in.len() - 2;
                    // Try the initial types; if an iteration changes a carried shape, use
                    // the merge of before and after.
                    let mut trial = (**body).clone();
                    set_inputs(&mut trial, &body_in);
                    let outs = infer_in(
                        &mut trial,
                        w.opsets,
                        &inner_outer,
                        w.depth + 1,
                        &mut InferReport::default(),
                    );
                    for k in 0..n_carried {
                        if let (Some(a), Some(Some(b))) = (&body_in[2 + k], outs.get(1 + k)) {
                            body_in[2 + k] = Some(merge_dims(a, b));
                        }
                    }
                    set_inputs(body, &body_in);
                    let outs = infer_in(body, w.opsets, &inner_outer, w.depth + 1, report);
                    for k in 0..n_carried {
                        if let Some(t) = outs.get(1 + k).cloned().flatten() {
                            let t = match &body_in[2 + k] {
                                Some(i) => merge_dims(i, &t),
                                None => t,
                            };
                            out.set_type(k, t);
                        }
                    }
                    for (j, t) in outs.iter().skip(1 + n_carried).enumerate() {
                        if let Some(t) = t {
                            out.set_type(n_carried + j, stack(t, 0, Dim::Unknown));
                        }
                    }
                }
            }
        }
        OnnxOp::Scan if w.opset("") >= 9 => {
            let m = node.attrs.int("num_scan_inputs", 0).unwrap_or(0).max(0) as usize;
            let n = input_types.len().saturating_sub(m);
            let in_axes = node
                .attrs
                .ints("scan_input_axes", vec![])
                .unwrap_or_default();
            let out_axes = node
                .attrs
                .ints("scan_output_axes", vec![])
                .unwrap_or_default();
            let mut body_in: Vec<Option<ValueType>> = input_types[..n].to_vec();
            let mut seq_len = Dim::Unknown;
            for (j, t) in input_types[n..].iter().enumerate() {
                let a = in_axes.get(j).copied().unwrap_or(0);
                body_in.push(t.as_ref().and_then(|t| {
                    let ValueType::Tensor(tt) = t else {
                        return None;
                    };
                    let s = tt.shape.as_ref()?;
                    let a = axis(a, s.rank()).ok()?;
                    if j == 0 {
                        seq_len = s.0[a].clone();
                    }
                    let mut d = s.0.clone();
                    d.remove(a);
                    Some(ValueType::Tensor(TensorType {
                        dtype: tt.dtype,
                        shape: Some(Shape(d)),
                    }))
                }));
            }
            if let Some(e) = attrs.0.iter_mut().find(|e| e.name == "body") {
                if let Attr::Graph(body) = &mut e.value {
                    set_inputs(body, &body_in);
                    let outs = infer_in(body, w.opsets, &inner_outer, w.depth + 1, report);
                    for (k, t) in outs.iter().enumerate() {
                        let Some(t) = t else { continue };
                        if k < n {
                            out.set_type(k, t.clone());
                        } else {
                            let a = out_axes.get(k - n).copied().unwrap_or(0);
                            out.set_type(k, stack(t, a, seq_len.clone()));
                        }
                    }
                }
            }
        }
        _ => return,
    }
    w.sub_updates.push((id, attrs));
    w.apply(id, out, report);
}

/// A per-iteration type with the iteration dim inserted at `axis` (negative counts from the
/// end of the result).
fn stack(t: &ValueType, a: i64, len: Dim) -> ValueType {
    match t {
        ValueType::Tensor(tt) => ValueType::Tensor(TensorType {
            dtype: tt.dtype,
            shape: tt.shape.as_ref().and_then(|s| {
                let a = axis(a, s.rank() + 1).ok()?;
                let mut d = s.0.clone();
                d.insert(a, len);
                Some(Shape(d))
            }),
        }),
        other => other.clone(),
    }
}

/// Refines a body's input types with `types` (by position).
fn set_inputs(body: &mut crate::Graph, types: &[Option<ValueType>]) {
    let ids: Vec<NodeId> = body.inputs().to_vec();
    for (id, ty) in ids.into_iter().zip(types) {
        let Some(ty) = ty else { continue };
        let Some(v) = body.value_mut(ValueRef::new(id, 0)) else {
            continue;
        };
        let new = match &v.ty {
            Some(d) => refine(&d.ty, ty).0,
            None => ty.clone(),
        };
        let denotation =
            v.ty.take()
                .map(|t| t.denotation.clone())
                .unwrap_or_default();
        v.ty = Some(std::sync::Arc::new(TypeInfo {
            ty: new,
            denotation,
        }));
    }
}
