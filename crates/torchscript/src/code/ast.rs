//! Syntax tree of the TorchScript subset.

/// A top-level item of a source file.
#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    Class(ClassDef),
    Func(FuncDef),
    /// A module-level assignment (rare; kept for completeness).
    Stmt(Stmt),
}

#[derive(Debug, Clone, PartialEq)]
pub struct ClassDef {
    pub name: String,
    pub bases: Vec<Expr>,
    /// `name : Type [= value]` attribute declarations.
    pub attrs: Vec<(String, Expr, Option<Expr>)>,
    /// `__parameters__ = [...]`, `__buffers__ = [...]` and other class-level assignments.
    pub assigns: Vec<(Expr, Expr)>,
    pub methods: Vec<FuncDef>,
    pub line: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Param {
    pub name: String,
    pub ty: Option<Expr>,
    pub default: Option<Expr>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct FuncDef {
    pub name: String,
    pub params: Vec<Param>,
    pub ret: Option<Expr>,
    pub body: Vec<Stmt>,
    pub line: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub enum StmtKind {
    /// `a = e`, `a, b = e`, `x.y = e`, `x[i] = e`.
    Assign(Vec<Expr>, Expr),
    /// `a : T = e`.
    AnnAssign(String, Expr, Option<Expr>),
    Expr(Expr),
    Return(Option<Expr>),
    If(Expr, Vec<Stmt>, Vec<Stmt>),
    For(Vec<Expr>, Expr, Vec<Stmt>),
    While(Expr, Vec<Stmt>),
    /// `with e:` (torch prints `torch.no_grad()` blocks this way): the context manager and
    /// the body.
    With(Expr, Vec<Stmt>),
    Pass,
    Break,
    Continue,
    /// `raise e` (torch prints `ops.prim.RaiseException` instead, but accept it).
    Raise(Option<Expr>),
    Assert(Expr),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Stmt {
    pub kind: StmtKind,
    pub line: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    FloorDiv,
    Mod,
    Pow,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Is,
    IsNot,
    In,
    NotIn,
    And,
    Or,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    Name(String),
    Int(i64),
    Float(f64),
    Str(String),
    Bool(bool),
    None,
    Ellipsis,
    Attr(Box<Expr>, String),
    Call(Box<Expr>, Vec<Expr>, Vec<(String, Expr)>),
    Index(Box<Expr>, Box<Expr>),
    /// `a:b:c` inside a subscript.
    Slice(Option<Box<Expr>>, Option<Box<Expr>>, Option<Box<Expr>>),
    Tuple(Vec<Expr>),
    List(Vec<Expr>),
    Dict(Vec<(Expr, Expr)>),
    Not(Box<Expr>),
    Neg(Box<Expr>),
    Bin(BinOp, Box<Expr>, Box<Expr>),
    /// `a if c else b`.
    IfExp(Box<Expr>, Box<Expr>, Box<Expr>),
}

impl Expr {
    /// `a.b.c` as a dotted string, if the expression is only names and attributes.
    pub fn dotted(&self) -> Option<String> {
        match self {
            Expr::Name(n) => Some(n.clone()),
            Expr::Attr(b, a) => Some(format!("{}.{a}", b.dotted()?)),
            _ => None,
        }
    }
}
