//! Graphs: the header (inputs, outer values, outputs), statements, value declarations and
//! references resolved against the definitions in scope.

use std::collections::{HashMap, HashSet};

use nom::character::complete::digit1;

use super::clauses::{graph_clauses, Clauses};
use super::model::metadata;
use super::tensor::keyword_sparse;
use super::token::{
    absent, comma_or_close, expect, items, keyword, name_here, op_segments, peek_word, show_ref,
    split_qualified, string, tag, ws,
};
use super::{duplicate, fail, PErr, PResult, Parser};
use crate::text::syntax;
use crate::{DType, Graph, Node, OnnxOp, Op, Tensor, TypeInfo, Value, ValueRef, ValueType};

/// The definitions visible in one graph, in text order.
#[derive(Default)]
pub(super) struct Scope {
    defs: HashMap<String, Vec<ValueRef>>,
}

impl Scope {
    pub(super) fn define(&mut self, node: &Node, id: crate::NodeId) {
        for (slot, v) in node.outputs.iter().enumerate() {
            self.defs
                .entry(v.name.clone())
                .or_default()
                .push(ValueRef::new(id, slot));
        }
    }

    pub(super) fn resolve<'a>(&self, r: &Ref<'a>) -> Result<ValueRef, nom::Err<PErr<'a>>> {
        let Some(defs) = self.defs.get(&r.name) else {
            return Err(nom::Err::Failure(PErr {
                at: r.at,
                msg: format!("undefined value `{}`", show_ref(&r.name)).into(),
            }));
        };
        let found = match r.index {
            None => defs.last(),
            Some(k) => defs.get(k),
        };
        found.copied().ok_or_else(|| {
            nom::Err::Failure(PErr {
                at: r.at,
                msg: format!(
                    "`{}#{}`: `{}` has only {} definition(s) here",
                    show_ref(&r.name),
                    r.index.unwrap_or(0),
                    show_ref(&r.name),
                    defs.len()
                )
                .into(),
            })
        })
    }
}

/// A value reference as written: `%name` or `%name#k`.
pub(super) struct Ref<'a> {
    at: &'a str,
    name: String,
    index: Option<usize>,
}

pub(super) fn reference(i: &str) -> PResult<'_, Ref<'_>> {
    let at = ws(i);
    let Some(rest) = at.strip_prefix('%') else {
        return fail(at, "expected a value reference (`%name`)");
    };
    let (rest, name) = match name_here(rest)? {
        (rest, Some(n)) => (rest, n),
        (_, None) => return fail(rest, "expected a name or quoted string after `%`"),
    };
    let (rest, index) = match rest.strip_prefix('#') {
        Some(r) => match digit1::<_, PErr>(r) {
            Ok((r, d)) => match d.parse::<usize>() {
                Ok(k) => (r, Some(k)),
                Err(_) => return fail(r, "definition index out of range"),
            },
            Err(_) => return fail(r, "expected a definition number after `#`"),
        },
        None => (rest, None),
    };
    Ok((rest, Ref { at, name, index }))
}

/// A declared value and whether its type was written (`: T` or `: _`).
pub(super) struct Decl {
    value: Value,
    typed: bool,
}

/// A graph being parsed: the graph so far, its definitions, its unresolved outputs.
pub(super) struct Header<'a> {
    graph: Graph,
    scope: Scope,
    outputs: Vec<Ref<'a>>,
}

impl<'a> Header<'a> {
    /// The graph, with its outputs resolved now that the body is known.
    pub(super) fn finish(self: Box<Self>) -> Result<Graph, nom::Err<PErr<'a>>> {
        let Header {
            mut graph,
            scope,
            outputs,
        } = *self;
        let outputs = outputs
            .iter()
            .map(|r| scope.resolve(r))
            .collect::<Result<Vec<ValueRef>, _>>()?;
        graph.set_outputs(outputs);
        Ok(graph)
    }
}

/// A graph input or outer value: its value, its default, its node-level clauses.
pub(super) type HeaderEntry = (Decl, Option<Tensor>, Clauses);

