//! `model { ... }`: the model's fields, then its functions and its main graph.

use std::collections::HashSet;

use bytes::Bytes;

use super::token::{
    expect, hex_bytes, i64_lit, items, keyword, op_segments, peek_word, req_name, segment,
    split_qualified, string, tag, ws,
};
use super::{duplicate, fail, PResult, Parser};
use crate::{Extra, Function, Graph, Metadata, Model, OpsetImport};

pub(super) fn metadata(i: &str) -> PResult<'_, Metadata> {
    let (i, ()) = expect(i, "{", "to open the metadata")?;
    items(i, '}', "in metadata", |i| {
        let (i, k) = string(i)?;
        let (i, ()) = expect(i, ":", "after a metadata key")?;
        let (i, v) = string(i)?;
        Ok((i, (k, v)))
    })
    .map(|(i, v)| (i, v.into()))
}

pub(super) fn extra(i: &str) -> PResult<'_, Extra> {
    let (i, ()) = expect(i, "{", "to open the extra data")?;
    items(i, '}', "in extra data", |i| {
        let (i, k) = string(i)?;
        let (i, ()) = expect(i, ":", "after an extra-data key")?;
        let (i, v) = hex_bytes(i)?;
        Ok((i, (k, Bytes::from(v))))
    })
    .map(|(i, v)| (i, v.into()))
}

pub(super) fn opsets(i: &str) -> PResult<'_, Vec<OpsetImport>> {
    let (i, ()) = expect(i, "{", "to open the opset imports")?;
    items(i, '}', "in opset imports", |i| {
        let (i, domain) = string(i)?;
        let (i, ()) = expect(i, ":", "after an opset domain")?;
        let (i, version) = i64_lit(i)?;
        Ok((i, OpsetImport { domain, version }))
    })
}

impl Parser<'_> {
    pub(super) fn model<'a>(&mut self, i: &'a str) -> PResult<'a, Model> {
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
    pub(super) fn function<'a>(&mut self, i: &'a str) -> PResult<'a, Function> {
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
            meta: Metadata::new(),
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
}
