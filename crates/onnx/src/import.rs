//! ONNX `ModelProto` → IR [`Model`].
//!
//! Names are resolved in two passes per graph (so files whose nodes are not topologically
//! sorted still import); a name a sub-graph reads from an enclosing graph becomes an
//! [`Op::Outer`] node in the sub-graph and a capture input of the node owning it, all the
//! way up to the graph that defines the name.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};

use bytes::Bytes;
use modelc_ir::{
    Attr, AttrEntry, AttrKind, Attrs, Function, Graph, Metadata, Model, Node, NodeId, OnnxOp, Op,
    OpsetImport, Value, ValueRef,
};
use prost::Message;

use crate::names::Names;
use crate::proto;
use crate::split::NodeSlices;
use crate::tensor::{import_sparse, import_tensor, sparse_name, ExternalFiles};
use crate::types::import_type;
use crate::OnnxError;

/// Nesting limit for sub-graphs (If inside Loop inside ...); deeper files are refused.
pub const MAX_DEPTH: usize = 64;

/// Imports `mp`, whose main graph's nodes are `nodes` (encoded `NodeProto`s, see
/// [`crate::split`]; any nodes left in `mp.graph` come first).
pub(crate) fn import_model(
    mp: &proto::ModelProto,
    nodes: &NodeSlices,
    ext: &mut ExternalFiles,
) -> Result<Model, OnnxError> {
    let gp = mp.graph.as_ref().ok_or(OnnxError::NoGraph)?;
    let mut imp = Importer { ext };
    let nodes = Nodes {
        decoded: &gp.node,
        encoded: Some(nodes),
    };
    let (graph, free) = imp.graph_of(gp, nodes, 0)?;
    if let Some(name) = free.first() {
        return Err(undefined(&graph, name));
    }
    let functions = mp
        .functions
        .iter()
        .map(|f| imp.function(f))
        .collect::<Result<Vec<_>, _>>()?;
    let mut extra = Vec::new();
    for t in &mp.training_info {
        extra.push((
            "onnx.training_info".to_string(),
            Bytes::from(t.encode_to_vec()),
        ));
    }
    for c in &mp.configuration {
        extra.push((
            "onnx.configuration".to_string(),
            Bytes::from(c.encode_to_vec()),
        ));
    }
    let mut model = Model {
        ir_version: mp.ir_version(),
        opset_imports: opsets(&mp.opset_import),
        producer_name: mp.producer_name().to_string(),
        producer_version: mp.producer_version().to_string(),
        domain: mp.domain().to_string(),
        model_version: mp.model_version(),
        doc: mp.doc_string().to_string(),
        meta: metadata(&mp.metadata_props),
        graph,
        functions,
        extra: extra.into(),
    };
    modelc_ir::provenance::restore(&mut model);
    Ok(model)
}

fn undefined(graph: &Graph, name: &str) -> OnnxError {
    let graph = if graph.name.is_empty() {
        "main"
    } else {
        &graph.name
    };
    OnnxError::invalid(
        format!("graph `{graph}`"),
        format!("value `{name}` is read but never defined"),
    )
}

fn opsets(list: &[proto::OperatorSetIdProto]) -> Vec<OpsetImport> {
    list.iter()
        .map(|o| OpsetImport {
            domain: o.domain().to_string(),
            version: o.version(),
        })
        .collect()
}

pub(crate) fn metadata(list: &[proto::StringStringEntryProto]) -> Metadata {
    list.iter()
        .map(|e| (e.key().to_string(), e.value().to_string()))
        .collect()
}

struct Importer<'a> {
    ext: &'a mut ExternalFiles,
}

/// A graph's nodes: decoded ones, then encoded ones decoded one at a time as they are
/// imported (so a node-heavy file is not held as messages and as IR at once).
#[derive(Clone, Copy)]
struct Nodes<'a> {
    decoded: &'a [proto::NodeProto],
    encoded: Option<&'a NodeSlices>,
}

