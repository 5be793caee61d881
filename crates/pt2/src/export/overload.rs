//! Which aten overload a TorchScript-style call `torch.<op>(args…, kw=…)` is, and how each
//! argument is written in the program's JSON.
//!
//! The schemas are the pinned torch's own (`aten_schemas.json`, made by
//! `tests/pt2_aten_schemas.py`): functional overloads only, each with its argument names,
//! types, keyword-only flags and defaults. Resolution is TorchScript's: the first overload
//! whose arguments accept the call's values; a number passed where a tensor is wanted is
//! tried after the exact matches (`torch.add(x, 1.0)` is `aten.add.Scalar`'s call first).

use std::collections::HashMap;
use std::sync::OnceLock;

use modelc_ir::DType;
use serde::Deserialize;

use crate::schema::{
    Argument, Device, Float, NamedArgument, OptionalTensorArgument, SymIntArgument, TensorArgument,
};

/// A call's argument value: a program value by name or a literal.
#[derive(Debug, Clone, PartialEq)]
pub enum Val {
    Tensor(String),
    /// A size computed at run time (`aten.sym_size`, `_operator.*`), by name.
    SymInt(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    Str(String),
    None,
    List(Vec<Val>),
}

/// One overload: name, arguments `(name, type, kwarg_only, has_default)`, result count.
#[derive(Debug, Deserialize)]
pub struct Overload(pub String, pub Vec<(String, String, bool, bool)>, pub usize);

#[derive(Deserialize)]
struct Table {
    ops: HashMap<String, Vec<Overload>>,
}

fn table() -> &'static HashMap<String, Vec<Overload>> {
    static T: OnceLock<HashMap<String, Vec<Overload>>> = OnceLock::new();
    T.get_or_init(|| {
        serde_json::from_str::<Table>(include_str!("aten_schemas.json"))
            .map(|t| t.ops)
            .unwrap_or_default()
    })
}

/// A resolved call: the target (`torch.ops.aten.add.Tensor`), its named arguments and the
/// number of results the schema declares.
#[derive(Debug)]
pub struct Resolved {
    pub target: String,
    pub inputs: Vec<NamedArgument>,
    pub returns: usize,
}

/// Resolves `op(pos…, kw…)` against the schemas.
pub fn resolve(op: &str, pos: &[Val], kw: &[(String, Val)]) -> Result<Resolved, String> {
    let overloads = table()
        .get(op)
        .ok_or_else(|| format!("aten::{op} has no functional overload in torch"))?;
    for lenient in [false, true] {
        for o in overloads {
            if let Some(inputs) = bind(o, pos, kw, lenient) {
                return Ok(Resolved {
                    target: format!("torch.ops.aten.{op}.{}", o.0),
                    inputs,
                    returns: o.2,
                });
            }
        }
    }
    Err(format!(
        "no overload of aten::{op} takes ({})",
        pos.iter()
            .map(kind)
            .chain(kw.iter().map(|(k, v)| format!("{k}={}", kind(v))))
            .collect::<Vec<_>>()
            .join(", ")
    ))
}

fn kind(v: &Val) -> String {
    match v {
        Val::Tensor(_) => "Tensor".into(),
        Val::SymInt(_) => "SymInt".into(),
        Val::Int(_) => "int".into(),
        Val::Float(_) => "float".into(),
        Val::Bool(_) => "bool".into(),
        Val::Str(_) => "str".into(),
        Val::None => "None".into(),
        Val::List(items) => format!(
            "[{}]",
            items.iter().map(kind).collect::<Vec<_>>().join(", ")
        ),
    }
}

/// The named arguments if the overload takes these values.
fn bind(
    o: &Overload,
    pos: &[Val],
    kw: &[(String, Val)],
    lenient: bool,
) -> Option<Vec<NamedArgument>> {
    let positional = o.1.iter().filter(|a| !a.2).count();
    if pos.len() > positional {
        return None;
    }
    let mut out = Vec::new();
    for (i, (name, ty, kwarg_only, has_default)) in o.1.iter().enumerate() {
        let (v, k) = if i < pos.len() && !kwarg_only {
            (Some(&pos[i]), 1)
        } else {
            (kw.iter().find(|(n, _)| n == name).map(|(_, v)| v), 2)
        };
        match v {
            Some(v) => out.push(NamedArgument {
                name: name.clone(),
                arg: encode(ty, v, lenient)?,
                kind: Some(k),
            }),
            None if *has_default => {}
            None => return None,
        }
    }
    if kw.iter().any(|(n, _)| !o.1.iter().any(|a| &a.0 == n)) {
        return None;
    }
    Some(out)
}

