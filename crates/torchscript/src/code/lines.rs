//! Physical lines → logical lines (joined inside brackets) → blocks by indentation.

use super::{ParseError, MAX_BLOCK_DEPTH};

/// A logical line and the lines indented under it.
#[derive(Debug, Clone, PartialEq)]
pub struct Block {
    pub text: String,
    /// 1-based line of the first physical line.
    pub line: usize,
    pub children: Vec<Block>,
}

struct Logical {
    indent: usize,
    text: String,
    line: usize,
}

fn logical_lines(src: &str) -> Result<Vec<Logical>, ParseError> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut start_line = 1;
    let mut indent = 0;
    let mut depth = 0usize;
    let mut quote: Option<char> = None;
    let mut escaped = false;
    let mut line = 1;
    let mut at_line_start = true;
    for c in src.chars() {
        if at_line_start && depth == 0 && quote.is_none() && cur.is_empty() {
            if c == ' ' {
                indent += 1;
                continue;
            }
            if c == '\t' {
                return Err(ParseError {
                    line,
                    msg: "tab in indentation".into(),
                });
            }
            start_line = line;
            at_line_start = false;
        }
        if let Some(q) = quote {
            cur.push(c);
            if c == '\n' {
                return Err(ParseError {
                    line,
                    msg: "unterminated string".into(),
                });
            }
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == q {
                quote = None;
            }
            continue;
        }
        match c {
            '"' | '\'' => {
                quote = Some(c);
                cur.push(c);
            }
            '#' if depth == 0 => {
                // Comments do not occur in printed code; treat the rest of the line as one.
                quote = None;
                cur.push_str(" #");
            }
            '(' | '[' | '{' => {
                depth += 1;
                cur.push(c);
            }
            ')' | ']' | '}' => {
                depth = depth.checked_sub(1).ok_or(ParseError {
                    line,
                    msg: format!("unbalanced `{c}`"),
                })?;
                cur.push(c);
            }
            '\n' => {
                line += 1;
                if depth > 0 {
                    cur.push(' ');
                } else {
                    let t = cur.split(" #").next().unwrap_or("").trim_end().to_string();
                    if !t.is_empty() {
                        out.push(Logical {
                            indent,
                            text: t,
                            line: start_line,
                        });
                    }
                    cur.clear();
                    indent = 0;
                    at_line_start = true;
                }
            }
            '\r' => {}
            c => cur.push(c),
        }
    }
    if depth > 0 || quote.is_some() {
        return Err(ParseError {
            line,
            msg: "source ends inside brackets or a string".into(),
        });
    }
    let t = cur.trim_end().to_string();
    if !t.is_empty() {
        out.push(Logical {
            indent,
            text: t,
            line: start_line,
        });
    }
    Ok(out)
}

/// Nests the logical lines of `src` by indentation.
pub fn blocks(src: &str) -> Result<Vec<Block>, ParseError> {
    let lines = logical_lines(src)?;
    // Stack of (indent, block being filled); the root has indent usize::MAX sentinel.
    let mut stack: Vec<(usize, Block)> = vec![(
        0,
        Block {
            text: String::new(),
            line: 0,
            children: Vec::new(),
        },
    )];
    let mut indents: Vec<usize> = vec![0];
    for l in lines {
        let top = *indents.last().unwrap_or(&0);
        if l.indent > top {
            // A deeper line opens a child of the last line at the current level.
            let parent =
                stack
                    .last_mut()
                    .and_then(|(_, b)| b.children.pop())
                    .ok_or(ParseError {
                        line: l.line,
                        msg: "unexpected indent".into(),
                    })?;
            if indents.len() > MAX_BLOCK_DEPTH {
                return Err(ParseError {
                    line: l.line,
                    msg: format!("blocks nest deeper than {MAX_BLOCK_DEPTH}"),
                });
            }
            stack.push((l.indent, parent));
            indents.push(l.indent);
        } else {
            while l.indent < *indents.last().unwrap_or(&0) {
                indents.pop();
                let (_, done) = stack.pop().ok_or(ParseError {
                    line: l.line,
                    msg: "bad dedent".into(),
                })?;
                stack
                    .last_mut()
                    .ok_or(ParseError {
                        line: l.line,
                        msg: "bad dedent".into(),
                    })?
                    .1
                    .children
                    .push(done);
            }
            if l.indent != *indents.last().unwrap_or(&0) {
                return Err(ParseError {
                    line: l.line,
                    msg: "dedent to an unknown level".into(),
                });
            }
        }
        if let Some((_, b)) = stack.last_mut() {
            b.children.push(Block {
                text: l.text,
                line: l.line,
                children: Vec::new(),
            });
        }
    }
    while stack.len() > 1 {
        if let Some((_, done)) = stack.pop() {
            if let Some((_, p)) = stack.last_mut() {
                p.children.push(done);
            }
        }
    }
    Ok(stack.pop().map(|(_, b)| b.children).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joins_brackets_and_nests() {
        let src = "class A(Module):\n  x : int\n  def f(self,\n    a: int) -> int:\n    if a:\n      return 1\n    return (a,\n      2)\n";
        let b = blocks(src).unwrap();
        assert_eq!(b.len(), 1);
        assert_eq!(b[0].children.len(), 2);
        let f = &b[0].children[1];
        assert_eq!(f.text, "def f(self,     a: int) -> int:");
        assert_eq!(f.line, 3);
        assert_eq!(f.children[0].children[0].text, "return 1");
        assert_eq!(f.children[1].text, "return (a,       2)");
        assert_eq!(f.children[1].line, 7);
    }
}
