//! The parser: nom for the tokens, recursive descent for the structure.
//!
//! Every error is a [`nom::Err::Failure`] carrying the remaining input where it was found and
//! a message saying what was expected; the public functions turn it into a [`ParseError`]
//! with line and column. Nesting of graphs and types is bounded by [`MAX_DEPTH`].

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};

use bytes::Bytes;
use nom::bytes::complete::{tag as nom_tag, take_while, take_while_m_n};
use nom::character::complete::{char as nom_char, digit1, one_of, satisfy};
use nom::combinator::{opt, recognize};
use nom::error::ErrorKind;
use nom::{IResult, Parser as _};

use super::syntax::{self, FloatKind};
use super::ParseError;
use crate::{
    element_count, Attr, AttrEntry, AttrKind, Attrs, DType, Dim, Extra, Function, Graph, Layout,
    Metadata, Model, Node, OnnxOp, Op, OpsetImport, Shape, SparseTensor, Tensor, TensorData,
    TensorType, TypeInfo, Value, ValueRef, ValueType,
};

/// How deeply graphs (sub-graphs in attributes) and types (`seq<seq<...>>`) may nest.
pub(super) const MAX_DEPTH: usize = 64;

#[derive(Debug)]
pub(super) struct PErr<'a> {
    at: &'a str,
    msg: Cow<'static, str>,
}

impl<'a> nom::error::ParseError<&'a str> for PErr<'a> {
    fn from_error_kind(input: &'a str, _kind: ErrorKind) -> Self {
        PErr {
            at: input,
            msg: "unexpected input".into(),
        }
    }

    fn append(_input: &'a str, _kind: ErrorKind, other: Self) -> Self {
        other
    }
}

type PResult<'a, T> = IResult<&'a str, T, PErr<'a>>;

fn fail<'a, T>(at: &'a str, msg: impl Into<Cow<'static, str>>) -> PResult<'a, T> {
    Err(nom::Err::Failure(PErr {
        at,
        msg: msg.into(),
    }))
}

fn to_error(src: &str, e: nom::Err<PErr<'_>>) -> ParseError {
    let (at, message) = match e {
        nom::Err::Error(e) | nom::Err::Failure(e) => (e.at, e.msg.into_owned()),
        nom::Err::Incomplete(_) => ("", "unexpected end of input".to_string()),
    };
    let offset = src.len().saturating_sub(at.len());
    let before = src.get(..offset).unwrap_or(src);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    ParseError {
        line,
        column,
        message,
    }
}

pub(super) fn parse_graph(
    text: &str,
    consts: Option<&HashMap<u64, Tensor>>,
) -> Result<Graph, ParseError> {
    let mut p = Parser { consts, depth: 0 };
    let run = |p: &mut Parser| -> PResult<Graph> {
        let (i, g) = p.graph(text)?;
        end(i, "after the graph")?;
        Ok((i, g))
    };
    run(&mut p).map(|(_, g)| g).map_err(|e| to_error(text, e))
}

pub(super) fn parse_model(
    text: &str,
    consts: Option<&HashMap<u64, Tensor>>,
) -> Result<Model, ParseError> {
    let mut p = Parser { consts, depth: 0 };
    let run = |p: &mut Parser| -> PResult<Model> {
        let (i, m) = p.model(text)?;
        end(i, "after the model's graph")?;
        Ok((i, m))
    };
    run(&mut p).map(|(_, m)| m).map_err(|e| to_error(text, e))
}

fn end<'a>(i: &'a str, what: &str) -> PResult<'a, ()> {
    let i = ws(i);
    if i.is_empty() {
        Ok((i, ()))
    } else {
        fail(i, format!("expected end of input {what}"))
    }
}

// ---------------------------------------------------------------------------------------------
// Tokens

/// Skips whitespace and `//` comments.
fn ws(mut i: &str) -> &str {
    loop {
        i = i.trim_start();
        match i.strip_prefix("//") {
            Some(rest) => i = rest.find('\n').map_or(&rest[rest.len()..], |n| &rest[n..]),
            None => return i,
        }
    }
}

/// After whitespace: the rest after `s`, if the input starts with it.
fn tag<'a>(i: &'a str, s: &str) -> Option<&'a str> {
    ws(i).strip_prefix(s)
}

fn expect<'a>(i: &'a str, s: &str, context: &str) -> PResult<'a, ()> {
    let i = ws(i);
    match i.strip_prefix(s) {
        Some(rest) => Ok((rest, ())),
        None => fail(i, format!("expected `{s}` {context}")),
    }
}

fn comma_or_close<'a>(i: &'a str, close: char, context: &str) -> PResult<'a, bool> {
    let i = ws(i);
    if let Some(rest) = i.strip_prefix(',') {
        Ok((rest, false))
    } else if let Some(rest) = i.strip_prefix(close) {
        Ok((rest, true))
    } else {
        fail(i, format!("expected `,` or `{close}` {context}"))
    }
}

/// A bare `[A-Za-z_][A-Za-z0-9_]*` word (no whitespace skipped).
fn segment(i: &str) -> PResult<'_, &str> {
    recognize((
        satisfy(syntax::is_ident_start),
        take_while(syntax::is_segment_char),
    ))
    .parse(i)
}

/// A bare `[A-Za-z_][A-Za-z0-9_.]*` identifier (no whitespace skipped).
fn ident(i: &str) -> PResult<'_, &str> {
    recognize((
        satisfy(syntax::is_ident_start),
        take_while(syntax::is_ident_char),
    ))
    .parse(i)
}

/// After whitespace: the rest after keyword `kw`, when it is a whole word.
fn keyword<'a>(i: &'a str, kw: &str) -> Option<&'a str> {
    let rest = ws(i).strip_prefix(kw)?;
    match rest.chars().next() {
        Some(c) if syntax::is_ident_char(c) => None,
        _ => Some(rest),
    }
}

/// After whitespace: the rest after `_` standing alone (an absent value).
fn absent(i: &str) -> Option<&str> {
    keyword(i, "_")
}

/// After whitespace: the next word, without consuming it.
fn peek_word(i: &str) -> Option<&str> {
    segment(ws(i)).ok().map(|(_, w)| w)
}

