//! The printer.

use std::collections::{HashMap, HashSet};
use std::fmt::Write;

use petgraph::visit::EdgeRef;
use petgraph::Direction;

use super::syntax::{self, FloatKind};
use super::{walk_graph, walk_model, PrintOptions};
use crate::{
    Attr, AttrEntry, Attrs, DType, Dim, Extra, Function, Graph, Metadata, Model, Node, NodeId,
    OnnxOp, Op, OpsetImport, SparseTensor, Tensor, TensorData, TensorType, TypeInfo, Value,
    ValueRef, ValueType,
};

const INDENT: &str = "  ";

pub(super) fn print_graph(g: &Graph, opts: &PrintOptions) -> String {
    let mut tensors = Vec::new();
    walk_graph(g, &mut |t| tensors.push(t));
    let p = Printer::new(opts, &tensors);
    let mut out = String::new();
    p.graph(&mut out, g, 0);
    out.push('\n');
    out
}

pub(super) fn attr_to_string(a: &Attr, opts: &PrintOptions) -> String {
    let tensors = Vec::new();
    let p = Printer::new(opts, &tensors);
    let mut out = String::new();
    p.attr(&mut out, a, 0);
    out
}

pub(super) fn print_model(m: &Model, opts: &PrintOptions) -> String {
    let mut tensors = Vec::new();
    walk_model(m, &mut |t| tensors.push(t));
    let p = Printer::new(opts, &tensors);
    let mut out = String::from("model {\n");
    let _ = writeln!(out, "{INDENT}ir_version: {}", m.ir_version);
    if !m.opset_imports.is_empty() {
        out.push_str(INDENT);
        out.push_str("opset_import: ");
        opsets(&mut out, &m.opset_imports);
        out.push('\n');
    }
    if !m.producer_name.is_empty() || !m.producer_version.is_empty() {
        out.push_str(INDENT);
        out.push_str("producer: ");
        syntax::quote(&mut out, m.producer_name.as_bytes());
        out.push(' ');
        syntax::quote(&mut out, m.producer_version.as_bytes());
        out.push('\n');
    }
    if !m.domain.is_empty() {
        out.push_str(INDENT);
        out.push_str("domain: ");
        syntax::quote(&mut out, m.domain.as_bytes());
        out.push('\n');
    }
    if m.model_version != 0 {
        let _ = writeln!(out, "{INDENT}model_version: {}", m.model_version);
    }
    if !m.doc.is_empty() {
        out.push_str(INDENT);
        out.push_str("doc: ");
        syntax::quote(&mut out, m.doc.as_bytes());
        out.push('\n');
    }
    if !m.meta.is_empty() {
        out.push_str(INDENT);
        out.push_str("meta: ");
        metadata(&mut out, &m.meta);
        out.push('\n');
    }
    if !m.extra.is_empty() {
        out.push_str(INDENT);
        out.push_str("extra: ");
        extra(&mut out, &m.extra);
        out.push('\n');
    }
    out.push_str("}\n");
    for f in &m.functions {
        out.push('\n');
        p.function(&mut out, f);
        out.push('\n');
    }
    out.push('\n');
    p.graph(&mut out, &m.graph, 0);
    out.push('\n');
    out
}

/// Appends a type: `f32[N,3]`, `seq<i64[*]>`, ... and ` denotation="..."` when present.
pub(super) fn type_info(out: &mut String, t: &TypeInfo) {
    value_type(out, &t.ty);
    if !t.denotation.is_empty() {
        out.push_str(" denotation=");
        syntax::quote(out, t.denotation.as_bytes());
    }
}

fn value_type(out: &mut String, t: &ValueType) {
    let opt = |out: &mut String, t: &Option<Box<ValueType>>| match t {
        Some(t) => value_type(out, t),
        None => out.push('_'),
    };
    match t {
        ValueType::Tensor(t) => tensor_type(out, t),
        ValueType::SparseTensor(t) => {
            out.push_str("sparse<");
            tensor_type(out, t);
            out.push('>');
        }
        ValueType::Sequence(e) => {
            out.push_str("seq<");
            opt(out, e);
            out.push('>');
        }
        ValueType::Map { key, value } => {
            let _ = write!(out, "map<{key}, ");
            opt(out, value);
            out.push('>');
        }
        ValueType::Optional(e) => {
            out.push_str("opt<");
            opt(out, e);
            out.push('>');
        }
        ValueType::Opaque { domain, name } => {
            out.push_str("opaque<");
            syntax::quote(out, domain.as_bytes());
            out.push_str(", ");
            syntax::quote(out, name.as_bytes());
            out.push('>');
        }
        ValueType::Unspecified => out.push_str("unspecified"),
    }
}

