//! The text form (printer and parser): the IR's face.
//!
//! `modelc dump` prints it, snapshots store it, tests start from it. It reads like a small
//! SSA program, is deterministic (nodes in [`Graph::topo_order`]), and is complete: every
//! field of every IR struct is printed when it differs from its default, so that
//! `parse(print(m)) == m`. Constants with more than [`PrintOptions::inline_limit`] elements
//! print as the hash of their contents; parsing them needs the tensors, from [`constants`].
//!
//! ```text
//! model {
//!   ir_version: 10
//!   opset_import: {"": 17, "com.example": 1}
//!   producer: "pytorch" "2.1.0"
//! }
//!
//! func com.example.AddRelu<alpha, beta=3> opsets={"": 17} graph(%a, %b) -> (%c) {
//!   %s = Add(%a, %b)
//!   %c = LeakyRelu(%s) {alpha=@alpha:float}
//! }
//!
//! graph main(%x: f32[N,3,224,224], %"mask 1": bool[?,7]) -> (%y) {
//!   %w = const f32[64,3,7,7] #a1b2c3d4e5f60718
//!   %c = Conv(%x, %w, _) {strides=[2,2], pads=[3,3,3,3]} layout=NCHW
//!   %y: f32[N,64,112,112] = Relu(%c) name="relu_1" doc="the last op"
//! }
//! ```
//!
//! The grammar, in brief (whitespace and `// comments` are insignificant):
//!
//! - A model is `model { ir_version: 10 ... }` (fields `opset_import`, `producer`, `domain`,
//!   `model_version`, `doc`, `meta`, `extra`), then its functions, then its graph. A function
//!   is `func domain.Name<attr, attr=default> [overload=".."] [opsets={..}] [doc=..]
//!   [meta=..] <graph>`.
//! - A graph is `graph [name](inputs) [outer(values)] -> (outputs) [doc=..] [meta=..]
//!   [extra=..] { statements }`. An input is a value declaration with an optional
//!   `= <tensor>` default; `outer(...)` lists the values a sub-graph reads from its enclosing
//!   graph ([`Op::Outer`] nodes).
//! - A value declaration is `%name` (or `_` for an absent output / empty name), then
//!   optionally `: <type>` (`: _` = explicitly untyped), `doc="..."`, `meta={...}`. A
//!   constant's value has its tensor's type unless it says otherwise.
//! - A statement is `decls = rhs clauses`, where the left side is one or more declarations
//!   (`()` for none) and the right side is `const <tensor>`, `const sparse[dims] values=<tensor>
//!   indices=<tensor>`, `input [<tensor>]` (an input node that is not in the input list) or a
//!   call `Op(%a, _, %b)` with `_` for an absent optional input. Ops are ONNX ops by name
//!   (`Conv`, `ai.onnx.ml.Scaler`), custom ops as `domain.Name`, and `custom Name` /
//!   `custom ai.onnx.Relu` for custom ops that would otherwise read as ONNX ops.
//! - Clauses, in any order: `{attr=value, ...}`, `layout=NCHW|NHWC`, `captures(%a, %b)`
//!   (capture inputs of a node with sub-graphs; `captures(5: %a)` when the slots have gaps),
//!   `name="..."`, `doc="..."`, `meta={"k": "v"}`, `extra={"key": x"00ff"}`. Header entries
//!   (graph inputs and outer values) put node-level clauses in `node(...)`.
//! - References are `%name`, which means the latest definition of `name` so far, or `%name#k`
//!   for its k-th definition (0-based) when a later one shadows it. Graph outputs resolve
//!   after the whole body.
//! - Types: `f32[N,3,?,224]`, `f32[*]` (unknown rank), `?[2,3]` (unknown element type),
//!   `seq<T>`, `map<i64, T>`, `opt<T>` (`_` for an absent element type), `sparse<f32[10]>`,
//!   `opaque<"domain", "name">`, `unspecified`; then `denotation="IMAGE"` when present.
//! - Tensors: `f32[2,2] [1.0, 2.0, nan, -0.0]` (flat, row-major), `str[1] ["a\xff"]`,
//!   `bool[2] [true, false]`, `f8e4m3fn[2] x"3840"` (raw little-endian bytes, for the float8,
//!   float4, complex types and anything that would not read back exactly) or `f32[1000]
//!   #0123456789abcdef` (the [`Tensor::content_hash`]). Floats print in the shortest form
//!   that reads back bit-exactly; NaNs other than the canonical one as `nan(0x7fc00001)`.
//! - Attribute values: `1.5`, `3`, `"text"`, `[1.0, 2.0]`, `[1,2]`, `["a", "b"]`,
//!   `ints[]` / `floats[]` / `strings[]` when empty, a tensor, `sparse[...] ...`,
//!   `graph ...`, `type f32[3]`, `tensors[...]`, `graphs[...]`, `sparse_tensors[...]`,
//!   `types[...]`, `@name:kind` (a reference to a function attribute); each may be followed by
//!   `doc="..."`.
//! - Strings are quoted with `\"`, `\\`, `\n`, `\r`, `\t` and `\xNN` escapes (control
//!   characters and bytes that are not UTF-8); names that are not `[A-Za-z_][A-Za-z0-9_.]*`
//!   are quoted. Parsing never panics and nests at most 64 graphs and types deep.

