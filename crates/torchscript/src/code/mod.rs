//! Parser for the TorchScript source in an archive's `code/` directory.
//!
//! TorchScript is printed by torch's `PythonPrint` in a small, regular Python subset: class
//! definitions with typed attributes, `def`s with annotated parameters, assignments (also to
//! tuples), calls with keyword arguments, attribute access, subscripts, `if`/`elif`/`else`,
//! `for … in range(…)`, `while`, `return`, literals and a few operators. Parsing goes in two
//! steps: [`lines`] joins physical lines into logical ones and nests them by indentation,
//! then each logical line is parsed with nom ([`expr`], [`stmt`]). Nesting of blocks and
//! expressions is bounded; errors carry the file and line.

pub mod ast;
pub mod expr;
pub mod lines;
pub mod stmt;

pub use ast::*;

/// Deepest block nesting accepted (torch's own code nests about 15 deep).
pub const MAX_BLOCK_DEPTH: usize = 100;
/// Deepest expression nesting accepted.
pub const MAX_EXPR_DEPTH: usize = 48;
/// Largest source file accepted.
pub const MAX_SOURCE: usize = 64 << 20;

/// A parse error: file, 1-based line, message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    pub line: usize,
    pub msg: String,
}

/// Parses one source file into its top-level items.
pub fn parse_source(src: &str) -> Result<Vec<Item>, ParseError> {
    if src.len() > MAX_SOURCE {
        return Err(ParseError {
            line: 0,
            msg: format!("source of {} bytes (limit {MAX_SOURCE})", src.len()),
        });
    }
    let blocks = lines::blocks(src)?;
    stmt::items(&blocks)
}
