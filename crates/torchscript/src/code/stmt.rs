//! Logical lines (in blocks) → statements, functions and classes.

use super::ast::{ClassDef, Expr, FuncDef, Item, Param, Stmt, StmtKind};
use super::expr::{expr, expr_list, ident, kw, postfix, punct, sp};
use super::lines::Block;
use super::ParseError;

fn err(b: &Block, msg: impl Into<String>) -> ParseError {
    ParseError {
        line: b.line,
        msg: msg.into(),
    }
}

/// Runs a nom parser over the whole of `text`, mapping failures to a line error.
fn whole<'a, T>(
    b: &Block,
    text: &'a str,
    p: impl FnOnce(&'a str) -> nom::IResult<&'a str, T>,
) -> Result<T, ParseError> {
    match p(text) {
        Ok((rest, v)) => {
            let rest = sp(rest).map(|r| r.0).unwrap_or(rest);
            if rest.is_empty() {
                Ok(v)
            } else {
                Err(err(b, format!("unexpected `{}`", snippet(rest))))
            }
        }
        Err(nom::Err::Failure(e)) if e.code == nom::error::ErrorKind::TooLarge => Err(err(
            b,
            format!("expression nests deeper than {}", super::MAX_EXPR_DEPTH),
        )),
        Err(nom::Err::Error(e) | nom::Err::Failure(e)) => {
            Err(err(b, format!("cannot parse `{}`", snippet(e.input))))
        }
        Err(nom::Err::Incomplete(_)) => Err(err(b, "incomplete line")),
    }
}

fn snippet(s: &str) -> String {
    s.chars().take(40).collect()
}

/// Strips a trailing `:` of a block header.
fn header<'a>(b: &'a Block, text: &'a str) -> Result<&'a str, ParseError> {
    text.trim_end()
        .strip_suffix(':')
        .ok_or_else(|| err(b, format!("`{}` does not end with `:`", snippet(text))))
}

/// Top-level items of a file.
pub fn items(blocks: &[Block]) -> Result<Vec<Item>, ParseError> {
    let mut out = Vec::new();
    for b in blocks {
        if b.text.starts_with("class ") {
            out.push(Item::Class(class(b)?));
        } else if b.text.starts_with("def ") {
            out.push(Item::Func(func(b)?));
        } else {
            let mut v = stmts(std::slice::from_ref(b))?;
            out.extend(v.drain(..).map(Item::Stmt));
        }
    }
    Ok(out)
}

fn class(b: &Block) -> Result<ClassDef, ParseError> {
    let h = header(b, &b.text)?;
    let (name, bases) = whole(b, h, |i| {
        let (i, _) = kw("class")(i)?;
        let (i, name) = ident(i)?;
        let (i, bases) = match punct("(")(i) {
            Ok((i, _)) => {
                let (i, e) = if let Ok((i, _)) = punct(")")(i) {
                    (i, Vec::new())
                } else {
                    let (i, e) = expr_list(i, 0)?;
                    let (i, _) = punct(")")(i)?;
                    (
                        i,
                        match e {
                            Expr::Tuple(v) => v,
                            e => vec![e],
                        },
                    )
                };
                (i, e)
            }
            Err(_) => (i, Vec::new()),
        };
        Ok((i, (name.to_string(), bases)))
    })?;
    let mut c = ClassDef {
        name,
        bases,
        attrs: Vec::new(),
        assigns: Vec::new(),
        methods: Vec::new(),
        line: b.line,
    };
    for child in &b.children {
        if child.text.starts_with("def ") {
            c.methods.push(func(child)?);
            continue;
        }
        let s = stmt(child)?;
        match s.kind {
            StmtKind::AnnAssign(n, t, v) => c.attrs.push((n, t, v)),
            StmtKind::Assign(mut targets, v) if targets.len() == 1 => {
                c.assigns.push((targets.remove(0), v))
            }
            StmtKind::Pass => {}
            _ => return Err(err(child, "unexpected statement in class body")),
        }
    }
    Ok(c)
}