use std::collections::HashMap;
use std::fmt;

use crate::{Attr, Graph, Model, Op, Tensor, TypeInfo};

mod parse;
mod print;
mod syntax;
#[cfg(test)]
mod tests;

/// How to print.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrintOptions {
    /// Tensors with at most this many elements print their data; larger ones print as the
    /// hash of their contents. `usize::MAX` prints everything, so the text stands alone.
    pub inline_limit: usize,
}

impl Default for PrintOptions {
    fn default() -> PrintOptions {
        PrintOptions { inline_limit: 16 }
    }
}

/// A parse error, with the 1-based line and column (in characters) where it was found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}, column {column}: {message}")]
pub struct ParseError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

/// Prints a whole model: the `model { ... }` block, the functions, then the main graph.
pub fn print_model(m: &Model, opts: &PrintOptions) -> String {
    print::print_model(m, opts)
}

/// Prints one graph (`graph name(...) -> (...) { ... }`).
pub fn print_graph(g: &Graph, opts: &PrintOptions) -> String {
    print::print_graph(g, opts)
}

/// A type as the text form writes it (`f32[N,3]`, `seq<i64[*]>`, ...).
pub fn type_to_string(t: &TypeInfo) -> String {
    let mut s = String::new();
    print::type_info(&mut s, t);
    s
}

/// An attribute value as the text form writes it (`[1,1]`, `2.5`, `"NOTSET"`); tensors of
/// more than 16 elements print as their hash.
pub fn attr_to_string(a: &crate::Attr) -> String {
    print::attr_to_string(a, &PrintOptions::default())
}

/// Parses a model printed by [`print_model`]. `consts` resolves constants printed by hash
/// (`#0123456789abcdef`); see [`constants`].
pub fn parse_model(text: &str, consts: Option<&HashMap<u64, Tensor>>) -> Result<Model, ParseError> {
    parse::parse_model(text, consts)
}

/// Parses one graph printed by [`print_graph`] (or written by hand: `parse_graph(src, None)`
/// when every constant is inline).
pub fn parse_graph(text: &str, consts: Option<&HashMap<u64, Tensor>>) -> Result<Graph, ParseError> {
    parse::parse_graph(text, consts)
}

/// Every tensor reachable from `model` (constants, input defaults, sparse constants' parts,
/// tensor attributes, sub-graphs, functions), by [`Tensor::content_hash`].
pub fn constants(model: &Model) -> HashMap<u64, Tensor> {
    let mut map = HashMap::new();
    walk_model(model, &mut |t| {
        map.entry(t.content_hash()).or_insert_with(|| t.clone());
    });
    map
}

/// [`constants`] of a single graph.
pub fn graph_constants(graph: &Graph) -> HashMap<u64, Tensor> {
    let mut map = HashMap::new();
    walk_graph(graph, &mut |t| {
        map.entry(t.content_hash()).or_insert_with(|| t.clone());
    });
    map
}

pub(crate) fn walk_model<'a>(m: &'a Model, f: &mut dyn FnMut(&'a Tensor)) {
    for func in &m.functions {
        for (_, a) in &func.attribute_defaults {
            walk_attr(a, f);
        }
        walk_graph(&func.body, f);
    }
    walk_graph(&m.graph, f);
}

pub(crate) fn walk_graph<'a>(g: &'a Graph, f: &mut dyn FnMut(&'a Tensor)) {
    for id in g.node_ids() {
        let node = g.node(id);
        match &node.op {
            Op::Input { default: Some(t) } | Op::Const(t) => f(t),
            Op::SparseConst(s) => {
                f(&s.values);
                f(&s.indices);
            }
            _ => {}
        }
        for e in node.attrs.iter() {
            walk_attr(&e.value, f);
        }
    }
}

fn walk_attr<'a>(a: &'a Attr, f: &mut dyn FnMut(&'a Tensor)) {
    match a {
        Attr::Tensor(t) => f(t),
        Attr::Tensors(ts) => {
            for t in ts {
                f(t);
            }
        }
        Attr::SparseTensor(s) => {
            f(&s.values);
            f(&s.indices);
        }
        Attr::SparseTensors(ss) => {
            for s in ss {
                f(&s.values);
                f(&s.indices);
            }
        }
        Attr::Graph(g) => walk_graph(g, f),
        Attr::Graphs(gs) => {
            for g in gs {
                walk_graph(g, f);
            }
        }
        _ => {}
    }
}

impl Graph {
    /// Parses a graph in the text form with every constant inline (tests start from this).
    pub fn parse(text: &str) -> Result<Graph, ParseError> {
        parse_graph(text, None)
    }
}

/// The text form with default options.
impl fmt::Display for Graph {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&print_graph(self, &PrintOptions::default()))
    }
}

/// The text form with default options.
impl fmt::Display for Model {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&print_model(self, &PrintOptions::default()))
    }
}