/// A quoted string as bytes, with escapes `\" \\ \n \r \t \0 \xNN`.
fn string_bytes(i: &str) -> PResult<'_, Vec<u8>> {
    let start = ws(i);
    let Some(mut rest) = start.strip_prefix('"') else {
        return fail(start, "expected a string");
    };
    let mut out = Vec::new();
    loop {
        let Some(pos) = rest.find(['"', '\\']) else {
            return fail(start, "unterminated string");
        };
        out.extend_from_slice(&rest.as_bytes()[..pos]);
        let escape = &rest[pos..];
        let quote = rest.as_bytes()[pos] == b'"';
        rest = &rest[pos + 1..];
        if quote {
            return Ok((rest, out));
        }
        let (byte, len) = match rest.as_bytes().first() {
            Some(b'"') => (b'"', 1),
            Some(b'\\') => (b'\\', 1),
            Some(b'n') => (b'\n', 1),
            Some(b'r') => (b'\r', 1),
            Some(b't') => (b'\t', 1),
            Some(b'0') => (0, 1),
            Some(b'x') => match rest.get(1..3).and_then(|h| u8::from_str_radix(h, 16).ok()) {
                Some(b) if rest.as_bytes()[1..3].iter().all(u8::is_ascii_hexdigit) => (b, 3),
                _ => return fail(escape, "expected two hex digits after `\\x`"),
            },
            None => return fail(start, "unterminated string"),
            Some(_) => {
                return fail(
                    escape,
                    "unknown escape (expected \\\" \\\\ \\n \\r \\t \\0 or \\xNN)",
                )
            }
        };
        out.push(byte);
        rest = &rest[len..];
    }
}

/// A quoted string that must be UTF-8 text.
fn string(i: &str) -> PResult<'_, String> {
    let start = ws(i);
    let (rest, bytes) = string_bytes(start)?;
    match String::from_utf8(bytes) {
        Ok(s) => Ok((rest, s)),
        Err(_) => fail(start, "string is not valid UTF-8"),
    }
}

/// An identifier or a quoted string, when one comes next (no whitespace skipped).
fn name_here(i: &str) -> PResult<'_, Option<String>> {
    if i.starts_with('"') {
        let (rest, s) = string(i)?;
        Ok((rest, Some(s)))
    } else if let Ok((rest, s)) = ident(i) {
        Ok((rest, Some(s.to_string())))
    } else {
        Ok((i, None))
    }
}

/// An identifier or quoted string, required.
fn req_name<'a>(i: &'a str, what: &str) -> PResult<'a, String> {
    let i = ws(i);
    match name_here(i)? {
        (rest, Some(s)) => Ok((rest, s)),
        (_, None) => fail(i, format!("expected {what} (a name or a quoted string)")),
    }
}

/// `x"0a1b..."`.
fn hex_bytes(i: &str) -> PResult<'_, Vec<u8>> {
    let start = ws(i);
    let Some(rest) = start.strip_prefix("x\"") else {
        return fail(start, "expected bytes in hex (`x\"0a1b\"`)");
    };
    let Some(end) = rest.find('"') else {
        return fail(start, "unterminated hex bytes");
    };
    let hex = &rest[..end];
    if hex.len() & 1 != 0 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return fail(start, "hex bytes need an even number of hex digits");
    }
    let bytes = hex
        .as_bytes()
        .chunks(2)
        .map(|c| {
            let digit = |b: u8| (b as char).to_digit(16).unwrap_or(0) as u8;
            digit(c[0]) << 4 | digit(c[1])
        })
        .collect();
    Ok((&rest[end + 1..], bytes))
}

/// The text of a number: `-?(inf|digits[.digits][(e|E)[+-]digits])`, not followed by a word
/// character.
fn number_text(i: &str) -> PResult<'_, &str> {
    let start = ws(i);
    let decimal = recognize((
        digit1,
        opt((nom_char('.'), digit1)),
        opt((one_of("eE"), opt(one_of("+-")), digit1)),
    ));
    let parsed: PResult<&str> = recognize((
        opt(nom_char('-')),
        nom::branch::alt((nom_tag("inf"), decimal)),
    ))
    .parse(start);
    match parsed {
        Ok((rest, text)) if !rest.starts_with(|c: char| syntax::is_ident_char(c)) => {
            Ok((rest, text))
        }
        _ => fail(start, "expected a number"),
    }
}

fn is_float_text(s: &str) -> bool {
    s.contains(['.', 'e', 'E', 'i', 'n'])
}

/// An integer in `[min, max]`.
fn int(i: &str, min: i128, max: i128) -> PResult<'_, i128> {
    let start = ws(i);
    let (rest, text) = number_text(start)?;
    if is_float_text(text) {
        return fail(start, "expected an integer");
    }
    match text.parse::<i128>() {
        Ok(v) if (min..=max).contains(&v) => Ok((rest, v)),
        _ => fail(
            start,
            format!("integer {text} is out of range [{min}, {max}]"),
        ),
    }
}

fn i64_lit(i: &str) -> PResult<'_, i64> {
    let (rest, v) = int(i, i64::MIN as i128, i64::MAX as i128)?;
    Ok((rest, v as i64))
}

fn u64_lit(i: &str) -> PResult<'_, u64> {
    let (rest, v) = int(i, 0, u64::MAX as i128)?;
    Ok((rest, v as u64))
}

/// A float of `kind` as bits: a decimal or integer, `inf`, `-inf`, `nan`, `nan(0x...)`.
fn float(i: &str, kind: FloatKind) -> PResult<'_, u64> {
    let start = ws(i);
    if let Some(rest) = keyword(start, "nan") {
        let Some(rest) = rest.strip_prefix("(0x") else {
            return Ok((rest, kind.canonical_nan_bits()));
        };
        let digits = (kind.bits() / 4) as usize;
        let (rest, hex) =
            match take_while_m_n::<_, _, PErr>(1, digits, |c: char| c.is_ascii_hexdigit())(rest) {
                Ok(ok) => ok,
                Err(_) => {
                    return fail(
                        start,
                        format!("expected up to {digits} hex digits in `nan(0x...)`"),
                    )
                }
            };
        let Some(rest) = rest.strip_prefix(')') else {
            return fail(
                start,
                format!("expected `)` after at most {digits} hex digits in `nan(0x...)`"),
            );
        };
        let bits = u64::from_str_radix(hex, 16).unwrap_or(0);
        if !kind.is_nan(bits) {
            return fail(start, format!("`nan(0x{hex})` is not a NaN bit pattern"));
        }
        return Ok((rest, bits));
    }
    let (rest, text) = match number_text(start) {
        Ok(ok) => ok,
        Err(_) => {
            return fail(
                start,
                "expected a float (`1.5`, `-0.0`, `inf`, `nan`, `nan(0x...)`)",
            )
        }
    };
    match kind.parse_decimal(text) {
        Some(bits) => Ok((rest, bits)),
        None => fail(start, format!("invalid float `{text}`")),
    }
}

fn metadata(i: &str) -> PResult<'_, Metadata> {
    let (i, ()) = expect(i, "{", "to open the metadata")?;
    items(i, '}', "in metadata", |i| {
        let (i, k) = string(i)?;
        let (i, ()) = expect(i, ":", "after a metadata key")?;
        let (i, v) = string(i)?;
        Ok((i, (k, v)))
    })
}

fn extra(i: &str) -> PResult<'_, Extra> {
    let (i, ()) = expect(i, "{", "to open the extra data")?;
    items(i, '}', "in extra data", |i| {
        let (i, k) = string(i)?;
        let (i, ()) = expect(i, ":", "after an extra-data key")?;
        let (i, v) = hex_bytes(i)?;
        Ok((i, (k, Bytes::from(v))))
    })
}