/// A statement's node and the values feeding its input slots.
pub(super) type Rhs = (Node, Vec<Option<ValueRef>>);

/// Adds a parsed statement's node to the graph, connects it and defines its outputs.
pub(super) fn add_statement(g: &mut Graph, scope: &mut Scope, rhs: Rhs, mut clauses: Clauses) {
    let (mut node, args) = rhs;
    let captures = std::mem::take(&mut clauses.captures);
    clauses.apply(&mut node);
    let id = g.add_node(node);
    let args = args
        .into_iter()
        .enumerate()
        .filter_map(|(slot, v)| Some((slot, v?)));
    g.connect_inputs(id, args.chain(captures));
    scope.define(g.node(id), id);
}

impl Parser<'_> {
    /// `graph name(inputs) outer(...) -> (outputs) clauses { statements }`. Parsing nests
    /// through here (attributes hold graphs), so the frames on that path are kept small.
    pub(super) fn graph<'a>(&mut self, i: &'a str) -> PResult<'a, Graph> {
        let (mut i, mut h) = self.graph_header(i)?;
        loop {
            let at = ws(i);
            if let Some(rest) = at.strip_prefix('}') {
                i = rest;
                break;
            }
            if at.is_empty() {
                return fail(at, "expected `}` to close the graph's body");
            }
            i = self.statement(at, &mut h.graph, &mut h.scope)?.0;
        }
        let g = h.finish()?;
        self.depth -= 1;
        Ok((i, g))
    }

    /// Everything of a graph up to and including the `{` of its body.
    pub(super) fn graph_header<'a>(&mut self, i: &'a str) -> PResult<'a, Box<Header<'a>>> {
        let start = ws(i);
        let Some(i) = keyword(start, "graph") else {
            return fail(start, "expected `graph`");
        };
        self.enter(start)?;
        let (i, name) = name_here(ws(i))?;
        let mut h = Box::new(Header {
            graph: Graph::new(name.unwrap_or_default()),
            scope: Scope::default(),
            outputs: Vec::new(),
        });
        let (i, ()) = expect(i, "(", "to open the graph's inputs")?;
        let (mut i, ()) = self.graph_inputs(i, &mut h)?;
        if let Some(rest) = keyword(i, "outer") {
            i = self.graph_outer(rest, &mut h)?.0;
        }
        let (i, ()) = expect(i, "->", "after the graph's inputs")?;
        let (i, ()) = expect(i, "(", "to open the graph's outputs")?;
        let (i, outputs) = items(i, ')', "after a graph output", reference)?;
        h.outputs = outputs;
        let (i, ()) = graph_clauses(i, &mut h.graph)?;
        let (i, ()) = expect(i, "{", "to open the graph's body")?;
        Ok((i, h))
    }

    pub(super) fn graph_inputs<'a>(&mut self, i: &'a str, h: &mut Header<'a>) -> PResult<'a, ()> {
        if let Some(rest) = tag(i, ")") {
            return Ok((rest, ()));
        }
        let mut i = i;
        loop {
            let (rest, entry) = self.header_entry(i, true)?;
            let (decl, default, clauses) = *entry;
            let id = h.graph.add_input(decl.value);
            let node = h.graph.node_mut(id);
            node.op = Op::Input {
                default: default.map(Box::new),
            };
            clauses.apply(node);
            h.scope.define(h.graph.node(id), id);
            let (rest, closed) = comma_or_close(rest, ')', "after a graph input")?;
            i = rest;
            if closed {
                return Ok((i, ()));
            }
        }
    }

    pub(super) fn graph_outer<'a>(&mut self, i: &'a str, h: &mut Header<'a>) -> PResult<'a, ()> {
        let (i, ()) = expect(i, "(", "after `outer`")?;
        let (i, entries) = self.items_mut(i, ')', "after an outer value", |p, i| {
            p.header_entry(i, false)
        })?;
        for entry in entries {
            let (decl, _, clauses) = *entry;
            let mut node = Node::new(Op::Outer, 0, vec![decl.value]);
            clauses.apply(&mut node);
            let id = h.graph.add_node(node);
            h.scope.define(h.graph.node(id), id);
        }
        Ok((i, ()))
    }

    /// A graph input (`%x: f32[3] = f32[3] [1.0, 2.0, 3.0] node(name="in")`) or an outer value.
    pub(super) fn header_entry<'a>(
        &mut self,
        i: &'a str,
        input: bool,
    ) -> PResult<'a, Box<HeaderEntry>> {
        let (i, mut entry) = self.header_value(i, input)?;
        let Some(rest) = keyword(i, "node") else {
            return Ok((i, entry));
        };
        let (rest, ()) = expect(rest, "(", "after `node`")?;
        let (rest, c) = self.clauses(rest, None)?;
        entry.2 = c;
        let (rest, ()) = expect(rest, ")", "to close `node(...)`")?;
        Ok((rest, entry))
    }

    /// A header entry's value and default.
    pub(super) fn header_value<'a>(
        &mut self,
        i: &'a str,
        input: bool,
    ) -> PResult<'a, Box<HeaderEntry>> {
        let (mut i, decl) = self.value_decl(i)?;
        let mut default = None;
        if input {
            if let Some(rest) = tag(i, "=") {
                let (rest, t) = self.tensor(rest)?;
                default = Some(t);
                i = rest;
            }
        }
        Ok((i, Box::new((decl, default, Clauses::default()))))
    }

    /// `%name[: type] [doc="..."] [meta={...}]`, or `_` for an empty name.
    pub(super) fn value_decl<'a>(&mut self, i: &'a str) -> PResult<'a, Decl> {
        let at = ws(i);
        let (mut i, name) = if let Some(rest) = at.strip_prefix('%') {
            match name_here(rest)? {
                (rest, Some(n)) => (rest, n),
                (_, None) => return fail(rest, "expected a name or quoted string after `%`"),
            }
        } else if let Some(rest) = absent(at) {
            (rest, String::new())
        } else {
            return fail(at, "expected a value (`%name` or `_`)");
        };
        let mut decl = Decl {
            value: Value::named(name),
            typed: false,
        };
        if let Some(rest) = tag(i, ":") {
            decl.typed = true;
            if let Some(rest) = absent(rest) {
                i = rest;
            } else {
                let (rest, t) = self.type_info(rest)?;
                decl.value.ty = Some(std::sync::Arc::new(t));
                i = rest;
            }
        }
        let mut seen = HashSet::new();
        loop {
            let at = ws(i);
            let Some(word) = peek_word(at) else { break };
            if !matches!(word, "doc" | "meta") || !at[word.len()..].trim_start().starts_with('=') {
                break;
            }
            if !seen.insert(word) {
                return duplicate(at, word);
            }
            let (rest, ()) = expect(&at[word.len()..], "=", "")?;
            i = if word == "doc" {
                let (r, v) = string(rest)?;
                decl.value.doc = v.into();
                r
            } else {
                let (r, v) = metadata(rest)?;
                decl.value.meta = v;
                r
            };
        }
        Ok((i, decl))
    }

    /// `decls = rhs clauses`. On the nesting path: the left and right sides are parsed by
    /// functions whose frames are gone by the time the clauses (and their sub-graphs) are.
    pub(super) fn statement<'a>(
        &mut self,
        i: &'a str,
        g: &mut Graph,
        scope: &mut Scope,
    ) -> PResult<'a, ()> {
        let (i, decls) = self.lhs(i)?;
        let (i, rhs) = self.rhs(i, decls, scope)?;
        let (i, clauses) = self.clauses(i, Some((&*scope, rhs.0.num_inputs)))?;
        add_statement(g, scope, *rhs, clauses);
        Ok((i, ()))
    }

    /// The declared outputs of a statement and its `=`.
    pub(super) fn lhs<'a>(&mut self, i: &'a str) -> PResult<'a, Vec<Decl>> {
        let start = ws(i);
        let (i, decls) = if let Some(rest) = start.strip_prefix('(') {
            let (rest, ()) = expect(rest, ")", "(`()` declares a node without outputs)")?;
            (rest, Vec::new())
        } else if start.starts_with('%') || absent(start).is_some() {
            let mut decls = Vec::new();
            let mut i = start;
            loop {
                let (rest, d) = self.value_decl(i)?;
                decls.push(d);
                match tag(rest, ",") {
                    Some(r) => i = r,
                    None => break (rest, decls),
                }
            }
        } else {
            return fail(start, "expected a statement (`%name = ...`) or `}`");
        };
        let (i, ()) = expect(i, "=", "after the node's outputs")?;
        Ok((i, decls))
    }

    /// The right side of a statement, up to its clauses: the node and what feeds its inputs.
    pub(super) fn rhs<'a>(
        &mut self,
        i: &'a str,
        decls: Vec<Decl>,
        scope: &Scope,
    ) -> PResult<'a, Box<Rhs>> {
        let rhs = ws(i);
        let (i, (segs, bare)) = op_segments(rhs)?;
        let keyword = if bare && segs.len() == 1 {
            segs[0].as_str()
        } else {
            ""
        };
        match keyword {
            "const" => {
                let (i, op) = if keyword_sparse(i) {
                    let (i, s) = self.sparse(i)?;
                    (i, Op::SparseConst(Box::new(s)))
                } else {
                    let (i, t) = self.tensor(i)?;
                    (i, Op::Const(Box::new(t)))
                };
                let implied = match &op {
                    Op::Const(t) => Some(TypeInfo::from(ValueType::tensor(t.dtype, &t.dims))),
                    _ => None,
                };
                let outputs = decls
                    .into_iter()
                    .map(|mut d| {
                        if !d.typed {
                            d.value.ty = implied.clone().map(std::sync::Arc::new);
                        }
                        d.value
                    })
                    .collect();
                Ok((i, Box::new((Node::new(op, 0, outputs), Vec::new()))))
            }
            "input" => {
                let (i, default) = match peek_word(i) {
                    Some(w) if w.parse::<DType>().is_ok() => {
                        let (i, t) = self.tensor(i)?;
                        (i, Some(Box::new(t)))
                    }
                    _ => (i, None),
                };
                let outputs = decls.into_iter().map(|d| d.value).collect();
                Ok((
                    i,
                    Box::new((Node::new(Op::Input { default }, 0, outputs), Vec::new())),
                ))
            }
            _ => {
                let (i, op) = if keyword == "custom" {
                    let (i, (segs, _)) = op_segments(i)?;
                    let (domain, name) = split_qualified(segs);
                    (i, Op::custom(domain, name))
                } else if segs.len() == 1 {
                    match OnnxOp::lookup("", &segs[0]) {
                        Some(op) => (i, Op::Onnx(op)),
                        None => {
                            let mut shown = String::new();
                            syntax::segment(&mut shown, &segs[0]);
                            return fail(
                                rhs,
                                format!(
                                    "unknown op `{shown}` (a custom op needs a domain, \
                                     `com.example.{shown}`, or the `custom` prefix, `custom {shown}`)"
                                ),
                            );
                        }
                    }
                } else {
                    let (domain, name) = split_qualified(segs);
                    match OnnxOp::lookup(&domain, &name) {
                        Some(op) => (i, Op::Onnx(op)),
                        None => (i, Op::custom(domain, name)),
                    }
                };
                let (i, ()) = expect(i, "(", "after the op name")?;
                let (i, args) = items(i, ')', "after an input", |i| match absent(i) {
                    Some(rest) => Ok((rest, None)),
                    None => {
                        let (rest, r) = reference(i)?;
                        Ok((rest, Some(scope.resolve(&r)?)))
                    }
                })?;
                let outputs = decls.into_iter().map(|d| d.value).collect();
                Ok((i, Box::new((Node::new(op, args.len(), outputs), args))))
            }
        }
    }
}