fn func(b: &Block) -> Result<FuncDef, ParseError> {
    let h = header(b, &b.text)?;
    let (name, params, ret) = whole(b, h, |i| {
        let (i, _) = kw("def")(i)?;
        let (i, name) = ident(i)?;
        let (mut i, _) = punct("(")(i)?;
        let mut params = Vec::new();
        loop {
            if let Ok((r, _)) = punct(")")(i) {
                i = r;
                break;
            }
            let (r, pname) = ident(i)?;
            let (r, ty) = match punct(":")(r) {
                Ok((r, _)) => {
                    let (r, t) = expr(r, 0)?;
                    (r, Some(t))
                }
                Err(_) => (r, None),
            };
            let (r, default) = match punct("=")(r) {
                Ok((r, _)) => {
                    let (r, v) = expr(r, 0)?;
                    (r, Some(v))
                }
                Err(_) => (r, None),
            };
            params.push(Param {
                name: pname.to_string(),
                ty,
                default,
            });
            match punct(",")(r) {
                Ok((r, _)) => i = r,
                Err(_) => {
                    let (r, _) = punct(")")(r)?;
                    i = r;
                    break;
                }
            }
        }
        let (i, ret) = match punct("->")(i) {
            Ok((i, _)) => {
                let (i, t) = expr(i, 0)?;
                (i, Some(t))
            }
            Err(_) => (i, None),
        };
        Ok((i, (name.to_string(), params, ret)))
    })?;
    Ok(FuncDef {
        name,
        params,
        ret,
        body: stmts(&b.children)?,
        line: b.line,
    })
}

/// A block's statements, joining `if` with its `elif`/`else` siblings.
pub fn stmts(blocks: &[Block]) -> Result<Vec<Stmt>, ParseError> {
    let mut out: Vec<Stmt> = Vec::new();
    let mut i = 0;
    while i < blocks.len() {
        let b = &blocks[i];
        i += 1;
        if b.text.starts_with("if ") || b.text.starts_with("if(") {
            let cond = whole(b, header(b, &b.text[2..])?, |s| expr(s, 0))?;
            let then = stmts(&b.children)?;
            let (otherwise, used) = else_chain(&blocks[i..])?;
            i += used;
            out.push(Stmt {
                kind: StmtKind::If(cond, then, otherwise),
                line: b.line,
            });
        } else if b.text.starts_with("elif ") || is_else(&b.text) {
            return Err(err(b, "`elif`/`else` without `if`"));
        } else if b.text.starts_with("for ") {
            let h = header(b, &b.text)?;
            let (targets, iter) = whole(b, h, |s| {
                let (s, _) = kw("for")(s)?;
                let (s, t) = target_list(s)?;
                let (s, _) = kw("in")(s)?;
                let (s, it) = expr_list(s, 0)?;
                Ok((s, (t, it)))
            })?;
            out.push(Stmt {
                kind: StmtKind::For(targets, iter, stmts(&b.children)?),
                line: b.line,
            });
        } else if b.text.starts_with("while ") {
            let cond = whole(b, header(b, &b.text[5..])?, |s| expr(s, 0))?;
            out.push(Stmt {
                kind: StmtKind::While(cond, stmts(&b.children)?),
                line: b.line,
            });
        } else if b.text.starts_with("with ") {
            let ctx = whole(b, header(b, &b.text[4..])?, |s| expr(s, 0))?;
            out.push(Stmt {
                kind: StmtKind::With(ctx, stmts(&b.children)?),
                line: b.line,
            });
        } else {
            if !b.children.is_empty() {
                return Err(err(b, "unexpected indented block"));
            }
            out.push(stmt(b)?);
        }
    }
    Ok(out)
}

/// Whether a line is an `else:` header (not a statement about a name such as `else_out`).
fn is_else(text: &str) -> bool {
    text.strip_prefix("else")
        .is_some_and(|rest| rest.trim_start().starts_with(':'))
}

