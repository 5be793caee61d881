//! Shape arithmetic as TorchScript ints. Exporters write dynamic shapes as small ONNX
//! computations (`Shape` → `Gather` → `Unsqueeze` → `Concat` → `Reshape`, `Div` by the head
//! count, ...). torch takes shapes as `List[int]`, not tensors, so alongside the tensor code
//! every such value is also tracked as a list of int expressions (`torch.size(x, 0)`, `64`,
//! `(torch.size(x, 2) // 3)`) that Reshape, Slice, Expand and ConstantOfShape use directly.
//!
//! Followed: Shape (with `start`/`end`), integer constants, Identity, Cast between integer
//! types, Gather with constant indices, Unsqueeze/Squeeze of scalars, Concat, Slice and 1-D
//! Reshape of lists, Gather of a whole Shape of a tensor of unknown rank (an If whose
//! branches differ in rank) by constant indices, ConstantOfShape of a constant length, Equal and Where (torch's
//! `expand(n, -1, -1)` export), and integer Add/Sub/Mul/Div (sizes are non-negative, so
//! ONNX's truncating Div is Python's `//`).

use modelc_ir::{NodeId, OnnxOp, ValueRef};

use super::emit::{Emitter, Sym};

/// Records the symbolic value of the node's output, when it has one.
pub(crate) fn propagate(e: &mut Emitter<'_>, id: NodeId, op: OnnxOp) {
    if let Some(s) = compute(e, id, op) {
        e.set_sym(ValueRef::new(id, 0), s);
    }
}

fn compute(e: &Emitter<'_>, id: NodeId, op: OnnxOp) -> Option<Sym> {
    use OnnxOp::*;
    let node = e.g.node(id);
    match op {
        Shape => {
            let x = e.input(id, 0)?;
            if let Some(list) = e.sym_input(id, 0) {
                // The shape of a tracked shape list: its length.
                let n = if list.scalar {
                    Vec::new()
                } else {
                    vec![list.items.len().to_string()]
                };
                return Some(Sym {
                    items: n,
                    scalar: false,
                });
            }
            let rank = e.info(x).rank? as i64;
            let norm = |v: i64| {
                if v < 0 {
                    (v + rank).max(0)
                } else {
                    v.min(rank)
                }
            };
            let start = norm(node.attrs.int("start", 0).ok()?);
            let end = match node.attrs.get("end") {
                Some(modelc_ir::Attr::Int(v)) => norm(*v),
                _ => rank,
            };
            let xe = e.name_of(x)?;
            let stat = e.input_shape(id, 0);
            let items = (start..end)
                .map(|i| match &stat {
                    Some(s) => s[i as usize].to_string(),
                    None => format!("torch.size({xe}, {i})"),
                })
                .collect();
            Some(Sym {
                items,
                scalar: false,
            })
        }
        Identity => e.sym_input(id, 0),
        Reshape => {
            // A list reshaped to 1-D (`[-1]` or its own length) stays the same list.
            let s = e.sym_input(id, 0)?;
            let target = e.ints_input(id, 1)?;
            let n = s.items.len() as i64;
            (target == [-1] || target == [n]).then_some(Sym {
                items: s.items,
                scalar: false,
            })
        }
        ConstantOfShape => {
            let shape = e.ints_input(id, 0)?;
            let [n] = shape[..] else { return None };
            let value = match node.attrs.get("value") {
                Some(modelc_ir::Attr::Tensor(t)) if t.dtype.is_int() => {
                    *super::emit::tensor_ints(t)?.first()?
                }
                _ => return None,
            };
            Some(Sym {
                items: vec![value.to_string(); usize::try_from(n).ok()?],
                scalar: false,
            })
        }
        Equal => {
            let (a, b) = (e.sym_input(id, 0)?, e.sym_input(id, 1)?);
            zip_items(&a, &b, |x, y| format!("({x} == {y})"))
        }
        Where => {
            let c = e.sym_input(id, 0)?;
            let (x, y) = (e.sym_input(id, 1)?, e.sym_input(id, 2)?);
            let n = c.items.len().max(x.items.len()).max(y.items.len());
            let items = (0..n)
                .map(|i| {
                    Some(format!(
                        "({} if {} else {})",
                        pick(&x, i)?,
                        pick(&c, i)?,
                        pick(&y, i)?
                    ))
                })
                .collect::<Option<Vec<_>>>()?;
            Some(Sym {
                items,
                scalar: c.scalar && x.scalar && y.scalar,
            })
        }
        Cast => {
            let to = node.attrs.int("to", 0).ok()?;
            let dt = modelc_ir::DType::from_onnx_code(to as i32)?;
            if dt.is_int() {
                e.sym_input(id, 0)
            } else {
                None
            }
        }
        Gather => {
            let Some(data) = e.sym_input(id, 0) else {
                return shape_of_unknown_rank(e, id);
            };
            if data.scalar {
                return None;
            }
            let idx = e.const_input(id, 1)?;
            let ints = super::emit::tensor_ints(&idx)?;
            let n = data.items.len() as i64;
            let items = ints
                .iter()
                .map(|&i| {
                    let i = if i < 0 { i + n } else { i };
                    data.items.get(usize::try_from(i).ok()?).cloned()
                })
                .collect::<Option<Vec<_>>>()?;
            Some(Sym {
                items,
                scalar: idx.dims.is_empty(),
            })
        }
        Unsqueeze => {
            let s = e.sym_input(id, 0)?;
            s.scalar.then_some(Sym {
                items: s.items,
                scalar: false,
            })
        }
        Squeeze => {
            let s = e.sym_input(id, 0)?;
            (!s.scalar && s.items.len() == 1).then_some(Sym {
                items: s.items,
                scalar: true,
            })
        }
        Concat => {
            let mut items = Vec::new();
            for slot in 0..node.num_inputs {
                let s = e.sym_input(id, slot)?;
                if s.scalar {
                    return None;
                }
                items.extend(s.items);
            }
            Some(Sym {
                items,
                scalar: false,
            })
        }
        Slice => {
            let s = e.sym_input(id, 0)?;
            let starts = e.ints_input(id, 1)?;
            let ends = e.ints_input(id, 2)?;
            if s.scalar || starts.len() != 1 || ends.len() != 1 {
                return None;
            }
            if e.input(id, 4).is_some() && e.ints_input(id, 4)? != [1] {
                return None;
            }
            let n = s.items.len() as i64;
            let clamp = |v: i64| (if v < 0 { v + n } else { v }).clamp(0, n) as usize;
            let (a, b) = (clamp(starts[0]), clamp(ends[0]));
            Some(Sym {
                items: s.items.get(a..b.max(a))?.to_vec(),
                scalar: false,
            })
        }
        Add | Sub | Mul | Div => {
            if !e.input_info(id, 0).dtype.is_some_and(|d| d.is_int()) {
                return None;
            }
            let a = e.sym_input(id, 0)?;
            let b = e.sym_input(id, 1)?;
            let sign = match op {
                Add => "+",
                Sub => "-",
                Mul => "*",
                _ => "//",
            };
            zip_items(&a, &b, |x, y| format!("({x} {sign} {y})"))
        }
        _ => None,
    }
}

