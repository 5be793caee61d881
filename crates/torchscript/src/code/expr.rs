//! nom parser for expressions (one logical line, so no newlines inside).
//!
//! Precedence, loosest first: `a if c else b`, `or`, `and`, `not`, comparisons (`==`, `is`,
//! `in`, …), `+ -`, `* / // %`, unary `-`, `**`, then calls / attributes / subscripts on an
//! atom. Every recursive descent passes a depth that is checked against
//! [`MAX_EXPR_DEPTH`](super::MAX_EXPR_DEPTH), so `((((…))))` cannot overflow the stack.

use nom::branch::alt;
use nom::bytes::complete::{tag, take_while, take_while1};
use nom::character::complete::{char, digit1};
use nom::combinator::{opt, recognize};
use nom::error::{Error, ErrorKind};
use nom::{IResult, Parser};

use super::ast::{BinOp, Expr};
use super::MAX_EXPR_DEPTH;

type Res<'a, T> = IResult<&'a str, T>;

fn fail(i: &str) -> nom::Err<Error<&str>> {
    nom::Err::Error(Error::new(i, ErrorKind::Verify))
}

/// Too deep: a hard failure (no backtracking into alternatives).
fn too_deep(i: &str) -> nom::Err<Error<&str>> {
    nom::Err::Failure(Error::new(i, ErrorKind::TooLarge))
}

pub fn sp(i: &str) -> Res<'_, &str> {
    take_while(|c| c == ' ').parse(i)
}

fn is_ident_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

pub fn ident(i: &str) -> Res<'_, &str> {
    let (i, _) = sp(i)?;
    recognize((take_while1(is_ident_start), take_while(is_ident))).parse(i)
}

/// Keyword `k` not followed by an identifier character.
pub fn kw<'a>(k: &'static str) -> impl Fn(&'a str) -> Res<'a, &'a str> {
    move |i: &'a str| {
        let (i, _) = sp(i)?;
        let (rest, t) = tag(k).parse(i)?;
        if rest.chars().next().is_some_and(is_ident) {
            return Err(fail(i));
        }
        Ok((rest, t))
    }
}

/// Punctuation `p` after optional spaces.
pub fn punct<'a>(p: &'static str) -> impl Fn(&'a str) -> Res<'a, &'a str> {
    move |i: &'a str| {
        let (i, _) = sp(i)?;
        tag(p).parse(i)
    }
}

const KEYWORDS: &[&str] = &[
    "and", "or", "not", "is", "in", "if", "else", "elif", "for", "while", "def", "class", "return",
    "lambda", "pass", "break", "continue", "raise", "assert",
];

fn name(i: &str) -> Res<'_, Expr> {
    let (rest, n) = ident(i)?;
    if KEYWORDS.contains(&n) {
        return Err(fail(i));
    }
    Ok((
        rest,
        match n {
            "None" => Expr::None,
            "True" => Expr::Bool(true),
            "False" => Expr::Bool(false),
            n => Expr::Name(n.to_string()),
        },
    ))
}

fn number(i: &str) -> Res<'_, Expr> {
    let (i, _) = sp(i)?;
    let (rest, text) = recognize((
        digit1,
        opt((char('.'), take_while(|c: char| c.is_ascii_digit()))),
        opt((
            alt((char('e'), char('E'))),
            opt(alt((char('+'), char('-')))),
            digit1,
        )),
    ))
    .parse(i)?;
    if text.contains(['.', 'e', 'E']) {
        let v: f64 = text.parse().map_err(|_| fail(i))?;
        Ok((rest, Expr::Float(v)))
    } else {
        let v: i64 = text.parse().map_err(|_| fail(i))?;
        Ok((rest, Expr::Int(v)))
    }
}

fn string1(i: &str) -> Res<'_, String> {
    let (i, _) = sp(i)?;
    let q = i.chars().next().filter(|&c| c == '"' || c == '\'');
    let Some(q) = q else {
        return Err(fail(i));
    };
    let mut out = String::new();
    let mut chars = i[1..].char_indices();
    while let Some((k, c)) = chars.next() {
        if c == q {
            return Ok((&i[1 + k + 1..], out));
        }
        if c == '\\' {
            match chars.next() {
                Some((_, 'n')) => out.push('\n'),
                Some((_, 't')) => out.push('\t'),
                Some((_, 'r')) => out.push('\r'),
                Some((_, c)) => out.push(c),
                None => return Err(fail(i)),
            }
        } else {
            out.push(c);
        }
    }
    Err(fail(i))
}