fn tensor_type(out: &mut String, t: &TensorType) {
    match t.dtype {
        Some(d) => out.push_str(d.name()),
        None => out.push('?'),
    }
    match &t.shape {
        None => out.push_str("[*]"),
        Some(shape) => {
            out.push('[');
            for (k, d) in shape.0.iter().enumerate() {
                if k > 0 {
                    out.push(',');
                }
                match d {
                    Dim::Known(n) => {
                        let _ = write!(out, "{n}");
                    }
                    Dim::Sym(s) => syntax::name(out, s),
                    Dim::Unknown => out.push('?'),
                }
            }
            out.push(']');
        }
    }
}

fn dims(out: &mut String, dims: &[u64]) {
    out.push('[');
    for (k, d) in dims.iter().enumerate() {
        if k > 0 {
            out.push(',');
        }
        let _ = write!(out, "{d}");
    }
    out.push(']');
}

fn metadata(out: &mut String, meta: &Metadata) {
    out.push('{');
    for (k, (key, value)) in meta.iter().enumerate() {
        if k > 0 {
            out.push_str(", ");
        }
        syntax::quote(out, key.as_bytes());
        out.push_str(": ");
        syntax::quote(out, value.as_bytes());
    }
    out.push('}');
}

fn extra(out: &mut String, extra: &Extra) {
    out.push('{');
    for (k, (key, value)) in extra.iter().enumerate() {
        if k > 0 {
            out.push_str(", ");
        }
        syntax::quote(out, key.as_bytes());
        out.push_str(": ");
        syntax::hex_bytes(out, value);
    }
    out.push('}');
}

fn opsets(out: &mut String, imports: &[OpsetImport]) {
    out.push('{');
    for (k, o) in imports.iter().enumerate() {
        if k > 0 {
            out.push_str(", ");
        }
        syntax::quote(out, o.domain.as_bytes());
        let _ = write!(out, ": {}", o.version);
    }
    out.push('}');
}

/// ` doc="..." meta={...}`, each when non-empty.
fn doc_meta(out: &mut String, doc: &str, meta: &Metadata) {
    if !doc.is_empty() {
        out.push_str(" doc=");
        syntax::quote(out, doc.as_bytes());
    }
    if !meta.is_empty() {
        out.push_str(" meta=");
        metadata(out, meta);
    }
}

/// Appends the op of a call: an ONNX op by its display name, a custom op as `domain.Name`, or
/// `custom ...` when the custom op would otherwise read as an ONNX op.
fn op_name(out: &mut String, op: &Op) {
    match op {
        Op::Onnx(o) => {
            let _ = write!(out, "{o}");
        }
        Op::Custom(c) => {
            let (domain, name) = (&c.domain, &c.name);
            if domain.is_empty() {
                out.push_str("custom ");
                syntax::segment(out, name);
            } else {
                if OnnxOp::lookup(domain, name).is_some() {
                    out.push_str("custom ");
                }
                syntax::qualified(out, domain, name);
            }
        }
        other => out.push_str(&other.display_name()),
    }
}

/// Which definition of each name is visible, as the parser will see it.
#[derive(Default)]
struct Scope<'g> {
    defs: HashMap<&'g str, Vec<ValueRef>>,
}

impl<'g> Scope<'g> {
    fn define(&mut self, g: &'g Graph, id: NodeId) {
        for (slot, v) in g.node(id).outputs.iter().enumerate() {
            self.defs
                .entry(v.name.as_str())
                .or_default()
                .push(ValueRef::new(id, slot));
        }
    }

    /// `%name`, or `%name#k` when `name` was redefined after the definition `v` refers to.
    fn reference(&self, out: &mut String, g: &Graph, v: ValueRef) {
        let Some(value) = g.value(v) else {
            out.push_str("%\"<dangling value>\"");
            return;
        };
        out.push('%');
        syntax::name(out, &value.name);
        if let Some(defs) = self.defs.get(value.name.as_str()) {
            if defs.last() != Some(&v) {
                if let Some(k) = defs.iter().position(|d| *d == v) {
                    let _ = write!(out, "#{k}");
                }
            }
        }
    }
}

