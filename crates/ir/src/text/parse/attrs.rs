//! Attribute values: scalars, lists, tensors, types, graphs and references to a
//! function's attributes (`@name:kind`).

use bytes::Bytes;

use super::token::{
    comma_or_close, expect, float, i64_lit, is_float_text, items, keyword, number_text, peek_word,
    req_name, segment, string, string_bytes, tag, ws,
};
use super::{fail, PResult, Parser};
use crate::text::syntax::FloatKind;
use crate::{Attr, AttrEntry, AttrKind, Attrs, DType};

/// `name=` of an attribute.
pub(super) fn attr_name(i: &str) -> PResult<'_, String> {
    let (i, name) = req_name(i, "an attribute name")?;
    let (i, ()) = expect(i, "=", "after the attribute name")?;
    Ok((i, name))
}

/// An attribute's optional ` doc="..."`.
pub(super) fn attr_doc(i: &str) -> PResult<'_, String> {
    match keyword(i, "doc") {
        Some(rest) => {
            let (rest, ()) = expect(rest, "=", "after `doc`")?;
            string(rest)
        }
        None => Ok((i, String::new())),
    }
}

impl Parser<'_> {
    pub(super) fn attrs<'a>(&mut self, i: &'a str) -> PResult<'a, Attrs> {
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
    pub(super) fn attr_value<'a>(&mut self, i: &'a str) -> PResult<'a, Attr> {
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
    pub(super) fn graph_list<'a>(&mut self, mut i: &'a str) -> PResult<'a, Attr> {
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
    pub(super) fn attr_leaf<'a>(&mut self, at: &'a str) -> PResult<'a, Attr> {
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
    pub(super) fn untyped_list<'a>(&mut self, at: &'a str, rest: &'a str) -> PResult<'a, Attr> {
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
}