fn opsets(i: &str) -> PResult<'_, Vec<OpsetImport>> {
    let (i, ()) = expect(i, "{", "to open the opset imports")?;
    items(i, '}', "in opset imports", |i| {
        let (i, domain) = string(i)?;
        let (i, ()) = expect(i, ":", "after an opset domain")?;
        let (i, version) = i64_lit(i)?;
        Ok((i, OpsetImport { domain, version }))
    })
}

/// Comma-separated items up to `close` (the opener already consumed).
fn items<'a, T>(
    i: &'a str,
    close: char,
    context: &str,
    mut item: impl FnMut(&'a str) -> PResult<'a, T>,
) -> PResult<'a, Vec<T>> {
    let mut out = Vec::new();
    if let Some(rest) = ws(i).strip_prefix(close) {
        return Ok((rest, out));
    }
    let mut i = i;
    loop {
        let (rest, x) = item(i)?;
        out.push(x);
        let (rest, closed) = comma_or_close(rest, close, context)?;
        i = rest;
        if closed {
            return Ok((i, out));
        }
    }
}

/// A dotted op or function name: segments (bare or quoted) separated by `.`; returns the
/// segments and whether the first was bare.
fn op_segments(i: &str) -> PResult<'_, (Vec<String>, bool)> {
    let start = ws(i);
    let mut segs = Vec::new();
    let mut i = start;
    let mut first_bare = false;
    loop {
        let (rest, seg) = if i.starts_with('"') {
            string(i)?
        } else {
            match segment(i) {
                Ok((rest, s)) => {
                    first_bare |= segs.is_empty();
                    (rest, s.to_string())
                }
                Err(_) => return fail(i, "expected an op name"),
            }
        };
        segs.push(seg);
        match rest.strip_prefix('.') {
            Some(r) => i = r,
            None => return Ok((rest, (segs, first_bare))),
        }
    }
}

/// Splits segments into (domain, name): the last is the name, the rest joined by dots.
fn split_qualified(mut segs: Vec<String>) -> (String, String) {
    let name = segs.pop().unwrap_or_default();
    (segs.join("."), name)
}

fn show_ref(name: &str) -> String {
    let mut s = String::from("%");
    syntax::name(&mut s, name);
    s
}

// ---------------------------------------------------------------------------------------------
// Structure

struct Parser<'c> {
    consts: Option<&'c HashMap<u64, Tensor>>,
    depth: usize,
}

/// The definitions visible in one graph, in text order.
#[derive(Default)]
struct Scope {
    defs: HashMap<String, Vec<ValueRef>>,
}

impl Scope {
    fn define(&mut self, node: &Node, id: crate::NodeId) {
        for (slot, v) in node.outputs.iter().enumerate() {
            self.defs
                .entry(v.name.clone())
                .or_default()
                .push(ValueRef::new(id, slot));
        }
    }

    fn resolve<'a>(&self, r: &Ref<'a>) -> Result<ValueRef, nom::Err<PErr<'a>>> {
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
struct Ref<'a> {
    at: &'a str,
    name: String,
    index: Option<usize>,
}

fn reference(i: &str) -> PResult<'_, Ref<'_>> {
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
struct Decl {
    value: Value,
    typed: bool,
}

/// Node-level clauses.
#[derive(Default)]
struct Clauses {
    attrs: Option<Attrs>,
    layout: Option<Layout>,
    captures: Vec<(usize, ValueRef)>,
    has_captures: bool,
    name: Option<String>,
    doc: Option<String>,
    meta: Option<Metadata>,
    extra: Option<Extra>,
}

impl Clauses {
    fn apply(self, node: &mut Node) {
        node.attrs = self.attrs.unwrap_or_default();
        // Without `layout=`, a layout-sensitive op keeps `Node::new`'s default (NCHW, ONNX's).
        if self.layout.is_some() {
            node.layout = self.layout;
        }
        node.name = self.name.unwrap_or_default();
        node.doc = self.doc.unwrap_or_default();
        node.meta = self.meta.unwrap_or_default();
        node.extra = self.extra.unwrap_or_default();
    }
}

/// A graph being parsed: the graph so far, its definitions, its unresolved outputs.
struct Header<'a> {
    graph: Graph,
    scope: Scope,
    outputs: Vec<Ref<'a>>,
}

impl<'a> Header<'a> {
    /// The graph, with its outputs resolved now that the body is known.
    fn finish(self: Box<Self>) -> Result<Graph, nom::Err<PErr<'a>>> {
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

/// `doc=`, `meta=`, `extra=` of a graph.
fn graph_clauses<'a>(mut i: &'a str, g: &mut Graph) -> PResult<'a, ()> {
    let mut seen = HashSet::new();
    loop {
        let at = ws(i);
        let Some(word) = peek_word(at) else { break };
        if !matches!(word, "doc" | "meta" | "extra") {
            break;
        }
        if !seen.insert(word) {
            return duplicate(at, word);
        }
        let (rest, ()) = expect(&at[word.len()..], "=", &format!("after `{word}`"))?;
        i = match word {
            "doc" => {
                let (r, v) = string(rest)?;
                g.doc = v;
                r
            }
            "meta" => {
                let (r, v) = metadata(rest)?;
                g.meta = v;
                r
            }
            _ => {
                let (r, v) = extra(rest)?;
                g.extra = v;
                r
            }
        };
    }
    Ok((i, ()))
}

/// A graph input or outer value: its value, its default, its node-level clauses.
type HeaderEntry = (Decl, Option<Tensor>, Clauses);

/// A statement's node and the values feeding its input slots.
type Rhs = (Node, Vec<Option<ValueRef>>);

/// Adds a parsed statement's node to the graph, connects it and defines its outputs.
fn add_statement(g: &mut Graph, scope: &mut Scope, rhs: Box<Rhs>, mut clauses: Clauses) {
    let (mut node, args) = *rhs;
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

/// A clause other than `{attributes}`, if one comes next.
fn other_clause<'a>(
    at: &'a str,
    scope: Option<(&Scope, usize)>,
    c: &mut Clauses,
) -> PResult<'a, bool> {
    let Some(word) = peek_word(at) else {
        return Ok((at, false));
    };
    let rest = &at[word.len()..];
    let given = match word {
        "layout" => c.layout.is_some(),
        "captures" => c.has_captures,
        "name" => c.name.is_some(),
        "doc" => c.doc.is_some(),
        "meta" => c.meta.is_some(),
        "extra" => c.extra.is_some(),
        _ => {
            if word != "_" && ws(rest).starts_with('=') {
                return fail(at, format!("unknown clause `{word}=`"));
            }
            return Ok((at, false));
        }
    };
    if given {
        return duplicate(at, word);
    }
    let (rest, ()) = if word == "captures" {
        let Some((scope, num_inputs)) = scope else {
            return fail(at, "`captures(...)` is not allowed here");
        };
        c.has_captures = true;
        captures(rest, scope, num_inputs, &mut c.captures)?
    } else {
        simple_clause(rest, word, c)?
    };
    Ok((rest, true))
}