/// Identity of a tensor's storage, to hash each large tensor once.
#[derive(PartialEq, Eq, Hash)]
struct TensorKey {
    strings: bool,
    ptr: usize,
    len: usize,
    dtype: DType,
    dims: Vec<u64>,
}

impl TensorKey {
    fn of(t: &Tensor) -> TensorKey {
        let (strings, ptr, len) = match &t.data {
            TensorData::Raw(b) => (false, b.as_ptr() as usize, b.len()),
            TensorData::Strings(s) => (true, s.as_ptr() as usize, s.len()),
        };
        TensorKey {
            strings,
            ptr,
            len,
            dtype: t.dtype,
            dims: t.dims.clone(),
        }
    }
}

struct Printer<'o> {
    opts: &'o PrintOptions,
    /// Content hashes of the tensors printed by hash.
    hashes: HashMap<TensorKey, u64>,
    /// Hashes shared by different tensors: those print inline, whatever their size.
    collisions: HashSet<u64>,
}

impl<'o> Printer<'o> {
    fn new(opts: &'o PrintOptions, tensors: &[&Tensor]) -> Printer<'o> {
        let mut p = Printer {
            opts,
            hashes: HashMap::new(),
            collisions: HashSet::new(),
        };
        let mut by_hash: HashMap<u64, &Tensor> = HashMap::new();
        for &t in tensors {
            if p.small(t) {
                continue;
            }
            let h = *p
                .hashes
                .entry(TensorKey::of(t))
                .or_insert_with(|| t.content_hash());
            match by_hash.get(&h) {
                Some(&other) if other != t => {
                    p.collisions.insert(h);
                }
                Some(_) => {}
                None => {
                    by_hash.insert(h, t);
                }
            }
        }
        p
    }

    fn small(&self, t: &Tensor) -> bool {
        t.element_count()
            .is_some_and(|c| c <= self.opts.inline_limit as u64)
    }

    fn graph(&self, out: &mut String, g: &Graph, indent: usize) {
        out.push_str("graph");
        if !g.name.is_empty() {
            out.push(' ');
            syntax::name(out, &g.name);
        }
        let (order, cyclic) = match g.topo_order() {
            Ok(order) => (order, false),
            Err(_) => {
                let mut ids: Vec<NodeId> = g.node_ids().collect();
                ids.sort_by_key(|&id| g.node(id).seq());
                (ids, true)
            }
        };
        let input_set: HashSet<NodeId> = g.inputs().iter().copied().collect();
        let mut scope = Scope::default();

        out.push('(');
        for (k, &id) in g.inputs().iter().enumerate() {
            if k > 0 {
                out.push_str(", ");
            }
            match g.try_node(id) {
                Some(node) => {
                    self.header_entry(out, node, indent);
                    scope.define(g, id);
                }
                None => out.push('_'),
            }
        }
        out.push(')');

        let outers: Vec<NodeId> = order
            .iter()
            .copied()
            .filter(|id| !input_set.contains(id) && matches!(g.node(*id).op, Op::Outer))
            .collect();
        if !outers.is_empty() {
            out.push_str(" outer(");
            for (k, &id) in outers.iter().enumerate() {
                if k > 0 {
                    out.push_str(", ");
                }
                self.header_entry(out, g.node(id), indent);
                scope.define(g, id);
            }
            out.push(')');
        }

        let mut body = String::new();
        if cyclic {
            let _ = writeln!(
                body,
                "{}// error: the graph has a cycle; nodes are in creation order",
                INDENT.repeat(indent + 1)
            );
        }
        for &id in &order {
            if input_set.contains(&id) || matches!(g.node(id).op, Op::Outer) {
                continue;
            }
            self.statement(&mut body, g, id, &mut scope, indent + 1);
        }

        out.push_str(" -> (");
        for (k, &v) in g.outputs().iter().enumerate() {
            if k > 0 {
                out.push_str(", ");
            }
            scope.reference(out, g, v);
        }
        out.push(')');
        doc_meta(out, &g.doc, &g.meta);
        if !g.extra.is_empty() {
            out.push_str(" extra=");
            extra(out, &g.extra);
        }
        out.push_str(" {\n");
        out.push_str(&body);
        out.push_str(&INDENT.repeat(indent));
        out.push('}');
    }

    /// A graph input or outer value in the header: its value, its default, and node-level
    /// fields in `node(...)` when any is set.
    fn header_entry(&self, out: &mut String, node: &Node, indent: usize) {
        match node.outputs.first() {
            Some(v) => value_decl(out, v, None),
            None => out.push('_'),
        }
        if let Op::Input { default: Some(t) } = &node.op {
            out.push_str(" = ");
            self.tensor(out, t);
        }
        let mut clauses = String::new();
        self.node_clauses(&mut clauses, node, indent);
        if let Some(clauses) = clauses.strip_prefix(' ') {
            out.push_str(" node(");
            out.push_str(clauses);
            out.push(')');
        }
    }

    fn statement<'g>(
        &self,
        out: &mut String,
        g: &'g Graph,
        id: NodeId,
        scope: &mut Scope<'g>,
        indent: usize,
    ) {
        let node = g.node(id);
        let mut rhs = String::new();
        let mut implied = None;
        match &node.op {
            Op::Const(t) => {
                rhs.push_str("const ");
                self.tensor(&mut rhs, t);
                implied = Some(TypeInfo::from(ValueType::tensor(t.dtype, &t.dims)));
            }
            Op::SparseConst(s) => {
                rhs.push_str("const ");
                self.sparse(&mut rhs, s);
            }
            Op::Input { default } => {
                rhs.push_str("input");
                if let Some(t) = default {
                    rhs.push(' ');
                    self.tensor(&mut rhs, t);
                }
            }
            op => {
                op_name(&mut rhs, op);
                rhs.push('(');
                for (k, input) in g.inputs_of(id).into_iter().enumerate() {
                    if k > 0 {
                        rhs.push_str(", ");
                    }
                    match input {
                        Some(v) => scope.reference(&mut rhs, g, v),
                        None => rhs.push('_'),
                    }
                }
                rhs.push(')');
            }
        }
        self.node_clauses_with_captures(&mut rhs, g, id, scope, indent);

        out.push_str(&INDENT.repeat(indent));
        if node.outputs.is_empty() {
            out.push_str("()");
        }
        for (k, v) in node.outputs.iter().enumerate() {
            if k > 0 {
                out.push_str(", ");
            }
            value_decl(out, v, implied.as_ref());
        }
        out.push_str(" = ");
        out.push_str(&rhs);
        out.push('\n');
        scope.define(g, id);
    }

