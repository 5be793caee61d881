//! IR [`Model`] → ONNX `ModelProto`. Tensor bytes are shared with the IR (no copy): the
//! proto holds `Bytes` handles, and the writer streams them to the file.

use std::collections::HashSet;

use modelc_ir::{node_label, Attr, Function, Graph, Layout, Metadata, Model, Op, ValueRef};
use prost::Message;

use crate::proto;
use crate::tensor::{export_sparse, export_tensor};
use crate::types::export_type;
use crate::OnnxError;

/// Where a graph's nodes go as the exporter makes them, in order: a `Vec` for a whole
/// `ModelProto`, or the writer's [`crate::write::MainNodes`], which encodes each at once so
/// a node-heavy graph is never held twice (IR and protos) in memory.
pub(crate) trait NodeSink {
    fn reserve(&mut self, additional: usize);
    fn push(&mut self, node: proto::NodeProto);
}

impl NodeSink for Vec<proto::NodeProto> {
    fn reserve(&mut self, additional: usize) {
        // Exactly: a node-heavy graph doubling past its size would hold a third more.
        self.reserve_exact(additional);
    }
    fn push(&mut self, node: proto::NodeProto) {
        Vec::push(self, node);
    }
}

/// The whole model as a `ModelProto`.
pub(crate) fn export_model(m: &Model) -> Result<proto::ModelProto, OnnxError> {
    let mut nodes = Vec::new();
    let mut mp = export_model_with(m, &mut nodes)?;
    if let Some(gp) = mp.graph.as_mut() {
        gp.node = nodes;
    }
    Ok(mp)
}

/// The model as a `ModelProto` whose main graph has no nodes: they went to `nodes`.
pub(crate) fn export_model_with(
    m: &Model,
    nodes: &mut impl NodeSink,
) -> Result<proto::ModelProto, OnnxError> {
    crate::validate::check_types(m)?;
    let mut mp = proto::ModelProto {
        ir_version: Some(m.ir_version),
        opset_import: m
            .opset_imports
            .iter()
            .map(|o| proto::OperatorSetIdProto {
                domain: Some(o.domain.clone()),
                version: Some(o.version),
            })
            .collect(),
        producer_name: non_empty(&m.producer_name),
        producer_version: non_empty(&m.producer_version),
        domain: non_empty(&m.domain),
        model_version: (m.model_version != 0).then_some(m.model_version),
        doc_string: non_empty(&m.doc),
        graph: Some(export_graph_with(&m.graph, nodes)?),
        metadata_props: metadata(&modelc_ir::provenance::model_meta(&m.meta, &m.graph, true)),
        functions: m
            .functions
            .iter()
            .map(export_function)
            .collect::<Result<_, _>>()?,
        ..Default::default()
    };
    for (key, bytes) in &m.extra {
        match key.as_str() {
            "onnx.training_info" => mp.training_info.push(decode_extra(key, bytes)?),
            "onnx.configuration" => mp.configuration.push(decode_extra(key, bytes)?),
            other => {
                return Err(OnnxError::Unsupported(format!(
                    "model carries `{other}` data from another format"
                )))
            }
        }
    }
    Ok(mp)
}

fn decode_extra<M: Message + Default>(key: &str, bytes: &bytes::Bytes) -> Result<M, OnnxError> {
    M::decode(bytes.clone())
        .map_err(|e| OnnxError::invalid(format!("kept `{key}` data"), e.to_string()))
}

fn non_empty(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_string())
}

fn metadata(meta: &Metadata) -> Vec<proto::StringStringEntryProto> {
    meta.iter()
        .map(|(k, v)| proto::StringStringEntryProto {
            key: Some(k.clone()),
            value: Some(v.clone()),
        })
        .collect()
}

fn value_info(g: &Graph, v: ValueRef) -> proto::ValueInfoProto {
    let value = g.value(v).expect("graph refers to live values");
    proto::ValueInfoProto {
        name: Some(value.name.clone()),
        r#type: value.ty.as_deref().map(export_type),
        doc_string: non_empty(&value.doc),
        metadata_props: metadata(&value.meta),
    }
}