impl Nodes<'_> {
    fn len(&self) -> usize {
        self.decoded.len() + self.encoded.map_or(0, NodeSlices::len)
    }

    fn get(&self, index: usize) -> Result<Cow<'_, proto::NodeProto>, OnnxError> {
        match self.decoded.get(index) {
            Some(np) => Ok(Cow::Borrowed(np)),
            None => {
                let encoded = self.encoded.expect("index below len()");
                let bytes = encoded.get(index - self.decoded.len());
                Ok(Cow::Owned(proto::NodeProto::decode(bytes)?))
            }
        }
    }
}

/// A node some of whose inputs name values not defined yet when it was created (a file
/// not in topological order, or a sub-graph reading an enclosing graph): connected once
/// every node of the graph is defined.
struct Pending {
    id: NodeId,
    /// The node's position, to name it in an error.
    index: usize,
    /// (input slot, value) for the names already resolved.
    resolved: Vec<(usize, ValueRef)>,
    /// (input slot, name) for the others.
    unresolved: Vec<(usize, String)>,
}

/// Name resolution within one graph under construction.
struct Scope {
    names: Names,
    outer: HashMap<String, NodeId>,
    /// Names read from enclosing graphs, in order of first use.
    free: Vec<String>,
    nested: bool,
}

impl Scope {
    fn resolve(&mut self, g: &mut Graph, name: &str, reader: &str) -> Result<ValueRef, OnnxError> {
        if let Some(v) = self.names.get(g, name) {
            return Ok(v);
        }
        if !self.nested {
            return Err(OnnxError::invalid(
                reader,
                format!("reads `{name}`, which is never defined"),
            ));
        }
        let id = match self.outer.get(name) {
            Some(id) => *id,
            None => {
                let id = g.add_node(Node::new(Op::Outer, 0, vec![Value::named(name)]));
                self.outer.insert(name.to_string(), id);
                self.free.push(name.to_string());
                id
            }
        };
        Ok(ValueRef::new(id, 0))
    }

    fn define(&mut self, g: &Graph, name: &str, v: ValueRef, graph: &str) -> Result<(), OnnxError> {
        if name.is_empty() {
            return Ok(());
        }
        if !self.names.insert(g, name, v) {
            return Err(OnnxError::invalid(
                format!("graph `{graph}`"),
                format!("value `{name}` is defined more than once"),
            ));
        }
        Ok(())
    }
}

fn value_from_info(vi: &proto::ValueInfoProto) -> Result<Value, OnnxError> {
    Ok(Value {
        name: vi.name().to_string(),
        ty: vi
            .r#type
            .as_ref()
            .map(|t| import_type(t, vi.name()).map(std::sync::Arc::new))
            .transpose()?,
        doc: vi.doc_string().into(),
        meta: metadata(&vi.metadata_props),
        origin: None,
    })
}

