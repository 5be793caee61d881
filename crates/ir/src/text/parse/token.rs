//! Tokens: whitespace and comments, punctuation, words, names, quoted strings, numbers.
//! Each skips leading whitespace only where its doc says so.

use nom::bytes::complete::{tag as nom_tag, take_while, take_while_m_n};
use nom::character::complete::{char as nom_char, digit1, one_of, satisfy};
use nom::combinator::{opt, recognize};
use nom::Parser as _;

use super::{fail, PErr, PResult};
use crate::text::syntax::{self, FloatKind};

/// Skips whitespace and `//` comments.
pub(super) fn ws(mut i: &str) -> &str {
    loop {
        i = i.trim_start();
        match i.strip_prefix("//") {
            Some(rest) => i = rest.find('\n').map_or(&rest[rest.len()..], |n| &rest[n..]),
            None => return i,
        }
    }
}

/// After whitespace: the rest after `s`, if the input starts with it.
pub(super) fn tag<'a>(i: &'a str, s: &str) -> Option<&'a str> {
    ws(i).strip_prefix(s)
}

pub(super) fn expect<'a>(i: &'a str, s: &str, context: &str) -> PResult<'a, ()> {
    let i = ws(i);
    match i.strip_prefix(s) {
        Some(rest) => Ok((rest, ())),
        None => fail(i, format!("expected `{s}` {context}")),
    }
}

pub(super) fn comma_or_close<'a>(i: &'a str, close: char, context: &str) -> PResult<'a, bool> {
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
pub(super) fn segment(i: &str) -> PResult<'_, &str> {
    recognize((
        satisfy(syntax::is_ident_start),
        take_while(syntax::is_segment_char),
    ))
    .parse(i)
}

/// A bare `[A-Za-z_][A-Za-z0-9_.]*` identifier (no whitespace skipped).
pub(super) fn ident(i: &str) -> PResult<'_, &str> {
    recognize((
        satisfy(syntax::is_ident_start),
        take_while(syntax::is_ident_char),
    ))
    .parse(i)
}

/// After whitespace: the rest after keyword `kw`, when it is a whole word.
pub(super) fn keyword<'a>(i: &'a str, kw: &str) -> Option<&'a str> {
    let rest = ws(i).strip_prefix(kw)?;
    match rest.chars().next() {
        Some(c) if syntax::is_ident_char(c) => None,
        _ => Some(rest),
    }
}

/// After whitespace: the rest after `_` standing alone (an absent value).
pub(super) fn absent(i: &str) -> Option<&str> {
    keyword(i, "_")
}

/// After whitespace: the next word, without consuming it.
pub(super) fn peek_word(i: &str) -> Option<&str> {
    segment(ws(i)).ok().map(|(_, w)| w)
}

/// A quoted string as bytes, with escapes `\" \\ \n \r \t \0 \xNN`.
pub(super) fn string_bytes(i: &str) -> PResult<'_, Vec<u8>> {
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
pub(super) fn string(i: &str) -> PResult<'_, String> {
    let start = ws(i);
    let (rest, bytes) = string_bytes(start)?;
    match String::from_utf8(bytes) {
        Ok(s) => Ok((rest, s)),
        Err(_) => fail(start, "string is not valid UTF-8"),
    }
}

/// An identifier or a quoted string, when one comes next (no whitespace skipped).
pub(super) fn name_here(i: &str) -> PResult<'_, Option<String>> {
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
pub(super) fn req_name<'a>(i: &'a str, what: &str) -> PResult<'a, String> {
    let i = ws(i);
    match name_here(i)? {
        (rest, Some(s)) => Ok((rest, s)),
        (_, None) => fail(i, format!("expected {what} (a name or a quoted string)")),
    }
}

/// `x"0a1b..."`.
pub(super) fn hex_bytes(i: &str) -> PResult<'_, Vec<u8>> {
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
pub(super) fn number_text(i: &str) -> PResult<'_, &str> {
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

pub(super) fn is_float_text(s: &str) -> bool {
    s.contains(['.', 'e', 'E', 'i', 'n'])
}

/// An integer in `[min, max]`.
pub(super) fn int(i: &str, min: i128, max: i128) -> PResult<'_, i128> {
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

pub(super) fn i64_lit(i: &str) -> PResult<'_, i64> {
    let (rest, v) = int(i, i64::MIN as i128, i64::MAX as i128)?;
    Ok((rest, v as i64))
}

pub(super) fn u64_lit(i: &str) -> PResult<'_, u64> {
    let (rest, v) = int(i, 0, u64::MAX as i128)?;
    Ok((rest, v as u64))
}

/// A float of `kind` as bits: a decimal or integer, `inf`, `-inf`, `nan`, `nan(0x...)`.
pub(super) fn float(i: &str, kind: FloatKind) -> PResult<'_, u64> {
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

/// Comma-separated items up to `close` (the opener already consumed).
pub(super) fn items<'a, T>(
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
pub(super) fn op_segments(i: &str) -> PResult<'_, (Vec<String>, bool)> {
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
pub(super) fn split_qualified(mut segs: Vec<String>) -> (String, String) {
    let name = segs.pop().unwrap_or_default();
    (segs.join("."), name)
}

pub(super) fn show_ref(name: &str) -> String {
    let mut s = String::from("%");
    syntax::name(&mut s, name);
    s
}

pub(super) fn open_angle<'a>(i: &'a str, word: &str) -> PResult<'a, ()> {
    match i.strip_prefix('<') {
        Some(r) => Ok((r, ())),
        None => fail(i, format!("expected `<` right after `{word}`")),
    }
}

pub(super) fn close_angle<'a>(i: &'a str, word: &str) -> PResult<'a, ()> {
    expect(i, ">", &format!("to close `{word}<...>`"))
}
