//! Clauses after a node or value: `{attributes}`, `captures(...)`, `layout=`, `name=`,
//! `doc=`, `meta=`, `extra=`, and a graph's own `doc=`/`meta=`/`extra=`.

use std::collections::HashSet;

use super::graph::{reference, Scope};
use super::model::{extra, metadata};
use super::token::{expect, items, peek_word, segment, string, u64_lit, ws};
use super::{duplicate, fail, PResult, Parser};
use crate::{Attrs, Extra, Graph, Layout, Metadata, Node, ValueRef};

/// Node-level clauses.
#[derive(Default)]
pub(super) struct Clauses {
    attrs: Option<Attrs>,
    layout: Option<Layout>,
    pub(super) captures: Vec<(usize, ValueRef)>,
    has_captures: bool,
    name: Option<String>,
    doc: Option<String>,
    meta: Option<Metadata>,
    extra: Option<Extra>,
}

impl Clauses {
    pub(super) fn apply(self, node: &mut Node) {
        node.attrs = self.attrs.unwrap_or_default();
        // Without `layout=`, a layout-sensitive op keeps `Node::new`'s default (NCHW, ONNX's).
        if self.layout.is_some() {
            node.layout = self.layout;
        }
        node.name = self.name.unwrap_or_default();
        node.doc = self.doc.unwrap_or_default().into();
        node.meta = self.meta.unwrap_or_default();
        node.extra = self.extra.unwrap_or_default();
    }
}

/// `doc=`, `meta=`, `extra=` of a graph.
pub(super) fn graph_clauses<'a>(mut i: &'a str, g: &mut Graph) -> PResult<'a, ()> {
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

/// A clause other than `{attributes}`, if one comes next.
pub(super) fn other_clause<'a>(
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
pub(super) fn captures<'a>(
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
pub(super) fn simple_clause<'a>(i: &'a str, word: &str, c: &mut Clauses) -> PResult<'a, ()> {
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

impl Parser<'_> {
    /// Node clauses in any order; `captures(...)` only where `scope` is given.
    pub(super) fn clauses<'a>(
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
}