impl Importer<'_> {
    /// Imports a graph; returns it with the names it reads from enclosing graphs.
    fn graph(
        &mut self,
        gp: &proto::GraphProto,
        depth: usize,
    ) -> Result<(Graph, Vec<String>), OnnxError> {
        let nodes = Nodes {
            decoded: &gp.node,
            encoded: None,
        };
        self.graph_of(gp, nodes, depth)
    }

    /// Imports graph `gp` whose nodes are `nodes`.
    fn graph_of(
        &mut self,
        gp: &proto::GraphProto,
        nodes: Nodes<'_>,
        depth: usize,
    ) -> Result<(Graph, Vec<String>), OnnxError> {
        if depth > MAX_DEPTH {
            return Err(OnnxError::TooDeep(MAX_DEPTH));
        }
        let gname = gp.name().to_string();
        let mut g = Graph::new(gp.name());
        g.doc = gp.doc_string().to_string();
        g.meta = metadata(&gp.metadata_props);
        let mut scope = Scope {
            names: Names::default(),
            outer: HashMap::new(),
            free: Vec::new(),
            nested: depth > 0,
        };

        // Initializers that are also listed as inputs are input defaults (IR < 4 style).
        let input_names: HashSet<&str> = gp.input.iter().map(|i| i.name()).collect();
        let mut defaults: HashMap<&str, modelc_ir::Tensor> = HashMap::new();
        for vi in &gp.input {
            let v = value_from_info(vi)?;
            let id = g.add_input(v);
            scope.define(&g, vi.name(), ValueRef::new(id, 0), &gname)?;
        }
        for t in &gp.initializer {
            let tensor = import_tensor(t, t.name(), self.ext)?;
            if input_names.contains(t.name()) {
                defaults.insert(t.name(), tensor);
                continue;
            }
            let id = g.add_const(t.name(), tensor);
            let node = g.node_mut(id);
            node.doc = t.doc_string().into();
            node.meta = metadata(&t.metadata_props);
            scope.define(&g, t.name(), ValueRef::new(id, 0), &gname)?;
        }
        for &id in g.inputs().to_vec().iter() {
            let name = g.node(id).outputs[0].name.clone();
            if let Some(t) = defaults.remove(name.as_str()) {
                g.node_mut(id).op = Op::Input {
                    default: Some(Box::new(t)),
                };
            }
        }
        for s in &gp.sparse_initializer {
            let name = sparse_name(s).to_string();
            let sparse = import_sparse(s, &name, self.ext)?;
            let id = g.add_node(Node::new(
                Op::SparseConst(Box::new(sparse)),
                0,
                vec![Value::named(&name)],
            ));
            scope.define(&g, &name, ValueRef::new(id, 0), &gname)?;
        }

        // One pass creates the nodes, defines their outputs and connects the inputs already
        // defined (all of them in a topologically sorted file); the rest are connected once
        // every node is defined.
        let count = nodes.len();
        g.reserve(count, count);
        scope.names.reserve(&g, count);
        let mut pending = Vec::new();
        for index in 0..count {
            let np = nodes.get(index)?;
            let label = node_context(&np);
            // ONNX requires an op type; refusing at the first node without one also bounds
            // what a file of empty NodeProtos (2 bytes each) can make the reader allocate.
            if np.op_type().is_empty() {
                return Err(OnnxError::Invalid {
                    context: format!("graph `{gname}`, node {index}"),
                    message: "the node has no op_type".into(),
                });
            }
            let op = match OnnxOp::lookup(np.domain(), np.op_type()) {
                Some(op) => Op::Onnx(op),
                None => Op::custom(np.domain(), np.op_type()),
            };
            // Names the node's sub-graphs read from this graph or above, in order of first
            // use (a set beside the list: a hostile file can have very many).
            let mut captures: Vec<String> = Vec::new();
            let mut seen = HashSet::new();
            let mut attrs = Attrs::default();
            for a in &np.attribute {
                let (value, free) = self.attr(a, &label, depth)?;
                for name in free {
                    if seen.insert(name.clone()) {
                        captures.push(name);
                    }
                }
                attrs.0.push(AttrEntry {
                    name: a.name().to_string(),
                    value,
                    doc: a.doc_string().to_string(),
                });
            }
            let outputs = np.output.iter().map(Value::named).collect();
            let mut node = Node::new(op, np.input.len(), outputs)
                .with_name(np.name())
                .with_attrs(attrs);
            node.doc = np.doc_string().into();
            node.meta = metadata(&np.metadata_props);
            if let Some(o) = &np.overload {
                node.extra
                    .push(("onnx.overload".into(), Bytes::from(o.clone().into_bytes())));
            }
            for dc in &np.device_configurations {
                node.extra.push((
                    "onnx.device_configuration".into(),
                    Bytes::from(dc.encode_to_vec()),
                ));
            }
            let id = g.add_node(node);
            for (slot, name) in np.output.iter().enumerate() {
                scope.define(&g, name, ValueRef::new(id, slot), &gname)?;
            }
            // Inputs in slot order, then the captures after them.
            let names = np.input.iter().enumerate().chain(
                captures
                    .iter()
                    .enumerate()
                    .map(|(k, name)| (np.input.len() + k, name)),
            );
            let mut resolved = Vec::with_capacity(np.input.len() + captures.len());
            let mut unresolved = Vec::new();
            for (slot, name) in names {
                if name.is_empty() {
                    continue;
                }
                match scope.names.get(&g, name) {
                    Some(v) => resolved.push((slot, v)),
                    None => unresolved.push((slot, name.clone())),
                }
            }
            if unresolved.is_empty() {
                g.connect_inputs(id, resolved);
            } else {
                pending.push(Pending {
                    id,
                    index,
                    resolved,
                    unresolved,
                });
            }
        }
        for p in pending {
            let label = node_context(nodes.get(p.index)?.as_ref());
            let mut edges = p.resolved;
            for (slot, name) in p.unresolved {
                edges.push((slot, scope.resolve(&mut g, &name, &label)?));
            }
            edges.sort_by_key(|&(slot, _)| slot);
            g.connect_inputs(p.id, edges);
        }

        for vi in &gp.value_info {
            match scope.names.get(&g, vi.name()) {
                Some(v) => {
                    let info = value_from_info(vi)?;
                    let value = g.value_mut(v).expect("scope refers to live values");
                    value.ty = info.ty;
                    value.doc = info.doc;
                    value.meta = info.meta;
                }
                // A type annotation for a name this graph does not define is kept as it is.
                None => g
                    .extra
                    .push(("onnx.value_info".into(), Bytes::from(vi.encode_to_vec()))),
            }
        }
        for vi in &gp.output {
            let v = scope.resolve(&mut g, vi.name(), &format!("graph `{gname}` output"))?;
            let info = value_from_info(vi)?;
            let value = g.value_mut(v).expect("resolved values exist");
            if info.ty.is_some() {
                value.ty = info.ty;
            }
            if !info.doc.is_empty() {
                value.doc = info.doc;
            }
            if !info.meta.is_empty() {
                value.meta = info.meta;
            }
            g.push_output(v);
        }
        // ONNX graphs are acyclic; a file whose nodes read each other's outputs in a loop
        // cannot be ordered, printed or written, so it is refused here.
        if let Err(e) = g.topo_order() {
            return Err(OnnxError::invalid(
                format!("graph `{gname}`"),
                format!("has a cycle through node `{}`", e.node),
            ));
        }
        for qa in &gp.quantization_annotation {
            g.extra.push((
                "onnx.quantization_annotation".into(),
                Bytes::from(qa.encode_to_vec()),
            ));
        }
        Ok((g, scope.free))
    }

    /// Imports an attribute; returns it with the outer names its sub-graphs read.
    fn attr(
        &mut self,
        a: &proto::AttributeProto,
        node: &str,
        depth: usize,
    ) -> Result<(Attr, Vec<String>), OnnxError> {
        let ctx = || format!("{node}, attribute `{}`", a.name());
        let kind = match a.r#type {
            Some(code) if code != 0 => AttrKind::from_onnx_code(code).ok_or_else(|| {
                OnnxError::invalid(ctx(), format!("unknown attribute type {code}"))
            })?,
            _ => infer_kind(a)
                .ok_or_else(|| OnnxError::invalid(ctx(), "has no value and no type"))?,
        };
        if let Some(r) = &a.ref_attr_name {
            return Ok((
                Attr::Ref {
                    name: r.clone(),
                    kind,
                },
                Vec::new(),
            ));
        }
        let what = format!("{node}.{}", a.name());
        let mut free = Vec::new();
        let missing = || {
            OnnxError::invalid(
                ctx(),
                format!("is of type {} but holds no such value", kind.name()),
            )
        };
        let value = match kind {
            AttrKind::Float => Attr::Float(a.f.ok_or_else(missing)?),
            AttrKind::Int => Attr::Int(a.i.ok_or_else(missing)?),
            AttrKind::String => Attr::String(a.s.clone().ok_or_else(missing)?),
            AttrKind::Tensor => Attr::Tensor(import_tensor(
                a.t.as_ref().ok_or_else(missing)?,
                &what,
                self.ext,
            )?),
            AttrKind::SparseTensor => Attr::SparseTensor(import_sparse(
                a.sparse_tensor.as_ref().ok_or_else(missing)?,
                &what,
                self.ext,
            )?),
            AttrKind::Type => Attr::Type(import_type(a.tp.as_ref().ok_or_else(missing)?, &what)?),
            AttrKind::Graph => {
                let (g, f) = self.graph(a.g.as_ref().ok_or_else(missing)?, depth + 1)?;
                free = f;
                Attr::Graph(Box::new(g))
            }
            AttrKind::Floats => Attr::Floats(a.floats.clone()),
            AttrKind::Ints => Attr::Ints(a.ints.clone()),
            AttrKind::Strings => Attr::Strings(a.strings.clone()),
            AttrKind::Tensors => Attr::Tensors(
                a.tensors
                    .iter()
                    .map(|t| import_tensor(t, &what, self.ext))
                    .collect::<Result<_, _>>()?,
            ),
            AttrKind::SparseTensors => Attr::SparseTensors(
                a.sparse_tensors
                    .iter()
                    .map(|t| import_sparse(t, &what, self.ext))
                    .collect::<Result<_, _>>()?,
            ),
            AttrKind::Types => Attr::Types(
                a.type_protos
                    .iter()
                    .map(|t| import_type(t, &what))
                    .collect::<Result<_, _>>()?,
            ),
            AttrKind::Graphs => {
                let mut graphs = Vec::with_capacity(a.graphs.len());
                let mut seen = HashSet::new();
                for gp in &a.graphs {
                    let (g, f) = self.graph(gp, depth + 1)?;
                    for name in f {
                        if seen.insert(name.clone()) {
                            free.push(name);
                        }
                    }
                    graphs.push(g);
                }
                Attr::Graphs(graphs)
            }
        };
        Ok((value, free))
    }

    fn function(&mut self, f: &proto::FunctionProto) -> Result<Function, OnnxError> {
        let named = |n: &String| proto::ValueInfoProto {
            name: Some(n.clone()),
            ..Default::default()
        };
        let body = proto::GraphProto {
            name: Some(f.name().to_string()),
            node: f.node.clone(),
            input: f.input.iter().map(named).collect(),
            output: f.output.iter().map(named).collect(),
            value_info: f.value_info.clone(),
            ..Default::default()
        };
        let (body, free) = self.graph(&body, 0)?;
        if let Some(name) = free.first() {
            return Err(undefined(&body, name));
        }
        let label = format!("function `{}`", f.name());
        let attribute_defaults = f
            .attribute_proto
            .iter()
            .map(|a| Ok((a.name().to_string(), self.attr(a, &label, 0)?.0)))
            .collect::<Result<_, OnnxError>>()?;
        Ok(Function {
            name: f.name().to_string(),
            domain: f.domain().to_string(),
            overload: f.overload().to_string(),
            attributes: f.attribute.clone(),
            attribute_defaults,
            opset_imports: opsets(&f.opset_import),
            body,
            doc: f.doc_string().to_string(),
            meta: metadata(&f.metadata_props),
        })
    }
}