    fn node_clauses_with_captures(
        &self,
        out: &mut String,
        g: &Graph,
        id: NodeId,
        scope: &Scope,
        indent: usize,
    ) {
        let node = g.node(id);
        let n = node.num_inputs;
        let mut caps: Vec<(usize, ValueRef)> = g
            .dag()
            .edges_directed(id, Direction::Incoming)
            .filter(|e| e.weight().dst_slot() >= n)
            .map(|e| {
                (
                    e.weight().dst_slot(),
                    ValueRef::new(e.source(), e.weight().src_slot()),
                )
            })
            .collect();
        caps.sort();
        let mut attrs_layout = String::new();
        self.attrs_layout(&mut attrs_layout, node, indent);
        out.push_str(&attrs_layout);
        if !caps.is_empty() {
            let contiguous = caps
                .iter()
                .enumerate()
                .all(|(k, (slot, _))| Some(*slot) == n.checked_add(k));
            out.push_str(" captures(");
            for (k, (slot, v)) in caps.iter().enumerate() {
                if k > 0 {
                    out.push_str(", ");
                }
                if !contiguous {
                    let _ = write!(out, "{slot}: ");
                }
                scope.reference(out, g, *v);
            }
            out.push(')');
        }
        self.name_doc_meta_extra(out, node);
    }

    /// Every node-level clause but captures, each with a leading space.
    fn node_clauses(&self, out: &mut String, node: &Node, indent: usize) {
        self.attrs_layout(out, node, indent);
        self.name_doc_meta_extra(out, node);
    }

    fn attrs_layout(&self, out: &mut String, node: &Node, indent: usize) {
        if !node.attrs.is_empty() {
            out.push(' ');
            self.attrs(out, &node.attrs, indent);
        }
        if let Some(layout) = node.layout {
            let _ = write!(out, " layout={layout}");
        }
    }

    fn name_doc_meta_extra(&self, out: &mut String, node: &Node) {
        if !node.name.is_empty() {
            out.push_str(" name=");
            syntax::quote(out, node.name.as_bytes());
        }
        doc_meta(out, &node.doc, &node.meta);
        if !node.extra.is_empty() {
            out.push_str(" extra=");
            extra(out, &node.extra);
        }
    }