/// onnxruntime refuses a graph in which two nodes share a (non-empty) name; modelc names the
/// nodes it adds fresh, so only a source file can bring such names, and they are refused here,
/// all at once, rather than written into a file the runtime rejects.
fn refuse_repeated_node_names<'g>(
    g: &Graph,
    names: impl Iterator<Item = &'g str>,
) -> Result<(), OnnxError> {
    let mut seen = HashSet::new();
    let mut repeated = Vec::new();
    for name in names {
        if !name.is_empty() && !seen.insert(name) && !repeated.contains(&name) {
            repeated.push(name);
        }
    }
    if repeated.is_empty() {
        return Ok(());
    }
    Err(OnnxError::Unsupported(format!(
        "graph `{}`: more than one node is named {} (onnxruntime refuses repeated node names)",
        g.name,
        repeated
            .iter()
            .map(|n| format!("`{n}`"))
            .collect::<Vec<_>>()
            .join(", ")
    )))
}

pub(crate) fn export_graph(g: &Graph) -> Result<proto::GraphProto, OnnxError> {
    let mut nodes = Vec::new();
    let mut gp = export_graph_with(g, &mut nodes)?;
    gp.node = nodes;
    Ok(gp)
}

/// The graph as a `GraphProto` without nodes; they go to `nodes`, in order.
fn export_graph_with(g: &Graph, nodes: &mut impl NodeSink) -> Result<proto::GraphProto, OnnxError> {
    let order = g
        .topo_order()
        .map_err(|e| OnnxError::Unsupported(e.to_string()))?;
    let mut gp = proto::GraphProto {
        name: Some(g.name.clone()),
        doc_string: non_empty(&g.doc),
        metadata_props: metadata(&g.meta),
        ..Default::default()
    };
    nodes.reserve(order.len());
    let outputs: HashSet<ValueRef> = g.outputs().iter().copied().collect();
    for &id in g.inputs() {
        let v = ValueRef::new(id, 0);
        gp.input.push(value_info(g, v));
        if let Op::Input { default: Some(t) } = &g.node(id).op {
            gp.initializer
                .push(export_tensor(t, &g.node(id).outputs[0].name));
        }
    }
    for &id in &order {
        let node = g.node(id);
        match &node.op {
            Op::Input { .. } | Op::Outer => {}
            Op::Const(t) => {
                let mut tp = export_tensor(t, &node.outputs[0].name);
                tp.doc_string = non_empty(&node.doc);
                tp.metadata_props = metadata(&node.meta);
                gp.initializer.push(tp);
            }
            Op::SparseConst(s) => gp
                .sparse_initializer
                .push(export_sparse(s, &node.outputs[0].name)),
            Op::Onnx(_) | Op::Custom(_) => {
                nodes.push(export_node(g, id)?);
                for (slot, value) in node.outputs.iter().enumerate() {
                    let v = ValueRef::new(id, slot);
                    let annotated =
                        value.ty.is_some() || !value.doc.is_empty() || !value.meta.is_empty();
                    if !value.is_absent() && annotated && !outputs.contains(&v) {
                        gp.value_info.push(value_info(g, v));
                    }
                }
            }
        }
    }
    refuse_repeated_node_names(
        g,
        order
            .iter()
            .map(|&id| g.node(id))
            .filter(|n| matches!(n.op, Op::Onnx(_) | Op::Custom(_)))
            .map(|n| n.name.as_str()),
    )?;
    for &v in g.outputs() {
        gp.output.push(value_info(g, v));
    }
    for (key, bytes) in &g.extra {
        match key.as_str() {
            "onnx.value_info" => gp.value_info.push(decode_extra(key, bytes)?),
            "onnx.quantization_annotation" => {
                gp.quantization_annotation.push(decode_extra(key, bytes)?)
            }
            other => {
                return Err(OnnxError::Unsupported(format!(
                    "graph `{}` carries `{other}` data from another format",
                    g.name
                )))
            }
        }
    }
    Ok(gp)
}