/// How errors name a node: `node "conv1" (Conv)`, or by its first output when unnamed.
fn node_context(np: &proto::NodeProto) -> String {
    let op = if np.domain().is_empty() {
        np.op_type().to_string()
    } else {
        format!("{}.{}", np.domain(), np.op_type())
    };
    if !np.name().is_empty() {
        format!("node `{}` ({op})", np.name())
    } else if let Some(o) = np.output.first() {
        format!("node {op} -> `{o}`")
    } else {
        format!("node {op}")
    }
}

/// The kind of an attribute written without `type` (IR version 1 files).
fn infer_kind(a: &proto::AttributeProto) -> Option<AttrKind> {
    Some(if a.f.is_some() {
        AttrKind::Float
    } else if a.i.is_some() {
        AttrKind::Int
    } else if a.s.is_some() {
        AttrKind::String
    } else if a.t.is_some() {
        AttrKind::Tensor
    } else if a.g.is_some() {
        AttrKind::Graph
    } else if a.sparse_tensor.is_some() {
        AttrKind::SparseTensor
    } else if a.tp.is_some() {
        AttrKind::Type
    } else if !a.floats.is_empty() {
        AttrKind::Floats
    } else if !a.ints.is_empty() {
        AttrKind::Ints
    } else if !a.strings.is_empty() {
        AttrKind::Strings
    } else if !a.tensors.is_empty() {
        AttrKind::Tensors
    } else if !a.graphs.is_empty() {
        AttrKind::Graphs
    } else if !a.sparse_tensors.is_empty() {
        AttrKind::SparseTensors
    } else if !a.type_protos.is_empty() {
        AttrKind::Types
    } else {
        return None;
    })
}