    fn attrs(&self, out: &mut String, attrs: &Attrs, indent: usize) {
        out.push('{');
        for (k, AttrEntry { name, value, doc }) in attrs.iter().enumerate() {
            if k > 0 {
                out.push_str(", ");
            }
            syntax::name(out, name);
            out.push('=');
            self.attr(out, value, indent);
            if !doc.is_empty() {
                out.push_str(" doc=");
                syntax::quote(out, doc.as_bytes());
            }
        }
        out.push('}');
    }

    fn attr(&self, out: &mut String, a: &Attr, indent: usize) {
        fn list<T>(
            out: &mut String,
            kind: &str,
            items: &[T],
            mut item: impl FnMut(&mut String, &T),
        ) {
            if items.is_empty() {
                out.push_str(kind);
            }
            out.push('[');
            // Int lists are mostly shape-like (axes, pads, strides): compact like shapes.
            let sep = if kind == "ints" { "," } else { ", " };
            for (k, x) in items.iter().enumerate() {
                if k > 0 {
                    out.push_str(sep);
                }
                item(out, x);
            }
            out.push(']');
        }
        match a {
            Attr::Float(f) => FloatKind::F32.format(out, f.to_bits() as u64),
            Attr::Int(i) => {
                let _ = write!(out, "{i}");
            }
            Attr::String(s) => syntax::quote(out, s),
            Attr::Tensor(t) => self.tensor(out, t),
            Attr::Graph(g) => self.graph(out, g, indent),
            Attr::SparseTensor(s) => self.sparse(out, s),
            Attr::Type(t) => {
                out.push_str("type ");
                type_info(out, t);
            }
            Attr::Floats(v) => list(out, "floats", v, |out, f| {
                FloatKind::F32.format(out, f.to_bits() as u64)
            }),
            Attr::Ints(v) => list(out, "ints", v, |out, i| {
                let _ = write!(out, "{i}");
            }),
            Attr::Strings(v) => list(out, "strings", v, |out, s| syntax::quote(out, s)),
            Attr::Tensors(v) => {
                out.push_str("tensors");
                list(out, "", v, |out, t| self.tensor(out, t));
            }
            Attr::Graphs(v) => {
                out.push_str("graphs");
                list(out, "", v, |out, g| self.graph(out, g, indent));
            }
            Attr::SparseTensors(v) => {
                out.push_str("sparse_tensors");
                list(out, "", v, |out, s| self.sparse(out, s));
            }
            Attr::Types(v) => {
                out.push_str("types");
                list(out, "", v, type_info);
            }
            Attr::Ref { name, kind } => {
                out.push('@');
                syntax::name(out, name);
                out.push(':');
                out.push_str(kind.name());
            }
        }
    }

    fn sparse(&self, out: &mut String, s: &SparseTensor) {
        out.push_str("sparse");
        dims(out, &s.dims);
        out.push_str(" values=");
        self.tensor(out, &s.values);
        out.push_str(" indices=");
        self.tensor(out, &s.indices);
    }

    /// `f32[2,2] [1.0, 2.0, 3.0, 4.0]`, `f8e4m3fn[2] x"3840"` or `f32[1000] #0123456789abcdef`.
    fn tensor(&self, out: &mut String, t: &Tensor) {
        out.push_str(t.dtype.name());
        dims(out, &t.dims);
        out.push(' ');
        if !self.small(t) {
            let h = self
                .hashes
                .get(&TensorKey::of(t))
                .copied()
                .unwrap_or_else(|| t.content_hash());
            if !self.collisions.contains(&h) {
                let _ = write!(out, "#{h:016x}");
                return;
            }
        }
        match &t.data {
            TensorData::Strings(items) => {
                out.push('[');
                for (k, s) in items.iter().enumerate() {
                    if k > 0 {
                        out.push_str(", ");
                    }
                    syntax::quote(out, s);
                }
                out.push(']');
            }
            TensorData::Raw(b) => {
                let count = t.element_count();
                if !count.is_some_and(|c| elements(out, t.dtype, b, c)) {
                    syntax::hex_bytes(out, b);
                }
            }
        }
    }

