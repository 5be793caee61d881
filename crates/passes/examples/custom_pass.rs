//! A user's own pass, end to end: `merge-scalar-muls` rewrites `(x * a) * b`, with `a` and `b`
//! scalar constants, into `x * (a·b)`. It implements [`Pass`], runs in a [`PassManager`]
//! pipeline with built-in passes, and is tested with `modelc_passes::testing` (the tests at the
//! bottom run in `cargo test -p modelc-passes`).
//!
//! The rewrite is written once, for one `Mul` node: [`rewrite_nodes`] applies it everywhere,
//! sub-graphs included; [`with_scalar`] finds the constant on either side of the commutative
//! `Mul`, so `(a * x) * b` and `b * (x * a)` match too.
//!
//! `cargo run -p modelc-passes --example custom_pass` prints a graph before and after.

use modelc_ir::{Graph, NodeId, OnnxOp};
use modelc_passes::pattern::{
    const_tensor, float_tensor, note_once, other_operand, producer, remove_with_dead_consts,
    rewrite_nodes, set_const_if_unshared, single_use, with_scalar,
};
use modelc_passes::testing::run;
use modelc_passes::{registry, Changed, Pass, PassContext, PassError, PassManager};

/// `(x * a) * b` → `x * (a·b)` for scalar (rank-0) f32/f64 constants `a` and `b`.
pub struct MergeScalarMuls;

impl Pass for MergeScalarMuls {
    fn name(&self) -> &'static str {
        "merge-scalar-muls"
    }

    fn description(&self) -> &'static str {
        "merge two multiplications by scalar constants into one"
    }

    fn run(&self, g: &mut Graph, cx: &mut PassContext) -> Result<Changed, PassError> {
        // The rewrite is a closure: it can capture state (here a count for the report).
        let mut merged = 0;
        let changed = rewrite_nodes(g, &[OnnxOp::Mul], |g, mul| {
            let done = merge(g, mul);
            merged += usize::from(done);
            done
        });
        if merged > 0 {
            note_once(cx, format!("merge-scalar-muls: merged {merged} pair(s)"));
        }
        Ok(Changed::from_bool(changed))
    }
}

/// Merges the `Mul` node `outer` with the `Mul` producing its non-constant operand.
fn merge(g: &mut Graph, outer: NodeId) -> bool {
    let Some((inner_v, b)) = with_scalar(g, outer) else {
        return false;
    };
    let Some(inner) = producer(g, inner_v, OnnxOp::Mul) else {
        return false;
    };
    let Some((x, a)) = with_scalar(g, inner) else {
        return false;
    };
    let (Some(kb), Some(ka)) = (other_operand(g, outer, inner_v), other_operand(g, inner, x))
    else {
        return false;
    };
    // Rank-0 constants only: a `[1]`-shaped one could raise the rank of the result. The inner
    // product must be read only here, or it would have to be computed anyway.
    let scalar = |v| const_tensor(g, v).is_some_and(|t| t.dims.is_empty());
    if !scalar(ka) || !scalar(kb) || !single_use(g, inner_v) {
        return false;
    }
    let dtype = const_tensor(g, kb).map(|t| t.dtype).expect("checked above");
    // `b`'s constant becomes the product, unless something else reads it.
    if !set_const_if_unshared(g, kb, float_tensor(dtype, vec![], &[a * b])) {
        return false;
    }
    let slot = usize::from(g.input(outer, 0) != Some(inner_v));
    g.connect(x, outer, slot);
    remove_with_dead_consts(g, &[inner]);
    true
}

const GRAPH: &str = r#"graph main(%x: f32[2,3]) -> (%y, %z) {
  %two = const f32[] [2.0]
  %half = const f32[] [0.5]
  %three = const f32[] [3.0]
  %four = const f32[] [4.0]
  %a = Mul(%x, %two)
  %y = Mul(%a, %three)
  %i = Identity(%x)
  %b = Mul(%half, %i)
  %z = Mul(%four, %b)
}"#;

fn main() {
    let mut g = Graph::parse(GRAPH).expect("the example graph parses");
    // Our pass in a pipeline with built-in ones, as `modelc optimize -p` would run them.
    let mut passes = registry::pipeline("identity").expect("a built-in pass");
    passes.push(Box::new(MergeScalarMuls));
    passes.extend(registry::pipeline("dce").expect("a built-in pass"));
    let pm = PassManager::new(passes);
    let report = pm.run_graph(&mut g).expect("the pipeline runs");
    let print = |g: &Graph| modelc_ir::text::print_graph(g, &Default::default());
    println!(
        "before:\n{}\n",
        print(&Graph::parse(GRAPH).expect("parses"))
    );
    println!("after:\n{}\n", print(&g));
    for note in &report.notes {
        println!("note: {note}");
    }
    // The same check the tests make: equal outputs on seeded inputs.
    let out = run(MergeScalarMuls, GRAPH);
    out.assert_same_outputs(&[], 1e-6);
    println!("outputs before and after agree on seeded inputs (within 1e-6 relative)");
}

#[cfg(test)]
mod tests {
    use super::*;
    use modelc_passes::check;
    use modelc_passes::testing::check_unchanged;

    #[test]
    fn merges_either_operand_order() {
        let out = check!(MergeScalarMuls, GRAPH, @r"
        graph main(%x: f32[2,3]) -> (%y, %z) {
          %three = const f32[] [6.0]
          %four = const f32[] [2.0]
          %y = Mul(%x, %three)
          %i = Identity(%x)
          %z = Mul(%four, %i)
        }
        ");
        assert_eq!(out.report.notes, ["merge-scalar-muls: merged 2 pair(s)"]);
        out.assert_same_outputs(&[], 1e-6);
    }

    #[test]
    fn leaves_shared_products_and_non_scalars() {
        check_unchanged(
            MergeScalarMuls,
            r#"graph main(%x: f32[2,3]) -> (%y, %a, %w) {
  %two = const f32[] [2.0]
  %three = const f32[] [3.0]
  %a = Mul(%x, %two)
  %y = Mul(%a, %three)
  %v = const f32[3] [1.0, 2.0, 3.0]
  %m = Mul(%x, %v)
  %w = Mul(%m, %two)
}"#,
        );
    }
}