/// `captures(%a, %b)` or `captures(3: %a, 5: %b)`, after the word.
fn captures<'a>(
    i: &'a str,
    scope: &Scope,
    num_inputs: usize,
    out: &mut Vec<(usize, ValueRef)>,
) -> PResult<'a, ()> {
    let (i, ()) = expect(i, "(", "after `captures`")?;
    let (i, list) = items(i, ')', "after a capture", |i| {
        let at = ws(i);
        let (i, slot) = if at.starts_with(|c: char| c.is_ascii_digit()) {
            let (i, s) = u64_lit(at)?;
            let (i, ()) = expect(i, ":", "after a capture slot")?;
            (i, Some(s))
        } else {
            (i, None)
        };
        let (i, r) = reference(i)?;
        Ok((i, (at, slot, scope.resolve(&r)?)))
    })?;
    let mut next = num_inputs;
    let mut slots = HashSet::new();
    for (at, slot, v) in list {
        let slot = match slot {
            Some(s) => match usize::try_from(s) {
                Ok(s) => s,
                Err(_) => return fail(at, "capture slot out of range"),
            },
            None => next,
        };
        if slot < num_inputs {
            return fail(
                at,
                format!("capture slot {slot} is an input slot (the node has {num_inputs})"),
            );
        }
        if !slots.insert(slot) {
            return fail(at, format!("capture slot {slot} is given twice"));
        }
        next = slot.saturating_add(1);
        out.push((slot, v));
    }
    Ok((i, ()))
}

/// `layout=`, `name=`, `doc=`, `meta=` or `extra=`, after the word.
fn simple_clause<'a>(i: &'a str, word: &str, c: &mut Clauses) -> PResult<'a, ()> {
    let (rest, ()) = expect(i, "=", &format!("after `{word}`"))?;
    let i = match word {
        "layout" => {
            let lat = ws(rest);
            let (r, l) = match segment(lat) {
                Ok((r, w)) => match w.parse::<Layout>() {
                    Ok(l) => (r, l),
                    Err(e) => return fail(lat, e),
                },
                Err(_) => return fail(lat, "expected a layout (NCHW or NHWC)"),
            };
            c.layout = Some(l);
            r
        }
        "name" => {
            let (r, v) = string(rest)?;
            c.name = Some(v);
            r
        }
        "doc" => {
            let (r, v) = string(rest)?;
            c.doc = Some(v);
            r
        }
        "meta" => {
            let (r, v) = metadata(rest)?;
            c.meta = Some(v);
            r
        }
        _ => {
            let (r, v) = extra(rest)?;
            c.extra = Some(v);
            r
        }
    };
    Ok((i, ()))
}

/// `name=` of an attribute.
fn attr_name(i: &str) -> PResult<'_, String> {
    let (i, name) = req_name(i, "an attribute name")?;
    let (i, ()) = expect(i, "=", "after the attribute name")?;
    Ok((i, name))
}

/// An attribute's optional ` doc="..."`.
fn attr_doc(i: &str) -> PResult<'_, String> {
    match keyword(i, "doc") {
        Some(rest) => {
            let (rest, ()) = expect(rest, "=", "after `doc`")?;
            string(rest)
        }
        None => Ok((i, String::new())),
    }
}

fn duplicate<'a, T>(at: &'a str, what: &str) -> PResult<'a, T> {
    fail(at, format!("`{what}` is given twice"))
}

