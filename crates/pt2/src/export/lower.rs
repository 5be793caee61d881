//! The TorchScript writer's `forward` (straight-line `name = torch.<op>(…)` lines) → the
//! program's nodes: each call, nested ones first, becomes one node on the aten overload its
//! arguments select ([`super::overload`]); names stay the TorchScript names (identifiers
//! already, unique), nested calls get fresh ones. What is not a straight-line aten call
//! (control flow, shapes computed at run time) is reported per line, all at once.

use std::collections::{HashMap, HashSet};

use modelc_torchscript::code::ast::{BinOp, Expr, FuncDef, StmtKind};

use super::overload::{resolve, Val};
use crate::schema::{Argument, NamedArgument, Node, SymIntArgument, TensorArgument};

/// The program's nodes and the values `forward` returns.
pub struct Lowered {
    pub nodes: Vec<Node>,
    pub outputs: Vec<Val>,
}

pub struct Lowerer<'a> {
    /// TorchScript name → value (a program name or a literal).
    env: HashMap<String, Val>,
    /// `self.<buffer>` → placeholder name.
    buffers: &'a HashMap<String, String>,
    used: HashSet<String>,
    nodes: Vec<Node>,
}

impl<'a> Lowerer<'a> {
    /// `inputs`: forward's parameters (after `self`) with their placeholder names.
    pub fn new(inputs: &[(String, String)], buffers: &'a HashMap<String, String>) -> Lowerer<'a> {
        let mut used: HashSet<String> = buffers.values().cloned().collect();
        let mut env = HashMap::new();
        for (ts, name) in inputs {
            used.insert(name.clone());
            env.insert(ts.clone(), Val::Tensor(name.clone()));
        }
        Lowerer {
            env,
            buffers,
            used,
            nodes: Vec::new(),
        }
    }

    fn fresh(&mut self, hint: &str) -> String {
        let mut name = hint.to_string();
        let mut i = 1;
        while self.used.contains(&name) {
            name = format!("{hint}_{i}");
            i += 1;
        }
        self.used.insert(name.clone());
        name
    }

    /// Lowers `forward`'s body; every line that cannot be written is one message, with the
    /// first name the line assigns (empty for the return).
    pub fn lower(mut self, f: &FuncDef) -> Result<Lowered, Vec<(String, String)>> {
        let mut errors = Vec::new();
        let mut outputs = Vec::new();
        for st in &f.body {
            let r = match &st.kind {
                StmtKind::Assign(targets, e) => {
                    let names: Vec<String> = targets
                        .iter()
                        .flat_map(|t| match t {
                            Expr::Tuple(items) => items.clone(),
                            t => vec![t.clone()],
                        })
                        .filter_map(|t| match t {
                            Expr::Name(n) => Some(n),
                            _ => None,
                        })
                        .collect();
                    self.assign(&names, e)
                        .map_err(|m| (names.first().cloned().unwrap_or_default(), m))
                }
                StmtKind::Return(Some(e)) => {
                    let items = match e {
                        Expr::Tuple(items) => items.clone(),
                        e => vec![e.clone()],
                    };
                    items
                        .iter()
                        .map(|x| self.expr(x, "out"))
                        .collect::<Result<Vec<_>, _>>()
                        .map(|v| outputs = v)
                        .map_err(|m| (String::new(), format!("graph output: {m}")))
                }
                StmtKind::If(..) | StmtKind::For(..) | StmtKind::While(..) => Err((
                    String::new(),
                    "control flow (an If or Loop node) is not written to .pt2 (torch.cond / while_loop)"
                        .to_string(),
                )),
                _ => Err((String::new(), "a statement that is not an aten call".to_string())),
            };
            if let Err(m) = r {
                errors.push(m);
                // Later lines read this line's names as if it had been written, so each
                // problem is reported once, where it is.
                if let StmtKind::Assign(targets, _) = &st.kind {
                    for t in targets.iter().flat_map(|t| match t {
                        Expr::Tuple(items) => items.clone(),
                        t => vec![t.clone()],
                    }) {
                        if let Expr::Name(n) = t {
                            self.env.entry(n.clone()).or_insert(Val::Tensor(n));
                        }
                    }
                }
            }
        }
        if errors.is_empty() {
            Ok(Lowered {
                nodes: self.nodes,
                outputs,
            })
        } else {
            Err(errors)
        }
    }

    fn assign(&mut self, names: &[String], e: &Expr) -> Result<(), String> {
        if names.is_empty() {
            return Err("an assignment to something other than names".into());
        }
        if let [name] = names {
            if !matches!(e, Expr::Call(..)) {
                // An alias or a literal: no node.
                let v = self.expr(e, name)?;
                self.env.insert(name.clone(), v);
                return Ok(());
            }
        }
        let Expr::Call(f, args, kw) = e else {
            return Err("several names from something that is not a call".into());
        };
        let outs: Vec<String> = names.iter().map(|n| self.fresh(n)).collect();
        self.call(f, args, kw, &outs)?;
        let size = f.dotted().as_deref() == Some("torch.size");
        for (n, o) in names.iter().zip(outs) {
            self.env.insert(
                n.clone(),
                if size { Val::SymInt(o) } else { Val::Tensor(o) },
            );
        }
        Ok(())
    }

    /// Emits the node of `f(args, kw)` whose results are named `outs`.
    fn call(
        &mut self,
        f: &Expr,
        args: &[Expr],
        kw: &[(String, Expr)],
        outs: &[String],
    ) -> Result<(), String> {
        let callee = f.dotted().unwrap_or_default();
        let Some(op) = callee.strip_prefix("torch.") else {
            return Err(format!("calls {callee}, which is not an aten op"));
        };
        if op == "size" {
            if let ([x, Expr::Int(d)], [name]) = (args, outs) {
                let x = self.expr(x, name)?;
                let Val::Tensor(x) = x else {
                    return Err("torch.size of something other than a tensor".into());
                };
                self.nodes.push(Node {
                    target: "torch.ops.aten.sym_size.int".into(),
                    inputs: vec![
                        named("self", Argument::AsTensor(TensorArgument { name: x })),
                        named("dim", Argument::AsInt(*d)),
                    ],
                    outputs: vec![sym_out(name)],
                    metadata: Default::default(),
                    name: Some(name.clone()),
                });
                return Ok(());
            }
        }
        if matches!(op, "size" | "numel" | "dim" | "len") {
            return Err(format!(
                "torch.{op}: a shape computed at run time, which the .pt2 writer does not write yet"
            ));
        }
        let hint = outs.first().map_or("t", |s| s.as_str()).to_string();
        let pos = args
            .iter()
            .map(|a| self.expr(a, &hint))
            .collect::<Result<Vec<_>, _>>()?;
        let kw = kw
            .iter()
            .map(|(k, a)| Ok((k.clone(), self.expr(a, &hint)?)))
            .collect::<Result<Vec<_>, String>>()?;
        if pos.iter().chain(kw.iter().map(|(_, v)| v)).any(non_finite) {
            // torch writes them as JSON's non-standard `Infinity`/`NaN`, which modelc's
            // reader (serde_json) does not read back.
            return Err(format!(
                "torch.{op}: an infinite or NaN argument, which the .pt2 writer does not write yet"
            ));
        }
        let r = resolve(op, &pos, &kw)?;
        let outputs = match (outs.len(), r.returns) {
            (1, 1) => vec![Argument::AsTensor(TensorArgument {
                name: outs[0].clone(),
            })],
            (n, 1) => vec![Argument::AsTensors(
                outs.iter()
                    .take(n)
                    .map(|o| TensorArgument { name: o.clone() })
                    .collect(),
            )],
            (n, m) if n == m => outs
                .iter()
                .map(|o| Argument::AsTensor(TensorArgument { name: o.clone() }))
                .collect(),
            (n, m) => {
                return Err(format!(
                    "{} returns {m} values, the code takes {n}",
                    r.target
                ))
            }
        };
        let name = if outputs.len() == 1 && outs.len() == 1 {
            outs[0].clone()
        } else {
            self.fresh(op)
        };
        self.nodes.push(Node {
            target: r.target,
            inputs: r.inputs,
            outputs,
            metadata: Default::default(),
            name: Some(name),
        });
        Ok(())
    }

    /// Integer arithmetic on sizes: folded when both are numbers, else an `_operator` node.
    fn int_op(&mut self, op: BinOp, a: Val, b: Val, hint: &str) -> Result<Val, String> {
        type Fold = fn(i64, i64) -> Option<i64>;
        let (target, f): (&str, Fold) = match op {
            BinOp::Add => ("_operator.add", i64::checked_add),
            BinOp::Sub => ("_operator.sub", i64::checked_sub),
            BinOp::Mul => ("_operator.mul", i64::checked_mul),
            // Python's `//` rounds toward negative infinity.
            BinOp::FloorDiv => ("_operator.floordiv", |x, y| {
                let q = x.checked_div(y)?;
                Some(if x % y != 0 && ((x < 0) != (y < 0)) {
                    q - 1
                } else {
                    q
                })
            }),
            _ => {
                return Err(format!(
                    "{op:?} on sizes, which the .pt2 writer does not write yet"
                ))
            }
        };
        if let (Val::Int(x), Val::Int(y)) = (&a, &b) {
            return f(*x, *y)
                .map(Val::Int)
                .ok_or_else(|| format!("{x} {op:?} {y} overflows or divides by zero"));
        }
        let (Some(x), Some(y)) = (sym_arg(&a), sym_arg(&b)) else {
            return Err(format!("{op:?} of something other than sizes"));
        };
        let out = self.fresh(&format!("{hint}_size"));
        self.nodes.push(Node {
            target: target.into(),
            inputs: vec![named("a", x), named("b", y)],
            outputs: vec![sym_out(&out)],
            metadata: Default::default(),
            name: Some(out.clone()),
        });
        Ok(Val::SymInt(out))
    }

    fn expr(&mut self, e: &Expr, hint: &str) -> Result<Val, String> {
        Ok(match e {
            Expr::Name(n) => self
                .env
                .get(n)
                .cloned()
                .ok_or_else(|| format!("`{n}` is not defined by an earlier call"))?,
            Expr::Attr(b, a) if matches!(&**b, Expr::Name(s) if s == "self") => Val::Tensor(
                self.buffers
                    .get(a)
                    .cloned()
                    .ok_or_else(|| format!("no buffer {a}"))?,
            ),
            Expr::Int(i) => Val::Int(*i),
            Expr::Float(f) => Val::Float(*f),
            Expr::Bool(b) => Val::Bool(*b),
            Expr::Str(s) => Val::Str(s.clone()),
            Expr::None => Val::None,
            Expr::Neg(x) => match self.expr(x, hint)? {
                Val::Int(i) => Val::Int(-i),
                Val::Float(f) => Val::Float(-f),
                _ => return Err("a negated tensor expression".into()),
            },
            Expr::List(items) | Expr::Tuple(items) => Val::List(
                items
                    .iter()
                    .map(|x| self.expr(x, hint))
                    .collect::<Result<_, _>>()?,
            ),
            Expr::Call(f, args, _) if f.dotted().as_deref() == Some("float") => match &args[..] {
                [Expr::Str(s)] => Val::Float(match s.as_str() {
                    "inf" => f64::INFINITY,
                    "-inf" => f64::NEG_INFINITY,
                    _ => f64::NAN,
                }),
                _ => return Err("float(…) of something other than a literal".into()),
            },
            Expr::Call(f, args, kw) => {
                let out = self.fresh(hint);
                self.call(f, args, kw, std::slice::from_ref(&out))?;
                if f.dotted().as_deref() == Some("torch.size") {
                    Val::SymInt(out)
                } else {
                    Val::Tensor(out)
                }
            }
            Expr::Bin(op, a, b) => {
                let (a, b) = (self.expr(a, hint)?, self.expr(b, hint)?);
                return self.int_op(*op, a, b, hint);
            }
            other => {
                return Err(format!(
                    "{} (a value computed at run time outside aten calls), which the .pt2 writer does not write yet",
                    short(other)
                ))
            }
        })
    }
}

fn named(name: &str, arg: Argument) -> NamedArgument {
    NamedArgument {
        name: name.into(),
        arg,
        kind: Some(1),
    }
}

fn sym_out(name: &str) -> Argument {
    Argument::AsSymInt(SymIntArgument::AsName(name.into()))
}

/// A size operand as an argument (a name or a number).
fn sym_arg(v: &Val) -> Option<Argument> {
    match v {
        Val::Int(i) => Some(Argument::AsInt(*i)),
        Val::SymInt(n) => Some(sym_out(n)),
        _ => None,
    }
}

fn non_finite(v: &Val) -> bool {
    match v {
        Val::Float(f) => !f.is_finite(),
        Val::List(items) => items.iter().any(non_finite),
        _ => false,
    }
}

fn short(e: &Expr) -> String {
    let s = format!("{e:?}");
    s.chars().take(60).collect()
}