fn string(i: &str) -> Res<'_, Expr> {
    let (mut i, mut s) = string1(i)?;
    while let Ok((rest, more)) = string1(i) {
        s.push_str(&more);
        i = rest;
    }
    Ok((i, Expr::Str(s)))
}

/// Comma-separated expressions up to `close`; returns items and whether a trailing comma
/// (or any comma) was seen.
fn items<'a>(i: &'a str, close: &'static str, d: usize) -> Res<'a, (Vec<Expr>, bool)> {
    let mut out = Vec::new();
    let mut comma = false;
    let mut i = i;
    loop {
        if let Ok((rest, _)) = punct(close)(i) {
            return Ok((rest, (out, comma)));
        }
        let (rest, e) = expr(i, d + 1)?;
        out.push(e);
        i = rest;
        if let Ok((rest, _)) = punct(",")(i) {
            comma = true;
            i = rest;
        } else {
            let (rest, _) = punct(close)(i)?;
            return Ok((rest, (out, comma)));
        }
    }
}

fn atom(i: &str, d: usize) -> Res<'_, Expr> {
    if d > MAX_EXPR_DEPTH {
        return Err(too_deep(i));
    }
    if let Ok((rest, _)) = punct("(")(i) {
        let (rest, (mut v, comma)) = items(rest, ")", d)?;
        return Ok((
            rest,
            if v.len() == 1 && !comma {
                v.remove(0)
            } else {
                Expr::Tuple(v)
            },
        ));
    }
    if let Ok((rest, _)) = punct("[")(i) {
        let (rest, (v, _)) = items(rest, "]", d)?;
        return Ok((rest, Expr::List(v)));
    }
    if let Ok((mut rest, _)) = punct("{")(i) {
        let mut pairs = Vec::new();
        loop {
            if let Ok((r, _)) = punct("}")(rest) {
                return Ok((r, Expr::Dict(pairs)));
            }
            let (r, k) = expr(rest, d + 1)?;
            let (r, _) = punct(":")(r)?;
            let (r, v) = expr(r, d + 1)?;
            pairs.push((k, v));
            rest = match punct(",")(r) {
                Ok((r, _)) => r,
                Err(_) => {
                    let (r, _) = punct("}")(r)?;
                    return Ok((r, Expr::Dict(pairs)));
                }
            };
        }
    }
    if let Ok((rest, _)) = punct("...")(i) {
        return Ok((rest, Expr::Ellipsis));
    }
    alt((number, string, name)).parse(i)
}

fn subscript(i: &str, d: usize) -> Res<'_, Expr> {
    // `a`, `a:b`, `:b`, `a:b:c`; several separated by commas form a tuple.
    let mut parts = Vec::new();
    let mut i = i;
    loop {
        let (r, lo) = opt(|x| expr(x, d + 1)).parse(i)?;
        let (r, e) = if let Ok((r, _)) = punct(":")(r) {
            let (r, hi) = opt(|x| expr(x, d + 1)).parse(r)?;
            let (r, step) = if let Ok((r, _)) = punct(":")(r) {
                opt(|x| expr(x, d + 1)).parse(r)?
            } else {
                (r, None)
            };
            (
                r,
                Expr::Slice(lo.map(Box::new), hi.map(Box::new), step.map(Box::new)),
            )
        } else {
            (r, lo.ok_or_else(|| fail(r))?)
        };
        parts.push(e);
        match punct(",")(r) {
            Ok((r, _)) => i = r,
            Err(_) => {
                let (r, _) = punct("]")(r)?;
                let e = if parts.len() == 1 {
                    parts.remove(0)
                } else {
                    Expr::Tuple(parts)
                };
                return Ok((r, e));
            }
        }
    }
}

/// Positional and keyword arguments of a call.
type CallArgs = (Vec<Expr>, Vec<(String, Expr)>);

fn call_args(i: &str, d: usize) -> Res<'_, CallArgs> {
    let mut args = Vec::new();
    let mut kwargs = Vec::new();
    let mut i = i;
    loop {
        if let Ok((r, _)) = punct(")")(i) {
            return Ok((r, (args, kwargs)));
        }
        // `name=value` (but not `name==value`).
        let kw_arg = (ident, punct("="))
            .parse(i)
            .ok()
            .filter(|(r, _)| !r.starts_with('='));
        let r = if let Some((r, (k, _))) = kw_arg {
            let (r, v) = expr(r, d + 1)?;
            kwargs.push((k.to_string(), v));
            r
        } else {
            let (r, v) = expr(i, d + 1)?;
            args.push(v);
            r
        };
        match punct(",")(r) {
            Ok((r, _)) => i = r,
            Err(_) => {
                let (r, _) = punct(")")(r)?;
                return Ok((r, (args, kwargs)));
            }
        }
    }
}

