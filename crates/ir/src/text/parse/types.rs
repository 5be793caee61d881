//! Value types: tensors with shapes, `seq<>`, `map<>`, `opt<>`, `sparse<>`.

use super::token::{
    absent, close_angle, expect, items, keyword, name_here, open_angle, peek_word, segment, string,
    tag, u64_lit, ws,
};
use super::{fail, PResult, Parser};
use crate::{DType, Dim, Shape, TensorType, TypeInfo, ValueType};

impl Parser<'_> {
    /// `f32[N,3] denotation="IMAGE"`.
    pub(super) fn type_info<'a>(&mut self, i: &'a str) -> PResult<'a, TypeInfo> {
        let (mut i, ty) = self.value_type(i)?;
        let mut denotation = String::new();
        if let Some(rest) = keyword(i, "denotation") {
            let (rest, ()) = expect(rest, "=", "after `denotation`")?;
            let (rest, d) = string(rest)?;
            denotation = d;
            i = rest;
        }
        Ok((
            i,
            TypeInfo {
                ty,
                denotation: denotation.into(),
            },
        ))
    }

    /// A type. Types nest (`seq<seq<...>>`): the nested kinds have functions of their own so
    /// that the frames on the nesting path stay small.
    pub(super) fn value_type<'a>(&mut self, i: &'a str) -> PResult<'a, ValueType> {
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
    pub(super) fn inner_type<'a>(&mut self, i: &'a str) -> PResult<'a, Option<Box<ValueType>>> {
        match absent(i) {
            Some(r) => Ok((r, None)),
            None => {
                let (r, t) = self.value_type(i)?;
                Ok((r, Some(Box::new(t))))
            }
        }
    }

    /// `seq<T>` or `opt<T>`, after the word.
    pub(super) fn wrapped_type<'a>(&mut self, i: &'a str, word: &str) -> PResult<'a, ValueType> {
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
    pub(super) fn map_type<'a>(&mut self, i: &'a str) -> PResult<'a, ValueType> {
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
    pub(super) fn sparse_type<'a>(&mut self, i: &'a str) -> PResult<'a, ValueType> {
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
    pub(super) fn leaf_type<'a>(&mut self, at: &'a str) -> PResult<'a, ValueType> {
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
                Ok((
                    r,
                    ValueType::Opaque {
                        domain: domain.into(),
                        name: name.into(),
                    },
                ))
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
    pub(super) fn shape<'a>(&mut self, i: &'a str) -> PResult<'a, Option<Shape>> {
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
}