impl Parser<'_> {
    fn enter<'a>(&mut self, at: &'a str) -> PResult<'a, ()> {
        if self.depth >= MAX_DEPTH {
            return fail(
                at,
                format!("nesting is too deep (more than {MAX_DEPTH} levels of graphs and types)"),
            );
        }
        self.depth += 1;
        Ok((at, ()))
    }

    fn model<'a>(&mut self, i: &'a str) -> PResult<'a, Model> {
        let start = ws(i);
        let Some(i) = keyword(start, "model") else {
            return fail(start, "expected `model {`");
        };
        let (mut i, ()) = expect(i, "{", "after `model`")?;
        let mut m = Model::new(Graph::default(), 0);
        m.ir_version = 0;
        m.opset_imports.clear();
        m.producer_name.clear();
        m.producer_version.clear();
        let mut seen = HashSet::new();
        loop {
            let at = ws(i);
            if let Some(rest) = at.strip_prefix('}') {
                i = rest;
                break;
            }
            let Ok((rest, field)) = segment(at) else {
                return fail(at, "expected a model field (`ir_version: 10`) or `}`");
            };
            if !seen.insert(field) {
                return duplicate(at, field);
            }
            let (rest, ()) = expect(rest, ":", "after a model field name")?;
            i = match field {
                "ir_version" => {
                    let (r, v) = i64_lit(rest)?;
                    m.ir_version = v;
                    r
                }
                "opset_import" => {
                    let (r, v) = opsets(rest)?;
                    m.opset_imports = v;
                    r
                }
                "producer" => {
                    let (r, name) = string(rest)?;
                    let (r, version) = string(r)?;
                    m.producer_name = name;
                    m.producer_version = version;
                    r
                }
                "domain" => {
                    let (r, v) = string(rest)?;
                    m.domain = v;
                    r
                }
                "model_version" => {
                    let (r, v) = i64_lit(rest)?;
                    m.model_version = v;
                    r
                }
                "doc" => {
                    let (r, v) = string(rest)?;
                    m.doc = v;
                    r
                }
                "meta" => {
                    let (r, v) = metadata(rest)?;
                    m.meta = v;
                    r
                }
                "extra" => {
                    let (r, v) = extra(rest)?;
                    m.extra = v.into_iter().collect();
                    r
                }
                other => return fail(at, format!("unknown model field `{other}`")),
            };
        }
        while let Some(rest) = keyword(i, "func") {
            let (rest, f) = self.function(rest)?;
            m.functions.push(f);
            i = rest;
        }
        let (i, g) = self.graph(i)?;
        m.graph = g;
        Ok((i, m))
    }

    /// After `func`: the function's name, attributes, clauses and body graph.
    fn function<'a>(&mut self, i: &'a str) -> PResult<'a, Function> {
        let (mut i, (segs, _)) = op_segments(i)?;
        let (domain, name) = split_qualified(segs);
        let mut f = Function {
            name,
            domain,
            overload: String::new(),
            attributes: Vec::new(),
            attribute_defaults: Vec::new(),
            opset_imports: Vec::new(),
            body: Graph::default(),
            doc: String::new(),
            meta: Vec::new(),
        };
        if let Some(rest) = i.strip_prefix('<') {
            let (rest, list) =
                self.items_mut(rest, '>', "in the function's attributes", |p, i| {
                    let (i, name) = req_name(i, "an attribute name")?;
                    match tag(i, "=") {
                        Some(i) => {
                            let (i, a) = p.attr_value(i)?;
                            Ok((i, (name, Some(a))))
                        }
                        None => Ok((i, (name, None))),
                    }
                })?;
            for (name, value) in list {
                match value {
                    Some(a) => f.attribute_defaults.push((name, a)),
                    None => f.attributes.push(name),
                }
            }
            i = rest;
        }
        let mut seen = HashSet::new();
        loop {
            let at = ws(i);
            let Some(word) = peek_word(at) else { break };
            if !matches!(word, "overload" | "opsets" | "doc" | "meta") {
                break;
            }
            if !seen.insert(word) {
                return duplicate(at, word);
            }
            let (rest, ()) = expect(&at[word.len()..], "=", &format!("after `{word}`"))?;
            i = match word {
                "overload" => {
                    let (r, v) = string(rest)?;
                    f.overload = v;
                    r
                }
                "opsets" => {
                    let (r, v) = opsets(rest)?;
                    f.opset_imports = v;
                    r
                }
                "doc" => {
                    let (r, v) = string(rest)?;
                    f.doc = v;
                    r
                }
                _ => {
                    let (r, v) = metadata(rest)?;
                    f.meta = v;
                    r
                }
            };
        }
        let (i, body) = self.graph(i)?;
        f.body = body;
        Ok((i, f))
    }

    /// Like [`items`], for items that need the parser.
    fn items_mut<'a, T>(
        &mut self,
        i: &'a str,
        close: char,
        context: &str,
        mut item: impl FnMut(&mut Self, &'a str) -> PResult<'a, T>,
    ) -> PResult<'a, Vec<T>> {
        items(i, close, context, |i| item(self, i))
    }

    /// `graph name(inputs) outer(...) -> (outputs) clauses { statements }`. Parsing nests
    /// through here (attributes hold graphs), so the frames on that path are kept small.
    fn graph<'a>(&mut self, i: &'a str) -> PResult<'a, Graph> {
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
    fn graph_header<'a>(&mut self, i: &'a str) -> PResult<'a, Box<Header<'a>>> {
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

    fn graph_inputs<'a>(&mut self, i: &'a str, h: &mut Header<'a>) -> PResult<'a, ()> {
        if let Some(rest) = tag(i, ")") {
            return Ok((rest, ()));
        }
        let mut i = i;
        loop {
            let (rest, entry) = self.header_entry(i, true)?;
            let (decl, default, clauses) = *entry;
            let id = h.graph.add_input(decl.value);
            let node = h.graph.node_mut(id);
            node.op = Op::Input { default };
            clauses.apply(node);
            h.scope.define(h.graph.node(id), id);
            let (rest, closed) = comma_or_close(rest, ')', "after a graph input")?;
            i = rest;
            if closed {
                return Ok((i, ()));
            }
        }
    }

    fn graph_outer<'a>(&mut self, i: &'a str, h: &mut Header<'a>) -> PResult<'a, ()> {
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
    fn header_entry<'a>(&mut self, i: &'a str, input: bool) -> PResult<'a, Box<HeaderEntry>> {
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
    fn header_value<'a>(&mut self, i: &'a str, input: bool) -> PResult<'a, Box<HeaderEntry>> {
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
    fn value_decl<'a>(&mut self, i: &'a str) -> PResult<'a, Decl> {
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
                decl.value.ty = Some(t);
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
                decl.value.doc = v;
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
    fn statement<'a>(&mut self, i: &'a str, g: &mut Graph, scope: &mut Scope) -> PResult<'a, ()> {
        let (i, decls) = self.lhs(i)?;
        let (i, rhs) = self.rhs(i, decls, scope)?;
        let (i, clauses) = self.clauses(i, Some((&*scope, rhs.0.num_inputs)))?;
        add_statement(g, scope, rhs, clauses);
        Ok((i, ()))
    }

    /// The declared outputs of a statement and its `=`.
    fn lhs<'a>(&mut self, i: &'a str) -> PResult<'a, Vec<Decl>> {
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
    fn rhs<'a>(&mut self, i: &'a str, decls: Vec<Decl>, scope: &Scope) -> PResult<'a, Box<Rhs>> {
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
                    (i, Op::SparseConst(s))
                } else {
                    let (i, t) = self.tensor(i)?;
                    (i, Op::Const(t))
                };
                let implied = match &op {
                    Op::Const(t) => Some(TypeInfo::from(ValueType::tensor(t.dtype, &t.dims))),
                    _ => None,
                };
                let outputs = decls
                    .into_iter()
                    .map(|mut d| {
                        if !d.typed {
                            d.value.ty = implied.clone();
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
                        (i, Some(t))
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
                    (i, Op::Custom { domain, name })
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
                        None => (i, Op::Custom { domain, name }),
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

    /// Node clauses in any order; `captures(...)` only where `scope` is given.
    fn clauses<'a>(
        &mut self,
        mut i: &'a str,
        scope: Option<(&Scope, usize)>,
    ) -> PResult<'a, Clauses> {
        let mut c = Clauses::default();
        loop {
            let at = ws(i);
            if at.starts_with('{') {
                if c.attrs.is_some() {
                    return duplicate(at, "{attributes}");
                }
                let (rest, a) = self.attrs(at)?;
                c.attrs = Some(a);
                i = rest;
            } else {
                match other_clause(at, scope, &mut c)? {
                    (rest, true) => i = rest,
                    (_, false) => return Ok((at, c)),
                }
            }
        }
    }

    fn attrs<'a>(&mut self, i: &'a str) -> PResult<'a, Attrs> {
        let (mut i, ()) = expect(i, "{", "to open the attributes")?;
        let mut list = Vec::new();
        if let Some(rest) = tag(i, "}") {
            return Ok((rest, Attrs(list)));
        }
        loop {
            let (rest, name) = attr_name(i)?;
            let (rest, value) = self.attr_value(rest)?;
            let (rest, doc) = attr_doc(rest)?;
            list.push(AttrEntry { name, value, doc });
            let (rest, closed) = comma_or_close(rest, '}', "after an attribute")?;
            i = rest;
            if closed {
                return Ok((i, Attrs(list)));
            }
        }
    }

    /// An attribute value. Sub-graphs nest through here: graphs go their own small way.
    fn attr_value<'a>(&mut self, i: &'a str) -> PResult<'a, Attr> {
        let at = ws(i);
        match peek_word(at) {
            Some("graph") => {
                let (rest, g) = self.graph(at)?;
                Ok((rest, Attr::Graph(Box::new(g))))
            }
            Some("graphs") if at["graphs".len()..].starts_with('[') => {
                self.graph_list(&at["graphs[".len()..])
            }
            _ => self.attr_leaf(at),
        }
    }

    /// The graphs of `graphs[...]`, after the `[`.
    fn graph_list<'a>(&mut self, mut i: &'a str) -> PResult<'a, Attr> {
        let mut gs = Vec::new();
        if let Some(rest) = tag(i, "]") {
            return Ok((rest, Attr::Graphs(gs)));
        }
        loop {
            let (rest, g) = self.graph(i)?;
            gs.push(g);
            let (rest, closed) = comma_or_close(rest, ']', "in a graph list")?;
            i = rest;
            if closed {
                return Ok((i, Attr::Graphs(gs)));
            }
        }
    }

    /// Any attribute value but a graph or graph list.
    fn attr_leaf<'a>(&mut self, at: &'a str) -> PResult<'a, Attr> {
        if let Some(rest) = at.strip_prefix('@') {
            let (rest, name) = req_name(rest, "the referenced attribute's name")?;
            let (rest, ()) = expect(
                rest,
                ":",
                "and the attribute kind after `@name` (`@alpha:float`)",
            )?;
            let kat = ws(rest);
            return match segment(kat) {
                Ok((rest, k)) => match AttrKind::from_name(k) {
                    Some(kind) => Ok((rest, Attr::Ref { name, kind })),
                    None => fail(kat, format!("unknown attribute kind `{k}`")),
                },
                Err(_) => fail(kat, "expected an attribute kind (`float`, `ints`, ...)"),
            };
        }
        if at.starts_with('"') {
            let (rest, s) = string_bytes(at)?;
            return Ok((rest, Attr::String(Bytes::from(s))));
        }
        if let Some(rest) = at.strip_prefix('[') {
            return self.untyped_list(at, rest);
        }
        if at.starts_with(|c: char| c == '-' || c.is_ascii_digit()) {
            let (_, text) = number_text(at)?;
            return if is_float_text(text) {
                let (rest, bits) = float(at, FloatKind::F32)?;
                Ok((rest, Attr::Float(f32::from_bits(bits as u32))))
            } else {
                let (rest, v) = i64_lit(at)?;
                Ok((rest, Attr::Int(v)))
            };
        }
        let Some(word) = peek_word(at) else {
            return fail(at, "expected an attribute value");
        };
        let after = &at[word.len()..];
        let list_open = |what: &str| -> PResult<'a, ()> {
            match after.strip_prefix('[') {
                Some(r) => Ok((r, ())),
                None => fail(after, format!("expected `[` right after `{what}`")),
            }
        };
        match word {
            "type" => {
                let (rest, t) = self.type_info(after)?;
                Ok((rest, Attr::Type(t)))
            }
            "sparse" => {
                let (rest, s) = self.sparse(at)?;
                Ok((rest, Attr::SparseTensor(s)))
            }
            "nan" | "inf" => {
                let (rest, bits) = float(at, FloatKind::F32)?;
                Ok((rest, Attr::Float(f32::from_bits(bits as u32))))
            }
            "floats" => {
                let (rest, ()) = list_open(word)?;
                let (rest, v) = items(rest, ']', "in a float list", |i| float(i, FloatKind::F32))?;
                Ok((
                    rest,
                    Attr::Floats(v.into_iter().map(|b| f32::from_bits(b as u32)).collect()),
                ))
            }
            "ints" => {
                let (rest, ()) = list_open(word)?;
                let (rest, v) = items(rest, ']', "in an int list", i64_lit)?;
                Ok((rest, Attr::Ints(v)))
            }
            "strings" => {
                let (rest, ()) = list_open(word)?;
                let (rest, v) = items(rest, ']', "in a string list", string_bytes)?;
                Ok((
                    rest,
                    Attr::Strings(v.into_iter().map(Bytes::from).collect()),
                ))
            }
            "tensors" => {
                let (rest, ()) = list_open(word)?;
                let (rest, v) =
                    self.items_mut(rest, ']', "in a tensor list", |p, i| p.tensor(i))?;
                Ok((rest, Attr::Tensors(v)))
            }
            "sparse_tensors" => {
                let (rest, ()) = list_open(word)?;
                let (rest, v) =
                    self.items_mut(rest, ']', "in a sparse tensor list", |p, i| p.sparse(i))?;
                Ok((rest, Attr::SparseTensors(v)))
            }
            "types" => {
                let (rest, ()) = list_open(word)?;
                let (rest, v) =
                    self.items_mut(rest, ']', "in a type list", |p, i| p.type_info(i))?;
                Ok((rest, Attr::Types(v)))
            }
            w if w.parse::<DType>().is_ok() => {
                let (rest, t) = self.tensor(at)?;
                Ok((rest, Attr::Tensor(t)))
            }
            _ => fail(at, "expected an attribute value"),
        }
    }

    /// `[1, 2]`, `[1.0, 2]` or `["a", "b"]`: the kind follows from the elements.
    fn untyped_list<'a>(&mut self, at: &'a str, rest: &'a str) -> PResult<'a, Attr> {
        let first = ws(rest);
        if first.starts_with(']') {
            return fail(
                at,
                "an empty list needs its kind: `ints[]`, `floats[]`, `strings[]`, `tensors[]`, ...",
            );
        }
        if first.starts_with('"') {
            let (rest, v) = items(rest, ']', "in a string list", string_bytes)?;
            return Ok((
                rest,
                Attr::Strings(v.into_iter().map(Bytes::from).collect()),
            ));
        }
        // Numbers: floats when any element is written as a float.
        let (_, texts) = items(rest, ']', "in a list", |i| {
            if let Some(r) = keyword(i, "nan") {
                let r = match r.strip_prefix('(') {
                    Some(r) => r.find(')').map_or(&r[r.len()..], |n| &r[n + 1..]),
                    None => r,
                };
                return Ok((r, "nan"));
            }
            number_text(i)
        })?;
        if texts.iter().any(|t| is_float_text(t)) {
            let (rest, v) = items(rest, ']', "in a float list", |i| float(i, FloatKind::F32))?;
            Ok((
                rest,
                Attr::Floats(v.into_iter().map(|b| f32::from_bits(b as u32)).collect()),
            ))
        } else {
            let (rest, v) = items(rest, ']', "in an int list", i64_lit)?;
            Ok((rest, Attr::Ints(v)))
        }
    }

    /// `f32[N,3] denotation="IMAGE"`.
    fn type_info<'a>(&mut self, i: &'a str) -> PResult<'a, TypeInfo> {
        let (mut i, ty) = self.value_type(i)?;
        let mut denotation = String::new();
        if let Some(rest) = keyword(i, "denotation") {
            let (rest, ()) = expect(rest, "=", "after `denotation`")?;
            let (rest, d) = string(rest)?;
            denotation = d;
            i = rest;
        }
        Ok((i, TypeInfo { ty, denotation }))
    }

    /// A type. Types nest (`seq<seq<...>>`): the nested kinds have functions of their own so
    /// that the frames on the nesting path stay small.
    fn value_type<'a>(&mut self, i: &'a str) -> PResult<'a, ValueType> {
        let at = ws(i);
        self.enter(at)?;
        let (rest, ty) = match peek_word(at) {
            Some(w @ ("seq" | "opt")) => self.wrapped_type(&at[w.len()..], w)?,
            Some("map") => self.map_type(&at["map".len()..])?,
            Some("sparse") => self.sparse_type(&at["sparse".len()..])?,
            _ => self.leaf_type(at)?,
        };
        self.depth -= 1;
        Ok((rest, ty))
    }

    /// `T` or `_` inside `seq<...>`, `opt<...>`, `map<k, ...>`.
    fn inner_type<'a>(&mut self, i: &'a str) -> PResult<'a, Option<Box<ValueType>>> {
        match absent(i) {
            Some(r) => Ok((r, None)),
            None => {
                let (r, t) = self.value_type(i)?;
                Ok((r, Some(Box::new(t))))
            }
        }
    }

    /// `seq<T>` or `opt<T>`, after the word.
    fn wrapped_type<'a>(&mut self, i: &'a str, word: &str) -> PResult<'a, ValueType> {
        let (i, ()) = open_angle(i, word)?;
        let (i, t) = self.inner_type(i)?;
        let (i, ()) = close_angle(i, word)?;
        Ok((
            i,
            if word == "seq" {
                ValueType::Sequence(t)
            } else {
                ValueType::Optional(t)
            },
        ))
    }

    /// `map<K, T>`, after the word.
    fn map_type<'a>(&mut self, i: &'a str) -> PResult<'a, ValueType> {
        let (i, ()) = open_angle(i, "map")?;
        let kat = ws(i);
        let (i, key) = match segment(kat)
            .ok()
            .and_then(|(r, w)| Some((r, w.parse::<DType>().ok()?)))
        {
            Some(ok) => ok,
            None => return fail(kat, "expected the map's key element type"),
        };
        let (i, ()) = expect(i, ",", "after the map's key type")?;
        let (i, value) = self.inner_type(i)?;
        let (i, ()) = close_angle(i, "map")?;
        Ok((i, ValueType::Map { key, value }))
    }

    /// `sparse<f32[...]>`, after the word.
    fn sparse_type<'a>(&mut self, i: &'a str) -> PResult<'a, ValueType> {
        let (i, ()) = open_angle(i, "sparse")?;
        let tat = ws(i);
        let (i, t) = match self.value_type(tat)? {
            (r, ValueType::Tensor(t)) => (r, t),
            _ => return fail(tat, "expected a tensor type inside `sparse<...>`"),
        };
        let (i, ()) = close_angle(i, "sparse")?;
        Ok((i, ValueType::SparseTensor(t)))
    }

    /// A tensor type, `opaque<"dom", "name">` or `unspecified`.
    fn leaf_type<'a>(&mut self, at: &'a str) -> PResult<'a, ValueType> {
        if let Some(rest) = at.strip_prefix('?') {
            let (rest, shape) = self.shape(rest)?;
            return Ok((rest, ValueType::Tensor(TensorType { dtype: None, shape })));
        }
        let Ok((rest, word)) = segment(at) else {
            return fail(at, "expected a type (`f32[N,3]`, `seq<...>`, ...)");
        };
        match word {
            "opaque" => {
                let (r, ()) = open_angle(rest, word)?;
                let (r, domain) = string(r)?;
                let (r, ()) = expect(r, ",", "after the opaque type's domain")?;
                let (r, name) = string(r)?;
                let (r, ()) = close_angle(r, word)?;
                Ok((r, ValueType::Opaque { domain, name }))
            }
            "unspecified" => Ok((rest, ValueType::Unspecified)),
            w => match w.parse::<DType>() {
                Ok(dtype) => {
                    let (r, shape) = self.shape(rest)?;
                    Ok((
                        r,
                        ValueType::Tensor(TensorType {
                            dtype: Some(dtype),
                            shape,
                        }),
                    ))
                }
                Err(_) => fail(at, format!("unknown type `{w}`")),
            },
        }
    }

    /// `[N,3,?]`, or `[*]` for an unknown rank.
    fn shape<'a>(&mut self, i: &'a str) -> PResult<'a, Option<Shape>> {
        let Some(rest) = i.strip_prefix('[') else {
            return fail(
                i,
                "expected `[` and the shape (`[N,3]`, `[]` for a scalar, `[*]` for unknown rank)",
            );
        };
        if let Some(rest) = tag(rest, "*") {
            let (rest, ()) = expect(rest, "]", "after `*`")?;
            return Ok((rest, None));
        }
        let (rest, dims) = items(rest, ']', "in a shape", |i| {
            let at = ws(i);
            if let Some(r) = at.strip_prefix('?') {
                return Ok((r, Dim::Unknown));
            }
            if at.starts_with(|c: char| c.is_ascii_digit()) {
                let (r, n) = u64_lit(at)?;
                return Ok((r, Dim::Known(n)));
            }
            match name_here(at)? {
                (r, Some(s)) => Ok((r, Dim::Sym(s))),
                (_, None) => fail(at, "expected a dimension (a number, a name or `?`)"),
            }
        })?;
        Ok((rest, Some(Shape(dims))))
    }

    /// `sparse[10,10] values=f32[3] [...] indices=i64[3] [...]`.
    fn sparse<'a>(&mut self, i: &'a str) -> PResult<'a, SparseTensor> {
        let at = ws(i);
        let Some(rest) = keyword(at, "sparse") else {
            return fail(at, "expected `sparse[dims] values=... indices=...`");
        };
        let (rest, dims) = dims(rest)?;
        let (rest, ()) = expect(rest, "values=", "in a sparse tensor")?;
        let (rest, values) = self.tensor(rest)?;
        let (rest, ()) = expect(rest, "indices=", "in a sparse tensor")?;
        let (rest, indices) = self.tensor(rest)?;
        Ok((
            rest,
            SparseTensor {
                values,
                indices,
                dims,
            },
        ))
    }

    /// `f32[2] [1.0, 2.0]`, `f32[1000] #0123456789abcdef` or `f8e4m3fn[2] x"3840"`.
    fn tensor<'a>(&mut self, i: &'a str) -> PResult<'a, Tensor> {
        let at = ws(i);
        let (rest, dtype) = match segment(at)
            .ok()
            .and_then(|(r, w)| Some((r, w.parse::<DType>().ok()?)))
        {
            Some(ok) => ok,
            None => return fail(at, "expected a tensor (`f32[2] [1.0, 2.0]`)"),
        };
        let (rest, dims) = dims(rest)?;
        let data_at = ws(rest);
        let shown = || format!("{dtype}{}", show_dims(&dims));
        if let Some(hex) = data_at.strip_prefix('#') {
            let (r, digits) =
                match take_while_m_n::<_, _, PErr>(1, 16, |c: char| c.is_ascii_hexdigit())(hex) {
                    Ok(ok) if !r_starts_hex(ok.0) => ok,
                    _ => {
                        return fail(
                            data_at,
                            "expected 16 hex digits of a constant's hash after `#`",
                        )
                    }
                };
            let h = u64::from_str_radix(digits, 16).unwrap_or(0);
            let Some(consts) = self.consts else {
                return fail(
                    data_at,
                    format!("constant #{h:016x} is printed by its hash; parse with the model's constants"),
                );
            };
            let Some(t) = consts.get(&h) else {
                return fail(data_at, format!("unknown constant #{h:016x}"));
            };
            if t.dtype != dtype || t.dims != dims {
                return fail(
                    data_at,
                    format!(
                        "constant #{h:016x} is {}{}, not {}",
                        t.dtype,
                        show_dims(&t.dims),
                        shown()
                    ),
                );
            }
            return Ok((r, t.clone()));
        }
        if data_at.starts_with("x\"") {
            let (r, bytes) = hex_bytes(data_at)?;
            return match Tensor::from_raw(dtype, dims, Bytes::from(bytes)) {
                Ok(t) => Ok((r, t)),
                Err(e) => fail(data_at, e.to_string()),
            };
        }
        let Some(list) = data_at.strip_prefix('[') else {
            return fail(
                data_at,
                "expected the tensor's data: `[...]`, `x\"...\"` or `#hash`",
            );
        };
        let Some(count) = element_count(&dims) else {
            return fail(
                data_at,
                format!("the element count of {} overflows", shown()),
            );
        };
        let check = |n: usize, r: &'a str| -> PResult<'a, ()> {
            if n as u64 != count {
                return fail(
                    data_at,
                    format!("{} needs {count} elements, found {n}", shown()),
                );
            }
            Ok((r, ()))
        };
        let kind = match dtype {
            DType::F32 => Some(FloatKind::F32),
            DType::F64 => Some(FloatKind::F64),
            DType::F16 => Some(FloatKind::F16),
            DType::BF16 => Some(FloatKind::BF16),
            _ => None,
        };
        if let Some(kind) = kind {
            let (r, v) = items(list, ']', "in the tensor's data", |i| float(i, kind))?;
            check(v.len(), r)?;
            let width = (kind.bits() / 8) as usize;
            let mut bytes = Vec::with_capacity(v.len() * width);
            for b in v {
                bytes.extend_from_slice(&b.to_le_bytes()[..width]);
            }
            return Ok((r, raw(dtype, dims, bytes)));
        }
        match dtype {
            DType::Str => {
                let (r, v) = items(list, ']', "in the tensor's data", string_bytes)?;
                check(v.len(), r)?;
                let t = Tensor {
                    dtype,
                    dims,
                    data: TensorData::Strings(v.into_iter().map(Bytes::from).collect()),
                };
                Ok((r, t))
            }
            DType::Bool => {
                let (r, v) = items(list, ']', "in the tensor's data", |i| {
                    let at = ws(i);
                    if let Some(r) = keyword(at, "true") {
                        Ok((r, 1u8))
                    } else if let Some(r) = keyword(at, "false") {
                        Ok((r, 0u8))
                    } else {
                        fail(at, "expected `true` or `false`")
                    }
                })?;
                check(v.len(), r)?;
                Ok((r, raw(dtype, dims, v)))
            }
            _ => {
                let Some((min, max)) = int_range(dtype) else {
                    return fail(
                        data_at,
                        format!("{dtype} data is written as raw bytes: `x\"...\"`"),
                    );
                };
                let (r, v) = items(list, ']', "in the tensor's data", |i| int(i, min, max))?;
                check(v.len(), r)?;
                let bits = dtype.bits() as usize;
                let bytes = if bits >= 8 {
                    let mut bytes = Vec::with_capacity(v.len() * bits / 8);
                    for x in v {
                        bytes.extend_from_slice(&(x as u64).to_le_bytes()[..bits / 8]);
                    }
                    bytes
                } else {
                    let mut bytes = vec![0u8; (v.len() * bits).div_ceil(8)];
                    let mask = (1u8 << bits) - 1;
                    for (k, &x) in v.iter().enumerate() {
                        let bit = k * bits;
                        bytes[bit / 8] |= ((x as u8) & mask) << (bit % 8);
                    }
                    bytes
                };
                Ok((r, raw(dtype, dims, bytes)))
            }
        }
    }
}