pub fn postfix(i: &str, d: usize) -> Res<'_, Expr> {
    let (mut i, mut e) = atom(i, d)?;
    let mut n = 0;
    loop {
        n += 1;
        if n > 10 * MAX_EXPR_DEPTH {
            return Err(too_deep(i));
        }
        if let Ok((r, _)) = punct(".")(i) {
            if let Ok((r, a)) = ident(r) {
                e = Expr::Attr(Box::new(e), a.to_string());
                i = r;
                continue;
            }
        }
        if let Ok((r, _)) = punct("(")(i) {
            let (r, (args, kwargs)) = call_args(r, d)?;
            e = Expr::Call(Box::new(e), args, kwargs);
            i = r;
            continue;
        }
        if let Ok((r, _)) = punct("[")(i) {
            let (r, idx) = subscript(r, d)?;
            e = Expr::Index(Box::new(e), Box::new(idx));
            i = r;
            continue;
        }
        return Ok((i, e));
    }
}

fn power(i: &str, d: usize) -> Res<'_, Expr> {
    let (i, base) = postfix(i, d)?;
    if let Ok((r, _)) = punct("**")(i) {
        let (r, exp) = factor(r, d + 1)?;
        return Ok((r, Expr::Bin(BinOp::Pow, Box::new(base), Box::new(exp))));
    }
    Ok((i, base))
}

fn factor(i: &str, d: usize) -> Res<'_, Expr> {
    if d > MAX_EXPR_DEPTH {
        return Err(too_deep(i));
    }
    if let Ok((r, _)) = punct("-")(i) {
        let (r, e) = factor(r, d + 1)?;
        return Ok((
            r,
            match e {
                Expr::Int(v) => Expr::Int(v.wrapping_neg()),
                Expr::Float(v) => Expr::Float(-v),
                e => Expr::Neg(Box::new(e)),
            },
        ));
    }
    power(i, d)
}

fn left_assoc<'a>(
    i: &'a str,
    d: usize,
    sub: fn(&'a str, usize) -> Res<'a, Expr>,
    ops: &[(&'static str, BinOp)],
) -> Res<'a, Expr> {
    let (mut i, mut e) = sub(i, d)?;
    'outer: loop {
        for &(p, op) in ops {
            let m = if p.chars().all(is_ident) {
                kw(p)(i)
            } else {
                punct(p)(i)
            };
            if let Ok((r, _)) = m {
                // `//` must not be read as `/`, `**` not as `*`, `==` not as `=`.
                if (p == "/" && r.starts_with('/')) || (p == "*" && r.starts_with('*')) {
                    continue;
                }
                let (r, rhs) = sub(r, d + 1)?;
                e = Expr::Bin(op, Box::new(e), Box::new(rhs));
                i = r;
                continue 'outer;
            }
        }
        return Ok((i, e));
    }
}

fn term(i: &str, d: usize) -> Res<'_, Expr> {
    left_assoc(
        i,
        d,
        factor,
        &[
            ("//", BinOp::FloorDiv),
            ("*", BinOp::Mul),
            ("/", BinOp::Div),
            ("%", BinOp::Mod),
        ],
    )
}

fn arith(i: &str, d: usize) -> Res<'_, Expr> {
    left_assoc(i, d, term, &[("+", BinOp::Add), ("-", BinOp::Sub)])
}

fn comparison(i: &str, d: usize) -> Res<'_, Expr> {
    let (mut i, mut e) = arith(i, d)?;
    loop {
        let op = alt((
            (kw("is"), kw("not")).map(|_| BinOp::IsNot),
            kw("is").map(|_| BinOp::Is),
            (kw("not"), kw("in")).map(|_| BinOp::NotIn),
            kw("in").map(|_| BinOp::In),
            punct("==").map(|_| BinOp::Eq),
            punct("!=").map(|_| BinOp::Ne),
            punct("<=").map(|_| BinOp::Le),
            punct(">=").map(|_| BinOp::Ge),
            punct("<").map(|_| BinOp::Lt),
            punct(">").map(|_| BinOp::Gt),
        ))
        .parse(i);
        match op {
            Ok((r, op)) => {
                let (r, rhs) = arith(r, d + 1)?;
                e = Expr::Bin(op, Box::new(e), Box::new(rhs));
                i = r;
            }
            Err(_) => return Ok((i, e)),
        }
    }
}