    fn function(&self, out: &mut String, f: &Function) {
        out.push_str("func ");
        if f.domain.is_empty() {
            syntax::segment(out, &f.name);
        } else {
            syntax::qualified(out, &f.domain, &f.name);
        }
        if !f.attributes.is_empty() || !f.attribute_defaults.is_empty() {
            out.push('<');
            let mut first = true;
            let mut sep = |out: &mut String| {
                if !std::mem::take(&mut first) {
                    out.push_str(", ");
                }
            };
            for a in &f.attributes {
                sep(out);
                syntax::name(out, a);
            }
            for (a, value) in &f.attribute_defaults {
                sep(out);
                syntax::name(out, a);
                out.push('=');
                self.attr(out, value, 0);
            }
            out.push('>');
        }
        if !f.overload.is_empty() {
            out.push_str(" overload=");
            syntax::quote(out, f.overload.as_bytes());
        }
        if !f.opset_imports.is_empty() {
            out.push_str(" opsets=");
            opsets(out, &f.opset_imports);
        }
        doc_meta(out, &f.doc, &f.meta);
        out.push(' ');
        self.graph(out, &f.body, 0);
    }
}

/// `%name: type doc="..." meta={...}` (`_` for an empty name). For a constant, `implied` is
/// the type its tensor implies: it is left out when the value has it, and `: _` marks a
/// constant whose value has no type.
fn value_decl(out: &mut String, v: &Value, implied: Option<&TypeInfo>) {
    if v.name.is_empty() {
        out.push('_');
    } else {
        out.push('%');
        syntax::name(out, &v.name);
    }
    match (v.ty.as_deref(), implied) {
        (Some(t), Some(i)) if t == i => {}
        (None, Some(_)) => out.push_str(": _"),
        (None, None) => {}
        (Some(t), _) => {
            out.push_str(": ");
            type_info(out, t);
        }
    }
    doc_meta(out, &v.doc, &v.meta);
}

/// Appends the elements of a raw tensor as a list, when they read back exactly; `false` (and
/// nothing appended) for types printed as raw bytes and for data that does not match its type.
fn elements(out: &mut String, dtype: DType, b: &[u8], count: u64) -> bool {
    if dtype.storage_bytes(count) != Some(b.len() as u64) {
        return false;
    }
    let mut s = String::with_capacity(b.len() * 4 + 2);
    s.push('[');
    let sep = |s: &mut String, k: usize| {
        if k > 0 {
            s.push_str(", ");
        }
    };
    macro_rules! ints {
        ($t:ty) => {
            for (k, c) in b.chunks_exact(std::mem::size_of::<$t>()).enumerate() {
                sep(&mut s, k);
                let _ = write!(
                    s,
                    "{}",
                    <$t>::from_le_bytes(c.try_into().unwrap_or_default())
                );
            }
        };
    }
    macro_rules! floats {
        ($t:ty, $kind:expr) => {
            for (k, c) in b.chunks_exact(std::mem::size_of::<$t>()).enumerate() {
                sep(&mut s, k);
                $kind.format(
                    &mut s,
                    <$t>::from_le_bytes(c.try_into().unwrap_or_default()) as u64,
                );
            }
        };
    }
    match dtype {
        DType::F32 => floats!(u32, FloatKind::F32),
        DType::F64 => floats!(u64, FloatKind::F64),
        DType::F16 => floats!(u16, FloatKind::F16),
        DType::BF16 => floats!(u16, FloatKind::BF16),
        DType::I8 => ints!(i8),
        DType::U8 => ints!(u8),
        DType::I16 => ints!(i16),
        DType::U16 => ints!(u16),
        DType::I32 => ints!(i32),
        DType::U32 => ints!(u32),
        DType::I64 => ints!(i64),
        DType::U64 => ints!(u64),
        DType::Bool => {
            for (k, &x) in b.iter().enumerate() {
                sep(&mut s, k);
                s.push_str(match x {
                    0 => "false",
                    1 => "true",
                    _ => return false,
                });
            }
        }
        DType::U4 | DType::I4 | DType::U2 | DType::I2 => {
            let w = dtype.bits() as u64;
            let signed = matches!(dtype, DType::I4 | DType::I2);
            let used = count * w;
            if used & 7 != 0 && b.last().is_some_and(|&last| last >> (used & 7) != 0) {
                return false; // padding bits set: only raw bytes keep them
            }
            for k in 0..count {
                sep(&mut s, k as usize);
                let bit = k * w;
                let raw = (b[(bit / 8) as usize] >> (bit % 8)) & ((1u8 << w) - 1);
                let v = if signed && raw >> (w - 1) != 0 {
                    raw as i64 - (1i64 << w)
                } else {
                    raw as i64
                };
                let _ = write!(s, "{v}");
            }
        }
        _ => return false,
    }
    s.push(']');
    out.push_str(&s);
    true
}