/// Element-wise combination with broadcasting of one-item operands.
fn zip_items(a: &Sym, b: &Sym, f: impl Fn(&str, &str) -> String) -> Option<Sym> {
    let n = a.items.len().max(b.items.len());
    let items = (0..n)
        .map(|i| Some(f(&pick(a, i)?, &pick(b, i)?)))
        .collect::<Option<Vec<_>>>()?;
    Some(Sym {
        items,
        scalar: a.scalar && b.scalar,
    })
}

/// Item `i` of a list, or its only item (broadcast).
fn pick(s: &Sym, i: usize) -> Option<String> {
    if s.items.len() == 1 {
        Some(s.items[0].clone())
    } else {
        s.items.get(i).cloned()
    }
}

/// `Gather(Shape(x), indices)` with constant indices when `x`'s rank is unknown (the output
/// of an If whose branches squeeze or not): `torch.size(x, i)` per index, which torch
/// resolves at run time, negative indices included.
fn shape_of_unknown_rank(e: &Emitter<'_>, id: NodeId) -> Option<Sym> {
    let shape = e.input(id, 0)?;
    let node = e.g.node(shape.node);
    let whole = node.attrs.int("start", 0).ok()? == 0 && node.attrs.get("end").is_none();
    if node.op.onnx() != Some(OnnxOp::Shape) || !whole {
        return None;
    }
    let x = e.name_of(e.g.input(shape.node, 0)?)?;
    let idx = e.const_input(id, 1)?;
    let items = super::emit::tensor_ints(&idx)?
        .iter()
        .map(|i| format!("torch.size({x}, {i})"))
        .collect();
    Some(Sym {
        items,
        scalar: idx.dims.is_empty(),
    })
}