fn open_angle<'a>(i: &'a str, word: &str) -> PResult<'a, ()> {
    match i.strip_prefix('<') {
        Some(r) => Ok((r, ())),
        None => fail(i, format!("expected `<` right after `{word}`")),
    }
}

fn close_angle<'a>(i: &'a str, word: &str) -> PResult<'a, ()> {
    expect(i, ">", &format!("to close `{word}<...>`"))
}

fn r_starts_hex(rest: &str) -> bool {
    rest.starts_with(|c: char| c.is_ascii_hexdigit())
}

fn keyword_sparse(i: &str) -> bool {
    keyword(i, "sparse").is_some_and(|r| r.starts_with('['))
}

/// A raw tensor whose byte length is right by construction.
fn raw(dtype: DType, dims: Vec<u64>, bytes: Vec<u8>) -> Tensor {
    Tensor {
        dtype,
        dims,
        data: TensorData::Raw(Bytes::from(bytes)),
    }
}

fn int_range(dtype: DType) -> Option<(i128, i128)> {
    Some(match dtype {
        DType::I8 => (i8::MIN as i128, i8::MAX as i128),
        DType::U8 => (0, u8::MAX as i128),
        DType::I16 => (i16::MIN as i128, i16::MAX as i128),
        DType::U16 => (0, u16::MAX as i128),
        DType::I32 => (i32::MIN as i128, i32::MAX as i128),
        DType::U32 => (0, u32::MAX as i128),
        DType::I64 => (i64::MIN as i128, i64::MAX as i128),
        DType::U64 => (0, u64::MAX as i128),
        DType::I4 => (-8, 7),
        DType::U4 => (0, 15),
        DType::I2 => (-2, 1),
        DType::U2 => (0, 3),
        _ => return None,
    })
}

/// `[64,3,7,7]`: a tensor literal's dimensions.
fn dims(i: &str) -> PResult<'_, Vec<u64>> {
    let Some(rest) = i.strip_prefix('[') else {
        return fail(
            i,
            "expected `[` and the dimensions right after the element type",
        );
    };
    items(rest, ']', "in the dimensions", u64_lit)
}

fn show_dims(dims: &[u64]) -> String {
    let dims: Vec<String> = dims.iter().map(u64::to_string).collect();
    format!("[{}]", dims.join(","))
}