fn export_node(g: &Graph, id: modelc_ir::NodeId) -> Result<proto::NodeProto, OnnxError> {
    let node = g.node(id);
    if node.layout == Some(Layout::Nhwc) {
        return Err(OnnxError::Unsupported(format!(
            "node {} uses NHWC layout, which ONNX cannot express; convert the graph to NCHW first",
            node_label(node)
        )));
    }
    let (domain, op_type) = match &node.op {
        Op::Onnx(op) => {
            let d = op.domain();
            (
                if d == "ai.onnx" {
                    String::new()
                } else {
                    d.to_string()
                },
                op.name().to_string(),
            )
        }
        Op::Custom(c) => (c.domain.clone(), c.name.clone()),
        _ => unreachable!("structural nodes are not exported as NodeProto"),
    };
    let input = g
        .inputs_of(id)
        .into_iter()
        .map(|v| {
            v.map_or_else(String::new, |v| {
                g.value(v).map_or_else(String::new, |x| x.name.clone())
            })
        })
        .collect();
    let mut np = proto::NodeProto {
        input,
        output: node.outputs.iter().map(|v| v.name.clone()).collect(),
        name: non_empty(&node.name),
        op_type: Some(op_type),
        domain: Some(domain),
        attribute: node
            .attrs
            .iter()
            .map(|e| export_attr(&e.name, &e.value, &e.doc))
            .collect::<Result<_, _>>()?,
        doc_string: non_empty(&node.doc),
        metadata_props: metadata(&node.meta),
        ..Default::default()
    };
    for (key, bytes) in &node.extra {
        match key.as_str() {
            "onnx.overload" => np.overload = Some(String::from_utf8_lossy(bytes).into_owned()),
            "onnx.device_configuration" => np.device_configurations.push(decode_extra(key, bytes)?),
            other => {
                return Err(OnnxError::Unsupported(format!(
                    "node {} carries `{other}` data from another format",
                    node_label(node)
                )))
            }
        }
    }
    Ok(np)
}

fn export_attr(name: &str, value: &Attr, doc: &str) -> Result<proto::AttributeProto, OnnxError> {
    let mut a = proto::AttributeProto {
        name: Some(name.to_string()),
        r#type: Some(value.kind().onnx_code()),
        doc_string: non_empty(doc),
        ..Default::default()
    };
    match value {
        Attr::Float(f) => a.f = Some(*f),
        Attr::Int(i) => a.i = Some(*i),
        Attr::String(s) => a.s = Some(s.clone()),
        Attr::Tensor(t) => a.t = Some(export_tensor(t, "")),
        Attr::Graph(g) => a.g = Some(export_graph(g)?),
        Attr::SparseTensor(s) => a.sparse_tensor = Some(export_sparse(s, "")),
        Attr::Type(t) => a.tp = Some(export_type(t)),
        Attr::Floats(v) => a.floats = v.clone(),
        Attr::Ints(v) => a.ints = v.clone(),
        Attr::Strings(v) => a.strings = v.clone(),
        Attr::Tensors(v) => a.tensors = v.iter().map(|t| export_tensor(t, "")).collect(),
        Attr::Graphs(v) => a.graphs = v.iter().map(export_graph).collect::<Result<_, _>>()?,
        Attr::SparseTensors(v) => {
            a.sparse_tensors = v.iter().map(|s| export_sparse(s, "")).collect()
        }
        Attr::Types(v) => a.type_protos = v.iter().map(export_type).collect(),
        Attr::Ref { name: r, kind } => {
            a.ref_attr_name = Some(r.clone());
            a.r#type = Some(kind.onnx_code());
        }
    }
    Ok(a)
}

fn export_function(f: &Function) -> Result<proto::FunctionProto, OnnxError> {
    let body = export_graph(&f.body)?;
    Ok(proto::FunctionProto {
        name: Some(f.name.clone()),
        input: body.input.iter().map(|i| i.name().to_string()).collect(),
        output: body.output.iter().map(|o| o.name().to_string()).collect(),
        attribute: f.attributes.clone(),
        attribute_proto: f
            .attribute_defaults
            .iter()
            .map(|(n, a)| export_attr(n, a, ""))
            .collect::<Result<_, _>>()?,
        node: body.node,
        doc_string: non_empty(&f.doc),
        opset_import: f
            .opset_imports
            .iter()
            .map(|o| proto::OperatorSetIdProto {
                domain: Some(o.domain.clone()),
                version: Some(o.version),
            })
            .collect(),
        domain: Some(f.domain.clone()),
        overload: non_empty(&f.overload),
        value_info: body.value_info,
        metadata_props: metadata(&f.meta),
    })
}