/// `elif …:` / `else:` blocks following an `if`; returns the else-branch and how many
/// sibling blocks it used.
fn else_chain(rest: &[Block]) -> Result<(Vec<Stmt>, usize), ParseError> {
    let Some(b) = rest.first() else {
        return Ok((Vec::new(), 0));
    };
    if let Some(h) = b.text.strip_prefix("elif ") {
        let cond = whole(b, header(b, h)?, |s| expr(s, 0))?;
        let then = stmts(&b.children)?;
        let (otherwise, used) = else_chain(&rest[1..])?;
        return Ok((
            vec![Stmt {
                kind: StmtKind::If(cond, then, otherwise),
                line: b.line,
            }],
            used + 1,
        ));
    }
    if is_else(&b.text) {
        return Ok((stmts(&b.children)?, 1));
    }
    Ok((Vec::new(), 0))
}

fn target_list(s: &str) -> nom::IResult<&str, Vec<Expr>> {
    // Targets are postfix expressions (names, attributes, subscripts), comma-separated.
    let (mut s, first) = postfix(s, 0)?;
    let mut v = vec![first];
    while let Ok((r, _)) = punct(",")(s) {
        if kw("in")(r).is_ok() {
            s = r;
            break;
        }
        let (r, e) = postfix(r, 0)?;
        v.push(e);
        s = r;
    }
    Ok((s, v))
}

/// One simple statement.
fn stmt(b: &Block) -> Result<Stmt, ParseError> {
    let t = b.text.as_str();
    let kind = match t {
        "pass" => StmtKind::Pass,
        "break" => StmtKind::Break,
        "continue" => StmtKind::Continue,
        "return" => StmtKind::Return(None),
        _ if t.starts_with("return ") => {
            StmtKind::Return(Some(whole(b, &t[6..], |s| expr_list(s, 0))?))
        }
        _ if t.starts_with("raise ") => {
            StmtKind::Raise(Some(whole(b, &t[5..], |s| expr_list(s, 0))?))
        }
        _ if t.starts_with("assert ") => StmtKind::Assert(whole(b, &t[6..], |s| {
            let (s, e) = expr(s, 0)?;
            // `assert c, "message"`: the message is dropped.
            let s = match punct(",")(s) {
                Ok((s, _)) => expr(s, 0)?.0,
                Err(_) => s,
            };
            Ok((s, e))
        })?),
        _ => whole(b, t, simple)?,
    };
    Ok(Stmt { kind, line: b.line })
}

fn simple(s: &str) -> nom::IResult<&str, StmtKind> {
    // `name : Type [= value]`
    if let Ok((r, (n, _))) = (ident, punct(":")).parse_ann(s) {
        let (r, ty) = expr(r, 0)?;
        let (r, v) = match punct("=")(r) {
            Ok((r, _)) => {
                let (r, v) = expr_list(r, 0)?;
                (r, Some(v))
            }
            Err(_) => (r, None),
        };
        return Ok((r, StmtKind::AnnAssign(n.to_string(), ty, v)));
    }
    let (r, lhs) = expr_list(s, 0)?;
    let (r2, _) = sp(r)?;
    if r2.starts_with('=') && !r2.starts_with("==") {
        let (r, value) = expr_list(&r2[1..], 0)?;
        let targets = match lhs {
            Expr::Tuple(v) => v,
            e => vec![e],
        };
        return Ok((r, StmtKind::Assign(targets, value)));
    }
    Ok((r, StmtKind::Expr(lhs)))
}

/// Helper so `(ident, punct(":"))` reads as one step.
trait ParseAnn<'a> {
    fn parse_ann(self, s: &'a str) -> nom::IResult<&'a str, (&'a str, &'a str)>;
}