/// `v` written as an argument of type `ty`, if it is one.
fn encode(ty: &str, v: &Val, lenient: bool) -> Option<Argument> {
    let (base, optional) = match ty.strip_suffix('?') {
        Some(b) => (b, true),
        None => (ty, false),
    };
    if *v == Val::None {
        return optional.then_some(Argument::AsNone(true));
    }
    // `int[2]`, `SymInt[]`, `Tensor?[]`: a list of `elem` (`N` only says how many copies a
    // single int stands for; lists of other lengths are accepted, as torch does).
    if let Some((elem, rest)) = base.split_once('[') {
        let n: Option<usize> = rest.trim_end_matches(']').parse().ok();
        let items: Vec<Val> = match (v, n) {
            (Val::List(items), _) => items.clone(),
            // An int where `int[N]` is wanted stands for N copies (TorchScript's rule).
            (Val::Int(_), Some(n)) if matches!(elem, "int" | "SymInt") => vec![v.clone(); n],
            _ => return None,
        };
        return match elem {
            "int" | "SymInt" if items.iter().any(|x| matches!(x, Val::SymInt(_))) => items
                .iter()
                .map(|x| match x {
                    Val::Int(i) => Some(SymIntArgument::AsInt(*i)),
                    Val::SymInt(n) => Some(SymIntArgument::AsName(n.clone())),
                    _ => None,
                })
                .collect::<Option<Vec<_>>>()
                .map(Argument::AsSymInts),
            "int" | "SymInt" => items
                .iter()
                .map(|x| match x {
                    Val::Int(i) => Some(*i),
                    _ => None,
                })
                .collect::<Option<Vec<_>>>()
                .map(Argument::AsInts),
            "float" => items
                .iter()
                .map(|x| match x {
                    Val::Float(f) => Some(Float(*f)),
                    Val::Int(i) => Some(Float(*i as f64)),
                    _ => None,
                })
                .collect::<Option<Vec<_>>>()
                .map(Argument::AsFloats),
            "bool" => items
                .iter()
                .map(|x| match x {
                    Val::Bool(b) => Some(*b),
                    _ => None,
                })
                .collect::<Option<Vec<_>>>()
                .map(Argument::AsBools),
            "Tensor" => items
                .iter()
                .map(|x| match x {
                    Val::Tensor(n) => Some(TensorArgument { name: n.clone() }),
                    _ => None,
                })
                .collect::<Option<Vec<_>>>()
                .map(Argument::AsTensors),
            "Tensor?" => items
                .iter()
                .map(|x| match x {
                    Val::Tensor(n) => Some(OptionalTensorArgument::AsTensor(TensorArgument {
                        name: n.clone(),
                    })),
                    Val::None => Some(OptionalTensorArgument::AsNone(true)),
                    _ => None,
                })
                .collect::<Option<Vec<_>>>()
                .map(Argument::AsOptionalTensors),
            _ => None,
        };
    }
    Some(match (base, v) {
        ("Tensor", Val::Tensor(n)) => Argument::AsTensor(TensorArgument { name: n.clone() }),
        ("Tensor", Val::Float(f)) if lenient => Argument::AsFloat(Float(*f)),
        ("Tensor", Val::Int(i)) if lenient => Argument::AsInt(*i),
        ("Scalar", Val::Int(i)) => Argument::AsInt(*i),
        ("Scalar", Val::Float(f)) => Argument::AsFloat(Float(*f)),
        ("Scalar", Val::Bool(b)) => Argument::AsBool(*b),
        ("int" | "SymInt", Val::Int(i)) => Argument::AsInt(*i),
        ("int" | "SymInt" | "Scalar", Val::SymInt(n)) => {
            Argument::AsSymInt(SymIntArgument::AsName(n.clone()))
        }
        ("float", Val::Float(f)) => Argument::AsFloat(Float(*f)),
        ("float", Val::Int(i)) => Argument::AsFloat(Float(*i as f64)),
        ("bool", Val::Bool(b)) => Argument::AsBool(*b),
        ("str", Val::Str(s)) => Argument::AsString(s.clone()),
        ("ScalarType", Val::Int(code)) => Argument::AsScalarType(schema_dtype(
            modelc_torchscript::import::args::scalar_type(*code)?,
        )?),
        // c10's MemoryFormat (contiguous 0, preserve 1, channels_last 2, 3d 3) → the schema's.
        ("MemoryFormat", Val::Int(m)) => Argument::AsMemoryFormat(match m {
            0 => 1,
            1 => 4,
            2 => 2,
            3 => 3,
            _ => return None,
        }),
        ("Device", Val::Str(d)) if d == "cpu" => Argument::AsDevice(Device::cpu()),
        _ => return None,
    })
}

/// An element type as the schema's `ScalarType` code (the inverse of [`crate::weights::dtype`]).
pub fn schema_dtype(d: DType) -> Option<i64> {
    (0..64).find(|&c| crate::weights::dtype(c) == Some(d))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tensor_add_and_scalar_add_resolve_as_torch_names_them() {
        let t = |n: &str| Val::Tensor(n.into());
        let r = resolve("add", &[t("x"), t("y")], &[]).unwrap();
        assert_eq!(r.target, "torch.ops.aten.add.Tensor");
        assert_eq!(r.inputs[1].name, "other");
        let r = resolve("add", &[t("x"), Val::Float(1.0)], &[]).unwrap();
        assert_eq!(r.target, "torch.ops.aten.add.Scalar");
        let r = resolve("to", &[t("x"), Val::Int(6)], &[]).unwrap();
        assert_eq!(r.target, "torch.ops.aten.to.dtype");
        assert!(matches!(r.inputs[1].arg, Argument::AsScalarType(7)));
        assert!(resolve("no_such_op", &[], &[]).is_err());
    }
}
