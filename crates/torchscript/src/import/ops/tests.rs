//! One way to do each thing: every op form is taken by one family. Each op name the
//! families' sources or the aten table mention is tried with a set of argument forms, and
//! every family is asked whether it takes it; two families taking one form would make the
//! later one dead code for it (the families are tried in order).

use std::collections::BTreeSet;

use modelc_ir::{DType, Dim, Shape, TensorType, TypeInfo, Value, ValueRef, ValueType};

use super::super::args::Args;
use super::super::builder::Builder;
use super::super::eval::{Code, Evaluator};
use super::super::value::{PyValue, TensorRef};
use super::FAMILIES;

/// The sources whose string literals name the ops tried.
const SOURCES: &[&str] = &[
    include_str!("activation.rs"),
    include_str!("as_strided.rs"),
    include_str!("attention.rs"),
    include_str!("conv.rs"),
    include_str!("core.rs"),
    include_str!("create.rs"),
    include_str!("cumulative.rs"),
    include_str!("diagonal.rs"),
    include_str!("edge_forms.rs"),
    include_str!("elementwise.rs"),
    include_str!("index.rs"),
    include_str!("index_put.rs"),
    include_str!("layout.rs"),
    include_str!("linear.rs"),
    include_str!("loss.rs"),
    include_str!("math.rs"),
    include_str!("median.rs"),
    include_str!("norm.rs"),
    include_str!("pool.rs"),
    include_str!("reduce.rs"),
    include_str!("resize.rs"),
    include_str!("rnn.rs"),
    include_str!("roll.rs"),
    include_str!("scalar.rs"),
    include_str!("scatter.rs"),
    include_str!("select.rs"),
    include_str!("shape.rs"),
    include_str!("slice_scatter.rs"),
    include_str!("stats.rs"),
    include_str!("unfold.rs"),
];

fn op_names() -> BTreeSet<String> {
    let mut names: BTreeSet<String> = SOURCES
        .iter()
        .flat_map(|s| s.split('"').skip(1).step_by(2))
        .filter(|w| {
            !w.is_empty()
                && w.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                && !w.starts_with(|c: char| c.is_ascii_digit())
        })
        .map(str::to_string)
        .collect();
    for row in crate::aten::rows() {
        names.insert(row.aten.to_string());
        names.extend(row.aliases.iter().map(|a| a.to_string()));
    }
    names
}

fn input(cx: &mut Evaluator, name: &str, dims: &[u64], dtype: DType) -> PyValue {
    let tt = TensorType {
        dtype: Some(dtype),
        shape: Some(Shape(dims.iter().map(|&d| Dim::Known(d)).collect())),
    };
    let id =
        cx.b.g
            .add_input(Value::typed(name, TypeInfo::from(ValueType::Tensor(tt))));
    PyValue::Tensor(TensorRef::new(
        ValueRef::new(id, 0),
        Some(dims.len()),
        dtype,
    ))
}

/// The argument forms tried: (description, positional arguments).
fn forms(cx: &mut Evaluator) -> Vec<(&'static str, Vec<PyValue>)> {
    let x = input(cx, "x", &[2, 3], DType::F32);
    let y = input(cx, "y", &[2, 3], DType::F32);
    let i = input(cx, "i", &[2, 3], DType::I64);
    let b = input(cx, "b", &[2, 3], DType::Bool);
    let s = input(cx, "s", &[], DType::F32);
    let int = PyValue::Int;
    let list = |v: &[i64]| super::int_list(v);
    vec![
        ("(x)", vec![x.clone()]),
        ("(x, y)", vec![x.clone(), y.clone()]),
        ("(x, y, y)", vec![x.clone(), y.clone(), y.clone()]),
        ("(x, 1)", vec![x.clone(), int(1)]),
        ("(x, 0.5)", vec![x.clone(), PyValue::Float(0.5)]),
        ("(x, 1, i)", vec![x.clone(), int(1), i.clone()]),
        ("(x, 1, y)", vec![x.clone(), int(1), y.clone()]),
        ("(x, 0, 1)", vec![x.clone(), int(0), int(1)]),
        (
            "(x, 1, False)",
            vec![x.clone(), int(1), PyValue::Bool(false)],
        ),
        (
            "(x, [0, 1], [1, 0])",
            vec![x.clone(), list(&[0, 1]), list(&[1, 0])],
        ),
        ("(x, [1], [1])", vec![x.clone(), list(&[1]), list(&[1])]),
        ("([x, y])", vec![PyValue::List(vec![x.clone(), y.clone()])]),
        (
            "([x, y], 1)",
            vec![PyValue::List(vec![x.clone(), y]), int(1)],
        ),
        ("(i, i)", vec![i.clone(), i.clone()]),
        ("(b, b)", vec![b.clone(), b]),
        ("(x, s)", vec![x.clone(), s.clone()]),
        ("(s, s)", vec![s.clone(), s.clone()]),
        ("(s, 0)", vec![s.clone(), int(0)]),
        ("(s)", vec![s]),
        ("(i)", vec![i]),
        ("(1, 2)", vec![int(1), int(2)]),
    ]
}

#[test]
fn one_family_per_form() {
    let code = Code {
        classes: Default::default(),
        funcs: Default::default(),
    };
    let mut shared = Vec::new();
    let mut panics = Vec::new();
    for op in op_names() {
        let n_forms = {
            let mut cx = Evaluator::new(Builder::new("probe"), &code, Vec::new());
            forms(&mut cx).len()
        };
        for k in 0..n_forms {
            let mut cx = Evaluator::new(Builder::new("probe"), &code, Vec::new());
            let (what, pos) = forms(&mut cx).swap_remove(k);
            let args = Args { pos, kw: vec![] };
            let mut takers = Vec::new();
            for (name, f) in FAMILIES {
                let asked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    f(&mut cx, &op, &args).is_some()
                }));
                match asked {
                    Ok(true) => takers.push(*name),
                    Ok(false) => {}
                    Err(_) => panics.push(format!("{op}{what}: {name} panics")),
                }
            }
            // edge_forms takes the reductions over a dim of a 0-d tensor before their
            // families (one rule for them all; see its doc).
            if takers.first() == Some(&"edge_forms") && what == "(s, 0)" {
                takers.truncate(1);
            }
            takers.dedup();
            if takers.len() > 1 {
                shared.push(format!("{op}{what}: {}", takers.join(", ")));
            }
        }
    }
    assert!(panics.is_empty(), "families panic:\n{}", panics.join("\n"));
    assert!(
        shared.is_empty(),
        "op forms taken by more than one family:\n{}",
        shared.join("\n")
    );
}