impl<'a, A, B> ParseAnn<'a> for (A, B)
where
    A: Fn(&'a str) -> nom::IResult<&'a str, &'a str>,
    B: Fn(&'a str) -> nom::IResult<&'a str, &'a str>,
{
    fn parse_ann(self, s: &'a str) -> nom::IResult<&'a str, (&'a str, &'a str)> {
        let (r, a) = (self.0)(s)?;
        let (r, b) = (self.1)(r)?;
        Ok((r, (a, b)))
    }
}

#[cfg(test)]
mod tests {
    use super::super::parse_source;
    use super::*;

    #[test]
    fn parses_a_printed_module() {
        let src = r#"class Conv2d(Module):
  __parameters__ = ["weight", "bias", ]
  __buffers__ = []
  weight : Tensor
  bias : Optional[Tensor]
  stride : Final[Tuple[int, int]] = (2, 2)
  def forward(self: __torch__.torch.nn.modules.conv.Conv2d,
    input: Tensor) -> Tensor:
    weight = self.weight
    if torch.__is__(self.bias, None):
      _0 = None
    elif torch.eq(1, 2):
      pass
    else:
      _0 = 1
    a, b, = torch.chunk(input, 2)
    for i in range(torch.sub(torch.len(size), 2)):
      size_prods1 = torch.mul(size_prods0, size[torch.add(i, 2)])
    return torch._convolution(input, weight, bias, [2, 2], [1, 1], [1, 1], False, [0, 0], 1, False, False, True, True)
def relu(input: Tensor,
    inplace: bool=False) -> Tensor:
  return torch.relu(input)
"#;
        let items = parse_source(src).unwrap();
        let Item::Class(c) = &items[0] else { panic!() };
        assert_eq!(c.name, "Conv2d");
        assert_eq!(c.attrs.len(), 3);
        assert_eq!(c.assigns.len(), 2);
        assert_eq!(c.methods[0].params.len(), 2);
        let body = &c.methods[0].body;
        assert_eq!(body.len(), 5);
        assert!(
            matches!(&body[1].kind, StmtKind::If(_, _, e) if matches!(e[0].kind, StmtKind::If(..)))
        );
        assert!(matches!(&body[2].kind, StmtKind::Assign(t, _) if t.len() == 2));
        assert!(matches!(&body[3].kind, StmtKind::For(..)));
        assert_eq!(body[4].line, 19);
        let Item::Func(f) = &items[1] else { panic!() };
        assert_eq!(f.params[1].default, Some(Expr::Bool(false)));
    }

    #[test]
    fn names_starting_with_else_are_statements() {
        let src = "def f(x):\n  if x:\n    y = 1\n  else :\n    else_out = 2\n    y = else_out\n  elsewhere = y[1:]\n  return elsewhere\n";
        let items = parse_source(src).unwrap();
        let Item::Func(f) = &items[0] else { panic!() };
        assert_eq!(f.body.len(), 3);
        let StmtKind::If(_, _, otherwise) = &f.body[0].kind else {
            panic!()
        };
        assert_eq!(otherwise.len(), 2);
        assert!(
            matches!(&f.body[1].kind, StmtKind::Assign(_, Expr::Index(_, i)) if matches!(**i, Expr::Slice(..)))
        );
    }

    #[test]
    fn parses_a_with_block() {
        // silero-vad's printed `audio_forward`: a `torch.no_grad()` block.
        let src = "def f(self, x):\n  _22 = __torch__.torch.autograd.grad_mode.no_grad.__new__(__torch__.torch.autograd.grad_mode.no_grad)\n  with _22:\n    y = torch.relu(x)\n    if y:\n      pass\n  return y\n";
        let items = parse_source(src).unwrap();
        let Item::Func(f) = &items[0] else { panic!() };
        assert_eq!(f.body.len(), 3);
        let StmtKind::With(Expr::Name(ctx), body) = &f.body[1].kind else {
            panic!("{:?}", f.body[1])
        };
        assert_eq!(ctx, "_22");
        assert_eq!(body.len(), 2);
        assert_eq!(body[1].line, 5);
        assert!(parse_source("def f(x):\n  with:\n    pass\n").is_err());
    }

    #[test]
    fn errors_carry_the_line() {
        let e = parse_source("def f(x):\n  return x\n  y = (1 +\n").unwrap_err();
        assert!(e.msg.contains("brackets"), "{e:?}");
        let e = parse_source("def f(x):\n  return x\n  y = 1 +* 2\n").unwrap_err();
        assert_eq!(e.line, 3);
        let deep = format!(
            "def f(x):\n{}\n",
            (1..200)
                .map(|d| format!("{}if x:", " ".repeat(d * 2)))
                .collect::<Vec<_>>()
                .join("\n")
        );
        assert!(parse_source(&deep).unwrap_err().msg.contains("nest deeper"));
    }
}