fn not_test(i: &str, d: usize) -> Res<'_, Expr> {
    if d > MAX_EXPR_DEPTH {
        return Err(too_deep(i));
    }
    if let Ok((r, _)) = kw("not")(i) {
        let (r, e) = not_test(r, d + 1)?;
        return Ok((r, Expr::Not(Box::new(e))));
    }
    comparison(i, d)
}

fn and_test(i: &str, d: usize) -> Res<'_, Expr> {
    left_assoc(i, d, not_test, &[("and", BinOp::And)])
}

fn or_test(i: &str, d: usize) -> Res<'_, Expr> {
    left_assoc(i, d, and_test, &[("or", BinOp::Or)])
}

/// One expression (no bare tuples).
pub fn expr(i: &str, d: usize) -> Res<'_, Expr> {
    if d > MAX_EXPR_DEPTH {
        return Err(too_deep(i));
    }
    let (i, e) = or_test(i, d)?;
    if let Ok((r, _)) = kw("if")(i) {
        let (r, c) = or_test(r, d + 1)?;
        let (r, _) = kw("else")(r)?;
        let (r, other) = expr(r, d + 1)?;
        return Ok((r, Expr::IfExp(Box::new(c), Box::new(e), Box::new(other))));
    }
    Ok((i, e))
}

/// `a, b, c` (a bare tuple when there is a comma) — right-hand sides and `for` targets.
pub fn expr_list(i: &str, d: usize) -> Res<'_, Expr> {
    let (mut i, first) = expr(i, d)?;
    let mut v = vec![first];
    let mut comma = false;
    while let Ok((r, _)) = punct(",")(i) {
        comma = true;
        match expr(r, d) {
            Ok((r, e)) => {
                v.push(e);
                i = r;
            }
            Err(_) => {
                i = r;
                break;
            }
        }
    }
    Ok((i, if comma { Expr::Tuple(v) } else { v.remove(0) }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Expr {
        let (rest, e) = expr_list(s, 0).unwrap();
        assert_eq!(sp(rest).unwrap().0, "", "left over in {s:?}");
        e
    }

    #[test]
    fn calls_attrs_and_literals() {
        let e = p(
            "torch._convolution(x, weight, None, [1, 1], 1.0000000000000001e-05, False, dim=-1)",
        );
        let Expr::Call(f, args, kwargs) = e else {
            panic!()
        };
        assert_eq!(f.dotted().unwrap(), "torch._convolution");
        assert_eq!(args[3], Expr::List(vec![Expr::Int(1), Expr::Int(1)]));
        assert_eq!(args[4], Expr::Float(1e-05));
        assert_eq!(kwargs, vec![("dim".to_string(), Expr::Int(-1))]);
        assert_eq!(
            p("(torch.size(k2))[0]"),
            Expr::Index(
                Box::new(Expr::Call(
                    Box::new(Expr::Attr(
                        Box::new(Expr::Name("torch".into())),
                        "size".into()
                    )),
                    vec![Expr::Name("k2".into())],
                    vec![]
                )),
                Box::new(Expr::Int(0))
            )
        );
        assert_eq!(p("\"a\\\"b\" 'c'"), Expr::Str("a\"bc".into()));
        assert_eq!(p("(x, )"), Expr::Tuple(vec![Expr::Name("x".into())]));
        assert!(matches!(
            p("a is not None and not b"),
            Expr::Bin(BinOp::And, _, _)
        ));
        assert!(matches!(p("x[:, 1:2]"), Expr::Index(_, _)));
        assert!(matches!(p("a // 2 * 3"), Expr::Bin(BinOp::Mul, _, _)));
    }

    #[test]
    fn deep_nesting_fails_without_overflow() {
        let s = format!("{}1{}", "(".repeat(5000), ")".repeat(5000));
        assert!(matches!(expr(&s, 0), Err(nom::Err::Failure(_))));
        let s = format!("{}x", "not ".repeat(5000));
        assert!(expr(&s, 0).is_err());
        let s = format!("{}x", "-".repeat(5000));
        assert!(expr(&s, 0).is_err());
    }
}
