//! The parser: nom for the tokens, recursive descent for the structure.
//!
//! Every error is a [`nom::Err::Failure`] carrying the remaining input where it was found and
//! a message saying what was expected; the public functions turn it into a [`ParseError`]
//! with line and column. Nesting of graphs and types is bounded by [`MAX_DEPTH`].

mod attrs;
mod clauses;
mod graph;
mod model;
mod tensor;
mod token;
mod types;

use std::borrow::Cow;
use std::collections::HashMap;

use nom::error::ErrorKind;
use nom::IResult;

use self::token::{items, ws};
use crate::text::ParseError;
use crate::{Graph, Model, Tensor};

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

struct Parser<'c> {
    consts: Option<&'c HashMap<u64, Tensor>>,
    depth: usize,
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
}
